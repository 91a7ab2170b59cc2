//go:build integration

package integration

// End-to-end tests of copies to other buckets and regions (issue 4): a
// kill -9 of sluice in the middle of a burst of uploads to a bucket with a
// TargetBucket tag, and the two-process remote-region case.

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/google/go-cmp/cmp"
)

// replicaDeadline bounds waits for copies to appear in a target.
const replicaDeadline = 60 * time.Second

// burstBody is the content uploaded under key i of the burst: 1 KiB for
// even i, 256 KiB for odd i, pseudo-random and fixed by i, so that any
// copy of key i, acknowledged or not, must have exactly these bytes.
func burstBody(i int) []byte {
	n := 1 << 10
	if i%2 == 1 {
		n = 256 << 10
	}
	r := rand.New(rand.NewPCG(uint64(i), 0x5eed))
	b := make([]byte, n)
	for j := range b {
		b[j] = byte(r.Uint32())
	}
	return b
}

func burstKey(i int) string {
	if i%2 == 1 {
		return fmt.Sprintf("burst/%03d-large.bin", i)
	}
	return fmt.Sprintf("burst/%03d-small.bin", i)
}

func tagTargetBucket(t testing.TB, c *s3.Client, bucket, value string) {
	t.Helper()
	_, err := c.PutBucketTagging(context.Background(), &s3.PutBucketTaggingInput{
		Bucket:  aws.String(bucket),
		Tagging: &types.Tagging{TagSet: []types.Tag{{Key: aws.String("TargetBucket"), Value: aws.String(value)}}},
	})
	if err != nil {
		t.Fatalf("tag %s TargetBucket=%q: %v", bucket, value, err)
	}
}

// getBytes GETs bucket/key and returns the body and ETag; found is false
// for a missing object.
func getBytes(c *s3.Client, bucket, key string) (body []byte, etag string, found bool, err error) {
	out, err := c.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		if code, _ := apiCode(err); code == "NoSuchKey" {
			return nil, "", false, nil
		}
		return nil, "", false, err
	}
	defer out.Body.Close()
	body, err = io.ReadAll(out.Body)
	if err != nil {
		return nil, "", false, fmt.Errorf("read %s/%s: %w", bucket, key, err)
	}
	return body, strings.Trim(aws.ToString(out.ETag), `"`), true, nil
}

// checkCopy reports a target copy of burst key i that is not exactly the
// uploaded bytes with their MD5 as ETag.
func checkCopy(i int, body []byte, etag string) error {
	want := burstBody(i)
	sum := md5.Sum(want)
	if !bytes.Equal(body, want) {
		return fmt.Errorf("%s: target copy has %d bytes differing from the %d uploaded", burstKey(i), len(body), len(want))
	}
	if etag != hex.EncodeToString(sum[:]) {
		return fmt.Errorf("%s: target ETag %q, want the MD5 %x", burstKey(i), etag, sum)
	}
	return nil
}

// TestEventsReplicationKill SIGKILLs sluice in the middle of a burst of
// 200 uploads by 8 writers to a bucket whose TargetBucket tag names a local
// backup bucket. After a restart on the same data directory every
// acknowledged object reaches the backup byte for byte, and no GET of the
// backup, before or after the kill, ever returns a partial copy.
func TestEventsReplicationKill(t *testing.T) {
	t.Parallel()
	s := startSluice(t)
	c := s3Client(s, noRetries())
	src, backup := createBucket(t, c, "ev-kill-src"), createBucket(t, c, "ev-kill-backup")
	tagTargetBucket(t, c, src, backup)

	const (
		uploads = 200
		writers = 8
		killAt  = 70 // acknowledged uploads before the kill
	)
	var (
		mu    sync.Mutex
		acked = map[int]string{} // index → ETag the PUT returned
		nAck  atomic.Int32
		nFail atomic.Int32
	)
	killed := make(chan struct{})
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				out, err := c.PutObject(context.Background(), &s3.PutObjectInput{
					Bucket: aws.String(src), Key: aws.String(burstKey(i)), Body: bytes.NewReader(burstBody(i)),
				})
				if err != nil {
					nFail.Add(1)
					continue
				}
				mu.Lock()
				acked[i] = strings.Trim(aws.ToString(out.ETag), `"`)
				mu.Unlock()
				nAck.Add(1)
			}
		}()
	}

	// A reader checks copies in the backup while the burst runs: any GET
	// that succeeds must return the complete object.
	var readerErrs []error
	readerDone := make(chan struct{})
	stopReader := make(chan struct{})
	readBackup := func(c *s3.Client, stop <-chan struct{}) (reads int, errs []error) {
		r := rand.New(rand.NewPCG(1, 2))
		for {
			select {
			case <-stop:
				return reads, errs
			default:
			}
			i := r.IntN(uploads)
			body, etag, found, err := getBytes(c, backup, burstKey(i))
			if err != nil {
				// The server is down or restarting; only content is judged.
				time.Sleep(20 * time.Millisecond)
				continue
			}
			if found {
				reads++
				if err := checkCopy(i, body, etag); err != nil {
					errs = append(errs, err)
				}
			}
		}
	}
	var burstReads int
	go func() {
		defer close(readerDone)
		burstReads, readerErrs = readBackup(s3Client(s, noRetries()), stopReader)
	}()

	go func() {
		defer close(jobs)
		for i := range uploads {
			if int(nAck.Load()) >= killAt {
				select {
				case <-killed:
				default:
					s.kill(t)
					close(killed)
				}
			}
			jobs <- i
		}
	}()
	wg.Wait()
	close(stopReader)
	<-readerDone
	select {
	case <-killed:
	default:
		t.Fatalf("the burst finished (%d acknowledged) before the kill", nAck.Load())
	}
	t.Logf("burst: %d acknowledged, %d failed after the kill; %d complete copies read during the burst", nAck.Load(), nFail.Load(), burstReads)
	if nFail.Load() == 0 {
		t.Errorf("no upload failed: the kill did not land mid-burst")
	}
	for _, err := range readerErrs {
		t.Errorf("during the burst: %v", err)
	}

	s.restart(t)
	c = s3Client(s, noRetries())

	// Acknowledged writes survived in the source.
	for i, etag := range acked {
		if sum := md5.Sum(burstBody(i)); etag != hex.EncodeToString(sum[:]) {
			t.Errorf("PUT %s acknowledged ETag %q, want the MD5 %x", burstKey(i), etag, sum)
		}
		body, got, found, err := getBytes(c, src, burstKey(i))
		if err != nil || !found || got != etag || !bytes.Equal(body, burstBody(i)) {
			t.Errorf("source %s after restart: found=%v etag=%q (acknowledged %q) err=%v", burstKey(i), found, got, etag, err)
		}
	}

	// A reader over every key, acknowledged or not, runs while the test
	// polls for the acknowledged ones.
	stopReader = make(chan struct{})
	readerDone = make(chan struct{})
	var pollReads int
	go func() {
		defer close(readerDone)
		pollReads, readerErrs = readBackup(s3Client(s, noRetries()), stopReader)
	}()
	missing := map[int]bool{}
	for i := range acked {
		missing[i] = true
	}
	err := poll(replicaDeadline, func() error {
		for i := range missing {
			body, etag, found, err := getBytes(c, backup, burstKey(i))
			if err != nil {
				return err
			}
			if !found {
				continue
			}
			if err := checkCopy(i, body, etag); err != nil {
				t.Errorf("while polling: %v", err)
			}
			delete(missing, i)
		}
		if len(missing) > 0 {
			return fmt.Errorf("%d of %d acknowledged objects not yet in the backup", len(missing), len(acked))
		}
		return nil
	})
	close(stopReader)
	<-readerDone
	if err != nil {
		t.Errorf("after restart: %v", err)
	}
	for _, err := range readerErrs {
		t.Errorf("after restart: %v", err)
	}
	t.Logf("after restart: %d complete copies read by the concurrent reader", pollReads)

	// Nothing beyond the burst's keys, and no temporary object, is in the backup.
	list, err := c.ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{Bucket: aws.String(backup)})
	if err != nil {
		t.Fatal(err)
	}
	valid := map[string]bool{}
	for i := range uploads {
		valid[burstKey(i)] = true
	}
	for _, o := range list.Contents {
		if !valid[aws.ToString(o.Key)] {
			t.Errorf("backup holds %q, which was never uploaded", aws.ToString(o.Key))
		}
	}
}

// withRegion makes the harness sign for region (and the server default to
// it when combined with --region).
func withRegion(region string) serverOption {
	return func(s *sluiceServer) { s.Region = region }
}

// TestEventsRemoteRegion runs two sluice processes: B serves eu-west-1, A
// copies a TargetBucket-tagged bucket to B's backup-eu through
// --region-endpoint. Bytes, Content-Type, system and user metadata and tags
// arrive; A reports x-amz-replication-status COMPLETED; a delete on A
// removes the copy on B.
func TestEventsRemoteRegion(t *testing.T) {
	t.Parallel()
	b := startSluice(t, withRegion("eu-west-1"), withArgs("--region", "eu-west-1"))
	a := startSluice(t, withArgs("--region-endpoint", "eu-west-1="+b.URL))
	ca, cb := s3Client(a), s3Client(b)
	ctx := context.Background()

	const target = "backup-eu"
	if _, err := cb.CreateBucket(ctx, &s3.CreateBucketInput{
		Bucket:                    aws.String(target),
		CreateBucketConfiguration: &types.CreateBucketConfiguration{LocationConstraint: types.BucketLocationConstraintEuWest1},
	}); err != nil {
		t.Fatalf("create %s on B: %v", target, err)
	}
	src := createBucket(t, ca, "ev-remote-src")
	tagTargetBucket(t, ca, src, target+"@eu-west-1")

	type object struct {
		key         string
		body        []byte
		contentType string
		meta        map[string]string
		tags        string
	}
	objects := []object{
		{"reports/q1 summary.csv", []byte("region,total\neu,42\n"), "text/csv", map[string]string{"owner": "alice", "stage": "final"}, "team=data&tier=gold"},
		{"media/clip.bin", burstBody(7), "application/octet-stream", map[string]string{"source": "camera-2"}, "kind=video"},
	}
	for _, o := range objects {
		_, err := ca.PutObject(ctx, &s3.PutObjectInput{
			Bucket: aws.String(src), Key: aws.String(o.key), Body: bytes.NewReader(o.body),
			ContentType: aws.String(o.contentType), Metadata: o.meta, Tagging: aws.String(o.tags),
			CacheControl: aws.String("max-age=60"), ContentDisposition: aws.String(`attachment; filename="x"`),
		})
		if err != nil {
			t.Fatalf("put %s on A: %v", o.key, err)
		}
	}

	for _, o := range objects {
		var head *s3.HeadObjectOutput
		if err := poll(replicaDeadline, func() error {
			var err error
			head, err = cb.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(target), Key: aws.String(o.key)})
			return err
		}); err != nil {
			t.Errorf("%s never appeared on B: %v", o.key, err)
			continue
		}
		body, etag, found, err := getBytes(cb, target, o.key)
		sum := md5.Sum(o.body)
		if err != nil || !found || !bytes.Equal(body, o.body) || etag != hex.EncodeToString(sum[:]) {
			t.Errorf("%s on B: found=%v err=%v, %d bytes (equal=%v), ETag %q, want %x", o.key, found, err, len(body), bytes.Equal(body, o.body), etag, sum)
		}
		got := map[string]string{
			"Content-Type":        aws.ToString(head.ContentType),
			"Cache-Control":       aws.ToString(head.CacheControl),
			"Content-Disposition": aws.ToString(head.ContentDisposition),
		}
		want := map[string]string{"Content-Type": o.contentType, "Cache-Control": "max-age=60", "Content-Disposition": `attachment; filename="x"`}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s on B: system metadata (-want +got):\n%s", o.key, diff)
		}
		if diff := cmp.Diff(o.meta, head.Metadata); diff != "" {
			t.Errorf("%s on B: user metadata (-want +got):\n%s", o.key, diff)
		}
		tags, err := cb.GetObjectTagging(ctx, &s3.GetObjectTaggingInput{Bucket: aws.String(target), Key: aws.String(o.key)})
		if err != nil {
			t.Errorf("%s on B: tagging: %v", o.key, err)
		} else {
			var pairs []string
			for _, tg := range tags.TagSet {
				pairs = append(pairs, aws.ToString(tg.Key)+"="+aws.ToString(tg.Value))
			}
			if got := strings.Join(pairs, "&"); got != o.tags {
				t.Errorf("%s on B: tags %q, want %q", o.key, got, o.tags)
			}
		}

		// The source reports the copy done, as S3 reports replication.
		var status types.ReplicationStatus
		if err := poll(replicaDeadline, func() error {
			h, err := ca.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(src), Key: aws.String(o.key)})
			if err != nil {
				return err
			}
			if status = h.ReplicationStatus; status != types.ReplicationStatusCompleted {
				return fmt.Errorf("x-amz-replication-status %q", status)
			}
			return nil
		}); err != nil {
			t.Errorf("%s on A: %v, want COMPLETED", o.key, err)
		}
	}

	// The raw header, as curl would see it.
	resp := do(t, signedRequest(t, a, http.MethodHead, a.URL+"/"+src+"/media/clip.bin", nil, signSpec{}))
	if got := resp.Header.Get("X-Amz-Replication-Status"); got != "COMPLETED" {
		t.Errorf("HEAD on A: x-amz-replication-status %q, want COMPLETED", got)
	}

	// A delete on A removes the copy on B.
	key := objects[0].key
	if _, err := ca.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(src), Key: aws.String(key)}); err != nil {
		t.Fatal(err)
	}
	if err := poll(replicaDeadline, func() error {
		_, err := cb.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(target), Key: aws.String(key)})
		if err == nil {
			return errors.New("still on B")
		}
		if _, status := apiCode(err); status != http.StatusNotFound {
			return err
		}
		return nil
	}); err != nil {
		t.Errorf("after deleting %s on A: %v", key, err)
	}
	if _, _, found, err := getBytes(cb, target, objects[1].key); err != nil || !found {
		t.Errorf("%s on B after deleting another key: found=%v err=%v, want it kept", objects[1].key, found, err)
	}
}

// TestEventsWebhookKill SIGKILLs sluice in the middle of a burst of
// uploads to a bucket with a webhook rule: after a restart every
// acknowledged upload is delivered (the outbox commits with the object).
func TestEventsWebhookKill(t *testing.T) {
	t.Parallel()
	recv := newWebhookReceiver(t, func(string, int) int { return http.StatusOK })
	s := startSluice(t)
	c := s3Client(s, noRetries())
	bucket := createBucket(t, c, "ev-kill-hook")
	mustPutNotificationXML(t, s, bucket, notificationXML(webhookRuleXML("durable", recv.srv.URL+"/in", "k", "", "", "s3:ObjectCreated:*")))

	const (
		uploads = 100
		writers = 4
		killAt  = 40
	)
	var (
		mu    sync.Mutex
		acked = map[string]bool{}
		nAck  atomic.Int32
	)
	jobs := make(chan int)
	killed := false
	var wg sync.WaitGroup
	for range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				k := fmt.Sprintf("hook/%03d.bin", i)
				if _, err := c.PutObject(context.Background(), &s3.PutObjectInput{
					Bucket: aws.String(bucket), Key: aws.String(k), Body: bytes.NewReader(burstBody(i)),
				}); err != nil {
					continue
				}
				mu.Lock()
				acked[k] = true
				mu.Unlock()
				nAck.Add(1)
			}
		}()
	}
	for i := range uploads {
		if !killed && int(nAck.Load()) >= killAt {
			s.kill(t)
			killed = true
		}
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	if !killed {
		t.Fatalf("the burst finished (%d acknowledged) before the kill", nAck.Load())
	}
	s.restart(t)

	var missing []string
	if err := poll(eventDeadline, func() error {
		got := recv.accepted()
		missing = missing[:0]
		for k := range acked {
			if len(got[k]) == 0 {
				missing = append(missing, k)
			}
		}
		if len(missing) > 0 {
			return fmt.Errorf("%d of %d acknowledged uploads not delivered", len(missing), len(acked))
		}
		return nil
	}); err != nil {
		t.Errorf("after restart: %v: %v", err, missing)
	}
	dups := 0
	for k, ds := range recv.accepted() {
		dups += len(ds) - 1
		for _, d := range ds {
			if d.Signature != hmacSignature("k", d.Body) {
				t.Errorf("delivery of %s: bad signature %q", k, d.Signature)
			}
		}
	}
	t.Logf("webhook across kill -9: %d acknowledged, %d delivered keys, %d duplicate deliveries", len(acked), len(recv.accepted()), dups)
}

// TestEventsTargetBucketTagRemoved: removing the TargetBucket tag stops the
// copies. The check is ordered, not timed: after the removal, an object in
// the untagged bucket is followed by a marker in a second, still tagged
// bucket; once the marker's copy exists, the replicator has decided about
// the earlier object, which must not have been copied.
func TestEventsTargetBucketTagRemoved(t *testing.T) {
	s := sharedSluice(t)
	c := s3Client(s)
	ctx := context.Background()
	src, marker, dst := bucketName("untag-src"), bucketName("untag-mark"), bucketName("untag-dst")
	for _, b := range []string{src, marker, dst} {
		if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(b)}); err != nil {
			t.Fatal(err)
		}
	}
	tagTargetBucket(t, c, src, dst)
	tagTargetBucket(t, c, marker, dst)
	put := func(bucket, key string) {
		t.Helper()
		if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: strings.NewReader(key)}); err != nil {
			t.Fatal(err)
		}
	}
	waitCopy := func(key string) {
		t.Helper()
		err := poll(30*time.Second, func() error {
			_, _, found, err := getBytes(c, dst, key)
			if err == nil && !found {
				err = fmt.Errorf("%s not copied yet", key)
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	put(src, "before-removal")
	waitCopy("before-removal")

	if _, err := c.DeleteBucketTagging(ctx, &s3.DeleteBucketTaggingInput{Bucket: aws.String(src)}); err != nil {
		t.Fatal(err)
	}
	put(src, "after-removal")
	put(marker, "marker")
	waitCopy("marker")
	if _, _, found, err := getBytes(c, dst, "after-removal"); err != nil || found {
		t.Errorf("an object created after the TargetBucket tag was removed was copied (found %v, err %v)", found, err)
	}
}
