package baseline

import (
	"context"
	"path"
)

// Stat records the single entry rel under root with the semantics of
// [Walk] (rel "" is the root itself). A regular file is hashed unless prev
// (its previous record, may be nil) satisfies the incremental rule and
// opt.Full is false. Only opt.Full, HashAllSHA256, ScriptExtensions,
// OnError, Limiter, Indicators, Roots and Sysroot are used.
//
// An entry that cannot be stat'ed yields an error (wrapping
// fs.ErrNotExist when it is gone); one that cannot be read yields a
// record with Err set, reported to opt.OnError, and a nil error.
func Stat(root, rel string, opt Options, prev *Record) (Record, error) {
	rec := Record{Root: root, Path: rel}
	p := fullPath(root, rel)
	if err := statEntry(p, &rec, rel == ""); err != nil {
		return Record{}, err
	}
	var err error
	switch rec.Type {
	case TypeSymlink:
		rec.Target, err = readLink(p)
		if err != nil {
			rec.Err = err.Error()
			break
		}
		roots := opt.Roots
		if roots == nil {
			roots = []string{root}
		}
		h := newHasher(&opt)
		_, err = h.hashLinkTarget(context.Background(), &opt, roots, p, &rec, prev, newScriptMatcher(&opt).needSHA(path.Base(rel)))
		h.release()
	case TypeFile:
		withSHA := newScriptMatcher(&opt).needSHA(path.Base(rel))
		if !opt.Full && canReuse(prev, &rec, withSHA, opt.sampled(rec.Size)) {
			reuse(&rec, prev, withSHA)
			break
		}
		h := newHasher(&opt)
		_, err = h.hashFile(context.Background(), nil, path.Base(rel), p, &rec, withSHA, prev)
		h.release()
	}
	if err != nil && opt.OnError != nil {
		opt.OnError(root, rel, err)
	}
	return rec, nil
}
