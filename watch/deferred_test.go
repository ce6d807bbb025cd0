package watch

import (
	"errors"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"webfim/baseline"
	"webfim/policy"
	"webfim/scan"
	"webfim/serverconf"
)

var errTestLocked = errors.New("database is locked by another process (test)")

// lockableStore fails every call with errTestLocked while locked: another
// process holding the database longer than the lock timeout. seenOnly
// locks only the dedupe table (the findings' queueing).
type lockableStore struct {
	Store
	locked, seenOnly atomic.Bool
}

func (s *lockableStore) fail() error {
	if s.locked.Load() && !s.seenOnly.Load() {
		return errTestLocked
	}
	return nil
}

func (s *lockableStore) Lookup(id uint64, root, path string) (baseline.Record, bool, error) {
	if err := s.fail(); err != nil {
		return baseline.Record{}, false, err
	}
	return s.Store.Lookup(id, root, path)
}

func (s *lockableStore) RootRecords(id uint64, root, prefix string) baseline.State {
	if err := s.fail(); err != nil {
		return func(yield func(baseline.Record, error) bool) { yield(baseline.Record{}, err) }
	}
	return s.Store.RootRecords(id, root, prefix)
}

func (s *lockableStore) Inventory(id uint64) ([]serverconf.Item, error) {
	if err := s.fail(); err != nil {
		return nil, err
	}
	return s.Store.Inventory(id)
}

func (s *lockableStore) Active() (scan.Baseline, bool, error) {
	if s.locked.Load() {
		return scan.Baseline{}, false, errTestLocked
	}
	return s.Store.Active()
}

func (s *lockableStore) AdhocWindows(now time.Time) ([]policy.Window, error) {
	if s.locked.Load() {
		return nil, errTestLocked
	}
	return s.Store.AdhocWindows(now)
}

func (s *lockableStore) Seen(key string) (time.Time, bool, error) {
	if s.locked.Load() {
		return time.Time{}, false, errTestLocked
	}
	return s.Store.Seen(key)
}

// Issue 12, item 7: a check that fails because another process holds the
// database is kept, not dropped until the next (hourly) rescan, and runs
// as soon as the database is readable again; so are findings that could
// not be queued. The periodic rescans are off here: only the retry can
// report them.
func TestDaemonRetriesAfterLock(t *testing.T) {
	root := tempRoot(t)
	writeFile(t, filepath.Join(root, "index.php"), "<?php")
	db := openDB(t)
	cfg := testConfig(root)
	makeBaseline(t, db, cfg)
	ls := &lockableStore{Store: storeOf(db)}
	td := startDaemon(t, db, cfg, Deps{Store: ls, Busy: func(err error) bool { return errors.Is(err, errTestLocked) }})

	// The check itself cannot read the baseline.
	ls.locked.Store(true)
	writeFile(t, filepath.Join(root, "shell.php"), "<?php system($_GET['c']);")
	if !waitUntil(waitDeadline, func() bool { return td.deferredCount() > 0 }) {
		t.Fatal("the check that met the lock was not kept")
	}
	if n := td.sink.count(fileFinding(baseline.Added, "shell.php")); n != 0 {
		t.Fatal("reported while the database was locked")
	}
	ls.locked.Store(false)
	td.sink.waitFor(t, "shell.php once the database is readable", fileFinding(baseline.Added, "shell.php"))

	// The check runs, but its findings cannot be queued.
	ls.seenOnly.Store(true)
	ls.locked.Store(true)
	writeFile(t, filepath.Join(root, "second.php"), "<?php eval($_POST['x']);")
	if !waitUntil(waitDeadline, func() bool { return td.deferredCount() > 0 }) {
		t.Fatal("the findings that met the lock were not kept")
	}
	ls.locked.Store(false)
	td.sink.waitFor(t, "second.php once the database is readable", fileFinding(baseline.Added, "second.php"))
	if td.deferredCount() != 0 {
		t.Errorf("%d checks or findings still kept", td.deferredCount())
	}
	td.stop(t)
}
