package baseline

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
)

// A symlink under a root whose target lies outside every root (x.php ->
// /var/tmp/.s.php) would hide its content: the walk does not follow
// links, and the target is not under any root. Its target, when that is a
// regular file, is therefore read with the link: the link's record holds
// the digests and the sniffing of the target's content and its stat
// (Linked), so a change of the target is a content change of the link.
// Only the target itself is read: a target that is a directory, a
// symlink (the last component is opened with O_NOFOLLOW) or anything but
// a regular file is not followed further.

// OutsideTarget returns the absolute path (on the host) that target, the
// target of the symlink at linkPath, names when it lies outside every
// root; "" when it is inside one, or is not a usable path. Absolute
// targets of a tree under sysroot (an offline image) are read inside it,
// and a target that resolves outside sysroot is not followed. The watch
// daemon follows the same targets live.
func OutsideTarget(roots []string, sysroot, linkPath, target string) string {
	if target == "" {
		return ""
	}
	var abs string
	switch {
	case filepath.IsAbs(target) && sysroot != "" && sysroot != string(filepath.Separator):
		abs = filepath.Join(sysroot, target)
	case filepath.IsAbs(target):
		abs = filepath.Clean(target)
	default:
		abs = filepath.Join(filepath.Dir(linkPath), target)
	}
	if sysroot != "" && sysroot != string(filepath.Separator) && !isUnder(filepath.Clean(sysroot), abs) {
		return "" // a relative target climbing out of the image: not the server's file
	}
	for _, r := range roots {
		if abs == r || isUnder(r, abs) {
			return ""
		}
	}
	return abs
}

// hashLinkTarget reads the target of the symlink rec (at linkPath) when it
// is a regular file outside every root, filling rec's digests, sniffing
// and Linked; prev, the link's previous record, lends its digests when
// the target's stat is unchanged (the incremental rule). It returns the
// bytes read and an error when the target exists but cannot be read
// (also recorded in rec.Err); a dangling link, or one to a directory or
// another link, is no error and gets no digest.
func (h *hasher) hashLinkTarget(ctx context.Context, opt *Options, roots []string, linkPath string, rec, prev *Record, withSHA bool) (int64, error) {
	if len(opt.Roots) > 0 { // a walk of some roots of a state that has more
		roots = append(slices.Clip(roots), opt.Roots...)
	}
	abs := OutsideTarget(roots, opt.Sysroot, linkPath, rec.Target)
	if abs == "" {
		return 0, nil
	}
	var st Record
	if err := statEntry(abs, &st, false); err != nil || st.Type != TypeFile {
		return 0, nil
	}
	cur := LinkedFile{Size: st.Size, Mtime: st.Mtime, Ctime: st.Ctime, Inode: st.Inode, Dev: st.Dev}
	if !opt.Full && prev != nil && prev.Type == TypeSymlink && prev.Target == rec.Target && prev.Linked != nil &&
		*prev.Linked == cur && prev.Err == "" && !prev.Unstable && len(prev.BLAKE3) == 32 && (!withSHA || len(prev.SHA256) == 32) {
		reuse(rec, prev, withSHA)
		rec.Linked = prev.Linked
		return 0, nil
	}
	f, err := openRegular(abs)
	if err != nil {
		return 0, h.fail(rec, fmt.Errorf("link target: %w", err))
	}
	defer f.close()
	var before Record
	if err := f.stat(&before); err != nil || before.Type != TypeFile {
		return 0, nil // replaced since lstat: not followed
	}
	var t Record
	n, err := h.hashOpen(ctx, f, abs, filepath.Base(linkPath), &t, withSHA, before, prev)
	if err != nil {
		return n, h.fail(rec, fmt.Errorf("link target: %w", err))
	}
	rec.BLAKE3, rec.SHA256, rec.Unstable, rec.Indicators = t.BLAKE3, t.SHA256, t.Unstable, t.Indicators
	rec.Sniffed, rec.ContentFamily, rec.RestrictsOnly = t.Sniffed, t.ContentFamily, t.RestrictsOnly
	rec.Linked = &LinkedFile{Size: t.Size, Mtime: t.Mtime, Ctime: t.Ctime, Inode: t.Inode, Dev: t.Dev}
	return n, nil
}
