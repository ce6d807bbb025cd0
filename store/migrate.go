package store

import (
	"bytes"
	"fmt"

	"webfim/store/internal/safebolt"
)

// migrate brings a database of schema from up to [SchemaVersion], inside
// the set-up transaction: either the whole database is converted or,
// on any error, nothing is.
func migrate(tx *safebolt.Tx, from uint64) error {
	if from < 2 {
		if err := migrateRecordsToBlocks(tx); err != nil {
			return fmt.Errorf("upgrade to schema 2: %w", err)
		}
	}
	return tx.Bucket(bucketMeta).Put(keySchema, u64(SchemaVersion))
}

// migrateRecordsToBlocks rewrites the records of every baseline from
// schema 1 (one bbolt value per record) into blocks (schema 2).
func migrateRecordsToBlocks(tx *safebolt.Tx) error {
	bs := tx.Bucket(bucketBaselines)
	if bs == nil {
		return nil
	}
	var ids [][]byte
	if err := bs.ForEachBucket(func(id []byte) error {
		ids = append(ids, bytes.Clone(id))
		return nil
	}); err != nil {
		return err
	}
	for _, id := range ids {
		roots := bs.Bucket(id).Bucket(bucketRoots)
		if roots == nil {
			continue
		}
		var names [][]byte
		if err := roots.ForEachBucket(func(name []byte) error {
			names = append(names, bytes.Clone(name))
			return nil
		}); err != nil {
			return err
		}
		for _, name := range names {
			if err := migrateRoot(roots, name); err != nil {
				n, _ := getU64(id)
				return fmt.Errorf("baseline %d, root %s: %w", n, quote(string(name)), err)
			}
		}
	}
	return nil
}

func migrateRoot(roots *safebolt.Bucket, name []byte) error {
	var p packer
	root := string(name)
	err := roots.Bucket(name).ForEach(func(k, v []byte) error {
		if v == nil {
			return nil // no nested buckets in a root bucket
		}
		if len(v) > maxRecordValue {
			return fmt.Errorf("record %s: impossible length %d", quote(pathOfStoreKey(k)), len(v))
		}
		p.add(root, k, v)
		return nil
	})
	if err != nil {
		return err
	}
	p.close()
	if err := roots.DeleteBucket(name); err != nil {
		return err
	}
	nb, err := roots.CreateBucket(name)
	if err != nil {
		return err
	}
	nb.SetFillPercent(recordsFillPercent)
	for _, blk := range p.closed {
		if err := nb.Put(blk.key, blk.val); err != nil {
			return err
		}
	}
	return nil
}
