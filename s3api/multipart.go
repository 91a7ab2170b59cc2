package s3api

import (
	"encoding/base64"
	"encoding/xml"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/sluicehq/sluice"
)

// maxListParts is the page size ListParts, ListMultipartUploads and
// GetObjectAttributes use by default and never exceed.
const maxListParts = 1000

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
	if err := checkWriteHeaders(r.Header); err != nil {
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
		return storeErr(err, bucket, key)
	}
	w.Header().Set("X-Amz-Server-Side-Encryption", "AES256")
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
	if v, ok := q["versionId"]; ok {
		return invalidArgument("versionId", v[0], "This operation does not accept a version-id.")
	}
	num, err := uploadPartNumber(q.Get("partNumber"))
	if err != nil {
		return err
	}
	uploadID := q.Get("uploadId")
	// The front door sets ContentLength to the decoded length of an
	// aws-chunked body.
	size := r.ContentLength
	if size < 0 {
		return sluice.Errorf(sluice.ErrMissingContentLength, "You must provide the Content-Length HTTP header.")
	}
	if max := s.cfg.MaxPutSize; size > max {
		return sluice.Errorf(sluice.ErrEntityTooLarge, "Your proposed upload exceeds the maximum allowed size").
			With("ProposedSize", strconv.FormatInt(size, 10)).
			With("MaxSizeAllowed", strconv.FormatInt(max, 10))
	}
	// The upload is looked up before the body is read so that a wrong id is
	// answered without consuming gigabytes, and so that a part checksum in
	// another algorithm than the upload's can be told apart.
	page, err := s.store.ListParts(r.Context(), bucket, key, uploadID, 0, 0)
	if err != nil {
		return storeErr(err, bucket, key)
	}
	algorithm, verify, err := checksumVerifier(r)
	if err != nil {
		return err
	}
	var body io.Reader = http.NoBody
	if r.Body != nil {
		body = r.Body
	}
	br := &bodyReader{r: body}
	body = br
	if algorithm != "" && algorithm != page.Upload.ChecksumAlgorithm {
		if page.Upload.ChecksumAlgorithm != "" {
			return sluice.Errorf(sluice.ErrInvalidRequest,
				"Checksum Type mismatch occurred, expected checksum Type: %s, actual checksum Type: %s",
				strings.ToLower(page.Upload.ChecksumAlgorithm), strings.ToLower(algorithm))
		}
		// An upload created without a checksum still accepts parts sent
		// with one (SDKs add CRC32 by default): the store computes only
		// the upload's digests, so this one is computed here to check it.
		h := newChecksumHash(algorithm)
		body = io.TeeReader(br, h)
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
		if e := br.failure(); e != nil {
			return e
		}
		return storeErr(err, bucket, key)
	}
	h := w.Header()
	h.Set("ETag", part.ETag)
	if part.Checksum.Algorithm != "" {
		h.Set(checksumHeader(part.Checksum.Algorithm), part.Checksum.Value)
	}
	h.Set("X-Amz-Server-Side-Encryption", "AES256")
	h.Set("Content-Length", "0")
	w.WriteHeader(http.StatusOK)
	return nil
}

type copyPartResult struct {
	XMLName      xml.Name `xml:"http://s3.amazonaws.com/doc/2006-03-01/ CopyPartResult"`
	ETag         string
	LastModified string
	partChecksumXML
}

// uploadPartCopy is UploadPartCopy: UploadPart whose bytes are a range of
// an existing object, streamed from a snapshot of it.
func (s *Server) uploadPartCopy(w http.ResponseWriter, r *http.Request, bucket, key string) error {
	q := r.URL.Query()
	num, err := uploadPartNumber(q.Get("partNumber"))
	if err != nil {
		return err
	}
	src, err := s.openCopySource(w, r, true)
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
	if length > s.cfg.MaxPutSize {
		return copyTooLarge(s.cfg.MaxPutSize)
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
		return storeErr(err, bucket, key)
	}
	setIf(w.Header(), "X-Amz-Copy-Source-Version-Id", info.VersionID)
	w.Header().Set("X-Amz-Server-Side-Encryption", "AES256")
	s.writeXML(w, r, http.StatusOK, copyPartResult{
		ETag:            part.ETag,
		LastModified:    isoTime(part.LastModified),
		partChecksumXML: partChecksums(part.Checksum),
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
	partChecksumXML
}

type completeMultipartUploadResult struct {
	XMLName  xml.Name `xml:"http://s3.amazonaws.com/doc/2006-03-01/ CompleteMultipartUploadResult"`
	Location string
	Bucket   string
	Key      string
	ETag     string
	objectChecksumXML
}

// completeMultipartUpload is CompleteMultipartUpload (POST /key?uploadId=ID).
// S3 may answer 200 early and put an error in the body of a slow complete;
// the store completes without copying bytes, so errors are plain responses.
func (s *Server) completeMultipartUpload(w http.ResponseWriter, r *http.Request, bucket, key string) error {
	body, err := readCheckedBody(r, sluice.MaxCompleteXMLBody)
	if err != nil {
		return err
	}
	var doc completeMultipartUpload
	if err := unmarshalXML(body, &doc); err != nil {
		return err
	}
	if len(doc.Parts) == 0 {
		return malformedXML()
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
			ETag:     quoteETag(p.ETag),
			Checksum: p.value(),
		}
	}
	cond, err := writeConditions(r.Header)
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
		return storeErr(err, bucket, key)
	}
	setIf(w.Header(), "X-Amz-Version-Id", info.VersionID)
	w.Header().Set("X-Amz-Server-Side-Encryption", "AES256")
	s.writeXML(w, r, http.StatusOK, completeMultipartUploadResult{
		Location:          objectLocation(r, bucket, key),
		Bucket:            bucket,
		Key:               key,
		ETag:              info.ETag,
		objectChecksumXML: objectChecksums(info.Checksum),
	})
	return nil
}

// abortMultipartUpload is AbortMultipartUpload (DELETE /key?uploadId=ID).
func (s *Server) abortMultipartUpload(w http.ResponseWriter, r *http.Request, bucket, key string) error {
	if err := s.store.AbortUpload(r.Context(), bucket, key, r.URL.Query().Get("uploadId")); err != nil {
		return storeErr(err, bucket, key)
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
	partChecksumXML
}

// listParts is ListParts (GET /key?uploadId=ID).
func (s *Server) listParts(w http.ResponseWriter, r *http.Request, bucket, key string) error {
	q := r.URL.Query()
	marker, err := listIntParam(q, "part-number-marker", 0)
	if err != nil {
		return err
	}
	max, err := listIntParam(q, "max-parts", maxListParts)
	if err != nil {
		return err
	}
	max = min(max, maxListParts)
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
	page, err := s.store.ListParts(r.Context(), bucket, key, uploadID, marker, max)
	if err != nil {
		return storeErr(err, bucket, key)
	}
	res.IsTruncated = page.IsTruncated
	res.NextPartNumberMarker = page.NextPartNumberMarker
	for _, p := range page.Parts {
		res.Parts = append(res.Parts, listedPart{
			PartNumber:      p.Number,
			LastModified:    isoTime(p.LastModified),
			ETag:            p.ETag,
			Size:            p.Size,
			partChecksumXML: partChecksums(p.Checksum),
		})
	}
	if n := len(page.Parts); n > 0 && res.NextPartNumberMarker == 0 {
		res.NextPartNumberMarker = page.Parts[n-1].Number
	}
	res.StorageClass = storageClassOrStandard(page.Upload.Meta.StorageClass)
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
	max, err := listIntParam(q, "max-uploads", maxListParts)
	if err != nil {
		return err
	}
	max = min(max, maxListParts)
	encode := func(v string) string { return v }
	encoding := q.Get("encoding-type")
	switch encoding {
	case "":
	case "url":
		encode = uploadsURLEncode
	default:
		return invalidArgument("encoding-type", encoding, "Invalid Encoding Method specified in Request")
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
	page, err := s.store.ListUploads(r.Context(), bucket, opts)
	if err != nil {
		return storeErr(err, bucket, "")
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
			StorageClass:      storageClassOrStandard(u.Meta.StorageClass),
			Initiated:         isoTime(u.Initiated),
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

// objectChecksumXML are the checksum elements of an object in responses.
type objectChecksumXML struct {
	ChecksumCRC32     string `xml:",omitempty"`
	ChecksumCRC32C    string `xml:",omitempty"`
	ChecksumCRC64NVME string `xml:",omitempty"`
	ChecksumSHA1      string `xml:",omitempty"`
	ChecksumSHA256    string `xml:",omitempty"`
	ChecksumType      string `xml:",omitempty"`
}

// partChecksumXML are the checksum elements of a part, which has no type.
type partChecksumXML struct {
	ChecksumCRC32     string `xml:",omitempty"`
	ChecksumCRC32C    string `xml:",omitempty"`
	ChecksumCRC64NVME string `xml:",omitempty"`
	ChecksumSHA1      string `xml:",omitempty"`
	ChecksumSHA256    string `xml:",omitempty"`
}

func objectChecksums(c sluice.Checksums) objectChecksumXML {
	p := partChecksums(c)
	x := objectChecksumXML{
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

func partChecksums(c sluice.Checksums) partChecksumXML {
	var x partChecksumXML
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

// uploadPartNumber parses partNumber as S3 does: an integer in 1..10000.
func uploadPartNumber(v string) (int, error) {
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > sluice.MaxParts {
		return 0, sluice.Errorf(sluice.ErrInvalidArgument, "Part number must be an integer between 1 and %d, inclusive", sluice.MaxParts).
			With("ArgumentName", "partNumber").
			With("ArgumentValue", v)
	}
	return n, nil
}

// listIntParam parses a non-negative integer query parameter.
func listIntParam(q url.Values, name string, def int) (int, error) {
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

func copyTooLarge(max int64) error {
	return sluice.Errorf(sluice.ErrInvalidRequest, "The specified copy source is larger than the maximum allowable size for a copy source: %d", max)
}

// quoteETag accepts an ETag with or without its quotes and returns it
// quoted, as the store keeps it.
func quoteETag(etag string) string {
	etag = strings.TrimSpace(etag)
	etag = strings.TrimPrefix(strings.TrimSuffix(etag, `"`), `"`)
	return `"` + etag + `"`
}

// objectLocation is the URL of the completed object, addressed as the request
// addressed its bucket.
func objectLocation(r *http.Request, bucket, key string) string {
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

// uploadsURLEncode is S3's encoding-type=url: form encoding, '/' kept.
func uploadsURLEncode(v string) string {
	return strings.ReplaceAll(url.QueryEscape(v), "%2F", "/")
}

func storageClassOrStandard(c string) string {
	if c == "" {
		return "STANDARD"
	}
	return c
}
