//go:build integration

package integration

// End-to-end tests of S3 event notifications (issue 4): the notification
// configuration through aws-cli, boto3 (py/events_config.py) and raw
// requests; records as a webhook and as real Python and Go functions see
// them, compared with AWS's documented example; webhook retries, HMAC
// signatures, dead letters and redrive through the sluice CLI.

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/google/go-cmp/cmp"
)

// eventDeadline bounds waits for deliveries that succeed at once or after
// a few retries; the notifier's first two backoffs are 4 s and 8 s.
const eventDeadline = 60 * time.Second

// hookDelivery is one POST a webhookReceiver saw.
type hookDelivery struct {
	Body      []byte
	Signature string
	Delivery  string // X-Sluice-Delivery
	Key       string // the record's (encoded) object key
	Status    int    // what the receiver answered
}

// webhookReceiver is a real HTTP server on 127.0.0.1 that records every
// delivery and answers each with what status returns (given the encoded
// key and the 1-based attempt number for that key).
type webhookReceiver struct {
	srv *httptest.Server

	mu       sync.Mutex
	status   func(key string, attempt int) int
	attempts map[string]int
	got      []hookDelivery
}

func newWebhookReceiver(t testing.TB, status func(key string, attempt int) int) *webhookReceiver {
	t.Helper()
	r := &webhookReceiver{status: status, attempts: map[string]int{}}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *webhookReceiver) serve(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(req.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var ev struct {
		Records []struct {
			S3 struct {
				Object struct {
					Key string `json:"key"`
				} `json:"object"`
			} `json:"s3"`
		}
	}
	_ = json.Unmarshal(body, &ev)
	key := ""
	if len(ev.Records) > 0 {
		key = ev.Records[0].S3.Object.Key
	}
	r.mu.Lock()
	r.attempts[key]++
	status := r.status(key, r.attempts[key])
	r.got = append(r.got, hookDelivery{
		Body: body, Signature: req.Header.Get("X-Sluice-Signature"),
		Delivery: req.Header.Get("X-Sluice-Delivery"), Key: key, Status: status,
	})
	r.mu.Unlock()
	w.WriteHeader(status)
}

func (r *webhookReceiver) setStatus(f func(key string, attempt int) int) {
	r.mu.Lock()
	r.status = f
	r.mu.Unlock()
}

func (r *webhookReceiver) deliveries() []hookDelivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]hookDelivery(nil), r.got...)
}

// accepted returns the deliveries answered 2xx, grouped by key.
func (r *webhookReceiver) accepted() map[string][]hookDelivery {
	out := map[string][]hookDelivery{}
	for _, d := range r.deliveries() {
		if d.Status/100 == 2 {
			out[d.Key] = append(out[d.Key], d)
		}
	}
	return out
}

// hmacSignature is the X-Sluice-Signature of body under secret, computed
// here independently of the server.
func hmacSignature(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// putNotificationXML stores doc as bucket's notification configuration
// with a signed raw request (aws-cli and the SDKs cannot send the Sluice
// WebhookConfiguration extension) and returns the response.
func putNotificationXML(t testing.TB, s *sluiceServer, bucket, doc string) rawResponse {
	t.Helper()
	return do(t, signedRequest(t, s, http.MethodPut, s.URL+"/"+bucket+"?notification", strings.NewReader(doc), signSpec{}))
}

// webhookRuleXML is one WebhookConfiguration element.
func webhookRuleXML(id, url, secret, prefix, suffix string, events ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "<WebhookConfiguration><Id>%s</Id><Url>%s</Url>", id, url)
	if secret != "" {
		fmt.Fprintf(&b, "<Secret>%s</Secret>", secret)
	}
	for _, e := range events {
		fmt.Fprintf(&b, "<Event>%s</Event>", e)
	}
	if prefix != "" || suffix != "" {
		b.WriteString("<Filter><S3Key>")
		if prefix != "" {
			fmt.Fprintf(&b, "<FilterRule><Name>prefix</Name><Value>%s</Value></FilterRule>", prefix)
		}
		if suffix != "" {
			fmt.Fprintf(&b, "<FilterRule><Name>suffix</Name><Value>%s</Value></FilterRule>", suffix)
		}
		b.WriteString("</S3Key></Filter>")
	}
	b.WriteString("</WebhookConfiguration>")
	return b.String()
}

func notificationXML(rules ...string) string {
	return `<NotificationConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">` + strings.Join(rules, "") + `</NotificationConfiguration>`
}

// mustPutNotificationXML fails t unless the configuration is accepted.
func mustPutNotificationXML(t testing.TB, s *sluiceServer, bucket, doc string) {
	t.Helper()
	if r := putNotificationXML(t, s, bucket, doc); r.Status != http.StatusOK {
		t.Fatalf("PUT ?notification on %s: %d %s", bucket, r.Status, r.Body)
	}
}

// eventFunctions are the zips of the S3-trigger handlers in
// testdata/events, built once per run.
type eventFunctions struct{ Go, Python string }

var (
	eventFnOnce sync.Once
	eventFnVal  eventFunctions
	eventFnErr  error
)

func eventFunctionCode(t testing.TB) eventFunctions {
	t.Helper()
	eventFnOnce.Do(func() {
		dir := filepath.Join(workDir, "events-functions")
		if eventFnErr = os.MkdirAll(dir, 0o755); eventFnErr != nil {
			return
		}
		bootstrap := filepath.Join(dir, "bootstrap")
		cmd := exec.Command("go", "build", "-o", bootstrap, "./integration/testdata/events/gofn")
		cmd.Dir = moduleRoot
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			eventFnErr = fmt.Errorf("go build gofn: %v\n%s", err, out)
			return
		}
		eventFnVal = eventFunctions{Go: filepath.Join(dir, "go.zip"), Python: filepath.Join(dir, "python.zip")}
		if eventFnErr = writeZip(eventFnVal.Go, map[string]string{"bootstrap": bootstrap}); eventFnErr != nil {
			return
		}
		eventFnErr = writeZip(eventFnVal.Python, map[string]string{
			"app.py": filepath.Join(moduleRoot, "integration", "testdata", "events", "python", "app.py"),
		})
	})
	if eventFnErr != nil {
		t.Fatalf("event function code: %v", eventFnErr)
	}
	return eventFnVal
}

// awsExampleRecord is the record of AWS's documented S3 event example
// ("Event message structure"), as kept in awsevent/testdata.
func awsExampleRecord(t testing.TB) map[string]any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(moduleRoot, "awsevent", "testdata", "aws-s3-put-example.json"))
	if err != nil {
		t.Fatal(err)
	}
	var ev struct{ Records []map[string]any }
	if err := json.Unmarshal(b, &ev); err != nil || len(ev.Records) != 1 {
		t.Fatalf("AWS example: %v (%d records)", err, len(ev.Records))
	}
	return ev.Records[0]
}

// keyPaths lists every key path of a decoded JSON object, recursively
// ("s3.object.eTag").
func recordKeyPaths(prefix string, v any) []string {
	m, ok := v.(map[string]any)
	if !ok {
		return nil
	}
	var out []string
	for k, sub := range m {
		p := k
		if prefix != "" {
			p = prefix + "." + k
		}
		out = append(out, p)
		out = append(out, recordKeyPaths(p, sub)...)
	}
	sort.Strings(out)
	return out
}

// field returns the value at a dotted path of a decoded JSON object.
func recordField(v any, path string) any {
	for _, k := range strings.Split(path, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

// wantRecord is what one record must say beyond the example's shape.
type wantRecord struct {
	Region, Bucket, ConfigID, Key, ETag string
	Size                                int
}

// checkRecord compares a record with AWS's example: the same key set,
// recursively, the same type for every leaf, and the exact values that are
// determinable here.
func checkRecord(t testing.TB, what string, rec map[string]any, want wantRecord) {
	t.Helper()
	example := awsExampleRecord(t)
	if diff := cmp.Diff(recordKeyPaths("", example), recordKeyPaths("", rec)); diff != "" {
		t.Errorf("%s: key paths differ from AWS's example (-aws +sluice):\n%s", what, diff)
	}
	for _, p := range recordKeyPaths("", example) {
		if fmt.Sprintf("%T", recordField(example, p)) != fmt.Sprintf("%T", recordField(rec, p)) {
			t.Errorf("%s: %s is %T (%v), AWS's example has %T", what, p, recordField(rec, p), recordField(rec, p), recordField(example, p))
		}
	}
	exact := map[string]any{
		"eventVersion":                      "2.1",
		"eventSource":                       "aws:s3",
		"awsRegion":                         want.Region,
		"eventName":                         "ObjectCreated:Put",
		"s3.s3SchemaVersion":                "1.0",
		"s3.configurationId":                want.ConfigID,
		"s3.bucket.name":                    want.Bucket,
		"s3.bucket.arn":                     "arn:aws:s3:::" + want.Bucket,
		"s3.object.key":                     want.Key,
		"s3.object.size":                    float64(want.Size),
		"s3.object.eTag":                    want.ETag,
		"requestParameters.sourceIPAddress": "127.0.0.1",
	}
	for p, v := range exact {
		if got := recordField(rec, p); got != v {
			t.Errorf("%s: %s = %#v, want %#v", what, p, got, v)
		}
	}
	for _, p := range []string{"eventTime", "userIdentity.principalId", "s3.bucket.ownerIdentity.principalId",
		"responseElements.x-amz-request-id", "responseElements.x-amz-id-2", "s3.object.sequencer"} {
		if s, _ := recordField(rec, p).(string); s == "" {
			t.Errorf("%s: %s is empty", what, p)
		}
	}
	if s, _ := recordField(rec, "eventTime").(string); s != "" {
		if _, err := time.Parse("2006-01-02T15:04:05.000Z", s); err != nil {
			t.Errorf("%s: eventTime %q is not ISO-8601 UTC with milliseconds: %v", what, s, err)
		}
	}
	if s, _ := recordField(rec, "s3.object.sequencer").(string); s != "" {
		if _, err := hex.DecodeString(strings.Repeat("0", len(s)%2) + s); err != nil {
			t.Errorf("%s: sequencer %q is not hexadecimal", what, s)
		}
	}
}

// sequencerLess orders two sequencers as AWS says to: hexadecimal strings
// compared after left-padding the shorter with zeros.
func sequencerLess(a, b string) bool {
	n := max(len(a), len(b))
	a = strings.Repeat("0", n-len(a)) + strings.ToUpper(a)
	b = strings.Repeat("0", n-len(b)) + strings.ToUpper(b)
	return a < b
}

// firstRecord decodes a delivery body, which must hold exactly one record.
func onlyRecord(t testing.TB, body []byte) map[string]any {
	t.Helper()
	var ev struct{ Records []map[string]any }
	if err := json.Unmarshal(body, &ev); err != nil || len(ev.Records) != 1 {
		t.Fatalf("delivery body is not one S3 record (%v):\n%s", err, body)
	}
	return ev.Records[0]
}

func putEventObject(t testing.TB, c *s3.Client, bucket, key string, body []byte) string {
	t.Helper()
	out, err := c.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(body)})
	if err != nil {
		t.Fatalf("put %s/%s: %v", bucket, key, err)
	}
	return strings.Trim(aws.ToString(out.ETag), `"`)
}

// pollEvery is poll with a given interval, for checks that start a process.
func pollEvery(d, every time.Duration, f func() error) error {
	deadline := time.Now().Add(d)
	for {
		err := f()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(every)
	}
}

// TestEventNotifications runs every notification scenario against one
// server: configuration through aws-cli and boto3, records through a
// webhook and through Python and Go functions, retries, dead letters and
// redrive.
func TestEventNotifications(t *testing.T) {
	t.Parallel()
	// A short retry budget keeps the dead-letter case quick; a receiver
	// that refuses twice still gets its third attempt.
	s := startSluice(t, withArgs("--notify-max-attempts", strconv.Itoa(notifyAttempts), "--notify-backoff", "200ms"))
	c := s3Client(s)
	code := eventFunctionCode(t)

	// The subtests mostly wait (on retries, cold starts and aws-cli), so
	// they run side by side rather than as parallel tests.
	concurrently, wait := sideBySide(t)
	defer wait()

	// The dead-letter case waits out the whole retry budget, so it starts first.
	concurrently("dead_letter_and_redrive", func(t *testing.T) { testDeadLetterRedrive(t, s, c) })
	concurrently("webhook_retries_hmac", func(t *testing.T) { testWebhookRetries(t, s, c) })
	concurrently("webhook_record", func(t *testing.T) { testWebhookRecord(t, s, c) })
	concurrently("function_triggers", func(t *testing.T) { testFunctionTriggers(t, s, c, code) })
	concurrently("config_awscli", func(t *testing.T) { testConfigAWSCLI(t, s, c, code) })
	concurrently("config_boto3", func(t *testing.T) {
		fn := fnName("ev-boto3")
		cfg := createFunction(t, s, fn, "python3.12", "app.handler", code.Python)
		r := runPython(t, s, "events_config.py", "FUNCTION_ARN="+cfg["FunctionArn"].(string))
		if r.Code != 0 {
			t.Errorf("python3 py/events_config.py: %s", r)
		}
	})
}

func testConfigAWSCLI(t *testing.T, s *sluiceServer, c *s3.Client, code eventFunctions) {
	bucket := bucketName("ev-cli")
	awsOK(t, s, "s3api", "create-bucket", "--bucket", bucket)
	fn := fnName("ev-cli")
	arn := createFunction(t, s, fn, "python3.12", "app.handler", code.Python)["FunctionArn"].(string)

	lambdaRule := map[string]any{
		"Id":                "thumbnails",
		"LambdaFunctionArn": arn,
		"Events":            []any{"s3:ObjectCreated:*"},
		"Filter": map[string]any{"Key": map[string]any{"FilterRules": []any{
			map[string]any{"Name": "Prefix", "Value": "images/"},
			map[string]any{"Name": "Suffix", "Value": ".jpg"},
		}}},
	}
	doc, _ := json.Marshal(map[string]any{"LambdaFunctionConfigurations": []any{lambdaRule}})
	awsOK(t, s, "s3api", "put-bucket-notification-configuration", "--bucket", bucket, "--notification-configuration", string(doc))
	var got map[string]any
	if err := json.Unmarshal([]byte(awsOK(t, s, "s3api", "get-bucket-notification-configuration", "--bucket", bucket)), &got); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]any{"LambdaFunctionConfigurations": []any{lambdaRule}}, got); diff != "" {
		t.Errorf("get-bucket-notification-configuration after put (-put +get):\n%s", diff)
	}

	// A webhook rule beside the Lambda rule: aws-cli cannot send it, the
	// raw API can, and a raw GET returns it.
	hook := webhookRuleXML("hook-1", "http://127.0.0.1:9/hook", "s3cr3t", "docs/", ".pdf", "s3:ObjectRemoved:*")
	lambdaXML := `<CloudFunctionConfiguration><Id>thumbnails</Id><CloudFunction>` + arn +
		`</CloudFunction><Event>s3:ObjectCreated:*</Event><Filter><S3Key><FilterRule><Name>Prefix</Name><Value>images/</Value></FilterRule>` +
		`<FilterRule><Name>Suffix</Name><Value>.jpg</Value></FilterRule></S3Key></Filter></CloudFunctionConfiguration>`
	mustPutNotificationXML(t, s, bucket, notificationXML(lambdaXML, hook))
	raw := do(t, signedRequest(t, s, http.MethodGet, s.URL+"/"+bucket+"?notification", nil, signSpec{}))
	var cfg struct {
		Lambdas []struct {
			ID       string `xml:"Id"`
			Function string `xml:"CloudFunction"`
		} `xml:"CloudFunctionConfiguration"`
		Webhooks []struct {
			ID     string                         `xml:"Id"`
			URL    string                         `xml:"Url"`
			Secret string                         `xml:"Secret"`
			Events []string                       `xml:"Event"`
			Rules  []struct{ Name, Value string } `xml:"Filter>S3Key>FilterRule"`
		} `xml:"WebhookConfiguration"`
	}
	if raw.Status != http.StatusOK || xml.Unmarshal(raw.Body, &cfg) != nil {
		t.Fatalf("GET ?notification: %d %s", raw.Status, raw.Body)
	}
	if len(cfg.Lambdas) != 1 || len(cfg.Webhooks) != 1 || cfg.Lambdas[0].ID != "thumbnails" || cfg.Lambdas[0].Function != arn {
		t.Fatalf("GET ?notification = %s, want the Lambda rule and the webhook rule", raw.Body)
	}
	w := cfg.Webhooks[0]
	if w.ID != "hook-1" || w.URL != "http://127.0.0.1:9/hook" || !cmp.Equal(w.Events, []string{"s3:ObjectRemoved:*"}) ||
		!cmp.Equal(w.Rules, []struct{ Name, Value string }{{"Prefix", "docs/"}, {"Suffix", ".pdf"}}) {
		t.Errorf("webhook rule read back as %+v", w)
	}
	// aws-cli still reads the Lambda rule of a configuration holding the extension.
	if err := json.Unmarshal([]byte(awsOK(t, s, "s3api", "get-bucket-notification-configuration", "--bucket", bucket)), &got); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]any{"LambdaFunctionConfigurations": []any{lambdaRule}}, got); diff != "" {
		t.Errorf("get-bucket-notification-configuration with a webhook rule (-want +got):\n%s", diff)
	}

	// Every validation error, through aws-cli (exit 255, the code named on stderr).
	missing := strings.TrimSuffix(arn, fn) + "no-such-" + randSuffix(6)
	for _, tc := range []struct {
		name, bucket, doc, code string
	}{
		{"unknown event", bucket, `{"LambdaFunctionConfigurations":[{"LambdaFunctionArn":"` + arn + `","Events":["s3:ObjectCreated:Bogus"]}]}`, "InvalidArgument"},
		{"overlapping rules", bucket, `{"LambdaFunctionConfigurations":[{"Id":"a","LambdaFunctionArn":"` + arn + `","Events":["s3:ObjectCreated:*"],"Filter":{"Key":{"FilterRules":[{"Name":"prefix","Value":"img/"}]}}},` +
			`{"Id":"b","LambdaFunctionArn":"` + arn + `","Events":["s3:ObjectCreated:Put"],"Filter":{"Key":{"FilterRules":[{"Name":"prefix","Value":"img/2025/"}]}}}]}`, "InvalidArgument"},
		{"missing function", bucket, `{"LambdaFunctionConfigurations":[{"LambdaFunctionArn":"` + missing + `","Events":["s3:ObjectCreated:*"]}]}`, "InvalidArgument"},
		{"queue destination", bucket, `{"QueueConfigurations":[{"QueueArn":"arn:aws:sqs:us-east-1:000000000000:q","Events":["s3:ObjectCreated:*"]}]}`, "NotImplemented"},
		{"topic destination", bucket, `{"TopicConfigurations":[{"TopicArn":"arn:aws:sns:us-east-1:000000000000:t","Events":["s3:ObjectCreated:*"]}]}`, "NotImplemented"},
		{"missing bucket", "no-such-bucket-" + randSuffix(8), `{"LambdaFunctionConfigurations":[{"LambdaFunctionArn":"` + arn + `","Events":["s3:ObjectCreated:*"]}]}`, "NoSuchBucket"},
	} {
		r := awsCLI(t, s, "s3api", "put-bucket-notification-configuration", "--bucket", tc.bucket, "--notification-configuration", tc.doc)
		if r.Code != 255 || !strings.Contains(r.Stderr, "("+tc.code+")") {
			t.Errorf("%s: %s\nwant exit 255 with (%s)", tc.name, r, tc.code)
		}
	}
	if r := awsCLI(t, s, "s3api", "get-bucket-notification-configuration", "--bucket", "no-such-bucket-"+randSuffix(8)); r.Code != 255 || !strings.Contains(r.Stderr, "(NoSuchBucket)") {
		t.Errorf("get on a missing bucket: %s\nwant (NoSuchBucket)", r)
	}

	// The same errors with their HTTP status, on the wire; malformed XML
	// can only be sent raw.
	for _, tc := range []struct {
		name, bucket, doc, code string
		status                  int
	}{
		{"malformed XML", bucket, `<NotificationConfiguration><CloudFunctionConfiguration>`, "MalformedXML", 400},
		{"not XML", bucket, `{"json":true}`, "MalformedXML", 400},
		{"unknown event", bucket, notificationXML(webhookRuleXML("x", "http://127.0.0.1:9/", "", "", "", "s3:ObjectCreated:Nope")), "InvalidArgument", 400},
		{"overlapping webhook and Lambda", bucket, notificationXML(
			`<CloudFunctionConfiguration><CloudFunction>`+arn+`</CloudFunction><Event>s3:ObjectCreated:*</Event></CloudFunctionConfiguration>`,
			webhookRuleXML("w", "http://127.0.0.1:9/", "", "a/", "", "s3:ObjectCreated:Copy")), "InvalidArgument", 400},
		{"missing function", bucket, notificationXML(`<CloudFunctionConfiguration><CloudFunction>` + missing + `</CloudFunction><Event>s3:ObjectCreated:*</Event></CloudFunctionConfiguration>`), "InvalidArgument", 400},
		{"queue", bucket, notificationXML(`<QueueConfiguration><Queue>arn:aws:sqs:us-east-1:000000000000:q</Queue><Event>s3:ObjectCreated:*</Event></QueueConfiguration>`), "NotImplemented", 501},
		{"topic", bucket, notificationXML(`<TopicConfiguration><Topic>arn:aws:sns:us-east-1:000000000000:t</Topic><Event>s3:ObjectCreated:*</Event></TopicConfiguration>`), "NotImplemented", 501},
		{"missing bucket", "no-such-bucket-" + randSuffix(8), notificationXML(webhookRuleXML("x", "http://127.0.0.1:9/", "", "", "", "s3:ObjectCreated:*")), "NoSuchBucket", 404},
	} {
		r := putNotificationXML(t, s, tc.bucket, tc.doc)
		if e := r.errorCode(); r.Status != tc.status || e.Code != tc.code {
			t.Errorf("raw PUT ?notification, %s: %d %s, want %d %s", tc.name, r.Status, r.Body, tc.status, tc.code)
		}
	}
	// Rejected configurations left the stored one alone.
	raw = do(t, signedRequest(t, s, http.MethodGet, s.URL+"/"+bucket+"?notification", nil, signSpec{}))
	if !bytes.Contains(raw.Body, []byte("<Id>hook-1</Id>")) || !bytes.Contains(raw.Body, []byte("<Id>thumbnails</Id>")) {
		t.Errorf("after rejected puts, GET ?notification = %s, want the last accepted configuration", raw.Body)
	}

	// --skip-destination-validation accepts a function that does not exist
	// yet (S3's x-amz-skip-destination-validation); the queue stays refused.
	skipDoc := `{"LambdaFunctionConfigurations":[{"Id":"later","LambdaFunctionArn":"` + missing + `","Events":["s3:ObjectCreated:*"]}]}`
	awsOK(t, s, "s3api", "put-bucket-notification-configuration", "--bucket", bucket, "--skip-destination-validation", "--notification-configuration", skipDoc)
	if out := awsOK(t, s, "s3api", "get-bucket-notification-configuration", "--bucket", bucket); !strings.Contains(out, missing) {
		t.Errorf("after a put with --skip-destination-validation, get = %s, want the rule for %s", out, missing)
	}
	if r := awsCLI(t, s, "s3api", "put-bucket-notification-configuration", "--bucket", bucket, "--skip-destination-validation", "--notification-configuration",
		`{"QueueConfigurations":[{"QueueArn":"arn:aws:sqs:us-east-1:000000000000:q","Events":["s3:ObjectCreated:*"]}]}`); r.Code != 255 || !strings.Contains(r.Stderr, "(NotImplemented)") {
		t.Errorf("queue with --skip-destination-validation: %s\nwant (NotImplemented)", r)
	}

	// An empty configuration removes every rule.
	// aws-cli prints nothing for a configuration without rules.
	awsOK(t, s, "s3api", "put-bucket-notification-configuration", "--bucket", bucket, "--notification-configuration", "{}")
	if out := strings.TrimSpace(awsOK(t, s, "s3api", "get-bucket-notification-configuration", "--bucket", bucket)); out != "" && out != "{}" {
		t.Errorf("after an empty put, get = %s, want no rules", out)
	}
	raw = do(t, signedRequest(t, s, http.MethodGet, s.URL+"/"+bucket+"?notification", nil, signSpec{}))
	if raw.Status != http.StatusOK || bytes.Contains(raw.Body, []byte("<Id>")) {
		t.Errorf("after an empty put, GET ?notification = %d %s, want an empty NotificationConfiguration", raw.Status, raw.Body)
	}
}

// testWebhookRecord captures records with a webhook and compares them with
// AWS's example; two writes of one key carry increasing sequencers.
func testWebhookRecord(t *testing.T, s *sluiceServer, c *s3.Client) {
	recv := newWebhookReceiver(t, func(string, int) int { return http.StatusOK })
	bucket := createBucket(t, c, "ev-rec")
	mustPutNotificationXML(t, s, bucket, notificationXML(
		webhookRuleXML("record-check", recv.srv.URL+"/hook", "", "albums/", ".jpg", "s3:ObjectCreated:*")))

	const key = "albums/summer 2025/cat (1)+dog=1.jpg"
	const encoded = "albums/summer+2025/cat+%281%29%2Bdog%3D1.jpg"
	first := bytes.Repeat([]byte("first write "), 100)
	second := bytes.Repeat([]byte("second write, longer "), 100)
	etag1 := putEventObject(t, c, bucket, key, first)
	etag2 := putEventObject(t, c, bucket, key, second)
	putEventObject(t, c, bucket, "albums/skipped.png", []byte("no match"))

	byETag := map[string]map[string]any{}
	if err := poll(eventDeadline, func() error {
		for _, d := range recv.deliveries() {
			rec := onlyRecord(t, d.Body)
			if e, _ := recordField(rec, "s3.object.eTag").(string); e != "" {
				byETag[e] = rec
			}
		}
		if byETag[etag1] == nil || byETag[etag2] == nil {
			return fmt.Errorf("have records for %d of the 2 writes", len(byETag))
		}
		return nil
	}); err != nil {
		t.Fatalf("webhook: %v; deliveries: %d", err, len(recv.deliveries()))
	}
	checkRecord(t, "webhook record of the first write", byETag[etag1], wantRecord{
		Region: s.Region, Bucket: bucket, ConfigID: "record-check", Key: encoded, ETag: etag1, Size: len(first)})
	checkRecord(t, "webhook record of the second write", byETag[etag2], wantRecord{
		Region: s.Region, Bucket: bucket, ConfigID: "record-check", Key: encoded, ETag: etag2, Size: len(second)})
	s1, _ := recordField(byETag[etag1], "s3.object.sequencer").(string)
	s2, _ := recordField(byETag[etag2], "s3.object.sequencer").(string)
	if !sequencerLess(s1, s2) {
		t.Errorf("sequencers %q then %q for successive writes of one key, want increasing", s1, s2)
	}
	for _, d := range recv.deliveries() {
		if d.Key != encoded {
			t.Errorf("webhook got a record for %q, which the rule's filter excludes", d.Key)
		}
		if d.Signature != "" {
			t.Errorf("a rule without a Secret sent X-Sluice-Signature %q", d.Signature)
		}
	}
}

// testFunctionTriggers attaches a Python and a Go function with prefix and
// suffix filters; each writes a marker per record, and the markers are
// exactly the matching keys.
func testFunctionTriggers(t *testing.T, s *sluiceServer, c *s3.Client, code eventFunctions) {
	src, out := createBucket(t, c, "ev-fn-src"), createBucket(t, c, "ev-fn-out")
	env := "Variables={OUT_BUCKET=" + out + "}"
	pyFn, goFn := fnName("ev-py"), fnName("ev-go")
	pyARN := createFunction(t, s, pyFn, "python3.12", "app.handler", code.Python, "--environment", env)["FunctionArn"].(string)
	goARN := createFunction(t, s, goFn, "provided.al2023", "bootstrap", code.Go, "--environment", env)["FunctionArn"].(string)

	doc, _ := json.Marshal(map[string]any{"LambdaFunctionConfigurations": []any{
		map[string]any{"Id": "py-jpg", "LambdaFunctionArn": pyARN, "Events": []any{"s3:ObjectCreated:*"},
			"Filter": map[string]any{"Key": map[string]any{"FilterRules": []any{
				map[string]any{"Name": "prefix", "Value": "py/"}, map[string]any{"Name": "suffix", "Value": ".jpg"}}}}},
		map[string]any{"Id": "go-png", "LambdaFunctionArn": goARN, "Events": []any{"s3:ObjectCreated:Put"},
			"Filter": map[string]any{"Key": map[string]any{"FilterRules": []any{
				map[string]any{"Name": "prefix", "Value": "go/"}, map[string]any{"Name": "suffix", "Value": ".png"}}}}},
	}})
	awsOK(t, s, "s3api", "put-bucket-notification-configuration", "--bucket", src, "--notification-configuration", string(doc))

	// Non-matching keys first, so that they are dispatched before the
	// matching ones the test waits for.
	for _, k := range []string{"py/a.png", "py/a.jpg.txt", "go/b.jpg", "other/py/c.jpg", "go.png", "PY/d.jpg", "go/e.PNG"} {
		putEventObject(t, c, src, k, []byte("not for any function: "+k))
	}
	matching := map[string]string{ // key → the function that must see it
		"py/a.jpg":               "python",
		"py/holiday snaps/b.jpg": "python",
		"py/.jpg":                "python",
		"go/x.png":               "go",
		"go/deep/er (2).png":     "go",
	}
	etags := map[string]string{}
	for k := range matching {
		etags[k] = putEventObject(t, c, src, k, []byte("content of "+k))
	}
	want := map[string]bool{}
	for k, rt := range matching {
		want[rt+"/"+k] = true
	}
	got := map[string]bool{}
	if err := poll(eventDeadline, func() error {
		out, err := c.ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{Bucket: aws.String(out)})
		if err != nil {
			return err
		}
		got = map[string]bool{}
		for _, o := range out.Contents {
			got[aws.ToString(o.Key)] = true
		}
		if len(got) < len(want) {
			return fmt.Errorf("%d of %d markers", len(got), len(want))
		}
		return nil
	}); err != nil {
		t.Errorf("markers: %v", err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("marker objects (-want +got):\n%s", diff)
	}

	// The records as each function received them.
	for _, tc := range []struct{ marker, key, encoded, config string }{
		{"python/py/holiday snaps/b.jpg", "py/holiday snaps/b.jpg", "py/holiday+snaps/b.jpg", "py-jpg"},
		{"go/go/deep/er (2).png", "go/deep/er (2).png", "go/deep/er+%282%29.png", "go-png"},
	} {
		obj, err := c.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(out), Key: aws.String(tc.marker)})
		if err != nil {
			t.Errorf("get marker %s: %v", tc.marker, err)
			continue
		}
		body, _ := io.ReadAll(obj.Body)
		obj.Body.Close()
		var rec map[string]any
		if err := json.Unmarshal(body, &rec); err != nil {
			t.Errorf("marker %s holds no record: %v\n%s", tc.marker, err, body)
			continue
		}
		checkRecord(t, "record seen by the function ("+tc.marker+")", rec, wantRecord{
			Region: s.Region, Bucket: src, ConfigID: tc.config, Key: tc.encoded, ETag: etags[tc.key], Size: len("content of " + tc.key)})
	}
}

// testWebhookRetries has a receiver fail the first two attempts of every
// event: each is eventually accepted, every attempt is HMAC-signed.
func testWebhookRetries(t *testing.T, s *sluiceServer, c *s3.Client) {
	const secret = "hook-secret-Ω"
	recv := newWebhookReceiver(t, func(_ string, attempt int) int {
		if attempt <= 2 {
			return http.StatusInternalServerError
		}
		return http.StatusNoContent
	})
	bucket := createBucket(t, c, "ev-retry")
	mustPutNotificationXML(t, s, bucket, notificationXML(webhookRuleXML("retry", recv.srv.URL+"/in", secret, "", "", "s3:ObjectCreated:*")))
	const n = 12
	want := map[string]bool{}
	for i := range n {
		k := fmt.Sprintf("retry/obj-%02d.bin", i)
		putEventObject(t, c, bucket, k, []byte(k))
		want[k] = true
	}
	if err := poll(eventDeadline, func() error {
		if got := len(recv.accepted()); got < n {
			return fmt.Errorf("%d of %d events accepted", got, n)
		}
		return nil
	}); err != nil {
		t.Fatalf("webhook after failures: %v", err)
	}
	acc := recv.accepted()
	got := map[string]bool{}
	dups := 0
	for k, ds := range acc {
		got[k] = true
		dups += len(ds) - 1
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("accepted events by key (-want +got):\n%s", diff)
	}
	attempts := map[string]int{}
	for _, d := range recv.deliveries() {
		attempts[d.Key]++
		if want := hmacSignature(secret, d.Body); d.Signature != want {
			t.Errorf("delivery %s of %s: X-Sluice-Signature %q, want %q", d.Delivery, d.Key, d.Signature, want)
		}
		if d.Delivery == "" {
			t.Errorf("delivery of %s lacks X-Sluice-Delivery", d.Key)
		}
	}
	for k := range want {
		if attempts[k] < 3 {
			t.Errorf("%s: %d attempts, want at least 3 (two refused)", k, attempts[k])
		}
	}
	t.Logf("webhook retries: %d events accepted, %d duplicate accepted deliveries, %d attempts in all", len(acc), dups, len(recv.deliveries()))
}

// notifyAttempts is the notifier's retry budget in these tests
// (--notify-max-attempts).
const notifyAttempts = 3

// testDeadLetterRedrive has a receiver refuse every attempt: the delivery
// becomes a dead letter listed by `sluice events dead-letters`; once the
// receiver recovers, `sluice events redrive ID` delivers it.
func testDeadLetterRedrive(t *testing.T, s *sluiceServer, c *s3.Client) {
	recv := newWebhookReceiver(t, func(string, int) int { return http.StatusInternalServerError })
	bucket := createBucket(t, c, "ev-dead")
	mustPutNotificationXML(t, s, bucket, notificationXML(webhookRuleXML("dead", recv.srv.URL+"/dead", "", "", "", "s3:ObjectCreated:*")))
	key := "dead/letter-" + randSuffix(6) + ".txt"
	putEventObject(t, c, bucket, key, []byte("undeliverable for a while"))

	var line string
	if err := pollEvery(100*time.Second, 200*time.Millisecond, func() error {
		r := sluiceCmd(t, s, nil, "events", "dead-letters")
		if r.Code != 0 {
			return fmt.Errorf("sluice events dead-letters: %s", r)
		}
		for _, l := range strings.Split(r.Stdout, "\n") {
			if strings.Contains(l, bucket+"/"+key) {
				line = l
				return nil
			}
		}
		return fmt.Errorf("not listed yet; output:\n%s", r.Stdout)
	}); err != nil {
		t.Fatalf("dead letter: %v (attempts so far: %d)", err, len(recv.deliveries()))
	}
	if n := len(recv.deliveries()); n != notifyAttempts {
		t.Errorf("receiver saw %d attempts before the dead letter, want the budget of %d", n, notifyAttempts)
	}
	for _, want := range []string{recv.srv.URL + "/dead", "ObjectCreated:Put", "500"} {
		if !strings.Contains(line, want) {
			t.Errorf("dead-letter line %q lacks %q", line, want)
		}
	}
	id := strings.Fields(line)[0]

	recv.setStatus(func(string, int) int { return http.StatusOK })
	if r := sluiceCmd(t, s, nil, "events", "redrive", id); r.Code != 0 {
		t.Fatalf("sluice events redrive %s: %s", id, r)
	}
	if err := poll(eventDeadline, func() error {
		if len(recv.accepted()) == 0 {
			return fmt.Errorf("not delivered")
		}
		return nil
	}); err != nil {
		t.Fatalf("after redrive: %v", err)
	}
	rec := onlyRecord(t, recv.accepted()[strings.ReplaceAll(key, " ", "+")][0].Body)
	if recordField(rec, "s3.configurationId") != "dead" || recordField(rec, "s3.bucket.name") != bucket {
		t.Errorf("redriven record = %v", rec)
	}
	if err := pollEvery(eventDeadline, 200*time.Millisecond, func() error {
		r := sluiceCmd(t, s, nil, "events", "dead-letters")
		if strings.Contains(r.Stdout, id) {
			return fmt.Errorf("still listed:\n%s", r.Stdout)
		}
		return nil
	}); err != nil {
		t.Errorf("dead letter %s after a successful redrive: %v", id, err)
	}
	// Unknown ids are refused.
	if r := sluiceCmd(t, s, nil, "events", "redrive", "ffffffffffffffffffff"); r.Code == 0 {
		t.Errorf("redrive of an unknown id: %s, want a failure", r)
	}
}
