package cloudfront_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	cfsdk "github.com/aws/aws-sdk-go-v2/service/cloudfront"
	cftypes "github.com/aws/aws-sdk-go-v2/service/cloudfront/types"
	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/cloudfront"
	"github.com/sluicehq/sluice/fsstore"
)

func TestPersistenceAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	edge := newRecordingEdge()
	h := newHarnessAt(t, dir, edge)
	var ids []string
	for i := range 3 {
		out := h.create(t, minimalConfig(fmt.Sprintf("p-%d", i)))
		ids = append(ids, *out.Distribution.Id)
	}
	if _, err := h.invalidate("before-restart", "/a", "/b*"); err != nil {
		t.Fatal(err)
	}
	// An invalidation the edge cannot apply before shutdown stays
	// InProgress and is finished by the next start.
	edge.mu.Lock()
	edge.fail = 1 << 30
	edge.mu.Unlock()
	pending, err := h.invalidate("pending", "/c")
	if err != nil || *pending.Invalidation.Status != "InProgress" {
		t.Fatalf("pending invalidation: %v %v", err, pending)
	}
	before, err := h.client.GetDistributionConfig(context.Background(), &cfsdk.GetDistributionConfigInput{Id: aws.String(ids[1])})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.svc.Close(); err != nil {
		t.Fatal(err)
	}

	edge2 := newRecordingEdge()
	h2 := newHarnessAt(t, dir, edge2)
	edge2.mu.Lock()
	order := slices.Clone(edge2.order)
	edge2.mu.Unlock()
	if diff := cmp.Diff(ids, order); diff != "" {
		t.Errorf("distributions pushed on start, in creation order (-want +got):\n%s", diff)
	}
	after, err := h2.client.GetDistributionConfig(context.Background(), &cfsdk.GetDistributionConfigInput{Id: aws.String(ids[1])})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(before.DistributionConfig, after.DistributionConfig, ignoreUnexported); diff != "" || *before.ETag != *after.ETag {
		t.Errorf("config changed across restart (ETag %s -> %s):\n%s", *before.ETag, *after.ETag, diff)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		g, err := h2.client.GetInvalidation(context.Background(), &cfsdk.GetInvalidationInput{DistributionId: aws.String(ids[0]), Id: pending.Invalidation.Id})
		if err != nil {
			t.Fatal(err)
		}
		if *g.Invalidation.Status == "Completed" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the interrupted invalidation was not finished after restart")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if diff := cmp.Diff([]edgeInvalidation{{Dist: ids[0], Paths: []string{"/c"}}}, edge2.invalidations()); diff != "" {
		t.Errorf("edge invalidations after restart:\n%s", diff)
	}
	months, err := h2.svc.Usage(context.Background())
	if err != nil || len(months) != 1 || months[0].Paths != 3 {
		t.Errorf("usage after restart = %+v, %v; want 3 paths", months, err)
	}
}

// autoEnv is a real fsstore recording events, a distribution in front of
// its bucket "photos" with origin path /pub, a second one with automatic
// invalidation switched off, and a recording edge.
type autoEnv struct {
	store  *fsstore.Store
	h      *harness
	edge   *recordingEdge
	distID string
	offID  string
}

func openStore(t *testing.T, dir string) *fsstore.Store {
	t.Helper()
	cfg := fsstore.DefaultConfig()
	cfg.Dir, cfg.RecordEvents, cfg.NoSync = dir, true, true
	st, err := fsstore.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func newAutoEnv(t *testing.T, cfg cloudfront.Config) *autoEnv {
	t.Helper()
	env := &autoEnv{store: openStore(t, t.TempDir()), edge: newRecordingEdge()}
	ctx := context.Background()
	// Register the consumer first so the outbox keeps every event for it.
	if _, err := env.store.Cursor(ctx, cloudfront.AutoInvalidateConsumer); err != nil {
		t.Fatal(err)
	}
	if err := env.store.CreateBucket(ctx, sluice.Bucket{Name: "photos", Region: "us-east-1"}); err != nil {
		t.Fatal(err)
	}
	env.h = newHarnessWith(t, cfg, env.edge)
	dc := minimalConfig("auto")
	dc.Origins.Items[0].DomainName = aws.String("photos.s3.us-east-1.amazonaws.com")
	dc.Origins.Items[0].OriginPath = aws.String("/pub")
	env.distID = *env.h.create(t, dc).Distribution.Id

	off := minimalConfig("auto-off")
	off.Origins.Items[0].DomainName = aws.String("photos.s3.localhost")
	out, err := env.h.client.CreateDistributionWithTags(ctx, &cfsdk.CreateDistributionWithTagsInput{
		DistributionConfigWithTags: &cftypes.DistributionConfigWithTags{DistributionConfig: off,
			Tags: &cftypes.Tags{Items: []cftypes.Tag{{Key: aws.String(sluice.DistributionAutoInvalidateTag), Value: aws.String("false")}}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	env.offID = *out.Distribution.Id
	return env
}

func (env *autoEnv) put(t *testing.T, key string) {
	t.Helper()
	if _, err := env.store.PutObject(context.Background(), &sluice.PutObjectInput{
		Bucket: "photos", Key: key, Body: strings.NewReader("x"), Size: 1}); err != nil {
		t.Fatal(err)
	}
}

// edgePaths returns every path the edge invalidated in dist, and how many
// invalidations that took.
func (env *autoEnv) edgePaths(dist string) (map[string]bool, int) {
	paths := map[string]bool{}
	n := 0
	for _, inv := range env.edge.invalidations() {
		if inv.Dist != dist {
			continue
		}
		n++
		for _, p := range inv.Paths {
			paths[p] = true
		}
	}
	return paths, n
}

// runConsumer runs RunAutoInvalidate until the returned stop is called.
func runConsumer(t *testing.T, svc *cloudfront.Service, log sluice.EventLog) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.RunAutoInvalidate(ctx, log) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("RunAutoInvalidate: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// waitFor polls cond until it holds or 10 s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func noCollapse() cloudfront.Config {
	cfg := cloudfront.DefaultConfig()
	cfg.CollapseThreshold = 0
	return cfg
}

func TestAutoInvalidateBurst(t *testing.T) {
	env := newAutoEnv(t, noCollapse())
	want := map[string]bool{}
	for i := range 200 {
		key := fmt.Sprintf("pub/img/photo %d+*.jpg", i)
		env.put(t, key)
		want[fmt.Sprintf("/img/photo%%20%d%%2B%%2A.jpg", i)] = true
	}
	env.put(t, "private/secret.jpg") // outside the origin path
	ctx := context.Background()
	last, err := env.store.ReadEvents(ctx, 0, 1000)
	if err != nil || len(last) != 201 {
		t.Fatalf("outbox holds %d events (%v), want 201", len(last), err)
	}
	lastSeq := last[len(last)-1].Seq

	stop := runConsumer(t, env.h.svc, env.store)
	waitFor(t, "the cursor to reach the last event", func() bool {
		c, err := env.store.Cursor(ctx, cloudfront.AutoInvalidateConsumer)
		return err == nil && c == lastSeq
	})
	stop()
	got, n := env.edgePaths(env.distID)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("invalidated paths (-want +got):\n%s", diff)
	}
	// Every event was in the outbox before the consumer started, so one
	// window holds them all: one invalidation.
	if n != 1 {
		t.Errorf("%d invalidations for one burst, want 1", n)
	}
	if off, _ := env.edgePaths(env.offID); len(off) != 0 {
		t.Errorf("distribution with auto invalidation off got %d paths", len(off))
	}
	l, err := env.h.client.ListInvalidations(ctx, &cfsdk.ListInvalidationsInput{DistributionId: aws.String(env.distID)})
	if err != nil {
		t.Fatal(err)
	}
	if *l.InvalidationList.Quantity != 1 {
		t.Fatalf("ListInvalidations has %d, want 1", *l.InvalidationList.Quantity)
	}
	g, err := env.h.client.GetInvalidation(ctx, &cfsdk.GetInvalidationInput{DistributionId: aws.String(env.distID), Id: l.InvalidationList.Items[0].Id})
	if err != nil {
		t.Fatal(err)
	}
	if ref, want := *g.Invalidation.InvalidationBatch.CallerReference, fmt.Sprintf("sluice-auto-%d-%d", last[0].Seq, lastSeq); ref != want {
		t.Errorf("CallerReference = %q, want %q", ref, want)
	}
}

func TestAutoInvalidateLive(t *testing.T) {
	env := newAutoEnv(t, noCollapse())
	stop := runConsumer(t, env.h.svc, env.store)
	defer stop()
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				env.put(t, fmt.Sprintf("pub/w%d/%d.jpg", w, i))
			}
		}()
	}
	wg.Wait()
	// Overwrites and deletes count too.
	env.put(t, "pub/w0/0.jpg")
	if err := env.store.DeleteObject(context.Background(), "photos", "pub/w1/1.jpg"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "every path to be invalidated", func() bool {
		got, _ := env.edgePaths(env.distID)
		return len(got) == 200
	})
	_, n := env.edgePaths(env.distID)
	if n >= 202 {
		t.Errorf("%d invalidations for 202 events: bursts were not coalesced", n)
	}
}

func TestAutoInvalidateCollapse(t *testing.T) {
	cfg := cloudfront.DefaultConfig()
	cfg.CollapseThreshold = 100
	env := newAutoEnv(t, cfg)
	for i := range 150 {
		env.put(t, fmt.Sprintf("pub/thumbs/%d.jpg", i))
	}
	env.put(t, "pub/index.html")
	stop := runConsumer(t, env.h.svc, env.store)
	waitFor(t, "the invalidation", func() bool { _, n := env.edgePaths(env.distID); return n == 1 })
	stop()
	got := env.edge.invalidations()
	if diff := cmp.Diff([]string{"/thumbs/*", "/index.html"}, got[0].Paths); diff != "" {
		t.Errorf("collapsed paths (-want +got):\n%s", diff)
	}
}

// interruptingEdge applies its first invalidation, then fails it and
// cancels the consumer: the process dies after the edge dropped the paths
// but before the invalidation was recorded as done and the outbox
// acknowledged, the worst moment.
type interruptingEdge struct {
	*recordingEdge
	once   sync.Once
	cancel func()
}

func (e *interruptingEdge) Invalidate(ctx context.Context, id string, paths []string) (int, error) {
	n, err := e.recordingEdge.Invalidate(ctx, id, paths)
	first := false
	e.once.Do(func() { first = true; e.cancel() })
	if first {
		return 0, errors.New("killed")
	}
	return n, err
}

func TestAutoInvalidateRestartLosesNothing(t *testing.T) {
	storeDir, dataDir := t.TempDir(), t.TempDir()
	st := openStore(t, storeDir)
	ctx := context.Background()
	if _, err := st.Cursor(ctx, cloudfront.AutoInvalidateConsumer); err != nil {
		t.Fatal(err)
	}
	if err := st.CreateBucket(ctx, sluice.Bucket{Name: "photos", Region: "us-east-1"}); err != nil {
		t.Fatal(err)
	}
	cfg := noCollapse()
	cfg.DataDir, cfg.NoSync, cfg.AutoMaxPaths = dataDir, true, 50
	rec := newRecordingEdge()
	runCtx, cancel := context.WithCancel(ctx)
	edge := &interruptingEdge{recordingEdge: rec, cancel: cancel}
	svc, err := cloudfront.New(cfg, edge, nil, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	dc := minimalConfig("restart")
	dc.Origins.Items[0].DomainName = aws.String("photos.s3.localhost")
	dist := *serve(t, svc).create(t, dc).Distribution.Id
	want := map[string]bool{}
	for i := range 200 {
		if _, err := st.PutObject(ctx, &sluice.PutObjectInput{Bucket: "photos", Key: fmt.Sprintf("k%03d", i), Body: strings.NewReader("x"), Size: 1}); err != nil {
			t.Fatal(err)
		}
		want[fmt.Sprintf("/k%03d", i)] = true
	}
	if err := svc.RunAutoInvalidate(runCtx, st); err != nil {
		t.Fatal(err)
	}
	if c, _ := st.Cursor(ctx, cloudfront.AutoInvalidateConsumer); c != 0 {
		t.Fatalf("cursor %d after the interrupted window, want 0 (not acknowledged)", c)
	}
	if err := svc.Close(); err != nil {
		t.Fatal(err)
	}

	// Restart: the interrupted window is read again.
	svc2, err := cloudfront.New(cfg, rec, nil, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	defer svc2.Close()
	stop := runConsumer(t, svc2, st)
	defer stop()
	waitFor(t, "every path after the restart", func() bool {
		got, _ := (&autoEnv{edge: rec}).edgePaths(dist)
		return len(got) == len(want)
	})
	got, _ := (&autoEnv{edge: rec}).edgePaths(dist)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("paths (-want +got):\n%s", diff)
	}
	waitFor(t, "the cursor to reach the end", func() bool {
		c, _ := st.Cursor(ctx, cloudfront.AutoInvalidateConsumer)
		return c == 200
	})
	// The replayed first window reused its CallerReference: one record.
	invs, err := svc2.Invalidations(dist)
	if err != nil {
		t.Fatal(err)
	}
	refs := map[string]int{}
	for _, inv := range invs {
		refs[inv.CallerReference]++
		if inv.Status != sluice.InvalidationCompleted {
			t.Errorf("%s is %s", inv.ID, inv.Status)
		}
	}
	if len(invs) != 4 || refs["sluice-auto-1-50"] != 1 {
		t.Errorf("invalidations by reference = %v, want 4 windows of 50 with sluice-auto-1-50 once", refs)
	}
}

func TestInvalidateBuiltin(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	a := minimalConfig("fn-a")
	a.Origins.Items[0].DomainName = aws.String("photos.s3.amazonaws.com")
	a.Origins.Items[0].OriginPath = aws.String("/site")
	idA := *h.create(t, a).Distribution.Id
	b := minimalConfig("fn-b")
	b.Origins.Items[0].DomainName = aws.String("photos.s3.localhost")
	idB := *h.create(t, b).Distribution.Id
	c := minimalConfig("fn-c")
	c.Origins.Items[0].DomainName = aws.String("other.s3.localhost")
	idC := *h.create(t, c).Distribution.Id

	// An S3 event as S3 delivers it: keys URL-encoded, '+' for space.
	payload := []byte(`{"Records":[
	 {"eventVersion":"2.1","eventSource":"aws:s3","awsRegion":"us-east-1","eventTime":"2024-05-01T10:00:00.000Z",
	  "eventName":"ObjectCreated:Put","s3":{"s3SchemaVersion":"1.0","bucket":{"name":"photos","arn":"arn:aws:s3:::photos"},
	  "object":{"key":"site/My+Photo%2B1.jpg","size":3,"eTag":"abc","sequencer":"0000000000000001"}}},
	 {"eventVersion":"2.1","eventSource":"aws:s3","awsRegion":"us-east-1","eventTime":"2024-05-01T10:00:01.000Z",
	  "eventName":"ObjectRemoved:Delete","s3":{"s3SchemaVersion":"1.0","bucket":{"name":"photos","arn":"arn:aws:s3:::photos"},
	  "object":{"key":"index.html","sequencer":"0000000000000002"}}}]}`)
	var ev events.S3Event
	if err := json.Unmarshal(payload, &ev); err != nil || len(ev.Records) != 2 {
		t.Fatalf("test event does not parse: %v", err)
	}

	// No DistributionId: every distribution in front of the bucket.
	out, err := h.svc.InvalidateBuiltin(ctx, payload, nil)
	if err != nil {
		t.Fatalf("InvalidateBuiltin: %v", err)
	}
	var res cloudfront.BuiltinResult
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatal(err)
	}
	if len(res.Invalidations) != 2 {
		t.Fatalf("result = %s, want invalidations in two distributions", out)
	}
	byDist := map[string][]string{}
	for _, inv := range h.edge.invalidations() {
		byDist[inv.Dist] = append(byDist[inv.Dist], inv.Paths...)
	}
	wantPaths := map[string][]string{
		idA: {"/My%20Photo%2B1.jpg"}, // under /site; index.html is not
		idB: {"/site/My%20Photo%2B1.jpg", "/index.html"},
	}
	if diff := cmp.Diff(wantPaths, byDist); diff != "" {
		t.Errorf("edge paths (-want +got):\n%s", diff)
	}

	// A retried invocation changes nothing.
	again, err := h.svc.InvalidateBuiltin(ctx, payload, nil)
	if err != nil || string(again) != string(out) {
		t.Errorf("retry: %s %v, want %s", again, err, out)
	}
	if n := len(h.edge.invalidations()); n != 2 {
		t.Errorf("edge saw %d invalidations after a retry, want 2", n)
	}

	// DistributionId names one distribution, even one whose origin is
	// another bucket (the recipe invalidates the key's path as it is).
	out, err = h.svc.InvalidateBuiltin(ctx, payload, map[string]string{"DistributionId": idC})
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(out, &res); err != nil || len(res.Invalidations) != 1 || res.Invalidations[0].DistributionID != idC || res.Invalidations[0].Paths != 2 {
		t.Errorf("result for %s = %s", idC, out)
	}
	if _, err := h.svc.InvalidateBuiltin(ctx, payload, map[string]string{"DISTRIBUTION_ID": "ENOSUCH1234567"}); !sluice.IsCode(err, "NoSuchDistribution") {
		t.Errorf("unknown DISTRIBUTION_ID: %v", err)
	}
	if _, err := h.svc.InvalidateBuiltin(ctx, []byte(`{"Records":[{"s3":{}}]}`), nil); err == nil {
		t.Error("a record without bucket and key was accepted")
	}
}
