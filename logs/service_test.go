package logs

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	cwl "github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"
	"github.com/aws/smithy-go"
	"github.com/google/go-cmp/cmp"

	"github.com/sluicehq/sluice"
)

func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if got := apiCode(err); got != code {
		t.Fatalf("error = %v, want code %s", err, code)
	}
}

// putSeq writes messages m0..m(n-1) at base, base+1ms, ... through the API.
func putSeq(t *testing.T, e *env, group, stream string, base int64, n int) {
	t.Helper()
	ctx := context.Background()
	evs := make([]types.InputLogEvent, n)
	for i := range evs {
		evs[i] = types.InputLogEvent{Timestamp: aws.Int64(base + int64(i)), Message: aws.String(fmt.Sprintf("m%d", i))}
	}
	if _, err := e.client.PutLogEvents(ctx, &cwl.PutLogEventsInput{LogGroupName: &group, LogStreamName: &stream, LogEvents: evs}); err != nil {
		t.Fatal(err)
	}
}

func messages(evs []types.OutputLogEvent) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = aws.ToString(e.Message)
	}
	return out
}

func seqNames(from, to int) []string {
	var out []string
	for i := from; i < to; i++ {
		out = append(out, fmt.Sprintf("m%d", i))
	}
	return out
}

func TestLogGroupsSDK(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	for _, name := range []string{"/aws/lambda/a", "/aws/lambda/b", "/aws/lambda/c", "/other"} {
		if _, err := e.client.CreateLogGroup(ctx, &cwl.CreateLogGroupInput{LogGroupName: aws.String(name)}); err != nil {
			t.Fatal(err)
		}
	}
	_, err := e.client.CreateLogGroup(ctx, &cwl.CreateLogGroupInput{LogGroupName: aws.String("/other")})
	wantCode(t, err, "ResourceAlreadyExistsException")
	_, err = e.client.CreateLogGroup(ctx, &cwl.CreateLogGroupInput{LogGroupName: aws.String("bad name!")})
	wantCode(t, err, "InvalidParameterException")

	if _, err := e.client.PutRetentionPolicy(ctx, &cwl.PutRetentionPolicyInput{LogGroupName: aws.String("/aws/lambda/b"), RetentionInDays: aws.Int32(7)}); err != nil {
		t.Fatal(err)
	}
	_, err = e.client.PutRetentionPolicy(ctx, &cwl.PutRetentionPolicyInput{LogGroupName: aws.String("/aws/lambda/b"), RetentionInDays: aws.Int32(4)})
	wantCode(t, err, "InvalidParameterException")
	_, err = e.client.PutRetentionPolicy(ctx, &cwl.PutRetentionPolicyInput{LogGroupName: aws.String("/nope"), RetentionInDays: aws.Int32(7)})
	wantCode(t, err, "ResourceNotFoundException")

	// Two pages of two with a prefix.
	var names []string
	var retention []int32
	p := cwl.NewDescribeLogGroupsPaginator(e.client, &cwl.DescribeLogGroupsInput{LogGroupNamePrefix: aws.String("/aws/lambda/"), Limit: aws.Int32(2)})
	pages := 0
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, g := range out.LogGroups {
			names = append(names, aws.ToString(g.LogGroupName))
			retention = append(retention, aws.ToInt32(g.RetentionInDays))
			if want := "arn:aws:logs:us-east-1:000000000000:log-group:" + aws.ToString(g.LogGroupName); aws.ToString(g.LogGroupArn) != want || aws.ToString(g.Arn) != want+":*" {
				t.Errorf("arns = %s, %s", aws.ToString(g.LogGroupArn), aws.ToString(g.Arn))
			}
			if aws.ToInt64(g.CreationTime) < time.Now().Add(-time.Minute).UnixMilli() {
				t.Errorf("creationTime = %d", aws.ToInt64(g.CreationTime))
			}
		}
	}
	if diff := cmp.Diff([]string{"/aws/lambda/a", "/aws/lambda/b", "/aws/lambda/c"}, names); diff != "" || pages != 2 {
		t.Errorf("pages %d, groups (-want +got):\n%s", pages, diff)
	}
	if diff := cmp.Diff([]int32{0, 7, 0}, retention); diff != "" {
		t.Errorf("retention (-want +got):\n%s", diff)
	}

	if _, err := e.client.DeleteRetentionPolicy(ctx, &cwl.DeleteRetentionPolicyInput{LogGroupName: aws.String("/aws/lambda/b")}); err != nil {
		t.Fatal(err)
	}
	out, err := e.client.DescribeLogGroups(ctx, &cwl.DescribeLogGroupsInput{LogGroupNamePrefix: aws.String("/aws/lambda/b")})
	if err != nil || len(out.LogGroups) != 1 || out.LogGroups[0].RetentionInDays != nil {
		t.Fatalf("after DeleteRetentionPolicy: %+v, %v", out, err)
	}

	if _, err := e.client.DeleteLogGroup(ctx, &cwl.DeleteLogGroupInput{LogGroupName: aws.String("/aws/lambda/a")}); err != nil {
		t.Fatal(err)
	}
	_, err = e.client.DeleteLogGroup(ctx, &cwl.DeleteLogGroupInput{LogGroupName: aws.String("/aws/lambda/a")})
	wantCode(t, err, "ResourceNotFoundException")
	_, err = e.client.DescribeLogStreams(ctx, &cwl.DescribeLogStreamsInput{LogGroupName: aws.String("/aws/lambda/a")})
	wantCode(t, err, "ResourceNotFoundException")
}

func TestLogStreamsSDK(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	g := "/aws/lambda/fn"
	if _, err := e.client.CreateLogGroup(ctx, &cwl.CreateLogGroupInput{LogGroupName: &g}); err != nil {
		t.Fatal(err)
	}
	// Streams named in one order, written to in another.
	base := time.Now().Add(-time.Hour).UnixMilli()
	for i, name := range []string{"s-c", "s-a", "s-b", "x-1"} {
		if _, err := e.client.CreateLogStream(ctx, &cwl.CreateLogStreamInput{LogGroupName: &g, LogStreamName: aws.String(name)}); err != nil {
			t.Fatal(err)
		}
		if name != "x-1" {
			putSeq(t, e, g, name, base+int64(i)*1000, 3)
		}
	}
	_, err := e.client.CreateLogStream(ctx, &cwl.CreateLogStreamInput{LogGroupName: &g, LogStreamName: aws.String("s-a")})
	wantCode(t, err, "ResourceAlreadyExistsException")
	_, err = e.client.CreateLogStream(ctx, &cwl.CreateLogStreamInput{LogGroupName: aws.String("/none"), LogStreamName: aws.String("s")})
	wantCode(t, err, "ResourceNotFoundException")

	list := func(in *cwl.DescribeLogStreamsInput) []string {
		t.Helper()
		in.LogGroupName = &g
		var names []string
		p := cwl.NewDescribeLogStreamsPaginator(e.client, in)
		for p.HasMorePages() {
			out, err := p.NextPage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range out.LogStreams {
				names = append(names, aws.ToString(s.LogStreamName))
			}
		}
		return names
	}
	tests := []struct {
		name string
		in   cwl.DescribeLogStreamsInput
		want []string
	}{
		{"by name", cwl.DescribeLogStreamsInput{Limit: aws.Int32(1)}, []string{"s-a", "s-b", "s-c", "x-1"}},
		{"by name descending", cwl.DescribeLogStreamsInput{Descending: aws.Bool(true), Limit: aws.Int32(3)}, []string{"x-1", "s-c", "s-b", "s-a"}},
		{"prefix", cwl.DescribeLogStreamsInput{LogStreamNamePrefix: aws.String("s-"), Limit: aws.Int32(2)}, []string{"s-a", "s-b", "s-c"}},
		{"by last event time", cwl.DescribeLogStreamsInput{OrderBy: types.OrderByLastEventTime, Limit: aws.Int32(1)}, []string{"x-1", "s-c", "s-a", "s-b"}},
		{"by last event time descending", cwl.DescribeLogStreamsInput{OrderBy: types.OrderByLastEventTime, Descending: aws.Bool(true), Limit: aws.Int32(2)}, []string{"s-b", "s-a", "s-c", "x-1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, list(&tt.in)); diff != "" {
				t.Errorf("streams (-want +got):\n%s", diff)
			}
		})
	}
	_, err = e.client.DescribeLogStreams(ctx, &cwl.DescribeLogStreamsInput{LogGroupName: &g, OrderBy: types.OrderByLastEventTime, LogStreamNamePrefix: aws.String("s")})
	wantCode(t, err, "InvalidParameterException")

	out, err := e.client.DescribeLogStreams(ctx, &cwl.DescribeLogStreamsInput{LogGroupName: &g, LogStreamNamePrefix: aws.String("s-b")})
	if err != nil || len(out.LogStreams) != 1 {
		t.Fatalf("describe s-b: %+v, %v", out, err)
	}
	s := out.LogStreams[0]
	if aws.ToInt64(s.FirstEventTimestamp) != base+2000 || aws.ToInt64(s.LastEventTimestamp) != base+2002 || aws.ToInt64(s.LastIngestionTime) == 0 {
		t.Errorf("s-b timestamps first=%d last=%d ingest=%d", aws.ToInt64(s.FirstEventTimestamp), aws.ToInt64(s.LastEventTimestamp), aws.ToInt64(s.LastIngestionTime))
	}
	if want := "arn:aws:logs:us-east-1:000000000000:log-group:/aws/lambda/fn:log-stream:s-b"; aws.ToString(s.Arn) != want {
		t.Errorf("arn = %s", aws.ToString(s.Arn))
	}
	out, err = e.client.DescribeLogStreams(ctx, &cwl.DescribeLogStreamsInput{LogGroupName: &g, LogStreamNamePrefix: aws.String("x-1")})
	if err != nil || len(out.LogStreams) != 1 || out.LogStreams[0].FirstEventTimestamp != nil || out.LogStreams[0].LastEventTimestamp != nil {
		t.Fatalf("empty stream must have no event timestamps: %+v, %v", out, err)
	}
}

func TestGetLogEventsTokens(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	g, s := "/aws/lambda/tok", "2024/01/01/[$LATEST]abc"
	if _, err := e.client.CreateLogGroup(ctx, &cwl.CreateLogGroupInput{LogGroupName: &g}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.client.CreateLogStream(ctx, &cwl.CreateLogStreamInput{LogGroupName: &g, LogStreamName: &s}); err != nil {
		t.Fatal(err)
	}
	base := time.Now().Add(-time.Hour).UnixMilli()

	// An empty stream still yields tokens, and its forward token later
	// picks up the first events written.
	out, err := e.client.GetLogEvents(ctx, &cwl.GetLogEventsInput{LogGroupName: &g, LogStreamName: &s})
	if err != nil || len(out.Events) != 0 || !strings.HasPrefix(aws.ToString(out.NextForwardToken), "f/") || !strings.HasPrefix(aws.ToString(out.NextBackwardToken), "b/") {
		t.Fatalf("empty stream: %+v, %v", out, err)
	}
	emptyForward := out.NextForwardToken

	putSeq(t, e, g, s, base, 25)
	get := func(in cwl.GetLogEventsInput) *cwl.GetLogEventsOutput {
		t.Helper()
		in.LogGroupName, in.LogStreamName = &g, &s
		out, err := e.client.GetLogEvents(ctx, &in)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	if got := messages(get(cwl.GetLogEventsInput{NextToken: emptyForward}).Events); !cmp.Equal(got, seqNames(0, 25)) {
		t.Errorf("empty stream's forward token now reads %v", got)
	}

	// Forward from the head, ten at a time, until the same token comes back.
	var pages [][]string
	tok := (*string)(nil)
	for i := 0; i < 10; i++ {
		out := get(cwl.GetLogEventsInput{StartFromHead: aws.Bool(true), Limit: aws.Int32(10), NextToken: tok})
		if tok != nil && aws.ToString(out.NextForwardToken) == *tok {
			if len(out.Events) != 0 {
				t.Fatalf("same token returned with %d events", len(out.Events))
			}
			break
		}
		pages = append(pages, messages(out.Events))
		tok = out.NextForwardToken
	}
	if diff := cmp.Diff([][]string{seqNames(0, 10), seqNames(10, 20), seqNames(20, 25)}, pages); diff != "" {
		t.Errorf("forward pages (-want +got):\n%s", diff)
	}
	endForward := tok

	// Backward is the default: the newest first page, then older pages.
	pages = nil
	tok = nil
	for i := 0; i < 10; i++ {
		out := get(cwl.GetLogEventsInput{Limit: aws.Int32(10), NextToken: tok})
		if tok != nil && aws.ToString(out.NextBackwardToken) == *tok {
			if len(out.Events) != 0 {
				t.Fatalf("same backward token returned with %d events", len(out.Events))
			}
			break
		}
		pages = append(pages, messages(out.Events))
		tok = out.NextBackwardToken
	}
	if diff := cmp.Diff([][]string{seqNames(15, 25), seqNames(5, 15), seqNames(0, 5)}, pages); diff != "" {
		t.Errorf("backward pages (-want +got):\n%s", diff)
	}

	// Reversing direction mid-way: forward from the oldest backward page.
	first := get(cwl.GetLogEventsInput{Limit: aws.Int32(5), StartFromHead: aws.Bool(true)})
	back := get(cwl.GetLogEventsInput{Limit: aws.Int32(5), NextToken: first.NextBackwardToken})
	if len(back.Events) != 0 || aws.ToString(back.NextBackwardToken) != aws.ToString(first.NextBackwardToken) {
		t.Errorf("backward from the head: %v, token %s", messages(back.Events), aws.ToString(back.NextBackwardToken))
	}
	if got := messages(get(cwl.GetLogEventsInput{Limit: aws.Int32(3), NextToken: back.NextForwardToken}).Events); !cmp.Equal(got, seqNames(0, 3)) {
		t.Errorf("forward after an empty backward page = %v", got)
	}

	// Time ranges: start inclusive, end exclusive.
	got := messages(get(cwl.GetLogEventsInput{StartTime: aws.Int64(base + 3), EndTime: aws.Int64(base + 7), StartFromHead: aws.Bool(true)}).Events)
	if diff := cmp.Diff(seqNames(3, 7), got); diff != "" {
		t.Errorf("range (-want +got):\n%s", diff)
	}

	// A follower holding the end token sees new events.
	putSeq(t, e, g, s, base+100, 2)
	if got := messages(get(cwl.GetLogEventsInput{NextToken: endForward}).Events); !cmp.Equal(got, seqNames(0, 2)) {
		t.Errorf("after new events, end token reads %v", got)
	}

	// The SDK paginator stops on the repeated token.
	var all []string
	p := cwl.NewGetLogEventsPaginator(e.client, &cwl.GetLogEventsInput{LogGroupName: &g, LogStreamName: &s, StartFromHead: aws.Bool(true), Limit: aws.Int32(7)},
		func(o *cwl.GetLogEventsPaginatorOptions) { o.StopOnDuplicateToken = true })
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, messages(out.Events)...)
	}
	if len(all) != 27 {
		t.Errorf("paginator read %d events, want 27", len(all))
	}

	_, err = e.client.GetLogEvents(ctx, &cwl.GetLogEventsInput{LogGroupName: &g, LogStreamName: &s, NextToken: aws.String("x/123")})
	wantCode(t, err, "InvalidParameterException")
	_, err = e.client.GetLogEvents(ctx, &cwl.GetLogEventsInput{LogGroupName: &g, LogStreamName: aws.String("missing")})
	wantCode(t, err, "ResourceNotFoundException")
	_, err = e.client.GetLogEvents(ctx, &cwl.GetLogEventsInput{LogGroupName: &g, LogStreamName: &s, Limit: aws.Int32(10001)})
	wantCode(t, err, "InvalidParameterException")
}

func TestPutLogEventsRules(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	g, s := "/app", "main"
	_, err := e.client.PutLogEvents(ctx, &cwl.PutLogEventsInput{LogGroupName: &g, LogStreamName: &s, LogEvents: []types.InputLogEvent{{Timestamp: aws.Int64(time.Now().UnixMilli()), Message: aws.String("x")}}})
	wantCode(t, err, "ResourceNotFoundException")
	if _, err := e.client.CreateLogGroup(ctx, &cwl.CreateLogGroupInput{LogGroupName: &g}); err != nil {
		t.Fatal(err)
	}
	_, err = e.client.PutLogEvents(ctx, &cwl.PutLogEventsInput{LogGroupName: &g, LogStreamName: &s, LogEvents: []types.InputLogEvent{{Timestamp: aws.Int64(time.Now().UnixMilli()), Message: aws.String("x")}}})
	if wantCode(t, err, "ResourceNotFoundException"); !strings.Contains(err.Error(), "log stream does not exist") {
		t.Errorf("error = %v", err)
	}
	if _, err := e.client.CreateLogStream(ctx, &cwl.CreateLogStreamInput{LogGroupName: &g, LogStreamName: &s}); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	ev := func(ts time.Time, msg string) types.InputLogEvent {
		return types.InputLogEvent{Timestamp: aws.Int64(ts.UnixMilli()), Message: aws.String(msg)}
	}
	_, err = e.client.PutLogEvents(ctx, &cwl.PutLogEventsInput{LogGroupName: &g, LogStreamName: &s, LogEvents: []types.InputLogEvent{ev(now, "b"), ev(now.Add(-time.Second), "a")}})
	if wantCode(t, err, "InvalidParameterException"); !strings.Contains(err.Error(), "chronological order") {
		t.Errorf("error = %v", err)
	}
	_, err = e.client.PutLogEvents(ctx, &cwl.PutLogEventsInput{LogGroupName: &g, LogStreamName: &s, LogEvents: []types.InputLogEvent{ev(now.Add(-25*time.Hour), "a"), ev(now, "b")}})
	wantCode(t, err, "InvalidParameterException")
	_, err = e.client.PutLogEvents(ctx, &cwl.PutLogEventsInput{LogGroupName: &g, LogStreamName: &s, LogEvents: []types.InputLogEvent{ev(now, strings.Repeat("x", MaxEventSize+1))}})
	wantCode(t, err, "InvalidParameterException")

	// Too old and too new events are reported and skipped, the rest kept.
	out, err := e.client.PutLogEvents(ctx, &cwl.PutLogEventsInput{LogGroupName: &g, LogStreamName: &s, LogEvents: []types.InputLogEvent{
		ev(now.Add(-14*24*time.Hour-time.Hour), "old"), ev(now.Add(-14*24*time.Hour+time.Hour), "kept"),
	}})
	if err != nil {
		t.Fatal(err)
	}
	ri := out.RejectedLogEventsInfo
	if ri == nil || aws.ToInt32(ri.TooOldLogEventEndIndex) != 1 || ri.TooNewLogEventStartIndex != nil || ri.ExpiredLogEventEndIndex != nil {
		t.Fatalf("rejected = %+v", ri)
	}
	out, err = e.client.PutLogEvents(ctx, &cwl.PutLogEventsInput{LogGroupName: &g, LogStreamName: &s, LogEvents: []types.InputLogEvent{
		ev(now, "kept2"), ev(now.Add(3*time.Hour), "new"),
	}})
	if err != nil {
		t.Fatal(err)
	}
	if ri := out.RejectedLogEventsInfo; ri == nil || aws.ToInt32(ri.TooNewLogEventStartIndex) != 1 || ri.TooOldLogEventEndIndex != nil {
		t.Fatalf("rejected = %+v", ri)
	}
	// Older than the group's retention: expired.
	if _, err := e.client.PutRetentionPolicy(ctx, &cwl.PutRetentionPolicyInput{LogGroupName: &g, RetentionInDays: aws.Int32(1)}); err != nil {
		t.Fatal(err)
	}
	out, err = e.client.PutLogEvents(ctx, &cwl.PutLogEventsInput{LogGroupName: &g, LogStreamName: &s, LogEvents: []types.InputLogEvent{
		ev(now.Add(-2*24*time.Hour), "expired"), ev(now.Add(-2*24*time.Hour+time.Minute), "expired2"),
	}})
	if err != nil {
		t.Fatal(err)
	}
	if ri := out.RejectedLogEventsInfo; ri == nil || aws.ToInt32(ri.ExpiredLogEventEndIndex) != 2 || ri.TooOldLogEventEndIndex != nil || ri.TooNewLogEventStartIndex != nil {
		t.Fatalf("rejected = %+v", ri)
	}
	got, err := e.client.GetLogEvents(ctx, &cwl.GetLogEventsInput{LogGroupName: &g, LogStreamName: &s})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"kept", "kept2"}, messages(got.Events)); diff != "" {
		t.Errorf("stored (-want +got):\n%s", diff)
	}
}

func TestSinkIsReadableAtOnce(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	g, s := "/aws/lambda/echo", "2025/01/02/[$LATEST]0123456789abcdef"
	now := time.Now()
	lines := []sluice.LogEvent{
		{Time: now, Message: "START RequestId: 1 Version: $LATEST\n"},
		{Time: now.Add(time.Millisecond), Message: "hello\n"},
		{Time: now.Add(2 * time.Millisecond), Message: "END RequestId: 1\n"},
	}
	if err := e.store.PutLogEvents(ctx, g, s, lines); err != nil {
		t.Fatal(err)
	}
	// No wait: the read commits the batch first.
	out, err := e.client.GetLogEvents(ctx, &cwl.GetLogEventsInput{LogGroupName: &g, LogStreamName: &s, StartFromHead: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{lines[0].Message, lines[1].Message, lines[2].Message}
	if diff := cmp.Diff(want, messages(out.Events)); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	if ts := aws.ToInt64(out.Events[1].Timestamp); ts != now.Add(time.Millisecond).UnixMilli() {
		t.Errorf("timestamp = %d", ts)
	}

	// Long lines are split at MaxEventSize, not lost.
	big := strings.Repeat("é", MaxEventSize) // two bytes each
	if err := e.store.PutLogEvents(ctx, g, "big", []sluice.LogEvent{{Time: now, Message: big}}); err != nil {
		t.Fatal(err)
	}
	out, err = e.client.GetLogEvents(ctx, &cwl.GetLogEventsInput{LogGroupName: &g, LogStreamName: aws.String("big"), StartFromHead: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	joined := strings.Join(messages(out.Events), "")
	if len(out.Events) != 2 || joined != big {
		t.Errorf("split into %d events, rejoined equal: %v", len(out.Events), joined == big)
	}
}

func TestFilterLogEventsSDK(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	g := "/aws/lambda/filter"
	base := time.Now().Add(-time.Hour).Truncate(time.Second)
	write := func(stream string, offsetMS int, msg string) {
		t.Helper()
		if err := e.store.PutLogEvents(ctx, g, stream, []sluice.LogEvent{{Time: base.Add(time.Duration(offsetMS) * time.Millisecond), Message: msg}}); err != nil {
			t.Fatal(err)
		}
	}
	write("a", 0, "INFO starting")
	write("b", 1, `{"level":"error","latency":250,"user":{"id":7}}`)
	write("a", 2, "ERROR disk full")
	write("b", 3, `{"level":"info","latency":20,"user":{"id":8}}`)
	write("a", 4, "WARN slow request")
	write("c", 5, "ERROR timeout after 3.00 seconds")
	write("a", 6, "DEBUG noise")

	filter := func(in cwl.FilterLogEventsInput) []string {
		t.Helper()
		in.LogGroupName = &g
		var got []string
		p := cwl.NewFilterLogEventsPaginator(e.client, &in)
		for p.HasMorePages() {
			out, err := p.NextPage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, ev := range out.Events {
				got = append(got, aws.ToString(ev.LogStreamName)+":"+aws.ToString(ev.Message))
			}
		}
		return got
	}
	tests := []struct {
		name string
		in   cwl.FilterLogEventsInput
		want []string
	}{
		{"all interleaved by time, paged by two", cwl.FilterLogEventsInput{Limit: aws.Int32(2)}, []string{
			"a:INFO starting", `b:{"level":"error","latency":250,"user":{"id":7}}`, "a:ERROR disk full",
			`b:{"level":"info","latency":20,"user":{"id":8}}`, "a:WARN slow request", "c:ERROR timeout after 3.00 seconds", "a:DEBUG noise"}},
		{"term", cwl.FilterLogEventsInput{FilterPattern: aws.String("ERROR")}, []string{"a:ERROR disk full", "c:ERROR timeout after 3.00 seconds"}},
		{"terms all", cwl.FilterLogEventsInput{FilterPattern: aws.String("ERROR disk")}, []string{"a:ERROR disk full"}},
		{"quoted phrase", cwl.FilterLogEventsInput{FilterPattern: aws.String(`"after 3.00 seconds"`)}, []string{"c:ERROR timeout after 3.00 seconds"}},
		{"any", cwl.FilterLogEventsInput{FilterPattern: aws.String("?WARN ?DEBUG")}, []string{"a:WARN slow request", "a:DEBUG noise"}},
		{"exclusion", cwl.FilterLogEventsInput{FilterPattern: aws.String("ERROR -disk")}, []string{"c:ERROR timeout after 3.00 seconds"}},
		{"json equals", cwl.FilterLogEventsInput{FilterPattern: aws.String(`{ $.level = "error" }`)}, []string{`b:{"level":"error","latency":250,"user":{"id":7}}`}},
		{"json numeric", cwl.FilterLogEventsInput{FilterPattern: aws.String(`{ $.latency < 100 }`)}, []string{`b:{"level":"info","latency":20,"user":{"id":8}}`}},
		{"json or nested", cwl.FilterLogEventsInput{FilterPattern: aws.String(`{ ($.user.id = 7) || ($.level != "err*") }`)}, []string{
			`b:{"level":"error","latency":250,"user":{"id":7}}`, `b:{"level":"info","latency":20,"user":{"id":8}}`}},
		{"regex", cwl.FilterLogEventsInput{FilterPattern: aws.String(`%WARN|DEBUG%`)}, []string{"a:WARN slow request", "a:DEBUG noise"}},
		{"stream names", cwl.FilterLogEventsInput{LogStreamNames: []string{"b", "c"}, FilterPattern: aws.String("?ERROR ?info")}, []string{
			`b:{"level":"info","latency":20,"user":{"id":8}}`, "c:ERROR timeout after 3.00 seconds"}},
		{"stream prefix and time range, end inclusive", cwl.FilterLogEventsInput{LogStreamNamePrefix: aws.String("a"),
			StartTime: aws.Int64(base.UnixMilli() + 2), EndTime: aws.Int64(base.UnixMilli() + 4)}, []string{"a:ERROR disk full", "a:WARN slow request"}},
		{"filtered pages of one", cwl.FilterLogEventsInput{FilterPattern: aws.String("ERROR"), Limit: aws.Int32(1)}, []string{"a:ERROR disk full", "c:ERROR timeout after 3.00 seconds"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, filter(tt.in)); diff != "" {
				t.Errorf("events (-want +got):\n%s", diff)
			}
		})
	}

	out, err := e.client.FilterLogEvents(ctx, &cwl.FilterLogEventsInput{LogGroupName: &g, Limit: aws.Int32(3)})
	if err != nil || out.NextToken == nil || len(out.Events) != 3 {
		t.Fatalf("page of 3: %+v, %v", out, err)
	}
	ids := map[string]bool{}
	for _, ev := range out.Events {
		if len(aws.ToString(ev.EventId)) != 56 || ids[aws.ToString(ev.EventId)] || aws.ToInt64(ev.IngestionTime) == 0 {
			t.Errorf("event id %q, ingestion %d", aws.ToString(ev.EventId), aws.ToInt64(ev.IngestionTime))
		}
		ids[aws.ToString(ev.EventId)] = true
	}
	_, err = e.client.FilterLogEvents(ctx, &cwl.FilterLogEventsInput{LogGroupName: &g, FilterPattern: aws.String("[ip, user]")})
	wantCode(t, err, "InvalidParameterException")
	_, err = e.client.FilterLogEvents(ctx, &cwl.FilterLogEventsInput{LogGroupName: &g, FilterPattern: aws.String("{ $.a = }")})
	wantCode(t, err, "InvalidParameterException")
	_, err = e.client.FilterLogEvents(ctx, &cwl.FilterLogEventsInput{LogGroupName: aws.String("/missing")})
	wantCode(t, err, "ResourceNotFoundException")
	_, err = e.client.FilterLogEvents(ctx, &cwl.FilterLogEventsInput{LogGroupName: &g, NextToken: aws.String("garbage")})
	wantCode(t, err, "InvalidParameterException")
}

// rawCall signs and sends a JSON 1.1 request the way the SDKs do and
// returns status and body.
func rawCall(t *testing.T, url, target, body string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url+"/", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	if target != "" {
		req.Header.Set("X-Amz-Target", target)
	}
	sum := sha256.Sum256([]byte(body))
	creds := aws.Credentials{AccessKeyID: "test", SecretAccessKey: "test"}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), "logs", "us-east-1", time.Now()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

func TestWireErrors(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name       string
		target     string
		body       string
		wantStatus int
		wantType   string
		wantMsg    string
	}{
		{"missing group", "Logs_20140328.DescribeLogStreams", `{"logGroupName":"/x"}`, 400, "ResourceNotFoundException", "The specified log group does not exist."},
		{"unknown operation", "Logs_20140328.StartQuery", `{}`, 400, "UnknownOperationException", "The operation Logs_20140328.StartQuery is not supported by Sluice's CloudWatch Logs API."},
		{"no target", "", `{}`, 400, "UnknownOperationException", "The operation POST / is not supported by Sluice's CloudWatch Logs API."},
		{"bad json", "Logs_20140328.CreateLogGroup", `{"logGroupName":`, 400, "SerializationException", "The request body is not a valid JSON document for this operation."},
		{"wrong type", "Logs_20140328.GetLogEvents", `{"logGroupName":"/x","logStreamName":"s","limit":"ten"}`, 400, "SerializationException", "The request body is not a valid JSON document for this operation."},
		{"missing name", "Logs_20140328.CreateLogGroup", `{}`, 400, "InvalidParameterException", "1 validation error detected: Value null at 'logGroupName' failed to satisfy constraint: Member must not be null"},
		{"bad retention", "Logs_20140328.PutRetentionPolicy", `{"logGroupName":"/x","retentionInDays":2}`, 400, "InvalidParameterException",
			"1 validation error detected: Value '2' at 'retentionInDays' failed to satisfy constraint: Member must satisfy enum value set: [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, h, body := rawCall(t, e.url, tt.target, tt.body)
			var got struct {
				Type    string `json:"__type"`
				Message string `json:"message"`
			}
			if err := json.Unmarshal(body, &got); err != nil {
				t.Fatalf("body %q: %v", body, err)
			}
			if status != tt.wantStatus || got.Type != tt.wantType || got.Message != tt.wantMsg {
				t.Errorf("got %d %s %q, want %d %s %q", status, got.Type, got.Message, tt.wantStatus, tt.wantType, tt.wantMsg)
			}
			if ct := h.Get("Content-Type"); ct != "application/x-amz-json-1.1" || h.Get("x-amzn-RequestId") == "" {
				t.Errorf("headers %v", h)
			}
		})
	}

	// A bad signature is answered in this service's shape.
	req, _ := http.NewRequest(http.MethodPost, e.url+"/", bytes.NewReader([]byte(`{}`)))
	req.Header.Set("X-Amz-Target", "Logs_20140328.DescribeLogGroups")
	creds := aws.Credentials{AccessKeyID: "test", SecretAccessKey: "wrong"}
	sum := sha256.Sum256([]byte(`{}`))
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), "logs", "us-east-1", time.Now()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 400 || !strings.Contains(string(b), `"__type":"InvalidSignatureException"`) {
		t.Errorf("bad signature: %d %s", resp.StatusCode, b)
	}
}
