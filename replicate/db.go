package replicate

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/s3api"
)

// replicate.db buckets.
var (
	bktApplied = []byte("applied") // target id \x00 key → applied
	bktStatus  = []byte("status")  // source bucket \x00 key → status
	bktDead    = []byte("dead")    // seq, target → DeadLetter
)

func indexKey(a, b string) []byte { return []byte(a + "\x00" + b) }

func (r *Replicator) lookup(target, key string) (applied, bool, error) {
	var a applied
	found := false
	err := r.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bktApplied).Get(indexKey(target, key))
		if v == nil {
			return nil
		}
		found = true
		return json.Unmarshal(v, &a)
	})
	if err != nil {
		return applied{}, false, fmt.Errorf("read replicate.db: %w", err)
	}
	return a, found, nil
}

// record remembers a change applied to a target, unless a newer one is
// recorded already.
func (r *Replicator) record(target, key string, a applied) error {
	v, err := json.Marshal(a)
	if err != nil {
		return err
	}
	err = r.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bktApplied)
		k := indexKey(target, key)
		if old := b.Get(k); old != nil {
			var prev applied
			if json.Unmarshal(old, &prev) == nil && cmpSequencer(prev.Sequencer, a.Sequencer) > 0 {
				return nil
			}
		}
		return b.Put(k, v)
	})
	if err != nil {
		return fmt.Errorf("write replicate.db: %w", err)
	}
	return nil
}

type statusRecord struct {
	ETag   string `json:"etag"`
	Status string `json:"status"`
}

func (r *Replicator) setStatus(bucket, key, etag, status string) error {
	v, err := json.Marshal(statusRecord{ETag: etag, Status: status})
	if err != nil {
		return err
	}
	if err := r.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bktStatus).Put(indexKey(bucket, key), v)
	}); err != nil {
		return fmt.Errorf("write replicate.db: %w", err)
	}
	return nil
}

// DeadLetter is a copy or delete the replicator gave up on.
type DeadLetter struct {
	Event  sluice.Event `json:"event"`
	Target string       `json:"target"`
	Error  string       `json:"error"`
	Time   time.Time    `json:"time"`
}

func (r *Replicator) deadLetter(ev sluice.Event, t Target, cause error) error {
	v, err := json.Marshal(DeadLetter{Event: ev, Target: t.String(), Error: cause.Error(), Time: time.Now().UTC()})
	if err != nil {
		return err
	}
	k := binary.BigEndian.AppendUint64(nil, ev.Seq)
	k = append(k, t.String()...)
	if err := r.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bktDead).Put(k, v) }); err != nil {
		return fmt.Errorf("write replicate.db: %w", err)
	}
	return nil
}

// DeadLetters returns every dead-lettered copy, oldest first.
func (r *Replicator) DeadLetters() ([]DeadLetter, error) {
	var out []DeadLetter
	err := r.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bktDead).ForEach(func(_, v []byte) error {
			var d DeadLetter
			if err := json.Unmarshal(v, &d); err != nil {
				return err
			}
			out = append(out, d)
			return nil
		})
	})
	return out, err
}

// statusCacheTTL bounds how long Status trusts its knowledge of whether a
// bucket replicates at all.
const statusCacheTTL = time.Second

// Status is the s3api.ReplicationStatusFunc: the x-amz-replication-status of
// an object. etag may be quoted.
func (r *Replicator) Status(ctx context.Context, bucket, key, etag string) string {
	etag = unquote(etag)
	var st string
	_ = r.db.View(func(tx *bolt.Tx) error {
		var rec statusRecord
		if v := tx.Bucket(bktStatus).Get(indexKey(bucket, key)); v != nil && json.Unmarshal(v, &rec) == nil && rec.ETag == etag {
			st = rec.Status
			return nil
		}
		var a applied
		if v := tx.Bucket(bktApplied).Get(indexKey("local/"+bucket, key)); v != nil && json.Unmarshal(v, &a) == nil && !a.Deleted && a.TargetETag == etag {
			st = StatusReplica
		}
		return nil
	})
	if st != "" {
		return st
	}
	if r.replicates(ctx, bucket) {
		return StatusPending
	}
	return ""
}

// replicates reports whether bucket has a TargetBucket tag or an enabled
// replication rule, from a short-lived cache.
func (r *Replicator) replicates(ctx context.Context, bucket string) bool {
	r.mu.Lock()
	c, ok := r.hasRepl[bucket]
	r.mu.Unlock()
	if ok && time.Since(c.at) < statusCacheTTL {
		return c.v
	}
	v := false
	if tags, err := s3api.BucketTags(ctx, r.store, bucket); err == nil {
		for _, t := range tags {
			if t.Key == TagName {
				if ts, err := ParseTargetBucketTag(t.Value); err == nil && len(ts) > 0 {
					v = true
				}
			}
		}
	}
	if cfg, err := s3api.BucketReplication(ctx, r.store, bucket); err == nil && cfg != nil {
		for _, rule := range cfg.Rules {
			v = v || rule.Enabled()
		}
	}
	r.mu.Lock()
	if len(r.hasRepl) > 10000 {
		clear(r.hasRepl)
	}
	r.hasRepl[bucket] = cachedBool{v: v, at: time.Now()}
	r.mu.Unlock()
	return v
}

var _ s3api.ReplicationStatusFunc = (*Replicator)(nil).Status
