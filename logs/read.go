package logs

import (
	"container/heap"
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"strconv"
	"strings"

	bolt "go.etcd.io/bbolt"
)

// Pos is an event's place in the total order of all events: its timestamp
// (ms since the epoch) and a store-wide sequence number that breaks ties
// and makes every event's position unique.
type Pos struct {
	Time int64
	Seq  uint64
}

func (p Pos) less(q Pos) bool {
	return p.Time < q.Time || p.Time == q.Time && p.Seq < q.Seq
}

// key is the big-endian form that sorts like less; timestamps are stored
// with the sign bit flipped so that negative ones would still sort first.
func (p Pos) key() []byte {
	k := make([]byte, 16)
	binary.BigEndian.PutUint64(k, uint64(p.Time)^(1<<63))
	binary.BigEndian.PutUint64(k[8:], p.Seq)
	return k
}

func posFromKey(k []byte) Pos {
	if len(k) != 16 {
		return Pos{}
	}
	return Pos{Time: int64(binary.BigEndian.Uint64(k) ^ (1 << 63)), Seq: binary.BigEndian.Uint64(k[8:])}
}

// next is the smallest position after p; prev the largest before it.
func (p Pos) next() Pos {
	if p.Seq == math.MaxUint64 {
		return Pos{Time: p.Time + 1}
	}
	return Pos{Time: p.Time, Seq: p.Seq + 1}
}

func (p Pos) prev() Pos {
	if p.Seq == 0 && p.Time <= 0 {
		// No event has sequence 0, so "after (0, 0)" already includes
		// every event at time 0.
		return p
	}
	if p.Seq == 0 {
		return Pos{Time: p.Time - 1, Seq: math.MaxUint64}
	}
	return Pos{Time: p.Time, Seq: p.Seq - 1}
}

// EventID is the 56-digit decimal id CloudWatch gives events: the
// timestamp in 20 digits, then the sequence number in 36.
func (p Pos) EventID() string {
	if p.Time < 0 {
		return fmt.Sprintf("%020d%036d", 0, p.Seq)
	}
	return fmt.Sprintf("%020d%036d", p.Time, p.Seq)
}

// ParseEventID is the inverse of EventID.
func ParseEventID(id string) (Pos, bool) {
	if len(id) != 56 || strings.Trim(id, "0123456789") != "" {
		return Pos{}, false
	}
	ts, err1 := strconv.ParseInt(id[:20], 10, 64)
	seq, err2 := strconv.ParseUint(id[20:], 10, 64)
	if err1 != nil || err2 != nil {
		return Pos{}, false
	}
	return Pos{Time: ts, Seq: seq}, true
}

// StreamQuery selects events of one stream, in [Start, End) and strictly
// between After and Before when those are set.
type StreamQuery struct {
	Start, End    int64
	After, Before *Pos
	// Backward takes the newest Limit events instead of the oldest; they
	// are still returned oldest first.
	Backward bool
	// Limit and MaxBytes (messages plus 26 bytes each) bound the result.
	Limit    int
	MaxBytes int
}

// ReadStream returns events of one stream, oldest first.
func (s *Store) ReadStream(ctx context.Context, gname, sname string, q StreamQuery) ([]Event, error) {
	if err := s.flush(); err != nil {
		return nil, err
	}
	if _, err := s.streamExists(gname, sname); err != nil {
		return nil, err
	}
	if q.Limit <= 0 {
		q.Limit = MaxBatchEvents
	}
	if q.MaxBytes <= 0 {
		q.MaxBytes = MaxBatchBytes
	}
	lo, hi := Pos{Time: q.Start}, Pos{Time: q.End}
	if q.After != nil && lo.less(q.After.next()) {
		lo = q.After.next()
	}
	if q.Before != nil && q.Before.less(hi) {
		hi = *q.Before
	}
	var out []Event
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketEvents).Bucket([]byte(streamID(gname, sname)))
		if b == nil || !lo.less(hi) {
			return nil
		}
		c := b.Cursor()
		size := 0
		take := func(k, v []byte) bool {
			ingest, msg := decodeValue(v)
			if len(out) >= q.Limit || len(out) > 0 && size+len(msg)+eventOverhead > q.MaxBytes {
				return false
			}
			size += len(msg) + eventOverhead
			out = append(out, Event{Stream: sname, Pos: posFromKey(k), Message: msg, Ingestion: ingest})
			return true
		}
		loKey, hiKey := lo.key(), hi.key()
		if !q.Backward {
			for k, v := c.Seek(loKey); k != nil && string(k) < string(hiKey); k, v = c.Next() {
				if !take(k, v) {
					break
				}
			}
			return nil
		}
		k, v := c.Seek(hiKey)
		if k == nil {
			k, v = c.Last()
		} else {
			k, v = c.Prev()
		}
		for ; k != nil && string(k) >= string(loKey); k, v = c.Prev() {
			if string(k) >= string(hiKey) {
				continue
			}
			if !take(k, v) {
				break
			}
		}
		for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
			out[i], out[j] = out[j], out[i]
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read log stream %q: %w", sname, err)
	}
	return out, ctx.Err()
}

func (s *Store) streamExists(gname, sname string) (StreamInfo, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	g := s.groups[gname]
	if g == nil {
		return StreamInfo{}, errNoGroup()
	}
	st := g.streams[sname]
	if st == nil {
		return StreamInfo{}, errNoStream()
	}
	return st.info(sname), nil
}

// FilterQuery selects events across a group's streams.
type FilterQuery struct {
	// Streams names the streams to search (all when empty); StreamPrefix
	// narrows them by name.
	Streams      []string
	StreamPrefix string
	// Start and End bound timestamps, both inclusive as in FilterLogEvents.
	Start, End int64
	// After continues a previous page.
	After *Pos
	// Match selects messages; nil matches all.
	Match func(message string) bool
	// Limit and MaxBytes bound the result, MaxScan the events examined.
	Limit, MaxBytes, MaxScan int
}

// FilterResult is one page of FilterLogEvents.
type FilterResult struct {
	Events []Event
	// Next is where the next page starts; nil when the search is complete.
	Next *Pos

	scanned Pos
}

// Filter returns the matching events of a group, interleaved by time.
func (s *Store) Filter(ctx context.Context, gname string, q FilterQuery) (FilterResult, error) {
	if err := s.flush(); err != nil {
		return FilterResult{}, err
	}
	if q.Limit <= 0 {
		q.Limit = MaxBatchEvents
	}
	if q.MaxBytes <= 0 {
		q.MaxBytes = MaxBatchBytes
	}
	if q.MaxScan <= 0 {
		q.MaxScan = 1 << 20
	}
	lo := Pos{Time: q.Start}
	if q.After != nil && lo.less(q.After.next()) {
		lo = q.After.next()
	}
	s.mu.RLock()
	g := s.groups[gname]
	if g == nil {
		s.mu.RUnlock()
		return FilterResult{}, errNoGroup()
	}
	var names []string
	if len(q.Streams) > 0 {
		for _, n := range q.Streams {
			if st := g.streams[n]; st != nil && st.Count > 0 && st.Last >= lo.Time && st.First <= q.End {
				names = append(names, n)
			}
		}
	} else {
		for n, st := range g.streams {
			if strings.HasPrefix(n, q.StreamPrefix) && st.Count > 0 && st.Last >= lo.Time && st.First <= q.End {
				names = append(names, n)
			}
		}
	}
	s.mu.RUnlock()

	var res FilterResult
	err := s.db.View(func(tx *bolt.Tx) error {
		eb := tx.Bucket(bucketEvents)
		h := &cursorHeap{}
		loKey := lo.key()
		for _, n := range names {
			b := eb.Bucket([]byte(streamID(gname, n)))
			if b == nil {
				continue
			}
			c := b.Cursor()
			k, v := c.Seek(loKey)
			if k != nil {
				h.items = append(h.items, &streamCursor{name: n, c: c, k: k, v: v})
			}
		}
		heap.Init(h)
		size, scanned := 0, 0
		for h.Len() > 0 {
			sc := h.items[0]
			pos := posFromKey(sc.k)
			if pos.Time > q.End {
				break
			}
			if len(res.Events) >= q.Limit || scanned >= q.MaxScan {
				p := res.lastPos(lo)
				res.Next = &p
				break
			}
			ingest, msg := decodeValue(sc.v)
			if q.Match == nil || q.Match(msg) {
				if len(res.Events) > 0 && size+len(msg)+eventOverhead > q.MaxBytes {
					p := res.lastPos(lo)
					res.Next = &p
					break
				}
				size += len(msg) + eventOverhead
				res.Events = append(res.Events, Event{Stream: sc.name, Pos: pos, Message: msg, Ingestion: ingest})
			}
			scanned++
			res.scanned = pos
			sc.k, sc.v = sc.c.Next()
			if sc.k == nil {
				heap.Pop(h)
			} else {
				heap.Fix(h, 0)
			}
			if scanned%4096 == 0 && ctx.Err() != nil {
				return ctx.Err()
			}
		}
		return nil
	})
	if err != nil {
		return FilterResult{}, fmt.Errorf("filter log group %q: %w", gname, err)
	}
	return res, nil
}

// lastPos is where a page that stopped early continues: after the last
// examined event (which may not have matched), or before lo when none was.
func (r *FilterResult) lastPos(lo Pos) Pos {
	if r.scanned != (Pos{}) {
		return r.scanned
	}
	return lo.prev()
}

type streamCursor struct {
	name string
	c    *bolt.Cursor
	k, v []byte
}

type cursorHeap struct{ items []*streamCursor }

func (h *cursorHeap) Len() int           { return len(h.items) }
func (h *cursorHeap) Less(i, j int) bool { return string(h.items[i].k) < string(h.items[j].k) }
func (h *cursorHeap) Swap(i, j int)      { h.items[i], h.items[j] = h.items[j], h.items[i] }
func (h *cursorHeap) Push(x any)         { h.items = append(h.items, x.(*streamCursor)) }
func (h *cursorHeap) Pop() any {
	x := h.items[len(h.items)-1]
	h.items = h.items[:len(h.items)-1]
	return x
}
