package cdncache

import (
	"sort"
	"strings"
	"sync/atomic"
)

// rec is the index's record of one stored key. A replacement creates a new
// rec, so a reader that looked a rec up can tell, by identity, whether the
// key was invalidated or replaced since.
type rec struct {
	key Key
	// file is the entry's file name relative to the disk directory; "" for
	// an entry that lives in memory only (memory-only caches).
	file string
	// size is the file's length in bytes; the body is its last
	// size-bodyOff bytes.
	size    int64
	bodyOff int64
	// fds are open descriptors of file for BodyRef.Open.
	fds fdPool
	// access is the last access in Unix nanoseconds, updated coarsely by
	// hits; disk eviction removes the least recently accessed entries.
	access atomic.Int64
}

// invalidation is one Invalidate call remembered by its scope, so that a
// fill can tell whether an invalidation touching its key happened after it
// started.
type invalidation struct {
	gen    uint64
	path   string
	prefix bool
	all    bool
}

func (iv invalidation) matches(path string) bool {
	switch {
	case iv.all:
		return true
	case iv.prefix:
		return strings.HasPrefix(path, iv.path)
	default:
		return path == iv.path
	}
}

// maxInvalidationLog bounds the invalidations a scope remembers. A fill
// that started before the oldest remembered one is treated as touched: that
// only costs a store, never correctness.
const maxInvalidationLog = 256

// scopeState indexes one scope (distribution): its paths in order for
// prefix scans, each path's variants, and its recent invalidations.
type scopeState struct {
	paths   map[string]map[string]*rec // path -> variant -> rec
	order   sortedStrings              // the keys of paths, ordered
	entries int

	log []invalidation
	// floor is the generation of the newest invalidation dropped from log.
	floor uint64
}

func newScopeState() *scopeState {
	return &scopeState{paths: make(map[string]map[string]*rec)}
}

func (s *scopeState) remember(iv invalidation) {
	if len(s.log) == maxInvalidationLog {
		s.floor = s.log[0].gen
		copy(s.log, s.log[1:])
		s.log = s.log[:len(s.log)-1]
	}
	s.log = append(s.log, iv)
}

// touchedSince reports whether an invalidation with a generation above
// since matched path.
func (s *scopeState) touchedSince(path string, since uint64) bool {
	if since < s.floor {
		return true
	}
	for i := len(s.log) - 1; i >= 0 && s.log[i].gen > since; i-- {
		if s.log[i].matches(path) {
			return true
		}
	}
	return false
}

func (s *scopeState) get(path, variant string) *rec {
	return s.paths[path][variant]
}

// put stores r under its key and returns the rec it replaces, if any.
func (s *scopeState) put(r *rec) *rec {
	vs := s.paths[r.key.Path]
	if vs == nil {
		vs = make(map[string]*rec, 1)
		s.paths[r.key.Path] = vs
		s.order.insert(r.key.Path)
	}
	old := vs[r.key.Variant]
	vs[r.key.Variant] = r
	if old == nil {
		s.entries++
	}
	return old
}

// remove deletes r if it is still the rec stored under its key.
func (s *scopeState) remove(r *rec) bool {
	vs := s.paths[r.key.Path]
	if vs == nil || vs[r.key.Variant] != r {
		return false
	}
	delete(vs, r.key.Variant)
	s.entries--
	if len(vs) == 0 {
		delete(s.paths, r.key.Path)
		s.order.remove(r.key.Path)
	}
	return true
}

// takePath removes and returns every variant of path: O(variants + log n).
func (s *scopeState) takePath(path string, out []*rec) []*rec {
	vs := s.paths[path]
	if vs == nil {
		return out
	}
	for _, r := range vs {
		out = append(out, r)
	}
	s.entries -= len(vs)
	delete(s.paths, path)
	s.order.remove(path)
	return out
}

// takePrefix removes and returns every variant of every path starting with
// prefix: O(log n + m) to find the m matching paths, then their removal.
func (s *scopeState) takePrefix(prefix string, out []*rec) []*rec {
	var paths []string
	s.order.scanPrefix(prefix, func(p string) { paths = append(paths, p) })
	for _, p := range paths {
		out = s.takePath(p, out)
	}
	return out
}

// takeAll removes and returns every rec of the scope.
func (s *scopeState) takeAll(out []*rec) []*rec {
	for _, vs := range s.paths {
		for _, r := range vs {
			out = append(out, r)
		}
	}
	s.paths = make(map[string]map[string]*rec)
	s.order = sortedStrings{}
	s.entries = 0
	return out
}

// sortedStrings is an ordered set of strings kept as a list of sorted
// chunks: insert and remove cost O(log n + chunk), a prefix scan
// O(log n + matches). A plain sorted slice would cost O(n) per insert,
// which a cache of 100k paths filling at a few thousand per second cannot
// afford.
type sortedStrings struct {
	chunks [][]string
	n      int
}

const maxChunk = 512

// chunkFor returns the index of the first chunk whose last element is >= s,
// or the last chunk when s is beyond them all (-1 when there are none).
func (ss *sortedStrings) chunkFor(s string) int {
	if len(ss.chunks) == 0 {
		return -1
	}
	i := sort.Search(len(ss.chunks), func(i int) bool {
		c := ss.chunks[i]
		return c[len(c)-1] >= s
	})
	if i == len(ss.chunks) {
		i--
	}
	return i
}

func (ss *sortedStrings) insert(s string) {
	ci := ss.chunkFor(s)
	if ci < 0 {
		ss.chunks = [][]string{{s}}
		ss.n = 1
		return
	}
	c := ss.chunks[ci]
	j := sort.SearchStrings(c, s)
	if j < len(c) && c[j] == s {
		return
	}
	c = append(c, "")
	copy(c[j+1:], c[j:])
	c[j] = s
	ss.n++
	if len(c) <= maxChunk {
		ss.chunks[ci] = c
		return
	}
	// Split in two fresh slices so that neither aliases the other's array.
	half := len(c) / 2
	left := append(make([]string, 0, maxChunk+1), c[:half]...)
	right := append(make([]string, 0, maxChunk+1), c[half:]...)
	ss.chunks = append(ss.chunks, nil)
	copy(ss.chunks[ci+2:], ss.chunks[ci+1:])
	ss.chunks[ci] = left
	ss.chunks[ci+1] = right
}

func (ss *sortedStrings) remove(s string) {
	ci := ss.chunkFor(s)
	if ci < 0 {
		return
	}
	c := ss.chunks[ci]
	j := sort.SearchStrings(c, s)
	if j == len(c) || c[j] != s {
		return
	}
	copy(c[j:], c[j+1:])
	c[len(c)-1] = ""
	c = c[:len(c)-1]
	ss.n--
	if len(c) == 0 {
		copy(ss.chunks[ci:], ss.chunks[ci+1:])
		ss.chunks[len(ss.chunks)-1] = nil
		ss.chunks = ss.chunks[:len(ss.chunks)-1]
		return
	}
	ss.chunks[ci] = c
}

// scanPrefix calls fn, in order, for every element starting with prefix.
func (ss *sortedStrings) scanPrefix(prefix string, fn func(string)) {
	ci := ss.chunkFor(prefix)
	if ci < 0 {
		return
	}
	j := sort.SearchStrings(ss.chunks[ci], prefix)
	for ; ci < len(ss.chunks); ci, j = ci+1, 0 {
		c := ss.chunks[ci]
		for ; j < len(c); j++ {
			if !strings.HasPrefix(c[j], prefix) {
				return
			}
			fn(c[j])
		}
	}
}
