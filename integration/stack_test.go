//go:build integration

package integration

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	cfsdk "github.com/aws/aws-sdk-go-v2/service/cloudfront"
	lambdasdk "github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// stackTemplate is a SAM template with what `sluice serve -t` must bring up:
// two tagged buckets, a Python function fed by S3 events filtered by prefix
// and suffix that writes into the second bucket, a Node function behind the
// implicit HTTP API, a distribution with an origin access control, and a
// bucket policy naming the distribution. GREETING is the value the test edits to check re-applies.
const stackTemplate = `AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Description: integration test of sluice serve -t

Parameters:
  Team:
    Type: String
    Default: media

Globals:
  Function:
    Timeout: 20
    MemorySize: 256

Resources:
  Uploads:
    Type: AWS::S3::Bucket
    Properties:
      BucketName: !Sub "${AWS::StackName}-uploads"
      Tags:
        - Key: team
          Value: !Ref Team
  Results:
    Type: AWS::S3::Bucket
    Properties:
      Tags:
        - Key: role
          Value: results

  Worker:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: py
      Handler: app.handler
      Runtime: python3.12
      Environment:
        Variables:
          RESULTS: !Ref Results
      Events:
        Upload:
          Type: S3
          Properties:
            Bucket: !Ref Uploads
            Events: s3:ObjectCreated:*
            Filter:
              S3Key:
                Rules:
                  - Name: prefix
                    Value: in/
                  - Name: suffix
                    Value: .txt

  Hello:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: js
      Handler: index.handler
      Runtime: nodejs20.x
      Environment:
        Variables:
          GREETING: GREETING_VALUE
      Events:
        Get:
          Type: HttpApi
          Properties:
            Path: /hello/{name}
            Method: GET

  Oac:
    Type: AWS::CloudFront::OriginAccessControl
    Properties:
      OriginAccessControlConfig:
        Name: !Sub "${AWS::StackName}-oac"
        OriginAccessControlOriginType: s3
        SigningBehavior: always
        SigningProtocol: sigv4

  Cdn:
    Type: AWS::CloudFront::Distribution
    Properties:
      DistributionConfig:
        Enabled: true
        Origins:
          - Id: results
            DomainName: !GetAtt Results.RegionalDomainName
            S3OriginConfig: {}
            OriginAccessControlId: !GetAtt Oac.Id
        DefaultCacheBehavior:
          TargetOriginId: results
          ViewerProtocolPolicy: allow-all
          ForwardedValues:
            QueryString: false

  ResultsPolicy:
    Type: AWS::S3::BucketPolicy
    Properties:
      Bucket: !Ref Results
      PolicyDocument:
        Version: "2012-10-17"
        Statement:
          - Effect: Allow
            Principal:
              Service: cloudfront.amazonaws.com
            Action: s3:GetObject
            Resource: !Sub "${Results.Arn}/*"
            Condition:
              StringEquals:
                AWS:SourceArn: !Sub "arn:aws:cloudfront::${AWS::AccountId}:distribution/${Cdn}"

Outputs:
  ApiUrl:
    Value: !Sub "https://${ServerlessHttpApi}.execute-api.${AWS::Region}.amazonaws.com/"
  ApiId:
    Value: !Ref ServerlessHttpApi
  CdnId:
    Value: !Ref Cdn
  OacId:
    Value: !GetAtt Oac.Id
  ResultsBucket:
    Value: !Ref Results
`

const stackWorkerPy = `import os
import boto3
from botocore.config import Config

s3 = boto3.client("s3", config=Config(s3={"addressing_style": "path"}))

def handler(event, context):
    for r in event["Records"]:
        key = r["s3"]["object"]["key"]
        print("worker saw " + key)
        s3.put_object(Bucket=os.environ["RESULTS"], Key="done/" + key, Body=("ok " + key).encode())
    return {"records": len(event["Records"])}
`

const stackHelloJS = `exports.handler = async (event) => ({
  statusCode: 200,
  headers: { "content-type": "application/json" },
  body: JSON.stringify({ v: VERSION, greeting: process.env.GREETING, name: event.pathParameters.name,
    host: event.headers.host, routeKey: event.routeKey }),
});
`

// stackBadTemplate has several mistakes; all must be reported at once.
const stackBadTemplate = `Transform: AWS::Serverless-2016-10-31
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: js
      Handler: index.handler
      Runtime: cobol85
      Timeout: 5000
  Img:
    Type: AWS::Serverless::Function
    Properties:
      PackageType: Image
      ImageUri: repo/fn:latest
  B:
    Type: AWS::S3::Bucket
    Properties:
      BucketName: !Ref Nowhere
`

type stackFiles struct {
	dir, template string
}

func writeStackFiles(t *testing.T, greeting string) stackFiles {
	t.Helper()
	dir := t.TempDir()
	f := stackFiles{dir: dir, template: filepath.Join(dir, "template.yaml")}
	for path, body := range map[string]string{
		"py/app.py":     stackWorkerPy,
		"js/index.js":   strings.Replace(stackHelloJS, "VERSION", "1", 1),
		"bad.yaml":      stackBadTemplate,
		"template.yaml": strings.Replace(stackTemplate, "GREETING_VALUE", greeting, 1),
	} {
		p := filepath.Join(dir, path)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

// replaceFile writes a file the way an editor does, so the watcher sees a
// new modification time and size even within one clock tick.
func replaceFile(t *testing.T, path, body string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

var fileLineCol = regexp.MustCompile(`bad\.yaml:(\d+):(\d+): `)

// TestStackValidateReportsAllMistakes checks `sluice validate` and `sluice
// serve -t` on a template with mistakes: every one reported with
// file:line:column before anything starts, PackageType Image refused.
func TestStackValidateReportsAllMistakes(t *testing.T) {
	t.Parallel()
	requireBinary(t)
	f := writeStackFiles(t, "hello")
	bad := filepath.Join(f.dir, "bad.yaml")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	res := runCmd(t, ctx, cleanEnv(), f.dir, sluiceBin, "validate", "-t", bad)
	if res.Code != 1 {
		t.Fatalf("validate of a bad template: want exit 1, got %s", res)
	}
	for _, want := range []string{
		`bad.yaml:8:7: Resources.Fn.Properties.Runtime: runtime "cobol85" is not supported`,
		`bad.yaml:9:7: Resources.Fn.Properties.Timeout: must be an integer between 1 and 900`,
		`bad.yaml:13:7: Resources.Img.Properties.PackageType: PackageType Image is not supported`,
		`bad.yaml:18:19: Resources.B.Properties.BucketName: Ref to "Nowhere": no parameter or resource has that name`,
	} {
		if !strings.Contains(res.Stdout, want) {
			t.Errorf("validate output lacks %q:\n%s", want, res.Stdout)
		}
	}
	lines := strings.Split(strings.TrimSpace(res.Stdout), "\n")
	for _, l := range lines {
		if !fileLineCol.MatchString(l) {
			t.Errorf("validate line without file:line:col: %q", l)
		}
	}
	if !strings.Contains(res.Stdout, "container runtime") || !strings.Contains(res.Stdout, "provided.al2023") {
		t.Errorf("the Image refusal should say why and what to use instead:\n%s", res.Stdout)
	}

	ok := runCmd(t, ctx, cleanEnv(), f.dir, sluiceBin, "validate", "-t", f.template)
	if ok.Code != 0 || !strings.Contains(ok.Stdout, "valid") {
		t.Fatalf("validate of the good template: %s", ok)
	}

	// serve refuses to start with the same report.
	ports, err := freePorts(3)
	if err != nil {
		t.Fatal(err)
	}
	serve := runCmd(t, ctx, append(cleanEnv(), "SLUICE_ACCESS_KEY=test", "SLUICE_SECRET_KEY=test"), f.dir, sluiceBin, "serve", "-t", bad,
		"--data", filepath.Join(t.TempDir(), "data"),
		"--addr", fmt.Sprintf("127.0.0.1:%d", ports[0]), "--edge-addr", fmt.Sprintf("127.0.0.1:%d", ports[1]),
		"--api-addr", fmt.Sprintf("127.0.0.1:%d", ports[2]))
	if serve.Code == 0 {
		t.Fatalf("serve of a bad template exited 0: %s", serve)
	}
	if n := len(fileLineCol.FindAllString(serve.Stderr, -1)); n != len(lines) {
		t.Errorf("serve reported %d positioned mistakes, validate %d:\n%s", n, len(lines), serve.Stderr)
	}
}

// stackOutputs returns the last Outputs block printed by serve, and how
// many blocks were printed.
func stackOutputs(log string) (map[string]string, int) {
	blocks := strings.Split(log, "Outputs of stack ")
	if len(blocks) < 2 {
		return nil, 0
	}
	out := map[string]string{}
	for _, line := range strings.Split(blocks[len(blocks)-1], "\n")[1:] {
		if !strings.HasPrefix(line, "  ") {
			break
		}
		fields := strings.Fields(line)
		if len(fields) == 2 {
			out[fields[0]] = fields[1]
		}
	}
	return out, len(blocks) - 1
}

func waitOutputs(t *testing.T, s *sluiceServer, after int) map[string]string {
	t.Helper()
	var out map[string]string
	err := poll(30*time.Second, func() error {
		var n int
		out, n = stackOutputs(s.log())
		if n <= after {
			if strings.Contains(s.log(), "apply ") && s.exitErr() != nil {
				return fmt.Errorf("serve exited: %v", s.exitErr())
			}
			return errors.New("no Outputs printed yet")
		}
		return nil
	})
	if err != nil {
		t.Fatalf("stack outputs: %v", err)
	}
	return out
}

type helloReply struct {
	V        int    `json:"v"`
	Greeting string `json:"greeting"`
	Name     string `json:"name"`
	Host     string `json:"host"`
	RouteKey string `json:"routeKey"`
}

func getHello(url string) (helloReply, error) {
	var r helloReply
	resp, err := httpClient().Get(url)
	if err != nil {
		return r, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return r, fmt.Errorf("GET %s: %d %s", url, resp.StatusCode, b)
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return r, fmt.Errorf("GET %s: %v: %s", url, err, b)
	}
	return r, nil
}

// TestStackServe brings a template up with `sluice serve -t`, uses what it
// made, edits code and template while serving, and restarts on the same
// data directory.
func TestStackServe(t *testing.T) {
	t.Parallel()
	f := writeStackFiles(t, "hello")
	ports, err := freePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	apiAddr := fmt.Sprintf("127.0.0.1:%d", ports[0])
	s := startSluice(t, withArgs("-t", f.template, "--stack-name", "itstack", "--api-addr", apiAddr))
	out := waitOutputs(t, s, 0)
	ctx := context.Background()

	apiID, cdnID := out["ApiId"], out["CdnId"]
	_, port, _ := strings.Cut(s.Addr, ":")
	if want := "http://" + apiID + ".execute-api.localhost:" + port + "/"; out["ApiUrl"] != want {
		t.Errorf("ApiUrl output = %q, want %q", out["ApiUrl"], want)
	}
	if len(apiID) != 10 || !strings.HasPrefix(cdnID, "E") || !strings.HasPrefix(out["OacId"], "E") {
		t.Fatalf("outputs: %v", out)
	}

	// Buckets with their tags.
	c := s3Client(s)
	for bucket, tag := range map[string][2]string{"itstack-uploads": {"team", "media"}, out["ResultsBucket"]: {"role", "results"}} {
		tags, err := c.GetBucketTagging(ctx, &s3.GetBucketTaggingInput{Bucket: aws.String(bucket)})
		if err != nil {
			t.Fatalf("tags of %s: %v", bucket, err)
		}
		if len(tags.TagSet) != 1 || aws.ToString(tags.TagSet[0].Key) != tag[0] || aws.ToString(tags.TagSet[0].Value) != tag[1] {
			t.Errorf("tags of %s = %+v, want %s=%s", bucket, tags.TagSet, tag[0], tag[1])
		}
	}

	// The distribution names the origin access control the stack made.
	cf := cfsdk.New(cfsdk.Options{Region: "us-east-1", BaseEndpoint: aws.String(s.URL), HTTPClient: httpClient(),
		Credentials: credentials.NewStaticCredentialsProvider(s.AccessKey, s.SecretKey, "")})
	dc, err := cf.GetDistributionConfig(ctx, &cfsdk.GetDistributionConfigInput{Id: aws.String(cdnID)})
	if err != nil {
		t.Fatalf("get distribution %s: %v", cdnID, err)
	}
	if got := aws.ToString(dc.DistributionConfig.Origins.Items[0].OriginAccessControlId); got != out["OacId"] {
		t.Errorf("distribution origin OAC = %q, want %q", got, out["OacId"])
	}

	// The bucket policy names the distribution by its id, known only once
	// the distribution exists.
	pol, err := c.GetBucketPolicy(ctx, &s3.GetBucketPolicyInput{Bucket: aws.String(out["ResultsBucket"])})
	if err != nil {
		t.Fatalf("bucket policy: %v", err)
	}
	if p := aws.ToString(pol.Policy); !strings.Contains(p, `"arn:aws:cloudfront::000000000000:distribution/`+cdnID+`"`) {
		t.Errorf("bucket policy does not name distribution %s: %s", cdnID, p)
	}

	// S3 events: only keys matching prefix in/ and suffix .txt run the worker.
	put := func(key string) {
		t.Helper()
		if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("itstack-uploads"), Key: aws.String(key), Body: strings.NewReader("x")}); err != nil {
			t.Fatalf("put %s: %v", key, err)
		}
	}
	result := func(key string) error {
		o, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(out["ResultsBucket"]), Key: aws.String("done/" + key)})
		if err != nil {
			return err
		}
		defer o.Body.Close()
		b, _ := io.ReadAll(o.Body)
		if string(b) != "ok "+key {
			return fmt.Errorf("result of %s = %q", key, b)
		}
		return nil
	}
	put("other/skip.txt")
	put("in/skip.jpg")
	put("in/a.txt")

	// The HTTP API on its execute-api host and on --api-addr (checked while
	// the worker's first cold start runs).
	apiURL := "http://" + apiID + ".execute-api.localhost:" + port + "/hello/bob"
	r, err := getHello(apiURL)
	if err != nil {
		t.Fatal(err)
	}
	want := helloReply{V: 1, Greeting: "hello", Name: "bob", Host: apiID + ".execute-api.localhost:" + port, RouteKey: "GET /hello/{name}"}
	if r != want {
		t.Errorf("execute-api host: got %+v, want %+v", r, want)
	}
	r, err = getHello("http://" + apiAddr + "/hello/ann")
	if err != nil {
		t.Fatal(err)
	}
	if r.Name != "ann" || r.Greeting != "hello" || r.RouteKey != "GET /hello/{name}" {
		t.Errorf("--api-addr: got %+v", r)
	}

	if err := poll(30*time.Second, func() error { return result("in/a.txt") }); err != nil {
		t.Fatalf("the S3-triggered worker did not write its result: %v", err)
	}
	put("in/b.txt")
	if err := poll(20*time.Second, func() error { return result("in/b.txt") }); err != nil {
		t.Fatalf("second upload: %v", err)
	}
	for _, k := range []string{"other/skip.txt", "in/skip.jpg"} {
		if err := result(k); err == nil {
			t.Errorf("%s does not match the filter but was processed", k)
		}
	}

	// A code change is served without a restart.
	replaceFile(t, filepath.Join(f.dir, "js", "index.js"), strings.Replace(stackHelloJS, "VERSION", "2", 1))
	if err := poll(15*time.Second, func() error {
		r, err := getHello(apiURL)
		if err == nil && r.V != 2 {
			err = fmt.Errorf("still version %d", r.V)
		}
		return err
	}); err != nil {
		t.Fatalf("code change: %v", err)
	}

	// A template change is applied while serving.
	_, printed := stackOutputs(s.log())
	replaceFile(t, f.template, strings.Replace(stackTemplate, "GREETING_VALUE", "bonjour", 1))
	if err := poll(20*time.Second, func() error {
		r, err := getHello(apiURL)
		if err == nil && r.Greeting != "bonjour" {
			err = fmt.Errorf("greeting still %q", r.Greeting)
		}
		return err
	}); err != nil {
		t.Fatalf("template change: %v", err)
	}
	waitOutputs(t, s, printed)

	// Restart on the same data: same ids, nothing duplicated.
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}
	_, printed = stackOutputs(s.log())
	s.restart(t)
	again := waitOutputs(t, s, printed)
	for _, k := range []string{"ApiId", "CdnId", "OacId", "ResultsBucket"} {
		if again[k] != out[k] {
			t.Errorf("after restart %s = %q, want %q", k, again[k], out[k])
		}
	}
	checkStackNotDuplicated(t, s, again)

	// Even with the stack's state file gone, the same resources are found
	// again (the distribution by its CallerReference, the origin access
	// control by its name) rather than made twice.
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(s.DataDir, "stacks", "itstack.json")); err != nil {
		t.Fatalf("remove the stack state: %v", err)
	}
	// ...and the distribution changed meanwhile, so it is found and updated,
	// not re-created.
	replaceFile(t, f.template, strings.Replace(strings.Replace(stackTemplate, "GREETING_VALUE", "bonjour", 1),
		"        Enabled: true\n", "        Enabled: true\n        Comment: moved\n", 1))
	_, printed = stackOutputs(s.log())
	s.restart(t)
	again = waitOutputs(t, s, printed)
	for _, k := range []string{"ApiId", "CdnId", "OacId", "ResultsBucket"} {
		if again[k] != out[k] {
			t.Errorf("after losing the state %s = %q, want %q", k, again[k], out[k])
		}
	}
	checkStackNotDuplicated(t, s, again)
	cf = cfsdk.New(cfsdk.Options{Region: "us-east-1", BaseEndpoint: aws.String(s.URL), HTTPClient: httpClient(),
		Credentials: credentials.NewStaticCredentialsProvider(s.AccessKey, s.SecretKey, "")})
	dc, err = cf.GetDistributionConfig(ctx, &cfsdk.GetDistributionConfigInput{Id: aws.String(cdnID)})
	if err != nil || aws.ToString(dc.DistributionConfig.Comment) != "moved" {
		t.Errorf("the changed distribution was not updated in place: %v", err)
	}
}

// checkStackNotDuplicated checks that the stack's resources exist once and
// serve the edited code and template.
func checkStackNotDuplicated(t *testing.T, s *sluiceServer, out map[string]string) {
	t.Helper()
	ctx := context.Background()
	cf := cfsdk.New(cfsdk.Options{Region: "us-east-1", BaseEndpoint: aws.String(s.URL), HTTPClient: httpClient(),
		Credentials: credentials.NewStaticCredentialsProvider(s.AccessKey, s.SecretKey, "")})
	dl, err := cf.ListDistributions(ctx, &cfsdk.ListDistributionsInput{})
	if err != nil {
		t.Fatal(err)
	}
	if n := aws.ToInt32(dl.DistributionList.Quantity); n != 1 {
		t.Errorf("%d distributions after restart, want 1", n)
	}
	ol, err := cf.ListOriginAccessControls(ctx, &cfsdk.ListOriginAccessControlsInput{})
	if err != nil {
		t.Fatal(err)
	}
	if n := aws.ToInt32(ol.OriginAccessControlList.Quantity); n != 1 {
		t.Errorf("%d origin access controls after restart, want 1", n)
	}
	lc := lambdasdk.New(lambdasdk.Options{Region: s.Region, BaseEndpoint: aws.String(s.URL), HTTPClient: httpClient(),
		Credentials: credentials.NewStaticCredentialsProvider(s.AccessKey, s.SecretKey, "")})
	fl, err := lc.ListFunctions(ctx, &lambdasdk.ListFunctionsInput{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, fn := range fl.Functions {
		if !strings.HasPrefix(aws.ToString(fn.FunctionName), "sluice-") {
			names = append(names, aws.ToString(fn.FunctionName))
		}
	}
	if len(names) != 2 {
		t.Errorf("functions after restart: %q, want Hello and Worker", names)
	}
	_, port, _ := strings.Cut(s.Addr, ":")
	r, err := getHello("http://" + out["ApiId"] + ".execute-api.localhost:" + port + "/hello/eve")
	if err != nil || r.Greeting != "bonjour" || r.V != 2 {
		t.Errorf("after restart: %+v %v", r, err)
	}
}
