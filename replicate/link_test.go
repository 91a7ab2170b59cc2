package replicate

import (
	"bytes"
	"context"
	"io/fs"
	"path/filepath"
	"testing"

	"github.com/sluicehq/sluice"
)

// TestLocalCopyLinks checks that a copy to a bucket of the same store
// shares the source's data file instead of writing a second one, and that
// once the source's removal is mirrored no file is left.
func TestLocalCopyLinks(t *testing.T) {
	s := newTaggedStack(t)
	body := bytes.Repeat([]byte("sluice!"), 1<<17) // beyond the inline threshold
	if _, err := s.store.PutObject(context.Background(), &sluice.PutObjectInput{Bucket: "src", Key: "k", Body: bytes.NewReader(body), Size: int64(len(body))}); err != nil {
		t.Fatal(err)
	}
	s.startReplicator(testConfig(t.TempDir()))
	s.caughtUp()
	if got := readObject(t, s.store, "dst", "k"); !bytes.Equal(got, body) {
		t.Fatalf("copy has %d bytes, want the %d of the source", len(got), len(body))
	}
	if n := countFiles(t, filepath.Join(s.dir, "data", "objects")); n != 1 {
		t.Errorf("%d data files after a local copy, want 1 shared by source and copy", n)
	}
	if err := s.store.DeleteObject(context.Background(), "src", "k"); err != nil {
		t.Fatal(err)
	}
	s.caughtUp()
	if _, err := s.store.HeadObject(context.Background(), "dst", "k"); !sluice.IsCode(err, sluice.ErrNoSuchKey) {
		t.Fatalf("after the source's removal was mirrored, HeadObject(dst/k) = %v, want NoSuchKey", err)
	}
	if n := countFiles(t, filepath.Join(s.dir, "data", "objects")); n != 0 {
		t.Errorf("%d data files after both objects were deleted, want 0", n)
	}
}

func countFiles(t *testing.T, dir string) int {
	t.Helper()
	n := 0
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			n++
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}
