package replicate

// The built-in function sluice-s3-copy: the TargetBucket recipe as a function
// that S3 notifications invoke, for users who attach it as they attached the
// original Lambda. It copies with the same code and guarantees as the outbox
// consumer (streaming, metadata and tags, idempotent by source ETag, newer
// wins by sequencer, remote regions). A bucket that has both a TargetBucket
// tag and a notification to sluice-s3-copy is copied by both; replicate.db
// makes the second copy a no-op, so this only costs a lookup.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/aws/aws-lambda-go/events"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/s3api"
)

// CopyResult is one line of the summary HandleS3Event returns.
type CopyResult struct {
	Bucket string `json:"bucket"`
	Key    string `json:"key"`
	Target string `json:"target,omitempty"`
	Reason string `json:"reason,omitempty"`
}

// CopySummary is what HandleS3Event returns.
type CopySummary struct {
	Copied  []CopyResult `json:"copied"`
	Deleted []CopyResult `json:"deleted"`
	Skipped []CopyResult `json:"skipped"`
}

// HandleS3Event is the body of the built-in sluice-s3-copy (it has the
// lambda.BuiltinFunc signature). payload is an S3 event as S3 delivers it;
// for each ObjectCreated record it copies the version the record names (the
// current object when it names none) to every target of the source
// bucket's TargetBucket tag, for each ObjectRemoved record it deletes the
// copies, except that a version deleted for good is not mirrored. It returns a JSON CopySummary, or an error — a function error,
// which Lambda's asynchronous retries then retry — when a record is malformed
// or a target could not be written.
func (r *Replicator) HandleS3Event(ctx context.Context, payload []byte) ([]byte, error) {
	var ev events.S3Event
	if err := json.Unmarshal(payload, &ev); err != nil {
		return nil, fmt.Errorf("decode S3 event: %w", err)
	}
	sum := CopySummary{Copied: []CopyResult{}, Deleted: []CopyResult{}, Skipped: []CopyResult{}}
	var errs []error
	for i, rec := range ev.Records {
		if err := r.handleRecord(ctx, rec, &sum); err != nil {
			errs = append(errs, fmt.Errorf("record %d: %w", i, err))
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return json.Marshal(sum)
}

func (r *Replicator) handleRecord(ctx context.Context, rec events.S3EventRecord, sum *CopySummary) error {
	bucket := rec.S3.Bucket.Name
	if bucket == "" || rec.S3.Object.Key == "" {
		return errors.New("no s3.bucket.name or s3.object.key")
	}
	key, err := decodeKey(rec.S3.Object.Key)
	if err != nil {
		return fmt.Errorf("object key %q: %w", rec.S3.Object.Key, err)
	}
	created := strings.HasPrefix(rec.EventName, "ObjectCreated:")
	removed := strings.HasPrefix(rec.EventName, "ObjectRemoved:")
	skip := func(reason string) {
		sum.Skipped = append(sum.Skipped, CopyResult{Bucket: bucket, Key: key, Reason: reason})
	}
	if !created && !removed {
		skip("event " + rec.EventName + " is neither ObjectCreated nor ObjectRemoved")
		return nil
	}
	targets, err := r.tagTargets(ctx, bucket)
	if err != nil {
		return err
	}
	if len(targets) == 0 {
		skip("bucket has no TargetBucket tag")
		return nil
	}
	// A record without a sequencer (one written by hand) orders before
	// every recorded change, so it never overwrites a newer copy.
	sev := sluice.Event{Name: rec.EventName, Region: rec.AWSRegion, Bucket: bucket, Key: key,
		ETag: unquote(rec.S3.Object.ETag), Sequencer: rec.S3.Object.Sequencer, VersionID: rec.S3.Object.VersionID,
		Time: rec.EventTime}
	if removed && !mirrored(sev) {
		skip("a version deleted for good is not mirrored")
		return nil
	}
	var obj sluice.Object
	if created {
		o, _, deleted, err := r.openWritten(ctx, sev)
		if err != nil {
			return err
		}
		if o == nil {
			if deleted {
				skip("object version no longer exists")
			} else {
				skip("object was overwritten since the event")
			}
			return nil
		}
		defer o.Close()
		sev.ETag = unquote(o.Info().ETag)
		obj = o
	}
	var errs []error
	var w stateWrite
	for _, tg := range targets {
		p := plan{Target: tg, deletes: true}
		rec, err := r.applyWithRetry(ctx, sev, obj, p)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s/%s to %s: %w", bucket, key, tg, err))
			continue
		}
		if rec != nil {
			w.applied = append(w.applied, *rec)
		}
		res := CopyResult{Bucket: bucket, Key: key, Target: tg.String()}
		if created {
			sum.Copied = append(sum.Copied, res)
		} else {
			sum.Deleted = append(sum.Deleted, res)
		}
	}
	if err := r.commit(w); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// tagTargets returns the targets of bucket's TargetBucket tag, without the
// bucket itself.
func (r *Replicator) tagTargets(ctx context.Context, bucket string) ([]Target, error) {
	tags, err := s3api.BucketTags(ctx, r.store, bucket)
	if err != nil {
		return nil, fmt.Errorf("read tags of bucket %s: %w", bucket, err)
	}
	var out []Target
	for _, t := range tags {
		if t.Key != TagName {
			continue
		}
		targets, err := ParseTargetBucketTag(t.Value)
		if err != nil {
			return nil, fmt.Errorf("TargetBucket tag of %s: %w", bucket, err)
		}
		for _, tg := range targets {
			if tg.Bucket != bucket || tg.Region != "" {
				out = append(out, tg)
			}
		}
	}
	return out, nil
}

// decodeKey undoes the form encoding of keys in S3 event records ('+' is a
// space, %XX a byte), as the recipe's unquote_plus does.
func decodeKey(k string) (string, error) { return url.QueryUnescape(k) }
