package fsstore_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/sluicehq/sluice"
)

// readFromRecorder records what io.Copy hands to its ReadFrom.
type readFromRecorder struct {
	bytes.Buffer
	srcs []string
}

func (r *readFromRecorder) ReadFrom(src io.Reader) (int64, error) {
	desc := fmt.Sprintf("%T", src)
	if lr, ok := src.(*io.LimitedReader); ok {
		desc += fmt.Sprintf("(%T)", lr.R)
	}
	r.srcs = append(r.srcs, desc)
	return r.Buffer.ReadFrom(src)
}

// TestReaderSendfile checks that copying a file-backed reader into a writer
// with ReadFrom hands it an *io.LimitedReader over the *os.File, one per
// file of the range: that is the shape net.TCPConn.ReadFrom turns into
// sendfile(2).
func TestReaderSendfile(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, t.TempDir(), false)
	mustBucket(t, s, "b")
	body, _ := multipartObject(t, s, "b", "mp")
	obj, err := s.OpenObject(ctx, "b", "mp")
	if err != nil {
		t.Fatal(err)
	}
	defer obj.Close()
	off := int64(sluice.MinPartSize - 10)
	r, err := obj.Reader(off, 20)
	if err != nil {
		t.Fatal(err)
	}
	var rec readFromRecorder
	if n, err := io.Copy(&rec, r); n != 20 || err != nil {
		t.Fatalf("copy = %d, %v", n, err)
	}
	if !bytes.Equal(rec.Bytes(), body[off:off+20]) {
		t.Error("copied bytes differ from the range")
	}
	want := []string{"*io.LimitedReader(*os.File)", "*io.LimitedReader(*os.File)"}
	if fmt.Sprint(rec.srcs) != fmt.Sprint(want) {
		t.Errorf("ReadFrom got %v, want %v", rec.srcs, want)
	}
}

// multipartObject writes an object of two parts (the first of the minimum
// part size) and returns its bytes.
func multipartObject(t *testing.T, s sluice.Store, bucket, key string) ([]byte, sluice.ObjectInfo) {
	t.Helper()
	ctx := context.Background()
	up, err := s.CreateUpload(ctx, &sluice.CreateUploadInput{Bucket: bucket, Key: key})
	if err != nil {
		t.Fatal(err)
	}
	var body []byte
	var parts []sluice.CompletePart
	for i, size := range []int{sluice.MinPartSize, 300 << 10} {
		p := make([]byte, size)
		for j := range p {
			p[j] = byte(j*7 + i)
		}
		info, err := s.UploadPart(ctx, &sluice.UploadPartInput{Bucket: bucket, Key: key, UploadID: up.UploadID, PartNumber: i + 1, Body: bytes.NewReader(p), Size: int64(size)})
		if err != nil {
			t.Fatal(err)
		}
		parts = append(parts, sluice.CompletePart{Number: i + 1, ETag: info.ETag})
		body = append(body, p...)
	}
	info, err := s.CompleteUpload(ctx, &sluice.CompleteUploadInput{Bucket: bucket, Key: key, UploadID: up.UploadID, Parts: parts})
	if err != nil {
		t.Fatal(err)
	}
	return body, info
}

// TestServeRanges serves ranges of inline, single-file and multipart
// objects through a real HTTP server whose handler copies the reader into
// the plain http.ResponseWriter (the sendfile path on Linux), and compares
// the bytes received.
func TestServeRanges(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, t.TempDir(), false)
	mustBucket(t, s, "b")
	bodies := map[string][]byte{
		"inline": bytes.Repeat([]byte("0123456789"), 100),
		"file":   bytes.Repeat([]byte("abcdefghijklmnopq"), 20000),
	}
	for k, b := range bodies {
		mustPut(t, s, "b", k, b)
	}
	bodies["mp"], _ = multipartObject(t, s, "b", "mp")

	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		off, _ := strconv.ParseInt(r.URL.Query().Get("off"), 10, 64)
		n, _ := strconv.ParseInt(r.URL.Query().Get("n"), 10, 64)
		obj, err := s.OpenObject(ctx, "b", r.URL.Query().Get("key"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusNotFound)
			return
		}
		defer obj.Close()
		rc, err := obj.Reader(off, n)
		if err != nil {
			http.Error(w, err.Error(), http.StatusRequestedRangeNotSatisfiable)
			return
		}
		defer rc.Close()
		w.Header().Set("Content-Length", strconv.FormatInt(n, 10))
		io.Copy(w, rc)
	}))
	defer srv.Close()

	part := int64(sluice.MinPartSize)
	cases := []struct {
		name   string
		key    string
		off, n int64
	}{
		{"inline whole", "inline", 0, 1000},
		{"inline middle", "inline", 10, 500},
		{"file whole", "file", 0, 340000},
		{"file under the sniff length", "file", 5, 100},
		{"file tail", "file", 339000, 1000},
		{"mp across parts", "mp", part - 70000, 140000},
		{"mp second part", "mp", part + 1, 1000},
		{"mp whole", "mp", 0, part + 300<<10},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := srv.Client().Get(fmt.Sprintf("%s/?key=%s&off=%d&n=%d", srv.URL, tc.key, tc.off, tc.n))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			got, err := io.ReadAll(resp.Body)
			if err != nil || resp.StatusCode != http.StatusOK {
				t.Fatalf("GET: %s, %v", resp.Status, err)
			}
			if want := bodies[tc.key][tc.off : tc.off+tc.n]; !bytes.Equal(got, want) {
				t.Errorf("got %d bytes that differ from the %d of the range", len(got), len(want))
			}
		})
	}
}
