package s3api

import (
	"encoding/xml"
	"net/http"
	"net/url"

	"github.com/sluicehq/sluice"
)

// versioningIn is the VersioningConfiguration a client sends. Elements are
// pointers so that an absent Status (IllegalVersioningConfigurationException)
// is told apart from an invalid one (MalformedXML).
type versioningIn struct {
	XMLName   xml.Name `xml:"VersioningConfiguration"`
	Status    *string  `xml:"Status"`
	MfaDelete *string  `xml:"MfaDelete"`
}

type versioningOut struct {
	XMLName xml.Name `xml:"http://s3.amazonaws.com/doc/2006-03-01/ VersioningConfiguration"`
	Status  string   `xml:"Status,omitempty"`
}

const errIllegalVersioningConfig sluice.Code = "IllegalVersioningConfigurationException"

// parseVersioning decodes a PutBucketVersioning body into the state it
// asks for, with S3's errors: a missing or empty Status is
// IllegalVersioningConfigurationException, any value but Enabled or
// Suspended (case matters) MalformedXML, and MfaDelete Enabled is refused
// because it needs an MFA device (x-amz-mfa) Sluice does not have.
func parseVersioning(body []byte, mfa string) (string, error) {
	var c versioningIn
	if err := unmarshalXML(body, &c); err != nil {
		return "", err
	}
	if c.MfaDelete != nil {
		switch *c.MfaDelete {
		case "", "Disabled":
		case "Enabled":
			if mfa == "" {
				return "", sluice.Errorf(sluice.ErrAccessDenied, "Mfa Authentication must be used for this request")
			}
			return "", sluice.Errorf(sluice.ErrNotImplemented, "MFA delete is not implemented by Sluice").With("Header", "x-amz-mfa")
		default:
			return "", malformedXML()
		}
	}
	if c.Status == nil || *c.Status == "" {
		return "", sluice.Errorf(errIllegalVersioningConfig, "The Versioning element must be specified")
	}
	switch *c.Status {
	case sluice.VersioningEnabled, sluice.VersioningSuspended:
		return *c.Status, nil
	}
	return "", malformedXML()
}

// putBucketVersioning is PutBucketVersioning. Suspending a bucket that
// replicates is refused, as S3 refuses it: replication needs every write
// to keep its own version.
func (s *Server) putBucketVersioning(w http.ResponseWriter, r *http.Request, bucket, _ string) error {
	if _, err := s.store.Bucket(r.Context(), bucket); err != nil {
		return storeErr(err, bucket, "")
	}
	body, err := readCheckedBody(r, sluice.MaxXMLBody)
	if err != nil {
		return err
	}
	state, err := parseVersioning(body, r.Header.Get("X-Amz-Mfa"))
	if err != nil {
		return err
	}
	if state == sluice.VersioningSuspended {
		doc, err := s.store.BucketConfig(r.Context(), bucket, sluice.ConfigReplication)
		if err != nil {
			return storeErr(err, bucket, "")
		}
		if doc != nil {
			return sluice.Errorf(errInvalidBucketState, "A replication configuration is present on this bucket, so you cannot change the versioning state. To change the versioning state, first delete the replication configuration.").
				With("BucketName", bucket)
		}
	}
	if err := s.store.SetVersioning(r.Context(), bucket, state); err != nil {
		return storeErr(err, bucket, "")
	}
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusOK)
	return nil
}

// getBucketVersioning is GetBucketVersioning: an empty configuration for a
// bucket whose versioning was never enabled, its Status otherwise.
func (s *Server) getBucketVersioning(w http.ResponseWriter, r *http.Request, bucket, _ string) error {
	state, err := s.store.Versioning(r.Context(), bucket)
	if err != nil {
		return storeErr(err, bucket, "")
	}
	s.writeXML(w, r, http.StatusOK, versioningOut{Status: state})
	return nil
}

// versionQuery reads the versionId query parameter; "" when absent. S3
// refuses an empty one rather than treating it as absent.
func versionQuery(q url.Values) (string, error) {
	v, ok := q["versionId"]
	if !ok {
		return "", nil
	}
	if v[0] == "" {
		return "", invalidArgument("versionId", "", "Version id cannot be the empty string")
	}
	return v[0], nil
}

// versionErr gives a store error about one version S3's wording, and sets
// the headers S3 sends when the version asked for is a delete marker: the
// latest version of the key (NoSuchKey) or the one versionID names
// (MethodNotAllowed, whose only allowed method is DELETE).
func versionErr(h http.Header, method string, info sluice.ObjectInfo, err error, bucket, key, versionID string) error {
	switch sluice.ErrorCode(err) {
	case sluice.ErrNoSuchKey:
		if info.DeleteMarker {
			setDeleteMarker(h, info.VersionID)
		}
	case sluice.ErrMethodNotAllowed:
		if info.DeleteMarker {
			setDeleteMarker(h, info.VersionID)
			h.Set("Last-Modified", info.LastModified.UTC().Format(http.TimeFormat))
		}
		h.Set("Allow", http.MethodDelete)
		return sluice.Errorf(sluice.ErrMethodNotAllowed, "The specified method is not allowed against this resource.").
			With("Method", method).With("ResourceType", "DeleteMarker")
	case sluice.ErrNoSuchVersion:
		return sluice.Errorf(sluice.ErrNoSuchVersion, "The specified version does not exist.").
			With("Key", key).With("VersionId", versionID)
	case sluice.ErrInvalidArgument:
		if versionID != "" {
			return invalidArgument("versionId", versionID, "Invalid version id specified")
		}
	}
	return storeErr(err, bucket, key)
}

func setDeleteMarker(h http.Header, versionID string) {
	h.Set("X-Amz-Delete-Marker", "true")
	setIf(h, "X-Amz-Version-Id", versionID)
}

// headVersion is HeadVersion with versionErr's errors and headers.
func (s *Server) headVersion(w http.ResponseWriter, r *http.Request, bucket, key string) (sluice.ObjectInfo, error) {
	vid, err := versionQuery(r.URL.Query())
	if err != nil {
		return sluice.ObjectInfo{}, err
	}
	info, err := s.store.HeadVersion(r.Context(), bucket, key, vid)
	if err != nil {
		return info, versionErr(w.Header(), r.Method, info, err, bucket, key, vid)
	}
	return info, nil
}

// listVersionsResult is ListObjectVersions' document, its elements in the
// order S3 sends them.
type listVersionsResult struct {
	XMLName             xml.Name `xml:"http://s3.amazonaws.com/doc/2006-03-01/ ListVersionsResult"`
	Name                string   `xml:"Name"`
	Prefix              string   `xml:"Prefix"`
	KeyMarker           string   `xml:"KeyMarker"`
	VersionIDMarker     string   `xml:"VersionIdMarker"`
	NextKeyMarker       string   `xml:"NextKeyMarker,omitempty"`
	NextVersionIDMarker string   `xml:"NextVersionIdMarker,omitempty"`
	MaxKeys             int      `xml:"MaxKeys"`
	Delimiter           string   `xml:"Delimiter,omitempty"`
	EncodingType        string   `xml:"EncodingType,omitempty"`
	IsTruncated         bool     `xml:"IsTruncated"`
	// Entries are versionEntry and deleteMarkerEntry values in the
	// store's order: S3 interleaves them, newest first within a key.
	Entries        []any          `xml:""`
	CommonPrefixes []commonPrefix `xml:"CommonPrefixes"`
}

type versionEntry struct {
	XMLName   xml.Name `xml:"Version"`
	Key       string   `xml:"Key"`
	VersionID string   `xml:"VersionId"`
	IsLatest  bool     `xml:"IsLatest"`
	objectFields
}

type deleteMarkerEntry struct {
	XMLName      xml.Name `xml:"DeleteMarker"`
	Key          string   `xml:"Key"`
	VersionID    string   `xml:"VersionId"`
	IsLatest     bool     `xml:"IsLatest"`
	LastModified string   `xml:"LastModified"`
	Owner        *Owner   `xml:"Owner"`
}

// listVersionsParams are ListObjectVersions' query parameters.
type listVersionsParams struct {
	listParams
	keyMarker, versionIDMarker string
}

// parseListVersionsParams validates the query in the order S3 does:
// max-keys, encoding-type, then the markers (a version-id-marker needs a
// key-marker and may not be empty). Whether the version-id-marker names a
// version the store could have issued is the store's to say.
func parseListVersionsParams(q url.Values) (listVersionsParams, error) {
	lp, err := parseListParams(q)
	p := listVersionsParams{listParams: lp, keyMarker: q.Get("key-marker")}
	if err != nil {
		return p, err
	}
	if v, ok := q["version-id-marker"]; ok {
		if !q.Has("key-marker") || p.keyMarker == "" {
			return p, invalidArgument("version-id-marker", v[0], "A version-id marker cannot be specified without a key marker.")
		}
		if v[0] == "" {
			return p, invalidArgument("version-id-marker", "", "A version-id marker cannot be empty.")
		}
		p.versionIDMarker = v[0]
	}
	return p, nil
}

// listObjectVersions is ListObjectVersions (GET /bucket?versions).
func (s *Server) listObjectVersions(w http.ResponseWriter, r *http.Request, bucket, _ string) error {
	p, err := parseListVersionsParams(r.URL.Query())
	if err != nil {
		return err
	}
	var pg sluice.VersionsPage
	if p.maxKeys == 0 {
		_, err = s.store.Bucket(r.Context(), bucket)
	} else {
		pg, err = s.store.ListVersions(r.Context(), bucket, sluice.ListVersionsOptions{
			Prefix: p.prefix, Delimiter: p.delimiter, KeyMarker: p.keyMarker, VersionIDMarker: p.versionIDMarker, MaxKeys: p.maxKeys,
		})
	}
	if err != nil {
		if sluice.IsCode(err, sluice.ErrInvalidArgument) && p.versionIDMarker != "" {
			return invalidArgument("version-id-marker", p.versionIDMarker, "Invalid version id specified")
		}
		return storeErr(err, bucket, "")
	}
	res := listVersionsResult{
		Name:            bucket,
		Prefix:          p.enc(p.prefix),
		KeyMarker:       p.enc(p.keyMarker),
		VersionIDMarker: p.versionIDMarker,
		MaxKeys:         p.maxKeys,
		Delimiter:       p.enc(p.delimiter),
		IsTruncated:     pg.IsTruncated,
		Entries:         make([]any, len(pg.Versions)),
		CommonPrefixes:  p.prefixes(pg.CommonPrefixes),
	}
	if p.encode {
		res.EncodingType = "url"
	}
	if pg.IsTruncated {
		res.NextKeyMarker = p.enc(pg.NextKeyMarker)
		res.NextVersionIDMarker = pg.NextVersionIDMarker
	}
	for i, v := range pg.Versions {
		vid := v.VersionID
		if vid == "" {
			vid = sluice.NullVersionID
		}
		if v.DeleteMarker {
			res.Entries[i] = deleteMarkerEntry{
				Key: p.enc(v.Key), VersionID: vid, IsLatest: v.IsLatest,
				LastModified: isoTime(v.LastModified), Owner: accountOwner(),
			}
			continue
		}
		res.Entries[i] = versionEntry{Key: p.enc(v.Key), VersionID: vid, IsLatest: v.IsLatest, objectFields: fieldsOf(v, true)}
	}
	s.writeXML(w, r, http.StatusOK, res)
	return nil
}
