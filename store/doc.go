// Package store keeps webfim's state in one bbolt file: versioned
// baselines of web roots and server configuration inventories, ad-hoc
// deploy windows, the alert outbox and the alert dedupe fingerprints.
//
// It is the only package that touches bbolt.
//
// A [DB] does not keep the file open between operations. Every operation is
// a short session: open the file (waiting at most [Options.LockTimeout] for
// the lock), run one transaction, close. Long reads ([DB.Records]) run in
// chunks of a few thousand records, and a [BaselineWriter] commits in
// batches, each in its own session. So the watch daemon and the CLI can use
// the same file at the same time; a lock held for longer than the timeout
// yields an error wrapping [ErrLocked] that names the file.
//
// Every session runs through store/internal/safebolt, which opens the
// file without following a symbolic link (see package safefile), validates
// what bbolt would trust blindly and hands this package only buckets whose
// page trees are valid: a damaged file yields an error wrapping
// [ErrCorrupt], never a crash or a hang. [Open] creates a missing database
// unless [Options.NoCreate] is set; [DB.LockDaemon] keeps a second watch
// daemon off the database.
//
// A baseline being written is pending: it is not listed, cannot be resolved
// or activated, until [BaselineWriter.Commit] publishes it in one
// transaction. A writer killed at any moment leaves the database intact and
// its pending baseline is removed by the next [DB.Begin], [BaselineWriter.Commit]
// or [DB.Prune] once its owner is known to be dead.
//
// The on-disk format is described in docs/store.md.
package store
