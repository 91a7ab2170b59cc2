package fsstore_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/fsstore"
)

const crashDirEnv = "FSSTORE_CRASH_CHILD_DIR"

// crashBody is the deterministic body of the i-th object the child writes;
// sizes vary so that some writes take several buffer fills.
func crashBody(i int) []byte {
	r := rand.New(rand.NewPCG(uint64(i), 42))
	b := make([]byte, r.IntN(600<<10))
	for j := range b {
		b[j] = byte(r.Uint32())
	}
	return b
}

// TestCrashChild is the child process of TestCrashSafety: it writes objects
// with fsync on, printing each acknowledged key and MD5, until killed.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashDirEnv)
	if dir == "" {
		t.Skip("run by TestCrashSafety only")
	}
	s, err := fsstore.Open(fsstore.Config{Dir: dir, RecordEvents: true})
	if err != nil {
		fmt.Println("error", err)
		os.Exit(2)
	}
	ctx := context.Background()
	for i := 0; ; i++ {
		key := fmt.Sprintf("obj/%06d", i)
		body := crashBody(i)
		if i%3 == 0 {
			// Overwrites give the collector replaced files to find after a kill.
			if _, err := s.PutObject(ctx, &sluice.PutObjectInput{Bucket: "crash", Key: key, Body: strings.NewReader("draft"), Size: 5}); err != nil {
				fmt.Println("error", err)
				os.Exit(2)
			}
		}
		info, err := s.PutObject(ctx, &sluice.PutObjectInput{Bucket: "crash", Key: key, Body: bytes.NewReader(body), Size: int64(len(body))})
		if err != nil {
			fmt.Println("error", err)
			os.Exit(2)
		}
		fmt.Printf("ok %s %s\n", key, strings.Trim(info.ETag, `"`))
	}
}

func TestCrashSafety(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns a child process")
	}
	dir := t.TempDir()
	s, err := fsstore.Open(fsstore.Config{Dir: dir, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	mustBucket(t, s, "crash")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashDirEnv+"="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	acked := make(map[string]string)
	lines := bufio.NewScanner(out)
	deadline := time.Now().Add(30 * time.Second)
	for len(acked) < 40 && time.Now().Before(deadline) && lines.Scan() {
		record(t, acked, lines.Text())
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	// Whatever the child printed before it died was acknowledged too.
	for lines.Scan() {
		record(t, acked, lines.Text())
	}
	cmd.Wait()
	if len(acked) < 40 {
		t.Fatalf("child acknowledged only %d writes", len(acked))
	}

	s2, err := fsstore.Open(fsstore.Config{Dir: dir, NoSync: true})
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
	if len(objects) != len(page.Objects) {
		t.Errorf("%d object files for %d objects after GC", len(objects), len(page.Objects))
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
