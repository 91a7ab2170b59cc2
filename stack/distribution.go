package stack

import (
	"strings"

	"github.com/sluicehq/sluice"
)

var distConfigProps = []string{"Aliases", "CacheBehaviors", "Comment", "CustomErrorResponses", "DefaultCacheBehavior",
	"DefaultRootObject", "Enabled", "HttpVersion", "IPV6Enabled", "Origins", "PriceClass"}
var distConfigIgnored = []string{"Logging", "Restrictions", "ViewerCertificate", "WebACLId", "OriginGroups",
	"ContinuousDeploymentPolicyId", "Staging", "CNAMEs", "ConnectionMode", "TenantConfig", "AnycastIpListId"}

var originProps = []string{"Id", "DomainName", "OriginPath", "OriginCustomHeaders", "S3OriginConfig", "CustomOriginConfig",
	"OriginAccessControlId", "ConnectionAttempts", "ConnectionTimeout"}
var originIgnored = []string{"OriginShield", "VpcOriginConfig", "ResponseCompletionTimeout"}

var behaviorProps = []string{"PathPattern", "TargetOriginId", "ViewerProtocolPolicy", "AllowedMethods", "CachedMethods",
	"Compress", "MinTTL", "DefaultTTL", "MaxTTL", "ForwardedValues", "LambdaFunctionAssociations", "CachePolicyId",
	"OriginRequestPolicyId", "ResponseHeadersPolicyId"}
var behaviorIgnored = []string{"FunctionAssociations", "SmoothStreaming", "FieldLevelEncryptionId", "RealtimeLogConfigArn",
	"TrustedSigners", "TrustedKeyGroups", "GrpcConfig"}

// Defaults CloudFront applies to a cache behaviour without a cache policy.
const (
	defaultTTL = 86400
	maxTTL     = 31536000
)

func (l *loader) buildDistribution(r *resource, o *obj) {
	o.require("DistributionConfig")
	dc := o.child("DistributionConfig", distConfigProps, distConfigIgnored)
	d := Distribution{LogicalID: r.id, Tags: o.tagList("Tags")}
	c := &d.DistributionConfig
	c.CallerReference = l.opts.StackName + "-" + r.id
	if dc.n != nil {
		dc.require("Enabled", "DefaultCacheBehavior")
		c.Comment = dc.str("Comment")
		c.Enabled, _ = dc.boolean("Enabled")
		c.Aliases = dc.strList("Aliases", false)
		c.DefaultRootObject = dc.str("DefaultRootObject")
		c.PriceClass = dc.str("PriceClass")
		c.HTTPVersion = dc.str("HttpVersion")
		if v := c.HTTPVersion; v != "" && v != "http1.1" && v != "http2" && v != "http3" && v != "http2and3" {
			dc.errf("HttpVersion", "must be http1.1, http2, http3 or http2and3, got %q", v)
		}
		c.IsIPV6Enabled, _ = dc.boolean("IPV6Enabled")
		origins := dc.list("Origins")
		if len(origins) == 0 && dc.n != nil {
			dc.errf("", "Origins: a distribution needs at least one origin")
		}
		ids := map[string]bool{}
		for i, on := range origins {
			oo := dc.item(i, on, "Origins", originProps, originIgnored)
			oo.require("Id", "DomainName")
			og := sluice.Origin{ID: oo.str("Id"), DomainName: oo.str("DomainName"), OriginPath: oo.str("OriginPath"),
				OriginAccessControlID: oo.str("OriginAccessControlId")}
			if ids[og.ID] {
				oo.errf("Id", "two origins have the Id %q", og.ID)
			}
			ids[og.ID] = true
			if p := og.OriginPath; p != "" && (!strings.HasPrefix(p, "/") || strings.HasSuffix(p, "/")) {
				oo.errf("OriginPath", "must start with / and not end with /, got %q", p)
			}
			og.ConnectionAttempts, _ = oo.intIn("ConnectionAttempts", 1, 3)
			og.ConnectionTimeout, _ = oo.intIn("ConnectionTimeout", 1, 10)
			for j, hn := range oo.list("OriginCustomHeaders") {
				h := oo.item(j, hn, "OriginCustomHeaders", []string{"HeaderName", "HeaderValue"}, nil)
				h.require("HeaderName", "HeaderValue")
				og.CustomHeaders = append(og.CustomHeaders, sluice.OriginHeader{Name: h.str("HeaderName"), Value: h.str("HeaderValue")})
			}
			s3 := oo.child("S3OriginConfig", []string{"OriginAccessIdentity"}, []string{"OriginReadTimeout"})
			cu := oo.child("CustomOriginConfig", []string{"HTTPPort", "HTTPSPort", "OriginProtocolPolicy", "OriginReadTimeout", "OriginKeepaliveTimeout"},
				[]string{"OriginSSLProtocols", "IpAddressType"})
			switch {
			case s3.n != nil && cu.n != nil:
				oo.errf("CustomOriginConfig", "an origin has S3OriginConfig or CustomOriginConfig, not both")
			case s3.n != nil:
				og.S3 = &sluice.S3OriginConfig{OriginAccessIdentity: s3.str("OriginAccessIdentity")}
			case cu.n != nil:
				cu.require("OriginProtocolPolicy")
				cc := &sluice.CustomOriginConfig{HTTPPort: 80, HTTPSPort: 443, OriginProtocolPolicy: cu.str("OriginProtocolPolicy"),
					OriginReadTimeout: 30, OriginKeepaliveTimeout: 5}
				if v, ok := cu.intIn("HTTPPort", 1, 65535); ok {
					cc.HTTPPort = v
				}
				if v, ok := cu.intIn("HTTPSPort", 1, 65535); ok {
					cc.HTTPSPort = v
				}
				if v, ok := cu.intIn("OriginReadTimeout", 1, 180); ok {
					cc.OriginReadTimeout = v
				}
				if v, ok := cu.intIn("OriginKeepaliveTimeout", 1, 180); ok {
					cc.OriginKeepaliveTimeout = v
				}
				switch cc.OriginProtocolPolicy {
				case "http-only", "https-only", "match-viewer", "":
				default:
					cu.errf("OriginProtocolPolicy", "must be http-only, https-only or match-viewer, got %q", cc.OriginProtocolPolicy)
				}
				og.Custom = cc
			case strings.Contains(og.DomainName, ".s3.") || strings.HasSuffix(og.DomainName, ".s3.amazonaws.com"):
				// An S3 origin with an origin access control has an empty
				// S3OriginConfig on CloudFront; accept it missing.
				og.S3 = &sluice.S3OriginConfig{}
			default:
				oo.errf("", "an origin needs S3OriginConfig (an S3 bucket) or CustomOriginConfig (an HTTP server)")
			}
			c.Origins = append(c.Origins, og)
		}
		dcb := dc.child("DefaultCacheBehavior", behaviorProps, behaviorIgnored)
		if dcb.has("PathPattern") {
			dcb.errf("PathPattern", "the default cache behaviour has no PathPattern")
		}
		c.DefaultCacheBehavior = l.cacheBehavior(dcb, ids)
		for i, bn := range dc.list("CacheBehaviors") {
			bo := dc.item(i, bn, "CacheBehaviors", behaviorProps, behaviorIgnored)
			bo.require("PathPattern")
			c.CacheBehaviors = append(c.CacheBehaviors, l.cacheBehavior(bo, ids))
		}
		for i, en := range dc.list("CustomErrorResponses") {
			eo := dc.item(i, en, "CustomErrorResponses", []string{"ErrorCode", "ResponsePagePath", "ResponseCode", "ErrorCachingMinTTL"}, nil)
			eo.require("ErrorCode")
			cer := sluice.CustomErrorResponse{ResponsePagePath: eo.str("ResponsePagePath"), ErrorCachingMinTTL: 10}
			cer.ErrorCode, _ = eo.intIn("ErrorCode", 400, 599)
			cer.ResponseCode, _ = eo.intIn("ResponseCode", 200, 599)
			if v, ok := eo.int64In("ErrorCachingMinTTL", 0, maxTTL); ok {
				cer.ErrorCachingMinTTL = v
			}
			if (cer.ResponseCode == 0) != (cer.ResponsePagePath == "") {
				eo.errf("", "ResponsePagePath and ResponseCode go together")
			}
			c.CustomErrorResponses = append(c.CustomErrorResponses, cer)
		}
	}
	r.ref = deferred(r.id, "Id", r.pos)
	r.attrs = map[string]*node{"Id": deferred(r.id, "Id", r.pos), "DomainName": deferred(r.id, "DomainName", r.pos)}
	l.st.Distributions = append(l.st.Distributions, d)
}

func (l *loader) buildOAC(r *resource, o *obj) {
	o.require("OriginAccessControlConfig")
	c := o.child("OriginAccessControlConfig", []string{"Name", "Description", "OriginAccessControlOriginType",
		"SigningBehavior", "SigningProtocol"}, nil)
	c.require("Name", "OriginAccessControlOriginType", "SigningBehavior", "SigningProtocol")
	oac := OriginAccessControl{LogicalID: r.id, Name: c.str("Name"), Description: c.str("Description"),
		OriginType: c.str("OriginAccessControlOriginType"), SigningBehavior: c.str("SigningBehavior"),
		SigningProtocol: c.str("SigningProtocol")}
	if n := len(oac.Name); c.has("Name") && (n == 0 || n > 64) {
		c.errf("Name", "must be 1 to 64 characters long")
	}
	if len(oac.Description) > 256 {
		c.errf("Description", "must be at most 256 characters long")
	}
	if v := oac.OriginType; v != "" && !containsStr([]string{"s3", "mediastore", "mediapackagev2", "lambda"}, v) {
		c.errf("OriginAccessControlOriginType", "must be s3, mediastore, mediapackagev2 or lambda, got %q", v)
	}
	if v := oac.SigningBehavior; v != "" && !containsStr([]string{"never", "always", "no-override"}, v) {
		c.errf("SigningBehavior", "must be never, always or no-override, got %q", v)
	}
	if v := oac.SigningProtocol; v != "" && v != "sigv4" {
		c.errf("SigningProtocol", "must be sigv4, got %q", v)
	}
	for _, other := range l.st.OriginAccessControls {
		if other.Name == oac.Name && oac.Name != "" {
			c.errf("Name", "the origin access control %s already has the name %q: names are unique", other.LogicalID, oac.Name)
		}
	}
	r.ref = deferred(r.id, "Id", r.pos)
	r.attrs = map[string]*node{"Id": deferred(r.id, "Id", r.pos)}
	l.st.OriginAccessControls = append(l.st.OriginAccessControls, oac)
}

func (l *loader) buildOAI(r *resource, o *obj) {
	o.require("CloudFrontOriginAccessIdentityConfig")
	c := o.child("CloudFrontOriginAccessIdentityConfig", []string{"Comment"}, nil)
	c.require("Comment")
	oai := OriginAccessIdentity{LogicalID: r.id, Comment: c.str("Comment"), CallerReference: l.opts.StackName + "-" + r.id}
	if len(oai.Comment) > 128 {
		c.errf("Comment", "must be at most 128 characters long")
	}
	r.ref = deferred(r.id, "Id", r.pos)
	r.attrs = map[string]*node{"Id": deferred(r.id, "Id", r.pos), "S3CanonicalUserId": deferred(r.id, "S3CanonicalUserId", r.pos)}
	l.st.OriginAccessIdentities = append(l.st.OriginAccessIdentities, oai)
}

var edgeEvents = []string{"viewer-request", "origin-request", "origin-response", "viewer-response"}

func (l *loader) cacheBehavior(o *obj, origins map[string]bool) sluice.CacheBehavior {
	if o.n == nil {
		return sluice.CacheBehavior{}
	}
	o.require("TargetOriginId", "ViewerProtocolPolicy")
	b := sluice.CacheBehavior{PathPattern: o.str("PathPattern"), TargetOriginID: o.str("TargetOriginId"),
		ViewerProtocolPolicy: o.str("ViewerProtocolPolicy"), AllowedMethods: []string{"GET", "HEAD"},
		CachedMethods: []string{"GET", "HEAD"}, DefaultTTL: defaultTTL, MaxTTL: maxTTL,
		CachePolicyID: o.str("CachePolicyId"), OriginRequestPolicyID: o.str("OriginRequestPolicyId"),
		ResponseHeadersPolicyID: o.str("ResponseHeadersPolicyId")}
	if b.TargetOriginID != "" && !origins[b.TargetOriginID] {
		o.errf("TargetOriginId", "no origin has the Id %q", b.TargetOriginID)
	}
	switch b.ViewerProtocolPolicy {
	case "allow-all", "https-only", "redirect-to-https", "":
	default:
		o.errf("ViewerProtocolPolicy", "must be allow-all, https-only or redirect-to-https, got %q", b.ViewerProtocolPolicy)
	}
	if v := o.strList("AllowedMethods", false); v != nil {
		if !methodSet(v, []string{"GET", "HEAD"}) && !methodSet(v, []string{"GET", "HEAD", "OPTIONS"}) &&
			!methodSet(v, []string{"GET", "HEAD", "OPTIONS", "PUT", "PATCH", "POST", "DELETE"}) {
			o.errf("AllowedMethods", "must be [GET, HEAD], [GET, HEAD, OPTIONS] or all seven methods")
		}
		b.AllowedMethods = v
	}
	if v := o.strList("CachedMethods", false); v != nil {
		if !methodSet(v, []string{"GET", "HEAD"}) && !methodSet(v, []string{"GET", "HEAD", "OPTIONS"}) {
			o.errf("CachedMethods", "must be [GET, HEAD] or [GET, HEAD, OPTIONS]")
		}
		b.CachedMethods = v
	}
	b.Compress, _ = o.boolean("Compress")
	if v, ok := o.int64In("MinTTL", 0, maxTTL*100); ok {
		b.MinTTL = v
	}
	if v, ok := o.int64In("DefaultTTL", 0, maxTTL*100); ok {
		b.DefaultTTL = v
	}
	if v, ok := o.int64In("MaxTTL", 0, maxTTL*100); ok {
		b.MaxTTL = v
	}
	if b.MinTTL > b.DefaultTTL || b.DefaultTTL > b.MaxTTL {
		o.errf("", "TTLs must satisfy MinTTL <= DefaultTTL <= MaxTTL (got %d, %d, %d)", b.MinTTL, b.DefaultTTL, b.MaxTTL)
	}
	fv := o.child("ForwardedValues", []string{"QueryString", "QueryStringCacheKeys", "Headers", "Cookies"}, nil)
	if fv.n != nil {
		fv.require("QueryString")
		b.QueryString, _ = fv.boolean("QueryString")
		b.QueryStringCacheKeys = fv.strList("QueryStringCacheKeys", false)
		b.ForwardHeaders = fv.strList("Headers", false)
		if ck := fv.child("Cookies", []string{"Forward", "WhitelistedNames"}, nil); ck.n != nil && ck.str("Forward") != "none" {
			l.warn("%s.Cookies: cookies are not forwarded to origins or part of the cache key", fv.path)
		}
		if b.CachePolicyID != "" {
			fv.errf("", "ForwardedValues cannot be used together with CachePolicyId")
		}
	} else if b.CachePolicyID == "" && o.n != nil {
		o.errf("", "a cache behaviour needs ForwardedValues or a CachePolicyId")
	}
	if b.CachePolicyID != "" {
		l.warn("%s.CachePolicyId: cache policies are recorded only; Sluice caches with the default TTLs and no query string in the key", o.path)
	}
	seen := map[string]bool{}
	for i, an := range o.list("LambdaFunctionAssociations") {
		ao := o.item(i, an, "LambdaFunctionAssociations", []string{"EventType", "LambdaFunctionARN", "IncludeBody"}, nil)
		ao.require("EventType", "LambdaFunctionARN")
		fa := sluice.FunctionAssociation{EventType: ao.str("EventType"), FunctionARN: ao.str("LambdaFunctionARN")}
		fa.IncludeBody, _ = ao.boolean("IncludeBody")
		switch {
		case fa.EventType == "":
		case !containsStr(edgeEvents, fa.EventType):
			ao.errf("EventType", "must be viewer-request, origin-request, origin-response or viewer-response, got %q", fa.EventType)
		case seen[fa.EventType]:
			ao.errf("EventType", "a cache behaviour has one function per event type; %s is given twice", fa.EventType)
		}
		seen[fa.EventType] = true
		if arn := fa.FunctionARN; arn != "" && !Deferred(arn) && !versionedARN(arn) {
			ao.errf("LambdaFunctionARN", "Lambda@Edge needs a published version (arn:aws:lambda:REGION:ACCOUNT:function:NAME:VERSION), got %q: use !Ref Fn.Version with AutoPublishAlias, or an AWS::Lambda::Version", arn)
		}
		b.FunctionAssociations = append(b.FunctionAssociations, fa)
	}
	return b
}

func versionedARN(arn string) bool {
	parts := strings.Split(arn, ":")
	if len(parts) != 8 || parts[0] != "arn" || parts[2] != "lambda" || parts[5] != "function" {
		return false
	}
	q := parts[7]
	if q == "" || q == "$LATEST" {
		return false
	}
	for _, c := range q {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func methodSet(got, want []string) bool {
	if len(got) != len(want) {
		return false
	}
	for _, w := range want {
		if !containsStr(got, w) {
			return false
		}
	}
	return true
}

func containsStr(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}
