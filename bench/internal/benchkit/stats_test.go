package benchkit

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func ms(v ...int) []time.Duration {
	out := make([]time.Duration, len(v))
	for i, x := range v {
		out[i] = time.Duration(x) * time.Millisecond
	}
	return out
}

func TestSummarize(t *testing.T) {
	hundred := make([]int, 100)
	for i := range hundred {
		hundred[i] = 100 - i // 100..1, unsorted on purpose
	}
	const m = time.Millisecond
	tests := []struct {
		name string
		in   []time.Duration
		want Summary
	}{
		{name: "empty"},
		{name: "one sample", in: ms(7), want: Summary{P50: 7 * m, P99: 7 * m, Mean: 7 * m, Max: 7 * m}},
		{name: "two samples", in: ms(9, 1), want: Summary{P50: 1 * m, P99: 9 * m, Mean: 5 * m, Max: 9 * m}},
		{name: "unsorted four", in: ms(4, 1, 3, 2), want: Summary{P50: 2 * m, P99: 4 * m, Mean: 2500 * time.Microsecond, Max: 4 * m}},
		{name: "1..100 reversed", in: ms(hundred...), want: Summary{P50: 50 * m, P99: 99 * m, Mean: 50500 * time.Microsecond, Max: 100 * m}},
		{name: "outlier is p99 of ten", in: ms(1, 1, 1, 1, 1, 1, 1, 1, 1, 1000), want: Summary{P50: m, P99: time.Second, Mean: 100900 * time.Microsecond, Max: time.Second}},
		{name: "one outlier in a hundred and one", in: append(ms(make([]int, 100)...), time.Second), want: Summary{Mean: time.Second / 101, Max: time.Second}},
		{name: "negative first", in: []time.Duration{3 * m, -m, 2 * m}, want: Summary{P50: 2 * m, P99: 3 * m, Mean: 4 * m / 3, Max: 3 * m}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := append([]time.Duration(nil), tt.in...)
			if diff := cmp.Diff(tt.want, Summarize(tt.in)); diff != "" {
				t.Errorf("Summarize (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(before, tt.in); diff != "" {
				t.Errorf("Summarize modified its input (-before +after):\n%s", diff)
			}
		})
	}
}

func TestFloatPercentile(t *testing.T) {
	if _, ok := FloatPercentile(nil, 50); ok {
		t.Error("FloatPercentile of no samples reported ok")
	}
	if v, _ := FloatPercentile([]float64{3, 1, 2}, 50); v != 2 {
		t.Errorf("FloatPercentile p50 = %v, want 2", v)
	}
}

func TestTurnOrder(t *testing.T) {
	tests := []struct {
		name     string
		n, round int
		want     []int
	}{
		{name: "first round in order", n: 3, round: 0, want: []int{0, 1, 2}},
		{name: "second round reversed", n: 3, round: 1, want: []int{2, 1, 0}},
		{name: "third round in order", n: 2, round: 2, want: []int{0, 1}},
		{name: "no targets", n: 0, round: 1, want: []int{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, TurnOrder(tt.n, tt.round)); diff != "" {
				t.Errorf("TurnOrder(%d, %d) (-want +got):\n%s", tt.n, tt.round, diff)
			}
		})
	}
	if got := RoundWarmup(time.Second, 0); got != time.Second {
		t.Errorf("RoundWarmup(1s, 0) = %v, want 1s", got)
	}
	if got := RoundWarmup(time.Second, 2); got != 250*time.Millisecond {
		t.Errorf("RoundWarmup(1s, 2) = %v, want 250ms", got)
	}
}
