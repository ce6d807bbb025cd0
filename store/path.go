package store

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
)

// DefaultPath returns where the database lives when neither --db nor
// WEBFIM_DB says otherwise: /var/lib/webfim/webfim.db for root,
// $XDG_STATE_HOME/webfim/webfim.db for other users (with
// ~/.local/state when XDG_STATE_HOME is unset or not absolute, as the XDG
// base directory specification requires), and
// %ProgramData%\webfim\webfim.db on Windows.
func DefaultPath() (string, error) {
	if runtime.GOOS == "windows" {
		if dir := os.Getenv("ProgramData"); dir != "" {
			return filepath.Join(dir, "webfim", "webfim.db"), nil
		}
		dir, err := os.UserConfigDir()
		if err != nil {
			return "", err
		}
		return filepath.Join(dir, "webfim", "webfim.db"), nil
	}
	if os.Geteuid() == 0 {
		return "/var/lib/webfim/webfim.db", nil
	}
	if dir := os.Getenv("XDG_STATE_HOME"); dir != "" && filepath.IsAbs(dir) {
		return filepath.Join(dir, "webfim", "webfim.db"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil || home == "" {
		return "", errors.New("cannot find a default database path: neither XDG_STATE_HOME nor HOME is set; use --db or WEBFIM_DB")
	}
	return filepath.Join(home, ".local", "state", "webfim", "webfim.db"), nil
}
