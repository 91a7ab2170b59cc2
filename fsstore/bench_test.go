package fsstore_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/fsstore"
)

func BenchmarkPutObject(b *testing.B) {
	for _, size := range []int{4 << 10, 1 << 20} {
		for _, noSync := range []bool{false, true} {
			name := fmt.Sprintf("%dKiB/sync", size>>10)
			if noSync {
				name = fmt.Sprintf("%dKiB/nosync", size>>10)
			}
			b.Run(name, func(b *testing.B) {
				s, err := fsstore.Open(fsstore.Config{Dir: b.TempDir(), NoSync: noSync})
				if err != nil {
					b.Fatal(err)
				}
				defer s.Close()
				mustBucket(b, s, "bench")
				body := bytes.Repeat([]byte("x"), size)
				ctx := context.Background()
				b.SetBytes(int64(size))
				b.ReportAllocs()
				i := 0
				for b.Loop() {
					_, err := s.PutObject(ctx, &sluice.PutObjectInput{Bucket: "bench", Key: fmt.Sprintf("k%08d", i), Body: bytes.NewReader(body), Size: int64(size)})
					if err != nil {
						b.Fatal(err)
					}
					i++
				}
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
