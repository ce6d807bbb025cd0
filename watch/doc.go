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
// [Daemon] ties it together with the baseline store, the policy and the
// alert outbox.
package watch
