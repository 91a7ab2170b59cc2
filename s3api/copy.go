package s3api

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/sluicehq/sluice"
)

type copyObjectResult struct {
	XMLName      xml.Name `xml:"http://s3.amazonaws.com/doc/2006-03-01/ CopyObjectResult"`
	ETag         string
	LastModified string
	objectChecksumXML
}

// copyObject is CopyObject (PUT /key with x-amz-copy-source). The source is
// streamed from a snapshot into a new object, so copying a key onto itself
// reads the old bytes while the new ones are written.
func (s *Server) copyObject(w http.ResponseWriter, r *http.Request, bucket, key string) error {
	metaDirective, err := copyDirective(r.Header, "x-amz-metadata-directive", "metadata")
	if err != nil {
		return err
	}
	tagDirective, err := copyDirective(r.Header, "x-amz-tagging-directive", "tagging")
	if err != nil {
		return err
	}
	cond, err := writeConditions(r.Header)
	if err != nil {
		return err
	}
	if err := checkWriteHeaders(r.Header); err != nil {
		return err
	}
	// Parsed under COPY too: the headers must be valid whichever directive
	// decides what is kept.
	reqMeta, err := parseMeta(r.Header)
	if err != nil {
		return err
	}
	src, err := s.openCopySource(w, r, false)
	if err != nil {
		return err
	}
	defer src.Close()
	info := src.Info()
	if info.Size > s.cfg.MaxPutSize {
		return copyTooLarge(s.cfg.MaxPutSize)
	}
	if info.Bucket == bucket && info.Key == key && metaDirective == "COPY" && !copyChangesObject(r.Header) && s.isCurrent(r, info) {
		return sluice.Errorf(sluice.ErrInvalidRequest, "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes.")
	}

	meta := reqMeta
	if metaDirective == "COPY" {
		meta = info.Meta
		// Storage class and redirect are properties of the copy, not of
		// the source's metadata, so they apply under COPY too.
		if r.Header.Get("X-Amz-Storage-Class") != "" {
			meta.StorageClass = reqMeta.StorageClass
		}
		if reqMeta.WebsiteRedirect != "" {
			meta.WebsiteRedirect = reqMeta.WebsiteRedirect
		}
	}
	if tagDirective == "REPLACE" {
		meta.Tags = reqMeta.Tags
	} else {
		meta.Tags = info.Meta.Tags
	}

	algorithm := strings.ToUpper(r.Header.Get("x-amz-checksum-algorithm"))
	if algorithm == "" {
		algorithm = info.Checksum.Algorithm
	}
	in := &sluice.PutObjectInput{
		Bucket:     bucket,
		Key:        key,
		Meta:       meta,
		Conditions: cond,
		EventName:  sluice.EventObjectCreatedCopy,
	}
	out, linked, err := s.linkCopy(r.Context(), info, algorithm, in)
	if !linked && err == nil {
		out, err = s.streamCopy(r.Context(), src, algorithm, in)
	}
	if err != nil {
		return storeErr(err, bucket, key)
	}
	h := w.Header()
	setIf(h, "X-Amz-Copy-Source-Version-Id", info.VersionID)
	setIf(h, "X-Amz-Version-Id", out.VersionID)
	h.Set("X-Amz-Server-Side-Encryption", "AES256")
	s.writeXML(w, r, http.StatusOK, copyObjectResult{
		ETag:              out.ETag,
		LastModified:      isoTime(out.LastModified),
		objectChecksumXML: objectChecksums(out.Checksum),
	})
	return nil
}

// linker is a store that can make an object a copy of another without
// copying its bytes (fsstore's LinkObject).
type linker interface {
	LinkObject(ctx context.Context, src sluice.ObjectInfo, dst *sluice.PutObjectInput) (sluice.ObjectInfo, error)
}

// linkCopy makes in a copy of src that shares its bytes, when the store can
// and the copy would have the same bytes, ETag and checksum as src: a
// CopyObject of any size then costs one metadata commit, where streaming
// writes and fsyncs every byte again. It does not for a source built from
// parts (its copy is a single-part object with the plain MD5 ETag) or a
// copy asked for another checksum algorithm. linked is false, with no
// error, when the caller must stream instead, as it must too when src
// changed since it was opened: the link commits only while src's ETag is
// the one opened, and the stream reads the opened snapshot.
func (s *Server) linkCopy(ctx context.Context, src sluice.ObjectInfo, algorithm string, in *sluice.PutObjectInput) (out sluice.ObjectInfo, linked bool, err error) {
	l, ok := s.store.(linker)
	if !ok || len(src.Parts) > 0 || strings.Contains(src.ETag, "-") || algorithm != src.Checksum.Algorithm {
		return sluice.ObjectInfo{}, false, nil
	}
	out, err = l.LinkObject(ctx, src, in)
	if sourceChanged(err) {
		return sluice.ObjectInfo{}, false, nil
	}
	// A failed condition on the destination is the copy's answer: the
	// stream would write every byte only to fail it too.
	return out, true, err
}

// sourceChanged reports whether LinkObject failed because its source is no
// longer the one opened: overwritten, or deleted.
func sourceChanged(err error) bool {
	var e *sluice.Error
	if !errors.As(err, &e) {
		return false
	}
	return e.Code == sluice.ErrNoSuchKey || e.Code == sluice.ErrPreconditionFailed && e.Fields["Condition"] == "x-amz-copy-source-if-match"
}

// streamCopy writes in from src's opened snapshot, verified against src's
// checksums.
func (s *Server) streamCopy(ctx context.Context, src sluice.Object, algorithm string, in *sluice.PutObjectInput) (sluice.ObjectInfo, error) {
	info := src.Info()
	body, err := src.Reader(0, -1)
	if err != nil {
		return sluice.ObjectInfo{}, err
	}
	defer body.Close()
	put := *in
	put.Body = body
	put.Size = info.Size
	put.ChecksumAlgorithm = algorithm
	put.Verify = copyVerifier(info)
	return s.store.PutObject(ctx, &put)
}

// isCurrent reports whether info is the current version of its key. Copying
// an older version onto its own key is how S3 restores it, so only a copy
// of the current version onto itself needs a change to be legal.
func (s *Server) isCurrent(r *http.Request, info sluice.ObjectInfo) bool {
	cur, err := s.store.HeadObject(r.Context(), info.Bucket, info.Key)
	return err == nil && cur.VersionID == info.VersionID
}

// copyVerifier checks that the bytes written are the source's, when the
// source's ETag is a plain MD5: a snapshot that changed underneath the copy
// must not commit silently.
func copyVerifier(src sluice.ObjectInfo) func(sluice.Checksums) error {
	want, err := hex.DecodeString(strings.Trim(src.ETag, `"`))
	if err != nil || len(want) != md5.Size {
		return nil
	}
	return func(c sluice.Checksums) error {
		if len(c.MD5) == md5.Size && string(c.MD5) != string(want) {
			return sluice.Errorf(sluice.ErrInternal, "We encountered an internal error. Please try again.")
		}
		return nil
	}
}

// copyDirective reads x-amz-metadata-directive or x-amz-tagging-directive.
func copyDirective(h http.Header, name, what string) (string, error) {
	switch v := h.Get(name); v {
	case "", "COPY":
		return "COPY", nil
	case "REPLACE":
		return v, nil
	default:
		return "", sluice.Errorf(sluice.ErrInvalidArgument, "Unknown %s directive.", what).
			With("ArgumentName", name).
			With("ArgumentValue", v)
	}
}

// copyChangesObject reports whether a copy onto itself asks for a change
// S3 accepts as one besides REPLACE metadata.
func copyChangesObject(h http.Header) bool {
	for _, name := range []string{
		"x-amz-storage-class",
		"x-amz-website-redirect-location",
		"x-amz-checksum-algorithm",
		"x-amz-server-side-encryption",
		"x-amz-server-side-encryption-aws-kms-key-id",
		"x-amz-server-side-encryption-customer-algorithm",
	} {
		if h.Get(name) != "" {
			return true
		}
	}
	return false
}

// openCopySource resolves x-amz-copy-source, checks that the caller may read
// it and that its preconditions hold, and returns a snapshot of it. S3
// words a bad source version differently for CopyObject and UploadPartCopy
// (part is true for the latter).
func (s *Server) openCopySource(w http.ResponseWriter, r *http.Request, part bool) (sluice.Object, error) {
	bucket, key, versionID, err := parseCopySource(r.Header)
	if err != nil {
		return nil, err
	}
	action := "s3:GetObject"
	if versionID != "" {
		action = "s3:GetObjectVersion"
	}
	if err := s.authorize(r, action, bucket, key); err != nil {
		return nil, err
	}
	obj, err := s.store.OpenVersion(r.Context(), bucket, key, versionID)
	if err != nil {
		switch sluice.ErrorCode(err) {
		case sluice.ErrMethodNotAllowed:
			return nil, sluice.Errorf(sluice.ErrInvalidRequest, "The source of a copy request may not specifically refer to a delete marker by version id.")
		case sluice.ErrInvalidArgument:
			if part {
				return nil, invalidArgument("x-amz-copy-source", versionID, "Invalid version id specified")
			}
			return nil, sluice.Errorf(sluice.ErrInvalidRequest, "Invalid Request")
		case sluice.ErrNoSuchKey:
			info, _ := s.store.HeadVersion(r.Context(), bucket, key, versionID)
			return nil, versionErr(w.Header(), r.Method, info, err, bucket, key, versionID)
		}
		return nil, versionErr(w.Header(), r.Method, sluice.ObjectInfo{}, err, bucket, key, versionID)
	}
	if err := checkCopySourceConditions(r.Header, obj.Info()); err != nil {
		obj.Close()
		return nil, err
	}
	return obj, nil
}

// parseCopySource reads x-amz-copy-source: "bucket/key" URL-encoded, with
// an optional leading '/' and an optional "?versionId=" suffix.
func parseCopySource(h http.Header) (bucket, key, versionID string, err error) {
	raw := h.Get("x-amz-copy-source")
	invalid := func() error {
		return sluice.Errorf(sluice.ErrInvalidArgument, "Copy Source must mention the source bucket and key: sourcebucket/sourcekey").
			With("ArgumentName", "x-amz-copy-source").
			With("ArgumentValue", raw)
	}
	path, query, hasQuery := strings.Cut(raw, "?")
	if hasQuery {
		q, err := url.ParseQuery(query)
		if err != nil {
			return "", "", "", invalid()
		}
		if v, ok := q["versionId"]; ok {
			if v[0] == "" {
				return "", "", "", invalidArgument("x-amz-copy-source", "", "Version id cannot be the empty string")
			}
			versionID = v[0]
		}
	}
	path, err = url.PathUnescape(path)
	if err != nil {
		return "", "", "", invalid()
	}
	path = strings.TrimPrefix(path, "/")
	bucket, key, _ = strings.Cut(path, "/")
	if bucket == "" || key == "" {
		return "", "", "", invalid()
	}
	if len(key) > sluice.MaxKeyLength {
		return "", "", "", sluice.Errorf(sluice.ErrKeyTooLong, "Your key is too long").
			With("Size", strconv.Itoa(len(key))).
			With("MaxSizeAllowed", strconv.Itoa(sluice.MaxKeyLength))
	}
	return bucket, key, versionID, nil
}

// checkCopySourceConditions applies x-amz-copy-source-if-*. As S3
// documents, a matching if-match overrides a failing if-unmodified-since and
// a failing if-none-match wins over a passing if-modified-since; every
// failure is 412, never 304.
func checkCopySourceConditions(h http.Header, info sluice.ObjectInfo) error {
	failed := func(condition string) error {
		return sluice.Errorf(sluice.ErrPreconditionFailed, "At least one of the pre-conditions you specified did not hold").
			With("Condition", condition)
	}
	modified := info.LastModified.Truncate(time.Second)
	if v := h.Get("x-amz-copy-source-if-match"); v != "" {
		if !copyETagMatches(v, info.ETag) {
			return failed("x-amz-copy-source-If-Match")
		}
	} else if t, ok := copyHTTPTime(h.Get("x-amz-copy-source-if-unmodified-since")); ok && modified.After(t) {
		return failed("x-amz-copy-source-If-Unmodified-Since")
	}
	if v := h.Get("x-amz-copy-source-if-none-match"); v != "" {
		if copyETagMatches(v, info.ETag) {
			return failed("x-amz-copy-source-If-None-Match")
		}
	} else if t, ok := copyHTTPTime(h.Get("x-amz-copy-source-if-modified-since")); ok && !modified.After(t) {
		return failed("x-amz-copy-source-If-Modified-Since")
	}
	return nil
}

// copyETagMatches reports whether a comma-separated list of ETags (quoted
// or not, or "*") names etag.
func copyETagMatches(list, etag string) bool {
	etag = strings.Trim(etag, `"`)
	for _, v := range strings.Split(list, ",") {
		v = strings.TrimSpace(v)
		v = strings.TrimPrefix(v, "W/")
		if v == "*" || strings.Trim(v, `"`) == etag {
			return true
		}
	}
	return false
}

// copyHTTPTime parses an HTTP date; S3 ignores a date it cannot parse.
func copyHTTPTime(v string) (time.Time, bool) {
	if v == "" {
		return time.Time{}, false
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return time.Time{}, false
	}
	return t, true
}

// parseCopySourceRange parses x-amz-copy-source-range, which unlike Range
// takes exactly "bytes=first-last" and must lie within the source.
func parseCopySourceRange(v string, size int64) (offset, length int64, err error) {
	spec, ok := strings.CutPrefix(v, "bytes=")
	first, last, ok2 := strings.Cut(spec, "-")
	if !ok || !ok2 || !copyDigits(first) || !copyDigits(last) {
		return 0, 0, sluice.Errorf(sluice.ErrInvalidArgument, "The x-amz-copy-source-range value must be of the form bytes=first-last where first and last are the zero-based offsets of the first and last bytes to copy").
			With("ArgumentName", "x-amz-copy-source-range").
			With("ArgumentValue", v)
	}
	f, errF := strconv.ParseInt(first, 10, 64)
	l, errL := strconv.ParseInt(last, 10, 64)
	if errF != nil || errL != nil || f > l || l >= size {
		return 0, 0, sluice.Errorf(sluice.ErrInvalidRange, "The requested range is not satisfiable").
			With("RangeRequested", v).
			With("ActualObjectSize", strconv.FormatInt(size, 10))
	}
	return f, l - f + 1, nil
}

func copyDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
