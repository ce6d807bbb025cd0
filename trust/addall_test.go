package trust

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"webfim/baseline"
)

// stateOf yields recs, then err if set.
func stateOf(recs []baseline.Record, err error) baseline.State {
	return func(yield func(baseline.Record, error) bool) {
		for _, r := range recs {
			if !yield(r, nil) {
				return
			}
		}
		if err != nil {
			yield(baseline.Record{}, err)
		}
	}
}

// AddAll gives what AddRecord one by one gives, over several batches and
// roots, and stops at the first error of either side without hanging.
func TestAddAll(t *testing.T) {
	var recs []baseline.Record
	for i := range 3*addAllBatch + 17 {
		recs = append(recs, sampleRecord(i))
	}
	for i := range 100 {
		r := sampleRecord(i)
		r.Root = "/srv/zz"
		recs = append(recs, r)
	}
	one := NewBuilder()
	for i := range recs {
		if err := one.AddRecord(&recs[i]); err != nil {
			t.Fatal(err)
		}
	}
	all := NewBuilder()
	if err := all.AddAll(stateOf(recs, nil)); err != nil {
		t.Fatal(err)
	}
	st1, ix1 := one.Finish(Statement{})
	st2, ix2 := all.Finish(Statement{})
	if diff := cmp.Diff(st1.MarshalText(), st2.MarshalText()); diff != "" {
		t.Errorf("statements differ:\n%s", diff)
	}
	if diff := cmp.Diff(ix1, ix2); diff != "" {
		t.Errorf("indexes differ:\n%s", diff)
	}

	damaged := errors.New("block damaged")
	if err := NewBuilder().AddAll(stateOf(recs[:2*addAllBatch+5], damaged)); !errors.Is(err, damaged) {
		t.Errorf("read error: %v", err)
	}
	// A root out of order in the first batch: AddRecord fails, the reader
	// (with batches left to send) stops.
	bad := append([]baseline.Record{{Root: "/zzz"}}, recs...)
	if err := NewBuilder().AddAll(stateOf(bad, nil)); err == nil {
		t.Error("roots out of order accepted")
	}
}
