package storetest

import (
	"bytes"
	"context"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/sluicehq/sluice"
)

func testBuckets(t *testing.T, s sluice.Store) {
	ctx := context.Background()
	name := newBucket(t, s)
	b, err := s.Bucket(ctx, name)
	if err != nil {
		t.Fatalf("Bucket: %v", err)
	}
	if b.Name != name || b.Region != sluice.DefaultRegion {
		t.Errorf("Bucket = %+v, want name %q region %q", b, name, sluice.DefaultRegion)
	}
	if b.Created.IsZero() || time.Since(b.Created) > time.Hour {
		t.Errorf("Created = %v, want about now", b.Created)
	}

	err = s.CreateBucket(ctx, sluice.Bucket{Name: name})
	wantCode(t, "CreateBucket again", err, sluice.ErrBucketAlreadyOwnedByYou)

	created := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	other := name + "-eu"
	if err := s.CreateBucket(ctx, sluice.Bucket{Name: other, Region: "eu-west-1", Created: created}); err != nil {
		t.Fatalf("CreateBucket(%q): %v", other, err)
	}
	got, err := s.Bucket(ctx, other)
	if err != nil {
		t.Fatalf("Bucket(%q): %v", other, err)
	}
	if diff := cmp.Diff(sluice.Bucket{Name: other, Region: "eu-west-1", Created: created}, got); diff != "" {
		t.Errorf("Bucket(%q) mismatch (-want +got):\n%s", other, diff)
	}

	list, err := s.ListBuckets(ctx)
	if err != nil {
		t.Fatalf("ListBuckets: %v", err)
	}
	var names []string
	for _, b := range list {
		names = append(names, b.Name)
	}
	if !slices.IsSorted(names) {
		t.Errorf("ListBuckets not in name order: %q", names)
	}
	if !slices.Contains(names, name) || !slices.Contains(names, other) {
		t.Errorf("ListBuckets = %q, want it to contain %q and %q", names, name, other)
	}

	_, err = s.Bucket(ctx, name+"-missing")
	wantCode(t, "Bucket(missing)", err, sluice.ErrNoSuchBucket)
}

func testBucketConfig(t *testing.T, s sluice.Store) {
	ctx := context.Background()
	b := newBucket(t, s)
	for _, kind := range []string{sluice.ConfigPolicy, sluice.ConfigTagging, sluice.ConfigNotification, sluice.ConfigReplication, sluice.ConfigCORS} {
		doc, err := s.BucketConfig(ctx, b, kind)
		if err != nil || doc != nil {
			t.Errorf("BucketConfig(%s) unset = %q, %v; want nil, nil", kind, doc, err)
		}
	}
	policy := []byte(`{"Version":"2012-10-17","Statement":[]}`)
	tagging := []byte(`<Tagging><TagSet/></Tagging>`)
	if err := s.PutBucketConfig(ctx, b, sluice.ConfigPolicy, policy); err != nil {
		t.Fatalf("PutBucketConfig(policy): %v", err)
	}
	if err := s.PutBucketConfig(ctx, b, sluice.ConfigTagging, tagging); err != nil {
		t.Fatalf("PutBucketConfig(tagging): %v", err)
	}
	for kind, want := range map[string][]byte{sluice.ConfigPolicy: policy, sluice.ConfigTagging: tagging} {
		got, err := s.BucketConfig(ctx, b, kind)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("BucketConfig(%s) = %q, %v; want %q", kind, got, err, want)
		}
	}
	replaced := []byte(`{"Version":"2012-10-17"}`)
	if err := s.PutBucketConfig(ctx, b, sluice.ConfigPolicy, replaced); err != nil {
		t.Fatalf("PutBucketConfig(policy) again: %v", err)
	}
	if got, _ := s.BucketConfig(ctx, b, sluice.ConfigPolicy); !bytes.Equal(got, replaced) {
		t.Errorf("replaced policy = %q, want %q", got, replaced)
	}
	if err := s.PutBucketConfig(ctx, b, sluice.ConfigPolicy, nil); err != nil {
		t.Fatalf("PutBucketConfig(nil): %v", err)
	}
	if got, err := s.BucketConfig(ctx, b, sluice.ConfigPolicy); got != nil || err != nil {
		t.Errorf("deleted policy = %q, %v; want nil, nil", got, err)
	}
	if got, _ := s.BucketConfig(ctx, b, sluice.ConfigTagging); !bytes.Equal(got, tagging) {
		t.Errorf("tagging after deleting policy = %q, want %q", got, tagging)
	}

	missing := b + "-missing"
	_, err := s.BucketConfig(ctx, missing, sluice.ConfigPolicy)
	wantCode(t, "BucketConfig(missing bucket)", err, sluice.ErrNoSuchBucket)
	err = s.PutBucketConfig(ctx, missing, sluice.ConfigPolicy, policy)
	wantCode(t, "PutBucketConfig(missing bucket)", err, sluice.ErrNoSuchBucket)
}

func testDeleteBucket(t *testing.T, s sluice.Store) {
	ctx := context.Background()
	b := newBucket(t, s)

	put(t, s, b, "k", []byte("v"))
	wantCode(t, "DeleteBucket with object", s.DeleteBucket(ctx, b), sluice.ErrBucketNotEmpty)
	if err := s.DeleteObject(ctx, b, "k"); err != nil {
		t.Fatalf("DeleteObject: %v", err)
	}

	up, err := s.CreateUpload(ctx, &sluice.CreateUploadInput{Bucket: b, Key: "u"})
	if err != nil {
		t.Fatalf("CreateUpload: %v", err)
	}
	wantCode(t, "DeleteBucket with upload", s.DeleteBucket(ctx, b), sluice.ErrBucketNotEmpty)
	if err := s.AbortUpload(ctx, b, "u", up.UploadID); err != nil {
		t.Fatalf("AbortUpload: %v", err)
	}

	if err := s.PutBucketConfig(ctx, b, sluice.ConfigPolicy, []byte("{}")); err != nil {
		t.Fatalf("PutBucketConfig: %v", err)
	}
	if err := s.DeleteBucket(ctx, b); err != nil {
		t.Fatalf("DeleteBucket(empty): %v", err)
	}
	_, err = s.Bucket(ctx, b)
	wantCode(t, "Bucket after delete", err, sluice.ErrNoSuchBucket)
	wantCode(t, "DeleteBucket again", s.DeleteBucket(ctx, b), sluice.ErrNoSuchBucket)

	// A re-created bucket starts empty: no configuration survives.
	if err := s.CreateBucket(ctx, sluice.Bucket{Name: b}); err != nil {
		t.Fatalf("re-CreateBucket: %v", err)
	}
	if doc, err := s.BucketConfig(ctx, b, sluice.ConfigPolicy); doc != nil || err != nil {
		t.Errorf("policy of re-created bucket = %q, %v; want nil, nil", doc, err)
	}
	page, err := s.ListObjects(ctx, b, sluice.ListOptions{MaxKeys: 1000})
	if err != nil || len(page.Objects) != 0 {
		t.Errorf("ListObjects(re-created) = %d objects, %v; want none", len(page.Objects), err)
	}
}
