package logs

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sluicehq/sluice"
)

// awsCLI runs the aws command (v1 or v2) against url and returns stdout,
// stderr and the exit code.
func awsCLI(t *testing.T, url string, args ...string) (string, string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "aws", append([]string{"--endpoint-url", url, "--output", "json"}, args...)...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env,
		"AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test", "AWS_DEFAULT_REGION=us-east-1",
		"AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_PAGER=")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("aws %v: %v", args, err)
	}
	return stdout.String(), stderr.String(), code
}

func TestAWSCLI(t *testing.T) {
	if _, err := exec.LookPath("aws"); err != nil {
		t.Skip("aws CLI not installed")
	}
	e := newEnv(t)
	ctx := context.Background()
	g, s := "/aws/lambda/cli", "2025/02/03/[$LATEST]c0ffee"
	base := time.Now().Add(-30 * time.Minute).Truncate(time.Millisecond)
	var evs []sluice.LogEvent
	for i := range 7 {
		msg := fmt.Sprintf("INFO line %d", i)
		if i%3 == 0 {
			msg = fmt.Sprintf(`{"level":"error","n":%d}`, i)
		}
		evs = append(evs, sluice.LogEvent{Time: base.Add(time.Duration(i) * time.Second), Message: msg})
	}
	if err := e.store.PutLogEvents(ctx, g, s, evs); err != nil {
		t.Fatal(err)
	}
	if err := e.store.PutLogEvents(ctx, "/aws/lambda/other", "x", evs[:1]); err != nil {
		t.Fatal(err)
	}

	run := func(args ...string) string {
		t.Helper()
		out, errOut, code := awsCLI(t, e.url, args...)
		if code != 0 {
			t.Fatalf("aws %v: exit %d: %s", args, code, errOut)
		}
		return out
	}

	var groups struct {
		LogGroups []struct {
			LogGroupName string `json:"logGroupName"`
			Arn          string `json:"arn"`
			StoredBytes  int64  `json:"storedBytes"`
		} `json:"logGroups"`
	}
	if err := json.Unmarshal([]byte(run("logs", "describe-log-groups", "--log-group-name-prefix", "/aws/lambda/c")), &groups); err != nil {
		t.Fatal(err)
	}
	if len(groups.LogGroups) != 1 || groups.LogGroups[0].LogGroupName != g || groups.LogGroups[0].Arn != "arn:aws:logs:us-east-1:000000000000:log-group:"+g+":*" || groups.LogGroups[0].StoredBytes == 0 {
		t.Errorf("describe-log-groups = %+v", groups)
	}

	type page struct {
		Events []struct {
			Timestamp int64  `json:"timestamp"`
			Message   string `json:"message"`
		} `json:"events"`
		NextForwardToken  string `json:"nextForwardToken"`
		NextBackwardToken string `json:"nextBackwardToken"`
	}
	msgs := func(p page) []string {
		var out []string
		for _, e := range p.Events {
			out = append(out, e.Message)
		}
		return out
	}
	var p1, p2, p3 page
	if err := json.Unmarshal([]byte(run("logs", "get-log-events", "--log-group-name", g, "--log-stream-name", s, "--start-from-head", "--limit", "3")), &p1); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(run("logs", "get-log-events", "--log-group-name", g, "--log-stream-name", s, "--next-token", p1.NextForwardToken, "--limit", "3")), &p2); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(run("logs", "get-log-events", "--log-group-name", g, "--log-stream-name", s, "--next-token", p2.NextBackwardToken, "--limit", "2")), &p3); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([][]string{
		{`{"level":"error","n":0}`, "INFO line 1", "INFO line 2"},
		{`{"level":"error","n":3}`, "INFO line 4", "INFO line 5"},
		{"INFO line 1", "INFO line 2"},
	}, [][]string{msgs(p1), msgs(p2), msgs(p3)}); diff != "" {
		t.Errorf("get-log-events pages (-want +got):\n%s", diff)
	}
	if p1.Events[0].Timestamp != base.UnixMilli() || !strings.HasPrefix(p1.NextForwardToken, "f/") || !strings.HasPrefix(p1.NextBackwardToken, "b/") {
		t.Errorf("first page %+v", p1)
	}

	var filtered struct {
		Events []struct {
			LogStreamName string `json:"logStreamName"`
			Message       string `json:"message"`
			EventID       string `json:"eventId"`
		} `json:"events"`
	}
	// The CLI paginates FilterLogEvents itself: a page size of 1 makes it
	// follow nextToken.
	if err := json.Unmarshal([]byte(run("logs", "filter-log-events", "--log-group-name", g,
		"--filter-pattern", `{ $.level = "error" && $.n >= 3 }`, "--page-size", "1",
		"--start-time", fmt.Sprint(base.UnixMilli()), "--end-time", fmt.Sprint(base.Add(time.Hour).UnixMilli()))), &filtered); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, ev := range filtered.Events {
		got = append(got, ev.LogStreamName+" "+ev.Message)
		if len(ev.EventID) != 56 {
			t.Errorf("eventId %q", ev.EventID)
		}
	}
	if diff := cmp.Diff([]string{s + ` {"level":"error","n":3}`, s + ` {"level":"error","n":6}`}, got); diff != "" {
		t.Errorf("filter-log-events (-want +got):\n%s", diff)
	}
	filtered.Events = nil
	if err := json.Unmarshal([]byte(run("logs", "filter-log-events", "--log-group-name", g, "--filter-pattern", `?"line 1" ?"line 5"`)), &filtered); err != nil {
		t.Fatal(err)
	}
	if len(filtered.Events) != 2 || filtered.Events[0].Message != "INFO line 1" || filtered.Events[1].Message != "INFO line 5" {
		t.Errorf("text filter = %+v", filtered.Events)
	}

	run("logs", "put-retention-policy", "--log-group-name", g, "--retention-in-days", "14")
	_, errOut, code := awsCLI(t, e.url, "logs", "put-retention-policy", "--log-group-name", g, "--retention-in-days", "4")
	if code == 0 || !strings.Contains(errOut, "InvalidParameterException") || !strings.Contains(errOut, "retentionInDays") {
		t.Errorf("invalid retention: exit %d: %s", code, errOut)
	}
	_, errOut, code = awsCLI(t, e.url, "logs", "get-log-events", "--log-group-name", "/aws/lambda/missing", "--log-stream-name", "s")
	if code == 0 || !strings.Contains(errOut, "(ResourceNotFoundException)") || !strings.Contains(errOut, "The specified log group does not exist.") {
		t.Errorf("missing group: exit %d: %s", code, errOut)
	}
}
