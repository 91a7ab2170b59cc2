package lambda

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	lambdasdk "github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/google/go-cmp/cmp"

	"github.com/sluicehq/sluice"
)

func TestCreateGetListDelete(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	zip := pyZip(t)
	sum := sha256.Sum256(zip)
	before := time.Now().Add(-time.Second)
	created := e.createPy("first", func(in *lambdasdk.CreateFunctionInput) {
		in.Description = aws.String("the first")
		in.Timeout = aws.Int32(30)
		in.MemorySize = aws.Int32(256)
		in.Tags = map[string]string{"team": "media"}
	})
	if got, want := aws.ToString(created.CodeSha256), base64.StdEncoding.EncodeToString(sum[:]); got != want {
		t.Errorf("CodeSha256 %s, want %s", got, want)
	}
	lm, err := time.Parse(lastModifiedLayout, aws.ToString(created.LastModified))
	if err != nil || lm.Before(before) || !strings.HasSuffix(aws.ToString(created.LastModified), "+0000") {
		t.Errorf("LastModified %q: %v", aws.ToString(created.LastModified), err)
	}
	got, err := e.client.GetFunction(ctx, &lambdasdk.GetFunctionInput{FunctionName: aws.String("first")})
	if err != nil {
		t.Fatal(err)
	}
	c := got.Configuration
	type view struct {
		Name, Arn, Runtime, Role, Handler, Desc, Version, State, Update, Pkg, LogGroup, LogFormat, Revision string
		Timeout, Memory, Ephemeral                                                                          int32
		Size                                                                                                int64
		Arch                                                                                                []types.Architecture
		Env                                                                                                 map[string]string
	}
	gotView := view{
		aws.ToString(c.FunctionName), aws.ToString(c.FunctionArn), string(c.Runtime), aws.ToString(c.Role), aws.ToString(c.Handler),
		aws.ToString(c.Description), aws.ToString(c.Version), string(c.State), string(c.LastUpdateStatus), string(c.PackageType),
		aws.ToString(c.LoggingConfig.LogGroup), string(c.LoggingConfig.LogFormat), aws.ToString(c.RevisionId),
		aws.ToInt32(c.Timeout), aws.ToInt32(c.MemorySize), aws.ToInt32(c.EphemeralStorage.Size), c.CodeSize, c.Architectures, c.Environment.Variables,
	}
	wantView := view{
		"first", "arn:aws:lambda:us-east-1:000000000000:function:first", "python3.12", testRole, "app.handler",
		"the first", "$LATEST", "Active", "Successful", "Zip", "/aws/lambda/first", "Text", aws.ToString(created.RevisionId),
		30, 256, 512, int64(len(zip)), []types.Architecture{types.ArchitectureX8664}, map[string]string{"OUT_DIR": e.out, "GREETING": "hi"},
	}
	if diff := cmp.Diff(wantView, gotView); diff != "" {
		t.Errorf("GetFunction configuration (-want +got):\n%s", diff)
	}
	if aws.ToString(got.Code.RepositoryType) != "S3" || !strings.HasPrefix(aws.ToString(got.Code.Location), "file://") {
		t.Errorf("Code %+v", got.Code)
	}
	if diff := cmp.Diff(map[string]string{"team": "media"}, got.Tags); diff != "" {
		t.Errorf("Tags: %s", diff)
	}

	// The same function by partial and full ARN.
	for _, name := range []string{"000000000000:function:first", "arn:aws:lambda:us-east-1:000000000000:function:first"} {
		cfg, err := e.client.GetFunctionConfiguration(ctx, &lambdasdk.GetFunctionConfigurationInput{FunctionName: aws.String(name)})
		if err != nil || aws.ToString(cfg.FunctionName) != "first" {
			t.Errorf("GetFunctionConfiguration %s: %v", name, err)
		}
	}

	// Pagination over 5 functions, 2 at a time.
	for _, n := range []string{"b", "c", "d", "e"} {
		e.createPy(n)
	}
	var names []string
	pages := 0
	p := lambdasdk.NewListFunctionsPaginator(e.client, &lambdasdk.ListFunctionsInput{MaxItems: aws.Int32(2)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, f := range page.Functions {
			names = append(names, aws.ToString(f.FunctionName))
		}
	}
	if diff := cmp.Diff([]string{"b", "c", "d", "e", "first"}, names); diff != "" || pages != 3 {
		t.Errorf("listed %d pages (-want +got):\n%s", pages, diff)
	}

	if _, err := e.client.DeleteFunction(ctx, &lambdasdk.DeleteFunctionInput{FunctionName: aws.String("first")}); err != nil {
		t.Fatal(err)
	}
	_, err = e.client.GetFunction(ctx, &lambdasdk.GetFunctionInput{FunctionName: aws.String("first")})
	if msg := apiError(t, err, "ResourceNotFoundException"); msg != "Function not found: arn:aws:lambda:us-east-1:000000000000:function:first" {
		t.Errorf("message %q", msg)
	}
	_, err = e.client.DeleteFunction(ctx, &lambdasdk.DeleteFunctionInput{FunctionName: aws.String("first")})
	apiError(t, err, "ResourceNotFoundException")
}

func TestCreateFunctionErrors(t *testing.T) {
	e := newEnv(t)
	e.createPy("exists")
	bigEnv := map[string]string{"BIG": strings.Repeat("x", 4100)}
	tests := []struct {
		name   string
		mutate func(*lambdasdk.CreateFunctionInput)
		code   string
		msg    string // substring
	}{
		{"exists", func(in *lambdasdk.CreateFunctionInput) { in.FunctionName = aws.String("exists") }, "ResourceConflictException", "Function already exist: exists"},
		{"unknown runtime", func(in *lambdasdk.CreateFunctionInput) { in.Runtime = "cobol85" }, "ValidationException", "at 'runtime' failed to satisfy constraint"},
		{"runtime not run here", func(in *lambdasdk.CreateFunctionInput) { in.Runtime = types.RuntimeJava21 }, "InvalidParameterValueException", "java21 is not supported by Sluice"},
		{"deprecated runtime", func(in *lambdasdk.CreateFunctionInput) { in.Runtime = types.RuntimePython37 }, "InvalidParameterValueException", "python3.7 is no longer supported"},
		{"timeout 0", func(in *lambdasdk.CreateFunctionInput) { in.Timeout = aws.Int32(0) }, "ValidationException", "Value '0' at 'timeout' failed to satisfy constraint: Member must have value greater than or equal to 1"},
		{"timeout 901", func(in *lambdasdk.CreateFunctionInput) { in.Timeout = aws.Int32(901) }, "ValidationException", "Member must have value less than or equal to 900"},
		{"memory 64", func(in *lambdasdk.CreateFunctionInput) { in.MemorySize = aws.Int32(64) }, "ValidationException", "Value '64' at 'memorySize'"},
		{"env over 4 KB", func(in *lambdasdk.CreateFunctionInput) { in.Environment = &types.Environment{Variables: bigEnv} }, "InvalidParameterValueException", "exceeded the 4KB limit"},
		{"reserved env", func(in *lambdasdk.CreateFunctionInput) {
			in.Environment = &types.Environment{Variables: map[string]string{"AWS_REGION": "x"}}
		}, "InvalidParameterValueException", "Reserved keys used in this request: AWS_REGION"},
		{"image", func(in *lambdasdk.CreateFunctionInput) { in.PackageType = types.PackageTypeImage }, "InvalidParameterValueException", "PackageType Image is not supported"},
		{"no handler", func(in *lambdasdk.CreateFunctionInput) { in.Handler = nil }, "InvalidParameterValueException", "Runtime and Handler are mandatory"},
		{"bad role", func(in *lambdasdk.CreateFunctionInput) { in.Role = aws.String("lambda-role") }, "ValidationException", "at 'role'"},
		{"bad name", func(in *lambdasdk.CreateFunctionInput) { in.FunctionName = aws.String("has space") }, "ValidationException", "at 'functionName'"},
		{"long name", func(in *lambdasdk.CreateFunctionInput) { in.FunctionName = aws.String(strings.Repeat("n", 65)) }, "ValidationException", "less than or equal to 64"},
		{"no code", func(in *lambdasdk.CreateFunctionInput) { in.Code = &types.FunctionCode{} }, "InvalidParameterValueException", "Please provide a source for function code."},
		{"not a zip", func(in *lambdasdk.CreateFunctionInput) { in.Code = &types.FunctionCode{ZipFile: []byte("plain text")} }, "InvalidParameterValueException", "Could not unzip uploaded file"},
		{"zip slip", func(in *lambdasdk.CreateFunctionInput) {
			in.Code = &types.FunctionCode{ZipFile: zipOf(t, map[string]string{"../evil.py": "x"})}
		}, "InvalidParameterValueException", "leaves the package directory"},
		{"missing S3 object", func(in *lambdasdk.CreateFunctionInput) {
			in.Code = &types.FunctionCode{S3Bucket: aws.String("nobucket"), S3Key: aws.String("k.zip")}
		}, "InvalidParameterValueException", "S3 Error Code: NoSuchBucket"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := &lambdasdk.CreateFunctionInput{
				FunctionName: aws.String("fn"),
				Runtime:      types.RuntimePython312,
				Role:         aws.String(testRole),
				Handler:      aws.String("app.handler"),
				Code:         &types.FunctionCode{ZipFile: pyZip(t)},
			}
			tc.mutate(in)
			_, err := e.client.CreateFunction(context.Background(), in)
			if msg := apiError(t, err, tc.code); !strings.Contains(msg, tc.msg) {
				t.Errorf("message %q lacks %q", msg, tc.msg)
			}
		})
	}
	// Nothing half-created: only the first function exists.
	out, err := e.client.ListFunctions(context.Background(), &lambdasdk.ListFunctionsInput{})
	if err != nil || len(out.Functions) != 1 {
		t.Errorf("after failed creates: %v, %d functions", err, len(out.Functions))
	}
}

func TestUpdatesAndVersions(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	created := e.createPy("fn")
	rev := aws.ToString(created.RevisionId)

	_, err := e.client.UpdateFunctionConfiguration(ctx, &lambdasdk.UpdateFunctionConfigurationInput{
		FunctionName: aws.String("fn"), Timeout: aws.Int32(10), RevisionId: aws.String("stale"),
	})
	apiError(t, err, "PreconditionFailedException")
	upd, err := e.client.UpdateFunctionConfiguration(ctx, &lambdasdk.UpdateFunctionConfigurationInput{
		FunctionName: aws.String("fn"), Timeout: aws.Int32(10), RevisionId: aws.String(rev), Description: aws.String("v1 config"),
	})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToInt32(upd.Timeout) != 10 || aws.ToString(upd.RevisionId) == rev || aws.ToInt32(upd.MemorySize) != 128 {
		t.Errorf("update: timeout %d, revision %s (was %s), memory %d", aws.ToInt32(upd.Timeout), aws.ToString(upd.RevisionId), rev, aws.ToInt32(upd.MemorySize))
	}
	_, err = e.client.UpdateFunctionConfiguration(ctx, &lambdasdk.UpdateFunctionConfigurationInput{FunctionName: aws.String("fn"), MemorySize: aws.Int32(64)})
	apiError(t, err, "ValidationException")

	v1, err := e.client.PublishVersion(ctx, &lambdasdk.PublishVersionInput{FunctionName: aws.String("fn"), CodeSha256: created.CodeSha256})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(v1.Version) != "1" || aws.ToString(v1.FunctionArn) != "arn:aws:lambda:us-east-1:000000000000:function:fn:1" {
		t.Errorf("publish: version %s arn %s", aws.ToString(v1.Version), aws.ToString(v1.FunctionArn))
	}
	again, err := e.client.PublishVersion(ctx, &lambdasdk.PublishVersionInput{FunctionName: aws.String("fn")})
	if err != nil || aws.ToString(again.Version) != "1" {
		t.Errorf("publishing unchanged $LATEST: %v, version %s", err, aws.ToString(again.Version))
	}

	newZip := zipOf(t, map[string]string{"app.py": pyHandler + "\n# v2\n"})
	_, err = e.client.UpdateFunctionCode(ctx, &lambdasdk.UpdateFunctionCodeInput{FunctionName: aws.String("fn"), ZipFile: newZip, RevisionId: aws.String(rev)})
	apiError(t, err, "PreconditionFailedException")
	code, err := e.client.UpdateFunctionCode(ctx, &lambdasdk.UpdateFunctionCodeInput{FunctionName: aws.String("fn"), ZipFile: newZip, Publish: true})
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(newZip)
	if aws.ToString(code.Version) != "2" || aws.ToString(code.CodeSha256) != base64.StdEncoding.EncodeToString(sum[:]) {
		t.Errorf("update code + publish: version %s sha %s", aws.ToString(code.Version), aws.ToString(code.CodeSha256))
	}
	_, err = e.client.PublishVersion(ctx, &lambdasdk.PublishVersionInput{FunctionName: aws.String("fn"), CodeSha256: created.CodeSha256})
	apiError(t, err, "InvalidParameterValueException")

	old, err := e.client.GetFunction(ctx, &lambdasdk.GetFunctionInput{FunctionName: aws.String("fn"), Qualifier: aws.String("1")})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(old.Configuration.CodeSha256) != aws.ToString(created.CodeSha256) || aws.ToString(old.Configuration.Description) != "v1 config" {
		t.Errorf("version 1 changed: %s %s", aws.ToString(old.Configuration.CodeSha256), aws.ToString(old.Configuration.Description))
	}

	var versions []string
	p := lambdasdk.NewListVersionsByFunctionPaginator(e.client, &lambdasdk.ListVersionsByFunctionInput{FunctionName: aws.String("fn"), MaxItems: aws.Int32(1)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range page.Versions {
			versions = append(versions, aws.ToString(v.FunctionArn))
		}
	}
	arn := "arn:aws:lambda:us-east-1:000000000000:function:fn"
	if diff := cmp.Diff([]string{arn + ":$LATEST", arn + ":1", arn + ":2"}, versions); diff != "" {
		t.Errorf("versions (-want +got):\n%s", diff)
	}
	all, err := e.client.ListFunctions(ctx, &lambdasdk.ListFunctionsInput{FunctionVersion: types.FunctionVersionAll})
	if err != nil || len(all.Functions) != 3 {
		t.Errorf("ListFunctions ALL: %v, %d entries", err, len(all.Functions))
	}

	_, err = e.client.DeleteFunction(ctx, &lambdasdk.DeleteFunctionInput{FunctionName: aws.String("fn"), Qualifier: aws.String("$LATEST")})
	apiError(t, err, "InvalidParameterValueException")
	if _, err := e.client.DeleteFunction(ctx, &lambdasdk.DeleteFunctionInput{FunctionName: aws.String("fn"), Qualifier: aws.String("1")}); err != nil {
		t.Fatal(err)
	}
	_, err = e.client.GetFunction(ctx, &lambdasdk.GetFunctionInput{FunctionName: aws.String("fn:1")})
	apiError(t, err, "ResourceNotFoundException")
	if _, err := e.client.GetFunction(ctx, &lambdasdk.GetFunctionInput{FunctionName: aws.String("fn:2")}); err != nil {
		t.Errorf("version 2 after deleting 1: %v", err)
	}
}

func TestCodeFromS3(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if err := e.store.CreateBucket(ctx, sluice.Bucket{Name: "code", Region: "us-east-1", Created: time.Now()}); err != nil {
		t.Fatal(err)
	}
	zip := pyZip(t)
	if _, err := e.store.PutObject(ctx, &sluice.PutObjectInput{Bucket: "code", Key: "fn.zip", Body: bytes.NewReader(zip), Size: int64(len(zip))}); err != nil {
		t.Fatal(err)
	}
	out := e.createPy("froms3", func(in *lambdasdk.CreateFunctionInput) {
		in.Code = &types.FunctionCode{S3Bucket: aws.String("code"), S3Key: aws.String("fn.zip")}
	})
	sum := sha256.Sum256(zip)
	if aws.ToString(out.CodeSha256) != base64.StdEncoding.EncodeToString(sum[:]) || out.CodeSize != int64(len(zip)) {
		t.Errorf("from S3: sha %s size %d", aws.ToString(out.CodeSha256), out.CodeSize)
	}
	_, err := e.client.UpdateFunctionCode(ctx, &lambdasdk.UpdateFunctionCodeInput{FunctionName: aws.String("froms3"), S3Bucket: aws.String("code"), S3Key: aws.String("missing.zip")})
	if msg := apiError(t, err, "InvalidParameterValueException"); !strings.Contains(msg, "S3 Error Code: NoSuchKey") {
		t.Errorf("message %q", msg)
	}
}

func TestConcurrencyAndEventInvokeConfig(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.createPy("fn")
	name := aws.String("fn")

	gc, err := e.client.GetFunctionConcurrency(ctx, &lambdasdk.GetFunctionConcurrencyInput{FunctionName: name})
	if err != nil || gc.ReservedConcurrentExecutions != nil {
		t.Errorf("no reservation: %v %v", err, gc.ReservedConcurrentExecutions)
	}
	if _, err := e.client.PutFunctionConcurrency(ctx, &lambdasdk.PutFunctionConcurrencyInput{FunctionName: name, ReservedConcurrentExecutions: aws.Int32(5)}); err != nil {
		t.Fatal(err)
	}
	gc, err = e.client.GetFunctionConcurrency(ctx, &lambdasdk.GetFunctionConcurrencyInput{FunctionName: name})
	if err != nil || aws.ToInt32(gc.ReservedConcurrentExecutions) != 5 {
		t.Errorf("reservation: %v %v", err, gc.ReservedConcurrentExecutions)
	}
	gf, _ := e.client.GetFunction(ctx, &lambdasdk.GetFunctionInput{FunctionName: name})
	if gf.Concurrency == nil || aws.ToInt32(gf.Concurrency.ReservedConcurrentExecutions) != 5 {
		t.Errorf("GetFunction Concurrency %+v", gf.Concurrency)
	}
	if fn, _ := e.svc.reg.get("us-east-1", "fn"); e.svc.spec(fn, &fn.Latest).Concurrency != 5 {
		t.Errorf("spec concurrency not 5")
	}
	_, err = e.client.PutFunctionConcurrency(ctx, &lambdasdk.PutFunctionConcurrencyInput{FunctionName: name, ReservedConcurrentExecutions: aws.Int32(901)})
	apiError(t, err, "InvalidParameterValueException")
	if _, err := e.client.DeleteFunctionConcurrency(ctx, &lambdasdk.DeleteFunctionConcurrencyInput{FunctionName: name}); err != nil {
		t.Fatal(err)
	}

	_, err = e.client.GetFunctionEventInvokeConfig(ctx, &lambdasdk.GetFunctionEventInvokeConfigInput{FunctionName: name})
	if msg := apiError(t, err, "ResourceNotFoundException"); !strings.Contains(msg, "function:fn:$LATEST doesn't have an EventInvokeConfig") {
		t.Errorf("message %q", msg)
	}
	put, err := e.client.PutFunctionEventInvokeConfig(ctx, &lambdasdk.PutFunctionEventInvokeConfigInput{
		FunctionName: name, MaximumRetryAttempts: aws.Int32(1), MaximumEventAgeInSeconds: aws.Int32(120),
		DestinationConfig: &types.DestinationConfig{OnFailure: &types.OnFailure{Destination: aws.String("arn:aws:sqs:us-east-1:000000000000:dlq")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToInt32(put.MaximumRetryAttempts) != 1 || aws.ToString(put.FunctionArn) != "arn:aws:lambda:us-east-1:000000000000:function:fn:$LATEST" ||
		put.LastModified == nil || time.Since(*put.LastModified) > time.Minute {
		t.Errorf("put config %+v", put)
	}
	upd, err := e.client.UpdateFunctionEventInvokeConfig(ctx, &lambdasdk.UpdateFunctionEventInvokeConfigInput{FunctionName: name, MaximumRetryAttempts: aws.Int32(0)})
	if err != nil || aws.ToInt32(upd.MaximumRetryAttempts) != 0 || aws.ToInt32(upd.MaximumEventAgeInSeconds) != 120 ||
		aws.ToString(upd.DestinationConfig.OnFailure.Destination) != "arn:aws:sqs:us-east-1:000000000000:dlq" {
		t.Errorf("update merges: %v %+v", err, upd)
	}
	fn, _ := e.svc.reg.get("us-east-1", "fn")
	if retries, age := e.svc.policy(fn, "$LATEST"); retries != 0 || age != 2*time.Minute {
		t.Errorf("policy %d %s", retries, age)
	}
	_, err = e.client.PutFunctionEventInvokeConfig(ctx, &lambdasdk.PutFunctionEventInvokeConfigInput{FunctionName: name, MaximumRetryAttempts: aws.Int32(3)})
	apiError(t, err, "ValidationException")
	_, err = e.client.PutFunctionEventInvokeConfig(ctx, &lambdasdk.PutFunctionEventInvokeConfigInput{FunctionName: name, MaximumEventAgeInSeconds: aws.Int32(59)})
	apiError(t, err, "ValidationException")
	if _, err := e.client.DeleteFunctionEventInvokeConfig(ctx, &lambdasdk.DeleteFunctionEventInvokeConfigInput{FunctionName: name}); err != nil {
		t.Fatal(err)
	}
	_, err = e.client.DeleteFunctionEventInvokeConfig(ctx, &lambdasdk.DeleteFunctionEventInvokeConfigInput{FunctionName: name})
	apiError(t, err, "ResourceNotFoundException")

	acct, err := e.client.GetAccountSettings(ctx, &lambdasdk.GetAccountSettingsInput{})
	if err != nil || acct.AccountUsage.FunctionCount != 1 || acct.AccountLimit.ConcurrentExecutions != 1000 {
		t.Errorf("account settings: %v %+v", err, acct)
	}

	arn := aws.String("arn:aws:lambda:us-east-1:000000000000:function:fn")
	if _, err := e.client.TagResource(ctx, &lambdasdk.TagResourceInput{Resource: arn, Tags: map[string]string{"a": "1", "b": "2"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.client.UntagResource(ctx, &lambdasdk.UntagResourceInput{Resource: arn, TagKeys: []string{"a"}}); err != nil {
		t.Fatal(err)
	}
	tags, err := e.client.ListTags(ctx, &lambdasdk.ListTagsInput{Resource: arn})
	if err != nil || !cmp.Equal(tags.Tags, map[string]string{"b": "2"}) {
		t.Errorf("tags: %v %v", err, tags)
	}
}

func TestAuthErrors(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	_, err := newClient(e.url, "test", "wrong").ListFunctions(ctx, &lambdasdk.ListFunctionsInput{})
	apiError(t, err, "InvalidSignatureException")
	_, err = newClient(e.url, "unknown", "test").ListFunctions(ctx, &lambdasdk.ListFunctionsInput{})
	if msg := apiError(t, err, "UnrecognizedClientException"); msg != "The security token included in the request is invalid." {
		t.Errorf("message %q", msg)
	}

	// A request signed an hour ago has an expired signature.
	req, _ := http.NewRequest(http.MethodGet, e.url+"/2015-03-31/functions/", nil)
	const emptySHA = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	if err := v4.NewSigner().SignHTTP(ctx, aws.Credentials{AccessKeyID: "test", SecretAccessKey: "test"}, req, emptySHA, "lambda", "us-east-1", time.Now().Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	status, code, text := rawCall(t, req)
	if status != 403 || code != "InvalidSignatureException" || !strings.Contains(text, "Signature expired: ") || !strings.Contains(text, " - 15 min.)") {
		t.Errorf("skewed request: %d %s %s", status, code, text)
	}

	// Errors carry Lambda's wire shape: header, JSON body, request id.
	req, _ = http.NewRequest(http.MethodGet, e.url+"/2015-03-31/functions/", nil)
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=nobody/20240101/us-east-1/lambda/aws4_request, SignedHeaders=host;x-amz-date, Signature=00")
	req.Header.Set("X-Amz-Date", "20240101T000000Z")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 403 || resp.Header.Get("Content-Type") != "application/json" || resp.Header.Get("X-Amzn-ErrorType") == "" ||
		resp.Header.Get("X-Amzn-RequestId") == "" || !strings.Contains(string(body), `"Type":"User"`) {
		t.Errorf("raw error: %d %v %s", resp.StatusCode, resp.Header, body)
	}
}

func rawCall(t *testing.T, req *http.Request) (status int, code, body string) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("X-Amzn-ErrorType"), string(b)
}

// TestRequestLimits checks the body limits before any byte is read, the way
// a client announcing a huge upload is refused.
func TestRequestLimits(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name, path string
		length     int64
		msg        string
	}{
		{"create", "/2015-03-31/functions", maxCodeRequest + 1, "Request must be smaller than 69905067 bytes for the CreateFunction operation"},
		{"update code", "/2015-03-31/functions/x/code", maxCodeRequest + 1, "Request must be smaller than 69905067 bytes for the UpdateFunctionCode operation"},
		{"invoke", "/2015-03-31/functions/x/invocations", sluice.MaxSyncPayload + 1, "Request must be smaller than 6291456 bytes for the InvokeFunction operation"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			method := http.MethodPost
			if strings.HasSuffix(tc.path, "/code") {
				method = http.MethodPut
			}
			req, _ := http.NewRequest(method, "http://sluice"+tc.path, strings.NewReader("{}"))
			req.ContentLength = tc.length
			req = req.WithContext(sluice.WithIdentity(req.Context(), sluice.Identity{AccessKey: "test", Region: "us-east-1"}))
			rec := newRecorder()
			e.svc.ServeHTTP(rec, req)
			var body struct{ Message string }
			_ = json.Unmarshal(rec.body.Bytes(), &body)
			if rec.status != 413 || rec.header.Get("X-Amzn-ErrorType") != "RequestEntityTooLargeException" || body.Message != tc.msg {
				t.Errorf("%d %s %q", rec.status, rec.header.Get("X-Amzn-ErrorType"), body.Message)
			}
		})
	}
}

func TestParseFunctionName(t *testing.T) {
	tests := []struct {
		in   string
		want functionRef
		bad  bool
	}{
		{in: "thumb", want: functionRef{Name: "thumb"}},
		{in: "thumb:3", want: functionRef{Name: "thumb", Qualifier: "3"}},
		{in: "thumb:$LATEST", want: functionRef{Name: "thumb", Qualifier: "$LATEST"}},
		{in: "123456789012:function:thumb", want: functionRef{Name: "thumb"}},
		{in: "arn:aws:lambda:eu-west-1:123456789012:function:thumb:prod", want: functionRef{Region: "eu-west-1", Name: "thumb", Qualifier: "prod"}},
		{in: "arn:aws:lambda:us-east-1:000000000000:function:a_b-c", want: functionRef{Region: "us-east-1", Name: "a_b-c"}},
		{in: "", bad: true},
		{in: "a b", bad: true},
		{in: "arn:aws:lambda:function:x", bad: true},
		{in: "thumb:1:2", bad: true},
		{in: strings.Repeat("x", 65), bad: true},
		{in: "arn:aws:s3:::bucket", bad: true},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := parseFunctionName(tc.in)
			if tc.bad {
				if !sluice.IsCode(err, errValidation) {
					t.Fatalf("want ValidationException, got %+v %v", got, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// FuzzParseFunctionName: any accepted name round-trips through the full
// ARN it stands for.
func FuzzParseFunctionName(f *testing.F) {
	for _, seed := range []string{"thumb", "thumb:3", "123456789012:function:thumb", "function:x:$LATEST",
		"arn:aws:lambda:eu-west-1:123456789012:function:thumb:prod", "arn:aws-cn:lambda:cn-north-1:123456789012:function:a", "a:b:c", ":::",
		"000:" + strings.Repeat("0", 120)} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ref, err := parseFunctionName(s)
		if err != nil {
			if !sluice.IsCode(err, errValidation) {
				t.Fatalf("%q: error %v is not a ValidationException", s, err)
			}
			return
		}
		if ref.Name == "" || len(ref.Name) > 64 {
			t.Fatalf("%q: name %q", s, ref.Name)
		}
		region := ref.Region
		if region == "" {
			region = "us-east-1"
		}
		arn := functionARN(region, ref.Name)
		if ref.Qualifier != "" {
			arn += ":" + ref.Qualifier
		}
		if len(arn) > 170 {
			return // a short name may stand for an ARN longer than Lambda accepts
		}
		again, err := parseFunctionName(arn)
		if err != nil {
			t.Fatalf("%q -> %q: %v", s, arn, err)
		}
		if again.Name != ref.Name || again.Qualifier != ref.Qualifier || again.Region != region {
			t.Fatalf("%q -> %q -> %+v, want %+v", s, arn, again, ref)
		}
	})
}

// FuzzRoute throws arbitrary methods, paths and bodies at the service: it
// must always answer with a status and, for errors, Lambda's error shape.
func FuzzRoute(f *testing.F) {
	for _, seed := range []string{
		"/2015-03-31/functions/", "/2015-03-31/functions/x", "/2015-03-31/functions/x/invocations",
		"/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A000000000000%3Afunction%3Ax/configuration",
		"/2019-09-25/functions/x/event-invoke-config", "/2017-03-31/tags/arn:aws:lambda:us-east-1:000000000000:function:x",
		"/2015-03-31/functions/x/sluice-dead-letters/redrive", "//", "/%zz",
		"/2015-03-31/functions/?MaxItems=0&Marker=%%%", "/2015-03-31/functions/x/versions?MaxItems=x",
		"/2015-03-31/functions/x/aliases/live", "/2019-09-30/functions/x/concurrency?Qualifier=$LATEST",
	} {
		f.Add("GET", seed, "")
		f.Add("POST", seed, `{"FunctionName":"x"}`)
	}
	dir := f.TempDir()
	hcfg := DefaultHostConfig()
	hcfg.Dir = dir + "/host"
	host, err := NewHost(hcfg, nil, nil)
	if err != nil {
		f.Fatal(err)
	}
	defer host.Close()
	cfg := DefaultConfig()
	cfg.Dir = dir + "/lambda"
	svc, err := New(cfg, nil, host, nil)
	if err != nil {
		f.Fatal(err)
	}
	defer svc.Close()
	f.Fuzz(func(t *testing.T, method, path, body string) {
		if method == "" || strings.ContainsAny(method, " \t\r\n") {
			return
		}
		req, err := http.NewRequest(method, "http://sluice"+path, strings.NewReader(body))
		if err != nil {
			return
		}
		ctx := sluice.WithIdentity(req.Context(), sluice.Identity{AccessKey: "test", Service: "lambda", Region: "us-east-1"})
		rec := newRecorder()
		svc.ServeHTTP(rec, req.WithContext(ctx))
		if rec.status == 0 {
			t.Fatalf("%s %s: no status", method, path)
		}
		if rec.status >= 400 && rec.header.Get("X-Amzn-ErrorType") == "" {
			t.Fatalf("%s %s: error %d without X-Amzn-ErrorType", method, path, rec.status)
		}
		if rec.status >= 400 {
			var body struct{ Type, Message string }
			if err := json.Unmarshal(rec.body.Bytes(), &body); err != nil || body.Type == "" || body.Message == "" {
				t.Fatalf("%s %s: error body %q: %v", method, path, rec.body.String(), err)
			}
		}
	})
}

func TestAliases(t *testing.T) {
	t.Parallel()
	requirePython(t)
	e := newEnv(t)
	ctx := context.Background()
	e.createPy("fn")
	publish := func(greeting string) string {
		if _, err := e.client.UpdateFunctionConfiguration(ctx, &lambdasdk.UpdateFunctionConfigurationInput{
			FunctionName: aws.String("fn"),
			Environment:  &types.Environment{Variables: map[string]string{"GREETING": greeting}},
		}); err != nil {
			t.Fatal(err)
		}
		v, err := e.client.PublishVersion(ctx, &lambdasdk.PublishVersionInput{FunctionName: aws.String("fn")})
		if err != nil {
			t.Fatal(err)
		}
		return aws.ToString(v.Version)
	}
	v1, v2 := publish("one"), publish("two")
	greeting := func(name string) (string, string) {
		t.Helper()
		out, err := e.invoke(name, map[string]any{})
		if err != nil {
			t.Fatal(err)
		}
		var got struct{ Greeting string }
		if err := json.Unmarshal(out.Payload, &got); err != nil {
			t.Fatal(err)
		}
		return got.Greeting, aws.ToString(out.ExecutedVersion)
	}

	a, err := e.client.CreateAlias(ctx, &lambdasdk.CreateAliasInput{FunctionName: aws.String("fn"), Name: aws.String("live"), FunctionVersion: aws.String(v1)})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(a.AliasArn) != "arn:aws:lambda:us-east-1:000000000000:function:fn:live" || aws.ToString(a.RevisionId) == "" {
		t.Errorf("alias %+v", a)
	}
	_, err = e.client.CreateAlias(ctx, &lambdasdk.CreateAliasInput{FunctionName: aws.String("fn"), Name: aws.String("live"), FunctionVersion: aws.String(v1)})
	apiError(t, err, "ResourceConflictException")
	_, err = e.client.CreateAlias(ctx, &lambdasdk.CreateAliasInput{FunctionName: aws.String("fn"), Name: aws.String("x"), FunctionVersion: aws.String("9")})
	apiError(t, err, "ResourceNotFoundException")
	_, err = e.client.CreateAlias(ctx, &lambdasdk.CreateAliasInput{FunctionName: aws.String("fn"), Name: aws.String("12"), FunctionVersion: aws.String(v1)})
	apiError(t, err, "ValidationException")

	if g, v := greeting("fn:live"); g != "one" || v != v1 {
		t.Errorf("fn:live ran %s on version %s", g, v)
	}
	cfg, err := e.client.GetFunctionConfiguration(ctx, &lambdasdk.GetFunctionConfigurationInput{FunctionName: aws.String("fn"), Qualifier: aws.String("live")})
	if err != nil || aws.ToString(cfg.Version) != v1 || aws.ToString(cfg.FunctionArn) != "arn:aws:lambda:us-east-1:000000000000:function:fn:live" {
		t.Errorf("configuration by alias: %v %+v", err, cfg)
	}

	// Point the alias at 2 but route every invocation to 1.
	_, err = e.client.UpdateAlias(ctx, &lambdasdk.UpdateAliasInput{FunctionName: aws.String("fn"), Name: aws.String("live"), FunctionVersion: aws.String(v2), RevisionId: aws.String("stale")})
	apiError(t, err, "PreconditionFailedException")
	if _, err := e.client.UpdateAlias(ctx, &lambdasdk.UpdateAliasInput{
		FunctionName: aws.String("fn"), Name: aws.String("live"), FunctionVersion: aws.String(v2),
		RoutingConfig: &types.AliasRoutingConfiguration{AdditionalVersionWeights: map[string]float64{v1: 1}},
	}); err != nil {
		t.Fatal(err)
	}
	if g, v := greeting("fn:live"); g != "one" || v != v1 {
		t.Errorf("weight 1.0 on version 1: ran %s on %s", g, v)
	}
	if _, err := e.client.UpdateAlias(ctx, &lambdasdk.UpdateAliasInput{
		FunctionName: aws.String("fn"), Name: aws.String("live"),
		RoutingConfig: &types.AliasRoutingConfiguration{AdditionalVersionWeights: map[string]float64{}},
	}); err != nil {
		t.Fatal(err)
	}
	if g, v := greeting("fn:live"); g != "two" || v != v2 {
		t.Errorf("after clearing the routing: ran %s on %s", g, v)
	}

	list, err := e.client.ListAliases(ctx, &lambdasdk.ListAliasesInput{FunctionName: aws.String("fn")})
	if err != nil || len(list.Aliases) != 1 || aws.ToString(list.Aliases[0].FunctionVersion) != v2 {
		t.Errorf("ListAliases: %v %+v", err, list)
	}
	_, err = e.client.DeleteFunction(ctx, &lambdasdk.DeleteFunctionInput{FunctionName: aws.String("fn"), Qualifier: aws.String(v2)})
	apiError(t, err, "ResourceConflictException")
	if _, err := e.client.DeleteAlias(ctx, &lambdasdk.DeleteAliasInput{FunctionName: aws.String("fn"), Name: aws.String("live")}); err != nil {
		t.Fatal(err)
	}
	_, err = e.client.GetAlias(ctx, &lambdasdk.GetAliasInput{FunctionName: aws.String("fn"), Name: aws.String("live")})
	if msg := apiError(t, err, "ResourceNotFoundException"); msg != "Cannot find alias arn: arn:aws:lambda:us-east-1:000000000000:function:fn:live" {
		t.Errorf("message %q", msg)
	}
	_, err = e.client.UpdateAlias(ctx, &lambdasdk.UpdateAliasInput{FunctionName: aws.String("fn"), Name: aws.String("live")})
	apiError(t, err, "ResourceNotFoundException")
	if _, err := e.client.DeleteAlias(ctx, &lambdasdk.DeleteAliasInput{FunctionName: aws.String("fn"), Name: aws.String("live")}); err != nil {
		t.Errorf("deleting a missing alias: %v", err)
	}
	_, err = e.invoke("fn:live", map[string]any{})
	apiError(t, err, "ResourceNotFoundException")
}

func TestWriteErrorMapping(t *testing.T) {
	svc := &Service{log: testLogger(t)}
	skewed := sluice.Errorf(sluice.ErrRequestTimeTooSkewed, "too large")
	skewed.Fields = map[string]string{"RequestTime": "20240101T003000Z", "ServerTime": "2024-01-01T00:00:00Z", "MaxAllowedSkewMilliseconds": "900000"}
	tests := []struct {
		name   string
		err    error
		status int
		code   string
		msg    string
	}{
		{"bad signature", sluice.Errorf(sluice.ErrSignatureDoesNotMatch, "x"), 403, "InvalidSignatureException", "The request signature we calculated does not match"},
		{"unknown key", sluice.Errorf(sluice.ErrInvalidAccessKeyID, "x"), 403, "UnrecognizedClientException", "The security token included in the request is invalid."},
		{"future request", skewed, 403, "InvalidSignatureException", "Signature not yet current: 20240101T003000Z is still later than 20240101T001500Z (20240101T000000Z + 15 min.)"},
		{"malformed auth", sluice.Errorf(sluice.ErrAuthorizationHeaderMalformed, "bad header"), 400, "IncompleteSignatureException", "bad header"},
		{"denied", sluice.Errorf(sluice.ErrAccessDenied, "no"), 403, "AccessDeniedException", "no"},
		{"plain error", io.ErrUnexpectedEOF, 500, "ServiceException", internalMessage},
		{"store code", sluice.Errorf(sluice.ErrNoSuchKey, "gone"), 500, "ServiceException", internalMessage},
		{"throttle", throttled(), 429, "TooManyRequestsException", "Rate Exceeded."},
		{"lambda code", functionNotFound("arn:x"), 404, "ResourceNotFoundException", "Function not found: arn:x"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, "http://sluice/2015-03-31/functions/", nil)
			req = req.WithContext(sluice.WithRequestInfo(req.Context(), sluice.RequestInfo{ID: "REQ1"}))
			rec := newRecorder()
			svc.WriteError(rec, req, tc.err)
			var body map[string]string
			if err := json.Unmarshal(rec.body.Bytes(), &body); err != nil {
				t.Fatal(err)
			}
			if rec.status != tc.status || rec.header.Get("X-Amzn-ErrorType") != tc.code || rec.header.Get("X-Amzn-RequestId") != "REQ1" {
				t.Errorf("status %d type %q id %q", rec.status, rec.header.Get("X-Amzn-ErrorType"), rec.header.Get("X-Amzn-RequestId"))
			}
			if !strings.HasPrefix(body["Message"], tc.msg) || body["message"] != body["Message"] {
				t.Errorf("body %v, want message %q", body, tc.msg)
			}
		})
	}
}
