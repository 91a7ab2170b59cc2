package fsstore

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sluicehq/sluice"
	bolt "go.etcd.io/bbolt"
)

// TestConsumerState writes a consumer's records, reads them back, after a
// reopen too, and keeps consumers apart.
func TestConsumerState(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(Config{Dir: dir, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := s.ViewState("replicate", func(*bolt.Bucket) error { return nil }); !errors.Is(err, errNoState) {
		t.Fatalf("ViewState before any update: %v, want errNoState", err)
	}
	if err := s.UpdateState(ctx, "", func(*bolt.Bucket) error { return nil }); !sluice.IsCode(err, sluice.ErrInvalidArgument) {
		t.Fatalf("UpdateState without a consumer: %v, want InvalidArgument", err)
	}
	put := func(consumer, k, v string) {
		t.Helper()
		if err := s.UpdateState(ctx, consumer, func(b *bolt.Bucket) error { return b.Put([]byte(k), []byte(v)) }); err != nil {
			t.Fatal(err)
		}
	}
	put("replicate", "k", "v1")
	put("other", "k", "theirs")
	put("replicate", "k", "v2")
	// A failing update leaves nothing behind.
	boom := errors.New("boom")
	if err := s.UpdateState(ctx, "replicate", func(b *bolt.Bucket) error {
		if err := b.Put([]byte("k"), []byte("never")); err != nil {
			return err
		}
		return boom
	}); !errors.Is(err, boom) {
		t.Fatalf("failing update: %v, want boom", err)
	}
	get := func(s *Store, consumer string) string {
		t.Helper()
		var v []byte
		if err := s.ViewState(consumer, func(b *bolt.Bucket) error {
			v = bytes.Clone(b.Get([]byte("k")))
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return string(v)
	}
	if got := get(s, "replicate"); got != "v2" {
		t.Errorf("replicate's k = %q, want v2", got)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(Config{Dir: dir, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got, other := get(s, "replicate"), get(s, "other"); got != "v2" || other != "theirs" {
		t.Errorf("after reopen: replicate's k = %q, other's = %q; want v2, theirs", got, other)
	}
}

// TestJoinCommitsWaitsForAWrite links under JoinCommits with no write in
// sight: the link waits for the next write and shares its group, and it
// commits on its own once the wait runs out.
func TestJoinCommitsWaitsForAWrite(t *testing.T) {
	s, err := Open(Config{Dir: t.TempDir(), NoSync: true, RecordEvents: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	for _, b := range []string{"src", "dst"} {
		if err := s.CreateBucket(ctx, sluice.Bucket{Name: b}); err != nil {
			t.Fatal(err)
		}
	}
	src, err := s.PutObject(ctx, &sluice.PutObjectInput{Bucket: "src", Key: "k", Body: bytes.NewReader([]byte("body")), Size: 4})
	if err != nil {
		t.Fatal(err)
	}
	s.committer.lazyDelay = time.Hour
	before := s.committer.groups.Load()
	linked := make(chan error, 1)
	go func() {
		_, err := s.LinkObject(s.JoinCommits(ctx), src, &sluice.PutObjectInput{Bucket: "dst", Key: "k"})
		linked <- err
	}()
	waitQueued(t, s, 1)
	if _, err := s.PutObject(ctx, &sluice.PutObjectInput{Bucket: "src", Key: "other", Body: bytes.NewReader(nil)}); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-linked:
		if err != nil {
			t.Fatalf("link: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("link not committed with the next write")
	}
	if groups := s.committer.groups.Load() - before; groups != 1 {
		t.Errorf("%d groups committed the write and the link, want 1", groups)
	}

	// Alone, a joining change leads after the delay.
	s.committer.mu.Lock()
	s.committer.lazyDelay = time.Millisecond
	s.committer.mu.Unlock()
	if err := s.DeleteObject(s.JoinCommits(ctx), "dst", "k"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.OpenObject(ctx, "dst", "k"); !sluice.IsCode(err, sluice.ErrNoSuchKey) {
		t.Fatalf("after a joined delete, open: %v, want NoSuchKey", err)
	}
}

func waitQueued(t *testing.T, s *Store, n int) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; {
		s.committer.mu.Lock()
		queued := len(s.committer.queue)
		s.committer.mu.Unlock()
		if queued == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d changes queued, want %d", queued, n)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestEventRegionFollowsBucket records events of a bucket deleted and
// created again in another region: each event names the region the bucket
// had when it was written.
func TestEventRegionFollowsBucket(t *testing.T) {
	s, err := Open(Config{Dir: t.TempDir(), NoSync: true, RecordEvents: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	var want []string
	for _, region := range []string{"eu-west-1", "us-west-2", "eu-west-1"} {
		if err := s.CreateBucket(ctx, sluice.Bucket{Name: "r", Region: region}); err != nil {
			t.Fatal(err)
		}
		for range 2 {
			if _, err := s.PutObject(ctx, &sluice.PutObjectInput{Bucket: "r", Key: "k", Body: bytes.NewReader(nil)}); err != nil {
				t.Fatal(err)
			}
			want = append(want, region)
		}
		if err := s.DeleteObject(ctx, "r", "k"); err != nil {
			t.Fatal(err)
		}
		want = append(want, region)
		if err := s.DeleteBucket(ctx, "r"); err != nil {
			t.Fatal(err)
		}
	}
	evs, err := s.ReadEvents(ctx, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, ev := range evs {
		got = append(got, ev.Region)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("event regions (-want +got):\n%s", diff)
	}
}
