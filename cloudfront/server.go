package cloudfront

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/sluicehq/sluice"
)

// Interface guard: the front door mounts a Service as a frontdoor.Service
// (an http.Handler with WriteError).
var _ interface {
	http.Handler
	WriteError(http.ResponseWriter, *http.Request, error)
} = (*Service)(nil)

const apiPrefix = "/2020-05-31/"

// timeFormat is how CloudFront renders timestamps.
const timeFormat = "2006-01-02T15:04:05.000Z"

// ServeHTTP answers the CloudFront control API. Requests arrive already
// authenticated by the front door.
func (s *Service) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := s.route(w, r); err != nil && !errors.Is(err, errResponseStarted) {
		s.WriteError(w, r, err)
	}
}

func (s *Service) route(w http.ResponseWriter, r *http.Request) error {
	rest, ok := strings.CutPrefix(r.URL.Path, apiPrefix)
	if !ok {
		return notImplemented(r)
	}
	parts := strings.Split(strings.TrimSuffix(rest, "/"), "/")
	m := r.Method
	switch parts[0] {
	case "distribution":
		switch {
		case len(parts) == 1 && m == http.MethodPost:
			return s.handleCreateDistribution(w, r)
		case len(parts) == 1 && m == http.MethodGet:
			return s.handleListDistributions(w, r)
		case len(parts) == 2 && m == http.MethodGet:
			return s.handleGetDistribution(w, r, parts[1])
		case len(parts) == 2 && m == http.MethodDelete:
			if err := s.deleteDistribution(parts[1], r.Header.Get("If-Match")); err != nil {
				return err
			}
			w.WriteHeader(http.StatusNoContent)
			return nil
		case len(parts) == 3 && parts[2] == "config" && m == http.MethodGet:
			return s.handleGetDistributionConfig(w, r, parts[1])
		case len(parts) == 3 && parts[2] == "config" && m == http.MethodPut:
			return s.handleUpdateDistribution(w, r, parts[1])
		case len(parts) == 3 && parts[2] == "invalidation" && m == http.MethodPost:
			return s.handleCreateInvalidation(w, r, parts[1])
		case len(parts) == 3 && parts[2] == "invalidation" && m == http.MethodGet:
			return s.handleListInvalidations(w, r, parts[1])
		case len(parts) == 4 && parts[2] == "invalidation" && m == http.MethodGet:
			return s.handleGetInvalidation(w, r, parts[1], parts[3])
		}
	case "tagging":
		if len(parts) == 1 {
			q := r.URL.Query()
			switch {
			case m == http.MethodGet:
				return s.handleListTags(w, r)
			case m == http.MethodPost && q.Get("Operation") == "Tag":
				return s.handleTag(w, r)
			case m == http.MethodPost && q.Get("Operation") == "Untag":
				return s.handleUntag(w, r)
			}
		}
	case "origin-access-control":
		return s.routeOAC(w, r, parts[1:])
	case "origin-access-identity":
		if len(parts) >= 2 && parts[1] == "cloudfront" {
			return s.routeOAI(w, r, parts[2:])
		}
	}
	return notImplemented(r)
}

func notImplemented(r *http.Request) error {
	return sluice.Errorf(sluice.ErrNotImplemented, "sluice does not implement %s %s of the CloudFront API.", r.Method, r.URL.Path)
}

// readDoc reads a request body as an XML tree whose root is named root.
func readDoc(r *http.Request, root string) (*node, error) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes+1))
	if err != nil {
		return nil, sluice.Wrap(errMalformedInput, err, "The request body could not be read.")
	}
	if len(body) > maxBodyBytes {
		return nil, sluice.Errorf(errMalformedInput, "The request body is larger than %d bytes.", maxBodyBytes)
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, sluice.Errorf(errMissingBody, "This operation requires a body. Ensure that the body is present and the Content-Type header is set.")
	}
	doc, err := parseTree(bytes.NewReader(body))
	if err != nil {
		return nil, sluice.Wrap(errMalformedInput, err, "The XML you provided was not well-formed or did not validate against the published schema: "+strings.TrimPrefix(err.Error(), errMalformed.Error()+": ")+".")
	}
	if doc.Name != root {
		return nil, sluice.Errorf(errMalformedInput, "Expected a %s document, got %s.", root, doc.Name)
	}
	return doc, nil
}

// writeDoc writes a 2xx XML response.
func writeDoc(w http.ResponseWriter, status int, doc *node) error {
	w.Header().Set("Content-Type", "text/xml")
	body := doc.document()
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, err := w.Write(body)
	if err != nil {
		return errResponseStarted
	}
	return nil
}

// errResponseStarted stops route from writing an error after a response.
var errResponseStarted = errors.New("response already started")

// location is the URL of a created resource, on the endpoint the client
// used.
func location(r *http.Request, path string) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host + apiPrefix + path
}

func ts(t time.Time) string { return t.UTC().Format(timeFormat) }

// maxItems reads the MaxItems query parameter (default 100, at most 1000).
func maxItems(r *http.Request) (int, error) {
	v := r.URL.Query().Get("MaxItems")
	if v == "" {
		return 100, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, sluice.Errorf(sluice.ErrInvalidArgument, "MaxItems %q must be a non-negative integer.", v)
	}
	if n == 0 || n > 1000 {
		n = 1000
	}
	return n, nil
}

// distributionNode renders a Distribution.
func distributionNode(rec *distRecord, inProgress int) *node {
	d := rec.Dist
	cfg := rec.Config.clone()
	cfg.Name = "DistributionConfig"
	return elk("Distribution",
		el("Id", d.ID),
		el("ARN", d.ARN),
		el("Status", d.Status),
		el("LastModifiedTime", ts(d.LastModified)),
		elInt("InProgressInvalidationBatches", int64(inProgress)),
		el("DomainName", d.DomainName),
		elk("ActiveTrustedSigners", elBool("Enabled", false), elInt("Quantity", 0)),
		elk("ActiveTrustedKeyGroups", elBool("Enabled", false), elInt("Quantity", 0)),
		cfg,
	)
}

// summaryNode renders a DistributionSummary: the config's elements where
// the client sent them, CloudFront's defaults where it did not.
func summaryNode(rec *distRecord) *node {
	d := rec.Dist
	c := rec.Config
	pick := func(name string, def *node) *node {
		if n := c.child(name); n != nil {
			return n.clone()
		}
		return def
	}
	return elk("DistributionSummary",
		el("Id", d.ID),
		el("ARN", d.ARN),
		el("ETag", d.ETag),
		el("Status", d.Status),
		el("LastModifiedTime", ts(d.LastModified)),
		el("DomainName", d.DomainName),
		pick("Aliases", list("Aliases", "CNAME", nil)),
		pick("Origins", list("Origins", "Origin", nil)),
		pick("OriginGroups", list("OriginGroups", "OriginGroup", nil)),
		pick("DefaultCacheBehavior", elk("DefaultCacheBehavior")),
		pick("CacheBehaviors", list("CacheBehaviors", "CacheBehavior", nil)),
		pick("CustomErrorResponses", list("CustomErrorResponses", "CustomErrorResponse", nil)),
		el("Comment", d.Config.Comment),
		pick("PriceClass", el("PriceClass", "PriceClass_All")),
		elBool("Enabled", d.Config.Enabled),
		pick("ViewerCertificate", elk("ViewerCertificate",
			elBool("CloudFrontDefaultCertificate", true),
			el("SSLSupportMethod", "vip"),
			el("MinimumProtocolVersion", "TLSv1"),
			el("CertificateSource", "cloudfront"))),
		pick("Restrictions", elk("Restrictions", elk("GeoRestriction",
			el("RestrictionType", "none"), elInt("Quantity", 0)))),
		pick("WebACLId", el("WebACLId", "")),
		pick("HttpVersion", el("HttpVersion", "http2")),
		elBool("IsIPV6Enabled", d.Config.IsIPV6Enabled),
		pick("Staging", elBool("Staging", false)),
	)
}

// tagsNode renders a Tags element.
func tagsNode(tags []sluice.Tag) *node {
	items := elk("Items")
	for _, t := range tags {
		items.Kids = append(items.Kids, elk("Tag", el("Key", t.Key), el("Value", t.Value)))
	}
	return elk("Tags", items)
}

// parseTags reads a Tags element.
func parseTags(n *node) ([]sluice.Tag, error) {
	var tags []sluice.Tag
	for _, it := range n.items() {
		if it.Name != "Tag" || !it.has("Key") {
			return nil, sluice.Errorf(errMalformedInput, "Each item of Tags must be a Tag with a Key.")
		}
		tags = append(tags, sluice.Tag{Key: it.text("Key"), Value: it.text("Value")})
	}
	return tags, nil
}

func (s *Service) handleCreateDistribution(w http.ResponseWriter, r *http.Request) error {
	var doc *node
	var tags []sluice.Tag
	if r.URL.Query().Has("WithTags") {
		withTags, err := readDoc(r, "DistributionConfigWithTags")
		if err != nil {
			return err
		}
		doc = withTags.child("DistributionConfig")
		tn := withTags.child("Tags")
		if doc == nil || tn == nil {
			return sluice.Errorf(errMalformedInput, "DistributionConfigWithTags needs a DistributionConfig and Tags.")
		}
		if tags, err = parseTags(tn); err != nil {
			return err
		}
		if err := validateTags(tags); err != nil {
			return err
		}
		if len(tags) > maxTags {
			return sluice.Errorf(errInvalidTagging, "A distribution can have at most %d tags.", maxTags)
		}
	} else {
		var err error
		if doc, err = readDoc(r, "DistributionConfig"); err != nil {
			return err
		}
	}
	rec, _, err := s.createDistribution(r.Context(), doc, tags)
	if err != nil {
		return err
	}
	w.Header().Set("Location", location(r, "distribution/"+rec.Dist.ID))
	w.Header().Set("ETag", rec.Dist.ETag)
	_, n, err := s.getDistribution(rec.Dist.ID)
	if err != nil {
		return err
	}
	return writeDoc(w, http.StatusCreated, distributionNode(rec, n))
}

func (s *Service) handleGetDistribution(w http.ResponseWriter, r *http.Request, id string) error {
	rec, n, err := s.getDistribution(id)
	if err != nil {
		return err
	}
	w.Header().Set("ETag", rec.Dist.ETag)
	return writeDoc(w, http.StatusOK, distributionNode(rec, n))
}

func (s *Service) handleGetDistributionConfig(w http.ResponseWriter, r *http.Request, id string) error {
	rec, _, err := s.getDistribution(id)
	if err != nil {
		return err
	}
	w.Header().Set("ETag", rec.Dist.ETag)
	return writeDoc(w, http.StatusOK, rec.Config)
}

func (s *Service) handleUpdateDistribution(w http.ResponseWriter, r *http.Request, id string) error {
	// Look the distribution up first: AWS answers NoSuchDistribution
	// before it reads the body.
	if _, _, err := s.getDistribution(id); err != nil {
		return err
	}
	doc, err := readDoc(r, "DistributionConfig")
	if err != nil {
		return err
	}
	rec, n, err := s.updateDistribution(r.Context(), id, r.Header.Get("If-Match"), doc)
	if err != nil {
		return err
	}
	w.Header().Set("ETag", rec.Dist.ETag)
	return writeDoc(w, http.StatusOK, distributionNode(rec, n))
}

func (s *Service) handleListDistributions(w http.ResponseWriter, r *http.Request) error {
	max, err := maxItems(r)
	if err != nil {
		return err
	}
	marker := r.URL.Query().Get("Marker")
	recs, _, more := s.listDistributions(marker, max)
	var items []*node
	for _, rec := range recs {
		items = append(items, summaryNode(rec))
	}
	doc := elk("DistributionList", el("Marker", marker))
	if more {
		doc.Kids = append(doc.Kids, el("NextMarker", recs[len(recs)-1].Dist.ID))
	}
	doc.Kids = append(doc.Kids, elInt("MaxItems", int64(max)), elBool("IsTruncated", more), elInt("Quantity", int64(len(items))))
	if len(items) > 0 {
		doc.Kids = append(doc.Kids, elk("Items", items...))
	}
	return writeDoc(w, http.StatusOK, doc)
}

func (s *Service) handleListTags(w http.ResponseWriter, r *http.Request) error {
	tags, err := s.listTags(r.URL.Query().Get("Resource"))
	if err != nil {
		return err
	}
	return writeDoc(w, http.StatusOK, tagsNode(tags))
}

func (s *Service) handleTag(w http.ResponseWriter, r *http.Request) error {
	doc, err := readDoc(r, "Tags")
	if err != nil {
		return err
	}
	tags, err := parseTags(doc)
	if err != nil {
		return err
	}
	if err := s.changeTags(r.URL.Query().Get("Resource"), tags, nil); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Service) handleUntag(w http.ResponseWriter, r *http.Request) error {
	doc, err := readDoc(r, "TagKeys")
	if err != nil {
		return err
	}
	var keys []string
	for _, it := range doc.items() {
		if it.Name != "Key" {
			return sluice.Errorf(errMalformedInput, "Each item of TagKeys must be a Key.")
		}
		keys = append(keys, it.Text)
	}
	if err := s.changeTags(r.URL.Query().Get("Resource"), nil, keys); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// invalidationNode renders an Invalidation.
func invalidationNode(inv sluice.Invalidation) *node {
	return elk("Invalidation",
		el("Id", inv.ID),
		el("Status", inv.Status),
		el("CreateTime", ts(inv.CreateTime)),
		elk("InvalidationBatch",
			list("Paths", "Path", inv.Paths),
			el("CallerReference", inv.CallerReference)))
}

func (s *Service) handleCreateInvalidation(w http.ResponseWriter, r *http.Request, distID string) error {
	if _, _, err := s.getDistribution(distID); err != nil {
		return err
	}
	doc, err := readDoc(r, "InvalidationBatch")
	if err != nil {
		return err
	}
	p := &parser{}
	p.checkQuantities(doc)
	paths := p.textsNamed(p.need(doc, "Paths"), "Path")
	ref := p.need(doc, "CallerReference").textOr("")
	if p.err != nil {
		return p.err
	}
	inv, _, err := s.createInvalidation(r.Context(), distID, ref, paths, true)
	if err != nil {
		return err
	}
	w.Header().Set("Location", location(r, "distribution/"+distID+"/invalidation/"+inv.ID))
	return writeDoc(w, http.StatusCreated, invalidationNode(inv))
}

func (s *Service) handleGetInvalidation(w http.ResponseWriter, r *http.Request, distID, id string) error {
	inv, err := s.getInvalidationAPI(distID, id)
	if err != nil {
		return err
	}
	return writeDoc(w, http.StatusOK, invalidationNode(inv))
}

func (s *Service) handleListInvalidations(w http.ResponseWriter, r *http.Request, distID string) error {
	max, err := maxItems(r)
	if err != nil {
		return err
	}
	marker := r.URL.Query().Get("Marker")
	invs, more, err := s.listInvalidations(distID, marker, max)
	if err != nil {
		return err
	}
	doc := elk("InvalidationList", el("Marker", marker))
	if more {
		doc.Kids = append(doc.Kids, el("NextMarker", invs[len(invs)-1].ID))
	}
	doc.Kids = append(doc.Kids, elInt("MaxItems", int64(max)), elBool("IsTruncated", more), elInt("Quantity", int64(len(invs))))
	if len(invs) > 0 {
		items := elk("Items")
		for _, inv := range invs {
			items.Kids = append(items.Kids, elk("InvalidationSummary",
				el("Id", inv.ID), el("CreateTime", ts(inv.CreateTime)), el("Status", inv.Status)))
		}
		doc.Kids = append(doc.Kids, items)
	}
	return writeDoc(w, http.StatusOK, doc)
}
