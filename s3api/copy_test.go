package s3api

import (
	"bytes"
	"context"
	"encoding/xml"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/google/go-cmp/cmp"
	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/fsstore"
)

func tagsOf(t *testing.T, e *mpEnv, bucket, key string) map[string]string {
	t.Helper()
	out, err := e.client.GetObjectTagging(context.Background(), &s3.GetObjectTaggingInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatalf("get tagging %s/%s: %v", bucket, key, err)
	}
	m := map[string]string{}
	for _, tag := range out.TagSet {
		m[aws.ToString(tag.Key)] = aws.ToString(tag.Value)
	}
	return m
}

func TestCopyObjectDirectives(t *testing.T) {
	e := newMPEnv(t)
	ctx := context.Background()
	e.bucket("csrc")
	e.bucket("cdst")
	data := mpData(300_000, 30)
	key := "photos/été 2024/a+b.jpg"
	src := e.put("csrc", key, data, func(in *s3.PutObjectInput) {
		in.ContentType = aws.String("image/jpeg")
		in.CacheControl = aws.String("max-age=60")
		in.Metadata = map[string]string{"camera": "x100"}
		in.Tagging = aws.String("album=summer&private=yes")
	})
	copySource := "csrc/" + url.PathEscape(key)

	type want struct {
		contentType string
		cache       string
		meta        map[string]string
		tags        map[string]string
	}
	tests := []struct {
		name string
		in   s3.CopyObjectInput
		want want
	}{
		{
			name: "default copies metadata and tags, ignores request metadata",
			in:   s3.CopyObjectInput{ContentType: aws.String("text/plain"), Metadata: map[string]string{"ignored": "yes"}},
			want: want{"image/jpeg", "max-age=60", map[string]string{"camera": "x100"}, map[string]string{"album": "summer", "private": "yes"}},
		},
		{
			name: "replace metadata",
			in: s3.CopyObjectInput{MetadataDirective: types.MetadataDirectiveReplace, ContentType: aws.String("text/plain"),
				Metadata: map[string]string{"new": "value"}},
			want: want{"text/plain", "", map[string]string{"new": "value"}, map[string]string{"album": "summer", "private": "yes"}},
		},
		{
			name: "replace tags",
			in:   s3.CopyObjectInput{TaggingDirective: types.TaggingDirectiveReplace, Tagging: aws.String("k=v")},
			want: want{"image/jpeg", "max-age=60", map[string]string{"camera": "x100"}, map[string]string{"k": "v"}},
		},
		{
			name: "replace tags with none",
			in:   s3.CopyObjectInput{TaggingDirective: types.TaggingDirectiveReplace},
			want: want{"image/jpeg", "max-age=60", map[string]string{"camera": "x100"}, map[string]string{}},
		},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dst := "copy-" + string(rune('a'+i))
			in := tt.in
			in.Bucket, in.Key, in.CopySource = aws.String("cdst"), aws.String(dst), aws.String(copySource)
			out, err := e.client.CopyObject(ctx, &in)
			if err != nil {
				t.Fatalf("copy: %v", err)
			}
			if got := aws.ToString(out.CopyObjectResult.ETag); got != aws.ToString(src.ETag) {
				t.Errorf("ETag = %s, want the source's %s", got, aws.ToString(src.ETag))
			}
			if out.CopyObjectResult.LastModified == nil || out.CopyObjectResult.LastModified.IsZero() {
				t.Error("no LastModified")
			}
			head, err := e.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("cdst"), Key: aws.String(dst)})
			if err != nil {
				t.Fatal(err)
			}
			got := want{aws.ToString(head.ContentType), aws.ToString(head.CacheControl), head.Metadata, tagsOf(t, e, "cdst", dst)}
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(want{})); diff != "" {
				t.Errorf("copied object (-want +got):\n%s", diff)
			}
			if string(e.get("cdst", dst)) != string(data) {
				t.Error("copied bytes differ")
			}
		})
	}
}

func TestCopyObjectOntoItself(t *testing.T) {
	e := newMPEnv(t)
	ctx := context.Background()
	e.bucket("self")
	data := mpData(2*mib+3, 31)
	e.put("self", "obj", data, func(in *s3.PutObjectInput) {
		in.Metadata = map[string]string{"v": "1"}
		in.ContentType = aws.String("application/octet-stream")
	})

	resp, body := e.do("PUT", "/self/obj", nil, "x-amz-copy-source", "/self/obj")
	we := expectError(t, resp, body, 400, "InvalidRequest")
	if want := "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes."; we.Message != want {
		t.Errorf("message = %q", we.Message)
	}

	out, err := e.client.CopyObject(ctx, &s3.CopyObjectInput{
		Bucket: aws.String("self"), Key: aws.String("obj"), CopySource: aws.String("self/obj"),
		MetadataDirective: types.MetadataDirectiveReplace,
		Metadata:          map[string]string{"v": "2"},
		ContentType:       aws.String("application/json"),
	})
	if err != nil {
		t.Fatalf("copy onto itself with REPLACE: %v", err)
	}
	if aws.ToString(out.CopyObjectResult.ETag) != quotedMD5(data) {
		t.Errorf("ETag = %s", aws.ToString(out.CopyObjectResult.ETag))
	}
	head, err := e.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("self"), Key: aws.String("obj")})
	if err != nil {
		t.Fatal(err)
	}
	if head.Metadata["v"] != "2" || aws.ToString(head.ContentType) != "application/json" {
		t.Errorf("metadata not replaced: %v %s", head.Metadata, aws.ToString(head.ContentType))
	}
	if string(e.get("self", "obj")) != string(data) {
		t.Error("bytes changed by a metadata-only self copy")
	}

	// A storage class change is a change too.
	resp, body = e.do("PUT", "/self/obj", nil, "x-amz-copy-source", "/self/obj", "x-amz-storage-class", "STANDARD_IA")
	if resp.StatusCode != 200 {
		t.Errorf("self copy changing storage class: %d %s", resp.StatusCode, body)
	}
}

func TestCopyObjectConditionsAndErrors(t *testing.T) {
	e := newMPEnv(t)
	e.bucket("cond")
	src := e.put("cond", "src", []byte("conditional source"))
	etag := aws.ToString(src.ETag)
	head, err := e.store.HeadObject(context.Background(), "cond", "src")
	if err != nil {
		t.Fatal(err)
	}
	past := head.LastModified.Add(-time.Hour).UTC().Format(http.TimeFormat)
	future := head.LastModified.Add(time.Hour).UTC().Format(http.TimeFormat)

	tests := []struct {
		name   string
		header []string
		status int
		code   string
		cond   string
	}{
		{"if-match ok", []string{"x-amz-copy-source-if-match", etag}, 200, "", ""},
		{"if-match unquoted ok", []string{"x-amz-copy-source-if-match", strings.Trim(etag, `"`)}, 200, "", ""},
		{"if-match list ok", []string{"x-amz-copy-source-if-match", `"aaa", ` + etag}, 200, "", ""},
		{"if-match mismatch", []string{"x-amz-copy-source-if-match", `"aaa"`}, 412, "PreconditionFailed", "x-amz-copy-source-If-Match"},
		{"if-none-match match", []string{"x-amz-copy-source-if-none-match", etag}, 412, "PreconditionFailed", "x-amz-copy-source-If-None-Match"},
		{"if-none-match star", []string{"x-amz-copy-source-if-none-match", "*"}, 412, "PreconditionFailed", "x-amz-copy-source-If-None-Match"},
		{"if-none-match other", []string{"x-amz-copy-source-if-none-match", `"aaa"`}, 200, "", ""},
		{"if-modified-since future", []string{"x-amz-copy-source-if-modified-since", future}, 412, "PreconditionFailed", "x-amz-copy-source-If-Modified-Since"},
		{"if-modified-since past", []string{"x-amz-copy-source-if-modified-since", past}, 200, "", ""},
		{"if-unmodified-since past", []string{"x-amz-copy-source-if-unmodified-since", past}, 412, "PreconditionFailed", "x-amz-copy-source-If-Unmodified-Since"},
		{"if-unmodified-since future", []string{"x-amz-copy-source-if-unmodified-since", future}, 200, "", ""},
		{"if-match true beats if-unmodified-since false", []string{"x-amz-copy-source-if-match", etag, "x-amz-copy-source-if-unmodified-since", past}, 200, "", ""},
		{"if-none-match false beats if-modified-since true", []string{"x-amz-copy-source-if-none-match", etag, "x-amz-copy-source-if-modified-since", past}, 412, "PreconditionFailed", "x-amz-copy-source-If-None-Match"},
		{"unparseable date ignored", []string{"x-amz-copy-source-if-modified-since", "yesterday"}, 200, "", ""},
		{"source key missing", []string{"x-amz-copy-source", "/cond/nope"}, 404, "NoSuchKey", ""},
		{"source bucket missing", []string{"x-amz-copy-source", "/gone-bucket/src"}, 404, "NoSuchBucket", ""},
		{"source without key", []string{"x-amz-copy-source", "/cond"}, 400, "InvalidArgument", ""},
		{"source bad escape", []string{"x-amz-copy-source", "/cond/%zz"}, 400, "InvalidArgument", ""},
		{"source null version", []string{"x-amz-copy-source", "/cond/src?versionId=null"}, 200, "", ""},
		{"source version never issued", []string{"x-amz-copy-source", "/cond/src?versionId=3HL4kqtJlcpXroDTDmJ"}, 400, "InvalidRequest", ""},
		{"bad metadata directive", []string{"x-amz-metadata-directive", "MERGE"}, 400, "InvalidArgument", ""},
		{"bad tagging directive", []string{"x-amz-tagging-directive", "copy"}, 400, "InvalidArgument", ""},
		{"replace with bad tags", []string{"x-amz-tagging-directive", "REPLACE", "x-amz-tagging", "aws:x=1"}, 400, "InvalidTag", ""},
		{"destination if-none-match", []string{"If-None-Match", "*"}, 412, "PreconditionFailed", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dst := "/cond/dst"
			if tt.name == "destination if-none-match" {
				dst = "/cond/src2"
				e.put("cond", "src2", []byte("exists"))
			}
			h := append([]string{"x-amz-copy-source", "/cond/src"}, tt.header...)
			resp, body := e.do("PUT", dst, nil, h...)
			if tt.code == "" {
				if resp.StatusCode != tt.status {
					t.Fatalf("status %d: %s", resp.StatusCode, body)
				}
				var res copyObjectResult
				if err := xml.Unmarshal(body, &res); err != nil || res.ETag != etag || res.XMLName.Local != "CopyObjectResult" {
					t.Errorf("result %+v (%v): %s", res, err, body)
				}
				return
			}
			we := expectError(t, resp, body, tt.status, tt.code)
			if tt.cond != "" && we.Condition != tt.cond {
				t.Errorf("Condition = %q, want %q", we.Condition, tt.cond)
			}
		})
	}
}

func TestCopyObjectChecksum(t *testing.T) {
	e := newMPEnv(t)
	e.bucket("csum")
	data := mpData(100_000, 32)
	e.put("csum", "src", data, func(in *s3.PutObjectInput) { in.ChecksumAlgorithm = types.ChecksumAlgorithmCrc32 })

	e.copySHA256("csum", data)

	// Without an algorithm the copy keeps the source's.
	out, err := e.client.CopyObject(context.Background(), &s3.CopyObjectInput{
		Bucket: aws.String("csum"), Key: aws.String("crc"), CopySource: aws.String("csum/src"),
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := aws.ToString(out.CopyObjectResult.ChecksumCRC32); got != crc32B64(data) {
		t.Errorf("CRC32 = %q, want %q", got, crc32B64(data))
	}
	if out.CopyObjectResult.ChecksumType != types.ChecksumTypeFullObject {
		t.Errorf("checksum type = %q", out.CopyObjectResult.ChecksumType)
	}
}

// TestCopyMultipartSource copies an object built from parts: the copy is a
// single-part object with the plain MD5 ETag.
func TestCopyMultipartSource(t *testing.T) {
	e := newMPEnv(t)
	e.bucket("cmp")
	p1, p2 := mpData(5*mib, 33), mpData(10, 34)
	id := e.createUpload("cmp", "mp")
	e1 := e.uploadPart("cmp", "mp", id, 1, p1)
	e2 := e.uploadPart("cmp", "mp", id, 2, p2)
	if resp, body := e.do("POST", "/cmp/mp?uploadId="+id, completeXML(1, e1, 2, e2)); resp.StatusCode != 200 {
		t.Fatalf("complete: %d %s", resp.StatusCode, body)
	}
	resp, body := e.do("PUT", "/cmp/single", nil, "x-amz-copy-source", "cmp/mp")
	if resp.StatusCode != 200 {
		t.Fatalf("copy: %d %s", resp.StatusCode, body)
	}
	whole := append(append([]byte{}, p1...), p2...)
	var res copyObjectResult
	if err := xml.Unmarshal(body, &res); err != nil || res.ETag != quotedMD5(whole) {
		t.Errorf("ETag = %q (%v), want %s", res.ETag, err, quotedMD5(whole))
	}
	if string(e.get("cmp", "single")) != string(whole) {
		t.Error("copied bytes differ")
	}
}

func TestParseCopySource(t *testing.T) {
	tests := []struct {
		in                   string
		bucket, key, version string
		code                 sluice.Code
	}{
		{in: "b/k", bucket: "b", key: "k"},
		{in: "/b/k", bucket: "b", key: "k"},
		{in: "/b/dir/sub/k.txt", bucket: "b", key: "dir/sub/k.txt"},
		{in: "/b/sp%20ace%2Bplus+kept", bucket: "b", key: "sp ace+plus+kept"},
		{in: "/b/%C3%A9t%C3%A9", bucket: "b", key: "été"},
		{in: "/b/q%3Fmark?versionId=abc", bucket: "b", key: "q?mark", version: "abc"},
		{in: "/b/k?versionId=null", bucket: "b", key: "k", version: "null"},
		{in: "/b/k/", bucket: "b", key: "k/"},
		{in: "", code: sluice.ErrInvalidArgument},
		{in: "/", code: sluice.ErrInvalidArgument},
		{in: "b", code: sluice.ErrInvalidArgument},
		{in: "/b/", code: sluice.ErrInvalidArgument},
		{in: "//k", code: sluice.ErrInvalidArgument},
		{in: "/b/%zz", code: sluice.ErrInvalidArgument},
		{in: "/b/k?versionId=%zz", code: sluice.ErrInvalidArgument},
		{in: "/b/" + strings.Repeat("k", 1025), code: sluice.ErrKeyTooLong},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			h := http.Header{}
			h.Set("x-amz-copy-source", tt.in)
			b, k, v, err := parseCopySource(h)
			if tt.code != "" {
				if !sluice.IsCode(err, tt.code) {
					t.Fatalf("err = %v, want %s", err, tt.code)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff([]string{tt.bucket, tt.key, tt.version}, []string{b, k, v}); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseCopySourceRange(t *testing.T) {
	tests := []struct {
		in             string
		size           int64
		offset, length int64
		code           sluice.Code
	}{
		{in: "bytes=0-0", size: 1, offset: 0, length: 1},
		{in: "bytes=0-9", size: 10, offset: 0, length: 10},
		{in: "bytes=5-9", size: 100, offset: 5, length: 5},
		{in: "bytes=0-10", size: 10, code: sluice.ErrInvalidRange},
		{in: "bytes=0-0", size: 0, code: sluice.ErrInvalidRange},
		{in: "bytes=9-5", size: 100, code: sluice.ErrInvalidRange},
		{in: "bytes=0-99999999999999999999", size: 100, code: sluice.ErrInvalidRange},
		{in: "bytes=-5", size: 100, code: sluice.ErrInvalidArgument},
		{in: "bytes=5-", size: 100, code: sluice.ErrInvalidArgument},
		{in: "bytes=+1-2", size: 100, code: sluice.ErrInvalidArgument},
		{in: "bytes=1-2,3-4", size: 100, code: sluice.ErrInvalidArgument},
		{in: "bytes 1-2", size: 100, code: sluice.ErrInvalidArgument},
		{in: "1-2", size: 100, code: sluice.ErrInvalidArgument},
		{in: "bytes=", size: 100, code: sluice.ErrInvalidArgument},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			off, n, err := parseCopySourceRange(tt.in, tt.size)
			if tt.code != "" {
				if !sluice.IsCode(err, tt.code) {
					t.Fatalf("err = %v, want %s", err, tt.code)
				}
				return
			}
			if err != nil || off != tt.offset || n != tt.length {
				t.Errorf("= %d, %d, %v; want %d, %d", off, n, err, tt.offset, tt.length)
			}
		})
	}
}

// FuzzCopySource checks parseCopySource never panics, and that what it
// accepts round-trips through the encoding clients use.
func FuzzCopySource(f *testing.F) {
	for _, s := range []string{"b/k", "/b/k", "/b/a%20b?versionId=x", "", "/", "%", "/b/%2", "b/k?", "b/k?&&=", "/b/\x00", "/b/é"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		h := http.Header{}
		h.Set("x-amz-copy-source", s)
		b, k, v, err := parseCopySource(h)
		if err != nil {
			if sluice.ErrorCode(err) == sluice.ErrInternal {
				t.Fatalf("internal error for %q: %v", s, err)
			}
			return
		}
		if b == "" || k == "" || strings.Contains(b, "/") || len(k) > sluice.MaxKeyLength {
			t.Fatalf("%q parsed to bucket %q key %q", s, b, k)
		}
		again := http.Header{}
		src := url.PathEscape(b) + "/" + url.PathEscape(k)
		if v != "" {
			src += "?versionId=" + url.QueryEscape(v)
		}
		again.Set("x-amz-copy-source", src)
		b2, k2, v2, err := parseCopySource(again)
		if err != nil || b2 != b || k2 != k || v2 != v {
			t.Fatalf("%q → (%q, %q, %q) → %q → (%q, %q, %q, %v)", s, b, k, v, src, b2, k2, v2, err)
		}
	})
}

// TestCopySourceAuthorization: the router authorizes the write; the copy
// source is authorized as s3:GetObject on its own bucket policy.
func TestCopySourceAuthorization(t *testing.T) {
	ts := newTestServer(t)
	e := mpEnvOf(ts)
	for _, b := range []string{"pubdst", "privsrc", "pubsrc", "denysrc"} {
		e.bucket(b)
		e.put(b, "obj", []byte("source bytes"))
	}
	ts.setPolicy("pubdst", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:PutObject","Resource":"arn:aws:s3:::pubdst/*"}]}`)
	ts.setPolicy("pubsrc", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::pubsrc/*"}]}`)
	ts.setPolicy("denysrc", `{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::denysrc/*"}]}`)
	id := e.createUpload("pubdst", "parts")

	tests := []struct {
		name   string
		path   string
		header []string
		status int
	}{
		{"anonymous copy from private source", "/pubdst/c1", []string{"anonymous", "", "x-amz-copy-source", "privsrc/obj"}, 403},
		{"anonymous copy from public source", "/pubdst/c2", []string{"anonymous", "", "x-amz-copy-source", "pubsrc/obj"}, 200},
		{"account copy from private source", "/pubdst/c3", []string{"x-amz-copy-source", "privsrc/obj"}, 200},
		{"account copy from denied source", "/pubdst/c4", []string{"x-amz-copy-source", "denysrc/obj"}, 403},
		{"account part copy from denied source", "/pubdst/parts?partNumber=1&uploadId=" + id, []string{"x-amz-copy-source", "denysrc/obj"}, 403},
		{"anonymous part copy from private source", "/pubdst/parts?partNumber=1&uploadId=" + id, []string{"anonymous", "", "x-amz-copy-source", "privsrc/obj"}, 403},
		{"anonymous part copy from public source", "/pubdst/parts?partNumber=1&uploadId=" + id, []string{"anonymous", "", "x-amz-copy-source", "pubsrc/obj"}, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := e.do("PUT", tt.path, nil, tt.header...)
			if tt.status == 403 {
				expectError(t, resp, body, 403, "AccessDenied")
				return
			}
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
		})
	}
}

// TestRecordedEvents checks the event names the notifier will see for the
// writes this file's operations make: a copy is ObjectCreated:Copy, a
// completed upload ObjectCreated:CompleteMultipartUpload, tagging
// ObjectTagging:Put / ObjectTagging:Delete.
func TestRecordedEvents(t *testing.T) {
	cfg := testStoreConfig(t.TempDir())
	cfg.RecordEvents = true
	srv, st := storeServer(t, cfg)
	h := frontDoor(srv)
	do := func(method, target string, body []byte, header ...string) *httptest.ResponseRecorder {
		t.Helper()
		req := httptest.NewRequest(method, target, bytes.NewReader(body))
		req.Header.Set("Authorization", "AWS4-HMAC-SHA256 test")
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != 200 && rec.Code != 204 {
			t.Fatalf("%s %s: %d %s", method, target, rec.Code, rec.Body)
		}
		return rec
	}
	do("PUT", "/events", nil)
	do("PUT", "/events/src", []byte("source"))
	do("PUT", "/events/dst", nil, "x-amz-copy-source", "events/src")
	rec := do("POST", "/events/mp?uploads", nil)
	var created initiateMultipartUploadResult
	if err := xml.Unmarshal(rec.Body.Bytes(), &created); err != nil {
		t.Fatal(err)
	}
	etag := do("PUT", "/events/mp?partNumber=1&uploadId="+created.UploadID, []byte("only part")).Header().Get("ETag")
	do("POST", "/events/mp?uploadId="+created.UploadID, completeXML(1, etag))
	tagDoc := []byte("<Tagging><TagSet><Tag><Key>a</Key><Value>b</Value></Tag></TagSet></Tagging>")
	do("PUT", "/events/mp?tagging", tagDoc, "Content-MD5", b64md5(tagDoc))
	do("DELETE", "/events/mp?tagging", nil)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	events, err := st.ReadEvents(ctx, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, ev := range events {
		got = append(got, ev.Name+" "+ev.Key)
		// The copy, linked rather than written, is still the caller's.
		if ev.Request.ID != testRequestID || ev.Request.Principal != "test" {
			t.Errorf("%s %s: request %+v, want the caller's", ev.Name, ev.Key, ev.Request)
		}
	}
	want := []string{
		"ObjectCreated:Put src",
		"ObjectCreated:Copy dst",
		"ObjectCreated:CompleteMultipartUpload mp",
		"ObjectTagging:Put mp",
		"ObjectTagging:Delete mp",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
}

// TestCopyOntoItselfConcurrently races metadata-replacing self copies
// against overwrites of the same key: every read sees one whole version,
// never a mix, because a copy streams from the snapshot it opened.
func TestCopyOntoItselfConcurrently(t *testing.T) {
	e := newMPEnv(t)
	e.bucket("race")
	versions := [][]byte{mpData(300_000, 50), mpData(300_000, 51), mpData(300_000, 52)}
	valid := map[string]bool{}
	for _, v := range versions {
		valid[string(v)] = true
	}
	e.put("race", "k", versions[0])
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for w := range 3 {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for range 5 {
				_, err := e.client.PutObject(context.Background(), &s3.PutObjectInput{
					Bucket: aws.String("race"), Key: aws.String("k"), Body: bytes.NewReader(versions[w]),
				})
				if err != nil {
					errs <- err
				}
			}
		}()
		go func() {
			defer wg.Done()
			for range 5 {
				_, err := e.client.CopyObject(context.Background(), &s3.CopyObjectInput{
					Bucket: aws.String("race"), Key: aws.String("k"), CopySource: aws.String("race/k"),
					MetadataDirective: types.MetadataDirectiveReplace, Metadata: map[string]string{"w": string(rune('0' + w))},
				})
				if err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("concurrent write: %v", err)
	}
	if got := e.get("race", "k"); !valid[string(got)] {
		t.Errorf("object is not any whole version (%d bytes)", len(got))
	}
}

// TestCopyObjectSharesBytes copies a file-backed object within and across
// buckets: the copies share the source's data file rather than writing the
// bytes again, keep its ETag and checksum, and outlive an overwrite and a
// delete of the source; the file goes once the last object using it does.
func TestCopyObjectSharesBytes(t *testing.T) {
	dir := t.TempDir()
	st, err := fsstore.Open(testStoreConfig(dir))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	e := mpEnvOf(serveTest(t, DefaultConfig(), st))
	e.bucket("lsrc")
	e.bucket("ldst")
	data := mpData(3*mib, 60)
	put := e.put("lsrc", "photo.jpg", data, func(in *s3.PutObjectInput) { in.ChecksumAlgorithm = types.ChecksumAlgorithmCrc32c })
	dataFiles := func() int {
		t.Helper()
		n := 0
		err := filepath.WalkDir(filepath.Join(dir, "objects"), func(_ string, d fs.DirEntry, err error) error {
			if err == nil && d.Type().IsRegular() {
				n++
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := dataFiles(); n != 1 {
		t.Fatalf("%d data files after one upload, want 1", n)
	}
	for _, dst := range []struct{ bucket, key string }{{"ldst", "photo.jpg"}, {"lsrc", "copy.jpg"}} {
		out, err := e.client.CopyObject(context.Background(), &s3.CopyObjectInput{
			Bucket: aws.String(dst.bucket), Key: aws.String(dst.key), CopySource: aws.String("lsrc/photo.jpg"),
		})
		if err != nil {
			t.Fatalf("copy to %s/%s: %v", dst.bucket, dst.key, err)
		}
		if got := aws.ToString(out.CopyObjectResult.ETag); got != aws.ToString(put.ETag) {
			t.Errorf("copy ETag = %s, want the source's %s", got, aws.ToString(put.ETag))
		}
		if got := aws.ToString(out.CopyObjectResult.ChecksumCRC32C); got != aws.ToString(put.ChecksumCRC32C) {
			t.Errorf("copy CRC32C = %q, want the source's %q", got, aws.ToString(put.ChecksumCRC32C))
		}
	}
	if n := dataFiles(); n != 1 {
		t.Errorf("%d data files after two copies, want the source's 1, shared", n)
	}

	e.put("lsrc", "photo.jpg", mpData(3*mib, 61))
	if _, err := e.client.DeleteObject(context.Background(), &s3.DeleteObjectInput{Bucket: aws.String("lsrc"), Key: aws.String("photo.jpg")}); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"ldst/photo.jpg", "lsrc/copy.jpg"} {
		b, key, _ := strings.Cut(k, "/")
		if !bytes.Equal(e.get(b, key), data) {
			t.Errorf("%s differs from the source it copied", k)
		}
	}
	for _, k := range []string{"ldst/photo.jpg", "lsrc/copy.jpg"} {
		b, key, _ := strings.Cut(k, "/")
		if _, err := e.client.DeleteObject(context.Background(), &s3.DeleteObjectInput{Bucket: aws.String(b), Key: aws.String(key)}); err != nil {
			t.Fatal(err)
		}
	}
	if n := dataFiles(); n != 0 {
		t.Errorf("%d data files after every object was deleted, want 0", n)
	}
}

// TestCopyObjectStreamsWhenItMust covers the copies that cannot share the
// source's bytes: another checksum algorithm, and a source that changes
// between the copy's read of it and its commit, which the copy must not
// follow (it copies the version it opened). Both stream the bytes.
func TestCopyObjectStreamsWhenItMust(t *testing.T) {
	e := newMPEnv(t)
	e.bucket("must")
	data := mpData(2*mib, 62)
	e.put("must", "src", data)
	e.copySHA256("must", data)

	// The source changes after the copy opened it: the link is refused
	// (its ETag is no longer the opened one) and the copy streams the
	// opened snapshot.
	src, err := e.store.OpenObject(context.Background(), "must", "src")
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	e.put("must", "src", mpData(2*mib, 63))
	in := &sluice.PutObjectInput{Bucket: "must", Key: "snap", EventName: sluice.EventObjectCreatedCopy}
	info := src.Info()
	if _, linked, err := e.srv.linkCopy(context.Background(), info, info.Checksum.Algorithm, in); linked || err != nil {
		t.Fatalf("link of a changed source: linked %v, err %v; want a fall back to streaming", linked, err)
	}
	if _, err := e.srv.streamCopy(context.Background(), src, info.Checksum.Algorithm, in); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(e.get("must", "snap"), data) {
		t.Error("the copy is not the snapshot it opened")
	}

	// A condition on the destination that fails is the answer at once:
	// no stream follows to fail it again.
	cur, err := e.store.HeadObject(context.Background(), "must", "src")
	if err != nil {
		t.Fatal(err)
	}
	in = &sluice.PutObjectInput{Bucket: "must", Key: "snap", EventName: sluice.EventObjectCreatedCopy, Conditions: sluice.Conditions{IfNoneMatch: "*"}}
	_, linked, err := e.srv.linkCopy(context.Background(), cur, cur.Checksum.Algorithm, in)
	if !linked || !sluice.IsCode(err, sluice.ErrPreconditionFailed) {
		t.Errorf("link onto an existing key under If-None-Match: *: linked %v, err %v; want PreconditionFailed", linked, err)
	}
	resp, body := e.do("PUT", "/must/snap", nil, "x-amz-copy-source", "must/src", "If-None-Match", "*")
	if resp.StatusCode != http.StatusPreconditionFailed || !bytes.Contains(body, []byte("<Condition>If-None-Match</Condition>")) {
		t.Errorf("copy onto an existing key under If-None-Match: *: %d %s", resp.StatusCode, body)
	}
}

// TestCopyObjectOfVersion copies an older version and the current one of a
// versioned key: each copy has exactly that version's bytes and ETag.
func TestCopyObjectOfVersion(t *testing.T) {
	e := newMPEnv(t)
	e.bucket("vcopy")
	if _, err := e.client.PutBucketVersioning(context.Background(), &s3.PutBucketVersioningInput{
		Bucket: aws.String("vcopy"), VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusEnabled},
	}); err != nil {
		t.Fatal(err)
	}
	v1, v2 := mpData(200_000, 64), mpData(200_000, 65)
	p1 := e.put("vcopy", "k", v1)
	p2 := e.put("vcopy", "k", v2)
	for _, c := range []struct {
		source, dst string
		want        []byte
		etag        *string
	}{
		{"vcopy/k?versionId=" + aws.ToString(p1.VersionId), "old", v1, p1.ETag},
		{"vcopy/k", "new", v2, p2.ETag},
	} {
		out, err := e.client.CopyObject(context.Background(), &s3.CopyObjectInput{
			Bucket: aws.String("vcopy"), Key: aws.String(c.dst), CopySource: aws.String(c.source),
		})
		if err != nil {
			t.Fatalf("copy %s: %v", c.source, err)
		}
		if got := aws.ToString(out.CopyObjectResult.ETag); got != aws.ToString(c.etag) {
			t.Errorf("copy of %s: ETag %s, want %s", c.source, got, aws.ToString(c.etag))
		}
		if !bytes.Equal(e.get("vcopy", c.dst), c.want) {
			t.Errorf("copy of %s has other bytes", c.source)
		}
	}
}
