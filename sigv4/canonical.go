package sigv4

import (
	"net/http"
	"net/textproto"
	"sort"
	"strconv"
	"strings"
)

const upperHex = "0123456789ABCDEF"

// uriEncode appends s to b percent-encoded per SigV4: everything but
// A-Z a-z 0-9 - _ . ~ is escaped, and '/' too unless keepSlash.
func uriEncode(b []byte, s string, keepSlash bool) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' ||
			c == '-' || c == '_' || c == '.' || c == '~' || (c == '/' && keepSlash) {
			b = append(b, c)
			continue
		}
		b = append(b, '%', upperHex[c>>4], upperHex[c&15])
	}
	return b
}

// canonicalURIs returns the canonical URI forms to try, most likely first.
//
// S3 signs the path URI-encoded once, exactly as the object key reads, with
// no normalisation (keys may contain "//" and "."), so the decoded path is
// re-encoded. A client that escaped more than SigV4 does (a '/' as %2F)
// signed the path as it sent it, so that form is tried too.
//
// Other services sign the escaped path, normalised, encoded a second time;
// AWS's own test suite signs it encoded once, so that form is the fallback.
//
// It returns the forms in an array, n of them, so that the common case
// allocates nothing.
func canonicalURIs(r *http.Request, service string) (uris [2]string, n int) {
	escaped := r.URL.EscapedPath()
	if escaped == "" {
		escaped = "/"
	}
	decoded := r.URL.Path
	if decoded == "" {
		decoded = "/"
	}
	if isS3(service) {
		primary := encodePath(decoded)
		if escaped != primary {
			return [2]string{primary, escaped}, 2
		}
		return [2]string{primary}, 1
	}
	primary := encodePath(normalizePath(escaped))
	single := encodePath(normalizePath(decoded))
	if single != primary {
		return [2]string{primary, single}, 2
	}
	return [2]string{primary}, 1
}

// encodePath is uriEncode of a path, keeping slashes; a path that needs
// no escaping is returned as it is.
func encodePath(p string) string {
	for i := 0; i < len(p); i++ {
		c := p[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' ||
			c == '-' || c == '_' || c == '.' || c == '~' || c == '/') {
			return string(uriEncode(make([]byte, 0, len(p)+16), p, true))
		}
	}
	return p
}

// normalizePath removes empty, "." and ".." segments, keeping a trailing
// slash, as RFC 3986 normalisation does for non-S3 services.
func normalizePath(p string) string {
	if !strings.Contains(p, "//") && !strings.Contains(p, "/.") {
		return p
	}
	var out []string
	for _, seg := range strings.Split(p, "/") {
		switch seg {
		case "", ".":
		case "..":
			if len(out) > 0 {
				out = out[:len(out)-1]
			}
		default:
			out = append(out, seg)
		}
	}
	s := "/" + strings.Join(out, "/")
	if len(out) > 0 && (strings.HasSuffix(p, "/") || strings.HasSuffix(p, "/.") || strings.HasSuffix(p, "/..")) {
		s += "/"
	}
	return s
}

// canonicalQueries returns the canonical query forms to try. A raw '+' is
// taken literally first (SDKs escape a space as %20), and as a space second
// for clients that form-encode.
func canonicalQueries(raw string, presigned bool) []string {
	if raw == "" {
		return noQuery
	}
	q := canonicalQuery(raw, presigned, false)
	if strings.IndexByte(raw, '+') >= 0 {
		return []string{q, canonicalQuery(raw, presigned, true)}
	}
	return []string{q}
}

// noQuery is the canonical query forms of a request without a query;
// callers do not modify it.
var noQuery = []string{""}

type queryPair struct{ k, v string }

// canonicalQuery decodes every parameter and re-encodes it per SigV4,
// sorted by name then value; X-Amz-Signature is left out of a presigned
// URL's query, since it is the signature itself.
func canonicalQuery(raw string, presigned, plusIsSpace bool) string {
	pairs := make([]queryPair, 0, 8)
	for raw != "" {
		var part string
		part, raw, _ = strings.Cut(raw, "&")
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		if plusIsSpace {
			k = strings.ReplaceAll(k, "+", " ")
			v = strings.ReplaceAll(v, "+", " ")
		}
		dk, err := unescape(k)
		if err != nil {
			dk = k
		}
		if presigned && dk == "X-Amz-Signature" {
			continue
		}
		dv, err := unescape(v)
		if err != nil {
			dv = v
		}
		pairs = append(pairs, queryPair{string(uriEncode(nil, dk, false)), string(uriEncode(nil, dv, false))})
	}
	sort.Slice(pairs, func(i, j int) bool {
		if pairs[i].k != pairs[j].k {
			return pairs[i].k < pairs[j].k
		}
		return pairs[i].v < pairs[j].v
	})
	n := 0
	for _, p := range pairs {
		n += len(p.k) + len(p.v) + 2
	}
	b := make([]byte, 0, n)
	for i, p := range pairs {
		if i > 0 {
			b = append(b, '&')
		}
		b = append(b, p.k...)
		b = append(b, '=')
		b = append(b, p.v...)
	}
	return string(b)
}

// headerKeys caches the canonical form of header names clients sign, so
// the common case needs no allocation.
var headerKeys = map[string]string{
	"host": "Host", "x-amz-date": "X-Amz-Date", "x-amz-content-sha256": "X-Amz-Content-Sha256",
	"content-type": "Content-Type", "content-length": "Content-Length", "content-md5": "Content-Md5",
	"content-encoding": "Content-Encoding", "x-amz-decoded-content-length": "X-Amz-Decoded-Content-Length",
	"x-amz-trailer": "X-Amz-Trailer", "x-amz-security-token": "X-Amz-Security-Token", "range": "Range",
	"x-amz-sdk-checksum-algorithm": "X-Amz-Sdk-Checksum-Algorithm", "amz-sdk-invocation-id": "Amz-Sdk-Invocation-Id",
	"amz-sdk-request": "Amz-Sdk-Request", "x-amz-user-agent": "X-Amz-User-Agent", "date": "Date",
	"x-amz-checksum-crc32": "X-Amz-Checksum-Crc32", "x-amz-checksum-mode": "X-Amz-Checksum-Mode",
	"x-amz-storage-class": "X-Amz-Storage-Class", "x-amz-target": "X-Amz-Target",
	"x-amz-invocation-type": "X-Amz-Invocation-Type", "x-amz-log-type": "X-Amz-Log-Type",
	"transfer-encoding": "Transfer-Encoding", "expect": "Expect",
}

// headerValues returns the request's values for a signed header name.
// Go's server moves some headers out of r.Header: Host into r.Host,
// Transfer-Encoding into r.TransferEncoding, and, for some requests,
// Content-Length into r.ContentLength.
func headerValues(r *http.Request, name string) []string {
	lower := strings.ToLower(name)
	switch lower {
	case "host":
		return []string{r.Host}
	}
	key, ok := headerKeys[lower]
	if !ok {
		key = textproto.CanonicalMIMEHeaderKey(lower)
	}
	vals := r.Header[key]
	if vals == nil && key != lower {
		vals = r.Header[lower]
	}
	if len(vals) > 0 {
		return vals
	}
	switch lower {
	case "content-length":
		if r.ContentLength >= 0 {
			return []string{strconv.FormatInt(r.ContentLength, 10)}
		}
	case "transfer-encoding":
		if len(r.TransferEncoding) > 0 {
			return []string{strings.Join(r.TransferEncoding, ",")}
		}
	}
	return nil
}

// appendHeaderValue appends v trimmed, with inner runs of spaces collapsed.
func appendHeaderValue(b []byte, v string) []byte {
	v = strings.Trim(v, " \t")
	space := false
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c == ' ' || c == '\t' {
			space = true
			continue
		}
		if space {
			b = append(b, ' ')
			space = false
		}
		b = append(b, c)
	}
	return b
}

// appendCanonical appends the canonical request to b.
func appendCanonical(b []byte, r *http.Request, s *signed, uri, query string) []byte {
	b = append(b, r.Method...)
	b = append(b, '\n')
	b = append(b, uri...)
	b = append(b, '\n')
	b = append(b, query...)
	b = append(b, '\n')
	for _, name := range s.signedHeaders {
		b = append(b, name...)
		b = append(b, ':')
		if strings.EqualFold(name, "host") {
			b = appendHeaderValue(b, r.Host)
			b = append(b, '\n')
			continue
		}
		for i, v := range headerValues(r, name) {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendHeaderValue(b, v)
		}
		b = append(b, '\n')
	}
	b = append(b, '\n')
	for i, name := range s.signedHeaders {
		if i > 0 {
			b = append(b, ';')
		}
		b = append(b, name...)
	}
	b = append(b, '\n')
	return append(b, s.payloadHash...)
}
