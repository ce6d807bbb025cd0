package watch

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

func TestTreeFileLifecycle(t *testing.T) {
	root := tempRoot(t)
	writeFile(t, filepath.Join(root, "sub", "old.php"), "x")
	_, hints := startTree(t, newFaultNotifier(t), TreeOptions{Roots: []string{root}})

	writeFile(t, filepath.Join(root, "sub", "a.php"), "<?php")
	hints.waitFor(t, "create sub/a.php", pathHint(root, "sub/a.php"))

	hints.reset()
	f, err := os.OpenFile(filepath.Join(root, "sub", "old.php"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("more")
	f.Close()
	hints.waitFor(t, "modify sub/old.php", pathHint(root, "sub/old.php"))

	hints.reset()
	if err := os.Remove(filepath.Join(root, "sub", "a.php")); err != nil {
		t.Fatal(err)
	}
	hints.waitFor(t, "delete sub/a.php", pathHint(root, "sub/a.php"))

	hints.reset()
	if err := os.Rename(filepath.Join(root, "sub", "old.php"), filepath.Join(root, "new.php")); err != nil {
		t.Fatal(err)
	}
	hints.waitFor(t, "rename source", pathHint(root, "sub/old.php"))
	hints.waitFor(t, "rename target", pathHint(root, "new.php"))

	hints.reset()
	if err := os.Chmod(filepath.Join(root, "new.php"), 0o600); err != nil {
		t.Fatal(err)
	}
	hints.waitFor(t, "chmod", pathHint(root, "new.php"))
}

func TestTreeMkdirPRace(t *testing.T) {
	root := tempRoot(t)
	tr, hints := startTree(t, newFaultNotifier(t), TreeOptions{Roots: []string{root}})
	before := tr.Dirs()
	// Nested directories and a file created as fast as possible: the file
	// lands before the tree can watch its directory, and must still be
	// reported by the scan that follows each new watch.
	for i := range 20 {
		dir := filepath.Join(root, fmt.Sprint("a", i), "b", "c")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "x.php"), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 20 {
		hints.waitFor(t, "x.php in new nested dirs", pathHint(root, fmt.Sprintf("a%d/b/c/x.php", i)))
	}
	// The deepest directory is watched now: later files arrive as events.
	writeFile(t, filepath.Join(root, "a3", "b", "c", "later.php"), "")
	hints.waitFor(t, "later.php", pathHint(root, "a3/b/c/later.php"))
	if got, want := tr.Dirs(), before+60; got != want {
		t.Errorf("watched dirs = %d, want %d", got, want)
	}
}

func TestTreeDirRenameReportsSubtree(t *testing.T) {
	root := tempRoot(t)
	writeFile(t, filepath.Join(root, "d", "e", "f.php"), "")
	tr, hints := startTree(t, newFaultNotifier(t), TreeOptions{Roots: []string{root}})
	if tr.Dirs() != 3 {
		t.Fatalf("watched dirs = %d, want 3 (root, d, d/e)", tr.Dirs())
	}
	if err := os.Rename(filepath.Join(root, "d"), filepath.Join(root, "z")); err != nil {
		t.Fatal(err)
	}
	hints.waitFor(t, "old subtree d", kindHint(HintSubtree, root, "d"))
	hints.waitFor(t, "moved file at its new path", pathHint(root, "z/e/f.php"))

	// The watches follow the new name: events inside are reported under
	// z/, never under the stale d/.
	hints.reset()
	writeFile(t, filepath.Join(root, "z", "e", "new.php"), "")
	hints.waitFor(t, "file in renamed dir", pathHint(root, "z/e/new.php"))
	hints.expectNone(t, root, "stale path", func(h Hint) bool { return strings.HasPrefix(h.Rel, "d/") })
	if tr.Dirs() != 3 {
		t.Errorf("watched dirs after rename = %d, want 3", tr.Dirs())
	}
}

func TestTreeDirRemoveReportsSubtree(t *testing.T) {
	root := tempRoot(t)
	writeFile(t, filepath.Join(root, "d", "e", "f.php"), "")
	tr, hints := startTree(t, newFaultNotifier(t), TreeOptions{Roots: []string{root}})
	if err := os.RemoveAll(filepath.Join(root, "d")); err != nil {
		t.Fatal(err)
	}
	hints.waitFor(t, "removed subtree d", kindHint(HintSubtree, root, "d"))
	if !waitUntil(waitDeadline, func() bool { return tr.Dirs() == 1 }) {
		t.Errorf("watched dirs = %d, want 1", tr.Dirs())
	}
}

func TestTreeConfigAtomicReplace(t *testing.T) {
	root := tempRoot(t)
	etc := tempRoot(t)
	conf := filepath.Join(etc, "nginx.conf")
	writeFile(t, conf, "events {}\n")
	_, hints := startTree(t, newFaultNotifier(t), TreeOptions{Roots: []string{root}, ConfigFiles: []string{conf}})

	isConf := func(h Hint) bool { return h.Kind == HintConfig && h.Path == conf }
	for i := range 2 { // the second replace proves the watch survived the first
		hints.reset()
		tmp := filepath.Join(etc, fmt.Sprintf(".nginx.conf.tmp%d", i))
		writeFile(t, tmp, fmt.Sprintf("load_module evil%d.so;\n", i))
		if err := os.Rename(tmp, conf); err != nil {
			t.Fatal(err)
		}
		hints.waitFor(t, "replaced config", isConf)
	}
	hints.reset()
	writeFile(t, filepath.Join(etc, "unrelated.txt"), "")
	hints.expectNone(t, root, "unrelated file next to the config", func(h Hint) bool { return h.Kind == HintConfig })
}

func TestTreeConfigSymlinkTarget(t *testing.T) {
	root := tempRoot(t)
	avail := tempRoot(t)
	enabled := tempRoot(t)
	target := filepath.Join(avail, "site.conf")
	writeFile(t, target, "server {}\n")
	link := filepath.Join(enabled, "site.conf")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	_, hints := startTree(t, newFaultNotifier(t), TreeOptions{Roots: []string{root}, ConfigFiles: []string{link}})
	writeFile(t, target, "server { root /tmp; }\n")
	hints.waitFor(t, "edited symlink target", func(h Hint) bool { return h.Kind == HintConfig && h.Path == link })
}

func TestTreeOverflowRequestsRescanAndResyncs(t *testing.T) {
	rootA, rootB := tempRoot(t), tempRoot(t)
	n := newFaultNotifier(t)
	tr, hints := startTree(t, n, TreeOptions{Roots: []string{rootA, rootB}})

	// Events lost: a directory appears unseen, then the queue overflows.
	n.loseEvents(t, filepath.Join(rootB, "lost-marker"), func() {
		if err := os.MkdirAll(filepath.Join(rootA, "unseen"), 0o755); err != nil {
			t.Fatal(err)
		}
	})
	n.errs <- ErrOverflow

	for _, r := range []string{rootA, rootB} {
		hints.waitFor(t, "overflow rescan of "+r, func(h Hint) bool {
			return h.Kind == HintRescan && h.Root == r && h.Reason == ReasonOverflow
		})
	}
	// The resync watched the directory created while events were lost.
	writeFile(t, filepath.Join(rootA, "unseen", "shell.php"), "")
	hints.waitFor(t, "file in dir created during the overflow", pathHint(rootA, "unseen/shell.php"))
	if tr.Dirs() != 3 {
		t.Errorf("watched dirs = %d, want 3", tr.Dirs())
	}
}

func TestTreeWatchLimitDegradesRoot(t *testing.T) {
	for _, tc := range []struct {
		errno  syscall.Errno
		sysctl string
	}{
		{syscall.ENOSPC, "fs.inotify.max_user_watches"},
		{syscall.EMFILE, "fs.inotify.max_user_instances"},
	} {
		t.Run(tc.errno.Error(), func(t *testing.T) {
			root, healthy := tempRoot(t), tempRoot(t)
			for i := range 5 {
				writeFile(t, filepath.Join(root, fmt.Sprint("d", i), "f.php"), "")
			}
			n := newFaultNotifier(t)
			n.failAdd = func(path string) error {
				if strings.HasPrefix(path, root+string(filepath.Separator)) {
					return fmt.Errorf("add %s: %w", path, tc.errno)
				}
				return nil
			}
			logs := &syncBuffer{}
			tr, hints := startTree(t, n, TreeOptions{
				Roots:            []string{root, healthy},
				DegradedInterval: 30 * time.Millisecond,
				Logger:           slog.New(slog.NewTextHandler(logs, nil)),
			})
			hints.waitFor(t, "first degraded rescan with the error", func(h Hint) bool {
				var le *LimitError
				return h.Kind == HintRescan && h.Root == root && h.Reason == ReasonDegraded && errors.As(h.Err, &le) && errors.Is(h.Err, tc.errno)
			})
			// The fallback: periodic rescans, while the message stays single.
			waitUntil(waitDeadline, func() bool { return hints.count(kindHint(HintRescan, root, "")) >= 4 })
			if c := hints.count(kindHint(HintRescan, root, "")); c < 4 {
				t.Fatalf("degraded root rescanned %d times, want periodic rescans", c)
			}
			var lines []string
			for _, l := range strings.Split(logs.String(), "\n") {
				if strings.Contains(l, tc.sysctl) {
					lines = append(lines, l)
				}
			}
			if len(lines) != 1 || !strings.Contains(lines[0], "level=ERROR") || !strings.Contains(lines[0], root) {
				t.Errorf("want exactly one error message naming %s and the root, got:\n%s", tc.sysctl, logs)
			}
			if hints.count(func(h Hint) bool { return h.Kind == HintRescan && h.Root == healthy }) != 0 {
				t.Error("healthy root was degraded too")
			}
			st := tr.Status()
			if !st[0].Degraded && !st[1].Degraded {
				t.Fatalf("no root degraded: %+v", st)
			}
			for _, s := range st {
				if s.Degraded != (s.Root == root) {
					t.Errorf("status %+v", s)
				}
			}
			// The healthy root is still watched.
			writeFile(t, filepath.Join(healthy, "x.php"), "")
			hints.waitFor(t, "event in healthy root", pathHint(healthy, "x.php"))
		})
	}
}

func TestTreeExcludeAndSymlinks(t *testing.T) {
	root := tempRoot(t)
	outside := tempRoot(t)
	writeFile(t, filepath.Join(root, "cache", "c.tmp"), "")
	if err := os.Symlink(outside, filepath.Join(root, "link")); err != nil {
		t.Fatal(err)
	}
	tr, hints := startTree(t, newFaultNotifier(t), TreeOptions{
		Roots:   []string{root},
		Exclude: func(_, rel string, _ bool) bool { return rel == "cache" },
	})
	if tr.Dirs() != 1 {
		t.Errorf("watched dirs = %d, want 1 (excluded dir and symlinked dir not watched)", tr.Dirs())
	}
	writeFile(t, filepath.Join(root, "cache", "d.tmp"), "")
	writeFile(t, filepath.Join(outside, "through-link.php"), "")
	hints.expectNone(t, root, "excluded or behind a symlink", func(h Hint) bool {
		return strings.HasPrefix(h.Rel, "cache") || strings.HasPrefix(h.Rel, "link/")
	})

	// A symlink to a directory created later is reported, not entered.
	if err := os.Symlink(outside, filepath.Join(root, "link2")); err != nil {
		t.Fatal(err)
	}
	hints.waitFor(t, "new symlink", pathHint(root, "link2"))
	hints.expectNone(t, root, "symlink target contents", func(h Hint) bool { return strings.HasPrefix(h.Rel, "link2/") })
}

func TestNewTreeRejectsBadRoots(t *testing.T) {
	root := tempRoot(t)
	if err := os.Mkdir(filepath.Join(root, "inner"), 0o755); err != nil {
		t.Fatal(err)
	}
	n := newFaultNotifier(t)
	if _, err := NewTree(n, TreeOptions{Roots: []string{root, filepath.Join(root, "inner")}}); !errors.Is(err, ErrNestedRoots) {
		t.Errorf("nested roots: err = %v, want ErrNestedRoots", err)
	}
	if _, err := NewTree(n, TreeOptions{Roots: []string{"relative"}}); err == nil {
		t.Error("relative root accepted")
	}
	if _, err := NewTree(n, TreeOptions{Roots: []string{filepath.Join(root, "missing")}}); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing root: err = %v", err)
	}
}

func TestTreeRootRemovedAndBack(t *testing.T) {
	parent := tempRoot(t)
	root := filepath.Join(parent, "www")
	writeFile(t, filepath.Join(root, "index.php"), "")
	tr, hints := startTree(t, newFaultNotifier(t), TreeOptions{Roots: []string{root}, DegradedInterval: 30 * time.Millisecond})
	if err := os.Rename(root, filepath.Join(parent, "www.old")); err != nil {
		t.Fatal(err)
	}
	hints.waitFor(t, "root gone", kindHint(HintSubtree, root, ""))
	writeFile(t, filepath.Join(root, "index.php"), "")
	hints.waitFor(t, "root back: rescan", func(h Hint) bool { return h.Kind == HintRescan && h.Root == root && h.Reason == ReasonRoot })
	if st := tr.Status(); st[0].Missing {
		t.Errorf("root still missing: %+v", st)
	}
	writeFile(t, filepath.Join(root, "again.php"), "")
	hints.waitFor(t, "event in the new root", pathHint(root, "again.php"))
}

// TestTreeDegradedRootRecovers: once the operator raises the inotify
// limit named in the error, a degraded root is watched in full again
// (first with a value still too low: the root stays degraded and the
// error is reported again, with the new value), rescanned once, and its
// changes come as events again.
func TestTreeDegradedRootRecovers(t *testing.T) {
	root := tempRoot(t)
	for i := range 4 {
		writeFile(t, filepath.Join(root, fmt.Sprint("d", i), "f.php"), "")
	}
	var mu sync.Mutex
	limit, room := "100", false
	setLimit := func(v string, enough bool) {
		mu.Lock()
		limit, room = v, enough
		mu.Unlock()
	}
	saved := readLimit
	readLimit = func(string) string { mu.Lock(); defer mu.Unlock(); return limit }
	t.Cleanup(func() { readLimit = saved })
	n := newFaultNotifier(t)
	n.failAdd = func(path string) error {
		mu.Lock()
		defer mu.Unlock()
		if !room && strings.HasPrefix(path, root+string(filepath.Separator)) {
			return fmt.Errorf("add %s: %w", path, syscall.ENOSPC)
		}
		return nil
	}
	logs := &syncBuffer{}
	tr, hints := startTree(t, n, TreeOptions{
		Roots:            []string{root},
		DegradedInterval: 30 * time.Millisecond,
		Logger:           slog.New(slog.NewTextHandler(logs, nil)),
	})
	hints.waitFor(t, "degraded", func(h Hint) bool { return h.Reason == ReasonDegraded && h.Err != nil })

	errorsLogged := func() int { return strings.Count(logs.String(), "fs.inotify.max_user_watches = ") }
	setLimit("150", false) // raised, but not enough
	waitUntil(waitDeadline, func() bool { return errorsLogged() >= 2 })
	if c := errorsLogged(); c != 2 || !strings.Contains(logs.String(), "fs.inotify.max_user_watches = 150") {
		t.Fatalf("after a raise that is not enough: %d error messages, want a second one with the new value:\n%s", c, logs)
	}
	if !tr.Status()[0].Degraded {
		t.Fatal("root no longer degraded though its watches still fail")
	}

	setLimit("100000", true)
	hints.waitFor(t, "recovery rescan", func(h Hint) bool { return h.Kind == HintRescan && h.Root == root && h.Reason == ReasonRecovered })
	if st := tr.Status()[0]; st.Degraded || st.Err != nil {
		t.Fatalf("status after recovery: %+v", st)
	}
	if !strings.Contains(logs.String(), "root fully watched again") {
		t.Errorf("no message saying the root is fully watched again:\n%s", logs)
	}
	// The deepest directories are watched again: a new file there is an
	// event, not left to a rescan.
	writeFile(t, filepath.Join(root, "d2", "new.php"), "")
	hints.waitFor(t, "event in a directory of the recovered root", pathHint(root, "d2/new.php"))
	if c := errorsLogged(); c != 2 {
		t.Errorf("%d limit errors logged in all, want 2", c)
	}
}

// TestTreeConfigDirRetried: a config directory missing at start, or
// removed later, is watched again once it exists, and its config files
// are hinted then; after that, edits are events again.
func TestTreeConfigDirRetried(t *testing.T) {
	root := tempRoot(t)
	etc := tempRoot(t)
	dir := filepath.Join(etc, "conf.d")
	conf := filepath.Join(dir, "evil.conf")
	logs := &syncBuffer{}
	_, hints := startTree(t, newFaultNotifier(t), TreeOptions{
		Roots: []string{root}, ConfigFiles: []string{conf},
		DegradedInterval: 30 * time.Millisecond,
		Logger:           slog.New(slog.NewTextHandler(logs, nil)),
	})
	isConf := func(h Hint) bool { return h.Kind == HintConfig && h.Path == conf }
	for round := range 2 {
		hints.reset()
		writeFile(t, conf, fmt.Sprintf("LoadModule evil%d /tmp/evil.so\n", round))
		hints.waitFor(t, fmt.Sprintf("round %d: config in a directory that appeared", round), isConf)
		// Watched again: an edit is an event, not left to a tick.
		hints.reset()
		writeFile(t, conf, "LoadModule worse /tmp/worse.so\n")
		hints.waitFor(t, fmt.Sprintf("round %d: edit in the watched directory", round), isConf)
		// The directory goes away: its file is hinted (gone), and the
		// directory is retried.
		hints.reset()
		if err := os.RemoveAll(dir); err != nil {
			t.Fatal(err)
		}
		hints.waitFor(t, fmt.Sprintf("round %d: removed directory", round), isConf)
	}
	if n := strings.Count(logs.String(), "watching config directory"); n < 2 {
		t.Errorf("%d 'watching config directory' messages, want one per reappearance:\n%s", n, logs)
	}
}
