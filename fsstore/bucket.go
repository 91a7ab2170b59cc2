package fsstore

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluicehq/sluice"
	bolt "go.etcd.io/bbolt"
)

func errNoSuchBucket(name string) error {
	e := sluice.Errorf(sluice.ErrNoSuchBucket, "The specified bucket does not exist").With("BucketName", name)
	e.Resource = name
	return e
}

// bucketData returns the nested bbolt bucket holding a sluice bucket's
// objects, configs and uploads, or NoSuchBucket.
func bucketData(tx *bolt.Tx, name string) (*bolt.Bucket, error) {
	if name == "" {
		return nil, errNoSuchBucket(name)
	}
	b := tx.Bucket(rootData).Bucket([]byte(name))
	if b == nil {
		return nil, errNoSuchBucket(name)
	}
	return b, nil
}

func bucketInfo(tx *bolt.Tx, name string) (sluice.Bucket, error) {
	if name == "" {
		return sluice.Bucket{}, errNoSuchBucket(name)
	}
	v := tx.Bucket(rootBuckets).Get([]byte(name))
	if v == nil {
		return sluice.Bucket{}, errNoSuchBucket(name)
	}
	var r bucketRecord
	if err := json.Unmarshal(v, &r); err != nil {
		return sluice.Bucket{}, fmt.Errorf("decode bucket %q: %w", name, err)
	}
	return sluice.Bucket{Name: name, Region: r.Region, Created: r.Created}, nil
}

// CreateBucket creates a bucket; BucketAlreadyOwnedByYou when it exists.
// Names are validated by the protocol edge. An empty Region means
// sluice.DefaultRegion and a zero Created means now.
func (s *Store) CreateBucket(ctx context.Context, b sluice.Bucket) error {
	if b.Name == "" {
		return sluice.Errorf(sluice.ErrInvalidBucketName, "The specified bucket is not valid.")
	}
	if b.Region == "" {
		b.Region = sluice.DefaultRegion
	}
	if b.Created.IsZero() {
		b.Created = now()
	}
	rec, err := json.Marshal(bucketRecord{Region: b.Region, Created: b.Created.UTC()})
	if err != nil {
		return err
	}
	defer s.configs.invalidate()
	return s.update(ctx, func(tx *bolt.Tx, _ *eventBatch) error {
		name := []byte(b.Name)
		if tx.Bucket(rootBuckets).Get(name) != nil {
			e := sluice.Errorf(sluice.ErrBucketAlreadyOwnedByYou, "Your previous request to create the named bucket succeeded and you already own it.").With("BucketName", b.Name)
			e.Resource = b.Name
			return refuse(e)
		}
		if err := tx.Bucket(rootBuckets).Put(name, rec); err != nil {
			return err
		}
		data, err := tx.Bucket(rootData).CreateBucket(name)
		if err != nil {
			return err
		}
		for _, sub := range [][]byte{subObjects, subConfigs, subUploads, subParts, subInline} {
			if _, err := data.CreateBucket(sub); err != nil {
				return err
			}
		}
		return nil
	})
}

// Bucket returns one bucket, or NoSuchBucket.
func (s *Store) Bucket(ctx context.Context, name string) (sluice.Bucket, error) {
	var b sluice.Bucket
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		b, err = bucketInfo(tx, name)
		return err
	})
	return b, err
}

// ListBuckets returns every bucket in name order.
func (s *Store) ListBuckets(ctx context.Context) ([]sluice.Bucket, error) {
	var out []sluice.Bucket
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(rootBuckets).ForEach(func(k, v []byte) error {
			var r bucketRecord
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("decode bucket %q: %w", k, err)
			}
			out = append(out, sluice.Bucket{Name: string(k), Region: r.Region, Created: r.Created})
			return nil
		})
	})
	return out, err
}

// DeleteBucket removes an empty bucket and its configuration.
func (s *Store) DeleteBucket(ctx context.Context, name string) error {
	defer s.configs.invalidate()
	return s.update(ctx, func(tx *bolt.Tx, _ *eventBatch) error {
		data, err := bucketData(tx, name)
		if err != nil {
			return refuse(err)
		}
		if k, _ := data.Bucket(subObjects).Cursor().First(); k != nil {
			return refuse(errBucketNotEmpty(name))
		}
		if k, _ := data.Bucket(subUploads).Cursor().First(); k != nil {
			return refuse(errBucketNotEmpty(name))
		}
		// Noncurrent versions and delete markers keep a bucket too.
		if vers := data.Bucket(subVersions); vers != nil {
			if k, _ := vers.Cursor().First(); k != nil {
				return refuse(errBucketNotEmpty(name))
			}
		}
		if err := tx.Bucket(rootBuckets).Delete([]byte(name)); err != nil {
			return err
		}
		return tx.Bucket(rootData).DeleteBucket([]byte(name))
	})
}

func errBucketNotEmpty(name string) error {
	e := sluice.Errorf(sluice.ErrBucketNotEmpty, "The bucket you tried to delete is not empty").With("BucketName", name)
	e.Resource = name
	return e
}

// PutBucketConfig stores an opaque configuration document; nil deletes it.
func (s *Store) PutBucketConfig(ctx context.Context, bucket, kind string, doc []byte) error {
	if kind == "" {
		return sluice.Errorf(sluice.ErrInvalidArgument, "configuration kind must not be empty")
	}
	defer s.configs.invalidate()
	return s.update(ctx, func(tx *bolt.Tx, _ *eventBatch) error {
		data, err := bucketData(tx, bucket)
		if err != nil {
			return refuse(err)
		}
		if doc == nil {
			return data.Bucket(subConfigs).Delete([]byte(kind))
		}
		return data.Bucket(subConfigs).Put([]byte(kind), doc)
	})
}

// BucketConfig returns a configuration document, or (nil, nil) when unset.
// Every signed S3 request reads its bucket's policy, so documents are
// served from the configCache.
func (s *Store) BucketConfig(ctx context.Context, bucket, kind string) ([]byte, error) {
	doc, err := s.bucketConfig(bucket, kind)
	if doc == nil {
		return nil, err
	}
	return bytes.Clone(doc), err
}

// bucketConfig is BucketConfig without the copy: the document belongs to
// the cache. An empty kind asks only whether the bucket exists.
func (s *Store) bucketConfig(bucket, kind string) ([]byte, error) {
	key := configKey{bucket, kind}
	gen := s.configs.gen.Load()
	if doc, ok := s.configs.get(key, gen); ok {
		return doc, nil
	}
	var out []byte
	err := s.db.View(func(tx *bolt.Tx) error {
		data, err := bucketData(tx, bucket)
		if err != nil {
			return err
		}
		if kind == "" {
			return nil
		}
		if v := data.Bucket(subConfigs).Get([]byte(kind)); v != nil {
			out = append([]byte{}, v...)
		}
		return nil
	})
	if err == nil {
		s.configs.put(key, gen, out)
	}
	return out, err
}

// configCache remembers what bucketConfig read: documents, and that a
// bucket exists (under the empty kind). Entries carry the generation they
// were read in, and every change that creates or deletes a bucket or
// changes a configuration moves the generation on after its commit, so an
// entry read before such a change is never served once the change has
// returned. Lookups of buckets that do not exist are not cached.
type configCache struct {
	gen atomic.Uint64
	mu  sync.RWMutex
	m   map[configKey]configEntry
}

type configKey struct{ bucket, kind string }

type configEntry struct {
	gen uint64
	doc []byte
}

func (c *configCache) get(key configKey, gen uint64) ([]byte, bool) {
	c.mu.RLock()
	e, ok := c.m[key]
	c.mu.RUnlock()
	if !ok || e.gen != gen {
		return nil, false
	}
	return e.doc, true
}

// put records doc as read in generation gen, which the caller loaded
// before reading it.
func (c *configCache) put(key configKey, gen uint64, doc []byte) {
	c.mu.Lock()
	if c.m == nil {
		c.m = make(map[configKey]configEntry)
	}
	c.m[key] = configEntry{gen, doc}
	c.mu.Unlock()
}

// invalidate retires every entry; call it once a change is committed (or
// failed).
func (c *configCache) invalidate() {
	c.gen.Add(1)
	c.mu.Lock()
	clear(c.m)
	c.mu.Unlock()
}

// now is the commit time the store records: UTC, millisecond precision as
// S3 reports it.
func now() time.Time { return time.Now().UTC().Truncate(time.Millisecond) }
