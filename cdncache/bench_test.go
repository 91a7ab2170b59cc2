package cdncache

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"testing"
)

// BenchmarkGetHit measures a hit on a 100 KB entry: from memory, and from
// its file (an entry above MemoryBytes/8 never enters memory).
func BenchmarkGetHit(b *testing.B) {
	body := bytes.Repeat([]byte("b"), 100<<10)
	e := &Entry{Status: 200, Header: http.Header{"Content-Type": {"image/jpeg"}}, Body: body}
	for _, tier := range []string{"memory", "disk"} {
		b.Run(tier, func(b *testing.B) {
			cfg := Config{}
			if tier == "disk" {
				cfg = Config{Dir: b.TempDir(), MemoryBytes: 512 << 10}
			}
			c := newCache(b, cfg)
			keys := make([]Key, 64)
			for i := range keys {
				keys[i] = key(fmt.Sprintf("/img/%d.jpg", i), "d=100x100")
				c.Put(keys[i], e)
			}
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				i := 0
				for pb.Next() {
					if _, ok := c.Get(keys[i%len(keys)]); !ok {
						b.Fatal("miss")
					}
					i++
				}
			})
		})
	}
}

// BenchmarkFillMiss measures a Fill whose fill is instant and stored: the
// cache's own cost on a miss that fills and commits to memory.
func BenchmarkFillMiss(b *testing.B) {
	c := newCache(b, Config{})
	e := &Entry{Status: 200, Body: make([]byte, 1024)}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		k := key(fmt.Sprintf("/f/%d", i%100000), "")
		if _, _, err := c.Fill(context.Background(), k, func(context.Context) (*Entry, bool, error) {
			return e, true, nil
		}); err != nil {
			b.Fatal(err)
		}
	}
}
