package store

import (
	"encoding/json"
	"errors"
	"strconv"
	"time"

	"webfim/store/internal/safebolt"
)

// Window is an ad-hoc deploy window (webfim deploy start|finish). It is
// open from Start until End or until Finished, whichever comes first.
type Window struct {
	ID       uint64    `json:"id"`
	Label    string    `json:"label,omitempty"`
	By       string    `json:"by,omitempty"`
	Start    time.Time `json:"start"`
	End      time.Time `json:"end"`
	Finished time.Time `json:"finished,omitzero"`
}

// OpenAt reports whether the window is open at t.
func (w Window) OpenAt(t time.Time) bool {
	return !t.Before(w.Start) && t.Before(w.End) && (w.Finished.IsZero() || t.Before(w.Finished))
}

// maxWindows is how many windows are kept as history; older ones are
// deleted when a new one starts.
const maxWindows = 1000

// StartWindow records a new window and returns it with its ID. It fails
// with [ErrWindowOpen] if another window is open at w.Start, with
// [ErrBadLabel] if its label or by breaks the rule of [CheckLabel].
func (db *DB) StartWindow(w Window) (Window, error) {
	if w.Start.IsZero() {
		return Window{}, errors.New("deploy window has no start time")
	}
	if !w.End.After(w.Start) {
		return Window{}, errors.New("deploy window ends before it starts")
	}
	if err := CheckWindow(w); err != nil {
		return Window{}, err
	}
	w.Finished = time.Time{}
	err := db.update(func(tx *safebolt.Tx) error {
		wb, err := db.bucket(tx, bucketWindows)
		if err != nil {
			return err
		}
		open, ok, err := db.openWindow(wb, w.Start)
		if err != nil {
			return err
		}
		if ok {
			return errorf(ErrWindowOpen, "deploy window %s opened by %s is open until %s; finish it first",
				quote(describe(open.Label, "#"+strconv.FormatUint(open.ID, 10))), describe(open.By, "unknown"), open.End.Format(time.RFC3339))
		}
		id, err := wb.NextSequence()
		if err != nil {
			return err
		}
		w.ID = id
		j, _ := json.Marshal(w)
		if err := wb.Put(u64(id), j); err != nil {
			return err
		}
		// Keep a bounded history.
		n := 0
		c := wb.Cursor()
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			n++
		}
		for ; n > maxWindows; n-- {
			k, _ := wb.Cursor().First()
			if err := wb.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return Window{}, err
	}
	return w, nil
}

func describe(s, fallback string) string {
	if s == "" {
		return fallback
	}
	return s
}

// eachWindow decodes the windows of wb in ID order; a damaged one is
// [ErrCorrupt].
func (db *DB) eachWindow(wb *safebolt.Bucket, fn func(Window)) error {
	return wb.ForEach(func(k, v []byte) error {
		var w Window
		if err := json.Unmarshal(v, &w); err != nil {
			id, _ := getU64(k)
			return errorf(ErrCorrupt, "database %s: deploy window %d is damaged: %w", db.path, id, err)
		}
		fn(w)
		return nil
	})
}

// viewWindows runs eachWindow in a read transaction.
func (db *DB) viewWindows(fn func(Window)) error {
	return db.view(func(tx *safebolt.Tx) error {
		wb, err := db.bucket(tx, bucketWindows)
		if err != nil {
			return err
		}
		return db.eachWindow(wb, fn)
	})
}

// openWindow returns the most recently started window open at t.
func (db *DB) openWindow(wb *safebolt.Bucket, t time.Time) (Window, bool, error) {
	var (
		best  Window
		found bool
	)
	err := db.eachWindow(wb, func(w Window) {
		if w.OpenAt(t) && (!found || !w.Start.Before(best.Start)) {
			best, found = w, true
		}
	})
	return best, found, err
}

// WindowsBetween returns the windows open at some instant of [from, to],
// in ID order: what a change made in that span may have been made in.
func (db *DB) WindowsBetween(from, to time.Time) ([]Window, error) {
	var list []Window
	err := db.viewWindows(func(w Window) {
		end := w.End
		if !w.Finished.IsZero() && w.Finished.Before(end) {
			end = w.Finished
		}
		if !w.Start.After(to) && end.After(from) {
			list = append(list, w)
		}
	})
	return list, err
}

// CurrentWindow returns the window open at now, if any.
func (db *DB) CurrentWindow(now time.Time) (Window, bool, error) {
	var (
		w  Window
		ok bool
	)
	err := db.view(func(tx *safebolt.Tx) error {
		wb, err := db.bucket(tx, bucketWindows)
		if err != nil {
			return err
		}
		w, ok, err = db.openWindow(wb, now)
		return err
	})
	return w, ok, err
}

// FinishWindow closes the window open at now (Finished = now) and returns
// it; [ErrNoWindow] if none is open.
func (db *DB) FinishWindow(now time.Time) (Window, error) {
	var w Window
	err := db.update(func(tx *safebolt.Tx) error {
		wb, err := db.bucket(tx, bucketWindows)
		if err != nil {
			return err
		}
		var ok bool
		w, ok, err = db.openWindow(wb, now)
		if err != nil {
			return err
		}
		if !ok {
			return errorf(ErrNoWindow, "no deploy window is open at %s", now.Format(time.RFC3339))
		}
		w.Finished = now
		j, _ := json.Marshal(w)
		return wb.Put(u64(w.ID), j)
	})
	if err != nil {
		return Window{}, err
	}
	return w, nil
}

// Windows returns the recorded windows (the last 1000) ordered by ID.
func (db *DB) Windows() ([]Window, error) {
	var list []Window
	err := db.viewWindows(func(w Window) { list = append(list, w) })
	return list, err
}
