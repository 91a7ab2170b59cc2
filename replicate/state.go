package replicate

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Where the replicator's records live.
//
// Every copy leaves records (the write it applied, the source's
// replication status) that must be durable before its event is
// acknowledged. In a database of their own (replicate.db) they cost a
// commit and its fsyncs per group of copies on top of the store's; a
// store that keeps consumers' records in its own group commits (fsstore,
// stateStore below) takes them instead, so that a copy, its records and
// the outbox acknowledgement share the commits of the writes they follow.
// A replicate.db left by an earlier version is imported into such a store
// once, then renamed replicate.db.imported.

// stateStore is a store that keeps a consumer's records in its own
// database (fsstore.Store): UpdateState commits lazily in the store's
// group commits and returns once the change is durable.
type stateStore interface {
	UpdateState(ctx context.Context, consumer string, fn func(b *bolt.Bucket) error) error
	ViewState(consumer string, fn func(b *bolt.Bucket) error) error
}

// buckets is what the records' code needs of a transaction: *bolt.Tx
// (replicate.db) or the consumer's bucket of a stateStore.
type buckets interface {
	Bucket(name []byte) *bolt.Bucket
	CreateBucketIfNotExists(name []byte) (*bolt.Bucket, error)
}

// stateDB runs read and write transactions on the records.
type stateDB interface {
	view(fn func(b buckets) error) error
	// update commits fn durably; fn may run more than once.
	update(fn func(b buckets) error) error
	close() error
	// fileDB is replicate.db when the records live there.
	fileDB() *bolt.DB
}

var recordBuckets = [][]byte{bktApplied, bktStatus, bktVersionStatus, bktDead, bktAttempts}

const dbFile = "replicate.db"

// openState opens the records: in the store when it can keep them
// (importing a replicate.db left in dir), else in dir/replicate.db.
func openState(store any, dir string, noSync bool) (stateDB, error) {
	if ss, ok := store.(stateStore); ok {
		st := storeState{ss}
		if err := st.update(createRecordBuckets); err != nil {
			return nil, fmt.Errorf("init records: %w", err)
		}
		if err := importFile(st, filepath.Join(dir, dbFile)); err != nil {
			return nil, err
		}
		return st, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create %s: %w", dir, err)
	}
	db, err := bolt.Open(filepath.Join(dir, dbFile), 0o600, &bolt.Options{Timeout: 5 * time.Second, NoSync: noSync})
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", dbFile, err)
	}
	st := boltState{db}
	if err := st.update(createRecordBuckets); err != nil {
		db.Close()
		return nil, fmt.Errorf("init %s: %w", dbFile, err)
	}
	return st, nil
}

func createRecordBuckets(b buckets) error {
	for _, name := range recordBuckets {
		if _, err := b.CreateBucketIfNotExists(name); err != nil {
			return err
		}
	}
	return nil
}

// importFile copies the records of the replicate.db at path that st does
// not hold into st in one transaction, then renames the file so that it is
// imported only once. A crash before the rename imports the same records
// again, which changes nothing.
func importFile(st stateDB, path string) error {
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 5 * time.Second, ReadOnly: true})
	if err != nil {
		return fmt.Errorf("open %s to import it: %w", path, err)
	}
	defer db.Close()
	type kv struct{ k, v []byte }
	records := map[string][]kv{}
	err = db.View(func(tx *bolt.Tx) error {
		for _, name := range recordBuckets {
			b := tx.Bucket(name)
			if b == nil {
				continue
			}
			if err := b.ForEach(func(k, v []byte) error {
				records[string(name)] = append(records[string(name)], kv{append([]byte(nil), k...), append([]byte(nil), v...)})
				return nil
			}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	if err := st.update(func(b buckets) error {
		for name, kvs := range records {
			dst := b.Bucket([]byte(name))
			for _, e := range kvs {
				// What the store holds was written since: it wins.
				if dst.Get(e.k) != nil {
					continue
				}
				if err := dst.Put(e.k, e.v); err != nil {
					return err
				}
			}
		}
		return nil
	}); err != nil {
		return fmt.Errorf("import %s: %w", path, err)
	}
	db.Close()
	if err := os.Rename(path, path+".imported"); err != nil {
		return fmt.Errorf("rename imported %s: %w", path, err)
	}
	return nil
}

// boltState keeps the records in replicate.db.
type boltState struct{ db *bolt.DB }

func (s boltState) view(fn func(b buckets) error) error {
	return s.db.View(func(tx *bolt.Tx) error { return fn(tx) })
}

func (s boltState) update(fn func(b buckets) error) error {
	return s.db.Update(func(tx *bolt.Tx) error { return fn(tx) })
}

func (s boltState) close() error     { return s.db.Close() }
func (s boltState) fileDB() *bolt.DB { return s.db }

// storeState keeps the records in the store, in the consumer's bucket.
type storeState struct{ s stateStore }

func (s storeState) view(fn func(b buckets) error) error {
	return s.s.ViewState(Consumer, func(b *bolt.Bucket) error { return fn(b) })
}

func (s storeState) update(fn func(b buckets) error) error {
	// The records are written on behalf of no request, and a change that
	// was applied must become durable even while the replicator stops.
	return s.s.UpdateState(context.Background(), Consumer, func(b *bolt.Bucket) error { return fn(b) })
}

func (s storeState) close() error     { return nil }
func (s storeState) fileDB() *bolt.DB { return nil }
