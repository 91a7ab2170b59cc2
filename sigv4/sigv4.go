// Package sigv4 verifies AWS Signature Version 4 requests: the
// Authorization header form, presigned (query-string) URLs, and the
// aws-chunked streaming payloads S3 clients send with per-chunk signatures
// and trailing checksums. For S3 it also verifies Signature Version 2, the
// "AWS AccessKeyId:Signature" header and the AWSAccessKeyId/Signature/Expires
// presigned URLs aws-cli v1 makes. It is pure: it reads nothing but the
// request it is given, and the request body only as the caller reads it.
//
// A *Verifier is safe for concurrent use. Verify replaces r.Body with a
// reader that checks the payload while it is read; that reader, like any
// request body, belongs to the one goroutine serving the request.
package sigv4

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/sluicehq/sluice"
)

// Config configures a Verifier.
type Config struct {
	// Credentials maps access key ids to secret keys.
	Credentials map[string]string
	// MaxSkew is how far a header-signed request's time may be from Now.
	MaxSkew time.Duration
	// MaxPresignExpiry bounds X-Amz-Expires (AWS allows a week).
	MaxPresignExpiry time.Duration
	// Now is the clock; tests pin it.
	Now func() time.Time
	// MaxBufferedBody bounds the body read into memory to hash it, for
	// non-S3 requests that sign their payload without sending
	// x-amz-content-sha256 (Lambda, CloudWatch Logs, CloudFront clients).
	MaxBufferedBody int64
	// MaxChunkSize bounds one aws-chunked chunk (SDKs send 64 KiB).
	MaxChunkSize int64
	// VirtualHostDomains are the S3 base domains under which a Host's
	// leading labels name a bucket (s3api's BaseDomains). SigV2 signs the
	// bucket but not the Host, so this tells it which bucket a
	// virtual-hosted request is for. When empty, a path-style reading is
	// tried first and then, for a Host like "photos.localhost:4566", one
	// with its first label as the bucket; set it to the same list as s3api
	// so that a signature for one bucket can never pass for another.
	VirtualHostDomains []string
}

// DefaultConfig returns the defaults; the caller adds Credentials.
func DefaultConfig() Config {
	return Config{
		MaxSkew:          15 * time.Minute,
		MaxPresignExpiry: 7 * 24 * time.Hour,
		Now:              time.Now,
		MaxBufferedBody:  16 << 20,
		MaxChunkSize:     16 << 20,
	}
}

// Validate reports the first invalid setting by name.
func (c Config) Validate() error {
	if len(c.Credentials) == 0 {
		return errors.New("sigv4: Credentials: no access keys configured")
	}
	for ak, secret := range c.Credentials {
		if ak == "" || strings.ContainsAny(ak, "/ ,=") {
			return fmt.Errorf("sigv4: Credentials: invalid access key id %q", ak)
		}
		if secret == "" {
			return fmt.Errorf("sigv4: Credentials: empty secret for access key id %q", ak)
		}
	}
	if c.MaxSkew <= 0 {
		return fmt.Errorf("sigv4: MaxSkew: %v is not positive", c.MaxSkew)
	}
	if c.MaxPresignExpiry < time.Second || c.MaxPresignExpiry > 7*24*time.Hour {
		return fmt.Errorf("sigv4: MaxPresignExpiry: %v is outside 1s..168h", c.MaxPresignExpiry)
	}
	if c.Now == nil {
		return errors.New("sigv4: Now: no clock")
	}
	if c.MaxBufferedBody <= 0 {
		return fmt.Errorf("sigv4: MaxBufferedBody: %d is not positive", c.MaxBufferedBody)
	}
	if c.MaxChunkSize <= 0 {
		return fmt.Errorf("sigv4: MaxChunkSize: %d is not positive", c.MaxChunkSize)
	}
	for _, d := range c.VirtualHostDomains {
		if d == "" || strings.ContainsAny(d, "/:@ \t") || strings.HasPrefix(d, ".") {
			return fmt.Errorf("sigv4: VirtualHostDomains: %q is not a host name", d)
		}
	}
	return nil
}

// Verifier authenticates requests against a fixed set of credentials.
type Verifier struct {
	cfg   Config
	creds map[string]string
	keys  keyCache
}

// New returns a Verifier for cfg.
func New(cfg Config) (*Verifier, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	creds := make(map[string]string, len(cfg.Credentials))
	for k, v := range cfg.Credentials {
		creds[k] = v
	}
	domains := make([]string, len(cfg.VirtualHostDomains))
	for i, d := range cfg.VirtualHostDomains {
		domains[i] = strings.ToLower(strings.TrimSuffix(d, "."))
	}
	cfg.VirtualHostDomains = domains
	return &Verifier{cfg: cfg, creds: creds, keys: keyCache{m: make(map[scopeKey]*signingKey)}}, nil
}

const (
	algorithm       = "AWS4-HMAC-SHA256"
	amzDateLayout   = "20060102T150405Z"
	emptySHA256     = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	unsignedPayload = "UNSIGNED-PAYLOAD"

	streamingSigned         = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
	streamingSignedTrailer  = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
	streamingUnsignedTrailr = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
)

// Scope returns service and region from the request's credential scope
// (Authorization header or X-Amz-Credential query parameter) without
// verifying anything; ok is false when there is none or it is malformed,
// and for Signature Version 2, which has no scope and is S3's alone.
func Scope(r *http.Request) (service, region string, ok bool) {
	if a := r.Header.Get("Authorization"); a != "" {
		if strings.HasPrefix(a, v2Prefix) {
			return "", "", false
		}
		i := strings.Index(a, "Credential=")
		if i < 0 {
			return "", "", false
		}
		cred := a[i+len("Credential="):]
		if j := strings.IndexAny(cred, ", "); j >= 0 {
			cred = cred[:j]
		}
		return scopeOf(cred)
	}
	raw := r.URL.RawQuery
	for raw != "" {
		var part string
		part, raw, _ = strings.Cut(raw, "&")
		if v, found := strings.CutPrefix(part, "X-Amz-Credential="); found {
			cred, err := unescape(v)
			if err != nil {
				return "", "", false
			}
			return scopeOf(cred)
		}
	}
	return "", "", false
}

func scopeOf(cred string) (service, region string, ok bool) {
	c, err := parseCredential(cred)
	if err != nil {
		return "", "", false
	}
	return c.service, c.region, true
}

// Verify authenticates r and returns the caller. A request with no
// Authorization header, no X-Amz-Algorithm and no SigV2 AWSAccessKeyId or
// Signature query parameter is anonymous. On success of a SigV4 request
// r.Body is replaced by a reader that verifies the payload as it is read;
// callers must read it to io.EOF and discard everything on error. SigV2
// signs no payload, so its body is left as it is (a signed Content-MD5 is
// for the S3 layer to check); headers a SigV2 presigned URL signed in its
// query (content-md5, content-type, x-amz-*) are set on r.Header when the
// request did not send them. A SigV2 caller's Identity has Service "s3"
// and no Region: SigV2 names none.
func (v *Verifier) Verify(r *http.Request) (sluice.Identity, error) {
	auth := r.Header.Get("Authorization")
	presigned := hasQueryParam(r.URL.RawQuery, "X-Amz-Algorithm")
	presignedV2 := isV2Query(r.URL.RawQuery)
	mechanisms := 0
	for _, b := range []bool{auth != "", presigned, presignedV2} {
		if b {
			mechanisms++
		}
	}
	switch {
	case mechanisms == 0:
		return sluice.Identity{Anonymous: true}, nil
	case mechanisms > 1:
		return sluice.Identity{}, sluice.Errorf(sluice.ErrInvalidArgument,
			"Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string parameter or the Authorization header should be specified")
	case presigned:
		return v.verifyPresigned(r)
	case presignedV2:
		return v.verifyV2Query(r)
	case strings.HasPrefix(auth, v2Prefix):
		return v.verifyV2Header(r, auth)
	default:
		return v.verifyHeader(r, auth)
	}
}

// signed is what both auth forms reduce to before the signature check.
type signed struct {
	accessKey     string
	cred          credential
	amzDate       string // as it enters the string to sign
	signedHeaders []string
	signature     string
	payloadHash   string
	presigned     bool
}

func (v *Verifier) verifyHeader(r *http.Request, auth string) (sluice.Identity, error) {
	a, err := parseAuthorization(auth)
	if err != nil {
		return sluice.Identity{}, err
	}
	s := signed{accessKey: a.cred.accessKey, cred: a.cred, signedHeaders: a.signedHeaders, signature: a.signature}
	secret, ok := v.creds[s.accessKey]
	if !ok {
		return sluice.Identity{}, invalidAccessKey(s.accessKey)
	}
	if !containsFold(s.signedHeaders, "host") {
		return sluice.Identity{}, headerMalformed("the host header must be signed")
	}

	var t time.Time
	rawDate := r.Header.Get("X-Amz-Date")
	if rawDate != "" {
		t, err = parseAmzDate(rawDate)
	} else if rawDate = r.Header.Get("Date"); rawDate != "" {
		t, err = http.ParseTime(rawDate)
	}
	if rawDate == "" || err != nil {
		return sluice.Identity{}, sluice.Errorf(sluice.ErrAccessDenied, "AWS authentication requires a valid Date or x-amz-date header")
	}
	s.amzDate = formatAmzDate(t, rawDate)
	if s.cred.date != s.amzDate[:8] {
		return sluice.Identity{}, headerMalformed("Invalid credential date. Date is not the same as X-Amz-Date.")
	}
	if err := v.checkSkew(t, rawDate); err != nil {
		return sluice.Identity{}, err
	}

	s.payloadHash = r.Header.Get("X-Amz-Content-Sha256")
	if s.payloadHash == "" {
		if isS3(s.cred.service) {
			return sluice.Identity{}, sluice.Errorf(sluice.ErrInvalidRequest, "Missing required header for this request: x-amz-content-sha256")
		}
		if s.payloadHash, err = v.hashBody(r); err != nil {
			return sluice.Identity{}, err
		}
	} else if err := checkPayloadHash(s.payloadHash, true); err != nil {
		return sluice.Identity{}, err
	}

	key := v.keys.get(secret, s.cred)
	if err := checkSignature(r, &s, key); err != nil {
		return sluice.Identity{}, err
	}
	if err := v.installBody(r, &s, key.key); err != nil {
		return sluice.Identity{}, err
	}
	return sluice.Identity{AccessKey: s.accessKey, Service: s.cred.service, Region: s.cred.region}, nil
}

// formatAmzDate renders t as it enters the string to sign: raw itself when
// it already is in that form (the usual X-Amz-Date), sparing a new string.
func formatAmzDate(t time.Time, raw string) string {
	if at, ok := fastAmzDate(raw); ok && at.Equal(t) {
		return raw
	}
	return t.UTC().Format(amzDateLayout)
}

// parseAmzDate is time.Parse(amzDateLayout, s), with a fast path for
// well-formed values: every request carries one.
func parseAmzDate(s string) (time.Time, error) {
	if t, ok := fastAmzDate(s); ok {
		return t, nil
	}
	return time.Parse(amzDateLayout, s)
}

// fastAmzDate parses s in amzDateLayout when it is well formed; ok is false
// for anything time.Parse might judge otherwise, left to it.
func fastAmzDate(s string) (t time.Time, ok bool) {
	if len(s) != len(amzDateLayout) || s[8] != 'T' || s[15] != 'Z' {
		return time.Time{}, false
	}
	num := func(from, to int) int {
		n := 0
		for i := from; i < to; i++ {
			c := s[i]
			if c < '0' || c > '9' {
				return -1
			}
			n = n*10 + int(c-'0')
		}
		return n
	}
	year, month, day := num(0, 4), num(4, 6), num(6, 8)
	hour, minute, sec := num(9, 11), num(11, 13), num(13, 15)
	if year < 0 || month < 1 || month > 12 || day < 1 || hour < 0 || hour > 23 || minute < 0 || minute > 59 || sec < 0 || sec > 59 {
		return time.Time{}, false
	}
	t = time.Date(year, time.Month(month), day, hour, minute, sec, 0, time.UTC)
	if t.Day() != day { // past the end of its month
		return time.Time{}, false
	}
	return t, true
}

func (v *Verifier) verifyPresigned(r *http.Request) (sluice.Identity, error) {
	q := queryValues(r.URL.RawQuery)
	get := func(k string) (string, bool) {
		val, ok := q[k]
		return val, ok
	}
	alg, ok1 := get("X-Amz-Algorithm")
	credRaw, ok2 := get("X-Amz-Credential")
	sig, ok3 := get("X-Amz-Signature")
	rawDate, ok4 := get("X-Amz-Date")
	sh, ok5 := get("X-Amz-SignedHeaders")
	rawExpires, ok6 := get("X-Amz-Expires")
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) {
		return sluice.Identity{}, queryError("Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters.")
	}
	if alg != algorithm {
		return sluice.Identity{}, queryError(`X-Amz-Algorithm only supports "AWS4-HMAC-SHA256"`)
	}
	cred, err := parseCredential(credRaw)
	if err != nil {
		return sluice.Identity{}, queryError("Error parsing the X-Amz-Credential parameter; " + err.Error())
	}
	t, err := parseAmzDate(rawDate)
	if err != nil {
		return sluice.Identity{}, queryError(`X-Amz-Date must be in the ISO8601 Long Format "yyyyMMdd'T'HHmmss'Z'"`)
	}
	expires, err := strconv.ParseInt(rawExpires, 10, 64)
	switch {
	case err != nil:
		return sluice.Identity{}, queryError("X-Amz-Expires should be a number")
	case expires < 0:
		return sluice.Identity{}, queryError("X-Amz-Expires must be non-negative")
	case expires > int64(v.cfg.MaxPresignExpiry/time.Second):
		return sluice.Identity{}, queryError(fmt.Sprintf("X-Amz-Expires must be less than a week (in seconds) that is %d", int64(v.cfg.MaxPresignExpiry/time.Second)))
	}
	if cred.date != rawDate[:8] {
		return sluice.Identity{}, queryError(fmt.Sprintf("Invalid credential date %q. This date is not the same as X-Amz-Date: %q.", cred.date, rawDate[:8]))
	}
	secret, ok := v.creds[cred.accessKey]
	if !ok {
		return sluice.Identity{}, invalidAccessKey(cred.accessKey)
	}
	s := signed{accessKey: cred.accessKey, cred: cred, amzDate: rawDate, signature: sig, presigned: true}
	s.signedHeaders = strings.Split(sh, ";")
	if !containsFold(s.signedHeaders, "host") {
		return sluice.Identity{}, queryError("X-Amz-SignedHeaders must contain host")
	}

	now := v.cfg.Now()
	if now.Before(t.Add(-v.cfg.MaxSkew)) {
		return sluice.Identity{}, sluice.Errorf(sluice.ErrAccessDenied, "Request is not valid yet")
	}
	if exp := t.Add(time.Duration(expires) * time.Second); now.After(exp) {
		e := sluice.Errorf(sluice.ErrAccessDenied, "Request has expired")
		e.Fields = map[string]string{
			"X-Amz-Expires": rawExpires,
			"Expires":       exp.UTC().Format(time.RFC3339),
			"ServerTime":    now.UTC().Format(time.RFC3339),
		}
		return sluice.Identity{}, e
	}

	// A presigned URL signs no payload unless the signer chose to.
	s.payloadHash = unsignedPayload
	if h, ok := get("X-Amz-Content-Sha256"); ok {
		s.payloadHash = h
	} else if h := r.Header.Get("X-Amz-Content-Sha256"); h != "" && containsFold(s.signedHeaders, "x-amz-content-sha256") {
		s.payloadHash = h
	}
	if err := checkPayloadHash(s.payloadHash, false); err != nil {
		return sluice.Identity{}, err
	}
	key := v.keys.get(secret, cred)
	if err := checkSignature(r, &s, key); err != nil {
		return sluice.Identity{}, err
	}
	if err := v.installBody(r, &s, key.key); err != nil {
		return sluice.Identity{}, err
	}
	return sluice.Identity{AccessKey: cred.accessKey, Service: cred.service, Region: cred.region}, nil
}

// checkPayloadHash validates an x-amz-content-sha256 value; streaming
// forms need the Authorization header, whose signature seeds the chunks.
func checkPayloadHash(h string, header bool) error {
	switch h {
	case unsignedPayload:
		return nil
	case streamingSigned, streamingSignedTrailer, streamingUnsignedTrailr:
		if header {
			return nil
		}
	default:
		if isHexSHA256(h) {
			return nil
		}
	}
	return sluice.Errorf(sluice.ErrInvalidArgument, "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-UNSIGNED-PAYLOAD-TRAILER, STREAMING-AWS4-HMAC-SHA256-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER or a valid sha256 value.")
}

func isHexSHA256(h string) bool {
	if len(h) != 64 {
		return false
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// hashBody reads a small body into memory to compute its hash, for
// services whose clients sign the payload without declaring its hash.
func (v *Verifier) hashBody(r *http.Request) (string, error) {
	if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
		return emptySHA256, nil
	}
	if r.ContentLength > v.cfg.MaxBufferedBody {
		return "", sluice.Errorf(sluice.ErrMaxMessageLengthExceeds, "Your request was too big.")
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, v.cfg.MaxBufferedBody+1))
	if err != nil {
		return "", bodyReadError(err)
	}
	if int64(len(body)) > v.cfg.MaxBufferedBody {
		return "", sluice.Errorf(sluice.ErrMaxMessageLengthExceeds, "Your request was too big.")
	}
	r.Body = bufferedBody{strings.NewReader(string(body)), r.Body}
	sum := sha256.Sum256(body)
	return hex.EncodeToString(sum[:]), nil
}

type bufferedBody struct {
	io.Reader
	io.Closer
}

// checkSignature compares the provided signature with the one computed
// over the canonical request. Clients disagree on a few canonical forms
// (how a path was escaped, whether '+' in a query is a space), so on a
// mismatch the alternatives that name the same request are tried before
// giving up; the first form is the one reported.
//
// The canonical request and the string to sign are built in pooled
// buffers and hashed there; only a mismatch renders them as strings, for
// the error.
func checkSignature(r *http.Request, s *signed, key *signingKey) error {
	var provided [sha256.Size]byte
	valid := decodeHexString(provided[:], s.signature)
	uris, n := canonicalURIs(r, s.cred.service)
	queries := canonicalQueries(r.URL.RawQuery, s.presigned)
	st := key.get()
	defer key.put(st)
	for _, uri := range uris[:n] {
		for _, query := range queries {
			st.canon = appendCanonical(st.canon[:0], r, s, uri, query)
			sum := sha256.Sum256(st.canon)
			if valid && hmac.Equal(st.sign(s.amzDate, s.cred, &sum), provided[:]) {
				return nil
			}
		}
	}
	first := string(appendCanonical(nil, r, s, uris[0], queries[0]))
	e := sluice.Errorf(sluice.ErrSignatureDoesNotMatch, "The request signature we calculated does not match the signature you provided. Check your key and signing method.")
	e.Fields = map[string]string{
		"AWSAccessKeyId":    s.accessKey,
		"StringToSign":      stringToSign(s.amzDate, s.cred.scope(), first),
		"CanonicalRequest":  first,
		"SignatureProvided": s.signature,
	}
	return e
}

// decodeHexString decodes s, which must be exactly 2*len(dst) hex digits,
// into dst, without converting it to bytes first.
func decodeHexString(dst []byte, s string) bool {
	if len(s) != 2*len(dst) {
		return false
	}
	for i := range dst {
		hi, ok1 := fromHexDigit(s[2*i])
		lo, ok2 := fromHexDigit(s[2*i+1])
		if !ok1 || !ok2 {
			return false
		}
		dst[i] = hi<<4 | lo
	}
	return true
}

func fromHexDigit(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

func stringToSign(amzDate, scope, canonicalRequest string) string {
	sum := sha256.Sum256([]byte(canonicalRequest))
	var b strings.Builder
	b.Grow(len(algorithm) + len(amzDate) + len(scope) + 3 + 64)
	b.WriteString(algorithm)
	b.WriteByte('\n')
	b.WriteString(amzDate)
	b.WriteByte('\n')
	b.WriteString(scope)
	b.WriteByte('\n')
	var h [64]byte
	hex.Encode(h[:], sum[:])
	b.Write(h[:])
	return b.String()
}

// installBody replaces r.Body with the reader the payload hash calls for.
func (v *Verifier) installBody(r *http.Request, s *signed, key []byte) error {
	switch s.payloadHash {
	case unsignedPayload:
		return nil
	case streamingSigned, streamingSignedTrailer, streamingUnsignedTrailr:
		return v.installChunked(r, s, key)
	}
	want, _ := hex.DecodeString(s.payloadHash)
	if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
		if strings.EqualFold(s.payloadHash, emptySHA256) {
			return nil
		}
		if r.Body == nil {
			r.Body = http.NoBody
		}
	}
	hr := &hashReader{src: r.Body, h: sha256.New(), expect: r.ContentLength}
	copy(hr.want[:], want)
	r.Body = hr
	return nil
}

func (v *Verifier) installChunked(r *http.Request, s *signed, key []byte) error {
	declared := int64(-1)
	if d := r.Header.Get("X-Amz-Decoded-Content-Length"); d != "" {
		n, err := strconv.ParseInt(d, 10, 64)
		if err != nil || n < 0 {
			return sluice.Errorf(sluice.ErrInvalidArgument, "x-amz-decoded-content-length must be a non-negative integer")
		}
		declared = n
	} else if s.payloadHash == streamingSigned {
		e := sluice.Errorf(sluice.ErrMissingSecurityHeader, "Your request was missing a required header")
		e.Fields = map[string]string{"MissingHeaderName": "x-amz-decoded-content-length"}
		return e
	}
	body := r.Body
	if body == nil {
		body = http.NoBody
	}
	cr := &chunkedReader{
		src:      newLineReader(body),
		closer:   body,
		signed:   s.payloadHash != streamingUnsignedTrailr,
		trailers: s.payloadHash != streamingSigned,
		declared: declared,
		maxChunk: v.cfg.MaxChunkSize,
	}
	if cr.signed {
		cr.mac = hmac.New(sha256.New, key)
		cr.sha = sha256.New()
		cr.amzDate = s.amzDate
		cr.scope = s.cred.scope()
		seed, _ := hex.DecodeString(s.signature)
		copy(cr.prev[:], seed)
	}
	if cr.trailers {
		for _, v := range r.Header.Values("X-Amz-Trailer") {
			for _, name := range strings.Split(v, ",") {
				if name = strings.TrimSpace(name); name != "" {
					cr.declaredTrailers = append(cr.declaredTrailers, strings.ToLower(name))
				}
			}
		}
		if len(cr.declaredTrailers) > 0 {
			if r.Trailer == nil {
				r.Trailer = make(http.Header, len(cr.declaredTrailers))
			}
			for _, name := range cr.declaredTrailers {
				k := http.CanonicalHeaderKey(name)
				if _, ok := r.Trailer[k]; !ok {
					r.Trailer[k] = nil
				}
			}
		}
		cr.trailer = r.Trailer
	}
	r.Body = cr
	r.ContentLength = declared
	removeAWSChunked(r.Header)
	return nil
}

// removeAWSChunked drops "aws-chunked" from Content-Encoding: it describes
// the wire framing this package removes, not the object's encoding.
func removeAWSChunked(h http.Header) {
	vals := h.Values("Content-Encoding")
	if len(vals) == 0 {
		return
	}
	var keep []string
	for _, v := range vals {
		for _, e := range strings.Split(v, ",") {
			if e = strings.TrimSpace(e); e != "" && !strings.EqualFold(e, "aws-chunked") {
				keep = append(keep, e)
			}
		}
	}
	if len(keep) == 0 {
		h.Del("Content-Encoding")
		return
	}
	h.Set("Content-Encoding", strings.Join(keep, ","))
}

func isS3(service string) bool {
	return service == "s3" || service == "s3-object-lambda"
}

func containsFold(list []string, s string) bool {
	for _, v := range list {
		if strings.EqualFold(v, s) {
			return true
		}
	}
	return false
}

func invalidAccessKey(ak string) error {
	e := sluice.Errorf(sluice.ErrInvalidAccessKeyID, "The AWS Access Key Id you provided does not exist in our records.")
	e.Fields = map[string]string{"AWSAccessKeyId": ak}
	return e
}

func headerMalformed(detail string) error {
	return sluice.Errorf(sluice.ErrAuthorizationHeaderMalformed, "The authorization header is malformed; %s", detail)
}

func queryError(msg string) error {
	return &sluice.Error{Code: sluice.ErrAuthorizationQueryParamsError, Message: msg}
}

// bodyReadError maps a truncated body to IncompleteBody and passes any
// other transport error through.
func bodyReadError(err error) error {
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return incompleteBody()
	}
	return err
}

func incompleteBody() *sluice.Error {
	return sluice.Errorf(sluice.ErrIncompleteBody, "You did not provide the number of bytes specified by the Content-Length HTTP header")
}
