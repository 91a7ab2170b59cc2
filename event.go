package sluice

import (
	"context"
	"time"
)

// Event names as they appear in S3 event records, without the "s3:" prefix
// used in notification configurations.
const (
	EventObjectCreatedPut      = "ObjectCreated:Put"
	EventObjectCreatedPost     = "ObjectCreated:Post"
	EventObjectCreatedCopy     = "ObjectCreated:Copy"
	EventObjectCreatedComplete = "ObjectCreated:CompleteMultipartUpload"
	EventObjectRemovedDelete   = "ObjectRemoved:Delete"
	EventObjectRemovedMarker   = "ObjectRemoved:DeleteMarkerCreated"
	EventObjectTaggingPut      = "ObjectTagging:Put"
	EventObjectTaggingDelete   = "ObjectTagging:Delete"
)

// Event is one change to a bucket, recorded in the store's outbox inside the
// same transaction that committed the change.
type Event struct {
	// Seq orders events within one store; it is assigned at commit.
	Seq       uint64
	Name      string
	Time      time.Time
	Region    string
	Bucket    string
	Key       string
	Size      int64
	ETag      string // unquoted, as S3 event records carry it
	VersionID string
	// Sequencer orders events for the same key (hex, comparable as strings
	// of equal length after left-padding, as AWS documents).
	Sequencer string
	Request   RequestInfo
}

// EventLog is the durable outbox a store keeps when event recording is on.
// Consumers read from a cursor and acknowledge what they have handled; an
// event stays until every registered consumer has acknowledged it.
type EventLog interface {
	// ReadEvents returns up to limit events with Seq > after, waiting until
	// at least one exists or ctx is done.
	ReadEvents(ctx context.Context, after uint64, limit int) ([]Event, error)
	// AckEvents records that consumer has handled every event up to seq.
	AckEvents(ctx context.Context, consumer string, seq uint64) error
	// Cursor returns the last seq consumer acknowledged (0 for none).
	Cursor(ctx context.Context, consumer string) (uint64, error)
}
