package cdncache

import (
	"errors"
	"io"
	"os"
	"sync"
)

// Sending a body from its file lets the kernel copy it from the page cache
// to the socket (sendfile(2)) instead of from our memory through write(2),
// which on hits of large objects is most of the cost of a hit.
//
// A file is immutable once published (every write goes to a new name), and
// the bytes of every file a BodyRef names were checked: the cache wrote
// them itself from the entry's body, or a Get read the whole file and
// verified both checksums before handing the entry out. Removing the file
// (invalidation, replacement, eviction) closes the idle descriptors; one in
// use stays valid until its BodyFile is closed, so a hit that raced with an
// invalidation sends the old bytes whole, as a memory hit would.

// Descriptor reuse bounds: per stored entry, and across the cache, so that
// many hot entries cannot exhaust the process's descriptors.
const (
	maxIdlePerFile = 32
	maxIdleFiles   = 512
)

// ErrNoBodyFile is returned by BodyRef.Open when the entry has no file
// (a memory-only cache) or its file was removed since the lookup.
var ErrNoBodyFile = errors.New("entry body has no file")

// fdPool holds open read-only descriptors of one entry's file. Linux's
// sendfile reads from the descriptor's own position, so a descriptor serves
// one body at a time; the pool saves the open(2) and close(2) of the next.
type fdPool struct {
	mu   sync.Mutex
	idle []*os.File
	dead bool
}

// BodyRef locates a stored entry's body in its file. The zero BodyRef
// locates nothing.
type BodyRef struct {
	c *Cache
	r *rec
}

// Size is the body's length, or -1 for a BodyRef that locates nothing.
func (b BodyRef) Size() int64 {
	if b.r == nil || b.r.file == "" {
		return -1
	}
	return b.r.size - b.r.bodyOff
}

// Open returns a descriptor positioned at the body. Close it when done.
func (b BodyRef) Open() (*BodyFile, error) {
	r := b.r
	if r == nil || r.file == "" {
		return nil, ErrNoBodyFile
	}
	p := &r.fds
	p.mu.Lock()
	if p.dead {
		p.mu.Unlock()
		return nil, ErrNoBodyFile
	}
	var f *os.File
	if n := len(p.idle); n > 0 {
		f = p.idle[n-1]
		p.idle[n-1] = nil
		p.idle = p.idle[:n-1]
		b.c.idleFiles.Add(-1)
	}
	p.mu.Unlock()
	if f == nil {
		var err error
		if f, err = os.Open(b.c.disk.path(r.file)); err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return nil, ErrNoBodyFile
			}
			return nil, err
		}
	}
	if _, err := f.Seek(r.bodyOff, io.SeekStart); err != nil {
		f.Close()
		return nil, err
	}
	bf := &BodyFile{c: b.c, r: r, f: f}
	bf.lr = io.LimitedReader{R: f, N: r.size - r.bodyOff}
	return bf, nil
}

// BodyFile is an open descriptor on a stored entry's body. It is used by
// one goroutine at a time.
type BodyFile struct {
	c  *Cache
	r  *rec
	f  *os.File
	lr io.LimitedReader
}

// Reader reads the body: an *io.LimitedReader over an *os.File, the shape
// net/http and package net send with sendfile(2).
func (b *BodyFile) Reader() io.Reader { return &b.lr }

// Close gives the descriptor back for reuse, or closes it.
func (b *BodyFile) Close() error {
	f := b.f
	if f == nil {
		return nil
	}
	b.f = nil
	p := &b.r.fds
	if b.c.idleFiles.Add(1) <= maxIdleFiles {
		p.mu.Lock()
		if !p.dead && len(p.idle) < maxIdlePerFile {
			p.idle = append(p.idle, f)
			p.mu.Unlock()
			return nil
		}
		p.mu.Unlock()
	}
	b.c.idleFiles.Add(-1)
	return f.Close()
}

// closeFiles closes r's idle descriptors and keeps it from reusing any:
// its file is being removed. Descriptors in use are closed by their Close.
func (c *Cache) closeFiles(r *rec) {
	p := &r.fds
	p.mu.Lock()
	idle := p.idle
	p.idle, p.dead = nil, true
	p.mu.Unlock()
	if len(idle) > 0 {
		c.idleFiles.Add(-int64(len(idle)))
	}
	for _, f := range idle {
		f.Close()
	}
}
