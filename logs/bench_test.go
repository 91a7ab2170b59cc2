package logs

import (
	"context"
	"fmt"
	"math"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
)

// BenchmarkPutLogEvents appends one line per call from many goroutines,
// each with its own stream, as concurrent function instances do.
func BenchmarkPutLogEvents(b *testing.B) {
	st := openStore(b, b.TempDir())
	defer st.Close()
	ctx := context.Background()
	var n atomic.Int64
	msg := "2025-01-01T00:00:00.000Z\tb7a1c2d3-0000-4000-8000-000000000000\tINFO\tresized photos/cat.jpg to 640x480\n"
	b.SetBytes(int64(len(msg)))
	b.RunParallel(func(pb *testing.PB) {
		stream := fmt.Sprintf("2025/01/01/[$LATEST]%04d", n.Add(1))
		ev := []sluice.LogEvent{{Message: msg}}
		for pb.Next() {
			ev[0].Time = time.Now()
			if err := st.PutLogEvents(ctx, "/aws/lambda/bench", stream, ev); err != nil {
				b.Fatal(err)
			}
		}
	})
	if err := st.Sync(); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkFilterLogEvents searches 100k events in 10 streams for a term
// one event in 100 carries.
func BenchmarkFilterLogEvents(b *testing.B) {
	st := openStore(b, b.TempDir())
	defer st.Close()
	ctx := context.Background()
	base := time.Now().Add(-time.Hour)
	for s := range 10 {
		evs := make([]sluice.LogEvent, 10000)
		for i := range evs {
			msg := fmt.Sprintf("INFO request %d handled", i)
			if i%100 == 0 {
				msg = fmt.Sprintf("ERROR request %d failed", i)
			}
			evs[i] = sluice.LogEvent{Time: base.Add(time.Duration(i) * time.Millisecond), Message: msg}
		}
		if err := st.PutLogEvents(ctx, "/g", fmt.Sprint("s", s), evs); err != nil {
			b.Fatal(err)
		}
	}
	p, err := CompilePattern("ERROR failed")
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		res, err := st.Filter(ctx, "/g", FilterQuery{End: math.MaxInt64, Match: p.Match})
		if err != nil || len(res.Events) != 1000 {
			b.Fatalf("%d events, %v", len(res.Events), err)
		}
	}
}
