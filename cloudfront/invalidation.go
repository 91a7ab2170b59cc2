package cloudfront

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	bolt "go.etcd.io/bbolt"

	"github.com/sluicehq/sluice"
)

// CloudFront's invalidation limits: at most 3,000 individual paths and 15
// wildcard paths in progress per distribution at a time (the two are
// counted separately), and 4,000 characters per path.
const (
	maxInProgressFiles     = 3000
	maxInProgressWildcards = 15
	maxPathLength          = 4000
)

// callerRefReused is CloudFront's answer to a CallerReference reused with
// other paths (code InvalidArgument, status 400).
const callerRefReused = "Your request contains a caller reference that was used for a previous invalidation batch for the same distribution."

// inProgress counts the paths of a distribution's running invalidations.
type inProgress struct {
	batches, files, wildcards int
}

// ValidateInvalidationPath reports why p is not a valid CloudFront
// invalidation path: it must start with '/', may hold '*' only as its last
// character, and must be at most 4,000 characters of valid UTF-8 without
// control characters.
func ValidateInvalidationPath(p string) error {
	switch {
	case p == "":
		return fmt.Errorf("empty path")
	case !strings.HasPrefix(p, "/"):
		return fmt.Errorf("path %q must begin with /", p)
	case len(p) > maxPathLength:
		return fmt.Errorf("path is longer than %d characters", maxPathLength)
	case !utf8.ValidString(p):
		return fmt.Errorf("path %q is not valid UTF-8", p)
	}
	if i := strings.IndexByte(p, '*'); i >= 0 && i != len(p)-1 {
		return fmt.Errorf("path %q has * before its end; a wildcard may only end a path", p)
	}
	for _, r := range p {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("path %q contains a control character", p)
		}
	}
	return nil
}

func isWildcard(p string) bool { return strings.HasSuffix(p, "*") }

// edgePath is the path handed to the edge: the query string, which
// CloudFront allows in a path, is dropped, so every cached variant of the
// path goes (a superset of what was asked, never less).
func edgePath(p string) string {
	if i := strings.IndexByte(p, '?'); i >= 0 && !isWildcard(p) {
		return p[:i]
	}
	return p
}

func countPaths(paths []string) (files, wildcards int) {
	for _, p := range paths {
		if isWildcard(p) {
			wildcards++
		} else {
			files++
		}
	}
	return files, wildcards
}

// reserve counts paths as in progress. Callers hold mu or own the Service.
func (s *Service) reserve(distID string, paths []string) {
	ip := s.progress[distID]
	if ip == nil {
		ip = &inProgress{}
		s.progress[distID] = ip
	}
	f, w := countPaths(paths)
	ip.batches++
	ip.files += f
	ip.wildcards += w
}

func (s *Service) release(distID string, paths []string) {
	ip := s.progress[distID]
	if ip == nil {
		return
	}
	f, w := countPaths(paths)
	ip.batches--
	ip.files -= f
	ip.wildcards -= w
	if ip.batches <= 0 {
		delete(s.progress, distID)
	}
}

func (s *Service) inProgressBatches(distID string) int {
	if ip := s.progress[distID]; ip != nil {
		return ip.batches
	}
	return 0
}

// validateBatch checks an invalidation batch's paths against CloudFront's
// rules.
func validateBatch(ref string, paths []string) *sluice.Error {
	if ref == "" {
		return sluice.Errorf(sluice.ErrInvalidArgument, "CallerReference must not be empty.")
	}
	if len(ref) > maxCallerReference {
		return sluice.Errorf(sluice.ErrInvalidArgument, "CallerReference is longer than %d characters.", maxCallerReference)
	}
	if len(paths) == 0 {
		return sluice.Errorf(sluice.ErrInvalidArgument, "Your request contains no invalidation paths.")
	}
	for _, p := range paths {
		if err := ValidateInvalidationPath(p); err != nil {
			return sluice.Errorf(sluice.ErrInvalidArgument, "Your request contains one or more invalid invalidation paths: %v.", err)
		}
	}
	f, w := countPaths(paths)
	if f > maxInProgressFiles {
		return sluice.Errorf(errBatchTooLarge, "Invalidation batch specified is too large: %d paths; at most %d files may be in progress per distribution.", f, maxInProgressFiles)
	}
	if w > maxInProgressWildcards {
		return sluice.Errorf(errTooManyInvalidationsInProgress, "Your request contains %d wildcard paths; at most %d may be in progress per distribution.", w, maxInProgressWildcards)
	}
	return nil
}

func samePaths(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// createInvalidation records an invalidation and runs it on the edge.
// created is false when CallerReference named an earlier batch with the
// same paths; that batch is returned (and finished if a crash interrupted
// it). When the edge fails, the invalidation stays InProgress and is
// retried in the background if background is set; otherwise the error is
// returned and the record stays InProgress for the caller to retry.
func (s *Service) createInvalidation(ctx context.Context, distID, ref string, paths []string, background bool) (inv sluice.Invalidation, created bool, err error) {
	if e := validateBatch(ref, paths); e != nil {
		return inv, false, e
	}
	s.mu.Lock()
	if _, ok := s.dists[distID]; !ok {
		s.mu.Unlock()
		return inv, false, sluice.Errorf(errNoSuchDistribution, "The specified distribution does not exist: %s.", distID)
	}
	var existing *sluice.Invalidation
	err = s.db.View(func(tx *bolt.Tx) error {
		_, _, byRef, err := invBuckets(tx, distID, false)
		if err != nil || byRef == nil {
			return err
		}
		id := byRef.Get([]byte(ref))
		if id == nil {
			return nil
		}
		got, _, ok, err := getInvalidation(tx, distID, string(id))
		if ok {
			existing = &got
		}
		return err
	})
	if err != nil {
		s.mu.Unlock()
		return inv, false, err
	}
	if existing != nil {
		s.mu.Unlock()
		if !samePaths(existing.Paths, paths) {
			return inv, false, sluice.Errorf(sluice.ErrInvalidArgument, callerRefReused)
		}
		if existing.Status == sluice.InvalidationCompleted {
			return *existing, false, nil
		}
		// A crash (or an edge failure) left it running: run it again.
		done, err := s.finish(ctx, *existing)
		return done, false, err
	}
	f, w := countPaths(paths)
	if ip := s.progress[distID]; ip != nil && (ip.files+f > maxInProgressFiles || ip.wildcards+w > maxInProgressWildcards) {
		s.mu.Unlock()
		return inv, false, sluice.Errorf(errTooManyInvalidationsInProgress,
			"You have exceeded the maximum number of allowable InProgress invalidation batch requests, or invalidation objects (%d files, %d wildcard paths).",
			maxInProgressFiles, maxInProgressWildcards)
	}
	inv = sluice.Invalidation{
		ID:              newID("I"),
		DistributionID:  distID,
		Status:          sluice.InvalidationInProgress,
		CreateTime:      time.Now().UTC().Truncate(time.Millisecond),
		CallerReference: ref,
		Paths:           slices.Clone(paths),
	}
	err = s.db.Update(func(tx *bolt.Tx) error {
		bySeq, byID, byRef, err := invBuckets(tx, distID, true)
		if err != nil {
			return err
		}
		seq, err := bySeq.NextSequence()
		if err != nil {
			return err
		}
		if err := putJSON(bySeq, seqKey(seq), inv); err != nil {
			return err
		}
		if err := byID.Put([]byte(inv.ID), seqKey(seq)); err != nil {
			return err
		}
		if err := byRef.Put([]byte(ref), []byte(inv.ID)); err != nil {
			return err
		}
		return addUsage(tx, inv.CreateTime, distID, len(paths))
	})
	if err != nil {
		s.mu.Unlock()
		return inv, false, fmt.Errorf("record invalidation: %w", err)
	}
	s.reserve(distID, paths)
	s.mu.Unlock()
	s.paths.WithLabelValues(distID).Add(float64(len(paths)))

	done, err := s.finish(ctx, inv)
	if err != nil && background {
		s.log.Warn("cloudfront: invalidation failed on the edge; retrying in the background",
			"distribution", distID, "invalidation", inv.ID, "err", err)
		s.bg.Add(1)
		go func() {
			defer s.bg.Done()
			s.finishWithRetry(s.ctx, inv)
		}()
		return inv, true, nil
	}
	return done, true, err
}

// finish runs a recorded invalidation on the edge and marks it Completed.
// The in-progress reservation is released only when it completes.
func (s *Service) finish(ctx context.Context, inv sluice.Invalidation) (sluice.Invalidation, error) {
	paths := make([]string, 0, len(inv.Paths))
	for _, p := range inv.Paths {
		paths = append(paths, edgePath(p))
	}
	paths = slices.Compact(paths)
	if _, err := s.edge.Invalidate(ctx, inv.DistributionID, paths); err != nil {
		return inv, fmt.Errorf("invalidate on the edge: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	completed := false
	err := s.db.Update(func(tx *bolt.Tx) error {
		cur, seq, ok, err := getInvalidation(tx, inv.DistributionID, inv.ID)
		if err != nil || !ok {
			return err // deleted with its distribution meanwhile
		}
		if cur.Status == sluice.InvalidationCompleted {
			inv = cur // another caller finished it first
			return nil
		}
		bySeq, _, _, err := invBuckets(tx, inv.DistributionID, false)
		if err != nil {
			return err
		}
		inv.Status = sluice.InvalidationCompleted
		completed = true
		return putJSON(bySeq, seq, inv)
	})
	if err != nil {
		return inv, fmt.Errorf("record completed invalidation: %w", err)
	}
	if completed {
		s.release(inv.DistributionID, inv.Paths)
	}
	inv.Status = sluice.InvalidationCompleted
	return inv, nil
}

// finishWithRetry retries finish with backoff until it succeeds, the
// distribution is gone or ctx ends.
func (s *Service) finishWithRetry(ctx context.Context, inv sluice.Invalidation) {
	delay := 50 * time.Millisecond
	for {
		s.mu.Lock()
		_, exists := s.dists[inv.DistributionID]
		s.mu.Unlock()
		if !exists {
			return
		}
		_, err := s.finish(ctx, inv)
		if err == nil {
			return
		}
		s.log.Warn("cloudfront: retry invalidation", "distribution", inv.DistributionID, "invalidation", inv.ID, "err", err, "delay", delay)
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		}
		delay = min(2*delay, s.cfg.RetryMax)
	}
}

// getInvalidationAPI returns one invalidation of a distribution.
func (s *Service) getInvalidationAPI(distID, id string) (sluice.Invalidation, error) {
	s.mu.Lock()
	_, ok := s.dists[distID]
	s.mu.Unlock()
	if !ok {
		return sluice.Invalidation{}, sluice.Errorf(errNoSuchDistribution, "The specified distribution does not exist: %s.", distID)
	}
	var inv sluice.Invalidation
	var found bool
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		inv, _, found, err = getInvalidation(tx, distID, id)
		return err
	})
	if err != nil {
		return inv, err
	}
	if !found {
		return inv, sluice.Errorf(errNoSuchInvalidation, "The specified invalidation does not exist: %s.", id)
	}
	return inv, nil
}

// listInvalidations returns up to max invalidations, newest first, after
// the invalidation marker names; more is set when others follow.
func (s *Service) listInvalidations(distID, marker string, max int) (out []sluice.Invalidation, more bool, err error) {
	s.mu.Lock()
	_, ok := s.dists[distID]
	s.mu.Unlock()
	if !ok {
		return nil, false, sluice.Errorf(errNoSuchDistribution, "The specified distribution does not exist: %s.", distID)
	}
	err = s.db.View(func(tx *bolt.Tx) error {
		bySeq, byID, _, err := invBuckets(tx, distID, false)
		if err != nil || bySeq == nil {
			return err
		}
		c := bySeq.Cursor()
		k, v := c.Last()
		if marker != "" {
			seq := byID.Get([]byte(marker))
			if seq == nil {
				return sluice.Errorf(sluice.ErrInvalidArgument, "The Marker %q does not name an invalidation of this distribution.", marker)
			}
			c.Seek(seq)
			k, v = c.Prev()
		}
		for ; k != nil; k, v = c.Prev() {
			if len(out) == max {
				more = true
				return nil
			}
			var inv sluice.Invalidation
			if err := json.Unmarshal(v, &inv); err != nil {
				return fmt.Errorf("decode invalidation: %w", err)
			}
			out = append(out, inv)
		}
		return nil
	})
	return out, more, err
}

// Invalidations returns every invalidation of a distribution, newest first.
func (s *Service) Invalidations(distID string) ([]sluice.Invalidation, error) {
	out, _, err := s.listInvalidations(distID, "", math.MaxInt)
	return out, err
}
