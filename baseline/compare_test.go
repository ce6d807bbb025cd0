package baseline

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// brief is what a test asserts of a change.
type brief struct {
	Kind       ChangeKind
	Root, Path string
	From       string
	Fields     []string
}

func briefs(t *testing.T, old, new []Record) ([]brief, Summary) {
	t.Helper()
	var got []brief
	sum, err := Compare(sliceState(old), sliceState(new), func(c Change) error {
		if (c.Kind == Added) != (c.Old == nil) || (c.Kind == Removed) != (c.New == nil) {
			t.Errorf("%s %q: Old %v New %v", c.Kind, c.Path, c.Old, c.New)
		}
		got = append(got, brief{c.Kind, c.Root, c.Path, c.From, c.Fields})
		return nil
	})
	if err != nil {
		t.Fatalf("Compare: %v", err)
	}
	return got, sum
}

func file(path, content string, inode uint64) Record {
	return Record{Root: "/r", Path: path, Type: TypeFile, Mode: 0o644, Size: int64(len(content)),
		Mtime: 100, Ctime: 100, Inode: inode, Dev: 1, UID: 33, GID: 33, BLAKE3: b3(content)}
}

func dir(path string, inode uint64) Record {
	return Record{Root: "/r", Path: path, Type: TypeDir, Mode: fs.ModeDir | 0o755, Size: 4096, Mtime: 100, Ctime: 100, Inode: inode, Dev: 1}
}

func with(r Record, f func(*Record)) Record { f(&r); return r }

func TestCompare(t *testing.T) {
	base := []Record{dir("", 1), file("a.php", "a", 2), dir("d", 3), file("d/x", "x", 4), file("z", "z", 5)}
	replace := func(recs []Record, path string, f func(*Record)) []Record {
		out := append([]Record(nil), recs...)
		for i := range out {
			if out[i].Path == path {
				f(&out[i])
			}
		}
		return out
	}
	for _, tc := range []struct {
		name     string
		old, new []Record
		want     []brief
		sum      Summary
	}{
		{name: "identical", old: base, new: base, want: nil},
		{
			name: "added",
			old:  base,
			new:  append(append(append([]Record{}, base[:2]...), file("b", "new", 9)), base[2:]...),
			want: []brief{{Kind: Added, Root: "/r", Path: "b"}},
			sum:  Summary{Added: 1},
		},
		{
			name: "removed",
			old:  base,
			new:  base[:4],
			want: []brief{{Kind: Removed, Root: "/r", Path: "z"}},
			sum:  Summary{Removed: 1},
		},
		{
			name: "content changed",
			old:  base,
			new:  replace(base, "a.php", func(r *Record) { r.BLAKE3 = b3("b"); r.Mtime = 200 }),
			want: []brief{{Kind: ContentChanged, Root: "/r", Path: "a.php", Fields: []string{"content", "mtime"}}},
			sum:  Summary{ContentChanged: 1},
		},
		{
			name: "size changed",
			old:  base,
			new:  replace(base, "z", func(r *Record) { r.BLAKE3 = b3("zz"); r.Size = 2 }),
			want: []brief{{Kind: ContentChanged, Root: "/r", Path: "z", Fields: []string{"content", "size"}}},
			sum:  Summary{ContentChanged: 1},
		},
		{
			name: "mode uid gid",
			old:  base,
			new:  replace(base, "d/x", func(r *Record) { r.Mode = 0o4755; r.UID = 0; r.GID = 0; r.Ctime = 300 }),
			want: []brief{{Kind: MetadataChanged, Root: "/r", Path: "d/x", Fields: []string{"mode", "uid", "gid"}}},
			sum:  Summary{MetadataChanged: 1},
		},
		{
			name: "mtime only",
			old:  base,
			new:  replace(base, "z", func(r *Record) { r.Mtime = 5 }),
			want: []brief{{Kind: MetadataChanged, Root: "/r", Path: "z", Fields: []string{"mtime"}}},
			sum:  Summary{MetadataChanged: 1},
		},
		{
			name: "ctime, inode, dir mtime and size are not reported",
			old:  base,
			new: replace(replace(replace(base, "z", func(r *Record) { r.Ctime = 5; r.Inode = 77 }),
				"d", func(r *Record) { r.Mtime = 999; r.Size = 8192; r.Ctime = 999 }),
				"", func(r *Record) { r.Mtime = 1 }),
			want: nil,
		},
		{
			name: "type changed",
			old:  base,
			new: replace(base, "z", func(r *Record) {
				*r = Record{Root: "/r", Path: "z", Type: TypeSymlink, Mode: fs.ModeSymlink | 0o777, Target: "/etc/passwd", Mtime: 100, Inode: 5, Dev: 1, UID: 33, GID: 33}
			}),
			want: []brief{{Kind: MetadataChanged, Root: "/r", Path: "z", Fields: []string{"type", "mode", "target"}}},
			sum:  Summary{MetadataChanged: 1},
		},
		{
			name: "symlink target",
			old:  append(base, Record{Root: "/r", Path: "zl", Type: TypeSymlink, Target: "a"}),
			new:  append(base, Record{Root: "/r", Path: "zl", Type: TypeSymlink, Target: "b"}),
			want: []brief{{Kind: MetadataChanged, Root: "/r", Path: "zl", Fields: []string{"target"}}},
			sum:  Summary{MetadataChanged: 1},
		},
		{
			name: "unreadable now: size change is metadata, error visible",
			old:  base,
			new:  replace(base, "z", func(r *Record) { r.BLAKE3 = nil; r.Err = "permission denied"; r.Size = 9; r.Mode = 0 }),
			want: []brief{{Kind: MetadataChanged, Root: "/r", Path: "z", Fields: []string{"size", "mode", "error"}}},
			sum:  Summary{MetadataChanged: 1},
		},
		{
			name: "moved by inode",
			old:  base,
			new:  replace(base, "z", func(r *Record) { r.Path = "zz"; r.BLAKE3 = b3("edited") }),
			want: []brief{{Kind: Moved, Root: "/r", Path: "zz", From: "z", Fields: []string{"content"}}},
			sum:  Summary{Moved: 1},
		},
		{
			name: "moved by digest (copy and delete)",
			old:  base,
			new:  []Record{dir("", 1), dir("d", 3), file("d/x", "x", 4), with(file("d/y.php", "a", 50), func(r *Record) { r.Mtime = 300 }), file("z", "z", 5)},
			want: []brief{{Kind: Moved, Root: "/r", Path: "d/y.php", From: "a.php", Fields: []string{"mtime"}}},
			sum:  Summary{Moved: 1},
		},
		{
			name: "moved directory with its content",
			old:  []Record{dir("", 1), dir("old", 2), file("old/f", "f", 3), file("old/g", "", 4)},
			new:  []Record{dir("", 1), dir("new", 2), file("new/f", "f", 3), file("new/g", "", 4)},
			want: []brief{
				{Kind: Moved, Root: "/r", Path: "new", From: "old"},
				{Kind: Moved, Root: "/r", Path: "new/f", From: "old/f"},
				{Kind: Moved, Root: "/r", Path: "new/g", From: "old/g"},
			},
			sum: Summary{Moved: 3},
		},
		{
			name: "empty files do not pair by digest; each removed pairs once",
			old:  []Record{dir("", 1), file("e1", "", 10), file("p1", "same", 11), file("p2", "same", 12)},
			new:  []Record{dir("", 1), file("e2", "", 20), file("q1", "same", 21), file("q2", "same", 22), file("q3", "same", 23)},
			want: []brief{
				{Kind: Removed, Root: "/r", Path: "e1"},
				{Kind: Added, Root: "/r", Path: "e2"},
				{Kind: Moved, Root: "/r", Path: "q1", From: "p1"},
				{Kind: Moved, Root: "/r", Path: "q2", From: "p2"},
				{Kind: Added, Root: "/r", Path: "q3"},
			},
			sum: Summary{Added: 2, Removed: 1, Moved: 2},
		},
		{
			name: "multi-root: no moves across roots",
			old:  []Record{{Root: "/a", Type: TypeDir}, with(file("f", "x", 0), func(r *Record) { r.Root = "/a" }), {Root: "/b", Type: TypeDir}},
			new:  []Record{{Root: "/a", Type: TypeDir}, {Root: "/b", Type: TypeDir}, with(file("f", "x", 0), func(r *Record) { r.Root = "/b" })},
			want: []brief{{Kind: Removed, Root: "/a", Path: "f"}, {Kind: Added, Root: "/b", Path: "f"}},
			sum:  Summary{Added: 1, Removed: 1},
		},
		{
			name: "root only in one state",
			old:  []Record{{Root: "/a", Type: TypeDir}},
			new:  []Record{{Root: "/a", Type: TypeDir}, {Root: "/b", Type: TypeDir}},
			want: []brief{{Kind: Added, Root: "/b", Path: ""}},
			sum:  Summary{Added: 1},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, sum := briefs(t, tc.old, tc.new)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("changes (-want +got):\n%s", diff)
			}
			if sum != tc.sum {
				t.Errorf("summary %+v, want %+v", sum, tc.sum)
			}
		})
	}
}

func TestCompareErrors(t *testing.T) {
	base := []Record{dir("", 1), file("a", "a", 2)}
	boom := errors.New("boom")
	failing := func(yield func(Record, error) bool) {
		if yield(base[0], nil) {
			yield(Record{}, boom)
		}
	}
	if _, err := Compare(sliceState(base), failing, func(Change) error { return nil }); !errors.Is(err, boom) {
		t.Errorf("failing new state: %v", err)
	}
	if _, err := Compare(failing, sliceState(base), func(Change) error { return nil }); !errors.Is(err, boom) {
		t.Errorf("failing old state: %v", err)
	}
	n := 0
	_, err := Compare(sliceState(nil), sliceState(base), func(Change) error { n++; return boom })
	if !errors.Is(err, boom) || n != 1 {
		t.Errorf("emit error: %v after %d calls", err, n)
	}
	unordered := []Record{dir("", 1), file("b", "", 3), file("a", "", 2)}
	if _, err := Compare(sliceState(base), sliceState(unordered), func(Change) error { return nil }); !errors.Is(err, ErrUnordered) {
		t.Errorf("unordered state: %v", err)
	}
}

// TestCompareWalks runs Compare on two real walks of a changing tree.
func TestCompareWalks(t *testing.T) {
	root := t.TempDir()
	write(t, root+"/index.php", "<?php index")
	write(t, root+"/up/img.png", "png")
	write(t, root+"/old.txt", "to be removed")
	write(t, root+"/mv.txt", "to be moved")
	before := collect(t, Walk(context.Background(), []string{root}, Options{}))
	write(t, root+"/index.php", "<?php eval($_POST[x]);")
	write(t, root+"/up/shell.php", "<?php system($_GET[c]);")
	os.Remove(root + "/old.txt")
	os.Rename(root+"/mv.txt", root+"/up/mv.txt")
	os.Chmod(root+"/up/img.png", 0o600)
	after := collect(t, Walk(context.Background(), []string{root}, Options{Previous: sliceState(before)}))
	got, sum := briefs(t, before, after)
	for i := range got {
		got[i].Root = ""
	}
	// Changes of entries on both sides stream first, then the buffered
	// moved, removed and added ones, each group in path order.
	want := []brief{
		{Kind: ContentChanged, Path: "index.php", Fields: []string{"content", "size", "mtime"}},
		{Kind: MetadataChanged, Path: "up/img.png", Fields: []string{"mode"}},
		{Kind: Removed, Path: "old.txt"},
		{Kind: Moved, Path: "up/mv.txt", From: "mv.txt"},
		{Kind: Added, Path: "up/shell.php"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if sum != (Summary{Added: 1, Removed: 1, ContentChanged: 1, MetadataChanged: 1, Moved: 1}) {
		t.Errorf("summary %+v", sum)
	}
}
