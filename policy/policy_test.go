package policy

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/sluicehq/sluice"
)

const bucket = "photos"

func TestParseErrors(t *testing.T) {
	stmt := func(body string) string {
		return `{"Version":"2012-10-17","Statement":[` + body + `]}`
	}
	tests := []struct {
		name string
		doc  string
		want string // "" means the document is valid
	}{
		{"minimal valid", stmt(`{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::photos/*"}`), ""},
		{"statement as object", `{"Statement":{"Effect":"Deny","Principal":{"AWS":"*"},"Action":"s3:*","Resource":["arn:aws:s3:::photos","arn:aws:s3:::photos/*"]}}`, ""},
		{"old version", `{"Version":"2008-10-17","Id":"x","Statement":{"Effect":"Allow","Principal":"*","Action":"s3:ListBucket","Resource":"arn:aws:s3:::photos"}}`, ""},
		{"leading whitespace", "\n  " + stmt(`{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::photos/*"}`), ""},
		{"empty", ``, "Policies must be valid JSON and the first byte must be '{'"},
		{"array", `[]`, "Policies must be valid JSON and the first byte must be '{'"},
		{"bad json", `{"Statement":`, "This policy contains invalid Json"},
		{"trailing garbage", `{"Statement":[]} x`, "This policy contains invalid Json"},
		{"no statement", `{"Version":"2012-10-17"}`, "Missing required field Statement"},
		{"empty statement", stmt(``), "Could not parse the policy: Statement is empty!"},
		{"statement is string", `{"Statement":"x"}`, "This policy contains invalid Json"},
		{"bad version", `{"Version":"2020-01-01","Statement":[]}`, "The policy must contain a valid version string"},
		{"version not string", `{"Version":1,"Statement":[]}`, "The policy must contain a valid version string"},
		{"unknown top field", `{"Statment":[]}`, "Unknown field Statment"},
		{"unknown statement field", stmt(`{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::photos/*","Foo":1}`), "Unknown field Foo"},
		{"missing effect", stmt(`{"Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::photos/*"}`), "Missing required field Effect"},
		{"invalid effect", stmt(`{"Effect":"hello","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::photos/*"}`), "Invalid effect: hello"},
		{"missing principal", stmt(`{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::photos/*"}`), "Missing required field Principal"},
		{"principal and notprincipal", stmt(`{"Effect":"Allow","Principal":"*","NotPrincipal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::photos/*"}`), "Statement cannot contain both Principal and NotPrincipal"},
		{"principal bare string", stmt(`{"Effect":"Allow","Principal":"user","Action":"s3:GetObject","Resource":"arn:aws:s3:::photos/*"}`), "Invalid principal in policy"},
		{"principal aws user name", stmt(`{"Effect":"Allow","Principal":{"AWS":"user"},"Action":"s3:GetObject","Resource":"arn:aws:s3:::photos/*"}`), "Invalid principal in policy"},
		{"principal unknown type", stmt(`{"Effect":"Allow","Principal":{"Robot":"x"},"Action":"s3:GetObject","Resource":"arn:aws:s3:::photos/*"}`), "Invalid principal in policy"},
		{"principal empty object", stmt(`{"Effect":"Allow","Principal":{},"Action":"s3:GetObject","Resource":"arn:aws:s3:::photos/*"}`), "Invalid principal in policy"},
		{"principal bad service", stmt(`{"Effect":"Allow","Principal":{"Service":"cloudfront"},"Action":"s3:GetObject","Resource":"arn:aws:s3:::photos/*"}`), "Invalid principal in policy"},
		{"principal account id", stmt(`{"Effect":"Allow","Principal":{"AWS":["123456789012","arn:aws:iam::000000000000:role/r"]},"Action":"s3:GetObject","Resource":"arn:aws:s3:::photos/*"}`), ""},
		{"principal oai", stmt(`{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::cloudfront:user/CloudFront Origin Access Identity E2QWRUHAPOMQZL"},"Action":"s3:GetObject","Resource":"arn:aws:s3:::photos/*"}`), ""},
		{"missing action", stmt(`{"Effect":"Allow","Principal":"*","Resource":"arn:aws:s3:::photos/*"}`), "Statement is missing required element"},
		{"invalid action", stmt(`{"Effect":"Allow","Principal":"*","Action":"invalid_action","Resource":"arn:aws:s3:::photos/*"}`), "Policy has invalid action"},
		{"unknown s3 action", stmt(`{"Effect":"Allow","Principal":"*","Action":"s3:GetObjekt","Resource":"arn:aws:s3:::photos/*"}`), "Policy has invalid action"},
		{"other service action", stmt(`{"Effect":"Allow","Principal":"*","Action":"ec2:*","Resource":"arn:aws:s3:::photos/*"}`), "Policy has invalid action"},
		{"empty action list", stmt(`{"Effect":"Allow","Principal":"*","Action":[],"Resource":"arn:aws:s3:::photos/*"}`), "Policy has invalid action"},
		{"action case insensitive", stmt(`{"Effect":"Allow","Principal":"*","Action":"S3:getobject","Resource":"arn:aws:s3:::photos/*"}`), ""},
		{"action wildcard", stmt(`{"Effect":"Allow","Principal":"*","Action":"s3:Get*","Resource":"arn:aws:s3:::photos"}`), ""},
		{"action wildcard matching nothing", stmt(`{"Effect":"Allow","Principal":"*","Action":"s3:Frob*","Resource":"arn:aws:s3:::photos"}`), "Policy has invalid action"},
		{"missing resource", stmt(`{"Effect":"Allow","Principal":"*","Action":"s3:GetObject"}`), "Statement is missing required element"},
		{"resource star", stmt(`{"Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"*"}`), "Policy has invalid resource"},
		{"resource all buckets", stmt(`{"Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::*"}`), "Policy has invalid resource"},
		{"resource other bucket", stmt(`{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::other/*"}`), "Policy has invalid resource"},
		{"resource bucket name prefix", stmt(`{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::photos2/*"}`), "Policy has invalid resource"},
		{"resource not a string", stmt(`{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":5}`), "Policy has invalid resource"},
		{"object action on bucket", stmt(`{"Effect":"Allow","Principal":"*","Action":["s3:PutObject"],"Resource":["arn:aws:s3:::photos"]}`), "Action does not apply to any resource(s) in statement"},
		{"bucket action on objects", stmt(`{"Effect":"Allow","Principal":"*","Action":["s3:GetObject","s3:ListBucket"],"Resource":"arn:aws:s3:::photos/*"}`), "Action does not apply to any resource(s) in statement"},
		{"account action", stmt(`{"Effect":"Allow","Principal":"*","Action":"s3:ListAllMyBuckets","Resource":["arn:aws:s3:::photos","arn:aws:s3:::photos/*"]}`), "Action does not apply to any resource(s) in statement"},
		{"both kinds covered", stmt(`{"Effect":"Allow","Principal":"*","Action":["s3:GetObject","s3:ListBucket"],"Resource":["arn:aws:s3:::photos","arn:aws:s3:::photos/*"]}`), ""},
		{"notaction skips applicability", stmt(`{"Effect":"Deny","Principal":"*","NotAction":"s3:GetObject","Resource":"arn:aws:s3:::photos"}`), ""},
		{"duplicate sid", stmt(`{"Sid":"a","Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::photos/*"},{"Sid":"a","Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::photos/*"}`), "Statement IDs (SID) in a single policy must be unique."},
		{"unknown condition operator", stmt(`{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::photos/*","Condition":{"StringSortOf":{"aws:SourceArn":"x"}}}`), "Invalid Condition type : StringSortOf"},
		{"invalid condition key", stmt(`{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::photos/*","Condition":{"StringEquals":{"ec2:Region":"x"}}}`), "Policy has an invalid condition key"},
		{"invalid ip", stmt(`{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::photos/*","Condition":{"IpAddress":{"aws:SourceIp":"10.0.0.300/8"}}}`), "Invalid IP address in Conditions"},
		{"condition value object", stmt(`{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::photos/*","Condition":{"StringEquals":{"aws:SourceArn":{"a":1}}}}`), "This policy contains invalid Json"},
		{"condition qualifiers", stmt(`{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::photos/*","Condition":{"ForAnyValue:StringLikeIfExists":{"aws:SourceArn":["a","b"]},"Bool":{"aws:SecureTransport":false},"NumericLessThan":{"s3:max-keys":10}}}`), ""},
		{"too large", `{"Statement":[` + strings.Repeat(" ", sluice.MaxBucketPolicy) + `]}`, "Policy exceeds the maximum allowed document size."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Parse([]byte(tt.doc), bucket)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Parse: %v", err)
				}
				if p == nil || len(p.Statements) == 0 {
					t.Fatal("Parse returned no statements")
				}
				return
			}
			if !sluice.IsCode(err, sluice.ErrMalformedPolicy) {
				t.Fatalf("Parse error = %v, want MalformedPolicy", err)
			}
			if got := err.(*sluice.Error).Message; got != tt.want {
				t.Errorf("message = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestParseFields(t *testing.T) {
	p, err := Parse([]byte(`{"Version":"2012-10-17","Id":"pol","Statement":[
		{"Sid":"one","Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::photos/*"},
		{"Effect":"Deny","Principal":"*","Action":"s3:DeleteObject","Resource":"arn:aws:s3:::photos/*"}]}`), bucket)
	if err != nil {
		t.Fatal(err)
	}
	type summary struct {
		Version, ID string
		Sids        []string
		Effects     []Effect
	}
	got := summary{Version: p.Version, ID: p.ID}
	for _, st := range p.Statements {
		got.Sids = append(got.Sids, st.Sid)
		got.Effects = append(got.Effects, st.Effect)
	}
	want := summary{Version: "2012-10-17", ID: "pol", Sids: []string{"one", ""}, Effects: []Effect{EffectAllow, EffectDeny}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("policy (-want +got):\n%s", diff)
	}
}

const (
	root   = "arn:aws:iam::000000000000:root"
	objARN = "arn:aws:s3:::photos/a/b.jpg"
)

func TestEvaluate(t *testing.T) {
	tests := []struct {
		name   string
		policy string // statements, joined into a policy
		req    Request
		want   Decision
	}{
		{"public read allows anonymous",
			`{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::photos/*"}`,
			Request{Principal: "*", Action: "s3:GetObject", Resource: objARN}, Allow},
		{"action case insensitive",
			`{"Effect":"Allow","Principal":"*","Action":"s3:getobject","Resource":"arn:aws:s3:::photos/*"}`,
			Request{Principal: "*", Action: "s3:GetObject", Resource: objARN}, Allow},
		{"other action no decision",
			`{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::photos/*"}`,
			Request{Principal: "*", Action: "s3:PutObject", Resource: objARN}, NoDecision},
		{"resource case sensitive",
			`{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::photos/a/*"}`,
			Request{Principal: "*", Action: "s3:GetObject", Resource: "arn:aws:s3:::photos/A/b.jpg"}, NoDecision},
		{"resource question mark",
			`{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::photos/a/?.jpg"}`,
			Request{Principal: "*", Action: "s3:GetObject", Resource: objARN}, Allow},
		{"bucket resource does not cover objects",
			`{"Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::photos"}`,
			Request{Principal: "*", Action: "s3:GetObject", Resource: objARN}, NoDecision},
		{"action wildcard",
			`{"Effect":"Allow","Principal":"*","Action":"s3:Get*","Resource":"arn:aws:s3:::photos/*"}`,
			Request{Principal: "*", Action: "s3:GetObjectTagging", Resource: objARN}, Allow},
		{"deny wins over allow",
			`{"Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::photos/*"},
			 {"Effect":"Deny","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::photos/a/*"}`,
			Request{Principal: root, Action: "s3:GetObject", Resource: objARN}, Deny},
		{"deny elsewhere does not apply",
			`{"Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::photos/*"},
			 {"Effect":"Deny","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::photos/private/*"}`,
			Request{Principal: root, Action: "s3:GetObject", Resource: objARN}, Allow},
		{"aws principal exact",
			`{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::000000000000:root"},"Action":"s3:GetObject","Resource":"arn:aws:s3:::photos/*"}`,
			Request{Principal: root, Action: "s3:GetObject", Resource: objARN}, Allow},
		{"aws principal does not match anonymous",
			`{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::000000000000:root"},"Action":"s3:GetObject","Resource":"arn:aws:s3:::photos/*"}`,
			Request{Principal: "*", Action: "s3:GetObject", Resource: objARN}, NoDecision},
		{"bare account id means root",
			`{"Effect":"Allow","Principal":{"AWS":["000000000000"]},"Action":"s3:GetObject","Resource":"arn:aws:s3:::photos/*"}`,
			Request{Principal: root, Action: "s3:GetObject", Resource: objARN}, Allow},
		{"account covers its roles",
			`{"Effect":"Allow","Principal":{"AWS":"000000000000"},"Action":"s3:GetObject","Resource":"arn:aws:s3:::photos/*"}`,
			Request{Principal: "arn:aws:sts::000000000000:assumed-role/fn/session", Action: "s3:GetObject", Resource: objARN}, Allow},
		{"other account",
			`{"Effect":"Allow","Principal":{"AWS":"111111111111"},"Action":"s3:GetObject","Resource":"arn:aws:s3:::photos/*"}`,
			Request{Principal: root, Action: "s3:GetObject", Resource: objARN}, NoDecision},
		{"aws star matches anonymous",
			`{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"s3:GetObject","Resource":"arn:aws:s3:::photos/*"}`,
			Request{Principal: "*", Action: "s3:GetObject", Resource: objARN}, Allow},
		{"not principal denies everyone else",
			`{"Effect":"Deny","NotPrincipal":{"AWS":"000000000000"},"Action":"s3:*","Resource":"arn:aws:s3:::photos/*"}`,
			Request{Principal: "*", Action: "s3:GetObject", Resource: objARN}, Deny},
		{"not principal spares the named",
			`{"Effect":"Deny","NotPrincipal":{"AWS":"000000000000"},"Action":"s3:*","Resource":"arn:aws:s3:::photos/*"}`,
			Request{Principal: root, Action: "s3:GetObject", Resource: objARN}, NoDecision},
		{"not action",
			`{"Effect":"Deny","Principal":"*","NotAction":["s3:GetObject","s3:ListBucket"],"Resource":["arn:aws:s3:::photos","arn:aws:s3:::photos/*"]}`,
			Request{Principal: "*", Action: "s3:PutObject", Resource: objARN}, Deny},
		{"not action spared",
			`{"Effect":"Deny","Principal":"*","NotAction":["s3:GetObject","s3:ListBucket"],"Resource":["arn:aws:s3:::photos","arn:aws:s3:::photos/*"]}`,
			Request{Principal: "*", Action: "s3:GetObject", Resource: objARN}, NoDecision},
		{"not resource",
			`{"Effect":"Deny","Principal":"*","Action":"s3:GetObject","NotResource":"arn:aws:s3:::photos/public/*"}`,
			Request{Principal: "*", Action: "s3:GetObject", Resource: objARN}, Deny},
		{"secure transport deny",
			`{"Effect":"Deny","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::photos/*","Condition":{"Bool":{"aws:SecureTransport":"false"}}}`,
			Request{Principal: root, Action: "s3:GetObject", Resource: objARN, Context: map[string]string{"aws:SecureTransport": "false"}}, Deny},
		{"secure transport satisfied",
			`{"Effect":"Deny","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::photos/*","Condition":{"Bool":{"aws:SecureTransport":false}}}`,
			Request{Principal: root, Action: "s3:GetObject", Resource: objARN, Context: map[string]string{"aws:SecureTransport": "true"}}, NoDecision},
		{"condition key case insensitive",
			`{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::photos/*","Condition":{"StringEquals":{"AWS:SourceAccount":"000000000000"}}}`,
			Request{Principal: "*", Action: "s3:GetObject", Resource: objARN, Context: map[string]string{"aws:sourceaccount": "000000000000"}}, Allow},
		{"absent key fails positive operator",
			`{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::photos/*","Condition":{"StringEquals":{"aws:SourceAccount":"000000000000"}}}`,
			Request{Principal: "*", Action: "s3:GetObject", Resource: objARN}, NoDecision},
		{"absent key matches negated operator",
			`{"Effect":"Deny","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::photos/*","Condition":{"StringNotEquals":{"aws:SourceAccount":"000000000000"}}}`,
			Request{Principal: "*", Action: "s3:GetObject", Resource: objARN}, Deny},
		{"present key fails negated operator",
			`{"Effect":"Deny","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::photos/*","Condition":{"StringNotEquals":{"aws:SourceAccount":"000000000000"}}}`,
			Request{Principal: "*", Action: "s3:GetObject", Resource: objARN, Context: map[string]string{"aws:SourceAccount": "000000000000"}}, NoDecision},
		{"if exists with absent key",
			`{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::photos/*","Condition":{"StringEqualsIfExists":{"aws:SourceAccount":"000000000000"}}}`,
			Request{Principal: "*", Action: "s3:GetObject", Resource: objARN}, Allow},
		{"if exists with wrong value",
			`{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::photos/*","Condition":{"StringEqualsIfExists":{"aws:SourceAccount":"000000000000"}}}`,
			Request{Principal: "*", Action: "s3:GetObject", Resource: objARN, Context: map[string]string{"aws:SourceAccount": "1"}}, NoDecision},
		{"values are ORed",
			`{"Effect":"Allow","Principal":"*","Action":"s3:ListBucket","Resource":"arn:aws:s3:::photos","Condition":{"StringLike":{"s3:prefix":["home/*","public/*"]}}}`,
			Request{Principal: "*", Action: "s3:ListBucket", Resource: "arn:aws:s3:::photos", Context: map[string]string{"s3:prefix": "public/x"}}, Allow},
		{"keys are ANDed",
			`{"Effect":"Allow","Principal":"*","Action":"s3:ListBucket","Resource":"arn:aws:s3:::photos","Condition":{"StringLike":{"s3:prefix":"public/*"},"StringEquals":{"s3:delimiter":"/"}}}`,
			Request{Principal: "*", Action: "s3:ListBucket", Resource: "arn:aws:s3:::photos", Context: map[string]string{"s3:prefix": "public/x"}}, NoDecision},
		{"string not like",
			`{"Effect":"Deny","Principal":"*","Action":"s3:ListBucket","Resource":"arn:aws:s3:::photos","Condition":{"StringNotLike":{"s3:prefix":"public/*"}}}`,
			Request{Principal: "*", Action: "s3:ListBucket", Resource: "arn:aws:s3:::photos", Context: map[string]string{"s3:prefix": "private/"}}, Deny},
		{"string equals ignore case",
			`{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::photos/*","Condition":{"StringEqualsIgnoreCase":{"aws:UserAgent":"CURL"}}}`,
			Request{Principal: "*", Action: "s3:GetObject", Resource: objARN, Context: map[string]string{"aws:UserAgent": "curl"}}, Allow},
		{"ip address in range",
			`{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::photos/*","Condition":{"IpAddress":{"aws:SourceIp":["10.0.0.0/8","192.168.1.7"]}}}`,
			Request{Principal: "*", Action: "s3:GetObject", Resource: objARN, Context: map[string]string{"aws:SourceIp": "10.1.2.3"}}, Allow},
		{"ip address single host",
			`{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::photos/*","Condition":{"IpAddress":{"aws:SourceIp":["10.0.0.0/8","192.168.1.7"]}}}`,
			Request{Principal: "*", Action: "s3:GetObject", Resource: objARN, Context: map[string]string{"aws:SourceIp": "192.168.1.8"}}, NoDecision},
		{"not ip address",
			`{"Effect":"Deny","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::photos/*","Condition":{"NotIpAddress":{"aws:SourceIp":"127.0.0.0/8"}}}`,
			Request{Principal: "*", Action: "s3:GetObject", Resource: objARN, Context: map[string]string{"aws:SourceIp": "::ffff:10.0.0.1"}}, Deny},
		{"ipv6 range",
			`{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::photos/*","Condition":{"IpAddress":{"aws:SourceIp":"2001:db8::/32"}}}`,
			Request{Principal: "*", Action: "s3:GetObject", Resource: objARN, Context: map[string]string{"aws:SourceIp": "2001:db8::1"}}, Allow},
		{"arn like per component",
			`{"Effect":"Allow","Principal":{"Service":"cloudfront.amazonaws.com"},"Action":"s3:GetObject","Resource":"arn:aws:s3:::photos/*","Condition":{"ArnLike":{"aws:SourceArn":"arn:aws:cloudfront::000000000000:distribution/*"}}}`,
			Request{Principal: "cloudfront.amazonaws.com", Action: "s3:GetObject", Resource: objARN, Context: map[string]string{"aws:SourceArn": "arn:aws:cloudfront::000000000000:distribution/E9"}}, Allow},
		{"arn like star does not cross colons",
			`{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::photos/*","Condition":{"ArnLike":{"aws:SourceArn":"arn:aws:*:distribution/E9"}}}`,
			Request{Principal: "*", Action: "s3:GetObject", Resource: objARN, Context: map[string]string{"aws:SourceArn": "arn:aws:cloudfront::000000000000:distribution/E9"}}, NoDecision},
		{"arn not equals with absent key",
			`{"Effect":"Deny","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::photos/*","Condition":{"ArnNotEquals":{"aws:SourceArn":"arn:aws:cloudfront::000000000000:distribution/E9"}}}`,
			Request{Principal: "*", Action: "s3:GetObject", Resource: objARN}, Deny},
		{"numeric less than",
			`{"Effect":"Allow","Principal":"*","Action":"s3:ListBucket","Resource":"arn:aws:s3:::photos","Condition":{"NumericLessThanEquals":{"s3:max-keys":"10"}}}`,
			Request{Principal: "*", Action: "s3:ListBucket", Resource: "arn:aws:s3:::photos", Context: map[string]string{"s3:max-keys": "10"}}, Allow},
		{"numeric greater than fails",
			`{"Effect":"Allow","Principal":"*","Action":"s3:ListBucket","Resource":"arn:aws:s3:::photos","Condition":{"NumericGreaterThan":{"s3:max-keys":10}}}`,
			Request{Principal: "*", Action: "s3:ListBucket", Resource: "arn:aws:s3:::photos", Context: map[string]string{"s3:max-keys": "10"}}, NoDecision},
		{"date less than",
			`{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::photos/*","Condition":{"DateLessThan":{"aws:CurrentTime":"2030-01-01T00:00:00Z"}}}`,
			Request{Principal: "*", Action: "s3:GetObject", Resource: objARN, Context: map[string]string{"aws:CurrentTime": "2026-05-01T12:00:00Z"}}, Allow},
		{"null true when absent",
			`{"Effect":"Deny","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::photos/*","Condition":{"Null":{"aws:SourceArn":"true"}}}`,
			Request{Principal: "*", Action: "s3:GetObject", Resource: objARN}, Deny},
		{"null true when present",
			`{"Effect":"Deny","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::photos/*","Condition":{"Null":{"aws:SourceArn":"true"}}}`,
			Request{Principal: "*", Action: "s3:GetObject", Resource: objARN, Context: map[string]string{"aws:SourceArn": "x"}}, NoDecision},
		{"for all values absent key",
			`{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::photos/*","Condition":{"ForAllValues:StringEquals":{"aws:TagKeys":"a"}}}`,
			Request{Principal: "*", Action: "s3:GetObject", Resource: objARN}, Allow},
		{"for any value absent key",
			`{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::photos/*","Condition":{"ForAnyValue:StringNotEquals":{"aws:TagKeys":"a"}}}`,
			Request{Principal: "*", Action: "s3:GetObject", Resource: objARN}, NoDecision},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Parse([]byte(`{"Version":"2012-10-17","Statement":[`+tt.policy+`]}`), bucket)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if got := p.Evaluate(tt.req); got != tt.want {
				t.Errorf("Evaluate = %v, want %v", got, tt.want)
			}
		})
	}
}

// The pattern CloudFront's origin access control documents: only the named
// distribution, acting as the CloudFront service, may read the bucket.
func TestCloudFrontOriginAccessControl(t *testing.T) {
	doc := `{
	  "Version": "2012-10-17",
	  "Statement": {
	    "Sid": "AllowCloudFrontServicePrincipalReadOnly",
	    "Effect": "Allow",
	    "Principal": {"Service": "cloudfront.amazonaws.com"},
	    "Action": "s3:GetObject",
	    "Resource": "arn:aws:s3:::b/*",
	    "Condition": {"StringEquals": {"aws:SourceArn": "arn:aws:cloudfront::000000000000:distribution/E123"}}
	  }
	}`
	p, err := Parse([]byte(doc), "b")
	if err != nil {
		t.Fatal(err)
	}
	dist := map[string]string{"aws:SourceArn": "arn:aws:cloudfront::000000000000:distribution/E123"}
	tests := []struct {
		name string
		req  Request
		want Decision
	}{
		{"distribution reads", Request{Principal: "cloudfront.amazonaws.com", Action: "s3:GetObject", Resource: "arn:aws:s3:::b/photo.jpg", Context: dist}, Allow},
		{"other distribution", Request{Principal: "cloudfront.amazonaws.com", Action: "s3:GetObject", Resource: "arn:aws:s3:::b/photo.jpg",
			Context: map[string]string{"aws:SourceArn": "arn:aws:cloudfront::000000000000:distribution/E999"}}, NoDecision},
		{"no source arn", Request{Principal: "cloudfront.amazonaws.com", Action: "s3:GetObject", Resource: "arn:aws:s3:::b/photo.jpg"}, NoDecision},
		{"anonymous", Request{Principal: "*", Action: "s3:GetObject", Resource: "arn:aws:s3:::b/photo.jpg", Context: dist}, NoDecision},
		{"signed user", Request{Principal: root, Action: "s3:GetObject", Resource: "arn:aws:s3:::b/photo.jpg", Context: dist}, NoDecision},
		{"distribution writes", Request{Principal: "cloudfront.amazonaws.com", Action: "s3:PutObject", Resource: "arn:aws:s3:::b/photo.jpg", Context: dist}, NoDecision},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := p.Evaluate(tt.req); got != tt.want {
				t.Errorf("Evaluate = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestWildcardMatch(t *testing.T) {
	tests := []struct {
		name, pattern, s string
		fold, want       bool
	}{
		{"exact", "abc", "abc", false, true},
		{"empty both", "", "", false, true},
		{"empty pattern", "", "a", false, false},
		{"star empty", "*", "", false, true},
		{"star all", "a*c", "abbbc", false, true},
		{"star backtrack", "a*b*c", "aXbYbZc", false, true},
		{"star tail mismatch", "a*c", "abd", false, false},
		{"question", "a?c", "abc", false, true},
		{"question needs one", "a?c", "ac", false, false},
		{"case sensitive", "ABC", "abc", false, false},
		{"case fold", "s3:get*", "S3:GetObject", true, true},
		{"many stars", "**a**", "bab", false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := wildcardMatch(tt.pattern, tt.s, tt.fold); got != tt.want {
				t.Errorf("wildcardMatch(%q, %q) = %v, want %v", tt.pattern, tt.s, got, tt.want)
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::photos/*"}]}`), "s3:GetObject", "arn:aws:s3:::photos/x", "*")
	f.Add([]byte(`{"Statement":{"Effect":"Deny","NotPrincipal":{"AWS":["000000000000"]},"NotAction":"s3:Get*","NotResource":"arn:aws:s3:::photos/?","Condition":{"ForAnyValue:StringLikeIfExists":{"aws:SourceArn":["a*"]},"IpAddress":{"aws:SourceIp":"10.0.0.0/8"},"Null":{"s3:prefix":true},"DateGreaterThan":{"aws:CurrentTime":"2020-01-01"}}}}`), "s3:PutObject", "arn:aws:s3:::photos/xy", root)
	f.Add([]byte(`{"Statement":[{"Effect":"Allow","Principal":{"Service":"cloudfront.amazonaws.com"},"Action":["s3:*"],"Resource":["arn:aws:s3:::photos","arn:aws:s3:::photos/*"],"Condition":{"ArnLike":{"aws:SourceArn":"arn:aws:cloudfront::*:distribution/*"},"NumericEquals":{"s3:max-keys":[1,2.5]}}}]}`), "s3:ListBucket", "arn:aws:s3:::photos", "cloudfront.amazonaws.com")
	f.Add([]byte(`{"Statement":[]}`), "", "", "")
	f.Add([]byte(`{`), "", "", "")
	f.Fuzz(func(t *testing.T, doc []byte, action, resource, principal string) {
		p, err := Parse(doc, bucket)
		if err != nil {
			if !sluice.IsCode(err, sluice.ErrMalformedPolicy) {
				t.Fatalf("error without MalformedPolicy code: %v", err)
			}
			return
		}
		ctx := map[string]string{
			"aws:SourceArn": resource, "aws:SourceIp": principal, "s3:prefix": action,
			"aws:CurrentTime": principal, "s3:max-keys": action, "aws:SecureTransport": "true",
		}
		d := p.Evaluate(Request{Principal: principal, Action: action, Resource: resource, Context: ctx})
		if d != NoDecision && d != Allow && d != Deny {
			t.Fatalf("Evaluate returned %d", d)
		}
	})
}
