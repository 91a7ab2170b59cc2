// Package s3api is the S3 REST protocol: it turns HTTP requests addressed
// path-style (/bucket/key) or virtual-hosted-style (bucket.localhost/key) into
// calls on a sluice.Store and renders the results, and every error, exactly as
// Amazon S3 does on the wire.
//
// The front door verifies SigV4 before a request reaches Server.ServeHTTP and
// puts the caller's sluice.Identity and sluice.RequestInfo in its context;
// this package never verifies signatures. It does authorize: anonymous
// callers need a bucket policy Allow, authenticated callers (the account
// root) are refused only by an explicit Deny.
//
// Concurrency: a Server is safe for concurrent use once built by New; it
// holds no per-request state. Its only mutable state is the cache of parsed
// bucket policies, guarded by a mutex.
package s3api

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"runtime/debug"
	"strings"

	"github.com/sluicehq/sluice"
)

// Config configures a Server.
type Config struct {
	// Region is where buckets are created when a request names none.
	Region string
	// BaseDomains are the host suffixes under which a leading label names a
	// bucket (virtual-hosted-style addressing). A Host equal to one of them,
	// or an IP address, is path-style.
	BaseDomains []string
	// MaxPutSize bounds a single PutObject body.
	MaxPutSize int64
}

// DefaultConfig returns the configuration Sluice runs with unless told otherwise.
func DefaultConfig() Config {
	return Config{
		Region:      sluice.DefaultRegion,
		BaseDomains: []string{"localhost", "s3.localhost", "s3.amazonaws.com", "localhost.localstack.cloud"},
		MaxPutSize:  sluice.MaxPutSize,
	}
}

// Validate reports the first invalid setting, naming its key.
func (c Config) Validate() error {
	if !validRegion(c.Region) {
		return fmt.Errorf("s3api: region %q is not a region name", c.Region)
	}
	for _, d := range c.BaseDomains {
		if d == "" || strings.HasPrefix(d, ".") || strings.HasSuffix(d, ".") || strings.ContainsAny(d, ":/ ") {
			return fmt.Errorf("s3api: base_domains: %q is not a host name", d)
		}
	}
	if c.MaxPutSize <= 0 || c.MaxPutSize > sluice.MaxPutSize {
		return fmt.Errorf("s3api: max_put_size %d must be between 1 and %d", c.MaxPutSize, int64(sluice.MaxPutSize))
	}
	return nil
}

// Server serves the S3 REST API over a sluice.Store.
type Server struct {
	cfg      Config
	store    sluice.Store
	log      *slog.Logger
	policies policyCache
	// notifications validates notification configurations; nil leaves
	// PutBucketNotificationConfiguration NotImplemented.
	notifications NotificationValidator
	// replStatus reports x-amz-replication-status on GET and HEAD; nil
	// reports none.
	replStatus ReplicationStatusFunc
	// postVerifier checks signed POST upload forms; nil accepts only
	// unsigned ones.
	postVerifier PostPolicyVerifier
}

// Option attaches an optional collaborator to a Server, such as the
// validator of notification configurations.
type Option func(*Server)

// New builds a Server. A zero Config field takes its DefaultConfig value.
func New(cfg Config, store sluice.Store, log *slog.Logger, opts ...Option) (*Server, error) {
	def := DefaultConfig()
	if cfg.Region == "" {
		cfg.Region = def.Region
	}
	if cfg.BaseDomains == nil {
		cfg.BaseDomains = def.BaseDomains
	}
	if cfg.MaxPutSize == 0 {
		cfg.MaxPutSize = def.MaxPutSize
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if store == nil {
		return nil, fmt.Errorf("s3api: nil store")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	for i, d := range cfg.BaseDomains {
		cfg.BaseDomains[i] = strings.ToLower(d)
	}
	s := &Server{cfg: cfg, store: store, log: log}
	for _, opt := range opts {
		opt(s)
	}
	return s, nil
}

// handlerFunc is the shape of every operation. A handler that already wrote
// its response returns nil; otherwise the router writes the error.
type handlerFunc func(s *Server, w http.ResponseWriter, r *http.Request, bucket, key string) error

// operation is one routed S3 API operation.
type operation struct {
	// name is the S3 API operation name (GetObject), used in logs and in
	// NotImplemented messages.
	name string
	// action is the IAM action a bucket policy is evaluated with; "" for
	// operations that never reach a handler.
	action string
	// anonymous is false for operations refused to anonymous callers
	// whatever a bucket policy says.
	anonymous bool
	h         handlerFunc
}

// ServeHTTP routes r to its S3 operation, authorizes the caller and runs it.
// The router authorizes the operation's own action before the handler runs;
// handlers check only secondary resources (a copy source, each key of a
// DeleteObjects).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rw := &responseWriter{ResponseWriter: w, head: r.Method == http.MethodHead}
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			s.log.Error("s3api: panic", "request_id", requestID(r), "panic", v, "stack", string(debug.Stack()))
			if !rw.wrote {
				s.WriteError(rw, r, sluice.Errorf(sluice.ErrInternal, "panic"))
			}
		}
	}()
	bucket, key, err := s.resolve(r)
	if err != nil {
		s.WriteError(rw, r, err)
		return
	}
	op := route(r.Method, bucket, key, r.URL.Query(), r.Header)
	if op.h == nil && op.action == "" {
		s.WriteError(rw, r, methodNotAllowed(r.Method, bucket, key))
		return
	}
	if err := s.checkNames(r, op, bucket, key); err != nil {
		s.WriteError(rw, r, err)
		return
	}
	if owner := r.Header.Get("X-Amz-Expected-Bucket-Owner"); owner != "" && bucket != "" && owner != sluice.AccountID {
		s.WriteError(rw, r, accessDenied())
		return
	}
	if err := s.authorizeOp(r, op, bucket, key); err != nil {
		s.WriteError(rw, r, err)
		return
	}
	if op.h == nil {
		s.WriteError(rw, r, sluice.Errorf(sluice.ErrNotImplemented, "%s is not implemented by Sluice", op.name))
		return
	}
	if err := op.h(s, rw, r, bucket, key); err != nil {
		if rw.wrote {
			// The status line is gone; all that is left is to cut the
			// response short so the client sees a truncated body.
			s.log.Error("s3api: error after response started", "request_id", requestID(r), "op", op.name, "err", err)
			panic(http.ErrAbortHandler)
		}
		s.WriteError(rw, r, err)
	}
}

// checkNames rejects bucket names no operation could accept and keys too
// long to write, before anything touches the store.
func (s *Server) checkNames(r *http.Request, op operation, bucket, key string) error {
	if bucket != "" && op.name != "CreateBucket" && !plausibleBucketName(bucket) {
		return sluice.Errorf(sluice.ErrInvalidBucketName, "The specified bucket is not valid.").With("BucketName", bucket)
	}
	if len(key) > sluice.MaxKeyLength && (r.Method == http.MethodPut || r.Method == http.MethodPost) {
		return sluice.Errorf(sluice.ErrKeyTooLong, "Your key is too long").
			With("Size", fmt.Sprint(len(key))).With("MaxSizeAllowed", fmt.Sprint(sluice.MaxKeyLength))
	}
	return nil
}

// resolve extracts bucket and key from the Host (virtual-hosted-style) or
// the path (path-style). The key comes from the escaped path unescaped once,
// so "a%2Fb", "a//b", "../x" and a trailing "/" survive as sent.
func (s *Server) resolve(r *http.Request) (bucket, key string, err error) {
	p := r.URL.EscapedPath()
	if r.URL.Opaque != "" || !strings.HasPrefix(p, "/") && p != "" {
		return "", "", sluice.Errorf(sluice.ErrInvalidURI, "Couldn't parse the specified URI.")
	}
	p = strings.TrimPrefix(p, "/")
	bucket = s.hostBucket(r.Host)
	if bucket == "" {
		var rest string
		var found bool
		bucket, rest, found = strings.Cut(p, "/")
		if found {
			p = rest
		} else {
			p = ""
		}
		if bucket, err = url.PathUnescape(bucket); err != nil {
			return "", "", sluice.Errorf(sluice.ErrInvalidURI, "Couldn't parse the specified URI.")
		}
	}
	if key, err = url.PathUnescape(p); err != nil {
		return "", "", sluice.Errorf(sluice.ErrInvalidURI, "Couldn't parse the specified URI.")
	}
	return bucket, key, nil
}

// hostBucket returns the bucket named by a virtual-hosted-style Host, or ""
// when the request is path-style. The longest matching base domain wins, so
// "b.s3.localhost" is bucket "b" rather than "b.s3".
func (s *Server) hostBucket(host string) string {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	if host == "" || net.ParseIP(strings.Trim(host, "[]")) != nil {
		return ""
	}
	best := ""
	for _, d := range s.cfg.BaseDomains {
		if host == d {
			return ""
		}
		if strings.HasSuffix(host, "."+d) && len(d) > len(best) {
			best = d
		}
	}
	if best == "" {
		return ""
	}
	return strings.TrimSuffix(host, "."+best)
}

// subresources the router recognises, with the operation name each method
// maps to. An entry whose handler is nil answers NotImplemented; the action is
// what a bucket policy would be asked about (s3:<Operation> where S3 has no
// finer name).
type subresource struct {
	param string
	ops   map[string]operation
}

func notImpl(name, action string) operation {
	return operation{name: name, action: action, anonymous: true}
}

func op(name, action string, anonymous bool, h handlerFunc) operation {
	return operation{name: name, action: action, anonymous: anonymous, h: h}
}

// bucketSubresources are checked in order against the query of a request
// without a key; the first present parameter decides the operation.
var bucketSubresources = []subresource{
	{"policy", map[string]operation{
		"GET":    op("GetBucketPolicy", "s3:GetBucketPolicy", false, (*Server).getBucketPolicy),
		"PUT":    op("PutBucketPolicy", "s3:PutBucketPolicy", false, (*Server).putBucketPolicy),
		"DELETE": op("DeleteBucketPolicy", "s3:DeleteBucketPolicy", false, (*Server).deleteBucketPolicy),
	}},
	{"tagging", map[string]operation{
		"GET":    op("GetBucketTagging", "s3:GetBucketTagging", true, (*Server).getBucketTagging),
		"PUT":    op("PutBucketTagging", "s3:PutBucketTagging", true, (*Server).putBucketTagging),
		"DELETE": op("DeleteBucketTagging", "s3:PutBucketTagging", true, (*Server).deleteBucketTagging),
	}},
	{"location", map[string]operation{
		"GET": op("GetBucketLocation", "s3:GetBucketLocation", true, (*Server).getBucketLocation),
	}},
	{"versioning", map[string]operation{
		"GET": op("GetBucketVersioning", "s3:GetBucketVersioning", true, (*Server).getBucketVersioning),
		"PUT": op("PutBucketVersioning", "s3:PutBucketVersioning", true, (*Server).putBucketVersioning),
	}},
	{"acl", map[string]operation{
		"GET": op("GetBucketAcl", "s3:GetBucketAcl", true, (*Server).getBucketACL),
		"PUT": op("PutBucketAcl", "s3:PutBucketAcl", true, (*Server).putBucketACL),
	}},
	{"uploads", map[string]operation{
		"GET": op("ListMultipartUploads", "s3:ListBucketMultipartUploads", true, (*Server).listMultipartUploads),
	}},
	{"delete", map[string]operation{
		"POST": op("DeleteObjects", "", true, (*Server).deleteObjects),
	}},
	{"versions", map[string]operation{
		"GET": op("ListObjectVersions", "s3:ListBucketVersions", true, (*Server).listObjectVersions),
	}},
	{"cors", crud("BucketCors", "BucketCORS")},
	{"lifecycle", map[string]operation{
		"GET":    notImpl("GetBucketLifecycleConfiguration", "s3:GetLifecycleConfiguration"),
		"PUT":    notImpl("PutBucketLifecycleConfiguration", "s3:PutLifecycleConfiguration"),
		"DELETE": notImpl("DeleteBucketLifecycle", "s3:PutLifecycleConfiguration"),
	}},
	{"website", crud("BucketWebsite", "BucketWebsite")},
	{"logging", getPut("BucketLogging", "BucketLogging")},
	{"encryption", map[string]operation{
		"GET":    notImpl("GetBucketEncryption", "s3:GetEncryptionConfiguration"),
		"PUT":    notImpl("PutBucketEncryption", "s3:PutEncryptionConfiguration"),
		"DELETE": notImpl("DeleteBucketEncryption", "s3:PutEncryptionConfiguration"),
	}},
	{"object-lock", getPut("ObjectLockConfiguration", "BucketObjectLockConfiguration")},
	{"replication", map[string]operation{
		"GET":    op("GetBucketReplication", "s3:GetReplicationConfiguration", false, (*Server).getBucketReplication),
		"PUT":    op("PutBucketReplication", "s3:PutReplicationConfiguration", false, (*Server).putBucketReplication),
		"DELETE": op("DeleteBucketReplication", "s3:PutReplicationConfiguration", false, (*Server).deleteBucketReplication),
	}},
	{"notification", map[string]operation{
		"GET": op("GetBucketNotificationConfiguration", "s3:GetBucketNotification", false, (*Server).getBucketNotification),
		"PUT": op("PutBucketNotificationConfiguration", "s3:PutBucketNotification", false, (*Server).putBucketNotification),
	}},
	{"accelerate", getPut("BucketAccelerateConfiguration", "AccelerateConfiguration")},
	{"requestPayment", getPut("BucketRequestPayment", "BucketRequestPayment")},
	{"inventory", configCRUD("BucketInventoryConfiguration", "InventoryConfiguration")},
	{"analytics", configCRUD("BucketAnalyticsConfiguration", "AnalyticsConfiguration")},
	{"metrics", configCRUD("BucketMetricsConfiguration", "MetricsConfiguration")},
	{"intelligent-tiering", configCRUD("BucketIntelligentTieringConfiguration", "IntelligentTieringConfiguration")},
	{"ownershipControls", crud("BucketOwnershipControls", "BucketOwnershipControls")},
	{"publicAccessBlock", map[string]operation{
		"GET":    notImpl("GetPublicAccessBlock", "s3:GetBucketPublicAccessBlock"),
		"PUT":    notImpl("PutPublicAccessBlock", "s3:PutBucketPublicAccessBlock"),
		"DELETE": notImpl("DeletePublicAccessBlock", "s3:PutBucketPublicAccessBlock"),
	}},
	{"policyStatus", map[string]operation{
		"GET": notImpl("GetBucketPolicyStatus", "s3:GetBucketPolicyStatus"),
	}},
	{"metadataTable", crud("BucketMetadataTableConfiguration", "BucketMetadataTableConfiguration")},
	{"metadataConfiguration", crud("BucketMetadataConfiguration", "BucketMetadataConfiguration")},
	{"session", map[string]operation{
		"GET": notImpl("CreateSession", "s3express:CreateSession"),
	}},
}

// objectSubresources are checked in order against the query of a request
// with a key.
var objectSubresources = []subresource{
	{"uploads", map[string]operation{
		"POST": op("CreateMultipartUpload", "s3:PutObject", true, (*Server).createMultipartUpload),
	}},
	{"uploadId", map[string]operation{
		"GET":    op("ListParts", "s3:ListMultipartUploadParts", true, (*Server).listParts),
		"POST":   op("CompleteMultipartUpload", "s3:PutObject", true, (*Server).completeMultipartUpload),
		"DELETE": op("AbortMultipartUpload", "s3:AbortMultipartUpload", true, (*Server).abortMultipartUpload),
		// PUT ?partNumber&uploadId is routed before the table is consulted.
	}},
	{"tagging", map[string]operation{
		"GET":    op("GetObjectTagging", "s3:GetObjectTagging", true, (*Server).getObjectTagging),
		"PUT":    op("PutObjectTagging", "s3:PutObjectTagging", true, (*Server).putObjectTagging),
		"DELETE": op("DeleteObjectTagging", "s3:DeleteObjectTagging", true, (*Server).deleteObjectTagging),
	}},
	{"attributes", map[string]operation{
		"GET": op("GetObjectAttributes", "s3:GetObjectAttributes", true, (*Server).getObjectAttributes),
	}},
	{"acl", map[string]operation{
		"GET": op("GetObjectAcl", "s3:GetObjectAcl", true, (*Server).getObjectACL),
		"PUT": op("PutObjectAcl", "s3:PutObjectAcl", true, (*Server).putObjectACL),
	}},
	{"retention", getPut("ObjectRetention", "ObjectRetention")},
	{"legal-hold", getPut("ObjectLegalHold", "ObjectLegalHold")},
	{"torrent", map[string]operation{
		"GET": notImpl("GetObjectTorrent", "s3:GetObject"),
	}},
	{"restore", map[string]operation{
		"POST": notImpl("RestoreObject", "s3:RestoreObject"),
	}},
	{"select", map[string]operation{
		"POST": notImpl("SelectObjectContent", "s3:GetObject"),
	}},
	{"renameObject", map[string]operation{
		"PUT": notImpl("RenameObject", "s3:PutObject"),
	}},
}

func crud(name, action string) map[string]operation {
	return map[string]operation{
		"GET":    notImpl("Get"+name, "s3:Get"+action),
		"PUT":    notImpl("Put"+name, "s3:Put"+action),
		"DELETE": notImpl("Delete"+name, "s3:Put"+action),
	}
}

func getPut(name, action string) map[string]operation {
	return map[string]operation{
		"GET": notImpl("Get"+name, "s3:Get"+action),
		"PUT": notImpl("Put"+name, "s3:Put"+action),
	}
}

// configCRUD is for the configuration families addressed by ?<kind>&id=,
// whose GET without an id is a List operation.
func configCRUD(name, action string) map[string]operation {
	m := crud(name, action)
	m["LIST"] = notImpl("List"+name+"s", "s3:Get"+action)
	return m
}

// versionActions are the IAM actions S3 evaluates instead of an
// operation's own when the request names a version (?versionId=).
var versionActions = map[string]string{
	"GetObject":           "s3:GetObjectVersion",
	"HeadObject":          "s3:GetObjectVersion",
	"DeleteObject":        "s3:DeleteObjectVersion",
	"GetObjectTagging":    "s3:GetObjectVersionTagging",
	"PutObjectTagging":    "s3:PutObjectVersionTagging",
	"DeleteObjectTagging": "s3:DeleteObjectVersionTagging",
	"GetObjectAttributes": "s3:GetObjectVersionAttributes",
	"GetObjectAcl":        "s3:GetObjectVersionAcl",
	"PutObjectAcl":        "s3:PutObjectVersionAcl",
	"GetObjectTorrent":    "s3:GetObjectVersionTorrent",
}

// route maps a request to its operation. An operation with neither handler
// nor action means the method is not allowed on the resource.
func route(method, bucket, key string, q url.Values, h http.Header) operation {
	o := routeOp(method, bucket, key, q, h)
	if key != "" && q.Has("versionId") {
		if a, ok := versionActions[o.name]; ok {
			o.action = a
		}
	}
	return o
}

func routeOp(method, bucket, key string, q url.Values, h http.Header) operation {
	if bucket == "" {
		if method == http.MethodGet || method == http.MethodHead {
			return op("ListBuckets", "s3:ListAllMyBuckets", false, (*Server).listBuckets)
		}
		return operation{}
	}
	if key == "" {
		for _, sr := range bucketSubresources {
			if _, ok := q[sr.param]; !ok {
				continue
			}
			if method == http.MethodGet {
				if o, ok := sr.ops["LIST"]; ok && q.Get("id") == "" {
					return o
				}
			}
			return sr.ops[method]
		}
		switch method {
		case http.MethodGet:
			if q.Get("list-type") == "2" {
				return op("ListObjectsV2", "s3:ListBucket", true, (*Server).listObjectsV2)
			}
			return op("ListObjects", "s3:ListBucket", true, (*Server).listObjects)
		case http.MethodHead:
			return op("HeadBucket", "s3:ListBucket", true, (*Server).headBucket)
		case http.MethodPut:
			return op("CreateBucket", "s3:CreateBucket", false, (*Server).createBucket)
		case http.MethodDelete:
			return op("DeleteBucket", "s3:DeleteBucket", false, (*Server).deleteBucket)
		case http.MethodPost:
			// The form, not the request, names the caller: the handler
			// authorizes once it has read and verified it.
			return op("PostObject", "", true, (*Server).postObject)
		}
		return operation{}
	}
	if method == http.MethodPut && q.Has("partNumber") && q.Has("uploadId") {
		if h.Get("X-Amz-Copy-Source") != "" {
			return op("UploadPartCopy", "s3:PutObject", true, (*Server).uploadPartCopy)
		}
		return op("UploadPart", "s3:PutObject", true, (*Server).uploadPart)
	}
	for _, sr := range objectSubresources {
		if _, ok := q[sr.param]; ok {
			return sr.ops[method]
		}
	}
	switch method {
	case http.MethodGet:
		return op("GetObject", "s3:GetObject", true, (*Server).getObject)
	case http.MethodHead:
		return op("HeadObject", "s3:GetObject", true, (*Server).headObject)
	case http.MethodPut:
		if h.Get("X-Amz-Copy-Source") != "" {
			return op("CopyObject", "s3:PutObject", true, (*Server).copyObject)
		}
		return op("PutObject", "s3:PutObject", true, (*Server).putObject)
	case http.MethodDelete:
		return op("DeleteObject", "s3:DeleteObject", true, (*Server).deleteObject)
	}
	return operation{}
}

func methodNotAllowed(method, bucket, key string) error {
	rt := "OBJECT"
	switch {
	case bucket == "":
		rt = "SERVICE"
	case key == "":
		rt = "BUCKET"
	}
	return sluice.Errorf(sluice.ErrMethodNotAllowed, "The specified method is not allowed against this resource.").
		With("Method", method).With("ResourceType", rt)
}

// responseWriter remembers whether the status line went out, so that an
// error after that point is not rendered into the middle of a body, and
// keeps every handler's HEAD response bodiless.
type responseWriter struct {
	http.ResponseWriter
	wrote bool
	head  bool
}

func (w *responseWriter) WriteHeader(code int) {
	w.wrote = true
	w.ResponseWriter.WriteHeader(code)
}

func (w *responseWriter) Write(p []byte) (int, error) {
	w.wrote = true
	if w.head {
		return len(p), nil
	}
	return w.ResponseWriter.Write(p)
}

// ReadFrom passes a body through to the underlying writer's ReadFrom, so
// that a GET streaming an object file goes out with sendfile rather than
// through a user-space buffer.
func (w *responseWriter) ReadFrom(src io.Reader) (int64, error) {
	w.wrote = true
	if w.head {
		return io.Copy(io.Discard, src)
	}
	return io.Copy(w.ResponseWriter, src)
}

func (w *responseWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func requestID(r *http.Request) string { return sluice.RequestInfoFrom(r.Context()).ID }
