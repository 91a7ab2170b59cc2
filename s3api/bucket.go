package s3api

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/policy"
)

type listAllMyBucketsResult struct {
	XMLName           xml.Name      `xml:"http://s3.amazonaws.com/doc/2006-03-01/ ListAllMyBucketsResult"`
	Buckets           []bucketEntry `xml:"Buckets>Bucket"`
	Owner             *Owner        `xml:"Owner"`
	ContinuationToken string        `xml:"ContinuationToken,omitempty"`
	Prefix            string        `xml:"Prefix,omitempty"`
}

type bucketEntry struct {
	Name         string `xml:"Name"`
	CreationDate string `xml:"CreationDate"`
	BucketRegion string `xml:"BucketRegion"`
}

// listBuckets is ListBuckets: every bucket in name order, optionally paged
// with max-buckets / continuation-token and filtered by prefix and
// bucket-region.
func (s *Server) listBuckets(w http.ResponseWriter, r *http.Request, _, _ string) error {
	q := r.URL.Query()
	max := 10000
	if v, ok := q["max-buckets"]; ok {
		n, err := strconv.Atoi(v[0])
		if err != nil || n < 1 || n > 10000 {
			return invalidArgument("max-buckets", v[0], "Argument max-buckets must be an integer between 1 and 10000")
		}
		max = n
	}
	after := ""
	if v := q.Get("continuation-token"); v != "" {
		b, err := base64.RawURLEncoding.DecodeString(v)
		if err != nil {
			return invalidArgument("continuation-token", v, "The continuation token provided is incorrect")
		}
		after = string(b)
	}
	prefix, region := q.Get("prefix"), q.Get("bucket-region")
	buckets, err := s.store.ListBuckets(r.Context())
	if err != nil {
		return err
	}
	slices.SortFunc(buckets, func(a, b sluice.Bucket) int { return strings.Compare(a.Name, b.Name) })
	res := listAllMyBucketsResult{Owner: accountOwner(), Prefix: prefix, Buckets: []bucketEntry{}}
	for _, b := range buckets {
		if b.Name <= after || !strings.HasPrefix(b.Name, prefix) || region != "" && b.Region != region {
			continue
		}
		if len(res.Buckets) == max {
			res.ContinuationToken = base64.RawURLEncoding.EncodeToString([]byte(res.Buckets[max-1].Name))
			break
		}
		res.Buckets = append(res.Buckets, bucketEntry{Name: b.Name, CreationDate: isoTime(b.Created), BucketRegion: b.Region})
	}
	s.writeXML(w, r, http.StatusOK, res)
	return nil
}

type createBucketConfiguration struct {
	XMLName            xml.Name `xml:"CreateBucketConfiguration"`
	LocationConstraint string   `xml:"LocationConstraint"`
}

// createBucket is CreateBucket. The bucket's region is the
// LocationConstraint, or the configured default region when none is given;
// S3 refuses an explicit "us-east-1" and so does Sluice.
func (s *Server) createBucket(w http.ResponseWriter, r *http.Request, bucket, _ string) error {
	if !validBucketName(bucket) {
		return sluice.Errorf(sluice.ErrInvalidBucketName, "The specified bucket is not valid.").With("BucketName", bucket)
	}
	if acl := r.Header.Get("X-Amz-Acl"); acl != "" && acl != "private" && acl != "bucket-owner-full-control" {
		return sluice.Errorf(errInvalidBucketACLWithOwnership, "Bucket cannot have ACLs set with ObjectOwnership's BucketOwnerEnforced setting")
	}
	if hasGrantHeaders(r.Header) {
		return sluice.Errorf(errInvalidBucketACLWithOwnership, "Bucket cannot have ACLs set with ObjectOwnership's BucketOwnerEnforced setting")
	}
	if v := r.Header.Get("X-Amz-Bucket-Object-Lock-Enabled"); strings.EqualFold(v, "true") {
		return sluice.Errorf(sluice.ErrNotImplemented, "CreateBucket with object lock is not implemented by Sluice").With("Header", "x-amz-bucket-object-lock-enabled")
	}
	body, err := readBody(r, sluice.MaxXMLBody)
	if err != nil {
		return err
	}
	region := s.cfg.Region
	if len(strings.TrimSpace(string(body))) > 0 {
		var c createBucketConfiguration
		if err := unmarshalXML(body, &c); err != nil {
			return err
		}
		lc := strings.TrimSpace(c.LocationConstraint)
		switch {
		case lc == "":
		case lc == "EU":
			region = "eu-west-1"
		case lc == sluice.DefaultRegion || !validRegion(lc):
			return sluice.Errorf(sluice.ErrInvalidLocationConstr, "The specified location-constraint is not valid").
				With("LocationConstraint", lc)
		default:
			region = lc
		}
	}
	err = s.store.CreateBucket(r.Context(), sluice.Bucket{Name: bucket, Region: region})
	if err != nil {
		e, ok := asError(err)
		if !ok || (e.Code != sluice.ErrBucketAlreadyOwnedByYou && e.Code != sluice.ErrBucketAlreadyExists) {
			return err
		}
		// S3's legacy rule: re-creating a bucket you own in us-east-1 succeeds;
		// in every other region it is BucketAlreadyOwnedByYou.
		existing, berr := s.store.Bucket(r.Context(), bucket)
		if e.Code != sluice.ErrBucketAlreadyOwnedByYou || berr != nil || region != sluice.DefaultRegion || existing.Region != sluice.DefaultRegion {
			return bucketError(e.Code, e.Message, bucket)
		}
	}
	w.Header().Set("Location", "/"+bucket)
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusOK)
	return nil
}

func hasGrantHeaders(h http.Header) bool {
	for _, k := range []string{"X-Amz-Grant-Full-Control", "X-Amz-Grant-Read", "X-Amz-Grant-Read-Acp", "X-Amz-Grant-Write", "X-Amz-Grant-Write-Acp"} {
		if h.Get(k) != "" {
			return true
		}
	}
	return false
}

// bucketError gives store errors about a bucket S3's message and the
// BucketName field.
func bucketError(code sluice.Code, msg, bucket string) error {
	switch code {
	case sluice.ErrBucketAlreadyOwnedByYou:
		msg = "Your previous request to create the named bucket succeeded and you already own it."
	case sluice.ErrBucketAlreadyExists:
		msg = "The requested bucket name is not available. The bucket namespace is shared by all users of the system. Please select a different name and try again."
	case sluice.ErrNoSuchBucket:
		msg = "The specified bucket does not exist"
	case sluice.ErrBucketNotEmpty:
		msg = "The bucket you tried to delete is not empty"
	}
	return sluice.Errorf(code, "%s", msg).With("BucketName", bucket)
}

// storeErr rewrites the store's bucket and key errors into S3's wording
// and fields; anything else passes through.
func storeErr(err error, bucket, key string) error {
	e, ok := asError(err)
	if !ok {
		return err
	}
	switch e.Code {
	case sluice.ErrNoSuchBucket, sluice.ErrBucketNotEmpty:
		return bucketError(e.Code, e.Message, bucket)
	case sluice.ErrNoSuchKey:
		return sluice.Errorf(sluice.ErrNoSuchKey, "The specified key does not exist.").With("Key", key)
	}
	return err
}

func (s *Server) headBucket(w http.ResponseWriter, r *http.Request, bucket, _ string) error {
	b, err := s.store.Bucket(r.Context(), bucket)
	if err != nil {
		return storeErr(err, bucket, "")
	}
	w.Header().Set("X-Amz-Bucket-Region", b.Region)
	w.Header().Set("X-Amz-Access-Point-Alias", "false")
	w.WriteHeader(http.StatusOK)
	return nil
}

func (s *Server) deleteBucket(w http.ResponseWriter, r *http.Request, bucket, _ string) error {
	if err := s.store.DeleteBucket(r.Context(), bucket); err != nil {
		return storeErr(err, bucket, "")
	}
	s.policies.forget(bucket)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

type locationConstraint struct {
	XMLName xml.Name `xml:"http://s3.amazonaws.com/doc/2006-03-01/ LocationConstraint"`
	Region  string   `xml:",chardata"`
}

// getBucketLocation answers an empty LocationConstraint for us-east-1, as S3.
func (s *Server) getBucketLocation(w http.ResponseWriter, r *http.Request, bucket, _ string) error {
	b, err := s.store.Bucket(r.Context(), bucket)
	if err != nil {
		return storeErr(err, bucket, "")
	}
	lc := locationConstraint{Region: b.Region}
	if b.Region == sluice.DefaultRegion {
		lc.Region = ""
	}
	s.writeXML(w, r, http.StatusOK, lc)
	return nil
}

// ownerACL is the only ACL Sluice has: the owner with FULL_CONTROL, which is
// what S3 reports under BucketOwnerEnforced object ownership.
func ownerACL() []byte {
	return []byte(xml.Header + `<AccessControlPolicy xmlns="` + s3NS + `"><Owner><ID>` + ownerID + `</ID><DisplayName>` + ownerDisplayName +
		`</DisplayName></Owner><AccessControlList><Grant><Grantee xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="CanonicalUser"><ID>` +
		ownerID + `</ID><DisplayName>` + ownerDisplayName + `</DisplayName></Grantee><Permission>FULL_CONTROL</Permission></Grant></AccessControlList></AccessControlPolicy>`)
}

func (s *Server) getBucketACL(w http.ResponseWriter, r *http.Request, bucket, _ string) error {
	if _, err := s.store.Bucket(r.Context(), bucket); err != nil {
		return storeErr(err, bucket, "")
	}
	writeRawXML(w, http.StatusOK, ownerACL())
	return nil
}

func (s *Server) putBucketACL(w http.ResponseWriter, r *http.Request, bucket, _ string) error {
	if _, err := s.store.Bucket(r.Context(), bucket); err != nil {
		return storeErr(err, bucket, "")
	}
	if err := checkPrivateACL(r); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

// accessControlPolicy is the body of PutBucketAcl / PutObjectAcl.
type accessControlPolicy struct {
	XMLName xml.Name `xml:"AccessControlPolicy"`
	Grants  []struct {
		Grantee struct {
			ID  string `xml:"ID"`
			URI string `xml:"URI"`
		} `xml:"Grantee"`
		Permission string `xml:"Permission"`
	} `xml:"AccessControlList>Grant"`
}

// checkPrivateACL accepts what an ACL request may say under
// BucketOwnerEnforced: the canned private ACL, or a body granting only the
// owner FULL_CONTROL. Anything else is refused as S3 refuses it.
func checkPrivateACL(r *http.Request) error {
	if acl := r.Header.Get("X-Amz-Acl"); acl != "" && acl != "private" && acl != "bucket-owner-full-control" {
		return sluice.Errorf(errAccessControlListNotSupported, "The bucket does not allow ACLs")
	}
	if hasGrantHeaders(r.Header) {
		return sluice.Errorf(errAccessControlListNotSupported, "The bucket does not allow ACLs")
	}
	body, err := readBody(r, sluice.MaxXMLBody)
	if err != nil {
		return err
	}
	if len(strings.TrimSpace(string(body))) == 0 {
		return nil
	}
	var acp accessControlPolicy
	if err := unmarshalXML(body, &acp); err != nil {
		return err
	}
	for _, g := range acp.Grants {
		if g.Grantee.ID != ownerID || g.Permission != "FULL_CONTROL" {
			return sluice.Errorf(errAccessControlListNotSupported, "The bucket does not allow ACLs")
		}
	}
	return nil
}

func (s *Server) getBucketPolicy(w http.ResponseWriter, r *http.Request, bucket, _ string) error {
	doc, err := s.store.BucketConfig(r.Context(), bucket, sluice.ConfigPolicy)
	if err != nil {
		return storeErr(err, bucket, "")
	}
	if doc == nil {
		return sluice.Errorf(sluice.ErrNoSuchBucketPolicy, "The bucket policy does not exist").With("BucketName", bucket)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(doc)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(doc)
	return nil
}

func (s *Server) putBucketPolicy(w http.ResponseWriter, r *http.Request, bucket, _ string) error {
	if _, err := s.store.Bucket(r.Context(), bucket); err != nil {
		return storeErr(err, bucket, "")
	}
	doc, err := readBody(r, sluice.MaxBucketPolicy)
	if sluice.IsCode(err, sluice.ErrMaxMessageLengthExceeds) {
		return sluice.Errorf(sluice.ErrMalformedPolicy, "Policy exceeds the maximum allowed document size.")
	}
	if err != nil {
		return err
	}
	if err := verifyBody(r, doc); err != nil {
		return err
	}
	if _, err := policy.Parse(doc, bucket); err != nil {
		return err
	}
	if err := s.store.PutBucketConfig(r.Context(), bucket, sluice.ConfigPolicy, doc); err != nil {
		return storeErr(err, bucket, "")
	}
	s.policies.forget(bucket)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) deleteBucketPolicy(w http.ResponseWriter, r *http.Request, bucket, _ string) error {
	if _, err := s.store.Bucket(r.Context(), bucket); err != nil {
		return storeErr(err, bucket, "")
	}
	if err := s.store.PutBucketConfig(r.Context(), bucket, sluice.ConfigPolicy, nil); err != nil {
		return storeErr(err, bucket, "")
	}
	s.policies.forget(bucket)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// bucketTagging is the Tagging document of PutBucketTagging.
type bucketTagging struct {
	XMLName xml.Name    `xml:"Tagging"`
	TagSet  []bucketTag `xml:"TagSet>Tag"`
}

type bucketTag struct {
	Key   string `xml:"Key"`
	Value string `xml:"Value"`
}

type bucketTaggingOut struct {
	XMLName xml.Name    `xml:"http://s3.amazonaws.com/doc/2006-03-01/ Tagging"`
	TagSet  []bucketTag `xml:"TagSet>Tag"`
}

// Bucket tag sets are stored (sluice.ConfigTagging) as a JSON array of
// {"Key": ..., "Value": ...} objects in the caller's order; BucketTags is
// the reader other packages use.

// BucketTags returns the bucket's tag set in the order it was put, or nil
// when the bucket has none. A missing bucket is NoSuchBucket.
func BucketTags(ctx context.Context, store sluice.Store, bucket string) ([]sluice.Tag, error) {
	doc, err := store.BucketConfig(ctx, bucket, sluice.ConfigTagging)
	if err != nil {
		return nil, err
	}
	if doc == nil {
		return nil, nil
	}
	var tags []sluice.Tag
	if err := json.Unmarshal(doc, &tags); err != nil {
		return nil, fmt.Errorf("decode tag set of bucket %q: %w", bucket, err)
	}
	return tags, nil
}

func (s *Server) putBucketTagging(w http.ResponseWriter, r *http.Request, bucket, _ string) error {
	if _, err := s.store.Bucket(r.Context(), bucket); err != nil {
		return storeErr(err, bucket, "")
	}
	body, err := readIntegrityBody(r, sluice.MaxXMLBody)
	if err != nil {
		return err
	}
	var t bucketTagging
	if err := unmarshalXML(body, &t); err != nil {
		return err
	}
	tags := make([]sluice.Tag, len(t.TagSet))
	for i, x := range t.TagSet {
		tags[i] = sluice.Tag{Key: x.Key, Value: x.Value}
	}
	if err := validateTags(tags, sluice.MaxBucketTags); err != nil {
		return err
	}
	doc, err := json.Marshal(tags)
	if err != nil {
		return fmt.Errorf("encode tag set: %w", err)
	}
	if err := s.store.PutBucketConfig(r.Context(), bucket, sluice.ConfigTagging, doc); err != nil {
		return storeErr(err, bucket, "")
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) getBucketTagging(w http.ResponseWriter, r *http.Request, bucket, _ string) error {
	tags, err := BucketTags(r.Context(), s.store, bucket)
	if err != nil {
		return storeErr(err, bucket, "")
	}
	if tags == nil {
		return sluice.Errorf(sluice.ErrNoSuchTagSet, "The TagSet does not exist").With("BucketName", bucket)
	}
	out := bucketTaggingOut{TagSet: make([]bucketTag, len(tags))}
	for i, t := range tags {
		out.TagSet[i] = bucketTag(t)
	}
	s.writeXML(w, r, http.StatusOK, out)
	return nil
}

func (s *Server) deleteBucketTagging(w http.ResponseWriter, r *http.Request, bucket, _ string) error {
	if _, err := s.store.Bucket(r.Context(), bucket); err != nil {
		return storeErr(err, bucket, "")
	}
	if err := s.store.PutBucketConfig(r.Context(), bucket, sluice.ConfigTagging, nil); err != nil {
		return storeErr(err, bucket, "")
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
