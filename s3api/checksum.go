package s3api

import (
	"bytes"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"hash"
	"hash/crc32"
	"hash/crc64"
	"net/http"
	"strings"

	"github.com/sluicehq/sluice"
)

// checksumAlgorithms maps each algorithm to its digest size in bytes.
var checksumAlgorithms = map[string]int{
	sluice.ChecksumCRC32:     4,
	sluice.ChecksumCRC32C:    4,
	sluice.ChecksumCRC64NVME: 8,
	sluice.ChecksumSHA1:      20,
	sluice.ChecksumSHA256:    32,
}

// checksumHeader is the request and response header carrying algo's value.
func checksumHeader(algo string) string { return "x-amz-checksum-" + strings.ToLower(algo) }

// checksumHeaderKeys maps each algorithm to its header's canonical key, so
// that looking the headers up on every write costs no string building.
var checksumHeaderKeys = func() map[string]string {
	m := make(map[string]string, len(checksumAlgorithms))
	for a := range checksumAlgorithms {
		m[a] = http.CanonicalHeaderKey(checksumHeader(a))
	}
	return m
}()

// headerValue is h.Get for a key already in canonical form.
func headerValue(h http.Header, key string) string {
	if v := h[key]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// crc64NVMETable is the reflected form of the NVMe CRC-64 polynomial
// 0xAD93D23594C93659 that S3's CRC64NVME uses.
var crc64NVMETable = crc64.MakeTable(0x9a6c9329ac4bc9b5)

// newChecksumHash returns a hash for algo, or nil for an unknown one.
func newChecksumHash(algo string) hash.Hash {
	switch algo {
	case sluice.ChecksumCRC32:
		return crc32.NewIEEE()
	case sluice.ChecksumCRC32C:
		return crc32.New(crc32.MakeTable(crc32.Castagnoli))
	case sluice.ChecksumCRC64NVME:
		return crc64.New(crc64NVMETable)
	case sluice.ChecksumSHA1:
		return sha1.New()
	case sluice.ChecksumSHA256:
		return sha256.New()
	}
	return nil
}

// computeChecksums digests an in-memory body (XML documents) as a store
// would, so small bodies go through the same verify function.
func computeChecksums(algo string, data []byte) sluice.Checksums {
	sum := md5.Sum(data)
	c := sluice.Checksums{MD5: sum[:]}
	if h := newChecksumHash(algo); h != nil {
		h.Write(data)
		c.Algorithm = algo
		c.Value = base64.StdEncoding.EncodeToString(h.Sum(nil))
		c.Type = sluice.ChecksumTypeFullObject
	}
	return c
}

// checksumVerifier reads what a request says about its body's integrity:
// Content-MD5 (InvalidDigest when malformed), the checksum algorithm
// (x-amz-sdk-checksum-algorithm, x-amz-checksum-algorithm, x-amz-trailer or
// the x-amz-checksum-<algo> header itself) and the expected value, from a
// header or, for aws-chunked bodies, from r.Trailer once the body is read.
// algorithm is what the store must compute; verify compares the computed
// checksums with the expected ones (BadDigest on mismatch). verify is never
// nil.
func checksumVerifier(r *http.Request) (algorithm string, verify func(sluice.Checksums) error, err error) {
	h := r.Header
	var wantMD5 []byte
	if vals, ok := h["Content-Md5"]; ok {
		b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(strings.Join(vals, "")))
		if err != nil || len(b) != md5.Size {
			return "", nil, sluice.Errorf(sluice.ErrInvalidDigest, "The Content-MD5 you specified was not valid.").
				With("Content-MD5", strings.Join(vals, ""))
		}
		wantMD5 = b
	}

	for _, name := range []string{"X-Amz-Sdk-Checksum-Algorithm", "X-Amz-Checksum-Algorithm"} {
		v := h.Get(name)
		if v == "" {
			continue
		}
		a := strings.ToUpper(v)
		if _, ok := checksumAlgorithms[a]; !ok {
			return "", nil, sluice.Errorf(sluice.ErrInvalidRequest, "Value for %s header is invalid.", strings.ToLower(name))
		}
		if algorithm != "" && algorithm != a {
			return "", nil, sluice.Errorf(sluice.ErrInvalidRequest, "Value for %s header is invalid.", strings.ToLower(name))
		}
		algorithm = a
	}

	var valueAlgo, want, trailer string
	for a, key := range checksumHeaderKeys {
		v := headerValue(h, key)
		if v == "" {
			continue
		}
		if valueAlgo != "" {
			return "", nil, sluice.Errorf(sluice.ErrInvalidRequest, "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.")
		}
		valueAlgo, want = a, v
	}
	if t := strings.TrimSpace(h.Get("X-Amz-Trailer")); t != "" {
		a, ok := strings.CutPrefix(strings.ToLower(t), "x-amz-checksum-")
		a = strings.ToUpper(a)
		if _, known := checksumAlgorithms[a]; !ok || !known || strings.Contains(t, ",") {
			return "", nil, sluice.Errorf(sluice.ErrInvalidRequest, "The value specified in the x-amz-trailer header is not supported")
		}
		if valueAlgo != "" {
			return "", nil, sluice.Errorf(sluice.ErrInvalidRequest, "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.")
		}
		valueAlgo, trailer = a, t
	}
	if valueAlgo != "" {
		if algorithm != "" && algorithm != valueAlgo {
			return "", nil, sluice.Errorf(sluice.ErrInvalidRequest, "Value for x-amz-sdk-checksum-algorithm header is invalid.")
		}
		algorithm = valueAlgo
	}
	if want != "" && !validChecksumValue(algorithm, want) {
		return "", nil, sluice.Errorf(sluice.ErrInvalidRequest, "Value for %s header is invalid.", checksumHeader(algorithm))
	}

	verify = func(c sluice.Checksums) error {
		if wantMD5 != nil && !bytes.Equal(wantMD5, c.MD5) {
			return sluice.Errorf(sluice.ErrBadDigest, "The Content-MD5 you specified did not match what we received.").
				With("ExpectedDigest", base64.StdEncoding.EncodeToString(wantMD5)).
				With("CalculatedDigest", base64.StdEncoding.EncodeToString(c.MD5))
		}
		expected := want
		if trailer != "" {
			expected = strings.TrimSpace(r.Trailer.Get(trailer))
			if expected == "" {
				return sluice.Errorf(sluice.ErrInvalidRequest, "The x-amz-trailer header was specified, but the trailing checksum %s was not found.", trailer)
			}
			if !validChecksumValue(algorithm, expected) {
				return sluice.Errorf(sluice.ErrInvalidRequest, "Value for %s trailing header is invalid.", checksumHeader(algorithm))
			}
		}
		if expected == "" {
			return nil
		}
		if c.Algorithm != algorithm {
			return sluice.Errorf(sluice.ErrInternal, "store computed checksum %q, want %q", c.Algorithm, algorithm)
		}
		if c.Value != expected {
			return sluice.Errorf(sluice.ErrBadDigest, "The %s you specified did not match the calculated checksum.", algorithm)
		}
		return nil
	}
	return algorithm, verify, nil
}

// hasBodyChecksum reports whether a request carries an integrity header, as
// S3 requires for DeleteObjects and PutBucketTagging.
func hasBodyChecksum(h http.Header) bool {
	if h.Get("Content-Md5") != "" || h.Get("X-Amz-Trailer") != "" {
		return true
	}
	for _, key := range checksumHeaderKeys {
		if headerValue(h, key) != "" {
			return true
		}
	}
	return false
}

func missingContentMD5() error {
	return sluice.Errorf(sluice.ErrInvalidRequest, "Missing required header for this request: Content-MD5")
}

// verifyBody checks an in-memory body against the request's integrity headers.
func verifyBody(r *http.Request, body []byte) error {
	algo, verify, err := checksumVerifier(r)
	if err != nil {
		return err
	}
	return verify(computeChecksums(algo, body))
}

func validChecksumValue(algo, v string) bool {
	b, err := base64.StdEncoding.DecodeString(v)
	return err == nil && len(b) == checksumAlgorithms[algo]
}

// setChecksumHeaders sets x-amz-checksum-<algo> and x-amz-checksum-type on a
// response when c carries an additional checksum.
func setChecksumHeaders(h http.Header, c sluice.Checksums) {
	if c.Algorithm == "" || c.Value == "" {
		return
	}
	key, ok := checksumHeaderKeys[c.Algorithm]
	if !ok {
		key = http.CanonicalHeaderKey(checksumHeader(c.Algorithm))
	}
	h[key] = []string{c.Value}
	if c.Type != "" {
		h.Set("X-Amz-Checksum-Type", c.Type)
	}
}
