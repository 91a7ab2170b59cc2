package edge

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/sluicehq/sluice/cdncache"
)

type metrics struct {
	requests     *prometheus.CounterVec // by X-Cache result
	originFetch  *prometheus.CounterVec // by origin kind and outcome
	hookCalls    *prometheus.CounterVec // by event type and native/function
	hookErrors   *prometheus.CounterVec // by event type and X-Cache error kind
	compressions *prometheus.CounterVec // by encoding
	invalidated  prometheus.Counter
	// byResult holds the requests counters of the usual results, resolved
	// once: a label lookup per request costs a hash of the label.
	byResult map[string]prometheus.Counter
}

// countRequest counts a request by its X-Cache result.
func (m *metrics) countRequest(result string) {
	if c, ok := m.byResult[result]; ok {
		c.Inc()
		return
	}
	m.requests.WithLabelValues(result).Inc()
}

func newMetrics(reg prometheus.Registerer, cache *cdncache.Cache) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "sluice", Subsystem: "edge", Name: "requests_total",
			Help: "Edge requests by X-Cache result (Hit, Miss, RefreshHit, Error, LambdaGeneratedResponse, Lambda errors).",
		}, []string{"result"}),
		originFetch: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "sluice", Subsystem: "edge", Name: "origin_fetches_total",
			Help: "Requests the edge sent to origins, by origin kind (s3, custom) and outcome.",
		}, []string{"origin", "outcome"}),
		hookCalls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "sluice", Subsystem: "edge", Name: "hook_invocations_total",
			Help: "Edge function invocations by event type and kind (function, native).",
		}, []string{"event_type", "kind"}),
		hookErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "sluice", Subsystem: "edge", Name: "hook_errors_total",
			Help: "Edge function failures by event type and error (LambdaExecutionError, LambdaValidationError, LambdaLimitExceeded).",
		}, []string{"event_type", "error"}),
		compressions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "sluice", Subsystem: "edge", Name: "compressions_total",
			Help: "Cached objects compressed, by encoding (each cached object is compressed once).",
		}, []string{"encoding"}),
		invalidated: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "sluice", Subsystem: "edge", Name: "invalidated_entries_total",
			Help: "Cache entries dropped by invalidations.",
		}),
	}
	m.byResult = make(map[string]prometheus.Counter)
	for _, r := range []string{resultHit, resultMiss, resultRefreshHit, resultError, resultGenerated} {
		m.byResult[r] = m.requests.WithLabelValues(r)
	}
	if reg == nil {
		return m
	}
	reg.MustRegister(m.requests, m.originFetch, m.hookCalls, m.hookErrors, m.compressions, m.invalidated)
	reg.MustRegister(newCacheCollector(cache))
	return m
}

// cacheCollector exports cdncache.Stats at scrape time.
type cacheCollector struct {
	cache *cdncache.Cache
	descs map[string]*prometheus.Desc
}

func newCacheCollector(c *cdncache.Cache) *cacheCollector {
	d := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc("sluice_edge_cache_"+name, help, nil, nil)
	}
	return &cacheCollector{cache: c, descs: map[string]*prometheus.Desc{
		"memory_entries": d("memory_entries", "Entries in the memory tier."),
		"memory_bytes":   d("memory_bytes", "Bytes in the memory tier."),
		"disk_entries":   d("disk_entries", "Entries in the disk tier."),
		"disk_bytes":     d("disk_bytes", "Bytes in the disk tier."),
		"hits":           d("hits_total", "Cache lookups that found the key."),
		"misses":         d("misses_total", "Cache lookups that did not."),
		"fills":          d("fills_total", "Fills run (origin fetches through the cache)."),
		"collapsed":      d("collapsed_total", "Fills that joined one in flight."),
		"stores":         d("stores_total", "Entries stored."),
		"rejected":       d("rejected_total", "Entries not stored: too large or invalidated while filling."),
		"invalidated":    d("invalidated_total", "Entries dropped by invalidations."),
		"evicted":        d("evicted_total", "Disk entries evicted for space."),
	}}
}

func (c *cacheCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs {
		ch <- d
	}
}

func (c *cacheCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.cache.Stats()
	g := func(name string, v int64) {
		ch <- prometheus.MustNewConstMetric(c.descs[name], prometheus.GaugeValue, float64(v))
	}
	k := func(name string, v int64) {
		ch <- prometheus.MustNewConstMetric(c.descs[name], prometheus.CounterValue, float64(v))
	}
	g("memory_entries", s.MemoryEntries)
	g("memory_bytes", s.MemoryBytes)
	g("disk_entries", s.DiskEntries)
	g("disk_bytes", s.DiskBytes)
	k("hits", s.Hits)
	k("misses", s.Misses)
	k("fills", s.Fills)
	k("collapsed", s.Collapsed)
	k("stores", s.Stores)
	k("rejected", s.Rejected)
	k("invalidated", s.Invalidated)
	k("evicted", s.Evicted)
}
