package replicate

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/feature/s3/manager"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/s3api"
)

// plan is one target of one event, with what the rule or tag that named it
// allows.
type plan struct {
	Target
	deletes      bool
	storageClass string
}

// permanentError marks a failure retrying cannot fix.
type permanentError struct{ error }

func (e permanentError) Unwrap() error { return e.error }

// handle applies one event to every target of its bucket and returns what
// replicate.db must record of it. It returns an error only when ctx ends,
// or errRetry.
func (r *Replicator) handle(ctx context.Context, ev sluice.Event) (stateWrite, error) {
	w, err := r.apply(ctx, ev)
	if err == nil && r.forgetAttempts(ev.Seq) {
		// Whatever became of the event's copies, they are done with the
		// state below; so is any retry budget left by an earlier run.
		w.clearAttempts = append(w.clearAttempts, ev.Seq)
	}
	return w, err
}

func (r *Replicator) apply(ctx context.Context, ev sluice.Event) (stateWrite, error) {
	created := createdEvent(ev)
	removed := strings.HasPrefix(ev.Name, "ObjectRemoved:")
	if !created && !removed {
		return stateWrite{}, nil
	}
	// Settings first: most events (the copies' own, to start with) are of
	// buckets that replicate nowhere, and need no object opened.
	set, err := r.settings(ctx, ev.Bucket)
	if err != nil {
		if sluice.IsCode(err, sluice.ErrNoSuchBucket) {
			return stateWrite{}, nil
		}
		return stateWrite{}, r.retryLater(ctx, ev, fmt.Errorf("read replication settings of %s: %w", ev.Bucket, err))
	}
	if set.none() {
		return stateWrite{}, nil
	}
	if created && r.doneInline(ev, set) {
		// Copied in the source's own transaction (inline.go), with the
		// records Status reads COMPLETED from.
		return stateWrite{}, nil
	}
	superseded := func(tags []sluice.Tag, removed bool) {
		for _, p := range set.plans(ev.Key, tags, removed) {
			r.m.observe(resultSuperseded, r.targetKind(p.Target), time.Time{}, 0)
		}
	}
	if removed && !mirrored(ev) {
		// A version deleted for good stays on the targets (see mirrored);
		// only its status goes.
		return stateWrite{dropStatus: [][]byte{versionStatusKey(ev.Bucket, ev.Key, ev.VersionID)}}, nil
	}
	var obj sluice.Object
	var tags []sluice.Tag
	if created {
		o, newer, deleted, err := r.openWritten(ctx, ev)
		if err != nil {
			return stateWrite{}, r.retryLater(ctx, ev, err)
		}
		if o == nil {
			// Deleted or replaced since: the event of that change follows
			// and wins.
			superseded(newer, deleted)
			return stateWrite{}, nil
		}
		defer o.Close()
		obj, tags = o, o.Info().Meta.Tags
	}
	plans := set.plans(ev.Key, tags, removed)
	if len(plans) == 0 {
		return stateWrite{}, nil
	}
	// Until the state below is committed, Status reports PENDING: the
	// object's bucket replicates and no status matches its ETag.
	var w stateWrite
	failed := false
	for _, p := range plans {
		if removed && !p.deletes {
			continue
		}
		rec, err := r.applyWithRetry(ctx, ev, obj, p)
		if errors.Is(err, errDeadLettered) {
			failed = true
			continue
		}
		if err != nil {
			if ctx.Err() != nil {
				return stateWrite{}, ctx.Err()
			}
			failed = true
			r.log.Error("replicate: dead-lettered", "bucket", ev.Bucket, "key", ev.Key, "target", p.Target.String(), "seq", ev.Seq, "err", err)
			w.dead = append(w.dead, DeadLetter{Event: ev, Target: p.Target.String(), Error: err.Error(), Time: time.Now().UTC()})
			r.noteDead(ev.Seq)
			continue
		}
		if rec != nil {
			w.applied = append(w.applied, *rec)
		}
	}
	if created {
		st := StatusCompleted
		if failed {
			st = StatusFailed
		}
		w.status = &statusAt{bucket: ev.Bucket, key: ev.Key, versionID: ev.VersionID, rec: statusRecord{ETag: ev.ETag, Status: st, Sequencer: ev.Sequencer}}
	}
	return w, nil
}

// mirrored reports whether a removal is applied to the targets: a delete
// in an unversioned bucket and a delete marker are, as a delete without a
// version id (which makes a marker in a versioned target and deletes in an
// unversioned one). A version deleted for good (ObjectRemoved:Delete with
// a version id, a delete marker's removal included) is not: S3
// replication never replicates those, so that a deletion at the source
// cannot destroy what a replica keeps, and a target's versions have ids
// of their own that the source's cannot name.
func mirrored(ev sluice.Event) bool {
	return ev.Name != sluice.EventObjectRemovedDelete || ev.VersionID == ""
}

// openWritten opens the version of ev's object that ev wrote: the one
// named by its version id (the current object in a bucket without
// versioning), if it still holds ev's ETag. For a tagging event the
// version must also still be current, since a target has no counterpart
// of an older version to tag and copying it again would make it current
// there. When the version is gone or was replaced since, obj is nil,
// deleted tells which, and tags are the replacing object's (for the
// plans counted as superseded). err is a failure to read the store.
func (r *Replicator) openWritten(ctx context.Context, ev sluice.Event) (obj sluice.Object, tags []sluice.Tag, deleted bool, err error) {
	var o sluice.Object
	if ev.VersionID == "" {
		o, err = r.store.OpenObject(ctx, ev.Bucket, ev.Key)
	} else {
		o, err = r.store.OpenVersion(ctx, ev.Bucket, ev.Key, ev.VersionID)
	}
	switch sluice.ErrorCode(err) {
	case "":
	case sluice.ErrNoSuchKey, sluice.ErrNoSuchBucket, sluice.ErrNoSuchVersion, sluice.ErrMethodNotAllowed, sluice.ErrInvalidArgument:
		// MethodNotAllowed: the id names a delete marker, which only a
		// hand-written record can; InvalidArgument: an id this store
		// never issued.
		return nil, nil, true, nil
	default:
		return nil, nil, false, fmt.Errorf("open source %s/%s version %q: %w", ev.Bucket, ev.Key, ev.VersionID, err)
	}
	info := o.Info()
	if ev.ETag != "" && unquote(info.ETag) != ev.ETag {
		// Overwritten since (a null version is replaced in place).
		o.Close()
		return nil, info.Meta.Tags, false, nil
	}
	if ev.VersionID != "" && strings.HasPrefix(ev.Name, "ObjectTagging:") {
		cur, err := r.store.HeadVersion(ctx, ev.Bucket, ev.Key, "")
		switch {
		case sluice.IsCode(err, sluice.ErrNoSuchKey) || sluice.IsCode(err, sluice.ErrNoSuchBucket):
			o.Close()
			return nil, nil, true, nil
		case err != nil:
			o.Close()
			return nil, nil, false, fmt.Errorf("head source %s/%s: %w", ev.Bucket, ev.Key, err)
		case cur.VersionID != info.VersionID:
			o.Close()
			return nil, cur.Meta.Tags, false, nil
		}
	}
	return o, nil, false, nil
}

// retryLater handles a failure of the source side (this store): it waits
// and retries the whole event, since acknowledging it would lose it.
func (r *Replicator) retryLater(ctx context.Context, ev sluice.Event, err error) error {
	r.log.Error("replicate: will retry", "seq", ev.Seq, "err", err)
	if !sleep(ctx, r.cfg.MaxBackoff) {
		return ctx.Err()
	}
	return errRetry
}

// errRetry asks the caller of handle to apply the event again.
var errRetry = errors.New("retry event")

// errDeadLettered reports a copy whose dead letter replicate.db already
// holds.
var errDeadLettered = errors.New("already dead-lettered")

// applyWithRetry applies ev to one target with backoff, up to the budget.
// It returns what replicate.db must record, nil when the target already
// held this change or a newer one. An outbox event's budget is persisted
// after every failed attempt and resumed from there after a restart;
// records of HandleS3Event (no seq) are retried by their invoker, so their
// budget is per invocation.
func (r *Replicator) applyWithRetry(ctx context.Context, ev sluice.Event, obj sluice.Object, p plan) (*appliedAt, error) {
	kind, target := r.targetKind(p.Target), p.Target.String()
	durable := ev.Seq != 0
	failures := 0
	var next time.Time
	var err error
	if durable {
		if r.deadLettered(ev.Seq, target) {
			return nil, errDeadLettered
		}
		if r.hasAttempts(ev.Seq) {
			st, found, lerr := r.loadAttempts(ev.Seq, target)
			switch {
			case lerr != nil:
				r.log.Error("replicate: retry budget lost, starting afresh", "seq", ev.Seq, "target", target, "err", lerr)
			case found:
				failures, next = st.Attempts, st.Next
				err = fmt.Errorf("%s (%d attempts before a restart)", st.Error, st.Attempts)
			}
		}
	}
	for failures < r.cfg.MaxAttempts {
		if failures > 0 && !sleep(ctx, min(time.Until(next), r.cfg.MaxBackoff)) {
			return nil, ctx.Err()
		}
		var rec *appliedAt
		var result string
		if obj != nil {
			rec, result, err = r.copyTo(ctx, ev, obj, p)
		} else {
			rec, result, err = r.deleteAt(ctx, ev, p)
		}
		if err == nil {
			var size int64
			if obj != nil {
				size = obj.Info().Size
			}
			r.m.observe(result, kind, ev.Time, size)
			return rec, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		failures++
		var perm permanentError
		if errors.As(err, &perm) {
			failures = r.cfg.MaxAttempts
		}
		next = time.Now().Add(r.backoff(failures))
		if durable {
			// Saved even for the last attempt: a restart before the dead
			// letter is committed must not try once more.
			if serr := r.saveAttempts(ev.Seq, target, attemptState{Attempts: failures, Next: next, Error: err.Error()}); serr != nil {
				r.log.Error("replicate: record failed attempt", "seq", ev.Seq, "target", target, "err", serr)
			}
		}
		if failures < r.cfg.MaxAttempts {
			r.m.retried.WithLabelValues(kind).Inc()
			r.log.Warn("replicate: copy failed, retrying", "target", target, "key", ev.Key, "attempt", failures, "err", err)
		}
	}
	r.m.observe(resultFailed, kind, time.Time{}, 0)
	return nil, err
}

// backoff is the wait after the given number of failed attempts: it
// doubles from MinBackoff up to MaxBackoff.
func (r *Replicator) backoff(failures int) time.Duration {
	d := r.cfg.MinBackoff
	for i := 1; i < failures && d < r.cfg.MaxBackoff; i++ {
		d *= 2
	}
	return min(d, r.cfg.MaxBackoff)
}

// settings is what a bucket replicates to: the targets of its TargetBucket
// tag and its enabled replication rules, highest priority first.
type settings struct {
	bucket     string
	tagTargets []Target
	rules      []s3api.ReplicationRule
}

func (s settings) none() bool { return len(s.tagTargets) == 0 && len(s.rules) == 0 }

// settings returns what bucket replicates to, parsed again only when its
// tagging or replication document changed: every event, the copies' own
// included, asks.
func (r *Replicator) settings(ctx context.Context, bucket string) (settings, error) {
	tagDoc, err := r.store.BucketConfig(ctx, bucket, sluice.ConfigTagging)
	if err != nil {
		return settings{}, err
	}
	replDoc, err := r.store.BucketConfig(ctx, bucket, sluice.ConfigReplication)
	if err != nil {
		return settings{}, err
	}
	r.mu.Lock()
	c, ok := r.parsed[bucket]
	r.mu.Unlock()
	if ok && bytes.Equal(c.tagDoc, tagDoc) && bytes.Equal(c.replDoc, replDoc) {
		return c.set, nil
	}
	set, err := r.settingsOf(bucket, tagDoc, replDoc)
	if err != nil {
		return settings{}, err
	}
	r.mu.Lock()
	if len(r.parsed) >= maxParsedSettings {
		clear(r.parsed)
	}
	r.parsed[bucket] = parsedSettings{tagDoc: tagDoc, replDoc: replDoc, set: set}
	r.mu.Unlock()
	return set, nil
}

// parsedSettings is a bucket's settings with the documents they came from.
type parsedSettings struct {
	tagDoc, replDoc []byte
	set             settings
}

// maxParsedSettings bounds the cache of parsed settings.
const maxParsedSettings = 10000

// settingsOf parses what bucket replicates to from its tagging (JSON tag
// set) and replication (XML) documents, either nil.
func (r *Replicator) settingsOf(bucket string, tagDoc, replDoc []byte) (settings, error) {
	set := settings{bucket: bucket}
	var btags []sluice.Tag
	if tagDoc != nil {
		if err := json.Unmarshal(tagDoc, &btags); err != nil {
			return settings{}, fmt.Errorf("decode tag set of bucket %q: %w", bucket, err)
		}
	}
	for _, t := range btags {
		if t.Key != TagName {
			continue
		}
		targets, err := ParseTargetBucketTag(t.Value)
		if err != nil {
			r.log.Warn("replicate: ignoring invalid TargetBucket tag", "bucket", bucket, "err", err)
			continue
		}
		set.tagTargets = append(set.tagTargets, targets...)
	}
	if replDoc == nil {
		return set, nil
	}
	cfg, err := s3api.ParseReplicationConfiguration(replDoc)
	if err != nil {
		r.log.Warn("replicate: ignoring invalid replication configuration", "bucket", bucket, "err", err)
		return set, nil
	}
	for _, rule := range cfg.Rules {
		if rule.Enabled() {
			set.rules = append(set.rules, rule)
		}
	}
	// The highest priority wins when rules share a destination.
	slices.SortStableFunc(set.rules, func(a, b s3api.ReplicationRule) int {
		return cmp.Compare(deref(b.Priority), deref(a.Priority))
	})
	return set, nil
}

// plans returns the targets of an object: those of the TargetBucket tag and
// of the enabled replication rules that match it.
func (s settings) plans(key string, tags []sluice.Tag, removed bool) []plan {
	var out []plan
	seen := map[string]bool{}
	for _, tg := range s.tagTargets {
		if tg.Bucket == s.bucket && tg.Region == "" || seen[tg.Bucket] {
			continue
		}
		seen[tg.Bucket] = true
		out = append(out, plan{Target: tg, deletes: true})
	}
	for _, rule := range s.rules {
		match := rule.Matches(key, tags)
		if removed && rule.Filter != nil {
			match = prefixOnlyMatch(rule, key)
		}
		if !match {
			continue
		}
		dest, region := rule.DestinationBucket()
		if seen[dest] {
			continue
		}
		seen[dest] = true
		out = append(out, plan{Target: Target{Bucket: dest, Region: region}, deletes: rule.ReplicatesDeletes(), storageClass: rule.Destination.StorageClass})
	}
	return out
}

// prefixOnlyMatch applies only the prefix part of a rule's filter, which is
// all that can be checked for a deleted object.
func prefixOnlyMatch(rule s3api.ReplicationRule, key string) bool {
	f := rule.Filter
	switch {
	case f.And != nil:
		return f.And.Prefix == nil || strings.HasPrefix(key, *f.And.Prefix)
	case f.Prefix != nil:
		return strings.HasPrefix(key, *f.Prefix)
	}
	return f.Tag == nil
}

func deref(p *int) int {
	if p == nil {
		return 0
	}
	return *p
}

// resolved is where a target lives.
type resolved struct {
	id     string     // index key prefix
	client *s3.Client // nil for a bucket of this store
}

func (r *Replicator) resolve(ctx context.Context, t Target) (resolved, error) {
	if c, ok := r.remote[t.Region]; ok && t.Region != "" {
		return resolved{id: t.Region + "/" + t.Bucket, client: c}, nil
	}
	if t.Region == "" {
		// Nothing to check before the write, which fails with
		// NoSuchBucket when the target is missing.
		return resolved{id: "local/" + t.Bucket}, nil
	}
	b, err := r.store.Bucket(ctx, t.Bucket)
	if err != nil {
		return resolved{}, fmt.Errorf("target bucket %s: %w", t.Bucket, err)
	}
	if t.Region != "" && b.Region != t.Region {
		return resolved{}, permanentError{fmt.Errorf("target bucket %s is in region %s, not %s, and no endpoint serves %s", t.Bucket, b.Region, t.Region, t.Region)}
	}
	return resolved{id: "local/" + t.Bucket}, nil
}

// applied is what replicate.db remembers of the last change applied to a
// (target, key).
type applied struct {
	Sequencer string `json:"seq"`
	ETag      string `json:"etag,omitempty"`
	Digest    string `json:"digest,omitempty"`
	Deleted   bool   `json:"deleted,omitempty"`
	// TargetETag is the copy's ETag, by which Status recognizes a replica.
	TargetETag string `json:"target_etag,omitempty"`
}

// copyTo streams the snapshot obj to one target, unless that target already
// holds this write or a newer one.
// It returns the result for sluice_replicate_copies_total.
func (r *Replicator) copyTo(ctx context.Context, ev sluice.Event, obj sluice.Object, p plan) (*appliedAt, string, error) {
	res, err := r.resolve(ctx, p.Target)
	if err != nil {
		return nil, "", err
	}
	info := obj.Info()
	digest := metaDigest(info.Meta)
	prev, found, err := r.lookup(res.id, ev.Key)
	if err != nil {
		return nil, "", err
	}
	if found {
		switch c := cmpSequencer(ev.Sequencer, prev.Sequencer); {
		case c < 0:
			return nil, resultSuperseded, nil
		case c == 0 || !prev.Deleted && prev.ETag == ev.ETag && prev.Digest == digest:
			return nil, resultSkipped, nil
		}
	}
	meta := info.Meta
	if p.storageClass != "" {
		meta.StorageClass = p.storageClass
	}
	var etag string
	if res.client == nil {
		gctx, recorded := r.guarded(ctx, res.id, ev.Key, ev, applied{Sequencer: ev.Sequencer, ETag: ev.ETag, Digest: digest})
		etag, err = r.copyLocal(gctx, p.Bucket, ev.Key, obj, meta)
		switch {
		case errors.Is(err, errNotNewer):
			return nil, resultSuperseded, nil
		case err == nil && recorded:
			// The write's own transaction recorded it.
			return nil, resultCopied, nil
		}
	} else {
		var body io.ReadCloser
		if body, err = obj.Reader(0, -1); err != nil {
			return nil, "", fmt.Errorf("read source %s/%s: %w", ev.Bucket, ev.Key, err)
		}
		defer body.Close()
		if !r.acquireRemote(ctx) {
			return nil, "", ctx.Err()
		}
		etag, err = r.putRemote(ctx, res.client, p.Bucket, ev.Key, info.Size, meta, body)
		r.releaseRemote()
	}
	if err != nil {
		return nil, "", err
	}
	return &appliedAt{target: res.id, key: ev.Key,
		a: applied{Sequencer: ev.Sequencer, ETag: ev.ETag, Digest: digest, TargetETag: unquote(etag)}}, resultCopied, nil
}

// acquireRemote waits for one of Config.RemoteWorkers request slots.
func (r *Replicator) acquireRemote(ctx context.Context) bool {
	select {
	case r.remoteSlots <- struct{}{}:
		return true
	case <-ctx.Done():
		return false
	}
}

func (r *Replicator) releaseRemote() { <-r.remoteSlots }

// linker is a store that can make an object share the bytes of another
// of its objects (fsstore.Store), so a copy to a bucket of the same store
// writes only metadata. src names the source and the ETag it must still
// have; the store answers PreconditionFailed or NoSuchKey when it changed.
type linker interface {
	LinkObject(ctx context.Context, src sluice.ObjectInfo, dst *sluice.PutObjectInput) (sluice.ObjectInfo, error)
}

// joiner is a store whose changes can join the group commits of the
// writes they follow instead of leading commits of their own
// (fsstore.Store): a copy made for every write then adds no fsyncs.
type joiner interface {
	JoinCommits(ctx context.Context) context.Context
}

// localCtx is the context of a change to this store made for a copy.
func (r *Replicator) localCtx(ctx context.Context) context.Context {
	if j, ok := r.store.(joiner); ok {
		return j.JoinCommits(ctx)
	}
	return ctx
}

// copyLocal copies the snapshot obj to a bucket of this store: by linking
// when the store can and the source still is that snapshot, else by
// streaming the snapshot's bytes, which is also what a source replaced
// since needs (its own event follows and wins).
func (r *Replicator) copyLocal(ctx context.Context, bucket, key string, obj sluice.Object, meta sluice.ObjectMeta) (string, error) {
	info := obj.Info()
	ctx = r.localCtx(ctx)
	if l, ok := r.store.(linker); ok {
		// The copy's own event stays ObjectCreated:Put, as a streamed
		// copy's is, so triggers on the target bucket see no difference.
		out, err := l.LinkObject(ctx, info, &sluice.PutObjectInput{Bucket: bucket, Key: key, Meta: meta, EventName: sluice.EventObjectCreatedPut})
		switch {
		case err == nil:
			return out.ETag, nil
		case sluice.IsCode(err, sluice.ErrNoSuchBucket):
			return "", fmt.Errorf("target bucket %s: %w", bucket, err)
		case !sluice.IsCode(err, sluice.ErrPreconditionFailed) && !sluice.IsCode(err, sluice.ErrNoSuchKey):
			return "", fmt.Errorf("link %s/%s: %w", bucket, key, err)
		}
	}
	body, err := obj.Reader(0, -1)
	if err != nil {
		return "", fmt.Errorf("read source %s/%s: %w", info.Bucket, info.Key, err)
	}
	defer body.Close()
	return r.putLocal(ctx, bucket, key, info, meta, body)
}

func (r *Replicator) putLocal(ctx context.Context, bucket, key string, info sluice.ObjectInfo, meta sluice.ObjectMeta, body io.Reader) (string, error) {
	in := &sluice.PutObjectInput{Bucket: bucket, Key: key, Body: body, Size: info.Size, Meta: meta}
	if len(info.Parts) == 0 && !strings.Contains(info.ETag, "-") {
		want := unquote(info.ETag)
		in.Verify = func(c sluice.Checksums) error {
			if got := hex.EncodeToString(c.MD5); got != want {
				return fmt.Errorf("copy of %s has MD5 %s, source ETag %s", key, got, want)
			}
			return nil
		}
	}
	out, err := r.store.PutObject(ctx, in)
	if sluice.IsCode(err, sluice.ErrNoSuchBucket) {
		return "", fmt.Errorf("target bucket %s: %w", bucket, err)
	}
	if err != nil {
		return "", fmt.Errorf("write %s/%s: %w", bucket, key, err)
	}
	return out.ETag, nil
}

func (r *Replicator) putRemote(ctx context.Context, c *s3.Client, bucket, key string, size int64, meta sluice.ObjectMeta, body io.Reader) (string, error) {
	in := &s3.PutObjectInput{
		Bucket:        aws.String(bucket),
		Key:           aws.String(key),
		Body:          body,
		ContentLength: aws.Int64(size),
		Metadata:      meta.User,
	}
	setString(&in.ContentType, meta.ContentType)
	setString(&in.ContentEncoding, meta.ContentEncoding)
	setString(&in.ContentDisposition, meta.ContentDisposition)
	setString(&in.ContentLanguage, meta.ContentLanguage)
	setString(&in.CacheControl, meta.CacheControl)
	setString(&in.WebsiteRedirectLocation, meta.WebsiteRedirect)
	if meta.Expires != "" {
		if t, err := http.ParseTime(meta.Expires); err == nil {
			in.Expires = aws.Time(t)
		}
	}
	if meta.StorageClass != "" {
		in.StorageClass = types.StorageClass(meta.StorageClass)
	}
	if len(meta.Tags) > 0 {
		q := url.Values{}
		for _, t := range meta.Tags {
			q.Add(t.Key, t.Value)
		}
		in.Tagging = aws.String(q.Encode())
	}
	if size >= r.cfg.MultipartThreshold {
		up := manager.NewUploader(c, func(u *manager.Uploader) {
			u.PartSize = r.cfg.PartSize
			u.Concurrency = 2
		})
		in.ContentLength = nil
		out, err := up.Upload(ctx, in)
		if err != nil {
			return "", remoteErr(bucket, key, err)
		}
		return aws.ToString(out.ETag), nil
	}
	out, err := c.PutObject(ctx, in, s3.WithAPIOptions(v4.SwapComputePayloadSHA256ForUnsignedPayloadMiddleware))
	if err != nil {
		return "", remoteErr(bucket, key, err)
	}
	return aws.ToString(out.ETag), nil
}

// remoteErr classifies an endpoint's answer: client errors other than a
// missing bucket or throttling will not change on a retry.
func remoteErr(bucket, key string, err error) error {
	err = fmt.Errorf("write %s/%s on endpoint: %w", bucket, key, err)
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "NoSuchBucket", "SlowDown", "RequestTimeout", "InternalError", "ServiceUnavailable":
			return err
		case "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidArgument", "InvalidBucketName", "EntityTooLarge":
			return permanentError{err}
		}
	}
	return err
}

func setString(dst **string, v string) {
	if v != "" {
		*dst = aws.String(v)
	}
}

// deleteAt mirrors a removal to one target and returns the result for
// sluice_replicate_copies_total.
func (r *Replicator) deleteAt(ctx context.Context, ev sluice.Event, p plan) (*appliedAt, string, error) {
	res, err := r.resolve(ctx, p.Target)
	if err != nil {
		return nil, "", err
	}
	prev, found, err := r.lookup(res.id, ev.Key)
	if err != nil {
		return nil, "", err
	}
	if found {
		switch c := cmpSequencer(ev.Sequencer, prev.Sequencer); {
		case c < 0:
			return nil, resultSuperseded, nil
		case c == 0 || prev.Deleted && ev.Name != sluice.EventObjectRemovedMarker:
			// A delete on a deleted target changes nothing; a newer
			// delete marker still makes one on a versioned target, as a
			// DELETE there does, so that each marker is mirrored.
			return nil, resultSkipped, nil
		}
	}
	if res.client == nil {
		gctx, recorded := r.guarded(ctx, res.id, ev.Key, ev, applied{Sequencer: ev.Sequencer, Deleted: true})
		// As S3's DeleteObject without a version id: a marker in a
		// versioned target, a delete in an unversioned one.
		_, err = r.store.DeleteVersion(r.localCtx(gctx), p.Bucket, ev.Key, "")
		switch {
		case errors.Is(err, errNotNewer):
			return nil, resultSuperseded, nil
		case err == nil && recorded:
			return nil, resultDeleted, nil
		case err != nil:
			err = fmt.Errorf("delete %s/%s: %w", p.Bucket, ev.Key, err)
		}
	} else {
		if !r.acquireRemote(ctx) {
			return nil, "", ctx.Err()
		}
		_, err = res.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(p.Bucket), Key: aws.String(ev.Key)})
		r.releaseRemote()
		if err != nil {
			err = remoteErr(p.Bucket, ev.Key, err)
		}
	}
	if err != nil {
		return nil, "", err
	}
	return &appliedAt{target: res.id, key: ev.Key, a: applied{Sequencer: ev.Sequencer, Deleted: true}}, resultDeleted, nil
}

// metaDigest identifies everything but the bytes that a copy carries, so a
// rewrite with the same bytes and new metadata or tags is copied again.
func metaDigest(m sluice.ObjectMeta) string {
	b, _ := json.Marshal(m)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

// cmpSequencer compares two sequencers as AWS documents: left-pad the
// shorter with zeros, then compare as strings.
func cmpSequencer(a, b string) int {
	n := max(len(a), len(b))
	return strings.Compare(strings.Repeat("0", n-len(a))+strings.ToUpper(a), strings.Repeat("0", n-len(b))+strings.ToUpper(b))
}

func unquote(etag string) string { return strings.Trim(etag, `"`) }

// newClient builds the S3 client of a remote region.
func (r *Replicator) newClient(region string, ep endpoint) *s3.Client {
	ak, sk := ep.accessKey, ep.secretKey
	if ak == "" {
		ak, sk = r.cfg.AccessKey, r.cfg.SecretKey
	}
	return s3.New(s3.Options{
		Region:                     region,
		BaseEndpoint:               aws.String(ep.base),
		UsePathStyle:               true,
		Credentials:                credentials.NewStaticCredentialsProvider(ak, sk, ""),
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
		HTTPClient: &http.Client{Transport: &http.Transport{
			Proxy:                 nil,
			ResponseHeaderTimeout: r.cfg.RequestTimeout,
			IdleConnTimeout:       90 * time.Second,
			MaxIdleConnsPerHost:   r.cfg.RemoteWorkers * 2,
		}},
		RetryMaxAttempts: 1, // the replicator retries with its own budget
	})
}
