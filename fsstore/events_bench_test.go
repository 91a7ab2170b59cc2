package fsstore

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	bolt "go.etcd.io/bbolt"
)

// BenchmarkEventsPipeline is the store's side of a bucket with a webhook
// rule and a TargetBucket tag, as `sluice serve` runs it: 8 writers put
// 1 KiB objects into src; a "notify" consumer reads and acknowledges every
// event; a "replicate" consumer, for every event of src, links the object
// into dst under JoinCommits, records its state with UpdateState and
// acknowledges. plain runs the same writers and consumers with no copies.
// It reports what each write costs in commits and bbolt pages, the numbers
// the fsyncs and writes of a real run follow, without the noise of HTTP.
//
// copies-apart is the layout before UpdateState and JoinCommits: the link
// leads a group of its own when none is in flight, and the state commits
// in a database of its own (as replicate.db did), with its own fsyncs,
// which the "syncs/put" metric adds.
func BenchmarkEventsPipeline(b *testing.B) {
	for _, mode := range []string{"plain", "copies", "copies-apart"} {
		copies, apart := mode != "plain", mode == "copies-apart"
		b.Run(mode, func(b *testing.B) {
			cfg := DefaultConfig()
			cfg.Dir, cfg.RecordEvents = b.TempDir(), true
			s, err := Open(cfg)
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			for _, n := range []string{"src", "dst"} {
				if err := s.CreateBucket(ctx, sluice.Bucket{Name: n, Region: sluice.DefaultRegion}); err != nil {
					b.Fatal(err)
				}
			}
			if err := s.UpdateState(ctx, "replicate", func(b *bolt.Bucket) error {
				_, err := b.CreateBucketIfNotExists([]byte("status"))
				return err
			}); err != nil {
				b.Fatal(err)
			}
			own, err := bolt.Open(filepath.Join(b.TempDir(), "own.db"), 0o600, nil)
			if err != nil {
				b.Fatal(err)
			}
			defer own.Close()
			// Commit at once whatever is queued, as replicate.db's group
			// commit did, rather than wait for more.
			own.MaxBatchDelay = 0
			if err := own.Update(func(tx *bolt.Tx) error {
				_, err := tx.CreateBucketIfNotExists([]byte("status"))
				return err
			}); err != nil {
				b.Fatal(err)
			}
			var ownTxs sync.Map // ids of own.db's write transactions
			var consumers sync.WaitGroup
			var wanted atomic.Uint64 // the seq both consumers must reach
			wanted.Store(^uint64(0))
			consume := func(name string, handle func(ev sluice.Event)) {
				consumers.Go(func() {
					cursor, err := s.Cursor(ctx, name)
					if err != nil {
						return
					}
					for cursor < wanted.Load() {
						evs, err := s.ReadEvents(ctx, cursor, 256)
						if err != nil {
							return
						}
						var wg sync.WaitGroup
						for _, ev := range evs {
							wg.Go(func() { handle(ev) })
						}
						wg.Wait()
						cursor = evs[len(evs)-1].Seq
						if err := s.AckEvents(ctx, name, cursor); err != nil {
							return
						}
					}
				})
			}
			consume("notify", func(sluice.Event) {})
			consume("replicate", func(ev sluice.Event) {
				if !copies || ev.Bucket != "src" {
					return
				}
				lctx := s.JoinCommits(ctx)
				if apart {
					lctx = ctx
				}
				if _, err := s.LinkObject(lctx, sluice.ObjectInfo{Bucket: "src", Key: ev.Key, ETag: ev.ETag}, &sluice.PutObjectInput{Bucket: "dst", Key: ev.Key}); err != nil {
					b.Error(err)
					return
				}
				rec := fmt.Appendf(nil, `{"etag":%q,"status":"COMPLETED","seq":%q}`, ev.ETag, ev.Sequencer)
				put := func(b interface{ Bucket([]byte) *bolt.Bucket }) error {
					return b.Bucket([]byte("status")).Put([]byte("src\x00"+ev.Key), rec)
				}
				var err error
				if apart {
					// Batch coalesces concurrent updates into one commit, as
					// replicate.db's group commit did.
					err = own.Batch(func(tx *bolt.Tx) error {
						ownTxs.Store(tx.ID(), true)
						return put(tx)
					})
				} else {
					err = s.UpdateState(ctx, "replicate", func(b *bolt.Bucket) error { return put(b) })
				}
				if err != nil {
					b.Error(err)
				}
			})

			body := bytes.Repeat([]byte("x"), 1<<10)
			var seq atomic.Int64
			groups0, stats0 := s.committer.groups.Load(), s.db.Stats().TxStats
			start := time.Now()
			b.SetParallelism(4) // 8 writers on 2 CPUs
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					key := fmt.Sprintf("k%08d", seq.Add(1))
					if _, err := s.PutObject(ctx, &sluice.PutObjectInput{Bucket: "src", Key: key, Body: bytes.NewReader(body), Size: int64(len(body))}); err != nil {
						b.Error(err)
						return
					}
				}
			})
			// Wait for the consumers to finish what the writes caused.
			marker, err := s.PutObject(ctx, &sluice.PutObjectInput{Bucket: "dst", Key: "~marker", Body: bytes.NewReader(nil)})
			if err != nil {
				b.Fatal(err)
			}
			_ = marker
			evs, err := s.ReadEvents(ctx, 0, 1<<30)
			if err != nil {
				b.Fatal(err)
			}
			wanted.Store(evs[len(evs)-1].Seq)
			consumers.Wait()
			elapsed := time.Since(start)
			stats := s.db.Stats().TxStats
			n := float64(seq.Load())
			ownCommits := 0
			ownTxs.Range(func(any, any) bool { ownCommits++; return true })
			groups := float64(s.committer.groups.Load() - groups0)
			b.ReportMetric(groups/n, "groups/put")
			b.ReportMetric((2*groups+2*float64(ownCommits))/n, "syncs/put")
			b.ReportMetric(float64(stats.GetWrite()-stats0.GetWrite())/n, "pagewrites/put")
			b.ReportMetric(float64(stats.GetPageCount()-stats0.GetPageCount())/n, "pages/put")
			b.ReportMetric(float64(elapsed.Microseconds())/n, "µs-drained/put")
		})
	}
}
