package cdncache

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func diskFiles(t *testing.T, dir string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, diskLayoutDir, "*", "*"+fileExt))
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func TestDiskPersistsAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	c := newCache(t, Config{Dir: dir})
	want := map[Key]*Entry{}
	for i := range 20 {
		for _, v := range []string{"", "br"} {
			k := key(fmt.Sprintf("/p/%d", i), v)
			e := entry(fmt.Sprintf("body %d %s", i, v))
			e.Header["Vary"] = []string{"Accept"}
			c.Put(k, e)
			want[k] = e
		}
	}
	// A replaced entry must come back as its latest version.
	latest := entry("replaced")
	c.Put(key("/p/0", ""), latest)
	want[key("/p/0", "")] = latest
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}

	c2 := newCache(t, Config{Dir: dir})
	st := c2.Stats()
	if st.DiskEntries != int64(len(want)) || st.MemoryEntries != 0 {
		t.Fatalf("after restart stats = %+v, want %d disk entries", st, len(want))
	}
	if n := len(diskFiles(t, dir)); n != len(want) {
		t.Fatalf("%d files on disk, want %d", n, len(want))
	}
	for k, w := range want {
		got, ok := c2.Get(k)
		if !ok {
			t.Fatalf("Get(%v) missed after restart", k)
		}
		sameEntry(t, got, w)
	}
	st = c2.Stats()
	if st.DiskHits != int64(len(want)) || st.MemoryEntries != int64(len(want)) {
		t.Fatalf("disk hits not promoted: %+v", st)
	}
	// Now served from memory.
	if _, ok := c2.Get(key("/p/3", "br")); !ok || c2.Stats().DiskHits != int64(len(want)) {
		t.Fatal("second Get did not hit memory")
	}
}

func TestDiskCorruptFilesAreMisses(t *testing.T) {
	tests := []struct {
		name   string
		damage func(t *testing.T, path string)
	}{
		{"truncated body", func(t *testing.T, p string) { truncate(t, p, -3) }},
		{"truncated head", func(t *testing.T, p string) { truncate(t, p, 10-fileSize(t, p)) }},
		{"empty", func(t *testing.T, p string) { truncate(t, p, -fileSize(t, p)) }},
		{"extra bytes", func(t *testing.T, p string) { appendBytes(t, p, []byte("zz")) }},
		{"body bit flip", func(t *testing.T, p string) { flip(t, p, fileSize(t, p)-1) }},
		{"meta bit flip", func(t *testing.T, p string) { flip(t, p, fixedLen+3) }},
		{"magic", func(t *testing.T, p string) { flip(t, p, 0) }},
	}
	for _, tt := range tests {
		for _, atStart := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/found at start=%v", tt.name, atStart), func(t *testing.T) {
				dir := t.TempDir()
				c := newCache(t, Config{Dir: dir})
				k := key("/a", "")
				c.Put(k, entry("a body that will be damaged"))
				c.Put(key("/b", ""), entry("intact"))
				c.Close()
				files := diskFiles(t, dir)
				var target string
				for _, f := range files {
					b, _ := os.ReadFile(f)
					if bytes.Contains(b, []byte("damaged")) {
						target = f
					}
				}
				if !atStart {
					// Open first, damage after: Get finds it broken.
					c = newCache(t, Config{Dir: dir})
				}
				tt.damage(t, target)
				if atStart {
					c = newCache(t, Config{Dir: dir})
				}
				if e, ok := c.Get(k); ok {
					t.Fatalf("damaged entry returned: %q", e.Body)
				}
				if _, err := os.Stat(target); !os.IsNotExist(err) {
					t.Fatalf("damaged file not removed: %v", err)
				}
				if _, ok := c.Get(key("/b", "")); !ok {
					t.Fatal("intact entry lost")
				}
				if st := c.Stats(); st.Corrupt != 1 || st.DiskEntries != 1 {
					t.Fatalf("stats = %+v", st)
				}
			})
		}
	}
}

func fileSize(t *testing.T, p string) int64 {
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

func truncate(t *testing.T, p string, delta int64) {
	if err := os.Truncate(p, fileSize(t, p)+delta); err != nil {
		t.Fatal(err)
	}
}

func appendBytes(t *testing.T, p string, b []byte) {
	f, err := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write(b)
	f.Close()
}

func flip(t *testing.T, p string, off int64) {
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	b[off] ^= 0x40
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestDiskLeftoversIgnored(t *testing.T) {
	dir := t.TempDir()
	c := newCache(t, Config{Dir: dir})
	c.Put(key("/a", ""), entry("a"))
	c.Close()
	// A write interrupted before its rename leaves a temp file; a stray
	// file without the extension is not ours.
	os.WriteFile(filepath.Join(dir, diskLayoutDir, "tmp", "w-123"), []byte("partial"), 0o644)
	os.WriteFile(filepath.Join(dir, diskLayoutDir, "00", "README"), []byte("hi"), 0o644)
	c = newCache(t, Config{Dir: dir})
	if st := c.Stats(); st.DiskEntries != 1 || st.Corrupt != 0 {
		t.Fatalf("stats = %+v", st)
	}
	if _, err := os.Stat(filepath.Join(dir, diskLayoutDir, "tmp", "w-123")); !os.IsNotExist(err) {
		t.Fatal("temp file survived start")
	}
}

func TestDiskDuplicateKeyLatestWins(t *testing.T) {
	dir := t.TempDir()
	c := newCache(t, Config{Dir: dir})
	c.Put(key("/a", ""), entry("old"))
	c.Close()
	old := diskFiles(t, dir)[0]
	saved, _ := os.ReadFile(old)
	c = newCache(t, Config{Dir: dir})
	c.Put(key("/a", ""), entry("new"))
	c.Close()
	// As if the process died between publishing "new" and removing "old".
	os.WriteFile(old, saved, 0o644)
	c = newCache(t, Config{Dir: dir})
	got, ok := c.Get(key("/a", ""))
	if !ok || string(got.Body) != "new" {
		t.Fatalf("got %v %v, want the later write", got, ok)
	}
	if n := len(diskFiles(t, dir)); n != 1 {
		t.Fatalf("%d files, want the stale one removed", n)
	}
}

func TestInvalidationDurableAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	c := newCache(t, Config{Dir: dir})
	for _, p := range []string{"/img/a.jpg", "/img/b.jpg", "/css/site.css"} {
		for _, v := range []string{"", "d=100x", "format=webp"} {
			c.Put(key(p, v), entry(p))
		}
	}
	if n := c.Invalidate("D1", "/img/a.jpg", false); n != 3 {
		t.Fatalf("Invalidate = %d", n)
	}
	if n := c.Invalidate("D1", "/css/", true); n != 3 {
		t.Fatalf("Invalidate prefix = %d", n)
	}
	// No Close: a kill -9 right after Invalidate returned, which releases
	// only the directory lock.
	c.disk.close()
	c2 := newCache(t, Config{Dir: dir})
	for _, p := range []string{"/img/a.jpg", "/css/site.css"} {
		for _, v := range []string{"", "d=100x", "format=webp"} {
			if _, ok := c2.Get(key(p, v)); ok {
				t.Fatalf("%s %s came back after restart", p, v)
			}
		}
	}
	if _, ok := c2.Get(key("/img/b.jpg", "d=100x")); !ok {
		t.Fatal("untouched entry lost")
	}
	if st := c2.Stats(); st.DiskEntries != 3 {
		t.Fatalf("stats = %+v", st)
	}
}

func TestDiskEvictsByBytes(t *testing.T) {
	dir := t.TempDir()
	const limit = 40 << 10
	c := newCache(t, Config{Dir: dir, DiskBytes: limit, MemoryBytes: 1 << 20})
	body := bytes.Repeat([]byte("y"), 1000)
	for i := range 200 {
		c.Put(key(fmt.Sprintf("/f%03d", i), ""), &Entry{Status: 200, Body: body})
		if i == 0 {
			// Keep /f000 recently used: eviction is by last access.
			c.lookupUnlocked(key("/f000", "")).access.Store(time.Now().Add(time.Hour).UnixNano())
		}
	}
	st := c.Stats()
	if st.DiskBytes > limit || st.DiskEntries == 0 || st.Evicted == 0 {
		t.Fatalf("stats = %+v, limit %d", st, limit)
	}
	var onDisk int64
	for _, f := range diskFiles(t, dir) {
		onDisk += fileSize(t, f)
	}
	if onDisk != st.DiskBytes {
		t.Fatalf("files hold %d bytes, index says %d", onDisk, st.DiskBytes)
	}
	if _, ok := c.Get(key("/f000", "")); !ok {
		t.Fatal("recently used entry evicted")
	}
	if _, ok := c.Get(key("/f001", "")); ok {
		t.Fatal("least recently used entry kept")
	}
	if _, ok := c.Get(key("/f199", "")); !ok {
		t.Fatal("newest entry evicted")
	}
	// Memory never holds what disk dropped.
	c.mem.CleanUp()
	if st := c.Stats(); st.MemoryEntries > st.DiskEntries {
		t.Fatalf("memory holds %d entries, disk %d", st.MemoryEntries, st.DiskEntries)
	}
}

func (c *Cache) lookupUnlocked(k Key) *rec {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lookupLocked(k)
}

func TestLargeEntriesLiveOnDiskOnly(t *testing.T) {
	c := newCache(t, Config{Dir: t.TempDir(), MemoryBytes: 64 << 10})
	big := &Entry{Status: 200, Header: http.Header{}, Body: bytes.Repeat([]byte("z"), 20<<10)}
	c.Put(key("/big", ""), big)
	for range 2 {
		got, ok := c.Get(key("/big", ""))
		if !ok || !bytes.Equal(got.Body, big.Body) {
			t.Fatal("large entry not served from disk")
		}
	}
	if st := c.Stats(); st.MemoryEntries != 0 || st.DiskHits != 2 {
		t.Fatalf("stats = %+v", st)
	}
	if n := c.Invalidate("D1", "/big", false); n != 1 {
		t.Fatalf("Invalidate = %d", n)
	}
	if _, ok := c.Get(key("/big", "")); ok {
		t.Fatal("hit after invalidation")
	}
}

func TestInvalidationBeatsPromotion(t *testing.T) {
	// A Get that read a file before an invalidation must not put it back
	// into memory after: the rec identity check refuses it.
	dir := t.TempDir()
	c := newCache(t, Config{Dir: dir})
	k := key("/a", "")
	c.Put(k, entry("a"))
	c.Close()
	c = newCache(t, Config{Dir: dir})
	r := c.lookupUnlocked(k)
	c.Invalidate("D1", "/a", false)
	c.mu.Lock()
	still := c.lookupLocked(k) == r
	c.mu.Unlock()
	if still {
		t.Fatal("rec survived invalidation")
	}
	if _, ok := c.Get(k); ok {
		t.Fatal("hit after invalidation")
	}
}

// TestKill9 runs a child process that writes entries as fast as it can and
// kills it with SIGKILL mid-stream: every entry found afterwards is whole.
func TestKill9(t *testing.T) {
	if dir := os.Getenv("CDNCACHE_KILL_DIR"); dir != "" {
		c, err := New(Config{Dir: dir}, quiet)
		if err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		for i := 0; ; i++ {
			c.Put(key(fmt.Sprintf("/k/%d", i%300), ""), &Entry{Status: 200, Body: killBody(i % 300)})
			if i%300 == 299 {
				c.Invalidate("D1", "/k/1", true)
				fmt.Println("round")
			}
		}
	}
	if testing.Short() {
		t.Skip("spawns a process")
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestKill9$")
	cmd.Env = append(os.Environ(), "CDNCACHE_KILL_DIR="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Kill it a few rounds in, wherever it is in its writes.
	lines := bufio.NewReader(out)
	for range 3 {
		line, _ := lines.ReadString('\n')
		if strings.TrimSpace(line) != "round" {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("child said %q", line)
		}
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()

	c := newCache(t, Config{Dir: dir})
	st := c.Stats()
	if st.DiskEntries == 0 {
		t.Fatalf("nothing survived: %+v", st)
	}
	hits := 0
	for i := range 300 {
		e, ok := c.Get(key(fmt.Sprintf("/k/%d", i), ""))
		if ok {
			hits++
			if !bytes.Equal(e.Body, killBody(i)) {
				t.Fatalf("entry %d holds the wrong body", i)
			}
		}
	}
	if int64(hits) != st.DiskEntries {
		t.Fatalf("%d hits, %d entries indexed", hits, st.DiskEntries)
	}
	t.Logf("%d entries survived, %d torn files dropped", hits, st.Corrupt)
}

func killBody(i int) []byte {
	return bytes.Repeat([]byte(fmt.Sprintf("entry %d;", i)), 200+i*10)
}

func TestCacheAfterFillOnDisk(t *testing.T) {
	dir := t.TempDir()
	c := newCache(t, Config{Dir: dir})
	k := key("/a", "w=10")
	if _, _, err := c.Fill(context.Background(), k, func(context.Context) (*Entry, bool, error) {
		return entry("filled"), true, nil
	}); err != nil {
		t.Fatal(err)
	}
	c.Close()
	c = newCache(t, Config{Dir: dir})
	if got, ok := c.Get(k); !ok || string(got.Body) != "filled" {
		t.Fatal("filled entry not persisted")
	}
}

func TestDirLockedWhileInUse(t *testing.T) {
	dir := t.TempDir()
	c := newCache(t, Config{Dir: dir})
	if _, err := New(Config{Dir: dir}, quiet); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("second cache on one dir: err = %v", err)
	}
	c.Close()
	c2 := newCache(t, Config{Dir: dir})
	c2.Close()
}

func TestPutSince(t *testing.T) {
	for _, disk := range []bool{false, true} {
		t.Run(fmt.Sprintf("disk=%v", disk), func(t *testing.T) {
			cfg := Config{}
			if disk {
				cfg.Dir = t.TempDir()
			}
			c := newCache(t, cfg)
			orig, gz := key("/a.css", ""), key("/a.css", "gzip")
			gen := c.Generation()
			c.Put(orig, entry("css"))
			c.Invalidate("D1", "/b.css", false) // another path: no effect
			if !c.PutSince(gz, entry("gz"), gen) {
				t.Fatal("PutSince refused with no invalidation of its path")
			}
			gen = c.Generation()
			if _, ok := c.Get(orig); !ok {
				t.Fatal("miss")
			}
			c.Invalidate("D1", "/a.css", false)
			if c.PutSince(gz, entry("stale gz"), gen) {
				t.Fatal("PutSince stored a copy of an invalidated original")
			}
			if _, ok := c.Get(gz); ok {
				t.Fatal("stale derived entry present")
			}
		})
	}
}
