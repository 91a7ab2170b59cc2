package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"image"
	"image/jpeg"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseFlags(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		want    func(c Config) bool
		wantErr string
	}{
		{name: "defaults", args: nil, want: func(c Config) bool {
			return c.HitSize == 100<<10 && c.HitConns == 64 && cmp.Equal(c.ResizeConc, []int{2, 8}) &&
				cmp.Equal(c.Phases, []string{"hits", "resize", "fresh"}) && c.FreshPoll == 2*time.Millisecond
		}},
		{name: "peers alone", args: []string{"-servers", "nginx,sharp", "-phases", "hits,resize"}, want: func(c Config) bool {
			return !c.has(srvSluice) && c.runs(phaseHits) && !c.runs(phaseFresh)
		}},
		{name: "sizes and lists", args: []string{"-hit-size", "1MiB", "-resize-conc", "1,4,16", "-fresh-size", "512B"}, want: func(c Config) bool {
			return c.HitSize == 1<<20 && cmp.Equal(c.ResizeConc, []int{1, 4, 16}) && c.FreshSize == 512
		}},
		{name: "unknown phase", args: []string{"-phases", "hits,bogus"}, wantErr: "unknown phase"},
		{name: "unknown server", args: []string{"-servers", "varnish"}, wantErr: "unknown server"},
		{name: "fresh without sluice", args: []string{"-phases", "fresh", "-servers", "nginx"}, wantErr: "sluice"},
		{name: "two hit sizes", args: []string{"-hit-size", "1KiB,2KiB"}, wantErr: "-hit-size"},
		{name: "bad conc", args: []string{"-resize-conc", "0"}, wantErr: "-resize-conc"},
		{name: "slices too short", args: []string{"-hit-duration", "200ms", "-rounds", "3"}, wantErr: "-rounds"},
		{name: "quality", args: []string{"-quality", "101"}, wantErr: "-quality"},
		{name: "stray argument", args: []string{"extra"}, wantErr: "unexpected arguments"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := parseFlags(tc.args)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tc.want(cfg) {
				t.Errorf("unexpected config %+v", cfg)
			}
		})
	}
}

func TestResizeSizesNeverRepeat(t *testing.T) {
	seen := map[[2]int]int{}
	for m := range 200_000 {
		w, h := resizeSize(m)
		if w < 200 || w > 1199 || h < 150 || h > 1049 {
			t.Fatalf("m=%d: %dx%d out of range", m, w, h)
		}
		if prev, ok := seen[[2]int{w, h}]; ok {
			t.Fatalf("m=%d and m=%d both ask for %dx%d", prev, m, w, h)
		}
		seen[[2]int{w, h}] = m
	}
}

func TestResizeRequestsCycleThroughPhotos(t *testing.T) {
	photos := make([]photo, 12)
	type req struct{ p, w, h int }
	seen := map[req]bool{}
	count := make([]int, len(photos))
	for n := range 12_000 {
		p, w, h := resizeRequest(n, photos)
		if seen[req{p, w, h}] {
			t.Fatalf("request %d repeats photo %d at %dx%d", n, p, w, h)
		}
		seen[req{p, w, h}] = true
		count[p]++
	}
	for p, c := range count {
		if c != 1000 {
			t.Errorf("photo %d asked %d times, want 1000", p, c)
		}
	}
}

func encodeJPEG(t testing.TB, w, h int) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, image.NewRGBA(image.Rect(0, 0, w, h)), &jpeg.Options{Quality: 80}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestJPEGSize(t *testing.T) {
	good := encodeJPEG(t, 321, 123)
	// An APP segment and fill bytes before the frame header, as encoders write.
	withApp := append([]byte{0xFF, 0xD8, 0xFF, 0xE1, 0x00, 0x04, 'x', 'y', 0xFF}, good[2:]...)
	tests := []struct {
		name    string
		in      []byte
		w, h    int
		wantErr string
	}{
		{name: "encoded", in: good, w: 321, h: 123},
		{name: "app segment and fill byte", in: withApp, w: 321, h: 123},
		{name: "not a jpeg", in: []byte("GIF89a........"), wantErr: "not a JPEG"},
		{name: "truncated", in: good[:20], wantErr: "JPEG"},
		{name: "segment overruns", in: []byte{0xFF, 0xD8, 0xFF, 0xE0, 0xFF, 0xFF, 0, 0}, wantErr: "overruns"},
		{name: "scan before frame", in: []byte{0xFF, 0xD8, 0xFF, 0xDA, 0, 2}, wantErr: "no SOF"},
		{name: "empty", in: nil, wantErr: "not a JPEG"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w, h, err := jpegSize(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if w != tc.w || h != tc.h {
				t.Errorf("got %dx%d, want %dx%d", w, h, tc.w, tc.h)
			}
		})
	}
}

func FuzzJPEGSize(f *testing.F) {
	f.Add(encodeJPEG(f, 16, 9))
	f.Add([]byte{0xFF, 0xD8, 0xFF, 0xC0, 0x00, 0x11, 8, 0, 9, 0, 16})
	f.Add([]byte{0xFF, 0xD8, 0xFF, 0xFF, 0xFF, 0xD0})
	f.Fuzz(func(t *testing.T, b []byte) {
		w, h, err := jpegSize(b)
		if err == nil && (w < 0 || h < 0 || w > 65535 || h > 65535) {
			t.Fatalf("impossible size %dx%d", w, h)
		}
	})
}

func TestReadHead(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    head
		wantErr string
	}{
		{name: "edge hit", in: "HTTP/1.1 200 OK\r\nContent-Length: 12\r\nX-Cache: Hit from sluice\r\ncontent-type: image/jpeg\r\n\r\n",
			want: head{status: 200, contentLength: 12, xCache: "Hit from sluice", contentType: "image/jpeg"}},
		{name: "gzip and close", in: "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
			want: head{status: 200, contentLength: 0, contentEncoding: "gzip", close: true}},
		{name: "bare LF", in: "HTTP/1.0 404 Not Found\nContent-Length: 3\n\n", want: head{status: 404, contentLength: 3}},
		{name: "no length", in: "HTTP/1.1 204 No Content\r\n\r\n", want: head{status: 204, contentLength: -1}},
		{name: "chunked", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", wantErr: "chunked"},
		{name: "bad status", in: "HTTP/1.1 2x0 OK\r\n\r\n", wantErr: "bad status line"},
		{name: "not http", in: "SSH-2.0-OpenSSH\r\n\r\n", wantErr: "bad status line"},
		{name: "bad length", in: "HTTP/1.1 200 OK\r\nContent-Length: -5\r\n\r\n", wantErr: "Content-Length"},
		{name: "bad header line", in: "HTTP/1.1 200 OK\r\nnocolon\r\n\r\n", wantErr: "bad header line"},
		{name: "truncated", in: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n", wantErr: "read header"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := readHead(bufio.NewReader(strings.NewReader(tc.in)))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got, cmp.AllowUnexported(head{})); diff != "" {
				t.Errorf("head (-want +got):\n%s", diff)
			}
		})
	}
}

func FuzzReadHead(f *testing.F) {
	f.Add("HTTP/1.1 200 OK\r\nContent-Length: 12\r\nX-Cache: Hit from sluice\r\n\r\n")
	f.Add("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
	f.Add("HTTP/1.1 999 \r\n:\r\n\r\n")
	f.Fuzz(func(t *testing.T, s string) {
		h, err := readHead(bufio.NewReaderSize(strings.NewReader(s), 16))
		if err == nil && (h.status < 100 || h.status > 999 || h.contentLength < -1) {
			t.Fatalf("accepted impossible head %+v", h)
		}
	})
}

func TestFreshBodyVersion(t *testing.T) {
	body := freshBody(42, 4096)
	if len(body) != 4096 {
		t.Fatalf("body is %d bytes, want 4096", len(body))
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	_, _ = zw.Write(body)
	_ = zw.Close()
	tests := []struct {
		name    string
		r       response
		want    int
		wantErr string
	}{
		{name: "identity", r: response{body: body}, want: 42},
		{name: "gzip", r: response{head: head{contentEncoding: "gzip"}, body: gz.Bytes()}, want: 42},
		{name: "short body", r: response{body: freshBody(7, 64)}, want: 7},
		{name: "brotli is not expected", r: response{head: head{contentEncoding: "br"}, body: body}, wantErr: "Content-Encoding"},
		{name: "no marker", r: response{body: []byte("hello\n")}, wantErr: "no version line"},
		{name: "broken gzip", r: response{head: head{contentEncoding: "gzip"}, body: []byte("nope")}, wantErr: "gzip"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := bodyVersion(tc.r)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("version %d, want %d", got, tc.want)
			}
		})
	}
}

func TestNginxConf(t *testing.T) {
	conf := nginxConf("/w/nginx", "/w/nginx/www", "127.0.0.1:8080", "")
	for _, want := range []string{
		"daemon off;", "master_process on;", "worker_processes auto;", "access_log off;", "sendfile on;",
		"listen 127.0.0.1:8080;", "root /w/nginx/www;", "pid /w/nginx/nginx.pid;", "proxy_temp_path /w/nginx/tmp/proxy;",
	} {
		if !strings.Contains(conf, want) {
			t.Errorf("config lacks %q:\n%s", want, conf)
		}
	}
	if strings.Contains(conf, "user ") {
		t.Errorf("no user directive unless started as root:\n%s", conf)
	}
	if !strings.Contains(nginxConf("/w", "/w/www", "127.0.0.1:1", "root"), "user root;") {
		t.Error("a root master must name the workers' user")
	}
	if strings.Count(conf, "{") != strings.Count(conf, "}") {
		t.Errorf("unbalanced braces:\n%s", conf)
	}
}

func TestResultMergePoolsSlices(t *testing.T) {
	a := result{server: "sluice", conc: 2, lat: []time.Duration{3, 1}, tags: []int{0, 1}, elapsed: time.Second, busy: time.Second, bytes: 10, cpu: 5}
	b := result{server: "sluice", conc: 2, lat: []time.Duration{2}, tags: []int{2}, elapsed: time.Second, busy: time.Second, bytes: 5, cpu: -1, errors: 1, firstErr: "boom"}
	m := a.merge(b)
	if m.ops() != 3 || !cmp.Equal(m.tags, []int{0, 1, 2}) || m.bytes != 15 || m.errors != 1 || m.firstErr != "boom" {
		t.Errorf("merged %+v", m)
	}
	if m.cpu != -1 || m.cpuPerOp() != -1 {
		t.Errorf("unknown CPU in one slice must make the total unknown, got %v", m.cpu)
	}
	if got := m.opsPerSec(); got != 1.5 {
		t.Errorf("ops/s = %v, want 1.5", got)
	}
	if got := m.inFlight(); got != 0.5 {
		t.Errorf("in flight = %v, want 0.5", got)
	}
}

func TestHitAndResizeChecks(t *testing.T) {
	img := encodeJPEG(t, 40, 30)
	tests := []struct {
		name    string
		check   func(response) error
		r       response
		wantErr string
	}{
		{name: "nginx hit", check: hitCheck(false, 5), r: response{head: head{status: 200}, n: 5}},
		{name: "edge hit", check: hitCheck(true, 5), r: response{head: head{status: 200, xCache: "Hit from sluice"}, n: 5}},
		{name: "edge miss in the hit window", check: hitCheck(true, 5), r: response{head: head{status: 200, xCache: "Miss from sluice"}, n: 5}, wantErr: "not a cache hit"},
		{name: "short body", check: hitCheck(false, 5), r: response{head: head{status: 200}, n: 4}, wantErr: "body bytes"},
		{name: "resized", check: resizeCheck(true, 40, 30), r: response{head: head{status: 200, xCache: "Miss from sluice", contentType: "image/jpeg"}, body: img}},
		{name: "wrong size", check: resizeCheck(false, 40, 31), r: response{head: head{status: 200, contentType: "image/jpeg"}, body: img}, wantErr: "asked for 40x31"},
		{name: "resize served from cache", check: resizeCheck(true, 40, 30), r: response{head: head{status: 200, xCache: "Hit from sluice", contentType: "image/jpeg"}, body: img}, wantErr: "want a miss"},
		{name: "error answer", check: resizeCheck(false, 40, 30), r: response{head: head{status: 503}, body: []byte("SlowDown")}, wantErr: "HTTP 503"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.check(tc.r)
			if tc.wantErr == "" && err != nil {
				t.Fatal(err)
			}
			if tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}
