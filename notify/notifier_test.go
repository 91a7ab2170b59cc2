package notify_test

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	lambdasdk "github.com/aws/aws-sdk-go-v2/service/lambda"
	lambdatypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/frontdoor"
	"github.com/sluicehq/sluice/fsstore"
	"github.com/sluicehq/sluice/lambda"
	"github.com/sluicehq/sluice/notify"
	"github.com/sluicehq/sluice/s3api"
	"github.com/sluicehq/sluice/sigv4"
)

// stack is fsstore (recording events) + s3api + lambda behind the real
// front door with SigV4, as cmd/sluice wires them, and a Notifier that can
// be stopped and restarted on the same directories.
type stack struct {
	t         *testing.T
	dir       string
	store     *fsstore.Store
	functions *lambda.Service
	url       string
	s3        *s3api.Server
	client    *s3.Client
	cfg       notify.Config

	mu       sync.Mutex
	notifier *notify.Notifier
	stop     context.CancelFunc
	done     chan error
}

type notifierRef struct{ s *stack }

func (r notifierRef) UpdateNotification(ctx context.Context, bucket string, doc, current []byte, skip bool) ([]byte, error) {
	r.s.mu.Lock()
	n := r.s.notifier
	r.s.mu.Unlock()
	return n.UpdateNotification(ctx, bucket, doc, current, skip)
}

func (r notifierRef) RedactNotification(doc []byte) ([]byte, error) { return notify.Redact(doc) }

type testAuth struct{ *sigv4.Verifier }

func (testAuth) Scope(r *http.Request) (string, string, bool) { return sigv4.Scope(r) }

func logger() *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

func newStack(t *testing.T, withLambda bool, mutate func(*notify.Config)) *stack {
	t.Helper()
	s := &stack{t: t, dir: t.TempDir()}
	scfg := fsstore.DefaultConfig()
	scfg.Dir = filepath.Join(s.dir, "store")
	scfg.RecordEvents = true
	scfg.NoSync = true
	st, err := fsstore.Open(scfg)
	if err != nil {
		t.Fatal(err)
	}
	s.store = st
	t.Cleanup(func() { st.Close() })

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.url = "http://" + ln.Addr().String()

	if withLambda {
		hcfg := lambda.DefaultHostConfig()
		hcfg.Dir = filepath.Join(s.dir, "run")
		hcfg.EndpointURL = s.url
		hcfg.Python = realPython()
		host, err := lambda.NewHost(hcfg, nil, logger())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { host.Close() })
		fcfg := lambda.DefaultConfig()
		fcfg.Dir = filepath.Join(s.dir, "lambda")
		fcfg.AsyncBackoff = []time.Duration{10 * time.Millisecond}
		fns, err := lambda.New(fcfg, st, host, logger())
		if err != nil {
			t.Fatal(err)
		}
		s.functions = fns
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { fns.Serve(ctx); close(done) }()
		t.Cleanup(func() { cancel(); <-done; fns.Close() })
	}

	s.cfg = notify.DefaultConfig()
	s.cfg.Dir = filepath.Join(s.dir, "notify")
	s.cfg.NoSync = true
	s.cfg.MinBackoff, s.cfg.MaxBackoff = 20*time.Millisecond, 100*time.Millisecond
	s.cfg.WebhookTimeout = 5 * time.Second
	if withLambda {
		s.cfg.Functions = s.functions
	}
	if mutate != nil {
		mutate(&s.cfg)
	}
	s.start()

	srv, err := s3api.New(s3api.DefaultConfig(), st, logger(), s3api.WithNotifications(notifierRef{s}))
	if err != nil {
		t.Fatal(err)
	}
	s.s3 = srv
	acfg := sigv4.DefaultConfig()
	acfg.Credentials = map[string]string{"test": "test"}
	verifier, err := sigv4.New(acfg)
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	door, err := frontdoor.New(frontdoor.DefaultConfig(), testAuth{verifier}, logger(), reg, reg)
	if err != nil {
		t.Fatal(err)
	}
	door.Handle("s3", srv)
	if s.functions != nil {
		door.Handle("lambda", s.functions)
	}
	ctx, cancel := context.WithCancel(context.Background())
	doorDone := make(chan error, 1)
	go func() { doorDone <- door.Serve(ctx, ln) }()
	t.Cleanup(func() { cancel(); <-doorDone })
	s.client = s3.New(s3.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(s.url),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider("test", "test", ""),
	})
	return s
}

// start runs a new Notifier on the stack's directories.
func (s *stack) start() {
	s.t.Helper()
	n, err := notify.New(s.cfg, s.store, s.store, invokerOf(s.functions), logger())
	if err != nil {
		s.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Serve(ctx) }()
	s.mu.Lock()
	s.notifier, s.stop, s.done = n, cancel, done
	s.mu.Unlock()
	s.t.Cleanup(s.halt)
}

// halt stops the running Notifier and closes its database.
func (s *stack) halt() {
	s.mu.Lock()
	n, stop, done := s.notifier, s.stop, s.done
	s.stop = nil
	s.mu.Unlock()
	if stop == nil {
		return
	}
	stop()
	if err := <-done; err != nil {
		s.t.Errorf("Serve: %v", err)
	}
	n.Close()
}

func invokerOf(fns *lambda.Service) sluice.Invoker {
	if fns == nil {
		return nil
	}
	return fns
}

func (s *stack) current() *notify.Notifier {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.notifier
}

func (s *stack) bucket(name, config string) {
	s.t.Helper()
	ctx := context.Background()
	if _, err := s.client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		s.t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodPut, s.url+"/"+name+"?notification", strings.NewReader(config))
	if err != nil {
		s.t.Fatal(err)
	}
	resp := s.signed(req)
	if resp.status != 200 {
		s.t.Fatalf("PutBucketNotificationConfiguration = %d %s", resp.status, resp.body)
	}
}

func (s *stack) put(bucket, key string, body []byte) *s3.PutObjectOutput {
	s.t.Helper()
	out, err := s.client.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(body)})
	if err != nil {
		s.t.Fatalf("put %s: %v", key, err)
	}
	return out
}

type response struct {
	status int
	body   []byte
}

// signed sends req signed with SigV4 for service s3.
func (s *stack) signed(req *http.Request) response {
	s.t.Helper()
	body, _ := io.ReadAll(req.Body)
	req.Body = io.NopCloser(bytes.NewReader(body))
	sum := sha256.Sum256(body)
	hash := hex.EncodeToString(sum[:])
	req.Header.Set("X-Amz-Content-Sha256", hash)
	err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: "test", SecretAccessKey: "test"}, req, hash, "s3", "us-east-1", time.Now())
	if err != nil {
		s.t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{resp.StatusCode, b}
}

// receiver is a webhook endpoint that records what it got and answers
// with the status its fail function picks.
type receiver struct {
	*httptest.Server
	mu     sync.Mutex
	got    []received
	status func(n int) int
}

type received struct {
	body      []byte
	signature string
}

func newReceiver(t *testing.T, status func(n int) int) *receiver {
	r := &receiver{status: status}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.got = append(r.got, received{b, req.Header.Get(notify.SignatureHeader)})
		n := len(r.got)
		st := r.status
		r.mu.Unlock()
		code := 200
		if st != nil {
			code = st(n)
		}
		w.WriteHeader(code)
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) received() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]received(nil), r.got...)
}

func (r *receiver) setStatus(f func(int) int) {
	r.mu.Lock()
	r.status = f
	r.mu.Unlock()
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func webhookConfig(url, secret, prefix, suffix string) string {
	f := ""
	if prefix != "" || suffix != "" {
		f = "<Filter><S3Key>"
		if prefix != "" {
			f += "<FilterRule><Name>prefix</Name><Value>" + prefix + "</Value></FilterRule>"
		}
		if suffix != "" {
			f += "<FilterRule><Name>suffix</Name><Value>" + suffix + "</Value></FilterRule>"
		}
		f += "</S3Key></Filter>"
	}
	return `<NotificationConfiguration><WebhookConfiguration><Id>hook-1</Id><Url>` + url + `</Url><Secret>` + secret +
		`</Secret><Event>s3:ObjectCreated:*</Event>` + f + `</WebhookConfiguration></NotificationConfiguration>`
}

type record struct {
	EventVersion string `json:"eventVersion"`
	EventSource  string `json:"eventSource"`
	AWSRegion    string `json:"awsRegion"`
	EventName    string `json:"eventName"`
	UserIdentity struct {
		PrincipalID string `json:"principalId"`
	} `json:"userIdentity"`
	RequestParameters struct {
		SourceIPAddress string `json:"sourceIPAddress"`
	} `json:"requestParameters"`
	ResponseElements map[string]string `json:"responseElements"`
	S3               struct {
		SchemaVersion   string `json:"s3SchemaVersion"`
		ConfigurationID string `json:"configurationId"`
		Bucket          struct {
			Name string `json:"name"`
			Arn  string `json:"arn"`
		} `json:"bucket"`
		Object struct {
			Key       string `json:"key"`
			Size      *int64 `json:"size"`
			ETag      string `json:"eTag"`
			Sequencer string `json:"sequencer"`
		} `json:"object"`
	} `json:"s3"`
}

func decodeRecords(t *testing.T, body []byte) []record {
	t.Helper()
	var m struct{ Records []record }
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("record body %s: %v", body, err)
	}
	return m.Records
}

func TestWebhookDeliversS3Records(t *testing.T) {
	s := newStack(t, false, nil)
	rcv := newReceiver(t, nil)
	s.bucket("photos", webhookConfig(rcv.URL, "s3cr3t", "in/", ".jpg"))

	out := s.put("photos", "in/a b.jpg", []byte("hello"))
	s.put("photos", "in/skip.png", []byte("x"))
	s.put("photos", "out/skip.jpg", []byte("x"))
	s.put("photos", "in/z.jpg", []byte("second"))
	waitFor(t, "two deliveries", func() bool { return len(rcv.received()) >= 2 })

	got := rcv.received()
	if len(got) != 2 {
		t.Fatalf("got %d deliveries, want 2 (filters must drop the others)", len(got))
	}
	var first *record
	keys := map[string]bool{}
	for _, g := range got {
		if g.signature != notify.Sign("s3cr3t", g.body) {
			t.Fatalf("signature %q does not verify the body", g.signature)
		}
		rs := decodeRecords(t, g.body)
		if len(rs) != 1 {
			t.Fatalf("got %d records in one message", len(rs))
		}
		keys[rs[0].S3.Object.Key] = true
		if rs[0].S3.Object.Key == "in/a+b.jpg" {
			first = &rs[0]
		}
	}
	if !keys["in/a+b.jpg"] || !keys["in/z.jpg"] {
		t.Fatalf("delivered keys %v", keys)
	}
	r := first
	checks := []struct{ name, got, want string }{
		{"eventVersion", r.EventVersion, "2.1"},
		{"eventSource", r.EventSource, "aws:s3"},
		{"awsRegion", r.AWSRegion, "us-east-1"},
		{"eventName", r.EventName, "ObjectCreated:Put"},
		{"principalId", r.UserIdentity.PrincipalID, "AWS:test"},
		{"sourceIPAddress", r.RequestParameters.SourceIPAddress, "127.0.0.1"},
		{"configurationId", r.S3.ConfigurationID, "hook-1"},
		{"bucket", r.S3.Bucket.Name, "photos"},
		{"bucket arn", r.S3.Bucket.Arn, "arn:aws:s3:::photos"},
		{"eTag", r.S3.Object.ETag, strings.Trim(aws.ToString(out.ETag), `"`)},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.name, c.got, c.want)
		}
	}
	if r.S3.Object.Size == nil || *r.S3.Object.Size != 5 {
		t.Errorf("size = %v, want 5", r.S3.Object.Size)
	}
	if r.S3.Object.Sequencer == "" || r.ResponseElements["x-amz-request-id"] == "" {
		t.Errorf("sequencer %q / request id %q missing", r.S3.Object.Sequencer, r.ResponseElements["x-amz-request-id"])
	}
}

func TestWebhookRetriesDeadLettersAndRedrive(t *testing.T) {
	s := newStack(t, false, func(c *notify.Config) { c.MaxAttempts = 3 })
	rcv := newReceiver(t, func(int) int { return 500 })
	s.bucket("flaky", webhookConfig(rcv.URL, "", "", ""))
	s.put("flaky", "k", []byte("v"))

	n := s.current()
	waitFor(t, "a dead letter", func() bool {
		dl, err := n.DeadLetters(context.Background())
		return err == nil && len(dl) == 1
	})
	if got := len(rcv.received()); got != 3 {
		t.Fatalf("receiver saw %d attempts, want the budget of 3", got)
	}
	if got := rcv.received()[0].signature; got != "" {
		t.Fatalf("unsigned rule sent a signature %q", got)
	}

	// Listing and redrive go through the HTTP handler the CLI calls.
	h := httptest.NewServer(n.Handler())
	defer h.Close()
	resp, err := http.Get(h.URL + "/_sluice/events/dead-letters")
	if err != nil {
		t.Fatal(err)
	}
	var list struct{ DeadLetters []notify.Delivery }
	json.NewDecoder(resp.Body).Decode(&list)
	resp.Body.Close()
	if len(list.DeadLetters) != 1 || list.DeadLetters[0].Attempts != 3 || list.DeadLetters[0].Key != "k" ||
		!strings.Contains(list.DeadLetters[0].LastError, "500") {
		t.Fatalf("dead letters = %+v", list.DeadLetters)
	}
	resp, err = http.Post(h.URL+"/_sluice/events/dead-letters/redrive?id=ffff", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Fatalf("redrive of unknown id = %d, want 404", resp.StatusCode)
	}

	rcv.setStatus(func(int) int { return 204 })
	resp, err = http.Post(h.URL+"/_sluice/events/dead-letters/redrive?id="+list.DeadLetters[0].ID, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	var rd struct{ Redriven int }
	json.NewDecoder(resp.Body).Decode(&rd)
	resp.Body.Close()
	if rd.Redriven != 1 {
		t.Fatalf("redriven = %d", rd.Redriven)
	}
	waitFor(t, "redriven delivery", func() bool { return len(rcv.received()) == 4 })
	waitFor(t, "empty queues", func() bool {
		dl, _ := n.DeadLetters(context.Background())
		p, _ := n.Pending(context.Background())
		return len(dl) == 0 && len(p) == 0
	})
}

func TestPendingDeliverySurvivesRestart(t *testing.T) {
	s := newStack(t, false, func(c *notify.Config) { c.MinBackoff, c.MaxBackoff = 300*time.Millisecond, 300*time.Millisecond })
	rcv := newReceiver(t, func(int) int { return 503 })
	s.bucket("durable", webhookConfig(rcv.URL, "k", "", ""))
	s.put("durable", "survivor", []byte("v"))
	waitFor(t, "a failed first attempt", func() bool { return len(rcv.received()) >= 1 })
	s.halt()
	if cur, _ := s.store.Cursor(context.Background(), notify.Consumer); cur == 0 {
		t.Fatal("outbox was not acknowledged although the delivery was queued")
	}

	rcv.setStatus(nil)
	before := len(rcv.received())
	s.start()
	waitFor(t, "delivery after restart", func() bool { return len(rcv.received()) > before })
	last := rcv.received()[len(rcv.received())-1]
	if rs := decodeRecords(t, last.body); rs[0].S3.Object.Key != "survivor" {
		t.Fatalf("delivered %q", rs[0].S3.Object.Key)
	}
	waitFor(t, "nothing pending", func() bool {
		p, _ := s.current().Pending(context.Background())
		return len(p) == 0
	})
}

const pyHandler = `import json, os
def handler(event, context):
    key = event["Records"][0]["s3"]["object"]["key"]
    with open(os.path.join(os.environ["OUT_DIR"], "records.jsonl"), "a") as f:
        f.write(json.dumps(event) + "\n")
    return {"ok": True}
`

func TestLambdaRuleInvokesPythonFunction(t *testing.T) {
	if realPython() == "" {
		t.Skip("python3 not installed")
	}
	s := newStack(t, true, nil)
	out := t.TempDir()
	lc := lambdasdk.New(lambdasdk.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(s.url),
		Credentials: credentials.NewStaticCredentialsProvider("test", "test", ""), RetryMaxAttempts: 1,
	})
	fn, err := lc.CreateFunction(context.Background(), &lambdasdk.CreateFunctionInput{
		FunctionName: aws.String("on-upload"),
		Runtime:      lambdatypes.RuntimePython312,
		Role:         aws.String("arn:aws:iam::000000000000:role/r"),
		Handler:      aws.String("app.handler"),
		Code:         &lambdatypes.FunctionCode{ZipFile: zipOf(t, map[string]string{"app.py": pyHandler})},
		Environment:  &lambdatypes.Environment{Variables: map[string]string{"OUT_DIR": out}},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := s.client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("uploads")}); err != nil {
		t.Fatal(err)
	}
	// A function that does not exist is refused at configuration time.
	_, err = s.client.PutBucketNotificationConfiguration(ctx, &s3.PutBucketNotificationConfigurationInput{
		Bucket: aws.String("uploads"),
		NotificationConfiguration: &types.NotificationConfiguration{LambdaFunctionConfigurations: []types.LambdaFunctionConfiguration{{
			LambdaFunctionArn: aws.String(strings.Replace(aws.ToString(fn.FunctionArn), "on-upload", "ghost", 1)),
			Events:            []types.Event{"s3:ObjectCreated:*"},
		}}},
	})
	if err == nil || !strings.Contains(err.Error(), "Unable to validate the following destination configurations") {
		t.Fatalf("missing function: err = %v", err)
	}
	_, err = s.client.PutBucketNotificationConfiguration(ctx, &s3.PutBucketNotificationConfigurationInput{
		Bucket: aws.String("uploads"),
		NotificationConfiguration: &types.NotificationConfiguration{LambdaFunctionConfigurations: []types.LambdaFunctionConfiguration{{
			Id: aws.String("to-fn"), LambdaFunctionArn: fn.FunctionArn, Events: []types.Event{"s3:ObjectCreated:Put"},
			Filter: &types.NotificationConfigurationFilter{Key: &types.S3KeyFilter{FilterRules: []types.FilterRule{{Name: "suffix", Value: aws.String(".csv")}}}},
		}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	s.put("uploads", "skip.txt", []byte("no"))
	s.put("uploads", "data/report 1.csv", []byte("a,b\n"))
	path := filepath.Join(out, "records.jsonl")
	waitFor(t, "the function's record", func() bool {
		b, _ := os.ReadFile(path)
		return bytes.Count(b, []byte("\n")) >= 1
	})
	b, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 1 {
		t.Fatalf("function ran %d times: %s", len(lines), b)
	}
	rs := decodeRecords(t, []byte(lines[0]))
	if rs[0].S3.Object.Key != "data/report+1.csv" || rs[0].S3.ConfigurationID != "to-fn" || rs[0].EventName != "ObjectCreated:Put" {
		t.Fatalf("record = %+v", rs[0])
	}
}

func zipOf(t *testing.T, files map[string]string) []byte {
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	for name, body := range files {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(w, body)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

var realPython = sync.OnceValue(func() string {
	out, err := exec.Command("python3", "-c", "import sys; print(sys.executable)").Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
})

// TestReadInterval: with an interval far longer than the test, the first
// read finds the events written while the notifier was stopped, and full
// reads of a backlog do not wait; an event written after a read that was
// not full waits for the interval, and a restart reads it at once.
func TestReadInterval(t *testing.T) {
	s := newStack(t, false, func(c *notify.Config) {
		c.ReadInterval = time.Hour
		c.BatchSize = 2
	})
	rcv := newReceiver(t, nil)
	s.bucket("interval", webhookConfig(rcv.URL, "", "", ""))
	s.halt()
	for i := range 5 {
		s.put("interval", fmt.Sprintf("k%d", i), []byte("x"))
	}
	s.start()
	waitFor(t, "the backlog, read 2, 2 and 1 at a time", func() bool { return len(rcv.received()) == 5 })

	s.put("interval", "k5", []byte("x"))
	// Not a wait for something to happen: a read that came now would
	// break the interval, and 200 ms leaves it time to show.
	time.Sleep(200 * time.Millisecond)
	if n := len(rcv.received()); n != 5 {
		t.Fatalf("%d deliveries within the read interval, want 5", n)
	}
	s.halt()
	s.start()
	waitFor(t, "the held event after a restart", func() bool { return len(rcv.received()) == 6 })
}
