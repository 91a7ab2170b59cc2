package sigv4

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/sluicehq/sluice"
)

// Signature Version 2, S3's older scheme: an HMAC-SHA1 over the method,
// Content-MD5, Content-Type, a date (or the expiry of a presigned URL),
// the x-amz-* headers and the resource. aws-cli v1 still presigns with it
// (`aws s3 presign`). It signs no payload and no Host, and its resource
// names the bucket whether it came in the Host or the path.

const v2Prefix = "AWS "

// v2Subresources are the query parameters S3 includes in the
// CanonicalizedResource: the documented sub-resources, the newer ones S3
// added since, and the response-header overrides.
var v2Subresources = nameSet(
	"accelerate", "acl", "analytics", "attributes", "cors", "delete", "encryption",
	"inventory", "legal-hold", "lifecycle", "location", "logging", "metrics",
	"notification", "object-lock", "partNumber", "policy", "replication",
	"requestPayment", "restore", "retention", "select", "select-type", "tagging",
	"torrent", "uploadId", "uploads", "versionId", "versioning", "versions", "website",
	"response-cache-control", "response-content-disposition", "response-content-encoding",
	"response-content-language", "response-content-type", "response-expires",
)

// botocoreSubresources is the list botocore's HmacV1 signer (aws-cli v1)
// includes: it lacks some of S3's newer sub-resources and adds two S3 does
// not have, so a request naming one of those is tried with this list too.
var botocoreSubresources = nameSet(
	"accelerate", "acl", "analytics", "cors", "defaultObjectAcl", "delete",
	"inventory", "lifecycle", "location", "logging", "metrics", "notification",
	"object-lock", "partNumber", "policy", "replication", "requestPayment", "restore",
	"select", "select-type", "storageClass", "tagging", "torrent", "uploadId",
	"uploads", "versionId", "versioning", "versions", "website",
	"response-cache-control", "response-content-disposition", "response-content-encoding",
	"response-content-language", "response-content-type", "response-expires",
)

func nameSet(names ...string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}

// isV2Query reports whether the raw query carries SigV2 query-string auth.
func isV2Query(raw string) bool {
	return hasQueryParam(raw, "AWSAccessKeyId") || hasQueryParam(raw, "Signature")
}

func v2HeaderInvalid(h string) error {
	return sluice.Errorf(sluice.ErrInvalidArgument, "AWS authorization header is invalid.  Expected AwsAccessKeyId:signature").
		With("ArgumentName", "Authorization").With("ArgumentValue", h)
}

// parseV2Authorization splits "AWS AccessKeyId:Signature".
func parseV2Authorization(h string) (accessKey, signature string, err error) {
	rest, ok := strings.CutPrefix(h, v2Prefix)
	if !ok {
		return "", "", v2HeaderInvalid(h)
	}
	accessKey, signature, ok = strings.Cut(strings.TrimSpace(rest), ":")
	accessKey, signature = strings.TrimSpace(accessKey), strings.TrimSpace(signature)
	if !ok || accessKey == "" || signature == "" || strings.ContainsAny(accessKey, " \t") {
		return "", "", v2HeaderInvalid(h)
	}
	return accessKey, signature, nil
}

// v2Request is what both SigV2 forms reduce to before the signature check.
type v2Request struct {
	accessKey   string
	signature   string // base64, as provided
	contentMD5  string
	contentType string
	dates       []v2Date // the date lines to try, most likely first
	amzHeaders  []queryPair
}

// v2Date is one reading of the date line. S3 signs an empty line when
// x-amz-date is present (the header then signs the time), but its own
// documented example puts the x-amz-date value on the line and leaves the
// header out, and botocore keeps the Date header on the line.
type v2Date struct {
	line        string
	skipAmzDate bool
}

func (v *Verifier) verifyV2Header(r *http.Request, auth string) (sluice.Identity, error) {
	ak, sig, err := parseV2Authorization(auth)
	if err != nil {
		return sluice.Identity{}, err
	}
	secret, ok := v.creds[ak]
	if !ok {
		return sluice.Identity{}, invalidAccessKey(ak)
	}
	amzDate, date := r.Header.Get("X-Amz-Date"), r.Header.Get("Date")
	rawDate := amzDate
	if rawDate == "" {
		rawDate = date
	}
	t, ok := parseV2Time(rawDate)
	if !ok {
		return sluice.Identity{}, sluice.Errorf(sluice.ErrAccessDenied, "AWS authentication requires a valid Date or x-amz-date header")
	}
	if err := v.checkSkew(t, rawDate); err != nil {
		return sluice.Identity{}, err
	}
	req := v2Request{
		accessKey:   ak,
		signature:   sig,
		contentMD5:  r.Header.Get("Content-Md5"),
		contentType: r.Header.Get("Content-Type"),
	}
	req.amzHeaders, _ = v2AmzHeaders(r.Header, "")
	if amzDate != "" {
		req.dates = []v2Date{{line: ""}, {line: amzDate, skipAmzDate: true}}
		if date != "" {
			req.dates = append(req.dates, v2Date{line: date})
		}
	} else {
		req.dates = []v2Date{{line: date}}
	}
	if err := v.checkV2Signature(r, &req, secret); err != nil {
		return sluice.Identity{}, err
	}
	return sluice.Identity{AccessKey: ak, Service: "s3"}, nil
}

func (v *Verifier) verifyV2Query(r *http.Request) (sluice.Identity, error) {
	q := queryValues(r.URL.RawQuery)
	ak, ok1 := q["AWSAccessKeyId"]
	sig, ok2 := q["Signature"]
	rawExpires, ok3 := q["Expires"]
	if !ok1 || !ok2 || !ok3 || ak == "" || sig == "" {
		return sluice.Identity{}, sluice.Errorf(sluice.ErrAccessDenied, "Query-string authentication requires the Signature, Expires and AWSAccessKeyId parameters")
	}
	expires, err := strconv.ParseInt(rawExpires, 10, 64)
	if err != nil {
		return sluice.Identity{}, sluice.Errorf(sluice.ErrAccessDenied, "Invalid date (should be seconds since epoch): %s", rawExpires)
	}
	now := v.cfg.Now()
	if exp := time.Unix(expires, 0); now.After(exp) {
		e := sluice.Errorf(sluice.ErrAccessDenied, "Request has expired")
		e.Fields = map[string]string{
			"Expires":    exp.UTC().Format(time.RFC3339),
			"ServerTime": now.UTC().Format(time.RFC3339),
		}
		return sluice.Identity{}, e
	}
	secret, ok := v.creds[ak]
	if !ok {
		return sluice.Identity{}, invalidAccessKey(ak)
	}
	// A query-decoded '+' is a plus; a space can only be a '+' that some
	// hop form-decoded, as base64 has no spaces.
	req := v2Request{
		accessKey:   ak,
		signature:   strings.ReplaceAll(sig, " ", "+"),
		contentMD5:  r.Header.Get("Content-Md5"),
		contentType: r.Header.Get("Content-Type"),
		dates:       []v2Date{{line: rawExpires}},
	}
	// botocore moves the headers it signed into the presigned URL's query,
	// so a plain GET of the URL carries them there instead.
	var fromQuery []queryPair
	req.amzHeaders, fromQuery = v2AmzHeaders(r.Header, r.URL.RawQuery)
	if req.contentMD5 == "" {
		if md5, ok := q["content-md5"]; ok {
			req.contentMD5 = md5
			fromQuery = append(fromQuery, queryPair{"Content-Md5", md5})
		}
	}
	if req.contentType == "" {
		if ct, ok := q["content-type"]; ok {
			req.contentType = ct
			fromQuery = append(fromQuery, queryPair{"Content-Type", ct})
		}
	}
	if err := v.checkV2Signature(r, &req, secret); err != nil {
		return sluice.Identity{}, err
	}
	// What was signed in the query takes effect as the header it stands
	// for, so that S3 checks the signed Content-MD5 and stores the signed
	// Content-Type and metadata.
	if len(fromQuery) > 0 && r.Header == nil {
		r.Header = make(http.Header, len(fromQuery))
	}
	for _, p := range fromQuery {
		r.Header.Set(p.k, p.v)
	}
	return sluice.Identity{AccessKey: ak, Service: "s3"}, nil
}

// checkSkew rejects a header-signed request whose time is too far from now.
func (v *Verifier) checkSkew(t time.Time, rawDate string) error {
	now := v.cfg.Now()
	if d := now.Sub(t); d > v.cfg.MaxSkew || d < -v.cfg.MaxSkew {
		e := sluice.Errorf(sluice.ErrRequestTimeTooSkewed, "The difference between the request time and the current time is too large.")
		e.Fields = map[string]string{
			"RequestTime":                rawDate,
			"ServerTime":                 now.UTC().Format(time.RFC3339),
			"MaxAllowedSkewMilliseconds": strconv.FormatInt(v.cfg.MaxSkew.Milliseconds(), 10),
		}
		return e
	}
	return nil
}

// parseV2Time reads a Date or x-amz-date value: the RFC 2616 forms, the
// numeric-zone form S3's examples use, and the ISO 8601 form SigV4 clients
// put in x-amz-date.
func parseV2Time(s string) (time.Time, bool) {
	if s == "" {
		return time.Time{}, false
	}
	if t, err := http.ParseTime(s); err == nil {
		return t, true
	}
	for _, layout := range []string{time.RFC1123Z, time.RFC1123, amzDateLayout} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// v2AmzHeaders returns the x-amz-* headers lower-cased and sorted, each
// value trimmed and repeated values comma-joined. Parameters named x-amz-*
// in rawQuery fill in for headers the request does not carry; fromQuery
// lists those.
func v2AmzHeaders(h http.Header, rawQuery string) (all, fromQuery []queryPair) {
	var out []queryPair
	for k, vals := range h {
		if len(k) < 6 || !strings.EqualFold(k[:6], "x-amz-") {
			continue
		}
		trimmed := make([]string, len(vals))
		for i, val := range vals {
			trimmed[i] = strings.TrimSpace(val)
		}
		out = append(out, queryPair{strings.ToLower(k), strings.Join(trimmed, ",")})
	}
	for rawQuery != "" {
		var part string
		part, rawQuery, _ = strings.Cut(rawQuery, "&")
		k, val, _ := strings.Cut(part, "=")
		if len(k) < 6 || !strings.EqualFold(k[:6], "x-amz-") {
			continue
		}
		dk, err1 := unescape(k)
		dv, err2 := unescape(val)
		if err1 != nil || err2 != nil {
			continue
		}
		dk = strings.ToLower(dk)
		if len(h.Values(dk)) > 0 || containsPair(out, dk) {
			continue
		}
		p := queryPair{dk, strings.TrimSpace(dv)}
		out = append(out, p)
		fromQuery = append(fromQuery, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].k < out[j].k })
	return out, fromQuery
}

func containsPair(ps []queryPair, k string) bool {
	for _, p := range ps {
		if p.k == k {
			return true
		}
	}
	return false
}

// checkV2Signature compares the provided signature with the HMAC-SHA1 of
// each string to sign the request could have been signed as; the first
// one is the one S3 itself would use and the one an error reports.
func (v *Verifier) checkV2Signature(r *http.Request, req *v2Request, secret string) error {
	provided, err := base64.StdEncoding.DecodeString(req.signature)
	if err != nil || len(provided) != sha1.Size {
		provided = nil
	}
	mac := hmac.New(sha1.New, []byte(secret))
	var sum [sha1.Size]byte
	var first string
	for _, resource := range v.v2Resources(r) {
		for _, d := range req.dates {
			sts := v2StringToSign(r.Method, req, d, resource)
			if first == "" {
				first = sts
			}
			if provided == nil {
				break
			}
			mac.Reset()
			mac.Write([]byte(sts))
			if hmac.Equal(mac.Sum(sum[:0]), provided) {
				return nil
			}
		}
		if provided == nil {
			break
		}
	}
	e := sluice.Errorf(sluice.ErrSignatureDoesNotMatch, "The request signature we calculated does not match the signature you provided. Check your key and signing method.")
	e.Fields = map[string]string{
		"AWSAccessKeyId":    req.accessKey,
		"StringToSign":      first,
		"StringToSignBytes": spacedHex(first),
		"SignatureProvided": req.signature,
	}
	return e
}

func v2StringToSign(method string, req *v2Request, d v2Date, resource string) string {
	var b strings.Builder
	b.Grow(len(method) + len(req.contentMD5) + len(req.contentType) + len(d.line) + len(resource) + 64)
	b.WriteString(method)
	b.WriteByte('\n')
	b.WriteString(req.contentMD5)
	b.WriteByte('\n')
	b.WriteString(req.contentType)
	b.WriteByte('\n')
	b.WriteString(d.line)
	b.WriteByte('\n')
	for _, h := range req.amzHeaders {
		if d.skipAmzDate && h.k == "x-amz-date" {
			continue
		}
		b.WriteString(h.k)
		b.WriteByte(':')
		b.WriteString(h.v)
		b.WriteByte('\n')
	}
	b.WriteString(resource)
	return b.String()
}

// spacedHex renders s as S3 does in StringToSignBytes: "47 45 54 0a".
func spacedHex(s string) string {
	const hexDigits = "0123456789abcdef"
	b := make([]byte, 0, len(s)*3)
	for i := 0; i < len(s); i++ {
		if i > 0 {
			b = append(b, ' ')
		}
		b = append(b, hexDigits[s[i]>>4], hexDigits[s[i]&15])
	}
	return string(b)
}

// v2Resources returns the CanonicalizedResource forms to try, most likely
// first: the path exactly as sent (what S3 and botocore sign), then as Go
// re-escaped it and decoded (for clients that sign the key as it reads);
// path-style, then with the Host's bucket in front; each with S3's
// sub-resource list, then botocore's. Alternatives cost an HMAC each and
// only when the likelier forms failed.
func (v *Verifier) v2Resources(r *http.Request) []string {
	paths := make([]string, 0, 3)
	add := func(list []string, s string) []string {
		for _, have := range list {
			if have == s {
				return list
			}
		}
		return append(list, s)
	}
	paths = add(paths, requestPath(r))
	if esc := r.URL.EscapedPath(); esc != "" {
		paths = add(paths, esc)
	}
	// A decoded '?' would read as a sub-resource, letting a signature for
	// "k?acl" pass for the object "k%3Facl"; such paths are signed escaped.
	if dec := r.URL.Path; dec != "" && !strings.Contains(dec, "?") {
		paths = add(paths, dec)
	}

	var buckets []string
	if len(v.cfg.VirtualHostDomains) > 0 {
		if b := hostBucket(r.Host, v.cfg.VirtualHostDomains); b != "" {
			buckets = []string{"/" + b}
		} else {
			buckets = []string{""}
		}
	} else {
		buckets = []string{""}
		if label := hostLabel(r.Host); label != "" {
			buckets = append(buckets, "/"+label)
		}
	}

	subs := v2SubresourceForms(r.URL.RawQuery)
	out := make([]string, 0, len(buckets)*(len(paths)+1)*len(subs))
	for _, b := range buckets {
		for i, p := range paths {
			for _, s := range subs {
				out = add(out, b+p+s)
			}
			// A path-style request for a bucket itself is signed with a
			// trailing slash ("/photos/"), as the bucket's root, by S3 and
			// botocore alike, though sent without one.
			if i == 0 && b == "" && len(p) > 1 && strings.IndexByte(p[1:], '/') < 0 {
				for _, s := range subs {
					out = add(out, p+"/"+s)
				}
			}
		}
	}
	return out
}

// requestPath is the path as the client sent it, which SigV2 signs
// literally; it falls back to the re-escaped path for requests that did not
// come off the wire or whose URL was rewritten since.
func requestPath(r *http.Request) string {
	ru := r.RequestURI
	if strings.HasPrefix(ru, "/") {
		p, _, _ := strings.Cut(ru, "?")
		if dec, err := unescape(p); err == nil && dec == r.URL.Path {
			return p
		}
	}
	if p := r.URL.EscapedPath(); p != "" {
		return p
	}
	return "/"
}

// v2SubresourceForms renders the sub-resource suffix ("?acl&versionId=3")
// with S3's list and, where it differs, botocore's; and, where the query
// has empty values written "k=", also with those written "k".
func v2SubresourceForms(raw string) []string {
	if raw == "" {
		return []string{""}
	}
	type param struct {
		k, v  string
		hasEq bool
	}
	var params []param
	emptyEq := false
	for raw != "" {
		var part string
		part, raw, _ = strings.Cut(raw, "&")
		k, val, hasEq := strings.Cut(part, "=")
		if !v2Subresources[k] && !botocoreSubresources[k] {
			continue
		}
		// Values are signed decoded; a malformed escape is signed as sent.
		if dv, err := unescape(val); err == nil {
			val = dv
		}
		params = append(params, param{k, val, hasEq})
		if hasEq && val == "" {
			emptyEq = true
		}
	}
	if len(params) == 0 {
		return []string{""}
	}
	sort.SliceStable(params, func(i, j int) bool { return params[i].k < params[j].k })
	render := func(set map[string]bool, keepEmptyEq bool) string {
		var b strings.Builder
		for _, p := range params {
			if !set[p.k] {
				continue
			}
			if b.Len() == 0 {
				b.WriteByte('?')
			} else {
				b.WriteByte('&')
			}
			b.WriteString(p.k)
			if p.v != "" || (p.hasEq && keepEmptyEq) {
				b.WriteByte('=')
				b.WriteString(p.v)
			}
		}
		return b.String()
	}
	forms := []string{render(v2Subresources, true)}
	if f := render(botocoreSubresources, true); f != forms[0] {
		forms = append(forms, f)
	}
	if emptyEq {
		for _, f := range []string{render(v2Subresources, false), render(botocoreSubresources, false)} {
			if !containsString(forms, f) {
				forms = append(forms, f)
			}
		}
	}
	return forms
}

func containsString(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// hostLabel returns the Host's first label when the Host could name a
// bucket virtual-hosted-style: a name, not an IP address, with a dot.
func hostLabel(host string) string {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(host, ".")
	if host == "" || net.ParseIP(strings.Trim(host, "[]")) != nil {
		return ""
	}
	label, rest, ok := strings.Cut(host, ".")
	if !ok || label == "" || rest == "" {
		return ""
	}
	return strings.ToLower(label)
}

// hostBucket returns the bucket a virtual-hosted-style Host names under one
// of domains, or "" for a path-style request; the longest domain wins, as in
// s3api, so the two agree on which bucket a request is for.
func hostBucket(host string, domains []string) string {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	if host == "" || net.ParseIP(strings.Trim(host, "[]")) != nil {
		return ""
	}
	best := ""
	for _, d := range domains {
		if host == d {
			return ""
		}
		if strings.HasSuffix(host, "."+d) && len(d) > len(best) {
			best = d
		}
	}
	if best == "" {
		return ""
	}
	return strings.TrimSuffix(host, "."+best)
}
