package s3api

import (
	"encoding/xml"
	"net/http"

	"github.com/sluicehq/sluice"
)

// tagging is the document of Put/GetObjectTagging.
type tagging struct {
	XMLName xml.Name `xml:"http://s3.amazonaws.com/doc/2006-03-01/ Tagging"`
	TagSet  tagSet
}

type tagSet struct {
	Tags []tagXML `xml:"Tag"`
}

type tagXML struct {
	Key   string
	Value string
}

// taggingIn is Tagging as a client sends it: any namespace, and elements
// that must be present are pointers so that absence can be told apart.
type taggingIn struct {
	XMLName xml.Name `xml:"Tagging"`
	TagSet  *struct {
		Tags []struct {
			Key   *string
			Value *string
		} `xml:"Tag"`
	}
}

// putObjectTagging is PutObjectTagging (PUT /key?tagging).
func (s *Server) putObjectTagging(w http.ResponseWriter, r *http.Request, bucket, key string) error {
	body, err := readIntegrityBody(r, sluice.MaxXMLBody)
	if err != nil {
		return err
	}
	var doc taggingIn
	if err := unmarshalXML(body, &doc); err != nil {
		return err
	}
	if doc.TagSet == nil {
		return malformedXML()
	}
	tags := make([]sluice.Tag, 0, len(doc.TagSet.Tags))
	for _, t := range doc.TagSet.Tags {
		if t.Key == nil || t.Value == nil {
			return malformedXML()
		}
		tags = append(tags, sluice.Tag{Key: *t.Key, Value: *t.Value})
	}
	if err := validateTags(tags, sluice.MaxObjectTags); err != nil {
		return err
	}
	info, err := s.store.PutObjectTags(r.Context(), bucket, key, tags)
	if err != nil {
		return storeErr(err, bucket, key)
	}
	setIf(w.Header(), "X-Amz-Version-Id", info.VersionID)
	w.WriteHeader(http.StatusOK)
	return nil
}

// getObjectTagging is GetObjectTagging (GET /key?tagging): an empty TagSet
// when the object has no tags.
func (s *Server) getObjectTagging(w http.ResponseWriter, r *http.Request, bucket, key string) error {
	info, err := s.store.HeadObject(r.Context(), bucket, key)
	if err != nil {
		return storeErr(err, bucket, key)
	}
	if err := checkVersionID(r, info); err != nil {
		return err
	}
	doc := tagging{TagSet: tagSet{Tags: make([]tagXML, 0, len(info.Meta.Tags))}}
	for _, t := range info.Meta.Tags {
		doc.TagSet.Tags = append(doc.TagSet.Tags, tagXML{Key: t.Key, Value: t.Value})
	}
	setIf(w.Header(), "X-Amz-Version-Id", info.VersionID)
	s.writeXML(w, r, http.StatusOK, doc)
	return nil
}

// deleteObjectTagging is DeleteObjectTagging (DELETE /key?tagging).
func (s *Server) deleteObjectTagging(w http.ResponseWriter, r *http.Request, bucket, key string) error {
	info, err := s.store.PutObjectTags(r.Context(), bucket, key, nil)
	if err != nil {
		return storeErr(err, bucket, key)
	}
	setIf(w.Header(), "X-Amz-Version-Id", info.VersionID)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// checkVersionID refuses a versionId query naming another version than the
// current one; without versioning only "null" names it.
func checkVersionID(r *http.Request, info sluice.ObjectInfo) error {
	v := r.URL.Query().Get("versionId")
	if v == "" || v == info.VersionID || (v == "null" && info.VersionID == "") {
		return nil
	}
	return sluice.Errorf(errNoSuchVersion, "The specified version does not exist.").
		With("Key", info.Key).
		With("VersionId", v)
}
