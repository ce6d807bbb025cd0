package main

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/urfave/cli/v2"
	"golang.org/x/term"

	"webfim/store"
)

func init() {
	isLockTimeout = func(err error) bool { return errors.Is(err, store.ErrLocked) }
}

// openDB opens the database named by --db, $WEBFIM_DB or the default path.
func openDB(c *cli.Context) (*store.DB, error) {
	path, err := dbPath(c)
	if err != nil {
		return nil, err
	}
	return store.Open(path, store.Options{})
}

// resolve finds the baseline named by ref ("active", an id or a label),
// with an error a user can act on.
func resolve(db *store.DB, ref string) (store.Meta, error) {
	m, err := db.Resolve(ref)
	if errors.Is(err, store.ErrNotFound) {
		if ref == "active" {
			return m, fmt.Errorf("no active baseline in %s: run 'webfim baseline create --root DIR' first", db.Path())
		}
		return m, fmt.Errorf("no baseline %q in %s ('webfim baseline list' shows them)", ref, db.Path())
	}
	return m, err
}

// isTerminal decides on progress bars and colour.
func isTerminal(f *os.File) bool { return term.IsTerminal(int(f.Fd())) }

// useColour reports whether text output to f may use ANSI colours.
func useColour(f *os.File) bool {
	return isTerminal(f) && os.Getenv("NO_COLOR") == "" && !strings.EqualFold(os.Getenv("TERM"), "dumb")
}
