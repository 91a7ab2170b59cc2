package stack

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/notify"
	"github.com/sluicehq/sluice/policy"
)

// Deferred tokens stand for values that exist only once the stack is
// applied: "{{sluice:Logical.Attr}}".
const (
	deferredOpen  = "{{sluice:"
	deferredClose = "}}"
)

func deferred(id, attr string, p pos) *node {
	return scalar(deferredOpen+id+"."+attr+deferredClose, p)
}

var deferredRE = regexp.MustCompile(`\{\{sluice:([A-Za-z0-9]+)\.([A-Za-z0-9.]+)\}\}`)

// Deferred reports whether s holds a value known only at apply time.
func Deferred(s string) bool { return deferredRE.MatchString(s) }

// Runtimes are the runtimes the Sluice function host runs (package lambda
// takes python3.N and nodejsN.x of any N).
var runtimeRE = regexp.MustCompile(`^(provided|provided\.al2|provided\.al2023|go1\.x|python3\.[0-9]+|nodejs[0-9]+\.x)$`)

var functionNameRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

var s3Events = []string{
	"s3:ObjectCreated:*", "s3:ObjectCreated:Put", "s3:ObjectCreated:Post", "s3:ObjectCreated:Copy",
	"s3:ObjectCreated:CompleteMultipartUpload", "s3:ObjectRemoved:*", "s3:ObjectRemoved:Delete",
	"s3:ObjectRemoved:DeleteMarkerCreated", "s3:ObjectRestore:*", "s3:ObjectRestore:Post",
	"s3:ObjectRestore:Completed", "s3:ObjectRestore:Delete", "s3:ReducedRedundancyLostObject",
	"s3:Replication:*", "s3:Replication:OperationFailedReplication", "s3:Replication:OperationMissedThreshold",
	"s3:Replication:OperationReplicatedAfterThreshold", "s3:Replication:OperationNotTracked",
	"s3:LifecycleExpiration:*", "s3:LifecycleExpiration:Delete", "s3:LifecycleExpiration:DeleteMarkerCreated",
	"s3:LifecycleTransition", "s3:IntelligentTiering", "s3:ObjectTagging:*", "s3:ObjectTagging:Put",
	"s3:ObjectTagging:Delete", "s3:ObjectAcl:Put",
}

func (l *loader) buildResource(r *resource) {
	e := &evaluator{l: l}
	path := "Resources." + r.id + ".Properties"
	switch r.typ {
	case "AWS::S3::Bucket":
		l.buildBucket(r, l.obj(e.eval(r.props, path), path, bucketProps, bucketIgnored))
	case "AWS::Serverless::Function":
		l.buildServerlessFunction(r, e, path)
	case "AWS::Lambda::Function":
		l.buildLambdaFunction(r, l.obj(e.eval(r.props, path), path, lambdaProps, lambdaIgnored))
	case "AWS::Lambda::Version":
		l.buildVersion(r, l.obj(e.eval(r.props, path), path,
			[]string{"FunctionName", "Description", "CodeSha256"}, []string{"ProvisionedConcurrencyConfig", "RuntimePolicy", "FunctionScalingConfig"}))
	case "AWS::Lambda::Permission":
		l.buildPermission(r, l.obj(e.eval(r.props, path), path,
			[]string{"Action", "FunctionName", "Principal", "SourceArn", "SourceAccount", "EventSourceToken", "PrincipalOrgID", "FunctionUrlAuthType"}, nil))
	case "AWS::Serverless::HttpApi":
		l.buildHTTPAPI(r, l.obj(e.eval(r.props, path), path, httpAPIProps, httpAPIIgnored))
	case "AWS::CloudFront::Distribution":
		l.buildDistribution(r, l.obj(e.eval(r.props, path), path, []string{"DistributionConfig", "Tags"}, nil))
	case "AWS::S3::BucketPolicy":
		l.buildBucketPolicy(r, l.obj(e.eval(r.props, path), path, []string{"Bucket", "PolicyDocument"}, nil))
	case "AWS::CloudFront::OriginAccessControl":
		l.buildOAC(r, l.obj(e.eval(r.props, path), path, []string{"OriginAccessControlConfig"}, nil))
	case "AWS::CloudFront::CloudFrontOriginAccessIdentity":
		l.buildOAI(r, l.obj(e.eval(r.props, path), path, []string{"CloudFrontOriginAccessIdentityConfig"}, nil))
	default:
		l.warn("Resources.%s: resource type %s is not supported by Sluice; it is not created (Ref gives %q)", r.id, r.typ, r.id)
		r.ref = scalar(r.id, r.pos)
		r.unsupported = true
	}
}

// --- S3 ---

var bucketProps = []string{"BucketName", "Tags", "VersioningConfiguration", "NotificationConfiguration", "ReplicationConfiguration"}
var bucketIgnored = []string{"PublicAccessBlockConfiguration", "BucketEncryption",
	"LifecycleConfiguration", "CorsConfiguration", "OwnershipControls", "WebsiteConfiguration", "AccessControl",
	"LoggingConfiguration", "ObjectLockEnabled", "ObjectLockConfiguration", "IntelligentTieringConfigurations",
	"InventoryConfigurations", "MetricsConfigurations", "AnalyticsConfigurations", "AccelerateConfiguration",
	"MetadataTableConfiguration", "MetadataConfiguration", "AbacStatus"}

func (l *loader) buildBucket(r *resource, o *obj) {
	b := Bucket{LogicalID: r.id, Name: o.str("BucketName")}
	if b.Name == "" {
		b.Name = generatedBucketName(l.opts.StackName, r.id)
	} else if !bucketNameRE.MatchString(b.Name) || strings.Contains(b.Name, "..") {
		o.errf("BucketName", "%q is not a valid bucket name: 3-63 lower-case letters, digits, dots and hyphens, starting and ending with a letter or digit", b.Name)
	}
	b.Tags = o.tagList("Tags")
	versioningBad := o.failed("VersioningConfiguration")
	if vc := o.child("VersioningConfiguration", []string{"Status"}, nil); vc.n != nil {
		vc.require("Status")
		switch b.Versioning = vc.str("Status"); b.Versioning {
		case sluice.VersioningEnabled, sluice.VersioningSuspended:
		case "":
			versioningBad = true
		default:
			vc.errf("Status", "must be Enabled or Suspended, got %q", b.Versioning)
			versioningBad = true
		}
	}
	// Queue, topic and EventBridge targets are known keys so that the one
	// error about them says what Sluice does instead.
	unsupportedTargets := []string{"QueueConfigurations", "TopicConfigurations", "EventBridgeConfiguration"}
	nc := o.child("NotificationConfiguration", append([]string{"LambdaConfigurations", "WebhookConfigurations"}, unsupportedTargets...),
		nil)
	for _, k := range unsupportedTargets {
		if nc.has(k) {
			nc.errf(k, "not supported: Sluice delivers bucket notifications to Lambda functions (LambdaConfigurations) and webhooks (WebhookConfigurations)")
		}
	}
	for i, it := range nc.list("LambdaConfigurations") {
		lc := nc.item(i, it, "LambdaConfigurations", []string{"Event", "Function", "Filter"}, nil)
		lc.require("Event", "Function")
		n := Notification{Events: []string{lc.str("Event")}, FunctionARN: lc.str("Function")}
		if ev := n.Events[0]; ev != "" && !slices.Contains(s3Events, ev) {
			lc.errf("Event", "unknown S3 event %q", ev)
		}
		n.Prefix, n.Suffix = l.s3KeyFilter(lc.child("Filter", []string{"S3Key"}, nil))
		if n.FunctionARN != "" && !strings.HasPrefix(n.FunctionARN, "arn:") && !Deferred(n.FunctionARN) {
			lc.errf("Function", "must be a function ARN (use !GetAtt Fn.Arn), got %q", n.FunctionARN)
		}
		n.ID = fmt.Sprintf("%s-%d", r.id, i+1)
		b.Notifications = append(b.Notifications, n)
	}
	for i, it := range nc.list("WebhookConfigurations") {
		b.Webhooks = append(b.Webhooks, l.webhook(r.id, i, nc.item(i, it, "WebhookConfigurations",
			[]string{"Url", "Secret", "Event", "Filter", "BatchSize"}, nil)))
	}
	if rc := o.child("ReplicationConfiguration", []string{"Role", "Rules"}, nil); rc.n != nil {
		rc.require("Role", "Rules")
		if b.Versioning != sluice.VersioningEnabled && !versioningBad {
			// S3 refuses PutBucketReplication (InvalidRequest) on a bucket
			// whose versioning is not enabled, and so does CloudFormation.
			o.errf("ReplicationConfiguration", "needs versioning: add VersioningConfiguration: {Status: Enabled} to the bucket, as S3 replicates only from a bucket with versioning enabled")
		}
		rep := &Replication{Role: rc.str("Role")}
		for i, it := range rc.list("Rules") {
			ro := rc.item(i, it, "Rules", []string{"Id", "Status", "Priority", "Prefix", "Filter", "Destination", "DeleteMarkerReplication"},
				[]string{"SourceSelectionCriteria"})
			ro.require("Status", "Destination")
			rule := ReplicationRule{ID: ro.str("Id"), Status: ro.str("Status"), Prefix: ro.str("Prefix")}
			if rule.Status != "" && rule.Status != "Enabled" && rule.Status != "Disabled" {
				ro.errf("Status", "must be Enabled or Disabled, got %q", rule.Status)
			}
			if p, ok := ro.intIn("Priority", 0, 1<<31-1); ok {
				rule.Priority = p
			}
			if f := ro.child("Filter", []string{"Prefix", "TagFilter", "And"}, nil); f.n != nil {
				rule.UseFilter = true
				rule.Prefix = f.str("Prefix")
				if t := f.child("TagFilter", []string{"Key", "Value"}, nil); t.n != nil {
					rule.Tags = append(rule.Tags, sluice.Tag{Key: t.str("Key"), Value: t.str("Value")})
				}
				if a := f.child("And", []string{"Prefix", "TagFilters"}, nil); a.n != nil {
					rule.Prefix = a.str("Prefix")
					rule.Tags = append(rule.Tags, a.tagList("TagFilters")...)
				}
			}
			d := ro.child("Destination", []string{"Bucket", "StorageClass"},
				[]string{"Account", "AccessControlTranslation", "EncryptionConfiguration", "Metrics", "ReplicationTime"})
			d.require("Bucket")
			rule.Destination, rule.StorageClass = d.str("Bucket"), d.str("StorageClass")
			if rule.Destination != "" && !strings.HasPrefix(rule.Destination, "arn:aws:s3:") {
				d.errf("Bucket", "must be a bucket ARN (arn:aws:s3:::name, or arn:aws:s3:REGION::name for another region), got %q", rule.Destination)
			} else if rule.Destination != "" {
				l.replDests = append(l.replDests, replDest{arn: rule.Destination, at: d.at("Bucket"), path: d.path + ".Bucket"})
			}
			if dm := ro.child("DeleteMarkerReplication", []string{"Status"}, nil); dm.n != nil {
				rule.DeleteMarkerReplication = dm.str("Status")
			}
			rep.Rules = append(rep.Rules, rule)
		}
		b.Replication = rep
	}
	if o.failed("BucketName") {
		// Whatever refers to the name would only repeat the error.
		r.ref = bad(r.pos)
		return
	}
	r.ref = scalar(b.Name, r.pos)
	r.attrs = map[string]*node{
		"Arn":                 scalar("arn:aws:s3:::"+b.Name, r.pos),
		"DomainName":          scalar(b.Name+".s3.amazonaws.com", r.pos),
		"RegionalDomainName":  scalar(b.Name+".s3."+l.opts.Region+".amazonaws.com", r.pos),
		"DualStackDomainName": scalar(b.Name+".s3.dualstack."+l.opts.Region+".amazonaws.com", r.pos),
		"WebsiteURL":          scalar("http://"+b.Name+".s3-website-"+l.opts.Region+".amazonaws.com", r.pos),
	}
	l.st.Buckets = append(l.st.Buckets, b)
}

// webhook reads the i-th WebhookConfigurations item of bucket id: the
// checks notify applies when the configuration is put, made here so that a
// mistake is reported with its position.
func (l *loader) webhook(id string, i int, wc *obj) Webhook {
	wc.require("Url", "Event")
	w := Webhook{ID: fmt.Sprintf("%s-hook-%d", id, i+1), URL: wc.str("Url"), Secret: wc.str("Secret"),
		BatchSize: 1, Events: []string{wc.str("Event")}}
	if w.URL != "" && !Deferred(w.URL) {
		// The value is not quoted back: a URL may carry credentials.
		switch u, err := url.Parse(w.URL); {
		case err != nil:
			wc.errf("Url", "is not a URL: %v", errors.Unwrap(err))
		case u.Scheme != "http" && u.Scheme != "https":
			wc.errf("Url", "must be an absolute http:// or https:// URL, got scheme %q", u.Scheme)
		case u.Host == "":
			wc.errf("Url", "must be an absolute http:// or https:// URL with a host")
		}
	}
	if w.Secret == notify.RedactedSecret {
		wc.errf("Secret", "%s is what reading the configuration back shows in place of a secret; it cannot be a secret itself", notify.RedactedSecret)
	}
	if ev := w.Events[0]; ev != "" && !slices.Contains(s3Events, ev) {
		wc.errf("Event", "unknown S3 event %q", ev)
	}
	if v, ok := wc.intIn("BatchSize", 1, notify.MaxWebhookBatch); ok {
		w.BatchSize = v
	}
	w.Prefix, w.Suffix = l.s3KeyFilter(wc.child("Filter", []string{"S3Key"}, nil))
	return w
}

func (l *loader) buildBucketPolicy(r *resource, o *obj) {
	o.require("Bucket", "PolicyDocument")
	bp := BucketPolicy{LogicalID: r.id, Bucket: o.str("Bucket")}
	r.ref = scalar(r.id, r.pos)
	doc := o.get("PolicyDocument")
	switch {
	case doc == nil:
		return
	case doc.kind == kScalar:
		// A JSON string, as some templates write it.
		bp.Document = doc.str
	case doc.kind == kMap:
		b, err := json.Marshal(toJSON(doc))
		if err != nil {
			o.errf("PolicyDocument", "cannot be written as JSON: %v", err)
			return
		}
		bp.Document = string(b)
	default:
		o.errf("PolicyDocument", "must be a policy document (a map), got %s", describe(doc))
		return
	}
	if bp.Bucket != "" {
		// S3's own check, so that a mistake is reported here with its
		// position rather than when the stack is applied.
		if _, err := policy.Parse([]byte(bp.Document), bp.Bucket); err != nil {
			msg := err.Error()
			var se *sluice.Error
			if errors.As(err, &se) {
				msg = se.Message
			}
			o.errf("PolicyDocument", "S3 would refuse this policy: %s", msg)
			return
		}
	}
	l.st.BucketPolicies = append(l.st.BucketPolicies, bp)
}

// toJSON turns an evaluated value into what encoding/json writes: YAML
// booleans and numbers keep their type, everything else is a string.
func toJSON(n *node) any {
	switch n.kind {
	case kMap:
		m := make(map[string]any, len(n.keys))
		for i, k := range n.keys {
			m[k] = toJSON(n.vals[i])
		}
		return m
	case kSeq:
		out := make([]any, len(n.items))
		for i, it := range n.items {
			out[i] = toJSON(it)
		}
		return out
	case kScalar:
		switch n.tag {
		case "!!bool":
			if b, ok := asBool(n); ok {
				return b
			}
		case "!!int", "!!float":
			if json.Valid([]byte(n.str)) {
				return json.RawMessage(n.str)
			}
		}
		return n.str
	}
	return nil
}

// s3KeyFilter reads {S3Key: {Rules: [{Name: prefix|suffix, Value}]}}.
func (l *loader) s3KeyFilter(f *obj) (prefix, suffix string) {
	k := f.child("S3Key", []string{"Rules"}, nil)
	for i, it := range k.list("Rules") {
		ro := k.item(i, it, "Rules", []string{"Name", "Value"}, nil)
		ro.require("Name", "Value")
		switch name := ro.str("Name"); strings.ToLower(name) {
		case "prefix":
			if prefix != "" {
				ro.errf("Name", "a filter can have one prefix rule")
			}
			prefix = ro.str("Value")
		case "suffix":
			if suffix != "" {
				ro.errf("Name", "a filter can have one suffix rule")
			}
			suffix = ro.str("Value")
		case "":
		default:
			ro.errf("Name", "must be prefix or suffix, got %q", name)
		}
	}
	return prefix, suffix
}

// --- Functions ---

var samFunctionProps = []string{"Architectures", "AutoPublishAlias", "CodeUri", "Description", "Environment",
	"EventInvokeConfig", "Events", "FunctionName", "Handler", "InlineCode", "MemorySize", "PackageType",
	"Policies", "ReservedConcurrentExecutions", "Role", "Runtime", "Tags", "Timeout", "VersionDescription",
	"ImageUri", "ImageConfig", "Layers"}
var samFunctionIgnored = []string{"Tracing", "VpcConfig", "DeadLetterQueue", "DeploymentPreference",
	"ProvisionedConcurrencyConfig", "KmsKeyArn", "EphemeralStorage", "LoggingConfig", "FileSystemConfigs",
	"FunctionUrlConfig", "CodeSigningConfigArn", "PermissionsBoundary", "RolePath", "AssumeRolePolicyDocument",
	"RuntimeManagementConfig", "SnapStart", "AutoPublishCodeSha256", "AutoPublishAliasAllProperties",
	"RecursiveLoop", "PropagateTags", "SourceKMSKeyArn", "Metadata"}

var lambdaProps = []string{"Architectures", "Code", "Description", "Environment", "FunctionName", "Handler",
	"MemorySize", "PackageType", "ReservedConcurrentExecutions", "Role", "Runtime", "Tags", "Timeout", "Layers", "ImageConfig"}
var lambdaIgnored = []string{"TracingConfig", "VpcConfig", "DeadLetterConfig", "KmsKeyArn", "EphemeralStorage",
	"LoggingConfig", "FileSystemConfigs", "CodeSigningConfigArn", "SnapStart", "RuntimeManagementConfig", "RecursiveLoop"}

const imageRefusal = "PackageType Image is not supported: Sluice runs functions as local processes and has no container runtime. " +
	"Use PackageType Zip (the default) with CodeUri set to the code directory; for compiled languages build a `bootstrap` executable into that directory and use Runtime provided.al2023"

// commonFunction reads what both function types share.
func (l *loader) commonFunction(r *resource, o *obj, sam bool) (Function, bool) {
	f := Function{LogicalID: r.id, Name: o.str("FunctionName"), Runtime: o.str("Runtime"), Handler: o.str("Handler"),
		Description: o.str("Description"), Timeout: 3, MemorySize: 128}
	if f.Name == "" {
		f.Name = r.id
	} else if !functionNameRE.MatchString(f.Name) {
		o.errf("FunctionName", "%q is not a valid function name: 1-64 letters, digits, hyphens and underscores", f.Name)
	}
	if pt := o.str("PackageType"); pt == "Image" || o.has("ImageUri") || o.has("ImageConfig") {
		key := "PackageType"
		if pt != "Image" {
			key = "ImageUri"
			if !o.has(key) {
				key = "ImageConfig"
			}
		}
		o.errf(key, "%s", imageRefusal)
		return f, false
	} else if pt != "" && pt != "Zip" {
		o.errf("PackageType", "must be Zip or Image, got %q", pt)
	}
	if f.Runtime == "" {
		o.errf("", "Runtime is required (provided.al2023, provided.al2, go1.x, python3.x or nodejsN.x)")
	} else if !runtimeRE.MatchString(f.Runtime) {
		o.errf("Runtime", "runtime %q is not supported: use provided.al2023, provided.al2, go1.x, python3.x or nodejsN.x", f.Runtime)
	}
	if f.Handler == "" {
		o.errf("", "Handler is required (for provided runtimes the usual value is bootstrap)")
	}
	if v, ok := o.intIn("Timeout", 1, 900); ok {
		f.Timeout = v
	}
	if v, ok := o.intIn("MemorySize", 128, 10240); ok {
		f.MemorySize = v
	}
	if v, ok := o.intIn("ReservedConcurrentExecutions", 0, 1000); ok {
		f.ReservedConcurrency = &v
	}
	env := o.child("Environment", []string{"Variables"}, nil)
	f.Environment = env.strMap("Variables")
	for k := range f.Environment {
		if !envNameRE.MatchString(k) {
			env.errf("Variables."+k, "%q is not a valid environment variable name", k)
		} else if reservedEnv[k] {
			env.errf("Variables."+k, "%s is reserved by Lambda and cannot be set", k)
		}
	}
	f.Architectures = o.strList("Architectures", false)
	for _, a := range f.Architectures {
		if a != "x86_64" && a != "arm64" {
			o.errf("Architectures", "must be x86_64 or arm64, got %q", a)
		}
	}
	if len(f.Architectures) > 1 {
		o.errf("Architectures", "a function has one architecture")
	}
	if o.has("Layers") {
		l.warn("%s.Layers: layers are not supported; the function runs without them (put the code in the function's own directory)", o.path)
	}
	f.Role = o.str("Role")
	if f.Role != "" && !strings.HasPrefix(f.Role, "arn:") {
		o.errf("Role", "must be a role ARN, got %q", f.Role)
	}
	if f.Role == "" {
		if !sam {
			o.errf("", "Role is required")
		}
		f.Role = "arn:aws:iam::" + AccountID + ":role/" + l.opts.StackName + "-" + r.id + "Role"
	}
	return f, true
}

var envNameRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]*$`)

var reservedEnv = map[string]bool{"_HANDLER": true, "_X_AMZN_TRACE_ID": true, "AWS_DEFAULT_REGION": true, "AWS_REGION": true,
	"AWS_EXECUTION_ENV": true, "AWS_LAMBDA_FUNCTION_NAME": true, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": true,
	"AWS_LAMBDA_FUNCTION_VERSION": true, "AWS_LAMBDA_INITIALIZATION_TYPE": true, "AWS_LAMBDA_LOG_GROUP_NAME": true,
	"AWS_LAMBDA_LOG_STREAM_NAME": true, "AWS_ACCESS_KEY": true, "AWS_ACCESS_KEY_ID": true, "AWS_SECRET_ACCESS_KEY": true,
	"AWS_SESSION_TOKEN": true, "AWS_LAMBDA_RUNTIME_API": true, "LAMBDA_TASK_ROOT": true, "LAMBDA_RUNTIME_DIR": true}

func (l *loader) functionAttrs(r *resource, o *obj, f Function) {
	if o.failed("FunctionName") {
		r.ref = bad(r.pos)
		return
	}
	r.ref = scalar(f.Name, r.pos)
	r.attrs = map[string]*node{"Arn": scalar(functionARN(l.opts.Region, f.Name), r.pos)}
}

func (l *loader) buildServerlessFunction(r *resource, e *evaluator, path string) {
	raw := r.props
	// Events are read raw first: an S3 event's Bucket must be a Ref to a
	// bucket of this template, which evaluation would turn into a name.
	s3Buckets := map[string]string{}
	if ev := raw.get("Events"); ev != nil && ev.kind == kMap {
		for i, name := range ev.keys {
			en := ev.vals[i]
			if t := en.get("Type"); t != nil && t.kind == kScalar && t.str == "S3" {
				bp := en.get("Properties").get("Bucket")
				epath := path + ".Events." + name + ".Properties.Bucket"
				fn, arg, ok := bp.fnName()
				switch {
				case bp == nil:
				case !ok || fn != "Ref" || arg.kind != kScalar:
					l.errf(en.get("Properties").keyPosOf("Bucket"), epath, "must be !Ref to an AWS::S3::Bucket of this template (SAM's rule for S3 events)")
				case l.res[arg.str] == nil || l.res[arg.str].typ != "AWS::S3::Bucket":
					l.errf(bp.pos, epath, "%q is not an AWS::S3::Bucket of this template (SAM's rule for S3 events)", arg.str)
				default:
					s3Buckets[name] = arg.str
				}
			}
		}
	}
	o := l.obj(e.eval(raw, path), path, samFunctionProps, samFunctionIgnored)
	f, ok := l.commonFunction(r, o, true)
	if !ok {
		return
	}
	switch {
	case o.has("InlineCode") && o.has("CodeUri"):
		o.errf("InlineCode", "set CodeUri or InlineCode, not both")
	case o.has("InlineCode"):
		f.Code.Inline = o.str("InlineCode")
	case o.has("CodeUri"):
		f.Code = l.codeURI(o)
	default:
		o.errf("", "CodeUri (a directory or .zip relative to the template) or InlineCode is required")
	}
	f.AutoPublishAlias = o.str("AutoPublishAlias")
	if a := f.AutoPublishAlias; a != "" && !aliasRE.MatchString(a) {
		o.errf("AutoPublishAlias", "%q is not a valid alias name: letters, digits, - and _, not only digits", a)
	}
	f.Tags = o.strMap("Tags")
	f.Policies = l.policies(o)
	if ec := o.child("EventInvokeConfig", []string{"MaximumEventAgeInSeconds", "MaximumRetryAttempts", "DestinationConfig"}, nil); ec.n != nil {
		cfg := &EventInvokeConfig{}
		if v, ok := ec.intIn("MaximumRetryAttempts", 0, 2); ok {
			cfg.MaximumRetryAttempts = &v
		}
		if v, ok := ec.intIn("MaximumEventAgeInSeconds", 60, 21600); ok {
			cfg.MaximumEventAgeInSeconds = &v
		}
		dc := ec.child("DestinationConfig", []string{"OnSuccess", "OnFailure"}, nil)
		for _, k := range []string{"OnSuccess", "OnFailure"} {
			d := dc.child(k, []string{"Type", "Destination"}, nil)
			if d.n == nil {
				continue
			}
			d.require("Type")
			dest := d.str("Destination")
			switch t := d.str("Type"); t {
			case "Lambda", "S3Bucket":
			case "SQS", "SNS", "EventBridge":
				d.errf("Type", "%s destinations are not supported: Sluice offers Lambda and S3Bucket destinations (failed events are also kept as dead letters)", t)
			case "":
			default:
				d.errf("Type", "must be Lambda, S3Bucket, SQS, SNS or EventBridge, got %q", t)
			}
			if dest == "" && d.n != nil && d.str("Type") != "" {
				d.errf("", "Destination is required (an ARN)")
			}
			if k == "OnSuccess" {
				cfg.OnSuccess = dest
			} else {
				cfg.OnFailure = dest
			}
		}
		f.EventInvokeConfig = cfg
	}
	l.functionAttrs(r, o, f)
	r.extraRefs = map[string]*node{}
	if f.AutoPublishAlias != "" {
		r.extraRefs["Version"] = deferred(r.id, "Version", r.pos)
		r.extraRefs["Alias"] = scalar(functionARN(l.opts.Region, f.Name)+":"+f.AutoPublishAlias, r.pos)
	}
	// Events
	evs := o.child("Events", anyKeys, nil)
	if evs.n != nil {
		for i, name := range evs.n.keys {
			en := l.obj(evs.n.vals[i], evs.path+"."+name, []string{"Type", "Properties"}, nil)
			en.require("Type")
			typ := en.str("Type")
			switch typ {
			case "S3":
				p := en.child("Properties", []string{"Bucket", "Events", "Filter"}, nil)
				p.require("Bucket", "Events")
				events := p.strList("Events", true)
				for _, ev := range events {
					if !slices.Contains(s3Events, ev) {
						p.errf("Events", "unknown S3 event %q", ev)
					}
				}
				prefix, suffix := l.s3KeyFilter(p.child("Filter", []string{"S3Key"}, nil))
				if b := s3Buckets[name]; b != "" {
					l.bucketEvents[b] = append(l.bucketEvents[b], Notification{
						ID: r.id + name, FunctionARN: functionARN(l.opts.Region, f.Name),
						Events: events, Prefix: prefix, Suffix: suffix})
					l.st.Permissions = append(l.st.Permissions, Permission{LogicalID: r.id + name + "Permission",
						FunctionName: f.Name, Action: "lambda:InvokeFunction", Principal: "s3.amazonaws.com",
						SourceARN: "arn:aws:s3:::" + l.bucketName(b), SourceAccount: AccountID})
				}
			case "HttpApi":
				p := en.child("Properties", []string{"ApiId", "Path", "Method", "PayloadFormatVersion", "TimeoutInMillis"},
					[]string{"Auth", "RouteSettings"})
				rt := Route{Method: strings.ToUpper(p.str("Method")), Path: p.str("Path"), Function: f.Name,
					FunctionARN: functionARN(l.opts.Region, f.Name), PayloadFormatVersion: "2.0"}
				if v := p.str("PayloadFormatVersion"); v != "" {
					if v != "1.0" && v != "2.0" {
						p.errf("PayloadFormatVersion", "must be 1.0 or 2.0, got %q", v)
					}
					rt.PayloadFormatVersion = v
				}
				rt.TimeoutMillis = 30000
				if v, ok := p.intIn("TimeoutInMillis", 50, 30000); ok {
					rt.TimeoutMillis = v
				}
				switch {
				case rt.Path == "" && rt.Method == "":
					rt.Path = "$default"
				case rt.Path == "$default":
					rt.Method = ""
				case rt.Path == "" || rt.Method == "":
					p.errf("", "Path and Method go together (or leave both out for the $default route)")
				default:
					if !strings.HasPrefix(rt.Path, "/") {
						p.errf("Path", "must start with /, got %q", rt.Path)
					}
					if !slices.Contains([]string{"GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "ANY"}, rt.Method) {
						p.errf("Method", "must be GET, POST, PUT, DELETE, PATCH, HEAD, OPTIONS or ANY, got %q", rt.Method)
					}
					if err := checkRoutePath(rt.Path); err != "" {
						p.errf("Path", "%s", err)
					}
				}
				api := "ServerlessHttpApi"
				if p.has("ApiId") {
					id := l.apiByID(p.str("ApiId"))
					if id == "" {
						p.errf("ApiId", "must be !Ref to an AWS::Serverless::HttpApi of this template")
						continue
					}
					api = id
				}
				l.routes[api] = append(l.routes[api], rt)
				l.st.Permissions = append(l.st.Permissions, Permission{LogicalID: r.id + name + "Permission",
					FunctionName: f.Name, Action: "lambda:InvokeFunction", Principal: "apigateway.amazonaws.com"})
			case "":
			default:
				if slices.Contains(samEventTypes, typ) {
					l.warn("%s.%s: event type %s is not supported by Sluice (it runs S3 and HttpApi events); the function is created without it", evs.path, name, typ)
				} else {
					en.errf("Type", "unknown event type %q (SAM's types: %s; Sluice runs S3 and HttpApi)", typ, strings.Join(samEventTypes, ", "))
				}
			}
		}
	}
	l.st.Functions = append(l.st.Functions, f)
}

// samEventTypes are the event source types SAM knows.
var samEventTypes = []string{"S3", "HttpApi", "Api", "SNS", "SQS", "Kinesis", "DynamoDB", "Schedule", "ScheduleV2",
	"CloudWatchEvent", "EventBridgeRule", "CloudWatchLogs", "IoTRule", "AlexaSkill", "Cognito", "MSK", "MQ",
	"SelfManagedKafka", "DocumentDB"}

var aliasRE = regexp.MustCompile(`^(?:[0-9]*[A-Za-z_-][A-Za-z0-9_-]*)$`)

// checkRoutePath validates an HTTP API route path: segments, {param} and a
// final {proxy+}.
func checkRoutePath(p string) string {
	segs := strings.Split(strings.TrimPrefix(p, "/"), "/")
	for i, s := range segs {
		if strings.ContainsAny(s, "{}") {
			if !strings.HasPrefix(s, "{") || !strings.HasSuffix(s, "}") || len(s) < 3 {
				return fmt.Sprintf("path parameter %q must be a whole segment {name}", s)
			}
			if strings.HasSuffix(s, "+}") && i != len(segs)-1 {
				return fmt.Sprintf("greedy parameter %s must be the last segment", s)
			}
		}
	}
	return ""
}

func (l *loader) bucketName(id string) string {
	if r := l.res[id]; r != nil && r.ref != nil {
		return r.ref.str
	}
	return id
}

// apiByID finds the HTTP API logical id whose Ref value is id.
func (l *loader) apiByID(id string) string {
	for _, rid := range l.resOrder {
		r := l.res[rid]
		if r.typ == "AWS::Serverless::HttpApi" && r.enabled && r.ref != nil && r.ref.str == id {
			return rid
		}
	}
	return ""
}

// codeURI reads CodeUri: a path relative to the template (a directory, or a
// .zip file), s3://bucket/key, or {Bucket, Key, Version}.
func (l *loader) codeURI(o *obj) Code {
	v := o.get("CodeUri")
	if v == nil {
		return Code{}
	}
	if v.kind == kMap {
		c := o.child("CodeUri", []string{"Bucket", "Key", "Version"}, nil)
		c.require("Bucket", "Key")
		return Code{S3Bucket: c.str("Bucket"), S3Key: c.str("Key"), S3ObjectVersion: c.str("Version")}
	}
	s := o.str("CodeUri")
	if rest, ok := strings.CutPrefix(s, "s3://"); ok {
		b, k, _ := strings.Cut(rest, "/")
		if b == "" || k == "" {
			o.errf("CodeUri", "s3:// URIs need a bucket and a key, got %q", s)
		}
		return Code{S3Bucket: b, S3Key: k}
	}
	if s == "" {
		o.errf("CodeUri", "must name a directory or a .zip file")
		return Code{}
	}
	p := s
	if !filepath.IsAbs(p) {
		p = filepath.Join(l.dir, p)
	}
	p = filepath.Clean(p)
	st, err := os.Stat(p)
	switch {
	case err != nil:
		o.errf("CodeUri", "%s does not exist (CodeUri is relative to the template's directory)", p)
	case st.IsDir():
		return Code{Dir: p}
	case strings.HasSuffix(strings.ToLower(p), ".zip") || strings.HasSuffix(strings.ToLower(p), ".jar"):
		return Code{Zip: p}
	default:
		o.errf("CodeUri", "%s is neither a directory nor a .zip file", p)
	}
	return Code{}
}

// policies records SAM Policies by name.
func (l *loader) policies(o *obj) []string {
	v := o.get("Policies")
	if v == nil {
		return nil
	}
	var items []*node
	switch v.kind {
	case kScalar, kMap:
		items = []*node{v}
	case kSeq:
		items = v.items
	}
	var out []string
	for _, it := range items {
		switch {
		case it.kind == kScalar:
			out = append(out, it.str)
		case it.kind == kMap && it.get("Statement") != nil:
			out = append(out, "inline")
		case it.kind == kMap && len(it.keys) == 1:
			out = append(out, it.keys[0])
		}
	}
	return out
}

func (l *loader) buildLambdaFunction(r *resource, o *obj) {
	f, ok := l.commonFunction(r, o, false)
	if !ok {
		return
	}
	c := o.child("Code", []string{"ZipFile", "S3Bucket", "S3Key", "S3ObjectVersion", "ImageUri"}, nil)
	if o.has("Code") {
		switch {
		case c.has("ImageUri"):
			c.errf("ImageUri", "%s", imageRefusal)
		case c.has("ZipFile"):
			f.Code.Inline = c.str("ZipFile")
		case c.str("S3Bucket") == "hot-reload":
			f.Code.Dir = c.str("S3Key")
			if !filepath.IsAbs(f.Code.Dir) {
				c.errf("S3Key", "must be an absolute directory when S3Bucket is hot-reload, got %q", f.Code.Dir)
			}
		default:
			c.require("S3Bucket", "S3Key")
			f.Code = Code{S3Bucket: c.str("S3Bucket"), S3Key: c.str("S3Key"), S3ObjectVersion: c.str("S3ObjectVersion")}
		}
	} else {
		o.errf("", "Code is required")
	}
	for _, t := range o.tagList("Tags") {
		if f.Tags == nil {
			f.Tags = map[string]string{}
		}
		f.Tags[t.Key] = t.Value
	}
	l.functionAttrs(r, o, f)
	l.st.Functions = append(l.st.Functions, f)
}

// functionNameOf accepts a function name or ARN (qualified or not).
func functionNameOf(s string) string {
	if rest, ok := strings.CutPrefix(s, "arn:"); ok {
		parts := strings.Split(rest, ":")
		// aws:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER]
		if len(parts) >= 6 && parts[1] == "lambda" && parts[4] == "function" {
			return parts[5]
		}
		return ""
	}
	if name, _, ok := strings.Cut(s, ":"); ok {
		return name
	}
	return s
}

func (l *loader) buildVersion(r *resource, o *obj) {
	o.require("FunctionName")
	v := Version{LogicalID: r.id, Function: functionNameOf(o.str("FunctionName")), Description: o.str("Description")}
	if v.Function == "" && o.has("FunctionName") {
		o.errf("FunctionName", "must be a function name or ARN")
	}
	r.ref = deferred(r.id, "Arn", r.pos)
	r.attrs = map[string]*node{"Version": deferred(r.id, "Version", r.pos), "FunctionArn": deferred(r.id, "Arn", r.pos)}
	l.st.Versions = append(l.st.Versions, v)
}

func (l *loader) buildPermission(r *resource, o *obj) {
	o.require("Action", "FunctionName", "Principal")
	p := Permission{LogicalID: r.id, FunctionName: functionNameOf(o.str("FunctionName")), Action: o.str("Action"),
		Principal: o.str("Principal"), SourceARN: o.str("SourceArn"), SourceAccount: o.str("SourceAccount")}
	r.ref = scalar(r.id, r.pos)
	l.st.Permissions = append(l.st.Permissions, p)
	l.st.Notes = append(l.st.Notes, fmt.Sprintf("Resources.%s: AWS::Lambda::Permission is recorded, not enforced: Sluice has no resource policies; any request signed with Sluice's credentials may invoke %s (nothing to change)", r.id, p.FunctionName))
}

// --- HTTP APIs ---

var httpAPIProps = []string{"StageName", "CorsConfiguration", "Description", "Tags", "Name", "DefinitionBody", "DefinitionUri"}
var httpAPIIgnored = []string{"Auth", "AccessLogSettings", "DefaultRouteSettings", "RouteSettings", "StageVariables",
	"Domain", "FailOnWarnings", "DisableExecuteApiEndpoint", "PropagateTags"}

func (l *loader) buildHTTPAPI(r *resource, o *obj) {
	for _, k := range []string{"DefinitionBody", "DefinitionUri"} {
		if o.has(k) {
			o.errf(k, "OpenAPI definitions are not supported: declare routes with HttpApi events on the functions")
		}
	}
	api := HTTPAPI{LogicalID: r.id, ID: apiID(l.opts.StackName, r.id), StageName: o.str("StageName")}
	if api.StageName == "" {
		api.StageName = "$default"
	}
	if v := o.get("CorsConfiguration"); v != nil {
		if b, ok := asBool(v); ok && v.kind == kScalar {
			if b {
				api.CORS = &CORS{AllowOrigins: []string{"*"}, AllowMethods: []string{"*"}, AllowHeaders: []string{"*"}}
			}
		} else {
			c := o.child("CorsConfiguration", []string{"AllowOrigins", "AllowMethods", "AllowHeaders", "ExposeHeaders", "AllowCredentials", "MaxAge"}, nil)
			cors := &CORS{AllowOrigins: c.strList("AllowOrigins", false), AllowMethods: c.strList("AllowMethods", false),
				AllowHeaders: c.strList("AllowHeaders", false), ExposeHeaders: c.strList("ExposeHeaders", false)}
			cors.AllowCredentials, _ = c.boolean("AllowCredentials")
			cors.MaxAge, _ = c.intIn("MaxAge", 0, 86400)
			if cors.AllowCredentials && slices.Contains(cors.AllowOrigins, "*") {
				c.errf("AllowCredentials", "cannot be true when AllowOrigins contains *")
			}
			api.CORS = cors
		}
	}
	api.Endpoint = "http://" + api.ID + ".execute-api." + l.opts.APIHost + "/"
	if api.StageName != "$default" {
		api.Endpoint += api.StageName + "/"
	}
	r.ref = scalar(api.ID, r.pos)
	r.attrs = map[string]*node{"ApiId": scalar(api.ID, r.pos), "ApiEndpoint": scalar(strings.TrimSuffix(api.Endpoint, "/"), r.pos)}
	l.st.HTTPAPIs = append(l.st.HTTPAPIs, api)
}

// --- finishing: implicit resources, notifications, routes ---

func (l *loader) finish() {
	for i := range l.st.Buckets {
		b := &l.st.Buckets[i]
		b.Notifications = append(b.Notifications, l.bucketEvents[b.LogicalID]...)
		l.checkOverlap(b)
	}
	l.checkReplicaVersioning()
	for i := range l.st.HTTPAPIs {
		a := &l.st.HTTPAPIs[i]
		a.Routes = l.routes[a.LogicalID]
	}
	for _, a := range l.st.HTTPAPIs {
		seen := map[string]bool{}
		for _, rt := range a.Routes {
			if seen[rt.RouteKey()] {
				l.errf(l.res[a.LogicalID].pos, "Resources."+a.LogicalID, "two functions declare the route %q", rt.RouteKey())
			}
			seen[rt.RouteKey()] = true
		}
		sort.SliceStable(a.Routes, func(i, j int) bool { return a.Routes[i].RouteKey() < a.Routes[j].RouteKey() })
	}
}

// replDest is the destination of a replication rule, where it was given.
type replDest struct {
	arn  string
	at   pos
	path string
}

// checkReplicaVersioning refuses a replication rule whose destination is a
// bucket of this template without versioning enabled, as S3 refuses it
// ("Destination bucket must have versioning enabled"). A destination the
// template does not declare (made by hand, or in another region) is
// checked by the endpoint that holds it.
func (l *loader) checkReplicaVersioning() {
	for _, d := range l.replDests {
		region, name := arnBucket(d.arn)
		if name == "" || region != "" && region != l.opts.Region {
			continue
		}
		for _, b := range l.st.Buckets {
			if b.Name == name && b.Versioning != sluice.VersioningEnabled {
				l.errf(d.at, d.path, "destination bucket %s (Resources.%s) needs VersioningConfiguration: {Status: Enabled}: S3 replicates only into a bucket with versioning enabled", name, b.LogicalID)
			}
		}
	}
}

// arnBucket splits a bucket ARN, arn:aws:s3:[REGION]::NAME, into its
// region ("" when it names none) and bucket name ("" when it is not one).
func arnBucket(arn string) (region, name string) {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[2] != "s3" || parts[4] != "" || strings.Contains(parts[5], "/") {
		return "", ""
	}
	return parts[3], parts[5]
}

// checkOverlap refuses two rules of one bucket whose events and filters
// overlap, as S3 does when the configuration is put: Lambda and webhook
// rules alike, since one event may go to one rule only.
func (l *loader) checkOverlap(b *Bucket) {
	type rule struct {
		id, prefix, suffix string
		events             []string
	}
	var rules []rule
	for _, n := range b.Notifications {
		rules = append(rules, rule{n.ID, n.Prefix, n.Suffix, n.Events})
	}
	for _, w := range b.Webhooks {
		rules = append(rules, rule{w.ID, w.Prefix, w.Suffix, w.Events})
	}
	for i := range rules {
		for j := i + 1; j < len(rules); j++ {
			x, y := rules[i], rules[j]
			if !eventsOverlap(x.events, y.events) {
				continue
			}
			if (strings.HasPrefix(x.prefix, y.prefix) || strings.HasPrefix(y.prefix, x.prefix)) &&
				(strings.HasSuffix(x.suffix, y.suffix) || strings.HasSuffix(y.suffix, x.suffix)) {
				r := l.res[b.LogicalID]
				l.errf(r.pos, "Resources."+b.LogicalID, "notification rules %s and %s overlap (same events, overlapping prefix and suffix): S3 refuses that", x.id, y.id)
			}
		}
	}
}

func eventsOverlap(a, b []string) bool {
	for _, x := range a {
		for _, y := range b {
			if x == y || matchEvent(x, y) || matchEvent(y, x) {
				return true
			}
		}
	}
	return false
}

func matchEvent(pattern, ev string) bool {
	if p, ok := strings.CutSuffix(pattern, "*"); ok {
		return strings.HasPrefix(ev, p)
	}
	return pattern == ev
}

// --- Outputs ---

func (l *loader) loadOutputs(os *node, at pos) {
	if os == nil {
		return
	}
	if os.kind != kMap {
		l.errf(at, "Outputs", "must be a map")
		return
	}
	e := &evaluator{l: l}
	for i, name := range os.keys {
		path := "Outputs." + name
		on := os.vals[i]
		if on.kind != kMap {
			l.errf(os.keyPos[i], path, "must be a map with a Value")
			continue
		}
		if c := on.get("Condition"); c != nil && c.kind == kScalar {
			if v, ok := l.evalCondition(c.str, on.keyPosOf("Condition"), path+".Condition"); !ok || !v {
				continue
			}
		}
		o := l.obj(e.eval(on, path), path, []string{"Value", "Description", "Export", "Condition"}, nil)
		o.require("Value")
		out := Output{Name: name, Value: o.str("Value"), Description: o.str("Description")}
		if ex := o.child("Export", []string{"Name"}, nil); ex.n != nil {
			out.ExportName = ex.str("Name")
		}
		out.Value = localURL(out.Value, l.opts)
		l.st.Outputs = append(l.st.Outputs, out)
	}
}

var awsAPIURLRE = regexp.MustCompile(`https://([a-z0-9]{10})\.execute-api\.[a-z0-9-]+\.amazonaws\.com`)

// localURL rewrites the AWS URL shapes outputs are usually written with
// (https://ID.execute-api.REGION.amazonaws.com) to the local endpoint.
func localURL(s string, o Options) string {
	return awsAPIURLRE.ReplaceAllString(s, "http://${1}.execute-api."+o.APIHost)
}
