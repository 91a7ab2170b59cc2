package s3api

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/xml"
	"hash/crc32"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/sluicehq/sluice"
)

type objectEntry struct {
	Key string `xml:"Key"`
	objectFields
}

// objectFields are what S3 lists about an object after its key, in
// ListObjects and ListObjectVersions alike.
type objectFields struct {
	LastModified      string `xml:"LastModified"`
	ETag              string `xml:"ETag"`
	ChecksumAlgorithm string `xml:"ChecksumAlgorithm,omitempty"`
	ChecksumType      string `xml:"ChecksumType,omitempty"`
	Size              int64  `xml:"Size"`
	Owner             *Owner `xml:"Owner,omitempty"`
	StorageClass      string `xml:"StorageClass"`
}

type commonPrefix struct {
	Prefix string `xml:"Prefix"`
}

type listBucketResult struct {
	XMLName        xml.Name       `xml:"http://s3.amazonaws.com/doc/2006-03-01/ ListBucketResult"`
	Name           string         `xml:"Name"`
	Prefix         string         `xml:"Prefix"`
	Marker         string         `xml:"Marker"`
	NextMarker     string         `xml:"NextMarker,omitempty"`
	MaxKeys        int            `xml:"MaxKeys"`
	Delimiter      string         `xml:"Delimiter,omitempty"`
	IsTruncated    bool           `xml:"IsTruncated"`
	Contents       []objectEntry  `xml:"Contents"`
	CommonPrefixes []commonPrefix `xml:"CommonPrefixes"`
	EncodingType   string         `xml:"EncodingType,omitempty"`
}

type listBucketResultV2 struct {
	XMLName               xml.Name       `xml:"http://s3.amazonaws.com/doc/2006-03-01/ ListBucketResult"`
	Name                  string         `xml:"Name"`
	Prefix                string         `xml:"Prefix"`
	Delimiter             string         `xml:"Delimiter,omitempty"`
	MaxKeys               int            `xml:"MaxKeys"`
	EncodingType          string         `xml:"EncodingType,omitempty"`
	KeyCount              int            `xml:"KeyCount"`
	ContinuationToken     string         `xml:"ContinuationToken,omitempty"`
	NextContinuationToken string         `xml:"NextContinuationToken,omitempty"`
	StartAfter            string         `xml:"StartAfter,omitempty"`
	IsTruncated           bool           `xml:"IsTruncated"`
	Contents              []objectEntry  `xml:"Contents"`
	CommonPrefixes        []commonPrefix `xml:"CommonPrefixes"`
}

// listParams are the parameters ListObjects and ListObjectsV2 share.
type listParams struct {
	prefix, delimiter string
	maxKeys           int
	encode            bool
}

func parseListParams(q url.Values) (listParams, error) {
	p := listParams{prefix: q.Get("prefix"), delimiter: q.Get("delimiter"), maxKeys: sluice.MaxListKeys}
	if v, ok := q["max-keys"]; ok {
		n, err := strconv.Atoi(v[0])
		if err != nil || n < 0 {
			return p, invalidArgument("max-keys", v[0], "Provided max-keys not an integer or within integer range")
		}
		p.maxKeys = min(n, sluice.MaxListKeys)
	}
	if v, ok := q["encoding-type"]; ok {
		if !strings.EqualFold(v[0], "url") {
			return p, invalidArgument("encoding-type", v[0], "Invalid Encoding Method specified in Request")
		}
		p.encode = true
	}
	return p, nil
}

// page fetches one page; a max-keys of 0 answers an empty page for a bucket
// that exists, as S3 does.
func (s *Server) page(r *http.Request, bucket string, p listParams, after string) (sluice.ListPage, error) {
	if p.maxKeys == 0 {
		_, err := s.store.Bucket(r.Context(), bucket)
		return sluice.ListPage{}, storeErr(err, bucket, "")
	}
	pg, err := s.store.ListObjects(r.Context(), bucket, sluice.ListOptions{
		Prefix: p.prefix, Delimiter: p.delimiter, After: after, MaxKeys: p.maxKeys,
	})
	if err != nil {
		return pg, storeErr(err, bucket, "")
	}
	return pg, nil
}

func (p listParams) enc(s string) string {
	if p.encode {
		return s3URLEncode(s)
	}
	return s
}

func (p listParams) entries(pg sluice.ListPage, owner bool) ([]objectEntry, []commonPrefix) {
	objs := make([]objectEntry, len(pg.Objects))
	for i, o := range pg.Objects {
		objs[i] = objectEntry{Key: p.enc(o.Key), objectFields: fieldsOf(o, owner)}
	}
	return objs, p.prefixes(pg.CommonPrefixes)
}

func (p listParams) prefixes(names []string) []commonPrefix {
	cps := make([]commonPrefix, len(names))
	for i, c := range names {
		cps[i] = commonPrefix{Prefix: p.enc(c)}
	}
	return cps
}

// fieldsOf is an object's listing entry; owner adds its Owner.
func fieldsOf(o sluice.ObjectInfo, owner bool) objectFields {
	f := objectFields{
		LastModified:      isoTime(o.LastModified),
		ETag:              o.ETag,
		ChecksumAlgorithm: o.Checksum.Algorithm,
		ChecksumType:      o.Checksum.Type,
		Size:              o.Size,
		StorageClass:      storageClassOrStandard(o.Meta.StorageClass),
	}
	if o.Checksum.Algorithm == "" {
		f.ChecksumType = ""
	}
	if owner {
		f.Owner = accountOwner()
	}
	return f
}

// listObjects is ListObjects (version 1). NextMarker is returned only when
// a delimiter was given, as S3 documents; otherwise the client continues
// from the last Key.
func (s *Server) listObjects(w http.ResponseWriter, r *http.Request, bucket, _ string) error {
	q := r.URL.Query()
	p, err := parseListParams(q)
	if err != nil {
		return err
	}
	marker := q.Get("marker")
	pg, err := s.page(r, bucket, p, marker)
	if err != nil {
		return err
	}
	res := listBucketResult{
		Name:        bucket,
		Prefix:      p.enc(p.prefix),
		Marker:      p.enc(marker),
		MaxKeys:     p.maxKeys,
		Delimiter:   p.enc(p.delimiter),
		IsTruncated: pg.IsTruncated,
	}
	if p.encode {
		res.EncodingType = "url"
	}
	res.Contents, res.CommonPrefixes = p.entries(pg, true)
	if pg.IsTruncated && p.delimiter != "" {
		res.NextMarker = p.enc(pg.NextAfter)
	}
	s.writeXML(w, r, http.StatusOK, res)
	return nil
}

// listObjectsV2 is ListObjectsV2. Continuation tokens carry the last key or
// common prefix returned, so any key round-trips, sealed with a checksum
// over the bucket so that a mangled or foreign token is refused instead of
// silently listing from the wrong place.
func (s *Server) listObjectsV2(w http.ResponseWriter, r *http.Request, bucket, _ string) error {
	q := r.URL.Query()
	p, err := parseListParams(q)
	if err != nil {
		return err
	}
	startAfter := q.Get("start-after")
	after := startAfter
	token, hasToken := "", q.Has("continuation-token")
	if hasToken {
		token = q.Get("continuation-token")
		if after, err = decodeToken(bucket, token); err != nil {
			return err
		}
	}
	pg, err := s.page(r, bucket, p, after)
	if err != nil {
		return err
	}
	res := listBucketResultV2{
		Name:              bucket,
		Prefix:            p.enc(p.prefix),
		Delimiter:         p.enc(p.delimiter),
		MaxKeys:           p.maxKeys,
		KeyCount:          len(pg.Objects) + len(pg.CommonPrefixes),
		ContinuationToken: token,
		StartAfter:        p.enc(startAfter),
		IsTruncated:       pg.IsTruncated,
	}
	if p.encode {
		res.EncodingType = "url"
	}
	if pg.IsTruncated {
		res.NextContinuationToken = encodeToken(bucket, pg.NextAfter)
	}
	res.Contents, res.CommonPrefixes = p.entries(pg, q.Get("fetch-owner") == "true")
	s.writeXML(w, r, http.StatusOK, res)
	return nil
}

func encodeToken(bucket, after string) string {
	b := append([]byte(after), 0, 0, 0, 0)
	binary.BigEndian.PutUint32(b[len(after):], tokenSum(bucket, after))
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeToken(bucket, tok string) (string, error) {
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil || len(b) < 4 {
		return "", invalidArgument("continuation-token", tok, "The continuation token provided is incorrect")
	}
	after := string(b[:len(b)-4])
	if binary.BigEndian.Uint32(b[len(b)-4:]) != tokenSum(bucket, after) {
		return "", invalidArgument("continuation-token", tok, "The continuation token provided is incorrect")
	}
	return after, nil
}

func tokenSum(bucket, after string) uint32 {
	h := crc32.New(crc32.MakeTable(crc32.Castagnoli))
	h.Write([]byte(bucket))
	h.Write([]byte{0})
	h.Write([]byte(after))
	return h.Sum32()
}

// s3URLEncode encodes a name the way S3 does for encoding-type=url:
// form-style escaping (space becomes "+", "+" becomes "%2B") except that "/"
// is kept, so that clients decoding with unquote_plus (botocore) or
// url.QueryUnescape get the key back.
func s3URLEncode(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9',
			c == '-', c == '_', c == '.', c == '~', c == '/', c == '*':
			b.WriteByte(c)
		case c == ' ':
			b.WriteByte('+')
		default:
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&15])
		}
	}
	return b.String()
}
