package replicate

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/sluicehq/sluice"
)

// Copies in the source's own transaction.
//
// A copy to a bucket of this store made after the source's commit costs a
// second commit: under a burst of large uploads, one more fsync queued
// behind theirs, and the object record, event and records of a second
// transaction participant. When the store offers it (fsstore's Fanout),
// Inline makes the TargetBucket copies of a bucket without replication
// rules in the transaction that commits the source instead: the copy
// shares the source's files, is durable and visible with it, and its
// applied record and the source's COMPLETED status are written there too.
// The event then reaches the pipeline with nothing left to do, which
// apply sees from those records before it opens the object.
//
// Order. Every write the replicator makes to a bucket of this store (an
// inline copy, and the pipeline's links, streamed copies and mirrored
// deletes, which run under the store's WithGuard) checks and advances the
// target's applied record in its own transaction. A change is applied
// only if its sequencer is above the recorded one, so an older event's
// copy or delete still in flight can never land after a newer inline copy:
// its transaction finds the newer record and is refused, which counts as
// superseded.

// InlineTx is the part of a write transaction Inline uses
// (*fsstore.FanoutTx).
type InlineTx interface {
	BucketConfig(bucket, kind string) []byte
	BucketRegion(bucket string) (string, bool)
	State(consumer string) (*bolt.Bucket, error)
	Link(bucket string, meta sluice.ObjectMeta) (etag string, ok bool, err error)
	After(fn func())
}

// Inline copies obj, a client write inside tx with event sequencer seq,
// to the TargetBucket targets of its bucket that this store holds, when
// the bucket has no replication rules. It returns an error only when tx
// failed; a target it cannot copy (a missing bucket, a remote region) is
// left to the pipeline, which also makes every copy of a bucket with
// rules.
func (r *Replicator) Inline(tx InlineTx, obj sluice.ObjectInfo, seq string) error {
	if !r.recordsInStore() {
		// The records live in replicate.db, out of tx's reach.
		return nil
	}
	tagDoc := tx.BucketConfig(obj.Bucket, sluice.ConfigTagging)
	if tagDoc == nil || tx.BucketConfig(obj.Bucket, sluice.ConfigReplication) != nil {
		return nil
	}
	set, ok := r.inlineSettings(obj.Bucket, tagDoc)
	if !ok {
		return nil
	}
	plans := set.plans(obj.Key, obj.Meta.Tags, false)
	if len(plans) == 0 {
		return nil
	}
	state, err := tx.State(Consumer)
	if err != nil {
		return err
	}
	if state.Bucket(bktApplied) == nil {
		return nil
	}
	digest := metaDigest(obj.Meta)
	linked := 0
	for _, p := range plans {
		id, local := r.inlineTarget(tx, p.Target)
		if !local {
			continue
		}
		if err := checkApplied(state, id, obj.Key, seq); err != nil {
			continue
		}
		etag, ok, err := tx.Link(p.Bucket, obj.Meta)
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		a := applied{Sequencer: seq, ETag: unquote(obj.ETag), Digest: digest, TargetETag: etag}
		if err := putApplied(state, id, obj.Key, a); err != nil {
			return err
		}
		linked++
	}
	if linked == len(plans) {
		if err := inlineStatus(state, obj, seq); err != nil {
			return err
		}
	}
	if linked > 0 {
		size := obj.Size
		tx.After(func() {
			// The copy committed with its source: no delay to observe.
			for range linked {
				r.m.observe(resultCopied, kindLocal, time.Time{}, size)
			}
		})
	}
	return nil
}

// inlineStatus records that obj, copied to every target in its own
// transaction, is COMPLETED. For a write without a version id only a
// status record already there is replaced (dropped): Status reads
// COMPLETED from the applied records just written, and a status record of
// its own would cost each copy one more leaf, and its branches, written in
// the commit. A version's status is recorded, for Status to find by id.
func inlineStatus(state *bolt.Bucket, obj sluice.ObjectInfo, seq string) error {
	if obj.VersionID != "" && obj.VersionID != sluice.NullVersionID {
		puts, err := statusPuts(obj.Bucket, obj.Key, obj.VersionID, statusRecord{ETag: unquote(obj.ETag), Status: StatusCompleted, Sequencer: seq})
		if err != nil {
			return err
		}
		for _, p := range puts {
			if err := putOne(state, p); err != nil {
				return err
			}
		}
		return nil
	}
	b := state.Bucket(bktStatus)
	if b == nil {
		return nil
	}
	k := indexKey(obj.Bucket, obj.Key)
	if b.Get(k) == nil {
		return nil
	}
	return b.Delete(k)
}

// inlineTargetIDs returns the applied-record ids of bucket's TargetBucket
// targets when its copies may be made inline (a tag, no replication
// rules, records in the store), for Status to read a copy's completion
// from; nil otherwise.
func (r *Replicator) inlineTargetIDs(ctx context.Context, bucket string) []string {
	if !r.recordsInStore() {
		return nil
	}
	tagDoc, err := r.store.BucketConfig(ctx, bucket, sluice.ConfigTagging)
	if err != nil || tagDoc == nil {
		return nil
	}
	if repl, err := r.store.BucketConfig(ctx, bucket, sluice.ConfigReplication); err != nil || repl != nil {
		return nil
	}
	set, ok := r.inlineSettings(bucket, tagDoc)
	if !ok {
		return nil
	}
	var ids []string
	for _, p := range set.plans("", nil, false) {
		ids = append(ids, "local/"+p.Bucket)
	}
	return ids
}

// copiedInline reports whether every target in ids applied key's write
// with source ETag etag, none before sequencer after ("" for any): the
// write's copies, made inline, are complete.
func copiedInline(tx buckets, ids []string, key, etag, after string) bool {
	b := tx.Bucket(bktApplied)
	if b == nil || len(ids) == 0 {
		return false
	}
	for _, id := range ids {
		var a applied
		v := b.Get(indexKey(id, key))
		if v == nil || json.Unmarshal(v, &a) != nil || a.Deleted || a.ETag != etag {
			return false
		}
		if after != "" && cmpSequencer(a.Sequencer, after) < 0 {
			return false
		}
	}
	return true
}

// inlineSettings returns the settings of bucket for its tagging document
// doc (valid only in the transaction), from the cache when doc is the one
// cached; false when they have no TargetBucket target.
func (r *Replicator) inlineSettings(bucket string, doc []byte) (settings, bool) {
	r.mu.Lock()
	c, ok := r.parsed[bucket]
	r.mu.Unlock()
	if !ok || !bytes.Equal(c.tagDoc, doc) || c.replDoc != nil {
		set, err := r.settingsOf(bucket, doc, nil)
		if err != nil {
			return settings{}, false
		}
		c = parsedSettings{tagDoc: bytes.Clone(doc), set: set}
		r.mu.Lock()
		if len(r.parsed) >= maxParsedSettings {
			clear(r.parsed)
		}
		r.parsed[bucket] = c
		r.mu.Unlock()
	}
	return c.set, len(c.set.tagTargets) > 0
}

// inlineTarget returns the applied-record id of a target this store holds
// (as resolve does), and false for one on another endpoint or whose bucket
// is missing or in another region.
func (r *Replicator) inlineTarget(tx InlineTx, t Target) (string, bool) {
	if r.targetKind(t) == kindRemote {
		return "", false
	}
	region, ok := tx.BucketRegion(t.Bucket)
	if !ok || t.Region != "" && region != t.Region {
		return "", false
	}
	return "local/" + t.Bucket, true
}

// recordsInStore reports whether the replicator's records live in the
// store's own database, where a write's transaction can reach them.
func (r *Replicator) recordsInStore() bool { return r.state.fileDB() == nil }

// errNotNewer refuses a write whose change is not newer than the one its
// target last applied.
var errNotNewer = errors.New("a newer change was applied to the target")

// checkApplied fails with errNotNewer when target id's key already
// applied a change at or after seq.
func checkApplied(state *bolt.Bucket, id, key, seq string) error {
	b := state.Bucket(bktApplied)
	if b == nil {
		return nil
	}
	if prev, ok := recordSeq(b.Get(indexKey(id, key))); ok && cmpSequencer(seq, prev) <= 0 {
		return errNotNewer
	}
	return nil
}

func putApplied(state *bolt.Bucket, id, key string, a applied) error {
	v, err := json.Marshal(a)
	if err != nil {
		return err
	}
	return putOne(state, kv{bucket: bktApplied, k: indexKey(id, key), v: v, seq: a.Sequencer})
}

// guarder is a store whose writes can check and record the replicator's
// applied record in their own transaction (fsstore's WithGuard).
type guarder interface {
	WithGuard(ctx context.Context, consumer string, check func(state *bolt.Bucket) error, record func(state *bolt.Bucket, etag string) error) context.Context
}

// guarded returns ctx under which a write of this store to target id's
// key for ev applies only if ev is newer than what the target last
// applied, and records a as applied (with the write's ETag as TargetETag)
// in the same transaction. ok is false when the store cannot.
func (r *Replicator) guarded(ctx context.Context, id, key string, ev sluice.Event, a applied) (context.Context, bool) {
	g, ok := r.store.(guarder)
	if !ok || ev.Seq == 0 || !r.recordsInStore() {
		// Records in replicate.db, or an invocation without an outbox
		// event (HandleS3Event): the pipeline's own ordering holds.
		return ctx, false
	}
	return g.WithGuard(ctx, Consumer,
		func(state *bolt.Bucket) error { return checkApplied(state, id, key, ev.Sequencer) },
		func(state *bolt.Bucket, etag string) error {
			a.TargetETag = etag
			return putApplied(state, id, key, a)
		}), true
}

// doneInline reports whether every target of an ObjectCreated event was
// copied in its source's transaction: each applied record holds its
// sequencer.
func (r *Replicator) doneInline(ev sluice.Event, set settings) bool {
	if len(set.rules) > 0 || !r.recordsInStore() {
		return false
	}
	plans := set.plans(ev.Key, nil, false)
	if len(plans) == 0 {
		return false
	}
	for _, p := range plans {
		if r.targetKind(p.Target) == kindRemote {
			return false
		}
		if seq, err := r.appliedSeq("local/"+p.Bucket, ev.Key); err != nil || seq != ev.Sequencer {
			return false
		}
	}
	return true
}
