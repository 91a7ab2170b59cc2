package replicate

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Results of one copy (or mirrored delete) to one target, the result label
// of sluice_replicate_copies_total.
const (
	resultCopied     = "copied"     // the target now holds the write
	resultSkipped    = "skipped"    // the target already held this write: a replay or a rewrite of the same bytes and metadata
	resultSuperseded = "superseded" // a newer write of the key exists, at the source or already at the target
	resultDeleted    = "deleted"    // a removal mirrored to the target
	resultFailed     = "failed"     // the retry budget ran out or the failure is permanent: dead-lettered
)

// Target kinds, the target label.
const (
	kindLocal  = "local"  // a bucket of this store
	kindRemote = "remote" // a bucket behind Config.RegionEndpoints
)

// metrics are the Replicator's Prometheus series.
type metrics struct {
	events  prometheus.Counter
	copies  *prometheus.CounterVec
	retried *prometheus.CounterVec
	bytes   *prometheus.CounterVec
	latency *prometheus.HistogramVec
	backlog prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) metrics {
	m := metrics{
		events: prometheus.NewCounter(prometheus.CounterOpts{Name: "sluice_replicate_events_total",
			Help: "Outbox events the replicator has read."}),
		copies: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sluice_replicate_copies_total",
			Help: "Copies and mirrored deletes to one target, by result (copied, skipped, superseded, deleted, failed) and target kind (local, remote)."},
			[]string{"result", "target"}),
		retried: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sluice_replicate_retries_total",
			Help: "Failed attempts of a copy or delete that will be retried, by target kind."}, []string{"target"}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sluice_replicate_bytes_total",
			Help: "Object bytes copied to targets, by target kind (a local copy may share the source's file)."}, []string{"target"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "sluice_replicate_copy_seconds",
			Help:    "Time from the source write's commit to its copy or delete being committed at the target, by target kind.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300}}, []string{"target"}),
		backlog: prometheus.NewGauge(prometheus.GaugeOpts{Name: "sluice_replicate_backlog",
			Help: "Outbox events read and not yet done (copying, retrying or waiting behind an earlier event of their key)."}),
	}
	if reg != nil {
		reg.MustRegister(m.events, m.copies, m.retried, m.bytes, m.latency, m.backlog)
	}
	return m
}

// targetKind is where t lives, as resolve decides it.
func (r *Replicator) targetKind(t Target) string {
	if _, ok := r.remote[t.Region]; ok && t.Region != "" {
		return kindRemote
	}
	return kindLocal
}

// observe counts one copy's result; since is the source write's commit
// time, zero when unknown.
func (m metrics) observe(result, kind string, since time.Time, size int64) {
	m.copies.WithLabelValues(result, kind).Inc()
	switch result {
	case resultCopied:
		m.bytes.WithLabelValues(kind).Add(float64(size))
	case resultDeleted:
	default:
		return
	}
	if !since.IsZero() {
		m.latency.WithLabelValues(kind).Observe(max(time.Since(since).Seconds(), 0))
	}
}
