package cloudfront

import (
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/sluicehq/sluice"
)

// Quotas, as CloudFront's defaults.
const (
	maxOrigins              = 25
	maxCacheBehaviors       = 25
	maxAliases              = 100
	maxOriginCustomHeaders  = 10
	maxQueryStringCacheKeys = 10
	maxForwardedHeaders     = 10
	maxLambdaAssociations   = 4
	maxCommentLength        = 128
	maxPathPatternLength    = 255
	maxDefaultRootObject    = 255
	maxOriginPathLength     = 255
	maxCallerReference      = 128
	defaultTTL              = 86400
	defaultMaxTTL           = 31536000
)

// managedCachePolicy is what the edge needs of one of CloudFront's managed
// cache policies. Custom cache policies are not offered, so a behaviour may
// name only these.
type managedCachePolicy struct {
	minTTL, defaultTTL, maxTTL int64
	allQueryStrings            bool
	queryStrings               []string
	headers                    []string
}

var managedCachePolicies = map[string]managedCachePolicy{
	// CachingOptimized
	"658327ea-f89d-4fab-a63d-7e88639e58f6": {minTTL: 1, defaultTTL: 86400, maxTTL: 31536000},
	// CachingOptimizedForUncompressedObjects
	"b2884449-e4de-46a7-ac36-70bc7f1ddd6d": {minTTL: 1, defaultTTL: 86400, maxTTL: 31536000},
	// CachingDisabled
	"4135ea2d-6df8-44a3-9df3-4b5a84be39ad": {},
	// UseOriginCacheControlHeaders
	"83da9c7e-98b4-4e11-a168-04f0df8e2c65": {maxTTL: 31536000,
		headers: []string{"host", "origin", "x-http-method-override", "x-http-method", "x-method-override"}},
	// UseOriginCacheControlHeaders-QueryStrings
	"4cc15a8a-d715-48a4-82b8-cc0b614638fe": {maxTTL: 31536000, allQueryStrings: true,
		headers: []string{"host", "origin", "x-http-method-override", "x-http-method", "x-method-override"}},
	// Amplify
	"2e54312d-136d-493c-8eb9-b001f22f67d2": {minTTL: 2, defaultTTL: 2, maxTTL: 600, allQueryStrings: true,
		headers: []string{"authorization", "cloudfront-viewer-country", "host"}},
	// Elemental-MediaPackage
	"08627262-05a9-4f76-9ded-b50ca2e3a84f": {defaultTTL: 86400, maxTTL: 31536000,
		queryStrings: []string{"aws.manifestfilter", "start", "end", "m"}},
}

// refs is what config validation needs to know about the world: which
// origin access controls and identities exist, which aliases other
// distributions hold, and which function versions exist.
type refs struct {
	hasOAC   func(id string) bool
	hasOAI   func(id string) bool
	aliasOwn func(alias string) string // id of the distribution holding alias, or ""
	checkFn  func(arn string) error    // nil: no check
	self     string                    // id of the distribution being updated
}

// parser reads a DistributionConfig tree and stops at the first error.
type parser struct {
	err *sluice.Error
}

func (p *parser) fail(code sluice.Code, format string, args ...any) {
	if p.err == nil {
		p.err = sluice.Errorf(code, format, args...)
	}
}

func (p *parser) need(n *node, name string) *node {
	c := n.child(name)
	if c == nil {
		p.fail(errMalformedInput, "Missing required element %s in %s.", name, n.Name)
	}
	return c
}

func (p *parser) boolOf(c *node) bool {
	if c == nil {
		return false
	}
	switch strings.TrimSpace(c.Text) {
	case "true":
		return true
	case "false":
		return false
	}
	p.fail(errMalformedInput, "Invalid boolean value %q for %s.", c.Text, c.Name)
	return false
}

func (p *parser) intOf(c *node) int64 {
	if c == nil {
		return 0
	}
	v, err := strconv.ParseInt(strings.TrimSpace(c.Text), 10, 64)
	if err != nil {
		p.fail(errMalformedInput, "Invalid integer value %q for %s.", c.Text, c.Name)
	}
	return v
}

// checkQuantities enforces that every Quantity matches its Items, anywhere
// in the document, as CloudFront does for every list.
func (p *parser) checkQuantities(n *node) {
	if q := n.child("Quantity"); q != nil {
		want := p.intOf(q)
		got := int64(len(n.items()))
		if p.err == nil && want != got {
			p.fail(errInconsistentQuantities, "The value of Quantity and the size of Items don't match in %s.", n.Name)
		}
	}
	for _, k := range n.Kids {
		if p.err != nil {
			return
		}
		p.checkQuantities(k)
	}
}

// itemsNamed returns the items of list n, which must all be named item.
func (p *parser) itemsNamed(n *node, item string) []*node {
	its := n.items()
	for _, k := range its {
		if k.Name != item {
			p.fail(errMalformedInput, "Unexpected element %s in %s; expected %s.", k.Name, n.Name, item)
			return nil
		}
	}
	return its
}

func (p *parser) textsNamed(n *node, item string) []string {
	var out []string
	for _, k := range p.itemsNamed(n, item) {
		out = append(out, k.Text)
	}
	return out
}

var (
	hostnameRE    = regexp.MustCompile(`^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
	pathPatternRE = regexp.MustCompile(`^[A-Za-z0-9_\-.*$/~"'@:+&?]+$`)
	lambdaARNRE   = regexp.MustCompile(`^arn:aws[a-zA-Z-]*:lambda:([a-z0-9-]+):(\d{12}):function:([a-zA-Z0-9-_]{1,64}):([^:]+)$`)
	numericRE     = regexp.MustCompile(`^[1-9][0-9]*$`)
	errorCodes    = []int64{400, 403, 404, 405, 414, 416, 500, 501, 502, 503, 504}
)

// Enumerations of DistributionConfig values.
var (
	viewerProtocolPolicies = []string{"allow-all", "https-only", "redirect-to-https"}
	originProtocolPolicies = []string{"http-only", "match-viewer", "https-only"}
	priceClasses           = []string{"PriceClass_100", "PriceClass_200", "PriceClass_All", "None"}
	httpVersions           = []string{"http1.1", "http2", "http3", "http2and3"}
	eventTypes             = []string{"viewer-request", "origin-request", "origin-response", "viewer-response"}
	cookieForwards         = []string{"none", "whitelist", "all"}
	allowedMethodSets      = [][]string{{"GET", "HEAD"}, {"GET", "HEAD", "OPTIONS"},
		{"DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT"}}
	cachedMethodSets = [][]string{{"GET", "HEAD"}, {"GET", "HEAD", "OPTIONS"}}
)

// parseDistributionConfig validates a DistributionConfig document and
// returns the model the edge serves. r supplies the cross-resource checks.
func parseDistributionConfig(n *node, r refs) (sluice.DistributionConfig, *sluice.Error) {
	var cfg sluice.DistributionConfig
	p := &parser{}
	if n.Name != "DistributionConfig" {
		return cfg, sluice.Errorf(errMalformedInput, "Expected a DistributionConfig document, got %s.", n.Name)
	}
	p.checkQuantities(n)
	if p.err != nil {
		return cfg, p.err
	}
	cfg.CallerReference = p.need(n, "CallerReference").textOr("")
	if c := n.child("Comment"); c == nil {
		p.need(n, "Comment")
	} else {
		cfg.Comment = c.Text
	}
	cfg.Enabled = p.boolOf(p.need(n, "Enabled"))
	origins := p.need(n, "Origins")
	dcb := p.need(n, "DefaultCacheBehavior")
	if p.err != nil {
		return cfg, p.err
	}
	if cfg.CallerReference == "" || len(cfg.CallerReference) > maxCallerReference {
		p.fail(sluice.ErrInvalidArgument, "CallerReference must be 1 to %d characters long.", maxCallerReference)
	}
	if len([]rune(cfg.Comment)) > maxCommentLength {
		p.fail(sluice.ErrInvalidArgument, "The parameter Comment is too long (at most %d characters).", maxCommentLength)
	}

	if a := n.child("Aliases"); a != nil {
		cfg.Aliases = p.textsNamed(a, "CNAME")
	}
	p.aliases(&cfg, r)

	cfg.DefaultRootObject = n.text("DefaultRootObject")
	if d := cfg.DefaultRootObject; len(d) > maxDefaultRootObject || strings.HasPrefix(d, "/") ||
		strings.ContainsAny(d, "\x00\r\n\t ") {
		p.fail(errInvalidDefaultRootObject, "The default root object %q is too long, starts with a slash or contains an invalid character.", d)
	}
	if c := n.child("PriceClass"); c != nil {
		cfg.PriceClass = c.Text
		if !slices.Contains(priceClasses, c.Text) {
			p.fail(sluice.ErrInvalidArgument, "The parameter PriceClass %q is not valid; use one of %s.", c.Text, strings.Join(priceClasses, ", "))
		}
	}
	if c := n.child("HttpVersion"); c != nil {
		cfg.HTTPVersion = c.Text
		if !slices.Contains(httpVersions, c.Text) {
			p.fail(sluice.ErrInvalidArgument, "The parameter HttpVersion %q is not valid; use one of %s.", c.Text, strings.Join(httpVersions, ", "))
		}
	}
	cfg.IsIPV6Enabled = p.boolOf(n.child("IsIPV6Enabled"))

	p.origins(&cfg, origins, r)
	if g := n.child("OriginGroups"); g != nil && len(g.items()) > 0 {
		p.fail(sluice.ErrInvalidArgument, "Origin groups (failover) are not supported by sluice.")
	}
	originIDs := make(map[string]bool, len(cfg.Origins))
	for _, o := range cfg.Origins {
		originIDs[o.ID] = true
	}
	cfg.DefaultCacheBehavior = p.behavior(dcb, false, originIDs, r)
	if cbs := n.child("CacheBehaviors"); cbs != nil {
		items := p.itemsNamed(cbs, "CacheBehavior")
		if len(items) > maxCacheBehaviors {
			p.fail(errTooManyCacheBehaviors, "Your request contains %d cache behaviors; at most %d are allowed.", len(items), maxCacheBehaviors)
		}
		seen := map[string]bool{}
		for _, it := range items {
			b := p.behavior(it, true, originIDs, r)
			if p.err != nil {
				break
			}
			if seen[b.PathPattern] {
				p.fail(sluice.ErrInvalidArgument, "The path pattern %q is used by more than one cache behavior.", b.PathPattern)
			}
			seen[b.PathPattern] = true
			cfg.CacheBehaviors = append(cfg.CacheBehaviors, b)
		}
	}
	if ce := n.child("CustomErrorResponses"); ce != nil {
		p.customErrors(&cfg, ce)
	}
	if c := n.child("Staging"); c != nil && p.boolOf(c) {
		p.fail(sluice.ErrInvalidArgument, "Staging distributions (continuous deployment) are not supported by sluice.")
	}
	return cfg, p.err
}

func (n *node) textOr(def string) string {
	if n == nil {
		return def
	}
	return n.Text
}

func (p *parser) aliases(cfg *sluice.DistributionConfig, r refs) {
	if len(cfg.Aliases) > maxAliases {
		p.fail(errTooManyCNAMEs, "Your request contains %d CNAMEs; at most %d are allowed.", len(cfg.Aliases), maxAliases)
		return
	}
	seen := map[string]bool{}
	for _, a := range cfg.Aliases {
		l := strings.ToLower(a)
		if len(l) > 253 || !hostnameRE.MatchString(l) {
			p.fail(sluice.ErrInvalidArgument, "The parameter CNAME %q is not a valid domain name.", a)
			return
		}
		if seen[l] {
			p.fail(sluice.ErrInvalidArgument, "The CNAME %q appears more than once.", a)
			return
		}
		seen[l] = true
		if r.aliasOwn != nil {
			if owner := r.aliasOwn(l); owner != "" && owner != r.self {
				p.fail(errCNAMEAlreadyExists, "One or more of the CNAMEs you provided are already associated with a different resource (%s).", a)
				return
			}
		}
	}
}

func (p *parser) origins(cfg *sluice.DistributionConfig, n *node, r refs) {
	items := p.itemsNamed(n, "Origin")
	if p.err != nil {
		return
	}
	if len(items) == 0 {
		p.fail(sluice.ErrInvalidArgument, "The distribution must have at least one origin.")
		return
	}
	if len(items) > maxOrigins {
		p.fail(errTooManyOrigins, "Your request contains %d origins; at most %d are allowed.", len(items), maxOrigins)
		return
	}
	seen := map[string]bool{}
	for _, it := range items {
		o := sluice.Origin{
			ID:                    p.need(it, "Id").textOr(""),
			DomainName:            strings.ToLower(p.need(it, "DomainName").textOr("")),
			OriginPath:            it.text("OriginPath"),
			OriginAccessControlID: it.text("OriginAccessControlId"),
			ConnectionAttempts:    3,
			ConnectionTimeout:     10,
		}
		if p.err != nil {
			return
		}
		if o.ID == "" {
			p.fail(sluice.ErrInvalidArgument, "The parameter Origin Id cannot be empty.")
			return
		}
		if seen[o.ID] {
			p.fail(sluice.ErrInvalidArgument, "The parameter Origin Id must be unique; %q is used more than once.", o.ID)
			return
		}
		seen[o.ID] = true
		if o.DomainName == "" || len(o.DomainName) > 253 {
			p.fail(errInvalidOrigin, "The origin %q has no valid DomainName.", o.ID)
			return
		}
		if op := o.OriginPath; op != "" && (!strings.HasPrefix(op, "/") || strings.HasSuffix(op, "/") ||
			len(op) > maxOriginPathLength || strings.ContainsAny(op, "?#*\x00 ")) {
			p.fail(sluice.ErrInvalidArgument, "The parameter origin path %q must begin with a slash, must not end with one, and must not contain ?, # or *.", op)
			return
		}
		if c := it.child("ConnectionAttempts"); c != nil {
			o.ConnectionAttempts = int(p.intOf(c))
			if o.ConnectionAttempts < 1 || o.ConnectionAttempts > 3 {
				p.fail(sluice.ErrInvalidArgument, "ConnectionAttempts must be 1, 2 or 3.")
			}
		}
		if c := it.child("ConnectionTimeout"); c != nil {
			o.ConnectionTimeout = int(p.intOf(c))
			if o.ConnectionTimeout < 1 || o.ConnectionTimeout > 10 {
				p.fail(sluice.ErrInvalidArgument, "ConnectionTimeout must be between 1 and 10 seconds.")
			}
		}
		if ch := it.child("CustomHeaders"); ch != nil {
			hs := p.itemsNamed(ch, "OriginCustomHeader")
			if len(hs) > maxOriginCustomHeaders {
				p.fail(errTooManyOriginCustomHeaders, "Your request contains %d origin custom headers; at most %d are allowed.", len(hs), maxOriginCustomHeaders)
			}
			for _, h := range hs {
				name := p.need(h, "HeaderName").textOr("")
				value := p.need(h, "HeaderValue").textOr("")
				if p.err == nil && (name == "" || strings.ContainsAny(name, " :\r\n\t")) {
					p.fail(sluice.ErrInvalidArgument, "The origin custom header name %q is not valid.", name)
				}
				o.CustomHeaders = append(o.CustomHeaders, sluice.OriginHeader{Name: name, Value: value})
			}
		}
		s3c, cc := it.child("S3OriginConfig"), it.child("CustomOriginConfig")
		if it.has("VpcOriginConfig") {
			p.fail(sluice.ErrInvalidArgument, "VPC origins are not supported by sluice.")
			return
		}
		switch {
		case s3c != nil && cc != nil:
			p.fail(sluice.ErrInvalidArgument, "The origin %q has both S3OriginConfig and CustomOriginConfig; specify exactly one.", o.ID)
		case s3c != nil:
			oai := p.need(s3c, "OriginAccessIdentity").textOr("")
			o.S3 = &sluice.S3OriginConfig{OriginAccessIdentity: oai}
			if _, ok := BucketOfDomain(o.DomainName); !ok {
				p.fail(errInvalidOrigin, "The Amazon S3 origin server %q does not refer to a valid Amazon S3 bucket domain (BUCKET.s3.REGION.amazonaws.com, BUCKET.s3.amazonaws.com or BUCKET.s3.localhost).", o.DomainName)
			}
			if oai != "" {
				id, ok := strings.CutPrefix(oai, "origin-access-identity/cloudfront/")
				if !ok || r.hasOAI == nil || !r.hasOAI(id) {
					p.fail(errInvalidOAI, "The origin access identity %q is not valid or doesn't exist.", oai)
				}
				if o.OriginAccessControlID != "" {
					p.fail(errIllegalOriginAccessConfig, "The origin %q cannot have both an origin access control and an origin access identity.", o.ID)
				}
			}
		case cc != nil:
			o.Custom = &sluice.CustomOriginConfig{
				HTTPPort:               int(p.intOf(p.need(cc, "HTTPPort"))),
				HTTPSPort:              int(p.intOf(p.need(cc, "HTTPSPort"))),
				OriginProtocolPolicy:   p.need(cc, "OriginProtocolPolicy").textOr(""),
				OriginReadTimeout:      30,
				OriginKeepaliveTimeout: 5,
			}
			if p.err != nil {
				return
			}
			for _, port := range []int{o.Custom.HTTPPort, o.Custom.HTTPSPort} {
				if port != 80 && port != 443 && (port < 1024 || port > 65535) {
					p.fail(sluice.ErrInvalidArgument, "The origin port %d is not valid; use 80, 443 or 1024-65535.", port)
				}
			}
			if !slices.Contains(originProtocolPolicies, o.Custom.OriginProtocolPolicy) {
				p.fail(sluice.ErrInvalidArgument, "The OriginProtocolPolicy %q is not valid; use one of %s.", o.Custom.OriginProtocolPolicy, strings.Join(originProtocolPolicies, ", "))
			}
			if c := cc.child("OriginReadTimeout"); c != nil {
				o.Custom.OriginReadTimeout = int(p.intOf(c))
				if o.Custom.OriginReadTimeout < 1 || o.Custom.OriginReadTimeout > 180 {
					p.fail(errInvalidOriginReadTimeout, "The read timeout must be between 1 and 180 seconds.")
				}
			}
			if c := cc.child("OriginKeepaliveTimeout"); c != nil {
				o.Custom.OriginKeepaliveTimeout = int(p.intOf(c))
				if o.Custom.OriginKeepaliveTimeout < 1 || o.Custom.OriginKeepaliveTimeout > 180 {
					p.fail(errInvalidOriginKeepaliveTimeout, "The keep alive timeout must be between 1 and 180 seconds.")
				}
			}
		default:
			p.fail(sluice.ErrInvalidArgument, "The origin %q must have either S3OriginConfig or CustomOriginConfig.", o.ID)
		}
		if o.OriginAccessControlID != "" {
			if r.hasOAC == nil || !r.hasOAC(o.OriginAccessControlID) {
				p.fail(errInvalidOAC, "The origin access control %q does not exist.", o.OriginAccessControlID)
			} else if o.S3 == nil {
				p.fail(errInvalidOAC, "The origin access control %q can only be used with an S3 origin here.", o.OriginAccessControlID)
			}
		}
		if p.err != nil {
			return
		}
		cfg.Origins = append(cfg.Origins, o)
	}
}

// behavior reads a DefaultCacheBehavior or CacheBehavior element.
func (p *parser) behavior(n *node, withPattern bool, originIDs map[string]bool, r refs) sluice.CacheBehavior {
	var b sluice.CacheBehavior
	if withPattern {
		b.PathPattern = p.need(n, "PathPattern").textOr("")
		if p.err == nil && !validPathPattern(b.PathPattern) {
			p.fail(sluice.ErrInvalidArgument, "The path pattern %q is not valid: 1 to %d characters among A-Z a-z 0-9 _ - . * $ / ~ \" ' @ : + & ?.", b.PathPattern, maxPathPatternLength)
		}
	}
	b.TargetOriginID = p.need(n, "TargetOriginId").textOr("")
	b.ViewerProtocolPolicy = p.need(n, "ViewerProtocolPolicy").textOr("")
	if p.err != nil {
		return b
	}
	where := "the default cache behavior"
	if withPattern {
		where = "the cache behavior " + strconv.Quote(b.PathPattern)
	}
	if !originIDs[b.TargetOriginID] {
		p.fail(errNoSuchOrigin, "No origin exists with the Origin Id %q named by %s.", b.TargetOriginID, where)
		return b
	}
	if !slices.Contains(viewerProtocolPolicies, b.ViewerProtocolPolicy) {
		p.fail(sluice.ErrInvalidArgument, "The ViewerProtocolPolicy %q of %s is not valid; use one of %s.", b.ViewerProtocolPolicy, where, strings.Join(viewerProtocolPolicies, ", "))
	}
	for _, ts := range []struct{ name, item string }{{"TrustedSigners", "AwsAccountNumber"}, {"TrustedKeyGroups", "KeyGroup"}} {
		if t := n.child(ts.name); t != nil && p.boolOf(t.child("Enabled")) {
			if ts.name == "TrustedSigners" {
				p.fail(errTrustedSignerDoesNotExist, "Signed URLs (trusted signers) are not supported by sluice; %s must not enable them.", where)
			} else {
				p.fail(errTrustedKeyGroupDoesNotExist, "Signed URLs (trusted key groups) are not supported by sluice; %s must not enable them.", where)
			}
		}
	}
	b.AllowedMethods, b.CachedMethods = []string{"GET", "HEAD"}, []string{"GET", "HEAD"}
	if am := n.child("AllowedMethods"); am != nil {
		b.AllowedMethods = sortedUpper(p.textsNamed(am, "Method"))
		if !slices.ContainsFunc(allowedMethodSets, func(s []string) bool { return slices.Equal(s, b.AllowedMethods) }) {
			p.fail(sluice.ErrInvalidArgument, "AllowedMethods of %s must be GET,HEAD or GET,HEAD,OPTIONS or all seven methods.", where)
		}
		if cm := am.child("CachedMethods"); cm != nil {
			b.CachedMethods = sortedUpper(p.textsNamed(cm, "Method"))
			if !slices.ContainsFunc(cachedMethodSets, func(s []string) bool { return slices.Equal(s, b.CachedMethods) }) ||
				!isSubset(b.CachedMethods, b.AllowedMethods) {
				p.fail(sluice.ErrInvalidArgument, "CachedMethods of %s must be GET,HEAD or GET,HEAD,OPTIONS and allowed.", where)
			}
		}
	}
	b.Compress = p.boolOf(n.child("Compress"))
	b.CachePolicyID = n.text("CachePolicyId")
	b.OriginRequestPolicyID = n.text("OriginRequestPolicyId")
	b.ResponseHeadersPolicyID = n.text("ResponseHeadersPolicyId")

	fv := n.child("ForwardedValues")
	if b.CachePolicyID != "" {
		pol, ok := managedCachePolicies[b.CachePolicyID]
		if !ok {
			p.fail(errNoSuchCachePolicy, "The cache policy %q of %s does not exist; sluice offers CloudFront's managed cache policies only.", b.CachePolicyID, where)
			return b
		}
		if fv != nil || n.has("MinTTL") || n.has("DefaultTTL") || n.has("MaxTTL") {
			p.fail(sluice.ErrInvalidArgument, "%s has a CachePolicyId, so it must not have ForwardedValues or TTLs.", where)
		}
		b.MinTTL, b.DefaultTTL, b.MaxTTL = pol.minTTL, pol.defaultTTL, pol.maxTTL
		b.QueryString = pol.allQueryStrings || len(pol.queryStrings) > 0
		b.QueryStringCacheKeys = slices.Clone(pol.queryStrings)
		b.ForwardHeaders = slices.Clone(pol.headers)
	} else {
		if fv == nil {
			p.fail(sluice.ErrInvalidArgument, "%s must have either a CachePolicyId or ForwardedValues.", where)
			return b
		}
		b.QueryString = p.boolOf(p.need(fv, "QueryString"))
		if ck := p.need(fv, "Cookies"); ck != nil {
			fwd := p.need(ck, "Forward").textOr("")
			if p.err == nil && !slices.Contains(cookieForwards, fwd) {
				p.fail(sluice.ErrInvalidArgument, "Cookies Forward %q of %s is not valid; use none, whitelist or all.", fwd, where)
			}
			if wl := ck.child("WhitelistedNames"); wl != nil && len(wl.items()) > 0 && fwd != "whitelist" {
				p.fail(errInvalidForwardCookies, "WhitelistedNames of %s may be given only when Forward is whitelist.", where)
			}
		}
		if h := fv.child("Headers"); h != nil {
			b.ForwardHeaders = p.textsNamed(h, "Name")
			if len(b.ForwardHeaders) > maxForwardedHeaders {
				p.fail(errTooManyHeadersInForwardedValues, "%s forwards %d headers; at most %d are allowed.", where, len(b.ForwardHeaders), maxForwardedHeaders)
			}
			if slices.Contains(b.ForwardHeaders, "*") && len(b.ForwardHeaders) > 1 {
				p.fail(sluice.ErrInvalidArgument, "%s forwards header * with other headers; * must be alone.", where)
			}
		}
		if q := fv.child("QueryStringCacheKeys"); q != nil {
			b.QueryStringCacheKeys = p.textsNamed(q, "Name")
			if len(b.QueryStringCacheKeys) > 0 && !b.QueryString {
				p.fail(errInvalidQueryStringParameters, "QueryStringCacheKeys of %s may be given only when QueryString is true.", where)
			}
			if len(b.QueryStringCacheKeys) > maxQueryStringCacheKeys {
				p.fail(errTooManyQueryStringParameters, "%s has %d query string cache keys; at most %d are allowed.", where, len(b.QueryStringCacheKeys), maxQueryStringCacheKeys)
			}
			for _, k := range b.QueryStringCacheKeys {
				if k == "" {
					p.fail(errInvalidQueryStringParameters, "A query string cache key of %s is empty.", where)
				}
			}
		}
		if c := n.child("MinTTL"); c != nil {
			b.MinTTL = p.intOf(c)
		} else {
			p.fail(sluice.ErrInvalidArgument, "%s uses ForwardedValues, so MinTTL is required.", where)
		}
		b.DefaultTTL, b.MaxTTL = defaultTTL, defaultMaxTTL
		if c := n.child("DefaultTTL"); c != nil {
			b.DefaultTTL = p.intOf(c)
		}
		if c := n.child("MaxTTL"); c != nil {
			b.MaxTTL = p.intOf(c)
		}
		if p.err == nil && (b.MinTTL < 0 || b.MinTTL > b.DefaultTTL || b.DefaultTTL > b.MaxTTL) {
			p.fail(errInvalidTTLOrder, "The TTLs of %s must satisfy 0 <= MinTTL <= DefaultTTL <= MaxTTL (got %d, %d, %d; DefaultTTL defaults to %d and MaxTTL to %d).",
				where, b.MinTTL, b.DefaultTTL, b.MaxTTL, defaultTTL, defaultMaxTTL)
		}
	}
	if fa := n.child("FunctionAssociations"); fa != nil && len(fa.items()) > 0 {
		p.fail(errInvalidFunctionAssociation, "CloudFront Functions are not supported by sluice; attach Lambda@Edge functions with LambdaFunctionAssociations to %s.", where)
	}
	if la := n.child("LambdaFunctionAssociations"); la != nil {
		p.lambdaAssociations(&b, la, where, r)
	}
	return b
}

func (p *parser) lambdaAssociations(b *sluice.CacheBehavior, la *node, where string, r refs) {
	items := p.itemsNamed(la, "LambdaFunctionAssociation")
	if len(items) > maxLambdaAssociations {
		p.fail(errTooManyLambdaAssociations, "%s has %d Lambda function associations; at most %d are allowed.", where, len(items), maxLambdaAssociations)
		return
	}
	seen := map[string]bool{}
	for _, it := range items {
		fa := sluice.FunctionAssociation{
			FunctionARN: p.need(it, "LambdaFunctionARN").textOr(""),
			EventType:   p.need(it, "EventType").textOr(""),
			IncludeBody: p.boolOf(it.child("IncludeBody")),
		}
		if p.err != nil {
			return
		}
		if !slices.Contains(eventTypes, fa.EventType) {
			p.fail(errInvalidLambdaAssociation, "The event type %q of %s is not valid; use one of %s.", fa.EventType, where, strings.Join(eventTypes, ", "))
			return
		}
		if seen[fa.EventType] {
			p.fail(errInvalidLambdaAssociation, "%s has more than one Lambda function association for the event type %s.", where, fa.EventType)
			return
		}
		seen[fa.EventType] = true
		if msg := checkLambdaARN(fa.FunctionARN); msg != "" {
			p.fail(errInvalidLambdaAssociation, "The function ARN %q of %s is not valid: %s", fa.FunctionARN, where, msg)
			return
		}
		if fa.IncludeBody && fa.EventType != "viewer-request" && fa.EventType != "origin-request" {
			p.fail(errInvalidLambdaAssociation, "IncludeBody of %s is allowed only for viewer-request and origin-request.", where)
			return
		}
		if r.checkFn != nil {
			if err := r.checkFn(fa.FunctionARN); err != nil {
				p.err = &sluice.Error{Code: errInvalidLambdaAssociation, Err: err,
					Message: "The function ARN " + strconv.Quote(fa.FunctionARN) + " of " + where + " does not name an existing published function version."}
				return
			}
		}
		b.FunctionAssociations = append(b.FunctionAssociations, fa)
	}
}

// checkLambdaARN says what is wrong with a Lambda@Edge function ARN, or "".
// Lambda@Edge needs a published version: $LATEST and aliases are refused.
func checkLambdaARN(arn string) string {
	m := lambdaARNRE.FindStringSubmatch(arn)
	if m == nil {
		return "expected arn:aws:lambda:REGION:ACCOUNT:function:NAME:VERSION."
	}
	if !numericRE.MatchString(m[4]) {
		return "the ARN must reference a specific function version, not $LATEST or an alias (it must end with the version number)."
	}
	return ""
}

func (p *parser) customErrors(cfg *sluice.DistributionConfig, n *node) {
	seen := map[int64]bool{}
	for _, it := range p.itemsNamed(n, "CustomErrorResponse") {
		code := p.intOf(p.need(it, "ErrorCode"))
		if p.err != nil {
			return
		}
		if !slices.Contains(errorCodes, code) {
			p.fail(errInvalidErrorCode, "The error code %d is not one CloudFront customizes.", code)
			return
		}
		if seen[code] {
			p.fail(sluice.ErrInvalidArgument, "The error code %d has more than one custom error response.", code)
			return
		}
		seen[code] = true
		ce := sluice.CustomErrorResponse{ErrorCode: int(code), ResponsePagePath: it.text("ResponsePagePath"), ErrorCachingMinTTL: 10}
		if rc := it.text("ResponseCode"); rc != "" {
			v, err := strconv.Atoi(rc)
			if err != nil || (v != 200 && !slices.Contains(errorCodes, int64(v))) {
				p.fail(errInvalidResponseCode, "The response code %q is not valid.", rc)
				return
			}
			ce.ResponseCode = v
		}
		if ce.ResponsePagePath != "" && !strings.HasPrefix(ce.ResponsePagePath, "/") || len(ce.ResponsePagePath) > 4000 {
			p.fail(errInvalidRelativePath, "The response page path %q must begin with a slash.", ce.ResponsePagePath)
			return
		}
		if (ce.ResponsePagePath == "") != (ce.ResponseCode == 0) {
			p.fail(sluice.ErrInvalidArgument, "The custom error response for %d needs both ResponsePagePath and ResponseCode, or neither.", code)
			return
		}
		if c := it.child("ErrorCachingMinTTL"); c != nil {
			ce.ErrorCachingMinTTL = p.intOf(c)
			if ce.ErrorCachingMinTTL < 0 {
				p.fail(sluice.ErrInvalidArgument, "ErrorCachingMinTTL must not be negative.")
			}
		}
		cfg.CustomErrorResponses = append(cfg.CustomErrorResponses, ce)
	}
}

func validPathPattern(s string) bool {
	return s != "" && len(s) <= maxPathPatternLength && pathPatternRE.MatchString(s)
}

func sortedUpper(in []string) []string {
	out := make([]string, len(in))
	for i, s := range in {
		out[i] = strings.ToUpper(s)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func isSubset(a, b []string) bool {
	for _, x := range a {
		if !slices.Contains(b, x) {
			return false
		}
	}
	return true
}

// BucketOfDomain returns the bucket an S3 origin domain name names:
// "<bucket>.s3.<region>.amazonaws.com", "<bucket>.s3-<region>.amazonaws.com",
// "<bucket>.s3.amazonaws.com" or "<bucket>.s3.localhost".
func BucketOfDomain(domain string) (string, bool) {
	d := strings.ToLower(strings.TrimSuffix(domain, "."))
	for _, suffix := range []string{".s3.amazonaws.com", ".s3.localhost"} {
		if b, ok := strings.CutSuffix(d, suffix); ok {
			return b, b != ""
		}
	}
	rest, ok := strings.CutSuffix(d, ".amazonaws.com")
	if !ok {
		return "", false
	}
	// <bucket>.s3.<region> or <bucket>.s3-<region>; bucket names may
	// contain dots, so look for the last ".s3." / ".s3-".
	if i := strings.LastIndex(rest, ".s3."); i > 0 && !strings.Contains(rest[i+4:], ".") {
		return rest[:i], true
	}
	if i := strings.LastIndex(rest, ".s3-"); i > 0 && !strings.Contains(rest[i+4:], ".") &&
		!strings.HasPrefix(rest[i+4:], "website") {
		return rest[:i], true
	}
	return "", false
}
