package replicate

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluicehq/sluice/internal/promtest"
)

// failingEndpoint is an S3 endpoint that answers every request 500, except
// that the blockAt-th request (if any) is held unanswered until its client
// gives up, so that a test can stop a replicator in the middle of an
// attempt. answered counts the requests that got their 500. Once okAfter
// (when set) requests were answered 500, the endpoint accepts every PUT.
type failingEndpoint struct {
	url      string
	arrivals atomic.Int32
	answered atomic.Int32
	okAfter  atomic.Int32
	accepted atomic.Int32
	// arrived is closed when the blockAt-th request arrives.
	arrived chan struct{}
}

func newFailingEndpoint(t *testing.T, blockAt int32) *failingEndpoint {
	t.Helper()
	e := &failingEndpoint{arrived: make(chan struct{})}
	done := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		if e.arrivals.Add(1) == blockAt {
			close(e.arrived)
			select {
			case <-r.Context().Done():
			case <-done:
			}
			return
		}
		if n := e.okAfter.Load(); n > 0 && e.answered.Load() >= n {
			e.accepted.Add(1)
			w.Header().Set("ETag", `"0123456789abcdef0123456789abcdef"`)
			return
		}
		e.answered.Add(1)
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(http.StatusInternalServerError)
		io.WriteString(w, `<Error><Code>InternalError</Code><Message>try again</Message></Error>`)
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(done) }) // runs first: frees a held request
	e.url = srv.URL
	return e
}

func TestMetrics(t *testing.T) {
	s := newStack(t)
	for _, b := range []string{"src", "dst", "bad"} {
		s.mkBucket(b, "")
	}
	s.tagBucket("src", "dst")
	s.tagBucket("bad", "sink@eu-west-9")
	remote := newFailingEndpoint(t, 0)
	cfg := testConfig(t.TempDir())
	cfg.RegionEndpoints = map[string]string{"eu-west-9": remote.url}
	reg := prometheus.NewRegistry()
	cfg.Registerer = reg

	// Both writes of "hot" precede the replicator: when it reads the first,
	// the source already holds the second.
	s.put("src", "hot", []byte("old"))
	s.put("src", "hot", []byte("new!"))
	bodies := map[string][]byte{"k1": []byte("one"), "k2": []byte("two two"), "k3": bytes.Repeat([]byte("3"), 3000)}
	for k, b := range bodies {
		s.put("src", k, b)
	}
	r := s.startReplicator(cfg)
	s.caughtUp()
	s.put("src", "k1", bodies["k1"]) // the same bytes and metadata again
	if _, err := s.client.DeleteObject(context.Background(), &s3.DeleteObjectInput{Bucket: aws.String("src"), Key: aws.String("k2")}); err != nil {
		t.Fatal(err)
	}
	s.put("bad", "x", []byte("never arrives"))
	s.caughtUp()

	if got, _ := getObject(t, s.client, "dst", "hot"); string(got) != "new!" {
		t.Errorf("dst/hot = %q, want the newer write", got)
	}
	wantCopies := map[string]float64{
		"result=copied,target=local":     4, // hot (newer), k1, k2, k3
		"result=skipped,target=local":    1, // k1 again
		"result=superseded,target=local": 1, // hot (older)
		"result=deleted,target=local":    1, // k2
		"result=failed,target=remote":    1, // bad/x
	}
	if diff := cmp.Diff(wantCopies, promtest.Series(t, reg, "sluice_replicate_copies_total")); diff != "" {
		t.Errorf("sluice_replicate_copies_total (-want +got):\n%s", diff)
	}
	checks := []struct {
		name string
		want map[string]float64
	}{
		{"sluice_replicate_retries_total", map[string]float64{"target=remote": float64(cfg.MaxAttempts - 1)}},
		{"sluice_replicate_bytes_total", map[string]float64{"target=local": float64(len("new!") + len(bodies["k1"]) + len(bodies["k2"]) + len(bodies["k3"]))}},
		{"sluice_replicate_copy_seconds", map[string]float64{"target=local": 5}}, // copies and deletes
		{"sluice_replicate_backlog", map[string]float64{"": 0}},
	}
	for _, c := range checks {
		if diff := cmp.Diff(c.want, promtest.Series(t, reg, c.name)); diff != "" {
			t.Errorf("%s (-want +got):\n%s", c.name, diff)
		}
	}
	if got := remote.answered.Load(); got != int32(cfg.MaxAttempts) {
		t.Errorf("remote endpoint saw %d attempts, want MaxAttempts %d", got, cfg.MaxAttempts)
	}
	evs, err := s.store.ReadEvents(context.Background(), 0, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if got := promtest.Series(t, reg, "sluice_replicate_events_total")[""]; got != float64(len(evs)) {
		t.Errorf("sluice_replicate_events_total = %v, want every outbox event, %d", got, len(evs))
	}
	if dead, err := r.DeadLetters(); err != nil || len(dead) != 1 || dead[0].Target != "sink@eu-west-9" {
		t.Errorf("dead letters %+v (err %v), want the one copy of bad/x", dead, err)
	}
}

// TestRetryBudgetSurvivesRestart stops the replicator in the middle of the
// third attempt of a copy to a failing endpoint: the next replicator on the
// same directory makes only the attempts left, dead-letters the copy once,
// and a replay of the event afterwards neither retries nor records it again.
func TestRetryBudgetSurvivesRestart(t *testing.T) {
	s := newStack(t)
	s.mkBucket("src", "")
	s.tagBucket("src", "sink@eu-west-9")
	remote := newFailingEndpoint(t, 3)
	dir := t.TempDir()
	cfg := testConfig(dir)
	cfg.MaxAttempts = 5
	cfg.RegionEndpoints = map[string]string{"eu-west-9": remote.url}

	r1 := s.startReplicator(cfg)
	etag := s.put("src", "k", []byte("doomed"))
	<-remote.arrived
	r1.stop()
	if got := remote.answered.Load(); got != 2 {
		t.Fatalf("before the restart the endpoint answered %d attempts, want 2", got)
	}

	reg := prometheus.NewRegistry()
	cfg.Registerer = reg
	r2 := s.startReplicator(cfg)
	s.caughtUp()
	if got := remote.answered.Load(); got != int32(cfg.MaxAttempts) {
		t.Errorf("endpoint answered %d attempts across the restart, want MaxAttempts %d", got, cfg.MaxAttempts)
	}
	if got := remote.arrivals.Load(); got != int32(cfg.MaxAttempts)+1 {
		t.Errorf("endpoint saw %d requests, want MaxAttempts + the interrupted one = %d", got, cfg.MaxAttempts+1)
	}
	want := map[string]float64{"result=failed,target=remote": 1}
	if diff := cmp.Diff(want, promtest.Series(t, reg, "sluice_replicate_copies_total")); diff != "" {
		t.Errorf("copies after the restart (-want +got):\n%s", diff)
	}
	// Attempts 3 and 4 were retried; 1 and 2 belong to the first run.
	if diff := cmp.Diff(map[string]float64{"target=remote": 2}, promtest.Series(t, reg, "sluice_replicate_retries_total")); diff != "" {
		t.Errorf("retries after the restart (-want +got):\n%s", diff)
	}
	if st := r2.Status(context.Background(), "src", "k", "", etag); st != StatusFailed {
		t.Errorf("status %q, want FAILED", st)
	}
	assertOneDeadLetter(t, r2.Replicator, "k")
	if n := countAttemptRecords(t, r2.Replicator); n != 0 {
		t.Errorf("%d retry budgets left in replicate.db after the dead letter", n)
	}

	// Redelivery of the whole outbox, as after a crash between the dead
	// letter's commit and the acknowledgement.
	evs, err := s.store.ReadEvents(context.Background(), 0, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	replay := &replayLog{EventLog: s.store}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); r2.run(ctx, replay, 0) }()
	poll(t, "replay acknowledged", func() bool { return replay.acked.Load() >= evs[len(evs)-1].Seq })
	cancel()
	<-done
	if got := remote.answered.Load(); got != int32(cfg.MaxAttempts) {
		t.Errorf("replay made %d more attempts, want none", got-int32(cfg.MaxAttempts))
	}
	if diff := cmp.Diff(want, promtest.Series(t, reg, "sluice_replicate_copies_total")); diff != "" {
		t.Errorf("copies after the replay (-want +got):\n%s", diff)
	}
	assertOneDeadLetter(t, r2.Replicator, "k")
	if st := r2.Status(context.Background(), "src", "k", "", etag); st != StatusFailed {
		t.Errorf("status after the replay %q, want FAILED", st)
	}
}

// TestSpentBudgetDeadLettersWithoutAttempt starts a replicator on a
// replicate.db whose last failed attempt was recorded just before a crash:
// the copy is dead-lettered without trying the endpoint again.
func TestSpentBudgetDeadLettersWithoutAttempt(t *testing.T) {
	s := newStack(t)
	s.mkBucket("src", "")
	s.tagBucket("src", "sink@eu-west-9")
	remote := newFailingEndpoint(t, 0)
	cfg := testConfig(t.TempDir())
	cfg.RegionEndpoints = map[string]string{"eu-west-9": remote.url}
	etag := s.put("src", "k", []byte("doomed"))
	ev := s.lastEvent("src", "k")

	r, err := New(cfg, s.store, s.store, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if err := r.saveAttempts(ev.Seq, "sink@eu-west-9", attemptState{Attempts: cfg.MaxAttempts, Error: "endpoint said 500"}); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	run := s.startReplicator(cfg)
	s.caughtUp()
	if got := remote.arrivals.Load(); got != 0 {
		t.Errorf("endpoint saw %d requests, want none: the budget was spent", got)
	}
	d := assertOneDeadLetter(t, run.Replicator, "k")
	if !strings.Contains(d.Error, "endpoint said 500") {
		t.Errorf("dead letter error %q does not carry the last attempt's", d.Error)
	}
	if st := run.Status(context.Background(), "src", "k", "", etag); st != StatusFailed {
		t.Errorf("status %q, want FAILED", st)
	}
	if n := countAttemptRecords(t, run.Replicator); n != 0 {
		t.Errorf("%d retry budgets left in replicate.db after the dead letter", n)
	}
}

func assertOneDeadLetter(t *testing.T, r *Replicator, key string) DeadLetter {
	t.Helper()
	dead, err := r.DeadLetters()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, d := range dead {
		got = append(got, fmt.Sprintf("%s→%s", d.Event.Key, d.Target))
	}
	if diff := cmp.Diff([]string{key + "→sink@eu-west-9"}, got); diff != "" {
		t.Fatalf("dead letters (-want +got):\n%s", diff)
	}
	return dead[0]
}

func countAttemptRecords(t *testing.T, r *Replicator) int {
	t.Helper()
	n := 0
	if err := r.state.view(func(tx buckets) error {
		n = tx.Bucket(bktAttempts).Stats().KeyN
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestRetryThenCopy copies to an endpoint that fails twice first: the copy
// lands on the third attempt and its retry budget is cleared.
func TestRetryThenCopy(t *testing.T) {
	s := newStack(t)
	s.mkBucket("src", "")
	s.tagBucket("src", "sink@eu-west-9")
	remote := newFailingEndpoint(t, 0)
	remote.okAfter.Store(2)
	cfg := testConfig(t.TempDir())
	cfg.RegionEndpoints = map[string]string{"eu-west-9": remote.url}
	reg := prometheus.NewRegistry()
	cfg.Registerer = reg
	r := s.startReplicator(cfg)
	body := []byte("third time lucky")
	etag := s.put("src", "k", body)
	s.caughtUp()
	if got := [2]int32{remote.answered.Load(), remote.accepted.Load()}; got != [2]int32{2, 1} {
		t.Errorf("endpoint failed %d and accepted %d requests, want 2 and 1", got[0], got[1])
	}
	checks := []struct {
		name string
		want map[string]float64
	}{
		{"sluice_replicate_copies_total", map[string]float64{"result=copied,target=remote": 1}},
		{"sluice_replicate_retries_total", map[string]float64{"target=remote": 2}},
		{"sluice_replicate_bytes_total", map[string]float64{"target=remote": float64(len(body))}},
		{"sluice_replicate_copy_seconds", map[string]float64{"target=remote": 1}},
	}
	for _, c := range checks {
		if diff := cmp.Diff(c.want, promtest.Series(t, reg, c.name)); diff != "" {
			t.Errorf("%s (-want +got):\n%s", c.name, diff)
		}
	}
	if st := r.Status(context.Background(), "src", "k", "", etag); st != StatusCompleted {
		t.Errorf("status %q, want COMPLETED", st)
	}
	if n := countAttemptRecords(t, r.Replicator); n != 0 {
		t.Errorf("%d retry budgets left in replicate.db after the copy", n)
	}
	if dead, err := r.DeadLetters(); err != nil || len(dead) > 0 {
		t.Errorf("dead letters %v, err %v", dead, err)
	}
}
