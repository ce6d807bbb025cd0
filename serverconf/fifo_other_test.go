//go:build !unix

package serverconf

import "errors"

func mkfifo(string) error { return errors.New("not supported") }
