package s3api

import (
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/policy"
)

func accessDenied() error { return sluice.Errorf(sluice.ErrAccessDenied, "Access Denied") }

// authorizeOp checks the routed operation's own action. Operations that are
// never anonymous stop anonymous callers before the store is asked anything.
// The bucket owner may always manage the bucket policy, so that a policy
// denying everything cannot lock the account out (as in S3).
func (s *Server) authorizeOp(r *http.Request, op operation, bucket, key string) error {
	id := sluice.IdentityFrom(r.Context())
	if id.Anonymous && !op.anonymous {
		return accessDenied()
	}
	switch {
	case op.action == "":
		// DeleteObjects: each key is authorized by the handler.
		return nil
	case !id.Anonymous && (op.name == "CreateBucket" || strings.HasSuffix(op.name, "BucketPolicy")):
		return nil
	}
	return s.authorize(r, op.action, bucket, key)
}

// authorize returns AccessDenied unless the caller may perform action on
// bucket (and key, when not empty). Anonymous callers need an Allow from the
// bucket policy, evaluated with Principal "*"; authenticated callers are the
// account root and are refused only by an explicit Deny. A missing bucket is
// NoSuchBucket, as S3 answers.
func (s *Server) authorize(r *http.Request, action, bucket, key string) error {
	id := sluice.IdentityFrom(r.Context())
	if bucket == "" {
		if id.Anonymous {
			return accessDenied()
		}
		return nil
	}
	doc, err := s.store.BucketConfig(r.Context(), bucket, sluice.ConfigPolicy)
	if err != nil {
		return err
	}
	if doc == nil {
		if id.Anonymous {
			return accessDenied()
		}
		return nil
	}
	p, err := s.policies.get(bucket, doc)
	if err != nil {
		// A stored policy was valid when it was put; one that no longer
		// parses grants nothing and denies nothing.
		s.log.Error("s3api: stored bucket policy does not parse", "request_id", requestID(r), "bucket", bucket, "err", err)
		if id.Anonymous {
			return accessDenied()
		}
		return nil
	}
	resource := "arn:aws:s3:::" + bucket
	if key != "" {
		resource += "/" + key
	}
	d := p.Evaluate(policy.Request{
		Principal: id.PrincipalARN(),
		Action:    action,
		Resource:  resource,
		Context:   policyContext(r, id, action),
	})
	if d == policy.Deny || id.Anonymous && d != policy.Allow {
		return accessDenied()
	}
	return nil
}

// policyContext builds the condition keys S3 supplies for a request.
func policyContext(r *http.Request, id sluice.Identity, action string) map[string]string {
	now := time.Now().UTC()
	ctx := map[string]string{
		"aws:SourceIp":        sourceIP(r),
		"aws:SecureTransport": strconv.FormatBool(r.TLS != nil),
		"aws:CurrentTime":     now.Format(time.RFC3339),
		"aws:EpochTime":       strconv.FormatInt(now.Unix(), 10),
	}
	if v := r.Header.Get("Referer"); v != "" {
		ctx["aws:Referer"] = v
	}
	if v := r.Header.Get("User-Agent"); v != "" {
		ctx["aws:UserAgent"] = v
	}
	if !id.Anonymous {
		ctx["aws:PrincipalAccount"] = sluice.AccountID
		ctx["aws:PrincipalArn"] = id.PrincipalARN()
		ctx["aws:PrincipalType"] = "Account"
	} else {
		ctx["aws:PrincipalType"] = "Anonymous"
	}
	if v, ok := r.URL.Query()["versionId"]; ok && strings.Contains(action, "Version") {
		ctx["s3:versionid"] = v[0]
	}
	if action == "s3:ListBucket" || action == "s3:ListBucketVersions" {
		q := r.URL.Query()
		ctx["s3:prefix"] = q.Get("prefix")
		if v := q.Get("delimiter"); v != "" {
			ctx["s3:delimiter"] = v
		}
		if v := q.Get("max-keys"); v != "" {
			ctx["s3:max-keys"] = v
		}
	}
	return ctx
}

func sourceIP(r *http.Request) string {
	if ip := sluice.RequestInfoFrom(r.Context()).SourceIP; ip != "" {
		return ip
	}
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return host
	}
	return r.RemoteAddr
}

// policyCache keeps parsed bucket policies keyed by bucket and document, so
// that an anonymous read does not parse JSON; a changed document replaces
// its entry.
type policyCache struct {
	mu sync.Mutex
	m  map[string]cachedPolicy
}

type cachedPolicy struct {
	doc string
	p   *policy.Policy
}

func (c *policyCache) get(bucket string, doc []byte) (*policy.Policy, error) {
	c.mu.Lock()
	e, ok := c.m[bucket]
	c.mu.Unlock()
	if ok && e.doc == string(doc) {
		return e.p, nil
	}
	p, err := policy.Parse(doc, bucket)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if c.m == nil {
		c.m = make(map[string]cachedPolicy)
	}
	c.m[bucket] = cachedPolicy{doc: string(doc), p: p}
	c.mu.Unlock()
	return p, nil
}

func (c *policyCache) forget(bucket string) {
	c.mu.Lock()
	delete(c.m, bucket)
	c.mu.Unlock()
}
