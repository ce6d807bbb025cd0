package main

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"

	"github.com/rogpeppe/go-internal/testscript"
	bolt "go.etcd.io/bbolt"
)

// dbedit edits a webfim database with bbolt directly, as an attacker
// who owns the server would, bypassing package store:
//
//	dbedit DB setmeta ID KEY JSON     set a field of a baseline's meta
//	dbedit DB replace ID OLDHEX NEWHEX  replace bytes in the record blocks
//	dbedit DB swaproots ID1 ID2       exchange the records of two baselines
//	dbedit DB copyroots SRC DST       give DST the records of SRC
func dbedit(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 4 {
		ts.Fatalf("usage: dbedit DB setmeta|replace|swaproots|copyroots ARGS...")
	}
	db, err := bolt.Open(ts.MkAbs(args[0]), 0o600, nil)
	ts.Check(err)
	defer db.Close()
	id := func(s string) []byte {
		n, err := strconv.ParseUint(s, 10, 64)
		ts.Check(err)
		return binary.BigEndian.AppendUint64(nil, n)
	}
	baselineBucket := func(tx *bolt.Tx, s string) *bolt.Bucket {
		b := tx.Bucket([]byte("baselines")).Bucket(id(s))
		if b == nil {
			ts.Fatalf("no baseline %s", s)
		}
		return b
	}
	// copyBucket copies every key, value and nested bucket of src into dst.
	var copyBucket func(dst, src *bolt.Bucket) error
	copyBucket = func(dst, src *bolt.Bucket) error {
		return src.ForEach(func(k, v []byte) error {
			if v != nil {
				return dst.Put(bytes.Clone(k), bytes.Clone(v))
			}
			nb, err := dst.CreateBucket(bytes.Clone(k))
			if err != nil {
				return err
			}
			return copyBucket(nb, src.Bucket(k))
		})
	}
	// snapshot copies a bucket into a fresh temporary bucket.
	snapshot := func(tx *bolt.Tx, src *bolt.Bucket, name string) *bolt.Bucket {
		tmp, err := tx.CreateBucket([]byte(name))
		ts.Check(err)
		ts.Check(copyBucket(tmp, src))
		return tmp
	}
	replaceRoots := func(dst, src *bolt.Bucket) {
		ts.Check(dst.DeleteBucket([]byte("roots")))
		nb, err := dst.CreateBucket([]byte("roots"))
		ts.Check(err)
		ts.Check(copyBucket(nb, src))
	}
	err = db.Update(func(tx *bolt.Tx) error {
		switch args[1] {
		case "setmeta":
			if len(args) != 5 {
				ts.Fatalf("usage: dbedit DB setmeta ID KEY JSON")
			}
			b := baselineBucket(tx, args[2])
			var meta map[string]json.RawMessage
			ts.Check(json.Unmarshal(b.Get([]byte("meta")), &meta))
			meta[args[3]] = json.RawMessage(args[4])
			j, err := json.Marshal(meta)
			ts.Check(err)
			return b.Put([]byte("meta"), j)
		case "replace":
			if len(args) != 5 {
				ts.Fatalf("usage: dbedit DB replace ID OLDHEX NEWHEX")
			}
			old, err := hex.DecodeString(args[3])
			ts.Check(err)
			repl, err := hex.DecodeString(args[4])
			ts.Check(err)
			roots := baselineBucket(tx, args[2]).Bucket([]byte("roots"))
			n := 0
			ts.Check(roots.ForEachBucket(func(root []byte) error {
				rb := roots.Bucket(root)
				type kv struct{ k, v []byte }
				var edits []kv
				rb.ForEach(func(k, v []byte) error {
					if bytes.Contains(v, old) {
						edits = append(edits, kv{bytes.Clone(k), bytes.ReplaceAll(v, old, repl)})
					}
					return nil
				})
				for _, e := range edits {
					n++
					if err := rb.Put(e.k, e.v); err != nil {
						return err
					}
				}
				return nil
			}))
			if n == 0 {
				ts.Fatalf("dbedit replace: %s not found in baseline %s", args[3], args[2])
			}
			return nil
		case "swaproots", "copyroots":
			a, b := baselineBucket(tx, args[2]), baselineBucket(tx, args[3])
			ta := snapshot(tx, a.Bucket([]byte("roots")), "tmp-a")
			tb := snapshot(tx, b.Bucket([]byte("roots")), "tmp-b")
			replaceRoots(b, ta)
			if args[1] == "swaproots" {
				replaceRoots(a, tb)
			}
			ts.Check(tx.DeleteBucket([]byte("tmp-a")))
			return tx.DeleteBucket([]byte("tmp-b"))
		}
		ts.Fatalf("dbedit: unknown operation %q", args[1])
		return nil
	})
	ts.Check(err)
}

// toolCondition is the script condition [tool:NAME]: NAME is installed.
// When WEBFIM_REQUIRE_INTEGRATION is set (CI installs the tools), a
// missing tool fails the script instead of letting it skip.
// [pkgdir:DIR] is the same for a directory a Debian package installs
// (/usr/share/wordpress).
func toolCondition(cond string) (bool, error) {
	if dir, ok := strings.CutPrefix(cond, "pkgdir:"); ok {
		if fi, err := os.Stat(dir); err == nil && fi.IsDir() {
			return true, nil
		}
		if os.Getenv("WEBFIM_REQUIRE_INTEGRATION") != "" {
			return false, fmt.Errorf("%s does not exist, and WEBFIM_REQUIRE_INTEGRATION is set (.ci/run installs its package)", dir)
		}
		return false, nil
	}
	if cond == "mountroot" { // root on Linux: may mount a tmpfs
		if runtime.GOOS == "linux" && os.Geteuid() == 0 {
			return true, nil
		}
		if os.Getenv("WEBFIM_REQUIRE_INTEGRATION") != "" {
			return false, errors.New("mounting needs root on Linux, and WEBFIM_REQUIRE_INTEGRATION is set (CI runs as root)")
		}
		return false, nil
	}
	name, ok := strings.CutPrefix(cond, "tool:")
	if !ok {
		return false, fmt.Errorf("unknown condition %q", cond)
	}
	if _, err := exec.LookPath(name); err == nil {
		return true, nil
	}
	if os.Getenv("WEBFIM_REQUIRE_INTEGRATION") != "" {
		return false, fmt.Errorf("%s is not installed, and WEBFIM_REQUIRE_INTEGRATION is set (.ci/run installs it)", name)
	}
	return false, nil
}
