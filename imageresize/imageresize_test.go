package imageresize_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"hash/crc32"
	"image"
	"image/color/palette"
	"image/gif"
	"image/jpeg"
	"image/png"
	"math/rand/v2"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/awsevent"
	"github.com/sluicehq/sluice/fsstore"
	"github.com/sluicehq/sluice/imageopts"
	"github.com/sluicehq/sluice/imageresize"
	"github.com/sluicehq/sluice/vips"
)

// gradient is a smooth test picture: it compresses like a photo.
func gradient(w, h int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		row := img.Pix[y*img.Stride:]
		for x := range w {
			copy(row[4*x:], []byte{uint8(x * 255 / w), uint8(y * 255 / h), uint8((x + y) % 256), 255})
		}
	}
	return img
}

// noise does not compress at all.
func noise(w, h int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i+8 <= len(img.Pix); i += 8 {
		binary.LittleEndian.PutUint64(img.Pix[i:], r.Uint64())
	}
	for i := 3; i < len(img.Pix); i += 4 {
		img.Pix[i] = 255
	}
	return img
}

func encodeJPEG(t testing.TB, img image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 90}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func encodePNG(t testing.TB, img image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// pngBomb is a valid PNG whose header claims width × height pixels while
// its data is one tiny row: decoding it would need gigabytes.
func pngBomb(t testing.TB, width, height uint32) []byte {
	t.Helper()
	b := encodePNG(t, gradient(1, 1))
	// IHDR data starts after the 8-byte signature, 4-byte length and "IHDR".
	binary.BigEndian.PutUint32(b[16:], width)
	binary.BigEndian.PutUint32(b[20:], height)
	binary.BigEndian.PutUint32(b[29:], crc32.ChecksumIEEE(b[12:29]))
	return b
}

var (
	procOnce sync.Once
	proc     *vips.Processor
	procErr  error
)

// processor is shared by the tests: libvips is initialised once per process.
func processor(t testing.TB) *vips.Processor {
	t.Helper()
	procOnce.Do(func() {
		cfg := vips.DefaultConfig()
		cfg.MaxPixels = 4_000_000
		proc, procErr = vips.New(cfg, nil)
	})
	if procErr != nil {
		t.Fatalf("vips.New: %v", procErr)
	}
	return proc
}

func newResizer(t testing.TB, cfg imageresize.Config, store sluice.Store) *imageresize.Resizer {
	t.Helper()
	r, err := imageresize.New(cfg, store, processor(t), nil)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return r
}

const originETag = `"0123456789abcdef0123456789abcdef"`

// originEvent is an origin-response event for uri?query with the origin's
// 200 response for an image of contentType.
func originEvent(uri, query, contentType string) *awsevent.CloudFrontCF {
	h := awsevent.CloudFrontHeaders{}
	h.Set("Content-Type", contentType)
	h.Set("Content-Length", "12345")
	h.Set("ETag", originETag)
	h.Set("Content-MD5", "ASNFZ4mrze8BI0VniavN7w==")
	h.Set("x-amz-checksum-crc32", "AAAAAA==")
	h.Set("Cache-Control", "public, max-age=86400")
	h.Set("Last-Modified", "Tue, 01 Jul 2025 10:00:00 GMT")
	h.Set("x-amz-meta-author", "ada")
	req := awsevent.CloudFrontRequest{
		ClientIP:    "127.0.0.1",
		Headers:     awsevent.CloudFrontHeaders{},
		Method:      "GET",
		QueryString: query,
		URI:         uri,
		Origin: &awsevent.CloudFrontOrigin{S3: &awsevent.CloudFrontS3Origin{
			AuthMethod: "none", DomainName: "photos.s3.us-east-1.amazonaws.com", Path: "/images", Region: "us-east-1",
		}},
	}
	req.Headers.Set("Host", "e123.localhost")
	resp := awsevent.CloudFrontResponse{Headers: h, Status: "200", StatusDescription: "OK"}
	return &awsevent.CloudFrontCF{
		Config:   awsevent.CloudFrontConfig{DistributionID: "E123", EventType: awsevent.EdgeOriginResponse, RequestID: "r1"},
		Request:  &req,
		Response: &resp,
	}
}

func TestOriginResponseTransforms(t *testing.T) {
	photo := encodeJPEG(t, gradient(640, 480))
	tests := []struct {
		name       string
		uri, query string
		accept     string
		wantW      int
		wantH      int
		wantWMax   int // when > 0, width may be wantW..wantWMax (rounding)
		wantFormat string
		wantType   string
		wantVary   string
	}{
		{name: "recipe", uri: "/photo.jpg", query: "d=100x100", wantW: 100, wantH: 100, wantFormat: "jpeg", wantType: "image/jpeg"},
		{name: "width keeps aspect", uri: "/photo.jpg", query: "d=100x", wantW: 100, wantH: 75, wantFormat: "jpeg", wantType: "image/jpeg"},
		{name: "height keeps aspect", uri: "/photo.jpg", query: "d=x60", wantW: 80, wantH: 60, wantFormat: "jpeg", wantType: "image/jpeg"},
		{name: "w only", uri: "/photo.jpg", query: "w=320", wantW: 320, wantH: 240, wantFormat: "jpeg", wantType: "image/jpeg"},
		{name: "inside", uri: "/photo.jpg", query: "w=200&h=200&fit=inside", wantW: 200, wantH: 150, wantFormat: "jpeg", wantType: "image/jpeg"},
		{name: "contain pads", uri: "/photo.jpg", query: "w=200&h=200&fit=contain", wantW: 200, wantH: 200, wantFormat: "jpeg", wantType: "image/jpeg"},
		{name: "outside", uri: "/photo.jpg", query: "w=200&h=200&fit=outside", wantW: 266, wantWMax: 267, wantH: 200, wantFormat: "jpeg", wantType: "image/jpeg"},
		{name: "fill stretches", uri: "/photo.jpg", query: "w=200&h=100&fit=fill", wantW: 200, wantH: 100, wantFormat: "jpeg", wantType: "image/jpeg"},
		{name: "webp", uri: "/photo.jpg", query: "d=100x100&format=webp", wantW: 100, wantH: 100, wantFormat: "webp", wantType: "image/webp"},
		{name: "png", uri: "/photo.jpg", query: "d=64x48&format=png", wantW: 64, wantH: 48, wantFormat: "png", wantType: "image/png"},
		{name: "format only converts at full size", uri: "/photo.jpg", query: "format=png", wantW: 640, wantH: 480, wantFormat: "png", wantType: "image/png"},
		{name: "extension decides", uri: "/photo.png", query: "d=10x10", wantW: 10, wantH: 10, wantFormat: "png", wantType: "image/png"},
		{name: "auto negotiated here", uri: "/photo.jpg", query: "d=100x100&format=auto", accept: "image/webp,*/*",
			wantW: 100, wantH: 100, wantFormat: "webp", wantType: "image/webp", wantVary: "Accept"},
		{name: "auto without a better format", uri: "/photo.jpg", query: "d=100x100&format=auto", accept: "*/*",
			wantW: 100, wantH: 100, wantFormat: "jpeg", wantType: "image/jpeg", wantVary: "Accept"},
	}
	if processor(t).CanEncode("avif") {
		tests = append(tests, struct {
			name       string
			uri, query string
			accept     string
			wantW      int
			wantH      int
			wantWMax   int
			wantFormat string
			wantType   string
			wantVary   string
		}{name: "avif", uri: "/photo.jpg", query: "d=120x90&format=avif", wantW: 120, wantH: 90, wantFormat: "avif", wantType: "image/avif"})
	} else {
		t.Log("this libvips cannot encode AVIF; the avif case is skipped")
	}
	r := newResizer(t, imageresize.DefaultConfig(), nil)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cf := originEvent(tc.uri, tc.query, "image/jpeg")
			if tc.accept != "" {
				cf.Request.Headers.Set("Accept", tc.accept)
			}
			before, _ := json.Marshal(cf)
			got, body, err := r.OriginResponse(context.Background(), cf, photo)
			if err != nil {
				t.Fatalf("OriginResponse: %v", err)
			}
			if after, _ := json.Marshal(cf); !bytes.Equal(before, after) {
				t.Errorf("OriginResponse modified its input event")
			}
			if got == cf || body == nil {
				t.Fatalf("OriginResponse left the response unchanged")
			}
			if got.Response.Status != "200" {
				t.Fatalf("status %s, body %q", got.Response.Status, body)
			}
			hdr, err := processor(t).Probe(body)
			if err != nil {
				t.Fatalf("Probe(output): %v", err)
			}
			if hdr.Format != tc.wantFormat {
				t.Errorf("format %q, want %q", hdr.Format, tc.wantFormat)
			}
			maxW := max(tc.wantW, tc.wantWMax)
			if hdr.Width < tc.wantW || hdr.Width > maxW || hdr.Height != tc.wantH {
				t.Errorf("size %dx%d, want %dx%d", hdr.Width, hdr.Height, tc.wantW, tc.wantH)
			}
			if tc.wantFormat == "jpeg" || tc.wantFormat == "png" {
				// Decode with Go's decoders too: the bytes are a real image.
				img, format, err := image.Decode(bytes.NewReader(body))
				if err != nil {
					t.Fatalf("image.Decode: %v", err)
				}
				if format != tc.wantFormat || img.Bounds().Dx() != hdr.Width || img.Bounds().Dy() != tc.wantH {
					t.Errorf("Go decodes %s %v, want %s %dx%d", format, img.Bounds(), tc.wantFormat, hdr.Width, tc.wantH)
				}
			}
			h := got.Response.Headers
			sum := md5.Sum(body)
			want := map[string]string{
				"content-type":         tc.wantType,
				"content-length":       strconv.Itoa(len(body)),
				"etag":                 `"` + hex.EncodeToString(sum[:]) + `"`,
				"cache-control":        "public, max-age=86400",
				"last-modified":        "Tue, 01 Jul 2025 10:00:00 GMT",
				"x-amz-meta-author":    "ada",
				"content-md5":          "",
				"x-amz-checksum-crc32": "",
				"vary":                 tc.wantVary,
			}
			gotH := map[string]string{}
			for name := range want {
				gotH[name] = h.Get(name)
			}
			if diff := cmp.Diff(want, gotH); diff != "" {
				t.Errorf("headers (-want +got):\n%s", diff)
			}
		})
	}
}

func TestQualityChangesSize(t *testing.T) {
	photo := encodeJPEG(t, noise(400, 300))
	r := newResizer(t, imageresize.DefaultConfig(), nil)
	size := func(q string) int {
		_, body, err := r.OriginResponse(context.Background(), originEvent("/p.jpg", "d=200x150&q="+q, "image/jpeg"), photo)
		if err != nil || body == nil {
			t.Fatalf("q=%s: %v, body %d bytes", q, err, len(body))
		}
		return len(body)
	}
	low, high := size("10"), size("95")
	if low >= high {
		t.Errorf("q=10 gives %d bytes, q=95 %d: want fewer at low quality", low, high)
	}
}

func TestOriginResponseUnchanged(t *testing.T) {
	photo := encodeJPEG(t, gradient(64, 48))
	r := newResizer(t, imageresize.DefaultConfig(), nil)
	tests := []struct {
		name   string
		query  string
		status string
		accept string
	}{
		{name: "no query", query: ""},
		{name: "unknown params", query: "utm_source=news&v=2"},
		{name: "fit without a size", query: "fit=contain"},
		{name: "auto with nothing better", query: "format=auto", accept: "text/html,*/*"},
		{name: "not found", query: "d=10x10", status: "404"},
		{name: "not modified", query: "d=10x10", status: "304"},
		{name: "partial content", query: "d=10x10", status: "206"},
		{name: "no content", query: "d=10x10", status: "204"},
		{name: "server error", query: "d=10x10", status: "500"},
		{name: "redirect", query: "d=10x10", status: "301"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cf := originEvent("/p.jpg", tc.query, "image/jpeg")
			if tc.status != "" {
				cf.Response.Status = tc.status
			}
			if tc.accept != "" {
				cf.Request.Headers.Set("Accept", tc.accept)
			}
			got, body, err := r.OriginResponse(context.Background(), cf, photo)
			if err != nil {
				t.Fatalf("OriginResponse: %v", err)
			}
			if got != cf || body != nil {
				t.Errorf("OriginResponse changed the response: status %s, %d-byte body", got.Response.Status, len(body))
			}
		})
	}
}

// generatedError checks a generated error response: status, a short
// text/plain body naming the problem, and a matching Content-Length.
func generatedError(t *testing.T, resp *awsevent.CloudFrontResponse, body []byte, status int, mention ...string) {
	t.Helper()
	if resp.Status != strconv.Itoa(status) {
		t.Fatalf("status %s (%q), want %d", resp.Status, body, status)
	}
	if ct := resp.Headers.Get("Content-Type"); ct != "text/plain; charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}
	if cl := resp.Headers.Get("Content-Length"); cl != strconv.Itoa(len(body)) {
		t.Errorf("Content-Length %q for a %d-byte body", cl, len(body))
	}
	if resp.Headers.Get("ETag") != "" || resp.Headers.Get("Cache-Control") == "public, max-age=86400" {
		t.Errorf("a generated error keeps the original's headers: %v", resp.Headers)
	}
	if len(body) > 512 {
		t.Errorf("error body is %d bytes; want a short text", len(body))
	}
	for _, m := range mention {
		if !strings.Contains(string(body), m) {
			t.Errorf("body %q does not mention %q", body, m)
		}
	}
}

func TestOriginResponseErrors(t *testing.T) {
	photo := encodeJPEG(t, gradient(640, 480))
	key := []byte("production-key")
	signed := func(uri, query string) string {
		q, _ := url.ParseQuery(query)
		q.Set("sig", imageopts.Sign(key, uri, q))
		return q.Encode()
	}
	big := encodeJPEG(t, gradient(2100, 2000)) // 4.2 MP, over the tests' 4 MP limit
	tests := []struct {
		name    string
		cfg     func(*imageresize.Config)
		uri     string
		query   string
		body    []byte
		status  int      // 200 for success
		mention []string // in the error body
	}{
		{name: "bad d", uri: "/p.jpg", query: "d=abc", body: photo, status: 400, mention: []string{"InvalidArgument", `d "abc"`}},
		{name: "d and w", uri: "/p.jpg", query: "d=10x10&w=5", body: photo, status: 400, mention: []string{"w", "d"}},
		{name: "too wide", uri: "/p.jpg", query: "d=9000x", body: photo, status: 400, mention: []string{"9000", "8192"}},
		{name: "bad q", uri: "/p.jpg", query: "d=10x&q=0", body: photo, status: 400, mention: []string{"q"}},
		{name: "malformed query", uri: "/p.jpg", query: "d=10x10&x=%zz", body: photo, status: 400, mention: []string{"query string"}},
		{name: "bomb", uri: "/bomb.png", query: "d=100x100", body: pngBomb(t, 100000, 100000), status: 400, mention: []string{"ImageTooLarge"}},
		{name: "too many pixels", uri: "/big.jpg", query: "d=100x100", body: big, status: 400, mention: []string{"ImageTooLarge", "pixels"}},
		{name: "too many bytes", cfg: func(c *imageresize.Config) { c.MaxSourceBytes = 1000 }, uri: "/p.jpg", query: "d=100x100", body: photo, status: 400,
			mention: []string{"ImageTooLarge", "bytes"}},
		{name: "truncated jpeg", uri: "/p.jpg", query: "d=100x100", body: photo[:len(photo)/3], status: 400, mention: []string{"InvalidImage"}},
		{name: "not an image", uri: "/p.jpg", query: "d=100x100", body: []byte("<html>this is not a picture</html>"), status: 415, mention: []string{"UnsupportedImage"}},
		{name: "empty body", uri: "/p.jpg", query: "d=100x100", body: nil, status: 400, mention: []string{"InvalidImage"}},

		{name: "signature missing", cfg: func(c *imageresize.Config) { c.Limits.SigningKey = key }, uri: "/p.jpg", query: "d=100x100", body: photo,
			status: 403, mention: []string{"AccessDenied", "sig"}},
		{name: "signature bad", cfg: func(c *imageresize.Config) { c.Limits.SigningKey = key }, uri: "/p.jpg",
			query: strings.Replace(signed("/p.jpg", "d=100x100"), "100x100", "200x200", 1), body: photo, status: 403, mention: []string{"AccessDenied"}},
		{name: "signature ok", cfg: func(c *imageresize.Config) { c.Limits.SigningKey = key }, uri: "/p.jpg", query: signed("/p.jpg", "d=100x100"), body: photo, status: 200},
		{name: "signature not needed for the original", cfg: func(c *imageresize.Config) { c.Limits.SigningKey = key }, uri: "/p.jpg", query: "", body: photo, status: 0},

		{name: "allowed size", cfg: func(c *imageresize.Config) { c.Limits.AllowedSizes = []string{"100x100", "200x"} }, uri: "/p.jpg", query: "d=200x", body: photo, status: 200},
		{name: "size not allowed", cfg: func(c *imageresize.Config) { c.Limits.AllowedSizes = []string{"100x100", "200x"} }, uri: "/p.jpg", query: "d=300x", body: photo,
			status: 400, mention: []string{"300x", "100x100, 200x"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := imageresize.DefaultConfig()
			if tc.cfg != nil {
				tc.cfg(&cfg)
			}
			r := newResizer(t, cfg, nil)
			cf := originEvent(tc.uri, tc.query, "image/jpeg")
			got, body, err := r.OriginResponse(context.Background(), cf, tc.body)
			if err != nil {
				t.Fatalf("OriginResponse returned a Go error for viewer input: %v", err)
			}
			switch tc.status {
			case 0:
				if got != cf || body != nil {
					t.Errorf("want the response unchanged, got status %s", got.Response.Status)
				}
			case 200:
				if got.Response.Status != "200" || got.Response.Headers.Get("Content-Type") != "image/jpeg" {
					t.Errorf("status %s, %q", got.Response.Status, body)
				}
			default:
				generatedError(t, got.Response, body, tc.status, tc.mention...)
			}
		})
	}
}

// TestSlowDown saturates a processor with one worker and no queue: the
// calls that find it busy get 503 with Retry-After, never a Go error.
func TestSlowDown(t *testing.T) {
	cfg := vips.DefaultConfig()
	cfg.Workers, cfg.QueueDepth = 1, 0
	p, err := vips.New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	r, err := imageresize.New(imageresize.DefaultConfig(), nil, p, nil)
	if err != nil {
		t.Fatal(err)
	}
	photo := encodeJPEG(t, gradient(1600, 1200))
	deadline := time.Now().Add(20 * time.Second)
	for round := 0; ; round++ {
		var (
			wg   sync.WaitGroup
			mu   sync.Mutex
			seen = map[string]int{}
		)
		for i := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				got, body, err := r.OriginResponse(context.Background(), originEvent("/p.jpg", "d="+strconv.Itoa(100+i)+"x&format=png", "image/jpeg"), photo)
				if err != nil {
					t.Errorf("OriginResponse: %v", err)
					return
				}
				mu.Lock()
				defer mu.Unlock()
				seen[got.Response.Status]++
				if got.Response.Status == "503" {
					if ra := got.Response.Headers.Get("Retry-After"); ra != "1" {
						t.Errorf("503 with Retry-After %q", ra)
					}
					if !strings.Contains(string(body), "SlowDown") {
						t.Errorf("503 body %q", body)
					}
				}
			}()
		}
		wg.Wait()
		for status := range seen {
			if status != "200" && status != "503" {
				t.Fatalf("round %d: statuses %v", round, seen)
			}
		}
		if seen["503"] > 0 && seen["200"] > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no SlowDown after %d rounds of 8 concurrent resizes on one worker: %v", round+1, seen)
		}
	}
}

// TestConcurrent runs many transforms at once (run with -race).
func TestConcurrent(t *testing.T) {
	photo := encodeJPEG(t, gradient(320, 240))
	r := newResizer(t, imageresize.DefaultConfig(), nil)
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := 20 + i
			got, body, err := r.OriginResponse(context.Background(), originEvent("/p.jpg", "d="+strconv.Itoa(w)+"x", "image/jpeg"), photo)
			if err != nil {
				t.Errorf("OriginResponse: %v", err)
				return
			}
			if got.Response.Status == "503" {
				return // the shared pool may be full; that is the contract
			}
			cfg, err := jpeg.DecodeConfig(bytes.NewReader(body))
			if err != nil || cfg.Width != w {
				t.Errorf("d=%dx: %v, width %d", w, err, cfg.Width)
			}
		}()
	}
	wg.Wait()
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		edit func(*imageresize.Config)
		bad  string
	}{
		{"default", func(*imageresize.Config) {}, ""},
		{"zero source bytes", func(c *imageresize.Config) { c.MaxSourceBytes = 0 }, "MaxSourceBytes"},
		{"bad allowed size", func(c *imageresize.Config) { c.Limits.AllowedSizes = []string{"big"} }, "AllowedSizes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := imageresize.DefaultConfig()
			tc.edit(&cfg)
			err := cfg.Validate()
			if (tc.bad == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.bad)) {
				t.Errorf("Validate = %v, want error mentioning %q", err, tc.bad)
			}
			if _, err := imageresize.New(cfg, nil, processor(t), nil); (err == nil) != (tc.bad == "") {
				t.Errorf("New = %v", err)
			}
		})
	}
	if _, err := imageresize.New(imageresize.DefaultConfig(), nil, nil, nil); err == nil {
		t.Error("New accepted a nil processor")
	}
}

func TestBucketFromDomain(t *testing.T) {
	tests := []struct {
		domain string
		want   string
		ok     bool
	}{
		{"photos.s3.amazonaws.com", "photos", true},
		{"photos.s3.us-east-1.amazonaws.com", "photos", true},
		{"photos.s3.localhost", "photos", true},
		{"Photos.S3.Localhost:4566", "photos", true},
		{"my.dotted.bucket.s3.eu-west-3.amazonaws.com", "my.dotted.bucket", true},
		{"s3.amazonaws.com", "", false},
		{".s3.localhost", "", false},
		{"photos.s3.a.b.amazonaws.com", "", false},
		{"photos.s3..amazonaws.com", "", false},
		{"example.com", "", false},
		{"", "", false},
	}
	for _, tc := range tests {
		got, ok := imageresize.BucketFromDomain(tc.domain)
		if got != tc.want || ok != tc.ok {
			t.Errorf("BucketFromDomain(%q) = %q, %v; want %q, %v", tc.domain, got, ok, tc.want, tc.ok)
		}
	}
}

// openStore opens a real fsstore holding bucket "photos".
func openStore(t testing.TB) *fsstore.Store {
	t.Helper()
	cfg := fsstore.DefaultConfig()
	cfg.Dir, cfg.NoSync = t.TempDir(), true
	st, err := fsstore.Open(cfg)
	if err != nil {
		t.Fatalf("fsstore.Open: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.CreateBucket(context.Background(), sluice.Bucket{Name: "photos", Region: "us-east-1"}); err != nil {
		t.Fatal(err)
	}
	return st
}

func put(t testing.TB, st sluice.Store, key string, body []byte, contentType string) {
	t.Helper()
	_, err := st.PutObject(context.Background(), &sluice.PutObjectInput{
		Bucket: "photos", Key: key, Body: bytes.NewReader(body), Size: int64(len(body)),
		Meta: sluice.ObjectMeta{ContentType: contentType},
	})
	if err != nil {
		t.Fatalf("PutObject %s: %v", key, err)
	}
}

func eventJSON(t testing.TB, cf *awsevent.CloudFrontCF) []byte {
	t.Helper()
	b, err := json.Marshal(awsevent.CloudFrontEvent{Records: []awsevent.CloudFrontRecord{{CF: *cf}}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// decodeResult decodes what Invoke returns and its body.
func decodeResult(t testing.TB, out []byte) (awsevent.CloudFrontResponse, []byte) {
	t.Helper()
	var resp awsevent.CloudFrontResponse
	if err := json.Unmarshal(out, &resp); err != nil {
		t.Fatalf("Invoke returned %q: %v", out, err)
	}
	if resp.Body == "" {
		return resp, nil
	}
	body, err := (&awsevent.CloudFrontBody{Data: resp.Body, Encoding: resp.BodyEncoding}).Decode()
	if err != nil {
		t.Fatalf("body (%s): %v", resp.BodyEncoding, err)
	}
	return resp, body
}

func TestInvoke(t *testing.T) {
	st := openStore(t)
	photo := encodeJPEG(t, gradient(640, 480))
	put(t, st, "images/cat.jpg", photo, "image/jpeg")
	put(t, st, "images/a dog+1.jpg", photo, "image/jpeg")
	put(t, st, "root.png", encodePNG(t, gradient(300, 200)), "image/png")
	r := newResizer(t, imageresize.DefaultConfig(), st)

	tests := []struct {
		name       string
		uri, query string
		domain     string
		originPath string
		wantStatus string
		wantW      int
		wantH      int
		wantFormat string
		mention    string
	}{
		{name: "recipe", uri: "/cat.jpg", query: "d=100x100", wantStatus: "200", wantW: 100, wantH: 100, wantFormat: "jpeg"},
		{name: "aspect", uri: "/cat.jpg", query: "d=100x", wantStatus: "200", wantW: 100, wantH: 75, wantFormat: "jpeg"},
		{name: "webp", uri: "/cat.jpg", query: "d=100x100&format=webp", wantStatus: "200", wantW: 100, wantH: 100, wantFormat: "webp"},
		{name: "escaped key", uri: "/a%20dog%2B1.jpg", query: "w=50", wantStatus: "200", wantW: 50, wantH: 38, wantFormat: "jpeg"},
		{name: "global endpoint", uri: "/cat.jpg", query: "w=10", domain: "photos.s3.amazonaws.com", wantStatus: "200", wantW: 10, wantH: 8, wantFormat: "jpeg"},
		{name: "local endpoint without origin path", uri: "/root.png", query: "d=30x", domain: "photos.s3.localhost", originPath: "-", wantStatus: "200", wantW: 30, wantH: 20, wantFormat: "png"},
		{name: "missing key", uri: "/nope.jpg", query: "d=10x10", wantStatus: "404", mention: "NoSuchKey"},
		{name: "missing bucket", uri: "/cat.jpg", query: "d=10x10", domain: "other.s3.localhost", wantStatus: "404", mention: "NoSuchBucket"},
		{name: "bad params", uri: "/cat.jpg", query: "d=0x0", wantStatus: "400", mention: "InvalidArgument"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cf := originEvent(tc.uri, tc.query, "image/jpeg")
			if tc.domain != "" {
				cf.Request.Origin.S3.DomainName = tc.domain
			}
			if tc.originPath == "-" {
				cf.Request.Origin.S3.Path = ""
			}
			out, err := r.Invoke(context.Background(), eventJSON(t, cf))
			if err != nil {
				t.Fatalf("Invoke: %v", err)
			}
			resp, body := decodeResult(t, out)
			if resp.Status != tc.wantStatus {
				t.Fatalf("status %s (%q), want %s", resp.Status, body, tc.wantStatus)
			}
			if tc.wantStatus != "200" {
				if resp.BodyEncoding != "text" || !strings.Contains(string(body), tc.mention) {
					t.Errorf("error body %q (%s), want text mentioning %q", body, resp.BodyEncoding, tc.mention)
				}
				return
			}
			if resp.BodyEncoding != "base64" {
				t.Errorf("bodyEncoding %q, want base64", resp.BodyEncoding)
			}
			hdr, err := processor(t).Probe(body)
			if err != nil {
				t.Fatalf("Probe: %v", err)
			}
			if hdr.Width != tc.wantW || hdr.Height != tc.wantH || hdr.Format != tc.wantFormat {
				t.Errorf("got %s %dx%d, want %s %dx%d", hdr.Format, hdr.Width, hdr.Height, tc.wantFormat, tc.wantW, tc.wantH)
			}
			if cl := resp.Headers.Get("Content-Length"); cl != strconv.Itoa(len(body)) {
				t.Errorf("Content-Length %q for %d bytes", cl, len(body))
			}
			if resp.Headers.Get("ETag") == originETag || resp.Headers.Get("Content-MD5") != "" {
				t.Errorf("stale headers kept: %v", resp.Headers)
			}
		})
	}
}

func TestInvokeUnchanged(t *testing.T) {
	st := openStore(t)
	r := newResizer(t, imageresize.DefaultConfig(), st)
	for _, tc := range []struct{ name, query, status string }{
		{"no transform", "v=1", "200"},
		{"origin error", "d=10x10", "403"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// The object does not exist: an unchanged response never reads it.
			cf := originEvent("/absent.jpg", tc.query, "image/jpeg")
			cf.Response.Status = tc.status
			out, err := r.Invoke(context.Background(), eventJSON(t, cf))
			if err != nil {
				t.Fatalf("Invoke: %v", err)
			}
			var got awsevent.CloudFrontResponse
			if err := json.Unmarshal(out, &got); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(*cf.Response, got); diff != "" {
				t.Errorf("response changed (-origin +returned):\n%s", diff)
			}
		})
	}
}

func TestInvokeRejects(t *testing.T) {
	st := openStore(t)
	r := newResizer(t, imageresize.DefaultConfig(), st)
	viewer := originEvent("/cat.jpg", "d=1x1", "image/jpeg")
	viewer.Config.EventType = awsevent.EdgeViewerRequest
	custom := originEvent("/cat.jpg", "d=1x1", "image/jpeg")
	custom.Request.Origin = &awsevent.CloudFrontOrigin{Custom: &awsevent.CloudFrontCustomOrigin{DomainName: "example.com"}}
	badDomain := originEvent("/cat.jpg", "d=1x1", "image/jpeg")
	badDomain.Request.Origin.S3.DomainName = "example.com"
	noResponse := originEvent("/cat.jpg", "d=1x1", "image/jpeg")
	noResponse.Response = nil
	tests := []struct {
		name    string
		payload []byte
		mention string
	}{
		{"not json", []byte("{"), "not a Lambda@Edge event"},
		{"no records", []byte(`{"Records":[]}`), "Records"},
		{"wrong event type", eventJSON(t, viewer), "origin-response"},
		{"custom origin", eventJSON(t, custom), "S3 origin"},
		{"unknown domain", eventJSON(t, badDomain), "example.com"},
		{"no response", eventJSON(t, noResponse), "cf.response"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := r.Invoke(context.Background(), tc.payload)
			if err == nil || !strings.Contains(err.Error(), tc.mention) {
				t.Errorf("Invoke = %q, %v; want an error mentioning %q", out, err, tc.mention)
			}
		})
	}
}

// TestInvokeGeneratedResponseLimit: a result over Lambda@Edge's 1 MB is a
// function error naming the limit; the native path has no such limit.
func TestInvokeGeneratedResponseLimit(t *testing.T) {
	st := openStore(t)
	src := encodePNG(t, noise(600, 600))
	put(t, st, "images/noise.png", src, "image/png")
	r := newResizer(t, imageresize.DefaultConfig(), st)
	cf := originEvent("/noise.png", "d=599x599", "image/png")

	_, err := r.Invoke(context.Background(), eventJSON(t, cf))
	if err == nil || !strings.Contains(err.Error(), "1 MB") || !strings.Contains(err.Error(), strconv.Itoa(imageresize.MaxGeneratedResponse)) {
		t.Fatalf("Invoke = %v; want an error naming the 1 MB limit", err)
	}
	got, body, err := r.OriginResponse(context.Background(), cf, src)
	if err != nil || got.Response.Status != "200" || len(body) <= imageresize.MaxGeneratedResponse*3/4 {
		t.Fatalf("native: %v, status %s, %d bytes; want a 200 over 768 KiB", err, got.Response.Status, len(body))
	}
	// Smaller requests of the same original fit.
	cf = originEvent("/noise.png", "d=200x200", "image/png")
	out, err := r.Invoke(context.Background(), eventJSON(t, cf))
	if err != nil {
		t.Fatalf("Invoke d=200x200: %v", err)
	}
	if resp, body := decodeResult(t, out); resp.Status != "200" || len(body) == 0 {
		t.Errorf("d=200x200: status %s, %d bytes", resp.Status, len(body))
	}
	if base64.StdEncoding.EncodedLen(len(body)) <= imageresize.MaxGeneratedResponse {
		t.Errorf("the native result (%d bytes) would have fit the JSON path", len(body))
	}
}

// FuzzInvoke feeds arbitrary events to the JSON path: it must never panic,
// and whatever it answers is an error or a response object whose body
// decodes.
func FuzzInvoke(f *testing.F) {
	st := openStore(f)
	put(f, st, "images/cat.jpg", encodeJPEG(f, gradient(64, 48)), "image/jpeg")
	r := newResizer(f, imageresize.DefaultConfig(), st)
	for _, s := range []struct{ uri, query string }{
		{"/cat.jpg", "d=10x10"}, {"/cat.jpg", ""}, {"/cat.jpg", "d=abc"}, {"/missing.jpg", "w=5&format=png"},
		{"/%zz", "d=1x1"}, {"/", "d=1x1"}, {"/cat.jpg", "format=auto"},
	} {
		f.Add(eventJSON(f, originEvent(s.uri, s.query, "image/jpeg")))
	}
	f.Add([]byte(`{"Records":[{"cf":{"config":{"eventType":"origin-response"},"request":{"uri":"/cat.jpg","querystring":"d=5x","origin":{"s3":{"domainName":"photos.s3.localhost","path":"images"}}},"response":{"status":"200"}}}]}`))
	f.Add([]byte(`{"Records":[{"cf":{"request":{"uri":"/cat.jpg","querystring":"d=5x","origin":{"s3":{"domainName":"photos.s3.localhost"}}},"response":{"status":"200","headers":null}}}]}`))
	f.Add([]byte(`{"Records":[{"cf":{}}]}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, payload []byte) {
		out, err := r.Invoke(context.Background(), payload)
		if err != nil {
			return
		}
		var resp awsevent.CloudFrontResponse
		if err := json.Unmarshal(out, &resp); err != nil {
			t.Fatalf("Invoke returned %q: %v", out, err)
		}
		if resp.Body != "" {
			if _, err := (&awsevent.CloudFrontBody{Data: resp.Body, Encoding: resp.BodyEncoding}).Decode(); err != nil {
				t.Fatalf("body does not decode: %v", err)
			}
		}
	})
}

// TestAnimatedGIF: an animated GIF becomes its first frame unless
// animated=true asks for every frame.
func TestAnimatedGIF(t *testing.T) {
	anim := &gif.GIF{}
	for i := range 3 {
		frame := image.NewPaletted(image.Rect(0, 0, 60, 40), palette.Plan9)
		for j := range frame.Pix {
			frame.Pix[j] = uint8(i*40 + j%7)
		}
		anim.Image = append(anim.Image, frame)
		anim.Delay = append(anim.Delay, 10)
	}
	var b bytes.Buffer
	if err := gif.EncodeAll(&b, anim); err != nil {
		t.Fatal(err)
	}
	r := newResizer(t, imageresize.DefaultConfig(), nil)
	for _, tc := range []struct {
		query string
		pages int
	}{
		{"d=30x20", 1},
		{"d=30x20&animated=true", 3},
		{"d=30x20&animated=false", 1},
	} {
		t.Run(tc.query, func(t *testing.T) {
			got, body, err := r.OriginResponse(context.Background(), originEvent("/a.gif", tc.query, "image/gif"), b.Bytes())
			if err != nil || got.Response.Status != "200" {
				t.Fatalf("OriginResponse: %v, status %s, body %q", err, got.Response.Status, body)
			}
			if ct := got.Response.Headers.Get("Content-Type"); ct != "image/gif" {
				t.Errorf("Content-Type %q", ct)
			}
			all, err := gif.DecodeAll(bytes.NewReader(body))
			if err != nil {
				t.Fatalf("gif.DecodeAll: %v", err)
			}
			if len(all.Image) != tc.pages || all.Config.Width != 30 || all.Config.Height != 20 {
				t.Errorf("%d frames of %dx%d, want %d of 30x20", len(all.Image), all.Config.Width, all.Config.Height, tc.pages)
			}
		})
	}
}
