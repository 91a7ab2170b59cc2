package cloudfront

import (
	"errors"
	"log/slog"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/sluicehq/sluice"
)

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// fuzzRefs accepts a few references so that the fuzzer reaches past them.
var fuzzRefs = refs{
	hasOAC:   func(id string) bool { return id == "EOAC" },
	hasOAI:   func(id string) bool { return id == "EOAI" },
	aliasOwn: func(a string) string { return map[string]string{"taken.example.com": "EOTHER"}[a] },
	checkFn: func(arn string) error {
		if strings.HasSuffix(arn, ":1") {
			return nil
		}
		return errors.New("no such version")
	},
}

func FuzzDistributionConfig(f *testing.F) {
	f.Add(exampleConfig)
	f.Add(`<DistributionConfig><CallerReference>r</CallerReference><Comment/><Enabled>true</Enabled>
<Origins><Quantity>1</Quantity><Items><Origin><Id>o</Id><DomainName>b.s3.localhost</DomainName><OriginPath>/p</OriginPath>
<OriginAccessControlId>EOAC</OriginAccessControlId><S3OriginConfig><OriginAccessIdentity/></S3OriginConfig></Origin></Items></Origins>
<DefaultCacheBehavior><TargetOriginId>o</TargetOriginId><ViewerProtocolPolicy>allow-all</ViewerProtocolPolicy>
<CachePolicyId>658327ea-f89d-4fab-a63d-7e88639e58f6</CachePolicyId>
<LambdaFunctionAssociations><Quantity>1</Quantity><Items><LambdaFunctionAssociation>
<LambdaFunctionARN>arn:aws:lambda:us-east-1:000000000000:function:f:1</LambdaFunctionARN><EventType>viewer-request</EventType>
<IncludeBody>true</IncludeBody></LambdaFunctionAssociation></Items></LambdaFunctionAssociations></DefaultCacheBehavior>
<CacheBehaviors><Quantity>1</Quantity><Items><CacheBehavior><PathPattern>/img/*.jpg</PathPattern><TargetOriginId>o</TargetOriginId>
<ViewerProtocolPolicy>https-only</ViewerProtocolPolicy><ForwardedValues><QueryString>true</QueryString><Cookies><Forward>none</Forward></Cookies>
<QueryStringCacheKeys><Quantity>2</Quantity><Items><Name>d</Name><Name>w</Name></Items></QueryStringCacheKeys></ForwardedValues>
<MinTTL>1</MinTTL><DefaultTTL>2</DefaultTTL><MaxTTL>3</MaxTTL></CacheBehavior></Items></CacheBehaviors>
<CustomErrorResponses><Quantity>1</Quantity><Items><CustomErrorResponse><ErrorCode>404</ErrorCode><ResponsePagePath>/404.html</ResponsePagePath>
<ResponseCode>404</ResponseCode></CustomErrorResponse></Items></CustomErrorResponses>
<Aliases><Quantity>1</Quantity><Items><CNAME>a.example.com</CNAME></Items></Aliases></DistributionConfig>`)
	f.Add(`<DistributionConfig><Origins><Quantity>1</Quantity><Items><Origin><Id>x</Id></Origin></Items></Origins></DistributionConfig>`)
	f.Add(`<a><b>text<c/></b></a>`)
	f.Add(`<DistributionConfig>&amp;&#0;</DistributionConfig>`)
	f.Add("")
	f.Fuzz(func(t *testing.T, doc string) {
		n, err := parseTree(strings.NewReader(doc))
		if err != nil {
			if !errors.Is(err, errMalformed) {
				t.Fatalf("parse error without errMalformed: %v", err)
			}
			return
		}
		// A parsed tree renders to a document that parses back to itself.
		again, err := parseTree(strings.NewReader(string(n.document())))
		if err != nil {
			t.Fatalf("rendered tree does not parse: %v\n%s", err, n.document())
		}
		if !again.equal(n) && utf8.ValidString(doc) {
			t.Fatalf("tree does not round-trip:\n%#v\n%#v", n, again)
		}
		cfg, perr := parseDistributionConfig(n, fuzzRefs)
		if perr != nil {
			if _, ok := statusByCode[perr.Code]; !ok {
				t.Fatalf("config error with a code CloudFront does not know: %v", perr)
			}
			return
		}
		// What was accepted is what the edge relies on.
		if len(cfg.Origins) == 0 || cfg.CallerReference == "" {
			t.Fatalf("accepted a config without origins or reference")
		}
		ids := map[string]bool{}
		for _, o := range cfg.Origins {
			if ids[o.ID] {
				t.Fatalf("duplicate origin %q accepted", o.ID)
			}
			ids[o.ID] = true
		}
		for _, b := range append([]sluice.CacheBehavior{cfg.DefaultCacheBehavior}, cfg.CacheBehaviors...) {
			if !ids[b.TargetOriginID] {
				t.Fatalf("behaviour targets unknown origin %q", b.TargetOriginID)
			}
			if b.MinTTL > b.DefaultTTL || b.DefaultTTL > b.MaxTTL || b.MinTTL < 0 {
				t.Fatalf("TTL order accepted: %d %d %d", b.MinTTL, b.DefaultTTL, b.MaxTTL)
			}
			if len(b.QueryStringCacheKeys) > 0 && !b.QueryString {
				t.Fatalf("cache keys without query string accepted")
			}
			if len(b.FunctionAssociations) > maxLambdaAssociations {
				t.Fatalf("too many associations accepted")
			}
			seen := map[string]bool{}
			for _, fa := range b.FunctionAssociations {
				if seen[fa.EventType] || checkLambdaARN(fa.FunctionARN) != "" {
					t.Fatalf("bad association accepted: %+v", fa)
				}
				seen[fa.EventType] = true
			}
		}
		// The rendered document yields the same model.
		cfg2, perr := parseDistributionConfig(again, fuzzRefs)
		if perr != nil || !reflect.DeepEqual(cfg, cfg2) {
			t.Fatalf("model changes across a round trip: %v", perr)
		}
	})
}

func FuzzInvalidationPath(f *testing.F) {
	for _, s := range []string{"photos.s3.us-east-1.amazonaws.com", "a.b.s3-eu-west-1.amazonaws.com", "x.s3.localhost", "/", "/*", "/index.html", "/images/*", "images/*", "/a*b", "/**", "/a b?c=1", "/\x00", "/é", "\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		err := ValidateInvalidationPath(p)
		if err == nil {
			if !strings.HasPrefix(p, "/") || len(p) > maxPathLength || !utf8.ValidString(p) {
				t.Fatalf("invalid path %q accepted", p)
			}
			if i := strings.IndexByte(p, '*'); i >= 0 && i != len(p)-1 {
				t.Fatalf("path %q with an inner * accepted", p)
			}
			if e := edgePath(p); !strings.HasPrefix(e, "/") || len(e) > len(p) {
				t.Fatalf("edgePath(%q) = %q", p, e)
			}
		}
		// Any object key becomes a valid, literal (never wildcard) path.
		if len(p) <= sluice.MaxKeyLength {
			esc := "/" + escapePath(p)
			if err := ValidateInvalidationPath(esc); err != nil {
				t.Fatalf("escaped key %q is not a valid path: %v", p, err)
			}
			if strings.ContainsAny(esc, "?#* ") {
				t.Fatalf("escaped key %q is %q: it keeps a character with a meaning in paths", p, esc)
			}
		}
		if b, ok := BucketOfDomain(p); ok {
			d := strings.ToLower(p)
			if b == "" || !strings.HasPrefix(d, b+".s3") ||
				!strings.HasSuffix(strings.TrimSuffix(d, "."), ".amazonaws.com") && !strings.HasSuffix(strings.TrimSuffix(d, "."), ".s3.localhost") {
				t.Fatalf("BucketOfDomain(%q) = %q", p, b)
			}
		}
	})
}
