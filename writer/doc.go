// Package writer attributes file changes under the web roots to the
// processes that made them, with fanotify on Linux.
//
// A [Tracker] puts a filesystem mark (FAN_MARK_FILESYSTEM, reporting file
// handles with FAN_REPORT_FID|FAN_REPORT_DFID_NAME) on the filesystem of
// each root, rebuilds each event's path from its directory handle
// (open_by_handle_at), keeps the events under a root, and records for each
// path the process that created it, the one that last wrote it and the one
// that removed it ([Record]). Processes come from a [proc.Monitor]: after
// reading each batch of events the tracker drains the monitor's exec
// source ([proc.Monitor.Sync]) before resolving the batch's pids, since a
// writer's exec always precedes its write.
//
// [Tracker.Lookup] answers "who created / last wrote root/rel?". It first
// reads every event already queued, so a change that completed before the
// call (the one an inotify hint announced, say) is accounted for.
//
// Roots on overlayfs are watched through the filesystem holding the upper
// layer when it is reachable (a filesystem mark on overlayfs itself is
// refused by the kernel); paths are mapped back to the overlay's.
//
// Where fanotify is unavailable (no CAP_SYS_ADMIN, an overlay whose upper
// layer is out of reach, a filesystem without file handles, not Linux),
// [Tracker.Status] says why, per root, and lookups answer "unknown":
// nothing else stops working.
package writer
