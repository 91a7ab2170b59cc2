package fsstore

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/internal/promtest"
)

// TestOutboxCollector: the collector reports every event appended, and
// each registered consumer's unacknowledged events, as they are at the
// scrape; the count survives a restart.
func TestOutboxCollector(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := Open(Config{Dir: dir, NoSync: true, RecordEvents: true})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { s.Close() }()
	check := func(produced int, pending map[string]int) {
		t.Helper()
		reg := prometheus.NewPedanticRegistry()
		reg.MustRegister(s.OutboxCollector())
		got := promtest.Series(t, reg, "sluice_outbox_pending_events")
		got["produced"] = promtest.Series(t, reg, "sluice_outbox_events_total")[""]
		want := map[string]float64{"produced": float64(produced)}
		for c, n := range pending {
			want["consumer="+c] = float64(n)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("outbox metrics (-want +got):\n%s", diff)
		}
	}
	check(0, nil)
	if err := s.CreateBucket(ctx, sluice.Bucket{Name: "src", Region: sluice.DefaultRegion}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{"notify", "replicate"} {
		if _, err := s.Cursor(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 5 {
		if _, err := s.PutObject(ctx, &sluice.PutObjectInput{Bucket: "src", Key: fmt.Sprint("k", i), Body: strings.NewReader("v"), Size: 1}); err != nil {
			t.Fatal(err)
		}
	}
	check(5, map[string]int{"notify": 5, "replicate": 5})
	if err := s.AckEvents(ctx, "notify", 3); err != nil {
		t.Fatal(err)
	}
	if err := s.AckEvents(ctx, "replicate", 5); err != nil {
		t.Fatal(err)
	}
	check(5, map[string]int{"notify": 2, "replicate": 0})

	// Acknowledged events are pruned; the count of events appended is not.
	if err := s.AckEvents(ctx, "notify", 5); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if s, err = Open(Config{Dir: dir, NoSync: true, RecordEvents: true}); err != nil {
		t.Fatal(err)
	}
	check(5, map[string]int{"notify": 0, "replicate": 0})
	if _, err := s.PutObject(ctx, &sluice.PutObjectInput{Bucket: "src", Key: "k5", Body: strings.NewReader("v"), Size: 1}); err != nil {
		t.Fatal(err)
	}
	check(6, map[string]int{"notify": 1, "replicate": 1})
}
