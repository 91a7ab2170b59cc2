package s3api

import (
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/sluicehq/sluice"
)

// storageClasses are the x-amz-storage-class values S3 accepts. Sluice keeps
// every object on the same medium; the class is recorded and reported.
var storageClasses = []string{
	"STANDARD", "REDUCED_REDUNDANCY", "STANDARD_IA", "ONEZONE_IA", "INTELLIGENT_TIERING",
	"GLACIER", "DEEP_ARCHIVE", "OUTPOSTS", "GLACIER_IR", "SNOW", "EXPRESS_ONEZONE",
}

const defaultContentType = "binary/octet-stream"

// parseMeta reads what a writer says about an object from its headers:
// Content-Type (binary/octet-stream when absent), the other
// representation headers, x-amz-meta-* (MetadataTooLarge beyond 2 KB),
// x-amz-tagging (InvalidTag) and x-amz-storage-class (InvalidStorageClass).
func parseMeta(h http.Header) (sluice.ObjectMeta, error) {
	m := sluice.ObjectMeta{
		ContentType:        h.Get("Content-Type"),
		ContentEncoding:    h.Get("Content-Encoding"),
		ContentDisposition: h.Get("Content-Disposition"),
		ContentLanguage:    h.Get("Content-Language"),
		CacheControl:       h.Get("Cache-Control"),
		Expires:            h.Get("Expires"),
		WebsiteRedirect:    h.Get("X-Amz-Website-Redirect-Location"),
		StorageClass:       "STANDARD",
	}
	if m.ContentType == "" {
		m.ContentType = defaultContentType
	}
	// aws-chunked is a transfer framing the front door already removed;
	// S3 does not store it as the object's encoding.
	if enc := removeToken(m.ContentEncoding, "aws-chunked"); enc != m.ContentEncoding {
		m.ContentEncoding = enc
	}
	size := 0
	const metaPrefix = "x-amz-meta-"
	for name, vals := range h {
		// Match before lowering: most headers are not metadata, and
		// lowering every name would allocate for each.
		if len(name) < len(metaPrefix) || !strings.EqualFold(name[:len(metaPrefix)], metaPrefix) {
			continue
		}
		k := strings.ToLower(name[len(metaPrefix):])
		v := strings.Join(vals, ",")
		if m.User == nil {
			m.User = make(map[string]string)
		}
		m.User[k] = v
		size += len(k) + len(v)
	}
	if size > sluice.MaxUserMetadataSize {
		return m, sluice.Errorf(sluice.ErrMetadataTooLarge, "Your metadata headers exceed the maximum allowed metadata size.").
			With("Size", strconv.Itoa(size)).With("MaxSizeAllowed", strconv.Itoa(sluice.MaxUserMetadataSize))
	}
	if sc := h.Get("X-Amz-Storage-Class"); sc != "" {
		if !slices.Contains(storageClasses, sc) {
			return m, sluice.Errorf(sluice.ErrInvalidStorageClass, "The storage class you specified is not valid").
				With("StorageClassRequested", sc)
		}
		m.StorageClass = sc
	}
	if vals, ok := h["X-Amz-Tagging"]; ok {
		tags, err := parseTagging(strings.Join(vals, "&"))
		if err != nil {
			return m, err
		}
		m.Tags = tags
	}
	return m, nil
}

func removeToken(list, token string) string {
	var out []string
	for _, p := range strings.Split(list, ",") {
		p = strings.TrimSpace(p)
		if p != "" && !strings.EqualFold(p, token) {
			out = append(out, p)
		}
	}
	return strings.Join(out, ",")
}

// parseTagging decodes a URL-query-encoded tag set (x-amz-tagging:
// "k1=v1&k2=v2") keeping the caller's order, and validates it as an object
// tag set.
func parseTagging(query string) ([]sluice.Tag, error) {
	var tags []sluice.Tag
	if query == "" {
		return nil, nil
	}
	for _, pair := range strings.Split(query, "&") {
		if pair == "" {
			continue
		}
		k, v, _ := strings.Cut(pair, "=")
		key, err1 := url.QueryUnescape(k)
		val, err2 := url.QueryUnescape(v)
		if err1 != nil || err2 != nil {
			return nil, sluice.Errorf(sluice.ErrInvalidArgument, "The header 'x-amz-tagging' shall be encoded as UTF-8 then URLEncoded URL query parameters without tag name duplicates.").
				With("ArgumentName", "x-amz-tagging").With("ArgumentValue", query)
		}
		tags = append(tags, sluice.Tag{Key: key, Value: val})
	}
	if err := validateTags(tags, sluice.MaxObjectTags); err != nil {
		return nil, err
	}
	return tags, nil
}

// validateTags checks a tag set as S3 does for objects (max 10) and buckets
// (max 50), with S3's messages.
func validateTags(tags []sluice.Tag, max int) error {
	if len(tags) > max {
		if max == sluice.MaxBucketTags {
			return sluice.Errorf(sluice.ErrInvalidTag, "Bucket tag count cannot be greater than %d", max)
		}
		return sluice.Errorf(sluice.ErrInvalidTag, "Object tags cannot be greater than %d", max)
	}
	seen := make(map[string]bool, len(tags))
	for _, t := range tags {
		switch {
		case t.Key == "" || !validTagText(t.Key):
			return sluice.Errorf(sluice.ErrInvalidTag, "The TagKey you have provided is invalid").With("TagKey", t.Key)
		case utf8.RuneCountInString(t.Key) > sluice.MaxTagKeyLength:
			return sluice.Errorf(sluice.ErrInvalidTag, "The TagKey you have provided is too long, max %d", sluice.MaxTagKeyLength).With("TagKey", t.Key)
		case utf8.RuneCountInString(t.Value) > sluice.MaxTagValueLength:
			return sluice.Errorf(sluice.ErrInvalidTag, "The TagValue you have provided is too long, max %d", sluice.MaxTagValueLength).With("TagKey", t.Key)
		case !validTagText(t.Value):
			return sluice.Errorf(sluice.ErrInvalidTag, "The TagValue you have provided is invalid").With("TagKey", t.Key)
		case strings.HasPrefix(strings.ToLower(t.Key), "aws:"):
			return sluice.Errorf(sluice.ErrInvalidTag, "Your TagKey cannot be prefixed with aws:").With("TagKey", t.Key)
		case seen[t.Key]:
			return sluice.Errorf(sluice.ErrInvalidTag, "Cannot provide multiple Tags with the same key").With("TagKey", t.Key)
		}
		seen[t.Key] = true
	}
	return nil
}

// validTagText allows what S3 documents for tag keys and values: letters,
// numbers, spaces and + - = . _ : / @.
func validTagText(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, c := range s {
		if unicode.IsLetter(c) || unicode.IsNumber(c) || unicode.IsSpace(c) || unicode.IsMark(c) || strings.ContainsRune("+-=._:/@", c) {
			continue
		}
		return false
	}
	return true
}

// setObjectHeaders sets the response headers that describe an object:
// ETag, Last-Modified, the stored representation headers, x-amz-meta-*,
// x-amz-tagging-count, x-amz-storage-class (only when not STANDARD, as S3),
// x-amz-website-redirect-location and x-amz-version-id. Content-Length and
// checksums depend on the request and are set by the caller.
func setObjectHeaders(h http.Header, info sluice.ObjectInfo) {
	h.Set("ETag", info.ETag)
	if !info.LastModified.IsZero() {
		h.Set("Last-Modified", info.LastModified.UTC().Format(http.TimeFormat))
	}
	ct := info.Meta.ContentType
	if ct == "" {
		ct = defaultContentType
	}
	h.Set("Content-Type", ct)
	setIf(h, "Content-Encoding", info.Meta.ContentEncoding)
	setIf(h, "Content-Disposition", info.Meta.ContentDisposition)
	setIf(h, "Content-Language", info.Meta.ContentLanguage)
	setIf(h, "Cache-Control", info.Meta.CacheControl)
	setIf(h, "Expires", info.Meta.Expires)
	for k, v := range info.Meta.User {
		h["X-Amz-Meta-"+k] = []string{v}
	}
	if n := len(info.Meta.Tags); n > 0 {
		h.Set("X-Amz-Tagging-Count", strconv.Itoa(n))
	}
	if sc := info.Meta.StorageClass; sc != "" && sc != "STANDARD" {
		h.Set("X-Amz-Storage-Class", sc)
	}
	setIf(h, "X-Amz-Website-Redirect-Location", info.Meta.WebsiteRedirect)
	setIf(h, "X-Amz-Version-Id", info.VersionID)
	h.Set("X-Amz-Server-Side-Encryption", "AES256")
}

func setIf(h http.Header, k, v string) {
	if v != "" {
		h.Set(k, v)
	}
}

// validBucketName applies S3's naming rules for new general purpose buckets.
func validBucketName(name string) bool {
	if len(name) < 3 || len(name) > 63 || !plausibleBucketName(name) {
		return false
	}
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '-') {
			return false
		}
	}
	if !isAlnum(name[0]) || !isAlnum(name[len(name)-1]) || strings.Contains(name, "..") {
		return false
	}
	if ip := net.ParseIP(name); ip != nil && ip.To4() != nil {
		return false
	}
	for _, p := range []string{"xn--", "sthree-", "amzn-s3-demo-"} {
		if strings.HasPrefix(name, p) {
			return false
		}
	}
	for _, sfx := range []string{"-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"} {
		if strings.HasSuffix(name, sfx) {
			return false
		}
	}
	return true
}

// plausibleBucketName is the looser test applied to an existing bucket's
// name: legacy names may hold upper case and underscores, but nothing that
// could escape a path or a host label.
func plausibleBucketName(name string) bool {
	if name == "" || len(name) > 255 || name == "." || name == ".." {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(isAlnum(c) || c >= 'A' && c <= 'Z' || c == '.' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

func isAlnum(c byte) bool { return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' }

// validRegion accepts AWS-shaped region names (us-east-1, eu-central-2,
// us-gov-west-1, cn-north-1).
func validRegion(r string) bool {
	parts := strings.Split(r, "-")
	if len(parts) < 3 || len(parts[0]) != 2 {
		return false
	}
	for _, p := range parts[:len(parts)-1] {
		if p == "" {
			return false
		}
		for _, c := range p {
			if c < 'a' || c > 'z' {
				return false
			}
		}
	}
	n, err := strconv.Atoi(parts[len(parts)-1])
	return err == nil && n >= 0 && n < 100 && !strings.HasPrefix(parts[len(parts)-1], "+")
}

func invalidArgument(name, value, format string, args ...any) error {
	return sluice.Errorf(sluice.ErrInvalidArgument, format, args...).
		With("ArgumentName", name).With("ArgumentValue", value)
}
