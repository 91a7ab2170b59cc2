package s3api

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"hash/crc32"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/s3/manager"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/sluicehq/sluice"
)

const mib = 1 << 20

// multipartETag is S3's ETag of a multipart object, computed independently
// of the store.
func multipartETag(parts ...[]byte) string {
	h := md5.New()
	for _, p := range parts {
		s := md5.Sum(p)
		h.Write(s[:])
	}
	return `"` + hex.EncodeToString(h.Sum(nil)) + "-" + strconv.Itoa(len(parts)) + `"`
}

func quotedMD5(b []byte) string {
	s := md5.Sum(b)
	return `"` + hex.EncodeToString(s[:]) + `"`
}

func crc32B64(b []byte) string {
	var out [4]byte
	binary.BigEndian.PutUint32(out[:], crc32.ChecksumIEEE(b))
	return base64.StdEncoding.EncodeToString(out[:])
}

func sha256B64(b []byte) string {
	s := sha256.Sum256(b)
	return base64.StdEncoding.EncodeToString(s[:])
}

// compositeB64 is the COMPOSITE checksum: the digest of the concatenated
// binary part digests, then "-N".
func compositeB64(digest func([]byte) string, parts ...[]byte) string {
	var cat []byte
	for _, p := range parts {
		raw, _ := base64.StdEncoding.DecodeString(digest(p))
		cat = append(cat, raw...)
	}
	return digest(cat) + "-" + strconv.Itoa(len(parts))
}

func split(data []byte, size int) [][]byte {
	var out [][]byte
	for len(data) > size {
		out = append(out, data[:size])
		data = data[size:]
	}
	return append(out, data)
}

func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// TestUploaderRoundTrip drives the SDK's transfer manager, which uploads
// parts concurrently with CRC32 checksums, and reads the object back with
// checksum validation on.
func TestUploaderRoundTrip(t *testing.T) {
	tests := []struct {
		name     string
		partSize int64
		size     int
	}{
		{"5MiB parts", 5 * mib, 13 * mib},
		{"8MiB parts", 8 * mib, 20*mib + 17},
	}
	e := newMPEnv(t)
	bucket := e.bucket("uploader")
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := mpData(tt.size, uint64(i+1))
			key := "big/" + strconv.Itoa(i) + ".bin"
			up := manager.NewUploader(e.client, func(u *manager.Uploader) {
				u.PartSize = tt.partSize
				u.Concurrency = 3
			})
			out, err := up.Upload(context.Background(), &s3.PutObjectInput{
				Bucket:      aws.String(bucket),
				Key:         aws.String(key),
				Body:        bytes.NewReader(data),
				ContentType: aws.String("application/x-test"),
				Metadata:    map[string]string{"origin": "uploader"},
			})
			if err != nil {
				t.Fatalf("upload: %v", err)
			}
			parts := split(data, int(tt.partSize))
			if len(parts) != 3 {
				t.Fatalf("test wants 3 parts, has %d", len(parts))
			}
			if got, want := aws.ToString(out.ETag), multipartETag(parts...); got != want {
				t.Errorf("ETag = %s, want %s", got, want)
			}
			switch out.ChecksumType {
			case types.ChecksumTypeFullObject:
				if got, want := aws.ToString(out.ChecksumCRC32), crc32B64(data); got != want {
					t.Errorf("full-object CRC32 = %s, want %s", got, want)
				}
			case types.ChecksumTypeComposite:
				if got, want := aws.ToString(out.ChecksumCRC32), compositeB64(crc32B64, parts...); got != want {
					t.Errorf("composite CRC32 = %s, want %s", got, want)
				}
			default:
				t.Errorf("checksum type = %q, want FULL_OBJECT or COMPOSITE", out.ChecksumType)
			}

			get, err := e.client.GetObject(context.Background(), &s3.GetObjectInput{
				Bucket:       aws.String(bucket),
				Key:          aws.String(key),
				ChecksumMode: types.ChecksumModeEnabled,
			})
			if err != nil {
				t.Fatalf("get: %v", err)
			}
			got, err := io.ReadAll(get.Body)
			get.Body.Close()
			if err != nil {
				t.Fatalf("read (with checksum validation): %v", err)
			}
			if !bytes.Equal(got, data) {
				t.Fatalf("read back %d bytes differing from the %d uploaded", len(got), len(data))
			}
			if aws.ToString(get.ContentType) != "application/x-test" || get.Metadata["origin"] != "uploader" {
				t.Errorf("metadata lost: content-type %q, meta %v", aws.ToString(get.ContentType), get.Metadata)
			}
		})
	}
}

// TestMultipartLifecycle walks the low-level API: create with metadata and
// SHA256, parts, paginated ListParts, complete with quoted and unquoted
// ETags, and the object's head afterwards.
func TestMultipartLifecycle(t *testing.T) {
	e := newMPEnv(t)
	ctx := context.Background()
	bucket, key := e.bucket("life"), "dir/obj name.txt"
	created, err := e.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{
		Bucket:            aws.String(bucket),
		Key:               aws.String(key),
		ContentType:       aws.String("text/plain"),
		Metadata:          map[string]string{"color": "blue"},
		ChecksumAlgorithm: types.ChecksumAlgorithmSha256,
	})
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	if created.ChecksumAlgorithm != types.ChecksumAlgorithmSha256 || created.ChecksumType != types.ChecksumTypeComposite {
		t.Errorf("create checksum = %s/%s, want SHA256/COMPOSITE", created.ChecksumAlgorithm, created.ChecksumType)
	}
	if aws.ToString(created.Bucket) != bucket || aws.ToString(created.Key) != key {
		t.Errorf("create names %s/%s", aws.ToString(created.Bucket), aws.ToString(created.Key))
	}
	id := created.UploadId
	parts := [][]byte{mpData(5*mib, 10), mpData(1000, 11)}
	etags := make([]string, len(parts))
	for i, p := range parts {
		out, err := e.client.UploadPart(ctx, &s3.UploadPartInput{
			Bucket: aws.String(bucket), Key: aws.String(key), UploadId: id,
			PartNumber: aws.Int32(int32(i + 1)), Body: bytes.NewReader(p),
			ChecksumAlgorithm: types.ChecksumAlgorithmSha256,
		})
		if err != nil {
			t.Fatalf("part %d: %v", i+1, err)
		}
		etags[i] = aws.ToString(out.ETag)
		if etags[i] != quotedMD5(p) {
			t.Errorf("part %d ETag = %s, want %s", i+1, etags[i], quotedMD5(p))
		}
		if got := aws.ToString(out.ChecksumSHA256); got != sha256B64(p) {
			t.Errorf("part %d SHA256 = %s, want %s", i+1, got, sha256B64(p))
		}
	}

	type listed struct {
		Number int32
		ETag   string
		Size   int64
		SHA256 string
	}
	var got []listed
	var marker *string
	pages := 0
	for {
		out, err := e.client.ListParts(ctx, &s3.ListPartsInput{
			Bucket: aws.String(bucket), Key: aws.String(key), UploadId: id,
			MaxParts: aws.Int32(1), PartNumberMarker: marker,
		})
		if err != nil {
			t.Fatalf("list parts: %v", err)
		}
		pages++
		if aws.ToInt32(out.MaxParts) != 1 || out.StorageClass != types.StorageClassStandard {
			t.Errorf("page fields: max %d, class %q", aws.ToInt32(out.MaxParts), out.StorageClass)
		}
		if out.Owner == nil || aws.ToString(out.Owner.ID) == "" || out.Initiator == nil || aws.ToString(out.Initiator.ID) == "" {
			t.Errorf("owner/initiator missing")
		}
		if out.ChecksumAlgorithm != types.ChecksumAlgorithmSha256 {
			t.Errorf("list checksum algorithm = %q", out.ChecksumAlgorithm)
		}
		for _, p := range out.Parts {
			got = append(got, listed{aws.ToInt32(p.PartNumber), aws.ToString(p.ETag), aws.ToInt64(p.Size), aws.ToString(p.ChecksumSHA256)})
			if p.LastModified == nil || p.LastModified.IsZero() {
				t.Errorf("part %d has no LastModified", aws.ToInt32(p.PartNumber))
			}
		}
		if !aws.ToBool(out.IsTruncated) {
			break
		}
		marker = out.NextPartNumberMarker
	}
	want := []listed{
		{1, etags[0], 5 * mib, sha256B64(parts[0])},
		{2, etags[1], 1000, sha256B64(parts[1])},
	}
	if diff := cmp.Diff(want, got); diff != "" || pages != 2 {
		t.Errorf("ListParts over %d pages (-want +got):\n%s", pages, diff)
	}

	done, err := e.client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
		Bucket: aws.String(bucket), Key: aws.String(key), UploadId: id,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{
			{PartNumber: aws.Int32(1), ETag: aws.String(strings.Trim(etags[0], `"`)), ChecksumSHA256: aws.String(sha256B64(parts[0]))},
			{PartNumber: aws.Int32(2), ETag: aws.String(etags[1])},
		}},
	})
	if err != nil {
		t.Fatalf("complete: %v", err)
	}
	if got, want := aws.ToString(done.ETag), multipartETag(parts...); got != want {
		t.Errorf("complete ETag = %s, want %s", got, want)
	}
	if got, want := aws.ToString(done.ChecksumSHA256), compositeB64(sha256B64, parts...); got != want {
		t.Errorf("complete SHA256 = %s, want %s", got, want)
	}
	if done.ChecksumType != types.ChecksumTypeComposite {
		t.Errorf("complete checksum type = %q", done.ChecksumType)
	}
	if loc := aws.ToString(done.Location); loc != e.url+"/"+bucket+"/dir/obj%20name.txt" {
		t.Errorf("Location = %s", loc)
	}

	head, err := e.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatalf("head: %v", err)
	}
	if aws.ToInt64(head.ContentLength) != 5*mib+1000 || aws.ToString(head.ContentType) != "text/plain" || head.Metadata["color"] != "blue" {
		t.Errorf("head: length %d, type %q, meta %v", aws.ToInt64(head.ContentLength), aws.ToString(head.ContentType), head.Metadata)
	}
	if !bytes.Equal(e.get(bucket, key), append(append([]byte{}, parts[0]...), parts[1]...)) {
		t.Error("object bytes differ from the parts")
	}
	_, err = e.client.ListParts(ctx, &s3.ListPartsInput{Bucket: aws.String(bucket), Key: aws.String(key), UploadId: id})
	if apiCode(err) != "NoSuchUpload" {
		t.Errorf("ListParts after complete: %v, want NoSuchUpload", err)
	}
}

func TestCreateMultipartUploadWire(t *testing.T) {
	e := newMPEnv(t)
	e.bucket("wire")
	resp, body := e.do("POST", "/wire/a%2Fb?uploads", nil, "x-amz-checksum-algorithm", "CRC32")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	var res initiateMultipartUploadResult
	if err := xml.Unmarshal(body, &res); err != nil {
		t.Fatal(err)
	}
	want := xml.Header + `<InitiateMultipartUploadResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">` +
		`<Bucket>wire</Bucket><Key>a/b</Key><UploadId>` + res.UploadID + `</UploadId></InitiateMultipartUploadResult>`
	if string(body) != want {
		t.Errorf("body:\n%s\nwant:\n%s", body, want)
	}
	if got := resp.Header.Get("x-amz-checksum-algorithm"); got != "CRC32" {
		t.Errorf("x-amz-checksum-algorithm = %q", got)
	}
	if got := resp.Header.Get("x-amz-checksum-type"); got != "COMPOSITE" {
		t.Errorf("x-amz-checksum-type = %q, want COMPOSITE, S3's default for CRC32", got)
	}

	tests := []struct {
		name   string
		header []string
		status int
		code   string
	}{
		{"unknown algorithm", []string{"x-amz-checksum-algorithm", "MD4"}, 400, "InvalidRequest"},
		{"sha1 full object", []string{"x-amz-checksum-algorithm", "SHA1", "x-amz-checksum-type", "FULL_OBJECT"}, 400, "InvalidRequest"},
		{"type without algorithm", []string{"x-amz-checksum-type", "COMPOSITE"}, 400, "InvalidRequest"},
		{"no such bucket", nil, 404, "NoSuchBucket"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := "/wire/k?uploads"
			if tt.code == "NoSuchBucket" {
				path = "/missing-bucket/k?uploads"
			}
			resp, body := e.do("POST", path, nil, tt.header...)
			expectError(t, resp, body, tt.status, tt.code)
		})
	}
}

// TestUploadPartChecksums covers part integrity: Content-MD5, a checksum
// header on an upload created without one (SDKs add CRC32 by default), and
// a checksum in another algorithm than the upload's.
func TestUploadPartChecksums(t *testing.T) {
	e := newMPEnv(t)
	e.bucket("sums")
	plain := e.createUpload("sums", "plain")
	crc := e.createUpload("sums", "crc", "x-amz-checksum-algorithm", "CRC32")
	data := mpData(4096, 3)
	md5sum := md5.Sum(data)
	goodMD5 := base64.StdEncoding.EncodeToString(md5sum[:])
	tests := []struct {
		name   string
		key    string
		id     string
		header []string
		status int
		code   string
	}{
		{"content-md5 ok", "plain", plain, []string{"Content-MD5", goodMD5}, 200, ""},
		{"content-md5 wrong", "plain", plain, []string{"Content-MD5", base64.StdEncoding.EncodeToString(make([]byte, 16))}, 400, "BadDigest"},
		{"crc32 on plain upload ok", "plain", plain, []string{"x-amz-checksum-crc32", crc32B64(data)}, 200, ""},
		{"crc32 on plain upload wrong", "plain", plain, []string{"x-amz-checksum-crc32", crc32B64([]byte("x"))}, 400, "BadDigest"},
		{"crc32 on crc32 upload ok", "crc", crc, []string{"x-amz-checksum-crc32", crc32B64(data)}, 200, ""},
		{"crc32 on crc32 upload wrong", "crc", crc, []string{"x-amz-checksum-crc32", crc32B64([]byte("x"))}, 400, "BadDigest"},
		{"sha256 on crc32 upload", "crc", crc, []string{"x-amz-checksum-sha256", sha256B64(data)}, 400, "InvalidRequest"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := e.do("PUT", "/sums/"+tt.key+"?partNumber=1&uploadId="+tt.id, data, tt.header...)
			if tt.code != "" {
				expectError(t, resp, body, tt.status, tt.code)
				return
			}
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			if got := resp.Header.Get("ETag"); got != quotedMD5(data) {
				t.Errorf("ETag = %s, want %s", got, quotedMD5(data))
			}
			if tt.key == "crc" {
				if got := resp.Header.Get("x-amz-checksum-crc32"); got != crc32B64(data) {
					t.Errorf("x-amz-checksum-crc32 = %q, want %q", got, crc32B64(data))
				}
			}
		})
	}
}

func TestUploadPartCopy(t *testing.T) {
	e := newMPEnv(t)
	ctx := context.Background()
	src := mpData(6*mib+100, 20)
	e.bucket("srcb")
	e.bucket("dstb")
	srcPut := e.put("srcb", "the source", src)
	id := e.createUpload("dstb", "assembled")

	copies := []struct {
		rng  string
		want []byte
	}{
		{"bytes=0-5242879", src[:5*mib]},
		{"", src},
		{"bytes=5242880-" + strconv.Itoa(len(src)-1), src[5*mib:]},
	}
	var completed []types.CompletedPart
	for i, c := range copies {
		in := &s3.UploadPartCopyInput{
			Bucket: aws.String("dstb"), Key: aws.String("assembled"), UploadId: aws.String(id),
			PartNumber: aws.Int32(int32(i + 1)), CopySource: aws.String("srcb/the%20source"),
			CopySourceIfMatch: srcPut.ETag,
		}
		if c.rng != "" {
			in.CopySourceRange = aws.String(c.rng)
		}
		out, err := e.client.UploadPartCopy(ctx, in)
		if err != nil {
			t.Fatalf("copy part %d: %v", i+1, err)
		}
		if got := aws.ToString(out.CopyPartResult.ETag); got != quotedMD5(c.want) {
			t.Errorf("part %d ETag = %s, want %s", i+1, got, quotedMD5(c.want))
		}
		if out.CopyPartResult.LastModified == nil || out.CopyPartResult.LastModified.IsZero() {
			t.Errorf("part %d: no LastModified", i+1)
		}
		completed = append(completed, types.CompletedPart{PartNumber: aws.Int32(int32(i + 1)), ETag: out.CopyPartResult.ETag})
	}
	done, err := e.client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
		Bucket: aws.String("dstb"), Key: aws.String("assembled"), UploadId: aws.String(id),
		MultipartUpload: &types.CompletedMultipartUpload{Parts: completed},
	})
	if err != nil {
		t.Fatalf("complete: %v", err)
	}
	if got, want := aws.ToString(done.ETag), multipartETag(copies[0].want, copies[1].want, copies[2].want); got != want {
		t.Errorf("ETag = %s, want %s", got, want)
	}
	var want []byte
	for _, c := range copies {
		want = append(want, c.want...)
	}
	if !bytes.Equal(e.get("dstb", "assembled"), want) {
		t.Error("assembled object differs from the copied ranges")
	}

	id2 := e.createUpload("dstb", "second")
	path := "/dstb/second?partNumber=1&uploadId=" + id2
	tests := []struct {
		name   string
		header []string
		status int
		code   string
	}{
		{"range without bytes=", []string{"x-amz-copy-source-range", "0-10"}, 400, "InvalidArgument"},
		{"range not numeric", []string{"x-amz-copy-source-range", "bytes=a-b"}, 400, "InvalidArgument"},
		{"open range", []string{"x-amz-copy-source-range", "bytes=10-"}, 400, "InvalidArgument"},
		{"suffix range", []string{"x-amz-copy-source-range", "bytes=-10"}, 400, "InvalidArgument"},
		{"two ranges", []string{"x-amz-copy-source-range", "bytes=0-1,3-4"}, 400, "InvalidArgument"},
		{"range past end", []string{"x-amz-copy-source-range", "bytes=0-" + strconv.Itoa(len(src))}, 416, "InvalidRange"},
		{"range reversed", []string{"x-amz-copy-source-range", "bytes=10-5"}, 416, "InvalidRange"},
		{"if-match mismatch", []string{"x-amz-copy-source-if-match", `"0123"`}, 412, "PreconditionFailed"},
		{"if-none-match match", []string{"x-amz-copy-source-if-none-match", aws.ToString(srcPut.ETag)}, 412, "PreconditionFailed"},
		{"source missing", []string{"x-amz-copy-source", "/srcb/nope"}, 404, "NoSuchKey"},
		{"source bucket missing", []string{"x-amz-copy-source", "/nobucket/x"}, 404, "NoSuchBucket"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := append([]string{"x-amz-copy-source", "/srcb/the%20source"}, tt.header...)
			resp, body := e.do("PUT", path, nil, h...)
			we := expectError(t, resp, body, tt.status, tt.code)
			if tt.code == "InvalidArgument" && we.ArgumentName != "x-amz-copy-source-range" {
				t.Errorf("ArgumentName = %q", we.ArgumentName)
			}
		})
	}
	resp, body := e.do("PUT", "/dstb/second?partNumber=1&uploadId=bogus", nil, "x-amz-copy-source", "srcb/the%20source")
	expectError(t, resp, body, 404, "NoSuchUpload")
}

func TestListMultipartUploads(t *testing.T) {
	e := newMPEnv(t)
	ctx := context.Background()
	bucket := e.bucket("lmu")
	type upload struct{ Key, ID string }
	var want []upload
	for _, k := range []string{"a/1", "a/2", "b", "c", "c", "d"} {
		want = append(want, upload{k, e.createUpload(bucket, k)})
	}

	var got []upload
	var keyMarker, idMarker *string
	pages := 0
	for {
		out, err := e.client.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{
			Bucket: aws.String(bucket), MaxUploads: aws.Int32(2), KeyMarker: keyMarker, UploadIdMarker: idMarker,
		})
		if err != nil {
			t.Fatalf("list: %v", err)
		}
		pages++
		for _, u := range out.Uploads {
			got = append(got, upload{aws.ToString(u.Key), aws.ToString(u.UploadId)})
			if u.Initiated == nil || u.Owner == nil || u.Initiator == nil || u.StorageClass != types.StorageClassStandard {
				t.Errorf("upload %s lacks fields: %+v", aws.ToString(u.Key), u)
			}
		}
		if !aws.ToBool(out.IsTruncated) {
			break
		}
		keyMarker, idMarker = out.NextKeyMarker, out.NextUploadIdMarker
		if pages > 10 {
			t.Fatal("pagination does not end")
		}
	}
	// Uploads of one key are ordered by initiation time, which may tie at
	// the clock's resolution: compare the key order, then the sets.
	keysOf := func(us []upload) []string {
		var ks []string
		for _, u := range us {
			ks = append(ks, u.Key)
		}
		return ks
	}
	if diff := cmp.Diff(keysOf(want), keysOf(got)); diff != "" || pages != 3 {
		t.Errorf("paginated listing over %d pages (-want +got):\n%s", pages, diff)
	}
	byID := cmpopts.SortSlices(func(a, b upload) bool { return a.ID < b.ID })
	if diff := cmp.Diff(want, got, byID); diff != "" {
		t.Errorf("paginated listing (-want +got):\n%s", diff)
	}

	out, err := e.client.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String(bucket), Delimiter: aws.String("/")})
	if err != nil {
		t.Fatal(err)
	}
	var prefixes, keys []string
	for _, p := range out.CommonPrefixes {
		prefixes = append(prefixes, aws.ToString(p.Prefix))
	}
	for _, u := range out.Uploads {
		keys = append(keys, aws.ToString(u.Key))
	}
	if diff := cmp.Diff([]string{"a/"}, prefixes); diff != "" {
		t.Errorf("common prefixes (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"b", "c", "c", "d"}, keys); diff != "" {
		t.Errorf("keys with delimiter (-want +got):\n%s", diff)
	}

	out, err = e.client.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String(bucket), Prefix: aws.String("a/")})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Uploads) != 2 || aws.ToString(out.Prefix) != "a/" {
		t.Errorf("prefix a/: %d uploads, prefix %q", len(out.Uploads), aws.ToString(out.Prefix))
	}
}

// TestListMultipartUploadsWire checks the exact document, URL encoding and
// the parameter errors.
func TestListMultipartUploadsWire(t *testing.T) {
	e := newMPEnv(t)
	bucket := e.bucket("lmuwire")
	id := e.createUpload(bucket, "x%20y%2Bz", "x-amz-checksum-algorithm", "SHA256")
	page, err := e.store.ListUploads(context.Background(), bucket, sluice.ListUploadsOptions{MaxUploads: 10})
	if err != nil || len(page.Uploads) != 1 {
		t.Fatalf("store listing: %v %+v", err, page)
	}
	owner := `<ID>` + ownerID + `</ID><DisplayName>` + ownerDisplayName + `</DisplayName>`
	resp, body := e.do("GET", "/"+bucket+"?uploads&encoding-type=url&key-marker=", nil)
	want := xml.Header + `<ListMultipartUploadsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">` +
		`<Bucket>lmuwire</Bucket><KeyMarker></KeyMarker><UploadIdMarker></UploadIdMarker><NextKeyMarker>x+y%2Bz</NextKeyMarker>` +
		`<Prefix></Prefix><NextUploadIdMarker>` + id + `</NextUploadIdMarker><MaxUploads>1000</MaxUploads><IsTruncated>false</IsTruncated>` +
		`<Upload><Key>x+y%2Bz</Key><UploadId>` + id + `</UploadId><Initiator>` + owner + `</Initiator><Owner>` + owner + `</Owner>` +
		`<StorageClass>STANDARD</StorageClass><Initiated>` + isoTime(page.Uploads[0].Initiated) + `</Initiated>` +
		`<ChecksumAlgorithm>SHA256</ChecksumAlgorithm><ChecksumType>COMPOSITE</ChecksumType></Upload>` +
		`<EncodingType>url</EncodingType></ListMultipartUploadsResult>`
	if resp.StatusCode != 200 || string(body) != want {
		t.Errorf("status %d body:\n%s\nwant:\n%s", resp.StatusCode, body, want)
	}

	tests := []struct {
		name   string
		query  string
		status int
		code   string
	}{
		{"bad encoding", "encoding-type=xml", 400, "InvalidArgument"},
		{"negative max", "max-uploads=-1", 400, "InvalidArgument"},
		{"non-numeric max", "max-uploads=ten", 400, "InvalidArgument"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := e.do("GET", "/"+bucket+"?uploads&"+tt.query, nil)
			expectError(t, resp, body, tt.status, tt.code)
		})
	}
	resp, body = e.do("GET", "/no-such-bucket-here?uploads", nil)
	expectError(t, resp, body, 404, "NoSuchBucket")
}

func TestAbortMultipartUpload(t *testing.T) {
	e := newMPEnv(t)
	e.bucket("abort")
	id := e.createUpload("abort", "k")
	e.uploadPart("abort", "k", id, 1, []byte("hello"))
	resp, body := e.do("DELETE", "/abort/k?uploadId="+id, nil)
	if resp.StatusCode != http.StatusNoContent || len(body) != 0 {
		t.Fatalf("abort: %d %s", resp.StatusCode, body)
	}
	for _, c := range []struct{ method, path string }{
		{"DELETE", "/abort/k?uploadId=" + id},
		{"GET", "/abort/k?uploadId=" + id},
		{"PUT", "/abort/k?partNumber=2&uploadId=" + id},
		{"POST", "/abort/k?uploadId=" + id},
	} {
		var b []byte
		if c.method == "POST" {
			b = completeXML(1, `"x"`)
		}
		resp, body := e.do(c.method, c.path, b)
		expectError(t, resp, body, 404, "NoSuchUpload")
	}
	up, err := e.client.ListMultipartUploads(context.Background(), &s3.ListMultipartUploadsInput{Bucket: aws.String("abort")})
	if err != nil || len(up.Uploads) != 0 {
		t.Errorf("uploads after abort: %v %v", err, up)
	}
}

func TestMultipartErrors(t *testing.T) {
	e := newMPEnv(t)
	e.bucket("errs")
	e.put("errs", "exists", []byte("already here"))
	id := e.createUpload("errs", "k")
	small1 := e.uploadPart("errs", "k", id, 1, []byte("first part is small"))
	small2 := e.uploadPart("errs", "k", id, 2, []byte("second"))
	idExists := e.createUpload("errs", "exists")
	e1 := e.uploadPart("errs", "exists", idExists, 1, []byte("new content"))
	up := "/errs/k?uploadId=" + id

	tests := []struct {
		name   string
		method string
		path   string
		body   []byte
		header []string
		status int
		code   string
		check  func(t *testing.T, we wireError)
	}{
		{name: "part to unknown upload", method: "PUT", path: "/errs/k?partNumber=1&uploadId=nope", body: []byte("x"), status: 404, code: "NoSuchUpload"},
		{name: "part number 0", method: "PUT", path: "/errs/k?partNumber=0&uploadId=" + id, body: []byte("x"), status: 400, code: "InvalidArgument",
			check: func(t *testing.T, we wireError) {
				if we.Message != "Part number must be an integer between 1 and 10000, inclusive" || we.ArgumentName != "partNumber" || we.ArgumentValue != "0" {
					t.Errorf("error = %+v", we)
				}
			}},
		{name: "part number 10001", method: "PUT", path: "/errs/k?partNumber=10001&uploadId=" + id, body: []byte("x"), status: 400, code: "InvalidArgument"},
		{name: "part number not a number", method: "PUT", path: "/errs/k?partNumber=one&uploadId=" + id, body: []byte("x"), status: 400, code: "InvalidArgument"},
		{name: "complete wrong etag", method: "POST", path: up, body: completeXML(1, small1, 2, `"00000000000000000000000000000000"`), status: 400, code: "InvalidPart"},
		{name: "complete unknown part", method: "POST", path: up, body: completeXML(1, small1, 7, small2), status: 400, code: "InvalidPart"},
		{name: "complete out of order", method: "POST", path: up, body: completeXML(2, small2, 1, small1), status: 400, code: "InvalidPartOrder"},
		{name: "complete small first part", method: "POST", path: up, body: completeXML(1, small1, 2, small2), status: 400, code: "EntityTooSmall"},
		{name: "complete empty body", method: "POST", path: up, status: 400, code: "MalformedXML"},
		{name: "complete not xml", method: "POST", path: up, body: []byte("parts please"), status: 400, code: "MalformedXML"},
		{name: "complete zero parts", method: "POST", path: up, body: []byte("<CompleteMultipartUpload></CompleteMultipartUpload>"), status: 400, code: "MalformedXML"},
		{name: "complete wrong root", method: "POST", path: up, body: []byte("<Complete><Part><PartNumber>1</PartNumber><ETag>x</ETag></Part></Complete>"), status: 400, code: "MalformedXML"},
		{name: "complete part number text", method: "POST", path: up, body: []byte("<CompleteMultipartUpload><Part><PartNumber>one</PartNumber><ETag>x</ETag></Part></CompleteMultipartUpload>"), status: 400, code: "MalformedXML"},
		{name: "complete unknown upload", method: "POST", path: "/errs/k?uploadId=nope", body: completeXML(1, small1), status: 404, code: "NoSuchUpload"},
		{name: "complete if-none-match existing", method: "POST", path: "/errs/exists?uploadId=" + idExists, body: completeXML(1, e1),
			header: []string{"If-None-Match", "*"}, status: 412, code: "PreconditionFailed"},
		{name: "complete if-match wrong", method: "POST", path: "/errs/exists?uploadId=" + idExists, body: completeXML(1, e1),
			header: []string{"If-Match", `"ffff"`}, status: 412, code: "PreconditionFailed"},
		{name: "complete if-none-match etag", method: "POST", path: "/errs/exists?uploadId=" + idExists, body: completeXML(1, e1),
			header: []string{"If-None-Match", `"ffff"`}, status: 501, code: "NotImplemented"},
		{name: "list parts unknown upload", method: "GET", path: "/errs/k?uploadId=nope", status: 404, code: "NoSuchUpload"},
		{name: "list parts other key", method: "GET", path: "/errs/other?uploadId=" + id, status: 404, code: "NoSuchUpload"},
		{name: "list parts negative max", method: "GET", path: up + "&max-parts=-1", status: 400, code: "InvalidArgument"},
		{name: "list parts bad marker", method: "GET", path: up + "&part-number-marker=x", status: 400, code: "InvalidArgument"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := e.do(tt.method, tt.path, tt.body, tt.header...)
			we := expectError(t, resp, body, tt.status, tt.code)
			if tt.check != nil {
				tt.check(t, we)
			}
		})
	}

	// Nothing above consumed the upload: it still completes once valid.
	resp, body := e.do("POST", up, completeXML(2, small2))
	if resp.StatusCode != 200 {
		t.Fatalf("complete after errors: %d %s", resp.StatusCode, body)
	}
	var res completeMultipartUploadResult
	if err := xml.Unmarshal(body, &res); err != nil {
		t.Fatal(err)
	}
	want := completeMultipartUploadResult{
		XMLName:  xml.Name{Space: "http://s3.amazonaws.com/doc/2006-03-01/", Local: "CompleteMultipartUploadResult"},
		Location: e.url + "/errs/k", Bucket: "errs", Key: "k", ETag: multipartETag([]byte("second")),
	}
	if diff := cmp.Diff(want, res, cmp.AllowUnexported(completeMultipartUploadResult{})); diff != "" {
		t.Errorf("complete result (-want +got):\n%s", diff)
	}
}

// TestListPartsWire checks the exact ListParts document of a page.
func TestListPartsWire(t *testing.T) {
	e := newMPEnv(t)
	e.bucket("lparts")
	id := e.createUpload("lparts", "k", "x-amz-checksum-algorithm", "CRC32", "x-amz-storage-class", "STANDARD_IA")
	p1 := []byte("one")
	p2 := []byte("two!")
	e.do("PUT", "/lparts/k?partNumber=1&uploadId="+id, p1, "x-amz-checksum-crc32", crc32B64(p1))
	e.do("PUT", "/lparts/k?partNumber=3&uploadId="+id, p2, "x-amz-checksum-crc32", crc32B64(p2))
	page, err := e.store.ListParts(context.Background(), "lparts", "k", id, 0, 10)
	if err != nil || len(page.Parts) != 2 {
		t.Fatalf("store parts: %v %+v", err, page)
	}
	owner := `<ID>` + ownerID + `</ID><DisplayName>` + ownerDisplayName + `</DisplayName>`
	resp, body := e.do("GET", "/lparts/k?uploadId="+id+"&max-parts=1", nil)
	want := xml.Header + `<ListPartsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">` +
		`<Bucket>lparts</Bucket><Key>k</Key><UploadId>` + id + `</UploadId><PartNumberMarker>0</PartNumberMarker>` +
		`<NextPartNumberMarker>1</NextPartNumberMarker><MaxParts>1</MaxParts><IsTruncated>true</IsTruncated>` +
		`<Part><PartNumber>1</PartNumber><LastModified>` + isoTime(page.Parts[0].LastModified) + `</LastModified>` +
		`<ETag>` + xmlEscape(quotedMD5(p1)) + `</ETag><Size>3</Size><ChecksumCRC32>` + crc32B64(p1) + `</ChecksumCRC32></Part>` +
		`<Initiator>` + owner + `</Initiator><Owner>` + owner + `</Owner><StorageClass>STANDARD_IA</StorageClass>` +
		`<ChecksumAlgorithm>CRC32</ChecksumAlgorithm><ChecksumType>COMPOSITE</ChecksumType></ListPartsResult>`
	if resp.StatusCode != 200 || string(body) != want {
		t.Errorf("status %d body:\n%s\nwant:\n%s", resp.StatusCode, body, want)
	}
	resp, body = e.do("GET", "/lparts/k?uploadId="+id+"&part-number-marker=1", nil)
	var res listPartsResult
	if err := xml.Unmarshal(body, &res); err != nil || resp.StatusCode != 200 {
		t.Fatalf("second page: %d %v %s", resp.StatusCode, err, body)
	}
	if len(res.Parts) != 1 || res.Parts[0].PartNumber != 3 || res.IsTruncated || res.NextPartNumberMarker != 3 || res.PartNumberMarker != 1 {
		t.Errorf("second page = %+v", res)
	}
}

func xmlEscape(s string) string {
	var b strings.Builder
	xml.EscapeText(&b, []byte(s))
	return b.String()
}

// FuzzCompleteMultipartXML feeds arbitrary bodies to
// CompleteMultipartUpload: the answer is always a clean S3 error (or a
// success), never a panic or an internal error.
func FuzzCompleteMultipartXML(f *testing.F) {
	for _, s := range []string{
		"",
		"<CompleteMultipartUpload/>",
		`<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>"abc"</ETag></Part></CompleteMultipartUpload>`,
		`<CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Part><PartNumber>2</PartNumber><ETag>x</ETag><ChecksumCRC32>AAAAAA==</ChecksumCRC32></Part><Part><PartNumber>1</PartNumber><ETag>y</ETag></Part></CompleteMultipartUpload>`,
		`<CompleteMultipartUpload><Part><PartNumber>-1</PartNumber></Part></CompleteMultipartUpload>`,
		`<CompleteMultipartUpload><Part><PartNumber>99999999999999999999</PartNumber></Part></CompleteMultipartUpload>`,
		`<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>&quot;e&quot;</ETag></Part>`,
		`<!DOCTYPE x [<!ENTITY a "aaaa">]><CompleteMultipartUpload>&a;</CompleteMultipartUpload>`,
		"<a><b><c><d></d></c></b></a>",
		"\x00\xff<",
	} {
		f.Add([]byte(s))
	}
	st := newFuzzEnv(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		req := httptest.NewRequest("POST", "/fuzz/k?uploadId="+st.id, bytes.NewReader(body))
		req.Header.Set("Authorization", "AWS4-HMAC-SHA256 test")
		rec := httptest.NewRecorder()
		st.h.ServeHTTP(rec, req)
		if rec.Code == http.StatusOK {
			return
		}
		var we wireError
		if err := xml.Unmarshal(rec.Body.Bytes(), &we); err != nil {
			t.Fatalf("status %d with a body that is not an error document: %q", rec.Code, rec.Body.Bytes())
		}
		switch we.Code {
		case "MalformedXML", "InvalidPart", "InvalidPartOrder", "InvalidArgument", "EntityTooSmall", "NoSuchUpload", "MaxMessageLengthExceeded":
		default:
			t.Fatalf("status %d code %q for body %q", rec.Code, we.Code, body)
		}
	})
}

type fuzzEnv struct {
	h  http.Handler
	id string
}

// newFuzzEnv is a bucket "fuzz" with one open upload for key "k" whose
// part 1 is uploaded; requests go straight to the handler, as the caller.
func newFuzzEnv(f *testing.F) fuzzEnv {
	e := newMPEnv(f)
	e.bucket("fuzz")
	id := e.createUpload("fuzz", "k")
	e.uploadPart("fuzz", "k", id, 1, []byte("part one"))
	return fuzzEnv{h: frontDoor(e.srv), id: id}
}

// TestPartSizeLimits runs a server whose size limit is small enough to
// cross: parts and copy sources above it are refused before any byte is
// stored.
func TestPartSizeLimits(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxPutSize = 1024
	e := mpEnvOf(newTestServerConfig(t, cfg))
	e.bucket("limits")
	id := e.createUpload("limits", "k")
	resp, body := e.do("PUT", "/limits/k?partNumber=1&uploadId="+id, make([]byte, 1025))
	we := expectError(t, resp, body, 400, "EntityTooLarge")
	if we.Message != "Your proposed upload exceeds the maximum allowed size" {
		t.Errorf("message = %q", we.Message)
	}
	e.uploadPart("limits", "k", id, 1, make([]byte, 1024))

	e.put("limits", "small", make([]byte, 1000))
	// A source above the limit can only be written around the server.
	if _, err := e.store.PutObject(context.Background(), &sluice.PutObjectInput{
		Bucket: "limits", Key: "large", Body: bytes.NewReader(make([]byte, 2048)), Size: 2048,
	}); err != nil {
		t.Fatal(err)
	}
	resp, body = e.do("PUT", "/limits/copy", nil, "x-amz-copy-source", "limits/large")
	we = expectError(t, resp, body, 400, "InvalidRequest")
	if we.Message != "The specified copy source is larger than the maximum allowable size for a copy source: 1024" {
		t.Errorf("message = %q", we.Message)
	}
	resp, body = e.do("PUT", "/limits/k?partNumber=2&uploadId="+id, nil, "x-amz-copy-source", "limits/large")
	expectError(t, resp, body, 400, "InvalidRequest")
	resp, body = e.do("PUT", "/limits/k?partNumber=2&uploadId="+id, nil, "x-amz-copy-source", "limits/large", "x-amz-copy-source-range", "bytes=0-1023")
	if resp.StatusCode != 200 {
		t.Errorf("copy of a range within the limit: %d %s", resp.StatusCode, body)
	}
	resp, body = e.do("PUT", "/limits/copy", nil, "x-amz-copy-source", "limits/small")
	if resp.StatusCode != 200 {
		t.Errorf("copy within the limit: %d %s", resp.StatusCode, body)
	}
}

// TestCompleteBodyIntegrity: integrity headers on the complete request are
// checked against its XML body.
func TestCompleteBodyIntegrity(t *testing.T) {
	e := newMPEnv(t)
	e.bucket("cmpint")
	id := e.createUpload("cmpint", "k")
	etag := e.uploadPart("cmpint", "k", id, 1, []byte("part"))
	doc := completeXML(1, etag)
	resp, body := e.do("POST", "/cmpint/k?uploadId="+id, doc, "Content-MD5", b64md5([]byte("something else")))
	expectError(t, resp, body, 400, "BadDigest")
	resp, body = e.do("POST", "/cmpint/k?uploadId="+id, doc, "Content-MD5", b64md5(doc))
	if resp.StatusCode != 200 {
		t.Fatalf("complete with a matching Content-MD5: %d %s", resp.StatusCode, body)
	}
}
