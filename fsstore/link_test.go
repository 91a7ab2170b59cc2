package fsstore_test

import (
	"bytes"
	"context"
	"io"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/fsstore"
)

func readAll(t *testing.T, s sluice.Store, bucket, key string) ([]byte, sluice.ObjectInfo) {
	t.Helper()
	o, err := s.OpenObject(context.Background(), bucket, key)
	if err != nil {
		t.Fatalf("OpenObject(%s/%s): %v", bucket, key, err)
	}
	defer o.Close()
	r, err := o.Reader(0, -1)
	if err != nil {
		t.Fatalf("Reader(%s/%s): %v", bucket, key, err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("read %s/%s: %v", bucket, key, err)
	}
	return b, o.Info()
}

func mustLink(t *testing.T, s *fsstore.Store, src sluice.ObjectInfo, bucket, key string, meta sluice.ObjectMeta) sluice.ObjectInfo {
	t.Helper()
	info, err := s.LinkObject(context.Background(), src, &sluice.PutObjectInput{Bucket: bucket, Key: key, Meta: meta})
	if err != nil {
		t.Fatalf("LinkObject(%s/%s → %s/%s): %v", src.Bucket, src.Key, bucket, key, err)
	}
	return info
}

// TestLinkObject checks that a linked copy and its source are independent
// objects sharing bytes: removing or replacing either leaves the other
// intact, and once both are gone no file is left behind.
func TestLinkObject(t *testing.T) {
	ctx := context.Background()
	meta := sluice.ObjectMeta{ContentType: "text/plain", User: map[string]string{"a": "b"}, Tags: []sluice.Tag{{Key: "k", Value: "v"}}}
	for _, cfg := range []struct {
		name      string
		inlineMax int64
		size      int
	}{
		{"inline", fsstore.DefaultInlineMax, 1000},
		{"file", 0, 300 << 10},
		{"empty file", 0, 0},
	} {
		for _, tc := range []struct {
			name string
			act  func(t *testing.T, s *fsstore.Store)
			// srcAfter is the source's body after act; nil means deleted.
			srcAfter func(body []byte) []byte
			dstGone  bool
		}{
			{"delete source", func(t *testing.T, s *fsstore.Store) {
				if err := s.DeleteObject(ctx, "src", "obj"); err != nil {
					t.Fatal(err)
				}
			}, func([]byte) []byte { return nil }, false},
			{"overwrite source", func(t *testing.T, s *fsstore.Store) {
				mustPut(t, s, "src", "obj", []byte("new bytes"))
			}, func([]byte) []byte { return []byte("new bytes") }, false},
			{"delete destination", func(t *testing.T, s *fsstore.Store) {
				if err := s.DeleteObject(ctx, "dst", "copy"); err != nil {
					t.Fatal(err)
				}
			}, func(b []byte) []byte { return b }, true},
			{"overwrite destination", func(t *testing.T, s *fsstore.Store) {
				mustPut(t, s, "dst", "copy", []byte("other"))
				if err := s.DeleteObject(ctx, "dst", "copy"); err != nil {
					t.Fatal(err)
				}
			}, func(b []byte) []byte { return b }, true},
		} {
			t.Run(cfg.name+"/"+tc.name, func(t *testing.T) {
				dir := t.TempDir()
				c := testConfig(dir, false)
				c.InlineMax = cfg.inlineMax
				s := openConfig(t, c)
				mustBucket(t, s, "src")
				mustBucket(t, s, "dst")
				body := bytes.Repeat([]byte("0123456789abcdef"), cfg.size/16)
				src := mustPut(t, s, "src", "obj", body)
				got := mustLink(t, s, src, "dst", "copy", meta)
				want := src
				want.Bucket, want.Key, want.Meta, want.LastModified = "dst", "copy", meta, got.LastModified
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("LinkObject info (-want +got):\n%s", diff)
				}
				tc.act(t, s)

				if tc.dstGone {
					if _, err := s.HeadObject(ctx, "dst", "copy"); !sluice.IsCode(err, sluice.ErrNoSuchKey) {
						t.Errorf("HeadObject(dst/copy) = %v, want NoSuchKey", err)
					}
				} else {
					b, info := readAll(t, s, "dst", "copy")
					if !bytes.Equal(b, body) {
						t.Errorf("dst/copy has %d bytes, want the %d linked", len(b), len(body))
					}
					if diff := cmp.Diff(meta, info.Meta); diff != "" {
						t.Errorf("dst/copy meta (-want +got):\n%s", diff)
					}
				}
				if w := tc.srcAfter(body); w == nil {
					if _, err := s.HeadObject(ctx, "src", "obj"); !sluice.IsCode(err, sluice.ErrNoSuchKey) {
						t.Errorf("HeadObject(src/obj) = %v, want NoSuchKey", err)
					}
				} else if b, _ := readAll(t, s, "src", "obj"); !bytes.Equal(b, w) {
					t.Errorf("src/obj has %d bytes, want %d", len(b), len(w))
				}

				// Once neither object refers to the bytes, their file goes.
				for _, k := range [][2]string{{"src", "obj"}, {"dst", "copy"}} {
					if err := s.DeleteObject(ctx, k[0], k[1]); err != nil {
						t.Fatal(err)
					}
				}
				if objs, _ := dataFiles(t, dir); len(objs) != 0 {
					t.Errorf("files left after deleting both objects: %v", objs)
				}
			})
		}
	}
}

func TestLinkObjectChecks(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, t.TempDir(), true)
	mustBucket(t, s, "src")
	mustBucket(t, s, "dst")
	src := mustPut(t, s, "src", "obj", []byte("hello"))
	mustPut(t, s, "dst", "taken", []byte("x"))
	stale := src
	stale.ETag = `"0123456789abcdef0123456789abcdef"`
	gone := src
	gone.Key = "missing"
	for _, tc := range []struct {
		name string
		src  sluice.ObjectInfo
		dst  sluice.PutObjectInput
		want sluice.Code
	}{
		{"source changed", stale, sluice.PutObjectInput{Bucket: "dst", Key: "k"}, sluice.ErrPreconditionFailed},
		{"source missing", gone, sluice.PutObjectInput{Bucket: "dst", Key: "k"}, sluice.ErrNoSuchKey},
		{"no target bucket", src, sluice.PutObjectInput{Bucket: "nope", Key: "k"}, sluice.ErrNoSuchBucket},
		{"destination exists", src, sluice.PutObjectInput{Bucket: "dst", Key: "taken", Conditions: sluice.Conditions{IfNoneMatch: "*"}}, sluice.ErrPreconditionFailed},
		{"body given", src, sluice.PutObjectInput{Bucket: "dst", Key: "k", Body: bytes.NewReader(nil)}, sluice.ErrInvalidArgument},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.LinkObject(ctx, tc.src, &tc.dst)
			if !sluice.IsCode(err, tc.want) {
				t.Errorf("LinkObject = %v, want %s", err, tc.want)
			}
		})
	}
	if _, err := s.HeadObject(ctx, "dst", "k"); !sluice.IsCode(err, sluice.ErrNoSuchKey) {
		t.Errorf("a refused link committed: HeadObject(dst/k) = %v", err)
	}

	mustLink(t, s, src, "dst", "k", sluice.ObjectMeta{})
	evs, err := s.ReadEvents(ctx, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	last := evs[len(evs)-1]
	if last.Name != sluice.EventObjectCreatedCopy || last.Bucket != "dst" || last.Key != "k" || last.ETag != "5d41402abc4b2a76b9719d911017c592" {
		t.Errorf("last event = %+v, want ObjectCreated:Copy of dst/k with the source's ETag", last)
	}
}

// TestLinkSurvivesSweep checks that the orphan collector of a later process
// keeps a file whose first record is gone but which a link still names.
func TestLinkSurvivesSweep(t *testing.T) {
	dir := t.TempDir()
	c := testConfig(dir, false)
	c.InlineMax = 0
	s, err := fsstore.Open(c)
	if err != nil {
		t.Fatal(err)
	}
	mustBucket(t, s, "src")
	mustBucket(t, s, "dst")
	body := bytes.Repeat([]byte("z"), 100<<10)
	src := mustPut(t, s, "src", "obj", body)
	mustLink(t, s, src, "dst", "copy", sluice.ObjectMeta{})
	if err := s.DeleteObject(context.Background(), "src", "obj"); err != nil {
		t.Fatal(err)
	}
	s.WaitGC()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openConfig(t, c)
	s.WaitGC()
	if b, _ := readAll(t, s, "dst", "copy"); !bytes.Equal(b, body) {
		t.Errorf("dst/copy after reopen has %d bytes, want %d", len(b), len(body))
	}
	if objs, _ := dataFiles(t, dir); len(objs) != 1 {
		t.Errorf("files after reopen = %v, want the one linked", objs)
	}
}
