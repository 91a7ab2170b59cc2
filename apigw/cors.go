package apigw

import (
	"net/http"
	"strconv"
	"strings"
)

// CORSConfig is an HTTP API's CorsConfiguration. With one, API Gateway
// answers preflight requests itself and puts the configured headers on
// every response, ignoring the CORS headers the integration returns.
type CORSConfig struct {
	// AllowOrigins lists origins ("https://example.com"), "*" for any, or
	// "https://*.example.com" for the subdomains of one.
	AllowOrigins []string
	// AllowMethods lists methods, or "*".
	AllowMethods []string
	// AllowHeaders lists request headers (case-insensitive), or "*".
	AllowHeaders []string
	// ExposeHeaders lists the response headers browsers may read, or "*".
	ExposeHeaders    []string
	AllowCredentials bool
	// MaxAge is how many seconds browsers may cache a preflight answer
	// (0 sends none, -1 asks browsers not to cache).
	MaxAge int
}

func (c *CORSConfig) validate() error {
	if c.MaxAge < -1 || c.MaxAge > 86400 {
		return badRequest("CorsConfiguration.MaxAge must be between -1 and 86400, got %d", c.MaxAge)
	}
	for _, m := range c.AllowMethods {
		if m != "*" && !routeMethods[strings.ToUpper(m)] {
			return badRequest("CorsConfiguration.AllowMethods: %q is not an HTTP method", m)
		}
	}
	for _, o := range c.AllowOrigins {
		if o == "" || strings.ContainsAny(o, " \t\r\n,") {
			return badRequest("CorsConfiguration.AllowOrigins: invalid origin %q", o)
		}
		if o == "*" && c.AllowCredentials {
			return badRequest("CorsConfiguration: AllowCredentials is not supported with AllowOrigins \"*\"")
		}
	}
	for _, h := range append(append([]string(nil), c.AllowHeaders...), c.ExposeHeaders...) {
		if h != "*" && !validHeaderName(h) {
			return badRequest("CorsConfiguration: invalid header name %q", h)
		}
	}
	return nil
}

// allowOrigin returns the Access-Control-Allow-Origin value for origin, or
// "" when origin is not allowed.
func (c *CORSConfig) allowOrigin(origin string) string {
	if origin == "" {
		return ""
	}
	wildcard := false
	for _, o := range c.AllowOrigins {
		switch {
		case o == "*":
			wildcard = true
		case strings.EqualFold(o, origin):
			return origin
		case strings.Contains(o, "://*."):
			scheme, domain, _ := strings.Cut(o, "://*")
			os, ohost, ok := strings.Cut(origin, "://")
			if ok && strings.EqualFold(scheme, os) && len(ohost) > len(domain) &&
				strings.HasSuffix(strings.ToLower(ohost), strings.ToLower(domain)) {
				return origin
			}
		}
	}
	if wildcard {
		return "*"
	}
	return ""
}

func (c *CORSConfig) allowsMethod(m string) bool {
	for _, a := range c.AllowMethods {
		if a == "*" || strings.EqualFold(a, m) {
			return true
		}
	}
	return false
}

// allowsHeaders reports whether every header in the comma-separated list
// of Access-Control-Request-Headers is allowed.
func (c *CORSConfig) allowsHeaders(list string) bool {
	for _, h := range strings.Split(list, ",") {
		h = strings.TrimSpace(h)
		if h == "" {
			continue
		}
		ok := false
		for _, a := range c.AllowHeaders {
			if a == "*" || strings.EqualFold(a, h) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

// isPreflight reports whether r is a CORS preflight request: OPTIONS with
// Origin and Access-Control-Request-Method.
func isPreflight(r *http.Request) bool {
	return r.Method == http.MethodOptions && r.Header.Get("Origin") != "" &&
		r.Header.Get("Access-Control-Request-Method") != ""
}

// preflight writes API Gateway's own answer to a preflight request: 204,
// with the Access-Control-Allow-* headers only when the origin, the method
// and every requested header are allowed.
func (c *CORSConfig) preflight(h http.Header, r *http.Request) {
	origin := c.allowOrigin(r.Header.Get("Origin"))
	reqHeaders := r.Header.Values("Access-Control-Request-Headers")
	if origin == "" || !c.allowsMethod(r.Header.Get("Access-Control-Request-Method")) ||
		!c.allowsHeaders(strings.Join(reqHeaders, ",")) {
		return
	}
	h.Set("Access-Control-Allow-Origin", origin)
	h.Set("Access-Control-Allow-Methods", joinUpper(c.AllowMethods))
	if len(reqHeaders) > 0 {
		if contains(c.AllowHeaders, "*") {
			// Browsers ignore a literal "*" on credentialed requests;
			// naming the requested headers works for every request.
			h.Set("Access-Control-Allow-Headers", strings.ToLower(strings.Join(reqHeaders, ",")))
		} else {
			h.Set("Access-Control-Allow-Headers", strings.ToLower(strings.Join(c.AllowHeaders, ",")))
		}
	}
	if c.MaxAge != 0 {
		h.Set("Access-Control-Max-Age", strconv.Itoa(c.MaxAge))
	}
	if c.AllowCredentials {
		h.Set("Access-Control-Allow-Credentials", "true")
	}
	if origin != "*" {
		h.Add("Vary", "Origin")
	}
}

// apply replaces the integration's CORS headers with the configured ones
// for an actual (non-preflight) request.
func (c *CORSConfig) apply(h http.Header, r *http.Request) {
	for name := range h {
		if strings.HasPrefix(strings.ToLower(name), "access-control-") {
			delete(h, name)
		}
	}
	origin := c.allowOrigin(r.Header.Get("Origin"))
	if origin == "" {
		return
	}
	h.Set("Access-Control-Allow-Origin", origin)
	if len(c.ExposeHeaders) > 0 {
		h.Set("Access-Control-Expose-Headers", strings.ToLower(strings.Join(c.ExposeHeaders, ",")))
	}
	if c.AllowCredentials {
		h.Set("Access-Control-Allow-Credentials", "true")
	}
	if origin != "*" {
		h.Add("Vary", "Origin")
	}
}

func joinUpper(ms []string) string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = strings.ToUpper(m)
	}
	return strings.Join(out, ",")
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
