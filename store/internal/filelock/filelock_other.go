//go:build !unix

package filelock

import (
	"os"
	"time"
)

func wait(f *os.File, exclusive bool, timeout time.Duration) error {
	return poll(f, exclusive, timeout)
}
