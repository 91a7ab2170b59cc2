package s3api

import (
	"bytes"
	"context"
	"encoding/xml"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/sluicehq/sluice"
)

// mpEnv wraps the shared testServer with the helpers multipart, copy,
// tagging and attributes tests use.
type mpEnv struct {
	t      testing.TB
	url    string
	srv    *Server
	store  sluice.Store
	client *s3.Client
	http   *http.Client
}

func newMPEnv(t testing.TB) *mpEnv {
	return mpEnvOf(newTestServer(t))
}

func mpEnvOf(ts *testServer) *mpEnv {
	return &mpEnv{t: ts.t, url: ts.URL, srv: ts.Server, store: ts.Store, client: ts.Client, http: ts.HTTP}
}

func (e *mpEnv) bucket(name string) string {
	e.t.Helper()
	if _, err := e.client.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		e.t.Fatalf("create bucket %s: %v", name, err)
	}
	return name
}

func (e *mpEnv) put(bucket, key string, body []byte, mut ...func(*s3.PutObjectInput)) *s3.PutObjectOutput {
	e.t.Helper()
	in := &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(body)}
	for _, m := range mut {
		m(in)
	}
	out, err := e.client.PutObject(context.Background(), in)
	if err != nil {
		e.t.Fatalf("put %s/%s: %v", bucket, key, err)
	}
	return out
}

// copySHA256 copies bucket/src to bucket/sha asking for a SHA-256
// checksum and checks the copy's is data's.
func (e *mpEnv) copySHA256(bucket string, data []byte) {
	e.t.Helper()
	out, err := e.client.CopyObject(context.Background(), &s3.CopyObjectInput{
		Bucket: aws.String(bucket), Key: aws.String("sha"), CopySource: aws.String(bucket + "/src"),
		ChecksumAlgorithm: types.ChecksumAlgorithmSha256,
	})
	if err != nil {
		e.t.Fatal(err)
	}
	if got := aws.ToString(out.CopyObjectResult.ChecksumSHA256); got != sha256B64(data) {
		e.t.Errorf("SHA256 = %q, want %q", got, sha256B64(data))
	}
}

func (e *mpEnv) get(bucket, key string) []byte {
	e.t.Helper()
	out, err := e.client.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		e.t.Fatalf("get %s/%s: %v", bucket, key, err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		e.t.Fatalf("read %s/%s: %v", bucket, key, err)
	}
	return b
}

// do sends a raw request; header pairs are name, value, name, value...
func (e *mpEnv) do(method, path string, body []byte, header ...string) (*http.Response, []byte) {
	e.t.Helper()
	req, err := http.NewRequest(method, e.url+path, bytes.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	// Any Authorization makes the stand-in front door treat the request
	// as the account; "anonymous" in the header list removes it.
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 test")
	for i := 0; i+1 < len(header); i += 2 {
		if header[i] == "anonymous" {
			req.Header.Del("Authorization")
			continue
		}
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := e.http.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatalf("read %s %s: %v", method, path, err)
	}
	return resp, b
}

// wireError is S3's error document as the tests read it.
type wireError struct {
	Code          string
	Message       string
	Resource      string
	RequestID     string `xml:"RequestId"`
	ArgumentName  string
	ArgumentValue string
	Condition     string
	PartNumber    string
}

// expectError asserts a raw response is the S3 error code with status.
func expectError(t testing.TB, resp *http.Response, body []byte, status int, code string) wireError {
	t.Helper()
	if resp.StatusCode != status {
		t.Fatalf("status = %d, want %d; body: %s", resp.StatusCode, status, body)
	}
	var e wireError
	if err := xml.Unmarshal(body, &e); err != nil {
		t.Fatalf("error body is not XML: %v: %s", err, body)
	}
	if e.Code != code {
		t.Fatalf("code = %q, want %q; body: %s", e.Code, code, body)
	}
	if e.Message == "" || e.RequestID != "TESTREQUESTID" {
		t.Fatalf("error lacks message or request id: %s", body)
	}
	return e
}

// mpData is deterministic pseudo-random content.
func mpData(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	b := make([]byte, n)
	for i := 0; i+8 <= n; i += 8 {
		v := r.Uint64()
		for j := range 8 {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	for i := n - n%8; i < n; i++ {
		b[i] = byte(r.Uint32())
	}
	return b
}

// createUpload starts an upload with the raw API and returns its id.
func (e *mpEnv) createUpload(bucket, key string, header ...string) string {
	e.t.Helper()
	resp, body := e.do("POST", "/"+bucket+"/"+key+"?uploads", nil, header...)
	if resp.StatusCode != http.StatusOK {
		e.t.Fatalf("create upload: %d %s", resp.StatusCode, body)
	}
	var res struct {
		UploadID string `xml:"UploadId"`
	}
	if err := xml.Unmarshal(body, &res); err != nil || res.UploadID == "" {
		e.t.Fatalf("create upload: bad body %s (%v)", body, err)
	}
	return res.UploadID
}

// uploadPart sends one part with the raw API and returns its ETag.
func (e *mpEnv) uploadPart(bucket, key, id string, n int, data []byte) string {
	e.t.Helper()
	resp, body := e.do("PUT", "/"+bucket+"/"+key+"?partNumber="+strconv.Itoa(n)+"&uploadId="+id, data)
	if resp.StatusCode != http.StatusOK {
		e.t.Fatalf("upload part %d: %d %s", n, resp.StatusCode, body)
	}
	return resp.Header.Get("ETag")
}

// completeXML builds a CompleteMultipartUpload body from number/ETag pairs.
func completeXML(parts ...any) []byte {
	var b strings.Builder
	b.WriteString("<CompleteMultipartUpload>")
	for i := 0; i+1 < len(parts); i += 2 {
		b.WriteString("<Part><PartNumber>" + strconv.Itoa(parts[i].(int)) + "</PartNumber><ETag>")
		xml.EscapeText(&b, []byte(parts[i+1].(string)))
		b.WriteString("</ETag></Part>")
	}
	b.WriteString("</CompleteMultipartUpload>")
	return []byte(b.String())
}
