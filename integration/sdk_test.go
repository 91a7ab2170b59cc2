//go:build integration

package integration

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/xml"
	"hash"
	"hash/crc32"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/s3/manager"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/google/go-cmp/cmp"
)

func createBucket(t testing.TB, c *s3.Client, prefix string) string {
	t.Helper()
	name := bucketName(prefix)
	if _, err := c.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		t.Fatalf("create bucket %s: %v", name, err)
	}
	return name
}

func getBody(t testing.TB, c *s3.Client, bucket, key string) ([]byte, *s3.GetObjectOutput) {
	t.Helper()
	out, err := c.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatalf("get %s/%s: %v", bucket, key, err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		t.Fatalf("read %s/%s: %v", bucket, key, err)
	}
	return b, out
}

func md5hex(b []byte) string {
	s := md5.Sum(b)
	return hex.EncodeToString(s[:])
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	for i := 0; i < n; i += 1 << 20 {
		chunk := b[i:min(i+1<<20, n)]
		copy(chunk, []byte(randSuffix(32)))
		// A cheap, non-repeating fill: random seed per MiB, then a counter.
		for j := 32; j < len(chunk); j++ {
			chunk[j] = chunk[j-32] ^ byte(j)
		}
	}
	return b
}

// checksumOf returns the base64 checksum S3 reports for algo.
func checksumOf(algo types.ChecksumAlgorithm, b []byte) string {
	var h hash.Hash
	switch algo {
	case types.ChecksumAlgorithmCrc32:
		h = crc32.NewIEEE()
	case types.ChecksumAlgorithmCrc32c:
		h = crc32.New(crc32.MakeTable(crc32.Castagnoli))
	case types.ChecksumAlgorithmSha1:
		h = sha1.New()
	case types.ChecksumAlgorithmSha256:
		h = sha256.New()
	}
	h.Write(b)
	return base64.StdEncoding.EncodeToString(h.Sum(nil))
}

func checksumField(algo types.ChecksumAlgorithm, crc32v, crc32c, sha1v, sha256v *string) string {
	p := map[types.ChecksumAlgorithm]*string{
		types.ChecksumAlgorithmCrc32: crc32v, types.ChecksumAlgorithmCrc32c: crc32c,
		types.ChecksumAlgorithmSha1: sha1v, types.ChecksumAlgorithmSha256: sha256v,
	}[algo]
	return aws.ToString(p)
}

// tlsProxy fronts s with a TLS reverse proxy so that the SDK uses what it
// only uses over HTTPS: aws-chunked bodies with trailing checksums. The
// proxy forwards bytes and the Host header unchanged, so signatures hold.
func tlsProxy(t testing.TB, s *sluiceServer) (*httptest.Server, *http.Client) {
	t.Helper()
	target, _ := url.Parse(s.URL)
	rp := httputil.NewSingleHostReverseProxy(target)
	var mu sync.Mutex
	seen := map[string]bool{}
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut {
			mu.Lock()
			seen[r.Header.Get("Content-Encoding")+"|"+r.Header.Get("X-Amz-Trailer")] = true
			mu.Unlock()
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		if !t.Failed() {
			return
		}
		t.Logf("PUT encodings seen by the TLS proxy: %v", seen)
	})
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	return srv, hc
}

func TestSDKChecksums(t *testing.T) {
	s := sharedSluice(t)
	plain := s3Client(s, noRetries())
	bucket := createBucket(t, plain, "sdk-checksum")
	proxy, proxyHTTP := tlsProxy(t, s)
	viaTLS := s3Client(s, noRetries(), func(o *s3.Options) {
		o.BaseEndpoint = aws.String(proxy.URL)
		o.HTTPClient = proxyHTTP
	})
	ctx := context.Background()
	body := randomBytes(3<<20 + 17)

	algos := []types.ChecksumAlgorithm{types.ChecksumAlgorithmCrc32, types.ChecksumAlgorithmCrc32c, types.ChecksumAlgorithmSha1, types.ChecksumAlgorithmSha256}
	for _, transport := range []struct {
		name   string
		client *s3.Client
	}{{"http header", plain}, {"https aws-chunked trailer", viaTLS}} {
		for _, algo := range algos {
			t.Run(transport.name+"/"+string(algo), func(t *testing.T) {
				key := "sum/" + strings.ReplaceAll(transport.name, " ", "-") + "/" + string(algo)
				put, err := transport.client.PutObject(ctx, &s3.PutObjectInput{
					Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(body), ChecksumAlgorithm: algo,
				})
				if err != nil {
					t.Fatalf("PutObject %s: %v", algo, err)
				}
				want := checksumOf(algo, body)
				if got := checksumField(algo, put.ChecksumCRC32, put.ChecksumCRC32C, put.ChecksumSHA1, put.ChecksumSHA256); got != want {
					t.Errorf("PutObject returned %s checksum %q, want %q", algo, got, want)
				}
				get, err := transport.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), ChecksumMode: types.ChecksumModeEnabled})
				if err != nil {
					t.Fatalf("GetObject: %v", err)
				}
				// The SDK validates the body against the returned checksum as it reads.
				got, err := io.ReadAll(get.Body)
				get.Body.Close()
				if err != nil {
					t.Fatalf("read with checksum validation: %v", err)
				}
				if !bytes.Equal(got, body) {
					t.Errorf("body differs")
				}
				if c := checksumField(algo, get.ChecksumCRC32, get.ChecksumCRC32C, get.ChecksumSHA1, get.ChecksumSHA256); c != want {
					t.Errorf("GetObject %s checksum = %q, want %q", algo, c, want)
				}
				head, err := transport.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), ChecksumMode: types.ChecksumModeEnabled})
				if err != nil {
					t.Fatalf("HeadObject: %v", err)
				}
				if c := checksumField(algo, head.ChecksumCRC32, head.ChecksumCRC32C, head.ChecksumSHA1, head.ChecksumSHA256); c != want {
					t.Errorf("HeadObject %s checksum = %q, want %q", algo, c, want)
				}
				if aws.ToString(head.ETag) != `"`+md5hex(body)+`"` {
					t.Errorf("ETag = %s, want MD5 %s", aws.ToString(head.ETag), md5hex(body))
				}
			})
		}
	}

	t.Run("wrong checksum is BadDigest", func(t *testing.T) {
		// A checksum the body does not match is refused and nothing is stored.
		wrong := checksumOf(types.ChecksumAlgorithmCrc32, []byte("other"))
		_, err := plain.PutObject(ctx, &s3.PutObjectInput{
			Bucket: aws.String(bucket), Key: aws.String("sum/wrong"), Body: bytes.NewReader(body), ChecksumCRC32: aws.String(wrong),
		})
		wantAPIError(t, "PutObject with a wrong CRC32", err, "BadDigest", 400)
		_, err = plain.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String("sum/wrong")})
		wantAPIError(t, "HeadObject after a refused PUT", err, "NotFound", 404)
	})

	t.Run("multipart checksums", func(t *testing.T) {
		up := manager.NewUploader(viaTLS, func(u *manager.Uploader) { u.PartSize = 5 << 20; u.Concurrency = 2 })
		big := randomBytes(11 << 20)
		_, err := up.Upload(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("sum/mp"), Body: bytes.NewReader(big), ChecksumAlgorithm: types.ChecksumAlgorithmCrc32c})
		if err != nil {
			t.Fatalf("multipart upload with CRC32C: %v", err)
		}
		if b, _ := getBody(t, plain, bucket, "sum/mp"); !bytes.Equal(b, big) {
			t.Errorf("multipart body differs")
		}
		attrs, err := plain.GetObjectAttributes(ctx, &s3.GetObjectAttributesInput{Bucket: aws.String(bucket), Key: aws.String("sum/mp"),
			ObjectAttributes: []types.ObjectAttributes{types.ObjectAttributesChecksum, types.ObjectAttributesObjectParts, types.ObjectAttributesObjectSize}})
		if err != nil {
			t.Fatalf("GetObjectAttributes: %v", err)
		}
		if attrs.ObjectParts == nil || aws.ToInt32(attrs.ObjectParts.TotalPartsCount) != 3 || aws.ToInt64(attrs.ObjectSize) != int64(len(big)) {
			t.Errorf("attributes: parts %+v size %d, want 3 parts of %d bytes", attrs.ObjectParts, aws.ToInt64(attrs.ObjectSize), len(big))
		}
		// Without x-amz-checksum-type S3 builds a COMPOSITE CRC32C for a
		// multipart upload: the CRC32C of the part CRC32Cs, then -N.
		var parts []byte
		for i := 0; i < len(big); i += 5 << 20 {
			s := crc32.Checksum(big[i:min(i+5<<20, len(big))], crc32.MakeTable(crc32.Castagnoli))
			parts = binary.BigEndian.AppendUint32(parts, s)
		}
		composite := checksumOf(types.ChecksumAlgorithmCrc32c, parts) + "-3"
		full := checksumOf(types.ChecksumAlgorithmCrc32c, big)
		if attrs.Checksum == nil {
			t.Fatalf("GetObjectAttributes returned no Checksum; want COMPOSITE %s", composite)
		}
		got, typ := aws.ToString(attrs.Checksum.ChecksumCRC32C), attrs.Checksum.ChecksumType
		switch {
		case got == composite && (typ == types.ChecksumTypeComposite || typ == ""):
		case got == full && typ == types.ChecksumTypeFullObject:
			t.Errorf("multipart CRC32C without x-amz-checksum-type is FULL_OBJECT %s; S3 makes it COMPOSITE %s", got, composite)
		default:
			t.Errorf("multipart CRC32C = %s (type %q); want COMPOSITE %s (full-object value would be %s)", got, typ, composite, full)
		}
	})
}

// hostRecorder records the Host of every request the SDK sends.
type hostRecorder struct {
	mu    sync.Mutex
	hosts []string
	next  http.RoundTripper
}

func (h *hostRecorder) RoundTrip(r *http.Request) (*http.Response, error) {
	h.mu.Lock()
	h.hosts = append(h.hosts, r.URL.Host)
	h.mu.Unlock()
	return h.next.RoundTrip(r)
}

func TestSDKVirtualHosted(t *testing.T) {
	s := sharedSluice(t)
	rec := &hostRecorder{next: httpClient().Transport}
	c := s3Client(s, virtualHosted(s), noRetries(), func(o *s3.Options) { o.HTTPClient = &http.Client{Transport: rec} })
	ctx := context.Background()
	bucket := createBucket(t, c, "sdk-vhost")
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("dir/hello.txt"), Body: strings.NewReader("virtual")}); err != nil {
		t.Fatalf("PutObject: %v", err)
	}
	got, _ := getBody(t, c, bucket, "dir/hello.txt")
	if string(got) != "virtual" {
		t.Errorf("GetObject = %q", got)
	}
	list, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bucket)})
	if err != nil {
		t.Fatalf("ListObjectsV2: %v", err)
	}
	if len(list.Contents) != 1 || aws.ToString(list.Contents[0].Key) != "dir/hello.txt" {
		t.Errorf("listing = %+v", list.Contents)
	}
	if _, err := c.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Errorf("HeadBucket: %v", err)
	}
	// The same object is visible path-style.
	got, _ = getBody(t, s3Client(s), bucket, "dir/hello.txt")
	if string(got) != "virtual" {
		t.Errorf("path-style GetObject = %q", got)
	}
	if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String("dir/hello.txt")}); err != nil {
		t.Errorf("DeleteObject: %v", err)
	}
	_, err = c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket + "-missing"), Key: aws.String("x")})
	wantAPIError(t, "virtual-hosted GET in a missing bucket", err, "NoSuchBucket", 404)
	if _, err := c.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Errorf("DeleteBucket: %v", err)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	virtual := 0
	for _, h := range rec.hosts {
		if strings.HasPrefix(h, bucket+".localhost:") {
			virtual++
		}
	}
	if virtual < 5 {
		t.Errorf("only %d of %d requests used %s.localhost: %v", virtual, len(rec.hosts), bucket, rec.hosts)
	}
}

func TestSDKUploaderMultipart(t *testing.T) {
	s := sharedSluice(t)
	c := s3Client(s)
	ctx := context.Background()
	bucket := createBucket(t, c, "sdk-upload")
	body := randomBytes(23 << 20)
	up := manager.NewUploader(c, func(u *manager.Uploader) { u.PartSize = 5 << 20; u.Concurrency = 4 })
	res, err := up.Upload(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("big/video.bin"), Body: bytes.NewReader(body), ContentType: aws.String("video/mp4")})
	if err != nil {
		t.Fatalf("Upload: %v", err)
	}
	if !strings.HasSuffix(aws.ToString(res.ETag), `-5"`) {
		t.Errorf("multipart ETag = %s, want 5 parts", aws.ToString(res.ETag))
	}
	// The multipart ETag is the MD5 of the parts' binary MD5s, then -N.
	var sums []byte
	for i := 0; i < len(body); i += 5 << 20 {
		s := md5.Sum(body[i:min(i+5<<20, len(body))])
		sums = append(sums, s[:]...)
	}
	if want := `"` + md5hex(sums) + `-5"`; aws.ToString(res.ETag) != want {
		t.Errorf("multipart ETag = %s, want %s", aws.ToString(res.ETag), want)
	}

	dl := manager.NewDownloader(c, func(d *manager.Downloader) { d.PartSize = 4 << 20; d.Concurrency = 4 })
	buf := manager.NewWriteAtBuffer(make([]byte, 0, len(body)))
	n, err := dl.Download(ctx, buf, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String("big/video.bin")})
	if err != nil {
		t.Fatalf("Download: %v", err)
	}
	if n != int64(len(body)) || !bytes.Equal(buf.Bytes(), body) {
		t.Errorf("downloaded %d bytes, content equal %v", n, bytes.Equal(buf.Bytes(), body))
	}
	head, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String("big/video.bin")})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(head.ContentType) != "video/mp4" || aws.ToInt64(head.ContentLength) != int64(len(body)) {
		t.Errorf("HeadObject = type %q length %d", aws.ToString(head.ContentType), aws.ToInt64(head.ContentLength))
	}
	uploads, err := c.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String(bucket)})
	if err != nil {
		t.Fatal(err)
	}
	if len(uploads.Uploads) != 0 {
		t.Errorf("uploads left after completion: %+v", uploads.Uploads)
	}
}

func TestSDKConditionalAndConcurrentWrites(t *testing.T) {
	s := sharedSluice(t)
	c := s3Client(s, noRetries())
	ctx := context.Background()
	bucket := createBucket(t, c, "sdk-cond")

	t.Run("if-none-match star", func(t *testing.T) {
		put := func(body string) error {
			_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("once"), Body: strings.NewReader(body), IfNoneMatch: aws.String("*")})
			return err
		}
		if err := put("first"); err != nil {
			t.Fatalf("first conditional PUT: %v", err)
		}
		wantAPIError(t, "second conditional PUT", put("second"), "PreconditionFailed", 412)
		if got, _ := getBody(t, c, bucket, "once"); string(got) != "first" {
			t.Errorf("body = %q, want first", got)
		}
	})

	t.Run("if-none-match star race", func(t *testing.T) {
		const writers = 8
		var wg sync.WaitGroup
		errs := make([]error, writers)
		for i := range writers {
			wg.Go(func() {
				_, errs[i] = c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("race-once"),
					Body: bytes.NewReader(bytes.Repeat([]byte{byte('a' + i)}, 64<<10)), IfNoneMatch: aws.String("*")})
			})
		}
		wg.Wait()
		winner := -1
		for i, err := range errs {
			if err == nil {
				if winner >= 0 {
					t.Errorf("writers %d and %d both won a create-only PUT", winner, i)
				}
				winner = i
				continue
			}
			// S3 answers 412, or 409 when the competing write is still in flight.
			code, status := apiCode(err)
			if !(code == "PreconditionFailed" && status == 412) && !(code == "ConditionalRequestConflict" && status == 409) {
				t.Errorf("writer %d: %v, want 412 PreconditionFailed or 409 ConditionalRequestConflict", i, err)
			}
		}
		if winner < 0 {
			t.Fatal("no writer won")
		}
		got, _ := getBody(t, c, bucket, "race-once")
		if !bytes.Equal(got, bytes.Repeat([]byte{byte('a' + winner)}, 64<<10)) {
			t.Errorf("stored body is not the winner's")
		}
	})

	t.Run("last writer wins whole", func(t *testing.T) {
		const writers = 12
		bodies := make([][]byte, writers)
		etags := map[string]int{}
		for i := range bodies {
			bodies[i] = randomBytes(256<<10 + i)
			etags[`"`+md5hex(bodies[i])+`"`] = i
		}
		var wg sync.WaitGroup
		errs := make([]error, writers)
		for round := range 3 {
			for i := range writers {
				wg.Go(func() {
					_, errs[i] = c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("contended"), Body: bytes.NewReader(bodies[i])})
				})
			}
			wg.Wait()
			for i, err := range errs {
				if err != nil {
					t.Errorf("round %d writer %d: %v", round, i, err)
				}
			}
			got, out := getBody(t, c, bucket, "contended")
			i, ok := etags[aws.ToString(out.ETag)]
			if !ok {
				t.Fatalf("round %d: ETag %s matches no writer", round, aws.ToString(out.ETag))
			}
			if !bytes.Equal(got, bodies[i]) || aws.ToInt64(out.ContentLength) != int64(len(bodies[i])) {
				t.Errorf("round %d: body (%d bytes) is not writer %d's body that its ETag names", round, len(got), i)
			}
		}
	})

	t.Run("reader keeps its version across overwrite and delete", func(t *testing.T) {
		a, b := randomBytes(16<<20), randomBytes(16<<20+1)
		if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("stream"), Body: bytes.NewReader(a)}); err != nil {
			t.Fatal(err)
		}
		out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String("stream")})
		if err != nil {
			t.Fatal(err)
		}
		defer out.Body.Close()
		first := make([]byte, 1<<20)
		if _, err := io.ReadFull(out.Body, first); err != nil {
			t.Fatal(err)
		}
		if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("stream"), Body: bytes.NewReader(b)}); err != nil {
			t.Fatalf("overwrite during a read: %v", err)
		}
		if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String("stream")}); err != nil {
			t.Fatalf("delete during a read: %v", err)
		}
		rest, err := io.ReadAll(out.Body)
		if err != nil {
			t.Fatalf("finish reading after overwrite and delete: %v", err)
		}
		if got := append(first, rest...); !bytes.Equal(got, a) {
			t.Errorf("reader got %d bytes that are not the version it started (%d bytes)", len(got), len(a))
		}
		if aws.ToString(out.ETag) != `"`+md5hex(a)+`"` {
			t.Errorf("ETag %s is not the version read", aws.ToString(out.ETag))
		}
	})

	t.Run("conditional complete", func(t *testing.T) {
		if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("mp-once"), Body: strings.NewReader("exists")}); err != nil {
			t.Fatal(err)
		}
		up, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String(bucket), Key: aws.String("mp-once")})
		if err != nil {
			t.Fatal(err)
		}
		part, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String(bucket), Key: aws.String("mp-once"), UploadId: up.UploadId, PartNumber: aws.Int32(1), Body: strings.NewReader("new")})
		if err != nil {
			t.Fatal(err)
		}
		parts := &types.CompletedMultipartUpload{Parts: []types.CompletedPart{{PartNumber: aws.Int32(1), ETag: part.ETag}}}
		_, err = c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String(bucket), Key: aws.String("mp-once"), UploadId: up.UploadId, MultipartUpload: parts, IfNoneMatch: aws.String("*")})
		wantAPIError(t, "CompleteMultipartUpload If-None-Match * over an existing key", err, "PreconditionFailed", 412)
		if got, _ := getBody(t, c, bucket, "mp-once"); string(got) != "exists" {
			t.Errorf("body = %q after a refused complete", got)
		}
		if _, err := c.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: aws.String(bucket), Key: aws.String("mp-once"), UploadId: up.UploadId}); err != nil {
			t.Errorf("abort after the refused complete: %v", err)
		}
	})

	t.Run("partNumber on a single-part object", func(t *testing.T) {
		if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("single"), Body: strings.NewReader("0123456789")}); err != nil {
			t.Fatal(err)
		}
		out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String("single"), PartNumber: aws.Int32(1)})
		if err != nil {
			t.Fatalf("GetObject partNumber=1: %v", err)
		}
		b, _ := io.ReadAll(out.Body)
		out.Body.Close()
		if string(b) != "0123456789" {
			t.Errorf("part 1 of a single-part object = %q", b)
		}
		_, err = c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String("single"), PartNumber: aws.Int32(2)})
		wantAPIError(t, "GetObject partNumber=2 of a single-part object", err, "InvalidPartNumber", 416)
	})

	t.Run("if-match on put", func(t *testing.T) {
		put, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("cas"), Body: strings.NewReader("v1")})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("cas"), Body: strings.NewReader("v2"), IfMatch: put.ETag})
		if err != nil {
			t.Errorf("PUT with matching If-Match: %v", err)
		}
		_, err = c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("cas"), Body: strings.NewReader("v3"), IfMatch: put.ETag})
		wantAPIError(t, "PUT with stale If-Match", err, "PreconditionFailed", 412)
		if got, _ := getBody(t, c, bucket, "cas"); string(got) != "v2" {
			t.Errorf("body = %q, want v2", got)
		}
	})
}

func TestSDKOddKeys(t *testing.T) {
	s := sharedSluice(t)
	c := s3Client(s, noRetries())
	ctx := context.Background()
	bucket := createBucket(t, c, "sdk-odd")
	keys := []string{
		"../x", "a//b", "%", "+", "with space", "trailing space ", "emoji 😀 🚀", "ünïcödé/ファイル",
		"a/./b", "a/../b", "q?x=1&y=2", "#hash", "semi;colon", "~tilde", "*star", "eq=", "[br]{ce}",
		"back\\slash", "/leading-slash", "dir/", "%2F", "100%", "a+b c", "quote\"s", "<angle>", "&amp;", "é",
	}
	for _, k := range keys {
		_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(k), Body: strings.NewReader("key=" + k)})
		if err != nil {
			t.Errorf("PutObject %q: %v", k, err)
			continue
		}
		out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(k)})
		if err != nil {
			t.Errorf("GetObject %q: %v", k, err)
			continue
		}
		b, _ := io.ReadAll(out.Body)
		out.Body.Close()
		if string(b) != "key="+k {
			t.Errorf("GetObject %q = %q", k, b)
		}
	}

	var listed []string
	p := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), MaxKeys: aws.Int32(7)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatalf("ListObjectsV2: %v", err)
		}
		for _, o := range page.Contents {
			listed = append(listed, aws.ToString(o.Key))
		}
	}
	want := slices.Clone(keys)
	slices.Sort(want) // S3 lists in UTF-8 byte order, which Go's string order is.
	if diff := cmp.Diff(want, listed); diff != "" {
		t.Errorf("listing (-want +got):\n%s", diff)
	}

	t.Run("encoding-type url", func(t *testing.T) {
		req := signedRequest(t, s, http.MethodGet, s.URL+"/"+bucket+"?list-type=2&encoding-type=url", nil, signSpec{})
		resp := do(t, req)
		if resp.Status != http.StatusOK {
			t.Fatalf("list with encoding-type=url: %d %s", resp.Status, resp.Body)
		}
		var res struct {
			EncodingType string
			Contents     []struct{ Key string }
		}
		if err := xml.Unmarshal(resp.Body, &res); err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, c := range res.Contents {
			k, err := url.QueryUnescape(c.Key)
			if err != nil {
				t.Errorf("listed key %q is not URL-encoded: %v", c.Key, err)
			}
			got = append(got, k)
		}
		if diff := cmp.Diff(want, got); diff != "" || res.EncodingType != "url" {
			t.Errorf("EncodingType %q; decoded keys (-want +got):\n%s", res.EncodingType, diff)
		}
	})

	t.Run("copy and delete-objects", func(t *testing.T) {
		src := "emoji 😀 🚀"
		_, err := c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String(bucket), Key: aws.String("copied/" + src),
			CopySource: aws.String(url.PathEscape(bucket) + "/" + url.PathEscape(src))})
		if err != nil {
			t.Fatalf("CopyObject of %q: %v", src, err)
		}
		if got, _ := getBody(t, c, bucket, "copied/"+src); string(got) != "key="+src {
			t.Errorf("copied body = %q", got)
		}
		var ids []types.ObjectIdentifier
		for _, k := range append(keys, "copied/"+src) {
			ids = append(ids, types.ObjectIdentifier{Key: aws.String(k)})
		}
		res, err := c.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: aws.String(bucket), Delete: &types.Delete{Objects: ids}})
		if err != nil {
			t.Fatalf("DeleteObjects: %v", err)
		}
		if len(res.Errors) != 0 || len(res.Deleted) != len(ids) {
			t.Errorf("DeleteObjects: %d deleted, errors %+v", len(res.Deleted), res.Errors)
		}
		left, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bucket)})
		if err != nil {
			t.Fatal(err)
		}
		if aws.ToInt32(left.KeyCount) != 0 {
			var ks []string
			for _, o := range left.Contents {
				ks = append(ks, aws.ToString(o.Key))
			}
			t.Errorf("keys left after DeleteObjects: %q", ks)
		}
	})
}

func TestSDKNotImplementedAndMisc(t *testing.T) {
	s := sharedSluice(t)
	c := s3Client(s, noRetries())
	ctx := context.Background()
	bucket := createBucket(t, c, "sdk-misc")
	_, err := c.GetBucketLifecycleConfiguration(ctx, &s3.GetBucketLifecycleConfigurationInput{Bucket: aws.String(bucket)})
	wantAPIError(t, "GetBucketLifecycleConfiguration", err, "NotImplemented", 501)
	_, err = c.PutBucketEncryption(ctx, &s3.PutBucketEncryptionInput{Bucket: aws.String(bucket), ServerSideEncryptionConfiguration: &types.ServerSideEncryptionConfiguration{
		Rules: []types.ServerSideEncryptionRule{{ApplyServerSideEncryptionByDefault: &types.ServerSideEncryptionByDefault{SSEAlgorithm: types.ServerSideEncryptionAes256}}},
	}})
	wantAPIError(t, "PutBucketEncryption", err, "NotImplemented", 501)

	// Every response, errors included, carries a request id.
	resp := do(t, signedRequest(t, s, http.MethodGet, s.URL+"/"+bucket+"/missing", nil, signSpec{}))
	e := resp.errorCode()
	if resp.Status != 404 || e.Code != "NoSuchKey" || e.RequestID == "" || resp.Header.Get("X-Amz-Request-Id") != e.RequestID {
		t.Errorf("NoSuchKey response: %d %+v header id %q", resp.Status, e, resp.Header.Get("X-Amz-Request-Id"))
	}
	if ct := resp.Header.Get("Content-Type"); !strings.Contains(ct, "xml") {
		t.Errorf("error Content-Type = %q, want XML", ct)
	}
}

func TestSDKPresigned(t *testing.T) {
	s := sharedSluice(t)
	c := s3Client(s)
	ctx := context.Background()
	bucket := createBucket(t, c, "sdk-presign")
	pc := s3.NewPresignClient(c)

	put, err := pc.PresignPutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("up/photo.jpg"), ContentType: aws.String("image/jpeg")})
	if err != nil {
		t.Fatal(err)
	}
	body := randomBytes(200 << 10)
	req := mustRequest(t, put.Method, put.URL, body)
	for k, vs := range put.SignedHeader {
		if !strings.EqualFold(k, "Host") {
			req.Header[k] = vs
		}
	}
	if resp := do(t, req); resp.Status != http.StatusOK || resp.Header.Get("ETag") != `"`+md5hex(body)+`"` {
		t.Fatalf("presigned PUT: %d ETag %q %s", resp.Status, resp.Header.Get("ETag"), resp.Body)
	}

	// The signed Content-Type is part of the signature: another one fails.
	req = mustRequest(t, put.Method, put.URL, body)
	req.Header.Set("Content-Type", "text/plain")
	if resp := do(t, req); resp.Status != http.StatusForbidden || resp.errorCode().Code != "SignatureDoesNotMatch" {
		t.Errorf("presigned PUT with a different signed header: %d %s", resp.Status, resp.Body)
	}

	get, err := pc.PresignGetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String("up/photo.jpg")})
	if err != nil {
		t.Fatal(err)
	}
	resp := do(t, mustRequest(t, http.MethodGet, get.URL, nil))
	if resp.Status != http.StatusOK || !bytes.Equal(resp.Body, body) || resp.Header.Get("Content-Type") != "image/jpeg" {
		t.Errorf("presigned GET: %d %d bytes type %q", resp.Status, len(resp.Body), resp.Header.Get("Content-Type"))
	}
	// A presigned GET works for ranges too: the Range header is not signed.
	req = mustRequest(t, http.MethodGet, get.URL, nil)
	req.Header.Set("Range", "bytes=100-199")
	resp = do(t, req)
	if resp.Status != http.StatusPartialContent || !bytes.Equal(resp.Body, body[100:200]) {
		t.Errorf("presigned ranged GET: %d %d bytes", resp.Status, len(resp.Body))
	}
	// Tampering with the key invalidates the signature.
	other := strings.Replace(get.URL, "photo.jpg", "photo.jpeg", 1)
	if resp := do(t, mustRequest(t, http.MethodGet, other, nil)); resp.Status != http.StatusForbidden || resp.errorCode().Code != "SignatureDoesNotMatch" {
		t.Errorf("presigned GET for another key: %d %s", resp.Status, resp.Body)
	}
	// HEAD with a GET presign fails: the method is signed.
	if resp := do(t, mustRequest(t, http.MethodHead, get.URL, nil)); resp.Status != http.StatusForbidden {
		t.Errorf("HEAD with a presigned GET URL: %d", resp.Status)
	}
}
