package fsstore_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/fsstore"
	"github.com/sluicehq/sluice/storetest"
)

// testConfig is DefaultConfig for dir without fsync, which tests do not
// need (TestCrashSafety checks durability).
func testConfig(dir string, record bool) fsstore.Config {
	cfg := fsstore.DefaultConfig()
	cfg.Dir, cfg.RecordEvents, cfg.NoSync = dir, record, true
	return cfg
}

func openTest(t testing.TB, dir string, record bool) *fsstore.Store {
	t.Helper()
	return openConfig(t, testConfig(dir, record))
}

func openConfig(t testing.TB, cfg fsstore.Config) *fsstore.Store {
	t.Helper()
	s, err := fsstore.Open(cfg)
	if err != nil {
		t.Fatalf("Open(%q): %v", cfg.Dir, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestContract runs the contract suite with bodies inline up to the
// default, and with a threshold so small that nearly every body is a file
// and unsized bodies spill from the buffer into a file. (TestCrashSafety
// runs the fsyncs.)
func TestContract(t *testing.T) {
	for _, tc := range []struct {
		name      string
		inlineMax int64
	}{
		{"inline", fsstore.DefaultInlineMax},
		{"spill", 7},
	} {
		t.Run(tc.name, func(t *testing.T) {
			storetest.Run(t, func(t *testing.T) sluice.Store {
				cfg := testConfig(t.TempDir(), true)
				cfg.InlineMax = tc.inlineMax
				return openConfig(t, cfg)
			})
		})
	}
}

func TestConfig(t *testing.T) {
	if err := fsstore.DefaultConfig().Validate(); err != nil {
		t.Errorf("DefaultConfig().Validate() = %v", err)
	}
	if got := fsstore.DefaultConfig().Dir; got != "./sluice-data" {
		t.Errorf("DefaultConfig().Dir = %q", got)
	}
	if err := (fsstore.Config{}).Validate(); err == nil || !strings.Contains(err.Error(), "Dir") {
		t.Errorf("Validate(empty Dir) = %v, want an error naming Dir", err)
	}
	for _, n := range []int64{-1, 64 << 20} {
		if err := (fsstore.Config{Dir: "d", InlineMax: n}).Validate(); err == nil || !strings.Contains(err.Error(), "InlineMax") {
			t.Errorf("Validate(InlineMax %d) = %v, want an error naming InlineMax", n, err)
		}
	}
	if _, err := fsstore.Open(fsstore.Config{}); err == nil {
		t.Error("Open(empty config) succeeded")
	}
}

func mustPut(t testing.TB, s sluice.Store, bucket, key string, body []byte) sluice.ObjectInfo {
	t.Helper()
	info, err := s.PutObject(context.Background(), &sluice.PutObjectInput{Bucket: bucket, Key: key, Body: bytes.NewReader(body), Size: int64(len(body))})
	if err != nil {
		t.Fatalf("PutObject(%q): %v", key, err)
	}
	return info
}

func mustBucket(t testing.TB, s sluice.Store, name string) {
	t.Helper()
	if err := s.CreateBucket(context.Background(), sluice.Bucket{Name: name}); err != nil {
		t.Fatalf("CreateBucket(%q): %v", name, err)
	}
}

var idName = regexp.MustCompile(`^[0-9a-f]{32}$`)

// dataFiles returns the object files and temp files under dir, failing on
// anything that is not part of the layout.
func dataFiles(t *testing.T, dir string) (objects, tmp []string) {
	t.Helper()
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		parts := strings.Split(filepath.ToSlash(rel), "/")
		switch {
		case rel == "." || rel == "meta.db" || rel == "objects" || rel == "tmp":
		case parts[0] == "objects" && len(parts) == 2 && d.IsDir() && len(parts[1]) == 2:
		case parts[0] == "objects" && len(parts) == 3 && !d.IsDir() && idName.MatchString(parts[2]) && parts[2][8:10] == parts[1]:
			objects = append(objects, parts[2])
		case parts[0] == "tmp" && len(parts) == 2:
			tmp = append(tmp, parts[1])
		default:
			t.Errorf("unexpected path in data dir: %s", rel)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("walk %s: %v", dir, err)
	}
	return objects, tmp
}

// TestNoLeftovers checks that failed writes leave no files and that
// replaced, deleted, aborted and unused part files are removed.
func TestNoLeftovers(t *testing.T) {
	for _, tc := range []struct {
		name      string
		inlineMax int64
		files     int
	}{
		{"inline", fsstore.DefaultInlineMax, 2}, // mp's 2 part files
		{"files", 0, 4},                         // and keep, over
	} {
		t.Run(tc.name, func(t *testing.T) {
			testNoLeftovers(t, tc.inlineMax, tc.files)
		})
	}
}

func testNoLeftovers(t *testing.T, inlineMax int64, files int) {
	ctx := context.Background()
	dir := t.TempDir()
	cfg := testConfig(dir, false)
	cfg.InlineMax = inlineMax
	s := openConfig(t, cfg)
	mustBucket(t, s, "b")
	mustPut(t, s, "b", "keep", []byte("keep"))
	mustPut(t, s, "b", "over", []byte("v1"))
	mustPut(t, s, "b", "over", []byte("v2"))
	mustPut(t, s, "b", "gone", []byte("x"))
	if err := s.DeleteObject(ctx, "b", "gone"); err != nil {
		t.Fatal(err)
	}
	failures := []*sluice.PutObjectInput{
		{Bucket: "b", Key: "short", Body: strings.NewReader("abc"), Size: 4},
		{Bucket: "b", Key: "long", Body: strings.NewReader("abcde"), Size: 4},
		{Bucket: "b", Key: "verify", Body: strings.NewReader("abcd"), Size: 4, Verify: func(sluice.Checksums) error { return errors.New("no") }},
		{Bucket: "b", Key: "cond", Body: strings.NewReader("abcd"), Size: 4, Conditions: sluice.Conditions{IfMatch: `"x"`}},
		{Bucket: "b", Key: "keep", Body: strings.NewReader("abcd"), Size: 4, Conditions: sluice.Conditions{IfNoneMatch: "*"}},
		{Bucket: "nope", Key: "k", Body: strings.NewReader("abcd"), Size: 4},
	}
	for _, in := range failures {
		if _, err := s.PutObject(ctx, in); err == nil {
			t.Errorf("PutObject(%q) succeeded", in.Key)
		}
	}

	big := bytes.Repeat([]byte("p"), sluice.MinPartSize)
	up, err := s.CreateUpload(ctx, &sluice.CreateUploadInput{Bucket: "b", Key: "mp"})
	if err != nil {
		t.Fatal(err)
	}
	part := func(n int, body []byte) sluice.PartInfo {
		p, err := s.UploadPart(ctx, &sluice.UploadPartInput{Bucket: "b", Key: "mp", UploadID: up.UploadID, PartNumber: n, Body: bytes.NewReader(body), Size: int64(len(body))})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	p1 := part(1, big)
	part(2, []byte("replaced"))
	p2 := part(2, []byte("tail"))
	part(3, []byte("unused"))
	if _, err := s.CompleteUpload(ctx, &sluice.CompleteUploadInput{Bucket: "b", Key: "mp", UploadID: up.UploadID,
		Parts: []sluice.CompletePart{{Number: 1, ETag: p1.ETag}, {Number: 2, ETag: p2.ETag}}}); err != nil {
		t.Fatal(err)
	}
	ab, err := s.CreateUpload(ctx, &sluice.CreateUploadInput{Bucket: "b", Key: "ab"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.UploadPart(ctx, &sluice.UploadPartInput{Bucket: "b", Key: "ab", UploadID: ab.UploadID, PartNumber: 1, Body: strings.NewReader("x"), Size: 1}); err != nil {
		t.Fatal(err)
	}
	if err := s.AbortUpload(ctx, "b", "ab", ab.UploadID); err != nil {
		t.Fatal(err)
	}

	objects, tmp := dataFiles(t, dir)
	if len(objects) != files || len(tmp) != 0 {
		t.Errorf("data dir holds %d object files and %d temp files, want %d and 0", len(objects), len(tmp), files)
	}
}

// TestReopen checks that everything written survives Close and Open, and
// that Open clears temp files and collects orphaned object files.
func TestReopen(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := fsstore.Open(testConfig(dir, false))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateBucket(ctx, sluice.Bucket{Name: "b", Region: "eu-west-1"}); err != nil {
		t.Fatal(err)
	}
	want := mustPut(t, s, "b", "k", []byte("survives"))
	bigBody := bytes.Repeat([]byte("b"), fsstore.DefaultInlineMax+1)
	bigInfo := mustPut(t, s, "b", "big", bigBody)
	if err := s.PutBucketConfig(ctx, "b", sluice.ConfigCORS, []byte("<CORS/>")); err != nil {
		t.Fatal(err)
	}
	up, err := s.CreateUpload(ctx, &sluice.CreateUploadInput{Bucket: "b", Key: "mp"})
	if err != nil {
		t.Fatal(err)
	}
	part, err := s.UploadPart(ctx, &sluice.UploadPartInput{Bucket: "b", Key: "mp", UploadID: up.UploadID, PartNumber: 1, Body: strings.NewReader("part"), Size: 4})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// Plant a crash's leftovers: a temp file an older version left and an
	// unreferenced object file of an earlier epoch.
	orphan := "00000001" + "ab" + strings.Repeat("0", 22)
	for _, d := range []string{"tmp", "objects/ab"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []string{filepath.Join(dir, "tmp", "half-written"), filepath.Join(dir, "objects", "ab", orphan)} {
		if err := os.WriteFile(p, []byte("junk"), 0o644); err != nil {
			t.Fatal(err)
		}
	}

	s2, err := fsstore.Open(testConfig(dir, false))
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if _, err := os.Stat(filepath.Join(dir, "tmp")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("tmp survives Open: %v", err)
	}
	s2.WaitGC()
	if _, err := os.Stat(filepath.Join(dir, "objects", "ab", orphan)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("orphan not collected: %v", err)
	}
	objects, _ := dataFiles(t, dir)
	if len(objects) != 2 {
		t.Errorf("%d object files after GC, want 2 (big and the part)", len(objects))
	}
	if got, err := s2.HeadObject(ctx, "b", "big"); err != nil || got.ETag != bigInfo.ETag {
		t.Errorf("big object after reopen = %+v, %v", got, err)
	}

	got, err := s2.HeadObject(ctx, "b", "k")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("object after reopen (-want +got):\n%s", diff)
	}
	b, err := s2.Bucket(ctx, "b")
	if err != nil || b.Region != "eu-west-1" {
		t.Errorf("bucket after reopen = %+v, %v", b, err)
	}
	if doc, _ := s2.BucketConfig(ctx, "b", sluice.ConfigCORS); string(doc) != "<CORS/>" {
		t.Errorf("config after reopen = %q", doc)
	}
	info, err := s2.CompleteUpload(ctx, &sluice.CompleteUploadInput{Bucket: "b", Key: "mp", UploadID: up.UploadID, Parts: []sluice.CompletePart{{Number: 1, ETag: part.ETag}}})
	if err != nil {
		t.Fatalf("complete an upload begun before reopen: %v", err)
	}
	obj, err := s2.OpenObject(ctx, "b", "mp")
	if err != nil {
		t.Fatal(err)
	}
	defer obj.Close()
	r, _ := obj.Reader(0, -1)
	data, _ := io.ReadAll(r)
	if string(data) != "part" || info.Size != 4 {
		t.Errorf("completed object = %q (size %d)", data, info.Size)
	}

	// A second process cannot open the same directory.
	if _, err := fsstore.Open(testConfig(dir, false)); err == nil {
		t.Error("a second Open of a directory in use succeeded")
	}
}

func TestEventsOff(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, t.TempDir(), false)
	mustBucket(t, s, "b")
	mustPut(t, s, "b", "k", []byte("x"))
	if err := s.DeleteObject(ctx, "b", "k"); err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	evs, err := s.ReadEvents(rctx, 0, 10)
	if len(evs) != 0 || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("ReadEvents with recording off = %v, %v; want nothing until the deadline", evs, err)
	}
}

func TestEvents(t *testing.T) {
	dir := t.TempDir()
	s, err := fsstore.Open(testConfig(dir, true))
	if err != nil {
		t.Fatal(err)
	}
	ri := sluice.RequestInfo{ID: "REQ1", HostID: "host", SourceIP: "127.0.0.1", Principal: "test", Region: "eu-west-1"}
	ctx := sluice.WithRequestInfo(context.Background(), ri)
	if err := s.CreateBucket(ctx, sluice.Bucket{Name: "b", Region: "eu-west-1"}); err != nil {
		t.Fatal(err)
	}
	put := func(key, body, event string, c sluice.Conditions) error {
		_, err := s.PutObject(ctx, &sluice.PutObjectInput{Bucket: "b", Key: key, Body: strings.NewReader(body), Size: int64(len(body)), EventName: event, Conditions: c})
		return err
	}
	if err := put("a", "hello", "", sluice.Conditions{}); err != nil {
		t.Fatal(err)
	}
	if err := put("a", "copied", sluice.EventObjectCreatedCopy, sluice.Conditions{}); err != nil {
		t.Fatal(err)
	}
	if err := put("a", "nope", "", sluice.Conditions{IfNoneMatch: "*"}); err == nil {
		t.Fatal("conditional put succeeded")
	}
	if _, err := s.PutObjectTags(ctx, "b", "a", []sluice.Tag{{Key: "t", Value: "v"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PutObjectTags(ctx, "b", "a", nil); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteObject(ctx, "b", "a"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteObject(ctx, "b", "a"); err != nil {
		t.Fatal(err)
	}
	up, err := s.CreateUpload(ctx, &sluice.CreateUploadInput{Bucket: "b", Key: "m"})
	if err != nil {
		t.Fatal(err)
	}
	p, err := s.UploadPart(ctx, &sluice.UploadPartInput{Bucket: "b", Key: "m", UploadID: up.UploadID, PartNumber: 1, Body: strings.NewReader("mp"), Size: 2})
	if err != nil {
		t.Fatal(err)
	}
	mp, err := s.CompleteUpload(ctx, &sluice.CompleteUploadInput{Bucket: "b", Key: "m", UploadID: up.UploadID, Parts: []sluice.CompletePart{{Number: 1, ETag: p.ETag}}})
	if err != nil {
		t.Fatal(err)
	}

	ev := func(seq uint64, name, key string, size int64, etag string) sluice.Event {
		return sluice.Event{Seq: seq, Name: name, Region: "eu-west-1", Bucket: "b", Key: key, Size: size, ETag: etag,
			Sequencer: fmt.Sprintf("%016X", seq), Request: ri}
	}
	want := []sluice.Event{
		ev(1, sluice.EventObjectCreatedPut, "a", 5, md5hex("hello")),
		ev(2, sluice.EventObjectCreatedCopy, "a", 6, md5hex("copied")),
		ev(3, sluice.EventObjectTaggingPut, "a", 6, md5hex("copied")),
		ev(4, sluice.EventObjectTaggingDelete, "a", 6, md5hex("copied")),
		ev(5, sluice.EventObjectRemovedDelete, "a", 0, ""),
		ev(6, sluice.EventObjectCreatedComplete, "m", 2, strings.Trim(mp.ETag, `"`)),
	}
	got, err := s.ReadEvents(ctx, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	ignoreTime := cmpopts.IgnoreFields(sluice.Event{}, "Time")
	if diff := cmp.Diff(want, got, ignoreTime); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	for _, e := range got {
		if time.Since(e.Time) > time.Minute || e.Time.After(time.Now().Add(time.Second)) {
			t.Errorf("event %d time %v, want about now", e.Seq, e.Time)
		}
	}
	page, err := s.ReadEvents(ctx, 2, 2)
	if err != nil || len(page) != 2 || page[0].Seq != 3 || page[1].Seq != 4 {
		t.Errorf("ReadEvents(after 2, limit 2) = %v, %v", page, err)
	}

	// Consumers: pruning waits for every registered consumer.
	if c, err := s.Cursor(ctx, "notify"); c != 0 || err != nil {
		t.Errorf("Cursor(new) = %d, %v", c, err)
	}
	if c, err := s.Cursor(ctx, "replicate"); c != 0 || err != nil {
		t.Errorf("Cursor(new) = %d, %v", c, err)
	}
	if err := s.AckEvents(ctx, "notify", 4); err != nil {
		t.Fatal(err)
	}
	if evs, _ := s.ReadEvents(ctx, 0, 100); len(evs) != 6 {
		t.Errorf("events pruned before every consumer acknowledged: %d left", len(evs))
	}
	if err := s.AckEvents(ctx, "replicate", 3); err != nil {
		t.Fatal(err)
	}
	if err := s.AckEvents(ctx, "notify", 1); err != nil { // never moves back
		t.Fatal(err)
	}
	if c, _ := s.Cursor(ctx, "notify"); c != 4 {
		t.Errorf("Cursor(notify) = %d after acknowledging 4 then 1, want 4", c)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s2 := openTest(t, dir, true)
	left, err := s2.ReadEvents(ctx, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want[3:], left, ignoreTime); diff != "" {
		t.Errorf("events after pruning and reopen (-want +got):\n%s", diff)
	}
	if c, _ := s2.Cursor(ctx, "replicate"); c != 3 {
		t.Errorf("Cursor(replicate) after reopen = %d, want 3", c)
	}
	// Sequence numbers keep growing after reopen.
	mustPut(t, s2, "b", "after", []byte("reopen"))
	evs, err := s2.ReadEvents(ctx, 6, 10)
	if err != nil || len(evs) != 1 || evs[0].Seq != 7 || evs[0].Key != "after" {
		t.Errorf("event after reopen = %+v, %v", evs, err)
	}
}

func TestReadEventsWaits(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, t.TempDir(), true)
	mustBucket(t, s, "b")

	rctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	evs, err := s.ReadEvents(rctx, 0, 10)
	cancel()
	if len(evs) != 0 || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("ReadEvents on an empty outbox = %v, %v; want to wait until the deadline", evs, err)
	}

	type result struct {
		evs []sluice.Event
		err error
	}
	done := make(chan result, 1)
	wctx, wcancel := context.WithTimeout(ctx, 30*time.Second)
	defer wcancel()
	go func() {
		evs, err := s.ReadEvents(wctx, 0, 10)
		done <- result{evs, err}
	}()
	mustPut(t, s, "b", "wake", []byte("up"))
	r := <-done
	if r.err != nil || len(r.evs) != 1 || r.evs[0].Key != "wake" {
		t.Errorf("woken ReadEvents = %+v, %v", r.evs, r.err)
	}
	// Many waiters all wake on one commit.
	const waiters = 5
	results := make(chan result, waiters)
	for range waiters {
		go func() {
			evs, err := s.ReadEvents(wctx, 1, 10)
			results <- result{evs, err}
		}()
	}
	mustPut(t, s, "b", "second", []byte("x"))
	for range waiters {
		r := <-results
		if r.err != nil || len(r.evs) != 1 || r.evs[0].Seq != 2 {
			t.Errorf("waiter got %+v, %v", r.evs, r.err)
		}
	}
}

func md5hex(s string) string {
	sum := md5.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

// patternReader yields n deterministic bytes without holding them.
type patternReader struct{ left int64 }

func (r *patternReader) Read(p []byte) (int, error) {
	if r.left == 0 {
		return 0, io.EOF
	}
	n := int(min(int64(len(p)), r.left))
	for i := range p[:n] {
		p[i] = byte(r.left - int64(i))
	}
	r.left -= int64(n)
	return n, nil
}

// TestStreamingMemory checks that a large PUT streams: the bytes allocated
// while writing 128 MiB stay a small constant, not the body size.
func TestStreamingMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 128 MiB")
	}
	s := openTest(t, t.TempDir(), false)
	mustBucket(t, s, "b")
	const size = 128 << 20
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	info, err := s.PutObject(context.Background(), &sluice.PutObjectInput{Bucket: "b", Key: "big", Body: &patternReader{left: size}, Size: size})
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	if info.Size != size {
		t.Errorf("size = %d", info.Size)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 8<<20 {
		t.Errorf("writing %d bytes allocated %d bytes", size, alloc)
	}
}
