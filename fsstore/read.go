package fsstore

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"sync/atomic"

	"github.com/sluicehq/sluice"
)

// object is an open snapshot: a copy of an inline object's bytes, or open
// handles on its files. Several readers may run at once: they read with
// ReadAt, and only a reader that holds a file's offset (see WriteTo) moves
// it.
type object struct {
	info  sluice.ObjectInfo
	data  []byte // inline bytes; nil for files
	files []*objectFile
}

// objectFile is one open file of an object and the length it contributes.
type objectFile struct {
	f    *os.File
	size int64
	// busy is set while a reader owns f's offset.
	busy atomic.Bool
}

func newObject(info sluice.ObjectInfo, files []*os.File, sizes []int64) *object {
	o := &object{info: info, files: make([]*objectFile, len(files))}
	for i, f := range files {
		o.files[i] = &objectFile{f: f, size: sizes[i]}
	}
	return o
}

func (o *object) Info() sluice.ObjectInfo { return o.info }

func (o *object) Reader(offset, length int64) (io.ReadCloser, error) {
	size := o.info.Size
	if length < 0 {
		length = size - offset
	}
	if offset < 0 || length < 0 || offset+length > size {
		return nil, sluice.Errorf(sluice.ErrInvalidRange, "The requested range is not satisfiable").With("ActualObjectSize", fmt.Sprint(size))
	}
	if o.files == nil {
		return io.NopCloser(bytes.NewReader(o.data[offset : offset+length])), nil
	}
	r := &fileReader{}
	var start int64
	for _, f := range o.files {
		end := start + f.size
		if length > 0 && offset < end && offset+length > start {
			from := max(offset, start) - start
			to := min(offset+length, end) - start
			r.sections = append(r.sections, section{file: f, off: from, n: to - from})
		}
		start = end
	}
	return r, nil
}

func (o *object) Close() error {
	var first error
	for _, f := range o.files {
		if err := f.f.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// section is the part of one file a reader has left to yield.
type section struct {
	file *objectFile
	off  int64
	n    int64
}

// fileReader yields sections of an object's files in order. Read uses
// ReadAt; WriteTo hands each file to the writer as an *io.LimitedReader over
// the *os.File, which is what lets net/http answer with sendfile(2): io.Copy
// into an http.ResponseWriter goes through WriteTo, the response's
// ReadFrom, and the TCP connection's ReadFrom, which recognizes exactly that
// pair.
type fileReader struct {
	sections []section
}

func (r *fileReader) Read(p []byte) (int, error) {
	for len(r.sections) > 0 && r.sections[0].n == 0 {
		r.sections = r.sections[1:]
	}
	if len(r.sections) == 0 {
		return 0, io.EOF
	}
	s := &r.sections[0]
	p = p[:min(int64(len(p)), s.n)]
	n, err := s.file.f.ReadAt(p, s.off)
	s.off += int64(n)
	s.n -= int64(n)
	if err == io.EOF {
		if s.n > 0 {
			// The file is shorter than its record: never for an intact
			// store, but a reader must not loop or invent bytes.
			return n, io.ErrUnexpectedEOF
		}
		err = nil
	}
	return n, err
}

// WriteTo copies the remaining sections to w. A file's offset is shared by
// every reader of the object, so a reader takes it for the copy; if another
// reader holds it, this one falls back to ReadAt.
func (r *fileReader) WriteTo(w io.Writer) (int64, error) {
	var total int64
	for len(r.sections) > 0 {
		s := &r.sections[0]
		if s.n > 0 {
			n, err := s.writeTo(w)
			total += n
			s.off += n
			s.n -= n
			if err == nil && s.n > 0 {
				err = io.ErrUnexpectedEOF
			}
			if err != nil {
				return total, err
			}
		}
		r.sections = r.sections[1:]
	}
	return total, nil
}

func (s *section) writeTo(w io.Writer) (int64, error) {
	f := s.file
	if !f.busy.CompareAndSwap(false, true) {
		return io.Copy(w, io.NewSectionReader(f.f, s.off, s.n))
	}
	defer f.busy.Store(false)
	if _, err := f.f.Seek(s.off, io.SeekStart); err != nil {
		return 0, err
	}
	return io.Copy(w, &io.LimitedReader{R: f.f, N: s.n})
}

func (r *fileReader) Close() error {
	r.sections = nil
	return nil
}
