package cdncache

import (
	"bytes"
	"errors"
	"io"
	"os"
	"sync"
	"testing"
)

// readRef opens ref and reads the whole body through its Reader.
func readRef(t *testing.T, ref BodyRef) []byte {
	t.Helper()
	bf, err := ref.Open()
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer bf.Close()
	r := bf.Reader()
	lr, ok := r.(*io.LimitedReader)
	if !ok {
		t.Fatalf("Reader is %T, want *io.LimitedReader (sendfile needs it)", r)
	}
	if _, ok := lr.R.(*os.File); !ok {
		t.Fatalf("Reader reads a %T, want *os.File", lr.R)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return b
}

func idleCount(r *rec) int {
	r.fds.mu.Lock()
	defer r.fds.mu.Unlock()
	return len(r.fds.idle)
}

func TestLookupBodyFile(t *testing.T) {
	dir := t.TempDir()
	c := newCache(t, Config{Dir: dir})
	k := key("/a.bin", "")
	body := bytes.Repeat([]byte("0123456789"), 10<<10)
	e := entry(string(body))
	e.Header.Set("X-Long", string(bytes.Repeat([]byte("h"), 3000))) // meta beyond the first 4 KiB page
	c.Put(k, e)

	got, ref, ok := c.Lookup(k)
	if !ok || got != e {
		t.Fatalf("Lookup = %v, %v; want the entry put", got, ok)
	}
	if ref.Size() != int64(len(body)) {
		t.Fatalf("Size = %d, want %d", ref.Size(), len(body))
	}
	for i := range 3 {
		if b := readRef(t, ref); !bytes.Equal(b, body) {
			t.Fatalf("read %d: body from file differs (%d bytes, want %d)", i, len(b), len(body))
		}
	}
	// Reads one after the other reuse one descriptor.
	if n := idleCount(ref.r); n != 1 {
		t.Fatalf("idle descriptors = %d, want 1", n)
	}

	// Concurrent readers each get a descriptor of their own.
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			bf, err := ref.Open()
			if err != nil {
				t.Errorf("Open: %v", err)
				return
			}
			defer bf.Close()
			b, err := io.ReadAll(bf.Reader())
			if err != nil || !bytes.Equal(b, body) {
				t.Errorf("concurrent read: %d bytes, err %v", len(b), err)
			}
		})
	}
	wg.Wait()

	// An open descriptor outlives the invalidation (it sends the old bytes
	// whole); idle ones are closed and the ref opens nothing new.
	held, err := ref.Open()
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if n := c.Invalidate("D1", "/a.bin", false); n != 1 {
		t.Fatalf("Invalidate = %d, want 1", n)
	}
	if n := idleCount(ref.r); n != 0 {
		t.Fatalf("idle descriptors after invalidation = %d, want 0", n)
	}
	if _, err := ref.Open(); !errors.Is(err, ErrNoBodyFile) {
		t.Fatalf("Open after invalidation: %v, want ErrNoBodyFile", err)
	}
	b, err := io.ReadAll(held.Reader())
	if err != nil || !bytes.Equal(b, body) {
		t.Fatalf("held descriptor after invalidation: %d bytes, err %v", len(b), err)
	}
	held.Close()
	if n := idleCount(ref.r); n != 0 {
		t.Fatalf("a descriptor of a removed file went back to the pool")
	}
	if n := c.idleFiles.Load(); n != 0 {
		t.Fatalf("idle descriptor count = %d, want 0", n)
	}
}

func TestLookupBodyFileReplacedAndReloaded(t *testing.T) {
	dir := t.TempDir()
	k := key("/r.bin", "v")
	c, err := New(Config{Dir: dir}, quiet)
	if err != nil {
		t.Fatal(err)
	}
	c.Put(k, entry("first version"))
	_, old, _ := c.Lookup(k)
	readRef(t, old)
	c.Put(k, entry("second, longer version"))
	if _, err := old.Open(); !errors.Is(err, ErrNoBodyFile) {
		t.Fatalf("Open of a replaced entry: %v, want ErrNoBodyFile", err)
	}
	_, cur, _ := c.Lookup(k)
	if b := readRef(t, cur); string(b) != "second, longer version" {
		t.Fatalf("body = %q", b)
	}
	c.Close()
	if _, err := cur.Open(); !errors.Is(err, ErrNoBodyFile) {
		t.Fatalf("Open after Close: %v, want ErrNoBodyFile", err)
	}

	// After a restart the body offset comes from the file's own header, and
	// the ref is handed out only with an entry whose file Get verified.
	c2 := newCache(t, Config{Dir: dir})
	e, ref, ok := c2.Lookup(k)
	if !ok || string(e.Body) != "second, longer version" {
		t.Fatalf("Lookup after restart = %v, %v", e, ok)
	}
	if b := readRef(t, ref); string(b) != "second, longer version" {
		t.Fatalf("body from file after restart = %q", b)
	}
	// From memory now (promoted), with the same file.
	if _, ref2, _ := c2.Lookup(k); ref2.r != ref.r {
		t.Fatal("promoted entry lost its file")
	}
}

func TestLookupMemoryOnlyHasNoFile(t *testing.T) {
	c := newCache(t, Config{})
	k := key("/m", "")
	c.Put(k, entry("in memory"))
	e, ref, ok := c.Lookup(k)
	if !ok || string(e.Body) != "in memory" {
		t.Fatalf("Lookup = %v, %v", e, ok)
	}
	if ref.Size() != -1 {
		t.Fatalf("Size = %d, want -1", ref.Size())
	}
	if _, err := ref.Open(); !errors.Is(err, ErrNoBodyFile) {
		t.Fatalf("Open: %v, want ErrNoBodyFile", err)
	}
	var zero BodyRef
	if _, err := zero.Open(); !errors.Is(err, ErrNoBodyFile) {
		t.Fatalf("zero BodyRef Open: %v, want ErrNoBodyFile", err)
	}
}

func TestBodyFileIdleBounded(t *testing.T) {
	c := newCache(t, Config{Dir: t.TempDir()})
	k := key("/b", "")
	c.Put(k, entry("bounded"))
	_, ref, _ := c.Lookup(k)
	var open []*BodyFile
	for range maxIdlePerFile + 5 {
		bf, err := ref.Open()
		if err != nil {
			t.Fatal(err)
		}
		open = append(open, bf)
	}
	for _, bf := range open {
		bf.Close()
		bf.Close() // a second Close is harmless
	}
	if n := idleCount(ref.r); n != maxIdlePerFile {
		t.Fatalf("idle = %d, want %d", n, maxIdlePerFile)
	}
	if n := c.idleFiles.Load(); n != maxIdlePerFile {
		t.Fatalf("idle count = %d, want %d", n, maxIdlePerFile)
	}
}
