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
	vid, err := versionQuery(r.URL.Query())
	if err != nil {
		return err
	}
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
	if err := s.putVersionTags(w, r, bucket, key, vid, tags); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

// putVersionTags replaces the tag set of the version the request names (the
// current one without ?versionId) and reports that version.
func (s *Server) putVersionTags(w http.ResponseWriter, r *http.Request, bucket, key, vid string, tags []sluice.Tag) error {
	info, err := s.store.PutVersionTags(r.Context(), bucket, key, vid, tags)
	if err != nil {
		return versionErr(w.Header(), r.Method, info, err, bucket, key, vid)
	}
	setIf(w.Header(), "X-Amz-Version-Id", info.VersionID)
	return nil
}

// getObjectTagging is GetObjectTagging (GET /key?tagging): an empty TagSet
// when the object has no tags.
func (s *Server) getObjectTagging(w http.ResponseWriter, r *http.Request, bucket, key string) error {
	info, err := s.headVersion(w, r, bucket, key)
	if err != nil {
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
	vid, err := versionQuery(r.URL.Query())
	if err != nil {
		return err
	}
	if err := s.putVersionTags(w, r, bucket, key, vid, nil); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
