//go:build integration

package integration

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// gatedReader yields size deterministic bytes, blocking once gateAt bytes
// have been read until release is closed. reached is closed when the
// reader blocks at the gate.
type gatedReader struct {
	data    []byte
	off     int
	gateAt  int
	reached chan struct{}
	release chan struct{}
	once    sync.Once
}

func newGatedReader(data []byte, gateAt int) *gatedReader {
	return &gatedReader{data: data, gateAt: gateAt, reached: make(chan struct{}), release: make(chan struct{})}
}

func (g *gatedReader) Read(p []byte) (int, error) {
	if g.off >= len(g.data) {
		return 0, io.EOF
	}
	if g.off == g.gateAt {
		g.once.Do(func() { close(g.reached) })
		<-g.release
	}
	end := len(g.data)
	if g.off < g.gateAt {
		end = g.gateAt
	}
	n := copy(p, g.data[g.off:end])
	g.off += n
	return n, nil
}

// dataFiles lists the files holding object bytes, or bytes in flight:
// everything under the store's objects/ and tmp/ directories. Once every
// object and upload is deleted none may remain: a file there then is an
// orphan of an interrupted write. (Metadata databases, and the lambda and
// logs directories beside them, are not object data.)
func dataFiles(t testing.TB, dir string) []string {
	t.Helper()
	var found []string
	for _, sub := range []string{"objects", "tmp"} {
		_ = filepath.WalkDir(filepath.Join(dir, sub), func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return nil
			}
			rel, _ := filepath.Rel(dir, path)
			found = append(found, filepath.ToSlash(rel))
			return nil
		})
	}
	return found
}

// wantNoOrphans deletes every object, upload and bucket through the S3 API,
// then polls until no data files are left: whatever the kill interrupted
// must have been cleaned up (or be collectable) after the restart.
func wantNoOrphans(t testing.TB, c *s3.Client, dir string) {
	t.Helper()
	ctx := context.Background()
	t.Logf("%d data files before deleting everything", len(dataFiles(t, dir)))
	buckets, err := c.ListBuckets(ctx, &s3.ListBucketsInput{})
	if err != nil {
		t.Fatalf("ListBuckets: %v", err)
	}
	for _, b := range buckets.Buckets {
		emptyBucket(t, c, aws.ToString(b.Name))
		if _, err := c.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: b.Name}); err != nil {
			t.Errorf("DeleteBucket %s: %v", aws.ToString(b.Name), err)
		}
	}
	var left []string
	if err := poll(20*time.Second, func() error {
		left = dataFiles(t, dir)
		if len(left) > 0 {
			return fmt.Errorf("%d files left", len(left))
		}
		return nil
	}); err != nil {
		t.Errorf("data files left after restart and deleting everything (orphans of the kill): %q", left)
	}
}

// emptyBucket aborts every upload and deletes every object in bucket.
func emptyBucket(t testing.TB, c *s3.Client, bucket string) {
	t.Helper()
	ctx := context.Background()
	ups, err := c.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String(bucket)})
	if err != nil {
		t.Fatalf("ListMultipartUploads %s: %v", bucket, err)
	}
	for _, u := range ups.Uploads {
		if _, err := c.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: aws.String(bucket), Key: u.Key, UploadId: u.UploadId}); err != nil {
			t.Errorf("abort %s: %v", aws.ToString(u.UploadId), err)
		}
	}
	p := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: aws.String(bucket)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatalf("list %s: %v", bucket, err)
		}
		if len(page.Contents) == 0 {
			continue
		}
		var ids []types.ObjectIdentifier
		for _, o := range page.Contents {
			ids = append(ids, types.ObjectIdentifier{Key: o.Key})
		}
		res, err := c.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: aws.String(bucket), Delete: &types.Delete{Objects: ids, Quiet: aws.Bool(true)}})
		if err != nil {
			t.Fatalf("DeleteObjects in %s: %v", bucket, err)
		}
		for _, e := range res.Errors {
			t.Errorf("delete %s: %s %s", aws.ToString(e.Key), aws.ToString(e.Code), aws.ToString(e.Message))
		}
	}
}

type writeRecord struct {
	body  []byte
	acked bool
}

func TestDurabilityKill9DuringPuts(t *testing.T) {
	s := startSluice(t)
	c := s3Client(s, noRetries())
	ctx := context.Background()
	bucket := createBucket(t, c, "durable")

	var (
		mu      sync.Mutex
		records = map[string]*writeRecord{}
		acks    atomic.Int64
	)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	const writers = 8
	for w := range writers {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				key := fmt.Sprintf("w%d/%06d", w, i)
				// Mostly small bodies, with enough larger ones that some
				// are streaming to disk (not inlined in metadata) at the kill.
				size := 1<<10 + (i*7919+w*104729)%(8<<10)
				switch {
				case i%40 == 7:
					size = 1 << 20
				case i%5 == 2:
					size = 200<<10 + i
				}
				body := randomBytes(size)
				rec := &writeRecord{body: body}
				mu.Lock()
				records[key] = rec
				mu.Unlock()
				_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(body)})
				if err != nil {
					// The server is gone; nothing after this can be acknowledged.
					return
				}
				mu.Lock()
				rec.acked = true
				mu.Unlock()
				acks.Add(1)
			}
		})
	}
	const killAfter = 400
	if err := poll(2*time.Minute, func() error {
		if n := acks.Load(); n < killAfter {
			return fmt.Errorf("only %d acknowledged writes", n)
		}
		return nil
	}); err != nil {
		close(stop)
		wg.Wait()
		t.Fatalf("writers never reached %d acks: %v", killAfter, err)
	}
	s.kill(t)
	close(stop)
	wg.Wait()

	s.restart(t)
	c = s3Client(s, noRetries())
	mu.Lock()
	defer mu.Unlock()
	acked := 0
	for key, rec := range records {
		out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
		if err != nil {
			code, _ := apiCode(err)
			if rec.acked || code != "NoSuchKey" {
				t.Errorf("%s (acked %v) after restart: %v", key, rec.acked, err)
			}
			continue
		}
		got, err := io.ReadAll(out.Body)
		out.Body.Close()
		if err != nil {
			t.Errorf("read %s: %v", key, err)
			continue
		}
		// An unacknowledged write may be there or not, but never half there.
		if !bytes.Equal(got, rec.body) {
			t.Errorf("%s (acked %v): %d bytes after restart, want the %d written", key, rec.acked, len(got), len(rec.body))
		}
		if aws.ToString(out.ETag) != `"`+md5hex(rec.body)+`"` {
			t.Errorf("%s: ETag %s, want %s", key, aws.ToString(out.ETag), md5hex(rec.body))
		}
		if rec.acked {
			acked++
		}
	}
	t.Logf("%d writes attempted, %d acknowledged before the kill", len(records), acked)

	// The listing agrees with what GET sees.
	listed := map[string]int64{}
	p := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: aws.String(bucket)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatalf("list after restart: %v", err)
		}
		for _, o := range page.Contents {
			listed[aws.ToString(o.Key)] = aws.ToInt64(o.Size)
		}
	}
	for key, rec := range records {
		size, ok := listed[key]
		if rec.acked && !ok {
			t.Errorf("acknowledged %s is not listed", key)
		}
		if ok && size != int64(len(rec.body)) {
			t.Errorf("%s listed with size %d, want %d", key, size, len(rec.body))
		}
	}
	for key := range listed {
		if _, ok := records[key]; !ok {
			t.Errorf("listing shows %s, which was never written", key)
		}
	}
	wantNoOrphans(t, c, s.DataDir)
}

func TestDurabilityKill9DuringMultipart(t *testing.T) {
	s := startSluice(t)
	c := s3Client(s, noRetries())
	ctx := context.Background()
	bucket := createBucket(t, c, "durable-mp")

	// Bucket configuration must survive the kill too.
	if _, err := c.PutBucketTagging(ctx, &s3.PutBucketTaggingInput{Bucket: aws.String(bucket),
		Tagging: &types.Tagging{TagSet: []types.Tag{{Key: aws.String("TargetBucket"), Value: aws.String("backup")}}}}); err != nil {
		t.Fatal(err)
	}
	policy := fmt.Sprintf(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::%s/public/*"}]}`, bucket)
	if _, err := c.PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: aws.String(bucket), Policy: aws.String(policy)}); err != nil {
		t.Fatal(err)
	}
	done := randomBytes(1 << 20)
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("complete"), Body: bytes.NewReader(done)}); err != nil {
		t.Fatal(err)
	}
	// A finished multipart object too.
	finished := randomBytes(6 << 20)
	mp, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String(bucket), Key: aws.String("finished-mp")})
	if err != nil {
		t.Fatal(err)
	}
	fp1, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String(bucket), Key: aws.String("finished-mp"), UploadId: mp.UploadId, PartNumber: aws.Int32(1), Body: bytes.NewReader(finished[:5<<20])})
	if err != nil {
		t.Fatal(err)
	}
	fp2, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String(bucket), Key: aws.String("finished-mp"), UploadId: mp.UploadId, PartNumber: aws.Int32(2), Body: bytes.NewReader(finished[5<<20:])})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String(bucket), Key: aws.String("finished-mp"), UploadId: mp.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{{PartNumber: aws.Int32(1), ETag: fp1.ETag}, {PartNumber: aws.Int32(2), ETag: fp2.ETag}}}}); err != nil {
		t.Fatal(err)
	}

	// The upload interrupted by the kill: part 1 is in, part 2 is streaming.
	up, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String(bucket), Key: aws.String("interrupted")})
	if err != nil {
		t.Fatal(err)
	}
	part1 := randomBytes(5 << 20)
	p1, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String(bucket), Key: aws.String("interrupted"), UploadId: up.UploadId, PartNumber: aws.Int32(1), Body: bytes.NewReader(part1)})
	if err != nil {
		t.Fatal(err)
	}
	part2 := randomBytes(5 << 20)
	gate := newGatedReader(part2, 3<<20)
	u := fmt.Sprintf("%s/%s/interrupted?partNumber=2&uploadId=%s", s.URL, bucket, aws.ToString(up.UploadId))
	req := signedRequest(t, s, http.MethodPut, u, gate, signSpec{PayloadHash: "UNSIGNED-PAYLOAD", ContentLength: int64(len(part2))})
	reqDone := make(chan error, 1)
	go func() {
		resp, err := httpClient().Do(req)
		if err == nil {
			resp.Body.Close()
			err = fmt.Errorf("status %d", resp.StatusCode)
		}
		reqDone <- err
	}()
	select {
	case <-gate.reached:
	case err := <-reqDone:
		t.Fatalf("part 2 upload ended before the kill: %v", err)
	case <-time.After(time.Minute):
		t.Fatal("part 2 upload never got going")
	}
	s.kill(t)
	close(gate.release)
	<-reqDone

	s.restart(t)
	c = s3Client(s, noRetries())
	for key, want := range map[string][]byte{"complete": done, "finished-mp": finished} {
		if got, _ := getBody(t, c, bucket, key); !bytes.Equal(got, want) {
			t.Errorf("%s after restart: %d bytes, want the %d written", key, len(got), len(want))
		}
	}
	_, err = c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String("interrupted")})
	wantAPIError(t, "HEAD of the never-completed object", err, "NotFound", 404)
	tags, err := c.GetBucketTagging(ctx, &s3.GetBucketTaggingInput{Bucket: aws.String(bucket)})
	if err != nil || len(tags.TagSet) != 1 || aws.ToString(tags.TagSet[0].Value) != "backup" {
		t.Errorf("bucket tagging after restart: %v %+v", err, tags)
	}
	pol, err := c.GetBucketPolicy(ctx, &s3.GetBucketPolicyInput{Bucket: aws.String(bucket)})
	if err != nil || !strings.Contains(aws.ToString(pol.Policy), bucket+"/public/*") {
		t.Errorf("bucket policy after restart: %v %v", err, pol)
	} else if _, err := c.DeleteBucketPolicy(ctx, &s3.DeleteBucketPolicyInput{Bucket: aws.String(bucket)}); err != nil {
		t.Errorf("DeleteBucketPolicy: %v", err)
	}

	uploads, err := c.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String(bucket)})
	if err != nil {
		t.Fatalf("ListMultipartUploads after restart: %v", err)
	}
	listed := false
	for _, u := range uploads.Uploads {
		if aws.ToString(u.UploadId) == aws.ToString(up.UploadId) {
			listed = true
		} else {
			t.Errorf("unexpected upload after restart: %s %s", aws.ToString(u.Key), aws.ToString(u.UploadId))
		}
	}
	t.Logf("interrupted upload still listed after restart: %v", listed)
	if listed {
		// The upload survived: part 1 intact, part 2 absent, and it can be
		// completed with what it holds.
		parts, err := c.ListParts(ctx, &s3.ListPartsInput{Bucket: aws.String(bucket), Key: aws.String("interrupted"), UploadId: up.UploadId})
		if err != nil {
			t.Fatalf("ListParts: %v", err)
		}
		if len(parts.Parts) != 1 || aws.ToInt32(parts.Parts[0].PartNumber) != 1 || aws.ToString(parts.Parts[0].ETag) != aws.ToString(p1.ETag) ||
			aws.ToInt64(parts.Parts[0].Size) != int64(len(part1)) {
			t.Errorf("parts after restart = %+v, want only part 1 (%s, %d bytes)", parts.Parts, aws.ToString(p1.ETag), len(part1))
		}
		_, err = c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String(bucket), Key: aws.String("interrupted"), UploadId: up.UploadId,
			MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{{PartNumber: aws.Int32(1), ETag: p1.ETag}}}})
		if err != nil {
			t.Fatalf("complete the surviving upload: %v", err)
		}
		if got, _ := getBody(t, c, bucket, "interrupted"); !bytes.Equal(got, part1) {
			t.Errorf("completed object after restart: %d bytes, want part 1's %d", len(got), len(part1))
		}
	} else {
		_, err := c.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: aws.String(bucket), Key: aws.String("interrupted"), UploadId: up.UploadId})
		wantAPIError(t, "abort of an upload that is gone", err, "NoSuchUpload", 404)
	}
	wantNoOrphans(t, c, s.DataDir)
}
