// Package attribution runs process attribution for the watch daemon: a
// [proc.Monitor] (the host's processes, from the best exec source), a
// [writer.Tracker] on the watched roots (fanotify) and the web-server
// lineage rules ([lineage.Rules]) on every exec, behind one [Service].
//
// The daemon asks [Service.File] who created and last wrote a path it
// found changed (the tracker reads every queued file event and drains the
// exec source first: the join rule of docs/attribution.md), and reads the
// server spawns ([alert.Spawn]) from [Service.Spawns]. Every spawn gets a
// lineage id, shared by the spawns below the same process the server
// started; a file written by a process of that chain (or run by it, as an
// executable or script under a root) carries the same id, so that the
// two documents can be joined.
//
// [Service.Status] says which mechanisms work and, for those that do not,
// the exact reason ([Status.Degraded]): the daemon reports each once, as
// an operational event, a metric and a log line. Nothing here stops the
// daemon: without privileges, or off Linux, the service runs and
// attributes nothing (or less).
package attribution
