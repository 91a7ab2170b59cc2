package awsevent

import (
	"encoding/base64"
	"encoding/hex"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"

	"github.com/sluicehq/sluice"
)

// HTTP API constants.
const (
	HTTPAPIPayloadVersion = "2.0"
	// HTTPAPITimeLayout is requestContext.time's format.
	HTTPAPITimeLayout = "02/Jan/2006:15:04:05 -0700"
	// DefaultRoute and DefaultStage are the catch-all route and the
	// auto-deployed stage.
	DefaultRoute = "$default"
	DefaultStage = "$default"
)

// HTTPRoute is what the API knows about a request beyond the request itself:
// which route matched, on which API and stage. Empty fields get AWS's
// defaults, and ids are generated.
type HTTPRoute struct {
	APIID string
	// RouteKey is "METHOD /path/{param}" or "$default".
	RouteKey       string
	Stage          string
	PathParameters map[string]string
	StageVariables map[string]string
	AccountID      string
	// DomainName is the API's host name; the request's Host when empty.
	DomainName string
	// RequestID is requestContext.requestId; generated when empty.
	RequestID string
	// Time is when the API received the request; now when zero.
	Time time.Time
	// SourceIP is the client address; from RemoteAddr when empty.
	SourceIP string
	// Rand supplies generated ids (request id, trace id); crypto/rand when nil.
	Rand io.Reader
}

// HTTPAPIRequest is the payload format 2.0 event an HTTP API route delivers.
//
// It is events.APIGatewayV2HTTPRequest with AWS's JSON encoding: the
// aws-lambda-go type always emits requestContext.authentication (a struct
// that omitempty cannot omit), which API Gateway sends only for mutual TLS.
type HTTPAPIRequest events.APIGatewayV2HTTPRequest

// textMediaTypes are the non-text/* media types whose bodies API Gateway
// passes as text; every other body is base64-encoded.
var textMediaTypes = map[string]bool{
	"application/json":       true,
	"application/javascript": true,
	"application/ecmascript": true,
	"application/xml":        true,
	"application/xhtml+xml":  true,
	"application/ld+json":    true,
	"application/graphql":    true,
	"application/yaml":       true,
	"application/x-yaml":     true,
	"application/x-ndjson":   true,
}

// IsTextBody reports whether an HTTP API passes a body with these headers
// as text rather than base64: the media type must be text/*, a JSON/XML
// type (also any +json/+xml suffix) or another script or data format, the
// body must not carry a Content-Encoding, and it must be valid UTF-8. A
// missing Content-Type, and application/x-www-form-urlencoded, arrive as
// base64 on AWS.
func IsTextBody(h http.Header, body []byte) bool {
	if ce := strings.TrimSpace(h.Get("Content-Encoding")); ce != "" && !strings.EqualFold(ce, "identity") {
		return false
	}
	mt, _, err := mime.ParseMediaType(h.Get("Content-Type"))
	if err != nil {
		return false
	}
	text := strings.HasPrefix(mt, "text/") || textMediaTypes[mt] ||
		strings.HasSuffix(mt, "+json") || strings.HasSuffix(mt, "+xml")
	return text && utf8.Valid(body)
}

// NewHTTPAPIRequest builds the event for r, whose body has already been read
// into body, as an HTTP API delivers it to a route's function.
func NewHTTPAPIRequest(r *http.Request, body []byte, route HTTPRoute) HTTPAPIRequest {
	now := route.Time
	if now.IsZero() {
		now = time.Now()
	}
	now = now.UTC()
	domain := route.DomainName
	if domain == "" {
		domain = hostOnly(r.Host)
	}
	prefix, _, _ := strings.Cut(domain, ".")
	sourceIP := route.SourceIP
	if sourceIP == "" {
		sourceIP = remoteIP(r.RemoteAddr)
	}
	routeKey := route.RouteKey
	if routeKey == "" {
		routeKey = DefaultRoute
	}
	stage := route.Stage
	if stage == "" {
		stage = DefaultStage
	}
	account := route.AccountID
	if account == "" {
		account = sluice.AccountID
	}
	requestID := route.RequestID
	if requestID == "" {
		// API Gateway request ids are 16 base64 characters.
		requestID = randomBase64(route.Rand, 11)
	}

	headers, cookies := httpAPIHeaders(r, body, sourceIP, now, route.Rand)
	ev := HTTPAPIRequest{
		Version:               HTTPAPIPayloadVersion,
		RouteKey:              routeKey,
		RawPath:               r.URL.Path,
		RawQueryString:        r.URL.RawQuery,
		Cookies:               cookies,
		Headers:               headers,
		QueryStringParameters: joinedQuery(r.URL.RawQuery),
		PathParameters:        nonEmpty(route.PathParameters),
		StageVariables:        nonEmpty(route.StageVariables),
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			RouteKey:     routeKey,
			AccountID:    account,
			Stage:        stage,
			RequestID:    requestID,
			APIID:        route.APIID,
			DomainName:   domain,
			DomainPrefix: prefix,
			Time:         now.Format(HTTPAPITimeLayout),
			TimeEpoch:    now.UnixMilli(),
			HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{
				Method:    r.Method,
				Path:      r.URL.Path,
				Protocol:  r.Proto,
				SourceIP:  sourceIP,
				UserAgent: r.Header.Get("User-Agent"),
			},
		},
	}
	if ev.RawPath == "" {
		ev.RawPath, ev.RequestContext.HTTP.Path = "/", "/"
	}
	if len(body) > 0 {
		if IsTextBody(r.Header, body) {
			ev.Body = string(body)
		} else {
			ev.Body = base64.StdEncoding.EncodeToString(body)
			ev.IsBase64Encoded = true
		}
	}
	return ev
}

// httpAPIHeaders lower-cases and comma-joins r's headers, moves Cookie into
// the cookies list and adds the headers API Gateway adds.
func httpAPIHeaders(r *http.Request, body []byte, sourceIP string, now time.Time, rnd io.Reader) (map[string]string, []string) {
	headers := make(map[string]string, len(r.Header)+6)
	var cookies []string
	for name, values := range r.Header {
		lname := strings.ToLower(name)
		if lname == "cookie" {
			for _, v := range values {
				for _, c := range strings.Split(v, ";") {
					if c = strings.TrimSpace(c); c != "" {
						cookies = append(cookies, c)
					}
				}
			}
			continue
		}
		if prev, ok := headers[lname]; ok {
			headers[lname] = prev + "," + strings.Join(values, ",")
		} else {
			headers[lname] = strings.Join(values, ",")
		}
	}
	// net/http lifts these out of Header; API Gateway shows them.
	if r.Host != "" {
		headers["host"] = r.Host
	}
	headers["content-length"] = strconv.Itoa(len(body))
	if xff := headers["x-forwarded-for"]; xff != "" {
		headers["x-forwarded-for"] = xff + ", " + sourceIP
	} else {
		headers["x-forwarded-for"] = sourceIP
	}
	proto, port := "http", "80"
	if r.TLS != nil {
		proto, port = "https", "443"
	}
	if _, p, err := splitPort(r.Host); err == nil && p != "" {
		port = p
	}
	headers["x-forwarded-proto"] = proto
	headers["x-forwarded-port"] = port
	if _, ok := headers["x-amzn-trace-id"]; !ok {
		headers["x-amzn-trace-id"] = TraceID(now, rnd)
	}
	return headers, cookies
}

func splitPort(hostport string) (host, port string, err error) {
	i := strings.LastIndexByte(hostport, ':')
	if i < 0 || strings.HasSuffix(hostport, "]") {
		return hostport, "", nil
	}
	return hostport[:i], hostport[i+1:], nil
}

// TraceID returns an X-Amzn-Trace-Id root: "Root=1-<epoch hex>-<96 random bits>".
func TraceID(now time.Time, rnd io.Reader) string {
	return "Root=1-" + strconv.FormatInt(now.Unix(), 16) + "-" + hex.EncodeToString(randomBytes(rnd, 12))
}

// joinedQuery decodes a raw query string into single values, comma-joining
// repeated keys in the order they came, or nil when there is no query.
func joinedQuery(raw string) map[string]string {
	if raw == "" {
		return nil
	}
	out := map[string]string{}
	for _, part := range strings.Split(raw, "&") {
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		if dk, err := url.QueryUnescape(k); err == nil {
			k = dk
		}
		if dv, err := url.QueryUnescape(v); err == nil {
			v = dv
		}
		if prev, ok := out[k]; ok {
			out[k] = prev + "," + v
		} else {
			out[k] = v
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

func nonEmpty(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	return m
}

// httpAPIWire mirrors events.APIGatewayV2HTTPRequest, with authentication
// omitted when empty.
type httpAPIWire struct {
	Version               string             `json:"version"`
	RouteKey              string             `json:"routeKey"`
	RawPath               string             `json:"rawPath"`
	RawQueryString        string             `json:"rawQueryString"`
	Cookies               []string           `json:"cookies,omitempty"`
	Headers               map[string]string  `json:"headers"`
	QueryStringParameters map[string]string  `json:"queryStringParameters,omitempty"`
	RequestContext        httpAPIWireContext `json:"requestContext"`
	Body                  string             `json:"body,omitempty"`
	PathParameters        map[string]string  `json:"pathParameters,omitempty"`
	IsBase64Encoded       bool               `json:"isBase64Encoded"`
	StageVariables        map[string]string  `json:"stageVariables,omitempty"`
}

type httpAPIWireContext struct {
	AccountID      string                                                      `json:"accountId"`
	APIID          string                                                      `json:"apiId"`
	Authentication *events.APIGatewayV2HTTPRequestContextAuthentication        `json:"authentication,omitempty"`
	Authorizer     *events.APIGatewayV2HTTPRequestContextAuthorizerDescription `json:"authorizer,omitempty"`
	DomainName     string                                                      `json:"domainName"`
	DomainPrefix   string                                                      `json:"domainPrefix"`
	HTTP           events.APIGatewayV2HTTPRequestContextHTTPDescription        `json:"http"`
	RequestID      string                                                      `json:"requestId"`
	RouteKey       string                                                      `json:"routeKey"`
	Stage          string                                                      `json:"stage"`
	Time           string                                                      `json:"time"`
	TimeEpoch      int64                                                       `json:"timeEpoch"`
}

// MarshalJSON renders the event as API Gateway does.
func (e HTTPAPIRequest) MarshalJSON() ([]byte, error) {
	c := e.RequestContext
	w := httpAPIWire{
		Version:               e.Version,
		RouteKey:              e.RouteKey,
		RawPath:               e.RawPath,
		RawQueryString:        e.RawQueryString,
		Cookies:               e.Cookies,
		Headers:               e.Headers,
		QueryStringParameters: e.QueryStringParameters,
		PathParameters:        e.PathParameters,
		StageVariables:        e.StageVariables,
		Body:                  e.Body,
		IsBase64Encoded:       e.IsBase64Encoded,
		RequestContext: httpAPIWireContext{
			AccountID:    c.AccountID,
			APIID:        c.APIID,
			Authorizer:   c.Authorizer,
			DomainName:   c.DomainName,
			DomainPrefix: c.DomainPrefix,
			HTTP:         c.HTTP,
			RequestID:    c.RequestID,
			RouteKey:     c.RouteKey,
			Stage:        c.Stage,
			Time:         c.Time,
			TimeEpoch:    c.TimeEpoch,
		},
	}
	if c.Authentication != (events.APIGatewayV2HTTPRequestContextAuthentication{}) {
		auth := c.Authentication
		w.RequestContext.Authentication = &auth
	}
	if w.Headers == nil {
		w.Headers = map[string]string{}
	}
	return Marshal(w)
}
