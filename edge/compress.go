package edge

import (
	"bytes"
	"context"
	"fmt"
	"mime"
	"net/http"
	"strings"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/gzip"
	"github.com/sluicehq/sluice/cdncache"
)

// compressibleTypes are the Content-Types CloudFront compresses ("Serving
// compressed files").
var compressibleTypes = map[string]bool{
	"application/dash+xml": true, "application/eot": true, "application/font": true,
	"application/font-sfnt": true, "application/javascript": true, "application/json": true,
	"application/opentype": true, "application/otf": true, "application/pkcs7-mime": true,
	"application/protobuf": true, "application/rss+xml": true, "application/truetype": true,
	"application/ttf": true, "application/vnd.apple.mpegurl": true, "application/vnd.mapbox-vector-tile": true,
	"application/vnd.ms-fontobject": true, "application/xhtml+xml": true, "application/xml": true,
	"application/x-font-opentype": true, "application/x-font-truetype": true, "application/x-font-ttf": true,
	"application/x-httpd-cgi": true, "application/x-javascript": true, "application/x-mpegurl": true,
	"application/x-opentype": true, "application/x-otf": true, "application/x-perl": true,
	"application/x-ttf": true, "font/eot": true, "font/opentype": true, "font/otf": true, "font/ttf": true,
	"image/svg+xml": true, "text/css": true, "text/csv": true, "text/html": true, "text/javascript": true,
	"text/js": true, "text/plain": true, "text/richtext": true, "text/tab-separated-values": true,
	"text/xml": true, "text/x-component": true, "text/x-java-source": true, "text/x-script": true,
	"vnd.apple.mpegurl": true,
}

func compressibleType(ct string) bool {
	if !strings.ContainsAny(ct, "; \t") {
		// A bare media type, the usual case, needs no parsing (ToLower
		// returns ct itself when it is lower-case already).
		return compressibleTypes[strings.ToLower(ct)]
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		mt = strings.ToLower(strings.TrimSpace(strings.Split(ct, ";")[0]))
	}
	return compressibleTypes[mt]
}

// compressible reports whether CloudFront would compress en: a compressible
// type, 200/403/404, not already encoded, within the size bounds.
func (x *exchange) compressible(en *cdncache.Entry) bool {
	switch en.Status {
	case http.StatusOK, http.StatusForbidden, http.StatusNotFound:
	default:
		return false
	}
	n := int64(len(en.Body))
	return en.Header.Get("Content-Encoding") == "" &&
		n >= x.e.cfg.MinCompressBytes && n <= x.e.cfg.MaxCompressBytes &&
		compressibleType(en.Header.Get("Content-Type"))
}

// compressed returns the encoded variant of the identity entry ie, making it
// at most once per cached object: concurrent requests collapse on the
// variant's key, and a variant made from the same origin version is reused
// (with ie's freshness) after a revalidation instead of being remade. The
// variant is stored only while ie is still the cached identity, so an
// invalidation between reading ie and storing the variant wins.
func (x *exchange) compressed(encKey, idKey cdncache.Key, ie, stale *cdncache.Entry) (*cdncache.Entry, error) {
	enc := x.enc
	ce, _, err := x.e.cache.Fill(x.r.Context(), encKey, func(ctx context.Context) (*cdncache.Entry, bool, error) {
		current, ok := x.e.cache.Get(idKey)
		live := ok && current.ETag == ie.ETag && len(current.Body) == len(ie.Body)
		if stale != nil && ie.ETag != "" && stale.ETag == ie.ETag && stale.LastModified.Equal(ie.LastModified) {
			ne := *stale
			ne.Stored, ne.Expires = ie.Stored, ie.Expires
			return &ne, live, nil
		}
		body, err := encode(enc, ie.Body)
		if err != nil {
			return nil, false, err
		}
		x.e.m.compressions.WithLabelValues(enc).Inc()
		h := ie.Header.Clone()
		h.Set("Content-Encoding", enc)
		if et, ok := compressedETag(h.Get("ETag")); ok {
			h.Set("ETag", et)
		} else {
			h.Del("ETag")
		}
		return &cdncache.Entry{
			Status: ie.Status, Header: h, Body: body, Stored: ie.Stored, Expires: ie.Expires,
			ETag: ie.ETag, LastModified: ie.LastModified,
		}, live, nil
	})
	return ce, err
}

// compressedETag converts an ETag as CloudFront does when it compresses: a
// strong ETag becomes weak, a weak one stays, an invalid one is dropped.
func compressedETag(et string) (string, bool) {
	switch {
	case strings.HasPrefix(et, `"`):
		return "W/" + et, true
	case strings.HasPrefix(et, "W/"):
		return et, true
	}
	return "", false
}

// Compression levels: fast enough to compress a 10 MB object on a miss,
// and the result is kept for every later hit.
const (
	gzipLevel   = 6
	brotliLevel = 5
)

func encode(enc string, body []byte) ([]byte, error) {
	var buf bytes.Buffer
	buf.Grow(len(body) / 3)
	switch enc {
	case "gzip":
		zw, err := gzip.NewWriterLevel(&buf, gzipLevel)
		if err != nil {
			return nil, err
		}
		if _, err := zw.Write(body); err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
		if err := zw.Close(); err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
	case "br":
		bw := brotli.NewWriterLevel(&buf, brotliLevel)
		if _, err := bw.Write(body); err != nil {
			return nil, fmt.Errorf("brotli: %w", err)
		}
		if err := bw.Close(); err != nil {
			return nil, fmt.Errorf("brotli: %w", err)
		}
	default:
		return nil, fmt.Errorf("unknown encoding %q", enc)
	}
	return buf.Bytes(), nil
}
