package notify

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/sluicehq/sluice"
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
		{"removed wildcard covers markers", Rule{Events: []string{"s3:ObjectRemoved:*"}}, "ObjectRemoved:DeleteMarkerCreated", "a", true},
		{"exact marker", Rule{Events: []string{"s3:ObjectRemoved:DeleteMarkerCreated"}}, "ObjectRemoved:DeleteMarkerCreated", "a", true},
		{"marker rule skips deletes", Rule{Events: []string{"s3:ObjectRemoved:DeleteMarkerCreated"}}, "ObjectRemoved:Delete", "a", false},
		{"lifecycle marker is not a client's", Rule{Events: []string{"s3:LifecycleExpiration:DeleteMarkerCreated"}}, "ObjectRemoved:DeleteMarkerCreated", "a", false},
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
<WebhookConfiguration><Id>b</Id><Url>http://127.0.0.1:1/b</Url><BatchSize>25</BatchSize><Event>s3:ObjectCreated:*</Event><Filter><S3Key><FilterRule><Name>prefix</Name><Value>out/</Value></FilterRule></S3Key></Filter></WebhookConfiguration>
</NotificationConfiguration>`))
	if err != nil {
		t.Fatal(err)
	}
	want := []Rule{
		{ID: "l", Kind: "lambda", Target: "arn:aws:lambda:us-east-1:000000000000:function:f", Batch: 1, Events: []string{"s3:ObjectCreated:*"}, Prefix: "in/"},
		{ID: "w", Kind: "webhook", Target: "http://127.0.0.1:1/x", Secret: "k", Batch: 1, Events: []string{"s3:ObjectRemoved:*"}, Suffix: ".txt"},
		{ID: "b", Kind: "webhook", Target: "http://127.0.0.1:1/b", Batch: 25, Events: []string{"s3:ObjectCreated:*"}, Prefix: "out/"},
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
		red, err := Redact(out)
		if err != nil {
			t.Fatalf("redact %s: %v", out, err)
		}
		rc, err := Parse(red)
		if err != nil {
			t.Fatalf("re-parse of redacted %s: %v", red, err)
		}
		for i, w := range rc.Webhooks {
			if w.Secret != "" && w.Secret != RedactedSecret || (w.Secret == "") != (c.Webhooks[i].Secret == "") {
				t.Fatalf("rule %q: secret %q after redaction of %q", w.ID, w.Secret, c.Webhooks[i].Secret)
			}
		}
	})
}

func TestUpdateNotificationKeepsSecrets(t *testing.T) {
	hook := func(id, secret string) string {
		sec := ""
		if secret != "" {
			sec = "<Secret>" + secret + "</Secret>"
		}
		return `<WebhookConfiguration><Id>` + id + `</Id><Url>http://127.0.0.1:1/` + id + `</Url>` + sec + `<Event>s3:ObjectCreated:` + id + `</Event></WebhookConfiguration>`
	}
	doc := func(rules ...string) []byte {
		out := `<NotificationConfiguration>`
		for _, r := range rules {
			out += r
		}
		return []byte(out + `</NotificationConfiguration>`)
	}
	current := doc(hook("Put", "k1"), hook("Copy", ""))
	tests := []struct {
		name    string
		doc     []byte
		current []byte
		want    map[string]string // rule Id -> stored secret
		wantErr bool
	}{
		{"marker keeps the secret of the same Id", doc(hook("Put", RedactedSecret)), current, map[string]string{"Put": "k1"}, false},
		{"new secret replaces", doc(hook("Put", "k2")), current, map[string]string{"Put": "k2"}, false},
		{"no secret removes", doc(hook("Put", "")), current, map[string]string{"Put": ""}, false},
		{"marker for a rule without a secret", doc(hook("Copy", RedactedSecret)), current, nil, true},
		{"marker for an unknown Id", doc(hook("Post", RedactedSecret)), current, nil, true},
		{"marker with nothing stored", doc(hook("Put", RedactedSecret)), nil, nil, true},
		{"marker with a stored document that does not parse", doc(hook("Put", RedactedSecret)), []byte("<x"), nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := Validator{}.UpdateNotification(t.Context(), "b", tc.doc, tc.current, false)
			if tc.wantErr {
				if err == nil {
					t.Fatalf("stored %s, want an error", out)
				}
				if !sluice.IsCode(err, sluice.ErrInvalidArgument) || !strings.Contains(err.Error(), "Secret") {
					t.Fatalf("error %v does not name the Secret", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			c, err := Parse(out)
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]string{}
			for _, w := range c.Webhooks {
				got[w.ID] = w.Secret
			}
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Fatalf("stored secrets (-want +got):\n%s", d)
			}
		})
	}
}

func TestRedact(t *testing.T) {
	stored, err := Validator{}.ValidateNotification(t.Context(), "b", []byte(`<NotificationConfiguration>`+
		`<WebhookConfiguration><Id>a</Id><Url>http://127.0.0.1:1/a</Url><Secret>top-secret</Secret><Event>s3:ObjectCreated:*</Event></WebhookConfiguration>`+
		`<WebhookConfiguration><Id>b</Id><Url>http://127.0.0.1:1/b</Url><Event>s3:ObjectRemoved:*</Event></WebhookConfiguration>`+
		`</NotificationConfiguration>`))
	if err != nil {
		t.Fatal(err)
	}
	red, err := Redact(stored)
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Replace(string(stored), "<Secret>top-secret</Secret>", "<Secret>"+RedactedSecret+"</Secret>", 1)
	if d := cmp.Diff(want, string(red)); d != "" {
		t.Fatalf("redacted (-want +got):\n%s", d)
	}
	plain := []byte(`<NotificationConfiguration></NotificationConfiguration>`)
	if got, err := Redact(plain); err != nil || string(got) != string(plain) {
		t.Fatalf("Redact of a document without secrets = %s, %v", got, err)
	}
}

func TestWebhookBatchSize(t *testing.T) {
	doc := func(n string) []byte {
		return []byte(`<NotificationConfiguration><WebhookConfiguration><Id>w</Id><Url>http://127.0.0.1:1/w</Url><BatchSize>` + n +
			`</BatchSize><Event>s3:ObjectCreated:*</Event></WebhookConfiguration></NotificationConfiguration>`)
	}
	tests := []struct {
		name      string
		size      string
		wantBatch int
		wantErr   bool
	}{
		{"one", "1", 1, false},
		{"the most", "100", 100, false},
		{"zero is one", "0", 1, false},
		{"too many", "101", 0, true},
		{"negative", "-1", 0, true},
		{"not a number", "ten", 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := Validator{}.ValidateNotification(t.Context(), "b", doc(tc.size))
			if tc.wantErr {
				if err == nil {
					t.Fatalf("stored %s, want an error", out)
				}
				if c := sluice.ErrorCode(err); c != sluice.ErrInvalidArgument && c != sluice.ErrMalformedXML {
					t.Fatalf("error %v: code %q, want InvalidArgument or MalformedXML", err, c)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			c, err := Parse(out)
			if err != nil {
				t.Fatal(err)
			}
			if got := c.Rules()[0].Batch; got != tc.wantBatch {
				t.Fatalf("batch %d, want %d", got, tc.wantBatch)
			}
		})
	}
}

// TestDeleteMarkerRules: a configuration may name delete markers on their
// own, beside plain deletes, but not beside ObjectRemoved:* on overlapping
// keys, which already covers them.
func TestDeleteMarkerRules(t *testing.T) {
	rule := func(id, event, prefix string) string {
		return `<WebhookConfiguration><Id>` + id + `</Id><Url>http://127.0.0.1:1/` + id + `</Url><Event>` + event +
			`</Event><Filter><S3Key><FilterRule><Name>prefix</Name><Value>` + prefix + `</Value></FilterRule></S3Key></Filter></WebhookConfiguration>`
	}
	tests := []struct {
		name    string
		rules   string
		wantErr bool
	}{
		{"markers alone", rule("m", "s3:ObjectRemoved:DeleteMarkerCreated", ""), false},
		{"markers and deletes apart", rule("m", "s3:ObjectRemoved:DeleteMarkerCreated", "a/") + rule("d", "s3:ObjectRemoved:Delete", "a/"), false},
		{"markers under a removed wildcard", rule("m", "s3:ObjectRemoved:DeleteMarkerCreated", "a/") + rule("all", "s3:ObjectRemoved:*", ""), true},
		{"wildcard on other keys", rule("m", "s3:ObjectRemoved:DeleteMarkerCreated", "a/") + rule("all", "s3:ObjectRemoved:*", "b/"), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := Validator{}.ValidateNotification(t.Context(), "b", []byte(`<NotificationConfiguration>`+tc.rules+`</NotificationConfiguration>`))
			if tc.wantErr {
				if sluice.ErrorCode(err) != sluice.ErrInvalidArgument {
					t.Fatalf("stored %s, %v; want InvalidArgument", out, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			c, err := Parse(out)
			if err != nil {
				t.Fatal(err)
			}
			if !c.Rules()[0].Matches(sluice.EventObjectRemovedMarker, "a/x") {
				t.Errorf("rule %+v does not match a delete marker on a/x", c.Rules()[0])
			}
		})
	}
}
