package s3api

import (
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/xml"
	"hash"
	"hash/crc32"
	"hash/crc64"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/sluicehq/sluice"
)

// mpMaxListParts is the page size ListParts, ListMultipartUploads and
// GetObjectAttributes use by default and never exceed.
const mpMaxListParts = 1000

type initiateMultipartUploadResult struct {
	XMLName  xml.Name `xml:"http://s3.amazonaws.com/doc/2006-03-01/ InitiateMultipartUploadResult"`
	Bucket   string
	Key      string
	UploadID string `xml:"UploadId"`
}

// createMultipartUpload is CreateMultipartUpload (POST /key?uploads).
func (s *Server) createMultipartUpload(w http.ResponseWriter, r *http.Request, bucket, key string) error {
	meta, err := parseMeta(r.Header)
	if err != nil {
		return err
	}
	up, err := s.store.CreateUpload(r.Context(), &sluice.CreateUploadInput{
		Bucket:            bucket,
		Key:               key,
		Meta:              meta,
		ChecksumAlgorithm: strings.ToUpper(r.Header.Get("x-amz-checksum-algorithm")),
		ChecksumType:      strings.ToUpper(r.Header.Get("x-amz-checksum-type")),
	})
	if err != nil {
		return err
	}
	if up.ChecksumAlgorithm != "" {
		w.Header().Set("x-amz-checksum-algorithm", up.ChecksumAlgorithm)
	}
	if up.ChecksumType != "" {
		w.Header().Set("x-amz-checksum-type", up.ChecksumType)
	}
	s.writeXML(w, r, http.StatusOK, initiateMultipartUploadResult{
		Bucket:   bucket,
		Key:      key,
		UploadID: up.UploadID,
	})
	return nil
}

// uploadPart is UploadPart (PUT /key?partNumber=N&uploadId=ID).
func (s *Server) uploadPart(w http.ResponseWriter, r *http.Request, bucket, key string) error {
	q := r.URL.Query()
	num, err := mpPartNumber(q.Get("partNumber"))
	if err != nil {
		return err
	}
	uploadID := q.Get("uploadId")
	size, err := mpBodySize(r)
	if err != nil {
		return err
	}
	if max := s.mpMaxPartSize(); size > max {
		return sluice.Errorf(sluice.ErrEntityTooLarge, "Your proposed upload exceeds the maximum allowed size").
			With("ProposedSize", strconv.FormatInt(size, 10)).
			With("MaxSizeAllowed", strconv.FormatInt(max, 10))
	}
	// The upload is looked up before the body is read so that a wrong id is
	// answered without consuming gigabytes, and so that a part checksum in
	// another algorithm than the upload's can be told apart.
	page, err := s.store.ListParts(r.Context(), bucket, key, uploadID, 0, 1)
	if err != nil {
		return err
	}
	algorithm, verify, err := checksumVerifier(r)
	if err != nil {
		return err
	}
	body := io.Reader(r.Body)
	if algorithm != "" && algorithm != page.Upload.ChecksumAlgorithm {
		if page.Upload.ChecksumAlgorithm != "" {
			return sluice.Errorf(sluice.ErrInvalidRequest,
				"Checksum Type mismatch occurred, expected checksum Type: %s, actual checksum Type: %s",
				strings.ToLower(page.Upload.ChecksumAlgorithm), strings.ToLower(algorithm))
		}
		// An upload created without a checksum still accepts parts sent
		// with one (SDKs add CRC32 by default): the store computes only
		// the upload's digests, so this one is computed here to check it.
		h, err := mpNewHash(algorithm)
		if err != nil {
			return err
		}
		body = io.TeeReader(r.Body, h)
		inner := verify
		verify = func(c sluice.Checksums) error {
			c.Algorithm = algorithm
			c.Value = base64.StdEncoding.EncodeToString(h.Sum(nil))
			c.Type = sluice.ChecksumTypeFullObject
			return inner(c)
		}
	}
	part, err := s.store.UploadPart(r.Context(), &sluice.UploadPartInput{
		Bucket:     bucket,
		Key:        key,
		UploadID:   uploadID,
		PartNumber: num,
		Body:       body,
		Size:       size,
		Verify:     verify,
	})
	if err != nil {
		return err
	}
	w.Header().Set("ETag", part.ETag)
	if part.Checksum.Algorithm != "" {
		w.Header().Set("x-amz-checksum-"+strings.ToLower(part.Checksum.Algorithm), part.Checksum.Value)
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

type copyPartResult struct {
	XMLName      xml.Name `xml:"http://s3.amazonaws.com/doc/2006-03-01/ CopyPartResult"`
	ETag         string
	LastModified string
	mpPartChecksumXML
}

// uploadPartCopy is UploadPartCopy: UploadPart whose bytes are a range of
// an existing object, streamed from a snapshot of it.
func (s *Server) uploadPartCopy(w http.ResponseWriter, r *http.Request, bucket, key string) error {
	q := r.URL.Query()
	num, err := mpPartNumber(q.Get("partNumber"))
	if err != nil {
		return err
	}
	src, err := s.openCopySource(r)
	if err != nil {
		return err
	}
	defer src.Close()
	info := src.Info()
	offset, length := int64(0), info.Size
	if v := r.Header.Get("x-amz-copy-source-range"); v != "" {
		if offset, length, err = parseCopySourceRange(v, info.Size); err != nil {
			return err
		}
	}
	if max := s.mpMaxPartSize(); length > max {
		return mpCopyTooLarge(max)
	}
	body, err := src.Reader(offset, length)
	if err != nil {
		return err
	}
	defer body.Close()
	part, err := s.store.UploadPart(r.Context(), &sluice.UploadPartInput{
		Bucket:     bucket,
		Key:        key,
		UploadID:   q.Get("uploadId"),
		PartNumber: num,
		Body:       body,
		Size:       length,
	})
	if err != nil {
		return err
	}
	if info.VersionID != "" {
		w.Header().Set("x-amz-copy-source-version-id", info.VersionID)
	}
	s.writeXML(w, r, http.StatusOK, copyPartResult{
		ETag:              part.ETag,
		LastModified:      mpTime(part.LastModified),
		mpPartChecksumXML: mpPartChecksums(part.Checksum),
	})
	return nil
}

// completeMultipartUpload is the body of CompleteMultipartUpload.
type completeMultipartUpload struct {
	XMLName xml.Name        `xml:"CompleteMultipartUpload"`
	Parts   []completedPart `xml:"Part"`
}

type completedPart struct {
	PartNumber int
	ETag       string
	mpChecksumXML
}

type completeMultipartUploadResult struct {
	XMLName  xml.Name `xml:"http://s3.amazonaws.com/doc/2006-03-01/ CompleteMultipartUploadResult"`
	Location string
	Bucket   string
	Key      string
	ETag     string
	mpChecksumXML
}

// completeMultipartUpload is CompleteMultipartUpload (POST /key?uploadId=ID).
// S3 may answer 200 early and put an error in the body of a slow complete;
// the store completes without copying bytes, so errors are plain responses.
func (s *Server) completeMultipartUpload(w http.ResponseWriter, r *http.Request, bucket, key string) error {
	var doc completeMultipartUpload
	if err := decodeXML(r, sluice.MaxCompleteXMLBody, &doc); err != nil {
		return err
	}
	if len(doc.Parts) == 0 {
		return mpMalformedXML()
	}
	if len(doc.Parts) > sluice.MaxParts {
		return sluice.Errorf(sluice.ErrInvalidArgument, "Part number must be an integer between 1 and %d, inclusive", sluice.MaxParts).
			With("ArgumentName", "partNumber").
			With("ArgumentValue", strconv.Itoa(len(doc.Parts)))
	}
	parts := make([]sluice.CompletePart, len(doc.Parts))
	for i, p := range doc.Parts {
		parts[i] = sluice.CompletePart{
			Number:   p.PartNumber,
			ETag:     mpQuoteETag(p.ETag),
			Checksum: p.value(),
		}
	}
	cond, err := mpWriteConditions(r.Header)
	if err != nil {
		return err
	}
	info, err := s.store.CompleteUpload(r.Context(), &sluice.CompleteUploadInput{
		Bucket:     bucket,
		Key:        key,
		UploadID:   r.URL.Query().Get("uploadId"),
		Parts:      parts,
		Conditions: cond,
	})
	if err != nil {
		return err
	}
	if info.VersionID != "" {
		w.Header().Set("x-amz-version-id", info.VersionID)
	}
	s.writeXML(w, r, http.StatusOK, completeMultipartUploadResult{
		Location:      mpLocation(r, bucket, key),
		Bucket:        bucket,
		Key:           key,
		ETag:          info.ETag,
		mpChecksumXML: mpChecksums(info.Checksum),
	})
	return nil
}

// abortMultipartUpload is AbortMultipartUpload (DELETE /key?uploadId=ID).
func (s *Server) abortMultipartUpload(w http.ResponseWriter, r *http.Request, bucket, key string) error {
	if err := s.store.AbortUpload(r.Context(), bucket, key, r.URL.Query().Get("uploadId")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

type listPartsResult struct {
	XMLName              xml.Name `xml:"http://s3.amazonaws.com/doc/2006-03-01/ ListPartsResult"`
	Bucket               string
	Key                  string
	UploadID             string `xml:"UploadId"`
	PartNumberMarker     int
	NextPartNumberMarker int
	MaxParts             int
	IsTruncated          bool
	Parts                []listedPart `xml:"Part"`
	Initiator            *Owner
	Owner                *Owner
	StorageClass         string
	ChecksumAlgorithm    string `xml:",omitempty"`
	ChecksumType         string `xml:",omitempty"`
}

type listedPart struct {
	PartNumber   int
	LastModified string
	ETag         string
	Size         int64
	mpPartChecksumXML
}

// listParts is ListParts (GET /key?uploadId=ID).
func (s *Server) listParts(w http.ResponseWriter, r *http.Request, bucket, key string) error {
	q := r.URL.Query()
	marker, err := mpIntParam(q, "part-number-marker", 0)
	if err != nil {
		return err
	}
	max, err := mpIntParam(q, "max-parts", mpMaxListParts)
	if err != nil {
		return err
	}
	max = min(max, mpMaxListParts)
	uploadID := q.Get("uploadId")
	res := listPartsResult{
		Bucket:           bucket,
		Key:              key,
		UploadID:         uploadID,
		PartNumberMarker: marker,
		MaxParts:         max,
		Initiator:        accountOwner(),
		Owner:            accountOwner(),
	}
	var page sluice.PartsPage
	if max == 0 {
		// A zero page still has to prove the upload exists.
		page, err = s.store.ListParts(r.Context(), bucket, key, uploadID, marker, 1)
		page.Parts, page.IsTruncated, page.NextPartNumberMarker = nil, len(page.Parts) > 0, 0
	} else {
		page, err = s.store.ListParts(r.Context(), bucket, key, uploadID, marker, max)
	}
	if err != nil {
		return err
	}
	res.IsTruncated = page.IsTruncated
	res.NextPartNumberMarker = page.NextPartNumberMarker
	for _, p := range page.Parts {
		res.Parts = append(res.Parts, listedPart{
			PartNumber:        p.Number,
			LastModified:      mpTime(p.LastModified),
			ETag:              p.ETag,
			Size:              p.Size,
			mpPartChecksumXML: mpPartChecksums(p.Checksum),
		})
	}
	if n := len(page.Parts); n > 0 && res.NextPartNumberMarker == 0 {
		res.NextPartNumberMarker = page.Parts[n-1].Number
	}
	res.StorageClass = mpStorageClass(page.Upload.Meta.StorageClass)
	res.ChecksumAlgorithm = page.Upload.ChecksumAlgorithm
	res.ChecksumType = page.Upload.ChecksumType
	s.writeXML(w, r, http.StatusOK, res)
	return nil
}

type listMultipartUploadsResult struct {
	XMLName            xml.Name `xml:"http://s3.amazonaws.com/doc/2006-03-01/ ListMultipartUploadsResult"`
	Bucket             string
	KeyMarker          string
	UploadIDMarker     string `xml:"UploadIdMarker"`
	NextKeyMarker      string
	Prefix             string
	Delimiter          string `xml:",omitempty"`
	NextUploadIDMarker string `xml:"NextUploadIdMarker"`
	MaxUploads         int
	IsTruncated        bool
	Uploads            []listedUpload   `xml:"Upload"`
	CommonPrefixes     []mpCommonPrefix `xml:"CommonPrefixes"`
	EncodingType       string           `xml:",omitempty"`
}

type listedUpload struct {
	Key               string
	UploadID          string `xml:"UploadId"`
	Initiator         *Owner
	Owner             *Owner
	StorageClass      string
	Initiated         string
	ChecksumAlgorithm string `xml:",omitempty"`
	ChecksumType      string `xml:",omitempty"`
}

type mpCommonPrefix struct {
	Prefix string
}

// listMultipartUploads is ListMultipartUploads (GET /bucket?uploads).
func (s *Server) listMultipartUploads(w http.ResponseWriter, r *http.Request, bucket, _ string) error {
	q := r.URL.Query()
	max, err := mpIntParam(q, "max-uploads", mpMaxListParts)
	if err != nil {
		return err
	}
	max = min(max, mpMaxListParts)
	encode := func(v string) string { return v }
	encoding := q.Get("encoding-type")
	switch encoding {
	case "":
	case "url":
		encode = mpURLEncode
	default:
		return sluice.Errorf(sluice.ErrInvalidArgument, "Invalid Encoding Method specified in Request").
			With("ArgumentName", "encoding-type").
			With("ArgumentValue", encoding)
	}
	opts := sluice.ListUploadsOptions{
		Prefix:     q.Get("prefix"),
		Delimiter:  q.Get("delimiter"),
		KeyMarker:  q.Get("key-marker"),
		MaxUploads: max,
	}
	// S3 ignores upload-id-marker without key-marker.
	if opts.KeyMarker != "" {
		opts.UploadIDMarker = q.Get("upload-id-marker")
	}
	res := listMultipartUploadsResult{
		Bucket:         bucket,
		KeyMarker:      encode(opts.KeyMarker),
		UploadIDMarker: opts.UploadIDMarker,
		Prefix:         encode(opts.Prefix),
		Delimiter:      encode(opts.Delimiter),
		MaxUploads:     max,
		EncodingType:   encoding,
	}
	var page sluice.UploadsPage
	if max == 0 {
		// Nothing is listed, but the bucket must exist.
		_, err = s.store.Bucket(r.Context(), bucket)
	} else {
		page, err = s.store.ListUploads(r.Context(), bucket, opts)
	}
	if err != nil {
		return err
	}
	res.IsTruncated = page.IsTruncated
	res.NextKeyMarker = encode(page.NextKeyMarker)
	res.NextUploadIDMarker = page.NextUploadIDMarker
	for _, u := range page.Uploads {
		res.Uploads = append(res.Uploads, listedUpload{
			Key:               encode(u.Key),
			UploadID:          u.UploadID,
			Initiator:         accountOwner(),
			Owner:             accountOwner(),
			StorageClass:      mpStorageClass(u.Meta.StorageClass),
			Initiated:         mpTime(u.Initiated),
			ChecksumAlgorithm: u.ChecksumAlgorithm,
			ChecksumType:      u.ChecksumType,
		})
	}
	for _, p := range page.CommonPrefixes {
		res.CommonPrefixes = append(res.CommonPrefixes, mpCommonPrefix{Prefix: encode(p)})
	}
	s.writeXML(w, r, http.StatusOK, res)
	return nil
}

// mpChecksumXML are the checksum elements of object-level responses.
type mpChecksumXML struct {
	ChecksumCRC32     string `xml:",omitempty"`
	ChecksumCRC32C    string `xml:",omitempty"`
	ChecksumCRC64NVME string `xml:",omitempty"`
	ChecksumSHA1      string `xml:",omitempty"`
	ChecksumSHA256    string `xml:",omitempty"`
	ChecksumType      string `xml:",omitempty"`
}

// mpPartChecksumXML are the checksum elements of a part, which has no type.
type mpPartChecksumXML struct {
	ChecksumCRC32     string `xml:",omitempty"`
	ChecksumCRC32C    string `xml:",omitempty"`
	ChecksumCRC64NVME string `xml:",omitempty"`
	ChecksumSHA1      string `xml:",omitempty"`
	ChecksumSHA256    string `xml:",omitempty"`
}

func mpChecksums(c sluice.Checksums) mpChecksumXML {
	p := mpPartChecksums(c)
	x := mpChecksumXML{
		ChecksumCRC32:     p.ChecksumCRC32,
		ChecksumCRC32C:    p.ChecksumCRC32C,
		ChecksumCRC64NVME: p.ChecksumCRC64NVME,
		ChecksumSHA1:      p.ChecksumSHA1,
		ChecksumSHA256:    p.ChecksumSHA256,
	}
	if c.Algorithm != "" {
		x.ChecksumType = c.Type
	}
	return x
}

func mpPartChecksums(c sluice.Checksums) mpPartChecksumXML {
	var x mpPartChecksumXML
	switch c.Algorithm {
	case sluice.ChecksumCRC32:
		x.ChecksumCRC32 = c.Value
	case sluice.ChecksumCRC32C:
		x.ChecksumCRC32C = c.Value
	case sluice.ChecksumCRC64NVME:
		x.ChecksumCRC64NVME = c.Value
	case sluice.ChecksumSHA1:
		x.ChecksumSHA1 = c.Value
	case sluice.ChecksumSHA256:
		x.ChecksumSHA256 = c.Value
	}
	return x
}

// value is the one checksum a client lists for a part, if any.
func (p completedPart) value() string {
	for _, v := range []string{p.ChecksumCRC32, p.ChecksumCRC32C, p.ChecksumCRC64NVME, p.ChecksumSHA1, p.ChecksumSHA256} {
		if v = strings.TrimSpace(v); v != "" {
			return v
		}
	}
	return ""
}

// mpNewHash returns the hash of a checksum algorithm, for a part checksum
// the store is not asked to compute.
func mpNewHash(algorithm string) (hash.Hash, error) {
	switch algorithm {
	case sluice.ChecksumCRC32:
		return crc32.NewIEEE(), nil
	case sluice.ChecksumCRC32C:
		return crc32.New(crc32.MakeTable(crc32.Castagnoli)), nil
	case sluice.ChecksumCRC64NVME:
		return crc64.New(mpCRC64NVMETable), nil
	case sluice.ChecksumSHA1:
		return sha1.New(), nil
	case sluice.ChecksumSHA256:
		return sha256.New(), nil
	}
	return nil, sluice.Errorf(sluice.ErrInvalidRequest, "Checksum algorithm provided is unsupported. Please try again with any of the valid types: [CRC32, CRC32C, CRC64NVME, SHA1, SHA256]")
}

// mpCRC64NVMETable is CRC-64/NVME in hash/crc64's reflected form: its
// reversed polynomial, with the package's all-ones init and final xor.
var mpCRC64NVMETable = crc64.MakeTable(0x9a6c9329ac4bc9b5)

// mpPartNumber parses partNumber as S3 does: an integer in 1..10000.
func mpPartNumber(v string) (int, error) {
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > sluice.MaxParts {
		return 0, sluice.Errorf(sluice.ErrInvalidArgument, "Part number must be an integer between 1 and %d, inclusive", sluice.MaxParts).
			With("ArgumentName", "partNumber").
			With("ArgumentValue", v)
	}
	return n, nil
}

// mpIntParam parses a non-negative integer query parameter.
func mpIntParam(q url.Values, name string, def int) (int, error) {
	if !q.Has(name) {
		return def, nil
	}
	v := q.Get(name)
	n, err := strconv.ParseInt(v, 10, 32)
	if err != nil || n < 0 {
		return 0, sluice.Errorf(sluice.ErrInvalidArgument, "Provided %s not an integer or within integer range", name).
			With("ArgumentName", name).
			With("ArgumentValue", v)
	}
	return int(n), nil
}

// mpBodySize is the number of payload bytes of a part: the decoded length
// of an aws-chunked body, else Content-Length, which S3 requires.
func mpBodySize(r *http.Request) (int64, error) {
	if v := r.Header.Get("x-amz-decoded-content-length"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return 0, sluice.Errorf(sluice.ErrInvalidArgument, "Invalid x-amz-decoded-content-length").
				With("ArgumentName", "x-amz-decoded-content-length").
				With("ArgumentValue", v)
		}
		return n, nil
	}
	if r.ContentLength < 0 {
		return 0, sluice.Errorf(sluice.ErrMissingContentLength, "You must provide the Content-Length HTTP header.")
	}
	return r.ContentLength, nil
}

func (s *Server) mpMaxPartSize() int64 {
	if s.cfg.MaxPutSize > 0 {
		return s.cfg.MaxPutSize
	}
	return sluice.MaxPutSize
}

func mpCopyTooLarge(max int64) error {
	return sluice.Errorf(sluice.ErrInvalidRequest, "The specified copy source is larger than the maximum allowable size for a copy source: %d", max)
}

func mpMalformedXML() error {
	return sluice.Errorf(sluice.ErrMalformedXML, "The XML you provided was not well-formed or did not validate against our published schema")
}

// mpQuoteETag accepts an ETag with or without its quotes and returns it
// quoted, as the store keeps it.
func mpQuoteETag(etag string) string {
	etag = strings.TrimSpace(etag)
	etag = strings.TrimPrefix(strings.TrimSuffix(etag, `"`), `"`)
	return `"` + etag + `"`
}

// mpWriteConditions reads If-Match / If-None-Match of a conditional write.
// S3 supports only "*" in If-None-Match on writes.
func mpWriteConditions(h http.Header) (sluice.Conditions, error) {
	var c sluice.Conditions
	if v := strings.TrimSpace(h.Get("If-None-Match")); v != "" {
		if v != "*" {
			return c, sluice.Errorf(sluice.ErrNotImplemented, "A header you provided implies functionality that is not implemented").
				With("Header", "If-None-Match")
		}
		c.IfNoneMatch = v
	}
	if v := strings.TrimSpace(h.Get("If-Match")); v != "" {
		c.IfMatch = mpQuoteETag(v)
	}
	return c, nil
}

// mpLocation is the URL of the completed object, addressed as the request
// addressed its bucket.
func mpLocation(r *http.Request, bucket, key string) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	path := strings.ReplaceAll(url.PathEscape(key), "%2F", "/")
	if strings.HasPrefix(r.Host, bucket+".") {
		return scheme + "://" + r.Host + "/" + path
	}
	return scheme + "://" + r.Host + "/" + bucket + "/" + path
}

// mpURLEncode is S3's encoding-type=url: form encoding, '/' kept.
func mpURLEncode(v string) string {
	return strings.ReplaceAll(url.QueryEscape(v), "%2F", "/")
}

// mpTime formats a timestamp as S3 XML documents do.
func mpTime(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.000Z")
}

func mpStorageClass(c string) string {
	if c == "" {
		return "STANDARD"
	}
	return c
}
