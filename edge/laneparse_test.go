package edge

import (
	"bufio"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var parseHeadCases = []struct {
	name string
	head string
	want laneRequest
	ok   bool
}{
	{"get", "GET /a/b.jpg HTTP/1.1\r\nHost: x.localhost\r\n\r\n",
		laneRequest{target: "/a/b.jpg", path: "/a/b.jpg", host: "x.localhost"}, true},
	{"head with query", "HEAD /p?d=1x2&z HTTP/1.1\r\nHost: h:4567\r\n\r\n",
		laneRequest{head: true, target: "/p?d=1x2&z", path: "/p", query: "d=1x2&z", host: "h:4567"}, true},
	{"lower-case names, values trimmed", "GET / HTTP/1.1\r\nhost:  h \t\r\naccept-encoding: gzip, br \r\nACCEPT:image/webp\r\nUser-Agent: curl\r\n\r\n",
		laneRequest{target: "/", path: "/", host: "h", acceptEncoding: "gzip, br", accept: "image/webp"}, true},
	{"escapes", "GET /a%20b/%E2%82%AC~!$&'()*+,;=:@ HTTP/1.1\r\nHost: h\r\n\r\n",
		laneRequest{target: "/a%20b/%E2%82%AC~!$&'()*+,;=:@", path: "/a%20b/%E2%82%AC~!$&'()*+,;=:@", host: "h"}, true},
	{"http/1.0 without host", "GET / HTTP/1.0\r\n\r\n", laneRequest{http10: true, target: "/", path: "/"}, true},
	{"http/1.0 keep-alive", "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n",
		laneRequest{http10: true, target: "/", path: "/", keepAlive: true}, true},
	{"close", "GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
		laneRequest{target: "/", path: "/", host: "h", close: true}, true},
	{"content-length 0", "GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n",
		laneRequest{target: "/", path: "/", host: "h"}, true},
	{"obs-text value", "GET / HTTP/1.1\r\nHost: h\r\nX-Name: caf\xc3\xa9\r\n\r\n",
		laneRequest{target: "/", path: "/", host: "h"}, true},

	{"post", "POST / HTTP/1.1\r\nHost: h\r\n\r\n", laneRequest{}, false},
	{"lower-case method", "get / HTTP/1.1\r\nHost: h\r\n\r\n", laneRequest{}, false},
	{"http/2", "GET / HTTP/2.0\r\nHost: h\r\n\r\n", laneRequest{}, false},
	{"http/1.1 without host", "GET / HTTP/1.1\r\n\r\n", laneRequest{}, false},
	{"two hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", laneRequest{}, false},
	{"host with a space", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", laneRequest{}, false},
	{"absolute uri", "GET http://h/ HTTP/1.1\r\nHost: h\r\n\r\n", laneRequest{}, false},
	{"asterisk", "GET * HTTP/1.1\r\nHost: h\r\n\r\n", laneRequest{}, false},
	{"double slash", "GET //a HTTP/1.1\r\nHost: h\r\n\r\n", laneRequest{}, false},
	{"bad escape", "GET /a%zz HTTP/1.1\r\nHost: h\r\n\r\n", laneRequest{}, false},
	{"short escape", "GET /a%2 HTTP/1.1\r\nHost: h\r\n\r\n", laneRequest{}, false},
	{"fragment", "GET /a#b HTTP/1.1\r\nHost: h\r\n\r\n", laneRequest{}, false},
	{"bare question mark", "GET /a? HTTP/1.1\r\nHost: h\r\n\r\n", laneRequest{}, false},
	{"space in target", "GET /a b HTTP/1.1\r\nHost: h\r\n\r\n", laneRequest{}, false},
	{"non-ascii path", "GET /caf\xc3\xa9 HTTP/1.1\r\nHost: h\r\n\r\n", laneRequest{}, false},
	{"body", "GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\n", laneRequest{}, false},
	{"chunked", "GET / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n", laneRequest{}, false},
	{"expect", "GET / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\n\r\n", laneRequest{}, false},
	{"upgrade", "GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n\r\n", laneRequest{}, false},
	{"range", "GET / HTTP/1.1\r\nHost: h\r\nRange: bytes=0-1\r\n\r\n", laneRequest{}, false},
	{"if-none-match", "GET / HTTP/1.1\r\nHost: h\r\nif-none-match: \"x\"\r\n\r\n", laneRequest{}, false},
	{"if-modified-since", "GET / HTTP/1.1\r\nHost: h\r\nIf-Modified-Since: Tue, 01 Jan 2030 00:00:00 GMT\r\n\r\n", laneRequest{}, false},
	{"connection upgrade", "GET / HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\n\r\n", laneRequest{}, false},
	{"two connection fields", "GET / HTTP/1.0\r\nConnection: keep-alive\r\nConnection: close\r\n\r\n", laneRequest{}, false},
	{"two accept-encodings", "GET / HTTP/1.1\r\nHost: h\r\nAccept-Encoding: gzip\r\nAccept-Encoding: br\r\n\r\n", laneRequest{}, false},
	{"folded line", "GET / HTTP/1.1\r\nHost: h\r\nX-A: 1\r\n 2\r\n\r\n", laneRequest{}, false},
	{"space before colon", "GET / HTTP/1.1\r\nHost : h\r\n\r\n", laneRequest{}, false},
	{"no colon", "GET / HTTP/1.1\r\nHost h\r\n\r\n", laneRequest{}, false},
	{"control character", "GET / HTTP/1.1\r\nHost: h\r\nX-A: a\x01b\r\n\r\n", laneRequest{}, false},
	{"bare lf", "GET / HTTP/1.1\nHost: h\n\n", laneRequest{}, false},
	{"leading blank line", "\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n", laneRequest{}, false},
	{"no end", "GET / HTTP/1.1\r\nHost: h\r\n", laneRequest{}, false},
}

func TestParseHead(t *testing.T) {
	for _, tc := range parseHeadCases {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := parseHead(tc.head)
			if ok != tc.ok {
				t.Fatalf("ok = %v, want %v", ok, tc.ok)
			}
			if !ok {
				return
			}
			if diff := cmp.Diff(tc.want, got, cmp.AllowUnexported(laneRequest{})); diff != "" {
				t.Errorf("(-want +got)\n%s", diff)
			}
		})
	}
}

func TestHeadEnd(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		want int
	}{
		{"whole", "GET / HTTP/1.0\r\n\r\n", 18},
		{"pipelined", "GET / HTTP/1.0\r\n\r\nGET /", 18},
		{"partial", "GET / HTTP/1.0\r\n\r", -1},
		{"empty", "", -1},
	} {
		if got := headEnd([]byte(tc.in)); got != tc.want {
			t.Errorf("%s: headEnd = %d, want %d", tc.name, got, tc.want)
		}
	}
}

// FuzzParseHead checks that whatever the fast lane accepts, net/http reads
// as the same request: method, protocol, path as the edge sees it, query,
// Host, the header values a hit reads, no body, and the same keep-alive
// decision.
func FuzzParseHead(f *testing.F) {
	for _, tc := range parseHeadCases {
		f.Add(tc.head)
	}
	f.Fuzz(func(t *testing.T, head string) {
		rq, ok := parseHead(head)
		if !ok {
			return
		}
		r, err := http.ReadRequest(bufio.NewReader(strings.NewReader(head)))
		if err != nil {
			t.Fatalf("accepted %q, net/http: %v", head, err)
		}
		wantMethod := http.MethodGet
		if rq.head {
			wantMethod = http.MethodHead
		}
		if r.Method != wantMethod || r.ProtoMinor != map[bool]int{true: 0, false: 1}[rq.http10] {
			t.Fatalf("%q: method/proto %s %s, parsed head=%v http10=%v", head, r.Method, r.Proto, rq.head, rq.http10)
		}
		if r.URL.EscapedPath() != rq.path || r.URL.RawQuery != rq.query || r.URL.RequestURI() != rq.target {
			t.Fatalf("%q: net/http path %q query %q uri %q, parsed %q %q %q", head, r.URL.EscapedPath(), r.URL.RawQuery, r.URL.RequestURI(), rq.path, rq.query, rq.target)
		}
		if r.Host != rq.host || r.Header.Get("Accept") != rq.accept || r.Header.Get("Accept-Encoding") != rq.acceptEncoding {
			t.Fatalf("%q: net/http host %q accept %q ae %q, parsed %+v", head, r.Host, r.Header.Get("Accept"), r.Header.Get("Accept-Encoding"), rq)
		}
		if r.ContentLength != 0 || len(r.TransferEncoding) != 0 || r.Header.Get("Expect") != "" {
			t.Fatalf("%q: net/http sees a body", head)
		}
		for _, name := range conditionalHeaders {
			if len(r.Header[name[0]]) > 0 {
				t.Fatalf("%q: accepted with %s", head, name[0])
			}
		}
		// net/http keeps an HTTP/1.0 connection only on "keep-alive" and
		// closes an HTTP/1.1 one on "close".
		netKeep := !r.Close
		if rq.http10 {
			netKeep = strings.EqualFold(strings.TrimSpace(r.Header.Get("Connection")), "keep-alive")
		}
		if keep := !rq.close && (!rq.http10 || rq.keepAlive); keep != netKeep {
			t.Fatalf("%q: keep-alive %v, net/http %v", head, keep, netKeep)
		}
	})
}
