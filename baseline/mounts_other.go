//go:build !linux

package baseline

import "errors"

func mountPoints() ([]string, error) { return nil, errors.ErrUnsupported }
