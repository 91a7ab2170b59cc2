package sluice

import (
	"context"
	"io"
	"time"
)

// Bucket is a bucket and the attributes S3 reports about it.
type Bucket struct {
	Name    string
	Region  string
	Created time.Time
}

// Tag is one key/value pair of a tag set. Tag sets keep the caller's order.
type Tag struct {
	Key   string
	Value string
}

// Checksum algorithms S3 accepts (x-amz-checksum-algorithm).
const (
	ChecksumCRC32     = "CRC32"
	ChecksumCRC32C    = "CRC32C"
	ChecksumCRC64NVME = "CRC64NVME"
	ChecksumSHA1      = "SHA1"
	ChecksumSHA256    = "SHA256"
)

// Checksum types S3 reports (x-amz-checksum-type).
const (
	ChecksumTypeFullObject = "FULL_OBJECT"
	ChecksumTypeComposite  = "COMPOSITE"
)

// Checksums are the digests computed while an object or part is written.
// MD5 is always computed (it is the ETag of a single-part object); at most
// one of the others is, the one named by the request's checksum algorithm.
type Checksums struct {
	MD5 []byte
	// Algorithm is one of the Checksum* constants, or "" when none was asked.
	Algorithm string
	// Value is the base64 of the digest named by Algorithm.
	Value string
	// Type is ChecksumTypeFullObject or ChecksumTypeComposite.
	Type string
}

// ObjectMeta is what a writer says about an object besides its bytes.
type ObjectMeta struct {
	ContentType        string
	ContentEncoding    string
	ContentDisposition string
	ContentLanguage    string
	CacheControl       string
	// Expires is kept as sent (an HTTP date), because S3 echoes it verbatim.
	Expires string
	// User is x-amz-meta-*, keys lower-cased without the prefix.
	User         map[string]string
	Tags         []Tag
	StorageClass string
	// WebsiteRedirect is x-amz-website-redirect-location.
	WebsiteRedirect string
}

// PartInfo describes one part of a multipart upload or of an object that was
// built from one.
type PartInfo struct {
	Number       int
	Size         int64
	ETag         string // quoted hex MD5
	LastModified time.Time
	Checksum     Checksums
}

// ObjectInfo describes a committed object.
type ObjectInfo struct {
	Bucket string
	Key    string
	Size   int64
	// ETag is quoted, as on the wire: "hex" or "hex-N" for multipart objects.
	ETag         string
	LastModified time.Time
	Meta         ObjectMeta
	Checksum     Checksums
	// Parts lists the parts of an object completed from a multipart upload,
	// in order; nil for a single PUT.
	Parts []PartInfo
	// VersionID is "" in a bucket whose versioning was never enabled, and
	// NullVersionID for an object written while it was not (before it was
	// first enabled, or while it is suspended).
	VersionID string
	// DeleteMarker marks a delete marker: a version with no bytes that
	// hides the versions before it. Only version listings and the errors
	// of HeadVersion / OpenVersion / DeleteVersion report markers.
	DeleteMarker bool
	// IsLatest is set by ListVersions on the newest version of each key.
	IsLatest bool
}

// Versioning states of a bucket, as PutBucketVersioning names them. A
// bucket that never had versioning enabled has the state "".
const (
	VersioningEnabled   = "Enabled"
	VersioningSuspended = "Suspended"
)

// NullVersionID is the version id of an object written while versioning was
// not enabled on its bucket.
const NullVersionID = "null"

// DeleteResult is what a DeleteVersion did.
type DeleteResult struct {
	// VersionID is the delete marker created or the version removed; ""
	// in a bucket whose versioning was never enabled.
	VersionID string
	// DeleteMarker reports that a delete marker was created, or that the
	// version removed was one.
	DeleteMarker bool
}

// ListVersionsOptions select a page of ListObjectVersions.
type ListVersionsOptions struct {
	Prefix    string
	Delimiter string
	// KeyMarker and VersionIDMarker resume after the given version of a
	// key; KeyMarker alone resumes after every version of that key.
	KeyMarker       string
	VersionIDMarker string
	MaxKeys         int
}

// VersionsPage is one page of ListObjectVersions: keys in order, the
// versions of each key newest first, delete markers among them
// (DeleteMarker set). Versions and CommonPrefixes together hold at most
// MaxKeys entries.
type VersionsPage struct {
	Versions            []ObjectInfo
	CommonPrefixes      []string
	IsTruncated         bool
	NextKeyMarker       string
	NextVersionIDMarker string
}

// Conditions are preconditions a write is checked against inside the
// transaction that commits it, so that they hold atomically.
type Conditions struct {
	// IfMatch: commit only if the current object has this (quoted) ETag.
	IfMatch string
	// IfNoneMatch "*": commit only if there is no current object.
	IfNoneMatch string
}

// PutObjectInput is a single-part write.
type PutObjectInput struct {
	Bucket string
	Key    string
	Body   io.Reader
	// Size is the number of bytes Body yields, or -1 when unknown. A body that
	// yields a different number of bytes than a known Size is an error
	// (IncompleteBody) and nothing is committed.
	Size int64
	Meta ObjectMeta
	// ChecksumAlgorithm asks for one additional checksum to be computed.
	ChecksumAlgorithm string
	// Verify, when set, is called after every byte is durably written and
	// before the commit, with the checksums computed; an error aborts the
	// write. It is how Content-MD5, x-amz-checksum-* and trailing checksums
	// are checked without the store knowing where they came from.
	Verify func(Checksums) error
	Conditions
	// EventName overrides the recorded event ("ObjectCreated:Copy"); empty
	// means ObjectCreated:Put.
	EventName string
}

// Range is a resolved byte range: Length bytes from Offset.
type Range struct {
	Offset int64
	Length int64
}

// Object is an open, consistent snapshot of a committed object: its info and
// its bytes stay as they were when opened even if the key is overwritten.
type Object interface {
	Info() ObjectInfo
	// Reader returns Length bytes from Offset. Length -1 means to the end.
	Reader(offset, length int64) (io.ReadCloser, error)
	Close() error
}

// ListOptions select a page of a bucket listing.
type ListOptions struct {
	Prefix    string
	Delimiter string
	// After lists keys (and common prefixes) strictly after this one; it
	// carries both start-after/marker and continuation tokens.
	After   string
	MaxKeys int
}

// ListPage is one page of a listing in key order. Objects and CommonPrefixes
// together hold at most MaxKeys entries.
type ListPage struct {
	Objects        []ObjectInfo
	CommonPrefixes []string
	IsTruncated    bool
	// NextAfter is the last key or common prefix returned, to pass as After.
	NextAfter string
}

// Upload is a multipart upload in progress.
type Upload struct {
	Bucket            string
	Key               string
	UploadID          string
	Initiated         time.Time
	Meta              ObjectMeta
	ChecksumAlgorithm string
	ChecksumType      string
}

// CreateUploadInput starts a multipart upload.
type CreateUploadInput struct {
	Bucket            string
	Key               string
	Meta              ObjectMeta
	ChecksumAlgorithm string
	// ChecksumType is FULL_OBJECT or COMPOSITE. Left empty, CRC64NVME is
	// FULL_OBJECT and every other algorithm COMPOSITE, as on S3.
	ChecksumType string
}

// UploadPartInput writes one part; a part number written again replaces it.
type UploadPartInput struct {
	Bucket     string
	Key        string
	UploadID   string
	PartNumber int
	Body       io.Reader
	Size       int64
	Verify     func(Checksums) error
}

// CompletePart is one entry of a CompleteMultipartUpload request.
type CompletePart struct {
	Number   int
	ETag     string
	Checksum string // base64 checksum of the part, when the client sent one
}

// CompleteUploadInput finishes an upload from the listed parts.
type CompleteUploadInput struct {
	Bucket   string
	Key      string
	UploadID string
	Parts    []CompletePart
	Conditions
}

// ListUploadsOptions select a page of ListMultipartUploads.
type ListUploadsOptions struct {
	Prefix         string
	Delimiter      string
	KeyMarker      string
	UploadIDMarker string
	MaxUploads     int
}

// UploadsPage is one page of ListMultipartUploads.
type UploadsPage struct {
	Uploads            []Upload
	CommonPrefixes     []string
	IsTruncated        bool
	NextKeyMarker      string
	NextUploadIDMarker string
}

// PartsPage is one page of ListParts.
type PartsPage struct {
	Upload               Upload
	Parts                []PartInfo
	IsTruncated          bool
	NextPartNumberMarker int
}

// Bucket configuration documents, stored opaque by the store and owned by the
// package that interprets them.
const (
	ConfigPolicy       = "policy"
	ConfigTagging      = "tagging"
	ConfigNotification = "notification"
	ConfigReplication  = "replication"
	ConfigCORS         = "cors"
)

// Store is the object store contract. fsstore implements it on local disk and
// s3store over a remote S3 endpoint; storetest holds the suite both must pass.
//
// Every method is safe for concurrent use. Writes are atomic and durable when
// they return: a reader sees the old object or the new one, never a mix, and
// an acknowledged write survives a crash. Errors carry a Code
// (NoSuchBucket, NoSuchKey, ...). The RequestInfo in ctx, when present, is
// recorded with the events a write produces.
type Store interface {
	CreateBucket(ctx context.Context, b Bucket) error
	// Bucket returns one bucket, or NoSuchBucket.
	Bucket(ctx context.Context, name string) (Bucket, error)
	ListBuckets(ctx context.Context) ([]Bucket, error)
	// DeleteBucket fails with BucketNotEmpty while objects or uploads remain.
	DeleteBucket(ctx context.Context, name string) error
	// PutBucketConfig stores a configuration document of kind (Config*);
	// a nil doc deletes it.
	PutBucketConfig(ctx context.Context, bucket, kind string, doc []byte) error
	// BucketConfig returns the document, or (nil, nil) when none is set.
	BucketConfig(ctx context.Context, bucket, kind string) ([]byte, error)

	PutObject(ctx context.Context, in *PutObjectInput) (ObjectInfo, error)
	// HeadObject returns the object's info, or NoSuchKey.
	HeadObject(ctx context.Context, bucket, key string) (ObjectInfo, error)
	// OpenObject returns a snapshot of the object; the caller closes it.
	OpenObject(ctx context.Context, bucket, key string) (Object, error)
	// DeleteObject removes the object; deleting a missing key succeeds and
	// records no event (S3 answers 204 either way).
	DeleteObject(ctx context.Context, bucket, key string) error
	// PutObjectTags replaces the object's tag set; nil removes every tag.
	PutObjectTags(ctx context.Context, bucket, key string, tags []Tag) (ObjectInfo, error)
	ListObjects(ctx context.Context, bucket string, opts ListOptions) (ListPage, error)

	// SetVersioning sets the bucket's versioning state to
	// VersioningEnabled or VersioningSuspended; a bucket never returns to
	// "". While it is Enabled every write creates a new version and a
	// delete without a version id creates a delete marker; while it is
	// Suspended writes and such deletes replace the "null" version.
	SetVersioning(ctx context.Context, bucket, state string) error
	// Versioning returns the bucket's versioning state.
	Versioning(ctx context.Context, bucket string) (string, error)
	// HeadVersion returns one version's info; versionID "" means the
	// current version, as HeadObject does. A version id the store never
	// issued is InvalidArgument, one it does not hold NoSuchVersion. When
	// the version asked for is a delete marker, the marker's info comes
	// back together with the error: NoSuchKey when it is the key's latest
	// version and versionID is "", MethodNotAllowed when versionID names it.
	HeadVersion(ctx context.Context, bucket, key, versionID string) (ObjectInfo, error)
	// OpenVersion opens one version, with the errors of HeadVersion (the
	// info of a delete marker comes back through HeadVersion only).
	OpenVersion(ctx context.Context, bucket, key, versionID string) (Object, error)
	// DeleteVersion deletes as S3's DeleteObject does: versionID "" is
	// DeleteObject in an unversioned bucket, creates a delete marker in an
	// Enabled one, and replaces the null version with a null delete marker
	// in a Suspended one; a versionID removes that version for good (the
	// next newest becomes current) and records ObjectRemoved:Delete.
	// Deleting a version that does not exist succeeds and echoes its id.
	DeleteVersion(ctx context.Context, bucket, key, versionID string) (DeleteResult, error)
	// PutVersionTags is PutObjectTags on one version ("" is the current).
	PutVersionTags(ctx context.Context, bucket, key, versionID string, tags []Tag) (ObjectInfo, error)
	// ListVersions lists every version and delete marker.
	ListVersions(ctx context.Context, bucket string, opts ListVersionsOptions) (VersionsPage, error)

	CreateUpload(ctx context.Context, in *CreateUploadInput) (Upload, error)
	UploadPart(ctx context.Context, in *UploadPartInput) (PartInfo, error)
	CompleteUpload(ctx context.Context, in *CompleteUploadInput) (ObjectInfo, error)
	AbortUpload(ctx context.Context, bucket, key, uploadID string) error
	ListParts(ctx context.Context, bucket, key, uploadID string, marker, max int) (PartsPage, error)
	ListUploads(ctx context.Context, bucket string, opts ListUploadsOptions) (UploadsPage, error)

	Close() error
}
