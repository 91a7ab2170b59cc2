package s3api

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	"github.com/google/go-cmp/cmp"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/fsstore"
	"github.com/sluicehq/sluice/notify"
)

// functionSet is the set of functions that exist, standing in for the
// lambda registry at the validator's seam.
type functionSet map[string]bool

func (f functionSet) FunctionExists(_ context.Context, arn string) (bool, error) { return f[arn], nil }

const (
	fnA = "arn:aws:lambda:us-east-1:000000000000:function:a"
	fnB = "arn:aws:lambda:us-east-1:000000000000:function:b"
)

func newNotificationServer(t *testing.T, opts ...Option) *testServer {
	t.Helper()
	st, err := fsstore.Open(testStoreConfig(t.TempDir()))
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	return serveTest(t, DefaultConfig(), st, opts...)
}

func filter(rules ...types.FilterRule) *types.NotificationConfigurationFilter {
	return &types.NotificationConfigurationFilter{Key: &types.S3KeyFilter{FilterRules: rules}}
}

func prefix(v string) types.FilterRule {
	return types.FilterRule{Name: types.FilterRuleNamePrefix, Value: aws.String(v)}
}
func suffix(v string) types.FilterRule {
	return types.FilterRule{Name: types.FilterRuleNameSuffix, Value: aws.String(v)}
}

func TestNotificationRoundTrip(t *testing.T) {
	ts := newNotificationServer(t, WithNotifications(notify.Validator{Functions: functionSet{fnA: true, fnB: true}}))
	ctx := context.Background()
	b := ts.mkBucket("notes")

	got, err := ts.Client.GetBucketNotificationConfiguration(ctx, &s3.GetBucketNotificationConfigurationInput{Bucket: aws.String(b)})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.LambdaFunctionConfigurations)+len(got.QueueConfigurations)+len(got.TopicConfigurations) != 0 {
		t.Fatalf("fresh bucket has notifications: %+v", got)
	}

	in := &types.NotificationConfiguration{LambdaFunctionConfigurations: []types.LambdaFunctionConfiguration{
		{Id: aws.String("images"), LambdaFunctionArn: aws.String(fnA), Events: []types.Event{"s3:ObjectCreated:*"}, Filter: filter(prefix("img/"), suffix(".jpg"))},
		{LambdaFunctionArn: aws.String(fnB), Events: []types.Event{"s3:ObjectRemoved:Delete", "s3:ObjectCreated:Put"}, Filter: filter(prefix("docs/"))},
	}}
	if _, err := ts.Client.PutBucketNotificationConfiguration(ctx, &s3.PutBucketNotificationConfigurationInput{Bucket: aws.String(b), NotificationConfiguration: in}); err != nil {
		t.Fatal(err)
	}
	got, err = ts.Client.GetBucketNotificationConfiguration(ctx, &s3.GetBucketNotificationConfigurationInput{Bucket: aws.String(b)})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.LambdaFunctionConfigurations) != 2 {
		t.Fatalf("got %d lambda configurations, want 2", len(got.LambdaFunctionConfigurations))
	}
	generated := aws.ToString(got.LambdaFunctionConfigurations[1].Id)
	if generated == "" {
		t.Fatal("a rule without Id got no generated Id")
	}
	want := in.LambdaFunctionConfigurations
	want[1].Id = aws.String(generated)
	// S3 answers filter rule names capitalized whatever case was sent.
	for _, c := range want {
		for i := range c.Filter.Key.FilterRules {
			c.Filter.Key.FilterRules[i].Name = map[types.FilterRuleName]types.FilterRuleName{"prefix": "Prefix", "suffix": "Suffix"}[c.Filter.Key.FilterRules[i].Name]
		}
	}
	opts := cmp.Options{cmp.FilterPath(func(p cmp.Path) bool { return strings.HasSuffix(p.String(), "noSmithyDocumentSerde") }, cmp.Ignore())}
	if d := cmp.Diff(want, got.LambdaFunctionConfigurations, opts); d != "" {
		t.Fatalf("configuration round trip (-want +got):\n%s", d)
	}

	// An empty configuration clears the bucket's notifications.
	if _, err := ts.Client.PutBucketNotificationConfiguration(ctx, &s3.PutBucketNotificationConfigurationInput{Bucket: aws.String(b), NotificationConfiguration: &types.NotificationConfiguration{}}); err != nil {
		t.Fatal(err)
	}
	if doc, _ := ts.Store.BucketConfig(ctx, b, sluice.ConfigNotification); doc != nil {
		t.Fatalf("empty configuration left a document: %s", doc)
	}
	r := ts.do(rawReq{method: "GET", path: "/" + b + "?notification"})
	if r.status != 200 || !strings.Contains(string(r.body), `<NotificationConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"></NotificationConfiguration>`) {
		t.Fatalf("GET after clear = %d %s", r.status, r.body)
	}
}

func TestNotificationLegacyAndWebhook(t *testing.T) {
	ts := newNotificationServer(t, WithNotifications(notify.Validator{Functions: functionSet{fnA: true}}))
	b := ts.mkBucket("legacy")
	body := `<NotificationConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
<CloudFunctionConfiguration><Id>old</Id><Event>s3:ObjectCreated:Put</Event><CloudFunction>` + fnA + `</CloudFunction><InvocationRole>arn:aws:iam::000000000000:role/r</InvocationRole></CloudFunctionConfiguration>
<WebhookConfiguration><Id>hook</Id><Url>http://127.0.0.1:9/hook</Url><Secret>s3cr3t</Secret><Event>s3:ObjectRemoved:*</Event></WebhookConfiguration>
</NotificationConfiguration>`
	if r := ts.do(rawReq{method: "PUT", path: "/" + b + "?notification", body: []byte(body)}); r.status != 200 {
		t.Fatalf("PUT = %d %s", r.status, r.body)
	}
	r := ts.do(rawReq{method: "GET", path: "/" + b + "?notification"})
	for _, want := range []string{
		`<CloudFunctionConfiguration><Id>old</Id><CloudFunction>` + fnA + `</CloudFunction><Event>s3:ObjectCreated:Put</Event></CloudFunctionConfiguration>`,
		`<WebhookConfiguration><Id>hook</Id><Url>http://127.0.0.1:9/hook</Url><Secret>` + notify.RedactedSecret + `</Secret><Event>s3:ObjectRemoved:*</Event></WebhookConfiguration>`,
	} {
		if !strings.Contains(string(r.body), want) {
			t.Errorf("GET body lacks %s:\n%s", want, r.body)
		}
	}
	if strings.Contains(string(r.body), "s3cr3t") {
		t.Errorf("GET shows the webhook secret: %s", r.body)
	}
	if strings.Contains(string(r.body), "InvocationRole") {
		t.Errorf("legacy form was not normalized: %s", r.body)
	}
}

func TestNotificationValidationErrors(t *testing.T) {
	ts := newNotificationServer(t, WithNotifications(notify.Validator{Functions: functionSet{fnA: true, fnB: true}}))
	b := ts.mkBucket("invalid")
	lambda := func(id, arn string, f *types.NotificationConfigurationFilter, events ...types.Event) types.LambdaFunctionConfiguration {
		return types.LambdaFunctionConfiguration{Id: aws.String(id), LambdaFunctionArn: aws.String(arn), Events: events, Filter: f}
	}
	tests := []struct {
		name    string
		cfg     types.NotificationConfiguration
		code    string
		message string
	}{
		{"unknown event", types.NotificationConfiguration{LambdaFunctionConfigurations: []types.LambdaFunctionConfiguration{
			lambda("x", fnA, nil, "s3:ObjectCreated:Nope")}},
			"InvalidArgument", "The event is not supported for notifications"},
		{"overlap same prefix", types.NotificationConfiguration{LambdaFunctionConfigurations: []types.LambdaFunctionConfiguration{
			lambda("x", fnA, filter(prefix("img/")), "s3:ObjectCreated:*"),
			lambda("y", fnB, filter(prefix("img/")), "s3:ObjectCreated:Put")}},
			"InvalidArgument", "Configurations overlap. Configurations on the same bucket cannot share a common event type."},
		{"overlap nested prefix", types.NotificationConfiguration{LambdaFunctionConfigurations: []types.LambdaFunctionConfiguration{
			lambda("x", fnA, filter(prefix("img/")), "s3:ObjectCreated:Put"),
			lambda("y", fnB, filter(prefix("img/thumbs/"), suffix(".png")), "s3:ObjectCreated:Put")}},
			"InvalidArgument", "Configurations overlap. Configurations on the same bucket cannot share a common event type."},
		{"missing function", types.NotificationConfiguration{LambdaFunctionConfigurations: []types.LambdaFunctionConfiguration{
			lambda("x", "arn:aws:lambda:us-east-1:000000000000:function:ghost", nil, "s3:ObjectCreated:*")}},
			"InvalidArgument", "Unable to validate the following destination configurations"},
		{"two prefixes", types.NotificationConfiguration{LambdaFunctionConfigurations: []types.LambdaFunctionConfiguration{
			lambda("x", fnA, filter(prefix("a"), prefix("b")), "s3:ObjectCreated:*")}},
			"InvalidArgument", "Cannot specify more than one prefix rule in a filter."},
		{"bad filter name", types.NotificationConfiguration{LambdaFunctionConfigurations: []types.LambdaFunctionConfiguration{
			lambda("x", fnA, filter(types.FilterRule{Name: "middle", Value: aws.String("x")}), "s3:ObjectCreated:*")}},
			"InvalidArgument", "filter rule name must be either prefix or suffix"},
		{"duplicate id", types.NotificationConfiguration{LambdaFunctionConfigurations: []types.LambdaFunctionConfiguration{
			lambda("x", fnA, filter(prefix("a/")), "s3:ObjectCreated:*"),
			lambda("x", fnB, filter(prefix("b/")), "s3:ObjectCreated:*")}},
			"InvalidArgument", "Same ID used for multiple configurations. IDs must be unique."},
		{"queue", types.NotificationConfiguration{QueueConfigurations: []types.QueueConfiguration{
			{QueueArn: aws.String("arn:aws:sqs:us-east-1:000000000000:q"), Events: []types.Event{"s3:ObjectCreated:*"}}}},
			"NotImplemented", "QueueConfiguration destinations (SQS) are not implemented by Sluice"},
		{"topic", types.NotificationConfiguration{TopicConfigurations: []types.TopicConfiguration{
			{TopicArn: aws.String("arn:aws:sns:us-east-1:000000000000:t"), Events: []types.Event{"s3:ObjectCreated:*"}}}},
			"NotImplemented", "TopicConfiguration destinations (SNS) are not implemented by Sluice"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ts.Client.PutBucketNotificationConfiguration(context.Background(), &s3.PutBucketNotificationConfigurationInput{Bucket: aws.String(b), NotificationConfiguration: &tc.cfg})
			var ae smithy.APIError
			if !errors.As(err, &ae) {
				t.Fatalf("want %s, got %v", tc.code, err)
			}
			if ae.ErrorCode() != tc.code || ae.ErrorMessage() != tc.message {
				t.Fatalf("got %s %q, want %s %q", ae.ErrorCode(), ae.ErrorMessage(), tc.code, tc.message)
			}
		})
	}
	if doc, _ := ts.Store.BucketConfig(context.Background(), b, sluice.ConfigNotification); doc != nil {
		t.Fatalf("a rejected configuration was stored: %s", doc)
	}

	// The error document names the argument as S3 does.
	r := ts.do(rawReq{method: "PUT", path: "/" + b + "?notification", body: []byte(`<NotificationConfiguration><LambdaFunctionConfiguration><CloudFunction>` + fnA + `</CloudFunction><Event>s3:Bogus</Event></LambdaFunctionConfiguration></NotificationConfiguration>`)})
	e := wantError(t, r, 400, "InvalidArgument")
	if e.ArgumentName != "Event" || e.ArgumentValue != "s3:Bogus" {
		t.Fatalf("argument = %q %q", e.ArgumentName, e.ArgumentValue)
	}
	r = ts.do(rawReq{method: "PUT", path: "/" + b + "?notification", body: []byte(`<NotificationConfiguration><LambdaFunctionConfiguration>`)})
	wantError(t, r, 400, "MalformedXML")
	r = ts.do(rawReq{method: "PUT", path: "/nobucket?notification", body: []byte(`<NotificationConfiguration/>`)})
	wantError(t, r, 404, "NoSuchBucket")
}

// TestNotificationSecretRoundTrip reads a configuration back (its webhook
// secrets redacted), edits it and writes it back: the rules that came back
// with the redaction marker keep their stored secrets.
func TestNotificationSecretRoundTrip(t *testing.T) {
	ts := newNotificationServer(t, WithNotifications(notify.Validator{}))
	b := ts.mkBucket("secrets")
	hook := func(id, secret, prefix string) string {
		sec := ""
		if secret != "" {
			sec = "<Secret>" + secret + "</Secret>"
		}
		return `<WebhookConfiguration><Id>` + id + `</Id><Url>http://127.0.0.1:9/` + id + `</Url>` + sec +
			`<Event>s3:ObjectCreated:*</Event><Filter><S3Key><FilterRule><Name>Prefix</Name><Value>` + prefix + `</Value></FilterRule></S3Key></Filter></WebhookConfiguration>`
	}
	doc := func(rules ...string) []byte {
		return []byte(`<NotificationConfiguration>` + strings.Join(rules, "") + `</NotificationConfiguration>`)
	}
	put := func(body []byte) rawResp {
		return ts.do(rawReq{method: "PUT", path: "/" + b + "?notification", body: body})
	}
	storedSecrets := func() map[string]string {
		raw, err := ts.Store.BucketConfig(context.Background(), b, sluice.ConfigNotification)
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := notify.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]string{}
		for _, w := range cfg.Webhooks {
			out[w.ID] = w.Secret
		}
		return out
	}
	if r := put(doc(hook("a", "secret-a", "a/"), hook("b", "secret-b", "b/"), hook("c", "", "c/"))); r.status != 200 {
		t.Fatalf("PUT = %d %s", r.status, r.body)
	}
	got := ts.do(rawReq{method: "GET", path: "/" + b + "?notification"})
	if got.status != 200 {
		t.Fatalf("GET = %d %s", got.status, got.body)
	}
	if strings.Contains(string(got.body), "secret-") {
		t.Fatalf("GET shows a webhook secret: %s", got.body)
	}
	if n := strings.Count(string(got.body), "<Secret>"+notify.RedactedSecret+"</Secret>"); n != 2 {
		t.Fatalf("GET has %d redacted secrets, want 2 (rule c has none): %s", n, got.body)
	}

	// Written back as read: every secret stays.
	if r := put(got.body); r.status != 200 {
		t.Fatalf("PUT of the GET answer = %d %s", r.status, r.body)
	}
	if diff := cmp.Diff(map[string]string{"a": "secret-a", "b": "secret-b", "c": ""}, storedSecrets()); diff != "" {
		t.Errorf("secrets after a round trip (-want +got):\n%s", diff)
	}

	// Edited: a's prefix changes and keeps its secret, b gets a new
	// secret, a new rule d comes with its own.
	edited := strings.Replace(string(got.body), "<Value>a/</Value>", "<Value>a2/</Value>", 1)
	edited = strings.Replace(edited, "<Id>b</Id><Url>http://127.0.0.1:9/b</Url><Secret>"+notify.RedactedSecret+"</Secret>", "<Id>b</Id><Url>http://127.0.0.1:9/b</Url><Secret>secret-b2</Secret>", 1)
	edited = strings.Replace(edited, "</NotificationConfiguration>", hook("d", "secret-d", "d/")+"</NotificationConfiguration>", 1)
	if r := put([]byte(edited)); r.status != 200 {
		t.Fatalf("PUT of the edited answer = %d %s", r.status, r.body)
	}
	if diff := cmp.Diff(map[string]string{"a": "secret-a", "b": "secret-b2", "c": "", "d": "secret-d"}, storedSecrets()); diff != "" {
		t.Errorf("secrets after an edit (-want +got):\n%s", diff)
	}

	// The marker for a rule without a stored secret (c) or an unknown Id
	// is refused, and the stored configuration stays.
	for _, body := range [][]byte{
		doc(hook("c", notify.RedactedSecret, "c/")),
		doc(hook("zz", notify.RedactedSecret, "z/")),
	} {
		e := wantError(t, put(body), 400, "InvalidArgument")
		if e.ArgumentName != "Secret" || e.ArgumentValue != notify.RedactedSecret {
			t.Errorf("argument = %q %q, want Secret %s", e.ArgumentName, e.ArgumentValue, notify.RedactedSecret)
		}
	}
	if diff := cmp.Diff(map[string]string{"a": "secret-a", "b": "secret-b2", "c": "", "d": "secret-d"}, storedSecrets()); diff != "" {
		t.Errorf("secrets after refused puts (-want +got):\n%s", diff)
	}
}

func TestNotificationWithoutValidator(t *testing.T) {
	ts := newNotificationServer(t)
	b := ts.mkBucket("plain")
	r := ts.do(rawReq{method: "PUT", path: "/" + b + "?notification", body: []byte(`<NotificationConfiguration/>`)})
	wantError(t, r, 501, "NotImplemented")
	r = ts.do(rawReq{method: "GET", path: "/" + b + "?notification"})
	if r.status != 200 {
		t.Fatalf("GET = %d %s", r.status, r.body)
	}
	// A document stored by a server that had notifications is not shown
	// by one without: only the validator knows what in it is secret.
	doc := []byte(`<NotificationConfiguration><WebhookConfiguration><Id>h</Id><Url>http://127.0.0.1:9/</Url><Secret>s3cr3t</Secret><Event>s3:ObjectCreated:*</Event></WebhookConfiguration></NotificationConfiguration>`)
	if err := ts.Store.PutBucketConfig(context.Background(), b, sluice.ConfigNotification, doc); err != nil {
		t.Fatal(err)
	}
	r = ts.do(rawReq{method: "GET", path: "/" + b + "?notification"})
	wantError(t, r, 501, "NotImplemented")
	if strings.Contains(string(r.body), "s3cr3t") {
		t.Fatalf("GET without a validator shows the secret: %s", r.body)
	}
}

// TestNotificationSkipDestinationValidation: x-amz-skip-destination-validation
// (the SDK's SkipDestinationValidation) accepts a Lambda function that does
// not exist yet; without it the same document is refused. Destinations
// Sluice cannot deliver to stay refused, and a value that is not a
// boolean is an InvalidArgument.
func TestNotificationSkipDestinationValidation(t *testing.T) {
	ts := newNotificationServer(t, WithNotifications(notify.Validator{Functions: functionSet{fnA: true}}))
	ctx := context.Background()
	b := ts.mkBucket("later")
	in := &types.NotificationConfiguration{LambdaFunctionConfigurations: []types.LambdaFunctionConfiguration{
		{Id: aws.String("later"), LambdaFunctionArn: aws.String(fnB), Events: []types.Event{"s3:ObjectCreated:*"}},
	}}
	put := func(skip *bool, cfg *types.NotificationConfiguration) error {
		_, err := ts.Client.PutBucketNotificationConfiguration(ctx, &s3.PutBucketNotificationConfigurationInput{
			Bucket: aws.String(b), NotificationConfiguration: cfg, SkipDestinationValidation: skip})
		return err
	}
	var ae smithy.APIError
	if err := put(nil, in); !errors.As(err, &ae) || ae.ErrorCode() != "InvalidArgument" {
		t.Fatalf("missing function without the header: %v, want InvalidArgument", err)
	}
	if err := put(aws.Bool(false), in); !errors.As(err, &ae) || ae.ErrorCode() != "InvalidArgument" {
		t.Fatalf("missing function with the header false: %v, want InvalidArgument", err)
	}
	if err := put(aws.Bool(true), in); err != nil {
		t.Fatalf("missing function with the header true: %v", err)
	}
	got, err := ts.Client.GetBucketNotificationConfiguration(ctx, &s3.GetBucketNotificationConfigurationInput{Bucket: aws.String(b)})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.LambdaFunctionConfigurations) != 1 || aws.ToString(got.LambdaFunctionConfigurations[0].LambdaFunctionArn) != fnB {
		t.Fatalf("stored configuration = %+v", got.LambdaFunctionConfigurations)
	}
	queue := &types.NotificationConfiguration{QueueConfigurations: []types.QueueConfiguration{
		{QueueArn: aws.String("arn:aws:sqs:us-east-1:000000000000:q"), Events: []types.Event{"s3:ObjectCreated:*"}},
	}}
	if err := put(aws.Bool(true), queue); !errors.As(err, &ae) || ae.ErrorCode() != "NotImplemented" {
		t.Fatalf("queue destination with the header true: %v, want NotImplemented", err)
	}
	body := `<NotificationConfiguration><CloudFunctionConfiguration><CloudFunction>` + fnB + `</CloudFunction><Event>s3:ObjectCreated:*</Event></CloudFunctionConfiguration></NotificationConfiguration>`
	r := ts.do(rawReq{method: "PUT", path: "/" + b + "?notification", body: []byte(body), header: map[string]string{"x-amz-skip-destination-validation": "yes"}})
	wantError(t, r, 400, "InvalidArgument")
	if !strings.Contains(string(r.body), "<ArgumentName>x-amz-skip-destination-validation</ArgumentName>") {
		t.Errorf("error does not name the header: %s", r.body)
	}
	// The refused requests left the accepted configuration as it was.
	got, err = ts.Client.GetBucketNotificationConfiguration(ctx, &s3.GetBucketNotificationConfigurationInput{Bucket: aws.String(b)})
	if err != nil || len(got.LambdaFunctionConfigurations) != 1 || len(got.QueueConfigurations) != 0 {
		t.Fatalf("configuration after refused requests = %+v, %v", got, err)
	}
}
