package trust

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"webfim/baseline"
	"webfim/merkle"
	"webfim/serverconf"
)

// Builder computes a baseline's digest from its records and inventory
// items as they are written: one pass, memory bounded by the [Index]
// (about 8.5 bytes per record) plus O(log n) per root.
type Builder struct {
	done  []RootHead
	cur   *rootBuilder
	inv   *merkle.Tree
	index Index
	buf   []byte
}

type rootBuilder struct {
	path   string
	tree   *merkle.Tree
	chunks []Chunk
	hints  []byte // hints of the open chunk
}

// NewBuilder returns a builder with nothing added.
func NewBuilder() *Builder {
	return &Builder{inv: merkle.New(0, nil), index: Index{Roots: map[string][]Chunk{}}}
}

// AddRecord adds a record. The records of a root must come together and
// in key order ([baseline.State] order), roots in byte order.
func (b *Builder) AddRecord(r *baseline.Record) error {
	if b.cur == nil || b.cur.path != r.Root {
		if b.cur != nil && r.Root < b.cur.path {
			return fmt.Errorf("digest: root %s comes after %s, not in order", Quote(r.Root), Quote(b.cur.path))
		}
		b.finishRoot()
		rb := &rootBuilder{path: r.Root}
		rb.tree = merkle.New(chunkHeight, func(h merkle.Hash) {
			rb.chunks = append(rb.chunks, Chunk{Hash: h, Hints: rb.hints})
			rb.hints = make([]byte, 0, HintSize*ChunkRecords)
		})
		rb.hints = make([]byte, 0, HintSize*ChunkRecords)
		b.cur = rb
	}
	b.buf = AppendRecordLeaf(b.buf[:0], r)
	// The hint is taken before the leaf completes a chunk (and the
	// callback moves the hints away).
	lh := merkle.LeafHash(b.buf)
	b.cur.hints = append(b.cur.hints, lh[:HintSize]...)
	b.cur.tree.AddLeafHash(lh)
	return nil
}

func (b *Builder) finishRoot() {
	rb := b.cur
	if rb == nil {
		return
	}
	if h, ok := rb.tree.PartialChunk(); ok {
		rb.chunks = append(rb.chunks, Chunk{Hash: h, Hints: rb.hints})
	}
	b.done = append(b.done, RootHead{Path: rb.path, TreeHead: TreeHead{Leaves: rb.tree.Len(), Root: rb.tree.Root()}})
	b.index.Roots[rb.path] = rb.chunks
	b.cur = nil
}

// AddItem adds a server configuration inventory item; items are hashed
// in the order they are added (the order the store keeps).
func (b *Builder) AddItem(it *serverconf.Item) error {
	j, err := json.Marshal(it)
	if err != nil {
		return fmt.Errorf("digest: inventory item %s: %w", it.Name, err)
	}
	b.AddItemJSON(j)
	return nil
}

// AddItemJSON adds an inventory item given its JSON.
func (b *Builder) AddItemJSON(j []byte) {
	b.buf = AppendItemLeaf(b.buf[:0], j)
	b.inv.Add(b.buf)
}

// Finish returns meta completed with the tree heads of the inventory and
// of every root, and the index of the records. meta's Roots give the
// roots the baseline covers (their heads are ignored); a root without
// records gets an empty tree, and roots with records that meta does not
// list are added. The builder must not be used afterwards.
func (b *Builder) Finish(meta Statement) (Statement, *Index) {
	b.finishRoot()
	meta.Inventory = TreeHead{Leaves: b.inv.Len(), Root: b.inv.Root()}
	heads := map[string]RootHead{}
	for _, r := range meta.Roots {
		heads[r.Path] = RootHead{Path: r.Path, TreeHead: TreeHead{Root: merkle.EmptyRoot}}
	}
	for _, r := range b.done {
		heads[r.Path] = r
	}
	meta.Roots = meta.Roots[:0:0]
	for _, r := range heads {
		meta.Roots = append(meta.Roots, r)
	}
	slices.SortFunc(meta.Roots, func(a, b RootHead) int { return strings.Compare(a.Path, b.Path) })
	meta.Configs = slices.Clone(meta.Configs)
	return meta, &b.index
}
