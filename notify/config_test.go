package notify

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestRuleMatches(t *testing.T) {
	tests := []struct {
		name  string
		rule  Rule
		event string
		key   string
		want  bool
	}{
		{"wildcard", Rule{Events: []string{"s3:ObjectCreated:*"}}, "ObjectCreated:Put", "a", true},
		{"wildcard other family", Rule{Events: []string{"s3:ObjectCreated:*"}}, "ObjectRemoved:Delete", "a", false},
		{"exact", Rule{Events: []string{"s3:ObjectRemoved:Delete"}}, "ObjectRemoved:Delete", "a", true},
		{"exact mismatch", Rule{Events: []string{"s3:ObjectRemoved:Delete"}}, "ObjectRemoved:DeleteMarkerCreated", "a", false},
		{"prefix and suffix", Rule{Events: []string{"s3:ObjectCreated:*"}, Prefix: "img/", Suffix: ".jpg"}, "ObjectCreated:Put", "img/a b.jpg", true},
		{"prefix miss", Rule{Events: []string{"s3:ObjectCreated:*"}, Prefix: "img/"}, "ObjectCreated:Put", "doc/a.jpg", false},
		{"suffix miss", Rule{Events: []string{"s3:ObjectCreated:*"}, Suffix: ".jpg"}, "ObjectCreated:Put", "img/a.png", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.rule.Matches(tc.event, tc.key); got != tc.want {
				t.Fatalf("Matches(%q, %q) = %v, want %v", tc.event, tc.key, got, tc.want)
			}
		})
	}
}

func TestParseRules(t *testing.T) {
	c, err := Parse([]byte(`<NotificationConfiguration>
<LambdaFunctionConfiguration><Id>l</Id><LambdaFunctionArn>arn:aws:lambda:us-east-1:000000000000:function:f</LambdaFunctionArn><Event>s3:ObjectCreated:*</Event><Filter><S3Key><FilterRule><Name>prefix</Name><Value>in/</Value></FilterRule></S3Key></Filter></LambdaFunctionConfiguration>
<WebhookConfiguration><Id>w</Id><Url>http://127.0.0.1:1/x</Url><Secret>k</Secret><Event>s3:ObjectRemoved:*</Event><Filter><S3Key><FilterRule><Name>Suffix</Name><Value>.txt</Value></FilterRule></S3Key></Filter></WebhookConfiguration>
</NotificationConfiguration>`))
	if err != nil {
		t.Fatal(err)
	}
	want := []Rule{
		{ID: "l", Kind: "lambda", Target: "arn:aws:lambda:us-east-1:000000000000:function:f", Events: []string{"s3:ObjectCreated:*"}, Prefix: "in/"},
		{ID: "w", Kind: "webhook", Target: "http://127.0.0.1:1/x", Secret: "k", Events: []string{"s3:ObjectRemoved:*"}, Suffix: ".txt"},
	}
	if d := cmp.Diff(want, c.Rules()); d != "" {
		t.Fatalf("rules (-want +got):\n%s", d)
	}
}

// FuzzNotificationXML checks that the parser never panics and that an
// accepted configuration re-serializes to a document that parses to the
// same configuration and serializes identically.
func FuzzNotificationXML(f *testing.F) {
	for _, s := range []string{
		`<NotificationConfiguration/>`,
		`<NotificationConfiguration><CloudFunctionConfiguration><Id>a</Id><CloudFunction>arn:aws:lambda:us-east-1:000000000000:function:f</CloudFunction><Event>s3:ObjectCreated:*</Event></CloudFunctionConfiguration></NotificationConfiguration>`,
		`<NotificationConfiguration><WebhookConfiguration><Url>http://h/x</Url><Secret>s</Secret><Event>s3:ObjectRemoved:Delete</Event><Filter><S3Key><FilterRule><Name>prefix</Name><Value>a &amp; b</Value></FilterRule></S3Key></Filter></WebhookConfiguration></NotificationConfiguration>`,
		`<NotificationConfiguration><CloudFunctionConfiguration><Event>s3:ObjectCreated:Put</Event><Events><Event>s3:ObjectCreated:Copy</Event></Events><CloudFunction>f</CloudFunction><InvocationRole>r</InvocationRole></CloudFunctionConfiguration></NotificationConfiguration>`,
		`<NotificationConfiguration><QueueConfiguration><Queue>q</Queue><Event>s3:ObjectCreated:*</Event></QueueConfiguration><EventBridgeConfiguration/></NotificationConfiguration>`,
		`<NotificationConfiguration><LambdaFunctionConfiguration><Id>x</Id><LambdaFunctionArn>f</LambdaFunctionArn><Event>s3:ObjectCreated:*</Event></LambdaFunctionConfiguration><LambdaFunctionConfiguration><Id>y</Id><LambdaFunctionArn>g</LambdaFunctionArn><Event>s3:ObjectCreated:Put</Event></LambdaFunctionConfiguration></NotificationConfiguration>`,
		`<x/>`, ``, `<NotificationConfiguration>`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		c, err := Parse(doc)
		if err != nil {
			return
		}
		out, err := c.Marshal()
		if err != nil {
			t.Fatalf("marshal accepted configuration: %v", err)
		}
		c2, err := Parse(out)
		if err != nil {
			t.Fatalf("re-parse of %s: %v", out, err)
		}
		if d := cmp.Diff(c, c2); d != "" {
			t.Fatalf("re-parse differs (-first +second):\n%s\ndoc: %s", d, out)
		}
		out2, err := c2.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		if string(out) != string(out2) {
			t.Fatalf("serializations differ:\n%s\n%s", out, out2)
		}
	})
}
