// Package imageresize is the built-in function sluice-image-resize: the
// well-known "resize images with CloudFront and Lambda@Edge" recipe,
// attached at origin-response. A request such as /photo.jpg?d=100x100 gets
// the origin's photo resized to 100x100 (cover crop), in the format its
// extension names; imageopts documents every parameter.
//
// It has two entry points that behave alike:
//
//   - OriginResponse, the native path the edge calls in-process with the
//     origin's body: no JSON, no base64, no store read.
//   - Invoke, the lambda.BuiltinFunc path: a Lambda@Edge origin-response
//     event in JSON. The original is read from the store (the S3 origin's
//     bucket, the URI's key) and the answer is a response object with a
//     base64 body, held to Lambda@Edge's 1 MB generated-response limit.
//
// A response that is not 200, or a request that asks for no transform, is
// returned unchanged. Bad input never becomes a Go error: it becomes a
// generated response with a short text/plain body — 400 for a bad parameter,
// a broken image, too many pixels or too large an output, 415 for an image
// format libvips cannot read or write, 403 for a missing or wrong signature,
// 503 with Retry-After when the image workers are saturated (or shutting
// down). A Go error is
// kept for internal failures (the edge answers 502 for it).
//
// Concurrency: a Resizer is safe for concurrent use; the vips.Processor
// bounds how many images are processed at once.
package imageresize

import (
	"context"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/awsevent"
	"github.com/sluicehq/sluice/imageopts"
	"github.com/sluicehq/sluice/lambda"
	"github.com/sluicehq/sluice/vips"
)

// FunctionName is the built-in's name; the edge and the function host know
// it by this name in every region.
const FunctionName = "sluice-image-resize"

// FunctionDescription is what the Lambda API shows for the built-in.
const FunctionDescription = "Resizes and converts images at origin-response: ?d=WxH, w, h, fit, format, q (the CloudFront image resize recipe)."

// MaxGeneratedResponse is Lambda@Edge's quota on a response an
// origin-request or origin-response function generates, headers and body
// (as the function returns it, base64) together.
const MaxGeneratedResponse = 1 << 20

// DefaultMaxSourceBytes bounds the original image by default.
const DefaultMaxSourceBytes = 64 << 20

// Config configures a Resizer.
type Config struct {
	// Limits bound what a request may ask for (sizes, signature).
	Limits imageopts.Limits
	// MaxSourceBytes bounds the original's size in bytes; a larger one is
	// answered 400 without being decoded.
	MaxSourceBytes int64
}

// DefaultConfig returns the configuration `sluice serve` starts from.
func DefaultConfig() Config {
	return Config{Limits: imageopts.DefaultLimits(), MaxSourceBytes: DefaultMaxSourceBytes}
}

// Validate reports the first invalid setting.
func (c Config) Validate() error {
	if err := c.Limits.Validate(); err != nil {
		return fmt.Errorf("imageresize: Limits: %w", err)
	}
	if c.MaxSourceBytes <= 0 {
		return fmt.Errorf("imageresize: MaxSourceBytes: %d is not positive", c.MaxSourceBytes)
	}
	return nil
}

// Resizer is the built-in. Create it with New.
type Resizer struct {
	cfg   Config
	store sluice.Store
	proc  *vips.Processor
	log   *slog.Logger
}

// New returns a Resizer. store is only used by Invoke, to read originals;
// it may be nil when only the native path is used.
func New(cfg Config, store sluice.Store, proc *vips.Processor, log *slog.Logger) (*Resizer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if proc == nil {
		return nil, errors.New("imageresize: nil vips.Processor")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Resizer{cfg: cfg, store: store, proc: proc, log: log}, nil
}

// OriginResponse is the native edge hook. cf is the origin-response event
// (cf.Request carries the forwarded URI and query string, cf.Response the
// origin's status and headers) and body the origin's body. It returns cf and
// a nil body when nothing changes, else a new event whose Response is the
// one to use, and that response's body. cf is never modified.
func (r *Resizer) OriginResponse(ctx context.Context, cf *awsevent.CloudFrontCF, body []byte) (*awsevent.CloudFrontCF, []byte, error) {
	if cf == nil || cf.Request == nil || cf.Response == nil {
		return cf, nil, nil
	}
	resp, out, err := r.apply(ctx, cf.Request, cf.Response, func() ([]byte, error) { return body, nil })
	if err != nil || resp == nil {
		return cf, nil, err
	}
	next := *cf
	next.Response = resp
	return &next, out, nil
}

// Invoke is the built-in function (a lambda.BuiltinFunc): payload is a
// Lambda@Edge origin-response event and the result the response object to
// use, with a base64 body when it was transformed. The original is read
// from the bucket the S3 origin names, at the URI's key under the origin's
// path.
func (r *Resizer) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	cf, err := parseEvent(payload)
	if err != nil {
		return nil, err
	}
	resp, out, err := r.apply(ctx, cf.Request, cf.Response, func() ([]byte, error) { return r.readOriginal(ctx, cf.Request) })
	if err != nil {
		return nil, err
	}
	if resp == nil {
		return awsevent.Marshal(cf.Response)
	}
	// The function's log (/aws/lambda/sluice-image-resize) says what was
	// made, or why a viewer got an error instead.
	lambda.LogLine(ctx, fmt.Sprintf("%s?%s -> %s %s, %d bytes", cf.Request.URI, cf.Request.QueryString,
		resp.Status, resp.Headers.Get("Content-Type"), len(out)))
	if resp.Status != cf.Response.Status {
		lambda.LogLine(ctx, strings.TrimSpace(string(out)))
	}
	if ct := resp.Headers.Get("Content-Type"); strings.HasPrefix(ct, "text/") {
		resp.Body, resp.BodyEncoding = string(out), awsevent.BodyEncodingText
	} else {
		resp.Body, resp.BodyEncoding = base64.StdEncoding.EncodeToString(out), awsevent.BodyEncodingBase64
	}
	if n := generatedSize(resp); n > MaxGeneratedResponse {
		return nil, sluice.Errorf(vips.ErrImageOutputTooLarge,
			"the resized image makes a %d-byte response (headers and base64 body); Lambda@Edge limits a response generated at origin-response to 1 MB (%d bytes): ask for a smaller size, a lower q or another format",
			n, MaxGeneratedResponse)
	}
	return awsevent.Marshal(resp)
}

// parseEvent decodes an origin-response event and checks it has what the
// function reads.
func parseEvent(payload []byte) (*awsevent.CloudFrontCF, error) {
	var ev awsevent.CloudFrontEvent
	if err := json.Unmarshal(payload, &ev); err != nil {
		return nil, sluice.Wrap(sluice.ErrInvalidRequest, err, "the payload is not a Lambda@Edge event: "+err.Error())
	}
	if len(ev.Records) == 0 {
		return nil, sluice.Errorf(sluice.ErrInvalidRequest, "the event has no Records[0].cf")
	}
	cf := &ev.Records[0].CF
	if t := cf.Config.EventType; t != "" && t != awsevent.EdgeOriginResponse {
		return nil, sluice.Errorf(sluice.ErrInvalidRequest, "%s runs at origin-response, not at %s: attach it to the origin-response event", FunctionName, t)
	}
	if cf.Request == nil || cf.Response == nil {
		return nil, sluice.Errorf(sluice.ErrInvalidRequest, "an origin-response event needs cf.request and cf.response")
	}
	return cf, nil
}

// readOriginal reads the object behind an S3 origin.
func (r *Resizer) readOriginal(ctx context.Context, req *awsevent.CloudFrontRequest) ([]byte, error) {
	if r.store == nil {
		return nil, errors.New("imageresize: no store to read originals from")
	}
	bucket, key, err := objectLocation(req)
	if err != nil {
		return nil, err
	}
	obj, err := r.store.OpenObject(ctx, bucket, key)
	if err != nil {
		return nil, err
	}
	defer obj.Close()
	if size := obj.Info().Size; size > r.cfg.MaxSourceBytes {
		return nil, sourceTooLarge(size, r.cfg.MaxSourceBytes)
	}
	rc, err := obj.Reader(0, -1)
	if err != nil {
		return nil, fmt.Errorf("read %s/%s: %w", bucket, key, err)
	}
	defer rc.Close()
	buf := make([]byte, obj.Info().Size)
	if _, err := io.ReadFull(rc, buf); err != nil {
		return nil, fmt.Errorf("read %s/%s: %w", bucket, key, err)
	}
	return buf, nil
}

// objectLocation finds the bucket and key an S3 origin serves the request
// from: the bucket from the origin's domain name, the key from the URI
// (percent-decoded, without its leading '/') under the origin's path.
func objectLocation(req *awsevent.CloudFrontRequest) (bucket, key string, err error) {
	if req.Origin == nil || req.Origin.S3 == nil {
		return "", "", sluice.Errorf(sluice.ErrInvalidRequest, "%s reads originals from an S3 origin; the event's cf.request.origin has no s3", FunctionName)
	}
	bucket, ok := BucketFromDomain(req.Origin.S3.DomainName)
	if !ok {
		return "", "", sluice.Errorf(sluice.ErrInvalidRequest,
			"cf.request.origin.s3.domainName %q is not <bucket>.s3.amazonaws.com, <bucket>.s3.<region>.amazonaws.com or <bucket>.s3.localhost", req.Origin.S3.DomainName)
	}
	p, err := url.PathUnescape(req.URI)
	if err != nil {
		return "", "", sluice.Errorf(sluice.ErrInvalidURI, "cf.request.uri %q is not a valid escaped path", req.URI)
	}
	key = strings.TrimPrefix(p, "/")
	if prefix := strings.Trim(req.Origin.S3.Path, "/"); prefix != "" {
		key = prefix + "/" + key
	}
	if key == "" {
		return "", "", sluice.Errorf(sluice.ErrInvalidURI, "cf.request.uri %q names no object", req.URI)
	}
	return bucket, key, nil
}

// BucketFromDomain returns the bucket an S3 origin's domain name names:
// "<bucket>.s3.amazonaws.com", "<bucket>.s3.<region>.amazonaws.com" or
// "<bucket>.s3.localhost", case-insensitive, an optional port ignored.
func BucketFromDomain(domain string) (string, bool) {
	d := strings.ToLower(domain)
	if i := strings.LastIndexByte(d, ':'); i >= 0 && !strings.Contains(d[i:], "]") {
		d = d[:i]
	}
	var bucket string
	switch {
	case strings.HasSuffix(d, ".s3.amazonaws.com"):
		bucket = strings.TrimSuffix(d, ".s3.amazonaws.com")
	case strings.HasSuffix(d, ".s3.localhost"):
		bucket = strings.TrimSuffix(d, ".s3.localhost")
	case strings.HasSuffix(d, ".amazonaws.com"):
		rest := strings.TrimSuffix(d, ".amazonaws.com")
		i := strings.LastIndex(rest, ".s3.")
		if i < 0 {
			return "", false
		}
		region := rest[i+len(".s3."):]
		if region == "" || strings.Contains(region, ".") {
			return "", false
		}
		bucket = rest[:i]
	default:
		return "", false
	}
	if bucket == "" || strings.HasPrefix(bucket, ".") || strings.HasSuffix(bucket, ".") {
		return "", false
	}
	return bucket, true
}

// apply is the work both entry points share. It returns a nil response
// when the origin's stands; source is called only when a transform is asked.
func (r *Resizer) apply(ctx context.Context, req *awsevent.CloudFrontRequest, resp *awsevent.CloudFrontResponse, source func() ([]byte, error)) (*awsevent.CloudFrontResponse, []byte, error) {
	if strings.TrimSpace(resp.Status) != "200" {
		// Other 2xx statuses carry no whole image (204, 206) or are not
		// the object (201, 202); errors and redirects pass through.
		return nil, nil, nil
	}
	opts, negotiated, err := r.options(req)
	if err != nil {
		return generated(err)
	}
	if opts.IsZero() {
		return nil, nil, nil
	}
	src, err := source()
	if err != nil {
		return generated(err)
	}
	if int64(len(src)) > r.cfg.MaxSourceBytes {
		return generated(sourceTooLarge(int64(len(src)), r.cfg.MaxSourceBytes))
	}
	out, hdr, err := r.proc.Resize(ctx, src, vips.Params{
		Width:    opts.Width,
		Height:   opts.Height,
		Fit:      opts.Fit,
		Format:   opts.Format,
		Quality:  opts.Quality,
		Animated: opts.Animated,
	})
	if err != nil {
		if ctx.Err() != nil {
			return nil, nil, fmt.Errorf("resize %s: %w", req.URI, err)
		}
		return generated(err)
	}
	r.log.Debug("image resized", "uri", req.URI, "query", req.QueryString,
		"width", hdr.Width, "height", hdr.Height, "format", hdr.Format, "in", len(src), "out", len(out))

	h := make(awsevent.CloudFrontHeaders, len(resp.Headers)+3)
	for name, vs := range resp.Headers {
		if staleHeader(name) {
			continue
		}
		h[name] = vs
	}
	h.Set("Content-Type", contentType(hdr.Format))
	h.Set("Content-Length", strconv.Itoa(len(out)))
	sum := md5.Sum(out)
	h.Set("ETag", `"`+hex.EncodeToString(sum[:])+`"`)
	if negotiated {
		h.Set("Vary", addVary(h.Get("Vary"), "Accept"))
	}
	return &awsevent.CloudFrontResponse{
		Headers:           h,
		Status:            resp.Status,
		StatusDescription: resp.StatusDescription,
	}, out, nil
}

// options parses the request's transform. format=auto normally reaches the
// function already negotiated by the edge; when it does not (a function
// called directly), it is negotiated here from the viewer's Accept header.
func (r *Resizer) options(req *awsevent.CloudFrontRequest) (opts imageopts.Options, negotiated bool, err error) {
	query, err := url.ParseQuery(req.QueryString)
	if err != nil {
		return imageopts.Options{}, false, sluice.Errorf(sluice.ErrInvalidArgument, "the query string is malformed: %v", err)
	}
	opts, err = imageopts.Parse(req.URI, query, r.cfg.Limits)
	if err != nil || opts.Format != imageopts.FormatAuto {
		return opts, false, err
	}
	opts.Format = imageopts.Negotiate(req.Headers.Get("Accept"))
	if opts.Format == "" {
		opts.Format = imageopts.FormatFromExt(req.URI)
	}
	if opts.Width == 0 && opts.Height == 0 && opts.Quality == 0 && opts.Format == imageopts.FormatFromExt(req.URI) {
		// format=auto alone, and the client takes nothing better: the
		// original is what it gets, as when the edge drops format=auto.
		return imageopts.Options{}, true, nil
	}
	return opts, true, nil
}

// staleHeader reports whether an origin header describes the original's
// bytes, so that it is wrong for the transformed body.
func staleHeader(name string) bool {
	switch name {
	case "etag", "content-length", "content-md5", "content-range", "content-encoding", "content-type", "x-amz-mp-parts-count":
		return true
	}
	return strings.HasPrefix(name, "x-amz-checksum-")
}

func contentType(format string) string {
	switch format {
	case vips.FormatJPEG:
		return "image/jpeg"
	case vips.FormatPNG:
		return "image/png"
	case vips.FormatWebP:
		return "image/webp"
	case vips.FormatAVIF:
		return "image/avif"
	case vips.FormatGIF:
		return "image/gif"
	}
	return "application/octet-stream"
}

func addVary(vary, field string) string {
	for f := range strings.SplitSeq(vary, ",") {
		if strings.EqualFold(strings.TrimSpace(f), field) || strings.TrimSpace(f) == "*" {
			return vary
		}
	}
	if strings.TrimSpace(vary) == "" {
		return field
	}
	return vary + ", " + field
}

func sourceTooLarge(size, limit int64) *sluice.Error {
	return sluice.Errorf(vips.ErrImageTooLarge, "the original image is %d bytes, more than the %d this function reads", size, limit)
}

// statusOf maps the errors a viewer caused to the status of the response
// generated for them; false for internal failures.
func statusOf(code sluice.Code) (int, bool) {
	switch code {
	case sluice.ErrInvalidArgument, sluice.ErrInvalidURI,
		vips.ErrImageTooLarge, vips.ErrInvalidImage, vips.ErrImageOutputTooLarge:
		return http.StatusBadRequest, true
	case vips.ErrUnsupportedImage:
		return http.StatusUnsupportedMediaType, true
	case sluice.ErrAccessDenied:
		return http.StatusForbidden, true
	case sluice.ErrNoSuchKey, sluice.ErrNoSuchBucket:
		return http.StatusNotFound, true
	case sluice.ErrSlowDown, sluice.ErrServiceUnavailable:
		return http.StatusServiceUnavailable, true
	}
	return 0, false
}

// generated turns a viewer-caused error into a response with a short text
// body; any other error is returned as is.
func generated(err error) (*awsevent.CloudFrontResponse, []byte, error) {
	var se *sluice.Error
	if !errors.As(err, &se) {
		return nil, nil, err
	}
	status, ok := statusOf(se.Code)
	if !ok {
		return nil, nil, err
	}
	body := []byte(string(se.Code) + ": " + se.Message + "\n")
	h := make(awsevent.CloudFrontHeaders, 4)
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	if status == http.StatusServiceUnavailable {
		h.Set("Retry-After", "1")
		h.Set("Cache-Control", "no-store")
	}
	return &awsevent.CloudFrontResponse{
		Headers:           h,
		Status:            strconv.Itoa(status),
		StatusDescription: http.StatusText(status),
	}, body, nil
}

// generatedSize is what Lambda@Edge counts against MaxGeneratedResponse.
func generatedSize(resp *awsevent.CloudFrontResponse) int {
	n := len(resp.Body)
	for name, vs := range resp.Headers {
		for _, v := range vs {
			n += len(name) + len(v.Value)
		}
	}
	return n
}
