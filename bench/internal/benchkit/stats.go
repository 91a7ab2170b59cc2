package benchkit

import (
	"slices"
	"time"
)

// Summary is the exact distribution figures the benches print.
type Summary struct {
	P50, P99, Mean, Max time.Duration
}

// Summarize returns the exact nearest-rank p50 and p99, the mean and the
// maximum of the samples, all zero when there are none. It sorts a copy:
// callers keep their samples in recording order.
func Summarize(lat []time.Duration) Summary {
	if len(lat) == 0 {
		return Summary{}
	}
	s := slices.Clone(lat)
	slices.Sort(s)
	var sum time.Duration
	for _, d := range s {
		sum += d
	}
	return Summary{P50: NearestRank(s, 50), P99: NearestRank(s, 99), Mean: sum / time.Duration(len(s)), Max: s[len(s)-1]}
}

// NearestRank is the smallest sample such that at least p% of the samples
// are less than or equal to it. sorted must not be empty.
func NearestRank[T any](sorted []T, p int) T {
	rank := (p*len(sorted) + 99) / 100 // ceil(p/100 * n)
	return sorted[max(rank, 1)-1]
}

// FloatPercentile is NearestRank over unsorted float samples; ok is false
// when there are none.
func FloatPercentile(v []float64, p int) (float64, bool) {
	if len(v) == 0 {
		return 0, false
	}
	s := slices.Clone(v)
	slices.Sort(s)
	return NearestRank(s, p), true
}

// TurnOrder is the order in which n targets take slice round of a cell:
// A B, B A, A B, ..., so that load drifting in from elsewhere on the
// machine hits all targets alike.
func TurnOrder(n, round int) []int {
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	if round%2 == 1 {
		slices.Reverse(order)
	}
	return order
}

// RoundWarmup is the warm-up before a slice: the full one before a cell's
// first slice, a quarter of it (a re-warm) before the others.
func RoundWarmup(warmup time.Duration, round int) time.Duration {
	if round > 0 {
		return warmup / 4
	}
	return warmup
}

// AddCPU adds two CPU figures of which either may be unknown (negative):
// the sum of a known and an unknown figure is unknown (-1).
func AddCPU(a, b time.Duration) time.Duration {
	if a < 0 || b < 0 {
		return -1
	}
	return a + b
}
