// Package baseline walks web roots, hashes their files and compares two
// states of them into a list of [Change]s.
//
// A state is a stream of [Record]s in [Key] order, produced either by
// [Walk] over the live file system or by a stored baseline (package store).
// [Compare] merges two such streams with bounded memory.
package baseline
