package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"
	"github.com/aws/smithy-go"
)

const logsUsage = `Usage: sluice logs NAME [--follow] [--since 10m] [--filter PATTERN] [flags]

Prints the log events of function NAME (log group /aws/lambda/NAME), or of
any log group when NAME starts with "/", from a running sluice, oldest
first, one per line:

  TIMESTAMP STREAM MESSAGE

--since takes a duration back from now (30s, 10m, 1h, 2d) or a time
(RFC 3339, or YYYY-MM-DD). --filter takes a CloudWatch Logs filter pattern:
terms (ERROR timeout), "quoted phrases", ?any ?of, -excluded, %regex%, or
JSON ({ $.level = "error" }). --follow keeps polling for new events until
interrupted (Ctrl-C), waiting for the log group if it does not exist yet.

Examples:
  sluice logs resize --since 1h
  sluice logs resize --follow --filter '?ERROR ?Task'
  sluice logs /aws/lambda/resize --filter '{ $.level = "error" }'
`

func runLogs(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("logs", logsUsage, stderr)
	follow := fs.Bool("follow", false, "keep printing new events until interrupted")
	since := fs.String("since", "10m", "start: a duration back from now (10m, 1h, 2d) or an RFC 3339 time")
	filter := fs.String("filter", "", "CloudWatch Logs filter pattern")
	interval := fs.Duration("interval", time.Second, "how often --follow polls")
	awsConfig := clientConfig(fs)
	positional, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	switch {
	case len(positional) == 0:
		fs.Usage()
		return usageError{"logs: no function or log group name given"}
	case len(positional) > 1:
		return usageError{fmt.Sprintf("logs: unexpected argument %q", positional[1])}
	case *interval <= 0:
		return usageError{fmt.Sprintf("logs: --interval %v must be positive", *interval)}
	}
	start, err := parseSince(*since, time.Now())
	if err != nil {
		return usageError{fmt.Sprintf("logs: --since %q: %v", *since, err)}
	}
	cfg, err := awsConfig()
	if err != nil {
		return err
	}
	t := &logTailer{
		client:   cloudwatchlogs.NewFromConfig(cfg),
		name:     positional[0],
		group:    logGroupFor(positional[0]),
		filter:   *filter,
		endpoint: aws.ToString(cfg.BaseEndpoint),
		out:      stdout,
		seen:     map[string]int64{},
	}
	if !*follow {
		_, err := t.poll(ctx, start.UnixMilli())
		return err
	}
	return t.follow(ctx, start.UnixMilli(), *interval, stderr)
}

// logGroupFor maps a function name to its log group; names starting with
// "/" are log groups already.
func logGroupFor(name string) string {
	if strings.HasPrefix(name, "/") {
		return name
	}
	return "/aws/lambda/" + name
}

// parseSince reads a duration back from now (with a "d" unit for days) or
// an absolute time.
func parseSince(s string, now time.Time) (time.Time, error) {
	if days, ok := strings.CutSuffix(s, "d"); ok {
		var n int
		if _, err := fmt.Sscanf(days, "%d", &n); err == nil && fmt.Sprint(n) == days && n >= 0 {
			return now.Add(-time.Duration(n) * 24 * time.Hour), nil
		}
	}
	if d, err := time.ParseDuration(s); err == nil {
		if d < 0 {
			return time.Time{}, errors.New("must not be negative")
		}
		return now.Add(-d), nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, errors.New("use a duration such as 10m, 1h or 2d, or a time such as 2025-01-02T15:04:05Z")
}

// logTailer prints a log group's events once each.
type logTailer struct {
	client   *cloudwatchlogs.Client
	name     string
	group    string
	filter   string
	endpoint string
	out      io.Writer
	// seen holds the ids of printed events at or after the poll cursor,
	// with their timestamps, so that a poll starting at the newest
	// timestamp prints nothing twice.
	seen map[string]int64
}

// noLogGroupError says the log group does not exist (yet).
type noLogGroupError struct{ msg string }

func (e *noLogGroupError) Error() string { return e.msg }

// poll prints every new event from start on and returns the newest
// timestamp printed (start when none).
func (t *logTailer) poll(ctx context.Context, start int64) (int64, error) {
	in := &cloudwatchlogs.FilterLogEventsInput{LogGroupName: &t.group, StartTime: aws.Int64(start)}
	if t.filter != "" {
		in.FilterPattern = &t.filter
	}
	newest := start
	p := cloudwatchlogs.NewFilterLogEventsPaginator(t.client, in)
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return newest, t.describe(err)
		}
		for _, e := range page.Events {
			id, ts := aws.ToString(e.EventId), aws.ToInt64(e.Timestamp)
			if _, dup := t.seen[id]; dup {
				continue
			}
			t.seen[id] = ts
			newest = max(newest, ts)
			if err := printLogEvent(t.out, e); err != nil {
				return newest, err
			}
		}
	}
	for id, ts := range t.seen {
		if ts < newest {
			delete(t.seen, id)
		}
	}
	return newest, nil
}

func (t *logTailer) follow(ctx context.Context, start int64, interval time.Duration, stderr io.Writer) error {
	cursor, waiting := start, false
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-timer.C:
		}
		newest, err := t.poll(ctx, cursor)
		switch {
		case ctx.Err() != nil:
			return nil
		case errors.As(err, new(*noLogGroupError)):
			if !waiting {
				fmt.Fprintf(stderr, "waiting for log group %s to appear...\n", t.group)
				waiting = true
			}
		case err != nil:
			return err
		}
		// Later events may still share the newest millisecond, so the next
		// poll starts at it; seen keeps those already printed out.
		cursor = newest
		timer.Reset(interval)
	}
}

// describe words an API failure for the terminal.
func (t *logTailer) describe(err error) error {
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		if apiErr.ErrorCode() == "ResourceNotFoundException" {
			if strings.HasPrefix(t.name, "/") {
				return &noLogGroupError{fmt.Sprintf("log group %s does not exist", t.group)}
			}
			return &noLogGroupError{fmt.Sprintf("no logs yet for function %s (log group %s does not exist)", t.name, t.group)}
		}
		return fmt.Errorf("logs %s: %s: %s", t.name, apiErr.ErrorCode(), apiErr.ErrorMessage())
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("logs %s: %w", t.name, err)
	}
	return fmt.Errorf("logs %s: %w (is 'sluice serve' running at %s?)", t.name, err, t.endpoint)
}

// printLogEvent writes "TIMESTAMP STREAM MESSAGE", as aws logs tail does,
// without the newline the function printed.
func printLogEvent(w io.Writer, e types.FilteredLogEvent) error {
	ts := time.UnixMilli(aws.ToInt64(e.Timestamp)).UTC().Format("2006-01-02T15:04:05.000Z")
	msg := strings.TrimRight(aws.ToString(e.Message), "\r\n")
	_, err := fmt.Fprintf(w, "%s %s %s\n", ts, aws.ToString(e.LogStreamName), msg)
	return err
}
