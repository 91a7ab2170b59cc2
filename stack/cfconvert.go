package stack

import (
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	cftypes "github.com/aws/aws-sdk-go-v2/service/cloudfront/types"
	"github.com/sluicehq/sluice"
)

// cloudFrontConfig converts a distribution to the CloudFront API's shape,
// with every list's Quantity as the API requires.
func cloudFrontConfig(c sluice.DistributionConfig) *cftypes.DistributionConfig {
	out := &cftypes.DistributionConfig{
		CallerReference:      aws.String(c.CallerReference),
		Comment:              aws.String(c.Comment),
		Enabled:              aws.Bool(c.Enabled),
		Aliases:              &cftypes.Aliases{Quantity: aws.Int32(int32(len(c.Aliases))), Items: c.Aliases},
		DefaultRootObject:    aws.String(c.DefaultRootObject),
		IsIPV6Enabled:        aws.Bool(c.IsIPV6Enabled),
		PriceClass:           cftypes.PriceClass(c.PriceClass),
		HttpVersion:          cftypes.HttpVersion(c.HTTPVersion),
		Origins:              &cftypes.Origins{Quantity: aws.Int32(int32(len(c.Origins)))},
		CacheBehaviors:       &cftypes.CacheBehaviors{Quantity: aws.Int32(int32(len(c.CacheBehaviors)))},
		CustomErrorResponses: &cftypes.CustomErrorResponses{Quantity: aws.Int32(int32(len(c.CustomErrorResponses)))},
	}
	for _, o := range c.Origins {
		co := cftypes.Origin{Id: aws.String(o.ID), DomainName: aws.String(o.DomainName), OriginPath: aws.String(o.OriginPath),
			CustomHeaders: &cftypes.CustomHeaders{Quantity: aws.Int32(int32(len(o.CustomHeaders)))}}
		if o.OriginAccessControlID != "" {
			co.OriginAccessControlId = aws.String(o.OriginAccessControlID)
		}
		if o.ConnectionAttempts > 0 {
			co.ConnectionAttempts = aws.Int32(int32(o.ConnectionAttempts))
		}
		if o.ConnectionTimeout > 0 {
			co.ConnectionTimeout = aws.Int32(int32(o.ConnectionTimeout))
		}
		for _, h := range o.CustomHeaders {
			co.CustomHeaders.Items = append(co.CustomHeaders.Items, cftypes.OriginCustomHeader{HeaderName: aws.String(h.Name), HeaderValue: aws.String(h.Value)})
		}
		if o.S3 != nil {
			co.S3OriginConfig = &cftypes.S3OriginConfig{OriginAccessIdentity: aws.String(o.S3.OriginAccessIdentity)}
		}
		if cu := o.Custom; cu != nil {
			co.CustomOriginConfig = &cftypes.CustomOriginConfig{HTTPPort: aws.Int32(int32(cu.HTTPPort)), HTTPSPort: aws.Int32(int32(cu.HTTPSPort)),
				OriginProtocolPolicy: cftypes.OriginProtocolPolicy(cu.OriginProtocolPolicy),
				OriginReadTimeout:    aws.Int32(int32(cu.OriginReadTimeout)), OriginKeepaliveTimeout: aws.Int32(int32(cu.OriginKeepaliveTimeout))}
		}
		out.Origins.Items = append(out.Origins.Items, co)
	}
	d := behavior(c.DefaultCacheBehavior)
	out.DefaultCacheBehavior = &cftypes.DefaultCacheBehavior{
		TargetOriginId: d.TargetOriginId, ViewerProtocolPolicy: d.ViewerProtocolPolicy, AllowedMethods: d.AllowedMethods,
		Compress: d.Compress, MinTTL: d.MinTTL, DefaultTTL: d.DefaultTTL, MaxTTL: d.MaxTTL, ForwardedValues: d.ForwardedValues,
		LambdaFunctionAssociations: d.LambdaFunctionAssociations, CachePolicyId: d.CachePolicyId,
		OriginRequestPolicyId: d.OriginRequestPolicyId, ResponseHeadersPolicyId: d.ResponseHeadersPolicyId,
	}
	for _, b := range c.CacheBehaviors {
		out.CacheBehaviors.Items = append(out.CacheBehaviors.Items, behavior(b))
	}
	for _, e := range c.CustomErrorResponses {
		ce := cftypes.CustomErrorResponse{ErrorCode: aws.Int32(int32(e.ErrorCode)), ErrorCachingMinTTL: aws.Int64(e.ErrorCachingMinTTL)}
		if e.ResponsePagePath != "" {
			ce.ResponsePagePath = aws.String(e.ResponsePagePath)
			ce.ResponseCode = aws.String(strconv.Itoa(e.ResponseCode))
		}
		out.CustomErrorResponses.Items = append(out.CustomErrorResponses.Items, ce)
	}
	return out
}

func behavior(b sluice.CacheBehavior) cftypes.CacheBehavior {
	methods := func(m []string) []cftypes.Method {
		out := make([]cftypes.Method, len(m))
		for i, x := range m {
			out[i] = cftypes.Method(x)
		}
		return out
	}
	cb := cftypes.CacheBehavior{
		TargetOriginId:       aws.String(b.TargetOriginID),
		ViewerProtocolPolicy: cftypes.ViewerProtocolPolicy(b.ViewerProtocolPolicy),
		AllowedMethods: &cftypes.AllowedMethods{Quantity: aws.Int32(int32(len(b.AllowedMethods))), Items: methods(b.AllowedMethods),
			CachedMethods: &cftypes.CachedMethods{Quantity: aws.Int32(int32(len(b.CachedMethods))), Items: methods(b.CachedMethods)}},
		Compress:                   aws.Bool(b.Compress),
		LambdaFunctionAssociations: &cftypes.LambdaFunctionAssociations{Quantity: aws.Int32(int32(len(b.FunctionAssociations)))},
	}
	if b.PathPattern != "" {
		cb.PathPattern = aws.String(b.PathPattern)
	}
	if b.CachePolicyID != "" {
		cb.CachePolicyId = aws.String(b.CachePolicyID)
	} else {
		cb.MinTTL, cb.DefaultTTL, cb.MaxTTL = aws.Int64(b.MinTTL), aws.Int64(b.DefaultTTL), aws.Int64(b.MaxTTL)
		cb.ForwardedValues = &cftypes.ForwardedValues{
			QueryString:          aws.Bool(b.QueryString),
			QueryStringCacheKeys: &cftypes.QueryStringCacheKeys{Quantity: aws.Int32(int32(len(b.QueryStringCacheKeys))), Items: b.QueryStringCacheKeys},
			Headers:              &cftypes.Headers{Quantity: aws.Int32(int32(len(b.ForwardHeaders))), Items: b.ForwardHeaders},
			Cookies:              &cftypes.CookiePreference{Forward: cftypes.ItemSelectionNone},
		}
	}
	if b.OriginRequestPolicyID != "" {
		cb.OriginRequestPolicyId = aws.String(b.OriginRequestPolicyID)
	}
	if b.ResponseHeadersPolicyID != "" {
		cb.ResponseHeadersPolicyId = aws.String(b.ResponseHeadersPolicyID)
	}
	for _, f := range b.FunctionAssociations {
		cb.LambdaFunctionAssociations.Items = append(cb.LambdaFunctionAssociations.Items, cftypes.LambdaFunctionAssociation{
			EventType: cftypes.EventType(f.EventType), LambdaFunctionARN: aws.String(f.FunctionARN), IncludeBody: aws.Bool(f.IncludeBody)})
	}
	return cb
}
