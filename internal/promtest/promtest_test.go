package promtest

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
)

func TestSeries(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "c_total", Help: "c"}, []string{"b", "a"})
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "g", Help: "g"})
	h := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "h_seconds", Help: "h"})
	reg.MustRegister(c, g, h)
	c.WithLabelValues("2", "1").Add(3)
	c.WithLabelValues("x", "y").Inc()
	g.Set(7)
	h.Observe(0.1)
	h.Observe(0.2)
	tests := []struct {
		name string
		want map[string]float64
	}{
		{"c_total", map[string]float64{"a=1,b=2": 3, "a=y,b=x": 1}},
		{"g", map[string]float64{"": 7}},
		{"h_seconds", map[string]float64{"": 2}},
		{"absent", map[string]float64{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, Series(t, reg, tc.name)); diff != "" {
				t.Errorf("Series (-want +got):\n%s", diff)
			}
		})
	}
}
