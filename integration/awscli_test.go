//go:build integration

package integration

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/google/go-cmp/cmp"
)

// writeRandomFile writes size random bytes to path and returns them.
func writeRandomFile(t testing.TB, path string, size int) []byte {
	t.Helper()
	b := make([]byte, size)
	_, _ = rand.Read(b)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return b
}

// readTree maps every regular file under root (slash-separated relative
// path) to its content.
func readTree(t testing.TB, root string) map[string]string {
	t.Helper()
	files := map[string]string{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		files[filepath.ToSlash(rel)] = string(b)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func mustJSON(t testing.TB, out string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(out), v); err != nil {
		t.Fatalf("parse aws-cli JSON output: %v\n%s", err, out)
	}
}

// wantCLIError fails t unless r is a failed run whose stderr names code.
// aws-cli v1 exits 255 when a service call fails and 1 when an `aws s3`
// transfer or bucket command reports a failure.
func wantCLIError(t testing.TB, what string, r cliResult, code string) {
	t.Helper()
	wantCLIExit(t, what, r, 255, code)
}

func wantCLIExit(t testing.TB, what string, r cliResult, exit int, code string) {
	t.Helper()
	if r.Code != exit {
		t.Errorf("%s: exit %d, want %d with %s\n%s", what, r.Code, exit, code, r)
		return
	}
	if !strings.Contains(r.Stderr, code) {
		t.Errorf("%s: stderr does not name %s\n%s", what, code, r)
	}
}

// countLines counts stdout lines starting with prefix (aws s3 progress lines).
func countLines(out, prefix string) int {
	n := 0
	for line := range strings.SplitSeq(out, "\n") {
		// aws-cli rewrites progress with \r; the final state follows the last one.
		if i := strings.LastIndex(line, "\r"); i >= 0 {
			line = line[i+1:]
		}
		if strings.HasPrefix(strings.TrimSpace(line), prefix) {
			n++
		}
	}
	return n
}

func TestAWSCLI(t *testing.T) {
	t.Parallel()
	s := sharedSluice(t)
	bucket := bucketName("cli")
	dir := t.TempDir()
	uri := "s3://" + bucket

	t.Run("mb and ls", func(t *testing.T) {
		out := awsOK(t, s, "s3", "mb", uri)
		if !strings.Contains(out, "make_bucket: "+bucket) {
			t.Errorf("s3 mb output = %q, want make_bucket: %s", out, bucket)
		}
		out = awsOK(t, s, "s3", "ls")
		if !strings.Contains(out, " "+bucket+"\n") {
			t.Errorf("s3 ls does not list %s:\n%s", bucket, out)
		}
		// us-east-1 keeps S3's legacy rule: re-creating your own bucket succeeds.
		if r := awsCLI(t, s, "s3", "mb", uri); r.Code != 0 {
			t.Errorf("s3 mb of an owned bucket in us-east-1: %s", r)
		}
		var lb struct {
			Buckets []struct{ Name, CreationDate string }
			Owner   struct{ ID string }
		}
		mustJSON(t, awsOK(t, s, "s3api", "list-buckets"), &lb)
		found := false
		for _, b := range lb.Buckets {
			if b.Name == bucket {
				found = true
				if _, err := time.Parse(time.RFC3339, b.CreationDate); err != nil {
					t.Errorf("CreationDate %q: %v", b.CreationDate, err)
				}
			}
		}
		if !found {
			t.Errorf("list-buckets misses %s: %+v", bucket, lb)
		}
	})

	small := []byte("hello from sluice\n")
	var big []byte
	t.Run("cp up and down", func(t *testing.T) {
		if err := os.WriteFile(filepath.Join(dir, "small.txt"), small, 0o644); err != nil {
			t.Fatal(err)
		}
		big = writeRandomFile(t, filepath.Join(dir, "big.bin"), 20<<20)
		awsOK(t, s, "s3", "cp", filepath.Join(dir, "small.txt"), uri+"/docs/small.txt")
		awsOK(t, s, "s3", "cp", filepath.Join(dir, "big.bin"), uri+"/big.bin")

		awsOK(t, s, "s3", "cp", uri+"/docs/small.txt", filepath.Join(dir, "small.down"))
		awsOK(t, s, "s3", "cp", uri+"/big.bin", filepath.Join(dir, "big.down"))
		for name, want := range map[string][]byte{"small.down": small, "big.down": big} {
			got, err := os.ReadFile(filepath.Join(dir, name))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s: %d bytes differ from the %d uploaded", name, len(got), len(want))
			}
		}

		// aws-cli splits files above 8 MiB into 8 MiB parts: 20 MiB is 3 parts.
		var head struct {
			ETag          string
			ContentLength int64
		}
		mustJSON(t, awsOK(t, s, "s3api", "head-object", "--bucket", bucket, "--key", "big.bin"), &head)
		if !strings.HasSuffix(head.ETag, `-3"`) || head.ContentLength != 20<<20 {
			t.Errorf("head big.bin = %+v, want a 3-part multipart ETag and 20 MiB", head)
		}
		var hs struct{ ETag string }
		mustJSON(t, awsOK(t, s, "s3api", "head-object", "--bucket", bucket, "--key", "docs/small.txt"), &hs)
		if sum := md5.Sum(small); hs.ETag != `"`+hex.EncodeToString(sum[:])+`"` {
			t.Errorf("small ETag = %s, want quoted MD5 %x", hs.ETag, sum)
		}
	})

	t.Run("ls prefixes", func(t *testing.T) {
		out := awsOK(t, s, "s3", "ls", uri)
		if !strings.Contains(out, "PRE docs/") || !strings.Contains(out, " big.bin") {
			t.Errorf("s3 ls %s:\n%s\nwant PRE docs/ and big.bin", uri, out)
		}
		if strings.Contains(out, "small.txt") {
			t.Errorf("s3 ls without --recursive shows a nested key:\n%s", out)
		}
		out = awsOK(t, s, "s3", "ls", uri, "--recursive")
		for _, want := range []string{fmt.Sprintf("%d docs/small.txt", len(small)), fmt.Sprintf("%d big.bin", 20<<20)} {
			if !strings.Contains(out, want) {
				t.Errorf("s3 ls --recursive misses %q:\n%s", want, out)
			}
		}
		out = awsOK(t, s, "s3", "ls", uri+"/docs/")
		if !strings.Contains(out, " small.txt") || strings.Contains(out, "big.bin") {
			t.Errorf("s3 ls docs/:\n%s", out)
		}
	})

	t.Run("sync", func(t *testing.T) {
		src := filepath.Join(dir, "tree")
		files := map[string][]byte{
			"a.txt":              []byte("alpha"),
			"with space.txt":     []byte("spaced out"),
			"sub/b.txt":          []byte("bravo"),
			"sub/deeper/c.bin":   nil,
			"sub/deeper/ünï.txt": []byte("unicode"),
		}
		for name, b := range files {
			p := filepath.Join(src, filepath.FromSlash(name))
			if b == nil {
				writeRandomFile(t, p, 300<<10)
				continue
			}
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		out := awsOK(t, s, "s3", "sync", src, uri+"/tree/")
		if n := countLines(out, "upload:"); n != len(files) {
			t.Errorf("first sync uploaded %d files, want %d:\n%s", n, len(files), out)
		}
		out = awsOK(t, s, "s3", "sync", src, uri+"/tree/")
		if n := countLines(out, "upload:"); n != 0 {
			t.Errorf("second sync uploaded %d files, want 0:\n%s", n, out)
		}
		dst := filepath.Join(dir, "tree-down")
		out = awsOK(t, s, "s3", "sync", uri+"/tree/", dst)
		if n := countLines(out, "download:"); n != len(files) {
			t.Errorf("download sync fetched %d files, want %d:\n%s", n, len(files), out)
		}
		if diff := cmp.Diff(readTree(t, src), readTree(t, dst)); diff != "" {
			t.Errorf("tree after sync down differs (-up +down):\n%s", diff)
		}
		out = awsOK(t, s, "s3", "sync", uri+"/tree/", dst)
		if n := countLines(out, "download:"); n != 0 {
			t.Errorf("second download sync fetched %d files, want 0:\n%s", n, out)
		}
	})

	t.Run("empty file then more uploads", func(t *testing.T) {
		// aws-cli sends "Expect: 100-continue" even for an empty body. One
		// transfer thread makes the next upload reuse that connection; a
		// server that answers the empty PUT without "100 Continue" leaves
		// botocore's connection desynchronised and the next PUT stalls until
		// the read timeout (botocore issue #3755). One attempt and a short
		// read timeout turn that stall into a visible failure.
		src := filepath.Join(dir, "empties")
		files := map[string][]byte{"a-first.txt": []byte("first"), "b-empty": {}, "c-after.txt": []byte("after"), "d-empty": {}, "e-last.txt": []byte("last")}
		for name, b := range files {
			if err := os.MkdirAll(src, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(src, name), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		cfg := filepath.Join(dir, "aws-config-serial")
		if err := os.WriteFile(cfg, []byte("[default]\ns3 =\n    max_concurrent_requests = 1\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		r := awsCLIEnv(t, s, []string{"AWS_CONFIG_FILE=" + cfg, "AWS_MAX_ATTEMPTS=1"}, "s3", "sync", src, uri+"/empties/", "--cli-read-timeout", "10")
		if r.Code != 0 {
			t.Fatalf("sync of a tree with empty files: %s", r)
		}
		if n := countLines(r.Stdout, "upload:"); n != len(files) {
			t.Errorf("uploaded %d files, want %d:\n%s", n, len(files), r)
		}
		var head struct{ ContentLength int64 }
		mustJSON(t, awsOK(t, s, "s3api", "head-object", "--bucket", bucket, "--key", "empties/b-empty"), &head)
		if head.ContentLength != 0 {
			t.Errorf("empty object has length %d", head.ContentLength)
		}
	})

	t.Run("presign", func(t *testing.T) {
		presign := func(expires string) string {
			t.Helper()
			r := awsCLIEnv(t, s, []string{"AWS_CONFIG_FILE=" + clientConfigV4}, "s3", "presign", uri+"/docs/small.txt", "--expires-in", expires)
			if r.Code != 0 || !strings.Contains(r.Stdout, "X-Amz-Signature=") {
				t.Fatalf("s3 presign with s3v4: %s", r)
			}
			return strings.TrimSpace(r.Stdout)
		}
		u := presign("300")
		resp := do(t, mustRequest(t, http.MethodGet, u, nil))
		if resp.Status != http.StatusOK || !bytes.Equal(resp.Body, small) {
			t.Errorf("GET presigned URL: %d %q, want 200 %q", resp.Status, resp.Body, small)
		}
		// A tampered signature is refused.
		bad := strings.Replace(u, "X-Amz-Signature=", "X-Amz-Signature=0", 1)
		if r := do(t, mustRequest(t, http.MethodGet, bad, nil)); r.Status != http.StatusForbidden {
			t.Errorf("tampered presigned URL: status %d, want 403: %s", r.Status, r.Body)
		}

		u = presign("1")
		var last rawResponse
		err := poll(15*time.Second, func() error {
			last = do(t, mustRequest(t, http.MethodGet, u, nil))
			if last.Status == http.StatusOK {
				return fmt.Errorf("still valid")
			}
			return nil
		})
		if err != nil {
			t.Fatalf("presigned URL with --expires-in 1 never expired")
		}
		e := last.errorCode()
		if last.Status != http.StatusForbidden || e.Code != "AccessDenied" || !strings.Contains(e.Message, "Request has expired") {
			t.Errorf("expired presign: %d %+v, want 403 AccessDenied \"Request has expired\"\n%s", last.Status, e, last.Body)
		}
	})

	t.Run("presign with the default config", func(t *testing.T) {
		// Out of the box aws-cli v1 presigns with SigV2 query parameters
		// (AWSAccessKeyId, Signature, Expires); S3 still accepts those.
		u := strings.TrimSpace(awsOK(t, s, "s3", "presign", uri+"/docs/small.txt", "--expires-in", "300"))
		resp := do(t, mustRequest(t, http.MethodGet, u, nil))
		if resp.Status != http.StatusOK || !bytes.Equal(resp.Body, small) {
			t.Errorf("GET %s: %d %s, want 200 with the object", u, resp.Status, resp.Body)
		}
	})

	body := []byte(`{"hello":"metadata"}`)
	sum := md5.Sum(body)
	etag := `"` + hex.EncodeToString(sum[:]) + `"`
	t.Run("s3api put-object and head-object", func(t *testing.T) {
		p := filepath.Join(dir, "meta.json")
		if err := os.WriteFile(p, body, 0o644); err != nil {
			t.Fatal(err)
		}
		var put struct{ ETag string }
		mustJSON(t, awsOK(t, s, "s3api", "put-object", "--bucket", bucket, "--key", "meta/obj.json", "--body", p,
			"--content-type", "application/json", "--metadata", "color=blue,Owner=Alice",
			"--tagging", "team=storage&tier=gold", "--content-md5", base64.StdEncoding.EncodeToString(sum[:]),
			"--cache-control", "max-age=60", "--content-disposition", "inline"), &put)
		if put.ETag != etag {
			t.Errorf("put-object ETag = %s, want %s", put.ETag, etag)
		}

		var head struct {
			ETag               string
			ContentLength      int64
			ContentType        string
			CacheControl       string
			ContentDisposition string
			LastModified       string
			Metadata           map[string]string
			TagCount           int
		}
		mustJSON(t, awsOK(t, s, "s3api", "head-object", "--bucket", bucket, "--key", "meta/obj.json"), &head)
		if head.ETag != etag || head.ContentLength != int64(len(body)) || head.ContentType != "application/json" ||
			head.CacheControl != "max-age=60" || head.ContentDisposition != "inline" || head.LastModified == "" {
			t.Errorf("head-object = %+v", head)
		}
		// S3 lower-cases metadata names.
		if diff := cmp.Diff(map[string]string{"color": "blue", "owner": "Alice"}, head.Metadata); diff != "" {
			t.Errorf("head-object Metadata (-want +got):\n%s", diff)
		}

		var tags struct{ TagSet []struct{ Key, Value string } }
		mustJSON(t, awsOK(t, s, "s3api", "get-object-tagging", "--bucket", bucket, "--key", "meta/obj.json"), &tags)
		slices.SortFunc(tags.TagSet, func(a, b struct{ Key, Value string }) int { return strings.Compare(a.Key, b.Key) })
		if diff := cmp.Diff([]struct{ Key, Value string }{{"team", "storage"}, {"tier", "gold"}}, tags.TagSet); diff != "" {
			t.Errorf("object tags (-want +got):\n%s", diff)
		}

		wrong := md5.Sum([]byte("something else"))
		r := awsCLI(t, s, "s3api", "put-object", "--bucket", bucket, "--key", "meta/bad.json", "--body", p,
			"--content-md5", base64.StdEncoding.EncodeToString(wrong[:]))
		wantCLIError(t, "put-object with a wrong Content-MD5", r, "BadDigest")
	})

	t.Run("get-object range", func(t *testing.T) {
		out := filepath.Join(dir, "range.out")
		var get struct {
			ContentLength int64
			ContentRange  string
		}
		mustJSON(t, awsOK(t, s, "s3api", "get-object", "--bucket", bucket, "--key", "meta/obj.json", "--range", "bytes=2-6", out), &get)
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		if string(b) != string(body[2:7]) || get.ContentLength != 5 || get.ContentRange != fmt.Sprintf("bytes 2-6/%d", len(body)) {
			t.Errorf("ranged get = %q %+v, want %q, 5, bytes 2-6/%d", b, get, body[2:7], len(body))
		}
		r := awsCLI(t, s, "s3api", "get-object", "--bucket", bucket, "--key", "meta/obj.json", "--range", "bytes=1000-2000", out)
		wantCLIError(t, "unsatisfiable range", r, "InvalidRange")
	})

	t.Run("copy-object", func(t *testing.T) {
		var cp struct{ CopyObjectResult struct{ ETag string } }
		mustJSON(t, awsOK(t, s, "s3api", "copy-object", "--bucket", bucket, "--key", "meta/copy.json",
			"--copy-source", bucket+"/meta/obj.json"), &cp)
		if cp.CopyObjectResult.ETag != etag {
			t.Errorf("copy ETag = %s, want %s", cp.CopyObjectResult.ETag, etag)
		}
		var head struct {
			ContentType string
			Metadata    map[string]string
		}
		mustJSON(t, awsOK(t, s, "s3api", "head-object", "--bucket", bucket, "--key", "meta/copy.json"), &head)
		if head.Metadata["color"] != "blue" || head.ContentType != "application/json" {
			t.Errorf("COPY directive did not keep metadata: %+v", head)
		}

		mustJSON(t, awsOK(t, s, "s3api", "copy-object", "--bucket", bucket, "--key", "meta/replaced.json",
			"--copy-source", bucket+"/meta/obj.json", "--metadata-directive", "REPLACE",
			"--metadata", "shape=round", "--content-type", "text/plain"), &cp)
		head.Metadata = nil
		mustJSON(t, awsOK(t, s, "s3api", "head-object", "--bucket", bucket, "--key", "meta/replaced.json"), &head)
		if diff := cmp.Diff(map[string]string{"shape": "round"}, head.Metadata); diff != "" || head.ContentType != "text/plain" {
			t.Errorf("REPLACE directive: content type %q, metadata (-want +got):\n%s", head.ContentType, diff)
		}
		got := filepath.Join(dir, "replaced.out")
		awsOK(t, s, "s3api", "get-object", "--bucket", bucket, "--key", "meta/replaced.json", got)
		if b, _ := os.ReadFile(got); !bytes.Equal(b, body) {
			t.Errorf("copied body = %q, want %q", b, body)
		}

		r := awsCLI(t, s, "s3api", "copy-object", "--bucket", bucket, "--key", "meta/x", "--copy-source", bucket+"/meta/obj.json",
			"--copy-source-if-none-match", etag)
		wantCLIError(t, "copy with failing copy-source-if-none-match", r, "PreconditionFailed")
		r = awsCLI(t, s, "s3api", "copy-object", "--bucket", bucket, "--key", "meta/obj.json", "--copy-source", bucket+"/meta/obj.json")
		wantCLIError(t, "copy onto itself without changes", r, "InvalidRequest")
	})

	t.Run("bucket policy", func(t *testing.T) {
		policy := fmt.Sprintf(`{"Version":"2012-10-17","Statement":[{"Sid":"PublicRead","Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::%s/docs/*"}]}`, bucket)
		awsOK(t, s, "s3api", "put-bucket-policy", "--bucket", bucket, "--policy", policy)
		var got struct{ Policy string }
		mustJSON(t, awsOK(t, s, "s3api", "get-bucket-policy", "--bucket", bucket), &got)
		var want, have any
		_ = json.Unmarshal([]byte(policy), &want)
		if err := json.Unmarshal([]byte(got.Policy), &have); err != nil {
			t.Fatalf("get-bucket-policy returned non-JSON %q", got.Policy)
		}
		if diff := cmp.Diff(want, have); diff != "" {
			t.Errorf("policy round trip (-put +got):\n%s", diff)
		}
		// The policy grants anonymous reads under docs/ and nothing else.
		if r := do(t, mustRequest(t, http.MethodGet, s.URL+"/"+bucket+"/docs/small.txt", nil)); r.Status != http.StatusOK || !bytes.Equal(r.Body, small) {
			t.Errorf("anonymous GET under the public prefix: %d %q", r.Status, r.Body)
		}
		if r := do(t, mustRequest(t, http.MethodGet, s.URL+"/"+bucket+"/big.bin", nil)); r.Status != http.StatusForbidden || r.errorCode().Code != "AccessDenied" {
			t.Errorf("anonymous GET outside the public prefix: %d %s", r.Status, r.Body)
		}
		awsOK(t, s, "s3api", "delete-bucket-policy", "--bucket", bucket)
		wantCLIError(t, "get-bucket-policy after delete", awsCLI(t, s, "s3api", "get-bucket-policy", "--bucket", bucket), "NoSuchBucketPolicy")
		if r := do(t, mustRequest(t, http.MethodGet, s.URL+"/"+bucket+"/docs/small.txt", nil)); r.Status != http.StatusForbidden {
			t.Errorf("anonymous GET after the policy was deleted: %d", r.Status)
		}
	})

	t.Run("bucket tagging", func(t *testing.T) {
		wantCLIError(t, "get-bucket-tagging before any", awsCLI(t, s, "s3api", "get-bucket-tagging", "--bucket", bucket), "NoSuchTagSet")
		awsOK(t, s, "s3api", "put-bucket-tagging", "--bucket", bucket, "--tagging", "TagSet=[{Key=TargetBucket,Value=backup-a backup-b@eu-west-1},{Key=env,Value=test}]")
		var tags struct{ TagSet []struct{ Key, Value string } }
		mustJSON(t, awsOK(t, s, "s3api", "get-bucket-tagging", "--bucket", bucket), &tags)
		slices.SortFunc(tags.TagSet, func(a, b struct{ Key, Value string }) int { return strings.Compare(a.Key, b.Key) })
		want := []struct{ Key, Value string }{{"TargetBucket", "backup-a backup-b@eu-west-1"}, {"env", "test"}}
		if diff := cmp.Diff(want, tags.TagSet); diff != "" {
			t.Errorf("bucket tags (-want +got):\n%s", diff)
		}
		awsOK(t, s, "s3api", "delete-bucket-tagging", "--bucket", bucket)
		wantCLIError(t, "get-bucket-tagging after delete", awsCLI(t, s, "s3api", "get-bucket-tagging", "--bucket", bucket), "NoSuchTagSet")
	})

	t.Run("get-object-attributes", func(t *testing.T) {
		var attrs struct {
			ETag         string
			ObjectSize   int64
			StorageClass string
			LastModified string
		}
		mustJSON(t, awsOK(t, s, "s3api", "get-object-attributes", "--bucket", bucket, "--key", "meta/obj.json",
			"--object-attributes", "ETag", "ObjectSize", "StorageClass"), &attrs)
		// GetObjectAttributes returns the ETag without quotes.
		if attrs.ETag != strings.Trim(etag, `"`) || attrs.ObjectSize != int64(len(body)) || attrs.StorageClass != "STANDARD" || attrs.LastModified == "" {
			t.Errorf("get-object-attributes = %+v, want ETag %s, size %d, STANDARD", attrs, strings.Trim(etag, `"`), len(body))
		}
		var mp struct {
			ObjectParts struct {
				TotalPartsCount int
			}
			ObjectSize int64
		}
		mustJSON(t, awsOK(t, s, "s3api", "get-object-attributes", "--bucket", bucket, "--key", "big.bin",
			"--object-attributes", "ObjectParts", "ObjectSize"), &mp)
		if mp.ObjectParts.TotalPartsCount != 3 || mp.ObjectSize != 20<<20 {
			t.Errorf("attributes of the multipart object = %+v, want 3 parts, 20 MiB", mp)
		}
	})

	t.Run("list-objects-v2 paging", func(t *testing.T) {
		client := s3Client(s)
		var keys []string
		for i := range 7 {
			k := fmt.Sprintf("page/%02d", i)
			keys = append(keys, k)
			if _, err := client.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(k), Body: strings.NewReader(k)}); err != nil {
				t.Fatal(err)
			}
		}
		type page struct {
			Contents  []struct{ Key string }
			NextToken string
		}
		var got []string
		token := ""
		for pages := 0; ; pages++ {
			if pages > 5 {
				t.Fatalf("--max-items 3 paging did not end; keys so far %v", got)
			}
			args := []string{"s3api", "list-objects-v2", "--bucket", bucket, "--prefix", "page/", "--max-items", "3", "--page-size", "2"}
			if token != "" {
				args = append(args, "--starting-token", token)
			}
			var p page
			mustJSON(t, awsOK(t, s, args...), &p)
			if len(p.Contents) > 3 {
				t.Errorf("page has %d items, want at most 3", len(p.Contents))
			}
			for _, c := range p.Contents {
				got = append(got, c.Key)
			}
			if p.NextToken == "" {
				break
			}
			token = p.NextToken
		}
		if diff := cmp.Diff(keys, got); diff != "" {
			t.Errorf("paged keys (-want +got):\n%s", diff)
		}
		var all struct {
			KeyCount int
			Contents []struct {
				Key, ETag, StorageClass string
				Size                    int64
			}
		}
		mustJSON(t, awsOK(t, s, "s3api", "list-objects-v2", "--no-paginate", "--bucket", bucket, "--prefix", "page/", "--start-after", "page/04"), &all)
		if all.KeyCount != 2 || len(all.Contents) != 2 || all.Contents[0].Key != "page/05" || all.Contents[0].Size != 7 || all.Contents[0].StorageClass != "STANDARD" {
			t.Errorf("start-after page/04 = %+v", all)
		}
	})

	t.Run("location constraint", func(t *testing.T) {
		eu := bucketName("cli-eu")
		awsOK(t, s, "s3api", "create-bucket", "--bucket", eu, "--region", "eu-west-1",
			"--create-bucket-configuration", "LocationConstraint=eu-west-1")
		// Outside us-east-1 re-creating your own bucket is a 409 (us-east-1 keeps a legacy 200).
		wantCLIError(t, "create-bucket twice in eu-west-1", awsCLI(t, s, "s3api", "create-bucket", "--bucket", eu, "--region", "eu-west-1",
			"--create-bucket-configuration", "LocationConstraint=eu-west-1"), "BucketAlreadyOwnedByYou")
		var loc struct{ LocationConstraint *string }
		mustJSON(t, awsOK(t, s, "s3api", "get-bucket-location", "--bucket", eu, "--region", "eu-west-1"), &loc)
		if loc.LocationConstraint == nil || *loc.LocationConstraint != "eu-west-1" {
			t.Errorf("get-bucket-location = %v, want eu-west-1", loc.LocationConstraint)
		}
		// us-east-1 buckets report an empty (null) location, as S3 does.
		loc.LocationConstraint = nil
		mustJSON(t, awsOK(t, s, "s3api", "get-bucket-location", "--bucket", bucket), &loc)
		if loc.LocationConstraint != nil && *loc.LocationConstraint != "" {
			t.Errorf("us-east-1 bucket location = %q, want null", *loc.LocationConstraint)
		}
		awsOK(t, s, "s3api", "delete-bucket", "--bucket", eu, "--region", "eu-west-1")
	})

	t.Run("errors", func(t *testing.T) {
		missing := bucketName("cli-missing")
		out := filepath.Join(dir, "err.out")
		wantCLIError(t, "get-object on a missing bucket", awsCLI(t, s, "s3api", "get-object", "--bucket", missing, "--key", "k", out), "NoSuchBucket")
		wantCLIError(t, "list on a missing bucket", awsCLI(t, s, "s3", "ls", "s3://"+missing), "NoSuchBucket")
		wantCLIError(t, "get-object on a missing key", awsCLI(t, s, "s3api", "get-object", "--bucket", bucket, "--key", "no/such/key", out), "NoSuchKey")
		// HEAD has no body, so the CLI can only report the status.
		wantCLIError(t, "head-object on a missing key", awsCLI(t, s, "s3api", "head-object", "--bucket", bucket, "--key", "no/such/key"), "404")
		wantCLIExit(t, "s3 cp of a missing key", awsCLI(t, s, "s3", "cp", uri+"/no/such/key", out), 1, "404")
		wantCLIExit(t, "rb of a non-empty bucket", awsCLI(t, s, "s3", "rb", uri), 1, "BucketNotEmpty")
		wantCLIError(t, "delete-bucket of a missing bucket", awsCLI(t, s, "s3api", "delete-bucket", "--bucket", missing), "NoSuchBucket")
		wantCLIError(t, "invalid bucket name", awsCLI(t, s, "s3api", "create-bucket", "--bucket", "Bad_Bucket"), "InvalidBucketName")
	})

	t.Run("rm and rb", func(t *testing.T) {
		out := awsOK(t, s, "s3", "rm", uri, "--recursive")
		if n := countLines(out, "delete:"); n < 10 {
			t.Errorf("rm --recursive deleted %d objects, want at least 10:\n%s", n, out)
		}
		var list struct{ KeyCount int }
		mustJSON(t, awsOK(t, s, "s3api", "list-objects-v2", "--no-paginate", "--bucket", bucket), &list)
		if list.KeyCount != 0 {
			t.Errorf("after rm --recursive KeyCount = %d", list.KeyCount)
		}
		out = awsOK(t, s, "s3", "rb", uri)
		if !strings.Contains(out, "remove_bucket: "+bucket) {
			t.Errorf("s3 rb output = %q", out)
		}
		if out := awsOK(t, s, "s3", "ls"); strings.Contains(out, " "+bucket+"\n") {
			t.Errorf("bucket still listed after rb:\n%s", out)
		}
		wantCLIError(t, "head-bucket after rb", awsCLI(t, s, "s3api", "head-bucket", "--bucket", bucket), "404")
	})
}

func mustRequest(t testing.TB, method, url string, body []byte) *http.Request {
	t.Helper()
	var r *http.Request
	var err error
	if body == nil {
		r, err = http.NewRequest(method, url, nil)
	} else {
		r, err = http.NewRequest(method, url, bytes.NewReader(body))
	}
	if err != nil {
		t.Fatal(err)
	}
	return r
}
