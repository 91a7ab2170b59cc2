package fsstore_test

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/fsstore"
)

// TestBucketConfigCache walks a bucket's configuration through changes
// that must each be visible to the next read, although reads are served
// from a cache.
func TestBucketConfigCache(t *testing.T) {
	ctx := context.Background()
	s, err := fsstore.Open(fsstore.Config{Dir: t.TempDir(), NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	get := func() (string, error) {
		doc, err := s.BucketConfig(ctx, "b", "policy")
		return string(doc), err
	}
	if _, err := get(); sluice.ErrorCode(err) != sluice.ErrNoSuchBucket {
		t.Fatalf("config of a missing bucket: %v, want NoSuchBucket", err)
	}
	if _, err := s.PutObject(ctx, &sluice.PutObjectInput{Bucket: "b", Key: "k"}); sluice.ErrorCode(err) != sluice.ErrNoSuchBucket {
		t.Fatalf("put into a missing bucket: %v, want NoSuchBucket", err)
	}
	mustBucket(t, s, "b")
	steps := []struct {
		name string
		doc  []byte
		want string
	}{
		{"set", []byte("one"), "one"},
		{"replace", []byte("two"), "two"},
		{"delete", nil, ""},
		{"set again", []byte("three"), "three"},
	}
	for _, st := range steps {
		if err := s.PutBucketConfig(ctx, "b", "policy", st.doc); err != nil {
			t.Fatal(err)
		}
		if got, err := get(); got != st.want || err != nil {
			t.Errorf("%s: config = %q, %v, want %q", st.name, got, err, st.want)
		}
	}
	// Callers own what they get.
	doc, _ := s.BucketConfig(ctx, "b", "policy")
	doc[0] = 'X'
	if got, _ := get(); got != "three" {
		t.Errorf("config after the caller changed its copy = %q", got)
	}
	if err := s.PutBucketConfig(ctx, "b", "policy", nil); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteBucket(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	if _, err := get(); sluice.ErrorCode(err) != sluice.ErrNoSuchBucket {
		t.Errorf("config after DeleteBucket: %v, want NoSuchBucket", err)
	}
	if _, err := s.PutObject(ctx, &sluice.PutObjectInput{Bucket: "b", Key: "k"}); sluice.ErrorCode(err) != sluice.ErrNoSuchBucket {
		t.Errorf("put after DeleteBucket: %v, want NoSuchBucket", err)
	}
	mustBucket(t, s, "b")
	if got, err := get(); got != "" || err != nil {
		t.Errorf("config of a recreated bucket = %q, %v, want none", got, err)
	}
}

// TestBucketConfigCacheConcurrent has readers check that once a change has
// returned, no read serves a document older than it.
func TestBucketConfigCacheConcurrent(t *testing.T) {
	ctx := context.Background()
	s, err := fsstore.Open(fsstore.Config{Dir: t.TempDir(), NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	mustBucket(t, s, "b")
	const versions = 200
	var done atomic.Int64 // the last version whose PutBucketConfig returned
	var stop atomic.Bool
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				floor := done.Load()
				doc, err := s.BucketConfig(ctx, "b", "v")
				if err != nil {
					t.Error(err)
					return
				}
				got := int64(0)
				if doc != nil {
					got, _ = strconv.ParseInt(string(doc), 10, 64)
				}
				if got < floor {
					t.Errorf("read version %d after version %d was stored", got, floor)
					return
				}
			}
		}()
	}
	for v := int64(1); v <= versions; v++ {
		if err := s.PutBucketConfig(ctx, "b", "v", []byte(strconv.FormatInt(v, 10))); err != nil {
			t.Fatal(err)
		}
		done.Store(v)
	}
	stop.Store(true)
	wg.Wait()
}
