package notify_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/fsstore"
	"github.com/sluicehq/sluice/internal/promtest"
	"github.com/sluicehq/sluice/notify"
)

// burst is a store recording events, one bucket whose webhook rule points
// at a receiver, and a Notifier that can be stopped and started again.
type burst struct {
	tb    testing.TB
	store *fsstore.Store
	cfg   notify.Config

	mu    sync.Mutex
	seen  map[string]int // key -> deliveries accepted
	tries map[string]int // key -> posts received
	posts int
	bad   int // bodies that did not decode or verify
	fail  func(key string, nth int) bool
	// batch is the rule's BatchSize; most is the most records a POST held.
	batch, most int

	n    *notify.Notifier
	stop context.CancelFunc
	done chan error
}

const burstSecret = "burst-secret"

// newBurst starts a burst whose webhook rule has BatchSize batch (0:
// none) and whose receiver fails a POST when fail says so for any of its
// keys.
func newBurst(tb testing.TB, batch int, fail func(key string, nth int) bool) *burst {
	tb.Helper()
	return newBurstWith(tb, batch, fail, nil)
}

// newBurstWith is newBurst whose receiver's server setup changes when
// set: it may wrap the listener or change the server before it starts.
func newBurstWith(tb testing.TB, batch int, fail func(key string, nth int) bool, setup func(*httptest.Server)) *burst {
	tb.Helper()
	dir := tb.TempDir()
	scfg := fsstore.DefaultConfig()
	scfg.Dir, scfg.RecordEvents, scfg.NoSync = filepath.Join(dir, "store"), true, true
	st, err := fsstore.Open(scfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	b := &burst{tb: tb, store: st, seen: map[string]int{}, tries: map[string]int{}, fail: fail, batch: batch}
	rcv := httptest.NewUnstartedServer(http.HandlerFunc(b.receive))
	if setup != nil {
		setup(rcv)
	}
	rcv.Start()
	tb.Cleanup(rcv.Close)

	ctx := context.Background()
	if err := st.CreateBucket(ctx, sluice.Bucket{Name: "burst", Region: sluice.DefaultRegion, Created: time.Now()}); err != nil {
		tb.Fatal(err)
	}
	cfg := webhookConfig(rcv.URL, burstSecret, "", "")
	if batch > 0 {
		cfg = strings.Replace(cfg, "</Secret>", fmt.Sprintf("</Secret><BatchSize>%d</BatchSize>", batch), 1)
	}
	doc, err := notify.Validator{}.ValidateNotification(ctx, "burst", []byte(cfg))
	if err != nil {
		tb.Fatal(err)
	}
	if err := st.PutBucketConfig(ctx, "burst", sluice.ConfigNotification, doc); err != nil {
		tb.Fatal(err)
	}
	b.cfg = notify.DefaultConfig()
	b.cfg.Dir, b.cfg.NoSync = filepath.Join(dir, "notify"), true
	b.cfg.MinBackoff, b.cfg.MaxBackoff = 10*time.Millisecond, 50*time.Millisecond
	// The receiver counts as fast however slow the machine (or the race
	// detector) makes it: whether one-record POSTs are pipelined must not
	// depend on timing.
	b.cfg.PipelineMaxWait = time.Hour
	b.start()
	tb.Cleanup(b.halt)
	return b
}

func (b *burst) receive(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var keys []string
	ok := r.Header.Get(notify.SignatureHeader) == notify.Sign(burstSecret, body)
	if ok {
		// A failing decode is counted as bad rather than fatal: this runs
		// on the receiver's goroutine. A POST holds one record per
		// delivery id, and no more than the rule's BatchSize.
		rs, err := decodeBurst(body)
		ids := strings.Split(r.Header.Get("X-Sluice-Delivery"), ",")
		ok = err == nil && len(rs) >= 1 && len(rs) <= max(b.batch, 1) && len(ids) == len(rs)
		for _, rec := range rs {
			keys = append(keys, rec.S3.Object.Key)
		}
	}
	b.mu.Lock()
	b.posts++
	if !ok {
		b.bad++
		b.mu.Unlock()
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	b.most = max(b.most, len(keys))
	failed := false
	for _, key := range keys {
		b.tries[key]++
		failed = failed || b.fail != nil && b.fail(key, b.tries[key])
	}
	if !failed {
		for _, key := range keys {
			b.seen[key]++
		}
	}
	b.mu.Unlock()
	if failed {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
}

func decodeBurst(body []byte) ([]record, error) {
	var m struct{ Records []record }
	err := json.Unmarshal(body, &m)
	return m.Records, err
}

func (b *burst) start() {
	n, err := notify.New(b.cfg, b.store, b.store, nil, nil)
	if err != nil {
		b.tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Serve(ctx) }()
	b.mu.Lock()
	b.n, b.stop, b.done = n, cancel, done
	b.mu.Unlock()
}

func (b *burst) halt() {
	b.mu.Lock()
	n, stop, done := b.n, b.stop, b.done
	b.stop = nil
	b.mu.Unlock()
	if stop == nil {
		return
	}
	stop()
	if err := <-done; err != nil {
		b.tb.Errorf("Serve: %v", err)
	}
	n.Close()
}

// put uploads keys from clients goroutines and returns the keys.
func (b *burst) put(first, count, clients int) []string {
	keys := make([]string, count)
	for i := range keys {
		keys[i] = fmt.Sprintf("k%06d", first+i)
	}
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := c; i < count; i += clients {
				_, err := b.store.PutObject(context.Background(), &sluice.PutObjectInput{
					Bucket: "burst", Key: keys[i], Body: strings.NewReader("x"), Size: 1,
				})
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		b.tb.Fatal(err)
	}
	return keys
}

// delivered reports how many of keys the receiver has accepted.
func (b *burst) delivered(keys []string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	got := 0
	for _, k := range keys {
		if b.seen[k] > 0 {
			got++
		}
	}
	return got
}

// settle waits until every key is delivered, nothing is pending and the
// outbox is acknowledged through its last event, then checks the
// receiver saw nothing malformed.
func (b *burst) settle(keys []string) {
	b.tb.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(30 * time.Second)
	for {
		b.mu.Lock()
		n := b.n
		b.mu.Unlock()
		pending, err := n.Pending(ctx)
		if err != nil {
			b.tb.Fatal(err)
		}
		got := b.delivered(keys)
		if got == len(keys) && len(pending) == 0 && b.acked() {
			break
		}
		if time.Now().After(deadline) {
			b.tb.Fatalf("delivered %d of %d events, %d pending, outbox acknowledged: %v", got, len(keys), len(pending), b.acked())
		}
		time.Sleep(5 * time.Millisecond)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.bad != 0 {
		b.tb.Fatalf("receiver got %d unsigned or undecodable posts", b.bad)
	}
}

// acked reports whether the notifier's cursor reached the last event.
func (b *burst) acked() bool {
	ctx := context.Background()
	cur, err := b.store.Cursor(ctx, notify.Consumer)
	if err != nil {
		b.tb.Fatal(err)
	}
	evs, err := readAfter(ctx, b.store, cur)
	if err != nil {
		b.tb.Fatal(err)
	}
	return len(evs) == 0
}

// readAfter returns the events after seq without waiting for new ones.
func readAfter(ctx context.Context, log sluice.EventLog, seq uint64) ([]sluice.Event, error) {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	evs, err := log.ReadEvents(ctx, seq, 1)
	if err != nil && ctx.Err() != nil {
		return nil, nil
	}
	return evs, err
}

func TestBurstOf1000DeliversEveryEvent(t *testing.T) {
	tests := []struct {
		name string
		fail func(key string, nth int) bool
	}{
		{"all succeed", nil},
		// Every seventh key fails its first attempt, every 13th its first
		// two: those go through notify.db and the retry queue.
		{"some retried", func(key string, nth int) bool {
			var i int
			fmt.Sscanf(key, "k%d", &i)
			return i%7 == 0 && nth == 1 || i%13 == 0 && nth <= 2
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, batch := range []int{0, 10} {
				t.Run(fmt.Sprintf("batch %d", batch), func(t *testing.T) {
					b := newBurst(t, batch, tc.fail)
					keys := b.put(0, 1000, 8)
					b.settle(keys)
					dl, err := b.n.DeadLetters(context.Background())
					if err != nil || len(dl) != 0 {
						t.Fatalf("dead letters %v, %v", dl, err)
					}
				})
			}
		})
	}
}

// TestBatchedPostsCarrySeveralRecords writes events faster than one POST
// at a time can take them, so that records wait together: a rule with a
// BatchSize then gets POSTs of several records.
func TestBatchedPostsCarrySeveralRecords(t *testing.T) {
	b := newBurst(t, 25, nil)
	b.halt()
	// Written while the notifier is stopped: all 200 are read at once.
	keys := b.put(0, 200, 4)
	b.start()
	b.settle(keys)
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.most < 2 || b.most > 25 {
		t.Fatalf("largest POST held %d records, want 2..25", b.most)
	}
	if b.posts >= len(keys) {
		t.Fatalf("%d POSTs for %d records: nothing was batched", b.posts, len(keys))
	}
}

// readHook wraps a receiver's listener so that f sees every read of its
// connections (p holds n bytes read) and returns how many to pass on.
type readHook struct {
	net.Listener
	f func(p []byte, n int) int
}

func (l readHook) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	return &hookedConn{c, l.f}, err
}

type hookedConn struct {
	net.Conn
	f func(p []byte, n int) int
}

func (c *hookedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	return c.f(p, n), err
}

// TestPipelinedPosts writes events faster than one POST at a time can
// take them to a one-record rule: records waiting together then share a
// connection's write, pipelined, each still its own POST. A receiver
// that does not keep connections alive gets every record exactly once,
// one request per connection.
func TestPipelinedPosts(t *testing.T) {
	var pipelined atomic.Int32
	b := newBurstWith(t, 0, nil, func(s *httptest.Server) {
		// A read that holds the start of more than one request read
		// pipelined requests.
		s.Listener = readHook{s.Listener, func(p []byte, n int) int {
			if bytes.Count(p[:n], []byte("POST /")) > 1 {
				pipelined.Add(1)
			}
			return n
		}}
	})
	// One POST first, for the notifier to see the receiver answer fast.
	b.settle(b.put(0, 1, 1))
	b.halt()
	// Written while the notifier is stopped: all 200 are read at once.
	keys := b.put(1, 200, 4)
	reg := prometheus.NewRegistry()
	b.cfg.Registerer = reg
	b.start()
	b.settle(keys)
	if pipelined.Load() == 0 {
		t.Error("no read of the receiver held more than one request")
	}
	got := promtest.Series(t, reg, "sluice_notify_webhook_posts_total")
	posts, pipelines := got["sent=pipelined"], promtest.Series(t, reg, "sluice_notify_webhook_pipelines_total")[""]
	if posts+got["sent=alone"] != 200 || pipelines == 0 || posts < 2*pipelines {
		t.Errorf("POSTs %v in %v pipelines: want 200 POSTs in all, pipelined ones at two or more per write", got, pipelines)
	}
	b.cfg.Registerer = nil

	b = newBurstWith(t, 0, nil, func(s *httptest.Server) { s.Config.SetKeepAlivesEnabled(false) })
	b.settle(b.put(0, 1, 1))
	b.halt()
	keys = b.put(1, 200, 4)
	b.start()
	b.settle(keys)
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, k := range keys {
		if b.tries[k] != 1 {
			t.Fatalf("%s: %d POSTs, want 1", k, b.tries[k])
		}
	}
}

// TestPipelineMishandled: a receiver that drops pipelined requests makes
// the pipeline time out; the requests it dropped are retried and arrive,
// and the receiver gets one request at a time from then on.
func TestPipelineMishandled(t *testing.T) {
	var drops atomic.Int32
	b := newBurstWith(t, 0, nil, func(s *httptest.Server) {
		// Pass on only the first request of a read, dropping the rest.
		s.Listener = readHook{s.Listener, func(p []byte, n int) int {
			if n < 2 {
				return n
			}
			if i := bytes.Index(p[1:n], []byte("POST /")); i >= 0 {
				drops.Add(1)
				return i + 1
			}
			return n
		}}
	})
	b.halt()
	b.cfg.WebhookTimeout = 300 * time.Millisecond
	b.start()
	b.settle(b.put(0, 1, 1))
	b.halt()
	keys := b.put(1, 100, 4)
	b.start()
	b.settle(keys)
	if drops.Load() == 0 {
		t.Fatal("nothing was pipelined: the receiver dropped no request")
	}
	before := drops.Load()
	// A Notifier keeps what it learnt while it runs: written now, these
	// go out one at a time.
	more := b.put(101, 100, 4)
	b.settle(more)
	if d := drops.Load() - before; d != 0 {
		t.Fatalf("%d more pipelines after the receiver cut one short", d)
	}
}

// TestBurstSurvivesRestarts stops and restarts the notifier while a
// burst is in flight: every event still arrives (at least once).
func TestBurstSurvivesRestarts(t *testing.T) {
	for _, batch := range []int{0, 10} {
		t.Run(fmt.Sprintf("batch %d", batch), func(t *testing.T) {
			b := newBurst(t, batch, func(key string, nth int) bool { return strings.HasSuffix(key, "3") && nth == 1 })
			var keys []string
			for round := range 4 {
				keys = append(keys, b.put(round*250, 250, 4)...)
				b.halt()
				b.start()
			}
			b.settle(keys)
		})
	}
}

func BenchmarkBurstOf1000(b *testing.B) {
	bu := newBurst(b, 0, nil)
	b.ResetTimer()
	for i := range b.N {
		keys := bu.put(i*1000, 1000, 8)
		bu.settle(keys)
	}
	b.ReportMetric(float64(1000*b.N)/b.Elapsed().Seconds(), "events/s")
}
