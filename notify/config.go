package notify

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"

	"github.com/google/uuid"

	"github.com/sluicehq/sluice"
)

// s3NS is the namespace GetBucketNotificationConfiguration answers in.
const s3NS = "http://s3.amazonaws.com/doc/2006-03-01/"

// Limits on a notification configuration. They bound the work of matching
// and of the pairwise overlap check.
const (
	maxRules      = 100
	maxIDLength   = 1024
	maxFilterText = 1024
)

// Configuration is a bucket's notification configuration as S3 reads and
// writes it, plus the Sluice WebhookConfiguration extension.
//
// On the wire S3 names each LambdaFunctionConfiguration element
// <CloudFunctionConfiguration> (the name the pre-2014 API used, which the
// SDKs still send and expect); <LambdaFunctionConfiguration> is accepted on
// input too, and both forms come back as <CloudFunctionConfiguration>.
type Configuration struct {
	XMLName     xml.Name      `xml:"NotificationConfiguration"`
	Topics      []TargetRule  `xml:"TopicConfiguration"`
	Queues      []TargetRule  `xml:"QueueConfiguration"`
	Lambdas     []LambdaRule  `xml:"CloudFunctionConfiguration"`
	AltLambdas  []LambdaRule  `xml:"LambdaFunctionConfiguration"`
	Webhooks    []WebhookRule `xml:"WebhookConfiguration"`
	EventBridge *struct{}     `xml:"EventBridgeConfiguration"`
}

// LambdaRule is a LambdaFunctionConfiguration. The SDKs send the function
// ARN as <CloudFunction>; <LambdaFunctionArn> is accepted too, as are the
// legacy API's <Events><Event> list and <InvocationRole> (dropped: Sluice
// has no IAM roles to assume).
type LambdaRule struct {
	ID             string     `xml:"Id,omitempty"`
	Function       string     `xml:"CloudFunction,omitempty"`
	ARN            string     `xml:"LambdaFunctionArn,omitempty"`
	Events         []string   `xml:"Event"`
	LegacyEvents   *eventList `xml:"Events,omitempty"`
	InvocationRole string     `xml:"InvocationRole,omitempty"`
	Filter         *Filter    `xml:"Filter,omitempty"`
}

type eventList struct {
	Events []string `xml:"Event"`
}

// TargetRule is a QueueConfiguration or TopicConfiguration.
type TargetRule struct {
	ID     string   `xml:"Id,omitempty"`
	Queue  string   `xml:"Queue,omitempty"`
	Topic  string   `xml:"Topic,omitempty"`
	Events []string `xml:"Event"`
	Filter *Filter  `xml:"Filter,omitempty"`
}

// WebhookRule is the Sluice extension: records are POSTed to URL, signed
// with an HMAC-SHA256 of the body under Secret when one is set.
//
// BatchSize (1 to MaxWebhookBatch, 0 meaning 1) lets one POST carry up to
// that many records when several are waiting for the rule at once. The
// default, one record per POST, is what S3 does, and what receivers that
// read only Records[0] need.
type WebhookRule struct {
	ID        string   `xml:"Id,omitempty"`
	URL       string   `xml:"Url"`
	Secret    string   `xml:"Secret,omitempty"`
	BatchSize int      `xml:"BatchSize,omitempty"`
	Events    []string `xml:"Event"`
	Filter    *Filter  `xml:"Filter,omitempty"`
}

// MaxWebhookBatch bounds a webhook rule's BatchSize.
const MaxWebhookBatch = 100

// Filter is a rule's key filter.
type Filter struct {
	Rules []FilterRule `xml:"S3Key>FilterRule"`
}

// FilterRule is one prefix or suffix condition.
type FilterRule struct {
	Name  string `xml:"Name"`
	Value string `xml:"Value"`
}

// Rule is one normalized rule of any kind, as the dispatcher matches it.
type Rule struct {
	ID string
	// Kind is "lambda" or "webhook".
	Kind   string
	Target string // function ARN or URL
	Secret string
	// Batch is the most records one delivery may carry (webhooks; 1 for
	// every other kind).
	Batch  int
	Events []string // with the "s3:" prefix, possibly wildcards
	Prefix string
	Suffix string
}

// supportedEvents are the event types S3 accepts in a notification
// configuration.
var supportedEvents = map[string]bool{
	"s3:ObjectCreated:*":                               true,
	"s3:ObjectCreated:Put":                             true,
	"s3:ObjectCreated:Post":                            true,
	"s3:ObjectCreated:Copy":                            true,
	"s3:ObjectCreated:CompleteMultipartUpload":         true,
	"s3:ObjectRemoved:*":                               true,
	"s3:ObjectRemoved:Delete":                          true,
	"s3:ObjectRemoved:DeleteMarkerCreated":             true,
	"s3:ObjectRestore:*":                               true,
	"s3:ObjectRestore:Post":                            true,
	"s3:ObjectRestore:Completed":                       true,
	"s3:ObjectRestore:Delete":                          true,
	"s3:ReducedRedundancyLostObject":                   true,
	"s3:Replication:*":                                 true,
	"s3:Replication:OperationFailedReplication":        true,
	"s3:Replication:OperationMissedThreshold":          true,
	"s3:Replication:OperationReplicatedAfterThreshold": true,
	"s3:Replication:OperationNotTracked":               true,
	"s3:LifecycleExpiration:*":                         true,
	"s3:LifecycleExpiration:Delete":                    true,
	"s3:LifecycleExpiration:DeleteMarkerCreated":       true,
	"s3:LifecycleTransition":                           true,
	"s3:IntelligentTiering":                            true,
	"s3:ObjectTagging:*":                               true,
	"s3:ObjectTagging:Put":                             true,
	"s3:ObjectTagging:Delete":                          true,
	"s3:ObjectAcl:Put":                                 true,
}

// FunctionChecker tells whether a Lambda function exists; *lambda.Service
// implements it.
type FunctionChecker interface {
	FunctionExists(ctx context.Context, arn string) (bool, error)
}

// Validator checks and normalizes notification configurations. It is what
// s3api.WithNotifications takes.
type Validator struct {
	// Functions checks Lambda destinations; nil rejects every Lambda rule
	// as a destination that cannot be validated.
	Functions FunctionChecker
}

// RedactedSecret stands for a webhook rule's Secret in what
// GetBucketNotificationConfiguration answers: the secret signs deliveries
// and is never read back. PUT with this value keeps the secret stored for
// the rule with the same Id, so a configuration read, edited and written
// back keeps its secrets.
const RedactedSecret = "REDACTED"

// ValidateNotification parses doc as PutBucketNotificationConfiguration
// does, checks it as S3 does and returns the normalized document to store:
// Ids filled in, legacy forms rewritten, no namespace. An empty
// configuration returns nil (nothing to store). A webhook Secret of
// RedactedSecret is refused: there is no stored secret to keep.
func (v Validator) ValidateNotification(ctx context.Context, bucket string, doc []byte) ([]byte, error) {
	return v.UpdateNotification(ctx, bucket, doc, nil, false)
}

// UpdateNotification is ValidateNotification for a bucket whose stored
// document is current (nil for none): a webhook rule whose Secret is
// RedactedSecret keeps the secret of current's webhook rule with the same
// Id, and is refused with InvalidArgument when that rule has none. With
// skipDestinations (S3's x-amz-skip-destination-validation) a Lambda
// function need not exist yet: deliveries to a missing one fail and end
// as dead letters. Destinations Sluice cannot deliver to at all (SQS,
// SNS, EventBridge) are refused either way.
func (v Validator) UpdateNotification(ctx context.Context, bucket string, doc, current []byte, skipDestinations bool) ([]byte, error) {
	cfg, err := Parse(doc)
	if err != nil {
		return nil, err
	}
	if err := cfg.keepSecrets(current); err != nil {
		return nil, err
	}
	if err := cfg.check(); err != nil {
		return nil, err
	}
	if err := cfg.unsupported(); err != nil {
		return nil, err
	}
	if !skipDestinations {
		if err := v.checkDestinations(ctx, cfg); err != nil {
			return nil, err
		}
	}
	if cfg.empty() {
		return nil, nil
	}
	return cfg.Marshal()
}

// keepSecrets replaces every webhook Secret equal to RedactedSecret with
// the secret current stores for the rule's Id.
func (c *Configuration) keepSecrets(current []byte) error {
	var stored map[string]string
	for i := range c.Webhooks {
		w := &c.Webhooks[i]
		if w.Secret != RedactedSecret {
			continue
		}
		if stored == nil {
			stored = map[string]string{}
			if len(current) > 0 {
				// Only validated documents are stored; one that no longer
				// parses has no secret to keep.
				if cur, err := Parse(current); err == nil {
					for _, cw := range cur.Webhooks {
						stored[cw.ID] = cw.Secret
					}
				}
			}
		}
		secret := stored[w.ID]
		if secret == "" {
			return invalidArg(fmt.Sprintf("The webhook Secret %s keeps the stored secret of the rule with the same Id, and rule Id %q has none.", RedactedSecret, w.ID), "Secret", w.Secret)
		}
		w.Secret = secret
	}
	return nil
}

// RedactNotification renders a stored document as
// GetBucketNotificationConfiguration answers it: every webhook Secret
// replaced by RedactedSecret.
func (v Validator) RedactNotification(doc []byte) ([]byte, error) {
	return Redact(doc)
}

// Redact returns doc, a stored configuration, with every webhook Secret
// replaced by RedactedSecret. A document without secrets comes back as it
// is.
func Redact(doc []byte) ([]byte, error) {
	if !bytes.Contains(doc, []byte("<Secret>")) {
		return doc, nil
	}
	cfg, err := Parse(doc)
	if err != nil {
		return nil, fmt.Errorf("parse stored notification configuration: %w", err)
	}
	for i := range cfg.Webhooks {
		if cfg.Webhooks[i].Secret != "" {
			cfg.Webhooks[i].Secret = RedactedSecret
		}
	}
	return cfg.Marshal()
}

// Parse decodes and normalizes a configuration without checking
// destinations. Syntax errors are MalformedXML; every other S3 rule is
// checked too (unknown events, filters, overlaps, unsupported targets).
func Parse(doc []byte) (*Configuration, error) {
	var cfg Configuration
	if len(bytes.TrimSpace(doc)) == 0 {
		return nil, malformed()
	}
	d := xml.NewDecoder(bytes.NewReader(doc))
	if err := d.Decode(&cfg); err != nil {
		return nil, malformed()
	}
	// Anything after the root element other than whitespace is malformed.
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, malformed()
		}
		switch t := tok.(type) {
		case xml.CharData:
			if len(bytes.TrimSpace(t)) != 0 {
				return nil, malformed()
			}
		case xml.Comment, xml.ProcInst:
		default:
			return nil, malformed()
		}
	}
	cfg.XMLName = xml.Name{Local: "NotificationConfiguration"}
	if err := cfg.normalize(); err != nil {
		return nil, err
	}
	if err := cfg.check(); err != nil {
		return nil, err
	}
	return &cfg, nil
}

func malformed() error {
	return sluice.Errorf(sluice.ErrMalformedXML, "The XML you provided was not well-formed or did not validate against our published schema")
}

func invalidArg(msg, name, value string) error {
	return sluice.Errorf(sluice.ErrInvalidArgument, "%s", msg).With("ArgumentName", name).With("ArgumentValue", value)
}

// normalize folds the legacy and alternate spellings into one form and
// gives every rule an Id.
func (c *Configuration) normalize() error {
	c.Lambdas = append(c.Lambdas, c.AltLambdas...)
	c.AltLambdas = nil
	for i := range c.Lambdas {
		l := &c.Lambdas[i]
		if l.Function == "" {
			l.Function = l.ARN
		}
		if l.LegacyEvents != nil {
			l.Events = append(l.Events, l.LegacyEvents.Events...)
		}
		l.ARN, l.LegacyEvents, l.InvocationRole = "", nil, ""
		if l.ID == "" {
			l.ID = newRuleID()
		}
	}
	for i := range c.Webhooks {
		if c.Webhooks[i].ID == "" {
			c.Webhooks[i].ID = newRuleID()
		}
	}
	for i := range c.Queues {
		if c.Queues[i].ID == "" {
			c.Queues[i].ID = newRuleID()
		}
	}
	for i := range c.Topics {
		if c.Topics[i].ID == "" {
			c.Topics[i].ID = newRuleID()
		}
	}
	return nil
}

// newRuleID is what S3 assigns a rule without an Id: the base64 of a
// random UUID.
func newRuleID() string {
	return base64.StdEncoding.EncodeToString([]byte(uuid.NewString()))
}

func (c *Configuration) empty() bool {
	return len(c.Lambdas) == 0 && len(c.Webhooks) == 0 && len(c.Queues) == 0 && len(c.Topics) == 0 && c.EventBridge == nil
}

// check applies S3's rules that need no outside knowledge.
func (c *Configuration) check() error {
	if n := len(c.Lambdas) + len(c.Webhooks) + len(c.Queues) + len(c.Topics); n > maxRules {
		return invalidArg(fmt.Sprintf("A notification configuration holds at most %d rules.", maxRules), "NotificationConfiguration", fmt.Sprint(n))
	}
	ids := map[string]bool{}
	var all []Rule
	add := func(id, kind, target string, events []string, f *Filter) error {
		if len(id) > maxIDLength {
			return invalidArg("The ID you provided is too long.", "Id", id)
		}
		if ids[id] {
			return invalidArg("Same ID used for multiple configurations. IDs must be unique.", "Id", id)
		}
		ids[id] = true
		if len(events) == 0 {
			return malformed()
		}
		seen := map[string]bool{}
		for _, e := range events {
			if !supportedEvents[e] {
				return invalidArg("The event is not supported for notifications", "Event", e)
			}
			if seen[e] {
				return invalidArg("Cannot specify the same event type more than once in a configuration.", "Event", e)
			}
			seen[e] = true
		}
		r := Rule{ID: id, Kind: kind, Target: target, Events: events}
		if f != nil {
			var hasPrefix, hasSuffix bool
			for i := range f.Rules {
				fr := &f.Rules[i]
				if len(fr.Value) > maxFilterText {
					return invalidArg("The filter rule value is too long.", "FilterRule.Value", fr.Value)
				}
				switch strings.ToLower(fr.Name) {
				case "prefix":
					if hasPrefix {
						return invalidArg("Cannot specify more than one prefix rule in a filter.", "FilterRule.Name", fr.Name)
					}
					hasPrefix, r.Prefix, fr.Name = true, fr.Value, "Prefix"
				case "suffix":
					if hasSuffix {
						return invalidArg("Cannot specify more than one suffix rule in a filter.", "FilterRule.Name", fr.Name)
					}
					hasSuffix, r.Suffix, fr.Name = true, fr.Value, "Suffix"
				default:
					return invalidArg("filter rule name must be either prefix or suffix", "FilterRule.Name", fr.Name)
				}
			}
		}
		all = append(all, r)
		return nil
	}
	for _, l := range c.Lambdas {
		if l.Function == "" {
			return malformed()
		}
		if err := add(l.ID, "lambda", l.Function, l.Events, l.Filter); err != nil {
			return err
		}
	}
	for _, w := range c.Webhooks {
		u, err := url.Parse(w.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return invalidArg("The webhook Url must be an absolute http or https URL.", "Url", w.URL)
		}
		if w.BatchSize < 0 || w.BatchSize > MaxWebhookBatch {
			return invalidArg(fmt.Sprintf("The webhook BatchSize must be between 1 and %d.", MaxWebhookBatch), "BatchSize", fmt.Sprint(w.BatchSize))
		}
		if err := add(w.ID, "webhook", w.URL, w.Events, w.Filter); err != nil {
			return err
		}
	}
	for _, q := range c.Queues {
		if q.Queue == "" {
			return malformed()
		}
		if err := add(q.ID, "queue", q.Queue, q.Events, q.Filter); err != nil {
			return err
		}
	}
	for _, t := range c.Topics {
		if t.Topic == "" {
			return malformed()
		}
		if err := add(t.ID, "topic", t.Topic, t.Events, t.Filter); err != nil {
			return err
		}
	}
	for i := range all {
		for j := i + 1; j < len(all); j++ {
			if e, ok := overlap(all[i], all[j]); ok {
				return invalidArg("Configurations overlap. Configurations on the same bucket cannot share a common event type.", "Event", e)
			}
		}
	}
	return nil
}

// overlap reports whether two rules could both match one event of a common
// type, and that type: S3 refuses such configurations. Prefixes overlap when
// one starts the other, suffixes when one ends the other.
func overlap(a, b Rule) (string, bool) {
	if !strings.HasPrefix(a.Prefix, b.Prefix) && !strings.HasPrefix(b.Prefix, a.Prefix) {
		return "", false
	}
	if !strings.HasSuffix(a.Suffix, b.Suffix) && !strings.HasSuffix(b.Suffix, a.Suffix) {
		return "", false
	}
	for _, x := range a.Events {
		for _, y := range b.Events {
			if eventsIntersect(x, y) {
				return y, true
			}
		}
	}
	return "", false
}

// eventsIntersect reports whether two configured event types (either may
// end in the wildcard "*") share a concrete event.
func eventsIntersect(x, y string) bool {
	if x == y {
		return true
	}
	px, wx := strings.CutSuffix(x, "*")
	py, wy := strings.CutSuffix(y, "*")
	return wx && strings.HasPrefix(y, px) || wy && strings.HasPrefix(x, py)
}

// Unsupported reports the first rule Sluice cannot deliver to (queues,
// topics, EventBridge), as a NotImplemented error.
func (c *Configuration) unsupported() error {
	switch {
	case len(c.Queues) > 0:
		return sluice.Errorf(sluice.ErrNotImplemented, "QueueConfiguration destinations (SQS) are not implemented by Sluice")
	case len(c.Topics) > 0:
		return sluice.Errorf(sluice.ErrNotImplemented, "TopicConfiguration destinations (SNS) are not implemented by Sluice")
	case c.EventBridge != nil:
		return sluice.Errorf(sluice.ErrNotImplemented, "EventBridgeConfiguration is not implemented by Sluice")
	}
	return nil
}

// checkDestinations refuses Lambda functions that do not exist, as S3
// does at configuration time.
func (v Validator) checkDestinations(ctx context.Context, c *Configuration) error {
	var bad []string
	for _, l := range c.Lambdas {
		ok := false
		if v.Functions != nil {
			var err error
			if ok, err = v.Functions.FunctionExists(ctx, l.Function); err != nil {
				return fmt.Errorf("check function %q: %w", l.Function, err)
			}
		}
		if !ok {
			bad = append(bad, l.Function)
		}
	}
	if len(bad) == 0 {
		return nil
	}
	e := sluice.Errorf(sluice.ErrInvalidArgument, "Unable to validate the following destination configurations")
	for i, arn := range bad {
		e = e.With(fmt.Sprintf("ArgumentName%d", i+1), arn).
			With(fmt.Sprintf("ArgumentValue%d", i+1), fmt.Sprintf("Not authorized to invoke function [%s]", arn))
	}
	return e
}

// Rules lists the configuration's deliverable rules in document order.
func (c *Configuration) Rules() []Rule {
	var out []Rule
	for _, l := range c.Lambdas {
		out = append(out, ruleOf(l.ID, "lambda", l.Function, "", l.Events, l.Filter))
	}
	for _, w := range c.Webhooks {
		r := ruleOf(w.ID, "webhook", w.URL, w.Secret, w.Events, w.Filter)
		r.Batch = max(w.BatchSize, 1)
		out = append(out, r)
	}
	return out
}

func ruleOf(id, kind, target, secret string, events []string, f *Filter) Rule {
	r := Rule{ID: id, Kind: kind, Target: target, Secret: secret, Batch: 1, Events: events}
	if f != nil {
		for _, fr := range f.Rules {
			switch strings.ToLower(fr.Name) {
			case "prefix":
				r.Prefix = fr.Value
			case "suffix":
				r.Suffix = fr.Value
			}
		}
	}
	return r
}

// Matches reports whether the rule wants an event named name (without
// "s3:", as sluice.Event carries it) for key.
func (r Rule) Matches(name, key string) bool {
	if !strings.HasPrefix(key, r.Prefix) || !strings.HasSuffix(key, r.Suffix) {
		return false
	}
	full := "s3:" + name
	for _, e := range r.Events {
		if e == full {
			return true
		}
		if p, ok := strings.CutSuffix(e, "*"); ok && strings.HasPrefix(full, p) {
			return true
		}
	}
	return false
}

// Marshal renders the configuration as GetBucketNotificationConfiguration
// answers it, in the S3 namespace.
func (c *Configuration) Marshal() ([]byte, error) {
	var b bytes.Buffer
	b.WriteString(xml.Header)
	start := xml.StartElement{
		Name: xml.Name{Local: "NotificationConfiguration"},
		Attr: []xml.Attr{{Name: xml.Name{Local: "xmlns"}, Value: s3NS}},
	}
	if err := xml.NewEncoder(&b).EncodeElement(c, start); err != nil {
		return nil, fmt.Errorf("encode notification configuration: %w", err)
	}
	return b.Bytes(), nil
}
