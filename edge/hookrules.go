package edge

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/sluicehq/sluice/awsevent"
)

// Header rules of "Restrictions on all edge functions". Disallowed headers
// are never shown to functions and a function may not add them; read-only
// headers may be read but not added, changed or removed. Either violation is
// a validation error: 502 to the viewer.
var disallowedHeaders = map[string]bool{
	"connection": true, "expect": true, "keep-alive": true, "proxy-authenticate": true,
	"proxy-authorization": true, "proxy-connection": true, "trailer": true, "upgrade": true,
	"x-accel-buffering": true, "x-accel-charset": true, "x-accel-limit-rate": true, "x-accel-redirect": true,
	"x-amzn-auth": true, "x-amzn-cf-billing": true, "x-amzn-cf-id": true, "x-amzn-cf-xff": true,
	"x-amzn-errortype": true, "x-amzn-fle-profile": true, "x-amzn-header-count": true,
	"x-amzn-header-order": true, "x-amzn-lambda-integration-tag": true, "x-amzn-requestid": true,
	"x-cache": true, "x-forwarded-proto": true, "x-real-ip": true,
}

func isDisallowedHeader(lname string) bool {
	return disallowedHeaders[lname] || strings.HasPrefix(lname, "x-amz-cf-") || strings.HasPrefix(lname, "x-edge-")
}

var readOnlyHeaders = map[string][]string{
	awsevent.EdgeViewerRequest:  {"content-length", "host", "transfer-encoding", "via"},
	awsevent.EdgeOriginRequest:  {"accept-encoding", "content-length", "if-modified-since", "if-none-match", "if-range", "if-unmodified-since", "transfer-encoding", "via"},
	awsevent.EdgeOriginResponse: {"transfer-encoding", "via"},
	awsevent.EdgeViewerResponse: {"warning", "via"},
	// A generated response may not frame itself: the edge sets the
	// framing of what it sends, as CloudFront does.
	generatedResponse: {"transfer-encoding", "via"},
}

// generatedResponse keys readOnlyHeaders for responses functions generate
// at request events.
const generatedResponse = "generated-response"

// Lambda@Edge limits on what functions return.
const (
	maxViewerGenerated = 40 << 10 // generated response at viewer-request
	maxOriginGenerated = 1 << 20  // generated response at origin-request, replaced body at origin-response
	maxURILength       = 8192     // URI plus query string
)

// validationError is a function result CloudFront would reject
// (LambdaValidationError, 502).
type validationError struct{ msg string }

func (e *validationError) Error() string { return "invalid function result: " + e.msg }

func invalidf(format string, args ...any) error {
	return &validationError{msg: fmt.Sprintf(format, args...)}
}

// exposedHeaders returns h without the disallowed headers, as functions see it.
func exposedHeaders(h awsevent.CloudFrontHeaders) awsevent.CloudFrontHeaders {
	out := make(awsevent.CloudFrontHeaders, len(h))
	for name, vs := range h {
		if !isDisallowedHeader(name) {
			out[name] = vs
		}
	}
	return out
}

// checkHeaders validates headers a function returned against the ones it
// was given for eventType.
func checkHeaders(eventType string, before, after awsevent.CloudFrontHeaders) error {
	for name, vs := range after {
		if name != strings.ToLower(name) || !validHeaderName(name) {
			return invalidf("header name %q is not a lower-case HTTP header name", name)
		}
		if isDisallowedHeader(name) {
			return invalidf("the function added the disallowed header %q", name)
		}
		for _, v := range vs {
			if v.Key != "" && !strings.EqualFold(v.Key, name) {
				return invalidf("header %q has key %q", name, v.Key)
			}
			if !validHeaderValue(v.Value) {
				return invalidf("header %q has an invalid value", name)
			}
		}
	}
	for _, name := range readOnlyHeaders[eventType] {
		if !slices.Equal(headerValues(before[name]), headerValues(after[name])) {
			return invalidf("the function changed the read-only header %q", name)
		}
	}
	return nil
}

func headerValues(vs []awsevent.CloudFrontHeader) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = v.Value
	}
	return out
}

func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return true
}

func validHeaderValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < ' ' && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

// hookResult is a parsed function result: a request to go on with, or a
// response (generated at a request event, or the modified response of a
// response event).
type hookResult struct {
	request  *awsevent.CloudFrontRequest
	response *awsevent.CloudFrontResponse
	status   int
	// bodySet reports that the response carries a body (possibly empty)
	// that replaces the origin's; body is its decoded bytes.
	bodySet bool
	body    []byte
	// reqBody is a request body the function replaced (action "replace").
	reqBody    []byte
	reqBodySet bool
	// native marks a built-in's result, exempt from body size limits.
	native bool
}

// parseHookResult decodes and validates what a function returned for an
// event of eventType. A request event may return the request or a
// generated response (told apart by "status", which a response must have).
// includeBody says whether the association exposes the request body (only
// then may the function replace it).
func parseHookResult(eventType string, payload []byte, includeBody bool) (*hookResult, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(payload, &raw); err != nil || raw == nil {
		return nil, invalidf("the result is not a JSON object")
	}
	isRequestEvent := eventType == awsevent.EdgeViewerRequest || eventType == awsevent.EdgeOriginRequest
	if _, hasStatus := raw["status"]; hasStatus || !isRequestEvent {
		return parseResponseResult(eventType, raw)
	}
	return parseRequestResult(eventType, raw, includeBody)
}

func parseRequestResult(eventType string, raw map[string]json.RawMessage, includeBody bool) (*hookResult, error) {
	var req struct {
		URI         *string                    `json:"uri"`
		QueryString *string                    `json:"querystring"`
		Method      string                     `json:"method"`
		ClientIP    string                     `json:"clientIp"`
		Headers     awsevent.CloudFrontHeaders `json:"headers"`
		Body        *awsevent.CloudFrontBody   `json:"body"`
		Origin      *awsevent.CloudFrontOrigin `json:"origin"`
	}
	b, _ := json.Marshal(raw)
	if err := json.Unmarshal(b, &req); err != nil {
		return nil, invalidf("the request object is malformed: %v", err)
	}
	if req.URI == nil {
		return nil, invalidf("the request has no uri")
	}
	uri, qs := *req.URI, ""
	if req.QueryString != nil {
		qs = *req.QueryString
	}
	if !strings.HasPrefix(uri, "/") {
		return nil, invalidf("uri %q does not start with '/'", uri)
	}
	if len(uri)+len(qs) >= maxURILength {
		return nil, invalidf("uri and query string are %d characters, the limit is %d", len(uri)+len(qs), maxURILength-1)
	}
	if !validURIPart(uri, false) || !validURIPart(qs, true) {
		return nil, invalidf("uri or query string contains spaces, control characters or '#'")
	}
	out := &awsevent.CloudFrontRequest{
		URI: uri, QueryString: qs, Method: req.Method, ClientIP: req.ClientIP,
		Headers: req.Headers, Origin: req.Origin,
	}
	if out.Headers == nil {
		out.Headers = awsevent.CloudFrontHeaders{}
	}
	res := &hookResult{request: out}
	if req.Body != nil && includeBody && req.Body.Action == awsevent.BodyActionReplace {
		var data []byte
		switch req.Body.Encoding {
		case awsevent.BodyEncodingText:
			data = []byte(req.Body.Data)
		case "", awsevent.BodyEncodingBase64:
			d, err := base64.StdEncoding.DecodeString(req.Body.Data)
			if err != nil {
				return nil, invalidf("body.data is not valid base64")
			}
			data = d
		default:
			return nil, invalidf("body.encoding %q is neither base64 nor text", req.Body.Encoding)
		}
		limit := awsevent.MaxOriginRequestBody
		if eventType == awsevent.EdgeViewerRequest {
			limit = awsevent.MaxViewerRequestBody
		}
		// Lambda@Edge truncates a replaced body at the event's limit.
		if len(data) > limit {
			data = data[:limit]
		}
		res.reqBody, res.reqBodySet = data, true
	}
	if req.Origin != nil {
		if eventType != awsevent.EdgeOriginRequest {
			return nil, invalidf("only origin-request functions may change the origin")
		}
		if (req.Origin.S3 == nil) == (req.Origin.Custom == nil) {
			return nil, invalidf("origin must hold exactly one of custom and s3")
		}
		if err := checkOrigin(req.Origin); err != nil {
			return nil, err
		}
	}
	return res, nil
}

func checkOrigin(o *awsevent.CloudFrontOrigin) error {
	if s := o.S3; s != nil {
		if _, _, ok := parseS3Domain(s.DomainName); !ok {
			return invalidf("origin.s3.domainName %q is not an S3 bucket domain", s.DomainName)
		}
		return checkCustomHeaders(s.CustomHeaders)
	}
	c := o.Custom
	switch {
	case c.DomainName == "" || strings.ContainsAny(c.DomainName, ":/ ") || len(c.DomainName) > 253:
		return invalidf("origin.custom.domainName %q is not a domain name", c.DomainName)
	case c.Port != 80 && c.Port != 443 && (c.Port < 1024 || c.Port > 65535):
		return invalidf("origin.custom.port %d is not 80, 443 or 1024-65535", c.Port)
	case c.Protocol != "http" && c.Protocol != "https":
		return invalidf("origin.custom.protocol %q is neither http nor https", c.Protocol)
	case c.Path != "" && (!strings.HasPrefix(c.Path, "/") || strings.HasSuffix(c.Path, "/")):
		return invalidf("origin.custom.path %q must start and not end with '/'", c.Path)
	}
	return checkCustomHeaders(c.CustomHeaders)
}

func checkCustomHeaders(h awsevent.CloudFrontHeaders) error {
	for name, vs := range h {
		if !validHeaderName(name) || isDisallowedHeader(strings.ToLower(name)) {
			return invalidf("origin custom header %q is not allowed", name)
		}
		for _, v := range vs {
			if !validHeaderValue(v.Value) {
				return invalidf("origin custom header %q has an invalid value", name)
			}
		}
	}
	return nil
}

func validURIPart(s string, query bool) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c == 0x7f || c == '#' || (!query && c == '?') {
			return false
		}
	}
	return true
}

func parseResponseResult(eventType string, raw map[string]json.RawMessage) (*hookResult, error) {
	var resp struct {
		Status            json.RawMessage            `json:"status"`
		StatusDescription string                     `json:"statusDescription"`
		Headers           awsevent.CloudFrontHeaders `json:"headers"`
		Body              *string                    `json:"body"`
		BodyEncoding      string                     `json:"bodyEncoding"`
	}
	b, _ := json.Marshal(raw)
	if err := json.Unmarshal(b, &resp); err != nil {
		return nil, invalidf("the response object is malformed: %v", err)
	}
	status, err := parseStatus(resp.Status)
	if err != nil {
		return nil, err
	}
	out := &awsevent.CloudFrontResponse{
		Status: strconv.Itoa(status), StatusDescription: resp.StatusDescription, Headers: resp.Headers,
	}
	if out.Headers == nil {
		out.Headers = awsevent.CloudFrontHeaders{}
	}
	res := &hookResult{response: out, status: status}
	if resp.Body != nil && eventType != awsevent.EdgeViewerResponse {
		switch resp.BodyEncoding {
		case "", awsevent.BodyEncodingText:
			res.body = []byte(*resp.Body)
		case awsevent.BodyEncodingBase64:
			d, err := base64.StdEncoding.DecodeString(*resp.Body)
			if err != nil {
				return nil, invalidf("body is not valid base64")
			}
			res.body = d
		default:
			return nil, invalidf("bodyEncoding %q is neither text nor base64", resp.BodyEncoding)
		}
		res.bodySet = true
	}
	return res, nil
}

// parseStatus accepts the status as CloudFront documents it (a string) and
// as functions commonly write it (a number); it must be 200..599.
func parseStatus(raw json.RawMessage) (int, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return 0, invalidf("the response has no status")
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		var n json.Number
		if err := json.Unmarshal(raw, &n); err != nil {
			return 0, invalidf("status is neither a string nor a number")
		}
		s = n.String()
	}
	code, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || code < 200 || code > 599 {
		return 0, invalidf("status %q is not a number between 200 and 599", s)
	}
	return code, nil
}

// checkGenerated applies the generated-response rules of request events.
func checkGenerated(eventType string, res *hookResult, native bool) error {
	if err := checkHeaders(generatedResponse, nil, res.response.Headers); err != nil {
		return err
	}
	if eventType == awsevent.EdgeViewerRequest && res.status == 204 && len(res.body) > 0 {
		return invalidf("a 204 response must not have a body")
	}
	if native {
		return nil
	}
	limit := maxOriginGenerated
	if eventType == awsevent.EdgeViewerRequest {
		limit = maxViewerGenerated
	}
	if len(res.body) > limit {
		return invalidf("the generated response body is %d bytes, the limit is %d", len(res.body), limit)
	}
	return nil
}
