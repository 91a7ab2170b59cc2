//go:build integration

package integration

// End-to-end tests of the edge (issue 5): distributions created with
// aws-cli, served on the edge listener, with the built-in image resizer at
// origin-response, user hooks in Node and Python at all four points,
// compression, conditional and range requests, and invalidation — both the
// CloudFront API and the automatic one that follows overwrites.

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// edgeDist is a distribution as the tests use it.
type edgeDist struct {
	ID, ETag, Domain string
}

// distributionConfig returns a DistributionConfig (aws-cli JSON shape) with
// one S3 origin for bucket and a default behaviour whitelisting queryKeys.
func distributionConfig(bucket string, queryKeys []string, assoc map[string]string, compress bool) map[string]any {
	items := []map[string]any{}
	for _, ev := range []string{"viewer-request", "origin-request", "origin-response", "viewer-response"} {
		if arn, ok := assoc[ev]; ok {
			items = append(items, map[string]any{"LambdaFunctionARN": arn, "EventType": ev, "IncludeBody": false})
		}
	}
	qs := map[string]any{"Quantity": len(queryKeys)}
	if len(queryKeys) > 0 {
		qs["Items"] = queryKeys
	}
	behaviour := map[string]any{
		"TargetOriginId":       "photos",
		"ViewerProtocolPolicy": "allow-all",
		"ForwardedValues": map[string]any{
			"QueryString":          len(queryKeys) > 0,
			"Cookies":              map[string]any{"Forward": "none"},
			"QueryStringCacheKeys": qs,
		},
		"MinTTL":     0,
		"DefaultTTL": 86400,
		"MaxTTL":     31536000,
		"Compress":   compress,
		"LambdaFunctionAssociations": map[string]any{
			"Quantity": len(items),
		},
	}
	if len(items) > 0 {
		behaviour["LambdaFunctionAssociations"].(map[string]any)["Items"] = items
	}
	return map[string]any{
		"CallerReference": "it-" + randSuffix(12),
		"Comment":         "integration " + bucket,
		"Enabled":         true,
		"Origins": map[string]any{
			"Quantity": 1,
			"Items": []map[string]any{{
				"Id":             "photos",
				"DomainName":     bucket + ".s3.us-east-1.amazonaws.com",
				"S3OriginConfig": map[string]any{"OriginAccessIdentity": ""},
			}},
		},
		"DefaultCacheBehavior": behaviour,
	}
}

// createDistribution runs `aws cloudfront create-distribution` with cfg.
func createDistribution(t testing.TB, s *sluiceServer, cfg map[string]any) edgeDist {
	t.Helper()
	path := filepath.Join(t.TempDir(), "dist.json")
	b, _ := json.Marshal(cfg)
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	var out struct {
		ETag         string
		Distribution struct {
			Id, DomainName, Status string
		}
	}
	if err := json.Unmarshal([]byte(awsOK(t, s, "cloudfront", "create-distribution", "--distribution-config", "file://"+path)), &out); err != nil {
		t.Fatalf("create-distribution output: %v", err)
	}
	if out.Distribution.Id == "" || out.ETag == "" {
		t.Fatalf("create-distribution returned %+v", out)
	}
	return edgeDist{ID: out.Distribution.Id, ETag: out.ETag, Domain: out.Distribution.DomainName}
}

// edgeGet sends a GET for path to the distribution's host on the edge.
func edgeGet(t testing.TB, s *sluiceServer, d edgeDist, path string, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, "http://"+s.EdgeAddr+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = strings.ToLower(d.ID) + ".localhost"
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

// solidJPEG encodes a w×h JPEG of one colour.
func solidJPEG(t testing.TB, w, h int, c color.RGBA) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.SetRGBA(x, y, c)
		}
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 90}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// decodeImage decodes a JPEG or PNG body and returns its size and the
// colour of its centre pixel.
func decodeImage(t testing.TB, body []byte) (w, h int, centre color.RGBA) {
	t.Helper()
	img, _, err := image.Decode(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("decode image (%d bytes, starts %q): %v", len(body), body[:min(len(body), 16)], err)
	}
	b := img.Bounds()
	r, g, bl, a := img.At(b.Min.X+b.Dx()/2, b.Min.Y+b.Dy()/2).RGBA()
	return b.Dx(), b.Dy(), color.RGBA{uint8(r >> 8), uint8(g >> 8), uint8(bl >> 8), uint8(a >> 8)}
}

// near reports whether two colours are alike within JPEG's loss.
func near(a, b color.RGBA) bool {
	d := func(x, y uint8) int {
		if x > y {
			return int(x - y)
		}
		return int(y - x)
	}
	return d(a.R, b.R) < 40 && d(a.G, b.G) < 40 && d(a.B, b.B) < 40
}

func putFile(t testing.TB, s *sluiceServer, bucket, key string, body []byte, extra ...string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "body")
	if err := os.WriteFile(path, body, 0o644); err != nil {
		t.Fatal(err)
	}
	awsOK(t, s, append([]string{"s3api", "put-object", "--bucket", bucket, "--key", key, "--body", path}, extra...)...)
}

var (
	red  = color.RGBA{220, 20, 20, 255}
	blue = color.RGBA{20, 20, 220, 255}
)

// TestEdgeImageResize is scenario 1 and 3 of the mission: a private bucket
// behind a distribution with the resize recipe at origin-response, cache
// hits, automatic invalidation of every variant on overwrite, and the
// CloudFront invalidation API.
func TestEdgeImageResize(t *testing.T) {
	s := startSluice(t)
	bucket := bucketName("photos")
	awsOK(t, s, "s3api", "create-bucket", "--bucket", bucket)
	putFile(t, s, bucket, "photo.jpg", solidJPEG(t, 800, 600, red), "--content-type", "image/jpeg")

	// The bucket is private: an anonymous read is refused.
	resp, err := httpClient().Get(s.URL + "/" + bucket + "/photo.jpg")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("anonymous GET of the origin: status %d, want 403", resp.StatusCode)
	}

	d := createDistribution(t, s, distributionConfig(bucket, []string{"d"},
		map[string]string{"origin-response": "arn:aws:lambda:us-east-1:000000000000:function:sluice-image-resize:1"}, false))

	resp, body := edgeGet(t, s, d, "/photo.jpg?d=100x100")
	if resp.StatusCode != 200 {
		t.Fatalf("GET ?d=100x100: status %d: %s", resp.StatusCode, tail(string(body), 512))
	}
	if got := resp.Header.Get("X-Cache"); got != "Miss from sluice" {
		t.Errorf("first GET: X-Cache %q, want Miss from sluice", got)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "image/jpeg" {
		t.Errorf("Content-Type %q, want image/jpeg", ct)
	}
	if w, h, c := decodeImage(t, body); w != 100 || h != 100 || !near(c, red) {
		t.Errorf("?d=100x100 gave %dx%d centre %v, want 100x100 red", w, h, c)
	}
	resp, body2 := edgeGet(t, s, d, "/photo.jpg?d=100x100&utm=ignored")
	if got := resp.Header.Get("X-Cache"); got != "Hit from sluice" {
		t.Errorf("second GET (extra non-whitelisted parameter): X-Cache %q, want Hit from sluice", got)
	}
	if !bytes.Equal(body, body2) {
		t.Errorf("hit body differs from the miss body")
	}
	if resp.Header.Get("Age") == "" {
		t.Errorf("hit without an Age header")
	}

	// One side given keeps the aspect ratio; no d is the original.
	_, body = edgeGet(t, s, d, "/photo.jpg?d=200x")
	if w, h, _ := decodeImage(t, body); w != 200 || h != 150 {
		t.Errorf("?d=200x gave %dx%d, want 200x150", w, h)
	}
	_, body = edgeGet(t, s, d, "/photo.jpg")
	if w, h, _ := decodeImage(t, body); w != 800 || h != 600 {
		t.Errorf("no d gave %dx%d, want the original 800x600", w, h)
	}

	// Concurrent misses of one new variant all get the same image.
	var wg sync.WaitGroup
	bodies := make([][]byte, 16)
	for i := range bodies {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, bodies[i] = edgeGet(t, s, d, "/photo.jpg?d=64x64")
		}()
	}
	wg.Wait()
	for i := range bodies {
		if !bytes.Equal(bodies[i], bodies[0]) {
			t.Fatalf("concurrent misses got different bodies")
		}
	}
	if w, h, _ := decodeImage(t, bodies[0]); w != 64 || h != 64 {
		t.Errorf("?d=64x64 gave %dx%d", w, h)
	}

	// A broken parameter is a clear 400, never a 5xx.
	resp, body = edgeGet(t, s, d, "/photo.jpg?d=abc")
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("?d=abc: status %d, want 400: %s", resp.StatusCode, tail(string(body), 256))
	}

	// Overwrite: every cached variant is fresh again within a second.
	putFile(t, s, bucket, "photo.jpg", solidJPEG(t, 400, 400, blue), "--content-type", "image/jpeg")
	start := time.Now()
	for _, v := range []struct {
		query string
		w, h  int
	}{{"?d=100x100", 100, 100}, {"?d=200x", 200, 200}, {"", 400, 400}, {"?d=64x64", 64, 64}} {
		err := poll(10*time.Second, func() error {
			_, body := edgeGet(t, s, d, "/photo.jpg"+v.query)
			w, h, c := decodeImage(t, body)
			if w != v.w || h != v.h || !near(c, blue) {
				return fmt.Errorf("%dx%d centre %v", w, h, c)
			}
			return nil
		})
		if err != nil {
			t.Errorf("variant %q after the overwrite: %v, want %dx%d blue", v.query, err, v.w, v.h)
		}
	}
	t.Logf("every variant fresh %v after the overwrite", time.Since(start).Round(time.Millisecond))

	// The automatic invalidation is visible in the invalidation list.
	var list struct {
		InvalidationList struct {
			Items []struct{ Id, Status string }
		}
	}
	if err := json.Unmarshal([]byte(awsOK(t, s, "cloudfront", "list-invalidations", "--distribution-id", d.ID)), &list); err != nil {
		t.Fatal(err)
	}
	// aws-cli paginates this call and drops Quantity from what it prints.
	if len(list.InvalidationList.Items) < 1 {
		t.Errorf("no invalidation listed after an overwrite: %+v", list)
	}

	// The CloudFront invalidation API: idempotent by CallerReference.
	batch := `{"Paths":{"Quantity":1,"Items":["/photo*"]},"CallerReference":"ref-` + randSuffix(8) + `"}`
	var inv struct {
		Location     string
		Invalidation struct{ Id, Status string }
	}
	if err := json.Unmarshal([]byte(awsOK(t, s, "cloudfront", "create-invalidation", "--distribution-id", d.ID, "--invalidation-batch", batch)), &inv); err != nil {
		t.Fatal(err)
	}
	if inv.Invalidation.Id == "" {
		t.Fatalf("create-invalidation returned %+v", inv)
	}
	var again struct{ Invalidation struct{ Id string } }
	if err := json.Unmarshal([]byte(awsOK(t, s, "cloudfront", "create-invalidation", "--distribution-id", d.ID, "--invalidation-batch", batch)), &again); err != nil {
		t.Fatal(err)
	}
	if again.Invalidation.Id != inv.Invalidation.Id {
		t.Errorf("same CallerReference made a second invalidation %s (first %s)", again.Invalidation.Id, inv.Invalidation.Id)
	}
	var got struct{ Invalidation struct{ Status string } }
	if err := json.Unmarshal([]byte(awsOK(t, s, "cloudfront", "get-invalidation", "--distribution-id", d.ID, "--id", inv.Invalidation.Id)), &got); err != nil {
		t.Fatal(err)
	}
	if got.Invalidation.Status != "Completed" {
		t.Errorf("get-invalidation status %q, want Completed", got.Invalidation.Status)
	}
	resp, _ = edgeGet(t, s, d, "/photo.jpg?d=100x100")
	if x := resp.Header.Get("X-Cache"); x != "Miss from sluice" {
		t.Errorf("after invalidating /photo*: X-Cache %q, want Miss", x)
	}
	// The paths invalidated this month are visible, per distribution.
	usage := sluiceCmd(t, s, nil, "cdn-usage")
	if usage.Code != 0 || !strings.Contains(usage.Stdout, d.ID) {
		t.Errorf("sluice cdn-usage does not list %s: %s", d.ID, usage)
	}
	// A path without a leading '/' is refused as CloudFront refuses it.
	r := awsCLI(t, s, "cloudfront", "create-invalidation", "--distribution-id", d.ID, "--paths", "no-slash")
	if r.Code == 0 || !strings.Contains(r.Stderr, "InvalidArgument") {
		t.Errorf("invalidation of a path without '/': %s", r)
	}
}

// TestEdgeHTTPSemantics covers compression, conditional and range requests
// and HEAD on cached objects.
func TestEdgeHTTPSemantics(t *testing.T) {
	s := startSluice(t)
	bucket := bucketName("site")
	awsOK(t, s, "s3api", "create-bucket", "--bucket", bucket)
	text := []byte(strings.Repeat("Sluice edge compresses text once per cached object. ", 200))
	putFile(t, s, bucket, "page.html", text, "--content-type", "text/html")
	var pngBuf bytes.Buffer
	_ = png.Encode(&pngBuf, image.NewGray(image.Rect(0, 0, 64, 64)))
	putFile(t, s, bucket, "tiny.png", pngBuf.Bytes(), "--content-type", "image/png")
	d := createDistribution(t, s, distributionConfig(bucket, nil, nil, true))

	resp, body := edgeGet(t, s, d, "/page.html", "Accept-Encoding", "gzip")
	if resp.Header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("Accept-Encoding gzip: Content-Encoding %q", resp.Header.Get("Content-Encoding"))
	}
	zr, err := gzip.NewReader(bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	plain, err := io.ReadAll(zr)
	if err != nil || !bytes.Equal(plain, text) {
		t.Errorf("gunzipped body differs from the object (err %v)", err)
	}
	resp, body = edgeGet(t, s, d, "/page.html")
	if resp.Header.Get("Content-Encoding") != "" || !bytes.Equal(body, text) {
		t.Errorf("without Accept-Encoding: encoding %q, %d bytes", resp.Header.Get("Content-Encoding"), len(body))
	}
	etag := resp.Header.Get("ETag")
	if etag == "" {
		t.Fatal("no ETag")
	}
	resp, _ = edgeGet(t, s, d, "/page.html", "If-None-Match", etag)
	if resp.StatusCode != http.StatusNotModified {
		t.Errorf("If-None-Match: status %d, want 304", resp.StatusCode)
	}
	resp, body = edgeGet(t, s, d, "/page.html", "Range", "bytes=7-11")
	if resp.StatusCode != http.StatusPartialContent || string(body) != string(text[7:12]) {
		t.Errorf("Range bytes=7-11: status %d body %q", resp.StatusCode, body)
	}
	resp, _ = edgeGet(t, s, d, "/tiny.png", "Accept-Encoding", "gzip")
	if resp.Header.Get("Content-Encoding") != "" {
		t.Errorf("a PNG was compressed (Content-Encoding %q)", resp.Header.Get("Content-Encoding"))
	}
	resp, _ = edgeGet(t, s, d, "/missing.html")
	if resp.StatusCode != http.StatusNotFound && resp.StatusCode != http.StatusForbidden {
		t.Errorf("missing object: status %d, want 404 or 403", resp.StatusCode)
	}
}

// Hook handlers: each marks the request or response so the test sees which
// points ran, in which order.
const nodeViewerRequest = `exports.handler = async (event) => {
  const req = event.Records[0].cf.request;
  if (req.uri === '/blocked') {
    return { status: '403', statusDescription: 'Forbidden', headers: { 'content-type': [{ key: 'Content-Type', value: 'text/plain' }] }, body: 'blocked by node' };
  }
  if (req.uri === '/bad-header') {
    return { status: '200', headers: { 'transfer-encoding': [{ key: 'Transfer-Encoding', value: 'chunked' }] }, body: 'x' };
  }
  if (req.uri === '/old.html') req.uri = '/page.html';
  req.headers['x-viewer-request'] = [{ key: 'X-Viewer-Request', value: 'node' }];
  return req;
};
`

const nodeOriginRequest = `exports.handler = async (event) => {
  const cf = event.Records[0].cf;
  if (!cf.request.origin || !cf.request.origin.s3) throw new Error('origin-request without an s3 origin');
  cf.request.headers['x-origin-request'] = [{ key: 'X-Origin-Request', value: cf.config.eventType }];
  return cf.request;
};
`

const pyOriginResponse = `def handler(event, context):
    cf = event["Records"][0]["cf"]
    resp = cf["response"]
    resp["headers"]["x-origin-response"] = [{"key": "X-Origin-Response", "value": "python " + cf["config"]["eventType"]}]
    return resp
`

const pyViewerResponse = `def handler(event, context):
    cf = event["Records"][0]["cf"]
    resp = cf["response"]
    resp["headers"]["x-viewer-response"] = [{"key": "X-Viewer-Response", "value": "python"}]
    return resp
`

// publishHook creates a function from one source file and publishes
// version 1; it returns the version's ARN.
func publishHook(t testing.TB, s *sluiceServer, runtime, file, handler, src string) string {
	t.Helper()
	name := fnName("hook")
	createFunction(t, s, name, runtime, handler, zipSource(t, file, src))
	var v struct{ FunctionArn, Version string }
	if err := json.Unmarshal([]byte(awsOK(t, s, "lambda", "publish-version", "--function-name", name)), &v); err != nil {
		t.Fatal(err)
	}
	if v.Version != "1" {
		t.Fatalf("publish-version gave version %q", v.Version)
	}
	return v.FunctionArn
}

// TestEdgeHooks attaches Node and Python functions at the four hook points.
func TestEdgeHooks(t *testing.T) {
	s := startSluice(t)
	bucket := bucketName("hooks")
	awsOK(t, s, "s3api", "create-bucket", "--bucket", bucket)
	putFile(t, s, bucket, "page.html", []byte("<p>hello</p>"), "--content-type", "text/html")

	assoc := map[string]string{
		"viewer-request":  publishHook(t, s, "nodejs20.x", "index.js", "index.handler", nodeViewerRequest),
		"origin-request":  publishHook(t, s, "nodejs20.x", "index.js", "index.handler", nodeOriginRequest),
		"origin-response": publishHook(t, s, "python3.11", "app.py", "app.handler", pyOriginResponse),
		"viewer-response": publishHook(t, s, "python3.11", "app.py", "app.handler", pyViewerResponse),
	}
	d := createDistribution(t, s, distributionConfig(bucket, nil, assoc, false))

	resp, body := edgeGet(t, s, d, "/old.html")
	if resp.StatusCode != 200 || string(body) != "<p>hello</p>" {
		t.Fatalf("GET /old.html (rewritten to /page.html by viewer-request): status %d body %q", resp.StatusCode, body)
	}
	if got := resp.Header.Get("X-Origin-Response"); got != "python origin-response" {
		t.Errorf("X-Origin-Response %q", got)
	}
	if got := resp.Header.Get("X-Viewer-Response"); got != "python" {
		t.Errorf("X-Viewer-Response %q", got)
	}
	// On a hit, the origin-facing hooks do not run again but the
	// origin-response result was cached with the object.
	resp, _ = edgeGet(t, s, d, "/old.html")
	if resp.Header.Get("X-Cache") != "Hit from sluice" || resp.Header.Get("X-Origin-Response") == "" || resp.Header.Get("X-Viewer-Response") != "python" {
		t.Errorf("hit: X-Cache %q, X-Origin-Response %q, X-Viewer-Response %q",
			resp.Header.Get("X-Cache"), resp.Header.Get("X-Origin-Response"), resp.Header.Get("X-Viewer-Response"))
	}

	resp, body = edgeGet(t, s, d, "/blocked")
	if resp.StatusCode != 403 || string(body) != "blocked by node" {
		t.Errorf("generated response: status %d body %q", resp.StatusCode, body)
	}
	resp, _ = edgeGet(t, s, d, "/bad-header")
	if resp.StatusCode != http.StatusBadGateway {
		t.Errorf("a forbidden header from viewer-request: status %d, want 502", resp.StatusCode)
	}
}

// TestEdgeKillRestart: the disk tier of the cache survives kill -9, and an
// overwrite acknowledged just before a kill -9 still invalidates every
// cached variant once sluice is back (the event waits in the outbox).
func TestEdgeKillRestart(t *testing.T) {
	s := startSluice(t)
	bucket := bucketName("killcdn")
	awsOK(t, s, "s3api", "create-bucket", "--bucket", bucket)
	putFile(t, s, bucket, "photo.jpg", solidJPEG(t, 400, 300, red), "--content-type", "image/jpeg")
	d := createDistribution(t, s, distributionConfig(bucket, []string{"d"},
		map[string]string{"origin-response": "arn:aws:lambda:us-east-1:000000000000:function:sluice-image-resize:1"}, false))
	for _, q := range []string{"?d=100x100", "?d=50x"} {
		edgeGet(t, s, d, "/photo.jpg"+q)
		if resp, _ := edgeGet(t, s, d, "/photo.jpg"+q); resp.Header.Get("X-Cache") != "Hit from sluice" {
			t.Fatalf("%s not cached before the kill: X-Cache %q", q, resp.Header.Get("X-Cache"))
		}
	}

	s.kill(t)
	s.restart(t)
	resp, body := edgeGet(t, s, d, "/photo.jpg?d=100x100")
	if resp.Header.Get("X-Cache") != "Hit from sluice" {
		t.Errorf("after kill -9 and restart: X-Cache %q, want a hit from the disk tier", resp.Header.Get("X-Cache"))
	}
	if w, h, c := decodeImage(t, body); w != 100 || h != 100 || !near(c, red) {
		t.Errorf("after restart: %dx%d %v, want the cached 100x100 red", w, h, c)
	}

	// Acknowledged, then killed at once: the invalidation must still come.
	putFile(t, s, bucket, "photo.jpg", solidJPEG(t, 400, 300, blue), "--content-type", "image/jpeg")
	s.kill(t)
	s.restart(t)
	for _, v := range []struct {
		q    string
		w, h int
	}{{"?d=100x100", 100, 100}, {"?d=50x", 50, 38}} {
		err := poll(10*time.Second, func() error {
			_, body := edgeGet(t, s, d, "/photo.jpg"+v.q)
			if w, h, c := decodeImage(t, body); !near(c, blue) || w != v.w || (h != v.h && h != v.h-1) {
				return fmt.Errorf("%dx%d %v", w, h, c)
			}
			return nil
		})
		if err != nil {
			t.Errorf("%s after an overwrite acknowledged just before kill -9: %v, want blue", v.q, err)
		}
	}
}
