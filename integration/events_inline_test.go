//go:build integration

package integration

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// TestEventsLocalCopyVisibleWithSource: a TargetBucket copy to a bucket of
// the same sluice commits with its source, so it is there, COMPLETED, as
// soon as the upload returns (no waiting): a PUT, an overwrite, a
// multipart upload, and aws-cli's multipart cp of 20 MiB. A delete is
// mirrored by the replicator afterwards.
func TestEventsLocalCopyVisibleWithSource(t *testing.T) {
	s := sharedSluice(t)
	c := s3Client(s)
	ctx := context.Background()
	src, dst := bucketName("inl-src"), bucketName("inl-dst")
	for _, b := range []string{src, dst} {
		if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(b)}); err != nil {
			t.Fatal(err)
		}
	}
	tagTargetBucket(t, c, src, dst)

	head := func(bucket, key string) *s3.HeadObjectOutput {
		t.Helper()
		out, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
		if err != nil {
			t.Fatalf("head %s/%s: %v", bucket, key, err)
		}
		return out
	}
	// check runs right after an upload returned: no waiting.
	check := func(key string) {
		t.Helper()
		srcHead, dstHead := head(src, key), head(dst, key)
		if aws.ToString(srcHead.ETag) != aws.ToString(dstHead.ETag) || aws.ToInt64(srcHead.ContentLength) != aws.ToInt64(dstHead.ContentLength) {
			t.Errorf("%s: copy %s/%d, source %s/%d", key, aws.ToString(dstHead.ETag), aws.ToInt64(dstHead.ContentLength), aws.ToString(srcHead.ETag), aws.ToInt64(srcHead.ContentLength))
		}
		if st := srcHead.ReplicationStatus; st != "COMPLETED" {
			t.Errorf("%s: source replication status %q right after the upload, want COMPLETED", key, st)
		}
	}

	put := func(key, body string) {
		t.Helper()
		if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(src), Key: aws.String(key), Body: strings.NewReader(body), ContentType: aws.String("text/plain")}); err != nil {
			t.Fatal(err)
		}
	}
	put("small.txt", "hello")
	check("small.txt")
	put("small.txt", "hello again")
	check("small.txt")

	up, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String(src), Key: aws.String("parts.bin")})
	if err != nil {
		t.Fatal(err)
	}
	var parts []types.CompletedPart
	for i, body := range []string{strings.Repeat("a", 5<<20), "tail"} {
		n := int32(i + 1)
		out, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String(src), Key: aws.String("parts.bin"), UploadId: up.UploadId, PartNumber: aws.Int32(n), Body: strings.NewReader(body)})
		if err != nil {
			t.Fatal(err)
		}
		parts = append(parts, types.CompletedPart{ETag: out.ETag, PartNumber: aws.Int32(n)})
	}
	if _, err := c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String(src), Key: aws.String("parts.bin"), UploadId: up.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}}); err != nil {
		t.Fatal(err)
	}
	check("parts.bin")
	if etag := aws.ToString(head(dst, "parts.bin").ETag); !strings.HasSuffix(etag, `-2"`) {
		t.Errorf("parts.bin copy ETag %s: want its source's multipart ETag", etag)
	}

	// aws-cli's multipart upload too.
	big := filepath.Join(t.TempDir(), "big.bin")
	if err := os.WriteFile(big, bytes.Repeat([]byte("0123456789abcdef"), 20<<16), 0o644); err != nil {
		t.Fatal(err)
	}
	awsOK(t, s, "s3", "cp", big, "s3://"+src+"/big.bin")
	check("big.bin")

	if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(src), Key: aws.String("small.txt")}); err != nil {
		t.Fatal(err)
	}
	if err := poll(30*time.Second, func() error {
		if _, _, found, err := getBytes(c, dst, "small.txt"); err != nil || found {
			return errors.Join(err, errors.New("small.txt still in the target"))
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	check("parts.bin")
}
