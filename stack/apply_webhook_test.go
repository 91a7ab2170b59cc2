package stack

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	cfsdk "github.com/aws/aws-sdk-go-v2/service/cloudfront"
	lambdasdk "github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/frontdoor"
	"github.com/sluicehq/sluice/fsstore"
	"github.com/sluicehq/sluice/lambda"
	"github.com/sluicehq/sluice/notify"
	"github.com/sluicehq/sluice/s3api"
	"github.com/sluicehq/sluice/sigv4"
)

// sluiceS3 is Sluice's S3 and Lambda APIs on a real store, behind the real
// front door with SigV4, wired as `sluice serve` wires them.
type sluiceS3 struct {
	url   string
	store *fsstore.Store
	// notificationPuts counts PutBucketNotificationConfiguration requests.
	notificationPuts atomic.Int32
}

type doorAuth struct{ *sigv4.Verifier }

func (doorAuth) Scope(r *http.Request) (service, region string, ok bool) { return sigv4.Scope(r) }

func startSluiceS3(t *testing.T) *sluiceS3 {
	t.Helper()
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("python3 not installed (the template's function is Python)")
	}
	dir := t.TempDir()
	log := slog.New(slog.DiscardHandler)
	storeCfg := fsstore.DefaultConfig()
	storeCfg.Dir = filepath.Join(dir, "store")
	storeCfg.NoSync = true
	store, err := fsstore.Open(storeCfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	hcfg := lambda.DefaultHostConfig()
	hcfg.Dir = filepath.Join(dir, "host")
	host, err := lambda.NewHost(hcfg, nil, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { host.Close() })
	lcfg := lambda.DefaultConfig()
	lcfg.Dir = filepath.Join(dir, "lambda")
	functions, err := lambda.New(lcfg, store, host, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { functions.Close() })
	s3svc, err := s3api.New(s3api.DefaultConfig(), store, log, s3api.WithNotifications(notify.Validator{Functions: functions}))
	if err != nil {
		t.Fatal(err)
	}
	acfg := sigv4.DefaultConfig()
	acfg.Credentials = map[string]string{"test": "test"}
	verifier, err := sigv4.New(acfg)
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	door, err := frontdoor.New(frontdoor.DefaultConfig(), doorAuth{verifier}, log, reg, reg)
	if err != nil {
		t.Fatal(err)
	}
	door.Handle("s3", s3svc)
	door.Handle("lambda", functions)
	s := &sluiceS3{store: store}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut && r.URL.Query().Has("notification") {
			s.notificationPuts.Add(1)
		}
		door.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	s.url = srv.URL
	return s
}

func (s *sluiceS3) targets(dataDir string) Targets {
	creds := credentials.NewStaticCredentialsProvider("test", "test", "")
	return Targets{
		S3:         s3.New(s3.Options{Region: "us-east-1", BaseEndpoint: aws.String(s.url), Credentials: creds, UsePathStyle: true}),
		Lambda:     lambdasdk.New(lambdasdk.Options{Region: "us-east-1", BaseEndpoint: aws.String(s.url), Credentials: creds}),
		CloudFront: cfsdk.New(cfsdk.Options{Region: "us-east-1", BaseEndpoint: aws.String(s.url), Credentials: creds}),
		DataDir:    dataDir,
	}
}

// storedRules reads the bucket's stored notification configuration, as
// the notifier matches it, secrets included.
func (s *sluiceS3) storedRules(t *testing.T, bucket string) []notify.Rule {
	t.Helper()
	doc, err := s.store.BucketConfig(context.Background(), bucket, sluice.ConfigNotification)
	if err != nil {
		t.Fatal(err)
	}
	if doc == nil {
		return nil
	}
	cfg, err := notify.Parse(doc)
	if err != nil {
		t.Fatalf("stored configuration %s: %v", doc, err)
	}
	return cfg.Rules()
}

// getNotification is GetBucketNotificationConfiguration as a client sees
// it, raw: the SDK's types would drop the webhook rules.
func (s *sluiceS3) getNotification(t *testing.T, bucket string) string {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, s.url+"/"+bucket+"?notification", nil)
	if err != nil {
		t.Fatal(err)
	}
	empty := sha256.Sum256(nil)
	hash := hex.EncodeToString(empty[:])
	req.Header.Set("X-Amz-Content-Sha256", hash)
	if err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: "test", SecretAccessKey: "test"},
		req, hash, "s3", "us-east-1", time.Now()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET ?notification: %d %s %v", resp.StatusCode, b, err)
	}
	return string(b)
}

const applyWebhookTemplate = `Transform: AWS::Serverless-2016-10-31
Parameters:
  HookSecret:
    Type: String
    NoEcho: true
    Default: first-secret-0001
Resources:
  Uploads:
    Type: AWS::S3::Bucket
    Properties:
      BucketName: hooked-uploads
      NotificationConfiguration:
        LambdaConfigurations:
          - Event: s3:ObjectCreated:*
            Function: !GetAtt Fn.Arn
            Filter: {S3Key: {Rules: [{Name: prefix, Value: img/}]}}
        WebhookConfigurations:
          - Url: http://127.0.0.1:9/hook
            Secret: !Ref HookSecret
            Event: s3:ObjectCreated:*
            Filter: {S3Key: {Rules: [{Name: prefix, Value: in/}, {Name: suffix, Value: .txt}]}}
            BatchSize: 10
          - Url: http://127.0.0.1:9/removed
            Event: s3:ObjectRemoved:*
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: python3.12
      Handler: index.handler
      InlineCode: "def handler(event, context):\n    return None\n"
`

// TestApplyWebhookRules applies a template with Lambda and webhook rules to
// a real in-process Sluice and checks what is stored, what a client reads
// back, what the state file keeps, and that re-applies put only changes.
func TestApplyWebhookRules(t *testing.T) {
	srv := startSluiceS3(t)
	data := t.TempDir()
	ctx := context.Background()
	apply := func(tmpl string, params map[string]string) {
		t.Helper()
		st, err := LoadBytes(filepath.Join(t.TempDir(), "template.yaml"), []byte(tmpl), Options{StackName: "hooks", Parameters: params})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Apply(ctx, st, srv.targets(data), nil); err != nil {
			t.Fatalf("apply: %v", err)
		}
	}
	apply(applyWebhookTemplate, nil)

	fnARN := "arn:aws:lambda:us-east-1:000000000000:function:Fn"
	want := []notify.Rule{
		{ID: "Uploads-1", Kind: "lambda", Target: fnARN, Batch: 1, Events: []string{"s3:ObjectCreated:*"}, Prefix: "img/"},
		{ID: "Uploads-hook-1", Kind: "webhook", Target: "http://127.0.0.1:9/hook", Secret: "first-secret-0001", Batch: 10,
			Events: []string{"s3:ObjectCreated:*"}, Prefix: "in/", Suffix: ".txt"},
		{ID: "Uploads-hook-2", Kind: "webhook", Target: "http://127.0.0.1:9/removed", Batch: 1, Events: []string{"s3:ObjectRemoved:*"}},
	}
	if diff := cmp.Diff(want, srv.storedRules(t, "hooked-uploads")); diff != "" {
		t.Errorf("stored rules (-want +got):\n%s", diff)
	}
	got := srv.getNotification(t, "hooked-uploads")
	for _, s := range []string{"<Url>http://127.0.0.1:9/hook</Url>", "<Secret>REDACTED</Secret>", "<Id>Uploads-hook-1</Id>", "<BatchSize>10</BatchSize>",
		"<Id>Uploads-1</Id>", "<CloudFunction>" + fnARN + "</CloudFunction>"} {
		if !strings.Contains(got, s) {
			t.Errorf("GET ?notification lacks %s:\n%s", s, got)
		}
	}
	if strings.Contains(got, "first-secret") {
		t.Errorf("GET ?notification shows the secret:\n%s", got)
	}
	stateFile, err := os.ReadFile(statePath(data, "hooks"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(stateFile), "first-secret") {
		t.Errorf("state file holds the secret:\n%s", stateFile)
	}

	// Unchanged: nothing is put.
	puts := srv.notificationPuts.Load()
	apply(applyWebhookTemplate, nil)
	if n := srv.notificationPuts.Load() - puts; n != 0 {
		t.Errorf("re-applying an unchanged template put the notification configuration %d times", n)
	}

	// A new secret (an override of the NoEcho parameter) is put.
	apply(applyWebhookTemplate, map[string]string{"HookSecret": "second-secret-0002"})
	if n := srv.notificationPuts.Load() - puts; n != 1 {
		t.Errorf("a new secret: %d puts, want 1", n)
	}
	want[1].Secret = "second-secret-0002"
	if diff := cmp.Diff(want, srv.storedRules(t, "hooked-uploads")); diff != "" {
		t.Errorf("after a new secret (-want +got):\n%s", diff)
	}

	// An edited rule is put; a removed one disappears.
	edited := strings.Replace(applyWebhookTemplate, "BatchSize: 10", "BatchSize: 3", 1)
	edited = strings.Replace(edited, "          - Url: http://127.0.0.1:9/removed\n            Event: s3:ObjectRemoved:*\n", "", 1)
	apply(edited, map[string]string{"HookSecret": "second-secret-0002"})
	want[1].Batch = 3
	if diff := cmp.Diff(want[:2], srv.storedRules(t, "hooked-uploads")); diff != "" {
		t.Errorf("after an edit (-want +got):\n%s", diff)
	}

	// No rules left: the configuration is cleared.
	bare := applyWebhookTemplate[:strings.Index(applyWebhookTemplate, "      NotificationConfiguration:")] +
		applyWebhookTemplate[strings.Index(applyWebhookTemplate, "  Fn:"):]
	apply(bare, nil)
	if rules := srv.storedRules(t, "hooked-uploads"); len(rules) != 0 {
		t.Errorf("rules left after removing them all: %+v", rules)
	}
	puts = srv.notificationPuts.Load()
	apply(bare, nil)
	if n := srv.notificationPuts.Load() - puts; n != 0 {
		t.Errorf("re-applying a template without rules: %d puts", n)
	}
}

// TestApplyLambdaRulesUnchanged: a bucket with Lambda rules only stores
// exactly what the SDK's PutBucketNotificationConfiguration stored before
// webhooks were added to templates.
func TestApplyLambdaRulesUnchanged(t *testing.T) {
	srv := startSluiceS3(t)
	ctx := context.Background()
	tmpl := strings.Replace(applyWebhookTemplate, "        WebhookConfigurations:\n", "        WebhookConfigurations: !Ref AWS::NoValue\n", 1)
	tmpl = tmpl[:strings.Index(tmpl, "          - Url: http://127.0.0.1:9/hook")] + tmpl[strings.Index(tmpl, "  Fn:"):]
	st, err := LoadBytes(filepath.Join(t.TempDir(), "template.yaml"), []byte(tmpl), Options{StackName: "lambdas"})
	if err != nil {
		t.Fatal(err)
	}
	tg := srv.targets(t.TempDir())
	if _, err := Apply(ctx, st, tg, nil); err != nil {
		t.Fatal(err)
	}
	viaTemplate, err := srv.store.BucketConfig(ctx, "hooked-uploads", sluice.ConfigNotification)
	if err != nil || viaTemplate == nil {
		t.Fatalf("stored: %q %v", viaTemplate, err)
	}

	// The same rule through the SDK's own types.
	fnARN := "arn:aws:lambda:us-east-1:000000000000:function:Fn"
	if _, err := tg.S3.PutBucketNotificationConfiguration(ctx, &s3.PutBucketNotificationConfigurationInput{
		Bucket: aws.String("hooked-uploads"),
		NotificationConfiguration: &s3types.NotificationConfiguration{LambdaFunctionConfigurations: []s3types.LambdaFunctionConfiguration{{
			Id: aws.String("Uploads-1"), LambdaFunctionArn: aws.String(fnARN), Events: []s3types.Event{"s3:ObjectCreated:*"},
			Filter: &s3types.NotificationConfigurationFilter{Key: &s3types.S3KeyFilter{FilterRules: []s3types.FilterRule{
				{Name: s3types.FilterRuleNamePrefix, Value: aws.String("img/")}}}},
		}}},
	}); err != nil {
		t.Fatal(err)
	}
	viaSDK, err := srv.store.BucketConfig(ctx, "hooked-uploads", sluice.ConfigNotification)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(viaSDK), string(viaTemplate)); diff != "" {
		t.Errorf("stored document (-sdk +template):\n%s", diff)
	}
}
