package awsevent

import (
	"encoding/base64"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
)

// Lambda@Edge event types, the values of cf.config.eventType.
const (
	EdgeViewerRequest  = "viewer-request"
	EdgeOriginRequest  = "origin-request"
	EdgeOriginResponse = "origin-response"
	EdgeViewerResponse = "viewer-response"
)

// How much of a request body Lambda@Edge exposes before it truncates it
// (and sets inputTruncated).
const (
	MaxViewerRequestBody = 40 << 10
	MaxOriginRequestBody = 1 << 20
)

// Body actions and encodings of CloudFrontBody.
const (
	BodyActionReadOnly = "read-only"
	BodyActionReplace  = "replace"
	BodyEncodingBase64 = "base64"
	BodyEncodingText   = "text"
)

// IsEdgeEventType reports whether t is one of the four hook points.
func IsEdgeEventType(t string) bool {
	switch t {
	case EdgeViewerRequest, EdgeOriginRequest, EdgeOriginResponse, EdgeViewerResponse:
		return true
	}
	return false
}

// CloudFrontEvent is the event a Lambda@Edge function receives:
// {"Records":[{"cf":{...}}]}. aws-lambda-go has no type for it, so this
// package declares one; its field order follows CloudFront's (alphabetical)
// and it decodes what functions return as well as what CloudFront sends.
type CloudFrontEvent struct {
	Records []CloudFrontRecord `json:"Records"`
}

// CloudFrontRecord is one record of a CloudFrontEvent.
type CloudFrontRecord struct {
	CF CloudFrontCF `json:"cf"`
}

// CloudFrontCF holds the distribution config and the request, plus the
// response for origin-response and viewer-response events.
type CloudFrontCF struct {
	Config   CloudFrontConfig    `json:"config"`
	Request  *CloudFrontRequest  `json:"request,omitempty"`
	Response *CloudFrontResponse `json:"response,omitempty"`
}

// CloudFrontConfig is cf.config.
type CloudFrontConfig struct {
	DistributionDomainName string `json:"distributionDomainName"`
	DistributionID         string `json:"distributionId"`
	EventType              string `json:"eventType"`
	RequestID              string `json:"requestId"`
}

// NewCloudFrontConfig returns cf.config with a fresh request id (the value
// CloudFront also sends to the origin as X-Amz-Cf-Id). rnd supplies the id;
// crypto/rand when nil.
func NewCloudFrontConfig(distributionID, domainName, eventType string, rnd io.Reader) CloudFrontConfig {
	return CloudFrontConfig{
		DistributionDomainName: domainName,
		DistributionID:         distributionID,
		EventType:              eventType,
		RequestID:              base64.URLEncoding.EncodeToString(randomBytes(rnd, 40)),
	}
}

// CloudFrontHeader is one header value; Key keeps the name's case.
type CloudFrontHeader struct {
	Key   string `json:"key,omitempty"`
	Value string `json:"value"`
}

// CloudFrontHeaders maps lower-case header names to their values.
type CloudFrontHeaders map[string][]CloudFrontHeader

// MarshalJSON renders an empty set as {} (CloudFront never sends null).
func (h CloudFrontHeaders) MarshalJSON() ([]byte, error) {
	if h == nil {
		return []byte("{}"), nil
	}
	return Marshal(map[string][]CloudFrontHeader(h))
}

// CloudFrontHeadersFrom converts h, one entry per value, keyed by the
// lower-cased name with the canonical name in Key.
func CloudFrontHeadersFrom(h http.Header) CloudFrontHeaders {
	out := make(CloudFrontHeaders, len(h))
	for name, values := range h {
		lname := strings.ToLower(name)
		for _, v := range values {
			out[lname] = append(out[lname], CloudFrontHeader{Key: name, Value: v})
		}
	}
	return out
}

// Add appends a value under name.
func (h CloudFrontHeaders) Add(name, value string) {
	lname := strings.ToLower(name)
	h[lname] = append(h[lname], CloudFrontHeader{Key: name, Value: value})
}

// Set replaces every value under name.
func (h CloudFrontHeaders) Set(name, value string) {
	h[strings.ToLower(name)] = []CloudFrontHeader{{Key: name, Value: value}}
}

// Get returns the first value under name, or "".
func (h CloudFrontHeaders) Get(name string) string {
	if vs := h[strings.ToLower(name)]; len(vs) > 0 {
		return vs[0].Value
	}
	return ""
}

// HTTPHeader converts h back to an http.Header. A value without a Key
// (functions may omit it) takes the map's name.
func (h CloudFrontHeaders) HTTPHeader() http.Header {
	out := make(http.Header, len(h))
	names := make([]string, 0, len(h))
	for name := range h {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		for _, v := range h[name] {
			out.Add(name, v.Value)
		}
	}
	return out
}

// CloudFrontRequest is cf.request.
type CloudFrontRequest struct {
	Body        *CloudFrontBody   `json:"body,omitempty"`
	ClientIP    string            `json:"clientIp"`
	Headers     CloudFrontHeaders `json:"headers"`
	Method      string            `json:"method"`
	Origin      *CloudFrontOrigin `json:"origin,omitempty"`
	QueryString string            `json:"querystring"`
	URI         string            `json:"uri"`
}

// NewCloudFrontRequest builds cf.request from a viewer's request: the URI
// as received, the query string without '?', every header including Host.
// The caller adds Body (NewCloudFrontBody) when the association includes
// it, and Origin for origin-facing events.
func NewCloudFrontRequest(r *http.Request, clientIP string) CloudFrontRequest {
	if clientIP == "" {
		clientIP = remoteIP(r.RemoteAddr)
	}
	headers := make(CloudFrontHeaders, len(r.Header)+1)
	if r.Host != "" {
		headers.Set("Host", r.Host)
	}
	for name, values := range r.Header {
		for _, v := range values {
			headers.Add(name, v)
		}
	}
	uri := r.URL.EscapedPath()
	if uri == "" {
		uri = "/"
	}
	return CloudFrontRequest{
		ClientIP:    clientIP,
		Headers:     headers,
		Method:      r.Method,
		QueryString: r.URL.RawQuery,
		URI:         uri,
	}
}

// CloudFrontBody is cf.request.body: what a function reads with
// IncludeBody, and what it returns to replace the body.
type CloudFrontBody struct {
	Action         string `json:"action,omitempty"`
	Data           string `json:"data"`
	Encoding       string `json:"encoding,omitempty"`
	InputTruncated bool   `json:"inputTruncated"`
}

// NewCloudFrontBody returns the read-only, base64 body CloudFront exposes for
// a request event, truncated to that event's limit.
func NewCloudFrontBody(body []byte, eventType string) *CloudFrontBody {
	limit := MaxOriginRequestBody
	if eventType == EdgeViewerRequest {
		limit = MaxViewerRequestBody
	}
	truncated := len(body) > limit
	if truncated {
		body = body[:limit]
	}
	return &CloudFrontBody{
		Action:         BodyActionReadOnly,
		Data:           base64.StdEncoding.EncodeToString(body),
		Encoding:       BodyEncodingBase64,
		InputTruncated: truncated,
	}
}

// Decode returns the body's bytes.
func (b *CloudFrontBody) Decode() ([]byte, error) {
	if b.Encoding == BodyEncodingText {
		return []byte(b.Data), nil
	}
	return base64.StdEncoding.DecodeString(b.Data)
}

// CloudFrontOrigin is cf.request.origin: exactly one of Custom and S3.
type CloudFrontOrigin struct {
	Custom *CloudFrontCustomOrigin `json:"custom,omitempty"`
	S3     *CloudFrontS3Origin     `json:"s3,omitempty"`
}

// CloudFrontCustomOrigin is an HTTP origin.
type CloudFrontCustomOrigin struct {
	CustomHeaders    CloudFrontHeaders `json:"customHeaders"`
	DomainName       string            `json:"domainName"`
	KeepaliveTimeout int               `json:"keepaliveTimeout"`
	Path             string            `json:"path"`
	Port             int               `json:"port"`
	Protocol         string            `json:"protocol"`
	ReadTimeout      int               `json:"readTimeout"`
	SSLProtocols     []string          `json:"sslProtocols"`
}

// CloudFrontS3Origin is a bucket origin.
type CloudFrontS3Origin struct {
	// AuthMethod is "origin-access-identity" or "none".
	AuthMethod    string            `json:"authMethod"`
	CustomHeaders CloudFrontHeaders `json:"customHeaders"`
	DomainName    string            `json:"domainName"`
	Path          string            `json:"path"`
	Region        string            `json:"region"`
}

// CloudFrontResponse is cf.response, or a response a function generates.
// CloudFront never sends a response body to a function; Body and
// BodyEncoding are for the responses functions return.
type CloudFrontResponse struct {
	Body              string            `json:"body,omitempty"`
	BodyEncoding      string            `json:"bodyEncoding,omitempty"`
	Headers           CloudFrontHeaders `json:"headers"`
	Status            string            `json:"status"`
	StatusDescription string            `json:"statusDescription"`
}

// NewCloudFrontResponse builds cf.response from a status and headers.
func NewCloudFrontResponse(status int, h http.Header) CloudFrontResponse {
	return CloudFrontResponse{
		Headers:           CloudFrontHeadersFrom(h),
		Status:            strconv.Itoa(status),
		StatusDescription: http.StatusText(status),
	}
}

// NewCloudFrontRequestEvent returns a viewer-request or origin-request event.
// A viewer-request event carries no origin, as on CloudFront.
func NewCloudFrontRequestEvent(cfg CloudFrontConfig, req CloudFrontRequest) CloudFrontEvent {
	if cfg.EventType == EdgeViewerRequest {
		req.Origin = nil
	}
	return CloudFrontEvent{Records: []CloudFrontRecord{{CF: CloudFrontCF{Config: cfg, Request: &req}}}}
}

// NewCloudFrontResponseEvent returns an origin-response or viewer-response
// event. Response events never carry the request body, and a
// viewer-response event carries no origin, as on CloudFront.
func NewCloudFrontResponseEvent(cfg CloudFrontConfig, req CloudFrontRequest, resp CloudFrontResponse) CloudFrontEvent {
	req.Body = nil
	if cfg.EventType == EdgeViewerResponse {
		req.Origin = nil
	}
	resp.Body, resp.BodyEncoding = "", ""
	return CloudFrontEvent{Records: []CloudFrontRecord{{CF: CloudFrontCF{Config: cfg, Request: &req, Response: &resp}}}}
}
