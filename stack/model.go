package stack

import "github.com/sluicehq/sluice"

// Stack is a loaded template with every intrinsic resolved, Globals merged,
// Conditions applied and SAM's implicit resources made explicit. Values that
// only exist once the stack is applied (a distribution's Id, a published
// version's ARN) appear as deferred tokens (see Deferred) that Apply
// replaces.
type Stack struct {
	Name   string
	Region string
	// File is the template's path; code directories are relative to it.
	File          string
	Buckets       []Bucket
	Functions     []Function
	Versions      []Version
	HTTPAPIs      []HTTPAPI
	Distributions []Distribution
	// OriginAccessControls and OriginAccessIdentities are created before
	// the distributions that name them.
	OriginAccessControls   []OriginAccessControl
	OriginAccessIdentities []OriginAccessIdentity
	BucketPolicies         []BucketPolicy
	Permissions            []Permission
	Outputs                []Output
	// EdgeHost is host:port of the local edge, for output URLs.
	EdgeHost string
	// Warnings name everything the template asks for that Sluice does not
	// do (unsupported resource types, ignored properties).
	Warnings []string
	// Notes are things done differently from AWS on purpose that need no
	// change to the template (resource policies recorded, not enforced).
	Notes []string
}

// Bucket is an AWS::S3::Bucket.
type Bucket struct {
	LogicalID string
	Name      string
	Tags      []sluice.Tag
	// Notifications are the bucket's Lambda notification rules: its own
	// NotificationConfiguration and the S3 events of functions naming it.
	Notifications []Notification
	// Webhooks are the bucket's WebhookConfigurations, the Sluice
	// extension that POSTs the same records to an HTTP endpoint.
	Webhooks []Webhook
	// Versioning is the VersioningConfiguration Status, "Enabled" or
	// "Suspended"; "" when the template sets none.
	Versioning  string `json:",omitempty"`
	Replication *Replication
}

// Notification is one LambdaFunctionConfiguration of a bucket.
type Notification struct {
	ID          string
	FunctionARN string
	Events      []string
	Prefix      string
	Suffix      string
}

// Webhook is one WebhookConfiguration of a bucket. Events, Prefix and
// Suffix mean what they mean in a Notification.
type Webhook struct {
	ID  string
	URL string
	// Secret is the HMAC-SHA256 key deliveries are signed with ("" for
	// unsigned). It is left out of the model's JSON, which is what gets
	// printed and compared; Apply hashes it into the bucket's state.
	Secret    string `json:"-"`
	BatchSize int    // 1 to notify.MaxWebhookBatch
	Events    []string
	Prefix    string
	Suffix    string
}

// Replication is a bucket's ReplicationConfiguration.
type Replication struct {
	Role  string
	Rules []ReplicationRule
}

// ReplicationRule is one rule of a replication configuration.
type ReplicationRule struct {
	ID       string
	Status   string // Enabled or Disabled
	Priority int
	// Filter: a prefix and tags (all must match). UseFilter is false for
	// the legacy rule form with a top-level Prefix.
	UseFilter    bool
	Prefix       string
	Tags         []sluice.Tag
	Destination  string // bucket ARN
	StorageClass string
	// DeleteMarkerReplication is "Enabled" or "Disabled" ("" = unset).
	DeleteMarkerReplication string
}

// Function is an AWS::Serverless::Function or AWS::Lambda::Function.
type Function struct {
	LogicalID     string
	Name          string
	Runtime       string
	Handler       string
	Code          Code
	Description   string
	Timeout       int // seconds
	MemorySize    int // MB
	Environment   map[string]string
	Architectures []string
	Role          string
	// Policies are recorded by name (a managed policy, a SAM policy
	// template, or "inline" for a policy document); Sluice grants every
	// function its role's credentials.
	Policies            []string
	ReservedConcurrency *int
	// AutoPublishAlias makes Apply publish a version when the code or
	// configuration changed and point this alias at it.
	AutoPublishAlias  string
	EventInvokeConfig *EventInvokeConfig
	Tags              map[string]string
}

// ARN is the function's unqualified ARN.
func (f Function) ARN(region string) string { return functionARN(region, f.Name) }

// Code says where a function's code comes from; exactly one is set.
type Code struct {
	// Dir is an absolute local directory, served as hot-reload code: edits
	// apply on the next invocation with no rebuild or re-apply.
	Dir string
	// Zip is an absolute path to a local zip file.
	Zip string
	// Inline is source text (InlineCode, Code.ZipFile), installed as
	// index.py / index.js by runtime as CloudFormation does.
	Inline string
	// S3Bucket/S3Key name a zip in a Sluice bucket.
	S3Bucket        string
	S3Key           string
	S3ObjectVersion string
}

// EventInvokeConfig is a function's asynchronous invocation settings.
type EventInvokeConfig struct {
	MaximumRetryAttempts     *int
	MaximumEventAgeInSeconds *int
	OnSuccess                string // destination ARN
	OnFailure                string
}

// Version is an AWS::Lambda::Version: a version published from Function at
// apply time.
type Version struct {
	LogicalID   string
	Function    string // function name
	Description string
}

// HTTPAPI is an AWS::Serverless::HttpApi (explicit, or SAM's implicit
// ServerlessHttpApi) with the routes of the functions' HttpApi events.
type HTTPAPI struct {
	LogicalID string
	// ID is stable for a stack and logical id, so URLs survive restarts.
	ID        string
	StageName string
	CORS      *CORS
	Routes    []Route
	// Endpoint is the local URL the API is served at.
	Endpoint string
}

// Route sends requests matching Method and Path to a function. Path
// "$default" (Method "") is the catch-all route.
type Route struct {
	Method      string // GET, POST, ... or ANY
	Path        string
	Function    string // function name
	FunctionARN string
	// PayloadFormatVersion is "2.0" (the default) or "1.0".
	PayloadFormatVersion string
	TimeoutMillis        int
}

// RouteKey is API Gateway's "METHOD /path" or "$default".
func (r Route) RouteKey() string {
	if r.Path == "$default" {
		return "$default"
	}
	return r.Method + " " + r.Path
}

// CORS is an HTTP API's CorsConfiguration.
type CORS struct {
	AllowOrigins     []string
	AllowMethods     []string
	AllowHeaders     []string
	ExposeHeaders    []string
	AllowCredentials bool
	MaxAge           int
}

// Distribution is an AWS::CloudFront::Distribution. CallerReference is set
// from the stack and logical id.
type Distribution struct {
	LogicalID string
	sluice.DistributionConfig
	Tags []sluice.Tag
}

// BucketPolicy is an AWS::S3::BucketPolicy. Document is the policy as
// JSON; it may hold deferred tokens (a distribution's Id in a SourceArn
// condition), so it is put after the distributions.
type BucketPolicy struct {
	LogicalID string
	Bucket    string
	Document  string
}

// OriginAccessControl is an AWS::CloudFront::OriginAccessControl. Its Id,
// assigned by CloudFront, is what Ref and GetAtt Id give.
type OriginAccessControl struct {
	LogicalID       string
	Name            string
	Description     string
	OriginType      string
	SigningBehavior string
	SigningProtocol string
}

// OriginAccessIdentity is an AWS::CloudFront::CloudFrontOriginAccessIdentity.
// CallerReference is set from the stack and logical id.
type OriginAccessIdentity struct {
	LogicalID       string
	Comment         string
	CallerReference string
}

// Permission is an AWS::Lambda::Permission (or one SAM implies). Sluice
// records permissions; invocations are authorised by SigV4 credentials.
type Permission struct {
	LogicalID     string
	FunctionName  string
	Action        string
	Principal     string
	SourceARN     string
	SourceAccount string
}

// Output is one entry of the Outputs section, resolved to local URLs.
type Output struct {
	Name        string
	Description string
	Value       string
	ExportName  string
}
