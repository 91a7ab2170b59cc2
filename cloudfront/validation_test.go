package cloudfront_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	cfsdk "github.com/aws/aws-sdk-go-v2/service/cloudfront"
	cftypes "github.com/aws/aws-sdk-go-v2/service/cloudfront/types"
	"github.com/google/go-cmp/cmp"

	"github.com/sluicehq/sluice"
)

func TestConfigValidation(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	oac := h.createOAC(t, "v-oac")
	oai, err := h.client.CreateCloudFrontOriginAccessIdentity(ctx, &cfsdk.CreateCloudFrontOriginAccessIdentityInput{
		CloudFrontOriginAccessIdentityConfig: &cftypes.CloudFrontOriginAccessIdentityConfig{CallerReference: aws.String("oai-1"), Comment: aws.String("c")},
	})
	if err != nil {
		t.Fatal(err)
	}
	oaiPath := "origin-access-identity/cloudfront/" + *oai.CloudFrontOriginAccessIdentity.Id
	lambda := func(items ...cftypes.LambdaFunctionAssociation) func(c *cftypes.DistributionConfig) {
		return func(c *cftypes.DistributionConfig) {
			c.DefaultCacheBehavior.LambdaFunctionAssociations = &cftypes.LambdaFunctionAssociations{Quantity: aws.Int32(int32(len(items))), Items: items}
		}
	}
	assoc := func(ev cftypes.EventType, arn string) cftypes.LambdaFunctionAssociation {
		return cftypes.LambdaFunctionAssociation{EventType: ev, LambdaFunctionARN: aws.String(arn)}
	}
	behavior := func(pattern string) cftypes.CacheBehavior {
		return cftypes.CacheBehavior{PathPattern: aws.String(pattern), TargetOriginId: aws.String("o1"),
			ViewerProtocolPolicy: cftypes.ViewerProtocolPolicyAllowAll,
			CachePolicyId:        aws.String("658327ea-f89d-4fab-a63d-7e88639e58f6")}
	}
	for _, tc := range []struct {
		name   string
		change func(c *cftypes.DistributionConfig)
		code   string
		status int
	}{
		{"no origins", func(c *cftypes.DistributionConfig) {
			c.Origins = &cftypes.Origins{Quantity: aws.Int32(0), Items: []cftypes.Origin{}}
		}, "InvalidArgument", 400},
		{"duplicate origin ids", func(c *cftypes.DistributionConfig) {
			c.Origins.Items = append(c.Origins.Items, c.Origins.Items[0])
			c.Origins.Quantity = aws.Int32(2)
		}, "InvalidArgument", 400},
		{"quantity mismatch", func(c *cftypes.DistributionConfig) { c.Origins.Quantity = aws.Int32(3) }, "InconsistentQuantities", 400},
		{"unknown target origin", func(c *cftypes.DistributionConfig) { c.DefaultCacheBehavior.TargetOriginId = aws.String("nope") }, "NoSuchOrigin", 404},
		{"ttl order", func(c *cftypes.DistributionConfig) {
			c.DefaultCacheBehavior.MinTTL, c.DefaultCacheBehavior.DefaultTTL = aws.Int64(100), aws.Int64(10)
		}, "InvalidTTLOrder", 400},
		{"max below default", func(c *cftypes.DistributionConfig) { c.DefaultCacheBehavior.MaxTTL = aws.Int64(60) }, "InvalidTTLOrder", 400},
		{"cache keys without query string", func(c *cftypes.DistributionConfig) {
			c.DefaultCacheBehavior.ForwardedValues.QueryStringCacheKeys = &cftypes.QueryStringCacheKeys{Quantity: aws.Int32(1), Items: []string{"d"}}
		}, "InvalidQueryStringParameters", 400},
		{"bad event type", lambda(assoc("viewer-everything", resizeARN)), "InvalidLambdaFunctionAssociation", 400},
		{"$LATEST", lambda(assoc(cftypes.EventTypeOriginResponse, "arn:aws:lambda:us-east-1:000000000000:function:sluice-image-resize:$LATEST")), "InvalidLambdaFunctionAssociation", 400},
		{"alias", lambda(assoc(cftypes.EventTypeOriginResponse, "arn:aws:lambda:us-east-1:000000000000:function:sluice-image-resize:live")), "InvalidLambdaFunctionAssociation", 400},
		{"unqualified", lambda(assoc(cftypes.EventTypeOriginResponse, "arn:aws:lambda:us-east-1:000000000000:function:sluice-image-resize")), "InvalidLambdaFunctionAssociation", 400},
		{"unknown version", lambda(assoc(cftypes.EventTypeOriginResponse, "arn:aws:lambda:us-east-1:000000000000:function:sluice-image-resize:7")), "InvalidLambdaFunctionAssociation", 400},
		{"event type twice", lambda(assoc(cftypes.EventTypeOriginResponse, resizeARN), assoc(cftypes.EventTypeOriginResponse, resizeARN)), "InvalidLambdaFunctionAssociation", 400},
		{"five associations", lambda(assoc(cftypes.EventTypeViewerRequest, resizeARN), assoc(cftypes.EventTypeOriginRequest, resizeARN),
			assoc(cftypes.EventTypeOriginResponse, resizeARN), assoc(cftypes.EventTypeViewerResponse, resizeARN), assoc(cftypes.EventTypeViewerRequest, resizeARN)),
			"TooManyLambdaFunctionAssociations", 400},
		{"include body at origin-response", lambda(cftypes.LambdaFunctionAssociation{EventType: cftypes.EventTypeOriginResponse,
			LambdaFunctionARN: aws.String(resizeARN), IncludeBody: aws.Bool(true)}), "InvalidLambdaFunctionAssociation", 400},
		{"cloudfront function", func(c *cftypes.DistributionConfig) {
			c.DefaultCacheBehavior.FunctionAssociations = &cftypes.FunctionAssociations{Quantity: aws.Int32(1), Items: []cftypes.FunctionAssociation{{
				EventType: cftypes.EventTypeViewerRequest, FunctionARN: aws.String("arn:aws:cloudfront::000000000000:function/f")}}}
		}, "InvalidFunctionAssociation", 400},
		{"bad path pattern", func(c *cftypes.DistributionConfig) {
			c.CacheBehaviors = &cftypes.CacheBehaviors{Quantity: aws.Int32(1), Items: []cftypes.CacheBehavior{behavior("/a b/*")}}
		}, "InvalidArgument", 400},
		{"duplicate path pattern", func(c *cftypes.DistributionConfig) {
			c.CacheBehaviors = &cftypes.CacheBehaviors{Quantity: aws.Int32(2), Items: []cftypes.CacheBehavior{behavior("/a/*"), behavior("/a/*")}}
		}, "InvalidArgument", 400},
		{"unknown cache policy", func(c *cftypes.DistributionConfig) {
			b := behavior("/a/*")
			b.CachePolicyId = aws.String("00000000-0000-0000-0000-000000000000")
			c.CacheBehaviors = &cftypes.CacheBehaviors{Quantity: aws.Int32(1), Items: []cftypes.CacheBehavior{b}}
		}, "NoSuchCachePolicy", 404},
		{"s3 config on a web host", func(c *cftypes.DistributionConfig) { c.Origins.Items[0].DomainName = aws.String("example.com") }, "InvalidOrigin", 400},
		{"s3 website endpoint as s3 origin", func(c *cftypes.DistributionConfig) {
			c.Origins.Items[0].DomainName = aws.String("b.s3-website-us-east-1.amazonaws.com")
		}, "InvalidOrigin", 400},
		{"no origin type", func(c *cftypes.DistributionConfig) { c.Origins.Items[0].S3OriginConfig = nil }, "InvalidArgument", 400},
		{"unknown oac", func(c *cftypes.DistributionConfig) {
			c.Origins.Items[0].OriginAccessControlId = aws.String("ENOSUCH1234567")
		}, "InvalidOriginAccessControl", 400},
		{"unknown oai", func(c *cftypes.DistributionConfig) {
			c.Origins.Items[0].S3OriginConfig.OriginAccessIdentity = aws.String("origin-access-identity/cloudfront/ENOSUCH1234567")
		}, "InvalidOriginAccessIdentity", 400},
		{"oac and oai", func(c *cftypes.DistributionConfig) {
			c.Origins.Items[0].S3OriginConfig.OriginAccessIdentity = aws.String(oaiPath)
			c.Origins.Items[0].OriginAccessControlId = aws.String(oac)
		}, "IllegalOriginAccessConfiguration", 400},
		{"origin path without slash", func(c *cftypes.DistributionConfig) { c.Origins.Items[0].OriginPath = aws.String("originals") }, "InvalidArgument", 400},
		{"custom origin port", func(c *cftypes.DistributionConfig) {
			c.Origins.Items[0].S3OriginConfig = nil
			c.Origins.Items[0].DomainName = aws.String("api.example.com")
			c.Origins.Items[0].CustomOriginConfig = &cftypes.CustomOriginConfig{HTTPPort: aws.Int32(81), HTTPSPort: aws.Int32(443), OriginProtocolPolicy: "http-only"}
		}, "InvalidArgument", 400},
		{"read timeout", func(c *cftypes.DistributionConfig) {
			c.Origins.Items[0].S3OriginConfig = nil
			c.Origins.Items[0].DomainName = aws.String("api.example.com")
			c.Origins.Items[0].CustomOriginConfig = &cftypes.CustomOriginConfig{HTTPPort: aws.Int32(80), HTTPSPort: aws.Int32(443),
				OriginProtocolPolicy: "http-only", OriginReadTimeout: aws.Int32(999)}
		}, "InvalidOriginReadTimeout", 400},
		{"error code", func(c *cftypes.DistributionConfig) {
			c.CustomErrorResponses = &cftypes.CustomErrorResponses{Quantity: aws.Int32(1), Items: []cftypes.CustomErrorResponse{{ErrorCode: aws.Int32(302)}}}
		}, "InvalidErrorCode", 400},
		{"relative page path", func(c *cftypes.DistributionConfig) {
			c.CustomErrorResponses = &cftypes.CustomErrorResponses{Quantity: aws.Int32(1), Items: []cftypes.CustomErrorResponse{{
				ErrorCode: aws.Int32(404), ResponseCode: aws.String("200"), ResponsePagePath: aws.String("index.html")}}}
		}, "InvalidRelativePath", 400},
		{"root object with slash", func(c *cftypes.DistributionConfig) { c.DefaultRootObject = aws.String("/index.html") }, "InvalidDefaultRootObject", 400},
		{"bad alias", func(c *cftypes.DistributionConfig) {
			c.Aliases = &cftypes.Aliases{Quantity: aws.Int32(1), Items: []string{"not a host"}}
		}, "InvalidArgument", 400},
		{"signed urls", func(c *cftypes.DistributionConfig) {
			c.DefaultCacheBehavior.TrustedSigners = &cftypes.TrustedSigners{Enabled: aws.Bool(true), Quantity: aws.Int32(1), Items: []string{"self"}}
		}, "TrustedSignerDoesNotExist", 400},
		{"comment too long", func(c *cftypes.DistributionConfig) { c.Comment = aws.String(fmt.Sprintf("%0129d", 0)) }, "InvalidArgument", 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := minimalConfig("v-" + tc.name)
			tc.change(cfg)
			_, err := h.client.CreateDistribution(ctx, &cfsdk.CreateDistributionInput{DistributionConfig: cfg})
			wantCode(t, err, tc.code, tc.status)
		})
	}
	if n := len(h.svc.Distributions()); n != 0 {
		t.Errorf("%d distributions were created by invalid configs", n)
	}

	// A valid config using each reference works.
	cfg := minimalConfig("v-ok")
	cfg.Origins.Items[0].S3OriginConfig.OriginAccessIdentity = aws.String(oaiPath)
	h.create(t, cfg)
}

func TestRawRequests(t *testing.T) {
	h := newHarness(t)
	for _, tc := range []struct {
		name, method, path, body string
		code                     string
		status                   int
	}{
		{"malformed xml", http.MethodPost, "/2020-05-31/distribution", "<DistributionConfig><Comment>", "MalformedInput", 400},
		{"wrong root", http.MethodPost, "/2020-05-31/distribution", "<Tags/>", "MalformedInput", 400},
		{"empty body", http.MethodPost, "/2020-05-31/distribution", "", "MissingBody", 400},
		{"missing required", http.MethodPost, "/2020-05-31/distribution",
			`<DistributionConfig xmlns="http://cloudfront.amazonaws.com/doc/2020-05-31/"><CallerReference>x</CallerReference></DistributionConfig>`, "MalformedInput", 400},
		{"bad boolean", http.MethodPost, "/2020-05-31/distribution",
			`<DistributionConfig><CallerReference>x</CallerReference><Comment/><Enabled>yes</Enabled><Origins><Quantity>0</Quantity></Origins><DefaultCacheBehavior/></DistributionConfig>`, "MalformedInput", 400},
		{"cache policies", http.MethodGet, "/2020-05-31/cache-policy", "", "NotImplemented", 501},
		{"other version", http.MethodGet, "/2019-03-26/distribution", "", "NotImplemented", 501},
		{"tag no resource", http.MethodGet, "/2020-05-31/tagging", "", "InvalidArgument", 400},
		{"tag unknown resource", http.MethodGet, "/2020-05-31/tagging?Resource=arn:aws:cloudfront::000000000000:distribution/ENOSUCH1234567", "", "NoSuchResource", 404},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, status := rawCall(t, h, tc.method, tc.path, tc.body, nil)
			if code != tc.code || status != tc.status {
				t.Errorf("got %s %d, want %s %d", code, status, tc.code, tc.status)
			}
		})
	}
}

func TestTags(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	out, err := h.client.CreateDistributionWithTags(ctx, &cfsdk.CreateDistributionWithTagsInput{
		DistributionConfigWithTags: &cftypes.DistributionConfigWithTags{
			DistributionConfig: minimalConfig("tags"),
			Tags: &cftypes.Tags{Items: []cftypes.Tag{
				{Key: aws.String("team"), Value: aws.String("media")},
				{Key: aws.String(sluice.DistributionAutoInvalidateTag), Value: aws.String("false")},
			}},
		},
	})
	if err != nil {
		t.Fatalf("CreateDistributionWithTags: %v", err)
	}
	id, arn := *out.Distribution.Id, out.Distribution.ARN
	if d, _ := h.edge.dist(id); d.AutoInvalidate {
		t.Error("AutoInvalidate is on despite the tag")
	}
	list := func() map[string]string {
		t.Helper()
		l, err := h.client.ListTagsForResource(ctx, &cfsdk.ListTagsForResourceInput{Resource: arn})
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]string{}
		for _, tg := range l.Tags.Items {
			m[*tg.Key] = aws.ToString(tg.Value)
		}
		return m
	}
	if diff := cmp.Diff(map[string]string{"team": "media", sluice.DistributionAutoInvalidateTag: "false"}, list()); diff != "" {
		t.Errorf("tags after create:\n%s", diff)
	}
	if _, err := h.client.TagResource(ctx, &cfsdk.TagResourceInput{Resource: arn, Tags: &cftypes.Tags{Items: []cftypes.Tag{
		{Key: aws.String("team"), Value: aws.String("web")}, {Key: aws.String("env"), Value: aws.String("dev")}}}}); err != nil {
		t.Fatalf("TagResource: %v", err)
	}
	if _, err := h.client.UntagResource(ctx, &cfsdk.UntagResourceInput{Resource: arn, TagKeys: &cftypes.TagKeys{Items: []string{sluice.DistributionAutoInvalidateTag}}}); err != nil {
		t.Fatalf("UntagResource: %v", err)
	}
	if diff := cmp.Diff(map[string]string{"team": "web", "env": "dev"}, list()); diff != "" {
		t.Errorf("tags after tag/untag:\n%s", diff)
	}
	if d, _ := h.edge.dist(id); !d.AutoInvalidate {
		t.Error("AutoInvalidate stays off after the tag was removed")
	}
	_, err = h.client.TagResource(ctx, &cfsdk.TagResourceInput{Resource: arn, Tags: &cftypes.Tags{Items: []cftypes.Tag{{Key: aws.String("aws:x"), Value: aws.String("y")}}}})
	wantCode(t, err, "InvalidTagging", 400)
	_, err = h.client.TagResource(ctx, &cfsdk.TagResourceInput{Resource: aws.String("arn:aws:cloudfront::000000000000:distribution/ENOSUCH1234567"),
		Tags: &cftypes.Tags{Items: []cftypes.Tag{{Key: aws.String("k"), Value: aws.String("v")}}}})
	wantCode(t, err, "NoSuchResource", 404)
}

func TestOriginAccess(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	oac := h.createOAC(t, "oac-a")
	g, err := h.client.GetOriginAccessControl(ctx, &cfsdk.GetOriginAccessControlInput{Id: aws.String(oac)})
	if err != nil {
		t.Fatal(err)
	}
	if *g.OriginAccessControl.OriginAccessControlConfig.Name != "oac-a" || g.ETag == nil {
		t.Errorf("GetOriginAccessControl = %+v", g.OriginAccessControl)
	}
	_, err = h.client.CreateOriginAccessControl(ctx, &cfsdk.CreateOriginAccessControlInput{OriginAccessControlConfig: &cftypes.OriginAccessControlConfig{
		Name: aws.String("oac-a"), SigningProtocol: "sigv4", SigningBehavior: "always", OriginAccessControlOriginType: "s3"}})
	wantCode(t, err, "OriginAccessControlAlreadyExists", 409)
	l, err := h.client.ListOriginAccessControls(ctx, &cfsdk.ListOriginAccessControlsInput{})
	if err != nil || *l.OriginAccessControlList.Quantity != 1 || *l.OriginAccessControlList.Items[0].Id != oac {
		t.Fatalf("ListOriginAccessControls: %v %+v", err, l)
	}

	cfg := minimalConfig("uses-oac")
	cfg.Origins.Items[0].OriginAccessControlId = aws.String(oac)
	dist := h.create(t, cfg)
	_, err = h.client.DeleteOriginAccessControl(ctx, &cfsdk.DeleteOriginAccessControlInput{Id: aws.String(oac), IfMatch: g.ETag})
	wantCode(t, err, "OriginAccessControlInUse", 409)
	cfg.Enabled = aws.Bool(false)
	up, err := h.client.UpdateDistribution(ctx, &cfsdk.UpdateDistributionInput{Id: dist.Distribution.Id, IfMatch: dist.ETag, DistributionConfig: cfg})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.client.DeleteDistribution(ctx, &cfsdk.DeleteDistributionInput{Id: dist.Distribution.Id, IfMatch: up.ETag}); err != nil {
		t.Fatal(err)
	}
	_, err = h.client.DeleteOriginAccessControl(ctx, &cfsdk.DeleteOriginAccessControlInput{Id: aws.String(oac)})
	wantCode(t, err, "InvalidIfMatchVersion", 400)
	if _, err := h.client.DeleteOriginAccessControl(ctx, &cfsdk.DeleteOriginAccessControlInput{Id: aws.String(oac), IfMatch: g.ETag}); err != nil {
		t.Fatalf("DeleteOriginAccessControl: %v", err)
	}
	_, err = h.client.GetOriginAccessControl(ctx, &cfsdk.GetOriginAccessControlInput{Id: aws.String(oac)})
	wantCode(t, err, "NoSuchOriginAccessControl", 404)

	// Origin access identities.
	oaiCfg := &cftypes.CloudFrontOriginAccessIdentityConfig{CallerReference: aws.String("oai"), Comment: aws.String("photos")}
	oai, err := h.client.CreateCloudFrontOriginAccessIdentity(ctx, &cfsdk.CreateCloudFrontOriginAccessIdentityInput{CloudFrontOriginAccessIdentityConfig: oaiCfg})
	if err != nil {
		t.Fatal(err)
	}
	id := oai.CloudFrontOriginAccessIdentity.Id
	if len(*oai.CloudFrontOriginAccessIdentity.S3CanonicalUserId) != 64 {
		t.Errorf("S3CanonicalUserId = %q", *oai.CloudFrontOriginAccessIdentity.S3CanonicalUserId)
	}
	again, err := h.client.CreateCloudFrontOriginAccessIdentity(ctx, &cfsdk.CreateCloudFrontOriginAccessIdentityInput{CloudFrontOriginAccessIdentityConfig: oaiCfg})
	if err != nil || *again.CloudFrontOriginAccessIdentity.Id != *id {
		t.Errorf("repeated OAI create: %v %v", err, again)
	}
	_, err = h.client.CreateCloudFrontOriginAccessIdentity(ctx, &cfsdk.CreateCloudFrontOriginAccessIdentityInput{
		CloudFrontOriginAccessIdentityConfig: &cftypes.CloudFrontOriginAccessIdentityConfig{CallerReference: aws.String("oai"), Comment: aws.String("other")}})
	wantCode(t, err, "CloudFrontOriginAccessIdentityAlreadyExists", 409)
	lo, err := h.client.ListCloudFrontOriginAccessIdentities(ctx, &cfsdk.ListCloudFrontOriginAccessIdentitiesInput{})
	if err != nil || *lo.CloudFrontOriginAccessIdentityList.Quantity != 1 {
		t.Fatalf("ListCloudFrontOriginAccessIdentities: %v %+v", err, lo)
	}
	gc, err := h.client.GetCloudFrontOriginAccessIdentityConfig(ctx, &cfsdk.GetCloudFrontOriginAccessIdentityConfigInput{Id: id})
	if err != nil || *gc.CloudFrontOriginAccessIdentityConfig.Comment != "photos" {
		t.Fatalf("GetCloudFrontOriginAccessIdentityConfig: %v", err)
	}
	if _, err := h.client.DeleteCloudFrontOriginAccessIdentity(ctx, &cfsdk.DeleteCloudFrontOriginAccessIdentityInput{Id: id, IfMatch: gc.ETag}); err != nil {
		t.Fatalf("DeleteCloudFrontOriginAccessIdentity: %v", err)
	}
	_, err = h.client.GetCloudFrontOriginAccessIdentity(ctx, &cfsdk.GetCloudFrontOriginAccessIdentityInput{Id: id})
	wantCode(t, err, "NoSuchCloudFrontOriginAccessIdentity", 404)
}
