package sigv4

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"hash"
	"io"
	"net/http"
	"sort"
	"strings"

	"github.com/sluicehq/sluice"
)

// chunkedReader decodes an aws-chunked body:
//
//	hex-size[;chunk-signature=sig]\r\n data \r\n ... 0[;chunk-signature=sig]\r\n [trailers] \r\n
//
// verifying each chunk's signature (chained from the seed signature in the
// Authorization header) and, for the trailer forms, the trailing headers.
// Chunk data streams through; a bad signature surfaces on the Read that
// completes the chunk, so callers must discard what they read on error.
type chunkedReader struct {
	src    *lineReader
	closer io.Closer

	signed   bool // chunk signatures present and checked
	trailers bool // trailing headers follow the last chunk
	mac      hash.Hash
	sha      hash.Hash
	amzDate  string
	scope    string
	prev     [32]byte // previous signature (the seed, at first)
	chunkSig [32]byte // the current chunk's declared signature

	remaining int64 // data bytes left in the current chunk
	inChunk   bool
	decoded   int64
	declared  int64 // x-amz-decoded-content-length, or -1
	maxChunk  int64

	declaredTrailers []string    // lower-case names from x-amz-trailer
	trailer          http.Header // r.Trailer, filled at the end
	err              error
}

func (cr *chunkedReader) Close() error { return cr.closer.Close() }

func (cr *chunkedReader) Read(p []byte) (int, error) {
	for cr.err == nil {
		if !cr.inChunk {
			if err := cr.nextChunk(); err != nil {
				cr.err = err
				break
			}
			continue
		}
		if len(p) == 0 {
			return 0, nil
		}
		want := p
		if int64(len(want)) > cr.remaining {
			want = want[:cr.remaining]
		}
		n, err := cr.src.read(want)
		if cr.signed {
			cr.sha.Write(want[:n])
		}
		cr.remaining -= int64(n)
		cr.decoded += int64(n)
		if err != nil {
			cr.err = err
			return n, err
		}
		if cr.declared >= 0 && cr.decoded > cr.declared {
			cr.err = lengthMismatch()
			return n, cr.err
		}
		if cr.remaining == 0 {
			cr.inChunk = false
			if err := cr.src.readCRLF(); err != nil {
				cr.err = err
				return n, err
			}
			if err := cr.verifyChunk(); err != nil {
				cr.err = err
				return n, err
			}
		}
		return n, nil
	}
	return 0, cr.err
}

// nextChunk reads a chunk header; at the last chunk it finishes the
// stream and leaves io.EOF (or the failure) in cr.err.
func (cr *chunkedReader) nextChunk() error {
	line, ok, err := cr.src.readLine()
	if err != nil {
		return err
	}
	if !ok {
		return incompleteBody()
	}
	size, sig, err := parseChunkHeader(line, cr.signed)
	if err != nil {
		return err
	}
	if size > cr.maxChunk {
		return sluice.Errorf(sluice.ErrInvalidRequest, "Chunk size %d exceeds the maximum of %d bytes.", size, cr.maxChunk)
	}
	cr.chunkSig = sig
	if cr.signed {
		cr.sha.Reset()
	}
	if size > 0 {
		cr.remaining, cr.inChunk = size, true
		return nil
	}
	if err := cr.verifyChunk(); err != nil {
		return err
	}
	if cr.trailers {
		if err := cr.readTrailers(); err != nil {
			return err
		}
	} else if err := cr.readEnd(); err != nil {
		return err
	}
	if cr.declared >= 0 && cr.decoded != cr.declared {
		return lengthMismatch()
	}
	return io.EOF
}

// parseChunkHeader parses "hex-size[;chunk-signature=hex]".
func parseChunkHeader(line []byte, signed bool) (int64, [32]byte, error) {
	var sig [32]byte
	sizePart, ext, hasExt := bytes.Cut(line, []byte{';'})
	sizePart = bytes.TrimRight(sizePart, " ")
	if len(sizePart) == 0 || len(sizePart) > 8 {
		return 0, sig, malformedChunk("invalid chunk size")
	}
	var size int64
	for _, c := range sizePart {
		if !isHex(c) {
			return 0, sig, malformedChunk("invalid chunk size")
		}
		size = size<<4 | int64(unhex(c))
	}
	if !signed {
		return size, sig, nil
	}
	v, ok := bytes.CutPrefix(ext, []byte("chunk-signature="))
	if !hasExt || !ok || len(v) != 64 {
		return 0, sig, malformedChunk("missing chunk signature")
	}
	if _, err := hex.Decode(sig[:], v); err != nil {
		return 0, sig, malformedChunk("invalid chunk signature")
	}
	return size, sig, nil
}

// verifyChunk checks the signature of the chunk whose data was just hashed:
// HMAC over "AWS4-HMAC-SHA256-PAYLOAD", date, scope, previous signature,
// the empty-string hash and the chunk data's hash.
func (cr *chunkedReader) verifyChunk() error {
	if !cr.signed {
		return nil
	}
	var dataHash [32]byte
	cr.sha.Sum(dataHash[:0])
	cr.mac.Reset()
	io.WriteString(cr.mac, "AWS4-HMAC-SHA256-PAYLOAD\n")
	io.WriteString(cr.mac, cr.amzDate)
	cr.mac.Write([]byte{'\n'})
	io.WriteString(cr.mac, cr.scope)
	cr.mac.Write([]byte{'\n'})
	writeHex(cr.mac, cr.prev[:])
	cr.mac.Write([]byte{'\n'})
	io.WriteString(cr.mac, emptySHA256)
	cr.mac.Write([]byte{'\n'})
	writeHex(cr.mac, dataHash[:])
	var got [32]byte
	cr.mac.Sum(got[:0])
	if !hmac.Equal(got[:], cr.chunkSig[:]) {
		return chunkSignatureMismatch()
	}
	cr.prev = got
	return nil
}

func writeHex(w io.Writer, b []byte) {
	var buf [64]byte
	hex.Encode(buf[:], b)
	w.Write(buf[:2*len(b)])
}

// readEnd consumes the empty line after the last chunk. A body that ends
// right after the last chunk header is accepted: every byte is verified.
func (cr *chunkedReader) readEnd() error {
	line, ok, err := cr.src.readLine()
	if err != nil {
		return err
	}
	if ok && len(line) != 0 {
		return malformedChunk("data after the last chunk")
	}
	return nil
}

// readTrailers reads "name:value" lines up to an empty line (or the end
// of the body), verifies x-amz-trailer-signature in the signed form, and
// publishes the values in the request's Trailer.
func (cr *chunkedReader) readTrailers() error {
	type kv struct{ k, v string }
	var got []kv
	var sig string
	haveSig, skipped := false, false
	for {
		line, ok, err := cr.src.readLine()
		if err != nil {
			return err
		}
		if ok && len(line) == 0 && len(got) == 0 && !haveSig && !skipped && len(cr.declaredTrailers) > 0 {
			// Some encoders end the last chunk with an empty line before
			// the trailers; the signature covers only the trailers.
			skipped = true
			continue
		}
		if !ok || len(line) == 0 {
			break
		}
		if len(got) >= maxTrailerLines {
			return malformedChunk("too many trailing headers")
		}
		name, value, found := bytes.Cut(line, []byte{':'})
		if !found {
			return malformedChunk("invalid trailing header")
		}
		k := strings.ToLower(strings.TrimSpace(string(name)))
		v := strings.TrimSpace(string(value))
		if k == "x-amz-trailer-signature" {
			sig, haveSig = v, true
			continue
		}
		got = append(got, kv{k, v})
	}
	for _, name := range cr.declaredTrailers {
		found := false
		for _, t := range got {
			found = found || t.k == name
		}
		if !found {
			return incompleteBody()
		}
	}
	if cr.signed {
		if !haveSig {
			return malformedChunk("missing x-amz-trailer-signature")
		}
		sorted := append([]kv(nil), got...)
		sort.Slice(sorted, func(i, j int) bool { return sorted[i].k < sorted[j].k })
		h := sha256.New()
		for _, t := range sorted {
			io.WriteString(h, t.k)
			h.Write([]byte{':'})
			io.WriteString(h, t.v)
			h.Write([]byte{'\n'})
		}
		var sum [32]byte
		h.Sum(sum[:0])
		cr.mac.Reset()
		io.WriteString(cr.mac, "AWS4-HMAC-SHA256-TRAILER\n"+cr.amzDate+"\n"+cr.scope+"\n")
		writeHex(cr.mac, cr.prev[:])
		cr.mac.Write([]byte{'\n'})
		writeHex(cr.mac, sum[:])
		want, err := hex.DecodeString(sig)
		if err != nil || !hmac.Equal(cr.mac.Sum(nil), want) {
			return chunkSignatureMismatch()
		}
	}
	if cr.trailer != nil {
		for _, t := range got {
			cr.trailer[http.CanonicalHeaderKey(t.k)] = []string{t.v}
		}
	}
	return nil
}

func chunkSignatureMismatch() *sluice.Error {
	return sluice.Errorf(sluice.ErrSignatureDoesNotMatch, "The request signature we calculated does not match the signature you provided. Check your key and signing method.")
}

func lengthMismatch() *sluice.Error {
	return sluice.Errorf(sluice.ErrIncompleteBody, "The decoded body length does not match x-amz-decoded-content-length.")
}
