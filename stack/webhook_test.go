package stack

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const webhookTemplate = `Transform: AWS::Serverless-2016-10-31
Parameters:
  HookPort:
    Type: Number
    Default: 9000
  HookSecret:
    Type: String
    NoEcho: true
    Default: s3cr3t
Resources:
  Uploads:
    Type: AWS::S3::Bucket
    Properties:
      BucketName: uploads
      NotificationConfiguration:
        LambdaConfigurations:
          - Event: s3:ObjectCreated:*
            Function: !GetAtt Fn.Arn
            Filter: {S3Key: {Rules: [{Name: prefix, Value: img/}]}}
        WebhookConfigurations:
          - Url: !Sub "http://127.0.0.1:${HookPort}/hook"
            Secret: !Ref HookSecret
            Event: s3:ObjectCreated:*
            Filter:
              S3Key:
                Rules:
                  - Name: prefix
                    Value: in/
                  - Name: suffix
                    Value: .txt
            BatchSize: 10
          - Url: https://hooks.example.com/s3
            Event: s3:ObjectRemoved:*
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: src
      Handler: app.handler
      Runtime: python3.12
`

func TestWebhookConfigurations(t *testing.T) {
	st, err := load(t, webhookTemplate, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Buckets) != 1 {
		t.Fatalf("buckets: %+v", st.Buckets)
	}
	b := st.Buckets[0]
	want := []Webhook{
		{ID: "Uploads-hook-1", URL: "http://127.0.0.1:9000/hook", Secret: "s3cr3t", BatchSize: 10,
			Events: []string{"s3:ObjectCreated:*"}, Prefix: "in/", Suffix: ".txt"},
		{ID: "Uploads-hook-2", URL: "https://hooks.example.com/s3", BatchSize: 1, Events: []string{"s3:ObjectRemoved:*"}},
	}
	if diff := cmp.Diff(want, b.Webhooks); diff != "" {
		t.Errorf("webhooks (-want +got):\n%s", diff)
	}
	wantLambda := []Notification{{ID: "Uploads-1", FunctionARN: "arn:aws:lambda:us-east-1:000000000000:function:Fn",
		Events: []string{"s3:ObjectCreated:*"}, Prefix: "img/"}}
	if diff := cmp.Diff(wantLambda, b.Notifications); diff != "" {
		t.Errorf("lambda rules (-want +got):\n%s", diff)
	}

	// An override reaches the rule like any parameter.
	st, err = load(t, webhookTemplate, Options{Parameters: map[string]string{"HookSecret": "other", "HookPort": "9100"}})
	if err != nil {
		t.Fatal(err)
	}
	if w := st.Buckets[0].Webhooks[0]; w.Secret != "other" || w.URL != "http://127.0.0.1:9100/hook" {
		t.Errorf("with overrides: %+v", w)
	}
}

// TestWebhookSecretNotInModelJSON: the model is what gets dumped (golden
// files, debugging); a webhook's secret must not be part of it.
func TestWebhookSecretNotInModelJSON(t *testing.T) {
	st, err := load(t, webhookTemplate, Options{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "s3cr3t") || !strings.Contains(string(b), "http://127.0.0.1:9000/hook") {
		t.Errorf("model JSON: %s", b)
	}
}

func TestWebhookConfigurationErrors(t *testing.T) {
	// hook builds a bucket whose only webhook rule has the given lines; its
	// first property is on line 8, column 13.
	hook := func(lines ...string) string {
		return "Resources:\n  B:\n    Type: AWS::S3::Bucket\n    Properties:\n      BucketName: bb1\n      NotificationConfiguration:\n        WebhookConfigurations:\n          - " +
			strings.Join(lines, "\n            ") + "\n"
	}
	const path = "Resources.B.Properties.NotificationConfiguration.WebhookConfigurations[0]"
	tests := []struct {
		name string
		tmpl string
		want []string
	}{
		{"ftp url", hook("Url: ftp://h/x", "Event: s3:ObjectCreated:*"),
			[]string{`8:13: ` + path + `.Url: must be an absolute http:// or https:// URL, got scheme "ftp"`}},
		{"relative url", hook("Url: /hook", "Event: s3:ObjectCreated:*"),
			[]string{`8:13: ` + path + `.Url: must be an absolute http:// or https:// URL, got scheme ""`}},
		{"no host", hook("Url: 'http:///hook'", "Event: s3:ObjectCreated:*"),
			[]string{`8:13: ` + path + `.Url: must be an absolute http:// or https:// URL with a host`}},
		{"not a url", hook("Url: 'http://[::1'", "Event: s3:ObjectCreated:*"),
			[]string{`8:13: ` + path + `.Url: is not a URL: missing ']' in host`}},
		{"batch size zero", hook("Url: http://h/", "Event: s3:ObjectCreated:*", "BatchSize: 0"),
			[]string{`10:13: ` + path + `.BatchSize: must be an integer between 1 and 100, got "0"`}},
		{"batch size too big", hook("Url: http://h/", "Event: s3:ObjectCreated:*", "BatchSize: 101"),
			[]string{`10:13: ` + path + `.BatchSize: must be an integer between 1 and 100, got "101"`}},
		{"batch size not a number", hook("Url: http://h/", "Event: s3:ObjectCreated:*", "BatchSize: lots"),
			[]string{`10:13: ` + path + `.BatchSize: must be an integer between 1 and 100, got "lots"`}},
		{"unknown event", hook("Url: http://h/", "Event: s3:ObjectCreated:Nope"),
			[]string{`9:13: ` + path + `.Event: unknown S3 event "s3:ObjectCreated:Nope"`}},
		{"unknown key", hook("Url: http://h/", "Event: s3:ObjectCreated:*", "Headers: {X-A: b}"),
			[]string{`10:13: ` + path + `.Headers: unknown property (expected one of Url, Secret, Event, Filter, BatchSize)`}},
		{"url missing", hook("Event: s3:ObjectCreated:*"),
			[]string{`8:13: ` + path + `: Url is required`}},
		{"event missing", hook("Url: http://h/"),
			[]string{`8:13: ` + path + `: Event is required`}},
		{"redacted secret", hook("Url: http://h/", "Event: s3:ObjectCreated:*", "Secret: REDACTED"),
			[]string{`10:13: ` + path + `.Secret: REDACTED is what reading the configuration back shows in place of a secret; it cannot be a secret itself`}},
		{"secret not a string", hook("Url: http://h/", "Event: s3:ObjectCreated:*", "Secret: [a]"),
			[]string{`10:13: ` + path + `.Secret: must be a string, got a list`}},
		{"bad filter rule", hook("Url: http://h/", "Event: s3:ObjectCreated:*", "Filter: {S3Key: {Rules: [{Name: middle, Value: x}]}}"),
			[]string{`10:39: ` + path + `.Filter.S3Key.Rules[0].Name: must be prefix or suffix, got "middle"`}},
		{"not a list", "Resources:\n  B:\n    Type: AWS::S3::Bucket\n    Properties:\n      NotificationConfiguration:\n        WebhookConfigurations: {Url: http://h/}\n",
			[]string{`6:9: Resources.B.Properties.NotificationConfiguration.WebhookConfigurations: must be a list, got a map`}},
		{"two webhooks overlap", hook("Url: http://h/a", "Event: s3:ObjectCreated:*", "Filter: {S3Key: {Rules: [{Name: prefix, Value: in/}]}}") +
			"          - Url: http://h/b\n            Event: s3:ObjectCreated:Put\n            Filter: {S3Key: {Rules: [{Name: prefix, Value: in/x/}]}}\n",
			[]string{`2:3: Resources.B: notification rules B-hook-1 and B-hook-2 overlap (same events, overlapping prefix and suffix): S3 refuses that`}},
		{"webhook overlaps lambda rule", "Resources:\n  B:\n    Type: AWS::S3::Bucket\n    Properties:\n      NotificationConfiguration:\n" +
			"        LambdaConfigurations:\n          - {Event: s3:ObjectCreated:*, Function: arn:aws:lambda:us-east-1:000000000000:function:f}\n" +
			"        WebhookConfigurations:\n          - {Event: s3:ObjectCreated:Copy, Url: http://h/, Filter: {S3Key: {Rules: [{Name: suffix, Value: .jpg}]}}}\n",
			[]string{`2:3: Resources.B: notification rules B-1 and B-hook-1 overlap (same events, overlapping prefix and suffix): S3 refuses that`}},
		{"webhook overlaps a function's S3 event", "Transform: AWS::Serverless-2016-10-31\nResources:\n  B:\n    Type: AWS::S3::Bucket\n    Properties:\n" +
			"      NotificationConfiguration:\n        WebhookConfigurations:\n          - {Event: s3:ObjectRemoved:*, Url: http://h/}\n" +
			"  Fn:\n    Type: AWS::Serverless::Function\n    Properties:\n      CodeUri: src\n      Handler: a.b\n      Runtime: python3.12\n" +
			"      Events:\n        Gone:\n          Type: S3\n          Properties: {Bucket: !Ref B, Events: s3:ObjectRemoved:Delete}\n",
			[]string{`3:3: Resources.B: notification rules FnGone and B-hook-1 overlap (same events, overlapping prefix and suffix): S3 refuses that`}},
		{"queue names both targets", "Resources:\n  B:\n    Type: AWS::S3::Bucket\n    Properties:\n      NotificationConfiguration:\n        QueueConfigurations: []\n",
			[]string{`6:9: Resources.B.Properties.NotificationConfiguration.QueueConfigurations: not supported: Sluice delivers bucket notifications to Lambda functions (LambdaConfigurations) and webhooks (WebhookConfigurations)`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := errorLines(t, tt.tmpl, Options{})
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
}

func TestWebhooksWithoutOverlapLoad(t *testing.T) {
	// Same events with disjoint prefixes, and different event types with
	// the same filter, are what S3 accepts.
	st, err := load(t, `Resources:
  B:
    Type: AWS::S3::Bucket
    Properties:
      NotificationConfiguration:
        LambdaConfigurations:
          - {Event: s3:ObjectCreated:*, Function: arn:aws:lambda:us-east-1:000000000000:function:f, Filter: {S3Key: {Rules: [{Name: prefix, Value: a/}]}}}
        WebhookConfigurations:
          - {Event: s3:ObjectCreated:*, Url: http://h/1, Filter: {S3Key: {Rules: [{Name: prefix, Value: b/}]}}}
          - {Event: s3:ObjectRemoved:*, Url: http://h/2, Filter: {S3Key: {Rules: [{Name: prefix, Value: a/}]}}}
          - {Event: s3:ObjectCreated:*, Url: http://h/3, Filter: {S3Key: {Rules: [{Name: suffix, Value: .png}, {Name: prefix, Value: c/}]}}}
          - {Event: s3:ObjectCreated:*, Url: http://h/4, Filter: {S3Key: {Rules: [{Name: suffix, Value: .jpg}, {Name: prefix, Value: c/}]}}}
`, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(st.Buckets[0].Webhooks); n != 4 {
		t.Errorf("%d webhooks", n)
	}
}

func TestNotifyHash(t *testing.T) {
	st, err := load(t, webhookTemplate, Options{})
	if err != nil {
		t.Fatal(err)
	}
	base := st.Buckets[0]
	if notifyHash(base) != notifyHash(base) {
		t.Fatal("hash is not stable")
	}
	again, err := load(t, webhookTemplate, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if notifyHash(again.Buckets[0]) != notifyHash(base) {
		t.Error("the same template loaded twice hashes differently")
	}
	edit := func(f func(b *Bucket)) Bucket {
		b := base
		b.Webhooks = append([]Webhook(nil), base.Webhooks...)
		b.Notifications = append([]Notification(nil), base.Notifications...)
		f(&b)
		return b
	}
	changes := map[string]Bucket{
		"url":          edit(func(b *Bucket) { b.Webhooks[0].URL = "http://127.0.0.1:9001/hook" }),
		"secret":       edit(func(b *Bucket) { b.Webhooks[0].Secret = "s3cr3u" }),
		"no secret":    edit(func(b *Bucket) { b.Webhooks[0].Secret = "" }),
		"batch size":   edit(func(b *Bucket) { b.Webhooks[0].BatchSize = 9 }),
		"event":        edit(func(b *Bucket) { b.Webhooks[1].Events = []string{"s3:ObjectRemoved:Delete"} }),
		"prefix":       edit(func(b *Bucket) { b.Webhooks[0].Prefix = "inbox/" }),
		"suffix":       edit(func(b *Bucket) { b.Webhooks[0].Suffix = "" }),
		"webhook gone": edit(func(b *Bucket) { b.Webhooks = b.Webhooks[:1] }),
		"lambda rule":  edit(func(b *Bucket) { b.Notifications[0].Prefix = "pics/" }),
	}
	seen := map[string]string{notifyHash(base): "base"}
	for name, b := range changes {
		h := notifyHash(b)
		if other, dup := seen[h]; dup {
			t.Errorf("%s: same hash as %s", name, other)
		}
		seen[h] = name
	}
	// Without webhooks the hash is what states written before webhooks
	// hold, so that upgrading Sluice re-puts nothing.
	lambdaOnly := edit(func(b *Bucket) { b.Webhooks = nil })
	if got, want := notifyHash(lambdaOnly), hashOf(base.Notifications); got != want {
		t.Errorf("lambda-only hash %s, want %s", got, want)
	}
	if h := notifyHash(base); strings.Contains(h, "s3cr3t") || len(h) != 24 {
		t.Errorf("hash %q", h)
	}
}

// TestNoEchoValueNotQuoted: a NoEcho parameter (the usual source of a
// webhook Secret) that fails a check is named, its value is not shown.
func TestNoEchoValueNotQuoted(t *testing.T) {
	tmpl := "Parameters:\n  HookSecret:\n    Type: String\n    NoEcho: true\n    AllowedPattern: '[a-z]{20,}'\n    MinLength: 20\n" +
		"Resources:\n  B:\n    Type: AWS::S3::Bucket\n"
	got := errorLines(t, tmpl, Options{Parameters: map[string]string{"HookSecret": "Sh0rt!"}})
	want := []string{
		"2:3: Parameters.HookSecret: value (NoEcho) does not match the AllowedPattern [a-z]{20,}",
		"2:3: Parameters.HookSecret: value (NoEcho) is shorter than the MinLength 20",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("errors (-want +got):\n%s", diff)
	}
}
