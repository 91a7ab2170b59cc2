package cdncache

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func newCache(t testing.TB, cfg Config) *Cache {
	t.Helper()
	c, err := New(cfg, quiet)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func entry(body string) *Entry {
	return &Entry{
		Status:       200,
		Header:       http.Header{"Content-Type": {"text/plain"}, "X-Amz-Meta-A": {"1", "2"}},
		Body:         []byte(body),
		Stored:       time.Unix(1700000000, 5),
		Expires:      time.Unix(1700003600, 0),
		ETag:         `"abc"`,
		LastModified: time.Unix(1690000000, 0),
	}
}

// sameEntry compares entries by value; times by instant.
func sameEntry(t *testing.T, got, want *Entry) {
	t.Helper()
	if got == nil {
		t.Fatal("entry is nil")
	}
	if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) })); diff != "" {
		t.Fatalf("entry mismatch (-want +got):\n%s", diff)
	}
}

func key(path, variant string) Key { return Key{Scope: "D1", Path: path, Variant: variant} }

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"defaults", DefaultConfig(), true},
		{"zero means defaults", Config{}, true},
		{"negative memory", Config{MemoryBytes: -1}, false},
		{"negative disk", Config{DiskBytes: -1}, false},
		{"huge entry", Config{MaxEntryBytes: 2 << 30}, false},
		{"negative timeout", Config{FillTimeout: -time.Second}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.cfg.Validate(); (err == nil) != tt.ok {
				t.Fatalf("Validate() = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

func TestPutGetMemory(t *testing.T) {
	c := newCache(t, Config{})
	if _, ok := c.Get(key("/a", "")); ok {
		t.Fatal("empty cache hit")
	}
	want := entry("hello")
	c.Put(key("/a", ""), want)
	got, ok := c.Get(key("/a", ""))
	if !ok {
		t.Fatal("miss after Put")
	}
	sameEntry(t, got, want)
	if _, ok := c.Get(key("/a", "gzip")); ok {
		t.Fatal("other variant hit")
	}
	if _, ok := c.Get(Key{Scope: "D2", Path: "/a"}); ok {
		t.Fatal("other scope hit")
	}
	st := c.Stats()
	if st.Hits != 1 || st.Misses != 3 || st.Stores != 1 || st.MemoryEntries != 1 {
		t.Fatalf("stats = %+v", st)
	}
}

func TestExpiredEntryReturnedAndReplaced(t *testing.T) {
	c := newCache(t, Config{})
	old := entry("old")
	old.Expires = time.Now().Add(-time.Hour)
	c.Put(key("/a", ""), old)
	got, ok := c.Get(key("/a", ""))
	if !ok || string(got.Body) != "old" {
		t.Fatalf("expired entry not returned: %v %v", got, ok)
	}
	e, _, err := c.Fill(context.Background(), key("/a", ""), func(context.Context) (*Entry, bool, error) {
		return entry("new"), true, nil
	})
	if err != nil || string(e.Body) != "new" {
		t.Fatalf("Fill = %v, %v", e, err)
	}
	got, ok = c.Get(key("/a", ""))
	if !ok || string(got.Body) != "new" {
		t.Fatalf("after refill got %q %v", got.Body, ok)
	}
}

func TestStoredDefaultsToNow(t *testing.T) {
	c := newCache(t, Config{})
	before := time.Now()
	e := &Entry{Status: 200, Body: []byte("x")}
	c.Put(key("/a", ""), e)
	got, _ := c.Get(key("/a", ""))
	if got.Stored.Before(before) {
		t.Fatalf("Stored = %v, want >= %v", got.Stored, before)
	}
}

func TestMemoryBoundedByBytes(t *testing.T) {
	const limit = 64 << 10
	c := newCache(t, Config{MemoryBytes: limit})
	body := bytes.Repeat([]byte("x"), 1000)
	for i := range 500 {
		c.Put(key(fmt.Sprintf("/f%d", i), ""), &Entry{Status: 200, Body: body})
	}
	c.mem.CleanUp()
	st := c.Stats()
	if st.MemoryBytes > limit {
		t.Fatalf("memory tier holds %d bytes, limit %d", st.MemoryBytes, limit)
	}
	if st.MemoryEntries == 0 || st.MemoryEntries >= 500 {
		t.Fatalf("memory tier holds %d entries, want some but not all", st.MemoryEntries)
	}
	// The index forgets evicted entries (asynchronously), so invalidating
	// everything eventually counts only what memory still holds.
	deadline := time.Now().Add(10 * time.Second)
	for {
		c.mu.Lock()
		n := c.scopes["D1"].entries
		c.mu.Unlock()
		if int64(n) == int64(c.mem.EstimatedSize()) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("index holds %d entries, memory %d", n, c.mem.EstimatedSize())
		}
		time.Sleep(5 * time.Millisecond)
	}
	hits := 0
	for i := range 500 {
		if _, ok := c.Get(key(fmt.Sprintf("/f%d", i), "")); ok {
			hits++
		}
	}
	if int64(hits) != st.MemoryEntries {
		t.Fatalf("%d hits, memory holds %d", hits, st.MemoryEntries)
	}
}

func TestTooLargeNotStored(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		body int
	}{
		{"over MaxEntryBytes", Config{MaxEntryBytes: 1000}, 2000},
		{"over an eighth of memory without disk", Config{MemoryBytes: 8000}, 1500},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newCache(t, tt.cfg)
			c.Put(key("/big", ""), &Entry{Status: 200, Body: make([]byte, tt.body)})
			if _, ok := c.Get(key("/big", "")); ok {
				t.Fatal("oversized entry stored")
			}
			if st := c.Stats(); st.Rejected != 1 || st.Stores != 0 {
				t.Fatalf("stats = %+v", st)
			}
		})
	}
}

func TestInvalidate(t *testing.T) {
	paths := []string{"/img/a.jpg", "/img/a.jpg.bak", "/img/b.jpg", "/img2/c.jpg", "/index.html", "/"}
	variants := []string{"", "d=100x100", "d=200x&format=webp"}
	tests := []struct {
		name   string
		path   string
		prefix bool
		gone   []string
	}{
		{"exact path, all variants", "/img/a.jpg", false, []string{"/img/a.jpg"}},
		{"exact path missing", "/img/zz.jpg", false, nil},
		{"prefix directory", "/img/", true, []string{"/img/a.jpg", "/img/a.jpg.bak", "/img/b.jpg"}},
		{"prefix mid-name", "/img/a", true, []string{"/img/a.jpg", "/img/a.jpg.bak"}},
		{"prefix crossing directories", "/img", true, []string{"/img/a.jpg", "/img/a.jpg.bak", "/img/b.jpg", "/img2/c.jpg"}},
		{"prefix everything", "/", true, paths},
		{"prefix nothing", "/zzz", true, nil},
	}
	for _, disk := range []bool{false, true} {
		for _, tt := range tests {
			t.Run(fmt.Sprintf("disk=%v/%s", disk, tt.name), func(t *testing.T) {
				cfg := Config{}
				if disk {
					cfg.Dir = t.TempDir()
				}
				c := newCache(t, cfg)
				for _, p := range paths {
					for _, v := range variants {
						c.Put(key(p, v), entry(p+v))
					}
				}
				other := Key{Scope: "D2", Path: "/img/a.jpg"}
				c.Put(other, entry("other scope"))
				n := c.Invalidate("D1", tt.path, tt.prefix)
				if want := len(tt.gone) * len(variants); n != want {
					t.Fatalf("Invalidate = %d, want %d", n, want)
				}
				gone := map[string]bool{}
				for _, p := range tt.gone {
					gone[p] = true
				}
				for _, p := range paths {
					for _, v := range variants {
						_, ok := c.Get(key(p, v))
						if ok == gone[p] {
							t.Errorf("Get(%q, %q) hit=%v, want %v", p, v, ok, !gone[p])
						}
					}
				}
				if _, ok := c.Get(other); !ok {
					t.Error("other scope invalidated")
				}
				if disk {
					st := c.Stats()
					if want := int64((len(paths)-len(tt.gone))*len(variants) + 1); st.DiskEntries != want {
						t.Errorf("DiskEntries = %d, want %d", st.DiskEntries, want)
					}
					if files := countFiles(t, cfg.Dir); int64(files) != st.DiskEntries {
						t.Errorf("%d files on disk, index says %d", files, st.DiskEntries)
					}
				}
			})
		}
	}
}

func countFiles(t *testing.T, dir string) int {
	t.Helper()
	n := 0
	err := filepath.WalkDir(filepath.Join(dir, diskLayoutDir), func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && filepath.Ext(p) == fileExt {
			n++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestInvalidateScope(t *testing.T) {
	c := newCache(t, Config{Dir: t.TempDir()})
	for i := range 10 {
		c.Put(key(fmt.Sprintf("/%d", i), ""), entry("x"))
	}
	c.Put(Key{Scope: "D2", Path: "/0"}, entry("y"))
	if n := c.InvalidateScope("D1"); n != 10 {
		t.Fatalf("InvalidateScope = %d, want 10", n)
	}
	if _, ok := c.Get(key("/3", "")); ok {
		t.Fatal("hit after InvalidateScope")
	}
	if _, ok := c.Get(Key{Scope: "D2", Path: "/0"}); !ok {
		t.Fatal("other scope dropped")
	}
	if st := c.Stats(); st.Invalidated != 10 || st.DiskEntries != 1 {
		t.Fatalf("stats = %+v", st)
	}
}

func TestFillCollapses(t *testing.T) {
	c := newCache(t, Config{})
	var calls atomic.Int32
	release := make(chan struct{})
	started := make(chan struct{})
	fill := func(context.Context) (*Entry, bool, error) {
		if calls.Add(1) == 1 {
			close(started)
		}
		<-release
		return entry("filled"), true, nil
	}
	const n = 50
	type result struct {
		e      *Entry
		shared bool
		err    error
	}
	results := make(chan result, n)
	go func() {
		e, shared, err := c.Fill(context.Background(), key("/a", ""), fill)
		results <- result{e, shared, err}
	}()
	<-started
	var wg sync.WaitGroup
	for range n - 1 {
		wg.Go(func() {
			e, shared, err := c.Fill(context.Background(), key("/a", ""), fill)
			results <- result{e, shared, err}
		})
	}
	// Every waiter must have joined before the fill ends.
	waitFor(t, func() bool { return c.Stats().Collapsed == n-1 })
	close(release)
	wg.Wait()
	var first *Entry
	sharedCount := 0
	for range n {
		r := <-results
		if r.err != nil {
			t.Fatalf("Fill: %v", r.err)
		}
		if first == nil {
			first = r.e
		}
		if r.e != first {
			t.Fatal("waiters got different entries")
		}
		if r.shared {
			sharedCount++
		}
	}
	if calls.Load() != 1 {
		t.Fatalf("fill ran %d times, want 1", calls.Load())
	}
	if sharedCount != n-1 {
		t.Fatalf("%d shared results, want %d", sharedCount, n-1)
	}
	if got, ok := c.Get(key("/a", "")); !ok || got != first {
		t.Fatal("filled entry not stored")
	}
	if st := c.Stats(); st.Fills != 1 || st.Collapsed != n-1 {
		t.Fatalf("stats = %+v", st)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestFillNotStored(t *testing.T) {
	c := newCache(t, Config{})
	e, shared, err := c.Fill(context.Background(), key("/a", ""), func(context.Context) (*Entry, bool, error) {
		return entry("private"), false, nil
	})
	if err != nil || shared || string(e.Body) != "private" {
		t.Fatalf("Fill = %v %v %v", e, shared, err)
	}
	if _, ok := c.Get(key("/a", "")); ok {
		t.Fatal("store=false entry was stored")
	}
}

func TestFillError(t *testing.T) {
	c := newCache(t, Config{})
	boom := errors.New("origin down")
	_, _, err := c.Fill(context.Background(), key("/a", ""), func(context.Context) (*Entry, bool, error) {
		return nil, true, boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v, want %v", err, boom)
	}
	_, _, err = c.Fill(context.Background(), key("/a", ""), func(context.Context) (*Entry, bool, error) {
		panic("bad hook")
	})
	if err == nil {
		t.Fatal("panic in fill returned no error")
	}
	if _, ok := c.Get(key("/a", "")); ok {
		t.Fatal("failed fill stored something")
	}
}

// fillInFlight starts a fill of k that blocks until release is closed and
// returns a channel with its result.
func fillInFlight(t *testing.T, c *Cache, k Key, body string, release <-chan struct{}) <-chan *Entry {
	t.Helper()
	started := make(chan struct{})
	out := make(chan *Entry, 1)
	go func() {
		e, _, err := c.Fill(context.Background(), k, func(context.Context) (*Entry, bool, error) {
			close(started)
			<-release
			return entry(body), true, nil
		})
		if err != nil {
			t.Errorf("Fill: %v", err)
		}
		out <- e
	}()
	<-started
	return out
}

func TestInvalidationBeatsFillInFlight(t *testing.T) {
	tests := []struct {
		name       string
		invalidate func(c *Cache)
		stored     bool
	}{
		{"exact path", func(c *Cache) { c.Invalidate("D1", "/img/a.jpg", false) }, false},
		{"prefix", func(c *Cache) { c.Invalidate("D1", "/img/", true) }, false},
		{"scope", func(c *Cache) { c.InvalidateScope("D1") }, false},
		{"other path", func(c *Cache) { c.Invalidate("D1", "/img/b.jpg", false) }, true},
		{"other prefix", func(c *Cache) { c.Invalidate("D1", "/css/", true) }, true},
		{"other scope", func(c *Cache) { c.InvalidateScope("D2") }, true},
	}
	for _, disk := range []bool{false, true} {
		for _, tt := range tests {
			t.Run(fmt.Sprintf("disk=%v/%s", disk, tt.name), func(t *testing.T) {
				cfg := Config{}
				if disk {
					cfg.Dir = t.TempDir()
				}
				c := newCache(t, cfg)
				k := key("/img/a.jpg", "d=100x")
				release := make(chan struct{})
				res := fillInFlight(t, c, k, "stale", release)
				tt.invalidate(c)
				close(release)
				if e := <-res; e == nil || string(e.Body) != "stale" {
					t.Fatalf("waiter got %v, want the fill's result", e)
				}
				_, ok := c.Get(k)
				if ok != tt.stored {
					t.Fatalf("Get hit=%v, want %v", ok, tt.stored)
				}
			})
		}
	}
}

func TestFillAfterInvalidationDoesNotJoin(t *testing.T) {
	c := newCache(t, Config{})
	k := key("/a", "")
	releaseOld := make(chan struct{})
	old := fillInFlight(t, c, k, "old", releaseOld)
	c.Invalidate("D1", "/a", false)

	releaseNew := make(chan struct{})
	fresh := fillInFlight(t, c, k, "new", releaseNew) // blocks until its own fill started: it did not join
	close(releaseNew)
	if e := <-fresh; string(e.Body) != "new" {
		t.Fatalf("new fill got %q", e.Body)
	}
	close(releaseOld)
	if e := <-old; string(e.Body) != "old" {
		t.Fatalf("old fill got %q", e.Body)
	}
	got, ok := c.Get(k)
	if !ok || string(got.Body) != "new" {
		t.Fatalf("cache holds %v %v, want the fresh fill", got, ok)
	}
	if st := c.Stats(); st.Fills != 2 || st.Collapsed != 0 {
		t.Fatalf("stats = %+v", st)
	}
}

func TestFirstCallerCancelled(t *testing.T) {
	c := newCache(t, Config{})
	k := key("/a", "")
	ctx, cancel := context.WithCancel(context.Background())
	release := make(chan struct{})
	started := make(chan struct{})
	var fillCtxErr atomic.Value
	firstDone := make(chan error, 1)
	go func() {
		_, _, err := c.Fill(ctx, k, func(fctx context.Context) (*Entry, bool, error) {
			close(started)
			<-release
			fillCtxErr.Store(fmt.Sprint(fctx.Err()))
			return entry("ok"), true, nil
		})
		firstDone <- err
	}()
	<-started
	second := make(chan error, 1)
	var got *Entry
	go func() {
		e, shared, err := c.Fill(context.Background(), k, func(context.Context) (*Entry, bool, error) {
			return nil, false, errors.New("second fill must not run")
		})
		if err == nil && !shared {
			err = errors.New("second caller did not share")
		}
		got = e
		second <- err
	}()
	waitFor(t, func() bool { return c.Stats().Collapsed == 1 })
	cancel()
	if err := <-firstDone; !errors.Is(err, context.Canceled) {
		t.Fatalf("first caller err = %v, want context.Canceled", err)
	}
	close(release)
	if err := <-second; err != nil {
		t.Fatal(err)
	}
	if string(got.Body) != "ok" {
		t.Fatalf("second caller got %q", got.Body)
	}
	if s := fillCtxErr.Load(); s != "<nil>" {
		t.Fatalf("fill saw ctx err %v", s)
	}
	if _, ok := c.Get(k); !ok {
		t.Fatal("result of the fill not stored")
	}
}

func TestFillTimeout(t *testing.T) {
	c := newCache(t, Config{FillTimeout: 20 * time.Millisecond})
	_, _, err := c.Fill(context.Background(), key("/a", ""), func(ctx context.Context) (*Entry, bool, error) {
		<-ctx.Done()
		return nil, false, ctx.Err()
	})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want DeadlineExceeded", err)
	}
}

func TestCloseEndsFills(t *testing.T) {
	c, err := New(Config{}, quiet)
	if err != nil {
		t.Fatal(err)
	}
	res := make(chan error, 1)
	started := make(chan struct{})
	go func() {
		_, _, err := c.Fill(context.Background(), key("/a", ""), func(ctx context.Context) (*Entry, bool, error) {
			close(started)
			<-ctx.Done()
			return nil, false, ctx.Err()
		})
		res <- err
	}()
	<-started
	c.Close()
	if err := <-res; !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
	if _, _, err := c.Fill(context.Background(), key("/a", ""), nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("Fill after Close = %v", err)
	}
}
