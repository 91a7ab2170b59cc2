package logs

import (
	"context"
	"fmt"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	cwl "github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/google/go-cmp/cmp"
	bolt "go.etcd.io/bbolt"

	"github.com/sluicehq/sluice"
)

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name   string
		modify func(*Config)
		ok     bool
	}{
		{"defaults with dir", func(c *Config) {}, true},
		{"no dir", func(c *Config) { c.Dir = "" }, false},
		{"event size too big", func(c *Config) { c.MaxEventSize = MaxEventSize + 1 }, false},
		{"zero flush interval", func(c *Config) { c.FlushInterval = 0 }, false},
		{"zero flush events", func(c *Config) { c.FlushEvents = 0 }, false},
		{"zero retention interval", func(c *Config) { c.RetentionInterval = 0 }, false},
		{"no clock", func(c *Config) { c.Now = nil }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig()
			c.Dir = t.TempDir()
			tt.modify(&c)
			if err := c.Validate(); (err == nil) != tt.ok {
				t.Errorf("Validate() = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

func readAll(t *testing.T, st *Store, group, stream string) []string {
	t.Helper()
	evs, err := st.ReadStream(context.Background(), group, stream, StreamQuery{End: math.MaxInt64})
	if err != nil {
		t.Fatal(err)
	}
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.Message
	}
	return out
}

func TestRestartDurability(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	st := openStore(t, dir)
	now := time.Now()
	if err := st.CreateLogGroup(ctx, "/made/by/api"); err != nil {
		t.Fatal(err)
	}
	if err := st.PutRetentionPolicy(ctx, "/made/by/api", 30); err != nil {
		t.Fatal(err)
	}
	// Written through the buffered sink and never read: Close must commit.
	for i := range 50 {
		if err := st.PutLogEvents(ctx, "/aws/lambda/fn", "s1", []sluice.LogEvent{{Time: now.Add(time.Duration(i) * time.Millisecond), Message: fmt.Sprintf("line %d", i)}}); err != nil {
			t.Fatal(err)
		}
	}
	before, _ := st.LogStreams("/aws/lambda/fn")
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if err := st.PutLogEvents(ctx, "/aws/lambda/fn", "s1", []sluice.LogEvent{{Time: now, Message: "late"}}); err == nil {
		t.Error("PutLogEvents after Close succeeded")
	}

	st = openStore(t, dir)
	defer st.Close()
	got := readAll(t, st, "/aws/lambda/fn", "s1")
	if len(got) != 50 || got[0] != "line 0" || got[49] != "line 49" {
		t.Fatalf("after reopen: %d events %v...", len(got), got[:min(3, len(got))])
	}
	after, _ := st.LogStreams("/aws/lambda/fn")
	if diff := cmp.Diff(before, after); diff != "" {
		t.Errorf("stream metadata changed across restart (-before +after):\n%s", diff)
	}
	g, err := st.LogGroup("/made/by/api")
	if err != nil || g.RetentionDays != 30 {
		t.Errorf("group after reopen: %+v, %v", g, err)
	}
	// Sequence numbers continue: new events sort after old ones at the
	// same millisecond and event ids stay unique.
	if err := st.PutLogEvents(ctx, "/aws/lambda/fn", "s1", []sluice.LogEvent{{Time: now.Add(49 * time.Millisecond), Message: "after restart"}}); err != nil {
		t.Fatal(err)
	}
	got = readAll(t, st, "/aws/lambda/fn", "s1")
	if got[len(got)-1] != "after restart" || len(got) != 51 {
		t.Errorf("last = %q of %d", got[len(got)-1], len(got))
	}

	// The store works through the API after a restart too.
	url := serveStore(t, st)
	out, err := newClient(url).GetLogEvents(ctx, &cwl.GetLogEventsInput{LogGroupName: aws.String("/aws/lambda/fn"), LogStreamName: aws.String("s1"), Limit: aws.Int32(2)})
	if err != nil || len(out.Events) != 2 || aws.ToString(out.Events[1].Message) != "after restart" {
		t.Fatalf("GetLogEvents after restart: %+v, %v", out, err)
	}
}

func TestBatchedCommitWithoutReads(t *testing.T) {
	dir := t.TempDir()
	cfg := DefaultConfig()
	cfg.Dir = dir
	cfg.FlushInterval = 5 * time.Millisecond
	st, err := Open(cfg, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.PutLogEvents(context.Background(), "/g", "s", []sluice.LogEvent{{Time: time.Now(), Message: "timed"}}); err != nil {
		t.Fatal(err)
	}
	// The timer, not a read, commits: look at the file until it has it.
	deadline := time.Now().Add(5 * time.Second)
	for {
		var count int
		if err := st.db.View(func(tx *bolt.Tx) error {
			if b := tx.Bucket(bucketEvents).Bucket([]byte(streamID("/g", "s"))); b != nil {
				count = b.Stats().KeyN
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if count == 1 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed flush never committed: %d events in the file", count)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestRetentionEnforced(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	g := "/aws/lambda/ret"
	now := time.Now()
	var evs []sluice.LogEvent
	for i := range 5 {
		evs = append(evs, sluice.LogEvent{Time: now.Add(-72*time.Hour + time.Duration(i)*time.Minute), Message: fmt.Sprintf("old %d", i)})
	}
	evs = append(evs, sluice.LogEvent{Time: now.Add(-time.Hour), Message: "recent"})
	if err := e.store.PutLogEvents(ctx, g, "a", evs); err != nil {
		t.Fatal(err)
	}
	if err := e.store.PutLogEvents(ctx, g, "b", evs[:2]); err != nil {
		t.Fatal(err)
	}
	if err := e.store.PutLogEvents(ctx, "/keep", "a", evs); err != nil {
		t.Fatal(err)
	}
	if n, err := e.store.EnforceRetention(ctx); err != nil || n != 0 {
		t.Fatalf("without a policy: deleted %d, %v", n, err)
	}
	if _, err := e.client.PutRetentionPolicy(ctx, &cwl.PutRetentionPolicyInput{LogGroupName: &g, RetentionInDays: aws.Int32(1)}); err != nil {
		t.Fatal(err)
	}
	n, err := e.store.EnforceRetention(ctx)
	if err != nil || n != 7 {
		t.Fatalf("EnforceRetention deleted %d, %v; want 7", n, err)
	}
	if diff := cmp.Diff([]string{"recent"}, readAll(t, e.store, g, "a")); diff != "" {
		t.Errorf("stream a (-want +got):\n%s", diff)
	}
	if got := readAll(t, e.store, "/keep", "a"); len(got) != 6 {
		t.Errorf("a group without retention lost events: %v", got)
	}
	out, err := e.client.DescribeLogStreams(ctx, &cwl.DescribeLogStreamsInput{LogGroupName: &g})
	if err != nil || len(out.LogStreams) != 2 {
		t.Fatalf("streams stay after expiry: %+v, %v", out, err)
	}
	a, b := out.LogStreams[0], out.LogStreams[1]
	if aws.ToInt64(a.FirstEventTimestamp) != now.Add(-time.Hour).UnixMilli() || aws.ToInt64(a.StoredBytes) != int64(len("recent")) {
		t.Errorf("stream a first=%d bytes=%d", aws.ToInt64(a.FirstEventTimestamp), aws.ToInt64(a.StoredBytes))
	}
	if b.FirstEventTimestamp != nil || aws.ToInt64(b.StoredBytes) != 0 {
		t.Errorf("emptied stream b first=%v bytes=%d", b.FirstEventTimestamp, aws.ToInt64(b.StoredBytes))
	}

	// Serve enforces on its own as well.
	if err := e.store.PutLogEvents(ctx, g, "a", evs[:1]); err != nil {
		t.Fatal(err)
	}
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- e.store.Serve(sctx) }()
	deadline := time.Now().Add(5 * time.Second)
	for len(readAll(t, e.store, g, "a")) != 1 {
		if time.Now().After(deadline) {
			t.Fatal("Serve never expired the old event")
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestConcurrentWriters(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	const writers, lines = 20, 300
	g := "/aws/lambda/busy"
	base := time.Now().Add(-time.Minute)
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			stream := fmt.Sprintf("2025/01/01/[$LATEST]%02d", w)
			for i := range lines {
				ev := []sluice.LogEvent{{Time: base.Add(time.Duration(i) * time.Millisecond), Message: fmt.Sprintf("w%d l%d", w, i)}}
				if err := e.store.PutLogEvents(ctx, g, stream, ev); err != nil {
					errs <- err
					return
				}
				// Everyone also writes to one shared stream.
				if i%10 == 0 {
					if err := e.store.PutLogEvents(ctx, g, "shared", ev); err != nil {
						errs <- err
						return
					}
				}
				// Readers run alongside writers.
				if i%100 == 0 {
					if _, err := e.store.Filter(ctx, g, FilterQuery{End: math.MaxInt64, Limit: 10}); err != nil {
						errs <- err
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for w := range writers {
		got := readAll(t, e.store, g, fmt.Sprintf("2025/01/01/[$LATEST]%02d", w))
		if len(got) != lines {
			t.Fatalf("writer %d: %d events", w, len(got))
		}
		for i, m := range got {
			if m != fmt.Sprintf("w%d l%d", w, i) {
				t.Fatalf("writer %d event %d = %q", w, i, m)
			}
		}
	}
	if got := readAll(t, e.store, g, "shared"); len(got) != writers*lines/10 {
		t.Errorf("shared stream has %d events", len(got))
	}
	// Every event once across the group, in time order, through the API.
	var total int
	seen := map[string]bool{}
	last := int64(0)
	p := cwl.NewFilterLogEventsPaginator(e.client, &cwl.FilterLogEventsInput{LogGroupName: &g, Limit: aws.Int32(1000)})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			t.Fatalf("after %d events: %v", total, err)
		}
		for _, ev := range out.Events {
			id := aws.ToString(ev.EventId)
			if seen[id] || aws.ToInt64(ev.Timestamp) < last {
				t.Fatalf("event %s repeated or out of order", id)
			}
			seen[id], last = true, aws.ToInt64(ev.Timestamp)
			total++
		}
	}
	if want := writers*lines + writers*lines/10; total != want {
		t.Errorf("FilterLogEvents returned %d events, want %d", total, want)
	}
}

func TestDeleteWhilePending(t *testing.T) {
	st := openStore(t, t.TempDir())
	defer st.Close()
	ctx := context.Background()
	if err := st.PutLogEvents(ctx, "/g", "s", []sluice.LogEvent{{Time: time.Now(), Message: "gone"}}); err != nil {
		t.Fatal(err)
	}
	if err := st.DeleteLogGroup(ctx, "/g"); err != nil {
		t.Fatal(err)
	}
	if err := st.PutLogEvents(ctx, "/g", "s", []sluice.LogEvent{{Time: time.Now(), Message: "new"}}); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"new"}, readAll(t, st, "/g", "s")); diff != "" {
		t.Errorf("recreated group (-want +got):\n%s", diff)
	}
	if err := st.DeleteLogStream(ctx, "/g", "s"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.ReadStream(ctx, "/g", "s", StreamQuery{End: math.MaxInt64}); !sluice.IsCode(err, sluice.ErrResourceNotFound) {
		t.Errorf("deleted stream read: %v", err)
	}
}

func TestEventIDRoundTrip(t *testing.T) {
	for _, p := range []Pos{{0, 0}, {1, 1}, {1735689600000, 12345}, {math.MaxInt64, math.MaxUint64}} {
		got, ok := ParseEventID(p.EventID())
		if !ok || got != p || len(p.EventID()) != 56 {
			t.Errorf("round trip %+v -> %q -> %+v, %v", p, p.EventID(), got, ok)
		}
	}
	for _, bad := range []string{"", "12", "x" + p56()[1:], p56() + "0"} {
		if _, ok := ParseEventID(bad); ok {
			t.Errorf("ParseEventID(%q) accepted", bad)
		}
	}
}

func p56() string { return fmt.Sprintf("%056d", 0) }
