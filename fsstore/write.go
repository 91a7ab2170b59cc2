package fsstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"github.com/sluicehq/sluice"
)

const copyBufferSize = 256 << 10

var bufPool = sync.Pool{New: func() any { b := make([]byte, copyBufferSize); return &b }}

// received is a body written durably to a temp file, not yet in objects/.
type received struct {
	id   string
	size int64
	sums sluice.Checksums
}

var (
	errIncompleteBody = sluice.Errorf(sluice.ErrIncompleteBody, "You did not provide the number of bytes specified by the Content-Length HTTP header.")
	errEntityTooLarge = sluice.Errorf(sluice.ErrEntityTooLarge, "Your proposed upload exceeds the maximum allowed size")
)

// receive streams body into a new temp file while hashing it, enforcing
// size (when >= 0) and max, and fsyncs it. On error nothing is left behind.
func (s *Store) receive(ctx context.Context, body io.Reader, size, max int64, algorithm string) (received, error) {
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
	id := s.newFileID()
	path := s.tmpPath(id)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return received{}, fmt.Errorf("create temp file: %w", err)
	}
	n, err := s.copyBody(ctx, f, h, body, size, max)
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
	return received{id: id, size: n, sums: h.sums()}, nil
}

func (s *Store) copyBody(ctx context.Context, f *os.File, h *hasher, body io.Reader, size, max int64) (int64, error) {
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	buf := *bp
	limit := max
	if size >= 0 {
		limit = size
	}
	var n int64
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
				return n, fmt.Errorf("write temp file: %w", err)
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

// install moves a received temp file into objects/ and makes the rename
// durable. After it returns the file must be committed or removed.
func (s *Store) install(r received) error {
	dst := s.objectPath(r.id)
	err := os.Rename(s.tmpPath(r.id), dst)
	if errors.Is(err, fs.ErrNotExist) {
		// Shard directories are made on first use: creating all 256 up
		// front costs more than a fresh Open should.
		if err = os.Mkdir(filepath.Dir(dst), 0o755); err == nil || errors.Is(err, fs.ErrExist) {
			if err = syncDir(filepath.Dir(filepath.Dir(dst)), s.cfg.NoSync); err == nil {
				err = os.Rename(s.tmpPath(r.id), dst)
			}
		}
	}
	if err != nil {
		os.Remove(s.tmpPath(r.id))
		return fmt.Errorf("install object file: %w", err)
	}
	if err := syncDir(filepath.Dir(dst), s.cfg.NoSync); err != nil {
		os.Remove(dst)
		return fmt.Errorf("sync objects dir: %w", err)
	}
	return nil
}

// discard removes a received temp file that will not be installed.
func (s *Store) discard(r received) { os.Remove(s.tmpPath(r.id)) }

type eofReader struct{}

func (eofReader) Read([]byte) (int, error) { return 0, io.EOF }
