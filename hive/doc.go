// Package hive reads Windows registry hive files (the "regf" format of
// Windows/System32/config/SYSTEM, SOFTWARE, NTUSER.DAT ...) offline, from
// any [io.ReaderAt], as found on a mounted disk image.
//
// It is written for hostile input: every offset, count and size read from
// the file is checked against the cell and hive bin that hold it before it
// is used, so a damaged or crafted hive gives a [*FormatError] naming the
// file offset of the bad structure, never a panic, a hang or an allocation
// larger than the structure being read. In particular:
//
//   - a cell must lie inside one hive bin, be allocated, and be large
//     enough for what it is read as;
//   - [Key.Subkeys] yields at most the key's own subkey count, follows one
//     level of index root only, and checks that every subkey names the key
//     as its parent, so a subkey list pointing back at an ancestor is an
//     error, not a cycle;
//   - [Value.Data] reads at most [MaxDataSize] bytes;
//   - a bounded walk of a tree cannot visit more keys than the hive can
//     hold ([Hive.MaxKeys]).
//
// Transaction logs (.LOG1, .LOG2) are not replayed: [CheckLogs] tells
// whether the primary file is dirty or a log holds changes the primary file
// does not have yet, so a caller can say that what it read may be stale.
//
// The format is documented by Maxim Suhanov's "Windows registry file format
// specification" and Joachim Metz's libregf documentation.
package hive
