package cdncache

import (
	"bytes"
	"context"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"net/http"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func encodeFile(t testing.TB, k Key, e *Entry) []byte {
	t.Helper()
	head, err := encodeMeta(k, e, 42)
	if err != nil {
		t.Fatal(err)
	}
	return append(head, e.Body...)
}

func TestEncodeDecodeRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		k    Key
		e    *Entry
	}{
		{"full", key("/img/a.jpg", "d=100x&format=webp"), entry("body")},
		{"empty body and header", Key{Scope: "S"}, &Entry{Status: 204, Header: http.Header{}}},
		{"binary body", key("/b", ""), &Entry{Status: 200, Header: http.Header{"A": {""}}, Body: []byte{0, 1, 2, 255}}},
		{"unicode key", Key{Scope: "D", Path: "/ü/日本", Variant: "a=b"}, entry("x")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := encodeFile(t, tt.k, tt.e)
			k, e, err := decodeEntry(b, 1<<20)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if k != tt.k {
				t.Fatalf("key = %+v, want %+v", k, tt.k)
			}
			want := *tt.e
			if want.Body == nil {
				want.Body = []byte{}
			}
			sameEntry(t, e, &want)
			if _, _, err := decodeEntry(b, int64(len(tt.e.Body))-1); len(tt.e.Body) > 0 && err == nil {
				t.Fatal("body over the limit accepted")
			}
		})
	}
}

func FuzzDecodeEntry(f *testing.F) {
	valid := encodeFile(f, key("/img/a.jpg", "w=1"), entry("fuzz body"))
	f.Add(valid)
	f.Add(valid[:fixedLen])
	f.Add(valid[:len(valid)-1])
	f.Add([]byte{})
	f.Add([]byte(fileMagic))
	f.Add(encodeFile(f, Key{}, &Entry{}))
	// A valid CRC over a meta section claiming huge counts.
	meta := []byte{0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f}
	f.Add(withCRC(meta))
	f.Fuzz(func(t *testing.T, b []byte) {
		k, e, err := decodeEntry(b, 1<<20)
		if err != nil {
			return
		}
		// Whatever decodes re-encodes to something that decodes the same.
		again := encodeFile(t, k, e)
		k2, e2, err := decodeEntry(again, 1<<20)
		if err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		if k2 != k {
			t.Fatalf("key changed: %+v vs %+v", k, k2)
		}
		if diff := cmp.Diff(e, e2, cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) })); diff != "" {
			t.Fatalf("entry changed:\n%s", diff)
		}
	})
}

// FuzzDecodeMeta reaches the meta parser directly, which the checksums
// shield from most random input in FuzzDecodeEntry.
func FuzzDecodeMeta(f *testing.F) {
	for _, e := range []*Entry{entry("x"), {}, {Status: 999, Header: http.Header{"A": {"", "b"}}}} {
		b := encodeFile(f, key("/p", "v"), e)
		f.Add(b[fixedLen : len(b)-len(e.Body)])
	}
	f.Add([]byte{})
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, meta []byte) {
		k, e, _, err := decodeMeta(meta)
		if err != nil {
			return
		}
		b := encodeFile(t, k, e)
		k2, e2, _, err := decodeMeta(b[fixedLen:])
		if err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		if k2 != k || e2.Status != e.Status || len(e2.Header) != len(e.Header) || e2.ETag != e.ETag {
			t.Fatalf("changed: %+v %+v vs %+v %+v", k, e, k2, e2)
		}
	})
}

// withCRC wraps a raw meta section in a valid fixed part with no body.
func withCRC(meta []byte) []byte {
	b := make([]byte, fixedLen, fixedLen+len(meta))
	copy(b, fileMagic)
	b[4] = byte(len(meta))
	b = append(b, meta...)
	crc := crc32Meta(b)
	b[20], b[21], b[22], b[23] = byte(crc), byte(crc>>8), byte(crc>>16), byte(crc>>24)
	return b
}

func crc32Meta(b []byte) uint32 {
	return crc32.Update(crc32.Checksum(b[:20], castagnoli), castagnoli, b[fixedLen:])
}

func TestDecodeRejectsHugeCounts(t *testing.T) {
	meta := []byte{0, 0, 0, 0, 0, 0, 0, 0, 0}
	meta = append(meta, 0xff, 0xff, 0xff, 0xff, 0x0f) // 2^32-1 header names
	if _, _, err := decodeEntry(withCRC(meta), 1<<20); err == nil {
		t.Fatal("accepted")
	}
}

func TestSortedStrings(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var ss sortedStrings
	model := map[string]bool{}
	words := func() string {
		parts := []string{"/", "img/", "a", "b", "css/", "x", "y.jpg", "z"}
		var sb strings.Builder
		for range 1 + rng.IntN(5) {
			sb.WriteString(parts[rng.IntN(len(parts))])
		}
		return sb.String()
	}
	for i := range 10000 {
		w := words()
		if rng.IntN(3) == 0 {
			ss.remove(w)
			delete(model, w)
		} else {
			ss.insert(w)
			model[w] = true
		}
		if i%997 == 0 || i == 9999 {
			for _, prefix := range []string{"", "/", "/img/", "img/a", "zz", "/css/x"} {
				var got []string
				ss.scanPrefix(prefix, func(s string) { got = append(got, s) })
				var want []string
				for w := range model {
					if strings.HasPrefix(w, prefix) {
						want = append(want, w)
					}
				}
				sort.Strings(want)
				if !slices.Equal(got, want) {
					t.Fatalf("step %d prefix %q: got %d, want %d", i, prefix, len(got), len(want))
				}
			}
			if ss.n != len(model) {
				t.Fatalf("n = %d, model %d", ss.n, len(model))
			}
		}
	}
	for _, c := range ss.chunks {
		if len(c) == 0 || len(c) > maxChunk {
			t.Fatalf("chunk of %d", len(c))
		}
	}
}

func TestInvalidate100k(t *testing.T) {
	for _, dir := range []string{"", "disk"} {
		t.Run("tier="+dir, func(t *testing.T) {
			cfg := Config{MemoryBytes: 256 << 20}
			if dir != "" {
				cfg.Dir = t.TempDir()
			}
			c := newCache(t, cfg)
			// The race detector slows this tenfold; the sizes still show
			// that nothing is quadratic.
			n := 100_000
			switch {
			case dir != "" && raceEnabled:
				n = 2_000
			case dir != "":
				n = 10_000 // files: keep the test quick on small machines
			case raceEnabled:
				n = 20_000
			}
			body := []byte("small")
			for i := range n {
				c.Put(key(fmt.Sprintf("/d%d/f%05d.jpg", i%10, i), fmt.Sprintf("v%d", i%3)), &Entry{Status: 200, Body: body})
			}
			if got := c.Invalidate("D1", "/d3/f00013.jpg", false); got != 1 {
				t.Fatalf("exact = %d", got)
			}
			if got := c.Invalidate("D1", "/d7/", true); got != n/10 {
				t.Fatalf("prefix = %d, want %d", got, n/10)
			}
			if got := c.Invalidate("D1", "/d", true); got != n-n/10-1 {
				t.Fatalf("rest = %d", got)
			}
			if st := c.Stats(); st.DiskEntries != 0 || c.scopes["D1"].entries != 0 || c.scopes["D1"].order.n != 0 {
				t.Fatalf("left over: %+v", st)
			}
			if dir != "" && len(diskFiles(t, cfg.Dir)) != 0 {
				t.Fatal("files left over")
			}
		})
	}
}

func TestConcurrentMix(t *testing.T) {
	for _, disk := range []bool{false, true} {
		t.Run(fmt.Sprintf("disk=%v", disk), func(t *testing.T) {
			cfg := Config{MemoryBytes: 256 << 10, DiskBytes: 512 << 10}
			if disk {
				cfg.Dir = t.TempDir()
			}
			c := newCache(t, cfg)
			done := make(chan struct{})
			for w := range 8 {
				go func() {
					defer func() { done <- struct{}{} }()
					rng := rand.New(rand.NewPCG(uint64(w), 7))
					ops := 600
					if disk {
						ops = 250 // every invalidation fsyncs directories
					}
					for range ops {
						k := key(fmt.Sprintf("/p%d/%d", rng.IntN(4), rng.IntN(40)), fmt.Sprint(rng.IntN(2)))
						switch rng.IntN(10) {
						case 0:
							c.Invalidate("D1", fmt.Sprintf("/p%d/", rng.IntN(4)), true)
						case 1:
							c.Invalidate("D1", k.Path, false)
						case 2, 3:
							c.Put(k, &Entry{Status: 200, Body: bytes.Repeat([]byte{byte(w)}, 1+rng.IntN(4000))})
						case 4, 5:
							c.Fill(t.Context(), k, func(context.Context) (*Entry, bool, error) {
								return &Entry{Status: 200, Body: []byte(k.Path)}, true, nil
							})
						default:
							if e, ok := c.Get(k); ok && len(e.Body) == 0 {
								t.Error("empty body")
							}
						}
					}
				}()
			}
			for range 8 {
				<-done
			}
			c.mem.CleanUp()
			// The index, the counters and the files agree.
			c.mu.Lock()
			var entries, bytes int64
			for _, st := range c.scopes {
				for _, vs := range st.paths {
					for _, r := range vs {
						entries++
						bytes += r.size
					}
				}
			}
			de, db := c.diskEntries, c.diskBytes
			c.mu.Unlock()
			if disk {
				if entries != de || bytes != db {
					t.Fatalf("index %d/%d, counters %d/%d", entries, bytes, de, db)
				}
				if n := len(diskFiles(t, cfg.Dir)); int64(n) != de {
					t.Fatalf("%d files, %d indexed", n, de)
				}
				if db > cfg.DiskBytes {
					t.Fatalf("disk %d over %d", db, cfg.DiskBytes)
				}
			}
			for k := range c.mem.Keys() {
				if c.lookupUnlocked(k) == nil {
					t.Fatalf("memory holds %+v, index does not", k)
				}
			}
		})
	}
}
