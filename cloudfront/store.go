package cloudfront

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/sluicehq/sluice"
)

// Layout of cloudfront.db.
var (
	bktDists      = []byte("distributions") // id -> distRecord JSON
	bktCallerRefs = []byte("caller-refs")   // distribution CallerReference -> id
	bktInvs       = []byte("invalidations") // distribution id -> bucket (below)
	bktUsage      = []byte("usage")         // "YYYY-MM/" + distribution id -> uint64
	bktOACs       = []byte("origin-access-controls")
	bktOAIs       = []byte("origin-access-identities")
	bktOAIRefs    = []byte("oai-caller-refs")

	// Inside each distribution's invalidations bucket.
	subBySeq = []byte("seq") // 8-byte seq -> sluice.Invalidation JSON
	subByID  = []byte("id")  // invalidation id -> 8-byte seq
	subByRef = []byte("ref") // CallerReference -> invalidation id
)

func seqKey(seq uint64) []byte { return binary.BigEndian.AppendUint64(nil, seq) }

// load reads cloudfront.db into memory and returns the invalidations left
// InProgress by a crash.
func (s *Service) load() ([]sluice.Invalidation, error) {
	var pending []sluice.Invalidation
	err := s.db.Update(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{bktDists, bktCallerRefs, bktInvs, bktUsage, bktOACs, bktOAIs, bktOAIRefs} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		if err := tx.Bucket(bktDists).ForEach(func(k, v []byte) error {
			rec := &distRecord{}
			if err := json.Unmarshal(v, rec); err != nil {
				return fmt.Errorf("decode distribution %s: %w", k, err)
			}
			s.dists[rec.Dist.ID] = rec
			for _, a := range rec.Dist.Config.Aliases {
				s.aliases[strings.ToLower(a)] = rec.Dist.ID
			}
			return nil
		}); err != nil {
			return err
		}
		if err := tx.Bucket(bktOACs).ForEach(func(k, v []byte) error {
			rec := &oacRecord{}
			if err := json.Unmarshal(v, rec); err != nil {
				return fmt.Errorf("decode origin access control %s: %w", k, err)
			}
			s.oacs[rec.ID] = rec
			return nil
		}); err != nil {
			return err
		}
		if err := tx.Bucket(bktOAIs).ForEach(func(k, v []byte) error {
			rec := &oaiRecord{}
			if err := json.Unmarshal(v, rec); err != nil {
				return fmt.Errorf("decode origin access identity %s: %w", k, err)
			}
			s.oais[rec.ID] = rec
			return nil
		}); err != nil {
			return err
		}
		return tx.Bucket(bktInvs).ForEach(func(k, _ []byte) error {
			b := tx.Bucket(bktInvs).Bucket(k)
			if b == nil {
				return nil
			}
			return b.Bucket(subBySeq).ForEach(func(_, v []byte) error {
				var inv sluice.Invalidation
				if err := json.Unmarshal(v, &inv); err != nil {
					return fmt.Errorf("decode invalidation of %s: %w", k, err)
				}
				if inv.Status == sluice.InvalidationInProgress {
					pending = append(pending, inv)
				}
				return nil
			})
		})
	})
	if err != nil {
		return nil, fmt.Errorf("cloudfront: load cloudfront.db: %w", err)
	}
	return pending, nil
}

func putJSON(b *bolt.Bucket, key []byte, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return b.Put(key, data)
}

// invBuckets returns the invalidation sub-buckets of a distribution,
// creating them when create is set (nil, nil, nil when absent).
func invBuckets(tx *bolt.Tx, distID string, create bool) (bySeq, byID, byRef *bolt.Bucket, err error) {
	root := tx.Bucket(bktInvs)
	b := root.Bucket([]byte(distID))
	if b == nil {
		if !create {
			return nil, nil, nil, nil
		}
		if b, err = root.CreateBucket([]byte(distID)); err != nil {
			return nil, nil, nil, err
		}
		for _, n := range [][]byte{subBySeq, subByID, subByRef} {
			if _, err := b.CreateBucket(n); err != nil {
				return nil, nil, nil, err
			}
		}
	}
	return b.Bucket(subBySeq), b.Bucket(subByID), b.Bucket(subByRef), nil
}

// getInvalidation reads one invalidation; ok is false when it does not exist.
func getInvalidation(tx *bolt.Tx, distID, id string) (inv sluice.Invalidation, seq []byte, ok bool, err error) {
	bySeq, byID, _, err := invBuckets(tx, distID, false)
	if err != nil || bySeq == nil {
		return inv, nil, false, err
	}
	seq = byID.Get([]byte(id))
	if seq == nil {
		return inv, nil, false, nil
	}
	v := bySeq.Get(seq)
	if v == nil {
		return inv, nil, false, nil
	}
	if err := json.Unmarshal(v, &inv); err != nil {
		return inv, nil, false, fmt.Errorf("decode invalidation %s: %w", id, err)
	}
	return inv, append([]byte(nil), seq...), true, nil
}

// usageKey is the key of a month's count for a distribution.
func usageKey(t time.Time, distID string) []byte {
	return []byte(t.UTC().Format("2006-01") + "/" + distID)
}

func addUsage(tx *bolt.Tx, t time.Time, distID string, n int) error {
	b := tx.Bucket(bktUsage)
	k := usageKey(t, distID)
	var cur uint64
	if v := b.Get(k); len(v) == 8 {
		cur = binary.BigEndian.Uint64(v)
	}
	return b.Put(k, binary.BigEndian.AppendUint64(nil, cur+uint64(n)))
}

// uint64Of decodes a stored counter.
func uint64Of(v []byte) uint64 {
	if len(v) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(v)
}
