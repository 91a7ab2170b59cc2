// Package promtest reads Prometheus metrics back in tests: the samples a
// registry gathers, keyed so that go-cmp can compare them with what a test
// expects. It is safe for concurrent use as far as the Gatherer is.
package promtest

import (
	"sort"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// Series returns every sample of the metric name that g gathers, keyed by
// its labels as "name=value" joined with "," in label-name order ("" for a
// metric without labels): a counter's or gauge's value, a histogram's
// sample count. It fails tb when g cannot gather.
func Series(tb testing.TB, g prometheus.Gatherer, name string) map[string]float64 {
	tb.Helper()
	fams, err := g.Gather()
	if err != nil {
		tb.Fatal(err)
	}
	out := map[string]float64{}
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
			sort.Strings(labels)
			k := strings.Join(labels, ",")
			switch f.GetType() {
			case dto.MetricType_COUNTER:
				out[k] = m.GetCounter().GetValue()
			case dto.MetricType_GAUGE:
				out[k] = m.GetGauge().GetValue()
			case dto.MetricType_HISTOGRAM:
				out[k] = float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return out
}
