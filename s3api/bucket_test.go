package s3api

import (
	"context"
	"crypto/md5"
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	"github.com/google/go-cmp/cmp"
	"github.com/sluicehq/sluice"
)

func sdkCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func TestBucketLifecycleSDK(t *testing.T) {
	ts := newTestServer(t)
	ctx := context.Background()
	c := ts.Client

	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("alpha")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{
		Bucket:                    aws.String("beta-eu"),
		CreateBucketConfiguration: &types.CreateBucketConfiguration{LocationConstraint: types.BucketLocationConstraintEuWest1},
	}); err != nil {
		t.Fatal(err)
	}
	// S3's legacy rule: re-creating an owned bucket succeeds in us-east-1
	// and is BucketAlreadyOwnedByYou everywhere else.
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("alpha")}); err != nil {
		t.Fatalf("second create in us-east-1: %v", err)
	}
	_, err := c.CreateBucket(ctx, &s3.CreateBucketInput{
		Bucket:                    aws.String("beta-eu"),
		CreateBucketConfiguration: &types.CreateBucketConfiguration{LocationConstraint: types.BucketLocationConstraintEuWest1},
	})
	if sdkCode(err) != "BucketAlreadyOwnedByYou" {
		t.Fatalf("second create in eu-west-1: %v", err)
	}

	lb, err := c.ListBuckets(ctx, &s3.ListBucketsInput{})
	if err != nil {
		t.Fatal(err)
	}
	var names, regions []string
	for _, b := range lb.Buckets {
		names = append(names, aws.ToString(b.Name))
		regions = append(regions, aws.ToString(b.BucketRegion))
		if b.CreationDate == nil || b.CreationDate.IsZero() {
			t.Fatalf("bucket %s has no creation date", aws.ToString(b.Name))
		}
	}
	if diff := cmp.Diff([]string{"alpha", "beta-eu"}, names); diff != "" {
		t.Fatalf("names (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"us-east-1", "eu-west-1"}, regions); diff != "" {
		t.Fatalf("regions (-want +got):\n%s", diff)
	}
	if lb.Owner == nil || aws.ToString(lb.Owner.ID) != ownerID {
		t.Fatalf("owner = %+v", lb.Owner)
	}

	paged, err := c.ListBuckets(ctx, &s3.ListBucketsInput{MaxBuckets: aws.Int32(1)})
	if err != nil {
		t.Fatal(err)
	}
	if len(paged.Buckets) != 1 || paged.ContinuationToken == nil {
		t.Fatalf("page 1 = %d buckets, token %v", len(paged.Buckets), paged.ContinuationToken)
	}
	next, err := c.ListBuckets(ctx, &s3.ListBucketsInput{MaxBuckets: aws.Int32(1), ContinuationToken: paged.ContinuationToken})
	if err != nil {
		t.Fatal(err)
	}
	if len(next.Buckets) != 1 || aws.ToString(next.Buckets[0].Name) != "beta-eu" || next.ContinuationToken != nil {
		t.Fatalf("page 2 = %+v", next)
	}
	pre, err := c.ListBuckets(ctx, &s3.ListBucketsInput{Prefix: aws.String("be")})
	if err != nil || len(pre.Buckets) != 1 || aws.ToString(pre.Prefix) != "be" {
		t.Fatalf("prefix list = %+v, %v", pre, err)
	}

	hb, err := c.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String("beta-eu")})
	if err != nil || aws.ToString(hb.BucketRegion) != "eu-west-1" {
		t.Fatalf("head bucket = %+v, %v", hb, err)
	}
	_, err = c.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String("missing")})
	if sdkCode(err) != "NotFound" {
		t.Fatalf("head missing bucket: %v", err)
	}

	loc, err := c.GetBucketLocation(ctx, &s3.GetBucketLocationInput{Bucket: aws.String("alpha")})
	if err != nil || loc.LocationConstraint != "" {
		t.Fatalf("location alpha = %q, %v", loc.LocationConstraint, err)
	}
	loc, err = c.GetBucketLocation(ctx, &s3.GetBucketLocationInput{Bucket: aws.String("beta-eu")})
	if err != nil || loc.LocationConstraint != types.BucketLocationConstraintEuWest1 {
		t.Fatalf("location beta = %q, %v", loc.LocationConstraint, err)
	}

	v, err := c.GetBucketVersioning(ctx, &s3.GetBucketVersioningInput{Bucket: aws.String("alpha")})
	if err != nil || v.Status != "" {
		t.Fatalf("versioning = %+v, %v", v, err)
	}
	acl, err := c.GetBucketAcl(ctx, &s3.GetBucketAclInput{Bucket: aws.String("alpha")})
	if err != nil || len(acl.Grants) != 1 || acl.Grants[0].Permission != types.PermissionFullControl || aws.ToString(acl.Grants[0].Grantee.ID) != ownerID {
		t.Fatalf("acl = %+v, %v", acl, err)
	}
	if _, err := c.PutBucketAcl(ctx, &s3.PutBucketAclInput{Bucket: aws.String("alpha"), ACL: types.BucketCannedACLPrivate}); err != nil {
		t.Fatalf("put private acl: %v", err)
	}
	_, err = c.PutBucketAcl(ctx, &s3.PutBucketAclInput{Bucket: aws.String("alpha"), ACL: types.BucketCannedACLPublicRead})
	if sdkCode(err) != "AccessControlListNotSupported" {
		t.Fatalf("public-read acl: %v", err)
	}

	ts.putObject("alpha", "k", []byte("x"))
	_, err = c.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String("alpha")})
	if sdkCode(err) != "BucketNotEmpty" {
		t.Fatalf("delete non-empty: %v", err)
	}
	if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("alpha"), Key: aws.String("k")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String("alpha")}); err != nil {
		t.Fatalf("delete empty: %v", err)
	}
	_, err = c.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String("alpha")})
	if sdkCode(err) != "NoSuchBucket" {
		t.Fatalf("delete deleted: %v", err)
	}
}

func TestCreateBucketWire(t *testing.T) {
	ts := newTestServer(t)
	ts.mkBucket("exists")
	cfg := func(lc string) []byte {
		return []byte(`<CreateBucketConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><LocationConstraint>` + lc + `</LocationConstraint></CreateBucketConfiguration>`)
	}
	if resp := ts.do(rawReq{method: "PUT", path: "/exists-eu", body: cfg("eu-west-1")}); resp.status != 200 {
		t.Fatalf("create exists-eu: %d", resp.status)
	}
	tests := []struct {
		name       string
		bucket     string
		body       []byte
		header     map[string]string
		wantStatus int
		wantCode   string
	}{
		{"ok", "fine-name.1", nil, nil, 200, ""},
		{"too short", "ab", nil, nil, 400, "InvalidBucketName"},
		{"too long", strings.Repeat("a", 64), nil, nil, 400, "InvalidBucketName"},
		{"max length", strings.Repeat("a", 63), nil, nil, 200, ""},
		{"upper case", "Upper", nil, nil, 400, "InvalidBucketName"},
		{"underscore", "under_score", nil, nil, 400, "InvalidBucketName"},
		{"starts with dash", "-dash", nil, nil, 400, "InvalidBucketName"},
		{"ends with dot", "dot.", nil, nil, 400, "InvalidBucketName"},
		{"double dot", "a..b", nil, nil, 400, "InvalidBucketName"},
		{"ip address", "192.168.5.4", nil, nil, 400, "InvalidBucketName"},
		{"xn prefix", "xn--abc", nil, nil, 400, "InvalidBucketName"},
		{"s3alias suffix", "abc-s3alias", nil, nil, 400, "InvalidBucketName"},
		{"ol-s3 suffix", "abc--ol-s3", nil, nil, 400, "InvalidBucketName"},
		{"exists in us-east-1", "exists", nil, nil, 200, ""},
		{"exists in eu-west-1", "exists-eu", cfg("eu-west-1"), nil, 409, "BucketAlreadyOwnedByYou"},
		{"exists elsewhere, asked in us-east-1", "exists-eu", nil, nil, 409, "BucketAlreadyOwnedByYou"},
		{"region", "in-region", cfg("ap-southeast-2"), nil, 200, ""},
		{"empty constraint", "empty-lc", cfg(""), nil, 200, ""},
		{"explicit us-east-1", "use1", cfg("us-east-1"), nil, 400, "InvalidLocationConstraint"},
		{"bogus region", "bogus-lc", cfg("moon-1"), nil, 400, "InvalidLocationConstraint"},
		{"malformed xml", "bad-xml", []byte("<CreateBucketConfiguration><Loc"), nil, 400, "MalformedXML"},
		{"wrong root", "wrong-root", []byte("<Other/>"), nil, 400, "MalformedXML"},
		{"public acl", "acl-pub", nil, map[string]string{"x-amz-acl": "public-read"}, 400, "InvalidBucketAclWithObjectOwnership"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := ts.do(rawReq{method: "PUT", path: "/" + tt.bucket, body: tt.body, header: tt.header})
			if tt.wantCode != "" {
				e := wantError(t, resp, tt.wantStatus, tt.wantCode)
				if tt.wantCode == "InvalidBucketName" || tt.wantCode == "BucketAlreadyOwnedByYou" {
					if e.BucketName != tt.bucket {
						t.Fatalf("BucketName = %q", e.BucketName)
					}
				}
				return
			}
			if resp.status != tt.wantStatus || resp.header.Get("Location") != "/"+tt.bucket {
				t.Fatalf("got %d Location=%q %s", resp.status, resp.header.Get("Location"), resp.body)
			}
		})
	}
	b, err := ts.Store.Bucket(context.Background(), "in-region")
	if err != nil || b.Region != "ap-southeast-2" {
		t.Fatalf("stored bucket = %+v, %v", b, err)
	}
	if b, _ := ts.Store.Bucket(context.Background(), "empty-lc"); b.Region != "us-east-1" {
		t.Fatalf("empty constraint region = %q", b.Region)
	}
}

func TestBucketErrorsWire(t *testing.T) {
	ts := newTestServer(t)
	ts.mkBucket("full")
	ts.putObject("full", "k", []byte("x"))
	tests := []struct {
		name, method, path string
		status             int
		code               string
	}{
		{"delete non-empty", "DELETE", "/full", 409, "BucketNotEmpty"},
		{"list missing", "GET", "/nosuch", 404, "NoSuchBucket"},
		{"location missing", "GET", "/nosuch?location", 404, "NoSuchBucket"},
		{"policy missing", "GET", "/full?policy", 404, "NoSuchBucketPolicy"},
		{"tagging missing", "GET", "/full?tagging", 404, "NoSuchTagSet"},
		{"invalid name on get", "GET", "/bad_name!", 400, "InvalidBucketName"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := wantError(t, ts.do(rawReq{method: tt.method, path: tt.path}), tt.status, tt.code)
			if tt.code == "NoSuchBucket" && e.BucketName != "nosuch" {
				t.Fatalf("BucketName = %q", e.BucketName)
			}
		})
	}
	head := ts.do(rawReq{method: "HEAD", path: "/nosuch"})
	if head.status != 404 || len(head.body) != 0 {
		t.Fatalf("HEAD missing bucket = %d %q", head.status, head.body)
	}
	hb := ts.do(rawReq{method: "HEAD", path: "/full"})
	if hb.status != 200 || hb.header.Get("X-Amz-Bucket-Region") != "us-east-1" {
		t.Fatalf("HEAD bucket = %d %v", hb.status, hb.header)
	}
	loc := ts.do(rawReq{method: "GET", path: "/full?location"})
	want := `<?xml version="1.0" encoding="UTF-8"?>` + "\n" + `<LocationConstraint xmlns="http://s3.amazonaws.com/doc/2006-03-01/"></LocationConstraint>`
	if diff := cmp.Diff(want, string(loc.body)); diff != "" {
		t.Fatalf("location body (-want +got):\n%s", diff)
	}
}

const publicReadPolicy = `{"Version":"2012-10-17","Statement":[{"Sid":"PublicRead","Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::pol/*"}]}`

func TestBucketPolicy(t *testing.T) {
	ts := newTestServer(t)
	ts.mkBucket("pol")
	ctx := context.Background()
	c := ts.Client
	if _, err := c.PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: aws.String("pol"), Policy: aws.String(publicReadPolicy)}); err != nil {
		t.Fatal(err)
	}
	got, err := c.GetBucketPolicy(ctx, &s3.GetBucketPolicyInput{Bucket: aws.String("pol")})
	if err != nil || aws.ToString(got.Policy) != publicReadPolicy {
		t.Fatalf("get policy = %v, %v", got, err)
	}
	doc, err := ts.Store.BucketConfig(ctx, "pol", sluice.ConfigPolicy)
	if err != nil || string(doc) != publicReadPolicy {
		t.Fatalf("stored policy = %q, %v", doc, err)
	}
	bad := []struct{ name, doc string }{
		{"not json", "nope"},
		{"wrong bucket", strings.ReplaceAll(publicReadPolicy, "pol/*", "other/*")},
		{"no statement", `{"Version":"2012-10-17"}`},
	}
	for _, b := range bad {
		t.Run(b.name, func(t *testing.T) {
			resp := ts.do(rawReq{method: "PUT", path: "/pol?policy", body: []byte(b.doc)})
			wantError(t, resp, 400, "MalformedPolicy")
		})
	}
	big := ts.do(rawReq{method: "PUT", path: "/pol?policy", body: []byte(`{"x":"` + strings.Repeat("a", sluice.MaxBucketPolicy) + `"}`)})
	wantError(t, big, 400, "MalformedPolicy")
	if _, err := c.DeleteBucketPolicy(ctx, &s3.DeleteBucketPolicyInput{Bucket: aws.String("pol")}); err != nil {
		t.Fatal(err)
	}
	_, err = c.GetBucketPolicy(ctx, &s3.GetBucketPolicyInput{Bucket: aws.String("pol")})
	if sdkCode(err) != "NoSuchBucketPolicy" {
		t.Fatalf("get deleted policy: %v", err)
	}
}

func TestBucketTagging(t *testing.T) {
	ts := newTestServer(t)
	ts.mkBucket("tagged")
	ctx := context.Background()
	c := ts.Client
	tags := []types.Tag{
		{Key: aws.String("TargetBucket"), Value: aws.String("photos-backup photos-eu@eu-west-1")},
		{Key: aws.String("team"), Value: aws.String("media")},
	}
	if _, err := c.PutBucketTagging(ctx, &s3.PutBucketTaggingInput{Bucket: aws.String("tagged"), Tagging: &types.Tagging{TagSet: tags}}); err != nil {
		t.Fatal(err)
	}
	out, err := c.GetBucketTagging(ctx, &s3.GetBucketTaggingInput{Bucket: aws.String("tagged")})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, tg := range out.TagSet {
		got = append(got, aws.ToString(tg.Key)+"="+aws.ToString(tg.Value))
	}
	if diff := cmp.Diff([]string{"TargetBucket=photos-backup photos-eu@eu-west-1", "team=media"}, got); diff != "" {
		t.Fatalf("tags (-want +got):\n%s", diff)
	}
	bt, err := BucketTags(ctx, ts.Store, "tagged")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]sluice.Tag{{Key: "TargetBucket", Value: "photos-backup photos-eu@eu-west-1"}, {Key: "team", Value: "media"}}, bt); diff != "" {
		t.Fatalf("BucketTags (-want +got):\n%s", diff)
	}
	if _, err := BucketTags(ctx, ts.Store, "nosuch"); !sluice.IsCode(err, sluice.ErrNoSuchBucket) {
		t.Fatalf("BucketTags on missing bucket: %v", err)
	}

	tagDoc := func(pairs ...string) []byte {
		var b strings.Builder
		b.WriteString("<Tagging><TagSet>")
		for i := 0; i+1 < len(pairs); i += 2 {
			b.WriteString("<Tag><Key>" + pairs[i] + "</Key><Value>" + pairs[i+1] + "</Value></Tag>")
		}
		b.WriteString("</TagSet></Tagging>")
		return []byte(b.String())
	}
	md5hdr := func(b []byte) map[string]string {
		s := md5.Sum(b)
		return map[string]string{"Content-MD5": base64.StdEncoding.EncodeToString(s[:])}
	}
	var many []string
	for i := range 51 {
		many = append(many, "k"+strings.Repeat("x", i), "v")
	}
	bad := []struct {
		name   string
		body   []byte
		header map[string]string
		code   string
	}{
		{"duplicate keys", tagDoc("a", "1", "a", "2"), nil, "InvalidTag"},
		{"key too long", tagDoc(strings.Repeat("k", 129), "v"), nil, "InvalidTag"},
		{"value too long", tagDoc("k", strings.Repeat("v", 257)), nil, "InvalidTag"},
		{"empty key", tagDoc("", "v"), nil, "InvalidTag"},
		{"aws prefix", tagDoc("aws:x", "v"), nil, "InvalidTag"},
		{"too many", tagDoc(many...), nil, "InvalidTag"},
		{"malformed", []byte("<Tagging><TagSet>"), nil, "MalformedXML"},
		{"bad md5", tagDoc("a", "1"), map[string]string{"Content-MD5": base64.StdEncoding.EncodeToString(make([]byte, 16))}, "BadDigest"},
		{"invalid md5", tagDoc("a", "1"), map[string]string{"Content-MD5": "nope"}, "InvalidDigest"},
		{"no md5", tagDoc("a", "1"), map[string]string{}, "InvalidRequest"},
	}
	for _, b := range bad {
		t.Run(b.name, func(t *testing.T) {
			h := b.header
			if h == nil {
				h = md5hdr(b.body)
			}
			wantError(t, ts.do(rawReq{method: "PUT", path: "/tagged?tagging", body: b.body, header: h}), 400, b.code)
		})
	}
	fifty := tagDoc(many[:100]...)
	if r := ts.do(rawReq{method: "PUT", path: "/tagged?tagging", body: fifty, header: md5hdr(fifty)}); r.status != 204 {
		t.Fatalf("50 tags: %d %s", r.status, r.body)
	}
	if _, err := c.DeleteBucketTagging(ctx, &s3.DeleteBucketTaggingInput{Bucket: aws.String("tagged")}); err != nil {
		t.Fatal(err)
	}
	_, err = c.GetBucketTagging(ctx, &s3.GetBucketTaggingInput{Bucket: aws.String("tagged")})
	if sdkCode(err) != "NoSuchTagSet" {
		t.Fatalf("get deleted tags: %v", err)
	}
}
