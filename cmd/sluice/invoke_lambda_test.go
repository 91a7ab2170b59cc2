package main

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	lambdasdk "github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluicehq/sluice/frontdoor"
	"github.com/sluicehq/sluice/fsstore"
	"github.com/sluicehq/sluice/lambda"
	"github.com/sluicehq/sluice/sigv4"
)

// s3Handler reads the S3 event 'sluice generate-event s3 put' prints, the
// way real handlers do, and fails on request.
const s3Handler = `import json, urllib.parse

def handler(event, context):
    print("invoked", context.function_name)
    if event.get("fail"):
        raise ValueError("asked to fail")
    rec = event["Records"][0]
    return {"bucket": rec["s3"]["bucket"]["name"],
            "key": urllib.parse.unquote_plus(rec["s3"]["object"]["key"]),
            "size": rec["s3"]["object"]["size"]}
`

// startSluiceLambda runs the real Lambda API (lambda.Service on a real host
// and store) behind the real front door with SigV4, as 'sluice serve' wires
// it, and returns its URL.
func startSluiceLambda(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("python3 not installed")
	}
	dir := t.TempDir()
	storeCfg := fsstore.DefaultConfig()
	storeCfg.Dir = filepath.Join(dir, "store")
	store, err := fsstore.Open(storeCfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String()
	hcfg := lambda.DefaultHostConfig()
	hcfg.Dir = filepath.Join(dir, "host")
	hcfg.EndpointURL = url
	host, err := lambda.NewHost(hcfg, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { host.Close() })
	cfg := lambda.DefaultConfig()
	cfg.Dir = filepath.Join(dir, "lambda")
	svc, err := lambda.New(cfg, store, host, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Close() })

	acfg := sigv4.DefaultConfig()
	acfg.Credentials = map[string]string{"test": "test"}
	verifier, err := sigv4.New(acfg)
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	door, err := frontdoor.New(frontdoor.DefaultConfig(), authenticator{verifier}, slog.New(slog.DiscardHandler), reg, reg)
	if err != nil {
		t.Fatal(err)
	}
	door.Handle("lambda", svc)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- door.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})

	var zipBuf bytes.Buffer
	zw := zip.NewWriter(&zipBuf)
	w, _ := zw.Create("app.py")
	w.Write([]byte(s3Handler))
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	client := lambdasdk.New(lambdasdk.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(url), RetryMaxAttempts: 1,
		Credentials: credentials.NewStaticCredentialsProvider("test", "test", ""),
	})
	_, err = client.CreateFunction(context.Background(), &lambdasdk.CreateFunctionInput{
		FunctionName: aws.String("on-upload"),
		Runtime:      types.RuntimePython312,
		Role:         aws.String("arn:aws:iam::000000000000:role/lambda-role"),
		Handler:      aws.String("app.handler"),
		Code:         &types.FunctionCode{ZipFile: zipBuf.Bytes()},
	})
	if err != nil {
		t.Fatalf("create function: %v", err)
	}
	return url
}

func TestInvokeAgainstSluiceLambda(t *testing.T) {
	url := startSluiceLambda(t)
	for _, k := range []string{"SLUICE_ACCESS_KEY", "SLUICE_SECRET_KEY", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION", "AWS_DEFAULT_REGION"} {
		t.Setenv(k, "")
	}
	ctx := context.Background()

	// generate-event | invoke --event - --tail
	var event bytes.Buffer
	if err := generateEvent(fixedSource(), []string{"s3", "put", "--bucket", "photos", "--key", "cats/tom 1.jpg", "--size", "52311"}, &event, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	if err := invoke(ctx, []string{"on-upload", "--event", "-", "--tail", "--endpoint", url}, &event, &stdout, &stderr); err != nil {
		t.Fatalf("invoke: %v (stderr %q)", err, stderr.String())
	}
	var got map[string]any
	if err := json.Unmarshal(stdout.Bytes(), &got); err != nil {
		t.Fatalf("result %q: %v", stdout.String(), err)
	}
	if got["bucket"] != "photos" || got["key"] != "cats/tom 1.jpg" || got["size"] != float64(52311) {
		t.Errorf("handler saw %v", got)
	}
	for _, want := range []string{"START RequestId:", "invoked on-upload", "REPORT RequestId:"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("log tail lacks %q:\n%s", want, stderr.String())
		}
	}

	// A function error: result on stdout, error (exit 1) with type and message.
	stdout.Reset()
	stderr.Reset()
	err := invoke(ctx, []string{"on-upload", "--payload", `{"fail":true}`, "--endpoint", url}, nil, &stdout, &stderr)
	var fe *functionError
	if !errors.As(err, &fe) || fe.errType != "ValueError" || fe.message != "asked to fail" || isUsage(err) {
		t.Fatalf("got %v, want a ValueError function error", err)
	}
	if !strings.Contains(stdout.String(), `"errorType": "ValueError"`) {
		t.Errorf("error document not printed: %q", stdout.String())
	}

	// An unknown function is the API's ResourceNotFoundException.
	err = invoke(ctx, []string{"missing", "--endpoint", url}, nil, &stdout, &stderr)
	if err == nil || !strings.Contains(err.Error(), "ResourceNotFoundException") {
		t.Fatalf("got %v, want ResourceNotFoundException", err)
	}
}

var _ http.Handler = (*lambda.Service)(nil)
