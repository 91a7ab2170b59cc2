package fsstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/sluicehq/sluice"
	bolt "go.etcd.io/bbolt"
)

// eventBatch collects the events one transaction appends to the outbox.
type eventBatch struct {
	record  bool
	req     sluice.RequestInfo
	n       int
	regions *regionCache
	// last is the seq of the event added last.
	last uint64
	// versioned is the store's: whether any bucket may be versioned.
	versioned *atomic.Bool
}

// versionState returns the versioning state of the bucket whose data
// bucket is data, nil when it was never set. It is read when a change is
// applied, so that a change applied after SetVersioning's sees its state.
func (b *eventBatch) versionState(data *bolt.Bucket) []byte {
	if b.versioned == nil || !b.versioned.Load() {
		return nil
	}
	return data.Get(keyVersioning)
}

// regionCache remembers the region of each bucket record it decoded, by
// the record's bytes: every event names its bucket's region, and decoding
// the record's JSON for each cost more than the rest of the event. A
// bucket deleted and created again has a new record (its creation time),
// so an entry is never stale.
type regionCache struct {
	mu sync.Mutex
	m  map[string]regionEntry
}

type regionEntry struct {
	rec    []byte
	region string
}

// maxRegionCache bounds the cache; it starts afresh when full.
const maxRegionCache = 4096

func (c *regionCache) region(tx *bolt.Tx, bucket string) (string, error) {
	v := tx.Bucket(rootBuckets).Get([]byte(bucket))
	if v == nil {
		return "", errNoSuchBucket(bucket)
	}
	c.mu.Lock()
	e, ok := c.m[bucket]
	c.mu.Unlock()
	if ok && bytes.Equal(e.rec, v) {
		return e.region, nil
	}
	info, err := bucketInfo(tx, bucket)
	if err != nil {
		return "", err
	}
	c.mu.Lock()
	if c.m == nil || len(c.m) >= maxRegionCache {
		c.m = make(map[string]regionEntry)
	}
	c.m[bucket] = regionEntry{rec: bytes.Clone(v), region: info.Region}
	c.mu.Unlock()
	return info.Region, nil
}

// add appends an event for a change to key, when the store records events.
// rec supplies size, ETag (zero for deletions) and version id, which is
// left out for a null version, as S3 leaves it out.
func (b *eventBatch) add(tx *bolt.Tx, name, bucket, key string, rec *objectRecord) error {
	if !b.record {
		return nil
	}
	region, err := b.regions.region(tx, bucket)
	if err != nil {
		return err
	}
	events := tx.Bucket(rootEvents)
	// Sequence numbers only grow: pages may fill before they split.
	events.FillPercent = appendFillPercent
	seq, err := events.NextSequence()
	if err != nil {
		return err
	}
	ev := sluice.Event{
		Seq:       seq,
		Name:      name,
		Time:      now(),
		Region:    region,
		Bucket:    bucket,
		Key:       key,
		Size:      rec.Size,
		ETag:      unquote(rec.ETag),
		VersionID: eventVersionID(rec.VersionID),
		Sequencer: sequencer(seq),
		Request:   b.req,
	}
	b.n++
	b.last = seq
	return events.Put(seqKey(seq), encodeEvent(&ev))
}

func seqKey(seq uint64) []byte { return binary.BigEndian.AppendUint64(nil, seq) }

// Every consumer decodes every event, so events use the binary encoding of
// object records rather than the JSON they were first written in: a
// version byte, then the fields. An outbox written by an earlier version
// may still hold JSON events, which start with '{'.
const eventRecordV1 = 1

func encodeEvent(ev *sluice.Event) []byte {
	w := recordWriter{buf: make([]byte, 0, 160+len(ev.Key)+len(ev.Bucket))}
	w.byte(eventRecordV1)
	w.uvarint(ev.Seq)
	w.string(ev.Name)
	w.time(ev.Time)
	w.string(ev.Region)
	w.string(ev.Bucket)
	w.string(ev.Key)
	w.varint(ev.Size)
	w.string(ev.ETag)
	w.string(ev.VersionID)
	w.string(ev.Sequencer)
	r := &ev.Request
	w.string(r.ID)
	w.string(r.HostID)
	w.string(r.SourceIP)
	w.string(r.Principal)
	w.string(r.Region)
	return w.buf
}

func decodeEvent(v []byte, ev *sluice.Event) error {
	if len(v) > 0 && v[0] == '{' {
		return json.Unmarshal(v, ev)
	}
	d := recordReader{buf: v}
	if d.byte() != eventRecordV1 {
		return errCorrupt
	}
	ev.Seq = d.uvarint()
	ev.Name = d.string()
	ev.Time = d.time()
	ev.Region = d.string()
	ev.Bucket = d.string()
	ev.Key = d.string()
	ev.Size = d.varint()
	ev.ETag = d.string()
	ev.VersionID = d.string()
	ev.Sequencer = d.string()
	r := &ev.Request
	r.ID = d.string()
	r.HostID = d.string()
	r.SourceIP = d.string()
	r.Principal = d.string()
	r.Region = d.string()
	if d.err == nil && len(d.buf) != 0 {
		return errCorrupt
	}
	return d.err
}

// sequencer renders seq as S3 event sequencers read: 16 upper-case hex
// digits.
func sequencer(seq uint64) string {
	var b [16]byte
	for i := len(b) - 1; i >= 0; i-- {
		b[i] = "0123456789ABCDEF"[seq&15]
		seq >>= 4
	}
	return string(b[:])
}

// events returns the batch a change made on behalf of ctx appends its
// events to.
func (s *Store) events(ctx context.Context) eventBatch {
	return eventBatch{record: s.cfg.RecordEvents, req: sluice.RequestInfoFrom(ctx), regions: &s.regions, versioned: &s.versioned}
}

// ReadEvents returns up to limit events with Seq > after in commit order,
// waiting until one exists or ctx is done.
func (s *Store) ReadEvents(ctx context.Context, after uint64, limit int) ([]sluice.Event, error) {
	if limit <= 0 {
		limit = 1000
	}
	for {
		s.evMu.Lock()
		wake := s.evCh
		s.evMu.Unlock()
		var out []sluice.Event
		err := s.db.View(func(tx *bolt.Tx) error {
			c := tx.Bucket(rootEvents).Cursor()
			for k, v := c.Seek(seqKey(after + 1)); k != nil && len(out) < limit; k, v = c.Next() {
				var ev sluice.Event
				if err := decodeEvent(v, &ev); err != nil {
					return fmt.Errorf("decode event %d: %w", binary.BigEndian.Uint64(k), err)
				}
				out = append(out, ev)
			}
			return nil
		})
		if err != nil || len(out) > 0 {
			return out, err
		}
		select {
		case <-wake:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// AckEvents records that consumer handled every event up to seq, then prunes
// the events every registered consumer has acknowledged. A cursor never
// moves backwards. It returns once the acknowledgement is durable.
//
// The acknowledgement is a lazy change: it joins the next group a write
// leads rather than leading one of its own, so a consumer that acknowledges
// after every write (the notifier does) adds no commit, and no fsyncs, to
// the writes it follows; with no write coming it commits on its own after
// a few milliseconds.
func (s *Store) AckEvents(ctx context.Context, consumer string, seq uint64) error {
	if consumer == "" {
		return sluice.Errorf(sluice.ErrInvalidArgument, "consumer name must not be empty")
	}
	return s.commit(&commitReq{ev: s.events(ctx), lazy: true, fn: func(tx *bolt.Tx, _ *eventBatch) error {
		seq := seq
		cursors := tx.Bucket(rootCursors)
		if v := cursors.Get([]byte(consumer)); len(v) == 8 && binary.BigEndian.Uint64(v) > seq {
			seq = binary.BigEndian.Uint64(v)
		}
		if err := cursors.Put([]byte(consumer), seqKey(seq)); err != nil {
			return err
		}
		low := seq
		if err := cursors.ForEach(func(_, v []byte) error {
			if len(v) == 8 {
				low = min(low, binary.BigEndian.Uint64(v))
			}
			return nil
		}); err != nil {
			return err
		}
		// Collect first: deleting under a bbolt cursor can skip entries.
		events := tx.Bucket(rootEvents)
		var done [][]byte
		c := events.Cursor()
		for k, _ := c.First(); k != nil && binary.BigEndian.Uint64(k) <= low; k, _ = c.Next() {
			done = append(done, slices.Clone(k))
		}
		for _, k := range done {
			if err := events.Delete(k); err != nil {
				return err
			}
		}
		return nil
	}})
}

// Cursor returns the last seq consumer acknowledged; the first call
// registers the consumer, so events are kept for it from then on.
func (s *Store) Cursor(ctx context.Context, consumer string) (uint64, error) {
	if consumer == "" {
		return 0, sluice.Errorf(sluice.ErrInvalidArgument, "consumer name must not be empty")
	}
	var seq uint64
	found := false
	err := s.db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(rootCursors).Get([]byte(consumer)); len(v) == 8 {
			seq, found = binary.BigEndian.Uint64(v), true
		}
		return nil
	})
	if err != nil || found {
		return seq, err
	}
	err = s.update(ctx, func(tx *bolt.Tx, _ *eventBatch) error {
		cursors := tx.Bucket(rootCursors)
		if v := cursors.Get([]byte(consumer)); len(v) == 8 {
			seq = binary.BigEndian.Uint64(v)
			return nil
		}
		return cursors.Put([]byte(consumer), seqKey(0))
	})
	return seq, err
}
