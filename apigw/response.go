package apigw

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// Default content types of integration responses: a response without a
// statusCode is taken as a JSON body; one with a statusCode but no
// Content-Type gets what API Gateway sends for it.
const (
	inferredContentType = "application/json"
	defaultContentType  = "text/plain; charset=utf-8"
)

// response is what the client gets for an integration's output.
type response struct {
	status  int
	header  http.Header
	cookies []string
	body    []byte
}

// interpretResponse turns a function's output into the HTTP response, with
// payload format 2.0's rules: output that is valid JSON but not an object
// with a statusCode is the body of a 200 application/json response, as it
// came; an object with a statusCode is a response of its own (statusCode,
// headers, cookies, body, isBase64Encoded; other fields are ignored). A
// field of the wrong type, a status out of range or a body that is not
// base64 when isBase64Encoded says so is an error: API Gateway answers 502.
func interpretResponse(out []byte) (*response, error) {
	trimmed := bytes.TrimSpace(out)
	if !json.Valid(trimmed) {
		return nil, fmt.Errorf("the function's output is not valid JSON")
	}
	var fields map[string]json.RawMessage
	if trimmed[0] != '{' || json.Unmarshal(trimmed, &fields) != nil || isNull(fields["statusCode"]) {
		h := http.Header{}
		h.Set("Content-Type", inferredContentType)
		return &response{status: http.StatusOK, header: h, body: out}, nil
	}

	resp := &response{header: http.Header{}}
	status, err := parseStatus(fields["statusCode"])
	if err != nil {
		return nil, err
	}
	resp.status = status

	if raw := fields["headers"]; !isNull(raw) {
		var headers map[string]json.RawMessage
		if err := json.Unmarshal(raw, &headers); err != nil {
			return nil, fmt.Errorf("field \"headers\" must be an object of strings")
		}
		for name, v := range headers {
			value, ok, err := headerValue(v)
			if err != nil {
				return nil, fmt.Errorf("header %q: %w", name, err)
			}
			if !ok || !validHeaderName(name) {
				continue
			}
			resp.header.Set(name, value)
		}
	}
	if raw := fields["cookies"]; !isNull(raw) {
		if err := json.Unmarshal(raw, &resp.cookies); err != nil {
			return nil, fmt.Errorf("field \"cookies\" must be an array of strings")
		}
	}
	base64Body := false
	if raw := fields["isBase64Encoded"]; !isNull(raw) {
		if err := json.Unmarshal(raw, &base64Body); err != nil {
			return nil, fmt.Errorf("field \"isBase64Encoded\" must be a boolean")
		}
	}
	if raw := fields["body"]; !isNull(raw) {
		var body string
		if err := json.Unmarshal(raw, &body); err != nil {
			return nil, fmt.Errorf("field \"body\" must be a string")
		}
		if base64Body {
			b, err := base64.StdEncoding.DecodeString(body)
			if err != nil {
				return nil, fmt.Errorf("field \"body\" is not valid base64 although isBase64Encoded is true")
			}
			resp.body = b
		} else {
			resp.body = []byte(body)
		}
	}
	if resp.header.Get("Content-Type") == "" {
		resp.header.Set("Content-Type", defaultContentType)
	}
	return resp, nil
}

func isNull(raw json.RawMessage) bool {
	return len(raw) == 0 || string(raw) == "null"
}

// parseStatus reads statusCode: an integral JSON number of a final HTTP
// status (200-599; net/http cannot send an informational one as final).
func parseStatus(raw json.RawMessage) (int, error) {
	var n json.Number
	// json.Number also takes a quoted number; API Gateway wants a number.
	if raw[0] == '"' || json.Unmarshal(raw, &n) != nil {
		return 0, fmt.Errorf("field \"statusCode\" must be a number")
	}
	status, err := strconv.Atoi(n.String())
	if err != nil {
		f, ferr := n.Float64()
		if ferr != nil || f != float64(int(f)) {
			return 0, fmt.Errorf("field \"statusCode\" must be an integer, got %s", n)
		}
		status = int(f)
	}
	if status < 200 || status > 599 {
		return 0, fmt.Errorf("statusCode %d is not a valid HTTP status", status)
	}
	return status, nil
}

// headerValue renders a header value; numbers and booleans are accepted as
// API Gateway accepts them, null drops the header.
func headerValue(raw json.RawMessage) (string, bool, error) {
	if isNull(raw) {
		return "", false, nil
	}
	switch raw[0] {
	case '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", false, err
		}
		return s, true, nil
	case '{', '[':
		return "", false, fmt.Errorf("value must be a string")
	default:
		return string(raw), true, nil
	}
}

// validHeaderName keeps names net/http can write (RFC 9110 tokens).
func validHeaderName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte("\"(),/:;<=>?@[\\]{}", c) >= 0 {
			return false
		}
	}
	return true
}
