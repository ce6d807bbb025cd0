package scan

import (
	"webfim/store"
	"webfim/trust"
)

// StatementOf returns the metadata part of a stored baseline's
// [trust.Statement] (sequence, time, host, label, version, options,
// counts, configs and roots); [trust.Builder.Finish] adds the tree heads.
// The sequence of a baseline taken here is its id.
func StatementOf(m store.Meta) trust.Statement {
	s := trust.Statement{
		Sequence: m.ID, Created: m.Created, Host: m.Host, Label: m.Label, Version: m.Version,
		Sysroot: m.Sysroot, Full: m.Full, HashAllSHA256: m.HashAllSHA256,
		Counts: trust.Counts{
			Files: m.Files, Dirs: m.Dirs, Symlinks: m.Symlinks, Others: m.Others,
			Errors: m.Errors, Unstable: m.Unstable, Bytes: m.Bytes,
		},
		Configs: m.Configs,
	}
	for _, r := range m.Roots {
		s.Roots = append(s.Roots, trust.RootHead{Path: r})
	}
	return s
}

// StoredDigest finishes b for the baseline m: the statement and index as
// the store keeps them.
func StoredDigest(b *trust.Builder, m store.Meta, sequence uint64) (trust.Statement, store.Digest) {
	base := StatementOf(m)
	base.Sequence = sequence
	st, ix := b.Finish(base)
	d := store.Digest{Statement: st.MarshalText(), Index: map[string][][]byte{}}
	for root, chunks := range ix.Roots {
		enc := make([][]byte, len(chunks))
		for i, c := range chunks {
			enc[i], _ = c.MarshalBinary()
		}
		d.Index[root] = enc
	}
	return st, d
}
