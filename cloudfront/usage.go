package cloudfront

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	bolt "go.etcd.io/bbolt"
)

// FreePathsPerMonth is how many invalidation paths CloudFront includes each
// month before it charges per path.
const FreePathsPerMonth = 1000

// MonthUsage is the number of invalidation paths submitted in one calendar
// month (UTC), in total and by distribution. A wildcard path counts as one,
// as CloudFront bills; a repeated request with the same CallerReference
// counts once.
type MonthUsage struct {
	Month         string            `json:"month"` // YYYY-MM
	Paths         uint64            `json:"paths"`
	Distributions map[string]uint64 `json:"distributions"`
}

// Usage returns the invalidation paths per month, oldest month first.
// Months of deleted distributions keep their counts.
func (s *Service) Usage(ctx context.Context) ([]MonthUsage, error) {
	var out []MonthUsage
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bktUsage).ForEach(func(k, v []byte) error {
			month, dist, ok := strings.Cut(string(k), "/")
			if !ok {
				return nil
			}
			if len(out) == 0 || out[len(out)-1].Month != month {
				out = append(out, MonthUsage{Month: month, Distributions: map[string]uint64{}})
			}
			m := &out[len(out)-1]
			n := uint64Of(v)
			m.Distributions[dist] += n
			m.Paths += n
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("read invalidation usage: %w", err)
	}
	return out, nil
}

// UsageReport is the document UsageHandler serves.
type UsageReport struct {
	FreePathsPerMonth int          `json:"freePathsPerMonth"`
	Months            []MonthUsage `json:"months"`
}

// UsageHandler serves Usage as JSON (the lead mounts it at
// /_sluice/cdn/usage).
func (s *Service) UsageHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		months, err := s.Usage(r.Context())
		if err != nil {
			s.log.Error("cloudfront: usage", "err", err)
			http.Error(w, "internal error", http.StatusInternalServerError)
			return
		}
		if months == nil {
			months = []MonthUsage{}
		}
		body, err := json.Marshal(UsageReport{FreePathsPerMonth: FreePathsPerMonth, Months: months})
		if err != nil {
			http.Error(w, "internal error", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(append(body, '\n'))
	})
}
