// Package logs owns Sluice's log storage and its CloudWatch Logs compatible
// API: log groups, log streams and their events, kept durably in one bbolt
// file (Dir/logs.db), with retention policies enforced in the background.
//
// Writes are buffered: PutLogEvents appends to an in-memory batch that is
// committed every FlushInterval or as soon as FlushEvents events are waiting,
// so that a function printing line by line costs one commit per batch, not
// one per line. Every read commits the waiting batch first, so a read that
// starts after a write returned always sees it.
//
// A Store is safe for concurrent use. Metadata (groups, streams, their
// timestamps and sizes) lives in memory under mu and is persisted with each
// batch; flushMu serializes commits, deletions and retention so that they
// never interleave.
package logs

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	bolt "go.etcd.io/bbolt"

	"github.com/sluicehq/sluice"
)

// AWS limits for events and batches.
const (
	// MaxEventSize is the largest message of one event, in bytes (256 KB
	// less the 26 bytes CloudWatch counts for every event).
	MaxEventSize = 256<<10 - eventOverhead
	// MaxBatchBytes bounds one PutLogEvents request: messages plus 26
	// bytes per event.
	MaxBatchBytes = 1 << 20
	// MaxBatchEvents bounds the events of one PutLogEvents request.
	MaxBatchEvents = 10000
	eventOverhead  = 26
)

// Config configures a Store.
type Config struct {
	// Dir holds logs.db; it is created when missing.
	Dir string
	// MaxEventSize bounds one message; longer lines written through
	// PutLogEvents are split into several events, API writes are refused.
	MaxEventSize int
	// FlushInterval is the longest a written event waits in memory before
	// it is committed.
	FlushInterval time.Duration
	// FlushEvents commits the batch as soon as this many events wait.
	FlushEvents int
	// RetentionInterval is how often Serve deletes events older than their
	// group's retention.
	RetentionInterval time.Duration
	// Now is the clock (ingestion times, retention); tests may pin it.
	Now func() time.Time
	// NoSync skips fsync on commit: for tests and throwaway data only, a
	// crash may then lose or corrupt the file.
	NoSync bool
}

// DefaultConfig returns the defaults; the caller sets Dir.
func DefaultConfig() Config {
	return Config{
		MaxEventSize:      MaxEventSize,
		FlushInterval:     50 * time.Millisecond,
		FlushEvents:       2000,
		RetentionInterval: time.Minute,
		Now:               time.Now,
	}
}

// Validate reports the first invalid setting by name.
func (c Config) Validate() error {
	if c.Dir == "" {
		return errors.New("logs: Dir: must not be empty")
	}
	if c.MaxEventSize < 1024 || c.MaxEventSize > MaxEventSize {
		return fmt.Errorf("logs: MaxEventSize: %d is outside 1024..%d", c.MaxEventSize, MaxEventSize)
	}
	if c.FlushInterval <= 0 || c.FlushInterval > time.Minute {
		return fmt.Errorf("logs: FlushInterval: %v is outside (0, 1m]", c.FlushInterval)
	}
	if c.FlushEvents < 1 {
		return fmt.Errorf("logs: FlushEvents: %d is not positive", c.FlushEvents)
	}
	if c.RetentionInterval <= 0 {
		return fmt.Errorf("logs: RetentionInterval: %v is not positive", c.RetentionInterval)
	}
	if c.Now == nil {
		return errors.New("logs: Now: no clock")
	}
	return nil
}

var (
	bucketGroups  = []byte("groups")  // group name → groupRecord
	bucketStreams = []byte("streams") // group \x00 stream → streamRecord
	bucketEvents  = []byte("events")  // group \x00 stream → bucket of key → value
	bucketMeta    = []byte("meta")
	keySeq        = []byte("seq")
)

type groupRecord struct {
	Created   int64 `json:"created"`
	Retention int32 `json:"retention,omitempty"`
}

type streamRecord struct {
	Created    int64 `json:"created"`
	First      int64 `json:"first,omitempty"`
	Last       int64 `json:"last,omitempty"`
	LastIngest int64 `json:"lastIngest,omitempty"`
	Bytes      int64 `json:"bytes,omitempty"`
	Count      int64 `json:"count,omitempty"`
}

type group struct {
	groupRecord
	streams map[string]*stream
	dirty   bool
}

type stream struct {
	streamRecord
	dirty bool
}

type pendingEvent struct {
	pos    Pos
	ingest int64
	msg    string
}

// Store is durable log storage.
type Store struct {
	cfg Config
	db  *bolt.DB
	log *slog.Logger

	flushMu sync.Mutex // serializes commits, deletions and retention

	mu       sync.RWMutex
	groups   map[string]*group
	seq      uint64
	pending  map[string][]pendingEvent // by streamID
	npending int
	timer    *time.Timer
	closed   bool
}

// GroupInfo describes a log group.
type GroupInfo struct {
	Name          string
	Created       int64 // ms since the epoch
	RetentionDays int32 // 0: never expire
	StoredBytes   int64
}

// StreamInfo describes a log stream. First and Last are zero while the
// stream has no events.
type StreamInfo struct {
	Name        string
	Created     int64
	First, Last int64
	LastIngest  int64
	StoredBytes int64
}

// Event is one stored log event.
type Event struct {
	Stream    string
	Pos       Pos
	Message   string
	Ingestion int64
}

// Open opens (or creates) the store in cfg.Dir.
func Open(cfg Config, log *slog.Logger) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("create logs directory: %w", err)
	}
	path := filepath.Join(cfg.Dir, "logs.db")
	db, err := bolt.Open(path, 0o644, &bolt.Options{Timeout: 2 * time.Second, FreelistType: bolt.FreelistMapType, NoFreelistSync: true})
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	db.NoSync = cfg.NoSync
	s := &Store{cfg: cfg, db: db, log: log, groups: map[string]*group{}, pending: map[string][]pendingEvent{}}
	if err := s.load(); err != nil {
		db.Close()
		return nil, fmt.Errorf("load %s: %w", path, err)
	}
	return s, nil
}

func (s *Store) load() error {
	return s.db.Update(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{bucketGroups, bucketStreams, bucketEvents, bucketMeta} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		if v := tx.Bucket(bucketMeta).Get(keySeq); len(v) == 8 {
			s.seq = binary.BigEndian.Uint64(v)
		}
		err := tx.Bucket(bucketGroups).ForEach(func(k, v []byte) error {
			g := &group{streams: map[string]*stream{}}
			if err := json.Unmarshal(v, &g.groupRecord); err != nil {
				return fmt.Errorf("group %q: %w", k, err)
			}
			s.groups[string(k)] = g
			return nil
		})
		if err != nil {
			return err
		}
		return tx.Bucket(bucketStreams).ForEach(func(k, v []byte) error {
			gname, sname, ok := strings.Cut(string(k), "\x00")
			g := s.groups[gname]
			if !ok || g == nil {
				return nil
			}
			st := &stream{}
			if err := json.Unmarshal(v, &st.streamRecord); err != nil {
				return fmt.Errorf("stream %q: %w", k, err)
			}
			g.streams[sname] = st
			return nil
		})
	})
}

// Close commits waiting events and closes the file.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	if s.timer != nil {
		s.timer.Stop()
	}
	s.mu.Unlock()
	ferr := s.flush()
	s.flushMu.Lock()
	defer s.flushMu.Unlock()
	return errors.Join(ferr, s.db.Close())
}

func streamID(group, stream string) string { return group + "\x00" + stream }

var errClosed = errors.New("logs: store is closed")

// PutLogEvents appends events to a stream, creating the group and the
// stream on first use as Lambda does. It is the sink the function host
// writes to: events may come in any order, messages longer than
// MaxEventSize are split. The events are durable within FlushInterval and
// visible to every read that starts after PutLogEvents returns.
func (s *Store) PutLogEvents(ctx context.Context, group, stream string, events []sluice.LogEvent) error {
	if err := checkName(group, stream); err != nil {
		return err
	}
	now := s.cfg.Now().UnixMilli()
	recs := make([]inputEvent, 0, len(events))
	for _, e := range events {
		ts := e.Time.UnixMilli()
		if e.Time.IsZero() || ts < 0 {
			ts = now
		}
		msg := e.Message
		for len(msg) > s.cfg.MaxEventSize {
			cut := s.cfg.MaxEventSize
			for cut > 0 && !utf8.RuneStart(msg[cut]) {
				cut--
			}
			if cut == 0 {
				cut = s.cfg.MaxEventSize
			}
			recs = append(recs, inputEvent{ts, msg[:cut]})
			msg = msg[cut:]
		}
		recs = append(recs, inputEvent{ts, msg})
	}
	_, err := s.append(group, stream, recs, true)
	return err
}

// checkName rejects names the key layout cannot hold.
func checkName(group, stream string) error {
	if group == "" || stream == "" || strings.ContainsRune(group, 0) || strings.ContainsRune(stream, 0) {
		return sluice.Errorf(sluice.ErrInvalidParameter, "log group and stream names must be non-empty and contain no NUL")
	}
	return nil
}

type inputEvent struct {
	ts  int64
	msg string
}

// append queues events for a stream and returns the position of the last.
// Without create, the group and the stream must exist.
func (s *Store) append(gname, sname string, events []inputEvent, create bool) (Pos, error) {
	now := s.cfg.Now().UnixMilli()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return Pos{}, errClosed
	}
	g := s.groups[gname]
	if g == nil {
		if !create {
			s.mu.Unlock()
			return Pos{}, errNoGroup()
		}
		g = &group{groupRecord: groupRecord{Created: now}, streams: map[string]*stream{}, dirty: true}
		s.groups[gname] = g
	}
	st := g.streams[sname]
	if st == nil {
		if !create {
			s.mu.Unlock()
			return Pos{}, errNoStream()
		}
		st = &stream{streamRecord: streamRecord{Created: now}, dirty: true}
		g.streams[sname] = st
	}
	var last Pos
	if len(events) > 0 {
		id := streamID(gname, sname)
		q := s.pending[id]
		for _, e := range events {
			s.seq++
			last = Pos{Time: e.ts, Seq: s.seq}
			q = append(q, pendingEvent{pos: last, ingest: now, msg: e.msg})
			if st.Count == 0 || e.ts < st.First {
				st.First = e.ts
			}
			if e.ts > st.Last {
				st.Last = e.ts
			}
			st.Count++
			st.Bytes += int64(len(e.msg))
		}
		st.LastIngest = now
		st.dirty = true
		s.pending[id] = q
		s.npending += len(events)
	}
	full := s.npending >= s.cfg.FlushEvents
	if !full && s.timer == nil && (s.npending > 0 || g.dirty || st.dirty) {
		s.timer = time.AfterFunc(s.cfg.FlushInterval, s.timedFlush)
	}
	s.mu.Unlock()
	if full {
		if err := s.flush(); err != nil {
			return last, err
		}
	}
	return last, nil
}

func (s *Store) timedFlush() {
	s.mu.Lock()
	s.timer = nil
	s.mu.Unlock()
	if err := s.flush(); err != nil && !errors.Is(err, bolt.ErrDatabaseNotOpen) {
		s.log.Error("commit log events", "err", err)
	}
}

// flush commits waiting events and changed metadata.
func (s *Store) flush() error {
	s.flushMu.Lock()
	defer s.flushMu.Unlock()
	return s.flushLocked()
}

type metaWrite struct {
	key []byte
	val []byte
}

func (s *Store) flushLocked() error {
	s.mu.Lock()
	batch := s.pending
	n := s.npending
	var groups, streams []metaWrite
	for gname, g := range s.groups {
		if g.dirty {
			v, _ := json.Marshal(g.groupRecord)
			groups = append(groups, metaWrite{[]byte(gname), v})
			g.dirty = false
		}
		for sname, st := range g.streams {
			if st.dirty {
				v, _ := json.Marshal(st.streamRecord)
				streams = append(streams, metaWrite{[]byte(streamID(gname, sname)), v})
				st.dirty = false
			}
		}
	}
	seq := s.seq
	if n == 0 && len(groups) == 0 && len(streams) == 0 {
		s.mu.Unlock()
		return nil
	}
	s.pending = map[string][]pendingEvent{}
	s.npending = 0
	s.mu.Unlock()

	err := s.db.Update(func(tx *bolt.Tx) error {
		gb, sb, eb := tx.Bucket(bucketGroups), tx.Bucket(bucketStreams), tx.Bucket(bucketEvents)
		for _, w := range groups {
			if err := gb.Put(w.key, w.val); err != nil {
				return err
			}
		}
		for _, w := range streams {
			if err := sb.Put(w.key, w.val); err != nil {
				return err
			}
		}
		for id, evs := range batch {
			b, err := eb.CreateBucketIfNotExists([]byte(id))
			if err != nil {
				return err
			}
			// Events mostly arrive in time order: appending in key order
			// lets bbolt fill pages instead of splitting them.
			sort.Slice(evs, func(i, j int) bool { return evs[i].pos.less(evs[j].pos) })
			b.FillPercent = 0.9
			for _, e := range evs {
				if err := b.Put(e.pos.key(), encodeValue(e.ingest, e.msg)); err != nil {
					return err
				}
			}
		}
		var v [8]byte
		binary.BigEndian.PutUint64(v[:], seq)
		return tx.Bucket(bucketMeta).Put(keySeq, v[:])
	})
	if err != nil {
		// Keep the batch for the next attempt rather than lose it.
		s.mu.Lock()
		for id, evs := range batch {
			s.pending[id] = append(evs, s.pending[id]...)
		}
		s.npending += n
		for _, w := range groups {
			if g := s.groups[string(w.key)]; g != nil {
				g.dirty = true
			}
		}
		for _, w := range streams {
			gname, sname, _ := strings.Cut(string(w.key), "\x00")
			if g := s.groups[gname]; g != nil && g.streams[sname] != nil {
				g.streams[sname].dirty = true
			}
		}
		s.mu.Unlock()
		return fmt.Errorf("commit log events: %w", err)
	}
	return nil
}

func encodeValue(ingest int64, msg string) []byte {
	v := make([]byte, 8+len(msg))
	binary.BigEndian.PutUint64(v, uint64(ingest))
	copy(v[8:], msg)
	return v
}

func decodeValue(v []byte) (ingest int64, msg string) {
	if len(v) < 8 {
		return 0, ""
	}
	return int64(binary.BigEndian.Uint64(v)), string(v[8:])
}

// Sync commits every waiting event now.
func (s *Store) Sync() error { return s.flush() }

// CreateLogGroup creates an empty group.
func (s *Store) CreateLogGroup(ctx context.Context, name string) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return errClosed
	}
	if s.groups[name] != nil {
		s.mu.Unlock()
		return sluice.Errorf(sluice.ErrResourceAlreadyExists, "The specified log group already exists")
	}
	s.groups[name] = &group{groupRecord: groupRecord{Created: s.cfg.Now().UnixMilli()}, streams: map[string]*stream{}, dirty: true}
	s.mu.Unlock()
	return s.flush()
}

// CreateLogStream creates an empty stream in an existing group.
func (s *Store) CreateLogStream(ctx context.Context, gname, sname string) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return errClosed
	}
	g := s.groups[gname]
	if g == nil {
		s.mu.Unlock()
		return errNoGroup()
	}
	if g.streams[sname] != nil {
		s.mu.Unlock()
		return sluice.Errorf(sluice.ErrResourceAlreadyExists, "The specified log stream already exists")
	}
	g.streams[sname] = &stream{streamRecord: streamRecord{Created: s.cfg.Now().UnixMilli()}, dirty: true}
	s.mu.Unlock()
	return s.flush()
}

// PutRetentionPolicy sets a group's retention in days (0 removes it).
func (s *Store) PutRetentionPolicy(ctx context.Context, gname string, days int32) error {
	s.mu.Lock()
	g := s.groups[gname]
	if g == nil {
		s.mu.Unlock()
		return errNoGroup()
	}
	g.Retention = days
	g.dirty = true
	s.mu.Unlock()
	return s.flush()
}

// DeleteLogGroup deletes a group with its streams and events.
func (s *Store) DeleteLogGroup(ctx context.Context, gname string) error {
	s.flushMu.Lock()
	defer s.flushMu.Unlock()
	s.mu.Lock()
	g := s.groups[gname]
	if g == nil {
		s.mu.Unlock()
		return errNoGroup()
	}
	delete(s.groups, gname)
	for sname := range g.streams {
		id := streamID(gname, sname)
		s.npending -= len(s.pending[id])
		delete(s.pending, id)
	}
	s.mu.Unlock()
	err := s.db.Update(func(tx *bolt.Tx) error {
		if err := tx.Bucket(bucketGroups).Delete([]byte(gname)); err != nil {
			return err
		}
		prefix := []byte(gname + "\x00")
		var ids [][]byte
		c := tx.Bucket(bucketStreams).Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			ids = append(ids, bytes.Clone(k))
		}
		for _, id := range ids {
			if err := tx.Bucket(bucketStreams).Delete(id); err != nil {
				return err
			}
			if err := tx.Bucket(bucketEvents).DeleteBucket(id); err != nil && !errors.Is(err, bolt.ErrBucketNotFound) {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("delete log group %q: %w", gname, err)
	}
	return nil
}

// DeleteLogStream deletes a stream and its events.
func (s *Store) DeleteLogStream(ctx context.Context, gname, sname string) error {
	s.flushMu.Lock()
	defer s.flushMu.Unlock()
	s.mu.Lock()
	g := s.groups[gname]
	if g == nil {
		s.mu.Unlock()
		return errNoGroup()
	}
	if g.streams[sname] == nil {
		s.mu.Unlock()
		return errNoStream()
	}
	delete(g.streams, sname)
	id := streamID(gname, sname)
	s.npending -= len(s.pending[id])
	delete(s.pending, id)
	s.mu.Unlock()
	err := s.db.Update(func(tx *bolt.Tx) error {
		if err := tx.Bucket(bucketStreams).Delete([]byte(id)); err != nil {
			return err
		}
		if err := tx.Bucket(bucketEvents).DeleteBucket([]byte(id)); err != nil && !errors.Is(err, bolt.ErrBucketNotFound) {
			return err
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("delete log stream %q: %w", sname, err)
	}
	return nil
}

// LogGroups lists the groups whose names start with prefix, sorted by name.
func (s *Store) LogGroups(prefix string) []GroupInfo {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []GroupInfo
	for name, g := range s.groups {
		if !strings.HasPrefix(name, prefix) {
			continue
		}
		gi := GroupInfo{Name: name, Created: g.Created, RetentionDays: g.Retention}
		for _, st := range g.streams {
			gi.StoredBytes += st.Bytes
		}
		out = append(out, gi)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// LogGroup describes one group.
func (s *Store) LogGroup(name string) (GroupInfo, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	g := s.groups[name]
	if g == nil {
		return GroupInfo{}, errNoGroup()
	}
	gi := GroupInfo{Name: name, Created: g.Created, RetentionDays: g.Retention}
	for _, st := range g.streams {
		gi.StoredBytes += st.Bytes
	}
	return gi, nil
}

// LogStreams lists a group's streams, sorted by name.
func (s *Store) LogStreams(gname string) ([]StreamInfo, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	g := s.groups[gname]
	if g == nil {
		return nil, errNoGroup()
	}
	out := make([]StreamInfo, 0, len(g.streams))
	for name, st := range g.streams {
		out = append(out, st.info(name))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func (st *stream) info(name string) StreamInfo {
	si := StreamInfo{Name: name, Created: st.Created, LastIngest: st.LastIngest, StoredBytes: st.Bytes}
	if st.Count > 0 {
		si.First, si.Last = st.First, st.Last
	}
	return si
}

func errNoGroup() error {
	return sluice.Errorf(sluice.ErrResourceNotFound, "The specified log group does not exist.")
}

func errNoStream() error {
	return sluice.Errorf(sluice.ErrResourceNotFound, "The specified log stream does not exist.")
}
