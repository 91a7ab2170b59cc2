// Package cdncache is the edge's cache store: a memory tier bounded in
// bytes (otter, W-TinyLFU) over an optional disk tier that survives
// restarts, with invalidation by path or prefix and collapsing of
// concurrent fills.
//
// # Tiers
//
// Every stored entry of a cache with a Dir lives in a file of its own (see
// disk.go for the format); the memory tier holds the entries of at most
// MemoryBytes/8 bytes among them, so memory is a subset of disk. Larger
// entries are read from their file on every Get. A memory-only cache (Dir
// "") holds entries of at most MemoryBytes/8 bytes and nothing else.
//
// The index of what is stored lives in memory: per scope, a map from path
// to its variants plus the paths in order, so an exact invalidation costs
// O(variants) and a prefix invalidation O(log n + m) for m matching
// entries. With a Dir it is rebuilt at start from the files' own headers;
// files written to a temporary name and renamed, with a length and two
// CRC-32C checksums, make a crash (kill -9 included) leave either a whole
// entry or nothing usable: a torn or corrupt file is a miss and is removed.
// Lookup also returns a BodyRef to an entry's body in its file, so that
// the edge can send large hits with sendfile(2) from the page cache
// (bodyfile.go). Past DiskBytes, the least recently accessed entries are
// evicted (hits record their access at most once a second; after a
// restart the files' modification times stand in). A cache holds a flock
// on its directory: a second cache on it fails to start.
//
// # Invalidation and fills
//
// Every invalidation takes the next value of a cache-wide generation and
// its scope remembers it (path, prefix or whole scope). A fill records the
// generation when it starts and is stored only if no remembered
// invalidation after that matches its key; a Fill arriving after such an
// invalidation starts a fresh fill instead of joining the older one. Files
// are removed before Invalidate returns, and their directories fsynced, so
// an invalidated entry never comes back.
//
// A fill runs on a goroutine of its own with context.WithoutCancel of the
// first caller's context (its values, none of its cancellation), bounded by
// Config.FillTimeout and by Close. A caller whose context ends stops
// waiting with ctx.Err(); the fill goes on for the other waiters and for
// the cache. The callers get the result once it is stored (or refused), so
// a Get after a Fill that stored finds the entry.
//
// # Concurrency
//
// All methods are safe for concurrent use. A memory hit takes no lock of
// ours. One mutex guards the index, the generations and the fills in
// flight; file reads and writes happen outside it, except for the rename
// that publishes a file. Entries handed to the cache (by Put or a fill) and
// returned by it are shared and must not be modified: clone Header before
// changing it.
package cdncache

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"os"
	"runtime"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/maypok86/otter/v2"

	"github.com/sluicehq/sluice"
)

// Config configures a Cache. A zero field takes its DefaultConfig value.
type Config struct {
	// MemoryBytes bounds the memory tier (entry sizes as defined by
	// MaxEntryBytes). Entries above MemoryBytes/8 never enter memory.
	MemoryBytes int64
	// Dir holds the disk tier; "" keeps the cache in memory only.
	Dir string
	// DiskBytes bounds the files of the disk tier; the least recently used
	// entries are evicted beyond it, down to 90% of it.
	DiskBytes int64
	// MaxEntryBytes is the largest entry stored: body, header, key and
	// ETag bytes together. Larger entries are served but never stored.
	MaxEntryBytes int64
	// FillTimeout bounds a fill, which outlives the cancellation of the
	// caller that started it.
	FillTimeout time.Duration
}

// DefaultConfig returns the defaults: 256 MiB of memory, 4 GiB of disk,
// 64 MiB entries, 2-minute fills, memory only.
func DefaultConfig() Config {
	return Config{
		MemoryBytes:   256 << 20,
		DiskBytes:     4 << 30,
		MaxEntryBytes: 64 << 20,
		FillTimeout:   2 * time.Minute,
	}
}

// maxEntryLimit bounds MaxEntryBytes: entries are whole []byte bodies.
const maxEntryLimit = 1 << 30

// Validate reports the first invalid setting. Zero means the default.
func (c Config) Validate() error {
	switch {
	case c.MemoryBytes < 0:
		return fmt.Errorf("cdncache: MemoryBytes: %d is negative", c.MemoryBytes)
	case c.DiskBytes < 0:
		return fmt.Errorf("cdncache: DiskBytes: %d is negative", c.DiskBytes)
	case c.MaxEntryBytes < 0 || c.MaxEntryBytes > maxEntryLimit:
		return fmt.Errorf("cdncache: MaxEntryBytes: %d is outside 0..%d", c.MaxEntryBytes, maxEntryLimit)
	case c.FillTimeout < 0:
		return fmt.Errorf("cdncache: FillTimeout: %v is negative", c.FillTimeout)
	}
	return nil
}

func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.MemoryBytes == 0 {
		c.MemoryBytes = d.MemoryBytes
	}
	if c.DiskBytes == 0 {
		c.DiskBytes = d.DiskBytes
	}
	if c.MaxEntryBytes == 0 {
		c.MaxEntryBytes = d.MaxEntryBytes
	}
	if c.FillTimeout == 0 {
		c.FillTimeout = d.FillTimeout
	}
	return c
}

// Key identifies a cached response.
type Key struct {
	// Scope is the distribution id.
	Scope string
	// Path is the URI path as served; invalidations match it.
	Path string
	// Variant is everything else the response depends on: the canonical
	// whitelisted query, the encoding, the negotiated image format.
	Variant string
}

// Entry is a cached response. Once handed to the cache it is shared and
// read-only.
type Entry struct {
	Status int
	Header http.Header
	// Body is the whole body.
	Body []byte
	// Stored is when the response was stored (Age counts from it); zero is
	// set to the time of Put or of the fill's end.
	Stored time.Time
	// Expires is when the entry goes stale. Get returns stale entries too:
	// the caller revalidates or refetches.
	Expires      time.Time
	ETag         string
	LastModified time.Time
}

// size is what an entry counts for against MemoryBytes and MaxEntryBytes.
func size(k Key, e *Entry) int64 {
	n := int64(len(e.Body)+len(k.Scope)+len(k.Path)+len(k.Variant)+len(e.ETag)) + 128
	for name, vs := range e.Header {
		n += int64(len(name)) + 16
		for _, v := range vs {
			n += int64(len(v)) + 16
		}
	}
	return n
}

// Stats are counters since New, and the tiers' current sizes.
type Stats struct {
	MemoryEntries int64
	MemoryBytes   int64
	DiskEntries   int64
	DiskBytes     int64

	Hits     int64 // Get found the key (either tier)
	DiskHits int64 // of Hits, those read from a file
	Misses   int64
	// Fills counts fill functions run; Collapsed, Fill calls that joined
	// one in flight instead.
	Fills     int64
	Collapsed int64
	// Stores counts entries stored by Put and fills; Rejected, those not
	// stored: too large, invalidated while filling, or a disk error.
	Stores   int64
	Rejected int64
	// Invalidated counts entries dropped by Invalidate and InvalidateScope.
	Invalidated int64
	// Evicted counts disk entries evicted for space (the memory tier evicts
	// silently: its entries stay on disk).
	Evicted int64
	// Corrupt counts files found torn or corrupt, and dropped.
	Corrupt int64
}

// memItem is the memory tier's value.
type memItem struct {
	e      *Entry
	r      *rec
	weight uint32
}

// call is one fill in flight.
type call struct {
	gen  uint64
	done chan struct{}
	e    *Entry
	err  error
}

// ErrClosed is returned by Fill after Close.
var ErrClosed = sluice.Errorf(sluice.ErrServiceUnavailable, "the edge cache is closed")

// Cache is the edge's cache store. Create it with New.
type Cache struct {
	cfg    Config
	log    *slog.Logger
	mem    *otter.Cache[Key, *memItem]
	memMax int64
	disk   *disk // nil for a memory-only cache

	mu sync.Mutex
	// gen is written under mu and read without it by Generation.
	gen         atomic.Uint64
	scopes      map[string]*scopeState
	calls       map[Key]*call
	diskBytes   int64
	diskEntries int64
	closed      bool

	// idleFiles counts the descriptors idle in every rec's fdPool.
	idleFiles atomic.Int64

	evicting atomic.Bool
	closeCtx context.Context
	closeFn  context.CancelFunc
	fills    sync.WaitGroup

	hits, diskHits, misses, nFills, collapsed       atomic.Int64
	stores, rejected, invalidated, evicted, corrupt atomic.Int64
}

// New creates a cache; with a Dir it loads the disk tier's index from the
// files there, dropping torn ones.
func New(cfg Config, log *slog.Logger) (*Cache, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	if log == nil {
		log = slog.Default()
	}
	c := &Cache{
		cfg:    cfg,
		log:    log,
		memMax: min(cfg.MemoryBytes/8, cfg.MaxEntryBytes, math.MaxUint32),
		scopes: make(map[string]*scopeState),
		calls:  make(map[Key]*call),
	}
	c.closeCtx, c.closeFn = context.WithCancel(context.Background())
	opts := &otter.Options[Key, *memItem]{
		MaximumWeight: uint64(cfg.MemoryBytes),
		Weigher:       func(_ Key, it *memItem) uint32 { return it.weight },
	}
	if cfg.Dir == "" {
		// Without files the index must forget what memory evicts. Only
		// evictions lock: invalidations and replacements already updated it.
		opts.OnDeletion = func(ev otter.DeletionEvent[Key, *memItem]) {
			if ev.WasEvicted() {
				c.mu.Lock()
				if ev.Value.r.file == "" {
					c.removeRecLocked(ev.Value.r)
				}
				c.mu.Unlock()
			}
		}
	}
	mem, err := otter.New(opts)
	if err != nil {
		return nil, fmt.Errorf("create memory tier: %w", err)
	}
	c.mem = mem
	if cfg.Dir != "" {
		c.disk, err = openDisk(cfg.Dir, cfg.MaxEntryBytes)
		if err != nil {
			return nil, err
		}
		if err := c.load(); err != nil {
			c.disk.close()
			return nil, err
		}
	}
	return c, nil
}

// load rebuilds the index from the files, reading the shards in parallel.
func (c *Cache) load() error {
	start := time.Now()
	names, err := c.disk.shards()
	if err != nil {
		return err
	}
	shards := make(chan string, len(names))
	for _, n := range names {
		shards <- n
	}
	close(shards)
	var (
		mu    sync.Mutex
		found []scanned
		first error
		wg    sync.WaitGroup
	)
	corrupt := func(name string, err error) {
		c.corrupt.Add(1)
		c.log.Warn("cdncache: dropping torn or corrupt cache file", "file", name, "err", err)
	}
	for range min(4, runtime.GOMAXPROCS(0)*2) {
		wg.Go(func() {
			for shard := range shards {
				s, err := c.disk.scanDir(shard, corrupt)
				mu.Lock()
				found = append(found, s...)
				if err != nil && first == nil {
					first = err
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if first != nil {
		return first
	}
	// A crash between publishing a replacement and removing the file it
	// replaced leaves two files for a key: the later write wins.
	slices.SortFunc(found, func(a, b scanned) int {
		if a.written != b.written {
			if a.written < b.written {
				return -1
			}
			return 1
		}
		return 0
	})
	c.mu.Lock()
	var stale []string
	for _, s := range found {
		r := &rec{key: s.key, file: s.name, size: s.size, bodyOff: s.bodyOff}
		r.access.Store(s.mtime)
		if old := c.scopeLocked(s.key.Scope).put(r); old != nil {
			c.closeFiles(old)
			c.diskBytes -= old.size
			c.diskEntries--
			stale = append(stale, old.file)
		}
		c.diskBytes += s.size
		c.diskEntries++
	}
	over := c.diskBytes > c.cfg.DiskBytes
	c.mu.Unlock()
	c.removeFiles(stale, false)
	if over {
		c.evictDisk()
	}
	c.log.Info("cdncache: disk tier loaded", "dir", c.cfg.Dir, "entries", c.diskEntries, "bytes", c.diskBytes,
		"elapsed", time.Since(start))
	return nil
}

func (c *Cache) scopeLocked(scope string) *scopeState {
	st := c.scopes[scope]
	if st == nil {
		st = newScopeState()
		c.scopes[scope] = st
	}
	return st
}

func (c *Cache) lookupLocked(k Key) *rec {
	if st := c.scopes[k.Scope]; st != nil {
		return st.get(k.Path, k.Variant)
	}
	return nil
}

// forgetLocked drops what the tiers hold for r, already out of the index,
// and returns its file name ("" for none).
func (c *Cache) forgetLocked(r *rec) string {
	c.mem.Invalidate(r.key)
	if r.file != "" {
		c.closeFiles(r)
		c.diskBytes -= r.size
		c.diskEntries--
	}
	return r.file
}

// removeRecLocked removes r if it is still current, and returns its file
// name, which the caller removes after unlocking.
func (c *Cache) removeRecLocked(r *rec) (string, bool) {
	st := c.scopes[r.key.Scope]
	if st == nil || !st.remove(r) {
		return "", false
	}
	return c.forgetLocked(r), true
}

// touch records an access for disk eviction, at most once a second per
// entry so that hot keys do not contend on one cache line.
func (r *rec) touch() {
	if r.file == "" {
		return
	}
	now := time.Now().UnixNano()
	if now-r.access.Load() > int64(time.Second) {
		r.access.Store(now)
	}
}

// Get returns the entry stored for k, from memory or else from disk
// (promoting it into memory when it fits). Stale entries are returned too.
func (c *Cache) Get(k Key) (*Entry, bool) {
	e, _, ok := c.Lookup(k)
	return e, ok
}

// Lookup is Get that also locates the entry's body in the disk tier, for
// sending it from its file (see BodyRef). The BodyRef is the zero one for a
// memory-only cache.
func (c *Cache) Lookup(k Key) (*Entry, BodyRef, bool) {
	e, ref, f := c.Peek(k)
	c.CountPeek(f)
	return e, ref, f != NotFound
}

// Found says where Peek found an entry.
type Found uint8

const (
	NotFound Found = iota
	FoundInMemory
	FoundOnDisk
)

// CountPeek counts the result of a Peek in the cache's statistics, as
// Lookup does. A caller that peeks and then leaves the request to code
// that looks the key up again counts nothing, so a lookup counts once.
func (c *Cache) CountPeek(f Found) {
	switch f {
	case NotFound:
		c.misses.Add(1)
	case FoundInMemory:
		c.hits.Add(1)
	case FoundOnDisk:
		c.hits.Add(1)
		c.diskHits.Add(1)
	}
}

// Peek is Lookup without counting the result in the statistics (see
// CountPeek).
func (c *Cache) Peek(k Key) (*Entry, BodyRef, Found) {
	if it, ok := c.mem.GetIfPresent(k); ok {
		it.r.touch()
		return it.e, BodyRef{c: c, r: it.r}, FoundInMemory
	}
	if c.disk == nil {
		return nil, BodyRef{}, NotFound
	}
	var r *rec
	var e *Entry
	// A second attempt covers a replacement that removed the file between
	// the lookup and the read.
	for attempt := 0; ; attempt++ {
		c.mu.Lock()
		r = c.lookupLocked(k)
		closed := c.closed
		c.mu.Unlock()
		if r == nil || closed {
			return nil, BodyRef{}, NotFound
		}
		var fk Key
		var err error
		fk, e, err = c.disk.read(r.file)
		if err == nil && fk != k {
			err = fmt.Errorf("file holds key %+v: %w", fk, errCorrupt)
		}
		if err == nil {
			break
		}
		if c.dropBroken(r, err) || attempt == 1 {
			return nil, BodyRef{}, NotFound
		}
	}
	r.touch()
	if w := size(k, e); w <= c.memMax {
		c.mu.Lock()
		// Identity proves that no invalidation or replacement happened
		// since the lookup: either would have replaced or removed r.
		if c.lookupLocked(k) == r && !c.closed {
			c.mem.Set(k, &memItem{e: e, r: r, weight: uint32(w)})
		}
		c.mu.Unlock()
	}
	return e, BodyRef{c: c, r: r}, FoundOnDisk
}

// dropBroken removes r after its file failed to read, and reports whether
// r was still current (false: it was invalidated or replaced meanwhile,
// which explains the failure).
func (c *Cache) dropBroken(r *rec, err error) bool {
	c.mu.Lock()
	name, ok := c.removeRecLocked(r)
	c.mu.Unlock()
	if !ok {
		return false
	}
	c.corrupt.Add(1)
	c.log.Warn("cdncache: dropping unreadable cache file", "file", name, "key", r.key.Path, "err", err)
	os.Remove(c.disk.path(name))
	return true
}

// Put stores e under k, replacing any entry. e is shared from now on.
// For an entry derived from another (a compressed copy), PutSince keeps an
// invalidation between the two from being undone.
func (c *Cache) Put(k Key, e *Entry) {
	if e == nil {
		return
	}
	if e.Stored.IsZero() {
		e.Stored = time.Now()
	}
	c.commit(k, e, 0, false)
}

// Generation returns the current invalidation generation, for PutSince.
func (c *Cache) Generation() uint64 { return c.gen.Load() }

// PutSince is Put unless an invalidation touching k happened after gen, a
// Generation taken before the entry e derives from was read or filled; it
// reports whether e was stored. The edge takes a Generation before its
// Get or Fill of the original and stores the compressed copy with it, so
// that a copy of an invalidated original is never stored.
func (c *Cache) PutSince(k Key, e *Entry, gen uint64) bool {
	if e == nil {
		return false
	}
	if e.Stored.IsZero() {
		e.Stored = time.Now()
	}
	return c.commit(k, e, gen, true)
}

// commit stores e under k; with check, only if no invalidation touching k
// took a generation above since.
func (c *Cache) commit(k Key, e *Entry, since uint64, check bool) bool {
	w := size(k, e)
	if w > c.cfg.MaxEntryBytes {
		c.rejected.Add(1)
		return false
	}
	inMem := w <= c.memMax
	var tmp string
	var fileSize int64
	if c.disk != nil {
		var err error
		tmp, fileSize, err = c.disk.writeTemp(k, e, time.Now().UnixNano())
		if err != nil {
			// Memory must stay a subset of disk, so nothing is stored.
			c.log.Warn("cdncache: cannot store entry on disk", "path", k.Path, "err", err)
			c.rejected.Add(1)
			return false
		}
	} else if !inMem {
		c.rejected.Add(1)
		return false
	}

	r := &rec{key: k}
	c.mu.Lock()
	if c.closed || (check && c.touchedLocked(k, since)) {
		c.mu.Unlock()
		if tmp != "" {
			os.Remove(tmp)
		}
		c.rejected.Add(1)
		return false
	}
	if tmp != "" {
		// The rename happens under the lock so that an invalidation sees
		// either no file or a file it will remove.
		name := c.disk.newName()
		if err := c.disk.publish(tmp, name); err != nil {
			c.mu.Unlock()
			os.Remove(tmp)
			c.log.Warn("cdncache: cannot publish cache file", "path", k.Path, "err", err)
			c.rejected.Add(1)
			return false
		}
		r.file, r.size, r.bodyOff = name, fileSize, fileSize-int64(len(e.Body))
		r.access.Store(time.Now().UnixNano())
		c.diskBytes += fileSize
		c.diskEntries++
	}
	var oldFile string
	if old := c.scopeLocked(k.Scope).put(r); old != nil && old.file != "" {
		c.closeFiles(old)
		oldFile = old.file
		c.diskBytes -= old.size
		c.diskEntries--
	}
	if inMem {
		it := &memItem{e: e, r: r, weight: uint32(w)}
		c.mem.Set(k, it)
	} else {
		c.mem.Invalidate(k)
	}
	over := c.disk != nil && c.diskBytes > c.cfg.DiskBytes
	c.mu.Unlock()
	if oldFile != "" {
		os.Remove(c.disk.path(oldFile))
	}
	c.stores.Add(1)
	if over {
		c.evictDisk()
	}
	return true
}

func (c *Cache) touchedLocked(k Key, since uint64) bool {
	if since == c.gen.Load() {
		return false
	}
	st := c.scopes[k.Scope]
	return st != nil && st.touchedSince(k.Path, since)
}

// Fill collapses concurrent fills of k into one call of fill, and gives
// every caller its result (shared is true for those that joined a fill in
// flight). The result is stored when fill says store and no invalidation
// touching k happened since the fill started; the callers get it either
// way. A Fill that arrives after such an invalidation starts a fresh fill.
//
// fill runs on its own goroutine with context.WithoutCancel(ctx) bounded by
// Config.FillTimeout and Close: the first caller's cancellation ends only
// its own wait (with ctx.Err()), never the fill of the others. A panic in
// fill becomes an error.
func (c *Cache) Fill(ctx context.Context, k Key, fill func(ctx context.Context) (e *Entry, store bool, err error)) (*Entry, bool, error) {
	if err := ctx.Err(); err != nil {
		return nil, false, err
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, false, ErrClosed
	}
	if cl := c.calls[k]; cl != nil && !c.touchedLocked(k, cl.gen) {
		c.mu.Unlock()
		c.collapsed.Add(1)
		return wait(ctx, cl, true)
	}
	cl := &call{gen: c.gen.Load(), done: make(chan struct{})}
	c.calls[k] = cl
	c.fills.Add(1)
	c.mu.Unlock()
	c.nFills.Add(1)

	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.cfg.FillTimeout)
	stop := context.AfterFunc(c.closeCtx, cancel)
	go func() {
		defer c.fills.Done()
		defer cancel()
		defer stop()
		c.run(fctx, k, cl, fill)
	}()
	return wait(ctx, cl, false)
}

func wait(ctx context.Context, cl *call, shared bool) (*Entry, bool, error) {
	select {
	case <-cl.done:
		return cl.e, shared, cl.err
	case <-ctx.Done():
		select {
		case <-cl.done:
			return cl.e, shared, cl.err
		default:
			return nil, shared, ctx.Err()
		}
	}
}

func (c *Cache) run(ctx context.Context, k Key, cl *call, fill func(context.Context) (*Entry, bool, error)) {
	e, store, err := protect(ctx, fill)
	if err == nil && e == nil {
		err = fmt.Errorf("fill %s %s: returned no entry and no error", k.Scope, k.Path)
	}
	if err == nil {
		if e.Stored.IsZero() {
			e.Stored = time.Now()
		}
		if store {
			c.commit(k, e, cl.gen, true)
		}
	}
	cl.e, cl.err = e, err
	c.mu.Lock()
	if c.calls[k] == cl {
		delete(c.calls, k)
	}
	c.mu.Unlock()
	close(cl.done)
}

func protect(ctx context.Context, fill func(context.Context) (*Entry, bool, error)) (e *Entry, store bool, err error) {
	defer func() {
		if p := recover(); p != nil {
			e, store, err = nil, false, fmt.Errorf("cache fill panicked: %v", p)
		}
	}()
	return fill(ctx)
}

// Invalidate drops every variant of path in scope, or with prefix every
// variant of every path starting with path, from both tiers, and returns
// how many entries it dropped. Fills in flight for those keys will not be
// stored. It costs O(variants) for a path and O(log n + m) for a prefix
// matching m entries, plus the removal of their files, which is done (and
// the directories fsynced) before it returns.
func (c *Cache) Invalidate(scope, path string, prefix bool) int {
	return c.invalidate(scope, invalidation{path: path, prefix: prefix})
}

// InvalidateScope drops every entry of scope (a distribution) and returns
// how many it dropped.
func (c *Cache) InvalidateScope(scope string) int {
	return c.invalidate(scope, invalidation{all: true})
}

func (c *Cache) invalidate(scope string, iv invalidation) int {
	c.mu.Lock()
	iv.gen = c.gen.Add(1)
	st := c.scopeLocked(scope)
	st.remember(iv)
	var recs []*rec
	switch {
	case iv.all:
		recs = st.takeAll(nil)
	case iv.prefix:
		recs = st.takePrefix(iv.path, nil)
	default:
		recs = st.takePath(iv.path, nil)
	}
	var files []string
	for _, r := range recs {
		if name := c.forgetLocked(r); name != "" && !c.closed {
			// After Close the directory may belong to another cache.
			files = append(files, name)
		}
	}
	c.mu.Unlock()
	c.removeFiles(files, true)
	c.invalidated.Add(int64(len(recs)))
	return len(recs)
}

// removeFiles removes files (in parallel when there are many) and, when
// durable, fsyncs their directories so the removal survives a power cut.
func (c *Cache) removeFiles(names []string, durable bool) {
	if len(names) == 0 {
		return
	}
	remove := func(names []string) {
		for _, n := range names {
			if err := os.Remove(c.disk.path(n)); err != nil && !errors.Is(err, os.ErrNotExist) {
				c.log.Warn("cdncache: cannot remove cache file", "file", n, "err", err)
			}
		}
	}
	if len(names) < 256 {
		remove(names)
	} else {
		var wg sync.WaitGroup
		const workers = 4
		per := (len(names) + workers - 1) / workers
		for part := range slices.Chunk(names, per) {
			wg.Go(func() { remove(part) })
		}
		wg.Wait()
	}
	if durable {
		c.disk.syncDirs(names)
	}
}

// evictDisk removes the least recently accessed entries until the disk
// tier is under 90% of DiskBytes. One eviction runs at a time; writers
// that find one running go on, and it catches up with their bytes.
func (c *Cache) evictDisk() {
	if !c.evicting.CompareAndSwap(false, true) {
		return
	}
	defer c.evicting.Store(false)
	type aged struct {
		r      *rec
		access int64
	}
	c.mu.Lock()
	if c.diskBytes <= c.cfg.DiskBytes {
		c.mu.Unlock()
		return
	}
	target := c.cfg.DiskBytes - c.cfg.DiskBytes/10
	all := make([]aged, 0, c.diskEntries)
	for _, st := range c.scopes {
		for _, vs := range st.paths {
			for _, r := range vs {
				if r.file != "" {
					all = append(all, aged{r, r.access.Load()})
				}
			}
		}
	}
	sort.Slice(all, func(i, j int) bool { return all[i].access < all[j].access })
	var files []string
	for _, a := range all {
		if c.diskBytes <= target {
			break
		}
		if name, ok := c.removeRecLocked(a.r); ok {
			files = append(files, name)
		}
	}
	c.mu.Unlock()
	c.evicted.Add(int64(len(files)))
	c.removeFiles(files, false)
}

// Stats returns the counters and the tiers' sizes.
func (c *Cache) Stats() Stats {
	c.mu.Lock()
	diskEntries, diskBytes := c.diskEntries, c.diskBytes
	c.mu.Unlock()
	return Stats{
		MemoryEntries: int64(c.mem.EstimatedSize()),
		MemoryBytes:   int64(c.mem.WeightedSize()),
		DiskEntries:   diskEntries,
		DiskBytes:     diskBytes,
		Hits:          c.hits.Load(),
		DiskHits:      c.diskHits.Load(),
		Misses:        c.misses.Load(),
		Fills:         c.nFills.Load(),
		Collapsed:     c.collapsed.Load(),
		Stores:        c.stores.Load(),
		Rejected:      c.rejected.Load(),
		Invalidated:   c.invalidated.Load(),
		Evicted:       c.evicted.Load(),
		Corrupt:       c.corrupt.Load(),
	}
}

// Close cancels the fills in flight, waits for them, and stops storing.
// What is on disk stays for the next New.
func (c *Cache) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	for _, st := range c.scopes {
		for _, vs := range st.paths {
			for _, r := range vs {
				c.closeFiles(r)
			}
		}
	}
	c.mu.Unlock()
	c.closeFn()
	c.fills.Wait()
	c.mem.StopAllGoroutines()
	if c.disk != nil {
		c.disk.close()
	}
	return nil
}
