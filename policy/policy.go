// Package policy owns S3 bucket policies: it parses and validates a policy
// document the way S3's PutBucketPolicy does (same MalformedPolicy
// messages), and evaluates a parsed policy against a request with IAM's
// rules — an explicit Deny wins over any Allow, and no matching statement
// means no decision (an implicit deny for callers without other grants).
//
// A *Policy is immutable after Parse and safe for concurrent use by any
// number of goroutines; Evaluate never allocates on its fast paths.
package policy

import (
	"bytes"
	"encoding/json"
	"regexp"
	"sort"
	"strings"

	"github.com/sluicehq/sluice"
)

// Policy is a validated bucket policy.
type Policy struct {
	// Version is the policy language version ("2012-10-17" or
	// "2008-10-17"); "" when the document names none.
	Version string
	// ID is the optional policy Id.
	ID string
	// Statements are in document order.
	Statements []Statement
}

// Statement is one validated policy statement.
type Statement struct {
	Sid    string
	Effect Effect

	principal    principals
	notPrincipal bool

	actions     []string // lower-cased patterns
	notAction   bool
	resources   []string // patterns, case-sensitive
	notResource bool

	conditions []condition
}

// Effect is a statement's effect.
type Effect string

// Effects a statement can have.
const (
	EffectAllow Effect = "Allow"
	EffectDeny  Effect = "Deny"
)

// Decision is the outcome of evaluating a policy.
type Decision int

// Decisions, from no matching statement to an explicit deny.
const (
	// NoDecision means no statement matched: an implicit deny unless the
	// caller is authorized some other way (for example as the owner).
	NoDecision Decision = iota
	Allow
	Deny
)

func (d Decision) String() string {
	switch d {
	case Allow:
		return "Allow"
	case Deny:
		return "Deny"
	default:
		return "NoDecision"
	}
}

// Request is what a policy is evaluated against.
type Request struct {
	// Principal is "*" for an anonymous caller, an ARN such as
	// arn:aws:iam::000000000000:root for a signed one, or a service name
	// ("cloudfront.amazonaws.com") when a service acts on its own behalf.
	Principal string
	// Action is the S3 action, e.g. "s3:GetObject".
	Action string
	// Resource is arn:aws:s3:::bucket or arn:aws:s3:::bucket/key.
	Resource string
	// Context holds condition keys (aws:SourceArn, aws:SecureTransport,
	// aws:SourceIp, s3:prefix, ...). Keys compare case-insensitively.
	Context map[string]string
}

// Messages S3 returns for MalformedPolicy.
const (
	msgTooLarge          = "Policy exceeds the maximum allowed document size."
	msgFirstByte         = "Policies must be valid JSON and the first byte must be '{'"
	msgInvalidJSON       = "This policy contains invalid Json"
	msgMissingStatement  = "Missing required field Statement"
	msgEmptyStatement    = "Could not parse the policy: Statement is empty!"
	msgInvalidVersion    = "The policy must contain a valid version string"
	msgMissingElement    = "Statement is missing required element"
	msgMissingPrincipal  = "Missing required field Principal"
	msgMissingEffect     = "Missing required field Effect"
	msgInvalidPrincipal  = "Invalid principal in policy"
	msgInvalidAction     = "Policy has invalid action"
	msgInvalidResource   = "Policy has invalid resource"
	msgResourceMismatch  = "Action does not apply to any resource(s) in statement"
	msgInvalidCondKey    = "Policy has an invalid condition key"
	msgInvalidIP         = "Invalid IP address in Conditions"
	msgDuplicateSid      = "Statement IDs (SID) in a single policy must be unique."
	msgConflictingFields = "Statement cannot contain both %s and %s"
)

func malformed(msg string) *sluice.Error {
	return &sluice.Error{Code: sluice.ErrMalformedPolicy, Message: msg}
}

func malformedf(format string, args ...any) *sluice.Error {
	return sluice.Errorf(sluice.ErrMalformedPolicy, format, args...)
}

// Parse validates a bucket policy document for bucket and returns it.
// Errors are *sluice.Error with Code sluice.ErrMalformedPolicy and the
// message S3 gives for the same mistake.
func Parse(doc []byte, bucket string) (*Policy, error) {
	if len(doc) > sluice.MaxBucketPolicy {
		return nil, malformed(msgTooLarge)
	}
	doc = bytes.TrimLeft(doc, " \t\r\n")
	if len(doc) == 0 || doc[0] != '{' {
		return nil, malformed(msgFirstByte)
	}
	top, err := object(doc)
	if err != nil {
		return nil, err
	}
	p := &Policy{}
	var stmtRaw json.RawMessage
	haveStatement := false
	for _, k := range sortedKeys(top) {
		v := top[k]
		switch k {
		case "Version":
			if p.Version, err = str(v, msgInvalidVersion); err != nil {
				return nil, err
			}
			if p.Version != "2012-10-17" && p.Version != "2008-10-17" {
				return nil, malformed(msgInvalidVersion)
			}
		case "Id":
			if p.ID, err = str(v, msgInvalidJSON); err != nil {
				return nil, err
			}
		case "Statement":
			stmtRaw, haveStatement = v, true
		default:
			return nil, malformedf("Unknown field %s", k)
		}
	}
	if !haveStatement {
		return nil, malformed(msgMissingStatement)
	}
	var raws []json.RawMessage
	switch firstByte(stmtRaw) {
	case '[':
		if err := json.Unmarshal(stmtRaw, &raws); err != nil {
			return nil, malformed(msgInvalidJSON)
		}
	case '{':
		raws = []json.RawMessage{stmtRaw}
	default:
		return nil, malformed(msgInvalidJSON)
	}
	if len(raws) == 0 {
		return nil, malformed(msgEmptyStatement)
	}
	sids := make(map[string]bool, len(raws))
	for _, raw := range raws {
		st, err := parseStatement(raw, bucket)
		if err != nil {
			return nil, err
		}
		if st.Sid != "" {
			if sids[st.Sid] {
				return nil, malformed(msgDuplicateSid)
			}
			sids[st.Sid] = true
		}
		p.Statements = append(p.Statements, st)
	}
	return p, nil
}

// object decodes a JSON object into its raw members.
func object(raw []byte) (map[string]json.RawMessage, error) {
	if firstByte(raw) != '{' {
		return nil, malformed(msgInvalidJSON)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, malformed(msgInvalidJSON)
	}
	return m, nil
}

// sortedKeys gives validation a deterministic order, so a document with
// several mistakes always reports the same one.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func firstByte(raw []byte) byte {
	raw = bytes.TrimLeft(raw, " \t\r\n")
	if len(raw) == 0 {
		return 0
	}
	return raw[0]
}

func str(raw json.RawMessage, msg string) (string, error) {
	var s string
	if firstByte(raw) != '"' || json.Unmarshal(raw, &s) != nil {
		return "", malformed(msg)
	}
	return s, nil
}

// strList decodes a string or a non-empty list of strings.
func strList(raw json.RawMessage, msg string) ([]string, error) {
	switch firstByte(raw) {
	case '"':
		s, err := str(raw, msg)
		if err != nil {
			return nil, err
		}
		return []string{s}, nil
	case '[':
		var l []string
		if json.Unmarshal(raw, &l) != nil || len(l) == 0 {
			return nil, malformed(msg)
		}
		return l, nil
	}
	return nil, malformed(msg)
}

func parseStatement(raw json.RawMessage, bucket string) (Statement, error) {
	var st Statement
	m, err := object(raw)
	if err != nil {
		return st, err
	}
	for _, k := range sortedKeys(m) {
		switch k {
		case "Sid", "Effect", "Principal", "NotPrincipal", "Action", "NotAction",
			"Resource", "NotResource", "Condition":
		default:
			return st, malformedf("Unknown field %s", k)
		}
	}
	for _, pair := range [][2]string{{"Principal", "NotPrincipal"}, {"Action", "NotAction"}, {"Resource", "NotResource"}} {
		_, a := m[pair[0]]
		_, b := m[pair[1]]
		if a && b {
			return st, malformedf(msgConflictingFields, pair[0], pair[1])
		}
	}
	if v, ok := m["Sid"]; ok {
		if st.Sid, err = str(v, msgInvalidJSON); err != nil {
			return st, err
		}
	}
	v, ok := m["Effect"]
	if !ok {
		return st, malformed(msgMissingEffect)
	}
	effect, err := str(v, msgInvalidJSON)
	if err != nil {
		return st, err
	}
	switch Effect(effect) {
	case EffectAllow, EffectDeny:
		st.Effect = Effect(effect)
	default:
		return st, malformedf("Invalid effect: %s", effect)
	}

	if v, ok := m["Principal"]; ok {
		st.principal, err = parsePrincipal(v)
	} else if v, ok := m["NotPrincipal"]; ok {
		st.principal, err = parsePrincipal(v)
		st.notPrincipal = true
	} else {
		err = malformed(msgMissingPrincipal)
	}
	if err != nil {
		return st, err
	}

	var actionKey string
	if _, ok := m["Action"]; ok {
		actionKey = "Action"
	} else if _, ok := m["NotAction"]; ok {
		actionKey, st.notAction = "NotAction", true
	} else {
		return st, malformed(msgMissingElement)
	}
	if st.actions, err = parseActions(m[actionKey]); err != nil {
		return st, err
	}

	var resourceKey string
	if _, ok := m["Resource"]; ok {
		resourceKey = "Resource"
	} else if _, ok := m["NotResource"]; ok {
		resourceKey, st.notResource = "NotResource", true
	} else {
		return st, malformed(msgMissingElement)
	}
	if st.resources, err = strList(m[resourceKey], msgInvalidResource); err != nil {
		return st, err
	}
	bucketARN := "arn:aws:s3:::" + bucket
	var kinds resourceKind
	for _, r := range st.resources {
		switch {
		case r == bucketARN:
			kinds |= kindBucket
		case strings.HasPrefix(r, bucketARN+"/"):
			kinds |= kindObject
		default:
			return st, malformed(msgInvalidResource)
		}
	}
	if !st.notAction && !st.notResource {
		for _, a := range st.actions {
			if actionKinds(a)&kinds == 0 {
				return st, malformed(msgResourceMismatch)
			}
		}
	}

	if v, ok := m["Condition"]; ok {
		if st.conditions, err = parseConditions(v); err != nil {
			return st, err
		}
	}
	return st, nil
}

func parseActions(raw json.RawMessage) ([]string, error) {
	list, err := strList(raw, msgInvalidAction)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(list))
	for i, a := range list {
		a = toLower(a)
		if a != "*" && (!strings.HasPrefix(a, "s3:") || actionKinds(a) == 0) {
			return nil, malformed(msgInvalidAction)
		}
		out[i] = a
	}
	return out, nil
}

// principals is the parsed Principal (or NotPrincipal) element.
type principals struct {
	anyone    bool
	aws       []string // ARNs; bare account ids become the account's root ARN
	service   []string
	canonical []string
	federated []string
}

var (
	accountIDRe   = regexp.MustCompile(`^[0-9]{12}$`)
	iamARNRe      = regexp.MustCompile(`^arn:aws:iam::[0-9]{12}:(root|(user|role|group)/[\x21-\x7e]+)$`)
	stsARNRe      = regexp.MustCompile(`^arn:aws:sts::[0-9]{12}:(assumed-role|federated-user)/[\x21-\x7e]+$`)
	oaiARNRe      = regexp.MustCompile(`^arn:aws:iam::cloudfront:user/CloudFront Origin Access Identity [A-Z0-9]+$`)
	serviceRe     = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]*\.amazonaws\.com(\.cn)?$`)
	canonicalIDRe = regexp.MustCompile(`^[0-9a-f]{64}$`)
)

func parsePrincipal(raw json.RawMessage) (principals, error) {
	var ps principals
	invalid := malformed(msgInvalidPrincipal)
	switch firstByte(raw) {
	case '"':
		s, err := str(raw, msgInvalidPrincipal)
		if err != nil || s != "*" {
			return ps, invalid
		}
		ps.anyone = true
		return ps, nil
	case '{':
	default:
		return ps, invalid
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil || len(m) == 0 {
		return ps, invalid
	}
	for _, k := range sortedKeys(m) {
		list, err := strList(m[k], msgInvalidPrincipal)
		if err != nil {
			return ps, err
		}
		for _, v := range list {
			switch k {
			case "AWS":
				switch {
				case v == "*":
					ps.anyone = true
				case accountIDRe.MatchString(v):
					ps.aws = append(ps.aws, "arn:aws:iam::"+v+":root")
				case iamARNRe.MatchString(v), stsARNRe.MatchString(v), oaiARNRe.MatchString(v):
					ps.aws = append(ps.aws, v)
				default:
					return ps, invalid
				}
			case "Service":
				if !serviceRe.MatchString(v) {
					return ps, invalid
				}
				ps.service = append(ps.service, v)
			case "CanonicalUser":
				if !canonicalIDRe.MatchString(v) {
					return ps, invalid
				}
				ps.canonical = append(ps.canonical, v)
			case "Federated":
				if v == "" {
					return ps, invalid
				}
				ps.federated = append(ps.federated, v)
			default:
				return ps, invalid
			}
		}
	}
	return ps, nil
}

// matches reports whether the caller p is among the principals. An
// account's root ARN stands for every identity in the account, as in IAM.
func (ps *principals) matches(p string) bool {
	if ps.anyone {
		return true
	}
	for _, a := range ps.aws {
		if a == p {
			return true
		}
		if acct, ok := strings.CutSuffix(a, ":root"); ok {
			acct = acct[len("arn:aws:iam::"):]
			if sameAccount(p, acct) {
				return true
			}
		}
	}
	for _, l := range [][]string{ps.service, ps.canonical, ps.federated} {
		for _, s := range l {
			if s == p {
				return true
			}
		}
	}
	return false
}

// sameAccount reports whether the IAM or STS ARN p belongs to acct.
func sameAccount(p, acct string) bool {
	for _, prefix := range []string{"arn:aws:iam::", "arn:aws:sts::"} {
		if rest, ok := strings.CutPrefix(p, prefix); ok {
			return len(rest) > len(acct) && rest[len(acct)] == ':' && rest[:len(acct)] == acct
		}
	}
	return false
}

// Evaluate decides req against the policy: Deny if any matching statement
// denies, else Allow if any matching statement allows, else NoDecision.
func (p *Policy) Evaluate(req Request) Decision {
	d := NoDecision
	for i := range p.Statements {
		st := &p.Statements[i]
		if !st.applies(&req) {
			continue
		}
		if st.Effect == EffectDeny {
			return Deny
		}
		d = Allow
	}
	return d
}

func (st *Statement) applies(req *Request) bool {
	if st.principal.matches(req.Principal) == st.notPrincipal {
		return false
	}
	if matchAny(st.actions, req.Action, true) == st.notAction {
		return false
	}
	if matchAny(st.resources, req.Resource, false) == st.notResource {
		return false
	}
	for i := range st.conditions {
		if !st.conditions[i].eval(req.Context) {
			return false
		}
	}
	return true
}

func matchAny(patterns []string, s string, fold bool) bool {
	for _, p := range patterns {
		if wildcardMatch(p, s, fold) {
			return true
		}
	}
	return false
}
