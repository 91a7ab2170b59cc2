package fsstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/bits"
	"os"
	"path/filepath"
	"sync"

	"github.com/sluicehq/sluice"
)

const copyBufferSize = 256 << 10

var bufPool = sync.Pool{New: func() any { b := make([]byte, copyBufferSize); return &b }}

// bodyBufs pool buffers for inline bodies in power-of-two size classes from
// 4 KiB, so that a small body does not hold a buffer of InlineMax bytes.
var bodyBufs [12]sync.Pool // 4 KiB .. 8 MiB > maxInlineMax

const minBodyBufShift = 12

func bodyClass(n int) int {
	return max(bits.Len(uint(n-1)), minBodyBufShift) - minBodyBufShift
}

// getBodyBuf returns a pooled buffer of at least n bytes.
func getBodyBuf(n int) *[]byte {
	c := bodyClass(n)
	if b, ok := bodyBufs[c].Get().(*[]byte); ok {
		return b
	}
	b := make([]byte, 1<<(c+minBodyBufShift))
	return &b
}

func putBodyBuf(b *[]byte) { bodyBufs[bodyClass(len(*b))].Put(b) }

// received is a body that was read in full: either kept in memory to be
// committed inline (buf != nil) or written, fsynced, to a file at its final
// path objects/xx/<id>. Nothing refers to the id until a commit does.
type received struct {
	id   string
	buf  *[]byte // pooled; the body is (*buf)[:size]
	size int64
	sums sluice.Checksums
}

// body returns the bytes of an inline body, nil for a file.
func (r *received) body() []byte {
	if r.buf == nil {
		return nil
	}
	return (*r.buf)[:r.size]
}

// files returns the file ids the body occupies.
func (r *received) files() []string {
	if r.id == "" {
		return nil
	}
	return []string{r.id}
}

// dirs returns the directory whose entry for the body's file must be
// durable before a commit refers to it.
func (r *received) dirs(s *Store) []string {
	if r.id == "" {
		return nil
	}
	return []string{filepath.Dir(s.objectPath(r.id))}
}

var (
	errIncompleteBody = sluice.Errorf(sluice.ErrIncompleteBody, "You did not provide the number of bytes specified by the Content-Length HTTP header.")
	errEntityTooLarge = sluice.Errorf(sluice.ErrEntityTooLarge, "Your proposed upload exceeds the maximum allowed size")
)

// receive reads body while hashing it, enforcing size (when >= 0) and max.
// A body of at most inlineMax bytes stays in a pooled buffer (a body of
// unknown size is buffered up to inlineMax and spills into a file when it
// grows beyond); a larger one streams into a new file, fsynced. On error
// nothing is left behind. The caller calls done once the result is
// committed or abandoned.
func (s *Store) receive(ctx context.Context, body io.Reader, size, max, inlineMax int64, algorithm string) (received, error) {
	if size > max {
		return received{}, errEntityTooLarge.With("ProposedSize", fmt.Sprint(size)).With("MaxSizeAllowed", fmt.Sprint(max))
	}
	h, err := newHasher(algorithm)
	if err != nil {
		return received{}, err
	}
	if body == nil {
		body = eofReader{}
	}
	var prefix []byte // bytes read before deciding on a file
	var r received
	if inlineMax > 0 && size <= inlineMax {
		want := inlineMax
		if size >= 0 {
			want = size
		}
		r.buf = getBodyBuf(int(want) + 1)
		// One byte more than wanted tells a body that is too long.
		n, eof, err := readFull(ctx, body, (*r.buf)[:want+1])
		switch {
		case err != nil:
		case eof && size >= 0 && int64(n) != size:
			err = errIncompleteBody
		case !eof && size >= 0:
			err = errIncompleteBody
		}
		if err != nil {
			s.done(&r)
			return received{}, err
		}
		if eof {
			h.Write((*r.buf)[:n])
			r.size = int64(n)
			r.sums = h.sums()
			return r, nil
		}
		prefix = (*r.buf)[:n]
	}
	r.id = s.newFileID()
	path := s.objectPath(r.id)
	f, err := s.createFile(path)
	if err != nil {
		s.done(&r)
		return received{}, fmt.Errorf("create object file: %w", err)
	}
	var n int64
	if len(prefix) > 0 {
		h.Write(prefix)
		_, err = f.Write(prefix)
		n = int64(len(prefix))
	}
	s.done(&r) // the prefix is in the file now
	if err == nil {
		n, err = s.copyBody(ctx, f, h, body, n, size, max)
	}
	if err == nil && !s.cfg.NoSync {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return received{}, err
	}
	r.size, r.sums = n, h.sums()
	return r, nil
}

// readFull reads into buf until it is full or body ends (eof).
func readFull(ctx context.Context, body io.Reader, buf []byte) (n int, eof bool, err error) {
	for n < len(buf) {
		if err := ctx.Err(); err != nil {
			return n, false, err
		}
		m, rerr := body.Read(buf[n:])
		n += m
		if rerr == io.EOF {
			return n, true, nil
		}
		if rerr != nil {
			if errors.Is(rerr, io.ErrUnexpectedEOF) {
				return n, false, errIncompleteBody
			}
			return n, false, fmt.Errorf("read body: %w", rerr)
		}
	}
	return n, false, nil
}

// createFile creates a new object file. Shard directories are made on first
// use, and their entry in objects/ synced at once: creating all 256 up front
// costs more than a fresh Open should.
func (s *Store) createFile(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if errors.Is(err, fs.ErrNotExist) {
		dir := filepath.Dir(path)
		if err = os.Mkdir(dir, 0o755); err == nil || errors.Is(err, fs.ErrExist) {
			if err = syncDir(filepath.Dir(dir), s.cfg.NoSync); err == nil {
				f, err = os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
			}
		}
	}
	return f, err
}

// copyBody streams the rest of body into f; n bytes were written before.
func (s *Store) copyBody(ctx context.Context, f *os.File, h *hasher, body io.Reader, n, size, max int64) (int64, error) {
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	buf := *bp
	limit := max
	if size >= 0 {
		limit = size
	}
	for {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		m, rerr := body.Read(buf)
		if m > 0 {
			if n+int64(m) > limit {
				if size >= 0 {
					return n, errIncompleteBody
				}
				return n, errEntityTooLarge.With("MaxSizeAllowed", fmt.Sprint(max))
			}
			h.Write(buf[:m])
			if _, err := f.Write(buf[:m]); err != nil {
				return n, fmt.Errorf("write object file: %w", err)
			}
			n += int64(m)
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			if errors.Is(rerr, io.ErrUnexpectedEOF) {
				return n, errIncompleteBody
			}
			return n, fmt.Errorf("read body: %w", rerr)
		}
	}
	if size >= 0 && n != size {
		return n, errIncompleteBody
	}
	return n, nil
}

// done returns an inline body's buffer to the pool; the body must no longer
// be referenced, so call it only after the commit that used it returned.
func (s *Store) done(r *received) {
	if r.buf != nil {
		putBodyBuf(r.buf)
		r.buf = nil
	}
}

// discard drops a received body that will not be committed.
func (s *Store) discard(r *received) {
	s.done(r)
	if r.id != "" {
		os.Remove(s.objectPath(r.id))
	}
}

type eofReader struct{}

func (eofReader) Read([]byte) (int, error) { return 0, io.EOF }
