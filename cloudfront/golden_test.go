package cloudfront

import (
	"bytes"
	"flag"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sluicehq/sluice"
)

var update = flag.Bool("update", false, "rewrite golden files")

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s differs (-want +got):\n%s", name, diff)
	}
}

// indent pretty-prints a document so the golden files are readable.
func indent(t *testing.T, doc []byte) []byte {
	t.Helper()
	n, err := parseTree(bytes.NewReader(doc))
	if err != nil {
		t.Fatalf("response is not well-formed: %v\n%s", err, doc)
	}
	var b bytes.Buffer
	var walk func(n *node, depth int)
	walk = func(n *node, depth int) {
		pad := strings.Repeat("  ", depth)
		if len(n.Kids) == 0 {
			b.WriteString(pad + "<" + n.Name + ">")
			escapeText(&b, n.Text)
			b.WriteString("</" + n.Name + ">\n")
			return
		}
		b.WriteString(pad + "<" + n.Name + ">\n")
		for _, k := range n.Kids {
			walk(k, depth+1)
		}
		b.WriteString(pad + "</" + n.Name + ">\n")
	}
	walk(n, 0)
	return b.Bytes()
}

// exampleConfig is the DistributionConfig of the API reference's
// CreateDistribution example, as botocore serialises it.
const exampleConfig = `<?xml version="1.0" encoding="UTF-8"?>
<DistributionConfig xmlns="http://cloudfront.amazonaws.com/doc/2020-05-31/">
  <CallerReference>cli-example</CallerReference>
  <Aliases><Quantity>0</Quantity></Aliases>
  <DefaultRootObject>index.html</DefaultRootObject>
  <Origins>
    <Quantity>1</Quantity>
    <Items>
      <Origin>
        <Id>awsexamplebucket.s3.amazonaws.com-cli-example</Id>
        <DomainName>awsexamplebucket.s3.amazonaws.com</DomainName>
        <OriginPath></OriginPath>
        <CustomHeaders><Quantity>0</Quantity></CustomHeaders>
        <S3OriginConfig><OriginAccessIdentity></OriginAccessIdentity></S3OriginConfig>
      </Origin>
    </Items>
  </Origins>
  <OriginGroups><Quantity>0</Quantity></OriginGroups>
  <DefaultCacheBehavior>
    <TargetOriginId>awsexamplebucket.s3.amazonaws.com-cli-example</TargetOriginId>
    <TrustedSigners><Enabled>false</Enabled><Quantity>0</Quantity></TrustedSigners>
    <ViewerProtocolPolicy>allow-all</ViewerProtocolPolicy>
    <AllowedMethods>
      <Quantity>2</Quantity>
      <Items><Method>HEAD</Method><Method>GET</Method></Items>
      <CachedMethods><Quantity>2</Quantity><Items><Method>HEAD</Method><Method>GET</Method></Items></CachedMethods>
    </AllowedMethods>
    <SmoothStreaming>false</SmoothStreaming>
    <Compress>false</Compress>
    <LambdaFunctionAssociations><Quantity>0</Quantity></LambdaFunctionAssociations>
    <FieldLevelEncryptionId></FieldLevelEncryptionId>
    <ForwardedValues>
      <QueryString>false</QueryString>
      <Cookies><Forward>none</Forward></Cookies>
      <Headers><Quantity>0</Quantity></Headers>
      <QueryStringCacheKeys><Quantity>0</Quantity></QueryStringCacheKeys>
    </ForwardedValues>
    <MinTTL>0</MinTTL>
    <DefaultTTL>86400</DefaultTTL>
    <MaxTTL>31536000</MaxTTL>
  </DefaultCacheBehavior>
  <CacheBehaviors><Quantity>0</Quantity></CacheBehaviors>
  <CustomErrorResponses><Quantity>0</Quantity></CustomErrorResponses>
  <Comment></Comment>
  <Logging><Enabled>false</Enabled><IncludeCookies>false</IncludeCookies><Bucket></Bucket><Prefix></Prefix></Logging>
  <PriceClass>PriceClass_All</PriceClass>
  <Enabled>true</Enabled>
  <ViewerCertificate>
    <CloudFrontDefaultCertificate>true</CloudFrontDefaultCertificate>
    <MinimumProtocolVersion>TLSv1</MinimumProtocolVersion>
    <CertificateSource>cloudfront</CertificateSource>
  </ViewerCertificate>
  <Restrictions><GeoRestriction><RestrictionType>none</RestrictionType><Quantity>0</Quantity></GeoRestriction></Restrictions>
  <WebACLId></WebACLId>
  <HttpVersion>http2</HttpVersion>
  <IsIPV6Enabled>true</IsIPV6Enabled>
</DistributionConfig>`

func exampleRecord(t *testing.T) *distRecord {
	t.Helper()
	doc, err := parseTree(strings.NewReader(exampleConfig))
	if err != nil {
		t.Fatal(err)
	}
	cfg, perr := parseDistributionConfig(doc, refs{})
	if perr != nil {
		t.Fatal(perr)
	}
	at := time.Date(2019, 12, 4, 23, 35, 41, 433000000, time.UTC)
	return &distRecord{Dist: sluice.Distribution{
		ID: "EMLARXS9EXAMPLE", ARN: distributionARN("EMLARXS9EXAMPLE"), DomainName: domainOf("EMLARXS9EXAMPLE"),
		Status: sluice.DistributionDeployed, LastModified: at, ETag: "E9LHASXEXAMPLE", Config: cfg,
	}, Config: doc}
}

func TestGoldenDistribution(t *testing.T) {
	rec := exampleRecord(t)
	golden(t, "distribution.xml", indent(t, distributionNode(rec, 0).document()))
	golden(t, "distribution-summary.xml", indent(t, summaryNode(rec).document()))

	// The stored config renders exactly as sent, modulo indentation.
	want, _ := parseTree(strings.NewReader(exampleConfig))
	got, err := parseTree(bytes.NewReader(rec.Config.document()))
	if err != nil || !got.equal(want) {
		t.Errorf("config does not round-trip: %v", err)
	}
}

func TestGoldenInvalidation(t *testing.T) {
	inv := sluice.Invalidation{ID: "I2J0I21PCUYOIK", Status: sluice.InvalidationCompleted,
		CreateTime: time.Date(2019, 12, 5, 18, 40, 49, 413000000, time.UTC), CallerReference: "cli-example",
		Paths: []string{"/example-path/example-file.jpg", "/example-path/example-file2.png"}}
	golden(t, "invalidation.xml", indent(t, invalidationNode(inv).document()))
}

func TestGoldenError(t *testing.T) {
	s := &Service{}
	s.log = discardLogger()
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodGet, "/2020-05-31/distribution/EX", nil)
	req = req.WithContext(sluice.WithRequestInfo(req.Context(), sluice.RequestInfo{ID: "f5d1a8f1-example"}))
	s.WriteError(rec, req, noSuchDistribution("EX"))
	if rec.Code != 404 || rec.Header().Get("Content-Type") != "text/xml" {
		t.Errorf("status %d type %q", rec.Code, rec.Header().Get("Content-Type"))
	}
	golden(t, "error.xml", rec.Body.Bytes())

	// Authentication failures from the front door keep their meaning.
	for _, tc := range []struct {
		err    error
		code   string
		status int
	}{
		{sluice.Errorf(sluice.ErrSignatureDoesNotMatch, "bad signature"), "SignatureDoesNotMatch", 403},
		{sluice.Errorf(sluice.ErrInvalidAccessKeyID, "unknown key"), "InvalidClientTokenId", 403},
		{sluice.Errorf(sluice.ErrNoSuchKey, "store detail"), "InternalError", 500},
		{os.ErrNotExist, "InternalError", 500},
	} {
		rec := httptest.NewRecorder()
		s.WriteError(rec, req, tc.err)
		body := rec.Body.String()
		if rec.Code != tc.status || !strings.Contains(body, "<Code>"+tc.code+"</Code>") {
			t.Errorf("%v: %d %s, want %s %d", tc.err, rec.Code, body, tc.code, tc.status)
		}
		if tc.status == 500 && (strings.Contains(body, "store detail") || !strings.Contains(body, "<Type>Receiver</Type>")) {
			t.Errorf("internal error leaks detail or has the wrong type: %s", body)
		}
	}
}
