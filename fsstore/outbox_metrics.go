package fsstore

import (
	"encoding/binary"

	"github.com/prometheus/client_golang/prometheus"
	bolt "go.etcd.io/bbolt"
)

// OutboxCollector returns a Prometheus collector of the outbox, read from
// the metadata at each scrape so that writes pay nothing for it:
//
//   - sluice_outbox_events_total: events ever appended (the last sequence
//     number, which survives restarts);
//   - sluice_outbox_pending_events{consumer}: events appended that the
//     consumer (notify, replicate, ...) has not yet acknowledged, its lag.
//
// A scrape that cannot read the metadata reports an invalid metric, so
// the failure shows in the scrape rather than as a zero.
func (s *Store) OutboxCollector() prometheus.Collector {
	return &outboxCollector{
		s: s,
		produced: prometheus.NewDesc("sluice_outbox_events_total",
			"Events the store has appended to its outbox, in the transaction of each change.", nil, nil),
		pending: prometheus.NewDesc("sluice_outbox_pending_events",
			"Events in the outbox that the consumer has not acknowledged yet.", []string{"consumer"}, nil),
	}
}

type outboxCollector struct {
	s                 *Store
	produced, pending *prometheus.Desc
}

var _ prometheus.Collector = (*outboxCollector)(nil)

func (c *outboxCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.produced
	ch <- c.pending
}

func (c *outboxCollector) Collect(ch chan<- prometheus.Metric) {
	var last uint64
	cursors := map[string]uint64{}
	err := c.s.db.View(func(tx *bolt.Tx) error {
		last = tx.Bucket(rootEvents).Sequence()
		return tx.Bucket(rootCursors).ForEach(func(k, v []byte) error {
			if len(v) == 8 {
				cursors[string(k)] = binary.BigEndian.Uint64(v)
			}
			return nil
		})
	})
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.produced, err)
		return
	}
	ch <- prometheus.MustNewConstMetric(c.produced, prometheus.CounterValue, float64(last))
	for consumer, seq := range cursors {
		ch <- prometheus.MustNewConstMetric(c.pending, prometheus.GaugeValue, float64(last-min(seq, last)), consumer)
	}
}
