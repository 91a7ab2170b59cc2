package sluice

import "time"

// Distribution is a caching edge in front of one or more origins, as
// CloudFront models it. The cloudfront package owns the stored copy and the
// control API; the edge package serves it. Both speak these types, never the
// XML the API uses.
type Distribution struct {
	// ID is CloudFront-shaped: "E" and 13 upper-case letters and digits.
	ID  string
	ARN string
	// DomainName is "<lower-case id>.localhost"; the edge also answers to
	// the config's Aliases.
	DomainName   string
	Status       string // always DistributionDeployed: changes apply at once
	LastModified time.Time
	// ETag changes with every update (If-Match on Update and Delete).
	ETag   string
	Config DistributionConfig
	Tags   []Tag
	// AutoInvalidate turns on invalidation of cached copies when an object
	// of an S3 origin is overwritten or deleted. It is on unless the tag
	// DistributionAutoInvalidateTag says "false".
	AutoInvalidate bool
}

// Distribution status values.
const (
	DistributionDeployed   = "Deployed"
	DistributionInProgress = "InProgress"
)

// DistributionAutoInvalidateTag is the distribution tag that switches
// automatic invalidation off ("false") or on ("true", the default).
const DistributionAutoInvalidateTag = "sluice:auto-invalidate"

// DistributionConfig is the part of a distribution its owner writes.
type DistributionConfig struct {
	CallerReference   string
	Comment           string
	Enabled           bool
	Aliases           []string
	DefaultRootObject string
	PriceClass        string
	HTTPVersion       string
	IsIPV6Enabled     bool
	Origins           []Origin
	// DefaultCacheBehavior has no PathPattern; CacheBehaviors are tried in
	// order before it.
	DefaultCacheBehavior CacheBehavior
	CacheBehaviors       []CacheBehavior
	CustomErrorResponses []CustomErrorResponse
}

// Origin is where a distribution fetches what it has not cached.
type Origin struct {
	ID string
	// DomainName names an S3 origin as "<bucket>.s3.<region>.amazonaws.com",
	// "<bucket>.s3.amazonaws.com" or "<bucket>.s3.localhost"; anything else
	// with CustomOrigin set is an HTTP origin reached as host[:port].
	DomainName    string
	OriginPath    string
	CustomHeaders []OriginHeader
	// S3 is set for an S3 origin (OriginAccessIdentity may be empty).
	S3 *S3OriginConfig
	// Custom is set for an HTTP origin.
	Custom *CustomOriginConfig
	// OriginAccessControlID records an origin access control; the edge
	// reads S3 origins in-process whatever it says.
	OriginAccessControlID string
	ConnectionAttempts    int
	ConnectionTimeout     int // seconds
}

// OriginHeader is a header the edge adds to every request to an origin.
type OriginHeader struct {
	Name  string
	Value string
}

// S3OriginConfig marks an S3 origin.
type S3OriginConfig struct {
	OriginAccessIdentity string // "origin-access-identity/cloudfront/ID" or ""
}

// CustomOriginConfig marks an HTTP origin.
type CustomOriginConfig struct {
	HTTPPort               int
	HTTPSPort              int
	OriginProtocolPolicy   string // http-only, https-only, match-viewer
	OriginReadTimeout      int    // seconds
	OriginKeepaliveTimeout int    // seconds
}

// CacheBehavior says how requests matching PathPattern are cached and which
// functions run for them.
type CacheBehavior struct {
	// PathPattern is empty for the default behaviour; '*' matches any run of
	// characters and '?' exactly one, case-sensitively, as CloudFront does.
	PathPattern          string
	TargetOriginID       string
	ViewerProtocolPolicy string // recorded; the edge speaks plain HTTP
	AllowedMethods       []string
	CachedMethods        []string
	Compress             bool
	// TTLs in seconds. DefaultTTL applies when the origin sends no
	// Cache-Control max-age/s-maxage or Expires; MinTTL and MaxTTL bound it.
	MinTTL     int64
	DefaultTTL int64
	MaxTTL     int64
	// QueryString forwards the query string to the origin; the cache key
	// then includes QueryStringCacheKeys only, or every parameter when
	// QueryStringCacheKeys is empty.
	QueryString          bool
	QueryStringCacheKeys []string
	// ForwardHeaders are request headers forwarded to the origin and part of
	// the cache key ("*" means all, and disables caching).
	ForwardHeaders          []string
	FunctionAssociations    []FunctionAssociation
	CachePolicyID           string // recorded
	OriginRequestPolicyID   string // recorded
	ResponseHeadersPolicyID string // recorded
}

// FunctionAssociation attaches a function to one of the four hook points.
type FunctionAssociation struct {
	// EventType is viewer-request, origin-request, origin-response or
	// viewer-response.
	EventType string
	// FunctionARN names a published version:
	// arn:aws:lambda:REGION:ACCOUNT:function:NAME:VERSION.
	FunctionARN string
	IncludeBody bool
}

// CustomErrorResponse replaces an origin error for viewers.
type CustomErrorResponse struct {
	ErrorCode          int
	ResponsePagePath   string
	ResponseCode       int // 0 keeps the origin's status
	ErrorCachingMinTTL int64
}

// Invalidation is a request to drop cached copies of paths before they expire.
type Invalidation struct {
	ID              string
	DistributionID  string
	Status          string // InvalidationInProgress or InvalidationCompleted
	CreateTime      time.Time
	CallerReference string
	// Paths start with '/'; a trailing '*' matches every path with that
	// prefix (and every query-string variant), as on CloudFront.
	Paths []string
}

// Invalidation status values.
const (
	InvalidationInProgress = "InProgress"
	InvalidationCompleted  = "Completed"
)
