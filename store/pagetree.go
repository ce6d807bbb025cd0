package store

import (
	"encoding/binary"
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
// depth limit, so the page trees are validated here before bbolt walks
// them: every page reachable from a bucket's root must be inside the
// file, say it is the page it was read as, be a branch or a leaf, and the
// tree must not be deeper than maxTreeDepth (which a loop always is).
//
// Pages are read with pread (bbolt's layout: a 16-byte header id u64,
// flags u16, count u16, overflow u32; a branch page then holds count
// elements pos u32, ksize u32, child page u64). A page validated once is
// remembered for the life of the handle: bbolt never rewrites a page in
// place (a changed page gets a new number), so the trees of a baseline
// read chunk after chunk are validated once. Damage that appears while a
// process runs can still slip through; damage at rest cannot.
const (
	boltBranchFlag = 0x01
	boltLeafFlag   = 0x02
	// maxTreeDepth is far beyond any real bbolt tree: with 4 KiB pages a
	// branch holds at least two children, so 64 levels would be 2^64 keys.
	maxTreeDepth = 64
)

// pageTrees remembers the validated pages of one database file.
type pageTrees struct {
	mu    sync.Mutex
	ident os.FileInfo // the file the set is about
	seen  []uint64    // bit set of validated page numbers
	// structure is the root page of the root bucket whose structural
	// buckets (all but the records of each root) were last validated.
	structure uint64
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
// which fi describes.
func (db *DB) newTreeCheck(tx *bolt.Tx, f *os.File, fi os.FileInfo) *treeCheck {
	t := db.trees
	t.mu.Lock()
	if t.ident == nil || !os.SameFile(fi, t.ident) {
		t.ident, t.seen, t.structure = fi, nil, 0
	}
	t.mu.Unlock()
	ps := uint64(tx.DB().Info().PageSize)
	return &treeCheck{trees: t, f: f, pageSize: ps, pages: uint64(tx.Size()) / ps}
}

// bucket validates the page tree of b. The caller holds c.trees.mu.
func (c *treeCheck) bucket(b *bolt.Bucket) error {
	if b == nil {
		return nil
	}
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
	var h [boltHeaderSize]byte
	if _, err := c.f.ReadAt(h[:], int64(id*c.pageSize)); err != nil {
		return fmt.Errorf("page %d: %w", id, err)
	}
	ne := binary.NativeEndian
	pid, flags, count, overflow := ne.Uint64(h[0:]), ne.Uint16(h[8:]), uint64(ne.Uint16(h[10:])), uint64(ne.Uint32(h[12:]))
	if pid != id {
		return fmt.Errorf("page %d says it is page %d", id, pid)
	}
	if id+overflow >= c.pages {
		return fmt.Errorf("page %d claims %d overflow pages past the %d in use", id, overflow, c.pages)
	}
	switch flags {
	case boltLeafFlag:
	case boltBranchFlag:
		size := boltHeaderSize + count*16
		if count == 0 || size > (overflow+1)*c.pageSize {
			return fmt.Errorf("branch page %d claims %d elements", id, count)
		}
		if uint64(cap(c.buf)) < size {
			c.buf = make([]byte, size)
		}
		buf := c.buf[:size]
		if _, err := c.f.ReadAt(buf, int64(id*c.pageSize)); err != nil {
			return fmt.Errorf("page %d: %w", id, err)
		}
		children := make([]uint64, count)
		for i := range children {
			children[i] = ne.Uint64(buf[boltHeaderSize+i*16+8:])
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
		return fmt.Errorf("page %d has flags %#x: neither a branch nor a leaf", id, flags)
	}
	c.trees.add(id)
	return nil
}

// checkStructure validates the trees of the root bucket and of every
// bucket but the records of each root, which are validated when they are
// read ([DB.checkRecordBucket]). It is cheap once done for a root page.
func (c *treeCheck) checkStructure(tx *bolt.Tx) error {
	c.trees.mu.Lock()
	defer c.trees.mu.Unlock()
	root := uint64(tx.Cursor().Bucket().Root())
	if root != 0 && root == c.trees.structure {
		return nil
	}
	if err := c.tree(root, 0); err != nil {
		return fmt.Errorf("root bucket: %w", err)
	}
	err := tx.ForEach(func(name []byte, b *bolt.Bucket) error {
		if err := c.bucket(b); err != nil {
			return fmt.Errorf("bucket %s: %w", quote(string(name)), err)
		}
		if string(name) != string(bucketBaselines) {
			return nil
		}
		return b.ForEachBucket(func(id []byte) error {
			bb := b.Bucket(id)
			where := fmt.Sprintf("baseline %x", id)
			if n, ok := getU64(id); ok {
				where = fmt.Sprintf("baseline %d", n)
			}
			if err := c.bucket(bb); err != nil {
				return fmt.Errorf("%s: %w", where, err)
			}
			for _, sub := range [][]byte{bucketRoots, bucketInventory} {
				if err := c.bucket(bb.Bucket(sub)); err != nil {
					return fmt.Errorf("%s, %s: %w", where, sub, err)
				}
			}
			return nil
		})
	})
	if err != nil {
		return err
	}
	c.trees.structure = root
	return nil
}

// validate checks b's page tree, and with deep those of the buckets
// nested anywhere in it, in the session of tx; outside a session it does
// nothing.
func (db *DB) validate(tx *bolt.Tx, b *bolt.Bucket, deep bool) error {
	v, ok := db.checks.Load(tx)
	if !ok || b == nil {
		return nil
	}
	c := v.(*treeCheck)
	c.trees.mu.Lock()
	defer c.trees.mu.Unlock()
	if deep {
		return c.deep(b, 0)
	}
	return c.bucket(b)
}

// damaged wraps an error of validate as the damage of the database.
func (db *DB) damaged(err error) error {
	if err == nil {
		return nil
	}
	return errorf(ErrCorrupt, "database %s is damaged: %v", db.path, err)
}

// checkRecordBucket validates the page tree of the record bucket rb
// before it is read in the session of tx.
func (db *DB) checkRecordBucket(tx *bolt.Tx, rb *bolt.Bucket) error {
	return db.damaged(db.validate(tx, rb, false))
}

// checkBaselineTrees validates the record buckets of the baseline bucket
// b, and every bucket nested anywhere in b, before they are all read or
// freed (bbolt frees a deleted bucket's pages, and those of the buckets
// it finds nested in it, by walking them).
func (db *DB) checkBaselineTrees(tx *bolt.Tx, b *bolt.Bucket) error {
	return db.damaged(db.validate(tx, b, true))
}

// checkAllBaselineTrees is checkBaselineTrees of every baseline.
func (db *DB) checkAllBaselineTrees(tx *bolt.Tx) error {
	bs := tx.Bucket(bucketBaselines)
	if bs == nil {
		return nil
	}
	return bs.ForEachBucket(func(id []byte) error { return db.checkBaselineTrees(tx, bs.Bucket(id)) })
}

// deep validates b's page tree and those of the buckets nested in it,
// recursively. The caller holds c.trees.mu.
func (c *treeCheck) deep(b *bolt.Bucket, depth int) error {
	if b == nil {
		return nil
	}
	if depth > maxTreeDepth {
		return fmt.Errorf("buckets nested deeper than %d levels", maxTreeDepth)
	}
	if err := c.bucket(b); err != nil {
		return err
	}
	cur := b.Cursor()
	for k, v := cur.First(); k != nil; k, v = cur.Next() {
		if v != nil {
			continue
		}
		if err := c.deep(b.Bucket(k), depth+1); err != nil {
			return fmt.Errorf("bucket %s: %w", quote(string(k)), err)
		}
	}
	return nil
}
