package cloudfront

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	bolt "go.etcd.io/bbolt"

	"github.com/sluicehq/sluice"
)

// refsFor returns the cross-resource checks for a config of distribution
// self ("" when creating). Callers hold mu.
func (s *Service) refsFor(ctx context.Context, self string) refs {
	r := refs{
		hasOAC:   func(id string) bool { _, ok := s.oacs[id]; return ok },
		hasOAI:   func(id string) bool { _, ok := s.oais[id]; return ok },
		aliasOwn: func(a string) string { return s.aliases[a] },
		self:     self,
	}
	if s.fns != nil {
		r.checkFn = func(arn string) error { return s.fns.CheckFunctionVersion(ctx, arn) }
	}
	return r
}

// createDistribution stores a new distribution and pushes it to the edge.
// created is false when CallerReference named an existing distribution
// with the same config, which is returned as CloudFront does.
func (s *Service) createDistribution(ctx context.Context, doc *node, tags []sluice.Tag) (rec *distRecord, created bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	// A repeated request (same CallerReference, same document) gets the
	// distribution it created, before anything else is checked: its
	// aliases now belong to that distribution.
	if id := s.callerRefOwner(doc); id != "" {
		ex := s.dists[id]
		if ex.Config.equal(doc) {
			return ex, false, nil
		}
		return nil, false, sluice.Errorf(errDistributionAlreadyExists,
			"The caller reference you attempted to create the distribution with is associated with another distribution (%s).", id)
	}
	cfg, perr := parseDistributionConfig(doc, s.refsFor(ctx, ""))
	if perr != nil {
		return nil, false, perr
	}
	now := time.Now().UTC().Truncate(time.Millisecond)
	id := newID("E")
	for s.dists[id] != nil {
		id = newID("E")
	}
	rec = &distRecord{
		Dist: sluice.Distribution{
			ID:             id,
			ARN:            distributionARN(id),
			DomainName:     domainOf(id),
			Status:         sluice.DistributionDeployed,
			LastModified:   now,
			ETag:           newETag(),
			Config:         cfg,
			Tags:           tags,
			AutoInvalidate: autoInvalidate(tags),
		},
		Config:  doc,
		Created: now,
	}
	err = s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bktDists)
		seq, err := b.NextSequence()
		if err != nil {
			return err
		}
		rec.Seq = seq
		if err := putJSON(b, []byte(id), rec); err != nil {
			return err
		}
		return tx.Bucket(bktCallerRefs).Put([]byte(cfg.CallerReference), []byte(id))
	})
	if err != nil {
		return nil, false, fmt.Errorf("store distribution: %w", err)
	}
	if err := s.edge.PutDistribution(rec.Dist); err != nil {
		s.log.Error("cloudfront: the edge refused a new distribution; removing it", "distribution", id, "err", err)
		if derr := s.db.Update(func(tx *bolt.Tx) error {
			if err := tx.Bucket(bktDists).Delete([]byte(id)); err != nil {
				return err
			}
			return tx.Bucket(bktCallerRefs).Delete([]byte(cfg.CallerReference))
		}); derr != nil {
			s.log.Error("cloudfront: remove refused distribution", "distribution", id, "err", derr)
		}
		return nil, false, edgeError(err)
	}
	s.dists[id] = rec
	for _, a := range cfg.Aliases {
		s.aliases[strings.ToLower(a)] = id
	}
	return rec, true, nil
}

// edgeError keeps an edge's domain error (it says what is wrong with the
// config) and hides anything else.
func edgeError(err error) error {
	if e, ok := err.(*sluice.Error); ok {
		if _, known := statusByCode[e.Code]; known {
			return e
		}
	}
	return fmt.Errorf("push distribution to the edge: %w", err)
}

// callerRefOwner returns the id of the distribution created with doc's
// CallerReference, or "". Callers hold mu.
func (s *Service) callerRefOwner(doc *node) string {
	ref := doc.text("CallerReference")
	if ref == "" {
		return ""
	}
	var id string
	s.db.View(func(tx *bolt.Tx) error {
		id = string(tx.Bucket(bktCallerRefs).Get([]byte(ref)))
		return nil
	})
	if s.dists[id] == nil {
		return ""
	}
	return id
}

// getDistribution returns a copy of a distribution's record.
func (s *Service) getDistribution(id string) (*distRecord, int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, ok := s.dists[id]
	if !ok {
		return nil, 0, noSuchDistribution(id)
	}
	c := *rec
	return &c, s.inProgressBatches(id), nil
}

func noSuchDistribution(id string) *sluice.Error {
	return sluice.Errorf(errNoSuchDistribution, "The specified distribution does not exist: %s.", id)
}

// checkIfMatch applies CloudFront's If-Match rules.
func checkIfMatch(ifMatch, etag string) error {
	if ifMatch == "" {
		return sluice.Errorf(errInvalidIfMatchVersion, "The If-Match version is missing or not valid for the resource.")
	}
	if strings.Trim(ifMatch, `"`) != etag {
		return sluice.Errorf(sluice.ErrPreconditionFailed, "The request failed because it didn't meet the preconditions in one or more request-header fields.")
	}
	return nil
}

// updateDistribution replaces a distribution's config.
func (s *Service) updateDistribution(ctx context.Context, id, ifMatch string, doc *node) (*distRecord, int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	old, ok := s.dists[id]
	if !ok {
		return nil, 0, noSuchDistribution(id)
	}
	if err := checkIfMatch(ifMatch, old.Dist.ETag); err != nil {
		return nil, 0, err
	}
	cfg, perr := parseDistributionConfig(doc, s.refsFor(ctx, id))
	if perr != nil {
		return nil, 0, perr
	}
	if cfg.CallerReference != old.Dist.Config.CallerReference {
		return nil, 0, sluice.Errorf(errIllegalUpdate, "The CallerReference of a distribution cannot be changed (it is %q).", old.Dist.Config.CallerReference)
	}
	rec := &distRecord{Dist: old.Dist, Config: doc, Created: old.Created, Seq: old.Seq}
	rec.Dist.Config = cfg
	rec.Dist.ETag = newETag()
	rec.Dist.LastModified = time.Now().UTC().Truncate(time.Millisecond)
	if err := s.db.Update(func(tx *bolt.Tx) error { return putJSON(tx.Bucket(bktDists), []byte(id), rec) }); err != nil {
		return nil, 0, fmt.Errorf("store distribution: %w", err)
	}
	if err := s.edge.PutDistribution(rec.Dist); err != nil {
		s.log.Error("cloudfront: the edge refused an update; restoring the previous config", "distribution", id, "err", err)
		if derr := s.db.Update(func(tx *bolt.Tx) error { return putJSON(tx.Bucket(bktDists), []byte(id), old) }); derr != nil {
			s.log.Error("cloudfront: restore distribution", "distribution", id, "err", derr)
		}
		return nil, 0, edgeError(err)
	}
	for _, a := range old.Dist.Config.Aliases {
		delete(s.aliases, strings.ToLower(a))
	}
	for _, a := range cfg.Aliases {
		s.aliases[strings.ToLower(a)] = id
	}
	s.dists[id] = rec
	c := *rec
	return &c, s.inProgressBatches(id), nil
}

// deleteDistribution removes a disabled distribution and its invalidations.
func (s *Service) deleteDistribution(id, ifMatch string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, ok := s.dists[id]
	if !ok {
		return noSuchDistribution(id)
	}
	if err := checkIfMatch(ifMatch, rec.Dist.ETag); err != nil {
		return err
	}
	if rec.Dist.Config.Enabled {
		return sluice.Errorf(errDistributionNotDisabled, "The distribution you are trying to delete has not been disabled.")
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		if err := tx.Bucket(bktDists).Delete([]byte(id)); err != nil {
			return err
		}
		refs := tx.Bucket(bktCallerRefs)
		if string(refs.Get([]byte(rec.Dist.Config.CallerReference))) == id {
			if err := refs.Delete([]byte(rec.Dist.Config.CallerReference)); err != nil {
				return err
			}
		}
		if tx.Bucket(bktInvs).Bucket([]byte(id)) != nil {
			return tx.Bucket(bktInvs).DeleteBucket([]byte(id))
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("delete distribution: %w", err)
	}
	delete(s.dists, id)
	delete(s.progress, id)
	for _, a := range rec.Dist.Config.Aliases {
		if s.aliases[strings.ToLower(a)] == id {
			delete(s.aliases, strings.ToLower(a))
		}
	}
	s.edge.RemoveDistribution(id)
	return nil
}

// listDistributions returns up to max distributions after the one marker
// names, in id order; more is set when others follow.
func (s *Service) listDistributions(marker string, max int) (out []*distRecord, inProgress []int, more bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ids := make([]string, 0, len(s.dists))
	for id := range s.dists {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	start, _ := slices.BinarySearch(ids, marker)
	if start < len(ids) && ids[start] == marker {
		start++
	}
	for _, id := range ids[start:] {
		if len(out) == max {
			return out, inProgress, true
		}
		c := *s.dists[id]
		out = append(out, &c)
		inProgress = append(inProgress, s.inProgressBatches(id))
	}
	return out, inProgress, false
}

// Tag limits, as CloudFront's.
const (
	maxTags           = 50
	maxTagKeyLength   = 128
	maxTagValueLength = 256
)

var tagCharsRE = regexp.MustCompile(`^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$`)

func validateTags(tags []sluice.Tag) error {
	seen := map[string]bool{}
	for _, t := range tags {
		switch {
		case t.Key == "" || utf8.RuneCountInString(t.Key) > maxTagKeyLength:
			return sluice.Errorf(errInvalidTagging, "Tag keys must be 1 to %d characters long.", maxTagKeyLength)
		case utf8.RuneCountInString(t.Value) > maxTagValueLength:
			return sluice.Errorf(errInvalidTagging, "Tag values must be at most %d characters long.", maxTagValueLength)
		case !tagCharsRE.MatchString(t.Key) || !tagCharsRE.MatchString(t.Value):
			return sluice.Errorf(errInvalidTagging, "The tag %q contains characters other than letters, digits, spaces and _ . : / = + - @.", t.Key)
		case strings.HasPrefix(strings.ToLower(t.Key), "aws:"):
			return sluice.Errorf(errInvalidTagging, "Tag keys starting with aws: are reserved.")
		case seen[t.Key]:
			return sluice.Errorf(errInvalidTagging, "The tag key %q appears more than once.", t.Key)
		}
		seen[t.Key] = true
	}
	return nil
}

// distributionOfARN returns the id of the distribution an ARN names.
func (s *Service) distributionOfARN(arn string) (string, error) {
	id, ok := strings.CutPrefix(arn, "arn:aws:cloudfront::"+sluice.AccountID+":distribution/")
	if !ok || id == "" {
		if arn == "" {
			return "", sluice.Errorf(sluice.ErrInvalidArgument, "The Resource parameter is required.")
		}
		return "", sluice.Errorf(sluice.ErrInvalidArgument, "The resource %q is not a distribution ARN (arn:aws:cloudfront::%s:distribution/ID).", arn, sluice.AccountID)
	}
	if _, ok := s.dists[id]; !ok {
		return "", sluice.Errorf(errNoSuchResource, "The specified resource does not exist: %s.", arn)
	}
	return id, nil
}

// changeTags adds (or replaces) set and removes remove on a distribution.
func (s *Service) changeTags(arn string, set []sluice.Tag, remove []string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	id, err := s.distributionOfARN(arn)
	if err != nil {
		return err
	}
	if err := validateTags(set); err != nil {
		return err
	}
	old := s.dists[id]
	var tags []sluice.Tag
	for _, t := range old.Dist.Tags {
		if slices.Contains(remove, t.Key) || slices.ContainsFunc(set, func(n sluice.Tag) bool { return n.Key == t.Key }) {
			continue
		}
		tags = append(tags, t)
	}
	tags = append(tags, set...)
	if len(tags) > maxTags {
		return sluice.Errorf(errInvalidTagging, "A distribution can have at most %d tags.", maxTags)
	}
	rec := *old
	rec.Dist.Tags = tags
	rec.Dist.AutoInvalidate = autoInvalidate(tags)
	if err := s.db.Update(func(tx *bolt.Tx) error { return putJSON(tx.Bucket(bktDists), []byte(id), &rec) }); err != nil {
		return fmt.Errorf("store tags: %w", err)
	}
	s.dists[id] = &rec
	if err := s.edge.PutDistribution(rec.Dist); err != nil {
		s.log.Error("cloudfront: push retagged distribution to the edge", "distribution", id, "err", err)
	}
	return nil
}

func (s *Service) listTags(arn string) ([]sluice.Tag, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id, err := s.distributionOfARN(arn)
	if err != nil {
		return nil, err
	}
	return slices.Clone(s.dists[id].Dist.Tags), nil
}
