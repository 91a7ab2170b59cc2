package fsstore_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/md5"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/fsstore"
)

const (
	crashDirEnv    = "FSSTORE_CRASH_CHILD_DIR"
	crashNoSyncEnv = "FSSTORE_CRASH_CHILD_NOSYNC"
	// crashWriters write at once in the child, so that kills land in the
	// middle of group commits.
	crashWriters = 4
)

// crashBody is the deterministic body of the i-th object the child writes;
// sizes vary so that some writes take several buffer fills.
func crashBody(i int) []byte {
	var seed [32]byte
	binary.LittleEndian.PutUint64(seed[:], uint64(i))
	r := rand.NewChaCha8(seed)
	b := make([]byte, rand.New(r).IntN(600<<10))
	r.Read(b)
	return b
}

// TestCrashChild is the child process of TestCrashSafety: several writers
// write objects (fully synced, or with NoSync when asked), printing each
// acknowledged key and MD5, until killed.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashDirEnv)
	if dir == "" {
		t.Skip("run by TestCrashSafety only")
	}
	cfg := fsstore.DefaultConfig()
	cfg.Dir, cfg.RecordEvents, cfg.NoSync = dir, true, os.Getenv(crashNoSyncEnv) != ""
	s, err := fsstore.Open(cfg)
	if err != nil {
		fmt.Println("error", err)
		os.Exit(2)
	}
	ctx := context.Background()
	var next atomic.Int64
	var out sync.Mutex
	fail := func(err error) {
		out.Lock()
		fmt.Println("error", err)
		os.Exit(2)
	}
	for range crashWriters {
		go func() {
			for {
				i := int(next.Add(1) - 1)
				key := fmt.Sprintf("obj/%06d", i)
				body := crashBody(i)
				if i%3 == 0 {
					// Overwrites give the collector replaced files to find
					// after a kill.
					if _, err := s.PutObject(ctx, &sluice.PutObjectInput{Bucket: "crash", Key: key, Body: strings.NewReader("draft"), Size: 5}); err != nil {
						fail(err)
					}
				}
				info, err := s.PutObject(ctx, &sluice.PutObjectInput{Bucket: "crash", Key: key, Body: bytes.NewReader(body), Size: int64(len(body))})
				if err != nil {
					fail(err)
				}
				out.Lock()
				fmt.Printf("ok %s %s\n", key, strings.Trim(info.ETag, `"`))
				out.Unlock()
			}
		}()
	}
	select {}
}

// TestCrashSafety kills a writing child process and checks that every
// write it acknowledged survives, with its event, and that the collector
// leaves exactly the committed objects' files: fully synced, and with
// NoSync, whose promise is exactly surviving a killed process.
func TestCrashSafety(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns a child process")
	}
	for _, mode := range []string{"sync", "nosync"} {
		t.Run(mode, func(t *testing.T) { testCrashSafety(t, mode == "nosync") })
	}
}

func testCrashSafety(t *testing.T, noSync bool) {
	dir := t.TempDir()
	s, err := fsstore.Open(testConfig(dir, false))
	if err != nil {
		t.Fatal(err)
	}
	mustBucket(t, s, "crash")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	acked := make(map[string]string)
	killChild(t, "TestCrashChild", crashDirEnv+"="+dir, noSync,
		func(line string) { record(t, acked, line) },
		func() bool { return len(acked) >= 60 })
	if len(acked) < 60 {
		t.Fatalf("child acknowledged only %d writes", len(acked))
	}

	s2, err := fsstore.Open(testConfig(dir, false))
	if err != nil {
		t.Fatalf("reopen after kill: %v", err)
	}
	defer s2.Close()
	if _, tmp := dataFiles(t, dir); len(tmp) != 0 {
		t.Errorf("%d temp files remain after Open", len(tmp))
	}
	ctx := context.Background()
	for key, sum := range acked {
		obj, err := s2.OpenObject(ctx, "crash", key)
		if err != nil {
			t.Errorf("acknowledged %s lost: %v", key, err)
			continue
		}
		r, _ := obj.Reader(0, -1)
		h := md5.New()
		io.Copy(h, r)
		obj.Close()
		var i int
		fmt.Sscanf(key, "obj/%d", &i)
		if got := hex.EncodeToString(h.Sum(nil)); got != sum || md5hex(string(crashBody(i))) != sum {
			t.Errorf("%s: md5 %s, acknowledged %s", key, got, sum)
		}
	}
	s2.WaitGC()
	// After collection exactly the committed objects' files remain.
	page, err := s2.ListObjects(ctx, "crash", sluice.ListOptions{MaxKeys: 100000})
	if err != nil {
		t.Fatal(err)
	}
	objects, _ := dataFiles(t, dir)
	wantFiles := 0
	for _, o := range page.Objects {
		if o.Size > fsstore.DefaultInlineMax {
			wantFiles++
		}
	}
	if len(objects) != wantFiles {
		t.Errorf("%d object files for %d objects larger than InlineMax after GC", len(objects), wantFiles)
	}
	// Object and event commit together: every committed object has the
	// event of its current version.
	evs, err := s2.ReadEvents(ctx, 0, 100000)
	if err != nil {
		t.Fatal(err)
	}
	lastETag := make(map[string]string)
	for _, e := range evs {
		if e.Name != sluice.EventObjectCreatedPut {
			t.Errorf("unexpected event %+v", e)
		}
		lastETag[e.Key] = e.ETag
	}
	for _, o := range page.Objects {
		if got := lastETag[o.Key]; got != strings.Trim(o.ETag, `"`) {
			t.Errorf("%s: last event ETag %q, object ETag %s", o.Key, got, o.ETag)
		}
	}
	if len(lastETag) != len(page.Objects) {
		t.Errorf("events name %d keys, %d objects committed", len(lastETag), len(page.Objects))
	}
	t.Logf("%d writes acknowledged, %d objects committed", len(acked), len(page.Objects))
}

func record(t *testing.T, acked map[string]string, line string) {
	t.Helper()
	f := strings.Fields(line)
	if len(f) != 3 || f[0] != "ok" {
		t.Fatalf("child: %s", line)
	}
	acked[f[1]] = f[2]
}

// killChild runs the test named child in a child process with env (and
// NoSync when asked), hands every line it prints to handle, kills it with
// SIGKILL once enough reports true (or after 30 s), and hands over the lines
// it printed before it died too: each was acknowledged.
func killChild(t *testing.T, child, env string, noSync bool, handle func(string), enough func() bool) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^"+child+"$", "-test.count=1")
	cmd.Env = append(os.Environ(), env)
	if noSync {
		cmd.Env = append(cmd.Env, crashNoSyncEnv+"=1")
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := bufio.NewScanner(out)
	deadline := time.Now().Add(30 * time.Second)
	for !enough() && time.Now().Before(deadline) && lines.Scan() {
		handle(lines.Text())
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	for lines.Scan() {
		handle(lines.Text())
	}
	cmd.Wait()
}
