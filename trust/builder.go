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
// items as they are written: one pass, O(log n) memory per root plus the
// [Index] (about 8.5 bytes per record) unless the index is streamed out
// ([NewStreamingBuilder]).
type Builder struct {
	done  []RootHead
	cur   *rootBuilder
	inv   *merkle.Tree
	index Index
	emit  func(root string, n uint64, c Chunk) // nil: keep the index
	buf   []byte
}

type rootBuilder struct {
	path   string
	tree   *merkle.Tree
	chunks []Chunk
	n      uint64 // chunks completed
	hints  []byte // hints of the open chunk
}

// NewBuilder returns a builder with nothing added that keeps the index in
// memory and returns it from [Builder.Finish].
func NewBuilder() *Builder {
	return &Builder{inv: merkle.New(0, nil), index: Index{Roots: map[string][]Chunk{}}}
}

// NewStreamingBuilder returns a builder that hands every chunk of the
// index to emit as soon as it is complete (the root, the chunk's position
// among the root's chunks from 0, the chunk) instead of keeping it, so
// that its memory does not grow with the records: a store writes the
// chunks along with the records. [Builder.Finish] then returns an empty
// index.
func NewStreamingBuilder(emit func(root string, n uint64, c Chunk)) *Builder {
	b := NewBuilder()
	b.emit = emit
	return b
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
			b.addChunk(rb, Chunk{Hash: h, Hints: rb.hints})
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

func (b *Builder) addChunk(rb *rootBuilder, c Chunk) {
	if b.emit != nil {
		b.emit(rb.path, rb.n, c)
	} else {
		rb.chunks = append(rb.chunks, c)
	}
	rb.n++
}

func (b *Builder) finishRoot() {
	rb := b.cur
	if rb == nil {
		return
	}
	if h, ok := rb.tree.PartialChunk(); ok {
		b.addChunk(rb, Chunk{Hash: h, Hints: rb.hints})
	}
	b.done = append(b.done, RootHead{Path: rb.path, TreeHead: TreeHead{Leaves: rb.tree.Len(), Root: rb.tree.Root()}})
	if b.emit == nil {
		b.index.Roots[rb.path] = rb.chunks
	}
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
