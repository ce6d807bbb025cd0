// Package scan takes the state of a web server — the file records of its
// web roots and the module inventories of its server configurations — and
// either stores it as a baseline or compares it with one.
//
// It is the one place where [baseline], [serverconf] and [store] meet, so
// that the CLI, deploy windows and the watch daemon take and compare
// snapshots the same way: [Resolve] works out what a snapshot covers,
// [Create] stores one, [Diff] compares a whole target, and [DiffRoot],
// [CheckPath], [CheckSubtree] and [DiffConfigs] compare its parts, as the
// watch daemon needs, reporting for each part what Diff reports. The
// comparisons read stored baselines through the [Baselines] interface.
package scan
