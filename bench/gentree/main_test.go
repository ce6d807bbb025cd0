package main

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRunCreatesTreeOnceAndRefusesForeignRoot(t *testing.T) {
	root := filepath.Join(t.TempDir(), "tree")
	if err := run(root, 105, 10, 3, 2); err != nil {
		t.Fatal(err)
	}
	files, dirs, php := count(t, root)
	if files != 105 || php != 11 {
		t.Errorf("got %d files (%d .php), want 105 (11 .php)", files, php)
	}
	// 10 leaf directories in 4 groups of at most 3, plus the root.
	if dirs != 15 {
		t.Errorf("got %d directories, want 15", dirs)
	}

	// Same parameters: nothing is touched.
	if err := os.Remove(filepath.Join(root, "g000", "d0000000", "f0000000.php")); err != nil {
		t.Fatal(err)
	}
	if err := run(root, 105, 10, 3, 2); err != nil {
		t.Fatal(err)
	}
	if files, _, _ := count(t, root); files != 104 {
		t.Errorf("second run with the same parameters changed the tree: %d files", files)
	}

	// Other parameters: refused, never mixed into the existing tree.
	err := run(root, 50, 10, 3, 2)
	if err == nil || !strings.Contains(err.Error(), "remove both to regenerate") {
		t.Errorf("run with other parameters on an existing root: got %v, want a refusal", err)
	}
}

func count(t *testing.T, root string) (files, dirs, php int) {
	t.Helper()
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			dirs++
		case d.Type().IsRegular():
			files++
			if strings.HasSuffix(p, ".php") {
				php++
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files, dirs, php
}
