package sigv4

import (
	"bytes"
	"encoding/hex"
	"hash"
	"io"

	"github.com/sluicehq/sluice"
)

// hashReader passes a body through and, at its end, checks it against the
// declared x-amz-content-sha256; a mismatch replaces io.EOF.
type hashReader struct {
	src    io.ReadCloser
	h      hash.Hash
	want   [32]byte
	n      int64
	expect int64 // Content-Length, or -1
	err    error
}

func (hr *hashReader) Read(p []byte) (int, error) {
	if hr.err != nil {
		return 0, hr.err
	}
	n, err := hr.src.Read(p)
	hr.h.Write(p[:n])
	hr.n += int64(n)
	// Checking as soon as Content-Length bytes have arrived serves readers
	// that stop at the declared length instead of reading on to io.EOF.
	if err == io.EOF || (err == nil && hr.expect >= 0 && hr.n >= hr.expect) {
		hr.err = io.EOF
		var got [32]byte
		hr.h.Sum(got[:0])
		if got != hr.want {
			e := sluice.Errorf(sluice.ErrContentSHA256Mismatch, "The provided 'x-amz-content-sha256' header does not match what was computed.")
			e.Fields = map[string]string{
				"ClientComputedContentSHA256": hex.EncodeToString(hr.want[:]),
				"S3ComputedContentSHA256":     hex.EncodeToString(got[:]),
			}
			hr.err = e
		}
		return n, hr.err
	}
	if err != nil {
		hr.err = bodyReadError(err)
	}
	return n, hr.err
}

func (hr *hashReader) Close() error { return hr.src.Close() }

const (
	maxChunkLine    = 4096 // a chunk header or trailer line
	maxTrailerLines = 32
	lineBufSize     = 64 << 10
)

// lineReader is a small buffered reader: lines come out of its buffer,
// chunk data is read straight through when the buffer is empty.
type lineReader struct {
	src        io.Reader
	buf        []byte
	start, end int
	eof        bool
	err        error
}

func newLineReader(src io.Reader) *lineReader {
	return &lineReader{src: src, buf: make([]byte, lineBufSize)}
}

// fill reads more into the buffer; it reports false at end of input.
func (lr *lineReader) fill() bool {
	if lr.eof || lr.err != nil {
		return false
	}
	if lr.start > 0 {
		copy(lr.buf, lr.buf[lr.start:lr.end])
		lr.end -= lr.start
		lr.start = 0
	}
	// A source that keeps returning nothing is treated as ended, so a
	// broken body can never spin the decoder.
	for range 100 {
		n, err := lr.src.Read(lr.buf[lr.end:])
		lr.end += n
		if err == io.EOF {
			lr.eof = true
		} else if err != nil {
			lr.err = err
		}
		if n > 0 {
			return true
		}
		if err != nil {
			return false
		}
	}
	lr.err = io.ErrNoProgress
	return false
}

// readLine returns the next line without its CRLF (or LF). ok is false at
// a clean end of input before any byte of a line.
func (lr *lineReader) readLine() (line []byte, ok bool, err error) {
	for {
		if i := bytes.IndexByte(lr.buf[lr.start:lr.end], '\n'); i >= 0 {
			line = lr.buf[lr.start : lr.start+i]
			lr.start += i + 1
			return bytes.TrimSuffix(line, []byte{'\r'}), true, nil
		}
		if lr.end-lr.start > maxChunkLine {
			return nil, false, malformedChunk("chunk line too long")
		}
		if !lr.fill() {
			if lr.err != nil {
				return nil, false, bodyReadError(lr.err)
			}
			if lr.start == lr.end {
				return nil, false, nil
			}
			return nil, false, incompleteBody()
		}
	}
}

// read copies up to len(p) bytes of data; large reads bypass the buffer.
func (lr *lineReader) read(p []byte) (int, error) {
	if lr.start == lr.end {
		if len(p) >= len(lr.buf) && !lr.eof && lr.err == nil {
			n, err := lr.src.Read(p)
			if err == io.EOF {
				lr.eof = true
			} else if err != nil {
				lr.err = err
			}
			if n > 0 {
				return n, nil
			}
		}
		if !lr.fill() {
			if lr.err != nil {
				return 0, bodyReadError(lr.err)
			}
			return 0, incompleteBody()
		}
	}
	n := copy(p, lr.buf[lr.start:lr.end])
	lr.start += n
	return n, nil
}

// readCRLF consumes the CRLF that ends a chunk's data.
func (lr *lineReader) readCRLF() error {
	for lr.end-lr.start < 2 {
		if !lr.fill() {
			if lr.err != nil {
				return bodyReadError(lr.err)
			}
			return incompleteBody()
		}
	}
	if lr.buf[lr.start] != '\r' || lr.buf[lr.start+1] != '\n' {
		return malformedChunk("chunk data not followed by CRLF")
	}
	lr.start += 2
	return nil
}

func malformedChunk(detail string) *sluice.Error {
	return sluice.Wrap(sluice.ErrIncompleteBody, errString(detail), "The request body is not a valid aws-chunked stream.")
}

type errString string

func (e errString) Error() string { return string(e) }
