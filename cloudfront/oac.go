package cloudfront

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"slices"
	"strings"

	bolt "go.etcd.io/bbolt"

	"github.com/sluicehq/sluice"
)

// Origin access controls and identities are stored so that distribution
// configs can name them, as on CloudFront. The edge reads S3 origins
// in-process whatever they say; a bucket used as a private origin refuses
// anonymous reads on its own.

type oacRecord struct {
	ID     string `json:"id"`
	ETag   string `json:"etag"`
	Config *node  `json:"config"`
}

type oaiRecord struct {
	ID                string `json:"id"`
	ETag              string `json:"etag"`
	S3CanonicalUserID string `json:"s3CanonicalUserId"`
	Config            *node  `json:"config"`
}

var (
	oacSigningProtocols = []string{"sigv4"}
	oacSigningBehaviors = []string{"never", "always", "no-override"}
	oacOriginTypes      = []string{"s3", "mediastore", "mediapackagev2", "lambda"}
)

func validateOACConfig(n *node) error {
	p := &parser{}
	name := p.need(n, "Name").textOr("")
	proto := p.need(n, "SigningProtocol").textOr("")
	beh := p.need(n, "SigningBehavior").textOr("")
	typ := p.need(n, "OriginAccessControlOriginType").textOr("")
	switch {
	case p.err != nil:
		return p.err
	case name == "" || len(name) > 64:
		return sluice.Errorf(sluice.ErrInvalidArgument, "The origin access control name must be 1 to 64 characters long.")
	case len(n.text("Description")) > 256:
		return sluice.Errorf(sluice.ErrInvalidArgument, "The origin access control description is longer than 256 characters.")
	case !slices.Contains(oacSigningProtocols, proto):
		return sluice.Errorf(sluice.ErrInvalidArgument, "SigningProtocol %q is not valid; use sigv4.", proto)
	case !slices.Contains(oacSigningBehaviors, beh):
		return sluice.Errorf(sluice.ErrInvalidArgument, "SigningBehavior %q is not valid; use never, always or no-override.", beh)
	case !slices.Contains(oacOriginTypes, typ):
		return sluice.Errorf(sluice.ErrInvalidArgument, "OriginAccessControlOriginType %q is not valid; use one of %s.", typ, strings.Join(oacOriginTypes, ", "))
	}
	return nil
}

// accessAPI is the REST surface origin access controls and origin access
// identities share: create, list, get (whole or config), update with
// If-Match, delete with If-Match. R is the kind's stored record.
type accessAPI[R any] struct {
	configElem string // root element of the config document
	location   string // Location path prefix of a created resource
	create     func(doc *node) (R, error)
	update     func(id, ifMatch string, doc *node) (R, error)
	remove     func(id, ifMatch string) error
	lookup     func(id string) (R, bool)
	notFound   func(id string) error
	list       func(w http.ResponseWriter, r *http.Request) error
	// whole renders the resource; meta names its id, ETag and config.
	whole func(R) *node
	meta  func(R) (id, etag string, config *node)
}

func (a accessAPI[R]) route(w http.ResponseWriter, r *http.Request, parts []string) error {
	m := r.Method
	switch {
	case len(parts) == 0 && m == http.MethodPost:
		doc, err := readDoc(r, a.configElem)
		if err != nil {
			return err
		}
		rec, err := a.create(doc)
		if err != nil {
			return err
		}
		id, etag, _ := a.meta(rec)
		w.Header().Set("Location", location(r, a.location+id))
		w.Header().Set("ETag", etag)
		return writeDoc(w, http.StatusCreated, a.whole(rec))
	case len(parts) == 0 && m == http.MethodGet:
		return a.list(w, r)
	case len(parts) == 1 && m == http.MethodGet, len(parts) == 2 && parts[1] == "config" && m == http.MethodGet:
		rec, ok := a.lookup(parts[0])
		if !ok {
			return a.notFound(parts[0])
		}
		_, etag, config := a.meta(rec)
		w.Header().Set("ETag", etag)
		if len(parts) == 2 {
			return writeDoc(w, http.StatusOK, config)
		}
		return writeDoc(w, http.StatusOK, a.whole(rec))
	case len(parts) == 2 && parts[1] == "config" && m == http.MethodPut:
		doc, err := readDoc(r, a.configElem)
		if err != nil {
			return err
		}
		rec, err := a.update(parts[0], r.Header.Get("If-Match"), doc)
		if err != nil {
			return err
		}
		_, etag, _ := a.meta(rec)
		w.Header().Set("ETag", etag)
		return writeDoc(w, http.StatusOK, a.whole(rec))
	case len(parts) == 1 && m == http.MethodDelete:
		if err := a.remove(parts[0], r.Header.Get("If-Match")); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	return notImplemented(r)
}

func (s *Service) routeOAC(w http.ResponseWriter, r *http.Request, parts []string) error {
	return accessAPI[*oacRecord]{
		configElem: "OriginAccessControlConfig",
		location:   "origin-access-control/",
		create:     func(doc *node) (*oacRecord, error) { return s.putOAC("", "", doc) },
		update:     s.putOAC,
		remove:     s.deleteOAC,
		lookup: func(id string) (*oacRecord, bool) {
			s.mu.Lock()
			defer s.mu.Unlock()
			rec, ok := s.oacs[id]
			return rec, ok
		},
		notFound: noSuchOAC,
		list:     s.listOACs,
		whole:    oacNode,
		meta:     func(rec *oacRecord) (string, string, *node) { return rec.ID, rec.ETag, rec.Config },
	}.route(w, r, parts)
}

func noSuchOAC(id string) error {
	return sluice.Errorf(errNoSuchOAC, "The origin access control does not exist: %s.", id)
}

func oacNode(rec *oacRecord) *node {
	return elk("OriginAccessControl", el("Id", rec.ID), rec.Config.clone())
}

// putOAC creates (id "") or updates an origin access control.
func (s *Service) putOAC(id, ifMatch string, doc *node) (*oacRecord, error) {
	if err := validateOACConfig(doc); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if id != "" {
		old, ok := s.oacs[id]
		if !ok {
			return nil, noSuchOAC(id)
		}
		if err := checkIfMatch(ifMatch, old.ETag); err != nil {
			return nil, err
		}
	}
	name := doc.text("Name")
	for _, o := range s.oacs {
		if o.ID != id && o.Config.text("Name") == name {
			return nil, sluice.Errorf(errOACAlreadyExists, "An origin access control named %q already exists (%s).", name, o.ID)
		}
	}
	if id == "" {
		id = newID("E")
	}
	rec := &oacRecord{ID: id, ETag: newETag(), Config: doc}
	if err := s.db.Update(func(tx *bolt.Tx) error { return putJSON(tx.Bucket(bktOACs), []byte(id), rec) }); err != nil {
		return nil, fmt.Errorf("store origin access control: %w", err)
	}
	s.oacs[id] = rec
	return rec, nil
}

func (s *Service) deleteOAC(id, ifMatch string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, ok := s.oacs[id]
	if !ok {
		return noSuchOAC(id)
	}
	if err := checkIfMatch(ifMatch, rec.ETag); err != nil {
		return err
	}
	for _, d := range s.dists {
		for _, o := range d.Dist.Config.Origins {
			if o.OriginAccessControlID == id {
				return sluice.Errorf(errOACInUse, "The origin access control %s is in use by distribution %s.", id, d.Dist.ID)
			}
		}
	}
	if err := s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bktOACs).Delete([]byte(id)) }); err != nil {
		return fmt.Errorf("delete origin access control: %w", err)
	}
	delete(s.oacs, id)
	return nil
}

func (s *Service) listOACs(w http.ResponseWriter, r *http.Request) error {
	max, err := maxItems(r)
	if err != nil {
		return err
	}
	marker := r.URL.Query().Get("Marker")
	s.mu.Lock()
	ids, more := pageIDs(s.oacs, marker, max)
	var items []*node
	for _, id := range ids {
		c := s.oacs[id].Config
		items = append(items, elk("OriginAccessControlSummary",
			el("Id", id),
			el("Description", c.text("Description")),
			el("Name", c.text("Name")),
			el("SigningProtocol", c.text("SigningProtocol")),
			el("SigningBehavior", c.text("SigningBehavior")),
			el("OriginAccessControlOriginType", c.text("OriginAccessControlOriginType"))))
	}
	s.mu.Unlock()
	return writeDoc(w, http.StatusOK, pagedList("OriginAccessControlList", marker, ids, max, more, items))
}

// pageIDs returns, in order, the first max ids of m after marker, and
// whether more follow.
func pageIDs[V any](m map[string]V, marker string, max int) ([]string, bool) {
	ids := make([]string, 0, len(m))
	for id := range m {
		if id > marker {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids[:min(len(ids), max)], len(ids) > max
}

// pagedList renders the API's Marker/NextMarker list envelope.
func pagedList(name, marker string, ids []string, max int, more bool, items []*node) *node {
	doc := elk(name, el("Marker", marker))
	if more {
		doc.Kids = append(doc.Kids, el("NextMarker", ids[len(ids)-1]))
	}
	doc.Kids = append(doc.Kids, elInt("MaxItems", int64(max)), elBool("IsTruncated", more), elInt("Quantity", int64(len(items))))
	if len(items) > 0 {
		doc.Kids = append(doc.Kids, elk("Items", items...))
	}
	return doc
}

func (s *Service) routeOAI(w http.ResponseWriter, r *http.Request, parts []string) error {
	return accessAPI[*oaiRecord]{
		configElem: "CloudFrontOriginAccessIdentityConfig",
		location:   "origin-access-identity/cloudfront/",
		create:     s.createOAI,
		update:     s.updateOAI,
		remove:     s.deleteOAI,
		lookup: func(id string) (*oaiRecord, bool) {
			s.mu.Lock()
			defer s.mu.Unlock()
			rec, ok := s.oais[id]
			return rec, ok
		},
		notFound: noSuchOAI,
		list:     s.listOAIs,
		whole:    oaiNode,
		meta:     func(rec *oaiRecord) (string, string, *node) { return rec.ID, rec.ETag, rec.Config },
	}.route(w, r, parts)
}

func noSuchOAI(id string) error {
	return sluice.Errorf(errNoSuchOAI, "The specified origin access identity does not exist: %s.", id)
}

func oaiNode(rec *oaiRecord) *node {
	return elk("CloudFrontOriginAccessIdentity",
		el("Id", rec.ID), el("S3CanonicalUserId", rec.S3CanonicalUserID), rec.Config.clone())
}

func validateOAIConfig(n *node) error {
	p := &parser{}
	ref := p.need(n, "CallerReference").textOr("")
	p.need(n, "Comment")
	if p.err != nil {
		return p.err
	}
	if ref == "" || len(ref) > maxCallerReference {
		return sluice.Errorf(sluice.ErrInvalidArgument, "CallerReference must be 1 to %d characters long.", maxCallerReference)
	}
	if len(n.text("Comment")) > maxCommentLength {
		return sluice.Errorf(sluice.ErrInvalidArgument, "The parameter Comment is too long (at most %d characters).", maxCommentLength)
	}
	return nil
}

func (s *Service) createOAI(doc *node) (*oaiRecord, error) {
	if err := validateOAIConfig(doc); err != nil {
		return nil, err
	}
	ref := doc.text("CallerReference")
	s.mu.Lock()
	defer s.mu.Unlock()
	var existing string
	s.db.View(func(tx *bolt.Tx) error {
		existing = string(tx.Bucket(bktOAIRefs).Get([]byte(ref)))
		return nil
	})
	if ex, ok := s.oais[existing]; ok {
		if ex.Config.equal(doc) {
			return ex, nil
		}
		return nil, sluice.Errorf(errOAIAlreadyExists, "The CallerReference %q was used for another origin access identity (%s) with a different config.", ref, ex.ID)
	}
	id := newID("E")
	sum := sha256.Sum256([]byte("sluice-oai/" + id))
	rec := &oaiRecord{ID: id, ETag: newETag(), S3CanonicalUserID: hex.EncodeToString(sum[:]), Config: doc}
	err := s.db.Update(func(tx *bolt.Tx) error {
		if err := putJSON(tx.Bucket(bktOAIs), []byte(id), rec); err != nil {
			return err
		}
		return tx.Bucket(bktOAIRefs).Put([]byte(ref), []byte(id))
	})
	if err != nil {
		return nil, fmt.Errorf("store origin access identity: %w", err)
	}
	s.oais[id] = rec
	return rec, nil
}

func (s *Service) updateOAI(id, ifMatch string, doc *node) (*oaiRecord, error) {
	if err := validateOAIConfig(doc); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	old, ok := s.oais[id]
	if !ok {
		return nil, noSuchOAI(id)
	}
	if err := checkIfMatch(ifMatch, old.ETag); err != nil {
		return nil, err
	}
	if doc.text("CallerReference") != old.Config.text("CallerReference") {
		return nil, sluice.Errorf(errIllegalUpdate, "The CallerReference of an origin access identity cannot be changed.")
	}
	rec := &oaiRecord{ID: id, ETag: newETag(), S3CanonicalUserID: old.S3CanonicalUserID, Config: doc}
	if err := s.db.Update(func(tx *bolt.Tx) error { return putJSON(tx.Bucket(bktOAIs), []byte(id), rec) }); err != nil {
		return nil, fmt.Errorf("store origin access identity: %w", err)
	}
	s.oais[id] = rec
	return rec, nil
}

func (s *Service) deleteOAI(id, ifMatch string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, ok := s.oais[id]
	if !ok {
		return noSuchOAI(id)
	}
	if err := checkIfMatch(ifMatch, rec.ETag); err != nil {
		return err
	}
	want := "origin-access-identity/cloudfront/" + id
	for _, d := range s.dists {
		for _, o := range d.Dist.Config.Origins {
			if o.S3 != nil && o.S3.OriginAccessIdentity == want {
				return sluice.Errorf(errOAIInUse, "The origin access identity %s is in use by distribution %s.", id, d.Dist.ID)
			}
		}
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		if err := tx.Bucket(bktOAIs).Delete([]byte(id)); err != nil {
			return err
		}
		return tx.Bucket(bktOAIRefs).Delete([]byte(rec.Config.text("CallerReference")))
	})
	if err != nil {
		return fmt.Errorf("delete origin access identity: %w", err)
	}
	delete(s.oais, id)
	return nil
}

func (s *Service) listOAIs(w http.ResponseWriter, r *http.Request) error {
	max, err := maxItems(r)
	if err != nil {
		return err
	}
	marker := r.URL.Query().Get("Marker")
	s.mu.Lock()
	ids, more := pageIDs(s.oais, marker, max)
	var items []*node
	for _, id := range ids {
		rec := s.oais[id]
		items = append(items, elk("CloudFrontOriginAccessIdentitySummary",
			el("Id", id), el("S3CanonicalUserId", rec.S3CanonicalUserID), el("Comment", rec.Config.text("Comment"))))
	}
	s.mu.Unlock()
	return writeDoc(w, http.StatusOK, pagedList("CloudFrontOriginAccessIdentityList", marker, ids, max, more, items))
}
