//go:build integration

package integration

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/png"
	"net/http"
	"strings"
	"testing"
	"time"
)

// pngBomb is a valid, tiny PNG header that claims w×h pixels, followed by
// a few bytes of zlib data: a decompression bomb as attackers send it.
func pngBomb(w, h uint32) []byte {
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	chunk := func(typ string, data []byte) {
		binary.Write(&b, binary.BigEndian, uint32(len(data)))
		crc := crc32.NewIEEE()
		b.WriteString(typ)
		crc.Write([]byte(typ))
		b.Write(data)
		crc.Write(data)
		binary.Write(&b, binary.BigEndian, crc.Sum32())
	}
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], w)
	binary.BigEndian.PutUint32(ihdr[4:], h)
	ihdr[8], ihdr[9] = 8, 0 // 8-bit grey
	chunk("IHDR", ihdr)
	chunk("IDAT", []byte{0x78, 0x9c, 0x63, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01})
	chunk("IEND", nil)
	return b.Bytes()
}

// TestEdgeImageBombsAndBrokenFiles sends the resize recipe what attackers
// and accidents send: a source over the pixel limit (checked from its
// header), truncated and random bytes, a text file named .jpg. Each gets a
// clear 4xx, and the server goes on resizing good images.
func TestEdgeImageBombsAndBrokenFiles(t *testing.T) {
	s := startSluice(t)
	bucket := bucketName("bombs")
	awsOK(t, s, "s3api", "create-bucket", "--bucket", bucket)
	good := solidJPEG(t, 640, 480, blue)
	var realBomb bytes.Buffer
	enc := png.Encoder{CompressionLevel: png.BestSpeed}
	if err := enc.Encode(&realBomb, image.NewGray(image.Rect(0, 0, 8000, 7000))); err != nil {
		t.Fatal(err)
	}
	putFile(t, s, bucket, "good.jpg", good, "--content-type", "image/jpeg")
	putFile(t, s, bucket, "bomb-header.png", pngBomb(30000, 30000), "--content-type", "image/png")
	putFile(t, s, bucket, "bomb-56mp.png", realBomb.Bytes(), "--content-type", "image/png")
	putFile(t, s, bucket, "truncated.jpg", good[:len(good)/3], "--content-type", "image/jpeg")
	putFile(t, s, bucket, "noise.jpg", bytes.Repeat([]byte{0xff, 0xd8, 0x13, 0x37}, 500), "--content-type", "image/jpeg")
	putFile(t, s, bucket, "notes.jpg", []byte("these are not pixels"), "--content-type", "image/jpeg")
	d := createDistribution(t, s, distributionConfig(bucket, []string{"d"},
		map[string]string{"origin-response": "arn:aws:lambda:us-east-1:000000000000:function:sluice-image-resize:1"}, false))

	for _, tc := range []struct {
		path string
		want []int
	}{
		{"/bomb-header.png?d=100x100", []int{http.StatusBadRequest}},
		{"/bomb-56mp.png?d=100x100", []int{http.StatusBadRequest}},
		{"/truncated.jpg?d=100x100", []int{http.StatusBadRequest}},
		{"/noise.jpg?d=100x100", []int{http.StatusBadRequest, http.StatusUnsupportedMediaType}},
		{"/notes.jpg?d=100x100", []int{http.StatusBadRequest, http.StatusUnsupportedMediaType}},
	} {
		resp, body := edgeGet(t, s, d, tc.path)
		ok := false
		for _, w := range tc.want {
			ok = ok || resp.StatusCode == w
		}
		if !ok {
			t.Errorf("GET %s: status %d, want one of %v: %s", tc.path, resp.StatusCode, tc.want, tail(string(body), 300))
		}
		if strings.HasPrefix(resp.Header.Get("Content-Type"), "image/") {
			t.Errorf("GET %s: an error answered with Content-Type %q", tc.path, resp.Header.Get("Content-Type"))
		}
	}
	// The limit is named in the answer.
	if _, body := edgeGet(t, s, d, "/bomb-header.png?d=100x100"); !strings.Contains(strings.ToLower(string(body)), "pixel") {
		t.Errorf("the bomb's 400 does not name the pixel limit: %s", tail(string(body), 300))
	}
	// Without a transform the original goes out untouched.
	if resp, body := edgeGet(t, s, d, "/truncated.jpg"); resp.StatusCode != 200 || !bytes.Equal(body, good[:len(good)/3]) {
		t.Errorf("GET /truncated.jpg without d: %d, %d bytes", resp.StatusCode, len(body))
	}
	resp, body := edgeGet(t, s, d, "/good.jpg?d=64x48")
	if resp.StatusCode != 200 {
		t.Fatalf("after the bad images, a good one: status %d", resp.StatusCode)
	}
	if w, h, _ := decodeImage(t, body); w != 64 || h != 48 {
		t.Errorf("good.jpg?d=64x48 decoded as %dx%d", w, h)
	}
}

// TestEdgeTTLFromCacheControl checks that the origin's Cache-Control sets
// how long the edge keeps an object, within the behaviour's TTLs: max-age
// expires and revalidates (RefreshHit), no-store is never kept.
func TestEdgeTTLFromCacheControl(t *testing.T) {
	s := startSluice(t)
	bucket := bucketName("ttl")
	awsOK(t, s, "s3api", "create-bucket", "--bucket", bucket)
	putFile(t, s, bucket, "short.txt", []byte("short-lived"), "--content-type", "text/plain", "--cache-control", "max-age=1")
	putFile(t, s, bucket, "never.txt", []byte("never kept"), "--content-type", "text/plain", "--cache-control", "no-store")
	putFile(t, s, bucket, "long.txt", []byte("kept a day"), "--content-type", "text/plain")
	d := createDistribution(t, s, distributionConfig(bucket, nil, nil, false))

	xcache := func(path string) string {
		resp, _ := edgeGet(t, s, d, path)
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s: status %d", path, resp.StatusCode)
		}
		return resp.Header.Get("X-Cache")
	}
	for _, tc := range []struct{ path, first, second string }{
		{"/long.txt", "Miss from sluice", "Hit from sluice"},
		{"/never.txt", "Miss from sluice", "Miss from sluice"},
		{"/short.txt", "Miss from sluice", "Hit from sluice"},
	} {
		if got := xcache(tc.path); got != tc.first {
			t.Errorf("first GET %s: X-Cache %q, want %q", tc.path, got, tc.first)
		}
		if got := xcache(tc.path); got != tc.second {
			t.Errorf("second GET %s: X-Cache %q, want %q", tc.path, got, tc.second)
		}
	}
	// max-age=1 runs out: the next request revalidates with the origin,
	// which answers 304 (same ETag): RefreshHit.
	deadline := time.Now().Add(10 * time.Second)
	got := ""
	for time.Now().Before(deadline) {
		if got = xcache("/short.txt"); got != "Hit from sluice" {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if got != "RefreshHit from sluice" {
		t.Errorf("after max-age=1 ran out: X-Cache %q, want RefreshHit from sluice", got)
	}
	if got := xcache("/long.txt"); got != "Hit from sluice" {
		t.Errorf("/long.txt (DefaultTTL a day) later: X-Cache %q", got)
	}
}
