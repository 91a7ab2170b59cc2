package s3api

import (
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sluicehq/sluice"
)

func asError(err error) (*sluice.Error, bool) {
	var e *sluice.Error
	ok := errors.As(err, &e)
	return e, ok
}

// bodyReader remembers the first domain error the request body returned
// (the SigV4 verifier's XAmzContentSHA256Mismatch, IncompleteBody, ...), so
// that it reaches the client with its own code however the store wraps it.
type bodyReader struct {
	r   io.Reader
	mu  sync.Mutex
	err *sluice.Error
}

func (b *bodyReader) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err != nil && err != io.EOF {
		if e, ok := asError(err); ok {
			b.mu.Lock()
			if b.err == nil {
				b.err = e
			}
			b.mu.Unlock()
		}
	}
	return n, err
}

func (b *bodyReader) failure() *sluice.Error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.err
}

// putObject is PutObject: a single-part write of a body whose length is
// known (Content-Length, or the decoded length of an aws-chunked body).
// Integrity headers are verified by the store before it commits.
func (s *Server) putObject(w http.ResponseWriter, r *http.Request, bucket, key string) error {
	size := r.ContentLength
	if size < 0 {
		return sluice.Errorf(sluice.ErrMissingContentLength, "You must provide the Content-Length HTTP header.")
	}
	if size > s.cfg.MaxPutSize {
		return sluice.Errorf(sluice.ErrEntityTooLarge, "Your proposed upload exceeds the maximum allowed size").
			With("ProposedSize", strconv.FormatInt(size, 10)).With("MaxSizeAllowed", strconv.FormatInt(s.cfg.MaxPutSize, 10))
	}
	meta, err := parseMeta(r.Header)
	if err != nil {
		return err
	}
	if err := checkWriteHeaders(r.Header); err != nil {
		return err
	}
	algo, verify, err := checksumVerifier(r)
	if err != nil {
		return err
	}
	cond, err := writeConditions(r.Header)
	if err != nil {
		return err
	}
	var body io.Reader = http.NoBody
	if r.Body != nil {
		body = r.Body
	}
	br := &bodyReader{r: body}
	info, err := s.store.PutObject(r.Context(), &sluice.PutObjectInput{
		Bucket:            bucket,
		Key:               key,
		Body:              br,
		Size:              size,
		Meta:              meta,
		ChecksumAlgorithm: algo,
		Verify:            verify,
		Conditions:        cond,
	})
	if err != nil {
		if e := br.failure(); e != nil {
			return e
		}
		return storeErr(err, bucket, key)
	}
	h := w.Header()
	setWrittenHeaders(h, info)
	h.Set("Content-Length", "0")
	w.WriteHeader(http.StatusOK)
	return nil
}

// checkWriteHeaders refuses what a write may ask for that Sluice cannot
// honour: ACLs other than private (buckets enforce owner-only ownership, as
// new S3 buckets do) and server-side encryption other than SSE-S3.
func checkWriteHeaders(h http.Header) error {
	if acl := h.Get("X-Amz-Acl"); acl != "" && acl != "private" && acl != "bucket-owner-full-control" || hasGrantHeaders(h) {
		return sluice.Errorf(errAccessControlListNotSupported, "The bucket does not allow ACLs")
	}
	if v := h.Get("X-Amz-Server-Side-Encryption"); v != "" && v != "AES256" {
		if v != "aws:kms" && v != "aws:kms:dsse" {
			return sluice.Errorf(sluice.ErrInvalidArgument, "The encryption method specified is not supported").
				With("ArgumentName", "x-amz-server-side-encryption").With("ArgumentValue", v)
		}
		return sluice.Errorf(sluice.ErrNotImplemented, "A header you provided implies functionality that is not implemented").
			With("Header", "x-amz-server-side-encryption")
	}
	if h.Get("X-Amz-Server-Side-Encryption-Customer-Algorithm") != "" {
		return sluice.Errorf(sluice.ErrNotImplemented, "A header you provided implies functionality that is not implemented").
			With("Header", "x-amz-server-side-encryption-customer-algorithm")
	}
	if h.Get("X-Amz-Object-Lock-Mode") != "" || h.Get("X-Amz-Object-Lock-Legal-Hold") != "" {
		return sluice.Errorf(sluice.ErrInvalidRequest, "Bucket is missing Object Lock Configuration")
	}
	return nil
}

// writeConditions reads If-Match / If-None-Match of a conditional write.
// S3 supports only "*" for If-None-Match on writes.
func writeConditions(h http.Header) (sluice.Conditions, error) {
	var c sluice.Conditions
	if v := h.Get("If-None-Match"); v != "" {
		if strings.TrimSpace(v) != "*" {
			return c, sluice.Errorf(sluice.ErrNotImplemented, "A header you provided implies functionality that is not implemented").
				With("Header", "If-None-Match")
		}
		c.IfNoneMatch = "*"
	}
	if v := strings.TrimSpace(h.Get("If-Match")); v != "" {
		if v != "*" && !strings.HasPrefix(v, `"`) {
			v = `"` + v + `"`
		}
		c.IfMatch = v
	}
	return c, nil
}

func (s *Server) getObject(w http.ResponseWriter, r *http.Request, bucket, key string) error {
	return s.serveObject(w, r, bucket, key, true)
}

func (s *Server) headObject(w http.ResponseWriter, r *http.Request, bucket, key string) error {
	return s.serveObject(w, r, bucket, key, false)
}

// responseOverrides are the query parameters that replace a stored header
// in a GetObject/HeadObject response.
var responseOverrides = []struct{ param, header string }{
	{"response-content-type", "Content-Type"},
	{"response-content-language", "Content-Language"},
	{"response-expires", "Expires"},
	{"response-cache-control", "Cache-Control"},
	{"response-content-disposition", "Content-Disposition"},
	{"response-content-encoding", "Content-Encoding"},
}

// serveObject is GetObject (withBody) and HeadObject. Preconditions are
// evaluated on the snapshot that is then streamed, so the headers and the
// bytes always describe the same object.
func (s *Server) serveObject(w http.ResponseWriter, r *http.Request, bucket, key string, withBody bool) error {
	q := r.URL.Query()
	hasOverrides := false
	for _, o := range responseOverrides {
		if q.Has(o.param) {
			hasOverrides = true
		}
	}
	if hasOverrides && sluice.IdentityFrom(r.Context()).Anonymous {
		return sluice.Errorf(sluice.ErrInvalidRequest, "Request specific response headers cannot be used for anonymous GET requests.")
	}
	vid, err := versionQuery(q)
	if err != nil {
		return err
	}
	partNumber := 0
	if v, ok := q["partNumber"]; ok {
		n, err := strconv.Atoi(v[0])
		if err != nil || n < 1 || n > sluice.MaxParts {
			return invalidArgument("partNumber", v[0], "Part number must be an integer between 1 and 10000, inclusive")
		}
		partNumber = n
		if r.Header.Get("Range") != "" {
			return sluice.Errorf(sluice.ErrInvalidRequest, "Cannot specify both Range header and partNumber query parameter")
		}
	}

	var info sluice.ObjectInfo
	var obj sluice.Object
	h := w.Header()
	if withBody {
		obj, err = s.store.OpenVersion(r.Context(), bucket, key, vid)
		if err == nil {
			defer obj.Close()
			info = obj.Info()
		} else if c := sluice.ErrorCode(err); c == sluice.ErrNoSuchKey || c == sluice.ErrMethodNotAllowed {
			// A delete marker's info, for its headers, comes back
			// through HeadVersion only.
			info, _ = s.store.HeadVersion(r.Context(), bucket, key, vid)
		}
	} else {
		info, err = s.store.HeadVersion(r.Context(), bucket, key, vid)
	}
	if err != nil {
		return versionErr(h, r.Method, info, err, bucket, key, vid)
	}

	if err := checkReadConditions(r.Header, info); err != nil {
		if sluice.IsCode(err, sluice.ErrNotModified) {
			h.Set("ETag", info.ETag)
			h.Set("Last-Modified", info.LastModified.UTC().Format(http.TimeFormat))
		}
		return err
	}
	if s.replStatus != nil {
		if st := s.replStatus(r.Context(), bucket, key, info.VersionID, info.ETag); st != "" {
			h.Set(ReplicationStatusHeader, st)
		}
	}

	offset, length := int64(0), info.Size
	status := http.StatusOK
	checksums := info.Checksum
	wholeObject := true
	switch {
	case partNumber > 0:
		off, n, part, err := partRange(info, partNumber)
		if err != nil {
			return err
		}
		offset, length, status = off, n, http.StatusPartialContent
		if info.Parts != nil {
			h.Set("X-Amz-Mp-Parts-Count", strconv.Itoa(len(info.Parts)))
			checksums = part.Checksum
			wholeObject = len(info.Parts) == 1
			if info.Checksum.Type == sluice.ChecksumTypeFullObject && !wholeObject {
				checksums = sluice.Checksums{}
			}
		}
		if length > 0 {
			h.Set("Content-Range", contentRange(offset, length, info.Size))
		}
	case r.Header.Get("Range") != "":
		spec := r.Header.Get("Range")
		off, n, ok, err := parseRange(spec, info.Size)
		if err != nil {
			return err
		}
		if ok {
			offset, length, status = off, n, http.StatusPartialContent
			h.Set("Content-Range", contentRange(offset, length, info.Size))
			wholeObject = offset == 0 && length == info.Size
		}
	}

	setObjectHeaders(h, info)
	if strings.EqualFold(r.Header.Get("X-Amz-Checksum-Mode"), "ENABLED") && (wholeObject || partNumber > 0) {
		setChecksumHeaders(h, checksums)
	}
	for _, o := range responseOverrides {
		if v, ok := q[o.param]; ok {
			h.Set(o.header, v[0])
		}
	}
	h.Set("Accept-Ranges", "bytes")
	h.Set("Content-Length", strconv.FormatInt(length, 10))
	if !withBody || length == 0 {
		w.WriteHeader(status)
		return nil
	}
	rc, err := obj.Reader(offset, length)
	if err != nil {
		h.Del("Content-Range")
		return storeErr(err, bucket, key)
	}
	defer rc.Close()
	w.WriteHeader(status)
	if n, err := io.Copy(w, rc); err != nil || n != length {
		if err == nil {
			err = io.ErrUnexpectedEOF
		}
		// Headers are out: the only honest signal left is a short body.
		if !isClientGone(r) {
			s.log.Error("s3api: object stream cut short", "request_id", requestID(r), "bucket", bucket, "key", key, "sent", n, "err", err)
		}
		panic(http.ErrAbortHandler)
	}
	return nil
}

func isClientGone(r *http.Request) bool { return r.Context().Err() != nil }

// partRange returns the byte range of part n of info. An object written in
// one PUT has exactly one part, the whole object.
func partRange(info sluice.ObjectInfo, n int) (offset, length int64, part sluice.PartInfo, err error) {
	if info.Parts == nil {
		if n != 1 {
			return 0, 0, part, sluice.Errorf(sluice.ErrInvalidPartNumber, "The requested partnumber is not satisfiable").
				With("PartNumberRequested", strconv.Itoa(n)).With("ActualPartCount", "1")
		}
		return 0, info.Size, sluice.PartInfo{Number: 1, Size: info.Size, Checksum: info.Checksum}, nil
	}
	if n > len(info.Parts) {
		return 0, 0, part, sluice.Errorf(sluice.ErrInvalidPartNumber, "The requested partnumber is not satisfiable").
			With("PartNumberRequested", strconv.Itoa(n)).With("ActualPartCount", strconv.Itoa(len(info.Parts)))
	}
	for _, p := range info.Parts[:n-1] {
		offset += p.Size
	}
	part = info.Parts[n-1]
	return offset, part.Size, part, nil
}

func contentRange(offset, length, size int64) string {
	return "bytes " + strconv.FormatInt(offset, 10) + "-" + strconv.FormatInt(offset+length-1, 10) + "/" + strconv.FormatInt(size, 10)
}

// parseRange resolves a Range header against an object of size bytes, as
// S3 does: one range of the bytes unit ("a-b", "a-", "-n"); a header S3
// would ignore (another unit, several ranges, bad syntax) yields ok=false
// and the whole object is served; a well-formed range that selects nothing
// is InvalidRange (416).
func parseRange(spec string, size int64) (offset, length int64, ok bool, err error) {
	unit, set, found := strings.Cut(strings.TrimSpace(spec), "=")
	if !found || strings.TrimSpace(unit) != "bytes" || strings.Contains(set, ",") {
		return 0, 0, false, nil
	}
	first, last, found := strings.Cut(strings.TrimSpace(set), "-")
	if !found {
		return 0, 0, false, nil
	}
	first, last = strings.TrimSpace(first), strings.TrimSpace(last)
	unsatisfiable := func() error {
		return sluice.Errorf(sluice.ErrInvalidRange, "The requested range is not satisfiable").
			With("RangeRequested", spec).With("ActualObjectSize", strconv.FormatInt(size, 10))
	}
	if first == "" {
		n, perr := parseDigits(last)
		if perr != nil {
			return 0, 0, false, nil
		}
		if n == 0 || size == 0 {
			return 0, 0, false, unsatisfiable()
		}
		if n > size {
			n = size
		}
		return size - n, n, true, nil
	}
	a, perr := parseDigits(first)
	if perr != nil {
		return 0, 0, false, nil
	}
	b := int64(-1)
	if last != "" {
		if b, perr = parseDigits(last); perr != nil || b < a {
			return 0, 0, false, nil
		}
	}
	if a >= size {
		return 0, 0, false, unsatisfiable()
	}
	if b < 0 || b >= size {
		b = size - 1
	}
	return a, b - a + 1, true, nil
}

// parseDigits accepts only ASCII digits (no sign), as the Range grammar does.
func parseDigits(s string) (int64, error) {
	if s == "" || len(s) > 19 {
		return 0, strconv.ErrSyntax
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, strconv.ErrSyntax
		}
	}
	return strconv.ParseInt(s, 10, 64)
}

// checkReadConditions applies If-Match, If-Unmodified-Since, If-None-Match
// and If-Modified-Since with RFC 7232 §6 precedence, which is also what S3
// documents: If-Match true makes If-Unmodified-Since irrelevant, and
// If-None-Match false (a match) answers 304 whatever If-Modified-Since says.
func checkReadConditions(h http.Header, info sluice.ObjectInfo) error {
	lastMod := info.LastModified.UTC().Truncate(time.Second)
	if v := h.Get("If-Match"); v != "" {
		if !etagListMatch(v, info.ETag) {
			return preconditionFailed("If-Match")
		}
	} else if v := h.Get("If-Unmodified-Since"); v != "" {
		if t, err := http.ParseTime(v); err == nil && lastMod.After(t) {
			return preconditionFailed("If-Unmodified-Since")
		}
	}
	if v := h.Get("If-None-Match"); v != "" {
		if etagListMatch(v, info.ETag) {
			return notModified()
		}
	} else if v := h.Get("If-Modified-Since"); v != "" {
		if t, err := http.ParseTime(v); err == nil && !lastMod.After(t) {
			return notModified()
		}
	}
	return nil
}

func preconditionFailed(cond string) error {
	return sluice.Errorf(sluice.ErrPreconditionFailed, "At least one of the pre-conditions you specified did not hold").With("Condition", cond)
}

func notModified() error { return sluice.Errorf(sluice.ErrNotModified, "Not Modified") }

// etagListMatch reports whether a comma-separated entity-tag list matches
// etag; "*" matches any object. Quotes are optional, as S3 accepts both.
func etagListMatch(list, etag string) bool {
	want := strings.Trim(etag, `"`)
	for _, t := range strings.Split(list, ",") {
		t = strings.TrimSpace(t)
		if t == "*" {
			return true
		}
		t = strings.TrimPrefix(t, "W/")
		if strings.Trim(t, `"`) == want && want != "" {
			return true
		}
	}
	return false
}

// deleteObject is DeleteObject: 204 whether or not the key or version
// existed. In a versioned bucket it reports the delete marker it created,
// or the version it removed (and whether that was a marker).
func (s *Server) deleteObject(w http.ResponseWriter, r *http.Request, bucket, key string) error {
	vid, err := versionQuery(r.URL.Query())
	if err != nil {
		return err
	}
	res, err := s.store.DeleteVersion(r.Context(), bucket, key, vid)
	if err != nil {
		return versionErr(w.Header(), r.Method, sluice.ObjectInfo{}, err, bucket, key, vid)
	}
	h := w.Header()
	if res.DeleteMarker {
		h.Set("X-Amz-Delete-Marker", "true")
	}
	setIf(h, "X-Amz-Version-Id", res.VersionID)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// maxDeleteBody bounds a DeleteObjects document: 1000 keys of up to 1024
// bytes, escaped, with room for the markup.
const maxDeleteBody = 8 << 20

type deleteRequest struct {
	XMLName xml.Name `xml:"Delete"`
	Quiet   bool     `xml:"Quiet"`
	Objects []struct {
		Key       string  `xml:"Key"`
		VersionID *string `xml:"VersionId"`
	} `xml:"Object"`
}

type deleteResult struct {
	XMLName xml.Name        `xml:"http://s3.amazonaws.com/doc/2006-03-01/ DeleteResult"`
	Deleted []deletedObject `xml:"Deleted"`
	Errors  []deleteError   `xml:"Error"`
}

type deletedObject struct {
	Key                   string `xml:"Key"`
	VersionID             string `xml:"VersionId,omitempty"`
	DeleteMarker          bool   `xml:"DeleteMarker,omitempty"`
	DeleteMarkerVersionID string `xml:"DeleteMarkerVersionId,omitempty"`
}

type deleteError struct {
	Key       string `xml:"Key"`
	VersionID string `xml:"VersionId,omitempty"`
	Code      string `xml:"Code"`
	Message   string `xml:"Message"`
}

// deleteObjects is DeleteObjects (POST ?delete): up to 1000 keys, each
// authorized and deleted on its own; failures are reported per key.
func (s *Server) deleteObjects(w http.ResponseWriter, r *http.Request, bucket, _ string) error {
	body, err := readIntegrityBody(r, maxDeleteBody)
	if err != nil {
		return err
	}
	var req deleteRequest
	if err := unmarshalXML(body, &req); err != nil {
		return err
	}
	if len(req.Objects) == 0 || len(req.Objects) > sluice.MaxDeleteObjects {
		return malformedXML()
	}
	for _, o := range req.Objects {
		if o.Key == "" {
			return malformedXML()
		}
	}
	if _, err := s.store.Bucket(r.Context(), bucket); err != nil {
		return storeErr(err, bucket, "")
	}
	res := deleteResult{}
	type entry struct {
		key, versionID string
		named          bool
	}
	seen := make(map[entry]bool, len(req.Objects))
	for _, o := range req.Objects {
		// S3 answers a (key, version) pair listed twice once.
		ent := entry{o.Key, derefString(o.VersionID), o.VersionID != nil}
		if seen[ent] {
			continue
		}
		seen[ent] = true
		dr, err := s.deleteOne(r, bucket, ent.key, ent.versionID, ent.named)
		if err == nil {
			if !req.Quiet {
				d := deletedObject{Key: o.Key, VersionID: ent.versionID}
				if dr.DeleteMarker {
					d.DeleteMarker = true
					d.DeleteMarkerVersionID = dr.VersionID
				}
				res.Deleted = append(res.Deleted, d)
			}
			continue
		}
		e, ok := asError(err)
		if !ok || e.Code == sluice.ErrInternal {
			s.log.Error("s3api: delete object", "request_id", requestID(r), "bucket", bucket, "key", o.Key, "err", err)
			e = sluice.Errorf(sluice.ErrInternal, internalMessage)
		}
		res.Errors = append(res.Errors, deleteError{Key: o.Key, VersionID: derefString(o.VersionID), Code: string(e.Code), Message: e.Message})
	}
	s.writeXML(w, r, http.StatusOK, res)
	return nil
}

// deleteOne deletes one entry of a DeleteObjects request; named reports
// that the entry carried a VersionId element, which S3 refuses empty.
func (s *Server) deleteOne(r *http.Request, bucket, key, versionID string, named bool) (sluice.DeleteResult, error) {
	if len(key) > sluice.MaxKeyLength {
		return sluice.DeleteResult{}, sluice.Errorf(sluice.ErrKeyTooLong, "Your key is too long")
	}
	action := "s3:DeleteObject"
	if named {
		if versionID == "" {
			return sluice.DeleteResult{}, sluice.Errorf(sluice.ErrInvalidArgument, "Version id cannot be the empty string")
		}
		action = "s3:DeleteObjectVersion"
	}
	if err := s.authorize(r, action, bucket, key); err != nil {
		return sluice.DeleteResult{}, err
	}
	res, err := s.store.DeleteVersion(r.Context(), bucket, key, versionID)
	if sluice.IsCode(err, sluice.ErrInvalidArgument) {
		return res, sluice.Errorf(sluice.ErrNoSuchVersion, "The specified version does not exist.")
	}
	return res, err
}

func derefString(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// getObjectACL answers the owner-only ACL every object has.
func (s *Server) getObjectACL(w http.ResponseWriter, r *http.Request, bucket, key string) error {
	info, err := s.headVersion(w, r, bucket, key)
	if err != nil {
		return err
	}
	setIf(w.Header(), "X-Amz-Version-Id", info.VersionID)
	writeRawXML(w, http.StatusOK, ownerACL())
	return nil
}

// putObjectACL accepts only the private ACL, as a bucket with
// BucketOwnerEnforced object ownership does.
// A delete marker refuses it even as the latest version (405 rather than
// GetObjectAcl's 404), as S3 does.
func (s *Server) putObjectACL(w http.ResponseWriter, r *http.Request, bucket, key string) error {
	info, err := s.headVersion(w, r, bucket, key)
	if sluice.IsCode(err, sluice.ErrNoSuchKey) && info.DeleteMarker {
		h := w.Header()
		h.Del("X-Amz-Delete-Marker")
		h.Del("X-Amz-Version-Id")
		return versionErr(h, r.Method, sluice.ObjectInfo{}, sluice.Errorf(sluice.ErrMethodNotAllowed, "delete marker"), bucket, key, "")
	}
	if err != nil {
		return err
	}
	if err := checkPrivateACL(r); err != nil {
		return err
	}
	setIf(w.Header(), "X-Amz-Version-Id", info.VersionID)
	w.WriteHeader(http.StatusOK)
	return nil
}

// setWrittenHeaders sets the headers a PUT or POST of an object answers
// with: its ETag, checksums, version id and encryption.
func setWrittenHeaders(h http.Header, info sluice.ObjectInfo) {
	h.Set("ETag", info.ETag)
	setChecksumHeaders(h, info.Checksum)
	setIf(h, "X-Amz-Version-Id", info.VersionID)
	h.Set("X-Amz-Server-Side-Encryption", "AES256")
}
