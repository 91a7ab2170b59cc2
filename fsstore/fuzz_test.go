package fsstore_test

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/fsstore"
)

// FuzzKey checks that any string either round-trips as a key (put, head,
// open, list, delete) or is refused with KeyTooLong or InvalidArgument, and
// that nothing is ever written outside the data directory.
func FuzzKey(f *testing.F) {
	for _, seed := range []string{
		"a", "../x", "../../etc/passwd", "a//b", "/", "//", "%2F", "%", "with space", "emoji-🙂", ".", "..",
		"a/./b", "a/../../b", "\x00", "nul\x00inside", "\xff", "C:\\Windows", "objects/00/x", "tmp/x", "meta.db",
		strings.Repeat("k", 1024), strings.Repeat("k", 1025), strings.Repeat("é", 512), "",
	} {
		f.Add(seed)
	}
	root := f.TempDir()
	dir := filepath.Join(root, "data")
	s, err := fsstore.Open(testConfig(dir, false))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { s.Close() })
	ctx := context.Background()
	if err := s.CreateBucket(ctx, sluice.Bucket{Name: "fuzz"}); err != nil {
		f.Fatal(err)
	}

	f.Fuzz(func(t *testing.T, key string) {
		body := []byte("body:" + key)
		_, err := s.PutObject(ctx, &sluice.PutObjectInput{Bucket: "fuzz", Key: key, Body: bytes.NewReader(body), Size: int64(len(body))})
		valid := key != "" && len(key) <= sluice.MaxKeyLength && utf8.ValidString(key)
		if !valid {
			code := sluice.ErrorCode(err)
			if code != sluice.ErrKeyTooLong && code != sluice.ErrInvalidArgument {
				t.Fatalf("PutObject(%q) = %v, want KeyTooLong or InvalidArgument", key, err)
			}
			if len(key) > sluice.MaxKeyLength && code != sluice.ErrKeyTooLong {
				t.Errorf("PutObject(%d-byte key) = %v, want KeyTooLong", len(key), err)
			}
		} else {
			if err != nil {
				t.Fatalf("PutObject(%q): %v", key, err)
			}
			obj, err := s.OpenObject(ctx, "fuzz", key)
			if err != nil {
				t.Fatalf("OpenObject(%q): %v", key, err)
			}
			r, _ := obj.Reader(0, -1)
			got, _ := io.ReadAll(r)
			obj.Close()
			if !bytes.Equal(got, body) || obj.Info().Key != key {
				t.Fatalf("OpenObject(%q) = %q", key, got)
			}
			page, err := s.ListObjects(ctx, "fuzz", sluice.ListOptions{Prefix: key, MaxKeys: 1})
			if err != nil || len(page.Objects) != 1 || page.Objects[0].Key != key {
				t.Fatalf("ListObjects(prefix %q) = %+v, %v", key, page, err)
			}
			if err := s.DeleteObject(ctx, "fuzz", key); err != nil {
				t.Fatalf("DeleteObject(%q): %v", key, err)
			}
			if _, err := s.HeadObject(ctx, "fuzz", key); !sluice.IsCode(err, sluice.ErrNoSuchKey) {
				t.Fatalf("HeadObject(%q) after delete = %v", key, err)
			}
		}
		entries, err := os.ReadDir(root)
		if err != nil || len(entries) != 1 || entries[0].Name() != "data" {
			t.Fatalf("something was written beside the data dir: %v %v", entries, err)
		}
		objects, tmp := dataFiles(t, dir)
		if len(objects) != 0 || len(tmp) != 0 {
			t.Fatalf("after deleting %q: %d object files, %d temp files", key, len(objects), len(tmp))
		}
	})
}
