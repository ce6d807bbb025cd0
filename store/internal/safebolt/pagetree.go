package safebolt

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync"

	bolt "go.etcd.io/bbolt"
)

// bbolt follows the page numbers of branch pages blindly: a damaged branch
// page that points back to one of its ancestors (or a damaged leaf page
// that now claims to be a branch) makes its cursors descend forever,
// growing their stack until the process runs out of memory. bbolt has no
// depth limit, so the page tree of every bucket is validated, with pread,
// before the bucket is handed out ([Tx.Bucket], [Bucket.Bucket]): every
// page reachable from its root must be inside the pages in use, say it is
// the page it was read as, be a branch or a leaf, and the tree must not be
// deeper than maxTreeDepth (which a loop always is). A bucket about to be
// deleted is validated with every bucket nested in it, since bbolt frees
// their pages by walking them.
//
// A page validated once is remembered for the life of the handle: bbolt
// never rewrites a page that is in use (a changed page gets a new number,
// and a reused page is written by bbolt itself), so the trees of a
// baseline read chunk after chunk are validated once. Damage that appears
// while a process runs can slip through (the fault handler of a session
// is the last defence); damage at rest cannot.

// maxTreeDepth is far beyond any real bbolt tree: with 4 KiB pages a
// branch holds at least two children, so 64 levels would be 2^64 keys.
const maxTreeDepth = 64

// pageTrees remembers the validated pages of one database file.
type pageTrees struct {
	mu    sync.Mutex
	ident os.FileInfo // the file the set is about
	seen  []uint64    // bit set of validated page numbers
}

func (s *pageTrees) has(id uint64) bool {
	i := id / 64
	return i < uint64(len(s.seen)) && s.seen[i]&(1<<(id%64)) != 0
}

func (s *pageTrees) add(id uint64) {
	i := id / 64
	for uint64(len(s.seen)) <= i {
		s.seen = append(s.seen, 0)
	}
	s.seen[i] |= 1 << (id % 64)
}

// treeCheck validates page trees during one session.
type treeCheck struct {
	trees    *pageTrees
	f        io.ReaderAt
	pageSize uint64
	pages    uint64 // high-water mark: pages below it are in use
	buf      []byte
}

// newTreeCheck starts the checks of a session on tx, reading file f,
// which fi describes; it forgets the pages of another file.
func newTreeCheck(t *pageTrees, tx *bolt.Tx, f io.ReaderAt, fi os.FileInfo) *treeCheck {
	t.mu.Lock()
	if t.ident == nil || !os.SameFile(fi, t.ident) {
		t.ident, t.seen = fi, nil
	}
	t.mu.Unlock()
	ps := uint64(tx.DB().Info().PageSize)
	return &treeCheck{trees: t, f: f, pageSize: ps, pages: uint64(tx.Size()) / ps}
}

// bucket validates the page tree of b, and with deep those of the
// buckets nested anywhere in it.
func (c *treeCheck) bucket(b *bolt.Bucket, deep bool) error {
	c.trees.mu.Lock()
	defer c.trees.mu.Unlock()
	if deep {
		return c.deep(b, 0)
	}
	return c.shallow(b)
}

// shallow validates b's own tree. The caller holds c.trees.mu.
func (c *treeCheck) shallow(b *bolt.Bucket) error {
	if root := uint64(b.Root()); root != 0 {
		return c.tree(root, 0)
	}
	// An inline bucket: its one page lives in the value of its parent's
	// leaf and must be a leaf too. For an inline bucket, Stats looks at
	// that page only (no descent): a leaf has a used size, a branch is
	// counted as one.
	if st := b.Stats(); st.InlineBucketInuse == 0 || st.BranchPageN != 0 {
		return errors.New("inline bucket page is not a leaf page")
	}
	return nil
}

// deep validates b's tree and those of the buckets nested in it,
// recursively. The caller holds c.trees.mu.
func (c *treeCheck) deep(b *bolt.Bucket, depth int) error {
	if depth > maxTreeDepth {
		return fmt.Errorf("buckets nested deeper than %d levels", maxTreeDepth)
	}
	if err := c.shallow(b); err != nil {
		return err
	}
	cur := b.Cursor()
	for k, v := cur.First(); k != nil; k, v = cur.Next() {
		if v != nil {
			continue
		}
		nested := b.Bucket(k)
		if nested == nil {
			continue
		}
		if err := c.deep(nested, depth+1); err != nil {
			return fmt.Errorf("bucket %s: %w", bucketName(k), err)
		}
	}
	return nil
}

// tree validates the tree under page id. The caller holds c.trees.mu.
func (c *treeCheck) tree(id uint64, depth int) error {
	if id == 0 || c.trees.has(id) {
		return nil
	}
	if depth > maxTreeDepth {
		return fmt.Errorf("page %d: page tree deeper than %d levels (pages pointing back at each other)", id, maxTreeDepth)
	}
	if id < 2 || id >= c.pages {
		return fmt.Errorf("page %d is outside the %d pages in use", id, c.pages)
	}
	var hb [boltHeaderSize]byte
	if _, err := c.f.ReadAt(hb[:], int64(id*c.pageSize)); err != nil {
		return fmt.Errorf("page %d: %w", id, err)
	}
	h := parseHeader(hb[:])
	if h.id != id {
		return fmt.Errorf("page %d says it is page %d", id, h.id)
	}
	if id+h.overflow >= c.pages {
		return fmt.Errorf("page %d claims %d overflow pages past the %d in use", id, h.overflow, c.pages)
	}
	switch h.flags {
	case boltLeafFlag:
	case boltBranchFlag:
		size := boltHeaderSize + h.count*boltBranchElem
		if h.count == 0 || size > (h.overflow+1)*c.pageSize {
			return fmt.Errorf("branch page %d claims %d elements", id, h.count)
		}
		if uint64(cap(c.buf)) < size {
			c.buf = make([]byte, size)
		}
		buf := c.buf[:size]
		if _, err := c.f.ReadAt(buf, int64(id*c.pageSize)); err != nil {
			return fmt.Errorf("page %d: %w", id, err)
		}
		children := make([]uint64, h.count)
		for i := range children {
			children[i] = branchChild(buf, uint64(i))
		}
		for _, child := range children {
			if child == id {
				return fmt.Errorf("branch page %d points to itself", id)
			}
			if err := c.tree(child, depth+1); err != nil {
				return err
			}
		}
	default:
		return fmt.Errorf("page %d has flags %#x: neither a branch nor a leaf", id, h.flags)
	}
	c.trees.add(id)
	return nil
}
