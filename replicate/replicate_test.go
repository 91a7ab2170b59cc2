package replicate

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"io"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/google/go-cmp/cmp"
	"golang.org/x/sync/errgroup"

	"github.com/sluicehq/sluice"
)

func TestTargetBucketTagCopiesAndDeletes(t *testing.T) {
	s := newStack(t)
	s.mkBucket("photos", "")
	s.mkBucket("backup", "")
	s.mkBucket("backup-eu", "eu-west-1")
	s.tagBucket("photos", "backup backup-eu@eu-west-1")
	r := s.startReplicator(testConfig(t.TempDir()))

	body := []byte("a photo, honestly")
	_, err := s.client.PutObject(context.Background(), &s3.PutObjectInput{
		Bucket: aws.String("photos"), Key: aws.String("2025/cat.jpg"), Body: bytes.NewReader(body),
		ContentType: aws.String("image/jpeg"), CacheControl: aws.String("max-age=60"),
		ContentDisposition: aws.String("inline"), Metadata: map[string]string{"camera": "x100"},
		Tagging: aws.String("kind=cat&shot=1"),
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, target := range []string{"backup", "backup-eu"} {
		poll(t, "copy in "+target, func() bool { b, _ := getObject(t, s.client, target, "2025/cat.jpg"); return b != nil })
		got, out := getObject(t, s.client, target, "2025/cat.jpg")
		if !bytes.Equal(got, body) {
			t.Errorf("%s: body %q, want %q", target, got, body)
		}
		type meta struct {
			ContentType, CacheControl, Disposition, ETag string
			User                                         map[string]string
		}
		want := meta{"image/jpeg", "max-age=60", "inline", fmt.Sprintf("%q", md5hex(body)), map[string]string{"camera": "x100"}}
		gotm := meta{aws.ToString(out.ContentType), aws.ToString(out.CacheControl), aws.ToString(out.ContentDisposition), aws.ToString(out.ETag), out.Metadata}
		if diff := cmp.Diff(want, gotm); diff != "" {
			t.Errorf("%s: metadata (-want +got):\n%s", target, diff)
		}
		if diff := cmp.Diff(map[string]string{"kind": "cat", "shot": "1"}, objectTags(t, s.client, target, "2025/cat.jpg")); diff != "" {
			t.Errorf("%s: tags (-want +got):\n%s", target, diff)
		}
	}
	poll(t, "status COMPLETED", func() bool {
		return r.Status(context.Background(), "photos", "2025/cat.jpg", "", `"`+md5hex(body)+`"`) == StatusCompleted
	})
	if got := r.Status(context.Background(), "backup", "2025/cat.jpg", "", `"`+md5hex(body)+`"`); got != StatusReplica {
		t.Errorf("target status %q, want REPLICA", got)
	}

	if _, err := s.client.DeleteObject(context.Background(), &s3.DeleteObjectInput{Bucket: aws.String("photos"), Key: aws.String("2025/cat.jpg")}); err != nil {
		t.Fatal(err)
	}
	for _, target := range []string{"backup", "backup-eu"} {
		poll(t, "delete mirrored in "+target, func() bool { b, _ := getObject(t, s.client, target, "2025/cat.jpg"); return b == nil })
	}

	s.tagBucket("photos", "")
	s.put("photos", "after-untag", []byte("stays home"))
	s.caughtUp()
	for _, target := range []string{"backup", "backup-eu"} {
		if b, _ := getObject(t, s.client, target, "after-untag"); b != nil {
			t.Errorf("%s: object written after the tag was removed was copied", target)
		}
	}
}

func md5hex(b []byte) string {
	return fmt.Sprintf("%x", md5sum(b))
}

func TestReplayCopiesNothingTwice(t *testing.T) {
	s := newTaggedStack(t)
	// The stack's spy consumer keeps the outbox from being pruned, so the
	// events can be replayed and the target's writes counted.
	ctx := context.Background()
	r := s.startReplicator(testConfig(t.TempDir()))
	for i := range 5 {
		s.put("src", fmt.Sprintf("k%d", i), []byte(fmt.Sprintf("v%d", i)))
	}
	s.caughtUp()
	countWrites := func() int {
		evs, err := s.store.ReadEvents(ctx, 0, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, ev := range evs {
			if ev.Bucket == "dst" && strings.HasPrefix(ev.Name, "ObjectCreated:") {
				n++
			}
		}
		return n
	}
	if got := countWrites(); got != 5 {
		t.Fatalf("target writes after first pass = %d, want 5", got)
	}
	// Replay the whole outbox, as after losing the cursor.
	evs, err := s.store.ReadEvents(ctx, 0, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	last := evs[len(evs)-1].Seq
	replay := &replayLog{EventLog: s.store}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); r.run(rctx, replay, 0) }()
	poll(t, "replay acknowledged", func() bool { return replay.acked.Load() >= last })
	cancel()
	<-done
	if got := countWrites(); got != 5 {
		t.Errorf("target writes after replay = %d, want still 5", got)
	}
}

// replayLog reads the store's outbox but keeps its acknowledgements to
// itself, so a replay leaves the real cursor alone.
type replayLog struct {
	sluice.EventLog
	acked atomic.Uint64
}

func (l *replayLog) AckEvents(_ context.Context, _ string, seq uint64) error {
	l.acked.Store(seq)
	return nil
}

func TestNewerWriteWins(t *testing.T) {
	s := newTaggedStack(t)
	s.startReplicator(testConfig(t.TempDir()))
	for i := range 20 {
		s.put("src", "hot", []byte(fmt.Sprintf("version %d", i)))
	}
	s.caughtUp()
	got, _ := getObject(t, s.client, "dst", "hot")
	if string(got) != "version 19" {
		t.Errorf("target holds %q, want the newest write", got)
	}
	// An older event replayed after the newer one was applied changes nothing.
	s.put("src", "hot", []byte("final"))
	s.caughtUp()
	if got, _ := getObject(t, s.client, "dst", "hot"); string(got) != "final" {
		t.Errorf("target holds %q, want final", got)
	}
}

func TestLargeObjectStreams(t *testing.T) {
	if testing.Short() {
		t.Skip("64 MiB copy")
	}
	s := newTaggedStack(t)
	const size = 64 << 20
	h := sha256.New()
	body := io.TeeReader(io.LimitReader(rand.Reader, size), h)
	// Write through the store so the test itself never holds the object.
	if _, err := s.store.PutObject(context.Background(), &sluice.PutObjectInput{Bucket: "src", Key: "big", Body: body, Size: size}); err != nil {
		t.Fatal(err)
	}
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	s.startReplicator(testConfig(t.TempDir()))
	s.caughtUp()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > size/2 {
		t.Errorf("copying %d bytes allocated %d bytes: the copy is not streaming", size, alloc)
	}
	obj, err := s.store.OpenObject(context.Background(), "dst", "big")
	if err != nil {
		t.Fatal(err)
	}
	defer obj.Close()
	rc, err := obj.Reader(0, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	h2 := sha256.New()
	if _, err := io.Copy(h2, rc); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(h.Sum(nil), h2.Sum(nil)) {
		t.Error("copy differs from the source")
	}
}

func TestRestartCompletesEveryCopy(t *testing.T) {
	s := newTaggedStack(t)
	dir := t.TempDir()
	r1 := s.startReplicator(testConfig(dir))
	const n = 60
	for i := range n {
		s.put("src", fmt.Sprintf("obj-%03d", i), bytes.Repeat([]byte{byte(i)}, 1000+i))
	}
	poll(t, "first copy", func() bool { b, _ := getObject(t, s.client, "dst", "obj-000"); return b != nil })
	r1.stop()
	s.startReplicator(testConfig(dir))
	s.caughtUp()
	for i := range n {
		key := fmt.Sprintf("obj-%03d", i)
		got, _ := getObject(t, s.client, "dst", key)
		if !bytes.Equal(got, bytes.Repeat([]byte{byte(i)}, 1000+i)) {
			t.Errorf("%s: copy missing or different after restart", key)
		}
	}
}

func TestMissingTargetIsDeadLettered(t *testing.T) {
	s := newStack(t)
	s.mkBucket("src", "")
	s.mkBucket("dst", "")
	s.mkBucket("elsewhere", "ap-south-1")
	s.tagBucket("src", "no-such-bucket dst elsewhere@eu-west-1")
	r := s.startReplicator(testConfig(t.TempDir()))
	etag := s.put("src", "k", []byte("data"))
	s.put("src", "later", []byte("still flows"))
	s.caughtUp()
	if got, _ := getObject(t, s.client, "dst", "later"); string(got) != "still flows" {
		t.Errorf("later event blocked: dst/later = %q", got)
	}
	dead, err := r.DeadLetters()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, d := range dead {
		got = append(got, d.Event.Key+"→"+d.Target)
	}
	want := []string{"k→elsewhere@eu-west-1", "k→no-such-bucket", "later→elsewhere@eu-west-1", "later→no-such-bucket"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("dead letters (-want +got):\n%s", diff)
	}
	if st := r.Status(context.Background(), "src", "k", "", etag); st != StatusFailed {
		t.Errorf("status %q, want FAILED", st)
	}
}

func TestReplicationRules(t *testing.T) {
	s := newStack(t)
	for _, b := range []string{"src", "docs-copy", "tagged-copy"} {
		s.mkBucket(b, "")
		// Replication needs versioning on both sides, as on S3.
		s.versioning(b, sluice.VersioningEnabled)
	}
	ctx := context.Background()
	_, err := s.client.PutBucketReplication(ctx, &s3.PutBucketReplicationInput{
		Bucket: aws.String("src"),
		ReplicationConfiguration: &types.ReplicationConfiguration{
			Role: aws.String("arn:aws:iam::000000000000:role/replication"),
			Rules: []types.ReplicationRule{
				{ID: aws.String("docs"), Priority: aws.Int32(2), Status: types.ReplicationRuleStatusEnabled,
					Filter:                  &types.ReplicationRuleFilter{Prefix: aws.String("docs/")},
					DeleteMarkerReplication: &types.DeleteMarkerReplication{Status: types.DeleteMarkerReplicationStatusEnabled},
					Destination:             &types.Destination{Bucket: aws.String("arn:aws:s3:::docs-copy")}},
				{ID: aws.String("tagged"), Priority: aws.Int32(1), Status: types.ReplicationRuleStatusEnabled,
					Filter:                  &types.ReplicationRuleFilter{Tag: &types.Tag{Key: aws.String("copy"), Value: aws.String("yes")}},
					DeleteMarkerReplication: &types.DeleteMarkerReplication{Status: types.DeleteMarkerReplicationStatusDisabled},
					Destination:             &types.Destination{Bucket: aws.String("arn:aws:s3:::tagged-copy")}},
			},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	r := s.startReplicator(testConfig(t.TempDir()))
	etag := s.put("src", "docs/a.txt", []byte("doc"))
	if st := r.Status(ctx, "src", "docs/a.txt", "", etag); st != StatusPending && st != StatusCompleted {
		t.Errorf("status right after PUT = %q, want PENDING (or already COMPLETED)", st)
	}
	s.put("src", "other/b.txt", []byte("not copied"))
	if _, err := s.client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("src"), Key: aws.String("t.txt"), Body: strings.NewReader("tagged"), Tagging: aws.String("copy=yes")}); err != nil {
		t.Fatal(err)
	}
	s.caughtUp()
	cases := []struct{ bucket, key, want string }{
		{"docs-copy", "docs/a.txt", "doc"},
		{"docs-copy", "other/b.txt", ""},
		{"tagged-copy", "t.txt", "tagged"},
		{"tagged-copy", "docs/a.txt", ""},
	}
	for _, c := range cases {
		got, _ := getObject(t, s.client, c.bucket, c.key)
		if string(got) != c.want {
			t.Errorf("%s/%s = %q, want %q", c.bucket, c.key, got, c.want)
		}
	}
	if st := r.Status(ctx, "src", "docs/a.txt", "", etag); st != StatusCompleted {
		t.Errorf("status %q, want COMPLETED", st)
	}
	// Deletes (delete markers in the versioned source) follow
	// DeleteMarkerReplication: mirrored for docs, not for tags.
	for _, k := range []string{"docs/a.txt", "t.txt"} {
		if _, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("src"), Key: aws.String(k)}); err != nil {
			t.Fatal(err)
		}
	}
	s.caughtUp()
	if got, _ := getObject(t, s.client, "docs-copy", "docs/a.txt"); got != nil {
		t.Error("delete not mirrored to docs-copy")
	}
	if got, _ := getObject(t, s.client, "tagged-copy", "t.txt"); string(got) != "tagged" {
		t.Error("delete mirrored to tagged-copy though DeleteMarkerReplication is Disabled")
	}
}

// TestRemoteRegionEndpoint copies to a second, real `sluice serve` process
// standing for region eu-west-1.
func TestRemoteRegionEndpoint(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the sluice binary")
	}
	remote := serveProcess(t, "eu-west-1")
	rc := newClient(remote, "eu-west-1")
	if _, err := rc.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String("photos-eu"),
		CreateBucketConfiguration: &types.CreateBucketConfiguration{LocationConstraint: types.BucketLocationConstraintEuWest1}}); err != nil {
		t.Fatal(err)
	}
	s := newStack(t)
	s.mkBucket("photos", "")
	s.tagBucket("photos", "photos-eu@eu-west-1")
	cfg := testConfig(t.TempDir())
	cfg.RegionEndpoints, _ = ParseRegionEndpoints([]string{"eu-west-1=" + strings.Replace(remote, "http://", "http://test:test@", 1)})
	cfg.PartSize = 5 << 20
	cfg.MultipartThreshold = 5 << 20
	s.startReplicator(cfg)

	small := []byte("small remote copy")
	if _, err := s.client.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String("photos"), Key: aws.String("s.txt"),
		Body: bytes.NewReader(small), ContentType: aws.String("text/plain"), Metadata: map[string]string{"who": "me"}, Tagging: aws.String("a=b")}); err != nil {
		t.Fatal(err)
	}
	big := make([]byte, 12<<20)
	rand.Read(big)
	s.put("photos", "big.bin", big)
	s.caughtUp()
	got, out := getObject(t, rc, "photos-eu", "s.txt")
	if !bytes.Equal(got, small) || aws.ToString(out.ContentType) != "text/plain" || out.Metadata["who"] != "me" {
		t.Errorf("remote small copy: body %q type %q meta %v", got, aws.ToString(out.ContentType), out.Metadata)
	}
	if diff := cmp.Diff(map[string]string{"a": "b"}, objectTags(t, rc, "photos-eu", "s.txt")); diff != "" {
		t.Errorf("remote tags (-want +got):\n%s", diff)
	}
	if got, _ := getObject(t, rc, "photos-eu", "big.bin"); !bytes.Equal(got, big) {
		t.Errorf("remote multipart copy differs (%d bytes, want %d)", len(got), len(big))
	}
	if _, err := s.client.DeleteObject(context.Background(), &s3.DeleteObjectInput{Bucket: aws.String("photos"), Key: aws.String("s.txt")}); err != nil {
		t.Fatal(err)
	}
	s.caughtUp()
	if got, _ := getObject(t, rc, "photos-eu", "s.txt"); got != nil {
		t.Error("delete not mirrored to the remote region")
	}
}

// TestBurstZeroLossNewestWins replicates a burst of 1,000 small objects
// written by 8 writers at once, some keys rewritten several times, and
// checks that every key's copy is its newest write.
func TestBurstZeroLossNewestWins(t *testing.T) {
	s := newTaggedStack(t)
	r := s.startReplicator(testConfig(t.TempDir()))
	const (
		writers  = 8
		keys     = 1000
		hot      = 40 // keys 0..hot-1 are written rewrites times
		rewrites = 5
	)
	body := func(key, version int) []byte {
		return []byte(fmt.Sprintf("key %04d version %d %s", key, version, strings.Repeat("x", 1000)))
	}
	ctx := context.Background()
	var g errgroup.Group
	for w := range writers {
		g.Go(func() error {
			// A writer owns the keys ≡ w mod writers, so each key's versions
			// are written in order.
			for k := w; k < keys; k += writers {
				versions := 1
				if k < hot {
					versions = rewrites
				}
				for v := range versions {
					b := body(k, v)
					if _, err := s.store.PutObject(ctx, &sluice.PutObjectInput{Bucket: "src", Key: fmt.Sprintf("k%04d", k),
						Body: bytes.NewReader(b), Size: int64(len(b))}); err != nil {
						return err
					}
				}
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	s.caughtUp()
	var wrong []string
	for k := range keys {
		want := 0
		if k < hot {
			want = rewrites - 1
		}
		key := fmt.Sprintf("k%04d", k)
		got := readObject(t, s.store, "dst", key)
		if !bytes.Equal(got, body(k, want)) {
			wrong = append(wrong, fmt.Sprintf("%s: %.20q", key, got))
			continue
		}
		if st := r.Status(ctx, "src", key, "", md5hex(got)); st != StatusCompleted {
			wrong = append(wrong, fmt.Sprintf("%s: status %q", key, st))
		}
	}
	if len(wrong) > 0 {
		t.Errorf("%d of %d copies missing, stale or not COMPLETED, e.g. %v", len(wrong), keys, wrong[:min(5, len(wrong))])
	}
	if dead, err := r.DeadLetters(); err != nil || len(dead) > 0 {
		t.Errorf("dead letters %v, err %v", dead, err)
	}
}

// readObject returns an object's bytes, nil when missing.
func readObject(t *testing.T, st sluice.Store, bucket, key string) []byte {
	t.Helper()
	obj, err := st.OpenObject(context.Background(), bucket, key)
	if sluice.IsCode(err, sluice.ErrNoSuchKey) {
		return nil
	}
	if err != nil {
		t.Fatalf("open %s/%s: %v", bucket, key, err)
	}
	defer obj.Close()
	rc, err := obj.Reader(0, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
