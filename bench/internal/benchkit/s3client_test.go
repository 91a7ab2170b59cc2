package benchkit

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
)

// seen is what the test server recorded of one request.
type seen struct {
	method, path, auth, hash, md5 string
	body                          string
}

func recordingServer(t *testing.T, status int, reply string) (*httptest.Server, func() seen) {
	t.Helper()
	var mu sync.Mutex
	var last seen
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		last = seen{r.Method, r.URL.RequestURI(), r.Header.Get("Authorization"), r.Header.Get("X-Amz-Content-Sha256"), r.Header.Get("Content-MD5"), string(b)}
		mu.Unlock()
		w.WriteHeader(status)
		io.WriteString(w, reply)
	}))
	t.Cleanup(srv.Close)
	return srv, func() seen { mu.Lock(); defer mu.Unlock(); return last }
}

var authShape = regexp.MustCompile(`^AWS4-HMAC-SHA256 Credential=AK/\d{8}/eu-west-1/s3/aws4_request, SignedHeaders=[a-z0-9;-]*x-amz-content-sha256[a-z0-9;-]*, Signature=[0-9a-f]{64}$`)

func TestS3ClientDo(t *testing.T) {
	srv, last := recordingServer(t, http.StatusOK, strings.Repeat("x", 100))
	cl := NewS3Client(srv.URL, "AK", "SK", "eu-west-1", 4)
	defer cl.Close()
	ctx := context.Background()

	b := NewBody([]byte("hello"))
	st, msg, n, err := cl.Do(ctx, http.MethodPut, "/bucket/a%20b", http.Header{"Content-Md5": {"abc"}}, &b, 0)
	if err != nil || st != 200 || msg != nil || n != 100 {
		t.Fatalf("Do = %d, %q, %d, %v; want 200, nil, 100, nil", st, msg, n, err)
	}
	got := last()
	if got.method != "PUT" || got.path != "/bucket/a%20b" || got.body != "hello" || got.md5 != "abc" {
		t.Errorf("server saw %+v", got)
	}
	if want := "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"; got.hash != want {
		t.Errorf("x-amz-content-sha256 = %q, want %q", got.hash, want)
	}
	if !authShape.MatchString(got.auth) {
		t.Errorf("Authorization %q is not a SigV4 header for AK in eu-west-1", got.auth)
	}

	st, msg, n, err = cl.Do(ctx, http.MethodGet, "/bucket/k", nil, nil, 10)
	if err != nil || st != 200 || string(msg) != strings.Repeat("x", 10) || n != 100 {
		t.Fatalf("Do keep 10 = %d, %q, %d, %v", st, msg, n, err)
	}
	if got := last(); got.hash != EmptySHA256 {
		t.Errorf("GET x-amz-content-sha256 = %q, want the empty hash", got.hash)
	}

	u := UnsignedBody([]byte("data"))
	if _, _, _, err := cl.Do(ctx, http.MethodPut, "/bucket/u", nil, &u, 0); err != nil {
		t.Fatal(err)
	}
	if got := last(); got.hash != UnsignedPayload || got.body != "data" {
		t.Errorf("unsigned PUT: server saw %+v", got)
	}
}

func TestS3ClientDoOK(t *testing.T) {
	ok, _ := recordingServer(t, http.StatusOK, "<ListBucketResult/>")
	cl := NewS3Client(ok.URL, "AK", "SK", "eu-west-1", 1)
	defer cl.Close()
	msg, err := cl.DoOK(context.Background(), http.MethodGet, "/bucket?list-type=2", nil, nil)
	if err != nil || string(msg) != "<ListBucketResult/>" {
		t.Fatalf("DoOK = %q, %v", msg, err)
	}

	bad, _ := recordingServer(t, http.StatusNotFound, "  <Error><Code>NoSuchBucket</Code></Error>\n")
	cl = NewS3Client(bad.URL, "AK", "SK", "eu-west-1", 1)
	defer cl.Close()
	_, err = cl.DoOK(context.Background(), http.MethodPut, "/nope", nil, nil)
	if want := "PUT /nope: HTTP 404: <Error><Code>NoSuchBucket</Code></Error>"; err == nil || err.Error() != want {
		t.Errorf("DoOK error = %v, want %q", err, want)
	}
}
