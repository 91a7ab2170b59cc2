package s3api

import (
	"bytes"
	"context"
	"encoding/xml"
	"net/http"
	"strings"

	"github.com/sluicehq/sluice"
)

// Replication configurations are stored (sluice.ConfigReplication) as the
// normalized XML document GetBucketReplication returns; the replicate package
// reads them back with BucketReplication.
//
// As on S3, a replication configuration needs versioning Enabled on the
// bucket (InvalidRequest otherwise), and versioning cannot be suspended
// while one is set (InvalidBucketState). Difference from S3: a destination
// ARN may carry a region (arn:aws:s3:eu-west-1::name), a Sluice extension
// naming a bucket in a region served by another endpoint; without one the
// destination bucket must exist here. Sluice does not ask the destination
// to be versioned.

// errReplicationNotFound is S3's code for a bucket without a configuration.
const errReplicationNotFound sluice.Code = "ReplicationConfigurationNotFoundError"

// Limits S3 applies to a replication configuration.
const (
	maxReplicationRules = 1000
	maxReplicationID    = 255
)

// ReplicationConfiguration is the document of PutBucketReplication.
type ReplicationConfiguration struct {
	XMLName xml.Name          `xml:"ReplicationConfiguration"`
	Role    string            `xml:"Role"`
	Rules   []ReplicationRule `xml:"Rule"`
}

// ReplicationRule is one Rule. Prefix is the V1 form of a rule's filter;
// a rule with a Filter is V2 and needs Priority and DeleteMarkerReplication.
type ReplicationRule struct {
	ID                      string                  `xml:"ID,omitempty"`
	Priority                *int                    `xml:"Priority,omitempty"`
	Status                  string                  `xml:"Status"`
	Prefix                  *string                 `xml:"Prefix,omitempty"`
	Filter                  *ReplicationFilter      `xml:"Filter,omitempty"`
	Destination             *ReplicationDestination `xml:"Destination,omitempty"`
	DeleteMarkerReplication *ReplicationStatusElem  `xml:"DeleteMarkerReplication,omitempty"`
}

// ReplicationFilter selects objects by prefix, one tag, or both (And).
type ReplicationFilter struct {
	Prefix *string         `xml:"Prefix,omitempty"`
	Tag    *bucketTag      `xml:"Tag,omitempty"`
	And    *ReplicationAnd `xml:"And,omitempty"`
}

// ReplicationAnd combines a prefix and tags; every one must match.
type ReplicationAnd struct {
	Prefix *string     `xml:"Prefix,omitempty"`
	Tags   []bucketTag `xml:"Tag"`
}

// ReplicationDestination names the target bucket by ARN.
type ReplicationDestination struct {
	Bucket       string `xml:"Bucket"`
	StorageClass string `xml:"StorageClass,omitempty"`
	Account      string `xml:"Account,omitempty"`
}

// ReplicationStatusElem is an element holding only a Status.
type ReplicationStatusElem struct {
	Status string `xml:"Status"`
}

// Enabled reports whether the rule is in force.
func (r ReplicationRule) Enabled() bool { return r.Status == "Enabled" }

// ReplicatesDeletes reports whether deletes are mirrored to the destination.
func (r ReplicationRule) ReplicatesDeletes() bool {
	return r.DeleteMarkerReplication != nil && r.DeleteMarkerReplication.Status == "Enabled"
}

// DestinationBucket returns the destination bucket's name and the region
// its ARN names ("" when none).
func (r ReplicationRule) DestinationBucket() (bucket, region string) {
	if r.Destination == nil {
		return "", ""
	}
	bucket, region, _ = parseBucketARN(r.Destination.Bucket)
	return bucket, region
}

// Matches reports whether the rule's filter selects an object. Tags are not
// known for a deleted object: pass nil and a tag filter does not match.
func (r ReplicationRule) Matches(key string, tags []sluice.Tag) bool {
	has := func(t bucketTag) bool {
		for _, x := range tags {
			if x.Key == t.Key && x.Value == t.Value {
				return true
			}
		}
		return false
	}
	switch f := r.Filter; {
	case f == nil:
		return r.Prefix == nil || strings.HasPrefix(key, *r.Prefix)
	case f.And != nil:
		if f.And.Prefix != nil && !strings.HasPrefix(key, *f.And.Prefix) {
			return false
		}
		for _, t := range f.And.Tags {
			if !has(t) {
				return false
			}
		}
		return true
	case f.Tag != nil:
		return has(*f.Tag)
	case f.Prefix != nil:
		return strings.HasPrefix(key, *f.Prefix)
	}
	return true
}

// hasTagFilter reports whether the rule filters on tags.
func (r ReplicationRule) hasTagFilter() bool {
	f := r.Filter
	return f != nil && (f.Tag != nil || f.And != nil && len(f.And.Tags) > 0)
}

// parseBucketARN splits arn:aws:s3:REGION::NAME (REGION usually empty).
func parseBucketARN(arn string) (bucket, region string, ok bool) {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[1] != "aws" || parts[2] != "s3" || parts[4] != "" {
		return "", "", false
	}
	if parts[5] == "" || strings.Contains(parts[5], "/") {
		return "", "", false
	}
	if parts[3] != "" && !validRegion(parts[3]) {
		return "", "", false
	}
	return parts[5], parts[3], true
}

// ParseReplicationConfiguration decodes and validates a replication
// configuration as S3 does, returning AWS-coded errors.
func ParseReplicationConfiguration(doc []byte) (*ReplicationConfiguration, error) {
	var c ReplicationConfiguration
	if err := unmarshalXML(doc, &c); err != nil {
		return nil, err
	}
	if c.XMLName.Local != "ReplicationConfiguration" || c.Role == "" || len(c.Rules) == 0 {
		return nil, malformedXML()
	}
	if len(c.Rules) > maxReplicationRules {
		return nil, sluice.Errorf(sluice.ErrInvalidRequest, "Number of rules in the replication configuration exceeds the maximum allowed limit of %d.", maxReplicationRules)
	}
	ids := map[string]bool{}
	priorities := map[int]bool{}
	for i := range c.Rules {
		r := &c.Rules[i]
		switch r.Status {
		case "Enabled", "Disabled":
		case "":
			return nil, sluice.Errorf(sluice.ErrInvalidArgument, "Rule status must be specified.")
		default:
			return nil, malformedXML()
		}
		if len(r.ID) > maxReplicationID {
			return nil, sluice.Errorf(sluice.ErrInvalidArgument, "The ID must be less than or equal to %d characters in length.", maxReplicationID)
		}
		if r.ID != "" {
			if ids[r.ID] {
				return nil, sluice.Errorf(sluice.ErrInvalidArgument, "Rule Id must be unique.").With("ArgumentName", "ID").With("ArgumentValue", r.ID)
			}
			ids[r.ID] = true
		}
		if r.Destination == nil || r.Destination.Bucket == "" {
			return nil, sluice.Errorf(sluice.ErrInvalidArgument, "Destination bucket must be specified.")
		}
		if _, _, ok := parseBucketARN(r.Destination.Bucket); !ok {
			return nil, sluice.Errorf(sluice.ErrInvalidArgument, "Invalid bucket ARN.").With("ArgumentName", "Bucket").With("ArgumentValue", r.Destination.Bucket)
		}
		if sc := r.Destination.StorageClass; sc != "" && !validStorageClass(sc) {
			return nil, sluice.Errorf(sluice.ErrInvalidStorageClass, "The storage class you specified is not valid").With("StorageClassRequested", sc)
		}
		if r.Filter != nil && r.Prefix != nil {
			return nil, sluice.Errorf(sluice.ErrInvalidArgument, "Rule can have either Prefix or Filter, not both.")
		}
		if f := r.Filter; f != nil {
			n := 0
			for _, set := range []bool{f.Prefix != nil, f.Tag != nil, f.And != nil} {
				if set {
					n++
				}
			}
			if n > 1 {
				return nil, malformedXML()
			}
			if f.And != nil && len(f.And.Tags) == 0 && f.And.Prefix == nil {
				return nil, malformedXML()
			}
			if r.Priority == nil {
				return nil, sluice.Errorf(sluice.ErrInvalidRequest, "Priority must be specified for this version of Cross Region Replication configuration schema.")
			}
			if r.DeleteMarkerReplication == nil {
				return nil, sluice.Errorf(sluice.ErrInvalidRequest, "DeleteMarkerReplication must be specified for this version of Cross Region Replication configuration schema.")
			}
		}
		if d := r.DeleteMarkerReplication; d != nil && d.Status != "Enabled" && d.Status != "Disabled" {
			return nil, malformedXML()
		}
		if r.ReplicatesDeletes() && r.hasTagFilter() {
			return nil, sluice.Errorf(sluice.ErrInvalidArgument, "Delete marker replication is not supported if any Tag filter is specified.")
		}
		if r.Priority != nil {
			if *r.Priority < 0 {
				return nil, sluice.Errorf(sluice.ErrInvalidArgument, "Priority must be a non-negative integer.")
			}
			if priorities[*r.Priority] {
				return nil, sluice.Errorf(sluice.ErrInvalidRequest, "Found overlapping priority %d; priorities must be unique.", *r.Priority)
			}
			priorities[*r.Priority] = true
		}
	}
	return &c, nil
}

// validStorageClass reports whether sc is a storage class S3 names.
func validStorageClass(sc string) bool {
	switch sc {
	case "STANDARD", "REDUCED_REDUNDANCY", "STANDARD_IA", "ONEZONE_IA", "INTELLIGENT_TIERING",
		"GLACIER", "DEEP_ARCHIVE", "OUTPOSTS", "GLACIER_IR", "SNOW", "EXPRESS_ONEZONE":
		return true
	}
	return false
}

// replicationOut is the normalized document stored and returned.
type replicationOut struct {
	XMLName xml.Name          `xml:"http://s3.amazonaws.com/doc/2006-03-01/ ReplicationConfiguration"`
	Role    string            `xml:"Role"`
	Rules   []ReplicationRule `xml:"Rule"`
}

// marshalReplication encodes c as the stored, normalized document.
func marshalReplication(c *ReplicationConfiguration) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString(xml.Header)
	if err := xml.NewEncoder(&b).Encode(replicationOut{Role: c.Role, Rules: c.Rules}); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// BucketReplication returns the bucket's replication configuration, or nil
// when it has none. A missing bucket is NoSuchBucket.
func BucketReplication(ctx context.Context, store sluice.Store, bucket string) (*ReplicationConfiguration, error) {
	doc, err := store.BucketConfig(ctx, bucket, sluice.ConfigReplication)
	if err != nil || doc == nil {
		return nil, err
	}
	return ParseReplicationConfiguration(doc)
}

// ReplicationStatusFunc reports the x-amz-replication-status of an object,
// or of the version versionID names ("" when the bucket was never
// versioned): PENDING, COMPLETED, FAILED or REPLICA, or "" when it is not
// subject to replication. etag is the object's quoted ETag, so that a
// status recorded for an older write of the key is not reported for a newer
// one. It is consulted on every GET and HEAD, so it must be cheap.
type ReplicationStatusFunc func(ctx context.Context, bucket, key, versionID, etag string) string

// WithReplicationStatus makes GET and HEAD report x-amz-replication-status
// as f says.
func WithReplicationStatus(f ReplicationStatusFunc) Option {
	return func(s *Server) { s.replStatus = f }
}

// getBucketReplication is GetBucketReplication.
func (s *Server) getBucketReplication(w http.ResponseWriter, r *http.Request, bucket, _ string) error {
	doc, err := s.store.BucketConfig(r.Context(), bucket, sluice.ConfigReplication)
	if err != nil {
		return storeErr(err, bucket, "")
	}
	if doc == nil {
		return sluice.Errorf(errReplicationNotFound, "The replication configuration was not found").With("BucketName", bucket)
	}
	writeRawXML(w, http.StatusOK, doc)
	return nil
}

// putBucketReplication is PutBucketReplication.
func (s *Server) putBucketReplication(w http.ResponseWriter, r *http.Request, bucket, _ string) error {
	state, err := s.store.Versioning(r.Context(), bucket)
	if err != nil {
		return storeErr(err, bucket, "")
	}
	if state != sluice.VersioningEnabled {
		return sluice.Errorf(sluice.ErrInvalidRequest, "Versioning must be 'Enabled' on the bucket to apply a replication configuration").
			With("BucketName", bucket)
	}
	body, err := readIntegrityBody(r, sluice.MaxXMLBody)
	if err != nil {
		return err
	}
	c, err := ParseReplicationConfiguration(body)
	if err != nil {
		return err
	}
	for _, rule := range c.Rules {
		dest, region := rule.DestinationBucket()
		if dest == bucket && region == "" {
			return sluice.Errorf(sluice.ErrInvalidRequest, "Destination bucket cannot be the same as the source bucket.")
		}
		if region != "" {
			continue
		}
		if _, err := s.store.Bucket(r.Context(), dest); err != nil {
			if sluice.IsCode(err, sluice.ErrNoSuchBucket) {
				return sluice.Errorf(sluice.ErrInvalidRequest, "Destination bucket must exist.").With("BucketName", dest)
			}
			return storeErr(err, dest, "")
		}
	}
	doc, err := marshalReplication(c)
	if err != nil {
		return sluice.Wrap(sluice.ErrInternal, err, internalMessage)
	}
	if err := s.store.PutBucketConfig(r.Context(), bucket, sluice.ConfigReplication, doc); err != nil {
		return storeErr(err, bucket, "")
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

// deleteBucketReplication is DeleteBucketReplication.
func (s *Server) deleteBucketReplication(w http.ResponseWriter, r *http.Request, bucket, _ string) error {
	if _, err := s.store.Bucket(r.Context(), bucket); err != nil {
		return storeErr(err, bucket, "")
	}
	if err := s.store.PutBucketConfig(r.Context(), bucket, sluice.ConfigReplication, nil); err != nil {
		return storeErr(err, bucket, "")
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// ReplicationStatusHeader is the header S3 reports an object's status in.
const ReplicationStatusHeader = "X-Amz-Replication-Status"
