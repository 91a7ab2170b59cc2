package fsstore

import (
	"context"
	"fmt"
	"sync/atomic"

	"github.com/sluicehq/sluice"
	bolt "go.etcd.io/bbolt"
)

// Guarded writes and fanout.
//
// A consumer that writes into the store for events (the replicator: copies
// and mirrored deletes) must never let an older event's write land after a
// newer one's. It keeps, per target, the sequencer of the last change it
// applied there. WithGuard lets it check and advance that record in the
// transaction of the write itself, so that the order of transactions, not
// of goroutines, decides which change wins.
//
// A Fanout goes further: it runs inside the transaction of every object a
// client writes (PutObject, CompleteMultipartUpload) and may link the new
// object into other buckets there, so that a copy to a bucket of this
// store is committed, and visible, with its source.

// guard is what WithGuard attaches to a context.
type guard struct {
	consumer string
	check    func(state *bolt.Bucket) error
	record   func(state *bolt.Bucket, etag string) error
}

type guardKey struct{}

// WithGuard returns a context under which PutObject, LinkObject and
// DeleteObject run check on consumer's state bucket before they change
// anything, in their transaction, and refuse the write with check's error
// when it fails; after the write, in the same transaction, they run record
// with the written object's unquoted ETag ("" for a delete).
func (s *Store) WithGuard(ctx context.Context, consumer string, check func(state *bolt.Bucket) error, record func(state *bolt.Bucket, etag string) error) context.Context {
	return context.WithValue(ctx, guardKey{}, &guard{consumer: consumer, check: check, record: record})
}

func guardOf(ctx context.Context) *guard {
	g, _ := ctx.Value(guardKey{}).(*guard)
	return g
}

// stateBucket returns consumer's state bucket, created on first use.
func stateBucket(tx *bolt.Tx, consumer string) (*bolt.Bucket, error) {
	b, err := tx.Bucket(rootState).CreateBucketIfNotExists([]byte(consumer))
	if err != nil {
		return nil, fmt.Errorf("state of %s: %w", consumer, err)
	}
	return b, nil
}

// checkGuard runs g's check (nil g passes); its error is a refusal, since
// nothing has been changed yet.
func checkGuard(tx *bolt.Tx, g *guard) error {
	if g == nil {
		return nil
	}
	if st := tx.Bucket(rootState).Bucket([]byte(g.consumer)); st != nil {
		return refuse(g.check(st))
	}
	// No state yet, so nothing recorded to check against; creating the
	// bucket here would change tx before a possible refusal.
	return nil
}

func recordGuard(tx *bolt.Tx, g *guard, etag string) error {
	if g == nil {
		return nil
	}
	st, err := stateBucket(tx, g.consumer)
	if err != nil {
		return err
	}
	return g.record(st, etag)
}

// Fanout is called inside the transaction of each object a client writes
// (obj; sequencer is its event's) and may add to it through tx. It may run
// more than once for one write (a group applied again after another
// change failed), so it must keep no state outside tx; what should happen
// once the write is durable it hands to tx.After. An error fails the
// write: return one only when tx itself failed.
type Fanout func(tx *FanoutTx, obj sluice.ObjectInfo, sequencer string) error

// SetFanout installs f (nil removes it). Writes already committing may
// run without it.
func (s *Store) SetFanout(f Fanout) {
	if f == nil {
		s.fanout.Store(nil)
		return
	}
	s.fanout.Store(&f)
}

// fanoutHook holds the installed Fanout.
type fanoutHook = atomic.Pointer[Fanout]

// FanoutTx is a client write's transaction as a Fanout sees it.
type FanoutTx struct {
	tx *bolt.Tx
	ev *eventBatch
	// data is the written bucket's, already open in tx.
	data   *bolt.Bucket
	bucket string
	key    string
	rec    *objectRecord
	body   []byte
	// old are files the links released; after runs once the write is
	// durable.
	old   []string
	after []func()
}

// BucketConfig returns bucket's configuration document of kind, or nil
// when there is none or no such bucket. It is valid until the
// transaction ends.
func (f *FanoutTx) BucketConfig(bucket, kind string) []byte {
	data := f.data
	if bucket != f.bucket {
		var err error
		if data, err = bucketData(f.tx, bucket); err != nil {
			return nil
		}
	}
	if c := data.Bucket(subConfigs); c != nil {
		return c.Get([]byte(kind))
	}
	return nil
}

// BucketRegion returns bucket's region, and false when there is no such
// bucket.
func (f *FanoutTx) BucketRegion(bucket string) (string, bool) {
	region, err := f.ev.regions.region(f.tx, bucket)
	if err != nil {
		return "", false
	}
	return region, true
}

// State returns consumer's state bucket, created on first use.
func (f *FanoutTx) State(consumer string) (*bolt.Bucket, error) {
	return stateBucket(f.tx, consumer)
}

// Link makes bucket/key (the written object's key, in another bucket) a
// copy of the written object that shares its files, with meta as its
// metadata and tags, and records its ObjectCreated:Put event, as
// LinkObject does for the replicator's copies. It returns the copy's
// unquoted ETag, and false, changing nothing, when bucket does not exist
// or its current record of key cannot be read.
func (f *FanoutTx) Link(bucket string, meta sluice.ObjectMeta) (string, bool, error) {
	if bucket == f.bucket {
		return "", false, nil
	}
	data, err := bucketData(f.tx, bucket)
	if err != nil {
		return "", false, nil
	}
	cur, err := currentObject(data.Bucket(subObjects), f.key)
	if err != nil {
		return "", false, nil
	}
	// The copy's event names no caller, as the replicator's own copies'
	// events do: the client wrote the source, not the copy.
	req := f.ev.req
	f.ev.req = sluice.RequestInfo{}
	r, old, err := linkInto(f.tx, f.ev, data, bucket, f.key, f.rec, normalizeMeta(meta), f.body, cur, sluice.EventObjectCreatedPut)
	f.ev.req = req
	if err != nil {
		return "", false, err
	}
	f.old = append(f.old, old...)
	return unquote(r.ETag), true, nil
}

// After runs fn once the write is durable.
func (f *FanoutTx) After(fn func()) { f.after = append(f.after, fn) }

// fanOut runs the installed Fanout on a write just recorded in tx, in
// bucket (whose data bucket is data), with body the write's inline bytes; nil when there is none or events are not
// recorded (a Fanout follows events: its sequencer names one).
func (s *Store) fanOut(tx *bolt.Tx, ev *eventBatch, data *bolt.Bucket, bucket, key string, rec *objectRecord, body []byte) (*FanoutTx, error) {
	f := s.fanout.Load()
	if f == nil || !ev.record {
		return nil, nil
	}
	ftx := &FanoutTx{tx: tx, ev: ev, data: data, bucket: bucket, key: key, rec: rec, body: body}
	if err := (*f)(ftx, rec.info(bucket, key), sequencer(ev.last)); err != nil {
		return nil, err
	}
	return ftx, nil
}

// done runs what the Fanout asked for once the write is durable, and
// returns the files its links released, for removal.
func (f *FanoutTx) done() []string {
	if f == nil {
		return nil
	}
	for _, fn := range f.after {
		fn()
	}
	return f.old
}
