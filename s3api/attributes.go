package s3api

import (
	"encoding/xml"
	"net/http"
	"strconv"
	"strings"

	"github.com/sluicehq/sluice"
)

type getObjectAttributesResponse struct {
	XMLName      xml.Name            `xml:"http://s3.amazonaws.com/doc/2006-03-01/ GetObjectAttributesResponse"`
	ETag         string              `xml:",omitempty"`
	Checksum     *objectChecksumXML  `xml:",omitempty"`
	ObjectParts  *attributesPartsXML `xml:",omitempty"`
	StorageClass string              `xml:",omitempty"`
	ObjectSize   *int64              `xml:",omitempty"`
}

type attributesPartsXML struct {
	TotalPartsCount      int `xml:"PartsCount"`
	PartNumberMarker     int
	NextPartNumberMarker int
	MaxParts             int
	IsTruncated          bool
	Parts                []attributesPart `xml:"Part"`
}

type attributesPart struct {
	partChecksumXML
	PartNumber int
	Size       int64
}

// objectAttributes are the values x-amz-object-attributes may list.
var objectAttributes = map[string]bool{
	"ETag": true, "Checksum": true, "ObjectParts": true, "StorageClass": true, "ObjectSize": true,
}

// getObjectAttributes is GetObjectAttributes (GET /key?attributes): only the
// attributes the caller lists are returned.
func (s *Server) getObjectAttributes(w http.ResponseWriter, r *http.Request, bucket, key string) error {
	want := map[string]bool{}
	for _, line := range r.Header.Values("x-amz-object-attributes") {
		for _, a := range strings.Split(line, ",") {
			a = strings.TrimSpace(a)
			if a == "" {
				continue
			}
			if !objectAttributes[a] {
				return invalidArgument("x-amz-object-attributes", a, "Invalid attribute name specified.")
			}
			want[a] = true
		}
	}
	if len(want) == 0 {
		return sluice.Errorf(sluice.ErrInvalidRequest, "The x-amz-object-attributes header specifying the attributes to be retrieved is either missing or empty")
	}
	info, err := s.headVersion(w, r, bucket, key)
	if err != nil {
		return err
	}

	var res getObjectAttributesResponse
	if want["ETag"] {
		res.ETag = strings.Trim(info.ETag, `"`)
	}
	if want["Checksum"] && info.Checksum.Algorithm != "" {
		c := objectChecksums(info.Checksum)
		res.Checksum = &c
	}
	if want["ObjectParts"] && len(info.Parts) > 0 {
		res.ObjectParts = attributesParts(r.Header, info)
	}
	if want["StorageClass"] {
		res.StorageClass = storageClassOrStandard(info.Meta.StorageClass)
	}
	if want["ObjectSize"] {
		size := info.Size
		res.ObjectSize = &size
	}
	h := w.Header()
	h.Set("Last-Modified", info.LastModified.UTC().Format(http.TimeFormat))
	setIf(h, "X-Amz-Version-Id", info.VersionID)
	s.writeXML(w, r, http.StatusOK, res)
	return nil
}

// attributesParts pages the parts of a multipart object. S3 lists parts
// only for objects uploaded with checksums; otherwise it gives the count.
// Unparseable x-amz-max-parts / x-amz-part-number-marker are ignored, as S3
// ignores them.
func attributesParts(h http.Header, info sluice.ObjectInfo) *attributesPartsXML {
	out := &attributesPartsXML{TotalPartsCount: len(info.Parts)}
	if info.Checksum.Algorithm == "" {
		return out
	}
	max := maxListParts
	if n, err := strconv.Atoi(h.Get("x-amz-max-parts")); err == nil && n >= 0 {
		max = min(n, maxListParts)
	}
	marker := 0
	if n, err := strconv.Atoi(h.Get("x-amz-part-number-marker")); err == nil && n >= 0 {
		marker = n
	}
	out.MaxParts, out.PartNumberMarker = max, marker
	for _, p := range info.Parts {
		if p.Number <= marker {
			continue
		}
		if len(out.Parts) == max {
			out.IsTruncated = true
			break
		}
		out.Parts = append(out.Parts, attributesPart{
			partChecksumXML: partChecksums(p.Checksum),
			PartNumber:      p.Number,
			Size:            p.Size,
		})
	}
	if n := len(out.Parts); n > 0 {
		out.NextPartNumberMarker = out.Parts[n-1].PartNumber
	}
	return out
}
