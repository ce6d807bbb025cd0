package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/urfave/cli/v2"
	"golang.org/x/term"

	"webfim/store"
)

// openDB opens the database named by --db, $WEBFIM_DB or the default
// path, creating it if needed: for the commands that start one (baseline
// create, deploy start, watch).
func openDB(c *cli.Context) (*store.DB, error) {
	path, err := dbPath(c)
	if err != nil {
		return nil, err
	}
	return store.Open(path, store.Options{})
}

// openExistingDB opens the database for a command that reads it or
// changes what it holds: a missing database is an error, and nothing (no
// file, no directory) is created, so a mistyped --db leaves nothing behind.
func openExistingDB(c *cli.Context) (*store.DB, error) {
	path, err := dbPath(c)
	if err != nil {
		return nil, err
	}
	db, err := store.Open(path, store.Options{NoCreate: true})
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: check --db or WEBFIM_DB, or take a first baseline with 'webfim baseline create --root DIR'", err)
	}
	return db, err
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
