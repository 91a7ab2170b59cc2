package fsstore_test

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/fsstore"
)

var benchSizes = flag.String("fsstore.sizes", "4096,1048576", "comma-separated body sizes of BenchmarkPutObject and BenchmarkGetObject")

func sizes(b *testing.B) []int {
	var out []int
	for _, f := range strings.Split(*benchSizes, ",") {
		n, err := strconv.Atoi(f)
		if err != nil {
			b.Fatalf("-fsstore.sizes: %v", err)
		}
		out = append(out, n)
	}
	return out
}

var benchInlineMax = flag.Int64("fsstore.inlinemax", fsstore.DefaultInlineMax, "InlineMax of the stores BenchmarkPutObject and BenchmarkGetObject use")

func benchConfig(dir string, noSync bool) fsstore.Config {
	cfg := fsstore.DefaultConfig()
	cfg.Dir, cfg.NoSync, cfg.InlineMax = dir, noSync, *benchInlineMax
	return cfg
}

// BenchmarkPutObject writes new keys from 1 and 32 concurrent writers, with
// and without fsync. The 32-writer cases show what group commit shares.
func BenchmarkPutObject(b *testing.B) {
	for _, size := range sizes(b) {
		for _, noSync := range []bool{false, true} {
			for _, writers := range []int{1, 32} {
				mode := "sync"
				if noSync {
					mode = "nosync"
				}
				b.Run(fmt.Sprintf("%dKiB/%s/writers=%d", size>>10, mode, writers), func(b *testing.B) {
					s, err := fsstore.Open(benchConfig(b.TempDir(), noSync))
					if err != nil {
						b.Fatal(err)
					}
					defer s.Close()
					mustBucket(b, s, "bench")
					body := bytes.Repeat([]byte("x"), size)
					ctx := context.Background()
					var seq atomic.Int64
					put := func() error {
						key := fmt.Sprintf("k%08d", seq.Add(1))
						_, err := s.PutObject(ctx, &sluice.PutObjectInput{Bucket: "bench", Key: key, Body: bytes.NewReader(body), Size: int64(size)})
						return err
					}
					b.SetBytes(int64(size))
					b.ReportAllocs()
					runWriters(b, writers, put)
				})
			}
		}
	}
}

// runWriters calls op b.N times in total from the given number of
// goroutines.
func runWriters(b *testing.B, writers int, op func() error) {
	if writers == 1 {
		for b.Loop() {
			if err := op(); err != nil {
				b.Fatal(err)
			}
		}
		return
	}
	// RunParallel starts parallelism × GOMAXPROCS goroutines.
	b.SetParallelism((writers + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := op(); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkGetObject reads whole objects (open, read, close) from 1 and 32
// readers, into io.Discard and through a real HTTP server whose handler
// copies the reader into a plain http.ResponseWriter, as s3api does.
func BenchmarkGetObject(b *testing.B) {
	for _, size := range sizes(b) {
		s, err := fsstore.Open(benchConfig(b.TempDir(), true))
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		mustBucket(b, s, "bench")
		const keys = 64
		body := bytes.Repeat([]byte("x"), size)
		for i := range keys {
			mustPut(b, s, "bench", fmt.Sprintf("k%02d", i), body)
		}
		ctx := context.Background()
		var seq atomic.Int64
		get := func(w io.Writer) error {
			obj, err := s.OpenObject(ctx, "bench", fmt.Sprintf("k%02d", seq.Add(1)%keys))
			if err != nil {
				return err
			}
			defer obj.Close()
			r, err := obj.Reader(0, -1)
			if err != nil {
				return err
			}
			defer r.Close()
			n, err := io.Copy(w, r)
			if err == nil && n != int64(size) {
				err = fmt.Errorf("read %d bytes, want %d", n, size)
			}
			return err
		}
		for _, writers := range []int{1, 32} {
			b.Run(fmt.Sprintf("%dKiB/readers=%d", size>>10, writers), func(b *testing.B) {
				b.SetBytes(int64(size))
				b.ReportAllocs()
				runWriters(b, writers, func() error { return get(io.Discard) })
			})
		}
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", fmt.Sprint(size))
			if err := get(w); err != nil {
				panic(http.ErrAbortHandler)
			}
		}))
		defer srv.Close()
		client := srv.Client()
		client.Transport.(*http.Transport).MaxIdleConnsPerHost = 64
		for _, writers := range []int{1, 32} {
			b.Run(fmt.Sprintf("%dKiB/http/readers=%d", size>>10, writers), func(b *testing.B) {
				b.SetBytes(int64(size))
				b.ReportAllocs()
				runWriters(b, writers, func() error {
					resp, err := client.Get(srv.URL)
					if err != nil {
						return err
					}
					defer resp.Body.Close()
					n, err := io.Copy(io.Discard, resp.Body)
					if err == nil && n != int64(size) {
						err = fmt.Errorf("read %d bytes, want %d", n, size)
					}
					return err
				})
			})
		}
	}
}

var (
	bigStoreOnce sync.Once
	bigStoreDir  string
	bigStoreErr  error
)

const bigStoreKeys = 100_000

// bigStore fills a data directory with 100,000 small objects in 1,000
// "directories", once per benchmark run.
func bigStore(b *testing.B) string {
	bigStoreOnce.Do(func() {
		bigStoreDir, bigStoreErr = os.MkdirTemp("", "fsstore-bench-")
		if bigStoreErr != nil {
			return
		}
		s, err := fsstore.Open(fsstore.Config{Dir: bigStoreDir, NoSync: true})
		if err != nil {
			bigStoreErr = err
			return
		}
		defer s.Close()
		ctx := context.Background()
		if err := s.CreateBucket(ctx, sluice.Bucket{Name: "big"}); err != nil {
			bigStoreErr = err
			return
		}
		var wg sync.WaitGroup
		keys := make(chan int)
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range keys {
					key := fmt.Sprintf("dir%03d/object-%06d.jpg", i%1000, i)
					_, err := s.PutObject(ctx, &sluice.PutObjectInput{Bucket: "big", Key: key, Body: bytes.NewReader([]byte(key)), Size: int64(len(key)),
						Meta: sluice.ObjectMeta{ContentType: "image/jpeg", User: map[string]string{"origin": "bench"}}})
					if err != nil {
						bigStoreErr = err
					}
				}
			}()
		}
		for i := range bigStoreKeys {
			keys <- i
		}
		close(keys)
		wg.Wait()
	})
	if bigStoreErr != nil {
		b.Fatal(bigStoreErr)
	}
	return bigStoreDir
}

func TestMain(m *testing.M) {
	code := m.Run()
	if bigStoreDir != "" {
		os.RemoveAll(bigStoreDir)
	}
	os.Exit(code)
}

func BenchmarkListObjects(b *testing.B) {
	dir := bigStore(b)
	s, err := fsstore.Open(fsstore.Config{Dir: dir, NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	s.WaitGC() // measure listing, not listing racing the collector
	ctx := context.Background()
	cases := []struct {
		name string
		opts sluice.ListOptions
		want int
	}{
		{"page1000", sluice.ListOptions{After: "dir500/", MaxKeys: 1000}, 1000},
		{"delimiter", sluice.ListOptions{Delimiter: "/", MaxKeys: 1000}, 1000},
		{"prefix", sluice.ListOptions{Prefix: "dir777/", MaxKeys: 1000}, 100},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				page, err := s.ListObjects(ctx, "big", tc.opts)
				if err != nil {
					b.Fatal(err)
				}
				if n := len(page.Objects) + len(page.CommonPrefixes); n != tc.want {
					b.Fatalf("page has %d entries, want %d", n, tc.want)
				}
			}
		})
	}
}

// BenchmarkOpen measures Open (and Close) of a store holding 100,000
// objects; the orphan collection runs in the background and is not waited
// for.
func BenchmarkOpen(b *testing.B) {
	dir := bigStore(b)
	for b.Loop() {
		start := time.Now()
		s, err := fsstore.Open(fsstore.Config{Dir: dir, NoSync: true})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(time.Since(start).Microseconds()), "µs/open")
		s.Close()
	}
}
