// Command bareread reads every regular file under the given roots with a
// pool of workers and discards the content. It is the "bare parallel read"
// peer of the webfim benchmarks: the least work any integrity checker must
// do (walk, open, read), so webfim's hashing time can be compared to it.
//
// Usage:
//
//	bareread [-workers N] [-buf BYTES] [-hash] ROOT...
//
// It prints the number of files and bytes read to stderr. Symlinks are not
// followed and non-regular files are never opened, as in webfim.
//
// With -hash it also computes the digests webfim records (BLAKE3 of every
// file, SHA-256 of script-type files), and nothing else: the floor of any
// hashing walk, to tell the cost of the digests from webfim's own overhead.
package main

import (
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/zeebo/blake3"

	"webfim/baseline"
)

func main() {
	workers := flag.Int("workers", runtime.NumCPU(), "number of reading goroutines")
	bufSize := flag.Int("buf", 256<<10, "read buffer size in bytes, one buffer per worker")
	withHash := flag.Bool("hash", false, "also compute BLAKE3 (and SHA-256 of script-type files), as webfim does")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: bareread [-workers N] [-buf BYTES] [-hash] ROOT...")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() == 0 || *workers < 1 || *bufSize < 1 {
		flag.Usage()
		os.Exit(2)
	}

	paths := make(chan string, 1024)
	var files, bytes, failures atomic.Int64
	var wg sync.WaitGroup
	for range *workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, *bufSize)
			var h *hasher
			if *withHash {
				h = newHasher()
			}
			for p := range paths {
				n, err := readAll(p, buf, h)
				if err != nil {
					failures.Add(1)
					fmt.Fprintln(os.Stderr, "bareread:", err)
					continue
				}
				files.Add(1)
				bytes.Add(n)
			}
		}()
	}

	walkFailed := false
	for _, root := range flag.Args() {
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				// Report and go on, as an integrity checker must.
				failures.Add(1)
				fmt.Fprintln(os.Stderr, "bareread:", err)
				return nil
			}
			if d.Type().IsRegular() {
				paths <- p
			}
			return nil
		})
		if err != nil {
			walkFailed = true
			fmt.Fprintln(os.Stderr, "bareread:", err)
		}
	}
	close(paths)
	wg.Wait()

	fmt.Fprintf(os.Stderr, "bareread: %d files, %d bytes, %d errors, %d workers\n",
		files.Load(), bytes.Load(), failures.Load(), *workers)
	if walkFailed || failures.Load() > 0 {
		os.Exit(1)
	}
}

// hasher holds one worker's digest state, reused across files.
type hasher struct {
	b3  *blake3.Hasher
	sha hash.Hash
}

func newHasher() *hasher { return &hasher{b3: blake3.New(), sha: sha256.New()} }

// readAll reads the file at p to its end into buf, overwriting it, and
// returns the number of bytes read. A non-nil h hashes the content.
func readAll(p string, buf []byte, h *hasher) (int64, error) {
	f, err := os.Open(p)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	script := false
	if h != nil {
		h.b3.Reset()
		h.sha.Reset()
		script = baseline.IsScript(filepath.Base(p), nil)
	}
	var total int64
	for {
		n, err := f.Read(buf)
		total += int64(n)
		if h != nil && n > 0 {
			h.b3.Write(buf[:n])
			if script {
				h.sha.Write(buf[:n])
			}
		}
		if errors.Is(err, io.EOF) {
			if h != nil {
				var sum [64]byte
				h.b3.Sum(sum[:0])
				if script {
					h.sha.Sum(sum[:32])
				}
			}
			return total, nil
		}
		if err != nil {
			return total, fmt.Errorf("read %s: %w", p, err)
		}
	}
}
