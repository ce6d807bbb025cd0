package merkle

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math/bits"
	"testing"
)

// reference is MTH written as RFC 9162 states it, recursively over the
// leaf data.
func reference(leaves [][]byte) Hash {
	switch len(leaves) {
	case 0:
		return sha256.Sum256(nil)
	case 1:
		return sha256.Sum256(append([]byte{0}, leaves[0]...))
	}
	k := 1 << (bits.Len(uint(len(leaves)-1)) - 1)
	l, r := reference(leaves[:k]), reference(leaves[k:])
	return sha256.Sum256(append(append([]byte{1}, l[:]...), r[:]...))
}

func leafData(i int) []byte { return binary.BigEndian.AppendUint64([]byte("leaf"), uint64(i)) }

func TestRootMatchesReference(t *testing.T) {
	var leaves [][]byte
	tree := New(0, nil)
	for n := 0; n <= 300; n++ {
		if got, want := tree.Root(), reference(leaves); got != want {
			t.Fatalf("%d leaves: root %s, want %s", n, got, want)
		}
		leaves = append(leaves, leafData(n))
		tree.Add(leafData(n))
	}
}

// Known values: the empty tree is SHA-256 of nothing, one leaf is the
// leaf hash, and two leaves hash their leaf hashes as a node.
func TestSmallTrees(t *testing.T) {
	if got := New(0, nil).Root().String(); got != "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" {
		t.Errorf("empty root %s", got)
	}
	tr := New(0, nil)
	tr.Add([]byte("a"))
	if tr.Root() != LeafHash([]byte("a")) {
		t.Error("one leaf: root is not the leaf hash")
	}
	tr.Add([]byte("b"))
	if tr.Root() != NodeHash(LeafHash([]byte("a")), LeafHash([]byte("b"))) {
		t.Error("two leaves: root is not the node of the leaf hashes")
	}
}

func TestChunks(t *testing.T) {
	for _, height := range []uint{0, 1, 3, 6} {
		size := 1 << height
		for _, n := range []int{1, 2, size - 1, size, size + 1, 3*size - 1, 3 * size, 5*size + 3, 64*size + 1} {
			if n <= 0 {
				continue
			}
			t.Run(fmt.Sprintf("h%d/n%d", height, n), func(t *testing.T) {
				var chunks []Hash
				tree := New(height, func(h Hash) { chunks = append(chunks, h) })
				var leaves [][]byte
				for i := range n {
					leaves = append(leaves, leafData(i))
					tree.Add(leafData(i))
				}
				if len(chunks) != n/size {
					t.Fatalf("%d complete chunks reported, want %d", len(chunks), n/size)
				}
				for i, c := range chunks {
					if want := reference(leaves[i*size : (i+1)*size]); c != want {
						t.Fatalf("chunk %d: %s, want %s", i, c, want)
					}
				}
				last, ok := tree.PartialChunk()
				if ok != (n%size != 0) {
					t.Fatalf("PartialChunk ok=%v with %d leaves", ok, n)
				}
				if ok {
					if want := reference(leaves[n/size*size:]); last != want {
						t.Fatalf("partial chunk %s, want %s", last, want)
					}
					chunks = append(chunks, last)
				}
				root, err := RootOfChunks(chunks)
				if err != nil {
					t.Fatal(err)
				}
				if root != tree.Root() {
					t.Fatalf("root of chunks %s, tree root %s", root, tree.Root())
				}
			})
		}
	}
	if _, err := RootOfChunks(nil); err != ErrNoChunks {
		t.Errorf("RootOfChunks(nil): %v", err)
	}
}

func TestParseHash(t *testing.T) {
	h := LeafHash([]byte("x"))
	got, err := ParseHash(h.String())
	if err != nil || got != h {
		t.Fatalf("ParseHash(%s) = %s, %v", h, got, err)
	}
	for _, bad := range []string{"", "00", h.String()[:63] + "g", h.String() + "00"} {
		if _, err := ParseHash(bad); err == nil {
			t.Errorf("ParseHash(%q) accepted", bad)
		}
	}
}

func BenchmarkAdd(b *testing.B) {
	data := make([]byte, 120)
	tree := New(6, func(Hash) {})
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		tree.Add(data)
	}
}
