//go:build integration

package integration

// A webhook rule declared in a template (WebhookConfigurations, the Sluice
// extension of a bucket's NotificationConfiguration) is brought up by
// `sluice serve -t` and delivers signed AWS-shaped records; its secret,
// given as a NoEcho parameter override, never shows in GET, the log or
// the stack state.

import (
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

const templateWebhookTemplate = `Transform: AWS::Serverless-2016-10-31
Parameters:
  HookSecret:
    Type: String
    NoEcho: true
  HookBase:
    Type: String
Resources:
  Uploads:
    Type: AWS::S3::Bucket
    Properties:
      BucketName: !Sub "${AWS::StackName}-uploads"
      NotificationConfiguration:
        WebhookConfigurations:
          - Url: !Sub "${HookBase}/hook"
            Secret: !Ref HookSecret
            Event: s3:ObjectCreated:*
            Filter:
              S3Key:
                Rules:
                  - Name: prefix
                    Value: in/
          - Url: !Sub "${HookBase}/other"
            Event: s3:ObjectCreated:*
            Filter: {S3Key: {Rules: [{Name: prefix, Value: out/}]}}
Outputs:
  Bucket:
    Value: !Ref Uploads
`

// pathDelivery is one POST a pathReceiver saw.
type pathDelivery struct {
	Path, Signature string
	Body            []byte
}

// pathReceiver is a real HTTP server on 127.0.0.1 that records every POST
// with its path and answers 200.
type pathReceiver struct {
	srv *httptest.Server
	mu  sync.Mutex
	got []pathDelivery
}

func newPathReceiver(t *testing.T) *pathReceiver {
	r := &pathReceiver{}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, err := io.ReadAll(req.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		r.mu.Lock()
		r.got = append(r.got, pathDelivery{Path: req.URL.Path, Signature: req.Header.Get("X-Sluice-Signature"), Body: body})
		r.mu.Unlock()
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *pathReceiver) deliveries(path string) []pathDelivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []pathDelivery
	for _, d := range r.got {
		if d.Path == path {
			out = append(out, d)
		}
	}
	return out
}

func TestTemplateWebhook(t *testing.T) {
	t.Parallel()
	recv := newPathReceiver(t)
	dir := t.TempDir()
	tmpl := filepath.Join(dir, "template.yaml")
	if err := os.WriteFile(tmpl, []byte(templateWebhookTemplate), 0o644); err != nil {
		t.Fatal(err)
	}
	secret := "tmpl-secret-" + randSuffix(16)
	stackName := "hooks" + randSuffix(6)
	s := startSluice(t, withArgs("-t", tmpl, "--stack-name", stackName, "--api-addr", "",
		"--parameter-overrides", "HookSecret="+secret+" HookBase="+recv.srv.URL))
	out := waitOutputs(t, s, 0)
	bucket := out["Bucket"]
	if bucket != stackName+"-uploads" {
		t.Fatalf("outputs %v", out)
	}

	// What a client reads back: the rule, its secret redacted.
	r := do(t, signedRequest(t, s, http.MethodGet, s.URL+"/"+bucket+"?notification", nil, signSpec{}))
	if r.Status != http.StatusOK {
		t.Fatalf("GET ?notification: %d %s", r.Status, r.Body)
	}
	for _, want := range []string{"<Id>Uploads-hook-1</Id>", "<Url>" + recv.srv.URL + "/hook</Url>", "<Secret>REDACTED</Secret>",
		"<Name>Prefix</Name><Value>in/</Value>", "<Event>s3:ObjectCreated:*</Event>", "<Id>Uploads-hook-2</Id>"} {
		if !strings.Contains(string(r.Body), want) {
			t.Errorf("GET ?notification lacks %s:\n%s", want, r.Body)
		}
	}

	// A key outside the rule's prefix first (it goes to the other rule),
	// then one inside it, both with aws-cli.
	src := filepath.Join(dir, "photo.txt")
	body := []byte("hello from a template webhook " + randSuffix(8))
	if err := os.WriteFile(src, body, 0o644); err != nil {
		t.Fatal(err)
	}
	awsOK(t, s, "s3", "cp", src, "s3://"+bucket+"/out/skipped.txt")
	awsOK(t, s, "s3", "cp", src, "s3://"+bucket+"/in/photo.txt")

	if err := poll(eventDeadline, func() error {
		if len(recv.deliveries("/hook")) == 0 || len(recv.deliveries("/other")) == 0 {
			return fmt.Errorf("deliveries: %d to /hook, %d to /other", len(recv.deliveries("/hook")), len(recv.deliveries("/other")))
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	// The event of out/skipped.txt has been matched against every rule
	// (its /other delivery arrived): /hook has exactly the in/ record.
	hooks := recv.deliveries("/hook")
	if len(hooks) != 1 {
		t.Fatalf("/hook got %d deliveries, want 1:\n%s", len(hooks), hooks)
	}
	d := hooks[0]
	if want := hmacSignature(secret, d.Body); d.Signature != want {
		t.Errorf("X-Sluice-Signature = %q, want %q (HMAC-SHA256 of the body under the template's secret)", d.Signature, want)
	}
	sum := md5.Sum(body)
	checkRecord(t, "template webhook record", onlyRecord(t, d.Body), wantRecord{
		Region: s.Region, Bucket: bucket, ConfigID: "Uploads-hook-1", Key: "in/photo.txt", ETag: hex.EncodeToString(sum[:]), Size: len(body)})
	other := recv.deliveries("/other")
	if rec := onlyRecord(t, other[0].Body); recordField(rec, "s3.object.key") != "out/skipped.txt" || recordField(rec, "s3.configurationId") != "Uploads-hook-2" {
		t.Errorf("/other got %v", rec)
	}
	if other[0].Signature != "" {
		t.Errorf("a rule without a Secret sent X-Sluice-Signature %q", other[0].Signature)
	}

	// The secret is nowhere but where deliveries are signed from.
	if strings.Contains(s.log(), secret) {
		t.Error("the server log shows the webhook secret")
	}
	state, err := os.ReadFile(filepath.Join(s.DataDir, "stacks", stackName+".json"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(state), secret) {
		t.Errorf("the stack state holds the webhook secret:\n%s", state)
	}
}

func (d pathDelivery) String() string { return d.Path + " " + string(d.Body) }
