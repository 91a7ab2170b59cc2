package cloudfront

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/sluicehq/sluice"
)

// AutoInvalidateConsumer is the outbox consumer name of RunAutoInvalidate.
const AutoInvalidateConsumer = "cdn-invalidate"

// BuiltinName is the built-in function whose body is InvalidateBuiltin.
const BuiltinName = "sluice-cdn-invalidate"

// s3Origin is an S3 origin as automatic invalidation matches events to it.
type s3Origin struct {
	distID string
	bucket string
	prefix string // OriginPath without the leading '/', plus '/'; "" for none
}

// s3Origins returns the S3 origins of the distributions keep selects.
func (s *Service) s3Origins(keep func(*sluice.Distribution) bool) []s3Origin {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []s3Origin
	for _, rec := range s.sortedDists() {
		if !keep(&rec.Dist) {
			continue
		}
		for _, o := range rec.Dist.Config.Origins {
			if o.S3 == nil {
				continue
			}
			b, ok := BucketOfDomain(o.DomainName)
			if !ok {
				continue
			}
			prefix := ""
			if o.OriginPath != "" {
				prefix = strings.TrimPrefix(o.OriginPath, "/") + "/"
			}
			out = append(out, s3Origin{distID: rec.Dist.ID, bucket: b, prefix: prefix})
		}
	}
	return out
}

// viewerPath is the path viewers request key at through an origin with
// prefix, or false when key is not under the origin path.
func viewerPath(key, prefix string) (string, bool) {
	rest, ok := strings.CutPrefix(key, prefix)
	if !ok || rest == "" {
		return "", false
	}
	return "/" + escapePath(rest), true
}

// escapePath percent-encodes a key for an invalidation path, as CloudFront
// asks for unsafe characters: RFC 3986 unreserved characters and '/' stay,
// everything else (including '*', which would otherwise be a wildcard, '?'
// and '%') becomes %XX.
func escapePath(key string) string {
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(key))
	for i := 0; i < len(key); i++ {
		c := key[i]
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' ||
			c == '-' || c == '.' || c == '_' || c == '~' || c == '/' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&15])
	}
	return b.String()
}

// pathSet collects the paths of one distribution in first-seen order.
type pathSet struct {
	paths []string
	seen  map[string]bool
}

func (p *pathSet) add(path string) {
	if p.seen == nil {
		p.seen = map[string]bool{}
	}
	if !p.seen[path] {
		p.seen[path] = true
		p.paths = append(p.paths, path)
	}
}

// collapse replaces the paths of every directory holding more than
// threshold of them with one "dir/*" wildcard, largest directories first
// and at most maxInProgressWildcards of them. A wildcard invalidates more
// than was changed, never less, and counts as one path.
func collapse(paths []string, threshold int) []string {
	if threshold <= 0 || len(paths) <= threshold {
		return paths
	}
	byDir := map[string]int{}
	for _, p := range paths {
		if !isWildcard(p) {
			byDir[p[:strings.LastIndexByte(p, '/')+1]]++
		}
	}
	var dirs []string
	for d, n := range byDir {
		if n > threshold {
			dirs = append(dirs, d)
		}
	}
	if len(dirs) == 0 {
		return paths
	}
	slices.SortFunc(dirs, func(a, b string) int {
		if c := cmp.Compare(byDir[b], byDir[a]); c != 0 {
			return c
		}
		return cmp.Compare(a, b)
	})
	dirs = dirs[:min(len(dirs), maxInProgressWildcards)]
	out := make([]string, 0, len(paths))
	added := map[string]bool{}
	for _, p := range paths {
		d := p[:strings.LastIndexByte(p, '/')+1]
		if !isWildcard(p) && slices.Contains(dirs, d) {
			if !added[d] {
				added[d] = true
				out = append(out, d+"*")
			}
			continue
		}
		out = append(out, p)
	}
	return out
}

// RunAutoInvalidate consumes the store's outbox as "cdn-invalidate" until
// ctx ends (then it returns nil). For every object created or removed in a
// bucket that is the S3 origin of a distribution with AutoInvalidate, it
// invalidates the object's viewer path. Changes that arrive close together
// (see gather: no gap longer than Config.AutoQuiet, at most
// Config.AutoWindow, Config.AutoMaxPaths) become one invalidation per
// distribution, recorded like an API invalidation
// with CallerReference "sluice-auto-<firstSeq>-<lastSeq>". The outbox is
// acknowledged only after the edge has applied every invalidation of a
// window; failures are retried with backoff, so no event is lost, and a
// window replayed after a crash is invalidated again (at least once).
func (s *Service) RunAutoInvalidate(ctx context.Context, outbox sluice.EventLog) error {
	cursor, err := outbox.Cursor(ctx, AutoInvalidateConsumer)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("cloudfront: read outbox cursor: %w", err)
	}
	for {
		evs, err := outbox.ReadEvents(ctx, cursor, s.cfg.AutoMaxPaths)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			s.log.Error("cloudfront: read outbox", "err", err)
			if !sleepCtx(ctx, time.Second) {
				return nil
			}
			continue
		}
		if len(evs) == 0 {
			continue
		}
		evs = s.gather(ctx, outbox, evs)
		if ctx.Err() != nil {
			return nil
		}
		if !s.applyWindow(ctx, evs) {
			return nil
		}
		last := evs[len(evs)-1].Seq
		delay := 50 * time.Millisecond
		// The acknowledgement must land even while shutting down: the
		// invalidations it stands for are done.
		for {
			err := outbox.AckEvents(context.WithoutCancel(ctx), AutoInvalidateConsumer, last)
			if err == nil {
				break
			}
			s.log.Error("cloudfront: acknowledge outbox", "seq", last, "err", err)
			if !sleepCtx(ctx, delay) {
				return nil
			}
			delay = min(2*delay, s.cfg.RetryMax)
		}
		cursor = last
	}
}

// gather extends a window of events while more keep coming: it ends when
// no event arrived for AutoQuiet, when AutoWindow has passed since the
// first, or when AutoMaxPaths events were read. A single overwrite is thus
// invalidated AutoQuiet after it, and a burst becomes one invalidation per
// AutoWindow at most.
func (s *Service) gather(ctx context.Context, outbox sluice.EventLog, evs []sluice.Event) []sluice.Event {
	wctx, cancel := context.WithTimeout(ctx, s.cfg.AutoWindow)
	defer cancel()
	for len(evs) < s.cfg.AutoMaxPaths {
		qctx, qcancel := context.WithTimeout(wctx, s.cfg.AutoQuiet)
		more, err := outbox.ReadEvents(qctx, evs[len(evs)-1].Seq, s.cfg.AutoMaxPaths-len(evs))
		qcancel()
		if err != nil || len(more) == 0 {
			break
		}
		evs = append(evs, more...)
	}
	return evs
}

// applyWindow invalidates what a window of events changed, retrying until
// it succeeds; it returns false when ctx ended first.
func (s *Service) applyWindow(ctx context.Context, evs []sluice.Event) bool {
	origins := s.s3Origins(func(d *sluice.Distribution) bool { return d.AutoInvalidate })
	if len(origins) == 0 {
		return true
	}
	sets := map[string]*pathSet{}
	var order []string
	for _, ev := range evs {
		if !strings.HasPrefix(ev.Name, "ObjectCreated:") && !strings.HasPrefix(ev.Name, "ObjectRemoved:") {
			continue
		}
		for _, o := range origins {
			if o.bucket != ev.Bucket {
				continue
			}
			p, ok := viewerPath(ev.Key, o.prefix)
			if !ok {
				continue
			}
			set := sets[o.distID]
			if set == nil {
				set = &pathSet{}
				sets[o.distID] = set
				order = append(order, o.distID)
			}
			set.add(p)
		}
	}
	ref := "sluice-auto-" + strconv.FormatUint(evs[0].Seq, 10) + "-" + strconv.FormatUint(evs[len(evs)-1].Seq, 10)
	for _, id := range order {
		paths := collapse(sets[id].paths, s.cfg.CollapseThreshold)
		if !s.invalidateRetrying(ctx, id, ref, paths) {
			return false
		}
	}
	return true
}

// invalidateRetrying records and runs one invalidation, retrying with
// backoff until it succeeds, the distribution is gone, or ctx ends (false).
func (s *Service) invalidateRetrying(ctx context.Context, distID, ref string, paths []string) bool {
	delay := 50 * time.Millisecond
	for {
		_, _, err := s.createInvalidation(ctx, distID, ref, paths, false)
		switch {
		case err == nil:
			return true
		case sluice.IsCode(err, errNoSuchDistribution):
			return true // deleted meanwhile: nothing is cached any more
		case sluice.IsCode(err, sluice.ErrInvalidArgument), sluice.IsCode(err, errBatchTooLarge):
			// Permanent: retrying would block the outbox for ever.
			s.log.Error("cloudfront: automatic invalidation refused; skipped", "distribution", distID, "ref", ref, "err", err)
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		s.log.Warn("cloudfront: automatic invalidation failed; retrying", "distribution", distID, "ref", ref, "err", err, "delay", delay)
		if !sleepCtx(ctx, delay) {
			return false
		}
		delay = min(2*delay, s.cfg.RetryMax)
	}
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// BuiltinResult is what InvalidateBuiltin returns.
type BuiltinResult struct {
	Invalidations []BuiltinInvalidation `json:"invalidations"`
}

// BuiltinInvalidation is one invalidation InvalidateBuiltin made.
type BuiltinInvalidation struct {
	DistributionID string `json:"distributionId"`
	ID             string `json:"id"`
	Paths          int    `json:"paths"`
}

// InvalidateBuiltin is the body of the built-in function
// sluice-cdn-invalidate, the familiar recipe: triggered by S3 object
// events, it invalidates each changed object's path in the distribution
// named by the DistributionId (or DISTRIBUTION_ID) environment variable,
// or when neither is set in every distribution whose S3 origin is the
// record's bucket. Keys are decoded as S3 event keys are ('+' is a space).
// It makes one invalidation per distribution with a CallerReference derived
// from the records, so a retried invocation does not invalidate twice.
func (s *Service) InvalidateBuiltin(ctx context.Context, payload []byte, env map[string]string) ([]byte, error) {
	var ev events.S3Event
	if err := json.Unmarshal(payload, &ev); err != nil {
		return nil, fmt.Errorf("decode S3 event: %w", err)
	}
	target := env["DistributionId"]
	if target == "" {
		target = env["DISTRIBUTION_ID"]
	}
	var origins []s3Origin
	if target != "" {
		origins = s.s3Origins(func(d *sluice.Distribution) bool { return d.ID == target })
		s.mu.Lock()
		_, ok := s.dists[target]
		s.mu.Unlock()
		if !ok {
			return nil, noSuchDistribution(target)
		}
	} else {
		origins = s.s3Origins(func(*sluice.Distribution) bool { return true })
	}
	sets := map[string]*pathSet{}
	var order []string
	add := func(id, p string) {
		set := sets[id]
		if set == nil {
			set = &pathSet{}
			sets[id] = set
			order = append(order, id)
		}
		set.add(p)
	}
	h := sha256.New()
	for i, rec := range ev.Records {
		bucket := rec.S3.Bucket.Name
		if bucket == "" || rec.S3.Object.Key == "" {
			return nil, fmt.Errorf("record %d: no s3.bucket.name or s3.object.key", i)
		}
		key, err := url.QueryUnescape(rec.S3.Object.Key)
		if err != nil {
			return nil, fmt.Errorf("record %d: object key %q: %w", i, rec.S3.Object.Key, err)
		}
		fmt.Fprintf(h, "%s\x00%s\x00%s\x00%s\x00%s\n", rec.EventName, bucket, key, rec.S3.Object.Sequencer, rec.EventTime.UTC().Format(time.RFC3339Nano))
		matched := false
		for _, o := range origins {
			if o.bucket != bucket {
				continue
			}
			matched = true
			if p, ok := viewerPath(key, o.prefix); ok {
				add(o.distID, p)
			}
		}
		if !matched && target != "" {
			// The recipe's behaviour: the bucket is not an origin of the
			// distribution (it may sit behind another copy); invalidate
			// the key's path as it is.
			add(target, "/"+escapePath(key))
		}
	}
	ref := "sluice-fn-" + hex.EncodeToString(h.Sum(nil))[:40]
	res := BuiltinResult{Invalidations: []BuiltinInvalidation{}}
	var errs []error
	for _, id := range order {
		paths := collapse(sets[id].paths, s.cfg.CollapseThreshold)
		// An edge failure leaves the invalidation to background retries.
		inv, _, err := s.createInvalidation(ctx, id, ref, paths, true)
		if err != nil {
			errs = append(errs, fmt.Errorf("invalidate in %s: %w", id, err))
			continue
		}
		res.Invalidations = append(res.Invalidations, BuiltinInvalidation{DistributionID: id, ID: inv.ID, Paths: len(inv.Paths)})
	}
	if len(errs) > 0 {
		// A function error: Lambda's asynchronous retries run it again,
		// and the CallerReference makes the finished ones no-ops.
		return nil, errors.Join(errs...)
	}
	return json.Marshal(res)
}
