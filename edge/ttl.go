package edge

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// cacheControl is what the edge reads from an origin's Cache-Control.
type cacheControl struct {
	maxAge, sMaxAge           int64 // -1 when absent
	noStore, noCache, private bool
}

func parseCacheControl(h http.Header) cacheControl {
	cc := cacheControl{maxAge: -1, sMaxAge: -1}
	for _, line := range h.Values("Cache-Control") {
		for _, d := range strings.Split(line, ",") {
			name, val, _ := strings.Cut(strings.TrimSpace(d), "=")
			name = strings.ToLower(strings.TrimSpace(name))
			val = strings.Trim(strings.TrimSpace(val), `"`)
			switch name {
			case "max-age":
				cc.maxAge = parseSeconds(val, cc.maxAge)
			case "s-maxage":
				cc.sMaxAge = parseSeconds(val, cc.sMaxAge)
			case "no-store":
				cc.noStore = true
			case "no-cache":
				cc.noCache = true
			case "private":
				cc.private = true
			}
		}
	}
	return cc
}

// maxTTLSeconds is CloudFront's ceiling for max-age (100 years).
const maxTTLSeconds = 100 * 365 * 24 * 3600

func parseSeconds(v string, prev int64) int64 {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		// A malformed directive is ignored, keeping what came before.
		return prev
	}
	return min(n, maxTTLSeconds)
}

// ttlPolicy is the part of a behaviour and distribution that decides TTLs.
type ttlPolicy struct {
	minTTL, defaultTTL, maxTTL int64
	// errorTTL is the error caching minimum TTL by status, when configured.
	errorTTL        map[int]int64
	defaultErrorTTL int64
}

// Status codes CloudFront caches whatever the origin says, and those it
// caches only when the origin sends max-age or s-maxage.
var (
	alwaysCachedErrors = map[int]bool{404: true, 414: true, 500: true, 501: true, 502: true, 503: true, 504: true}
	headerCachedErrors = map[int]bool{400: true, 403: true, 405: true, 412: true, 415: true}
)

// ttl decides how long a response stays cached, with CloudFront's rules
// ("Managing how long content stays in the cache"): s-maxage, else max-age,
// else Expires, bounded by MaxTTL and (when MinTTL > 0) raised to MinTTL;
// DefaultTTL (at least MinTTL) when the origin says nothing; no-store,
// no-cache and private are obeyed only while MinTTL is 0. Errors follow
// "How CloudFront processes and caches HTTP 4xx and 5xx status codes".
// store is false when the response must not be cached at all.
func (p ttlPolicy) ttl(status int, h http.Header, now time.Time) (ttl time.Duration, store bool) {
	cc := parseCacheControl(h)
	headerAge := cc.sMaxAge
	if headerAge < 0 {
		headerAge = cc.maxAge
	}
	if status >= 400 {
		minErr := p.defaultErrorTTL
		if v, ok := p.errorTTL[status]; ok {
			minErr = v
		}
		switch {
		case alwaysCachedErrors[status]:
		case headerCachedErrors[status] && headerAge >= 0:
		default:
			return 0, false
		}
		secs := max(minErr, headerAge)
		return time.Duration(secs) * time.Second, secs > 0
	}
	if cc.noStore || cc.noCache || cc.private {
		if p.minTTL == 0 {
			return 0, false
		}
		return time.Duration(p.minTTL) * time.Second, true
	}
	var secs int64
	switch {
	case headerAge >= 0:
		secs = p.clamp(headerAge)
	case h.Get("Expires") != "":
		exp, err := http.ParseTime(h.Get("Expires"))
		if err != nil || !exp.After(now) {
			// An invalid or past date means already expired (RFC 9111 5.3).
			secs = p.clamp(0)
		} else {
			secs = p.clamp(int64(exp.Sub(now).Seconds()))
		}
	default:
		secs = min(max(p.defaultTTL, p.minTTL), max(p.maxTTL, p.minTTL))
	}
	return time.Duration(secs) * time.Second, true
}

func (p ttlPolicy) clamp(v int64) int64 {
	v = min(v, p.maxTTL)
	return max(v, p.minTTL)
}
