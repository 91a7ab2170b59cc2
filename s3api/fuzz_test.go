package s3api

import (
	"bytes"
	"context"
	"encoding/xml"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/sluicehq/sluice"
)

// fuzzServer is a Server over a real store holding bucket "fuzz" with a few
// objects; fuzz bodies may add or remove more.
func fuzzServer(f *testing.F) *Server {
	f.Helper()
	srv, st := storeServer(f, testStoreConfig(f.TempDir()))
	ctx := context.Background()
	if err := st.CreateBucket(ctx, sluice.Bucket{Name: "fuzz", Region: sluice.DefaultRegion}); err != nil {
		f.Fatal(err)
	}
	for _, k := range []string{"a", "a/b", "a/c/d", "z z", "0123456789"} {
		if _, err := st.PutObject(ctx, &sluice.PutObjectInput{Bucket: "fuzz", Key: k, Body: strings.NewReader("0123456789"), Size: 10}); err != nil {
			f.Fatal(err)
		}
	}
	return srv
}

func serve(srv *Server, r *http.Request, anonymous bool) *httptest.ResponseRecorder {
	id := sluice.Identity{AccessKey: "test", Service: "s3", Region: sluice.DefaultRegion}
	if anonymous {
		id = sluice.Identity{Anonymous: true}
	}
	ctx := sluice.WithIdentity(r.Context(), id)
	ctx = sluice.WithRequestInfo(ctx, sluice.RequestInfo{ID: "FUZZ"})
	w := httptest.NewRecorder()
	srv.ServeHTTP(w, r.WithContext(ctx))
	return w
}

// checkResponse asserts what every response must be: a known status, no
// internal error, and for an error with a body a well-formed S3 error.
func checkResponse(t *testing.T, method string, w *httptest.ResponseRecorder) {
	t.Helper()
	if w.Code < 200 || w.Code > 599 {
		t.Fatalf("status %d", w.Code)
	}
	if w.Code == http.StatusInternalServerError {
		t.Fatalf("internal error: %s", w.Body)
	}
	if w.Code < 400 || method == http.MethodHead {
		if method == http.MethodHead && w.Body.Len() != 0 {
			t.Fatalf("HEAD response has a body: %q", w.Body)
		}
		return
	}
	var e struct {
		XMLName   xml.Name `xml:"Error"`
		Code      string
		Message   string
		RequestID string `xml:"RequestId"`
	}
	if err := xml.Unmarshal(w.Body.Bytes(), &e); err != nil || e.Code == "" || e.Message == "" || e.RequestID != "FUZZ" {
		t.Fatalf("malformed error body (%v): %q", err, w.Body)
	}
	if Status(sluice.Code(e.Code)) != w.Code {
		t.Fatalf("code %s answered with status %d", e.Code, w.Code)
	}
}

func FuzzRouting(f *testing.F) {
	srv := fuzzServer(f)
	seeds := []struct {
		method, path, query, host string
		anon                      bool
	}{
		{"GET", "/", "", "127.0.0.1:4566", false},
		{"GET", "/fuzz/a", "", "127.0.0.1:4566", false},
		{"GET", "/a", "partNumber=1", "fuzz.localhost:4566", false},
		{"HEAD", "/fuzz/missing", "", "localhost", false},
		{"PUT", "/fuzz/new%20key", "", "", false},
		{"GET", "/fuzz", "list-type=2&delimiter=/&max-keys=1", "", false},
		{"GET", "/fuzz", "lifecycle", "", false},
		{"POST", "/fuzz/a", "uploads", "", false},
		{"DELETE", "/fuzz/a/b", "", "", true},
		{"GET", "/fuzz/%zz", "", "", false},
		{"PATCH", "//", "acl&tagging", "fuzz.s3.localhost", false},
		{"GET", "/fuzz", "inventory&id=", "", true},
		{"PUT", "/Bad_Bucket", "", "", false},
		{"GET", "/fuzz/a", "response-content-type=x", "", true},
		{"GET", "/fuzz/a", "versionId=abc", "", false},
		{"PUT", "/fuzz/a", "partNumber=1&uploadId=nope", "", false},
	}
	for _, s := range seeds {
		f.Add(s.method, s.path, s.query, s.host, s.anon)
	}
	f.Fuzz(func(t *testing.T, method, path, query, host string, anon bool) {
		if method == "" || strings.ContainsAny(method, " \t\r\n") {
			method = http.MethodGet
		}
		u := &url.URL{Path: path, RawQuery: query}
		if p, err := url.PathUnescape(path); err == nil {
			u.Path, u.RawPath = p, path
		}
		r := &http.Request{Method: method, URL: u, Host: host, Header: http.Header{}, Body: http.NoBody, ContentLength: 0, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1}
		r = r.WithContext(context.Background())
		checkResponse(t, method, serve(srv, r, anon))
	})
}

func FuzzDeleteObjectsXML(f *testing.F) {
	srv := fuzzServer(f)
	f.Add([]byte(`<Delete><Object><Key>a</Key></Object></Delete>`))
	f.Add([]byte(`<Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Quiet>true</Quiet><Object><Key>a/b</Key><VersionId>null</VersionId></Object><Object><Key>x</Key></Object></Delete>`))
	f.Add([]byte(`<Delete><Object><Key></Key></Object></Delete>`))
	f.Add([]byte(`<Delete><Object><Key>a</Key></Object></Delete><extra/>`))
	f.Add([]byte(`<?xml version="1.0"?><!-- c --><Delete><Object><Key>&amp;&lt;</Key></Object></Delete>`))
	f.Add([]byte(`<Delete><Quiet>maybe</Quiet></Delete>`))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, body []byte) {
		r := httptest.NewRequest("POST", "/fuzz?delete", bytes.NewReader(body))
		r.Header.Set("Content-MD5", b64md5(body))
		w := serve(srv, r, false)
		checkResponse(t, "POST", w)
		if w.Code == 200 {
			var res struct {
				XMLName xml.Name `xml:"DeleteResult"`
			}
			if err := xml.Unmarshal(w.Body.Bytes(), &res); err != nil {
				t.Fatalf("result does not parse: %v: %s", err, w.Body)
			}
		} else if w.Code != 400 {
			t.Fatalf("status %d: %s", w.Code, w.Body)
		}
	})
}

func FuzzRangeHeader(f *testing.F) {
	for _, s := range []string{"bytes=0-4", "bytes=5-", "bytes=-3", "bytes=-0", "bytes=0-1,2-3", "bytes=9-1", "bytes= 1 - 2 ", "bytes=99999999999999999999-", "items=1-2", ""} {
		f.Add(s, int64(10))
	}
	f.Add("bytes=0-", int64(0))
	f.Fuzz(func(t *testing.T, spec string, size int64) {
		if size < 0 {
			size = -size
		}
		size %= 1 << 50
		off, n, ok, err := parseRange(spec, size)
		switch {
		case err != nil:
			if !sluice.IsCode(err, sluice.ErrInvalidRange) || ok {
				t.Fatalf("parseRange(%q, %d) = %v, %v", spec, size, ok, err)
			}
		case ok:
			if off < 0 || n < 1 || off+n > size {
				t.Fatalf("parseRange(%q, %d) = [%d, +%d)", spec, size, off, n)
			}
		default:
			if off != 0 || n != 0 {
				t.Fatalf("ignored range returned [%d, +%d)", off, n)
			}
		}
	})
}

func FuzzListParams(f *testing.F) {
	srv := fuzzServer(f)
	for _, q := range []string{
		"list-type=2", "list-type=2&max-keys=1&delimiter=/", "list-type=2&continuation-token=YQ", "list-type=2&start-after=a&prefix=a",
		"max-keys=-1", "list-type=2&encoding-type=url&prefix=z%20", "marker=a&delimiter=c", "list-type=2&max-keys=99999999999999999999",
		"list-type=2&delimiter=&prefix=&fetch-owner=true",
	} {
		f.Add(q)
	}
	f.Fuzz(func(t *testing.T, query string) {
		r := httptest.NewRequest("GET", "/fuzz", nil)
		r.URL.RawQuery = query
		w := serve(srv, r, false)
		checkResponse(t, "GET", w)
		if w.Code != 200 {
			return
		}
		var l struct {
			XMLName  xml.Name `xml:"ListBucketResult"`
			MaxKeys  int
			Contents []struct{ Key string }
			Prefixes []struct{ Prefix string } `xml:"CommonPrefixes"`
		}
		if err := xml.Unmarshal(w.Body.Bytes(), &l); err != nil {
			t.Fatalf("listing does not parse: %v", err)
		}
		if len(l.Contents)+len(l.Prefixes) > l.MaxKeys || l.MaxKeys > sluice.MaxListKeys {
			t.Fatalf("%d entries with MaxKeys %d", len(l.Contents)+len(l.Prefixes), l.MaxKeys)
		}
	})
}

func FuzzTaggingHeader(f *testing.F) {
	for _, s := range []string{"a=1&b=2", "a=1&a=2", "k%20x=v+y", "=v", "aws:x=1", "%zz=1", "a", "&&"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, q string) {
		tags, err := parseTagging(q)
		if err != nil {
			if c := sluice.ErrorCode(err); c != sluice.ErrInvalidTag && c != sluice.ErrInvalidArgument {
				t.Fatalf("code %s", c)
			}
			return
		}
		if err := validateTags(tags, sluice.MaxObjectTags); err != nil {
			t.Fatalf("accepted an invalid tag set: %v", err)
		}
	})
}

func FuzzChecksumHeaders(f *testing.F) {
	f.Add("", "", "", "", []byte("x"))
	f.Add("CRC32", "", "x-amz-checksum-crc32", "", []byte("x"))
	f.Add("", "AAAAAA==", "", "1B2M2Y8AsgTpgAmY7PhCfg==", []byte(""))
	f.Fuzz(func(t *testing.T, algo, crc, trailer, md5v string, body []byte) {
		r := httptest.NewRequest("PUT", "/b/k", io.NopCloser(bytes.NewReader(body)))
		setNonEmpty(r.Header, "X-Amz-Sdk-Checksum-Algorithm", algo)
		setNonEmpty(r.Header, "X-Amz-Checksum-Crc32", crc)
		setNonEmpty(r.Header, "X-Amz-Trailer", trailer)
		setNonEmpty(r.Header, "Content-Md5", md5v)
		a, verify, err := checksumVerifier(r)
		if err != nil {
			if _, ok := asError(err); !ok {
				t.Fatalf("non-domain error %v", err)
			}
			return
		}
		if _, known := checksumAlgorithms[a]; a != "" && !known {
			t.Fatalf("algorithm %q", a)
		}
		if err := verify(computeChecksums(a, body)); err != nil {
			if c := sluice.ErrorCode(err); c != sluice.ErrBadDigest && c != sluice.ErrInvalidRequest {
				t.Fatalf("verify code %s", c)
			}
		}
	})
}

func setNonEmpty(h http.Header, k, v string) {
	if v != "" {
		h.Set(k, v)
	}
}
