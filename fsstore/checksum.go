package fsstore

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"hash"
	"hash/crc32"
	"hash/crc64"
	"strconv"

	"github.com/sluicehq/sluice"
)

// crc64NVMEPoly is the CRC-64/NVME polynomial in the reversed (LSB-first)
// form hash/crc64 expects; its normal form is 0xad93d23594c93659.
const crc64NVMEPoly = 0x9a6c9329ac4bc9b5

var (
	crc32cTable    = crc32.MakeTable(crc32.Castagnoli)
	crc64NVMETable = crc64.MakeTable(crc64NVMEPoly)
)

// newChecksumHash returns the hash for an S3 checksum algorithm; nil for "".
func newChecksumHash(algorithm string) (hash.Hash, error) {
	switch algorithm {
	case "":
		return nil, nil
	case sluice.ChecksumCRC32:
		return crc32.NewIEEE(), nil
	case sluice.ChecksumCRC32C:
		return crc32.New(crc32cTable), nil
	case sluice.ChecksumCRC64NVME:
		return crc64.New(crc64NVMETable), nil
	case sluice.ChecksumSHA1:
		return sha1.New(), nil
	case sluice.ChecksumSHA256:
		return sha256.New(), nil
	}
	return nil, sluice.Errorf(sluice.ErrInvalidRequest, "Checksum algorithm provided is unsupported. Please try again with any of the valid types: [CRC32, CRC32C, CRC64NVME, SHA1, SHA256]").With("ArgumentValue", algorithm)
}

func isCRC(algorithm string) bool {
	switch algorithm {
	case sluice.ChecksumCRC32, sluice.ChecksumCRC32C, sluice.ChecksumCRC64NVME:
		return true
	}
	return false
}

// uploadChecksumType resolves and validates the checksum type of a new
// multipart upload. As on S3, CRC64NVME (which only has a full-object form)
// defaults to FULL_OBJECT and every other algorithm to COMPOSITE, the
// behaviour that predates full-object checksums; SHA cannot be FULL_OBJECT
// and CRC64NVME cannot be COMPOSITE.
func uploadChecksumType(algorithm, typ string) (string, error) {
	if _, err := newChecksumHash(algorithm); err != nil {
		return "", err
	}
	if algorithm == "" {
		if typ != "" {
			return "", sluice.Errorf(sluice.ErrInvalidRequest, "The x-amz-checksum-type header can only be used with the x-amz-checksum-algorithm header.")
		}
		return "", nil
	}
	switch typ {
	case "":
		if algorithm == sluice.ChecksumCRC64NVME {
			return sluice.ChecksumTypeFullObject, nil
		}
		return sluice.ChecksumTypeComposite, nil
	case sluice.ChecksumTypeFullObject:
		if !isCRC(algorithm) {
			return "", sluice.Errorf(sluice.ErrInvalidRequest, "The FULL_OBJECT checksum type cannot be used with the %s checksum algorithm.", algorithm)
		}
	case sluice.ChecksumTypeComposite:
		if algorithm == sluice.ChecksumCRC64NVME {
			return "", sluice.Errorf(sluice.ErrInvalidRequest, "The COMPOSITE checksum type cannot be used with the CRC64NVME checksum algorithm.")
		}
	default:
		return "", sluice.Errorf(sluice.ErrInvalidRequest, "Value for x-amz-checksum-type header is invalid.")
	}
	return typ, nil
}

// hasher computes the MD5 and the optional extra checksum of a stream.
type hasher struct {
	md5       hash.Hash
	extra     hash.Hash
	algorithm string
}

func newHasher(algorithm string) (*hasher, error) {
	extra, err := newChecksumHash(algorithm)
	if err != nil {
		return nil, err
	}
	return &hasher{md5: md5.New(), extra: extra, algorithm: algorithm}, nil
}

func (h *hasher) Write(p []byte) {
	h.md5.Write(p)
	if h.extra != nil {
		h.extra.Write(p)
	}
}

func (h *hasher) sums() sluice.Checksums {
	c := sluice.Checksums{MD5: h.md5.Sum(nil)}
	if h.extra != nil {
		c.Algorithm = h.algorithm
		c.Value = base64.StdEncoding.EncodeToString(h.extra.Sum(nil))
		c.Type = sluice.ChecksumTypeFullObject
	}
	return c
}

// multipartETag is S3's ETag of a completed upload: the MD5 of the
// concatenated binary part MD5s, then "-" and the part count.
func multipartETag(partMD5s [][]byte) string {
	h := md5.New()
	for _, m := range partMD5s {
		h.Write(m)
	}
	return `"` + hex.EncodeToString(h.Sum(nil)) + "-" + strconv.Itoa(len(partMD5s)) + `"`
}

func quoteETag(md5sum []byte) string { return `"` + hex.EncodeToString(md5sum) + `"` }

// compositeChecksum is the checksum of a COMPOSITE multipart object: the
// hash of the concatenated binary part digests, base64, then "-N".
func compositeChecksum(algorithm string, partValues []string) (string, error) {
	h, err := newChecksumHash(algorithm)
	if err != nil {
		return "", err
	}
	for _, v := range partValues {
		raw, err := base64.StdEncoding.DecodeString(v)
		if err != nil {
			return "", err
		}
		h.Write(raw)
	}
	return base64.StdEncoding.EncodeToString(h.Sum(nil)) + "-" + strconv.Itoa(len(partValues)), nil
}

// fullObjectCRC combines the CRCs of consecutive parts into the CRC of their
// concatenation, without reading the bytes again.
func fullObjectCRC(algorithm string, partValues []string, partSizes []int64) (string, error) {
	var poly uint64
	width := 4
	switch algorithm {
	case sluice.ChecksumCRC32:
		poly = uint64(crc32.IEEE)
	case sluice.ChecksumCRC32C:
		poly = uint64(crc32.Castagnoli)
	case sluice.ChecksumCRC64NVME:
		poly, width = crc64NVMEPoly, 8
	default:
		return "", sluice.Errorf(sluice.ErrInvalidRequest, "The FULL_OBJECT checksum type cannot be used with the %s checksum algorithm.", algorithm)
	}
	var crc uint64
	for i, v := range partValues {
		raw, err := base64.StdEncoding.DecodeString(v)
		if err != nil || len(raw) != width {
			return "", sluice.Errorf(sluice.ErrInvalidPart, "One or more of the specified parts could not be found.  The part may not have been uploaded, or the specified entity tag may not match the part's entity tag.")
		}
		var part uint64
		if width == 4 {
			part = uint64(binary.BigEndian.Uint32(raw))
		} else {
			part = binary.BigEndian.Uint64(raw)
		}
		if i == 0 {
			crc = part
			continue
		}
		crc = crcCombine(poly, crc, part, partSizes[i])
	}
	out := make([]byte, width)
	if width == 4 {
		binary.BigEndian.PutUint32(out, uint32(crc))
	} else {
		binary.BigEndian.PutUint64(out, crc)
	}
	return base64.StdEncoding.EncodeToString(out), nil
}

// crcCombine returns the CRC of A‖B given crc1 = CRC(A), crc2 = CRC(B) and
// len2 = len(B), for a reflected CRC with all-ones init and final xor (CRC32,
// CRC32C, CRC64/NVME) whose reversed polynomial is poly. It applies len2 zero
// bytes to crc1 by repeated squaring of the GF(2) shift operator, the method
// zlib's crc32_combine uses; the pre/post inversions cancel out.
func crcCombine(poly, crc1, crc2 uint64, len2 int64) uint64 {
	if len2 <= 0 {
		return crc1 // B is empty
	}
	width := 32
	if poly > 0xffffffff {
		width = 64
	}
	var even, odd [64]uint64
	// odd is the operator for one zero bit.
	odd[0] = poly
	row := uint64(1)
	for n := 1; n < width; n++ {
		odd[n] = row
		row <<= 1
	}
	gf2Square(even[:width], odd[:width]) // two zero bits
	gf2Square(odd[:width], even[:width]) // four zero bits
	for {
		gf2Square(even[:width], odd[:width])
		if len2&1 != 0 {
			crc1 = gf2Times(even[:width], crc1)
		}
		len2 >>= 1
		if len2 == 0 {
			break
		}
		gf2Square(odd[:width], even[:width])
		if len2&1 != 0 {
			crc1 = gf2Times(odd[:width], crc1)
		}
		len2 >>= 1
		if len2 == 0 {
			break
		}
	}
	return crc1 ^ crc2
}

func gf2Times(mat []uint64, vec uint64) uint64 {
	var sum uint64
	for i := 0; vec != 0; i, vec = i+1, vec>>1 {
		if vec&1 != 0 {
			sum ^= mat[i]
		}
	}
	return sum
}

func gf2Square(square, mat []uint64) {
	for n := range mat {
		square[n] = gf2Times(mat, mat[n])
	}
}
