package baseline

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// collectPairs drains a merge.
func collectPairs(t *testing.T, pairs iter.Seq2[Pair, error]) []Pair {
	t.Helper()
	var out []Pair
	for p, err := range pairs {
		if err != nil {
			t.Fatalf("merge: %v", err)
		}
		out = append(out, p)
	}
	return out
}

// pairRecord is the record giving a pair its place in the order.
func pairRecord(p *Pair) *Record {
	if p.HasNew {
		return &p.New
	}
	return &p.Old
}

// checkPairs checks that pairs are in strictly ascending (Root, Key)
// order, that their sides agree on the entry, and that the old and the new
// sides are exactly old and new.
func checkPairs(t *testing.T, pairs []Pair, old, new []Record) {
	t.Helper()
	var olds, news []Record
	for i := range pairs {
		p := &pairs[i]
		if !p.HasOld && !p.HasNew {
			t.Fatalf("pair %d has neither side", i)
		}
		if p.HasOld && p.HasNew && (p.Old.Root != p.New.Root || p.Old.Path != p.New.Path) {
			t.Errorf("pair %d joins %q %q with %q %q", i, p.Old.Root, p.Old.Path, p.New.Root, p.New.Path)
		}
		if i > 0 && compareRecords(pairRecord(&pairs[i-1]), pairRecord(p)) >= 0 {
			t.Errorf("pair %d (%q %q) out of order", i, pairRecord(p).Root, pairRecord(p).Path)
		}
		if p.HasOld {
			olds = append(olds, p.Old)
		}
		if p.HasNew {
			news = append(news, p.New)
		}
	}
	if diff := cmp.Diff(old, olds); diff != "" {
		t.Errorf("old sides of the pairs (-old state +pairs):\n%s", diff)
	}
	if diff := cmp.Diff(new, news); diff != "" {
		t.Errorf("new sides of the pairs (-walk +pairs):\n%s", diff)
	}
}

func changesOf(t *testing.T, pairs iter.Seq2[Pair, error]) ([]Change, Summary) {
	t.Helper()
	var got []Change
	sum, err := ComparePairs(pairs, func(c Change) error { got = append(got, c); return nil })
	if err != nil {
		t.Fatalf("ComparePairs: %v", err)
	}
	return got, sum
}

// TestMergeWalkMatchesCompare changes two roots in every way a diff
// reports and checks that ComparePairs of MergeWalk finds exactly what
// Compare of the old state and a Walk with it as Previous finds, with the
// same digests reused, and that every old record comes out once, in order.
func TestMergeWalkMatchesCompare(t *testing.T) {
	ctx := context.Background()
	a, b := t.TempDir(), t.TempDir()
	if b < a {
		a, b = b, a
	}
	write(t, a+"/index.php", "<?php index")
	write(t, a+"/chmod.txt", "mode")
	write(t, a+"/edit.php", "<?php edit")
	write(t, a+"/mv.txt", "to be moved")
	write(t, a+"/old/x.txt", "removed subtree")
	write(t, a+"/old/deep/y.txt", "removed subtree, deeper")
	write(t, a+"/cache/c1", "excluded later")
	write(t, a+"/cache/sub/c2", "excluded later")
	write(t, a+"/keep/k.txt", "kept")
	write(t, a+"/zz-trailing", "last in the root, removed")
	write(t, b+"/b.php", "<?php b")
	write(t, b+"/gone.txt", "removed in the second root")
	roots := []string{b, a} // any order
	walked := collect(t, Walk(ctx, roots, Options{}))
	// Records of roots no longer walked, before and after the real ones.
	old := append([]Record{{Root: "/\x01gone", Type: TypeDir}, {Root: "/\x01gone", Path: "f", Type: TypeFile}}, walked...)
	old = append(old, Record{Root: "/\xffgone", Type: TypeDir}, Record{Root: "/\xffgone", Path: "g/h", Type: TypeFile})
	checkSorted(t, old)

	write(t, a+"/edit.php", "<?php eval($_POST[x]);")
	write(t, a+"/keep/new.php", "<?php system($_GET[c]);")
	os.Chmod(a+"/chmod.txt", 0o600)
	os.Rename(a+"/mv.txt", a+"/keep/mv.txt")
	os.RemoveAll(a + "/old")
	os.Remove(a + "/zz-trailing")
	// Written first, so it cannot take gone.txt's inode (a move).
	write(t, b+"/added.txt", "new in the second root")
	os.Remove(b + "/gone.txt")
	exclude := func(root, rel string, isDir bool) bool { return root == a && rel == "cache" && isDir }

	var plain, merged Progress
	want, wantSum := briefs(t, old, collect(t, Walk(ctx, roots, Options{Previous: sliceState(old), Exclude: exclude,
		Progress: func(p Progress) { plain = p }})))
	live := collect(t, Walk(ctx, roots, Options{Exclude: exclude}))
	pairs := collectPairs(t, MergeWalk(ctx, roots, sliceState(old), Options{Exclude: exclude,
		Progress: func(p Progress) { merged = p }}))
	// The live sides are compared by path and type: the digests of a
	// plain walk were read, those of the merged walk partly reused.
	for i := range live {
		live[i].BLAKE3, live[i].SHA256 = nil, nil
	}
	news := slices.Clone(pairs)
	for i := range news {
		news[i].New.BLAKE3, news[i].New.SHA256 = nil, nil
	}
	checkPairs(t, news, old, live)

	changes, sum := changesOf(t, seqOf(pairs))
	var got []brief
	for _, c := range changes {
		got = append(got, brief{c.Kind, c.Root, c.Path, c.From, c.Fields})
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("MergeWalk and Compare disagree (-Compare +MergeWalk):\n%s", diff)
	}
	if sum != wantSum {
		t.Errorf("summary %+v, Compare says %+v", sum, wantSum)
	}
	// What the test set up, so that agreement is not agreement on nothing.
	if wantSum != (Summary{Added: 2, Removed: 14, ContentChanged: 1, MetadataChanged: 1, Moved: 1}) {
		t.Errorf("Compare found %+v: %+v", wantSum, want)
	}
	if merged.Hashed != plain.Hashed || merged.Files != plain.Files || !merged.Done {
		t.Errorf("progress: merged %+v, plain walk with Previous %+v", merged, plain)
	}
	// edit.php, chmod.txt (new ctime), keep/new.php, keep/mv.txt (a new
	// path) and added.txt are read; the rest reuses the old digests.
	if merged.Hashed != 5 {
		t.Errorf("merged walk hashed %d files, want 5", merged.Hashed)
	}
}

func seqOf(pairs []Pair) iter.Seq2[Pair, error] {
	return func(yield func(Pair, error) bool) {
		for _, p := range pairs {
			if !yield(p, nil) {
				return
			}
		}
	}
}

func TestMergeWalkFullRehashes(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	write(t, root+"/f.php", "<?php real")
	old := collect(t, Walk(ctx, []string{root}, Options{}))
	// Same metadata, forged digests: the incremental rule trusts them.
	for i := range old {
		if old[i].Path == "f.php" {
			old[i].BLAKE3, old[i].SHA256 = b3("forged"), s256("forged")
		}
	}
	for _, full := range []bool{false, true} {
		var p Progress
		changes, _ := changesOf(t, MergeWalk(ctx, []string{root}, sliceState(old), Options{Full: full,
			Progress: func(pr Progress) { p = pr }}))
		var got []string
		for _, c := range changes {
			got = append(got, fmt.Sprintf("%s %s %v", c.Kind, c.Path, c.Fields))
		}
		want, hashed := []string(nil), int64(0)
		if full {
			want, hashed = []string{"content_changed f.php [content]"}, 1
		}
		if diff := cmp.Diff(want, got); diff != "" || p.Hashed != hashed {
			t.Errorf("Full %v: hashed %d (want %d), changes (-want +got):\n%s", full, p.Hashed, hashed, diff)
		}
	}
}

// TestMergeWalkVanished: an entry listed but gone before it was looked at
// is not part of the live state; its old record still comes out, removed.
func TestMergeWalkVanished(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	write(t, root+"/gone", "x")
	write(t, root+"/stays", "y")
	old := collect(t, Walk(ctx, []string{root}, Options{}))
	setHook(t, &testHookBeforeOpen, func(p string) {
		if filepath.Base(p) == "gone" {
			os.Remove(p)
		}
	})
	// Full: the file is opened first, so it vanishes before anything is
	// known of it.
	pairs := collectPairs(t, MergeWalk(ctx, []string{root}, sliceState(old), Options{Full: true}))
	var desc []string
	for _, p := range pairs {
		desc = append(desc, fmt.Sprintf("%q old:%v new:%v", pairRecord(&p).Path, p.HasOld, p.HasNew))
	}
	want := []string{`"" old:true new:true`, `"gone" old:true new:false`, `"stays" old:true new:true`}
	if diff := cmp.Diff(want, desc); diff != "" {
		t.Errorf("pairs (-want +got):\n%s", diff)
	}
}

func TestMergeWalkOldStateErrors(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	write(t, root+"/a", "a")
	write(t, root+"/b", "b")
	write(t, root+"/c", "c")
	old := collect(t, Walk(ctx, []string{root}, Options{}))
	boom := errors.New("disk on fire")
	failingAfter := func(n int) State {
		return func(yield func(Record, error) bool) {
			for _, r := range old[:n] {
				if !yield(r, nil) {
					return
				}
			}
			yield(Record{}, boom)
		}
	}
	unordered := slices.Clone(old)
	unordered[1], unordered[2] = unordered[2], unordered[1]
	for _, tc := range []struct {
		name string
		old  State
		want error
	}{
		{"error first", failingAfter(0), boom},
		{"error after two records", failingAfter(2), boom},
		{"unordered", sliceState(unordered), ErrUnordered},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got error
			n := 0
			for _, err := range MergeWalk(ctx, []string{root}, tc.old, Options{}) {
				if got != nil {
					t.Fatalf("pair after the error %v", got)
				}
				if err != nil {
					got = err
					continue
				}
				n++
			}
			if !errors.Is(got, tc.want) || !strings.Contains(got.Error(), "old state") {
				t.Errorf("error %v, want %v saying old state", got, tc.want)
			}
			if n > len(old) {
				t.Errorf("%d pairs before the error, more than the tree", n)
			}
			// ComparePairs passes the error on.
			if _, err := ComparePairs(MergeWalk(ctx, []string{root}, tc.old, Options{}), func(Change) error { return nil }); !errors.Is(err, tc.want) {
				t.Errorf("ComparePairs: %v, want %v", err, tc.want)
			}
		})
	}
	// A plain walk with the same previous state goes on without it.
	var reported error
	recs := collect(t, Walk(ctx, []string{root}, Options{Previous: failingAfter(2), OnError: func(_, _ string, err error) { reported = err }}))
	if !errors.Is(reported, boom) || len(recs) != len(old) {
		t.Errorf("plain walk: OnError %v, %d records (want %d)", reported, len(recs), len(old))
	}
	// A bad root ends the stream as for Walk.
	for _, err := range MergeWalk(ctx, []string{"relative"}, sliceState(old), Options{}) {
		if !errors.Is(err, ErrBadRoot) {
			t.Errorf("bad root: %v, want ErrBadRoot", err)
		}
	}
}

// TestMergeWalkEarlyBreak: a consumer that stops ranging over a merged
// walk, in its live part or in the old-only records after it, leaves no
// goroutine behind (walker, workers, the old state's reader).
func TestMergeWalkEarlyBreak(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	for i := range 300 {
		write(t, fmt.Sprintf("%s/f%03d", root, i), "x")
	}
	old := collect(t, Walk(ctx, []string{root}, Options{}))
	// Many old-only records after the walk: more than the read-ahead of
	// the old state and the walk's reorder window.
	for i := range 3 * reorderWindow {
		old = append(old, Record{Root: root, Path: fmt.Sprintf("zz%05d", i), Type: TypeFile})
	}
	for _, tc := range []struct {
		name  string
		after int // pairs taken before breaking
	}{{"at the first pair", 1}, {"among the old-only pairs", 300 + reorderWindow}} {
		t.Run(tc.name, func(t *testing.T) {
			before := runtime.NumGoroutine()
			n := 0
			for p, err := range MergeWalk(ctx, []string{root}, sliceState(old), Options{Workers: 4}) {
				if err != nil {
					t.Fatal(err)
				}
				if n++; n == tc.after {
					if tc.after > 1 && p.HasNew {
						t.Errorf("pair %d is live, want old-only", n)
					}
					break
				}
			}
			if n != tc.after {
				t.Fatalf("only %d pairs", n)
			}
			after := runtime.NumGoroutine()
			for i := 0; i < 100 && after > before; i++ {
				time.Sleep(10 * time.Millisecond)
				after = runtime.NumGoroutine()
			}
			if after > before {
				t.Errorf("goroutines: %d before, %d after an early break", before, after)
			}
		})
	}
}

func TestMergeOrderErrors(t *testing.T) {
	base := []Record{dir("", 1), file("a", "a", 2), file("b", "b", 3)}
	unordered := []Record{dir("", 1), file("b", "", 3), file("a", "", 2)}
	duplicate := []Record{dir("", 1), file("a", "", 2), file("a", "", 2)}
	for _, tc := range []struct {
		name     string
		old, new []Record
		side     string
	}{
		{"old unordered", unordered, base, "old state"},
		{"new unordered", base, unordered, "new state"},
		{"old duplicate", duplicate, base, "old state"},
		{"new duplicate", base, duplicate, "new state"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got error
			for _, err := range Merge(sliceState(tc.old), sliceState(tc.new)) {
				if got != nil {
					t.Fatalf("pair after the error %v", got)
				}
				got = err
			}
			if !errors.Is(got, ErrUnordered) || !strings.Contains(got.Error(), tc.side) {
				t.Errorf("Merge: %v, want ErrUnordered of the %s", got, tc.side)
			}
			if _, err := Compare(sliceState(tc.old), sliceState(tc.new), func(Change) error { return nil }); !errors.Is(err, ErrUnordered) {
				t.Errorf("Compare: %v, want ErrUnordered", err)
			}
		})
	}
}

func TestMergePairs(t *testing.T) {
	old := []Record{dir("", 1), file("a", "a", 2), file("c", "c", 4), file("d/x", "x", 6)}
	new := []Record{dir("", 1), file("b", "b", 3), file("c", "c2", 4), file("e", "e", 7)}
	var got []string
	for p, err := range Merge(sliceState(old), sliceState(new)) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, fmt.Sprintf("%s %v %v", pairRecord(&p).Path, p.HasOld, p.HasNew))
	}
	want := []string{" true true", "a true false", "b false true", "c true true", "d/x true false", "e false true"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	// Stopping early is allowed.
	for range Merge(sliceState(old), sliceState(new)) {
		break
	}
}
