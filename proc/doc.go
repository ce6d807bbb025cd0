// Package proc keeps a table of the host's processes, fed by the best exec
// source the kernel allows, so that a file event or a suspicious exec can be
// attributed to a process even after that process has exited.
//
// A [Process] is an immutable snapshot: pid and start time (its [Key]),
// executable, argv (bounded to [MaxArgsBytes]), real and effective uid and
// their user names, parent, comm, and the nearest web/app/database server
// ancestor (the inherited "below a web server" mark, see [Process.Server]).
// What could not be read is said in [Process.Missing], never guessed.
//
// A [Table] holds the snapshots. Exited processes stay as tombstones for
// [Options.TombstoneTTL] so that late file events still resolve; the number
// of entries has a hard cap ([Options.MaxEntries]): the oldest exited entry
// is evicted first, then the oldest live one (a live process evicted by a
// fork bomb is read again from /proc when it is looked up).
//
// [Start] runs a [Monitor] that feeds the table from the first exec source
// that starts, in this order (see [Source]):
//
//   - [SourceEBPF]: hand-assembled raw tracepoints on sched_process_exec,
//     sched_process_fork and sched_process_exit (github.com/cilium/ebpf, no
//     clang, no cgo), with kernel structure offsets taken from BTF at run
//     time. Exec records are written in kernel context, so a process that
//     exits at once is still known.
//   - [SourceConnector]: the netlink process connector (fork, exec, uid
//     change, exit) with /proc read at exec time, falling back to
//     /proc/PID/status of the not yet reaped process.
//   - [SourcePoll]: /proc read periodically; degraded: short-lived
//     processes are missed.
//
// Each source that could not start is reported with its exact reason in
// [Status]. Lost events (a full ring buffer, ENOBUFS on the netlink socket)
// trigger a rebuild of the table from /proc.
//
// Join rule for consumers of file events: the exec of a writer always
// precedes its write, so after reading a batch of file events call
// [Monitor.Sync] (which drains the exec source) before resolving pids with
// [Monitor.Resolve].
//
// On systems other than Linux, [Start] returns a Monitor with no source and
// the reason in its [Status]; the [Table] itself is portable.
package proc
