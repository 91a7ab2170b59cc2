// Package awsevent builds the event documents AWS services hand to Lambda
// functions — S3 event notifications, API Gateway HTTP API (payload format
// 2.0) requests and CloudFront Lambda@Edge events — shaped exactly as AWS
// shapes them: the same keys, the same nesting, the same encodings.
//
// Where github.com/aws/aws-lambda-go/events has a type for an event, the
// builders return that type (wrapped only where its JSON encoding differs
// from what AWS sends, and the wrapper says why); CloudFront events have no
// type there, so this package declares them.
//
// Everything here is a pure function of its inputs plus, where a field is
// left empty, crypto/rand for request ids; it is safe for concurrent use.
package awsevent

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"net"
	"strings"
)

// Marshal encodes v as AWS does: compact, with '&', '<' and '>' as they are
// (encoding/json would escape them as \u0026 and so on).
func Marshal(v any) ([]byte, error) {
	return encode(v, "")
}

// MarshalIndent is Marshal with two-space indentation and a final newline,
// for people to read.
func MarshalIndent(v any) ([]byte, error) {
	return encode(v, "  ")
}

func encode(v any, indent string) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", indent)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	if indent == "" {
		return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
	}
	return buf.Bytes(), nil
}

// randomBytes returns n bytes from r, or from crypto/rand when r is nil.
func randomBytes(r io.Reader, n int) []byte {
	if r == nil {
		r = rand.Reader
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		// crypto/rand never fails on supported platforms; a test reader that
		// runs dry still yields a well-formed (zero-padded) id.
		return b
	}
	return b
}

// randomBase64 returns n random bytes in standard base64.
func randomBase64(r io.Reader, n int) string {
	return base64.StdEncoding.EncodeToString(randomBytes(r, n))
}

// hostOnly strips a port from a Host header value.
func hostOnly(hostport string) string {
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		return h
	}
	return strings.Trim(hostport, "[]")
}

// remoteIP returns the address part of an http.Request's RemoteAddr.
func remoteIP(remoteAddr string) string {
	if h, _, err := net.SplitHostPort(remoteAddr); err == nil {
		return h
	}
	return remoteAddr
}
