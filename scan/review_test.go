package scan

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"testing"

	"webfim/baseline"
	"webfim/serverconf"
	"webfim/store"
)

// CreateReviewed shows the review every difference with the active
// baseline, in the walk that takes the snapshot, and stores the active
// baseline's side of what it holds: a held addition is absent, a held
// change keeps its old record, a held inventory item its old state.
// Commit can refuse the snapshot, which then leaves nothing behind.
func TestCreateReviewedHolds(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	root := filepath.Join(dir, "www")
	write(t, filepath.Join(root, "index.php"), "<?php echo 1;")
	write(t, filepath.Join(root, "lib.php"), "<?php echo 2;")
	db, err := store.Open(filepath.Join(dir, "webfim.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	target := Target{Roots: []string{root}}
	v1, err := Create(ctx, db, target, "v1", "test", Options{}, true)
	if err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(root, "uploads/shell.php"), "<?php system($_GET[1]);")
	write(t, filepath.Join(root, "index.php"), "<?php echo 'backdoor';")
	write(t, filepath.Join(root, "lib.php"), "<?php echo 3;")
	write(t, filepath.Join(root, "new.php"), "<?php echo 4;")
	write(t, filepath.Join(root, ".htaccess"), "AddHandler application/x-httpd-php .jpg\n")

	// Refused: nothing is stored, the active baseline stays.
	refuse := errors.New("refused")
	_, err = CreateReviewed(ctx, db, target, "v2", "test", Options{}, true, Review{
		File: func(baseline.Change) bool { return true }, Commit: func(_ *store.Meta, w *store.BaselineWriter) error {
			w.EnqueueOnCommit(0, store.OutboxEntry{ID: "refused", Doc: []byte("{}")})
			return refuse
		}})
	if !errors.Is(err, refuse) {
		t.Fatalf("refused review: %v", err)
	}
	if a, _ := db.Resolve("active"); a.ID != v1.ID {
		t.Fatalf("active baseline %d after a refusal, want %d", a.ID, v1.ID)
	}
	if _, err := db.Resolve("v2"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("refused snapshot was stored: %v", err)
	}
	if p, _ := db.Pending(0); len(p) != 0 {
		t.Fatalf("a refused snapshot's outbox entries were queued: %+v", p)
	}

	var seen []string
	var seenItems []serverconf.Change
	hold := func(c baseline.Change) bool {
		seen = append(seen, string(c.Kind)+" "+c.Path)
		return c.Path == "uploads/shell.php" || c.Path == "index.php"
	}
	v2, err := CreateReviewed(ctx, db, target, "v2", "test", Options{}, true, Review{
		File: hold,
		Item: func(c serverconf.Change) bool { seenItems = append(seenItems, c); return true },
		Commit: func(m *store.Meta, w *store.BaselineWriter) error {
			m.Review = &store.Review{Reason: "test"}
			w.EnqueueOnCommit(0, store.OutboxEntry{ID: "audit", Doc: fmt.Appendf(nil, `{"baseline":%d}`, m.ID)})
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"added uploads/shell.php", "content_changed index.php", "content_changed lib.php", "added new.php", "added .htaccess"} {
		if !slices.Contains(seen, want) {
			t.Errorf("review did not see %q (saw %q)", want, seen)
		}
	}
	if len(seenItems) == 0 {
		t.Error("review saw no inventory change for the .htaccess handler")
	}
	if v2.Review == nil || v2.Review.Reason != "test" {
		t.Errorf("Commit's metadata not stored: %+v", v2.Review)
	}
	// The outbox entry was published with the baseline, knowing its id.
	if p, _ := db.Pending(0); len(p) != 1 || string(p[0].Doc) != fmt.Sprintf(`{"baseline":%d}`, v2.ID) {
		t.Errorf("outbox after the commit: %+v", p)
	}
	// What was held still differs from the new baseline; the rest does not.
	var c collected
	if _, err := Diff(ctx, db, v2, nil, target, Options{Full: true}, c.emitter()); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, ch := range c.files {
		got = append(got, string(ch.Kind)+" "+ch.Path)
	}
	want := []string{"content_changed index.php", "added uploads/shell.php"}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("diff against the reviewed baseline = %q, want %q", got, want)
	}
	if len(c.items) == 0 {
		t.Error("the held handler does not differ from the reviewed baseline")
	}
}
