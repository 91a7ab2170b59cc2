// Package sluice is the shared vocabulary of Sluice: buckets, objects,
// uploads, events, request identity and the domain errors that every other
// package speaks. It holds no I/O and no protocol code; packages named for
// what they adapt (fsstore, s3api, sigv4, ...) implement or consume the
// interfaces declared here, and cmd/sluice wires them together.
package sluice

import "context"

// Contract values from MISSION.md.
const (
	// AccountID is the account every resource belongs to.
	AccountID = "000000000000"
	// DefaultRegion is the region used when none is configured or asked for.
	DefaultRegion = "us-east-1"
	// DefaultAccessKey and DefaultSecretKey are the development credentials.
	// They are refused on a non-loopback listen address.
	DefaultAccessKey = "test"
	DefaultSecretKey = "test"
)

// Limits from the AWS services Sluice stands in for.
const (
	// MaxKeyLength is the longest object key, in bytes of UTF-8.
	MaxKeyLength = 1024
	// MaxPutSize is the largest single PUT (and the largest part).
	MaxPutSize = 5 << 30
	// MaxObjectSize is the largest object a multipart upload can build.
	MaxObjectSize = 5 << 40
	// MinPartSize is the smallest part allowed in a multipart upload, except the last.
	MinPartSize = 5 << 20
	// MaxParts is the most parts an upload can have.
	MaxParts = 10000
	// MaxUserMetadataSize bounds x-amz-meta-* (names plus values), as S3 does.
	MaxUserMetadataSize = 2 << 10
	// MaxObjectTags and the tag length limits are S3's.
	MaxObjectTags      = 10
	MaxBucketTags      = 50
	MaxTagKeyLength    = 128
	MaxTagValueLength  = 256
	MaxBucketPolicy    = 20 << 10
	MaxDeleteObjects   = 1000
	MaxListKeys        = 1000
	MaxXMLBody         = 1 << 20
	MaxCompleteXMLBody = 2 << 20
)

// RequestInfo describes the request that caused a store operation. The front
// door puts it in the context; stores copy it into the events they record so
// that an event names who did what, from where.
type RequestInfo struct {
	// ID is the request id returned to the client (x-amz-request-id).
	ID string
	// HostID is the extended id (x-amz-id-2).
	HostID string
	// SourceIP is the client's address without the port.
	SourceIP string
	// Principal is the caller: an access key id, or "" when anonymous.
	Principal string
	// Region is the region named in the request's credential scope.
	Region string
}

type requestInfoKey struct{}

// WithRequestInfo returns ctx carrying ri.
func WithRequestInfo(ctx context.Context, ri RequestInfo) context.Context {
	return context.WithValue(ctx, requestInfoKey{}, ri)
}

// RequestInfoFrom returns the RequestInfo in ctx, or the zero value.
func RequestInfoFrom(ctx context.Context) RequestInfo {
	ri, _ := ctx.Value(requestInfoKey{}).(RequestInfo)
	return ri
}

// Identity is the verified caller of a request.
type Identity struct {
	// AccessKey is the access key id that signed the request; "" when anonymous.
	AccessKey string
	// Anonymous is true when the request carried no signature at all.
	Anonymous bool
	// Service and Region come from the credential scope ("s3", "us-east-1").
	Service string
	Region  string
}

// PrincipalARN is the ARN the caller is known by in policies.
func (id Identity) PrincipalARN() string {
	if id.Anonymous {
		return "*"
	}
	return "arn:aws:iam::" + AccountID + ":root"
}

type identityKey struct{}

// WithIdentity returns ctx carrying id.
func WithIdentity(ctx context.Context, id Identity) context.Context {
	return context.WithValue(ctx, identityKey{}, id)
}

// IdentityFrom returns the verified identity in ctx. A context without one is
// treated as anonymous: nothing is granted by accident.
func IdentityFrom(ctx context.Context) Identity {
	id, ok := ctx.Value(identityKey{}).(Identity)
	if !ok {
		return Identity{Anonymous: true}
	}
	return id
}
