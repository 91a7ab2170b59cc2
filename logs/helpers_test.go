package logs

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluicehq/sluice/frontdoor"
	"github.com/sluicehq/sluice/sigv4"
)

// authenticator adapts sigv4 to the front door, as cmd/sluice does.
type authenticator struct{ *sigv4.Verifier }

func (authenticator) Scope(r *http.Request) (string, string, bool) { return sigv4.Scope(r) }

var _ frontdoor.Service = (*Service)(nil)

func quietLog() *slog.Logger { return slog.New(slog.DiscardHandler) }

func openStore(t testing.TB, dir string) *Store {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Dir = dir
	st, err := Open(cfg, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// env is a Store served through a real front door on 127.0.0.1.
type env struct {
	dir    string
	store  *Store
	url    string
	client *cloudwatchlogs.Client
}

func newEnv(t testing.TB) *env {
	t.Helper()
	dir := t.TempDir()
	st := openStore(t, dir)
	t.Cleanup(func() { st.Close() })
	url := serveStore(t, st)
	return &env{dir: dir, store: st, url: url, client: newClient(url)}
}

// serveStore puts a Service over st behind a front door and returns its URL.
func serveStore(t testing.TB, st *Store) string {
	t.Helper()
	vcfg := sigv4.DefaultConfig()
	vcfg.Credentials = map[string]string{"test": "test"}
	verifier, err := sigv4.New(vcfg)
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	dcfg := frontdoor.DefaultConfig()
	dcfg.ShutdownTimeout = 5 * time.Second
	door, err := frontdoor.New(dcfg, authenticator{verifier}, quietLog(), reg, reg)
	if err != nil {
		t.Fatal(err)
	}
	door.Handle("logs", NewService(st, quietLog()))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- door.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return "http://" + ln.Addr().String()
}

func newClient(url string) *cloudwatchlogs.Client {
	return cloudwatchlogs.New(cloudwatchlogs.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(url),
		Credentials:  credentials.NewStaticCredentialsProvider("test", "test", ""),
		Retryer:      aws.NopRetryer{},
		HTTPClient:   sdkBodyFix{awshttp.NewBuildableClient()},
	})
}

// sdkBodyFix hides the request body's WriteTo from net/http. The SDK
// closes a request body as soon as response headers arrive; Go 1.26's
// transport then makes one more read of the body, and the SDK's closed
// body answers WriteTo with io.EOF, which the transport takes as a write
// failure and closes the connection under the response still being read.
// Read after close returns a clean EOF instead.
type sdkBodyFix struct{ aws.HTTPClient }

type readOnlyBody struct{ io.ReadCloser }

func (c sdkBodyFix) Do(r *http.Request) (*http.Response, error) {
	if r.Body != nil && r.Body != http.NoBody {
		r.Body = readOnlyBody{r.Body}
	}
	return c.HTTPClient.Do(r)
}
