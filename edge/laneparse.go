package edge

import (
	"bytes"
	"strings"
)

// laneRequest is a request head the fast lane parsed. Its strings are
// substrings of one copy of the head.
type laneRequest struct {
	head   bool   // HEAD, else GET
	http10 bool   // HTTP/1.0, else HTTP/1.1
	target string // request-target: path, then "?" and the raw query
	path   string // the escaped path, as url.URL.EscapedPath gives it
	query  string // the raw query, without "?"
	host   string // the Host header ("" when absent: HTTP/1.0 only)
	// The first values of the headers a hit reads, trimmed.
	accept, acceptEncoding string
	keepAlive, close       bool // Connection: keep-alive / close
}

// headEnd returns the length of the request head at the start of b, up
// to and including the blank line that ends it, or -1 when b holds no
// whole head yet.
func headEnd(b []byte) int {
	i := bytes.Index(b, []byte("\r\n\r\n"))
	if i < 0 {
		return -1
	}
	return i + 4
}

// parseHead parses a request head (request line, header lines, blank
// line) the fast lane may answer. It is strict: ok is false for anything
// the fast lane leaves to net/http — a method other than GET and HEAD, a
// protocol other than HTTP/1.1 and 1.0, a target that is not a plain
// origin-form path, a body, Expect, Upgrade, a precondition or Range, a
// header net/http would reject or treat specially, or any doubt. What it
// accepts, net/http parses to the same method, protocol, path, query, Host
// and header values (see FuzzParseHead).
func parseHead(head string) (rq laneRequest, ok bool) {
	line, rest, ok := strings.Cut(head, "\r\n")
	if !ok {
		return rq, false
	}
	switch {
	case strings.HasPrefix(line, "GET "):
		line = line[4:]
	case strings.HasPrefix(line, "HEAD "):
		rq.head, line = true, line[5:]
	default:
		return rq, false
	}
	target, proto, ok := strings.Cut(line, " ")
	if !ok {
		return rq, false
	}
	switch proto {
	case "HTTP/1.1":
	case "HTTP/1.0":
		rq.http10 = true
	default:
		return rq, false
	}
	if !rq.parseTarget(target) {
		return rq, false
	}
	var seenHost, seenAccept, seenAE, seenConn, seenCL bool
	for {
		line, rest, ok = strings.Cut(rest, "\r\n")
		if !ok {
			return rq, false
		}
		if line == "" {
			break
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok || name == "" || !validFieldName(name) || !validFieldValue(value) {
			return rq, false
		}
		value = trimOWS(value)
		// The first letter tells the few names that matter apart cheaply.
		switch name[0] | 0x20 {
		case 'h':
			if strings.EqualFold(name, "Host") {
				if seenHost || !validHost(value) {
					return rq, false
				}
				seenHost, rq.host = true, value
			}
		case 'a':
			switch {
			case strings.EqualFold(name, "Accept"):
				if seenAccept {
					return rq, false
				}
				seenAccept, rq.accept = true, value
			case strings.EqualFold(name, "Accept-Encoding"):
				if seenAE {
					return rq, false
				}
				seenAE, rq.acceptEncoding = true, value
			}
		case 'c':
			switch {
			case strings.EqualFold(name, "Connection"):
				if seenConn {
					return rq, false
				}
				seenConn = true
				switch {
				case strings.EqualFold(value, "keep-alive"):
					rq.keepAlive = true
				case strings.EqualFold(value, "close"):
					rq.close = true
				default:
					return rq, false
				}
			case strings.EqualFold(name, "Content-Length"):
				if seenCL || value != "0" {
					return rq, false
				}
				seenCL = true
			}
		case 'e', 't', 'u', 'r', 'i':
			// Expect, Transfer-Encoding, Trailer, TE, Upgrade, Range,
			// If-*: net/http or ServeContent act on them.
			if strings.EqualFold(name, "Expect") || strings.EqualFold(name, "Transfer-Encoding") ||
				strings.EqualFold(name, "Trailer") || strings.EqualFold(name, "Upgrade") ||
				strings.EqualFold(name, "Range") || len(name) > 3 && strings.EqualFold(name[:3], "If-") {
				return rq, false
			}
		}
	}
	if rest != "" || !seenHost && !rq.http10 {
		return rq, false
	}
	return rq, true
}

// parseTarget takes an origin-form request-target whose path is made only
// of characters url.URL.EscapedPath keeps as they are, so that the path is
// what the edge's net/http path sees.
func (rq *laneRequest) parseTarget(t string) bool {
	if len(t) == 0 || t[0] != '/' || strings.HasPrefix(t, "//") {
		return false
	}
	path, query, hasQuery := strings.Cut(t, "?")
	for i := 0; i < len(path); i++ {
		c := path[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("-._~!$&'()*+,;=:@/", c) >= 0:
		case c == '%':
			if i+2 >= len(path) || !isHexDigit(path[i+1]) || !isHexDigit(path[i+2]) {
				return false
			}
			i += 2
		default:
			return false
		}
	}
	for i := 0; i < len(query); i++ {
		if c := query[i]; c <= ' ' || c >= 0x7f || c == '#' {
			return false
		}
	}
	if hasQuery && query == "" {
		// net/http keeps a bare "?" as ForceQuery: rare enough to leave.
		return false
	}
	rq.target, rq.path, rq.query = t, path, query
	return true
}

func isHexDigit(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// validFieldName reports whether name is an RFC 9110 token.
func validFieldName(name string) bool {
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// validFieldValue rejects control characters but the tab, as net/http's
// server does; bytes above 0x7f (obs-text) pass.
func validFieldValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

// validHost accepts host names, IPv4 and bracketed IPv6 addresses with an
// optional port: a subset of what net/http accepts.
func validHost(h string) bool {
	for i := 0; i < len(h); i++ {
		c := h[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '.' || c == '-' || c == ':' || c == '[' || c == ']' || c == '_':
		default:
			return false
		}
	}
	return true
}

// trimOWS trims spaces and tabs, as net/textproto does with values.
func trimOWS(s string) string {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}
