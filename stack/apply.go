package stack

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront"
	cftypes "github.com/aws/aws-sdk-go-v2/service/cloudfront/types"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	ltypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/notify"
)

// HTTPAPIs is the registry of HTTP APIs Apply puts stack APIs into (the
// apigw package, adapted by the caller).
type HTTPAPIs interface {
	PutAPI(api HTTPAPI) error
	RemoveAPI(id string)
}

// Targets are the services a stack is applied to: AWS SDK clients pointed
// at this Sluice's front door, the HTTP API registry, and the directory
// where the stack's state file lives.
type Targets struct {
	S3         *s3.Client
	Lambda     *lambda.Client
	CloudFront *cloudfront.Client
	// APIs may be nil: HTTP APIs are then skipped with a warning.
	APIs HTTPAPIs
	// DataDir holds stacks/<StackName>.json.
	DataDir string
}

// Result is what one Apply did.
type Result struct {
	Changes  []Change
	Outputs  []Output
	Warnings []string
}

// Apply creates, updates and deletes the stack's resources so that they
// match st, and returns the resolved outputs. It is idempotent: applying an
// unchanged stack again changes nothing (HTTP APIs, held in memory by their
// registry, are always put again). State is saved after every resource, so
// an interrupted Apply is finished by the next one.
func Apply(ctx context.Context, st *Stack, t Targets, log *slog.Logger) (*Result, error) {
	if t.S3 == nil || t.Lambda == nil || t.CloudFront == nil {
		return nil, errors.New("apply stack: the S3, Lambda and CloudFront clients are required")
	}
	if t.DataDir == "" {
		return nil, errors.New("apply stack: DataDir is required")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	a := &applier{st: st, t: t, log: log.With("stack", st.Name), vals: map[string]string{}, res: &Result{}}
	a.path = statePath(t.DataDir, st.Name)
	state, err := loadState(a.path, st.Name)
	if err != nil {
		return nil, err
	}
	a.state = state
	for id, e := range state.Resources {
		a.remember(id, e)
	}
	a.res.Warnings = append(a.res.Warnings, st.Warnings...)
	if err := a.run(ctx); err != nil {
		return a.res, err
	}
	return a.res, nil
}

type applier struct {
	st    *Stack
	t     Targets
	log   *slog.Logger
	path  string
	state *state
	// vals are the deferred values known so far ("Cdn.Id" -> "E...").
	vals map[string]string
	res  *Result
	// changed functions this run (their versions are republished).
	changedFns map[string]bool
	// functions whose configuration still holds unresolved tokens.
	pendingFns []int
}

func (a *applier) remember(id string, e *stateEntry) {
	switch e.Kind {
	case kindDistribution:
		a.vals[id+".Id"] = e.Physical
		a.vals[id+".DomainName"] = e.DomainName
	case kindFunction:
		if e.VersionARN != "" {
			a.vals[id+".Version"] = e.VersionARN
		}
	case kindOAC:
		a.vals[id+".Id"] = e.Physical
	case kindOAI:
		a.vals[id+".Id"] = e.Physical
		a.vals[id+".S3CanonicalUserId"] = e.CanonicalUser
	case kindVersion:
		a.vals[id+".Arn"] = e.VersionARN
		a.vals[id+".Version"] = e.VersionARN[strings.LastIndexByte(e.VersionARN, ':')+1:]
	}
}

func (a *applier) save() error { return a.state.save(a.path) }

func (a *applier) record(c Change) {
	a.res.Changes = append(a.res.Changes, c)
	if c.Action != ActionUnchanged {
		a.log.Info("stack resource "+c.Action+"d", "kind", c.Kind, "logicalId", c.LogicalID, "physicalId", c.PhysicalID)
	}
}

func (a *applier) warn(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	a.res.Warnings = append(a.res.Warnings, msg)
	a.log.Warn(msg)
}

// resolve replaces the deferred tokens of s; ok is false if one is not
// known yet.
func (a *applier) resolve(s string) (string, bool) {
	ok := true
	out := deferredRE.ReplaceAllStringFunc(s, func(tok string) string {
		m := deferredRE.FindStringSubmatch(tok)
		if v, found := a.vals[m[1]+"."+m[2]]; found && v != "" {
			return v
		}
		ok = false
		return tok
	})
	return out, ok
}

func hashOf(v any) string {
	b, _ := json.Marshal(v)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:12])
}

func (a *applier) run(ctx context.Context) error {
	fnHashes := make([]string, len(a.st.Functions))
	for i, f := range a.st.Functions {
		h, err := a.functionHash(f)
		if err != nil {
			return err
		}
		fnHashes[i] = h
	}
	var want []desired
	for _, b := range a.st.Buckets {
		want = append(want, desired{b.LogicalID, kindBucket, hashOf(b.Name)})
	}
	for i, f := range a.st.Functions {
		want = append(want, desired{f.LogicalID, kindFunction, fnHashes[i]})
	}
	for _, v := range a.st.Versions {
		want = append(want, desired{v.LogicalID, kindVersion, hashOf(v)})
	}
	for _, api := range a.st.HTTPAPIs {
		want = append(want, desired{api.LogicalID, kindAPI, hashOf(api)})
	}
	for _, d := range a.st.Distributions {
		want = append(want, desired{d.LogicalID, kindDistribution, ""}) // hashed once resolved
	}
	for _, o := range a.st.OriginAccessControls {
		want = append(want, desired{o.LogicalID, kindOAC, hashOf(o)})
	}
	for _, o := range a.st.OriginAccessIdentities {
		want = append(want, desired{o.LogicalID, kindOAI, hashOf(o)})
	}
	for _, p := range a.st.BucketPolicies {
		want = append(want, desired{p.LogicalID, kindBucketPolicy, ""}) // hashed once resolved
	}
	changes := plan(want, a.state)
	action := map[string]Change{}
	var deletes []Change
	for _, c := range changes {
		if c.Action == ActionDelete {
			deletes = append(deletes, c)
		} else {
			action[c.LogicalID] = c
		}
	}
	// Kind changes: the old resource goes first.
	for _, c := range deletes {
		if _, replaced := action[c.LogicalID]; replaced {
			if err := a.delete(ctx, c); err != nil {
				return err
			}
		}
	}
	for _, b := range a.st.Buckets {
		if err := a.bucket(ctx, b); err != nil {
			return err
		}
	}
	a.changedFns = map[string]bool{}
	for i := range a.st.Functions {
		if err := a.function(ctx, i, fnHashes[i]); err != nil {
			return err
		}
	}
	for _, v := range a.st.Versions {
		if err := a.version(ctx, v); err != nil {
			return err
		}
	}
	for _, api := range a.st.HTTPAPIs {
		if err := a.api(api); err != nil {
			return err
		}
	}
	for _, o := range a.st.OriginAccessControls {
		if err := a.oac(ctx, o); err != nil {
			return err
		}
	}
	for _, o := range a.st.OriginAccessIdentities {
		if err := a.oai(ctx, o); err != nil {
			return err
		}
	}
	for _, p := range a.st.Permissions {
		// Sluice authorises invocations by SigV4 credentials and does not
		// enforce resource policies, so there is nothing to create.
		a.log.Debug("lambda permission recorded, not enforced locally", "logicalId", p.LogicalID,
			"function", p.FunctionName, "principal", p.Principal, "sourceArn", p.SourceARN)
	}
	for _, d := range a.st.Distributions {
		if err := a.distribution(ctx, d); err != nil {
			return err
		}
	}
	for _, i := range a.pendingFns {
		f := a.st.Functions[i]
		in, err := a.configInput(f)
		if err != nil {
			return err
		}
		if _, err := a.t.Lambda.UpdateFunctionConfiguration(ctx, in); err != nil {
			return fmt.Errorf("update function %s: %w", f.Name, err)
		}
		// Hash what is now applied, so the next Apply sees no change.
		h, err := a.functionHash(f)
		if err != nil {
			return err
		}
		a.state.Resources[f.LogicalID].Hash = h
	}
	for _, b := range a.st.Buckets {
		if err := a.bucketConfigs(ctx, b); err != nil {
			return err
		}
	}
	for _, p := range a.st.BucketPolicies {
		if err := a.bucketPolicy(ctx, p); err != nil {
			return err
		}
	}
	for _, c := range deletes {
		if _, replaced := action[c.LogicalID]; !replaced {
			if err := a.delete(ctx, c); err != nil {
				return err
			}
		}
	}
	for _, o := range a.st.Outputs {
		v, ok := a.resolve(o.Value)
		if !ok {
			a.warn("Outputs.%s: %s is not known after apply", o.Name, o.Value)
		}
		o.Value = edgeURL(v, a.st.EdgeHost)
		a.res.Outputs = append(a.res.Outputs, o)
	}
	return a.save()
}

var edgeURLRE = regexp.MustCompile(`https?://([a-z0-9]+\.localhost)(/|$)`)

// edgeURL points https://<id>.localhost URLs (from Sub on a distribution's
// DomainName) at the local edge's port.
func edgeURL(s, edgeHost string) string {
	port := ""
	if i := strings.LastIndexByte(edgeHost, ':'); i >= 0 {
		port = edgeHost[i:]
	}
	return edgeURLRE.ReplaceAllString(s, "http://${1}"+port+"${2}")
}

// --- buckets ---

func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func (a *applier) bucket(ctx context.Context, b Bucket) error {
	e := a.state.Resources[b.LogicalID]
	if e != nil && e.Kind == kindBucket && e.Physical != b.Name {
		// Renamed: the old bucket is removed if empty.
		if err := a.deleteBucket(ctx, e.Physical); err != nil {
			return err
		}
		e = nil
	}
	_, err := a.t.S3.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(b.Name)})
	created := false
	switch code := apiCode(err); {
	case err == nil:
	case code == "NotFound" || code == "NoSuchBucket":
		in := &s3.CreateBucketInput{Bucket: aws.String(b.Name)}
		if a.st.Region != "" && a.st.Region != "us-east-1" {
			in.CreateBucketConfiguration = &s3types.CreateBucketConfiguration{LocationConstraint: s3types.BucketLocationConstraint(a.st.Region)}
		}
		if _, err := a.t.S3.CreateBucket(ctx, in); err != nil && apiCode(err) != "BucketAlreadyOwnedByYou" {
			return fmt.Errorf("create bucket %s: %w", b.Name, err)
		}
		created = true
	default:
		return fmt.Errorf("head bucket %s: %w", b.Name, err)
	}
	if e == nil || created {
		e = &stateEntry{Kind: kindBucket, Physical: b.Name}
		a.state.Resources[b.LogicalID] = e
	}
	action := ActionUnchanged
	if created {
		action = ActionCreate
	}
	e.Hash = hashOf(b.Name)
	if th := hashOf(b.Tags); th != e.TagsHash || created {
		if len(b.Tags) > 0 {
			ts := make([]s3types.Tag, len(b.Tags))
			for i, t := range b.Tags {
				ts[i] = s3types.Tag{Key: aws.String(t.Key), Value: aws.String(t.Value)}
			}
			if _, err := a.t.S3.PutBucketTagging(ctx, &s3.PutBucketTaggingInput{Bucket: aws.String(b.Name), Tagging: &s3types.Tagging{TagSet: ts}}); err != nil {
				return fmt.Errorf("tag bucket %s: %w", b.Name, err)
			}
		} else if e.TagsHash != "" {
			if _, err := a.t.S3.DeleteBucketTagging(ctx, &s3.DeleteBucketTaggingInput{Bucket: aws.String(b.Name)}); err != nil {
				return fmt.Errorf("untag bucket %s: %w", b.Name, err)
			}
		}
		if !created {
			action = ActionUpdate
		}
		e.TagsHash = th
	}
	if b.Versioning != e.Versioning {
		// Put before the replication and notification configurations
		// (bucketConfigs), since replication needs versioning enabled. A
		// bucket never returns to unversioned: a status removed from the
		// template suspends versioning, as CloudFormation does.
		status := b.Versioning
		if status == "" {
			status = sluice.VersioningSuspended
		}
		if _, err := a.t.S3.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{Bucket: aws.String(b.Name),
			VersioningConfiguration: &s3types.VersioningConfiguration{Status: s3types.BucketVersioningStatus(status)}}); err != nil {
			return fmt.Errorf("put versioning of bucket %s: %w", b.Name, err)
		}
		if action == ActionUnchanged {
			action = ActionUpdate
		}
		e.Versioning = b.Versioning
		a.log.Info("bucket versioning put", "bucket", b.Name, "status", status)
	}
	a.record(Change{Action: action, Kind: kindBucket, LogicalID: b.LogicalID, PhysicalID: b.Name})
	return a.save()
}

// bucketConfigs puts notification and replication configurations once
// the functions they name exist.
func (a *applier) bucketConfigs(ctx context.Context, b Bucket) error {
	e := a.state.Resources[b.LogicalID]
	rules := len(b.Notifications) + len(b.Webhooks)
	if nh := notifyHash(b); rules > 0 && nh != e.NotifyHash || rules == 0 && e.NotifyHash != "" {
		doc, err := a.notificationDocument(b)
		if err != nil {
			return err
		}
		// The SDK's NotificationConfiguration has no WebhookConfiguration,
		// so the document is sent as it is, through the same client.
		if _, err := a.t.S3.PutBucketNotificationConfiguration(ctx, &s3.PutBucketNotificationConfigurationInput{
			Bucket: aws.String(b.Name), NotificationConfiguration: &s3types.NotificationConfiguration{}}, rawBody(doc)); err != nil {
			return fmt.Errorf("put notification configuration of bucket %s: %w", b.Name, err)
		}
		e.NotifyHash = ""
		if rules > 0 {
			e.NotifyHash = nh
		}
		a.log.Info("bucket notifications put", "bucket", b.Name, "lambdaRules", len(b.Notifications), "webhookRules", len(b.Webhooks))
	}
	rh := hashOf(b.Replication)
	switch {
	case b.Replication != nil && rh != e.ReplHash:
		rc := &s3types.ReplicationConfiguration{Role: aws.String(b.Replication.Role)}
		for _, r := range b.Replication.Rules {
			rr := s3types.ReplicationRule{Status: s3types.ReplicationRuleStatus(r.Status),
				Destination: &s3types.Destination{Bucket: aws.String(r.Destination)}}
			if r.ID != "" {
				rr.ID = aws.String(r.ID)
			}
			if r.StorageClass != "" {
				rr.Destination.StorageClass = s3types.StorageClass(r.StorageClass)
			}
			if r.UseFilter {
				rr.Priority = aws.Int32(int32(r.Priority))
				f := &s3types.ReplicationRuleFilter{}
				switch {
				case len(r.Tags) == 0:
					f.Prefix = aws.String(r.Prefix)
				case len(r.Tags) == 1 && r.Prefix == "":
					f.Tag = &s3types.Tag{Key: aws.String(r.Tags[0].Key), Value: aws.String(r.Tags[0].Value)}
				default:
					and := &s3types.ReplicationRuleAndOperator{Prefix: aws.String(r.Prefix)}
					for _, t := range r.Tags {
						and.Tags = append(and.Tags, s3types.Tag{Key: aws.String(t.Key), Value: aws.String(t.Value)})
					}
					f.And = and
				}
				rr.Filter = f
			} else {
				rr.Prefix = aws.String(r.Prefix)
			}
			if r.DeleteMarkerReplication != "" {
				rr.DeleteMarkerReplication = &s3types.DeleteMarkerReplication{Status: s3types.DeleteMarkerReplicationStatus(r.DeleteMarkerReplication)}
			}
			rc.Rules = append(rc.Rules, rr)
		}
		if _, err := a.t.S3.PutBucketReplication(ctx, &s3.PutBucketReplicationInput{Bucket: aws.String(b.Name), ReplicationConfiguration: rc}); err != nil {
			return fmt.Errorf("put replication configuration of bucket %s: %w", b.Name, err)
		}
		e.ReplHash = rh
	case b.Replication == nil && e.ReplHash != "":
		if _, err := a.t.S3.DeleteBucketReplication(ctx, &s3.DeleteBucketReplicationInput{Bucket: aws.String(b.Name)}); err != nil {
			return fmt.Errorf("delete replication configuration of bucket %s: %w", b.Name, err)
		}
		e.ReplHash = ""
	}
	return a.save()
}

// notifyHash is the state's hash of a bucket's notification rules.
// Webhook secrets take part through a digest, so that a new secret is put
// while the state file never holds one.
func notifyHash(b Bucket) string {
	if len(b.Webhooks) == 0 {
		// What states written before webhooks existed hold: an unchanged
		// template stays unchanged across the upgrade.
		return hashOf(b.Notifications)
	}
	type hook struct {
		Webhook
		SecretHash string
	}
	hooks := make([]hook, len(b.Webhooks))
	for i, w := range b.Webhooks {
		hooks[i] = hook{Webhook: w}
		if w.Secret != "" {
			sum := sha256.Sum256([]byte("sluice webhook secret\n" + w.Secret))
			hooks[i].SecretHash = hex.EncodeToString(sum[:])
		}
	}
	return hashOf(struct {
		Lambda   []Notification
		Webhooks []hook
	}{b.Notifications, hooks})
}

// notificationDocument renders a bucket's rules as the
// PutBucketNotificationConfiguration document, webhooks included.
func (a *applier) notificationDocument(b Bucket) ([]byte, error) {
	cfg := &notify.Configuration{}
	for _, n := range b.Notifications {
		arn, _ := a.resolve(n.FunctionARN)
		cfg.Lambdas = append(cfg.Lambdas, notify.LambdaRule{ID: n.ID, Function: arn, Events: n.Events,
			Filter: keyFilter(n.Prefix, n.Suffix)})
	}
	for _, w := range b.Webhooks {
		u, ok := a.resolve(w.URL)
		if !ok {
			return nil, fmt.Errorf("webhook rule %s of bucket %s refers to values not known yet: %s", w.ID, b.Name, strings.Join(deferredRE.FindAllString(u, -1), ", "))
		}
		cfg.Webhooks = append(cfg.Webhooks, notify.WebhookRule{ID: w.ID, URL: u, Secret: w.Secret, BatchSize: w.BatchSize,
			Events: w.Events, Filter: keyFilter(w.Prefix, w.Suffix)})
	}
	doc, err := cfg.Marshal()
	if err != nil {
		return nil, fmt.Errorf("notification configuration of bucket %s: %w", b.Name, err)
	}
	return doc, nil
}

func keyFilter(prefix, suffix string) *notify.Filter {
	var f notify.Filter
	if prefix != "" {
		f.Rules = append(f.Rules, notify.FilterRule{Name: "Prefix", Value: prefix})
	}
	if suffix != "" {
		f.Rules = append(f.Rules, notify.FilterRule{Name: "Suffix", Value: suffix})
	}
	if len(f.Rules) == 0 {
		return nil
	}
	return &f
}

// rawBody makes an S3 operation send doc in place of the body the SDK
// serialized, keeping the client's endpoint, credentials, signing and
// retries (the payload hash is computed later, over doc).
func rawBody(doc []byte) func(*s3.Options) {
	swap := middleware.SerializeMiddlewareFunc("SluiceRawBody", func(ctx context.Context, in middleware.SerializeInput, next middleware.SerializeHandler) (middleware.SerializeOutput, middleware.Metadata, error) {
		req, ok := in.Request.(*smithyhttp.Request)
		if !ok {
			return middleware.SerializeOutput{}, middleware.Metadata{}, fmt.Errorf("raw request body: unexpected request type %T", in.Request)
		}
		r, err := req.SetStream(bytes.NewReader(doc))
		if err != nil {
			return middleware.SerializeOutput{}, middleware.Metadata{}, fmt.Errorf("raw request body: %w", err)
		}
		r.ContentLength = int64(len(doc))
		r.Header.Set("Content-Type", "application/xml")
		in.Request = r
		return next.HandleSerialize(ctx, in)
	})
	return func(o *s3.Options) {
		o.APIOptions = append(o.APIOptions, func(st *middleware.Stack) error {
			return st.Serialize.Add(swap, middleware.After)
		})
	}
}

// bucketPolicy puts a policy once the values it names (a distribution's
// Id) are known.
func (a *applier) bucketPolicy(ctx context.Context, p BucketPolicy) error {
	doc, ok := a.resolve(p.Document)
	if !ok {
		return fmt.Errorf("bucket policy %s refers to values not known yet: %s", p.LogicalID, strings.Join(deferredRE.FindAllString(doc, -1), ", "))
	}
	h := hashOf(p.Bucket + "\n" + doc)
	e := a.state.Resources[p.LogicalID]
	if e != nil && e.Kind == kindBucketPolicy && e.Physical != p.Bucket {
		// Moved to another bucket: the old one loses it.
		if _, err := a.t.S3.DeleteBucketPolicy(ctx, &s3.DeleteBucketPolicyInput{Bucket: aws.String(e.Physical)}); err != nil {
			if code := apiCode(err); code != "NoSuchBucket" && code != "NoSuchBucketPolicy" {
				return fmt.Errorf("delete policy of bucket %s: %w", e.Physical, err)
			}
		}
		e = nil
	}
	action := ActionUnchanged
	if e == nil || e.Kind != kindBucketPolicy || e.Hash != h {
		if _, err := a.t.S3.PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: aws.String(p.Bucket), Policy: aws.String(doc)}); err != nil {
			return fmt.Errorf("put policy of bucket %s: %w", p.Bucket, err)
		}
		action = ActionUpdate
		if e == nil || e.Kind != kindBucketPolicy {
			action = ActionCreate
		}
		e = &stateEntry{Kind: kindBucketPolicy, Physical: p.Bucket, Hash: h}
		a.state.Resources[p.LogicalID] = e
	}
	a.record(Change{Action: action, Kind: kindBucketPolicy, LogicalID: p.LogicalID, PhysicalID: p.Bucket})
	return a.save()
}

func (a *applier) deleteBucket(ctx context.Context, name string) error {
	out, err := a.t.S3.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(name), MaxKeys: aws.Int32(1)})
	if code := apiCode(err); code == "NoSuchBucket" || code == "NotFound" {
		return nil
	} else if err != nil {
		return fmt.Errorf("list bucket %s: %w", name, err)
	}
	if len(out.Contents) > 0 {
		a.warn("bucket %s is no longer in the template but is not empty: kept (empty it and apply again to remove it)", name)
		return nil
	}
	if _, err := a.t.S3.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String(name)}); err != nil && apiCode(err) != "NoSuchBucket" {
		return fmt.Errorf("delete bucket %s: %w", name, err)
	}
	return nil
}

// --- functions ---

func (a *applier) functionHash(f Function) (string, error) {
	code, err := codeHash(f.Code)
	if err != nil {
		return "", fmt.Errorf("function %s: %w", f.Name, err)
	}
	env := map[string]string{}
	for k, v := range f.Environment {
		r, _ := a.resolve(v)
		env[k] = r
	}
	g := f
	g.Environment = env
	return hashOf(struct {
		F    Function
		Code string
	}{g, code}), nil
}

// codeHash identifies code: a hot-reload directory by its path (its content
// is read at each invocation), anything else by its bytes.
func codeHash(c Code) (string, error) {
	switch {
	case c.Dir != "":
		return "dir:" + c.Dir, nil
	case c.Zip != "":
		f, err := os.Open(c.Zip)
		if err != nil {
			return "", fmt.Errorf("open code zip: %w", err)
		}
		defer f.Close()
		h := sha256.New()
		if _, err := io.Copy(h, f); err != nil {
			return "", fmt.Errorf("read code zip: %w", err)
		}
		return "zip:" + hex.EncodeToString(h.Sum(nil)), nil
	case c.Inline != "":
		sum := sha256.Sum256([]byte(c.Inline))
		return "inline:" + hex.EncodeToString(sum[:]), nil
	}
	return "s3:" + c.S3Bucket + "/" + c.S3Key + "@" + c.S3ObjectVersion, nil
}

func (a *applier) functionCode(f Function) (*ltypes.FunctionCode, error) {
	c := f.Code
	switch {
	case c.Dir != "":
		return &ltypes.FunctionCode{S3Bucket: aws.String("hot-reload"), S3Key: aws.String(c.Dir)}, nil
	case c.Zip != "":
		b, err := os.ReadFile(c.Zip)
		if err != nil {
			return nil, fmt.Errorf("read code zip of %s: %w", f.Name, err)
		}
		return &ltypes.FunctionCode{ZipFile: b}, nil
	case c.Inline != "":
		b, err := inlineZip(f.Runtime, c.Inline)
		if err != nil {
			return nil, fmt.Errorf("package inline code of %s: %w", f.Name, err)
		}
		return &ltypes.FunctionCode{ZipFile: b}, nil
	}
	fc := &ltypes.FunctionCode{S3Bucket: aws.String(c.S3Bucket), S3Key: aws.String(c.S3Key)}
	if c.S3ObjectVersion != "" {
		fc.S3ObjectVersion = aws.String(c.S3ObjectVersion)
	}
	return fc, nil
}

// inlineZip packages inline source as CloudFormation does: index.py for
// Python, index.js for Node.js, bootstrap otherwise.
func inlineZip(runtime, src string) ([]byte, error) {
	name, mode := "bootstrap", os.FileMode(0o755)
	switch {
	case strings.HasPrefix(runtime, "python"):
		name, mode = "index.py", 0o644
	case strings.HasPrefix(runtime, "nodejs"):
		name, mode = "index.js", 0o644
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	h := &zip.FileHeader{Name: name, Method: zip.Deflate, Modified: time.Unix(0, 0)}
	h.SetMode(mode)
	w, err := zw.CreateHeader(h)
	if err != nil {
		return nil, err
	}
	if _, err := io.WriteString(w, src); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func (a *applier) resolvedEnv(f Function) (map[string]string, bool) {
	env := map[string]string{}
	all := true
	for k, v := range f.Environment {
		r, ok := a.resolve(v)
		all = all && ok
		env[k] = r
	}
	return env, all
}

func archs(f Function) []ltypes.Architecture {
	var out []ltypes.Architecture
	for _, x := range f.Architectures {
		out = append(out, ltypes.Architecture(x))
	}
	return out
}

func (a *applier) configInput(f Function) (*lambda.UpdateFunctionConfigurationInput, error) {
	env, _ := a.resolvedEnv(f)
	return &lambda.UpdateFunctionConfigurationInput{FunctionName: aws.String(f.Name), Runtime: ltypes.Runtime(f.Runtime),
		Handler: aws.String(f.Handler), Role: aws.String(f.Role), Description: aws.String(f.Description),
		Timeout: aws.Int32(int32(f.Timeout)), MemorySize: aws.Int32(int32(f.MemorySize)),
		Environment: &ltypes.Environment{Variables: env}}, nil
}

func (a *applier) function(ctx context.Context, i int, hash string) error {
	f := a.st.Functions[i]
	e := a.state.Resources[f.LogicalID]
	if e != nil && e.Kind == kindFunction && e.Physical != f.Name {
		if _, err := a.t.Lambda.DeleteFunction(ctx, &lambda.DeleteFunctionInput{FunctionName: aws.String(e.Physical)}); err != nil && apiCode(err) != "ResourceNotFoundException" {
			return fmt.Errorf("delete renamed function %s: %w", e.Physical, err)
		}
		e = nil
	}
	_, err := a.t.Lambda.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String(f.Name)})
	exists := err == nil
	if err != nil && apiCode(err) != "ResourceNotFoundException" {
		return fmt.Errorf("get function %s: %w", f.Name, err)
	}
	env, resolved := a.resolvedEnv(f)
	if !resolved {
		a.pendingFns = append(a.pendingFns, i)
	}
	action := ActionUnchanged
	switch {
	case !exists:
		code, err := a.functionCode(f)
		if err != nil {
			return err
		}
		in := &lambda.CreateFunctionInput{FunctionName: aws.String(f.Name), Runtime: ltypes.Runtime(f.Runtime),
			Handler: aws.String(f.Handler), Role: aws.String(f.Role), Code: code, Description: aws.String(f.Description),
			Timeout: aws.Int32(int32(f.Timeout)), MemorySize: aws.Int32(int32(f.MemorySize)),
			Environment: &ltypes.Environment{Variables: env}, Architectures: archs(f), Tags: f.Tags}
		if _, err := a.t.Lambda.CreateFunction(ctx, in); err != nil {
			return fmt.Errorf("create function %s: %w", f.Name, err)
		}
		action = ActionCreate
	case e == nil || e.Hash != hash:
		in, err := a.configInput(f)
		if err != nil {
			return err
		}
		if _, err := a.t.Lambda.UpdateFunctionConfiguration(ctx, in); err != nil {
			return fmt.Errorf("update function %s: %w", f.Name, err)
		}
		code, err := a.functionCode(f)
		if err != nil {
			return err
		}
		if _, err := a.t.Lambda.UpdateFunctionCode(ctx, &lambda.UpdateFunctionCodeInput{FunctionName: aws.String(f.Name),
			ZipFile: code.ZipFile, S3Bucket: code.S3Bucket, S3Key: code.S3Key, S3ObjectVersion: code.S3ObjectVersion,
			Architectures: archs(f)}); err != nil {
			return fmt.Errorf("update code of function %s: %w", f.Name, err)
		}
		action = ActionUpdate
	}
	if e == nil {
		e = &stateEntry{Kind: kindFunction, Physical: f.Name}
		a.state.Resources[f.LogicalID] = e
	}
	changed := action != ActionUnchanged
	if changed {
		a.changedFns[f.Name] = true
		if err := a.functionExtras(ctx, f, e); err != nil {
			return err
		}
	}
	if f.AutoPublishAlias != "" && (changed || e.VersionARN == "") {
		arn, err := a.publish(ctx, f.Name, "")
		if err != nil {
			return err
		}
		if err := a.alias(ctx, f.Name, f.AutoPublishAlias, arn); err != nil {
			return err
		}
		e.VersionARN = arn
	}
	if f.AutoPublishAlias == "" {
		e.VersionARN = ""
	}
	if e.VersionARN != "" {
		a.vals[f.LogicalID+".Version"] = e.VersionARN
	}
	e.Physical, e.Hash = f.Name, hash
	a.record(Change{Action: action, Kind: kindFunction, LogicalID: f.LogicalID, PhysicalID: f.Name})
	return a.save()
}

// functionExtras applies reserved concurrency and the event invoke config.
func (a *applier) functionExtras(ctx context.Context, f Function, e *stateEntry) error {
	if f.ReservedConcurrency != nil {
		if _, err := a.t.Lambda.PutFunctionConcurrency(ctx, &lambda.PutFunctionConcurrencyInput{FunctionName: aws.String(f.Name),
			ReservedConcurrentExecutions: aws.Int32(int32(*f.ReservedConcurrency))}); err != nil {
			return fmt.Errorf("put concurrency of function %s: %w", f.Name, err)
		}
	} else if _, err := a.t.Lambda.DeleteFunctionConcurrency(ctx, &lambda.DeleteFunctionConcurrencyInput{FunctionName: aws.String(f.Name)}); err != nil && apiCode(err) != "ResourceNotFoundException" {
		return fmt.Errorf("delete concurrency of function %s: %w", f.Name, err)
	}
	if c := f.EventInvokeConfig; c != nil {
		in := &lambda.PutFunctionEventInvokeConfigInput{FunctionName: aws.String(f.Name)}
		if c.MaximumRetryAttempts != nil {
			in.MaximumRetryAttempts = aws.Int32(int32(*c.MaximumRetryAttempts))
		}
		if c.MaximumEventAgeInSeconds != nil {
			in.MaximumEventAgeInSeconds = aws.Int32(int32(*c.MaximumEventAgeInSeconds))
		}
		if c.OnSuccess != "" || c.OnFailure != "" {
			in.DestinationConfig = &ltypes.DestinationConfig{}
			if c.OnSuccess != "" {
				v, _ := a.resolve(c.OnSuccess)
				in.DestinationConfig.OnSuccess = &ltypes.OnSuccess{Destination: aws.String(v)}
			}
			if c.OnFailure != "" {
				v, _ := a.resolve(c.OnFailure)
				in.DestinationConfig.OnFailure = &ltypes.OnFailure{Destination: aws.String(v)}
			}
		}
		if _, err := a.t.Lambda.PutFunctionEventInvokeConfig(ctx, in); err != nil {
			return fmt.Errorf("put event invoke config of function %s: %w", f.Name, err)
		}
	} else if _, err := a.t.Lambda.DeleteFunctionEventInvokeConfig(ctx, &lambda.DeleteFunctionEventInvokeConfigInput{FunctionName: aws.String(f.Name)}); err != nil && apiCode(err) != "ResourceNotFoundException" {
		return fmt.Errorf("delete event invoke config of function %s: %w", f.Name, err)
	}
	return nil
}

func (a *applier) publish(ctx context.Context, fn, desc string) (string, error) {
	in := &lambda.PublishVersionInput{FunctionName: aws.String(fn)}
	if desc != "" {
		in.Description = aws.String(desc)
	}
	out, err := a.t.Lambda.PublishVersion(ctx, in)
	if err != nil {
		return "", fmt.Errorf("publish version of function %s: %w", fn, err)
	}
	arn := aws.ToString(out.FunctionArn)
	if !versionedARN(arn) {
		arn = functionARN(a.st.Region, fn) + ":" + aws.ToString(out.Version)
	}
	a.log.Info("function version published", "function", fn, "version", aws.ToString(out.Version))
	return arn, nil
}

func (a *applier) alias(ctx context.Context, fn, alias, versionARN string) error {
	v := versionARN[strings.LastIndexByte(versionARN, ':')+1:]
	_, err := a.t.Lambda.GetAlias(ctx, &lambda.GetAliasInput{FunctionName: aws.String(fn), Name: aws.String(alias)})
	switch {
	case apiCode(err) == "ResourceNotFoundException":
		_, err = a.t.Lambda.CreateAlias(ctx, &lambda.CreateAliasInput{FunctionName: aws.String(fn), Name: aws.String(alias), FunctionVersion: aws.String(v)})
	case err == nil:
		_, err = a.t.Lambda.UpdateAlias(ctx, &lambda.UpdateAliasInput{FunctionName: aws.String(fn), Name: aws.String(alias), FunctionVersion: aws.String(v)})
	}
	if err != nil {
		return fmt.Errorf("point alias %s of function %s at version %s: %w", alias, fn, v, err)
	}
	return nil
}

func (a *applier) version(ctx context.Context, v Version) error {
	e := a.state.Resources[v.LogicalID]
	action := ActionUnchanged
	if e == nil || e.Kind != kindVersion || e.VersionARN == "" || a.changedFns[v.Function] || e.Hash != hashOf(v) {
		arn, err := a.publish(ctx, v.Function, v.Description)
		if err != nil {
			return err
		}
		action = ActionCreate
		if e != nil {
			action = ActionUpdate
		}
		e = &stateEntry{Kind: kindVersion, Physical: arn, VersionARN: arn, Hash: hashOf(v)}
		a.state.Resources[v.LogicalID] = e
	}
	a.remember(v.LogicalID, e)
	a.record(Change{Action: action, Kind: kindVersion, LogicalID: v.LogicalID, PhysicalID: e.Physical})
	return a.save()
}

// --- HTTP APIs ---

func (a *applier) api(api HTTPAPI) error {
	h := hashOf(api)
	e := a.state.Resources[api.LogicalID]
	action := ActionUnchanged
	switch {
	case e == nil || e.Kind != kindAPI:
		action = ActionCreate
	case e.Hash != h:
		action = ActionUpdate
	}
	if a.t.APIs == nil {
		a.warn("HTTP API %s (%s) is not served: this Sluice has no HTTP API registry", api.LogicalID, api.ID)
		return nil
	}
	if err := a.t.APIs.PutAPI(api); err != nil {
		return fmt.Errorf("put HTTP API %s: %w", api.LogicalID, err)
	}
	a.state.Resources[api.LogicalID] = &stateEntry{Kind: kindAPI, Physical: api.ID, Hash: h}
	a.record(Change{Action: action, Kind: kindAPI, LogicalID: api.LogicalID, PhysicalID: api.ID})
	return a.save()
}

// --- distributions ---

func (a *applier) resolveConfig(d Distribution) (Distribution, error) {
	b, err := json.Marshal(d)
	if err != nil {
		return d, err
	}
	s, ok := a.resolve(string(b))
	if !ok {
		return d, fmt.Errorf("distribution %s refers to values not known yet: %s", d.LogicalID, strings.Join(deferredRE.FindAllString(s, -1), ", "))
	}
	var out Distribution
	if err := json.Unmarshal([]byte(s), &out); err != nil {
		return d, err
	}
	return out, nil
}

func (a *applier) distribution(ctx context.Context, d Distribution) error {
	d, err := a.resolveConfig(d)
	if err != nil {
		return err
	}
	h := hashOf(d)
	e := a.state.Resources[d.LogicalID]
	cfg := cloudFrontConfig(d.DistributionConfig)
	action := ActionUnchanged
	var etag *string
	if e != nil && e.Kind == kindDistribution {
		got, err := a.t.CloudFront.GetDistributionConfig(ctx, &cloudfront.GetDistributionConfigInput{Id: aws.String(e.Physical)})
		switch {
		case apiCode(err) == "NoSuchDistribution":
			e = nil
		case err != nil:
			return fmt.Errorf("get distribution %s: %w", e.Physical, err)
		default:
			etag = got.ETag
		}
	} else {
		e = nil
	}
	switch {
	case e == nil:
		out, err := a.t.CloudFront.CreateDistribution(ctx, &cloudfront.CreateDistributionInput{DistributionConfig: cfg})
		if apiCode(err) == "DistributionAlreadyExists" {
			// The state was lost but the distribution this stack made
			// exists: its CallerReference says so. Adopt it and update it.
			id, tag, ferr := a.findDistribution(ctx, d.CallerReference)
			if ferr == nil && id != "" {
				up, uerr := a.t.CloudFront.UpdateDistribution(ctx, &cloudfront.UpdateDistributionInput{Id: aws.String(id), IfMatch: tag, DistributionConfig: cfg})
				if uerr != nil {
					return fmt.Errorf("update distribution %s: %w", id, uerr)
				}
				e = &stateEntry{Kind: kindDistribution, Physical: id, DomainName: aws.ToString(up.Distribution.DomainName), Hash: h}
				a.state.Resources[d.LogicalID] = e
				a.remember(d.LogicalID, e)
				a.log.Info("distribution adopted by its CallerReference", "logicalId", d.LogicalID, "id", id)
				a.record(Change{Action: ActionUpdate, Kind: kindDistribution, LogicalID: d.LogicalID, PhysicalID: id})
				return a.save()
			}
			err = fmt.Errorf("%w (a distribution with CallerReference %s exists but could not be found: delete it or restore the state file %s)", err, d.CallerReference, a.path)
		}
		if err != nil {
			return fmt.Errorf("create distribution %s: %w", d.LogicalID, err)
		}
		e = &stateEntry{Kind: kindDistribution, Physical: aws.ToString(out.Distribution.Id), DomainName: aws.ToString(out.Distribution.DomainName)}
		if len(d.Tags) > 0 {
			tags := &cftypes.Tags{}
			for _, t := range d.Tags {
				tags.Items = append(tags.Items, cftypes.Tag{Key: aws.String(t.Key), Value: aws.String(t.Value)})
			}
			if _, err := a.t.CloudFront.TagResource(ctx, &cloudfront.TagResourceInput{Resource: out.Distribution.ARN, Tags: tags}); err != nil {
				return fmt.Errorf("tag distribution %s: %w", e.Physical, err)
			}
		}
		action = ActionCreate
	case e.Hash != h:
		out, err := a.t.CloudFront.UpdateDistribution(ctx, &cloudfront.UpdateDistributionInput{Id: aws.String(e.Physical), IfMatch: etag, DistributionConfig: cfg})
		if err != nil {
			return fmt.Errorf("update distribution %s: %w", e.Physical, err)
		}
		e.DomainName = aws.ToString(out.Distribution.DomainName)
		action = ActionUpdate
	}
	e.Hash = h
	a.state.Resources[d.LogicalID] = e
	a.remember(d.LogicalID, e)
	a.record(Change{Action: action, Kind: kindDistribution, LogicalID: d.LogicalID, PhysicalID: e.Physical})
	return a.save()
}

// --- deletes ---

func (a *applier) delete(ctx context.Context, c Change) error {
	var err error
	switch c.Kind {
	case kindBucket:
		err = a.deleteBucket(ctx, c.PhysicalID)
	case kindFunction:
		_, err = a.t.Lambda.DeleteFunction(ctx, &lambda.DeleteFunctionInput{FunctionName: aws.String(c.PhysicalID)})
		if apiCode(err) == "ResourceNotFoundException" {
			err = nil
		}
	case kindVersion:
		// A version lives and dies with its function; an orphaned one is
		// harmless and Lambda@Edge may still name it.
	case kindAPI:
		if a.t.APIs != nil {
			a.t.APIs.RemoveAPI(c.PhysicalID)
		}
	case kindDistribution:
		err = a.deleteDistribution(ctx, c.PhysicalID)
	case kindOAC:
		err = a.deleteOAC(ctx, c.PhysicalID)
	case kindOAI:
		err = a.deleteOAI(ctx, c.PhysicalID)
	case kindBucketPolicy:
		_, err = a.t.S3.DeleteBucketPolicy(ctx, &s3.DeleteBucketPolicyInput{Bucket: aws.String(c.PhysicalID)})
		if code := apiCode(err); code == "NoSuchBucket" || code == "NoSuchBucketPolicy" {
			err = nil
		}
	}
	if err != nil {
		return err
	}
	if e := a.state.Resources[c.LogicalID]; e != nil && e.Kind == c.Kind && e.Physical == c.PhysicalID {
		delete(a.state.Resources, c.LogicalID)
	}
	a.record(c)
	return a.save()
}

// findDistribution returns the id and ETag of the distribution whose
// CallerReference is ref.
func (a *applier) findDistribution(ctx context.Context, ref string) (string, *string, error) {
	p := cloudfront.NewListDistributionsPaginator(a.t.CloudFront, &cloudfront.ListDistributionsInput{})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return "", nil, err
		}
		if page.DistributionList == nil {
			break
		}
		for _, it := range page.DistributionList.Items {
			got, err := a.t.CloudFront.GetDistributionConfig(ctx, &cloudfront.GetDistributionConfigInput{Id: it.Id})
			if err != nil {
				return "", nil, err
			}
			if aws.ToString(got.DistributionConfig.CallerReference) == ref {
				return aws.ToString(it.Id), got.ETag, nil
			}
		}
	}
	return "", nil, nil
}

func (a *applier) deleteDistribution(ctx context.Context, id string) error {
	got, err := a.t.CloudFront.GetDistributionConfig(ctx, &cloudfront.GetDistributionConfigInput{Id: aws.String(id)})
	if apiCode(err) == "NoSuchDistribution" {
		return nil
	}
	if err != nil {
		return fmt.Errorf("get distribution %s: %w", id, err)
	}
	etag := got.ETag
	if aws.ToBool(got.DistributionConfig.Enabled) {
		got.DistributionConfig.Enabled = aws.Bool(false)
		out, err := a.t.CloudFront.UpdateDistribution(ctx, &cloudfront.UpdateDistributionInput{Id: aws.String(id), IfMatch: etag, DistributionConfig: got.DistributionConfig})
		if err != nil {
			return fmt.Errorf("disable distribution %s: %w", id, err)
		}
		etag = out.ETag
	}
	if _, err := a.t.CloudFront.DeleteDistribution(ctx, &cloudfront.DeleteDistributionInput{Id: aws.String(id), IfMatch: etag}); err != nil && apiCode(err) != "NoSuchDistribution" {
		return fmt.Errorf("delete distribution %s: %w", id, err)
	}
	return nil
}
