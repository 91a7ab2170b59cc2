package edge

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/sluicehq/sluice"
)

// BenchmarkHit measures cache hits of a 100 KiB object through a real
// listener, over keep-alive connections, the way the edge benchmark
// against nginx does (bench/edgebench). Run it under perf stat to compare
// the work per hit of two versions: on a shared machine, instructions are
// steadier than time.
func BenchmarkHit(b *testing.B) {
	for _, tier := range []string{"memory", "disk"} {
		b.Run(tier, func(b *testing.B) {
			h := newHarness(b, nil, func(c *Config) {
				if tier == "disk" {
					c.Cache.Dir = b.TempDir()
				}
			})
			benchHits(b, h)
		})
	}
}

func benchHits(b *testing.B, h *harness) {
	ctx := b.Context()
	if err := h.store.CreateBucket(ctx, sluice.Bucket{Name: "b", Region: sluice.DefaultRegion}); err != nil {
		b.Fatal(err)
	}
	body := make([]byte, 100<<10)
	if _, err := h.store.PutObject(ctx, &sluice.PutObjectInput{Bucket: "b", Key: "o.bin", Body: strings.NewReader(string(body)),
		Size: int64(len(body)), Meta: sluice.ObjectMeta{ContentType: "application/octet-stream"}}); err != nil {
		b.Fatal(err)
	}
	d := s3Dist("EBENCHHIT00001", "b")
	if err := h.edge.PutDistribution(d); err != nil {
		b.Fatal(err)
	}
	req := "GET /o.bin HTTP/1.1\r\nHost: " + hostOf(d.ID) + "\r\nUser-Agent: bench\r\nAccept: */*\r\n\r\n"
	addr := strings.TrimPrefix(h.srv.URL, "http://")
	get := func(c net.Conn, br *bufio.Reader) error {
		if _, err := io.WriteString(c, req); err != nil {
			return err
		}
		res, err := http.ReadResponse(br, nil)
		if err != nil {
			return err
		}
		n, err := io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if err == nil && (res.StatusCode != 200 || n != int64(len(body))) {
			err = fmt.Errorf("HTTP %d, %d bytes", res.StatusCode, n)
		}
		return err
	}
	warm, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	for range 2 {
		if err := get(warm, bufio.NewReader(warm)); err != nil {
			b.Fatal(err)
		}
	}
	warm.Close()
	b.SetBytes(int64(len(body)))
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			b.Error(err)
			return
		}
		defer c.Close()
		br := bufio.NewReaderSize(c, 64<<10)
		for pb.Next() {
			if err := get(c, br); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
