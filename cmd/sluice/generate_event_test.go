package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/google/go-cmp/cmp"

	"github.com/sluicehq/sluice/awsevent"
)

var updateGolden = flag.Bool("update", false, "rewrite testdata golden files")

// countingReader yields 0, 1, 2, ... so generated ids are reproducible.
type countingReader struct{ n byte }

func (r *countingReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = r.n
		r.n++
	}
	return len(p), nil
}

func fixedSource() eventSource {
	return eventSource{now: time.Date(2026, 1, 2, 3, 4, 5, 678_000_000, time.UTC), rand: &countingReader{}}
}

func TestGenerateEventGolden(t *testing.T) {
	tests := []struct {
		golden string
		args   []string
	}{
		{"s3-put.json", []string{"s3", "put"}},
		{"s3-put-flags.json", []string{"s3", "put", "--bucket", "photos", "--key", "cats/tom 1.jpg", "--size", "52311", "--region", "eu-west-1", "--etag", "9b2cf535f27731c974343645a3985328"}},
		{"s3-delete.json", []string{"s3", "delete", "--bucket", "photos", "--key", "a/b=c.txt"}},
		{"s3-delete-marker.json", []string{"s3", "delete-marker"}},
		{"s3-copy-anonymous.json", []string{"s3", "copy", "--access-key", ""}},
		{"apigateway-http-api.json", []string{"apigateway", "http-api"}},
		{"apigateway-http-api-post.json", []string{"apigateway", "http-api", "--method", "POST", "--path", "/orders/42",
			"--route", "POST /orders/{id}", "--path-param", "id=42", "--body", `{"qty":2}`, "--query", "a=1", "--query", "a=2",
			"--query", "q=two words", "--header", "Cookie:session=abc; theme=dark", "--header", "X-Trace:1", "--header", "x-trace:2", "--api-id", "a1b2c3d4e5"}},
		{"apigateway-http-api-binary.json", []string{"apigateway", "http-api", "--method", "PUT", "--path", "/upload", "--body", "GIF89a\x01", "--header", "content-type:image/gif"}},
		{"cloudfront-viewer-request.json", []string{"cloudfront", "viewer-request", "--uri", "/a.jpg", "--querystring", "d=1x1"}},
		{"cloudfront-origin-request.json", []string{"cloudfront", "origin-request", "--uri", "/a.jpg", "--querystring", "?d=1x1", "--header", "accept:image/webp"}},
		{"cloudfront-origin-request-custom-body.json", []string{"cloudfront", "origin-request", "--method", "post", "--origin", "custom", "--body", "a=1"}},
		{"cloudfront-origin-response.json", []string{"cloudfront", "origin-response", "--uri", "/a.jpg", "--querystring", "d=1x1"}},
		{"cloudfront-viewer-response.json", []string{"cloudfront", "viewer-response", "--uri", "/index.html", "--status", "404", "--size", "120"}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if err := generateEvent(fixedSource(), tt.args, &stdout, &stderr); err != nil {
				t.Fatalf("%v (stderr %q)", err, stderr.String())
			}
			path := filepath.Join("testdata", "generate-event", tt.golden)
			if *updateGolden {
				if err := os.WriteFile(path, stdout.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -update)", err)
			}
			if diff := cmp.Diff(string(want), stdout.String()); diff != "" {
				t.Errorf("output (-golden +got):\n%s", diff)
			}
		})
	}
}

// The events must decode into the types handlers use, with the values asked for.
func TestGenerateEventDecodes(t *testing.T) {
	run := func(args ...string) []byte {
		t.Helper()
		var stdout bytes.Buffer
		if err := generateEvent(fixedSource(), args, &stdout, &bytes.Buffer{}); err != nil {
			t.Fatal(err)
		}
		return stdout.Bytes()
	}

	var s3 events.S3Event
	if err := json.Unmarshal(run("s3", "put", "--bucket", "b", "--key", "x y+z.jpg", "--size", "0"), &s3); err != nil {
		t.Fatal(err)
	}
	obj := s3.Records[0].S3.Object
	if obj.Key != "x+y%2Bz.jpg" || obj.URLDecodedKey != "x y+z.jpg" || obj.Size != 0 || s3.Records[0].S3.Bucket.Name != "b" {
		t.Errorf("s3 object %+v", obj)
	}
	if s3.Records[0].EventName != "ObjectCreated:Put" || s3.Records[0].PrincipalID.PrincipalID != "AWS:test" {
		t.Errorf("s3 record %+v", s3.Records[0])
	}
	if !strings.Contains(string(run("s3", "put", "--size", "0")), `"size": 0`) {
		t.Error("size 0 left out")
	}

	var api events.APIGatewayV2HTTPRequest
	if err := json.Unmarshal(run("apigateway", "http-api", "--method", "PUT", "--body", "\x00\x01", "--header", "content-type:application/octet-stream"), &api); err != nil {
		t.Fatal(err)
	}
	body, err := base64.StdEncoding.DecodeString(api.Body)
	if err != nil || !api.IsBase64Encoded || string(body) != "\x00\x01" || api.RequestContext.HTTP.Method != "PUT" {
		t.Errorf("api body %q (%v) base64=%v method %s", body, err, api.IsBase64Encoded, api.RequestContext.HTTP.Method)
	}

	var cf awsevent.CloudFrontEvent
	if err := json.Unmarshal(run("cloudfront", "origin-response", "--uri", "/a.png", "--status", "304"), &cf); err != nil {
		t.Fatal(err)
	}
	r := cf.Records[0].CF
	if r.Config.EventType != "origin-response" || r.Response.Status != "304" || r.Response.StatusDescription != "Not Modified" ||
		r.Response.Headers.Get("content-type") != "image/png" || r.Request.Origin == nil || r.Request.Origin.S3 == nil {
		t.Errorf("cloudfront record %+v / %+v", r.Config, r.Response)
	}
}

func TestGenerateEventHelpAndErrors(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		wantErr    func(error) bool
		wantStdout []string
		wantStderr []string
	}{
		{"help lists services", []string{"--help"}, isNil, []string{"s3", "apigateway", "cloudfront", "viewer-request"}, nil},
		{"no service", nil, isUsage, nil, []string{"Services and events"}},
		{"unknown service", []string{"sqs"}, isUsage, nil, []string{"Services and events"}},
		{"service help lists events", []string{"s3", "--help"}, isNil, []string{"put", "delete-marker", "complete-multipart-upload"}, nil},
		{"cloudfront help", []string{"cloudfront", "help"}, isNil, []string{"viewer-request", "origin-request", "origin-response", "viewer-response"}, nil},
		{"no event", []string{"apigateway"}, isUsage, nil, []string{"http-api"}},
		{"unknown event", []string{"s3", "get"}, isUsage, nil, []string{"put"}},
		{"event help lists flags", []string{"s3", "put", "--help"}, isHelp, nil, []string{"-bucket", "-key", "-size", "-region", "-etag"}},
		{"api flags", []string{"apigateway", "http-api", "-h"}, isHelp, nil, []string{"-method", "-path", "-body", "-query", "-header"}},
		{"cloudfront flags", []string{"cloudfront", "origin-response", "--help"}, isHelp, nil, []string{"-uri", "-querystring", "-status"}},
		{"bad header", []string{"apigateway", "http-api", "--header", "nocolon"}, isUsage, nil, nil},
		{"bad query", []string{"apigateway", "http-api", "--query", "=x"}, isUsage, nil, nil},
		{"relative path", []string{"apigateway", "http-api", "--path", "x"}, isUsage, nil, nil},
		{"bad status", []string{"cloudfront", "origin-response", "--status", "42"}, isUsage, nil, nil},
		{"bad origin", []string{"cloudfront", "origin-request", "--origin", "ftp"}, isUsage, nil, nil},
		{"negative size", []string{"s3", "put", "--size", "-1"}, isUsage, nil, nil},
		{"stray argument", []string{"s3", "put", "extra"}, isUsage, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := generateEvent(fixedSource(), tt.args, &stdout, &stderr)
			if !tt.wantErr(err) {
				t.Fatalf("error %v", err)
			}
			for _, s := range tt.wantStdout {
				if !strings.Contains(stdout.String(), s) {
					t.Errorf("stdout lacks %q:\n%s", s, stdout.String())
				}
			}
			for _, s := range tt.wantStderr {
				if !strings.Contains(stderr.String(), s) {
					t.Errorf("stderr lacks %q:\n%s", s, stderr.String())
				}
			}
		})
	}
}
