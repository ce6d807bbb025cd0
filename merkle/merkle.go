// Package merkle computes Merkle tree hashes as RFC 9162 (Certificate
// Transparency 2.0, section 2.1.1) defines them, with SHA-256, in one
// streaming pass and O(log n) memory.
//
// For n leaves d[0..n):
//
//	MTH({})       = SHA-256()                         (the empty string)
//	MTH({d[0]})   = SHA-256(0x00 || d[0])             (a leaf)
//	MTH(d[0..n))  = SHA-256(0x01 || MTH(d[0..k)) || MTH(d[k..n)))
//	                where k is the largest power of two smaller than n
//
// The 0x00 and 0x01 prefixes keep a leaf from ever being taken for an
// inner node (second-preimage resistance).
//
// A [Tree] also reports the hashes of its complete, aligned subtrees of a
// fixed size ("chunks"); [RootOfChunks] rebuilds the root from them, so a
// verifier holding the chunk hashes can tell which chunk of leaves differs
// without keeping a hash per leaf.
package merkle

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"math/bits"
)

// Size is the size of a hash in bytes.
const Size = sha256.Size

// Hash is a SHA-256 digest of a leaf, a node or a tree.
type Hash [Size]byte

func (h Hash) String() string { return hex.EncodeToString(h[:]) }

// ParseHash decodes a hash written as 64 hexadecimal digits.
func ParseHash(s string) (Hash, error) {
	var h Hash
	if len(s) != 2*Size {
		return h, fmt.Errorf("hash %q: want %d hex digits, have %d", s, 2*Size, len(s))
	}
	if _, err := hex.Decode(h[:], []byte(s)); err != nil {
		return h, fmt.Errorf("hash %q: %w", s, err)
	}
	return h, nil
}

// EmptyRoot is MTH of no leaves: SHA-256 of the empty string.
var EmptyRoot = Hash(sha256.Sum256(nil))

// LeafHash returns SHA-256(0x00 || data).
func LeafHash(data []byte) Hash {
	h := sha256.New()
	h.Write([]byte{0})
	h.Write(data)
	var out Hash
	h.Sum(out[:0])
	return out
}

// NodeHash returns SHA-256(0x01 || left || right).
func NodeHash(left, right Hash) Hash {
	var buf [1 + 2*Size]byte
	buf[0] = 1
	copy(buf[1:], left[:])
	copy(buf[1+Size:], right[:])
	return sha256.Sum256(buf[:])
}

// Tree accumulates leaves in order. The zero value is not usable: call
// [New]. A Tree is used by one goroutine.
type Tree struct {
	// stack holds the roots of the complete subtrees of the leaves added
	// so far, largest first; their sizes are the set bits of n, so it is
	// never deeper than 64.
	stack  []Hash
	n      uint64
	height uint       // chunks are subtrees of 2^height leaves
	chunk  func(Hash) // called with each complete chunk, in order
	h      hash.Hash  // reused for leaf hashes
	sum    [Size]byte // scratch for h.Sum
	node   [1 + 2*Size]byte
}

// New returns an empty tree. If chunk is not nil, it is called with the
// hash of every complete subtree of 2^chunkHeight leaves, in order, as
// soon as its last leaf is added; [Tree.PartialChunk] gives the hash of
// the incomplete last one.
func New(chunkHeight uint, chunk func(Hash)) *Tree {
	if chunkHeight > 32 {
		panic("merkle: chunk height over 32")
	}
	t := &Tree{height: chunkHeight, chunk: chunk, h: sha256.New()}
	t.node[0] = 1
	return t
}

// Len returns the number of leaves added.
func (t *Tree) Len() uint64 { return t.n }

// Add adds a leaf whose data is data (the leaf hash is computed here).
func (t *Tree) Add(data []byte) Hash {
	t.h.Reset()
	t.h.Write([]byte{0})
	t.h.Write(data)
	var lh Hash
	t.h.Sum(lh[:0])
	t.AddLeafHash(lh)
	return lh
}

// AddLeafHash adds a leaf given its leaf hash (see [LeafHash]).
func (t *Tree) AddLeafHash(lh Hash) {
	h := lh
	if t.chunk != nil && t.height == 0 {
		t.chunk(h)
	}
	// Merge equal-sized subtrees: one merge per trailing one bit of n;
	// after the i-th merge, h is a subtree of 2^i leaves.
	level := uint(0)
	for n := t.n; n&1 == 1; n >>= 1 {
		top := len(t.stack) - 1
		h = t.nodeHash(t.stack[top], h)
		t.stack = t.stack[:top]
		level++
		if level == t.height && t.chunk != nil {
			t.chunk(h)
		}
	}
	t.stack = append(t.stack, h)
	t.n++
}

func (t *Tree) nodeHash(left, right Hash) Hash {
	copy(t.node[1:], left[:])
	copy(t.node[1+Size:], right[:])
	return sha256.Sum256(t.node[:])
}

// Root returns MTH of the leaves added so far. The tree can still grow.
func (t *Tree) Root() Hash {
	if len(t.stack) == 0 {
		return EmptyRoot
	}
	// The right-most subtrees are the smallest; fold from the right.
	h := t.stack[len(t.stack)-1]
	for i := len(t.stack) - 2; i >= 0; i-- {
		h = NodeHash(t.stack[i], h)
	}
	return h
}

// PartialChunk returns the hash of the last, incomplete chunk (MTH of the
// leaves after the last complete chunk), and false if there is none.
func (t *Tree) PartialChunk() (Hash, bool) {
	rest := t.n & (1<<t.height - 1)
	if rest == 0 {
		return Hash{}, false
	}
	// The subtrees of the incomplete chunk are the stack entries for the
	// set bits of rest, the last bits.OnesCount of them.
	k := bits.OnesCount64(rest)
	s := t.stack[len(t.stack)-k:]
	h := s[len(s)-1]
	for i := len(s) - 2; i >= 0; i-- {
		h = NodeHash(s[i], h)
	}
	return h, true
}

// ErrNoChunks is returned by [RootOfChunks] for an empty list.
var ErrNoChunks = errors.New("merkle: no chunks")

// RootOfChunks returns MTH of a tree given the hashes of its chunks: every
// chunk but the last is a complete subtree of the same power-of-two size,
// the last may be smaller. (For n leaves and chunks of c = 2^h leaves,
// the split point of MTH, the largest power of two k < n, is a multiple of
// c whenever n > c, and k/c is the largest power of two below the number
// of chunks: the same rule applies to the chunk hashes as to leaves.)
func RootOfChunks(chunks []Hash) (Hash, error) {
	if len(chunks) == 0 {
		return Hash{}, ErrNoChunks
	}
	return rootOfNodes(chunks), nil
}

func rootOfNodes(nodes []Hash) Hash {
	if len(nodes) == 1 {
		return nodes[0]
	}
	k := 1 << (bits.Len(uint(len(nodes)-1)) - 1) // largest power of two < len
	return NodeHash(rootOfNodes(nodes[:k]), rootOfNodes(nodes[k:]))
}
