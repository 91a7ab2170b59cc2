package edge

import (
	"net/http"
	"net/url"
	"slices"
	"time"
)

// Custom error pages (CustomErrorResponses with a ResponsePagePath).
//
// When the response for a viewer would carry an error status that a
// CustomErrorResponse names, CloudFront answers instead with the object at
// ResponsePagePath and the ResponseCode status. The page is an ordinary
// request of the distribution: the behaviour whose PathPattern matches the
// page path picks its origin, its TTLs and its origin-facing functions, and
// the page is cached like any object, so a cached error followed by a cached
// page costs two lookups. The origin's error itself stays cached for the
// ErrorCachingMinTTL of its code. When the page cannot be had, the viewer
// gets what the page's origin answered (a 404 for a deleted page), never the
// page of another error: pages do not chain.

// customErrorPage answers with the custom error page configured for
// status, if there is one; false means the caller answers as it would have.
func (x *exchange) customErrorPage(status int) bool {
	if x.pageCode != 0 {
		return false
	}
	ce, ok := x.d.pages[status]
	if !ok {
		return false
	}
	px := &exchange{e: x.e, r: x.r, w: x.w, start: time.Now(), cfg: x.cfg, d: x.d, pageCode: ce.ResponseCode, hookRan: true}
	px.path = ce.ResponsePagePath
	px.req.Method = http.MethodGet
	if x.r.Method == http.MethodHead {
		px.req.Method = http.MethodHead
	}
	px.req.URI = (&url.URL{Path: ce.ResponsePagePath}).EscapedPath()
	px.b = x.d.behaviorFor(px.path)
	if slices.Contains(px.b.cached, http.MethodGet) && !px.b.allHeaders {
		px.serveCached()
	} else {
		px.passThrough()
	}
	x.result = px.result
	if px.errDetail != nil {
		x.errDetail = px.errDetail
	}
	return true
}

// pageStatus is the status a response of the page fetch goes out with: the
// configured ResponseCode when the page was there, else the page's own.
func (x *exchange) pageStatus(status int) int {
	if x.pageCode != 0 && status >= 200 && status < 300 {
		return x.pageCode
	}
	return status
}
