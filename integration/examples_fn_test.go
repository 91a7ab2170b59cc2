//go:build integration

package integration

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"image/jpeg"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/google/go-cmp/cmp"
)

// The tests in this file run examples/video-upload and
// examples/tests-in-a-function as their READMEs show them: `sluice serve -t
// template.yaml`, then curl/aws-cli/sluice commands, asserting on what
// really comes back.

// fnExampleStack is a `sluice serve -t` of one example, with the first HTTP
// API on its own port.
type fnExampleStack struct {
	*sluiceServer
	APIAddr string            // host:port of --api-addr
	Outputs map[string]string // the stack's Outputs as serve printed them
}

// startFnExample serves tmpl and waits until the stack is applied (serve
// prints its Outputs then). The stack is named after tmpl's directory.
func startFnExample(t *testing.T, tmpl string, outputs ...string) *fnExampleStack {
	t.Helper()
	ports, err := freePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	apiAddr := fmt.Sprintf("127.0.0.1:%d", ports[0])
	name := filepath.Base(filepath.Dir(tmpl))
	s := startSluice(t, withArgs("-t", tmpl, "--api-addr", apiAddr))
	ex := &fnExampleStack{sluiceServer: s, APIAddr: apiAddr}
	header := "Outputs of stack " + name + ":"
	err = poll(30*time.Second, func() error {
		log := s.log()
		for _, line := range strings.Split(log, "\n") {
			if strings.Contains(line, "level=ERROR") && strings.Contains(line, "component=stack") {
				return fmt.Errorf("stack apply failed: %s", line)
			}
		}
		_, after, ok := strings.Cut(log, header)
		if !ok {
			return errors.New("no Outputs printed yet")
		}
		ex.Outputs = fnParseOutputs(after)
		for _, o := range outputs {
			if ex.Outputs[o] == "" {
				return fmt.Errorf("output %s not printed yet", o)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("stack %s not applied: %v", name, err)
	}
	return ex
}

// fnParseOutputs reads the indented "  Name   value" lines serve prints after
// "Outputs of stack NAME:".
func fnParseOutputs(s string) map[string]string {
	out := map[string]string{}
	for _, line := range strings.Split(s, "\n")[1:] {
		if !strings.HasPrefix(line, "  ") {
			break
		}
		f := strings.Fields(line)
		if len(f) >= 2 {
			out[f[0]] = strings.Join(f[1:], " ")
		}
	}
	return out
}

// apiRequest sends one request to base (an HTTP API's URL: the --api-addr
// port or its execute-api.localhost name on the AWS port) + path.
func (ex *fnExampleStack) apiRequest(t testing.TB, base, method, path, contentType string, body []byte) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, strings.TrimSuffix(base, "/")+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	// httpClient resolves *.localhost to 127.0.0.1, as curl does.
	resp, err := httpClient().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return resp.StatusCode, resp.Header, b
}

// videoUploadGrant is what POST /uploads of examples/video-upload answers.
type videoUploadGrant struct {
	Bucket    string            `json:"bucket"`
	Key       string            `json:"key"`
	UploadURL string            `json:"uploadUrl"`
	Method    string            `json:"method"`
	Headers   map[string]string `json:"headers"`
	ExpiresIn int               `json:"expiresIn"`
	Thumbnail struct {
		Bucket string `json:"bucket"`
		Key    string `json:"key"`
	} `json:"thumbnail"`
}

// putPresigned PUTs body to a presigned URL with plain HTTP (no SDK, no signing).
func putPresigned(t testing.TB, url string, hdr map[string]string, body []byte) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPut, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := httpClient().Do(req)
	if err != nil {
		t.Fatalf("PUT %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestExampleVideoUpload(t *testing.T) {
	ex := startFnExample(t, filepath.Join(moduleRoot, "examples", "video-upload", "template.yaml"), "ApiUrl", "VideosBucket", "ThumbnailsBucket")
	if diff := cmp.Diff(map[string]string{
		"VideosBucket":     "video-upload-videos",
		"ThumbnailsBucket": "video-upload-thumbnails",
	}, map[string]string{
		"VideosBucket":     ex.Outputs["VideosBucket"],
		"ThumbnailsBucket": ex.Outputs["ThumbnailsBucket"],
	}); diff != "" {
		t.Errorf("bucket outputs (-want +got):\n%s", diff)
	}
	_, port, _ := net.SplitHostPort(ex.Addr)
	apiURL := ex.Outputs["ApiUrl"]
	if !regexp.MustCompile(`^http://[a-z0-9]{10}\.execute-api\.localhost:` + port + `/$`).MatchString(apiURL) {
		t.Errorf("ApiUrl output %q, want http://<apiId>.execute-api.localhost:%s/", apiURL, port)
	}
	portURL := "http://" + ex.APIAddr + "/"
	if want := "HTTP API ServerlessHttpApi is also served at " + portURL; !strings.Contains(ex.log(), want) {
		t.Errorf("serve did not print %q", want)
	}

	// The README's sample video, made by ffmpeg itself.
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	video := filepath.Join(dir, "sample.mp4")
	if r := runCmd(t, ctx, cleanEnv(), dir, "ffmpeg", "-hide_banner", "-loglevel", "error",
		"-f", "lavfi", "-i", "testsrc=duration=2:size=640x360:rate=25", "-pix_fmt", "yuv420p", video); r.Code != 0 {
		t.Fatalf("ffmpeg (install it with scripts/setup.sh): %s", r)
	}
	videoBytes, err := os.ReadFile(video)
	if err != nil {
		t.Fatal(err)
	}

	c := s3Client(ex.sluiceServer)
	// Objects the S3 trigger's filter (prefix videos/, suffix .mp4) must
	// not deliver; they go in before the video, so by the time its
	// thumbnail exists they have been through the notifier.
	for _, key := range []string{"videos/notes.txt", "incoming/other.mp4"} {
		if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("video-upload-videos"), Key: aws.String(key), Body: bytes.NewReader(videoBytes)}); err != nil {
			t.Fatalf("put %s: %v", key, err)
		}
	}

	t.Run("execute-api host", func(t *testing.T) {
		status, _, body := ex.apiRequest(t, apiURL, http.MethodPost, "/uploads", "application/json", []byte(`{"name":"b.mp4"}`))
		var g videoUploadGrant
		if status != http.StatusCreated || json.Unmarshal(body, &g) != nil || g.Key != "videos/b.mp4" {
			t.Errorf("POST %suploads = %d %s, want 201 for key videos/b.mp4", apiURL, status, body)
		}
	})

	t.Run("bad requests", func(t *testing.T) {
		for _, tc := range []struct {
			name, body string
			want       int
		}{
			{"not JSON", "video please", http.StatusBadRequest},
			{"no name", `{}`, http.StatusBadRequest},
			{"not an mp4", `{"name":"cat.gif"}`, http.StatusBadRequest},
			{"path in name", `{"name":"../etc/x.mp4"}`, http.StatusBadRequest},
		} {
			status, _, body := ex.apiRequest(t, apiURL, http.MethodPost, "/uploads", "application/json", []byte(tc.body))
			if status != tc.want || !strings.Contains(string(body), "message") {
				t.Errorf("%s: POST /uploads %s = %d %s, want %d with a message", tc.name, tc.body, status, body, tc.want)
			}
		}
		if status, _, body := ex.apiRequest(t, portURL, http.MethodGet, "/uploads", "", nil); status != http.StatusNotFound {
			t.Errorf("GET /uploads (no such route) = %d %s, want 404", status, body)
		}
	})

	// 1. Ask the API for an upload URL (on the --api-addr port, as the
	// README does with port 3000).
	status, hdr, body := ex.apiRequest(t, portURL, http.MethodPost, "/uploads", "application/json", []byte(`{"name":"sample.mp4"}`))
	if status != http.StatusCreated || !strings.HasPrefix(hdr.Get("Content-Type"), "application/json") {
		t.Fatalf("POST /uploads = %d (%s) %s, want 201 JSON", status, hdr.Get("Content-Type"), body)
	}
	var grant videoUploadGrant
	if err := json.Unmarshal(body, &grant); err != nil {
		t.Fatalf("POST /uploads body %s: %v", body, err)
	}
	wantPrefix := ex.URL + "/video-upload-videos/videos/sample.mp4?"
	if !strings.HasPrefix(grant.UploadURL, wantPrefix) || !strings.Contains(grant.UploadURL, "X-Amz-Signature=") ||
		!strings.Contains(grant.UploadURL, "X-Amz-Expires=900") {
		t.Errorf("uploadUrl %q: want a path-style SigV4 presigned URL starting %q, expiring in 900 s", grant.UploadURL, wantPrefix)
	}
	if grant.Bucket != "video-upload-videos" || grant.Key != "videos/sample.mp4" || grant.Method != http.MethodPut ||
		grant.Thumbnail.Bucket != "video-upload-thumbnails" || grant.Thumbnail.Key != "sample.jpg" {
		t.Errorf("grant = %+v", grant)
	}

	// 2. The signature covers Content-Type: a PUT without it is refused.
	if status, body := putPresigned(t, grant.UploadURL, nil, videoBytes); status != http.StatusForbidden || !strings.Contains(body, "SignatureDoesNotMatch") {
		t.Errorf("PUT without Content-Type = %d %s, want 403 SignatureDoesNotMatch", status, tail(body, 300))
	}
	// The URL is for one key only.
	other := strings.Replace(grant.UploadURL, "/videos/sample.mp4?", "/videos/evil.mp4?", 1)
	if status, body := putPresigned(t, other, grant.Headers, videoBytes); status != http.StatusForbidden {
		t.Errorf("PUT to another key with the same signature = %d %s, want 403", status, tail(body, 300))
	}

	// 3. The client uploads straight to storage with plain HTTP.
	if status, body := putPresigned(t, grant.UploadURL, grant.Headers, videoBytes); status != http.StatusOK {
		t.Fatalf("PUT presigned URL = %d %s, want 200", status, body)
	}
	head, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(grant.Bucket), Key: aws.String(grant.Key)})
	if err != nil {
		t.Fatalf("head uploaded video: %v", err)
	}
	if aws.ToInt64(head.ContentLength) != int64(len(videoBytes)) || aws.ToString(head.ContentType) != "video/mp4" {
		t.Errorf("uploaded video: %d bytes %q, want %d video/mp4", aws.ToInt64(head.ContentLength), aws.ToString(head.ContentType), len(videoBytes))
	}

	// 4. The S3 trigger makes the thumbnail.
	var thumb []byte
	var thumbType string
	err = poll(45*time.Second, func() error {
		out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(grant.Thumbnail.Bucket), Key: aws.String(grant.Thumbnail.Key)})
		if err != nil {
			return err
		}
		defer out.Body.Close()
		thumbType = aws.ToString(out.ContentType)
		thumb, err = io.ReadAll(out.Body)
		return err
	})
	if err != nil {
		t.Fatalf("thumbnail %s/%s never appeared: %v\nThumbnail log:\n%s", grant.Thumbnail.Bucket, grant.Thumbnail.Key, err,
			sluiceCmd(t, ex.sluiceServer, nil, "logs", "Thumbnail").Stdout)
	}
	if thumbType != "image/jpeg" {
		t.Errorf("thumbnail Content-Type %q, want image/jpeg", thumbType)
	}
	img, err := jpeg.Decode(bytes.NewReader(thumb))
	if err != nil {
		t.Fatalf("thumbnail is not a JPEG: %v", err)
	}
	if b := img.Bounds(); b.Dx() != 320 || b.Dy() != 180 {
		t.Errorf("thumbnail is %dx%d, want 320x180 (640x360 scaled to 320 wide)", b.Dx(), b.Dy())
	}

	// Only the video was delivered to the function.
	list, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("video-upload-thumbnails")})
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, o := range list.Contents {
		keys = append(keys, aws.ToString(o.Key))
	}
	sort.Strings(keys)
	if diff := cmp.Diff([]string{"sample.jpg"}, keys); diff != "" {
		t.Errorf("thumbnails bucket (-want +got):\n%s", diff)
	}

	// 5. The function's log, as the README reads it.
	logs := sluiceCmd(t, ex.sluiceServer, nil, "logs", "Thumbnail", "--since", "10m")
	if logs.Code != 0 {
		t.Fatalf("sluice logs Thumbnail: %s", logs)
	}
	// Every record the function gets is logged as `video {...}`: only the
	// .mp4 under videos/ may be there (a retry after a slow cold start may
	// repeat it; that is not a filter failure).
	for _, line := range strings.Split(logs.Stdout, "\n") {
		if _, rec, ok := strings.Cut(line, " video {"); ok && !strings.Contains(rec, `"s3://video-upload-videos/videos/sample.mp4"`) {
			t.Errorf("Thumbnail got a record its filter (videos/*.mp4) excludes: %s", line)
		}
	}
	if !strings.Contains(logs.Stdout, fmt.Sprintf(`video {"video": "s3://video-upload-videos/videos/sample.mp4", "size": %d}`, len(videoBytes))) {
		t.Errorf("sluice logs Thumbnail lacks the record of videos/sample.mp4 (%d bytes):\n%s", len(videoBytes), logs.Stdout)
	}
	if !strings.Contains(logs.Stdout, `"thumbnail": "s3://video-upload-thumbnails/sample.jpg"`) ||
		!strings.Contains(logs.Stdout, "REPORT RequestId:") {
		t.Errorf("sluice logs Thumbnail lacks the thumbnail line or REPORT:\n%s", logs.Stdout)
	}
	apiLogs := sluiceCmd(t, ex.sluiceServer, nil, "logs", "UploadUrl", "--filter", "presigned")
	if !strings.Contains(apiLogs.Stdout, `"key": "videos/sample.mp4"`) {
		t.Errorf("sluice logs UploadUrl --filter presigned:\n%s", apiLogs)
	}
}

// invokeTail splits `sluice invoke --tail` stderr into the log tail and
// sluice's own closing line ("sluice: function error ...").
func invokeTail(stderr string) (logTail, verdict string) {
	stderr = strings.TrimSuffix(stderr, "\n")
	i := strings.LastIndex(stderr, "\nsluice: ")
	if i < 0 {
		return stderr + "\n", ""
	}
	return stderr[:i+1], stderr[i+1:]
}

func TestExampleTestsInAFunction(t *testing.T) {
	// `make` as the README runs it, building into a copy of the example so
	// the source tree stays as it is.
	dir := filepath.Join(t.TempDir(), "tests-in-a-function")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(moduleRoot, "examples", "tests-in-a-function")
	tmplBytes, err := os.ReadFile(filepath.Join(src, "template.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	tmpl := filepath.Join(dir, "template.yaml")
	if err := os.WriteFile(tmpl, tmplBytes, 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if r := runCmd(t, ctx, os.Environ(), src, "make", "-s", "OUT="+filepath.Join(dir, "build")); r.Code != 0 {
		t.Fatalf("make: %s", r)
	}

	ex := startFnExample(t, tmpl, "FunctionName", "LogGroup")
	if got := ex.Outputs["FunctionName"] + " " + ex.Outputs["LogGroup"]; got != "run-tests /aws/lambda/run-tests" {
		t.Errorf("outputs FunctionName, LogGroup = %q", got)
	}
	invoke := func(t *testing.T, args ...string) cliResult {
		t.Helper()
		return sluiceCmd(t, ex.sluiceServer, nil, append([]string{"invoke", "run-tests"}, args...)...)
	}

	t.Run("passing subset", func(t *testing.T) {
		r := invoke(t, "--payload", `{"run":"TestMake$"}`)
		if r.Code != 0 {
			t.Fatalf("sluice invoke (passing subset): %s", r)
		}
		var res struct{ Passed, Failed, Skipped int }
		if err := json.Unmarshal([]byte(r.Stdout), &res); err != nil {
			t.Fatalf("result %q: %v", r.Stdout, err)
		}
		if res.Passed != 1 || res.Failed != 0 {
			t.Errorf("result %+v, want 1 passed, 0 failed", res)
		}
	})

	t.Run("failing subset with --tail", func(t *testing.T) {
		r := invoke(t, "--payload", `{"run":"TestMakeAccents"}`, "--tail")
		if r.Code != 1 {
			t.Fatalf("sluice invoke (failing subset) exit %d, want 1: %s", r.Code, r)
		}
		var fnErr struct{ ErrorType, ErrorMessage string }
		if err := json.Unmarshal([]byte(r.Stdout), &fnErr); err != nil {
			t.Fatalf("result %q: %v", r.Stdout, err)
		}
		if diff := cmp.Diff(struct{ ErrorType, ErrorMessage string }{"TestsFailed", "1 of 1 tests failed: TestMakeAccents"}, fnErr); diff != "" {
			t.Errorf("function error (-want +got):\n%s", diff)
		}
		logTail, verdict := invokeTail(r.Stderr)
		if verdict != "sluice: function error (Unhandled): TestsFailed: 1 of 1 tests failed: TestMakeAccents" {
			t.Errorf("closing line %q", verdict)
		}
		for _, want := range []string{"START RequestId:", "=== RUN   TestMakeAccents",
			`Make("Crème brûlée") = "cr-me-br-l-e", want "creme-brulee"`, "--- FAIL: TestMakeAccents",
			"summary: 0 passed, 1 failed", "END RequestId:", "REPORT RequestId:"} {
			if !strings.Contains(logTail, want) {
				t.Errorf("tail lacks %q:\n%s", want, logTail)
			}
		}
	})

	t.Run("bad event", func(t *testing.T) {
		r := invoke(t, "--payload", `{"run":"Test(["}`)
		if r.Code != 1 || !strings.Contains(r.Stdout, `"errorType": "InvalidEvent"`) {
			t.Errorf("invalid -test.run pattern: %s", r)
		}
	})

	// The whole suite logs well over 4 KB: the tail is its last 4 KB, the
	// log keeps everything.
	var fullRequestID string
	t.Run("whole suite, tail is the last 4 KB", func(t *testing.T) {
		r := invoke(t, "--tail")
		if r.Code != 1 || !strings.Contains(r.Stdout, "1 of 3 tests failed: TestMakeAccents") {
			t.Fatalf("sluice invoke (all tests): %s", r)
		}
		logTail, _ := invokeTail(r.Stderr)
		// sluice invoke ends the tail with a newline if it had none.
		if n := len(strings.TrimSuffix(logTail, "\n")); n > 4096 || n < 3500 {
			t.Errorf("tail is %d bytes, want the last 4 KB of a longer log", n)
		}
		if strings.Contains(logTail, "START RequestId:") || strings.Contains(logTail, "=== RUN   TestMakeLong/chapter_00") {
			t.Errorf("tail holds the start of the log; want only its end:\n%s", logTail)
		}
		if !strings.Contains(logTail, "--- FAIL: TestMakeAccents") || !strings.Contains(logTail, "summary: 2 passed, 1 failed") {
			t.Errorf("tail lacks the failure:\n%s", logTail)
		}
		m := regexp.MustCompile(`REPORT RequestId: (\S+)`).FindStringSubmatch(logTail)
		if m == nil {
			t.Fatalf("tail lacks REPORT:\n%s", logTail)
		}
		fullRequestID = m[1]

		logs := sluiceCmd(t, ex.sluiceServer, nil, "logs", "run-tests", "--since", "10m")
		if logs.Code != 0 {
			t.Fatalf("sluice logs: %s", logs)
		}
		_, run, ok := strings.Cut(logs.Stdout, "START RequestId: "+fullRequestID)
		if !ok {
			t.Fatalf("sluice logs lacks START of %s:\n%s", fullRequestID, tail(logs.Stdout, 4096))
		}
		run, _, _ = strings.Cut(run, "REPORT RequestId: "+fullRequestID)
		for _, want := range []string{"=== RUN   TestMakeLong/chapter_00", "--- PASS: TestMake ", "--- PASS: TestMakeLong ", "--- FAIL: TestMakeAccents", "END RequestId: " + fullRequestID} {
			if !strings.Contains(run, want) {
				t.Errorf("full log of %s lacks %q", fullRequestID, want)
			}
		}
		if n := strings.Count(run, "--- PASS: TestMakeLong/chapter_"); n != 80 {
			t.Errorf("full log has %d TestMakeLong subtest results, want 80", n)
		}
	})

	t.Run("aws lambda invoke --log-type Tail", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "out.json")
		stdout := awsOK(t, ex.sluiceServer, "lambda", "invoke", "--function-name", "run-tests",
			"--payload", `{"run":"Accents"}`, "--log-type", "Tail", out)
		var resp struct {
			StatusCode    int
			FunctionError string
			LogResult     string
		}
		mustJSON(t, stdout, &resp)
		if resp.StatusCode != 200 || resp.FunctionError != "Unhandled" {
			t.Errorf("invoke response %s: want StatusCode 200, FunctionError Unhandled", stdout)
		}
		logTail, err := base64.StdEncoding.DecodeString(resp.LogResult)
		if err != nil {
			t.Fatalf("LogResult: %v", err)
		}
		if len(logTail) > 4096 || !strings.Contains(string(logTail), "--- FAIL: TestMakeAccents") ||
			!strings.Contains(string(logTail), "REPORT RequestId:") {
			t.Errorf("LogResult (%d bytes) lacks the failure or REPORT:\n%s", len(logTail), logTail)
		}
		payload, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(payload), `"errorType":"TestsFailed"`) {
			t.Errorf("out.json = %s", payload)
		}
	})

	t.Run("logs --follow", func(t *testing.T) {
		cmd := exec.Command(sluiceBin, "logs", "run-tests", "--follow", "--interval", "200ms")
		cmd.Env = append(clientEnv(t, ex.sluiceServer), "SLUICE_ENDPOINT="+ex.URL)
		var out, errOut lockedBuffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		// Ctrl-C, as a user stops it; killed if it does not stop.
		stop := func() error {
			_ = cmd.Process.Signal(os.Interrupt)
			select {
			case err := <-done:
				return err
			case <-time.After(10 * time.Second):
				_ = cmd.Process.Kill()
				<-done
				return errors.New("still running 10 s after SIGINT; killed")
			}
		}
		stopped := false
		defer func() {
			if !stopped {
				_ = stop()
			}
		}()
		// It first prints what is already there (the last 10 minutes).
		if err := poll(20*time.Second, func() error {
			if !strings.Contains(out.String(), "REPORT RequestId: "+fullRequestID) {
				return errors.New("earlier invocations not printed yet")
			}
			return nil
		}); err != nil {
			t.Fatalf("sluice logs --follow: %v\nstdout:\n%s\nstderr:\n%s", err, tail(out.String(), 2048), errOut.String())
		}
		// Then new lines as they come.
		marker := "TestMake$|NoSuchTest" + randSuffix(8)
		if r := invoke(t, "--payload", `{"run":"`+marker+`"}`); r.Code != 0 {
			t.Fatalf("invoke: %s", r)
		}
		var seen string
		if err := poll(20*time.Second, func() error {
			seen = out.String()
			_, after, ok := strings.Cut(seen, "-test.run "+marker)
			if !ok || !strings.Contains(after, "--- PASS: TestMake ") || !strings.Contains(after, "REPORT RequestId:") {
				return errors.New("new invocation not followed yet")
			}
			return nil
		}); err != nil {
			t.Fatalf("sluice logs --follow: %v\nstdout:\n%s\nstderr:\n%s", err, tail(seen, 2048), errOut.String())
		}
		stopped = true
		if err := stop(); err != nil {
			t.Errorf("sluice logs --follow after SIGINT: %v\nstderr:\n%s", err, errOut.String())
		}
		if n := strings.Count(out.String(), "START RequestId: "+fullRequestID); n != 1 {
			t.Errorf("--follow printed the START of %s %d times, want once", fullRequestID, n)
		}
	})
}
