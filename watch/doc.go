// Package watch is the machinery of the continuous monitoring daemon: it
// turns file system notifications into checks of individual paths.
//
// Notifications are hints, never facts. A [Tree] keeps one watch per
// directory under each root (fsnotify has no recursive mode) and emits
// [Hint]s: "this path may have changed", "this subtree may be gone", "this
// root needs a rescan". A [Debouncer] waits until a path has been quiet for a
// moment and hands settled batches to the consumer, which stats, hashes and
// compares each path with the baseline itself. Whatever the notifications
// missed (queue overflow, exhausted inotify watches, a daemon that was down)
// is caught by rescans: on overflow immediately, on degraded roots every
// [TreeOptions.DegradedInterval], and for every root on the periodic
// [Schedule].
//
// [Daemon] ties it together: it compares what the hints point at with the
// active baseline through package scan (as "webfim diff" does), judges the
// changes with the policy, deduplicates the findings by their
// alert.FindingID and hands them to a [Sink], the alert outbox. It reaches
// the database only through small interfaces ([Store], [Enqueuer]); the
// command wires the store behind them.
package watch
