//go:build !unix

package watch

import "syscall"

var errENOSPC = syscall.ENOSPC
