package s3api

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/sluicehq/sluice"
)

// benchServer is a Server over fsstore without a listener: requests go
// straight to ServeHTTP so that the numbers measure s3api and the store.
func benchServer(b *testing.B) (*Server, sluice.Store) {
	b.Helper()
	srv, st := storeServer(b, testStoreConfig(b.TempDir()))
	if err := st.CreateBucket(context.Background(), sluice.Bucket{Name: "bench", Region: sluice.DefaultRegion}); err != nil {
		b.Fatal(err)
	}
	return srv, st
}

func benchRequest(method, target string, body []byte) *http.Request {
	r := httptest.NewRequest(method, target, bytes.NewReader(body))
	ctx := sluice.WithIdentity(r.Context(), sluice.Identity{AccessKey: "test", Service: "s3", Region: sluice.DefaultRegion})
	return r.WithContext(ctx)
}

// BenchmarkListObjectsV2 pages through 100,000 keys, 1000 at a time.
func BenchmarkListObjectsV2(b *testing.B) {
	srv, st := benchServer(b)
	ctx := context.Background()
	const n = 100_000
	for i := range n {
		key := fmt.Sprintf("dir%02d/obj-%07d", i%50, i)
		if _, err := st.PutObject(ctx, &sluice.PutObjectInput{Bucket: "bench", Key: key, Body: bytes.NewReader(nil), Size: 0}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		token := ""
		pages := 0
		for {
			target := "/bench?list-type=2"
			if token != "" {
				target += "&continuation-token=" + token
			}
			w := httptest.NewRecorder()
			srv.ServeHTTP(w, benchRequest("GET", target, nil))
			if w.Code != 200 {
				b.Fatalf("list: %d %s", w.Code, w.Body)
			}
			pages++
			i := bytes.Index(w.Body.Bytes(), []byte("<NextContinuationToken>"))
			if i < 0 {
				break
			}
			rest := w.Body.Bytes()[i+len("<NextContinuationToken>"):]
			token = string(rest[:bytes.IndexByte(rest, '<')])
		}
		if pages != n/1000 {
			b.Fatalf("%d pages", pages)
		}
	}
}

func BenchmarkPutObject(b *testing.B) {
	for _, size := range []int{1 << 10, 1 << 20} {
		b.Run(fmt.Sprintf("%dKiB", size>>10), func(b *testing.B) {
			srv, _ := benchServer(b)
			body := bytes.Repeat([]byte("x"), size)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				w := httptest.NewRecorder()
				srv.ServeHTTP(w, benchRequest("PUT", fmt.Sprintf("/bench/k%d", i%100), body))
				if w.Code != 200 {
					b.Fatalf("put: %d %s", w.Code, w.Body)
				}
				i++
			}
		})
	}
}

func BenchmarkGetObject(b *testing.B) {
	for _, size := range []int{1 << 10, 1 << 20} {
		b.Run(fmt.Sprintf("%dKiB", size>>10), func(b *testing.B) {
			srv, st := benchServer(b)
			body := bytes.Repeat([]byte("x"), size)
			if _, err := st.PutObject(context.Background(), &sluice.PutObjectInput{Bucket: "bench", Key: "k", Body: bytes.NewReader(body), Size: int64(size)}); err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				w := httptest.NewRecorder()
				srv.ServeHTTP(w, benchRequest("GET", "/bench/k", nil))
				if w.Code != 200 || w.Body.Len() != size {
					b.Fatalf("get: %d", w.Code)
				}
			}
		})
	}
}
