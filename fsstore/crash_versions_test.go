package fsstore_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/fsstore"
)

const crashVersionsEnv = "FSSTORE_CRASH_VERSIONS_CHILD_DIR"

// TestCrashVersionsChild is the child of TestCrashVersions: writers put
// new versions of a few keys, add delete markers and remove versions they
// wrote, in a versioned bucket, printing each acknowledged change, until
// killed.
func TestCrashVersionsChild(t *testing.T) {
	dir := os.Getenv(crashVersionsEnv)
	if dir == "" {
		t.Skip("run by TestCrashVersions only")
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
	say := func(format string, args ...any) {
		out.Lock()
		fmt.Printf(format+"\n", args...)
		out.Unlock()
	}
	fail := func(err error) {
		out.Lock()
		fmt.Println("error", err)
		os.Exit(2)
	}
	for range crashWriters {
		go func() {
			type written struct{ key, id string }
			var mine []written
			for {
				i := int(next.Add(1) - 1)
				key := fmt.Sprintf("obj/%02d", i%16)
				switch {
				case i%5 == 4:
					res, err := s.DeleteVersion(ctx, "crash", key, "")
					if err != nil {
						fail(err)
					}
					say("marker %s %s", key, res.VersionID)
				case i%7 == 6 && len(mine) > 0:
					w := mine[0]
					mine = mine[1:]
					// Said first: the delete may commit and the kill come
					// before "gone" is printed.
					say("deleting %s %s", w.key, w.id)
					if _, err := s.DeleteVersion(ctx, "crash", w.key, w.id); err != nil {
						fail(err)
					}
					say("gone %s %s", w.key, w.id)
				default:
					body := crashBody(i)
					info, err := s.PutObject(ctx, &sluice.PutObjectInput{Bucket: "crash", Key: key, Body: bytes.NewReader(body), Size: int64(len(body))})
					if err != nil {
						fail(err)
					}
					mine = append(mine, written{key, info.VersionID})
					say("ok %s %s %s", key, info.VersionID, strings.Trim(info.ETag, `"`))
				}
			}
		}()
	}
	select {}
}

// TestCrashVersions kills a child writing versions and checks that every
// version and delete marker it acknowledged survives (and every removal it
// acknowledged stays done), that each key's versions are consistent, and
// that the collector leaves exactly the versions' files.
func TestCrashVersions(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns a child process")
	}
	for _, mode := range []string{"sync", "nosync"} {
		t.Run(mode, func(t *testing.T) { testCrashVersions(t, mode == "nosync") })
	}
}

func testCrashVersions(t *testing.T, noSync bool) {
	dir := t.TempDir()
	s, err := fsstore.Open(testConfig(dir, false))
	if err != nil {
		t.Fatal(err)
	}
	mustBucket(t, s, "crash")
	mustVersioning(t, s, "crash", sluice.VersioningEnabled)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	type version struct {
		key, md5 string
		marker   bool
	}
	acked := map[string]version{} // version id → what was acknowledged
	gone := map[string]bool{}
	deleting := map[string]bool{} // removals begun, done or not when killed
	n := 0
	handle := func(line string) {
		f := strings.Fields(line)
		switch {
		case len(f) == 4 && f[0] == "ok":
			acked[f[2]] = version{key: f[1], md5: f[3]}
		case len(f) == 3 && f[0] == "marker":
			acked[f[2]] = version{key: f[1], marker: true}
		case len(f) == 3 && f[0] == "deleting":
			deleting[f[2]] = true
			return
		case len(f) == 3 && f[0] == "gone":
			gone[f[2]] = true
		default:
			t.Fatalf("child: %s", line)
		}
		n++
	}
	killChild(t, "TestCrashVersionsChild", crashVersionsEnv+"="+dir, noSync, handle, func() bool { return n >= 80 })
	if n < 80 || len(gone) == 0 {
		t.Fatalf("child acknowledged only %d changes (%d removals)", n, len(gone))
	}

	s2, err := fsstore.Open(testConfig(dir, false))
	if err != nil {
		t.Fatalf("reopen after kill: %v", err)
	}
	defer s2.Close()
	ctx := context.Background()
	for id, v := range acked {
		info, err := s2.HeadVersion(ctx, "crash", v.key, id)
		switch {
		case gone[id]:
			if !sluice.IsCode(err, sluice.ErrNoSuchVersion) {
				t.Errorf("removed version %s of %s: %v", id, v.key, err)
			}
		case v.marker:
			if !sluice.IsCode(err, sluice.ErrMethodNotAllowed) || !info.DeleteMarker {
				t.Errorf("acknowledged marker %s of %s: %+v, %v", id, v.key, info, err)
			}
		default:
			obj, err := s2.OpenVersion(ctx, "crash", v.key, id)
			if sluice.IsCode(err, sluice.ErrNoSuchVersion) && deleting[id] {
				continue // its removal was under way: committed, not yet said
			}
			if err != nil {
				t.Errorf("acknowledged version %s of %s lost: %v", id, v.key, err)
				continue
			}
			r, _ := obj.Reader(0, -1)
			h := md5.New()
			io.Copy(h, r)
			obj.Close()
			if got := hex.EncodeToString(h.Sum(nil)); got != v.md5 {
				t.Errorf("version %s of %s: md5 %s, acknowledged %s", id, v.key, got, v.md5)
			}
		}
	}

	s2.WaitGC()
	page, err := s2.ListVersions(ctx, "crash", sluice.ListVersionsOptions{MaxKeys: 100000})
	if err != nil {
		t.Fatal(err)
	}
	wantFiles, current := 0, 0
	for i, v := range page.Versions {
		first := i == 0 || page.Versions[i-1].Key != v.Key
		if v.IsLatest != first {
			t.Errorf("%s %s: IsLatest %v", v.Key, v.VersionID, v.IsLatest)
		}
		if !first && v.LastModified.After(page.Versions[i-1].LastModified) {
			t.Errorf("%s: version %s listed after an older one", v.Key, v.VersionID)
		}
		if v.IsLatest && !v.DeleteMarker {
			current++
		}
		if !v.DeleteMarker && v.Size > fsstore.DefaultInlineMax {
			wantFiles++
		}
		if gone[v.VersionID] {
			t.Errorf("removed version %s of %s listed", v.VersionID, v.Key)
		}
	}
	objects, _ := dataFiles(t, dir)
	if len(objects) != wantFiles {
		t.Errorf("%d object files for %d versions larger than InlineMax after GC", len(objects), wantFiles)
	}
	cur, err := s2.ListObjects(ctx, "crash", sluice.ListOptions{MaxKeys: 1000})
	if err != nil || len(cur.Objects) != current {
		t.Errorf("ListObjects lists %d objects (%v), versions say %d are current", len(cur.Objects), err, current)
	}
	t.Logf("%d changes acknowledged, %d versions and markers committed", n, len(page.Versions))
}
