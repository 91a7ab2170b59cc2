// Package storetest is the contract suite every sluice.Store implementation
// must pass: fsstore runs it against a fresh data directory, s3store against
// a real endpoint. Run calls open once per sub-test; every sub-test creates
// its own uniquely named buckets, so a store shared between sub-tests works
// too. The suite uses only the sluice.Store interface and is safe to run
// with the race detector; it starts goroutines only inside sub-tests and
// waits for them before returning.
package storetest

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"sync/atomic"
	"testing"

	"github.com/sluicehq/sluice"
)

// Run runs the whole contract suite.
func Run(t *testing.T, open func(t *testing.T) sluice.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s sluice.Store)
	}{
		{"Buckets", testBuckets},
		{"BucketConfig", testBucketConfig},
		{"DeleteBucket", testDeleteBucket},
		{"PutHeadOpen", testPutHeadOpen},
		{"OddKeys", testOddKeys},
		{"KeyValidation", testKeyValidation},
		{"MissingBucketOrKey", testMissing},
		{"Overwrite", testOverwrite},
		{"Delete", testDelete},
		{"Tags", testTags},
		{"Ranges", testRanges},
		{"SnapshotRead", testSnapshotRead},
		{"ConcurrentPut", testConcurrentPut},
		{"ConcurrentReaders", testConcurrentReaders},
		{"ConcurrentMixed", testConcurrentMixed},
		{"Conditions", testConditions},
		{"SizeMismatch", testSizeMismatch},
		{"VerifyError", testVerifyError},
		{"Checksums", testChecksums},
		{"ListPagination", testListPagination},
		{"ListDelimiter", testListDelimiter},
		{"ListEdges", testListEdges},
		{"Multipart", testMultipart},
		{"MultipartChecksums", testMultipartChecksums},
		{"MultipartErrors", testMultipartErrors},
		{"MultipartReplacePart", testMultipartReplacePart},
		{"MultipartConcurrentParts", testMultipartConcurrentParts},
		{"ListParts", testListParts},
		{"ListUploads", testListUploads},
		{"VersioningState", testVersioningState},
		{"VersionsUnversioned", testUnversioned},
		{"VersionsPut", testVersionsPut},
		{"VersionsMultipart", testVersionsMultipart},
		{"VersionsDeleteMarker", testVersionsDeleteMarker},
		{"VersionsPermanentDelete", testVersionsPermanentDelete},
		{"VersionsSuspended", testVersionsSuspended},
		{"VersionTags", testVersionTags},
		{"VersionsConditions", testVersionsConditions},
		{"VersionsDeleteBucket", testVersionsDeleteBucket},
		{"VersionsConcurrent", testVersionsConcurrent},
		{"ListVersions", testListVersions},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			tc.fn(t, s)
		})
	}
}

var bucketSeq atomic.Int64

// newBucket creates a bucket with a name unique to this process run.
func newBucket(t *testing.T, s sluice.Store) string {
	t.Helper()
	var r [4]byte
	rand.Read(r[:])
	name := fmt.Sprintf("st-%d-%s", bucketSeq.Add(1), hex.EncodeToString(r[:]))
	if err := s.CreateBucket(context.Background(), sluice.Bucket{Name: name}); err != nil {
		t.Fatalf("CreateBucket(%q): %v", name, err)
	}
	return name
}

func put(t *testing.T, s sluice.Store, bucket, key string, body []byte) sluice.ObjectInfo {
	t.Helper()
	info, err := s.PutObject(context.Background(), &sluice.PutObjectInput{
		Bucket: bucket, Key: key, Body: bytes.NewReader(body), Size: int64(len(body)),
	})
	if err != nil {
		t.Fatalf("PutObject(%q): %v", key, err)
	}
	return info
}

// get opens an object and reads all of it.
func get(t *testing.T, s sluice.Store, bucket, key string) ([]byte, sluice.ObjectInfo) {
	t.Helper()
	obj, err := s.OpenObject(context.Background(), bucket, key)
	if err != nil {
		t.Fatalf("OpenObject(%q): %v", key, err)
	}
	defer obj.Close()
	return readAll(t, obj, 0, -1), obj.Info()
}

func readAll(t *testing.T, obj sluice.Object, off, n int64) []byte {
	t.Helper()
	r, err := obj.Reader(off, n)
	if err != nil {
		t.Fatalf("Reader(%d, %d): %v", off, n, err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("read object: %v", err)
	}
	return b
}

func wantCode(t *testing.T, what string, err error, code sluice.Code) {
	t.Helper()
	if got := sluice.ErrorCode(err); got != code {
		t.Errorf("%s: error code = %q (%v), want %q", what, got, err, code)
	}
}

func etagOf(b []byte) string {
	sum := md5.Sum(b)
	return `"` + hex.EncodeToString(sum[:]) + `"`
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func listAll(t *testing.T, s sluice.Store, bucket string, opts sluice.ListOptions) (keys, prefixes []string, pages int) {
	t.Helper()
	for {
		page, err := s.ListObjects(context.Background(), bucket, opts)
		if err != nil {
			t.Fatalf("ListObjects(%+v): %v", opts, err)
		}
		pages++
		if n := len(page.Objects) + len(page.CommonPrefixes); n > opts.MaxKeys {
			t.Fatalf("page has %d entries, MaxKeys %d", n, opts.MaxKeys)
		}
		for _, o := range page.Objects {
			keys = append(keys, o.Key)
		}
		prefixes = append(prefixes, page.CommonPrefixes...)
		if !page.IsTruncated {
			return keys, prefixes, pages
		}
		if page.NextAfter == "" || page.NextAfter <= opts.After {
			t.Fatalf("truncated page with NextAfter %q after %q", page.NextAfter, opts.After)
		}
		opts.After = page.NextAfter
		if pages > 10000 {
			t.Fatal("listing does not terminate")
		}
	}
}

func md5Of(b []byte) []byte {
	sum := md5.Sum(b)
	return sum[:]
}
