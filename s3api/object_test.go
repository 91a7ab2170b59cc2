package s3api

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/google/go-cmp/cmp"
	"github.com/sluicehq/sluice"
)

func b64md5(b []byte) string {
	s := md5.Sum(b)
	return base64.StdEncoding.EncodeToString(s[:])
}

func b64crc32(b []byte) string {
	v := crc32.ChecksumIEEE(b)
	return base64.StdEncoding.EncodeToString([]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

func TestPutGetHeadSDK(t *testing.T) {
	ts := newTestServer(t)
	ts.mkBucket("obj")
	ctx := context.Background()
	c := ts.Client
	body := []byte("hello, sluice")
	expires := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	put, err := c.PutObject(ctx, &s3.PutObjectInput{
		Bucket:             aws.String("obj"),
		Key:                aws.String("dir/file.txt"),
		Body:               bytes.NewReader(body),
		ContentType:        aws.String("text/plain"),
		ContentEncoding:    aws.String("identity"),
		ContentDisposition: aws.String(`attachment; filename="f.txt"`),
		ContentLanguage:    aws.String("en"),
		CacheControl:       aws.String("max-age=60"),
		Expires:            aws.Time(expires),
		Metadata:           map[string]string{"Color": "blue", "x-y": "z"},
		Tagging:            aws.String("a=1&b=two%20words"),
		StorageClass:       types.StorageClassStandardIa,
	})
	if err != nil {
		t.Fatal(err)
	}
	wantETag := fmt.Sprintf(`"%x"`, md5.Sum(body))
	if aws.ToString(put.ETag) != wantETag {
		t.Fatalf("ETag = %s, want %s", aws.ToString(put.ETag), wantETag)
	}
	get, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("obj"), Key: aws.String("dir/file.txt")})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(get.Body)
	get.Body.Close()
	if !bytes.Equal(got, body) {
		t.Fatalf("body = %q", got)
	}
	type view struct {
		ETag, ContentType, ContentEncoding, ContentDisposition, ContentLanguage, CacheControl, AcceptRanges string
		Expires                                                                                             string
		Length                                                                                              int64
		Meta                                                                                                map[string]string
		TagCount                                                                                            int32
		StorageClass                                                                                        types.StorageClass
	}
	want := view{
		ETag: wantETag, ContentType: "text/plain", ContentEncoding: "identity", ContentDisposition: `attachment; filename="f.txt"`,
		ContentLanguage: "en", CacheControl: "max-age=60", AcceptRanges: "bytes", Expires: expires.Format(http.TimeFormat),
		Length: int64(len(body)), Meta: map[string]string{"color": "blue", "x-y": "z"}, TagCount: 2, StorageClass: types.StorageClassStandardIa,
	}
	gv := view{
		aws.ToString(get.ETag), aws.ToString(get.ContentType), aws.ToString(get.ContentEncoding), aws.ToString(get.ContentDisposition),
		aws.ToString(get.ContentLanguage), aws.ToString(get.CacheControl), aws.ToString(get.AcceptRanges), aws.ToString(get.ExpiresString),
		aws.ToInt64(get.ContentLength), get.Metadata, aws.ToInt32(get.TagCount), get.StorageClass,
	}
	if diff := cmp.Diff(want, gv); diff != "" {
		t.Fatalf("GetObject (-want +got):\n%s", diff)
	}
	head, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("obj"), Key: aws.String("dir/file.txt")})
	if err != nil {
		t.Fatal(err)
	}
	hv := view{
		aws.ToString(head.ETag), aws.ToString(head.ContentType), aws.ToString(head.ContentEncoding), aws.ToString(head.ContentDisposition),
		aws.ToString(head.ContentLanguage), aws.ToString(head.CacheControl), aws.ToString(head.AcceptRanges), aws.ToString(head.ExpiresString),
		aws.ToInt64(head.ContentLength), head.Metadata, 2, head.StorageClass,
	}
	if diff := cmp.Diff(want, hv); diff != "" {
		t.Fatalf("HeadObject (-want +got):\n%s", diff)
	}
	if head.LastModified == nil || time.Since(*head.LastModified) > time.Hour {
		t.Fatalf("LastModified = %v", head.LastModified)
	}

	// Defaults: binary/octet-stream from a raw PUT without Content-Type, and
	// no storage class header for STANDARD.
	raw := ts.do(rawReq{method: "PUT", path: "/obj/plain", body: []byte("x")})
	if raw.status != 200 || raw.header.Get("ETag") == "" || raw.header.Get("Content-Length") != "0" {
		t.Fatalf("raw put = %d %v", raw.status, raw.header)
	}
	h := ts.do(rawReq{method: "HEAD", path: "/obj/plain"})
	if h.header.Get("Content-Type") != "binary/octet-stream" || h.header.Get("X-Amz-Storage-Class") != "" || len(h.body) != 0 {
		t.Fatalf("head defaults = %v %q", h.header, h.body)
	}

	_, err = c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("obj"), Key: aws.String("missing")})
	if sdkCode(err) != "NotFound" {
		t.Fatalf("head missing: %v", err)
	}
	_, err = c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("obj"), Key: aws.String("missing")})
	if sdkCode(err) != "NoSuchKey" {
		t.Fatalf("get missing: %v", err)
	}
	if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("obj"), Key: aws.String("missing")}); err != nil {
		t.Fatalf("delete missing key: %v", err)
	}
	if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("obj"), Key: aws.String("dir/file.txt")}); err != nil {
		t.Fatal(err)
	}
	_, err = c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("obj"), Key: aws.String("dir/file.txt")})
	if sdkCode(err) != "NotFound" {
		t.Fatalf("head deleted: %v", err)
	}
	del := ts.do(rawReq{method: "DELETE", path: "/obj/never"})
	if del.status != 204 {
		t.Fatalf("raw delete missing = %d", del.status)
	}
}

func TestChecksumsSDK(t *testing.T) {
	ts := newTestServer(t)
	ts.mkBucket("sums")
	ctx := context.Background()
	body := bytes.Repeat([]byte("checksum me "), 1000)
	for _, algo := range []types.ChecksumAlgorithm{types.ChecksumAlgorithmCrc32, types.ChecksumAlgorithmCrc32c, types.ChecksumAlgorithmCrc64nvme, types.ChecksumAlgorithmSha1, types.ChecksumAlgorithmSha256} {
		t.Run(string(algo), func(t *testing.T) {
			key := "k-" + string(algo)
			put, err := ts.Client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("sums"), Key: aws.String(key), Body: bytes.NewReader(body), ChecksumAlgorithm: algo})
			if err != nil {
				t.Fatal(err)
			}
			want := computeChecksums(string(algo), body).Value
			gotPut := map[types.ChecksumAlgorithm]*string{
				types.ChecksumAlgorithmCrc32: put.ChecksumCRC32, types.ChecksumAlgorithmCrc32c: put.ChecksumCRC32C,
				types.ChecksumAlgorithmCrc64nvme: put.ChecksumCRC64NVME, types.ChecksumAlgorithmSha1: put.ChecksumSHA1, types.ChecksumAlgorithmSha256: put.ChecksumSHA256,
			}[algo]
			if aws.ToString(gotPut) != want {
				t.Fatalf("put checksum = %q, want %q", aws.ToString(gotPut), want)
			}
			// The SDK validates the returned checksum against the body it reads.
			get, err := ts.Client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("sums"), Key: aws.String(key), ChecksumMode: types.ChecksumModeEnabled})
			if err != nil {
				t.Fatal(err)
			}
			b, err := io.ReadAll(get.Body)
			get.Body.Close()
			if err != nil || !bytes.Equal(b, body) {
				t.Fatalf("get body: %v", err)
			}
			if get.ChecksumType != types.ChecksumTypeFullObject {
				t.Fatalf("checksum type = %q", get.ChecksumType)
			}
			plain := ts.do(rawReq{method: "GET", path: "/sums/" + key})
			if plain.header.Get(checksumHeader(string(algo))) != "" {
				t.Fatal("checksum returned without x-amz-checksum-mode")
			}
		})
	}
}

func TestCRC64NVMECheckValue(t *testing.T) {
	// The CRC-64/NVME check value for "123456789" is 0xAE8B14860A799888.
	h := newChecksumHash(sluice.ChecksumCRC64NVME)
	h.Write([]byte("123456789"))
	if got := fmt.Sprintf("%X", h.Sum(nil)); got != "AE8B14860A799888" {
		t.Fatalf("crc64nvme = %s", got)
	}
}

func TestPutObjectErrors(t *testing.T) {
	ts := newTestServerConfig(t, Config{MaxPutSize: 64})
	ts.mkBucket("perr")
	body := []byte("payload")
	tests := []struct {
		name   string
		key    string
		body   []byte
		header map[string]string
		status int
		code   string
	}{
		{"bad md5", "a", body, map[string]string{"Content-MD5": b64md5([]byte("other"))}, 400, "BadDigest"},
		{"invalid md5", "b", body, map[string]string{"Content-MD5": "not-base64!"}, 400, "InvalidDigest"},
		{"short md5", "c", body, map[string]string{"Content-MD5": base64.StdEncoding.EncodeToString([]byte("short"))}, 400, "InvalidDigest"},
		{"bad crc32", "d", body, map[string]string{"x-amz-checksum-crc32": b64crc32([]byte("other"))}, 400, "BadDigest"},
		{"invalid crc32", "e", body, map[string]string{"x-amz-checksum-crc32": "AAAA"}, 400, "InvalidRequest"},
		{"two checksums", "f", body, map[string]string{"x-amz-checksum-crc32": b64crc32(body), "x-amz-checksum-sha1": "AAAAAAAAAAAAAAAAAAAAAAAAAAA="}, 400, "InvalidRequest"},
		{"unknown algorithm", "g", body, map[string]string{"x-amz-sdk-checksum-algorithm": "MD4"}, 400, "InvalidRequest"},
		{"algorithm mismatch", "h", body, map[string]string{"x-amz-sdk-checksum-algorithm": "SHA256", "x-amz-checksum-crc32": b64crc32(body)}, 400, "InvalidRequest"},
		{"too large", "i", bytes.Repeat([]byte("x"), 65), nil, 400, "EntityTooLarge"},
		{"metadata too large", "j", body, map[string]string{"x-amz-meta-big": strings.Repeat("m", 2046)}, 400, "MetadataTooLarge"},
		{"storage class", "k", body, map[string]string{"x-amz-storage-class": "FROZEN"}, 400, "InvalidStorageClass"},
		{"bad tagging", "l", body, map[string]string{"x-amz-tagging": "a=1&a=2"}, 400, "InvalidTag"},
		{"too many tags", "m", body, map[string]string{"x-amz-tagging": "a=1&b=1&c=1&d=1&e=1&f=1&g=1&h=1&i=1&j=1&k=1"}, 400, "InvalidTag"},
		{"public acl", "n", body, map[string]string{"x-amz-acl": "public-read"}, 400, "AccessControlListNotSupported"},
		{"if-none-match etag", "o", body, map[string]string{"If-None-Match": `"abc"`}, 501, "NotImplemented"},
		{"no such bucket", "p", body, nil, 404, "NoSuchBucket"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bucket := "perr"
			if tt.code == "NoSuchBucket" {
				bucket = "nosuch"
			}
			wantError(t, ts.do(rawReq{method: "PUT", path: "/" + bucket + "/" + tt.key, body: tt.body, header: tt.header}), tt.status, tt.code)
			if _, err := ts.Store.HeadObject(context.Background(), "perr", tt.key); !sluice.IsCode(err, sluice.ErrNoSuchKey) {
				t.Fatalf("object committed despite the error: %v", err)
			}
		})
	}
	ok := ts.do(rawReq{method: "PUT", path: "/perr/good", body: body, header: map[string]string{"Content-MD5": b64md5(body), "x-amz-checksum-crc32": b64crc32(body)}})
	if ok.status != 200 || ok.header.Get("X-Amz-Checksum-Crc32") != b64crc32(body) {
		t.Fatalf("good put = %d %v %s", ok.status, ok.header, ok.body)
	}
	meta := ts.do(rawReq{method: "PUT", path: "/perr/meta", body: body, header: map[string]string{"x-amz-meta-big": strings.Repeat("m", 2048-len("big"))}})
	if meta.status != 200 {
		t.Fatalf("2 KB of metadata refused: %d %s", meta.status, meta.body)
	}
}

func TestMissingContentLength(t *testing.T) {
	ts := newTestServer(t)
	ts.mkBucket("mcl")
	req, err := http.NewRequest("PUT", ts.URL+"/mcl/k", io.MultiReader(strings.NewReader("chunked body")))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "x")
	resp, err := ts.HTTP.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	wantError(t, rawResp{status: resp.StatusCode, header: resp.Header, body: b}, 411, "MissingContentLength")
}

// failingBody yields some bytes, then the error the SigV4 verifier reports.
type failingBody struct {
	data []byte
	err  error
}

func (f *failingBody) Read(p []byte) (int, error) {
	if len(f.data) == 0 {
		return 0, f.err
	}
	n := copy(p, f.data)
	f.data = f.data[n:]
	return n, nil
}

func TestBodyErrorSurfaces(t *testing.T) {
	ts := newTestServer(t)
	ts.mkBucket("berr")
	for _, code := range []sluice.Code{sluice.ErrContentSHA256Mismatch, sluice.ErrSignatureDoesNotMatch, sluice.ErrIncompleteBody} {
		t.Run(string(code), func(t *testing.T) {
			r := httptest.NewRequest("PUT", "/berr/k", &failingBody{data: []byte("partial"), err: sluice.Errorf(code, "body check failed")})
			r.ContentLength = 100
			r = r.WithContext(sluice.WithIdentity(r.Context(), sluice.Identity{AccessKey: "test"}))
			w := httptest.NewRecorder()
			ts.Server.ServeHTTP(w, r)
			if w.Code != Status(code) || !strings.Contains(w.Body.String(), "<Code>"+string(code)+"</Code>") {
				t.Fatalf("got %d %s", w.Code, w.Body)
			}
			if _, err := ts.Store.HeadObject(context.Background(), "berr", "k"); !sluice.IsCode(err, sluice.ErrNoSuchKey) {
				t.Fatalf("object committed: %v", err)
			}
		})
	}
}

func TestShortBodyIsIncomplete(t *testing.T) {
	ts := newTestServer(t)
	ts.mkBucket("short")
	r := httptest.NewRequest("PUT", "/short/k", strings.NewReader("partial"))
	r.ContentLength = 100
	r = r.WithContext(sluice.WithIdentity(r.Context(), sluice.Identity{AccessKey: "test"}))
	w := httptest.NewRecorder()
	ts.Server.ServeHTTP(w, r)
	if w.Code != 400 || !strings.Contains(w.Body.String(), "<Code>IncompleteBody</Code>") {
		t.Fatalf("got %d %s", w.Code, w.Body)
	}
	if _, err := ts.Store.HeadObject(context.Background(), "short", "k"); !sluice.IsCode(err, sluice.ErrNoSuchKey) {
		t.Fatalf("object committed: %v", err)
	}
}

func TestExpectedBucketOwner(t *testing.T) {
	ts := newTestServer(t)
	ts.mkBucket("owned")
	ok := ts.do(rawReq{method: "GET", path: "/owned?list-type=2", header: map[string]string{"x-amz-expected-bucket-owner": sluice.AccountID}})
	if ok.status != 200 {
		t.Fatalf("matching owner = %d %s", ok.status, ok.body)
	}
	wantError(t, ts.do(rawReq{method: "GET", path: "/owned?list-type=2", header: map[string]string{"x-amz-expected-bucket-owner": "111111111111"}}), 403, "AccessDenied")
}

func TestTrailingChecksum(t *testing.T) {
	ts := newTestServer(t)
	ts.mkBucket("trail")
	body := []byte("aws-chunked body, already decoded")
	tests := []struct {
		name    string
		trailer string
		status  int
	}{
		{"match", b64crc32(body), 200},
		{"mismatch", b64crc32([]byte("x")), 400},
		{"missing", "", 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("PUT", "/trail/"+tt.name, bytes.NewReader(body))
			r.Header.Set("X-Amz-Trailer", "x-amz-checksum-crc32")
			r.Header.Set("X-Amz-Sdk-Checksum-Algorithm", "CRC32")
			r.Trailer = http.Header{}
			if tt.trailer != "" {
				r.Trailer.Set("X-Amz-Checksum-Crc32", tt.trailer)
			}
			r = r.WithContext(sluice.WithIdentity(r.Context(), sluice.Identity{AccessKey: "test"}))
			w := httptest.NewRecorder()
			ts.Server.ServeHTTP(w, r)
			if w.Code != tt.status {
				t.Fatalf("status = %d, want %d: %s", w.Code, tt.status, w.Body)
			}
			if tt.status == 200 && w.Header().Get("X-Amz-Checksum-Crc32") != b64crc32(body) {
				t.Fatalf("response checksum = %q", w.Header().Get("X-Amz-Checksum-Crc32"))
			}
			_, err := ts.Store.HeadObject(context.Background(), "trail", tt.name)
			if committed := err == nil; committed != (tt.status == 200) {
				t.Fatalf("committed = %v, want %v", committed, tt.status == 200)
			}
		})
	}
}

func TestConditionalPut(t *testing.T) {
	ts := newTestServer(t)
	ts.mkBucket("cput")
	first := ts.do(rawReq{method: "PUT", path: "/cput/k", body: []byte("v1"), header: map[string]string{"If-None-Match": "*"}})
	if first.status != 200 {
		t.Fatalf("create-only put = %d %s", first.status, first.body)
	}
	etag := first.header.Get("ETag")
	wantError(t, ts.do(rawReq{method: "PUT", path: "/cput/k", body: []byte("v2"), header: map[string]string{"If-None-Match": "*"}}), 412, "PreconditionFailed")
	wantError(t, ts.do(rawReq{method: "PUT", path: "/cput/k", body: []byte("v2"), header: map[string]string{"If-Match": `"0123"`}}), 412, "PreconditionFailed")
	ok := ts.do(rawReq{method: "PUT", path: "/cput/k", body: []byte("v2"), header: map[string]string{"If-Match": etag}})
	if ok.status != 200 {
		t.Fatalf("matching if-match put = %d %s", ok.status, ok.body)
	}
	wantError(t, ts.do(rawReq{method: "PUT", path: "/cput/absent", body: []byte("v"), header: map[string]string{"If-Match": etag}}), 404, "NoSuchKey")
	get := ts.do(rawReq{method: "GET", path: "/cput/k"})
	if string(get.body) != "v2" {
		t.Fatalf("body = %q", get.body)
	}
}

func TestRangeRequests(t *testing.T) {
	ts := newTestServer(t)
	ts.mkBucket("rng")
	ts.putObject("rng", "ten", []byte("0123456789"))
	ts.putObject("rng", "empty", nil)
	tests := []struct {
		name      string
		key       string
		rng       string
		status    int
		body      string
		contRange string
	}{
		{"first five", "ten", "bytes=0-4", 206, "01234", "bytes 0-4/10"},
		{"open ended", "ten", "bytes=5-", 206, "56789", "bytes 5-9/10"},
		{"suffix", "ten", "bytes=-3", 206, "789", "bytes 7-9/10"},
		{"suffix longer than object", "ten", "bytes=-20", 206, "0123456789", "bytes 0-9/10"},
		{"end past size", "ten", "bytes=8-100", 206, "89", "bytes 8-9/10"},
		{"single byte", "ten", "bytes=9-9", 206, "9", "bytes 9-9/10"},
		{"multiple ranges ignored", "ten", "bytes=0-1,3-4", 200, "0123456789", ""},
		{"reversed ignored", "ten", "bytes=5-2", 200, "0123456789", ""},
		{"other unit ignored", "ten", "items=0-1", 200, "0123456789", ""},
		{"garbage ignored", "ten", "bytes=abc", 200, "0123456789", ""},
		{"signed number ignored", "ten", "bytes=+1-2", 200, "0123456789", ""},
		{"start at size", "ten", "bytes=10-", 416, "", ""},
		{"start past size", "ten", "bytes=20-30", 416, "", ""},
		{"zero suffix", "ten", "bytes=-0", 416, "", ""},
		{"empty object", "empty", "bytes=0-", 416, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := ts.do(rawReq{method: "GET", path: "/rng/" + tt.key, header: map[string]string{"Range": tt.rng}})
			if tt.status == 416 {
				e := wantError(t, resp, 416, "InvalidRange")
				if e.RangeRequested != tt.rng || e.ActualObjectSize == "" {
					t.Fatalf("InvalidRange fields = %+v", e)
				}
				return
			}
			got := []string{strconv.Itoa(resp.status), string(resp.body), resp.header.Get("Content-Range"), resp.header.Get("Content-Length")}
			want := []string{strconv.Itoa(tt.status), tt.body, tt.contRange, strconv.Itoa(len(tt.body))}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Fatalf("status, body, Content-Range, Content-Length (-want +got):\n%s", diff)
			}
		})
	}
	out, err := ts.Client.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String("rng"), Key: aws.String("ten"), Range: aws.String("bytes=2-3")})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(out.Body)
	out.Body.Close()
	if string(b) != "23" || aws.ToString(out.ContentRange) != "bytes 2-3/10" {
		t.Fatalf("SDK range = %q %q", b, aws.ToString(out.ContentRange))
	}
}

func TestConditionalGet(t *testing.T) {
	ts := newTestServer(t)
	ts.mkBucket("cond")
	put := ts.putObject("cond", "k", []byte("data"))
	etag := aws.ToString(put.ETag)
	info, err := ts.Store.HeadObject(context.Background(), "cond", "k")
	if err != nil {
		t.Fatal(err)
	}
	lm := info.LastModified.UTC().Truncate(time.Second)
	past := lm.Add(-time.Hour).Format(http.TimeFormat)
	future := lm.Add(time.Hour).Format(http.TimeFormat)
	at := lm.Format(http.TimeFormat)
	tests := []struct {
		name   string
		header map[string]string
		status int
		cond   string
	}{
		{"if-match hit", map[string]string{"If-Match": etag}, 200, ""},
		{"if-match unquoted", map[string]string{"If-Match": strings.Trim(etag, `"`)}, 200, ""},
		{"if-match list", map[string]string{"If-Match": `"nope", ` + etag}, 200, ""},
		{"if-match star", map[string]string{"If-Match": "*"}, 200, ""},
		{"if-match miss", map[string]string{"If-Match": `"nope"`}, 412, "If-Match"},
		{"if-none-match hit", map[string]string{"If-None-Match": etag}, 304, ""},
		{"if-none-match star", map[string]string{"If-None-Match": "*"}, 304, ""},
		{"if-none-match miss", map[string]string{"If-None-Match": `"nope"`}, 200, ""},
		{"if-modified-since past", map[string]string{"If-Modified-Since": past}, 200, ""},
		{"if-modified-since equal", map[string]string{"If-Modified-Since": at}, 304, ""},
		{"if-modified-since future", map[string]string{"If-Modified-Since": future}, 304, ""},
		{"if-modified-since garbage", map[string]string{"If-Modified-Since": "yesterday"}, 200, ""},
		{"if-unmodified-since past", map[string]string{"If-Unmodified-Since": past}, 412, "If-Unmodified-Since"},
		{"if-unmodified-since equal", map[string]string{"If-Unmodified-Since": at}, 200, ""},
		{"if-match true beats if-unmodified-since false", map[string]string{"If-Match": etag, "If-Unmodified-Since": past}, 200, ""},
		{"if-none-match false beats if-modified-since true", map[string]string{"If-None-Match": etag, "If-Modified-Since": past}, 304, ""},
		{"if-none-match true ignores if-modified-since", map[string]string{"If-None-Match": `"nope"`, "If-Modified-Since": future}, 200, ""},
		{"412 before 304", map[string]string{"If-Match": `"nope"`, "If-None-Match": etag}, 412, "If-Match"},
	}
	for _, tt := range tests {
		for _, method := range []string{"GET", "HEAD"} {
			t.Run(tt.name+"/"+method, func(t *testing.T) {
				resp := ts.do(rawReq{method: method, path: "/cond/k", header: tt.header})
				if resp.status != tt.status {
					t.Fatalf("status = %d, want %d: %s", resp.status, tt.status, resp.body)
				}
				switch {
				case tt.status == 304:
					if len(resp.body) != 0 || resp.header.Get("ETag") != etag || resp.header.Get("Last-Modified") != at {
						t.Fatalf("304 = %v %q", resp.header, resp.body)
					}
				case tt.status == 412 && method == "GET":
					if e := wantError(t, resp, 412, "PreconditionFailed"); e.Condition != tt.cond {
						t.Fatalf("Condition = %q, want %q", e.Condition, tt.cond)
					}
				case tt.status == 412:
					if len(resp.body) != 0 {
						t.Fatalf("HEAD 412 has a body: %q", resp.body)
					}
				case method == "GET" && string(resp.body) != "data":
					t.Fatalf("body = %q", resp.body)
				}
			})
		}
	}
}

func TestResponseOverrides(t *testing.T) {
	ts := newTestServer(t)
	ts.mkBucket("ovr")
	ts.putObject("ovr", "k", []byte("x"))
	out, err := ts.Client.GetObject(context.Background(), &s3.GetObjectInput{
		Bucket: aws.String("ovr"), Key: aws.String("k"),
		ResponseContentType: aws.String("image/png"), ResponseContentDisposition: aws.String("inline"),
		ResponseCacheControl: aws.String("no-store"), ResponseContentLanguage: aws.String("fr"),
		ResponseContentEncoding: aws.String("gzip"), ResponseExpires: aws.Time(time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC)),
	})
	if err != nil {
		t.Fatal(err)
	}
	out.Body.Close()
	got := []string{aws.ToString(out.ContentType), aws.ToString(out.ContentDisposition), aws.ToString(out.CacheControl), aws.ToString(out.ContentLanguage), aws.ToString(out.ContentEncoding), aws.ToString(out.ExpiresString)}
	want := []string{"image/png", "inline", "no-store", "fr", "gzip", "Wed, 01 Jan 2031 00:00:00 GMT"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("overrides (-want +got):\n%s", diff)
	}
	// Anonymous callers may not override, even where a policy lets them read.
	doc := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::ovr/*"}]}`
	if r := ts.do(rawReq{method: "PUT", path: "/ovr?policy", body: []byte(doc)}); r.status != 204 {
		t.Fatalf("put policy: %d %s", r.status, r.body)
	}
	if r := ts.do(rawReq{method: "GET", path: "/ovr/k", anon: true}); r.status != 200 {
		t.Fatalf("anonymous read: %d %s", r.status, r.body)
	}
	wantError(t, ts.do(rawReq{method: "GET", path: "/ovr/k?response-content-type=text/html", anon: true}), 400, "InvalidRequest")
}

func TestGetPartNumber(t *testing.T) {
	ts := newTestServer(t)
	ts.mkBucket("parts")
	ts.putObject("parts", "single", []byte("whole object"))
	one := ts.do(rawReq{method: "GET", path: "/parts/single?partNumber=1"})
	if one.status != 206 || string(one.body) != "whole object" || one.header.Get("Content-Range") != "bytes 0-11/12" {
		t.Fatalf("partNumber=1 of single = %d %q %v", one.status, one.body, one.header)
	}
	wantError(t, ts.do(rawReq{method: "GET", path: "/parts/single?partNumber=2"}), 416, "InvalidPartNumber")
	wantError(t, ts.do(rawReq{method: "GET", path: "/parts/single?partNumber=0"}), 400, "InvalidArgument")
	wantError(t, ts.do(rawReq{method: "GET", path: "/parts/single?partNumber=x"}), 400, "InvalidArgument")
	wantError(t, ts.do(rawReq{method: "GET", path: "/parts/single?partNumber=1", header: map[string]string{"Range": "bytes=0-1"}}), 400, "InvalidRequest")

	// A two-part multipart object: 5 MiB then 3 bytes.
	p1 := bytes.Repeat([]byte("a"), sluice.MinPartSize)
	p2 := []byte("end")
	cr := ts.do(rawReq{method: "POST", path: "/parts/mp?uploads"})
	var init struct {
		UploadID string `xml:"UploadId"`
	}
	if err := xml.Unmarshal(cr.body, &init); err != nil || init.UploadID == "" {
		t.Fatalf("create upload: %d %s", cr.status, cr.body)
	}
	e1 := ts.do(rawReq{method: "PUT", path: "/parts/mp?partNumber=1&uploadId=" + init.UploadID, body: p1}).header.Get("ETag")
	e2 := ts.do(rawReq{method: "PUT", path: "/parts/mp?partNumber=2&uploadId=" + init.UploadID, body: p2}).header.Get("ETag")
	done := ts.do(rawReq{method: "POST", path: "/parts/mp?uploadId=" + init.UploadID, body: []byte(
		"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>" + e1 + "</ETag></Part><Part><PartNumber>2</PartNumber><ETag>" + e2 + "</ETag></Part></CompleteMultipartUpload>")})
	if done.status != 200 {
		t.Fatalf("complete: %d %s", done.status, done.body)
	}
	second := ts.do(rawReq{method: "GET", path: "/parts/mp?partNumber=2"})
	size := strconv.Itoa(len(p1) + len(p2))
	if second.status != 206 || string(second.body) != "end" || second.header.Get("X-Amz-Mp-Parts-Count") != "2" ||
		second.header.Get("Content-Range") != "bytes "+strconv.Itoa(len(p1))+"-"+strconv.Itoa(len(p1)+2)+"/"+size {
		t.Fatalf("part 2 = %d %q %v", second.status, second.body, second.header)
	}
	head := ts.do(rawReq{method: "HEAD", path: "/parts/mp?partNumber=1"})
	if head.status != 206 || head.header.Get("Content-Length") != strconv.Itoa(len(p1)) {
		t.Fatalf("head part 1 = %d %v", head.status, head.header)
	}
	wantError(t, ts.do(rawReq{method: "GET", path: "/parts/mp?partNumber=3"}), 416, "InvalidPartNumber")
}

func TestDeleteObjects(t *testing.T) {
	ts := newTestServer(t)
	ts.mkBucket("multi")
	ctx := context.Background()
	for _, k := range []string{"a", "b", "c & d", "dir/e"} {
		ts.putObject("multi", k, []byte(k))
	}
	out, err := ts.Client.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: aws.String("multi"), Delete: &types.Delete{Objects: []types.ObjectIdentifier{
		{Key: aws.String("a")}, {Key: aws.String("c & d")}, {Key: aws.String("never-existed")},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	var deleted []string
	for _, d := range out.Deleted {
		deleted = append(deleted, aws.ToString(d.Key))
	}
	if diff := cmp.Diff([]string{"a", "c & d", "never-existed"}, deleted); diff != "" || len(out.Errors) != 0 {
		t.Fatalf("deleted (-want +got):\n%s errors: %v", diff, out.Errors)
	}
	quiet, err := ts.Client.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: aws.String("multi"), Delete: &types.Delete{Quiet: aws.Bool(true), Objects: []types.ObjectIdentifier{{Key: aws.String("b")}}}})
	if err != nil || len(quiet.Deleted) != 0 || len(quiet.Errors) != 0 {
		t.Fatalf("quiet = %+v, %v", quiet, err)
	}
	list, err := ts.Client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("multi")})
	if err != nil || len(list.Contents) != 1 || aws.ToString(list.Contents[0].Key) != "dir/e" {
		t.Fatalf("remaining = %+v, %v", list.Contents, err)
	}

	doc := func(keys ...string) []byte {
		var b strings.Builder
		b.WriteString("<Delete>")
		for _, k := range keys {
			b.WriteString("<Object><Key>")
			xml.EscapeText(&b, []byte(k))
			b.WriteString("</Key></Object>")
		}
		b.WriteString("</Delete>")
		return []byte(b.String())
	}
	var thousandOne []string
	for i := range 1001 {
		thousandOne = append(thousandOne, strconv.Itoa(i))
	}
	tests := []struct {
		name   string
		body   []byte
		header map[string]string
		status int
		code   string
	}{
		{"no md5", doc("x"), map[string]string{}, 400, "InvalidRequest"},
		{"bad md5", doc("x"), map[string]string{"Content-MD5": b64md5([]byte("y"))}, 400, "BadDigest"},
		{"malformed", []byte("<Delete><Object>"), nil, 400, "MalformedXML"},
		{"empty", []byte(""), nil, 400, "MalformedXML"},
		{"no objects", doc(), nil, 400, "MalformedXML"},
		{"empty key", doc(""), nil, 400, "MalformedXML"},
		{"too many", doc(thousandOne...), nil, 400, "MalformedXML"},
		{"wrong root", []byte("<Remove><Object><Key>x</Key></Object></Remove>"), nil, 400, "MalformedXML"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := tt.header
			if h == nil {
				h = map[string]string{"Content-MD5": b64md5(tt.body)}
			}
			wantError(t, ts.do(rawReq{method: "POST", path: "/multi?delete", body: tt.body, header: h}), tt.status, tt.code)
		})
	}
	crcOnly := doc("dir/e")
	r := ts.do(rawReq{method: "POST", path: "/multi?delete", body: crcOnly, header: map[string]string{"x-amz-checksum-crc32": b64crc32(crcOnly)}})
	want := `<?xml version="1.0" encoding="UTF-8"?>` + "\n" + `<DeleteResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Deleted><Key>dir/e</Key></Deleted></DeleteResult>`
	if r.status != 200 || string(r.body) != want {
		t.Fatalf("crc32 delete = %d %s", r.status, r.body)
	}
	thousand := doc(thousandOne[:1000]...)
	if r := ts.do(rawReq{method: "POST", path: "/multi?delete", body: thousand, header: map[string]string{"Content-MD5": b64md5(thousand)}}); r.status != 200 {
		t.Fatalf("1000 keys = %d %s", r.status, r.body)
	}
	wantError(t, ts.do(rawReq{method: "POST", path: "/nosuchbucket?delete", body: crcOnly, header: map[string]string{"Content-MD5": b64md5(crcOnly)}}), 404, "NoSuchBucket")
}

func TestHeadHasNoBodyOnErrors(t *testing.T) {
	ts := newTestServer(t)
	ts.mkBucket("headb")
	for _, path := range []string{"/headb/missing", "/nosuchbucket/k"} {
		r := ts.do(rawReq{method: "HEAD", path: path})
		if r.status != 404 || len(r.body) != 0 {
			t.Fatalf("HEAD %s = %d %q", path, r.status, r.body)
		}
	}
	r := ts.do(rawReq{method: "HEAD", path: "/headb/k", anon: true})
	if r.status != 403 || len(r.body) != 0 {
		t.Fatalf("anonymous HEAD = %d %q", r.status, r.body)
	}
}
