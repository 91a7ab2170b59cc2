package cloudfront_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	cfsdk "github.com/aws/aws-sdk-go-v2/service/cloudfront"
	cftypes "github.com/aws/aws-sdk-go-v2/service/cloudfront/types"
	"github.com/aws/smithy-go"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/cloudfront"
)

// recordingEdge is a small Edge that remembers what it was told.
type recordingEdge struct {
	mu    sync.Mutex
	dists map[string]sluice.Distribution
	order []string // ids in the order PutDistribution first saw them
	invs  []edgeInvalidation
	fail  int // fail the next fail Invalidate calls
}

type edgeInvalidation struct {
	Dist  string
	Paths []string
}

func newRecordingEdge() *recordingEdge {
	return &recordingEdge{dists: map[string]sluice.Distribution{}}
}

func (e *recordingEdge) PutDistribution(d sluice.Distribution) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, ok := e.dists[d.ID]; !ok {
		e.order = append(e.order, d.ID)
	}
	e.dists[d.ID] = d
	return nil
}

func (e *recordingEdge) RemoveDistribution(id string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.dists, id)
	e.order = slices.DeleteFunc(e.order, func(s string) bool { return s == id })
}

func (e *recordingEdge) Invalidate(_ context.Context, id string, paths []string) (int, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.fail > 0 {
		e.fail--
		return 0, errors.New("edge unavailable")
	}
	e.invs = append(e.invs, edgeInvalidation{Dist: id, Paths: slices.Clone(paths)})
	return len(paths), nil
}

func (e *recordingEdge) invalidations() []edgeInvalidation {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.invs)
}

func (e *recordingEdge) dist(id string) (sluice.Distribution, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	d, ok := e.dists[id]
	return d, ok
}

// fakeFunctions accepts versions it knows.
type fakeFunctions struct{ known map[string]bool }

func (f fakeFunctions) CheckFunctionVersion(_ context.Context, arn string) error {
	if f.known[arn] {
		return nil
	}
	return sluice.Errorf(sluice.ErrResourceNotFound, "no such function version %s", arn)
}

const resizeARN = "arn:aws:lambda:us-east-1:000000000000:function:sluice-image-resize:1"

type harness struct {
	svc    *cloudfront.Service
	edge   *recordingEdge
	client *cfsdk.Client
	url    string
	dir    string
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	return newHarnessAt(t, t.TempDir(), newRecordingEdge())
}

func newHarnessAt(t *testing.T, dir string, edge *recordingEdge) *harness {
	t.Helper()
	cfg := cloudfront.DefaultConfig()
	cfg.DataDir = dir
	return newHarnessWith(t, cfg, edge)
}

// newHarnessWith starts a Service with cfg (a temporary DataDir when cfg
// has the default one) behind an httptest server.
func newHarnessWith(t *testing.T, cfg cloudfront.Config, edge *recordingEdge) *harness {
	t.Helper()
	if cfg.DataDir == cloudfront.DefaultConfig().DataDir {
		cfg.DataDir = t.TempDir()
	}
	cfg.NoSync = true
	svc, err := cloudfront.New(cfg, edge, fakeFunctions{known: map[string]bool{resizeARN: true}},
		slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { svc.Close() })
	h := serve(t, svc)
	h.edge, h.dir = edge, cfg.DataDir
	return h
}

// serve puts svc behind an httptest server, as the front door would: each
// request carries a RequestInfo.
func serve(t *testing.T, svc *cloudfront.Service) *harness {
	t.Helper()
	var n int
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		n++
		id := fmt.Sprintf("req-%d", n)
		mu.Unlock()
		w.Header().Set("X-Amz-Request-Id", id)
		svc.ServeHTTP(w, r.WithContext(sluice.WithRequestInfo(r.Context(), sluice.RequestInfo{ID: id})))
	}))
	t.Cleanup(srv.Close)
	client := cfsdk.New(cfsdk.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(srv.URL),
		Credentials:  credentials.NewStaticCredentialsProvider("test", "test", ""),
		HTTPClient:   srv.Client(),
	})
	return &harness{svc: svc, client: client, url: srv.URL}
}

// realisticConfig is the shape of the image-resizing recipe: a private S3
// origin behind an OAC, a behaviour keyed on d, a resize function at
// origin-response, and a second behaviour for an API origin.
func realisticConfig(ref, oacID string) *cftypes.DistributionConfig {
	return &cftypes.DistributionConfig{
		CallerReference:   aws.String(ref),
		Comment:           aws.String("photos"),
		Enabled:           aws.Bool(true),
		Aliases:           &cftypes.Aliases{Quantity: aws.Int32(1), Items: []string{"img-" + strings.ToLower(ref) + ".example.com"}},
		DefaultRootObject: aws.String("index.html"),
		Origins: &cftypes.Origins{Quantity: aws.Int32(2), Items: []cftypes.Origin{
			{
				Id:                    aws.String("photos"),
				DomainName:            aws.String("photos.s3.us-east-1.amazonaws.com"),
				OriginPath:            aws.String("/originals"),
				S3OriginConfig:        &cftypes.S3OriginConfig{OriginAccessIdentity: aws.String("")},
				OriginAccessControlId: aws.String(oacID),
				CustomHeaders:         &cftypes.CustomHeaders{Quantity: aws.Int32(0)},
				ConnectionAttempts:    aws.Int32(3),
				ConnectionTimeout:     aws.Int32(10),
				OriginShield:          &cftypes.OriginShield{Enabled: aws.Bool(false)},
			},
			{
				Id:         aws.String("api"),
				DomainName: aws.String("127.0.0.1"),
				CustomOriginConfig: &cftypes.CustomOriginConfig{
					HTTPPort: aws.Int32(8080), HTTPSPort: aws.Int32(443),
					OriginProtocolPolicy: cftypes.OriginProtocolPolicyHttpOnly,
					OriginReadTimeout:    aws.Int32(30), OriginKeepaliveTimeout: aws.Int32(5),
				},
			},
		}},
		DefaultCacheBehavior: &cftypes.DefaultCacheBehavior{
			TargetOriginId:       aws.String("photos"),
			ViewerProtocolPolicy: cftypes.ViewerProtocolPolicyRedirectToHttps,
			Compress:             aws.Bool(true),
			AllowedMethods: &cftypes.AllowedMethods{Quantity: aws.Int32(2),
				Items:         []cftypes.Method{cftypes.MethodGet, cftypes.MethodHead},
				CachedMethods: &cftypes.CachedMethods{Quantity: aws.Int32(2), Items: []cftypes.Method{cftypes.MethodGet, cftypes.MethodHead}}},
			ForwardedValues: &cftypes.ForwardedValues{
				QueryString:          aws.Bool(true),
				Cookies:              &cftypes.CookiePreference{Forward: cftypes.ItemSelectionNone},
				QueryStringCacheKeys: &cftypes.QueryStringCacheKeys{Quantity: aws.Int32(1), Items: []string{"d"}},
			},
			MinTTL: aws.Int64(0), DefaultTTL: aws.Int64(86400), MaxTTL: aws.Int64(31536000),
			LambdaFunctionAssociations: &cftypes.LambdaFunctionAssociations{Quantity: aws.Int32(1),
				Items: []cftypes.LambdaFunctionAssociation{{
					EventType: cftypes.EventTypeOriginResponse, LambdaFunctionARN: aws.String(resizeARN), IncludeBody: aws.Bool(false),
				}}},
		},
		CacheBehaviors: &cftypes.CacheBehaviors{Quantity: aws.Int32(1), Items: []cftypes.CacheBehavior{{
			PathPattern:          aws.String("/api/*"),
			TargetOriginId:       aws.String("api"),
			ViewerProtocolPolicy: cftypes.ViewerProtocolPolicyAllowAll,
			CachePolicyId:        aws.String("4135ea2d-6df8-44a3-9df3-4b5a84be39ad"),
		}}},
		CustomErrorResponses: &cftypes.CustomErrorResponses{Quantity: aws.Int32(1), Items: []cftypes.CustomErrorResponse{{
			ErrorCode: aws.Int32(404), ResponseCode: aws.String("200"), ResponsePagePath: aws.String("/index.html"), ErrorCachingMinTTL: aws.Int64(5),
		}}},
		PriceClass:        cftypes.PriceClassPriceClassAll,
		HttpVersion:       cftypes.HttpVersionHttp2,
		IsIPV6Enabled:     aws.Bool(true),
		ViewerCertificate: &cftypes.ViewerCertificate{CloudFrontDefaultCertificate: aws.Bool(true)},
		Restrictions: &cftypes.Restrictions{GeoRestriction: &cftypes.GeoRestriction{
			RestrictionType: cftypes.GeoRestrictionTypeNone, Quantity: aws.Int32(0)}},
	}
}

// minimalConfig is the smallest config CloudFront accepts.
func minimalConfig(ref string) *cftypes.DistributionConfig {
	return &cftypes.DistributionConfig{
		CallerReference: aws.String(ref),
		Comment:         aws.String(""),
		Enabled:         aws.Bool(true),
		Origins: &cftypes.Origins{Quantity: aws.Int32(1), Items: []cftypes.Origin{{
			Id: aws.String("o1"), DomainName: aws.String("bucket.s3.localhost"),
			S3OriginConfig: &cftypes.S3OriginConfig{OriginAccessIdentity: aws.String("")},
		}}},
		DefaultCacheBehavior: &cftypes.DefaultCacheBehavior{
			TargetOriginId:       aws.String("o1"),
			ViewerProtocolPolicy: cftypes.ViewerProtocolPolicyAllowAll,
			ForwardedValues: &cftypes.ForwardedValues{QueryString: aws.Bool(false),
				Cookies: &cftypes.CookiePreference{Forward: cftypes.ItemSelectionNone}},
			MinTTL: aws.Int64(0),
		},
	}
}

func (h *harness) createOAC(t *testing.T, name string) string {
	t.Helper()
	out, err := h.client.CreateOriginAccessControl(context.Background(), &cfsdk.CreateOriginAccessControlInput{
		OriginAccessControlConfig: &cftypes.OriginAccessControlConfig{
			Name: aws.String(name), Description: aws.String("photos bucket"),
			SigningProtocol:               cftypes.OriginAccessControlSigningProtocolsSigv4,
			SigningBehavior:               cftypes.OriginAccessControlSigningBehaviorsAlways,
			OriginAccessControlOriginType: cftypes.OriginAccessControlOriginTypesS3,
		},
	})
	if err != nil {
		t.Fatalf("CreateOriginAccessControl: %v", err)
	}
	return *out.OriginAccessControl.Id
}

func (h *harness) create(t *testing.T, cfg *cftypes.DistributionConfig) *cfsdk.CreateDistributionOutput {
	t.Helper()
	out, err := h.client.CreateDistribution(context.Background(), &cfsdk.CreateDistributionInput{DistributionConfig: cfg})
	if err != nil {
		t.Fatalf("CreateDistribution: %v", err)
	}
	return out
}

// apiCode returns the error code and HTTP status of an SDK error.
func apiCode(t *testing.T, err error) (string, int) {
	t.Helper()
	if err == nil {
		return "", 0
	}
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("not an API error: %v", err)
	}
	status := 0
	var re interface{ HTTPStatusCode() int }
	if errors.As(err, &re) {
		status = re.HTTPStatusCode()
	}
	return ae.ErrorCode(), status
}

func wantCode(t *testing.T, err error, code string, status int) {
	t.Helper()
	gotCode, gotStatus := apiCode(t, err)
	if gotCode != code || gotStatus != status {
		t.Fatalf("error = %v (%s %d), want %s %d", err, gotCode, gotStatus, code, status)
	}
}

var ignoreUnexported = cmpopts.IgnoreUnexported(
	cftypes.DistributionConfig{}, cftypes.Aliases{}, cftypes.Origins{}, cftypes.Origin{}, cftypes.S3OriginConfig{},
	cftypes.CustomHeaders{}, cftypes.OriginShield{}, cftypes.CustomOriginConfig{}, cftypes.DefaultCacheBehavior{},
	cftypes.AllowedMethods{}, cftypes.CachedMethods{}, cftypes.ForwardedValues{}, cftypes.CookiePreference{},
	cftypes.QueryStringCacheKeys{}, cftypes.LambdaFunctionAssociations{}, cftypes.LambdaFunctionAssociation{},
	cftypes.CacheBehaviors{}, cftypes.CacheBehavior{}, cftypes.CustomErrorResponses{}, cftypes.CustomErrorResponse{},
	cftypes.ViewerCertificate{}, cftypes.Restrictions{}, cftypes.GeoRestriction{},
)

func TestCreateGetRoundTrip(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	oac := h.createOAC(t, "photos-oac")
	cfg := realisticConfig("ref-1", oac)
	out := h.create(t, cfg)
	d := out.Distribution
	id := *d.Id
	if len(id) != 14 || id[0] != 'E' || strings.ToUpper(id) != id {
		t.Errorf("Id = %q, want E and 13 upper-case letters and digits", id)
	}
	if got, want := *d.DomainName, strings.ToLower(id)+".localhost"; got != want {
		t.Errorf("DomainName = %q, want %q", got, want)
	}
	if got, want := *d.ARN, "arn:aws:cloudfront::000000000000:distribution/"+id; got != want {
		t.Errorf("ARN = %q, want %q", got, want)
	}
	if *d.Status != "Deployed" || out.ETag == nil || *out.ETag == "" {
		t.Errorf("Status %q ETag %v, want Deployed and an ETag", *d.Status, out.ETag)
	}
	if got, want := aws.ToString(out.Location), h.url+"/2020-05-31/distribution/"+id; got != want {
		t.Errorf("Location = %q, want %q", got, want)
	}
	if diff := cmp.Diff(cfg, d.DistributionConfig, ignoreUnexported); diff != "" {
		t.Errorf("created config differs (-sent +returned):\n%s", diff)
	}

	gc, err := h.client.GetDistributionConfig(ctx, &cfsdk.GetDistributionConfigInput{Id: aws.String(id)})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(cfg, gc.DistributionConfig, ignoreUnexported); diff != "" {
		t.Errorf("GetDistributionConfig differs (-sent +returned):\n%s", diff)
	}
	if *gc.ETag != *out.ETag {
		t.Errorf("GetDistributionConfig ETag %q, want %q", *gc.ETag, *out.ETag)
	}
	g, err := h.client.GetDistribution(ctx, &cfsdk.GetDistributionInput{Id: aws.String(id)})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(cfg, g.Distribution.DistributionConfig, ignoreUnexported); diff != "" {
		t.Errorf("GetDistribution config differs:\n%s", diff)
	}

	// What the edge got: the model, not the XML.
	pushed, ok := h.edge.dist(id)
	if !ok {
		t.Fatal("distribution was not pushed to the edge")
	}
	dcb := pushed.Config.DefaultCacheBehavior
	if diff := cmp.Diff(sluice.CacheBehavior{
		TargetOriginID: "photos", ViewerProtocolPolicy: "redirect-to-https",
		AllowedMethods: []string{"GET", "HEAD"}, CachedMethods: []string{"GET", "HEAD"},
		Compress: true, MinTTL: 0, DefaultTTL: 86400, MaxTTL: 31536000,
		QueryString: true, QueryStringCacheKeys: []string{"d"},
		FunctionAssociations: []sluice.FunctionAssociation{{EventType: "origin-response", FunctionARN: resizeARN}},
	}, dcb); diff != "" {
		t.Errorf("default behaviour pushed to the edge (-want +got):\n%s", diff)
	}
	if o := pushed.Config.Origins[0]; o.OriginPath != "/originals" || o.S3 == nil || o.OriginAccessControlID != oac {
		t.Errorf("S3 origin pushed = %+v", o)
	}
	if o := pushed.Config.Origins[1]; o.Custom == nil || o.Custom.HTTPPort != 8080 || o.Custom.OriginProtocolPolicy != "http-only" {
		t.Errorf("custom origin pushed = %+v", o)
	}
	if cb := pushed.Config.CacheBehaviors[0]; cb.PathPattern != "/api/*" || cb.MaxTTL != 0 || cb.TargetOriginID != "api" {
		t.Errorf("API behaviour pushed = %+v", cb)
	}
	if !pushed.AutoInvalidate || pushed.DomainName != *d.DomainName {
		t.Errorf("pushed AutoInvalidate %v DomainName %q", pushed.AutoInvalidate, pushed.DomainName)
	}
	if ce := pushed.Config.CustomErrorResponses; len(ce) != 1 || ce[0].ResponseCode != 200 || ce[0].ErrorCachingMinTTL != 5 {
		t.Errorf("custom errors pushed = %+v", ce)
	}

	// The same CallerReference and config: the same distribution.
	again := h.create(t, realisticConfig("ref-1", oac))
	if *again.Distribution.Id != id {
		t.Errorf("repeated create made %s, want %s", *again.Distribution.Id, id)
	}
	// The same CallerReference, another config.
	other := realisticConfig("ref-1", oac)
	other.Comment = aws.String("different")
	_, err = h.client.CreateDistribution(ctx, &cfsdk.CreateDistributionInput{DistributionConfig: other})
	wantCode(t, err, "DistributionAlreadyExists", 409)
	// Another reference with the same alias.
	dup := realisticConfig("ref-2", oac)
	dup.Aliases.Items = []string{"IMG-REF-1.example.com"}
	_, err = h.client.CreateDistribution(ctx, &cfsdk.CreateDistributionInput{DistributionConfig: dup})
	wantCode(t, err, "CNAMEAlreadyExists", 409)

	_, err = h.client.GetDistribution(ctx, &cfsdk.GetDistributionInput{Id: aws.String("ENOSUCH1234567")})
	wantCode(t, err, "NoSuchDistribution", 404)
}

func TestUpdateIfMatch(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	out := h.create(t, minimalConfig("u1"))
	id := *out.Distribution.Id

	cfg := minimalConfig("u1")
	cfg.Comment = aws.String("updated")
	_, err := h.client.UpdateDistribution(ctx, &cfsdk.UpdateDistributionInput{Id: aws.String(id), DistributionConfig: cfg})
	wantCode(t, err, "InvalidIfMatchVersion", 400)
	_, err = h.client.UpdateDistribution(ctx, &cfsdk.UpdateDistributionInput{Id: aws.String(id), DistributionConfig: cfg, IfMatch: aws.String("ESTALE")})
	wantCode(t, err, "PreconditionFailed", 412)

	up, err := h.client.UpdateDistribution(ctx, &cfsdk.UpdateDistributionInput{Id: aws.String(id), DistributionConfig: cfg, IfMatch: out.ETag})
	if err != nil {
		t.Fatalf("UpdateDistribution: %v", err)
	}
	if *up.ETag == *out.ETag {
		t.Error("ETag did not change on update")
	}
	if got := *up.Distribution.DistributionConfig.Comment; got != "updated" {
		t.Errorf("Comment = %q", got)
	}
	if d, _ := h.edge.dist(id); d.Config.Comment != "updated" || d.ETag != *up.ETag {
		t.Errorf("edge has Comment %q ETag %q", d.Config.Comment, d.ETag)
	}
	// The old ETag is stale now.
	_, err = h.client.UpdateDistribution(ctx, &cfsdk.UpdateDistributionInput{Id: aws.String(id), DistributionConfig: cfg, IfMatch: out.ETag})
	wantCode(t, err, "PreconditionFailed", 412)

	changed := minimalConfig("other-ref")
	_, err = h.client.UpdateDistribution(ctx, &cfsdk.UpdateDistributionInput{Id: aws.String(id), DistributionConfig: changed, IfMatch: up.ETag})
	wantCode(t, err, "IllegalUpdate", 400)

	// A get-config / update round trip, as aws-cli users do it.
	gc, err := h.client.GetDistributionConfig(ctx, &cfsdk.GetDistributionConfigInput{Id: aws.String(id)})
	if err != nil {
		t.Fatal(err)
	}
	gc.DistributionConfig.Enabled = aws.Bool(false)
	if _, err := h.client.UpdateDistribution(ctx, &cfsdk.UpdateDistributionInput{Id: aws.String(id), DistributionConfig: gc.DistributionConfig, IfMatch: gc.ETag}); err != nil {
		t.Fatalf("round-trip update: %v", err)
	}
	_, err = h.client.UpdateDistribution(ctx, &cfsdk.UpdateDistributionInput{Id: aws.String("ENOSUCH1234567"), DistributionConfig: cfg, IfMatch: up.ETag})
	wantCode(t, err, "NoSuchDistribution", 404)
}

func TestDeleteRules(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	out := h.create(t, minimalConfig("d1"))
	id := out.Distribution.Id

	_, err := h.client.DeleteDistribution(ctx, &cfsdk.DeleteDistributionInput{Id: id})
	wantCode(t, err, "InvalidIfMatchVersion", 400)
	_, err = h.client.DeleteDistribution(ctx, &cfsdk.DeleteDistributionInput{Id: id, IfMatch: aws.String("EWRONG")})
	wantCode(t, err, "PreconditionFailed", 412)
	_, err = h.client.DeleteDistribution(ctx, &cfsdk.DeleteDistributionInput{Id: id, IfMatch: out.ETag})
	wantCode(t, err, "DistributionNotDisabled", 409)

	cfg := minimalConfig("d1")
	cfg.Enabled = aws.Bool(false)
	up, err := h.client.UpdateDistribution(ctx, &cfsdk.UpdateDistributionInput{Id: id, DistributionConfig: cfg, IfMatch: out.ETag})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.client.DeleteDistribution(ctx, &cfsdk.DeleteDistributionInput{Id: id, IfMatch: up.ETag}); err != nil {
		t.Fatalf("DeleteDistribution: %v", err)
	}
	if _, ok := h.edge.dist(*id); ok {
		t.Error("deleted distribution is still on the edge")
	}
	_, err = h.client.GetDistribution(ctx, &cfsdk.GetDistributionInput{Id: id})
	wantCode(t, err, "NoSuchDistribution", 404)
	_, err = h.client.DeleteDistribution(ctx, &cfsdk.DeleteDistributionInput{Id: id, IfMatch: up.ETag})
	wantCode(t, err, "NoSuchDistribution", 404)
}

func TestListPaging(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	want := map[string]bool{}
	for i := range 5 {
		out := h.create(t, minimalConfig(fmt.Sprintf("list-%d", i)))
		want[*out.Distribution.Id] = true
	}
	got := map[string]bool{}
	var marker *string
	pages := 0
	for {
		out, err := h.client.ListDistributions(ctx, &cfsdk.ListDistributionsInput{MaxItems: aws.Int32(2), Marker: marker})
		if err != nil {
			t.Fatal(err)
		}
		pages++
		l := out.DistributionList
		for _, s := range l.Items {
			if got[*s.Id] {
				t.Errorf("%s listed twice", *s.Id)
			}
			got[*s.Id] = true
			if s.ETag == nil || *s.Status != "Deployed" || s.DefaultCacheBehavior == nil || *s.Origins.Quantity != 1 {
				t.Errorf("summary %s incomplete: %+v", *s.Id, s)
			}
		}
		if !*l.IsTruncated {
			break
		}
		marker = l.NextMarker
		if pages > 5 {
			t.Fatal("paging does not end")
		}
	}
	if pages != 3 {
		t.Errorf("pages = %d, want 3", pages)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("listed distributions (-want +got):\n%s", diff)
	}
	_, err := h.client.ListDistributions(ctx, &cfsdk.ListDistributionsInput{MaxItems: aws.Int32(-1)})
	wantCode(t, err, "InvalidArgument", 400)
}
