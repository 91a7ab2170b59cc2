package replicate

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/google/go-cmp/cmp"

	"github.com/sluicehq/sluice"
)

func (s *stack) versioning(bucket, state string) {
	s.t.Helper()
	if err := s.store.SetVersioning(context.Background(), bucket, state); err != nil {
		s.t.Fatalf("versioning of %s: %v", bucket, err)
	}
}

// putVersion writes bucket/key and returns the version it made.
func (s *stack) putVersion(bucket, key string, body []byte) sluice.ObjectInfo {
	s.t.Helper()
	info, err := s.store.PutObject(context.Background(), &sluice.PutObjectInput{Bucket: bucket, Key: key, Body: bytes.NewReader(body), Size: int64(len(body))})
	if err != nil {
		s.t.Fatalf("put %s/%s: %v", bucket, key, err)
	}
	return info
}

// version is one entry of a key's version list: its body, "" for a
// delete marker.
type version struct {
	Body   string
	Marker bool
}

// versions lists key's versions in bucket, newest first.
func (s *stack) versions(bucket, key string) []version {
	s.t.Helper()
	ctx := context.Background()
	page, err := s.store.ListVersions(ctx, bucket, sluice.ListVersionsOptions{Prefix: key, MaxKeys: 1000})
	if err != nil {
		s.t.Fatalf("list versions of %s: %v", bucket, err)
	}
	var out []version
	for _, v := range page.Versions {
		if v.Key != key {
			continue
		}
		if v.DeleteMarker {
			out = append(out, version{Marker: true})
			continue
		}
		obj, err := s.store.OpenVersion(ctx, bucket, key, v.VersionID)
		if err != nil {
			s.t.Fatalf("open %s/%s version %s: %v", bucket, key, v.VersionID, err)
		}
		rc, err := obj.Reader(0, -1)
		if err != nil {
			s.t.Fatal(err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		obj.Close()
		if err != nil {
			s.t.Fatal(err)
		}
		out = append(out, version{Body: string(b)})
	}
	return out
}

// TestVersionedTargetBucketCopy: from a versioned source, every version
// is copied (a new version on a versioned target), a delete marker is
// mirrored as a delete without a version id (a marker on a versioned
// target, a delete on an unversioned one), and a version deleted for good
// (a marker's removal included) is not mirrored. Inline copies (made in
// the source's transaction) and the pipeline's agree.
func TestVersionedTargetBucketCopy(t *testing.T) {
	for _, inline := range []bool{false, true} {
		name := "pipeline"
		if inline {
			name = "inline"
		}
		t.Run(name, func(t *testing.T) {
			s := newStack(t)
			for _, b := range []string{"src", "dst", "plain"} {
				s.mkBucket(b, "")
			}
			s.versioning("src", sluice.VersioningEnabled)
			s.versioning("dst", sluice.VersioningEnabled)
			s.tagBucket("src", "dst plain")
			r := s.startReplicator(testConfig(t.TempDir()))
			if inline {
				s.inline(r.Replicator)
			}
			ctx := context.Background()

			v1 := s.putVersion("src", "k", []byte("one"))
			v2 := s.putVersion("src", "k", []byte("two"))
			if v1.VersionID == "" || v2.VersionID == "" || v1.VersionID == v2.VersionID {
				t.Fatalf("source versions %q, %q", v1.VersionID, v2.VersionID)
			}
			s.caughtUp()
			if diff := cmp.Diff([]version{{Body: "two"}, {Body: "one"}}, s.versions("dst", "k")); diff != "" {
				t.Errorf("versioned target after two writes (-want +got):\n%s", diff)
			}
			if got := readObject(t, s.store, "plain", "k"); string(got) != "two" {
				t.Errorf("unversioned target has %q, want the newest write", got)
			}
			// Each version reports its own status, the older one too.
			for _, v := range []sluice.ObjectInfo{v1, v2} {
				if st := r.Status(ctx, "src", "k", v.VersionID, v.ETag); st != StatusCompleted {
					t.Errorf("status of version %s = %q, want COMPLETED", v.VersionID, st)
				}
			}

			marker, err := s.store.DeleteVersion(ctx, "src", "k", "")
			if err != nil || !marker.DeleteMarker {
				t.Fatalf("delete in the source: %+v, %v", marker, err)
			}
			s.caughtUp()
			if diff := cmp.Diff([]version{{Marker: true}, {Body: "two"}, {Body: "one"}}, s.versions("dst", "k")); diff != "" {
				t.Errorf("versioned target after the marker (-want +got):\n%s", diff)
			}
			if _, err := s.store.HeadObject(ctx, "plain", "k"); !sluice.IsCode(err, sluice.ErrNoSuchKey) {
				t.Errorf("unversioned target after the marker: %v, want NoSuchKey", err)
			}

			// Removing the marker restores the source's object; removing a
			// version for good changes it again. Neither is mirrored.
			if _, err := s.store.DeleteVersion(ctx, "src", "k", marker.VersionID); err != nil {
				t.Fatal(err)
			}
			if _, err := s.store.DeleteVersion(ctx, "src", "k", v1.VersionID); err != nil {
				t.Fatal(err)
			}
			s.caughtUp()
			if diff := cmp.Diff([]version{{Marker: true}, {Body: "two"}, {Body: "one"}}, s.versions("dst", "k")); diff != "" {
				t.Errorf("versioned target after version deletes (-want +got):\n%s", diff)
			}
			// The status of the version deleted for good went with it.
			if err := r.state.view(func(tx buckets) error {
				if v := tx.Bucket(bktVersionStatus).Get(versionStatusKey("src", "k", v1.VersionID)); v != nil {
					t.Errorf("status of deleted version %s kept: %s", v1.VersionID, v)
				}
				if v := tx.Bucket(bktVersionStatus).Get(versionStatusKey("src", "k", v2.VersionID)); v == nil {
					t.Errorf("status of version %s lost", v2.VersionID)
				}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			if got := readObject(t, s.store, "plain", "k"); got != nil {
				t.Errorf("unversioned target has %q after version deletes, want nothing", got)
			}

			// A newer marker is mirrored too: a second marker where the
			// target is versioned, nothing to do where it is not.
			if _, err := s.store.DeleteVersion(ctx, "src", "k", ""); err != nil {
				t.Fatal(err)
			}
			s.caughtUp()
			if diff := cmp.Diff([]version{{Marker: true}, {Marker: true}, {Body: "two"}, {Body: "one"}}, s.versions("dst", "k")); diff != "" {
				t.Errorf("versioned target after a second marker (-want +got):\n%s", diff)
			}

			// A write after it all is copied as usual.
			s.putVersion("src", "k", []byte("three"))
			s.caughtUp()
			if got := readObject(t, s.store, "dst", "k"); string(got) != "three" {
				t.Errorf("versioned target's current after a new write: %q", got)
			}
			if got := readObject(t, s.store, "plain", "k"); string(got) != "three" {
				t.Errorf("unversioned target after a new write: %q", got)
			}
			if st := r.Status(ctx, "src", "k", "", s.mustHead("src", "k").ETag); st != StatusCompleted {
				t.Errorf("status %q, want COMPLETED", st)
			}
		})
	}
}

func (s *stack) mustHead(bucket, key string) sluice.ObjectInfo {
	s.t.Helper()
	info, err := s.store.HeadObject(context.Background(), bucket, key)
	if err != nil {
		s.t.Fatal(err)
	}
	return info
}

// TestEachEventCopiesItsVersion: events read late copy the version they
// name, not whatever is current by then, in order, so an older event
// never copies a newer body under its older sequencer; replaying them
// once the newer copies landed changes nothing.
func TestEachEventCopiesItsVersion(t *testing.T) {
	s := newStack(t)
	s.mkBucket("src", "")
	s.mkBucket("dst", "")
	s.versioning("src", sluice.VersioningEnabled)
	s.versioning("dst", sluice.VersioningEnabled)
	s.tagBucket("src", "dst")
	ctx := context.Background()
	// Written before any replicator runs: its events are all read late.
	var first sluice.Event
	for i, b := range []string{"a", "b", "c"} {
		s.putVersion("src", "k", []byte(b))
		if i == 0 {
			first = s.lastEvent("src", "k")
		}
	}
	r := s.startReplicator(testConfig(t.TempDir()))
	s.caughtUp()
	want := []version{{Body: "c"}, {Body: "b"}, {Body: "a"}}
	if diff := cmp.Diff(want, s.versions("dst", "k")); diff != "" {
		t.Errorf("target versions (-want +got):\n%s", diff)
	}

	r.stop()
	evs, err := s.store.ReadEvents(ctx, 0, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	r2 := s.replicator()
	replay := &replayLog{EventLog: s.store}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); r2.run(rctx, replay, 0) }()
	poll(t, "replay acknowledged", func() bool { return replay.acked.Load() >= evs[len(evs)-1].Seq })
	cancel()
	<-done
	if diff := cmp.Diff(want, s.versions("dst", "k")); diff != "" {
		t.Errorf("target versions after a replay (-want +got):\n%s", diff)
	}

	// The oldest event, against the target that holds the newest copy.
	snap, err := s.store.OpenVersion(ctx, "src", "k", first.VersionID)
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Close()
	if _, result, err := r2.copyTo(ctx, first, snap, plan{Target: Target{Bucket: "dst"}, deletes: true}); err != nil || result != resultSuperseded {
		t.Errorf("oldest event again: %q, %v; want superseded", result, err)
	}
}

// TestGuardedVersionedDelete: a mirrored delete on a versioned target is
// checked against the target's applied record in its own transaction, as
// an unversioned one is.
func TestGuardedVersionedDelete(t *testing.T) {
	s := newStack(t)
	s.mkBucket("src", "")
	s.mkBucket("dst", "")
	s.versioning("src", sluice.VersioningEnabled)
	s.versioning("dst", sluice.VersioningEnabled)
	s.tagBucket("src", "dst")
	r := s.replicator()
	ctx := context.Background()
	s.putVersion("src", "k", []byte("old"))
	if _, err := s.store.DeleteVersion(ctx, "src", "k", ""); err != nil {
		t.Fatal(err)
	}
	olderMarker := s.lastEvent("src", "k")
	if olderMarker.Name != sluice.EventObjectRemovedMarker || olderMarker.VersionID == "" {
		t.Fatalf("delete in a versioned bucket recorded %+v", olderMarker)
	}
	s.inline(r)
	s.putVersion("src", "k", []byte("new"))
	if got := readObject(t, s.store, "dst", "k"); string(got) != "new" {
		t.Fatalf("inline copy has %q", got)
	}
	p := plan{Target: Target{Bucket: "dst"}, deletes: true}
	if _, result, err := r.deleteAt(ctx, olderMarker, p); err != nil || result != resultSuperseded {
		t.Errorf("older marker: %q, %v; want superseded", result, err)
	}
	gctx, ok := r.guarded(ctx, "local/dst", "k", olderMarker, applied{Sequencer: olderMarker.Sequencer, Deleted: true})
	if !ok {
		t.Fatal("the store offers no guarded writes")
	}
	if _, err := s.store.DeleteVersion(gctx, "dst", "k", ""); !errors.Is(err, errNotNewer) {
		t.Errorf("older guarded DeleteVersion: %v, want errNotNewer", err)
	}
	if diff := cmp.Diff([]version{{Body: "new"}}, s.versions("dst", "k")); diff != "" {
		t.Errorf("target versions (-want +got):\n%s", diff)
	}
}

// TestTaggingOldVersionNotCopied: retagging the current version is copied;
// retagging an older one is not, since the target has no counterpart of
// it and copying it would make it current there.
func TestTaggingOldVersionNotCopied(t *testing.T) {
	s := newStack(t)
	s.mkBucket("src", "")
	s.mkBucket("dst", "")
	s.versioning("src", sluice.VersioningEnabled)
	s.tagBucket("src", "dst")
	s.startReplicator(testConfig(t.TempDir()))
	ctx := context.Background()
	v1 := s.putVersion("src", "k", []byte("one"))
	s.putVersion("src", "k", []byte("two"))
	if _, err := s.store.PutVersionTags(ctx, "src", "k", v1.VersionID, []sluice.Tag{{Key: "old", Value: "yes"}}); err != nil {
		t.Fatal(err)
	}
	s.caughtUp()
	if got := readObject(t, s.store, "dst", "k"); string(got) != "two" {
		t.Errorf("after tagging the older version the target has %q, want two", got)
	}
	if tags := s.mustHead("dst", "k").Meta.Tags; len(tags) != 0 {
		t.Errorf("target tags %v, want none", tags)
	}
	if _, err := s.store.PutVersionTags(ctx, "src", "k", "", []sluice.Tag{{Key: "new", Value: "yes"}}); err != nil {
		t.Fatal(err)
	}
	s.caughtUp()
	if diff := cmp.Diff([]sluice.Tag{{Key: "new", Value: "yes"}}, s.mustHead("dst", "k").Meta.Tags); diff != "" {
		t.Errorf("target tags after tagging the current version (-want +got):\n%s", diff)
	}
}

// TestVersionedReplicationRules: with rules, a delete marker is mirrored
// only by a rule whose DeleteMarkerReplication is Enabled.
func TestVersionedReplicationRules(t *testing.T) {
	s := newStack(t)
	for _, b := range []string{"src", "with-markers", "without-markers"} {
		s.mkBucket(b, "")
		s.versioning(b, sluice.VersioningEnabled)
	}
	ctx := context.Background()
	rule := func(id string, priority int32, prefix, dest string, markers types.DeleteMarkerReplicationStatus) types.ReplicationRule {
		return types.ReplicationRule{ID: aws.String(id), Priority: aws.Int32(priority), Status: types.ReplicationRuleStatusEnabled,
			Filter:                  &types.ReplicationRuleFilter{Prefix: aws.String(prefix)},
			DeleteMarkerReplication: &types.DeleteMarkerReplication{Status: markers},
			Destination:             &types.Destination{Bucket: aws.String("arn:aws:s3:::" + dest)}}
	}
	if _, err := s.client.PutBucketReplication(ctx, &s3.PutBucketReplicationInput{
		Bucket: aws.String("src"),
		ReplicationConfiguration: &types.ReplicationConfiguration{Role: aws.String("arn:aws:iam::000000000000:role/replication"),
			Rules: []types.ReplicationRule{
				rule("markers", 2, "m/", "with-markers", types.DeleteMarkerReplicationStatusEnabled),
				rule("no-markers", 1, "n/", "without-markers", types.DeleteMarkerReplicationStatusDisabled),
			}},
	}); err != nil {
		t.Fatal(err)
	}
	s.startReplicator(testConfig(t.TempDir()))
	s.putVersion("src", "m/k", []byte("m"))
	s.putVersion("src", "n/k", []byte("n"))
	for _, k := range []string{"m/k", "n/k"} {
		if _, err := s.store.DeleteVersion(ctx, "src", k, ""); err != nil {
			t.Fatal(err)
		}
	}
	s.caughtUp()
	if diff := cmp.Diff([]version{{Marker: true}, {Body: "m"}}, s.versions("with-markers", "m/k")); diff != "" {
		t.Errorf("DeleteMarkerReplication Enabled (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]version{{Body: "n"}}, s.versions("without-markers", "n/k")); diff != "" {
		t.Errorf("DeleteMarkerReplication Disabled (-want +got):\n%s", diff)
	}
	if _, err := s.store.HeadObject(ctx, "src", "m/k"); !sluice.IsCode(err, sluice.ErrNoSuchKey) {
		t.Errorf("source after the delete: %v", err)
	}
}

// TestBuiltinVersionRecords: sluice-s3-copy copies the version a record
// names and skips a record of a version deleted for good.
func TestBuiltinVersionRecords(t *testing.T) {
	s := newStack(t)
	s.mkBucket("src", "")
	s.mkBucket("dst", "")
	s.versioning("src", sluice.VersioningEnabled)
	s.tagBucket("src", "dst")
	r := s.replicator()
	ctx := context.Background()
	s.putVersion("src", "k", []byte("one"))
	older := s.lastEvent("src", "k")
	s.putVersion("src", "k", []byte("two"))

	out, err := r.HandleS3Event(ctx, s3EventJSON(t, older))
	if err != nil {
		t.Fatal(err)
	}
	if got := readObject(t, s.store, "dst", "k"); string(got) != "one" {
		t.Errorf("the older version's record copied %q, want its own body", got)
	}
	var sum CopySummary
	if err := json.Unmarshal(out, &sum); err != nil || len(sum.Copied) != 1 {
		t.Fatalf("summary %s: %v", out, err)
	}

	gone := older
	gone.Name = sluice.EventObjectRemovedDelete
	out, err = r.HandleS3Event(ctx, s3EventJSON(t, gone))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(out, &sum); err != nil || len(sum.Skipped) != 1 || len(sum.Deleted) != 0 {
		t.Fatalf("version delete: summary %s: %v", out, err)
	}
	if got := readObject(t, s.store, "dst", "k"); string(got) != "one" {
		t.Errorf("a version delete reached the target: it has %q", got)
	}
}
