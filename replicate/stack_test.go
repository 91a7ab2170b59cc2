package replicate

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/frontdoor"
	"github.com/sluicehq/sluice/fsstore"
	"github.com/sluicehq/sluice/s3api"
	"github.com/sluicehq/sluice/sigv4"
)

// stack is the S3 half of `sluice serve` in-process: fsstore recording
// events, s3api behind the front door verifying SigV4, and an SDK client.
type stack struct {
	t      *testing.T
	dir    string
	store  *fsstore.Store
	url    string
	client *s3.Client
}

type authenticator struct{ *sigv4.Verifier }

func (authenticator) Scope(r *http.Request) (string, string, bool) { return sigv4.Scope(r) }

func newStack(t *testing.T) *stack {
	t.Helper()
	dir := t.TempDir()
	cfg := fsstore.DefaultConfig()
	cfg.Dir = filepath.Join(dir, "data")
	cfg.NoSync = true
	cfg.RecordEvents = true
	st, err := fsstore.Open(cfg)
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	// A consumer that never acknowledges keeps every event readable, so
	// that caughtUp can learn the newest seq.
	if _, err := st.Cursor(context.Background(), "test-spy"); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	srv, err := s3api.New(s3api.DefaultConfig(), st, log)
	if err != nil {
		t.Fatal(err)
	}
	url := serveDoor(t, log, map[string]frontdoor.Service{"s3": srv})
	return &stack{t: t, dir: dir, store: st, url: url, client: newClient(url, sluice.DefaultRegion)}
}

func newClient(url, region string) *s3.Client {
	return s3.New(s3.Options{
		Region:       region,
		BaseEndpoint: aws.String(url),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider("test", "test", ""),
	})
}

// testConfig retries fast so that dead-letter tests finish quickly.
func testConfig(dir string) Config {
	cfg := DefaultConfig()
	cfg.Dir = dir
	cfg.MaxAttempts = 3
	cfg.MinBackoff = 5 * time.Millisecond
	cfg.MaxBackoff = 20 * time.Millisecond
	return cfg
}

// running is a Replicator serving in the background.
type running struct {
	*Replicator
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
}

func (s *stack) startReplicator(cfg Config) *running {
	s.t.Helper()
	return s.startReplicatorOn(s.store, cfg)
}

// newTaggedStack is a stack with buckets src and dst, src tagged
// TargetBucket=dst.
func newTaggedStack(t *testing.T) *stack {
	s := newStack(t)
	s.mkBucket("src", "")
	s.mkBucket("dst", "")
	s.tagBucket("src", "dst")
	return s
}

// replicator is a Replicator over the stack's store with its records in a
// temp dir, not serving, closed when the test ends.
func (s *stack) replicator() *Replicator {
	s.t.Helper()
	r, err := New(testConfig(s.t.TempDir()), s.store, s.store, nil)
	if err != nil {
		s.t.Fatalf("new replicator: %v", err)
	}
	s.t.Cleanup(func() { r.Close() })
	return r
}

func (s *stack) startReplicatorOn(store sluice.Store, cfg Config) *running {
	s.t.Helper()
	r, err := New(cfg, store, s.store, slog.New(slog.DiscardHandler))
	if err != nil {
		s.t.Fatalf("new replicator: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	run := &running{Replicator: r, cancel: cancel, done: make(chan error, 1)}
	go func() { run.done <- r.Serve(ctx) }()
	s.t.Cleanup(run.stop)
	return run
}

func (r *running) stop() {
	r.once.Do(func() {
		r.cancel()
		if err := <-r.done; err != nil {
			panic(err)
		}
		r.Close()
	})
}

func (s *stack) mkBucket(name, region string) {
	s.t.Helper()
	in := &s3.CreateBucketInput{Bucket: aws.String(name)}
	if region != "" {
		in.CreateBucketConfiguration = &types.CreateBucketConfiguration{LocationConstraint: types.BucketLocationConstraint(region)}
	}
	if _, err := s.client.CreateBucket(context.Background(), in); err != nil {
		s.t.Fatalf("create bucket %s: %v", name, err)
	}
}

func (s *stack) tagBucket(bucket, targets string) {
	s.t.Helper()
	var err error
	if targets == "" {
		_, err = s.client.DeleteBucketTagging(context.Background(), &s3.DeleteBucketTaggingInput{Bucket: aws.String(bucket)})
	} else {
		_, err = s.client.PutBucketTagging(context.Background(), &s3.PutBucketTaggingInput{
			Bucket:  aws.String(bucket),
			Tagging: &types.Tagging{TagSet: []types.Tag{{Key: aws.String("team"), Value: aws.String("media")}, {Key: aws.String(TagName), Value: aws.String(targets)}}},
		})
	}
	if err != nil {
		s.t.Fatalf("tag bucket %s: %v", bucket, err)
	}
}

func (s *stack) put(bucket, key string, body []byte) string {
	s.t.Helper()
	out, err := s.client.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(body)})
	if err != nil {
		s.t.Fatalf("put %s/%s: %v", bucket, key, err)
	}
	return aws.ToString(out.ETag)
}

// caughtUp waits until the replicator has acknowledged every event recorded
// so far, so that absence of a copy can be asserted without sleeping.
func (s *stack) caughtUp() {
	s.t.Helper()
	ctx := context.Background()
	// A marker write gives the newest seq: every earlier event precedes it.
	s.mkBucketOnce("zz-caught-up")
	s.put("zz-caught-up", "marker", []byte("x"))
	evs, err := s.store.ReadEvents(ctx, 0, 1<<20)
	if err != nil || len(evs) == 0 {
		s.t.Fatalf("read events: %v", err)
	}
	last := evs[len(evs)-1].Seq
	poll(s.t, "replicator catches up", func() bool {
		c, err := s.store.Cursor(ctx, Consumer)
		return err == nil && c >= last
	})
}

func (s *stack) mkBucketOnce(name string) {
	if _, err := s.store.Bucket(context.Background(), name); err != nil {
		s.mkBucket(name, "")
	}
}

// poll waits for cond with a deadline.
func poll(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting: %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// getObject returns an object's bytes and GetObject output, or nil when
// missing.
func getObject(t *testing.T, c *s3.Client, bucket, key string) ([]byte, *s3.GetObjectOutput) {
	t.Helper()
	out, err := c.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	var nsk *types.NoSuchKey
	if errors.As(err, &nsk) {
		return nil, nil
	}
	if err != nil {
		t.Fatalf("get %s/%s: %v", bucket, key, err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		t.Fatalf("read %s/%s: %v", bucket, key, err)
	}
	return b, out
}

func objectTags(t *testing.T, c *s3.Client, bucket, key string) map[string]string {
	t.Helper()
	out, err := c.GetObjectTagging(context.Background(), &s3.GetObjectTaggingInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatalf("get tags %s/%s: %v", bucket, key, err)
	}
	m := map[string]string{}
	for _, tg := range out.TagSet {
		m[aws.ToString(tg.Key)] = aws.ToString(tg.Value)
	}
	return m
}

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// sluiceBinary builds ./cmd/sluice once per test run.
func sluiceBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "sluice-replicate-bin")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "sluice")
		out, err := exec.Command("go", "build", "-o", binPath, "github.com/sluicehq/sluice/cmd/sluice").CombinedOutput()
		if err != nil {
			buildErr = errors.New(string(out))
		}
	})
	if buildErr != nil {
		t.Fatalf("build sluice: %v", buildErr)
	}
	return binPath
}

var readyRE = regexp.MustCompile(`api=(http://[0-9.:]+)`)

// serveProcess runs `sluice serve` and returns its API URL.
func serveProcess(t *testing.T, region string) string {
	t.Helper()
	bin := sluiceBinary(t)
	dir := t.TempDir()
	cmd := exec.Command(bin, "serve", "--addr", "127.0.0.1:0", "--edge-addr", "127.0.0.1:0",
		"--data", filepath.Join(dir, "data"), "--region", region, "--fsync=false")
	cmd.Env = append(os.Environ(), "SLUICE_ACCESS_KEY=test", "SLUICE_SECRET_KEY=test")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start sluice serve: %v", err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	urlc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if m := readyRE.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case urlc <- m[1]:
				default:
				}
			}
		}
	}()
	select {
	case u := <-urlc:
		return u
	case <-time.After(30 * time.Second):
		t.Fatal("sluice serve did not become ready")
	}
	return ""
}

// serveDoor serves services behind a SigV4-verifying front door (key pair
// test/test) on a loopback port until the test ends, and returns its URL.
func serveDoor(t *testing.T, log *slog.Logger, services map[string]frontdoor.Service) string {
	t.Helper()
	acfg := sigv4.DefaultConfig()
	acfg.Credentials = map[string]string{"test": "test"}
	v, err := sigv4.New(acfg)
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	door, err := frontdoor.New(frontdoor.DefaultConfig(), authenticator{v}, log, reg, reg)
	if err != nil {
		t.Fatal(err)
	}
	for name, svc := range services {
		door.Handle(name, svc)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); door.Serve(ctx, ln) }()
	t.Cleanup(func() { cancel(); <-done })
	return "http://" + ln.Addr().String()
}
