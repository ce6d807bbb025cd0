package watch

import (
	"context"
	"os"
	"path/filepath"

	"webfim/baseline"
)

// largeQueue is how many live checks of large files may wait for the
// large-file lane; beyond it they are checked in their batch.
const largeQueue = 1024

// isLarge reports whether the live entry of a path hint is a regular file
// of baseline.LaneMinSize or more: its check reads that much (up to the
// large-file threshold), and is run in the large-file lane so that the
// small files behind it (a shell.php next to a huge file) are not held
// up.
func isLarge(h Hint) bool {
	if h.Kind != HintPath {
		return false
	}
	fi, err := os.Lstat(filepath.Join(h.Root, filepath.FromSlash(h.Rel)))
	return err == nil && fi.Mode().IsRegular() && fi.Size() >= baseline.LaneMinSize
}

// toLargeLane hands the check of a large file to the lane; false when the
// lane is full (the caller checks it itself).
func (d *Daemon) toLargeLane(h Hint) bool {
	select {
	case d.largeLane <- h:
		return true
	default:
		return false
	}
}

// largeWorker checks the large files handed to the lane, one at a time,
// beside the worker of the small ones.
func (d *Daemon) largeWorker(ctx context.Context) {
	for {
		select {
		case h := <-d.largeLane:
			d.check(ctx, []Hint{h}, false)
		case <-ctx.Done():
			return
		}
	}
}
