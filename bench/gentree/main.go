// Command gentree generates a synthetic tree of many small files, for the
// memory (peak RSS) benchmarks of webfim on a very large web root.
//
// Usage:
//
//	gentree [-files N] [-dirs M] [-fanout F] [-workers W] ROOT
//
// It creates M leaf directories, grouped F per parent directory
// (ROOT/g000/d0000000/...), and spreads N files of a few bytes over them;
// every tenth file is a .php file so that script-specific hashing is
// exercised too. A marker file ROOT.done records the parameters: when it
// matches, gentree does nothing, so running it again is cheap. A ROOT that
// exists without a matching marker is refused rather than mixed into.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	files := flag.Int("files", 1_000_000, "number of files")
	dirs := flag.Int("dirs", 100_000, "number of leaf directories")
	fanout := flag.Int("fanout", 1000, "leaf directories per parent directory")
	workers := flag.Int("workers", runtime.NumCPU(), "number of creating goroutines")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: gentree [-files N] [-dirs M] [-fanout F] [-workers W] ROOT")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 1 || *files < 0 || *dirs < 1 || *fanout < 1 || *workers < 1 {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(flag.Arg(0), *files, *dirs, *fanout, *workers); err != nil {
		fmt.Fprintln(os.Stderr, "gentree:", err)
		os.Exit(1)
	}
}

func run(root string, files, dirs, fanout, workers int) error {
	root = filepath.Clean(root)
	marker := root + ".done"
	want := fmt.Sprintf("files=%d dirs=%d fanout=%d\n", files, dirs, fanout)
	if got, err := os.ReadFile(marker); err == nil && string(got) == want {
		fmt.Fprintf(os.Stderr, "gentree: %s already holds %s", root, want)
		return nil
	}
	if _, err := os.Lstat(root); err == nil {
		return fmt.Errorf("%s exists but %s does not record %q: remove both to regenerate", root, marker, strings.TrimSpace(want))
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}

	start := time.Now()
	var next, created atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Each worker takes whole leaf directories, so no two workers
			// write into the same directory.
			for {
				d := int(next.Add(1) - 1)
				if d >= dirs {
					return
				}
				n, err := fillDir(root, d, files, dirs, fanout)
				created.Add(int64(n))
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	if err := os.WriteFile(marker, []byte(want), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "gentree: created %d files in %d directories under %s in %s\n",
		created.Load(), dirs+(dirs+fanout-1)/fanout, root, time.Since(start).Round(time.Millisecond))
	return nil
}

// fillDir creates leaf directory d and the files i with i % dirs == d.
func fillDir(root string, d, files, dirs, fanout int) (int, error) {
	dir := filepath.Join(root, fmt.Sprintf("g%03d", d/fanout), fmt.Sprintf("d%07d", d))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return 0, err
	}
	n := 0
	for i := d; i < files; i += dirs {
		ext := ".txt"
		if i%10 == 0 {
			ext = ".php"
		}
		name := filepath.Join(dir, fmt.Sprintf("f%07d%s", i, ext))
		if err := os.WriteFile(name, fmt.Appendf(nil, "file %d\n", i), 0o644); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}
