package edge

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestTTLRules(t *testing.T) {
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	legacy := ttlPolicy{minTTL: 0, defaultTTL: 86400, maxTTL: 31536000, defaultErrorTTL: 10}
	withMin := ttlPolicy{minTTL: 60, defaultTTL: 30, maxTTL: 3600, defaultErrorTTL: 10}
	custom := ttlPolicy{defaultTTL: 100, maxTTL: 1000, defaultErrorTTL: 10, errorTTL: map[int]int64{404: 300, 503: 0}}
	hdr := func(kv ...string) http.Header {
		h := http.Header{}
		for i := 0; i < len(kv); i += 2 {
			h.Add(kv[i], kv[i+1])
		}
		return h
	}
	for _, tc := range []struct {
		name   string
		p      ttlPolicy
		status int
		h      http.Header
		ttl    time.Duration
		store  bool
	}{
		{"no headers: default TTL", legacy, 200, hdr(), 86400 * time.Second, true},
		{"max-age", legacy, 200, hdr("Cache-Control", "public, max-age=120"), 120 * time.Second, true},
		{"s-maxage wins over max-age", legacy, 200, hdr("Cache-Control", "max-age=120, s-maxage=30"), 30 * time.Second, true},
		{"max-age wins over Expires", legacy, 200, hdr("Cache-Control", "max-age=5", "Expires", now.Add(time.Hour).Format(http.TimeFormat)), 5 * time.Second, true},
		{"Expires", legacy, 200, hdr("Expires", now.Add(time.Hour).Format(http.TimeFormat)), time.Hour, true},
		{"past Expires", legacy, 200, hdr("Expires", now.Add(-time.Hour).Format(http.TimeFormat)), 0, true},
		{"invalid Expires", legacy, 200, hdr("Expires", "0"), 0, true},
		{"max-age capped by MaxTTL", withMin, 200, hdr("Cache-Control", "max-age=99999"), 3600 * time.Second, true},
		{"max-age raised to MinTTL", withMin, 200, hdr("Cache-Control", "max-age=5"), 60 * time.Second, true},
		{"default raised to MinTTL", withMin, 200, hdr(), 60 * time.Second, true},
		{"no-store with MinTTL 0", legacy, 200, hdr("Cache-Control", "no-store"), 0, false},
		{"no-cache with MinTTL 0", legacy, 200, hdr("Cache-Control", "no-cache, max-age=60"), 0, false},
		{"private with MinTTL 0", legacy, 200, hdr("Cache-Control", "private"), 0, false},
		{"no-store with MinTTL > 0", withMin, 200, hdr("Cache-Control", "no-store"), 60 * time.Second, true},
		{"malformed max-age ignored", legacy, 200, hdr("Cache-Control", "max-age=abc"), 86400 * time.Second, true},
		{"404 cached 10 s", legacy, 404, hdr(), 10 * time.Second, true},
		{"404 with longer max-age", legacy, 404, hdr("Cache-Control", "max-age=60"), 60 * time.Second, true},
		{"404 ErrorCachingMinTTL", custom, 404, hdr(), 300 * time.Second, true},
		{"503 ErrorCachingMinTTL 0: not cached", custom, 503, hdr(), 0, false},
		{"500 cached", legacy, 500, hdr(), 10 * time.Second, true},
		{"403 without max-age not cached", legacy, 403, hdr(), 0, false},
		{"403 with max-age cached", legacy, 403, hdr("Cache-Control", "max-age=5"), 10 * time.Second, true},
		{"400 with s-maxage", legacy, 400, hdr("Cache-Control", "s-maxage=30"), 30 * time.Second, true},
		{"401 never cached", legacy, 401, hdr("Cache-Control", "max-age=60"), 0, false},
		{"429 never cached", legacy, 429, hdr(), 0, false},
		{"301 follows TTL rules", legacy, 301, hdr("Cache-Control", "max-age=7"), 7 * time.Second, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ttl, store := tc.p.ttl(tc.status, tc.h, now)
			if ttl != tc.ttl || store != tc.store {
				t.Fatalf("ttl = %v, %v; want %v, %v", ttl, store, tc.ttl, tc.store)
			}
		})
	}
}

func TestMatchPattern(t *testing.T) {
	for _, tc := range []struct {
		pattern, path string
		want          bool
	}{
		{"*", "/anything/at/all", true},
		{"images/*", "/images/a.jpg", true},
		{"/images/*", "/images/sub/a.jpg", true},
		{"images/*.jpg", "/images/sub/a.jpg", true},
		{"images/*.jpg", "/images/a.png", false},
		{"images/*", "/Images/a.jpg", false},
		{"/a?c", "/abc", true},
		{"/a?c", "/ac", false},
		{"/a?c", "/aéc", true},
		{"*.gif", "/x/y.gif", true},
		{"/exact", "/exact", true},
		{"/exact", "/exact/", false},
		{"/a*b*c", "/axxbyyc", true},
		{"/a*b*c", "/axxbyy", false},
		{"/*/thumb/*", "/p/thumb/1.jpg", true},
	} {
		if got := matchPattern(tc.pattern, tc.path); got != tc.want {
			t.Errorf("matchPattern(%q, %q) = %v, want %v", tc.pattern, tc.path, got, tc.want)
		}
	}
}

// naiveMatch is a reference: exhaustive recursion over runes.
func naiveMatch(p, s []rune) bool {
	if len(p) == 0 {
		return len(s) == 0
	}
	switch p[0] {
	case '*':
		for i := 0; i <= len(s); i++ {
			if naiveMatch(p[1:], s[i:]) {
				return true
			}
		}
		return false
	case '?':
		return len(s) > 0 && naiveMatch(p[1:], s[1:])
	}
	return len(s) > 0 && s[0] == p[0] && naiveMatch(p[1:], s[1:])
}

func FuzzMatchPattern(f *testing.F) {
	for _, s := range [][2]string{{"images/*.jpg", "/images/a.jpg"}, {"/a?c", "/abc"}, {"*", ""}, {"/**?*", "/ab"}, {"?", "é"}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, pattern, path string) {
		if len(pattern) > 24 || len(path) > 24 {
			return
		}
		got := matchPattern(pattern, path)
		p := pattern
		if len(p) == 0 || (p[0] != '/' && p[0] != '*') {
			p = "/" + p
		}
		if !isValidUTF8(p) || !isValidUTF8(path) {
			return
		}
		if want := naiveMatch([]rune(p), []rune(path)); got != want {
			t.Fatalf("matchPattern(%q, %q) = %v, reference says %v", pattern, path, got, want)
		}
	})
}

func isValidUTF8(s string) bool {
	for _, r := range s {
		if r == '\uFFFD' {
			return false
		}
	}
	return true
}

func TestParseS3Domain(t *testing.T) {
	for _, tc := range []struct{ in, bucket, region string }{
		{"photos.s3.amazonaws.com", "photos", ""},
		{"photos.s3.eu-west-1.amazonaws.com", "photos", "eu-west-1"},
		{"my.dotted.bucket.s3-us-west-2.amazonaws.com", "my.dotted.bucket", "us-west-2"},
		{"photos.s3.localhost", "photos", ""},
		{"Photos.S3.Localhost.", "photos", ""},
	} {
		b, r, ok := parseS3Domain(tc.in)
		if !ok || b != tc.bucket || r != tc.region {
			t.Errorf("parseS3Domain(%q) = %q %q %v", tc.in, b, r, ok)
		}
	}
	for _, bad := range []string{"example.com", ".s3.localhost", "x.s3.a.b.amazonaws.com", "s3.amazonaws.com"} {
		if _, _, ok := parseS3Domain(bad); ok {
			t.Errorf("parseS3Domain(%q) accepted", bad)
		}
	}
}

func TestAcceptedEncoding(t *testing.T) {
	for in, want := range map[string]string{
		"": "", "gzip": "gzip", "gzip, deflate, br": "br", "br;q=0, gzip": "gzip", "identity": "",
		"*": "br", "deflate": "", "GZIP;q=0.5": "gzip",
	} {
		if got := acceptedEncoding(in); got != want {
			t.Errorf("acceptedEncoding(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestRangesValid(t *testing.T) {
	for in, want := range map[string]bool{
		"bytes=0-9": true, "bytes=0-9,20-29": true, "bytes=20-29,0-9": false, "bytes=0-9,5-15": false,
		"bytes=-5": true, "bytes=5-": true, "bytes=x-1": false, "bytes=9-2": false, "items=0-1": false,
	} {
		if got := rangesValid(in, 100); got != want {
			t.Errorf("rangesValid(%q) = %v, want %v", in, got, want)
		}
	}
}

func FuzzParseHookResult(f *testing.F) {
	for _, s := range []string{
		`{"uri":"/a","querystring":"x=1","headers":{"host":[{"key":"Host","value":"h"}]}}`,
		`{"status":"200","body":"aGk=","bodyEncoding":"base64","headers":{}}`,
		`{"status":404}`,
		`{"uri":"/a","body":{"action":"replace","data":"aGk=","encoding":"base64"}}`,
		`{"uri":"/a","origin":{"custom":{"domainName":"example.com","port":443,"protocol":"https"}}}`,
		`{"uri":"/a","origin":{"s3":{"domainName":"b.s3.localhost"}}}`,
		`null`, `[]`, `{"uri":"nope"}`, `{"status":"abc"}`,
	} {
		f.Add(s, 0)
	}
	types := []string{"viewer-request", "origin-request", "origin-response", "viewer-response"}
	f.Fuzz(func(t *testing.T, payload string, which int) {
		et := types[(which%4+4)%4]
		res, err := parseHookResult(et, []byte(payload), true)
		if err != nil {
			if _, ok := err.(*validationError); !ok {
				t.Fatalf("error %T is not a validation error: %v", err, err)
			}
			return
		}
		switch {
		case res.request != nil:
			if !strings.HasPrefix(res.request.URI, "/") || res.request.Headers == nil {
				t.Fatalf("accepted request %+v", res.request)
			}
		case res.response != nil:
			if res.status < 200 || res.status > 599 || res.response.Headers == nil {
				t.Fatalf("accepted response status %d", res.status)
			}
		default:
			t.Fatal("neither request nor response")
		}
	})
}
