package edge

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/sluicehq/sluice"
)

// originRequest is what the edge asks an origin for, after the
// origin-request hook.
type originRequest struct {
	origin *origin
	// originPath overrides origin.o.OriginPath when a hook changed the origin.
	originPath string
	method     string
	uri        string // escaped path, starting with '/'
	query      string // forwarded query string, without '?'
	header     http.Header
	body       io.Reader
}

// originResponse is an origin's answer. Exactly one of body and stream
// carries the bytes: stream when the body is larger than the edge holds.
type originResponse struct {
	status int
	header http.Header
	body   []byte
	stream io.ReadCloser
	// size is the body's length, -1 when unknown (a stream without
	// Content-Length).
	size int64
}

func (r *originResponse) close() {
	if r != nil && r.stream != nil {
		r.stream.Close()
	}
}

// errOrigin is an origin that could not be reached or failed mid-way.
type errOrigin struct {
	status int // 502 or 504, as CloudFront answers
	err    error
}

func (e *errOrigin) Error() string { return fmt.Sprintf("origin: %v", e.err) }
func (e *errOrigin) Unwrap() error { return e.err }

// fetch asks the origin. Bodies up to limit bytes are read whole; larger
// ones come back as a stream.
func (e *Edge) fetch(ctx context.Context, or *originRequest, limit int64) (*originResponse, error) {
	if or.origin.s3 {
		resp, err := e.fetchS3(ctx, or, limit)
		e.m.originFetch.WithLabelValues("s3", outcome(resp, err)).Inc()
		return resp, err
	}
	resp, err := e.fetchCustom(ctx, or, limit)
	e.m.originFetch.WithLabelValues("custom", outcome(resp, err)).Inc()
	return resp, err
}

func outcome(r *originResponse, err error) string {
	switch {
	case err != nil:
		return "error"
	case r.status == http.StatusNotModified:
		return "not_modified"
	case r.status >= 500:
		return "5xx"
	case r.status >= 400:
		return "4xx"
	}
	return "ok"
}

// s3Key maps a request URI to the key of an S3 origin: the origin path
// (without its leading '/') then the unescaped URI without its leading '/'.
func s3Key(originPath, uri string) string {
	rel := strings.TrimPrefix(unescapePath(uri), "/")
	prefix := strings.Trim(originPath, "/")
	if prefix == "" {
		return rel
	}
	return prefix + "/" + rel
}

// fetchS3 reads an S3 origin in-process, answering as S3 would: the
// object's headers, 304 for a matching validator, and S3's XML errors. A
// missing key is 404 NoSuchKey: S3 answers 403 to a distribution whose
// access control lacks s3:ListBucket, but the edge reads the store with
// full rights, and 404 is the answer that caches and debugs well.
func (e *Edge) fetchS3(ctx context.Context, or *originRequest, limit int64) (*originResponse, error) {
	bucket := or.origin.bucket
	key := s3Key(or.originPath, or.uri)
	if or.method != http.MethodGet && or.method != http.MethodHead {
		return s3Error(http.StatusMethodNotAllowed, "MethodNotAllowed", "The specified method is not allowed against this resource.", key), nil
	}
	if key == "" {
		// The bucket root: S3 would list it, which an edge never does.
		return s3Error(http.StatusForbidden, "AccessDenied", "Access Denied", key), nil
	}
	obj, err := e.store.OpenObject(ctx, bucket, key)
	if err != nil {
		switch {
		case sluice.IsCode(err, sluice.ErrNoSuchKey):
			return s3Error(http.StatusNotFound, "NoSuchKey", "The specified key does not exist.", key), nil
		case sluice.IsCode(err, sluice.ErrNoSuchBucket):
			return s3Error(http.StatusNotFound, "NoSuchBucket", "The specified bucket does not exist", key), nil
		case sluice.IsCode(err, sluice.ErrAccessDenied):
			return s3Error(http.StatusForbidden, "AccessDenied", "Access Denied", key), nil
		case ctx.Err() != nil:
			return nil, &errOrigin{status: http.StatusGatewayTimeout, err: err}
		}
		e.log.Warn("edge: read S3 origin", "bucket", bucket, "key", key, "err", err)
		return s3Error(http.StatusInternalServerError, "InternalError", "We encountered an internal error. Please try again.", key), nil
	}
	info := obj.Info()
	h := s3Header(info)
	if notModified(or.header, info.ETag, info.LastModified) {
		obj.Close()
		for _, k := range []string{"Content-Length", "Content-Type", "Content-Encoding", "Content-Disposition", "Content-Language"} {
			h.Del(k)
		}
		return &originResponse{status: http.StatusNotModified, header: h}, nil
	}
	resp := &originResponse{status: http.StatusOK, header: h, size: info.Size}
	if info.Size > limit {
		rc, err := obj.Reader(0, -1)
		if err != nil {
			obj.Close()
			return nil, &errOrigin{status: http.StatusBadGateway, err: fmt.Errorf("read %s/%s: %w", bucket, key, err)}
		}
		resp.stream = &objectStream{ReadCloser: rc, obj: obj}
		return resp, nil
	}
	defer obj.Close()
	rc, err := obj.Reader(0, -1)
	if err != nil {
		return nil, &errOrigin{status: http.StatusBadGateway, err: fmt.Errorf("read %s/%s: %w", bucket, key, err)}
	}
	defer rc.Close()
	body := make([]byte, info.Size)
	if _, err := io.ReadFull(rc, body); err != nil {
		return nil, &errOrigin{status: http.StatusBadGateway, err: fmt.Errorf("read %s/%s: %w", bucket, key, err)}
	}
	resp.body = body
	return resp, nil
}

// objectStream closes the object snapshot along with its reader.
type objectStream struct {
	io.ReadCloser
	obj sluice.Object
}

func (s *objectStream) Close() error {
	err := s.ReadCloser.Close()
	if cerr := s.obj.Close(); err == nil {
		err = cerr
	}
	return err
}

// s3Header is what S3 answers to a GET of the object.
func s3Header(info sluice.ObjectInfo) http.Header {
	h := make(http.Header, 8+len(info.Meta.User))
	ct := info.Meta.ContentType
	if ct == "" {
		ct = "binary/octet-stream"
	}
	h.Set("Content-Type", ct)
	h.Set("Content-Length", strconv.FormatInt(info.Size, 10))
	h.Set("ETag", info.ETag)
	h.Set("Last-Modified", info.LastModified.UTC().Format(http.TimeFormat))
	h.Set("Accept-Ranges", "bytes")
	set := func(k, v string) {
		if v != "" {
			h.Set(k, v)
		}
	}
	set("Cache-Control", info.Meta.CacheControl)
	set("Content-Encoding", info.Meta.ContentEncoding)
	set("Content-Disposition", info.Meta.ContentDisposition)
	set("Content-Language", info.Meta.ContentLanguage)
	set("Expires", info.Meta.Expires)
	set("X-Amz-Version-Id", info.VersionID)
	for k, v := range info.Meta.User {
		h.Set("X-Amz-Meta-"+k, v)
	}
	h.Set("Server", "AmazonS3")
	return h
}

// notModified evaluates the edge's revalidation headers against the
// object, as S3 does: If-None-Match wins over If-Modified-Since.
func notModified(h http.Header, etag string, lastModified time.Time) bool {
	if inm := h.Get("If-None-Match"); inm != "" {
		return etagListMatches(inm, etag)
	}
	if ims := h.Get("If-Modified-Since"); ims != "" {
		t, err := http.ParseTime(ims)
		return err == nil && !lastModified.Truncate(time.Second).After(t)
	}
	return false
}

func etagListMatches(list, etag string) bool {
	if etag == "" {
		return false
	}
	for _, c := range strings.Split(list, ",") {
		c = strings.TrimSpace(c)
		if c == "*" || strings.TrimPrefix(c, "W/") == strings.TrimPrefix(etag, "W/") {
			return true
		}
	}
	return false
}

type s3ErrorDoc struct {
	XMLName   xml.Name `xml:"Error"`
	Code      string   `xml:"Code"`
	Message   string   `xml:"Message"`
	Key       string   `xml:"Key,omitempty"`
	RequestID string   `xml:"RequestId"`
}

func s3Error(status int, code, msg, key string) *originResponse {
	var buf bytes.Buffer
	buf.WriteString(xml.Header)
	_ = xml.NewEncoder(&buf).Encode(s3ErrorDoc{Code: code, Message: msg, Key: key, RequestID: "0000000000000000"})
	h := http.Header{}
	h.Set("Content-Type", "application/xml")
	h.Set("Server", "AmazonS3")
	return &originResponse{status: status, header: h, body: buf.Bytes(), size: int64(buf.Len())}
}

// hopByHop are connection-level headers never passed between the viewer,
// the edge and the origin.
var hopByHop = []string{"Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization",
	"Proxy-Connection", "Te", "Trailer", "Transfer-Encoding", "Upgrade"}

func stripHopByHop(h http.Header) {
	for _, f := range h.Values("Connection") {
		for _, name := range strings.Split(f, ",") {
			h.Del(strings.TrimSpace(name))
		}
	}
	for _, k := range hopByHop {
		h.Del(k)
	}
}

// fetchCustom asks an HTTP origin.
func (e *Edge) fetchCustom(ctx context.Context, or *originRequest, limit int64) (*originResponse, error) {
	o := or.origin
	target := o.scheme + "://" + o.host + strings.TrimSuffix(or.originPath, "/") + or.uri
	if or.query != "" {
		target += "?" + or.query
	}
	req, err := http.NewRequestWithContext(ctx, or.method, target, or.body)
	if err != nil {
		return nil, &errOrigin{status: http.StatusBadGateway, err: err}
	}
	req.Header = or.header.Clone()
	stripHopByHop(req.Header)
	if host := req.Header.Get("Host"); host != "" {
		req.Host = host
		req.Header.Del("Host")
	} else {
		req.Host = o.o.DomainName
	}
	for _, ch := range o.o.CustomHeaders {
		req.Header.Set(ch.Name, ch.Value)
	}
	if req.Header.Get("User-Agent") == "" {
		req.Header.Set("User-Agent", "Amazon CloudFront")
	}
	if rt := o.o.Custom.OriginReadTimeout; rt > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(rt)*time.Second)
		// The read timeout covers the whole exchange here; cancel runs when
		// the body is done.
		req = req.WithContext(ctx)
		defer func() {
			if cancel != nil {
				cancel()
			}
		}()
		res, err := e.doCustom(req, limit)
		if err == nil && res.stream != nil {
			res.stream = &cancelOnClose{ReadCloser: res.stream, cancel: cancel}
			cancel = nil
		}
		return res, err
	}
	return e.doCustom(req, limit)
}

type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (c *cancelOnClose) Close() error {
	err := c.ReadCloser.Close()
	c.cancel()
	return err
}

func (e *Edge) doCustom(req *http.Request, limit int64) (*originResponse, error) {
	res, err := e.client.Do(req)
	if err != nil {
		status := http.StatusBadGateway
		if errors.Is(err, context.DeadlineExceeded) || isTimeout(err) {
			status = http.StatusGatewayTimeout
		}
		return nil, &errOrigin{status: status, err: err}
	}
	h := res.Header
	stripHopByHop(h)
	resp := &originResponse{status: res.StatusCode, header: h, size: res.ContentLength}
	h.Del("Content-Length")
	if res.ContentLength > limit {
		resp.stream = res.Body
		return resp, nil
	}
	buf, err := io.ReadAll(io.LimitReader(res.Body, limit+1))
	if err != nil {
		res.Body.Close()
		return nil, &errOrigin{status: http.StatusBadGateway, err: fmt.Errorf("read origin body: %w", err)}
	}
	if int64(len(buf)) > limit {
		resp.stream = struct {
			io.Reader
			io.Closer
		}{io.MultiReader(bytes.NewReader(buf), res.Body), res.Body}
		resp.size = -1
		return resp, nil
	}
	res.Body.Close()
	resp.body, resp.size = buf, int64(len(buf))
	return resp, nil
}

func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}
