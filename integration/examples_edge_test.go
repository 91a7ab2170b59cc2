//go:build integration

package integration

// The tests in this file run examples/image-resize, examples/cross-region-copy
// and examples/invalidate-on-update as their READMEs show them: `sluice serve
// -t template.yaml`, the aws-cli commands of the walkthrough, and the edge
// requests curl makes there (sent with net/http, Host header included when
// the README names the distribution's <id>.localhost), asserting on the real
// images, headers and objects that come back.

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// exampleFile is the path of a file of examples/NAME.
func exampleFile(name, file string) string {
	return filepath.Join(moduleRoot, "examples", name, file)
}

// startEdgeExample serves examples/NAME/template.yaml (with extra serve
// flags) and waits until the stack is applied: serve prints the stack's
// Outputs then, and they are returned.
func startEdgeExample(t *testing.T, name string, opts ...serverOption) (*sluiceServer, map[string]string) {
	t.Helper()
	opts = append(opts, withArgs("-t", exampleFile(name, "template.yaml"), "--api-addr", ""))
	s := startSluice(t, opts...)
	out := waitOutputs(t, s, 0)
	if !strings.Contains(s.log(), "Outputs of stack "+name+":") {
		t.Fatalf("serve did not apply stack %s", name)
	}
	if strings.Contains(s.log(), "level=ERROR") {
		t.Fatalf("serve logged an error while applying %s", name)
	}
	return s, out
}

// readExample returns the bytes of a sample file of an example.
func readExample(t testing.TB, name, file string) []byte {
	t.Helper()
	b, err := os.ReadFile(exampleFile(name, file))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// edgeGetDefault is `curl http://127.0.0.1:4567/path`: no distribution named
// in the Host, so the edge serves its first one.
// hdr is name, value pairs.
func edgeGetDefault(t testing.TB, s *sluiceServer, path string, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, "http://"+s.EdgeAddr+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := (&http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{DisableCompression: true}}).Do(req)
	if err != nil {
		t.Fatalf("GET %s on the edge: %v", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s on the edge: read body: %v", path, err)
	}
	return resp, body
}

// webpSize reads the canvas size of a WebP file (VP8, VP8L or VP8X).
func webpSize(b []byte) (w, h int, err error) {
	if len(b) < 30 || string(b[:4]) != "RIFF" || string(b[8:12]) != "WEBP" {
		return 0, 0, errors.New("not a RIFF/WEBP file")
	}
	switch string(b[12:16]) {
	case "VP8X":
		w = int(b[24]) | int(b[25])<<8 | int(b[26])<<16
		h = int(b[27]) | int(b[28])<<8 | int(b[29])<<16
		return w + 1, h + 1, nil
	case "VP8 ":
		if b[23] != 0x9d || b[24] != 0x01 || b[25] != 0x2a {
			return 0, 0, errors.New("VP8 frame without a start code")
		}
		return int(binary.LittleEndian.Uint16(b[26:]) & 0x3fff), int(binary.LittleEndian.Uint16(b[28:]) & 0x3fff), nil
	case "VP8L":
		if b[20] != 0x2f {
			return 0, 0, errors.New("VP8L without its signature")
		}
		v := binary.LittleEndian.Uint32(b[21:])
		return int(v&0x3fff) + 1, int(v>>14&0x3fff) + 1, nil
	}
	return 0, 0, fmt.Errorf("unknown WebP chunk %q", b[12:16])
}

// distributionIDByComment finds a distribution with `aws cloudfront
// list-distributions`, as the READMEs do.
func distributionIDByComment(t testing.TB, s *sluiceServer, comment string) string {
	t.Helper()
	out := strings.TrimSpace(awsOK(t, s, "cloudfront", "list-distributions", "--output", "text",
		"--query", fmt.Sprintf("DistributionList.Items[?Comment=='%s'].Id", comment)))
	if out == "" || strings.ContainsAny(out, " \t\n") {
		t.Fatalf("list-distributions: distribution with comment %q: got %q, want one id", comment, out)
	}
	return out
}

// invalidation is one entry of `aws cloudfront get-invalidation`.
type invalidation struct {
	ID, CallerReference string
	Paths               []string
}

// invalidations lists a distribution's invalidations, newest first, with
// their paths (through the SDK: polling with aws-cli would cost a second a
// call).
func invalidations(t testing.TB, s *sluiceServer, distID string) []invalidation {
	t.Helper()
	ctx := context.Background()
	c := cloudfront.New(cloudfront.Options{
		Region:       s.Region,
		Credentials:  credentials.NewStaticCredentialsProvider(s.AccessKey, s.SecretKey, ""),
		BaseEndpoint: aws.String(s.URL),
		HTTPClient:   httpClient(),
	})
	list, err := c.ListInvalidations(ctx, &cloudfront.ListInvalidationsInput{DistributionId: aws.String(distID)})
	if err != nil {
		t.Fatalf("ListInvalidations %s: %v", distID, err)
	}
	var out []invalidation
	for _, it := range list.InvalidationList.Items {
		if st := aws.ToString(it.Status); st != "Completed" {
			t.Errorf("invalidation %s: status %q, want Completed", aws.ToString(it.Id), st)
		}
		got, err := c.GetInvalidation(ctx, &cloudfront.GetInvalidationInput{DistributionId: aws.String(distID), Id: it.Id})
		if err != nil {
			t.Fatalf("GetInvalidation %s: %v", aws.ToString(it.Id), err)
		}
		b := got.Invalidation.InvalidationBatch
		out = append(out, invalidation{ID: aws.ToString(it.Id), CallerReference: aws.ToString(b.CallerReference), Paths: b.Paths.Items})
	}
	return out
}

// TestExampleImageResize is examples/image-resize/README.md.
func TestExampleImageResize(t *testing.T) {
	t.Parallel()
	const ex = "image-resize"
	s, out := startEdgeExample(t, ex)
	if out["BucketName"] != "photos" || out["DistributionId"] == "" ||
		out["DistributionDomain"] != strings.ToLower(out["DistributionId"])+".localhost" {
		t.Errorf("outputs %v", out)
	}
	// The origin access control the template declares exists.
	if oacs := awsOK(t, s, "cloudfront", "list-origin-access-controls"); !strings.Contains(oacs, `"photos-oac"`) {
		t.Errorf("list-origin-access-controls has no photos-oac:\n%s", oacs)
	}

	// The bucket policy lets this distribution, and only it, read.
	var policy struct {
		Statement []struct {
			Effect, Action, Resource string
			Principal                struct{ Service string }
			Condition                struct {
				StringEquals map[string]string
			}
		}
	}
	if err := json.Unmarshal([]byte(awsOK(t, s, "s3api", "get-bucket-policy", "--bucket", "photos", "--output", "text")), &policy); err != nil {
		t.Fatalf("get-bucket-policy: %v", err)
	}
	if st := policy.Statement; len(st) != 1 || st[0].Effect != "Allow" || st[0].Action != "s3:GetObject" ||
		st[0].Principal.Service != "cloudfront.amazonaws.com" || st[0].Resource != "arn:aws:s3:::photos/*" ||
		st[0].Condition.StringEquals["AWS:SourceArn"] != "arn:aws:cloudfront::000000000000:distribution/"+out["DistributionId"] {
		t.Errorf("bucket policy %+v, want s3:GetObject for cloudfront.amazonaws.com from distribution %s", policy, out["DistributionId"])
	}

	photo := readExample(t, ex, "photo.jpg")
	_, _, centre := decodeImage(t, photo)
	awsOK(t, s, "s3", "cp", exampleFile(ex, "photo.jpg"), "s3://photos/photo.jpg")

	resp, small := edgeGetDefault(t, s, "/photo.jpg?d=100x100")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("?d=100x100: status %d: %s", resp.StatusCode, tail(string(small), 512))
	}
	if x, ct := resp.Header.Get("X-Cache"), resp.Header.Get("Content-Type"); x != "Miss from sluice" || ct != "image/jpeg" {
		t.Errorf("first ?d=100x100: X-Cache %q Content-Type %q, want Miss from sluice, image/jpeg", x, ct)
	}
	if w, h, c := decodeImage(t, small); w != 100 || h != 100 || !near(c, centre) {
		t.Errorf("?d=100x100 gave %dx%d centre %v, want 100x100 centre near %v", w, h, c, centre)
	}

	for _, q := range []string{"?d=100x100", "?d=100x100&utm_source=newsletter"} {
		resp, body := edgeGetDefault(t, s, "/photo.jpg"+q)
		if x := resp.Header.Get("X-Cache"); x != "Hit from sluice" {
			t.Errorf("%s again: X-Cache %q, want Hit from sluice", q, x)
		}
		if !bytes.Equal(body, small) {
			t.Errorf("%s: the hit's body differs from the miss's", q)
		}
	}

	_, medium := edgeGetDefault(t, s, "/photo.jpg?d=300x")
	if w, h, _ := decodeImage(t, medium); w != 300 || h != 200 {
		t.Errorf("?d=300x gave %dx%d, want 300x200", w, h)
	}

	resp, webp := edgeGetDefault(t, s, "/photo.jpg?d=100x100&format=webp")
	if x, ct := resp.Header.Get("X-Cache"), resp.Header.Get("Content-Type"); x != "Miss from sluice" || ct != "image/webp" {
		t.Errorf("format=webp: X-Cache %q Content-Type %q, want a Miss of image/webp (format is in the cache key)", x, ct)
	}
	if w, h, err := webpSize(webp); err != nil || w != 100 || h != 100 {
		t.Errorf("format=webp: %dx%d %v, want a 100x100 WebP", w, h, err)
	}

	// format=auto: negotiated from Accept, one cache entry per format.
	auto := "/photo.jpg?d=100x100&format=auto"
	resp, avif := edgeGetDefault(t, s, auto, "Accept", "image/avif,image/webp,*/*")
	if x, ct := resp.Header.Get("X-Cache"), resp.Header.Get("Content-Type"); x != "Miss from sluice" || ct != "image/avif" {
		t.Errorf("format=auto, Accept avif: X-Cache %q Content-Type %q, want a Miss of image/avif", x, ct)
	}
	if len(avif) < 12 || string(avif[4:12]) != "ftypavif" {
		t.Errorf("format=auto, Accept avif: body starts %q, want an AVIF file", avif[:min(len(avif), 12)])
	}
	resp, body := edgeGetDefault(t, s, auto)
	if x, ct := resp.Header.Get("X-Cache"), resp.Header.Get("Content-Type"); x != "Miss from sluice" || ct != "image/jpeg" {
		t.Errorf("format=auto without Accept: X-Cache %q Content-Type %q, want a Miss of image/jpeg", x, ct)
	}
	if w, h, _ := decodeImage(t, body); w != 100 || h != 100 {
		t.Errorf("format=auto without Accept: %dx%d, want 100x100", w, h)
	}
	if resp, _ := edgeGetDefault(t, s, auto, "Accept", "image/avif,image/webp,*/*"); resp.Header.Get("X-Cache") != "Hit from sluice" || resp.Header.Get("Content-Type") != "image/avif" {
		t.Errorf("format=auto, Accept avif again: X-Cache %q Content-Type %q, want a Hit of image/avif", resp.Header.Get("X-Cache"), resp.Header.Get("Content-Type"))
	}

	// Anonymous reads of the bucket are refused: only the distribution reads it.
	resp, err := httpClient().Get(s.URL + "/photos/photo.jpg")
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(body), "<Code>AccessDenied</Code>") {
		t.Errorf("anonymous GET of s3://photos/photo.jpg: %d %s, want 403 AccessDenied", resp.StatusCode, body)
	}

	resp, body = edgeGetDefault(t, s, "/photo.jpg?d=abc")
	if resp.StatusCode != http.StatusBadRequest || !strings.HasPrefix(string(body), "InvalidArgument: invalid d \"abc\"") {
		t.Errorf("?d=abc: %d %q, want 400 InvalidArgument", resp.StatusCode, body)
	}
}

// TestExampleCrossRegionCopy is examples/cross-region-copy/README.md: two
// sluice processes, the second serving eu-west-1.
func TestExampleCrossRegionCopy(t *testing.T) {
	t.Parallel()
	const ex = "cross-region-copy"
	eu := startSluice(t, withRegion("eu-west-1"), withArgs("--region", "eu-west-1", "--api-addr", ""))
	awsOK(t, eu, "s3api", "create-bucket", "--bucket", "backup-eu",
		"--create-bucket-configuration", "LocationConstraint=eu-west-1")
	us, out := startEdgeExample(t, ex, withArgs("--region-endpoint", "eu-west-1="+eu.URL))
	if out["SourceBucket"] != "uploads" || out["LocalTarget"] != "backup" {
		t.Errorf("outputs %v", out)
	}
	if tags := awsOK(t, us, "s3api", "get-bucket-tagging", "--bucket", "uploads"); !strings.Contains(tags, `"backup backup-eu@eu-west-1"`) {
		t.Errorf("uploads' TargetBucket tag:\n%s", tags)
	}

	photo := readExample(t, "image-resize", "photo.jpg")
	sum := md5.Sum(photo)
	wantETag := `"` + hex.EncodeToString(sum[:]) + `"`
	const key = "2026/photo.jpg"
	awsOK(t, us, "s3", "cp", exampleFile("image-resize", "photo.jpg"), "s3://uploads/"+key)

	// The README's head-object of the source: the copy is done.
	var srcHead struct{ ETag, ReplicationStatus string }
	if err := poll(20*time.Second, func() error {
		srcHead.ReplicationStatus = ""
		if err := json.Unmarshal([]byte(awsOK(t, us, "s3api", "head-object", "--bucket", "uploads", "--key", key)), &srcHead); err != nil {
			return err
		}
		if srcHead.ReplicationStatus != "COMPLETED" {
			return fmt.Errorf("ReplicationStatus %q", srcHead.ReplicationStatus)
		}
		return nil
	}); err != nil {
		t.Errorf("uploads/%s: %v, want COMPLETED", key, err)
	}
	if srcHead.ETag != wantETag {
		t.Errorf("uploads/%s: ETag %s, want md5 %s", key, srcHead.ETag, wantETag)
	}

	ctx := context.Background()
	for _, target := range []struct {
		s              *sluiceServer
		bucket, status string
	}{{us, "backup", "REPLICA"}, {eu, "backup-eu", ""}} {
		c := s3Client(target.s)
		var h *s3.HeadObjectOutput
		err := poll(20*time.Second, func() error {
			var err error
			h, err = c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(target.bucket), Key: aws.String(key)})
			return err
		})
		if err != nil {
			t.Errorf("%s/%s never appeared: %v", target.bucket, key, err)
			continue
		}
		if aws.ToString(h.ETag) != wantETag || aws.ToInt64(h.ContentLength) != int64(len(photo)) || aws.ToString(h.ContentType) != "image/jpeg" {
			t.Errorf("%s/%s: ETag %s, %d bytes, %s; want %s, %d bytes, image/jpeg", target.bucket, key,
				aws.ToString(h.ETag), aws.ToInt64(h.ContentLength), aws.ToString(h.ContentType), wantETag, len(photo))
		}
		if target.status != "" && string(h.ReplicationStatus) != target.status {
			t.Errorf("%s/%s: ReplicationStatus %q, want %q", target.bucket, key, h.ReplicationStatus, target.status)
		}
		// The README compares md5sum of each copy: byte-identical.
		dst := filepath.Join(t.TempDir(), "copy.jpg")
		awsOK(t, target.s, "s3", "cp", "s3://"+target.bucket+"/"+key, dst)
		if got, err := os.ReadFile(dst); err != nil || !bytes.Equal(got, photo) {
			t.Errorf("s3://%s/%s differs from photo.jpg (err %v)", target.bucket, key, err)
		}
	}

	// Deleting the original deletes the copies.
	awsOK(t, us, "s3", "rm", "s3://uploads/"+key)
	for _, target := range []struct {
		s      *sluiceServer
		bucket string
	}{{us, "backup"}, {eu, "backup-eu"}} {
		c := s3Client(target.s)
		err := poll(20*time.Second, func() error {
			_, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(target.bucket), Key: aws.String(key)})
			if err == nil {
				return errors.New("copy still there")
			}
			if _, status := apiCode(err); status != http.StatusNotFound {
				return err
			}
			return nil
		})
		if err != nil {
			t.Errorf("%s after deleting the original: %v", target.bucket, err)
		}
	}
}

// TestExampleInvalidateOnUpdate is examples/invalidate-on-update/README.md.
func TestExampleInvalidateOnUpdate(t *testing.T) {
	t.Parallel()
	const ex = "invalidate-on-update"
	s, out := startEdgeExample(t, ex)
	cdn := edgeDist{ID: distributionIDByComment(t, s, "photos, invalidated automatically")}
	recipe := edgeDist{ID: distributionIDByComment(t, s, "recipe-photos, invalidated by an S3-triggered function")}
	if out["DistributionId"] != cdn.ID || out["RecipeDistributionId"] != recipe.ID {
		t.Errorf("outputs %v, want DistributionId %s and RecipeDistributionId %s", out, cdn.ID, recipe.ID)
	}

	_, _, dayCentre := decodeImage(t, readExample(t, ex, "photo.jpg"))
	_, _, nightCentre := decodeImage(t, readExample(t, ex, "photo-v2.jpg"))
	if near(dayCentre, nightCentre) {
		t.Fatalf("photo.jpg and photo-v2.jpg look alike (%v, %v): the test could not tell them apart", dayCentre, nightCentre)
	}
	type variant struct {
		query  string
		w1, h1 int // photo.jpg, 1200x800
		w2, h2 int // photo-v2.jpg, 800x800
	}
	variants := []variant{
		{"?d=100x100", 100, 100, 100, 100},
		{"?d=300x", 300, 200, 300, 300},
		{"", 1200, 800, 800, 800},
	}

	// warm fetches every variant twice: a miss of photo.jpg, then a hit.
	warm := func(d edgeDist) {
		t.Helper()
		for _, v := range variants {
			resp, body := edgeGet(t, s, d, "/photo.jpg"+v.query)
			if x := resp.Header.Get("X-Cache"); x != "Miss from sluice" {
				t.Errorf("%s: first GET %s: X-Cache %q, want Miss", d.ID, v.query, x)
			}
			if w, h, c := decodeImage(t, body); w != v.w1 || h != v.h1 || !near(c, dayCentre) {
				t.Errorf("%s: %q gave %dx%d centre %v, want %dx%d like photo.jpg", d.ID, v.query, w, h, c, v.w1, v.h1)
			}
			resp, _ = edgeGet(t, s, d, "/photo.jpg"+v.query)
			if x := resp.Header.Get("X-Cache"); x != "Hit from sluice" {
				t.Errorf("%s: second GET %s: X-Cache %q, want Hit", d.ID, v.query, x)
			}
		}
	}
	// fresh polls every variant until it is photo-v2.jpg; the first fresh
	// answer must be a cache miss (the entry was invalidated, not expired).
	fresh := func(d edgeDist, since time.Time) time.Duration {
		t.Helper()
		var last time.Duration
		for _, v := range variants {
			err := poll(10*time.Second, func() error {
				resp, body := edgeGet(t, s, d, "/photo.jpg"+v.query)
				w, h, c := decodeImage(t, body)
				if w != v.w2 || h != v.h2 || !near(c, nightCentre) {
					return fmt.Errorf("still %dx%d centre %v (X-Cache %s)", w, h, c, resp.Header.Get("X-Cache"))
				}
				if x := resp.Header.Get("X-Cache"); x != "Miss from sluice" {
					return fmt.Errorf("new content with X-Cache %q, want Miss", x)
				}
				return nil
			})
			if err != nil {
				t.Errorf("%s: %q after the overwrite: %v", d.ID, v.query, err)
			}
			last = time.Since(since)
		}
		return last
	}

	// 1. Automatic invalidation.
	awsOK(t, s, "s3", "cp", exampleFile(ex, "photo.jpg"), "s3://photos/photo.jpg")
	// The upload itself is invalidated too (a cached 404 must not outlive a
	// new object): wait for it so that it cannot be confused with the
	// overwrite's.
	if err := poll(10*time.Second, func() error {
		if n := len(invalidations(t, s, cdn.ID)); n != 1 {
			return fmt.Errorf("%d invalidations after the first upload", n)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	warm(cdn)
	awsOK(t, s, "s3", "cp", exampleFile(ex, "photo-v2.jpg"), "s3://photos/photo.jpg")
	t.Logf("automatic: every variant fresh %v after the overwrite was acknowledged", fresh(cdn, time.Now()).Round(time.Millisecond))
	var invs []invalidation
	if err := poll(10*time.Second, func() error {
		if invs = invalidations(t, s, cdn.ID); len(invs) != 2 {
			return fmt.Errorf("%d invalidations, want 2 (upload, overwrite)", len(invs))
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if newest := invs[0]; !slices.Equal(newest.Paths, []string{"/photo.jpg"}) || !strings.HasPrefix(newest.CallerReference, "sluice-auto-") {
		t.Errorf("the overwrite's invalidation: %+v, want paths [/photo.jpg] (every variant) by sluice-auto-", newest)
	}

	// A burst of uploads becomes few invalidations, never one per upload.
	burst := t.TempDir()
	var keys []string
	v2 := readExample(t, ex, "photo-v2.jpg")
	for i := 1; i <= 20; i++ {
		name := fmt.Sprintf("p%02d.jpg", i)
		if err := os.WriteFile(filepath.Join(burst, name), v2, 0o644); err != nil {
			t.Fatal(err)
		}
		keys = append(keys, "/gallery/"+name)
	}
	awsOK(t, s, "s3", "cp", burst, "s3://photos/gallery/", "--recursive", "--quiet")
	var burstInvs []invalidation
	if err := poll(10*time.Second, func() error {
		burstInvs = nil
		var paths []string
		for _, inv := range invalidations(t, s, cdn.ID) {
			if inv.ID == invs[0].ID || inv.ID == invs[1].ID {
				continue
			}
			burstInvs = append(burstInvs, inv)
			paths = append(paths, inv.Paths...)
		}
		sort.Strings(paths)
		if !slices.Equal(paths, keys) {
			return fmt.Errorf("burst invalidations cover %v", paths)
		}
		return nil
	}); err != nil {
		t.Fatalf("20 uploads: %v", err)
	}
	t.Logf("20 uploads with aws s3 cp --recursive became %d invalidation(s)", len(burstInvs))
	if len(burstInvs) >= len(keys) {
		t.Errorf("20 uploads became %d invalidations: not coalesced", len(burstInvs))
	}

	// A delete invalidates too.
	awsOK(t, s, "s3", "rm", "s3://photos/photo.jpg")
	if err := poll(10*time.Second, func() error {
		if resp, _ := edgeGet(t, s, cdn, "/photo.jpg?d=100x100"); resp.StatusCode != http.StatusNotFound {
			return fmt.Errorf("status %d (X-Cache %s)", resp.StatusCode, resp.Header.Get("X-Cache"))
		}
		return nil
	}); err != nil {
		t.Errorf("?d=100x100 after deleting photo.jpg: %v, want 404", err)
	}

	// The invalidation API, by prefix.
	var created struct{ Invalidation struct{ Status string } }
	if err := json.Unmarshal([]byte(awsOK(t, s, "cloudfront", "create-invalidation", "--distribution-id", cdn.ID, "--paths", "/gallery/*")), &created); err != nil {
		t.Fatal(err)
	}
	if created.Invalidation.Status != "Completed" {
		t.Errorf("create-invalidation /gallery/*: status %q, want Completed", created.Invalidation.Status)
	}
	if resp, _ := edgeGet(t, s, cdn, "/gallery/p01.jpg"); resp.Header.Get("X-Cache") != "Miss from sluice" {
		t.Errorf("/gallery/p01.jpg after invalidating /gallery/*: X-Cache %q, want Miss", resp.Header.Get("X-Cache"))
	}

	// 2. The Lambda recipe: auto-invalidation off, sluice-cdn-invalidate
	// triggered by the bucket's notifications.
	notif := awsOK(t, s, "s3api", "get-bucket-notification-configuration", "--bucket", "recipe-photos",
		"--query", "LambdaFunctionConfigurations[].[Events[0],LambdaFunctionArn]", "--output", "text")
	wantNotif := "s3:ObjectCreated:*\tarn:aws:lambda:us-east-1:000000000000:function:sluice-cdn-invalidate\n" +
		"s3:ObjectRemoved:*\tarn:aws:lambda:us-east-1:000000000000:function:sluice-cdn-invalidate\n"
	if notif != wantNotif {
		t.Errorf("recipe-photos notifications:\n%s\nwant:\n%s", notif, wantNotif)
	}
	if tags := awsOK(t, s, "cloudfront", "list-tags-for-resource", "--resource", "arn:aws:cloudfront::000000000000:distribution/"+recipe.ID); !strings.Contains(tags, "sluice:auto-invalidate") {
		t.Errorf("RecipeCdn tags:\n%s", tags)
	}
	awsOK(t, s, "lambda", "update-function-configuration", "--function-name", "sluice-cdn-invalidate",
		"--environment", "Variables={DistributionId="+recipe.ID+"}")
	awsOK(t, s, "s3", "cp", exampleFile(ex, "photo.jpg"), "s3://recipe-photos/photo.jpg")
	if err := poll(10*time.Second, func() error {
		if n := len(invalidations(t, s, recipe.ID)); n != 1 {
			return fmt.Errorf("%d invalidations after the first upload", n)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	warm(recipe)
	awsOK(t, s, "s3", "cp", exampleFile(ex, "photo-v2.jpg"), "s3://recipe-photos/photo.jpg")
	t.Logf("recipe: every variant fresh %v after the overwrite was acknowledged", fresh(recipe, time.Now()).Round(time.Millisecond))
	if err := poll(10*time.Second, func() error {
		if invs = invalidations(t, s, recipe.ID); len(invs) != 2 {
			return fmt.Errorf("%d invalidations, want 2 (upload, overwrite)", len(invs))
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for _, inv := range invs {
		// Only the function invalidates this distribution: the tag turned
		// the automatic invalidation off.
		if !slices.Equal(inv.Paths, []string{"/photo.jpg"}) || !strings.HasPrefix(inv.CallerReference, "sluice-fn-") {
			t.Errorf("recipe invalidation %+v, want paths [/photo.jpg] by sluice-fn-", inv)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	logs := runCmd(t, ctx, clientEnv(t, s), t.TempDir(), sluiceBin, "logs", "sluice-cdn-invalidate", "--endpoint", s.URL)
	if n := strings.Count(logs.Stdout, "REPORT RequestId"); logs.Code != 0 || n != 2 {
		t.Errorf("sluice logs sluice-cdn-invalidate: %d REPORT lines, want one per upload (2):\n%s", n, logs)
	}
}
