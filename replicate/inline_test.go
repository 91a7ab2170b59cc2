package replicate

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/prometheus/client_golang/prometheus"
	bolt "go.etcd.io/bbolt"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/fsstore"
	"github.com/sluicehq/sluice/internal/promtest"
)

// inline wires r into the store's writes as sluice serve does.
func (s *stack) inline(r *Replicator) {
	s.store.SetFanout(func(tx *fsstore.FanoutTx, obj sluice.ObjectInfo, seq string) error {
		return r.Inline(tx, obj, seq)
	})
	s.t.Cleanup(func() { s.store.SetFanout(nil) })
}

// TestInlineCopyCommitsWithSource: with the fanout installed, the copy to
// a bucket of the store exists as soon as the source's PUT returns, before
// the replicator has read the event, and has the source's bytes, ETag,
// metadata and tags; its status is COMPLETED at once, and the pipeline
// then makes no second copy.
func TestInlineCopyCommitsWithSource(t *testing.T) {
	for _, size := range []int{10, 300 << 10} { // inline body, and files
		s := newStack(t)
		s.mkBucket("src", "")
		s.mkBucket("dst", "")
		s.mkBucket("dst-eu", "eu-west-1")
		s.tagBucket("src", "dst dst-eu@eu-west-1")
		cfg := testConfig(t.TempDir())
		reg := prometheus.NewRegistry()
		cfg.Registerer = reg
		r, err := New(cfg, s.store, s.store, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		s.inline(r)

		body := bytes.Repeat([]byte("i"), size)
		meta := sluice.ObjectMeta{ContentType: "image/png", User: map[string]string{"who": "me"}, Tags: []sluice.Tag{{Key: "k", Value: "v"}}}
		ctx := context.Background()
		src, err := s.store.PutObject(ctx, &sluice.PutObjectInput{Bucket: "src", Key: "a b.png", Body: bytes.NewReader(body), Size: int64(size), Meta: meta})
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range []string{"dst", "dst-eu"} {
			info, err := s.store.HeadObject(ctx, b, "a b.png")
			if err != nil {
				t.Fatalf("size %d: copy in %s right after the PUT: %v", size, b, err)
			}
			if info.ETag != src.ETag || info.Meta.ContentType != "image/png" || info.Meta.User["who"] != "me" || len(info.Meta.Tags) != 1 {
				t.Errorf("size %d: copy in %s = %+v, source %+v", size, b, info, src)
			}
			if got := readObject(t, s.store, b, "a b.png"); !bytes.Equal(got, body) {
				t.Errorf("size %d: copy in %s has %d bytes", size, b, len(got))
			}
		}
		if st := r.Status(ctx, "src", "a b.png", "", src.ETag); st != StatusCompleted {
			t.Errorf("size %d: status %q right after the PUT, want COMPLETED", size, st)
		}
		before, _ := s.store.HeadObject(ctx, "dst", "a b.png")

		pipeCfg := testConfig(t.TempDir())
		pipeReg := prometheus.NewRegistry()
		pipeCfg.Registerer = pipeReg
		s.startReplicator(pipeCfg)
		s.caughtUp()
		after, _ := s.store.HeadObject(ctx, "dst", "a b.png")
		if !after.LastModified.Equal(before.LastModified) {
			t.Errorf("size %d: the pipeline wrote the copy again (%v then %v)", size, before.LastModified, after.LastModified)
		}
		if got := promtest.Series(t, reg, "sluice_replicate_copies_total"); got["result=copied,target=local"] != 2 || len(got) != 1 {
			t.Errorf("size %d: inline copies counted %v, want 2 copied", size, got)
		}
		if got := promtest.Series(t, pipeReg, "sluice_replicate_copies_total"); len(got) != 0 {
			t.Errorf("size %d: the pipeline counted %v for events already copied inline, want nothing", size, got)
		}
	}
}

// TestInlineLeavesRulesAndMissingTargetsToThePipeline: a bucket with
// replication rules, or a target that does not exist, is not copied in
// the source's transaction; the pipeline copies (or dead-letters) it.
func TestInlineLeavesRulesAndMissingTargetsToThePipeline(t *testing.T) {
	s := newStack(t)
	s.mkBucket("src", "")
	s.mkBucket("dst", "")
	s.tagBucket("src", "dst nowhere")
	r := s.replicator()
	s.inline(r)
	ctx := context.Background()
	src := s.put("src", "k", []byte("v"))
	if _, err := s.store.HeadObject(ctx, "dst", "k"); err != nil {
		t.Fatalf("the target that exists was not copied inline: %v", err)
	}
	// One target is missing: the status waits for the pipeline.
	if st := r.Status(ctx, "src", "k", "", src); st != StatusPending {
		t.Errorf("status %q with a target left to the pipeline, want PENDING", st)
	}
	run := s.startReplicator(testConfig(t.TempDir()))
	s.caughtUp()
	if st := r.Status(ctx, "src", "k", "", src); st != StatusFailed {
		t.Errorf("status %q once the missing target is dead-lettered, want FAILED", st)
	}
	run.stop()

	// With replication rules, the pipeline makes every copy.
	s.mkBucket("ruled", "")
	s.mkBucket("dst-ruled", "")
	s.versioning("ruled", sluice.VersioningEnabled)
	s.versioning("dst-ruled", sluice.VersioningEnabled)
	s.tagBucket("ruled", "dst")
	if _, err := s.client.PutBucketReplication(ctx, &s3.PutBucketReplicationInput{
		Bucket: aws.String("ruled"),
		ReplicationConfiguration: &types.ReplicationConfiguration{
			Role: aws.String("arn:aws:iam::000000000000:role/replication"),
			Rules: []types.ReplicationRule{{ID: aws.String("all"), Priority: aws.Int32(1), Status: types.ReplicationRuleStatusEnabled,
				Filter:                  &types.ReplicationRuleFilter{Prefix: aws.String("")},
				DeleteMarkerReplication: &types.DeleteMarkerReplication{Status: types.DeleteMarkerReplicationStatusDisabled},
				Destination:             &types.Destination{Bucket: aws.String("arn:aws:s3:::dst-ruled")}}},
		},
	}); err != nil {
		t.Fatal(err)
	}
	s.put("ruled", "r", []byte("v"))
	if _, err := s.store.HeadObject(ctx, "dst", "r"); !sluice.IsCode(err, sluice.ErrNoSuchKey) {
		t.Errorf("a bucket with replication rules was copied inline: %v", err)
	}
	s.startReplicator(testConfig(t.TempDir()))
	s.caughtUp()
	for _, b := range []string{"dst", "dst-ruled"} {
		if got := readObject(t, s.store, b, "r"); string(got) != "v" {
			t.Errorf("pipeline copy in %s has %q", b, got)
		}
	}
}

// TestOlderCopyNeverOverwritesInline: a copy or delete of an older event
// that the pipeline had under way when a newer write was copied inline
// must not land over it. The older snapshot is taken, the newer write
// commits (copied inline), then the older copy and delete run.
func TestOlderCopyNeverOverwritesInline(t *testing.T) {
	s := newTaggedStack(t)
	r := s.replicator()
	ctx := context.Background()

	// The older write, not copied inline: the pipeline's to do.
	s.put("src", "k", []byte("old"))
	old := s.lastEvent("src", "k")
	snap, err := s.store.OpenObject(ctx, "src", "k")
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Close()

	s.inline(r)
	s.put("src", "k", []byte("new"))
	if got := readObject(t, s.store, "dst", "k"); string(got) != "new" {
		t.Fatalf("inline copy has %q", got)
	}

	p := plan{Target: Target{Bucket: "dst"}, deletes: true}
	if _, result, err := r.copyTo(ctx, old, snap, p); err != nil || result != resultSuperseded {
		t.Errorf("older copy: result %q, %v; want superseded", result, err)
	}
	older := old
	older.Name = sluice.EventObjectRemovedDelete
	if _, result, err := r.deleteAt(ctx, older, p); err != nil || result != resultSuperseded {
		t.Errorf("older delete: result %q, %v; want superseded", result, err)
	}
	// The same, when the older event's check of the applied record came
	// before the newer write: only the write's own transaction can tell.
	gctx, ok := r.guarded(ctx, "local/dst", "k", old, applied{Sequencer: old.Sequencer, ETag: old.ETag})
	if !ok {
		t.Fatal("the store offers no guarded writes")
	}
	if _, err := r.copyLocal(gctx, "dst", "k", snap, snap.Info().Meta); !errors.Is(err, errNotNewer) {
		t.Errorf("older guarded copy: %v, want errNotNewer", err)
	}
	if err := s.store.DeleteObject(gctx, "dst", "k"); !errors.Is(err, errNotNewer) {
		t.Errorf("older guarded delete: %v, want errNotNewer", err)
	}
	if got := readObject(t, s.store, "dst", "k"); string(got) != "new" {
		t.Fatalf("after the older copy and delete ran, the target has %q, want the newer write", got)
	}

	// A newer delete goes through, and a write after it is copied again.
	if err := s.store.DeleteObject(ctx, "src", "k"); err != nil {
		t.Fatal(err)
	}
	if _, result, err := r.deleteAt(ctx, s.lastEvent("src", "k"), p); err != nil || result != resultDeleted {
		t.Fatalf("newer delete: result %q, %v; want deleted", result, err)
	}
	if _, err := s.store.HeadObject(ctx, "dst", "k"); !sluice.IsCode(err, sluice.ErrNoSuchKey) {
		t.Fatalf("after the newer delete: %v, want NoSuchKey", err)
	}
	s.put("src", "k", []byte("again"))
	if got := readObject(t, s.store, "dst", "k"); string(got) != "again" {
		t.Fatalf("write after the delete: target has %q", got)
	}
}

// TestInlineStatusFromAppliedRecords: a write copied inline records no
// status of its own; Status reads COMPLETED from the targets' applied
// records. A status recorded for an older change of the same bytes (an
// older event's copy that failed late) does not hide it, one recorded for
// a later change does, and one left from before the inline copy is
// dropped by it.
func TestInlineStatusFromAppliedRecords(t *testing.T) {
	s := newTaggedStack(t)
	r := s.replicator()
	ctx := context.Background()
	statusRec := func() []byte {
		t.Helper()
		var v []byte
		if err := s.store.ViewState(Consumer, func(b *bolt.Bucket) error {
			if st := b.Bucket(bktStatus); st != nil {
				v = bytes.Clone(st.Get(indexKey("src", "k")))
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return v
	}
	setStatus := func(rec statusRecord) {
		t.Helper()
		if err := r.commit(stateWrite{status: &statusAt{bucket: "src", key: "k", rec: rec}}); err != nil {
			t.Fatal(err)
		}
	}

	// A status from before the inline copies began (say, a pipeline
	// copy's FAILED) is dropped by the first inline copy.
	etag := unquote(s.put("src", "k", []byte("same bytes")))
	setStatus(statusRecord{ETag: etag, Status: StatusFailed, Sequencer: "00"})
	s.inline(r)
	etag = unquote(s.put("src", "k", []byte("same bytes")))
	if v := statusRec(); v != nil {
		t.Fatalf("status record %s after an inline copy, want none", v)
	}
	if st := r.Status(ctx, "src", "k", "", etag); st != StatusCompleted {
		t.Fatalf("status %q after the inline copy, want COMPLETED", st)
	}
	a, found, err := r.lookup("local/dst", "k")
	if err != nil || !found {
		t.Fatalf("applied record: found %v, err %v", found, err)
	}

	setStatus(statusRecord{ETag: etag, Status: StatusFailed, Sequencer: "01"})
	if st := r.Status(ctx, "src", "k", "", etag); st != StatusCompleted {
		t.Errorf("status %q with an older change's FAILED recorded late, want COMPLETED", st)
	}
	setStatus(statusRecord{ETag: etag, Status: StatusFailed, Sequencer: a.Sequencer + "0"})
	if st := r.Status(ctx, "src", "k", "", etag); st != StatusFailed {
		t.Errorf("status %q with a later change's FAILED, want FAILED", st)
	}
	if st := r.Status(ctx, "src", "k", "", `"other"`); st != StatusPending {
		t.Errorf("status %q of other bytes, want PENDING", st)
	}
}
