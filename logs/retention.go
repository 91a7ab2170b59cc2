package logs

import (
	"bytes"
	"context"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// RetentionDays are the values PutRetentionPolicy accepts, as on AWS.
var RetentionDays = []int32{1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653}

// Serve enforces retention policies every RetentionInterval until ctx is
// done. Events are written and read without it; only expiry needs it.
func (s *Store) Serve(ctx context.Context) error {
	t := time.NewTicker(s.cfg.RetentionInterval)
	defer t.Stop()
	for {
		if n, err := s.EnforceRetention(ctx); err != nil {
			s.log.Error("enforce log retention", "err", err)
		} else if n > 0 {
			s.log.Info("expired log events", "events", n)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// EnforceRetention deletes, now, every event older than its group's
// retention and reports how many it deleted. Streams stay, as on AWS.
func (s *Store) EnforceRetention(ctx context.Context) (int, error) {
	if err := s.flush(); err != nil {
		return 0, err
	}
	type target struct {
		group, stream string
		cutoff        int64
	}
	now := s.cfg.Now()
	var targets []target
	s.mu.RLock()
	for gname, g := range s.groups {
		if g.Retention <= 0 {
			continue
		}
		cutoff := now.Add(-time.Duration(g.Retention) * 24 * time.Hour).UnixMilli()
		for sname, st := range g.streams {
			if st.Count > 0 && st.First < cutoff {
				targets = append(targets, target{gname, sname, cutoff})
			}
		}
	}
	s.mu.RUnlock()

	total := 0
	for _, t := range targets {
		if err := ctx.Err(); err != nil {
			return total, err
		}
		n, err := s.expireStream(t.group, t.stream, t.cutoff)
		total += n
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// expireStream deletes a stream's events before cutoff in batches, so that
// one huge stream never holds the write lock for long.
func (s *Store) expireStream(gname, sname string, cutoff int64) (int, error) {
	const batch = 10000
	id := []byte(streamID(gname, sname))
	limit := Pos{Time: cutoff}.key()
	total := 0
	for {
		s.flushMu.Lock()
		var n int
		var bytesGone int64
		var first Pos
		var remaining bool
		err := s.db.Update(func(tx *bolt.Tx) error {
			b := tx.Bucket(bucketEvents).Bucket(id)
			if b == nil {
				return nil
			}
			var keys [][]byte
			c := b.Cursor()
			k, v := c.First()
			for ; k != nil && bytes.Compare(k, limit) < 0 && len(keys) < batch; k, v = c.Next() {
				keys = append(keys, bytes.Clone(k))
				bytesGone += int64(len(v) - 8)
			}
			for _, k := range keys {
				if err := b.Delete(k); err != nil {
					return err
				}
			}
			n = len(keys)
			if k, _ := b.Cursor().First(); k != nil {
				first, remaining = posFromKey(k), true
			}
			return nil
		})
		if err == nil && n > 0 {
			s.mu.Lock()
			if g := s.groups[gname]; g != nil {
				if st := g.streams[sname]; st != nil {
					st.Count -= int64(n)
					st.Bytes -= bytesGone
					switch {
					case st.Count <= 0:
						st.Count, st.Bytes, st.First, st.Last = 0, 0, 0, 0
					case remaining:
						st.First = first.Time
					default:
						// Only events still waiting to be committed remain.
						for i, e := range s.pending[string(id)] {
							if i == 0 || e.pos.Time < st.First {
								st.First = e.pos.Time
							}
						}
					}
					st.dirty = true
				}
			}
			s.mu.Unlock()
			err = s.flushLocked()
		}
		s.flushMu.Unlock()
		total += n
		if err != nil {
			return total, fmt.Errorf("expire log stream %q: %w", sname, err)
		}
		if n < batch {
			return total, nil
		}
	}
}
