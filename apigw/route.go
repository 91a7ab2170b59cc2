package apigw

import (
	"net/url"
	"strings"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/awsevent"
)

// methodAny is the route method that matches every method the resource has
// no route of its own for.
const methodAny = "ANY"

// routeMethods are the methods a route key may name.
var routeMethods = map[string]bool{
	"GET": true, "POST": true, "PUT": true, "PATCH": true, "DELETE": true,
	"HEAD": true, "OPTIONS": true, methodAny: true,
}

// segKind orders path segments by how specific they are: a literal beats a
// path variable, which beats a greedy variable.
type segKind uint8

const (
	segGreedy segKind = iota
	segParam
	segLiteral
)

type segment struct {
	kind segKind
	// text is the literal, or the variable's name without braces and "+".
	text string
}

// routeKey is a parsed route key: "$default", or a method and a resource
// path of literal segments, {name} variables and at most one trailing
// {name+} greedy variable.
type routeKey struct {
	def    bool
	method string
	segs   []segment
}

// parseRouteKey parses and validates a route key as API Gateway does when a
// route is created.
func parseRouteKey(key string) (routeKey, error) {
	if key == awsevent.DefaultRoute {
		return routeKey{def: true}, nil
	}
	method, path, ok := strings.Cut(key, " ")
	if !ok {
		return routeKey{}, badRequest("route key %q must be \"$default\" or \"METHOD /path\"", key)
	}
	if !routeMethods[method] {
		return routeKey{}, badRequest("route key %q: method %q is not one of GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS or ANY", key, method)
	}
	if !strings.HasPrefix(path, "/") {
		return routeKey{}, badRequest("route key %q: the path must start with \"/\"", key)
	}
	rk := routeKey{method: method}
	if path == "/" {
		return rk, nil
	}
	seen := map[string]bool{}
	parts := strings.Split(path[1:], "/")
	for i, p := range parts {
		switch {
		case p == "":
			return routeKey{}, badRequest("route key %q: empty path segment", key)
		case strings.HasPrefix(p, "{") && strings.HasSuffix(p, "}"):
			name := p[1 : len(p)-1]
			kind := segParam
			if strings.HasSuffix(name, "+") {
				name, kind = name[:len(name)-1], segGreedy
				if i != len(parts)-1 {
					return routeKey{}, badRequest("route key %q: the greedy path variable {%s+} must be the last segment", key, name)
				}
			}
			if !validParamName(name) {
				return routeKey{}, badRequest("route key %q: invalid path variable name %q (letters, digits, '_', '-' and '.')", key, name)
			}
			if seen[name] {
				return routeKey{}, badRequest("route key %q: path variable {%s} appears twice", key, name)
			}
			seen[name] = true
			rk.segs = append(rk.segs, segment{kind: kind, text: name})
		default:
			if strings.ContainsAny(p, "{}?# \t\r\n") {
				return routeKey{}, badRequest("route key %q: invalid path segment %q", key, p)
			}
			rk.segs = append(rk.segs, segment{kind: segLiteral, text: p})
		}
	}
	return rk, nil
}

func validParamName(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// shape is the route key with variable names erased: two routes with the
// same shape could never be told apart, so API Gateway refuses the second.
func (k routeKey) shape() string { return k.render(false) }

// String renders the key in its canonical form.
func (k routeKey) String() string { return k.render(true) }

// render writes the key, with its variables' names or without.
func (k routeKey) render(names bool) string {
	if k.def {
		return awsevent.DefaultRoute
	}
	var b strings.Builder
	b.WriteString(k.method)
	b.WriteByte(' ')
	if len(k.segs) == 0 {
		b.WriteByte('/')
	}
	for _, s := range k.segs {
		b.WriteByte('/')
		name := ""
		if names {
			name = s.text
		}
		switch s.kind {
		case segLiteral:
			b.WriteString(s.text)
		case segParam:
			b.WriteString("{" + name + "}")
		case segGreedy:
			b.WriteString("{" + name + "+}")
		}
	}
	return b.String()
}

// matchPath matches the request path's raw (still escaped) segments against
// the key's resource path and returns the decoded path parameters. A
// variable never matches an empty segment, and a greedy variable needs at
// least one.
func (k routeKey) matchPath(raw []string) (map[string]string, bool) {
	var params map[string]string
	set := func(name, v string) {
		if params == nil {
			params = make(map[string]string, len(k.segs))
		}
		params[name] = v
	}
	for i, s := range k.segs {
		if s.kind == segGreedy {
			if i >= len(raw) {
				return nil, false
			}
			rest := strings.Join(raw[i:], "/")
			if rest == "" {
				return nil, false
			}
			set(s.text, unescape(rest))
			return params, true
		}
		if i >= len(raw) || raw[i] == "" {
			return nil, false
		}
		v := unescape(raw[i])
		if s.kind == segLiteral {
			if v != s.text {
				return nil, false
			}
			continue
		}
		set(s.text, v)
	}
	if len(raw) != len(k.segs) {
		return nil, false
	}
	return params, true
}

// unescape decodes a path (segment) as API Gateway does before it hands
// parameters to the integration; malformed escapes stay as they came.
func unescape(s string) string {
	if !strings.Contains(s, "%") {
		return s
	}
	if v, err := url.PathUnescape(s); err == nil {
		return v
	}
	return s
}

// splitPath splits an escaped request path into its segments; "/" has none.
func splitPath(escaped string) []string {
	p := strings.TrimPrefix(escaped, "/")
	if p == "" {
		return nil
	}
	return strings.Split(p, "/")
}

// moreSpecific reports whether a beats b for a request both match: the
// first segment where their kinds differ decides (a greedy variable counts
// for every segment it swallows), then a route for the method beats ANY.
func moreSpecific(a, b routeKey, n int) bool {
	for i := 0; i < n; i++ {
		ka, kb := kindAt(a, i), kindAt(b, i)
		if ka != kb {
			return ka > kb
		}
	}
	return a.method != methodAny && b.method == methodAny
}

func kindAt(k routeKey, i int) segKind {
	if i < len(k.segs) {
		return k.segs[i].kind
	}
	return k.segs[len(k.segs)-1].kind
}

// compiledRoute is a validated Route ready to serve.
type compiledRoute struct {
	Route
	key     routeKey
	timeout int // milliseconds; 0 means the gateway's
}

// router holds one API's routes.
type router struct {
	routes []*compiledRoute
	def    *compiledRoute
}

// match selects the route for a request as API Gateway does: the most
// specific matching route, then $default. ok is false when nothing matches.
func (rt *router) match(method, escapedPath string) (*compiledRoute, map[string]string, bool) {
	raw := splitPath(escapedPath)
	var (
		best       *compiledRoute
		bestParams map[string]string
	)
	for _, cr := range rt.routes {
		if cr.key.method != method && cr.key.method != methodAny {
			continue
		}
		params, ok := cr.key.matchPath(raw)
		if !ok {
			continue
		}
		if best == nil || moreSpecific(cr.key, best.key, len(raw)) {
			best, bestParams = cr, params
		}
	}
	if best != nil {
		return best, bestParams, true
	}
	if rt.def != nil {
		return rt.def, nil, true
	}
	return nil, nil, false
}

// badRequest is the error API Gateway's control API returns for an invalid
// API definition.
func badRequest(format string, args ...any) *sluice.Error {
	return sluice.Errorf(ErrBadRequest, format, args...)
}
