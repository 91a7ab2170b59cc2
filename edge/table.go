package edge

import (
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/awsevent"
)

// table is an immutable snapshot of the served distributions. Readers load
// it through an atomic pointer without locking; writers build a new one.
type table struct {
	byID    map[string]*distribution
	byHost  map[string]*distribution
	ordered []*distribution // creation order
}

func (t *table) with(d *distribution) *table {
	nt := &table{byID: make(map[string]*distribution, len(t.byID)+1)}
	replaced := false
	for _, old := range t.ordered {
		if old.id == d.id {
			d.seq = old.seq
			nt.ordered = append(nt.ordered, d)
			replaced = true
			continue
		}
		nt.ordered = append(nt.ordered, old)
	}
	if !replaced {
		if n := len(t.ordered); n > 0 {
			d.seq = t.ordered[n-1].seq + 1
		}
		nt.ordered = append(nt.ordered, d)
	}
	nt.index()
	return nt
}

func (t *table) without(id string) *table {
	nt := &table{byID: make(map[string]*distribution, len(t.byID))}
	for _, old := range t.ordered {
		if old.id != id {
			nt.ordered = append(nt.ordered, old)
		}
	}
	nt.index()
	return nt
}

func (t *table) index() {
	t.byHost = make(map[string]*distribution, len(t.ordered)*2)
	for _, d := range t.ordered {
		t.byID[d.id] = d
	}
	// Aliases first, then the distributions' own names, so that a
	// distribution's own domain can never be taken over by another's alias.
	for _, d := range t.ordered {
		for _, a := range d.d.Config.Aliases {
			a = strings.TrimSuffix(strings.ToLower(a), ".")
			if _, taken := t.byHost[a]; !taken {
				t.byHost[a] = d
			}
		}
	}
	for _, d := range t.ordered {
		t.byHost[d.domain] = d
	}
}

// lookup picks the distribution for a Host header: its own domain or an
// alias (case-insensitive, port ignored, "*.example.com" wildcards), else the
// first enabled distribution. matched reports whether the host named it.
func (t *table) lookup(host string) (d *distribution, matched bool) {
	h := hostOnly(host)
	if d := t.byHost[h]; d != nil {
		return d, true
	}
	if i := strings.IndexByte(h, '.'); i > 0 {
		if d := t.byHost["*"+h[i:]]; d != nil {
			return d, true
		}
	}
	for _, d := range t.ordered {
		if d.d.Config.Enabled {
			return d, false
		}
	}
	return nil, false
}

func hostOnly(host string) string {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	return strings.TrimSuffix(strings.ToLower(host), ".")
}

// distribution is a sluice.Distribution compiled for serving.
type distribution struct {
	d      sluice.Distribution
	id     string
	domain string   // lower-case host name viewers use
	via    []string // the Via header the edge adds: "1.1 <domain> (sluice)"
	seq    int
	// behaviors are the ordered CacheBehaviors followed by the default.
	behaviors []*behavior
	// errorTTL is ErrorCachingMinTTL by status code, from CustomErrorResponses.
	errorTTL map[int]int64
	// pages are the CustomErrorResponses with a ResponsePagePath, by the
	// origin status they replace.
	pages map[int]sluice.CustomErrorResponse
}

// behavior is a compiled CacheBehavior.
type behavior struct {
	cb      sluice.CacheBehavior
	pattern string // "" for the default behaviour
	origin  *origin
	allowed []string
	cached  []string
	// queryKeys is nil when every parameter is part of the cache key.
	queryKeys  map[string]bool
	headers    []string // canonical names, sorted
	allHeaders bool
	hooks      map[string]*hook
}

// hook is one FunctionAssociation.
type hook struct {
	eventType   string
	arn         string
	name        string // the function name inside the ARN
	includeBody bool
}

// origin is a compiled Origin.
type origin struct {
	o      sluice.Origin
	s3     bool
	bucket string
	region string
	// Custom origins.
	scheme string
	host   string // host:port
}

func (d *distribution) behaviorFor(path string) *behavior {
	for _, b := range d.behaviors {
		if b.pattern == "" || matchPattern(b.pattern, path) {
			return b
		}
	}
	return d.behaviors[len(d.behaviors)-1]
}

// compile checks d and builds what serving needs. Its errors name the
// offending field.
func compile(d sluice.Distribution, region string) (*distribution, error) {
	if d.ID == "" {
		return nil, sluice.Errorf(sluice.ErrInvalidArgument, "distribution: ID must not be empty")
	}
	cd := &distribution{d: d, id: d.ID, domain: strings.ToLower(d.DomainName)}
	if cd.domain == "" {
		cd.domain = strings.ToLower(d.ID) + ".localhost"
	}
	cd.via = []string{"1.1 " + cd.domain + " (sluice)"}
	origins := make(map[string]*origin, len(d.Config.Origins))
	for i, o := range d.Config.Origins {
		co, err := compileOrigin(o, region)
		if err != nil {
			return nil, sluice.Errorf(sluice.ErrInvalidArgument, "Origins[%d] (%s): %v", i, o.ID, err)
		}
		origins[o.ID] = co
	}
	for i, cb := range d.Config.CacheBehaviors {
		if cb.PathPattern == "" {
			return nil, sluice.Errorf(sluice.ErrInvalidArgument, "CacheBehaviors[%d]: PathPattern must not be empty", i)
		}
		b, err := compileBehavior(cb, origins)
		if err != nil {
			return nil, sluice.Errorf(sluice.ErrInvalidArgument, "CacheBehaviors[%d]: %v", i, err)
		}
		cd.behaviors = append(cd.behaviors, b)
	}
	def := d.Config.DefaultCacheBehavior
	def.PathPattern = ""
	b, err := compileBehavior(def, origins)
	if err != nil {
		return nil, sluice.Errorf(sluice.ErrInvalidArgument, "DefaultCacheBehavior: %v", err)
	}
	cd.behaviors = append(cd.behaviors, b)
	for _, ce := range d.Config.CustomErrorResponses {
		if ce.ErrorCode > 0 {
			if cd.errorTTL == nil {
				cd.errorTTL = make(map[int]int64)
			}
			cd.errorTTL[ce.ErrorCode] = ce.ErrorCachingMinTTL
		}
		if ce.ResponsePagePath != "" {
			if ce.ResponseCode == 0 {
				return nil, sluice.Errorf(sluice.ErrInvalidArgument, "CustomErrorResponses: ResponsePagePath %q needs a ResponseCode", ce.ResponsePagePath)
			}
			if !strings.HasPrefix(ce.ResponsePagePath, "/") {
				return nil, sluice.Errorf(sluice.ErrInvalidArgument, "CustomErrorResponses: ResponsePagePath %q must begin with a slash", ce.ResponsePagePath)
			}
			if cd.pages == nil {
				cd.pages = make(map[int]sluice.CustomErrorResponse)
			}
			cd.pages[ce.ErrorCode] = ce
		}
	}
	return cd, nil
}

func compileBehavior(cb sluice.CacheBehavior, origins map[string]*origin) (*behavior, error) {
	b := &behavior{cb: cb, pattern: cb.PathPattern, hooks: make(map[string]*hook)}
	b.origin = origins[cb.TargetOriginID]
	if b.origin == nil {
		return nil, fmt.Errorf("TargetOriginId %q names no origin", cb.TargetOriginID)
	}
	if cb.MinTTL < 0 || cb.DefaultTTL < 0 || cb.MaxTTL < 0 {
		return nil, fmt.Errorf("TTLs must not be negative")
	}
	b.allowed = upperAll(cb.AllowedMethods)
	if len(b.allowed) == 0 {
		b.allowed = []string{"GET", "HEAD"}
	}
	b.cached = upperAll(cb.CachedMethods)
	if len(b.cached) == 0 {
		b.cached = []string{"GET", "HEAD"}
	}
	if cb.QueryString && len(cb.QueryStringCacheKeys) > 0 {
		b.queryKeys = make(map[string]bool, len(cb.QueryStringCacheKeys))
		for _, k := range cb.QueryStringCacheKeys {
			b.queryKeys[k] = true
		}
	}
	for _, h := range cb.ForwardHeaders {
		if h == "*" {
			b.allHeaders = true
			continue
		}
		b.headers = append(b.headers, canonicalHeader(h))
	}
	slices.Sort(b.headers)
	b.headers = slices.Compact(b.headers)
	for _, fa := range cb.FunctionAssociations {
		if !awsevent.IsEdgeEventType(fa.EventType) {
			return nil, fmt.Errorf("FunctionAssociation EventType %q is not one of viewer-request, origin-request, origin-response, viewer-response", fa.EventType)
		}
		if _, dup := b.hooks[fa.EventType]; dup {
			return nil, fmt.Errorf("more than one function is associated with %s", fa.EventType)
		}
		name := functionName(fa.FunctionARN)
		if name == "" {
			return nil, fmt.Errorf("FunctionARN %q names no function", fa.FunctionARN)
		}
		b.hooks[fa.EventType] = &hook{eventType: fa.EventType, arn: fa.FunctionARN, name: name, includeBody: fa.IncludeBody}
	}
	return b, nil
}

func upperAll(ss []string) []string {
	out := make([]string, 0, len(ss))
	for _, s := range ss {
		out = append(out, strings.ToUpper(s))
	}
	return out
}

// functionName returns NAME from arn:aws:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER],
// or the name itself when s is not an ARN.
func functionName(s string) string {
	if strings.HasPrefix(s, "arn:") {
		parts := strings.Split(s, ":")
		if len(parts) < 7 || parts[5] != "function" {
			return ""
		}
		return parts[6]
	}
	name, _, _ := strings.Cut(s, ":")
	return name
}

func compileOrigin(o sluice.Origin, defaultRegion string) (*origin, error) {
	if o.ID == "" {
		return nil, fmt.Errorf("Id must not be empty")
	}
	co := &origin{o: o}
	if o.Custom == nil {
		bucket, region, ok := parseS3Domain(o.DomainName)
		if !ok {
			return nil, fmt.Errorf("DomainName %q is not an S3 bucket domain (<bucket>.s3.<region>.amazonaws.com, <bucket>.s3.amazonaws.com or <bucket>.s3.localhost); a custom origin needs CustomOriginConfig", o.DomainName)
		}
		if region == "" {
			region = defaultRegion
		}
		co.s3, co.bucket, co.region = true, bucket, region
		return co, nil
	}
	if o.DomainName == "" {
		return nil, fmt.Errorf("DomainName must not be empty")
	}
	co.scheme = "http"
	port := o.Custom.HTTPPort
	if o.Custom.OriginProtocolPolicy == "https-only" {
		co.scheme = "https"
		port = o.Custom.HTTPSPort
		if port == 0 {
			port = 443
		}
	} else if port == 0 {
		port = 80
	}
	if _, _, err := net.SplitHostPort(o.DomainName); err == nil {
		co.host = o.DomainName
	} else {
		co.host = net.JoinHostPort(o.DomainName, fmt.Sprint(port))
	}
	return co, nil
}

// parseS3Domain recognises the S3 origin domain forms of distribution.go.
func parseS3Domain(domain string) (bucket, region string, ok bool) {
	d := strings.TrimSuffix(strings.ToLower(domain), ".")
	if b, found := strings.CutSuffix(d, ".s3.localhost"); found && b != "" {
		return b, "", true
	}
	rest, found := strings.CutSuffix(d, ".amazonaws.com")
	if !found {
		return "", "", false
	}
	if b, found := strings.CutSuffix(rest, ".s3"); found && b != "" {
		return b, "", true
	}
	// <bucket>.s3.<region> or <bucket>.s3-<region>; the bucket may hold dots.
	i := strings.LastIndex(rest, ".s3.")
	j := strings.LastIndex(rest, ".s3-")
	switch {
	case i > 0 && i > j:
		region = rest[i+len(".s3."):]
		bucket = rest[:i]
	case j > 0:
		region = rest[j+len(".s3-"):]
		bucket = rest[:j]
	default:
		return "", "", false
	}
	if region == "" || strings.Contains(region, ".") {
		return "", "", false
	}
	return bucket, region, true
}

func canonicalHeader(h string) string {
	return http.CanonicalHeaderKey(strings.TrimSpace(h))
}
