package edge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/awsevent"
)

// Lambda@Edge failure kinds, as CloudFront names them in X-Cache.
const (
	kindExecution  = "LambdaExecutionError"
	kindValidation = "LambdaValidationError"
	kindLimit      = "LambdaLimitExceeded"
)

// hookFailure is a function that failed or returned something CloudFront
// would reject: 502 for an invalid result (validation error), 503 for an
// execution error, a timeout or throttling, as CloudFront answers.
type hookFailure struct {
	status int
	kind   string
	detail string
	err    error
}

func (f *hookFailure) Error() string {
	if f.err != nil {
		return fmt.Sprintf("%s: %s: %v", f.kind, f.detail, f.err)
	}
	return f.kind + ": " + f.detail
}

func (f *hookFailure) Unwrap() error { return f.err }

func (e *Edge) native(name string) NativeHook {
	return (*e.natives.Load())[name]
}

func (e *Edge) hookTimeout(eventType string) time.Duration {
	if eventType == awsevent.EdgeViewerRequest || eventType == awsevent.EdgeViewerResponse {
		return e.cfg.HookTimeout
	}
	return e.cfg.OriginHookTimeout
}

// runHook invokes the function of h with ev and validates what it returns
// with Lambda@Edge's rules. body is the origin's body for native
// origin-response hooks.
func (e *Edge) runHook(ctx context.Context, h *hook, ev awsevent.CloudFrontEvent, body []byte) (*hookResult, error) {
	ctx, cancel := context.WithTimeout(ctx, e.hookTimeout(h.eventType))
	defer cancel()
	cf := ev.Records[0].CF
	var res *hookResult
	var err error
	if fn := e.native(h.name); fn != nil {
		e.m.hookCalls.WithLabelValues(h.eventType, "native").Inc()
		res, err = runNative(ctx, fn, h, cf, body)
	} else {
		e.m.hookCalls.WithLabelValues(h.eventType, "function").Inc()
		res, err = e.runFunction(ctx, h, ev)
	}
	if err == nil {
		err = validateResult(h, cf, res)
	}
	if err != nil {
		var f *hookFailure
		if !errors.As(err, &f) {
			var ve *validationError
			if errors.As(err, &ve) {
				f = &hookFailure{status: http.StatusBadGateway, kind: kindValidation, detail: "The Lambda function result failed validation: " + ve.msg, err: err}
			} else {
				f = &hookFailure{status: http.StatusServiceUnavailable, kind: kindExecution, detail: "the function failed", err: err}
			}
		}
		e.m.hookErrors.WithLabelValues(h.eventType, f.kind).Inc()
		return nil, f
	}
	return res, nil
}

func (e *Edge) runFunction(ctx context.Context, h *hook, ev awsevent.CloudFrontEvent) (*hookResult, error) {
	if e.inv == nil {
		return nil, &hookFailure{status: http.StatusServiceUnavailable, kind: kindExecution, detail: "no function host is configured to run " + h.arn}
	}
	payload, err := awsevent.Marshal(ev)
	if err != nil {
		return nil, fmt.Errorf("encode %s event: %w", h.eventType, err)
	}
	out, err := e.inv.Invoke(ctx, &sluice.InvokeRequest{Function: h.arn, Payload: payload})
	if err != nil {
		switch {
		case ctx.Err() != nil && errors.Is(ctx.Err(), context.DeadlineExceeded):
			return nil, &hookFailure{status: http.StatusServiceUnavailable, kind: kindLimit,
				detail: fmt.Sprintf("the function did not answer within %v", e.hookTimeout(h.eventType)), err: err}
		case sluice.IsCode(err, sluice.ErrTooManyRequests):
			return nil, &hookFailure{status: http.StatusServiceUnavailable, kind: kindLimit, detail: "the function is throttled", err: err}
		}
		return nil, &hookFailure{status: http.StatusServiceUnavailable, kind: kindExecution, detail: "the function could not be invoked", err: err}
	}
	if out.FunctionError != "" {
		fnErr := fmt.Errorf("%s returned %s: %s", h.arn, out.FunctionError, errorMessage(out.Payload))
		if timedOut(out.Payload) || errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return nil, &hookFailure{status: http.StatusServiceUnavailable, kind: kindLimit,
				detail: fmt.Sprintf("the function did not answer within %v", e.hookTimeout(h.eventType)), err: fnErr}
		}
		return nil, &hookFailure{status: http.StatusServiceUnavailable, kind: kindExecution,
			detail: "the function returned an error", err: fnErr}
	}
	return parseHookResult(h.eventType, out.Payload, h.includeBody)
}

func errorMessage(payload []byte) string {
	var doc struct {
		ErrorMessage string `json:"errorMessage"`
		ErrorType    string `json:"errorType"`
	}
	if json.Unmarshal(payload, &doc) != nil {
		return "unreadable error document"
	}
	if doc.ErrorType != "" {
		return doc.ErrorType + ": " + doc.ErrorMessage
	}
	return doc.ErrorMessage
}

func timedOut(payload []byte) bool {
	var doc struct {
		ErrorMessage string `json:"errorMessage"`
		ErrorType    string `json:"errorType"`
	}
	_ = json.Unmarshal(payload, &doc)
	return doc.ErrorType == "Sandbox.Timedout" || strings.Contains(doc.ErrorMessage, "Task timed out")
}

// runNative calls a built-in in-process.
func runNative(ctx context.Context, fn NativeHook, h *hook, cf awsevent.CloudFrontCF, body []byte) (*hookResult, error) {
	in := cf
	if in.Request != nil {
		r := *in.Request
		r.Headers = cloneCFHeaders(r.Headers)
		in.Request = &r
	}
	if in.Response != nil {
		r := *in.Response
		r.Headers = cloneCFHeaders(r.Headers)
		in.Response = &r
	}
	out, outBody, err := fn(ctx, &in, body)
	if err != nil {
		return nil, &hookFailure{status: http.StatusServiceUnavailable, kind: kindExecution, detail: "the built-in function " + h.name + " failed", err: err}
	}
	if out == nil {
		out = &cf
	}
	isRequestEvent := h.eventType == awsevent.EdgeViewerRequest || h.eventType == awsevent.EdgeOriginRequest
	res := &hookResult{}
	if isRequestEvent && out.Response == nil {
		res.request = out.Request
		if res.request == nil {
			res.request = cf.Request
		}
		return res, nil
	}
	resp := out.Response
	if resp == nil {
		resp = cf.Response
	}
	if resp == nil {
		return nil, invalidf("the built-in function returned neither a request nor a response")
	}
	status, err := strconv.Atoi(resp.Status)
	if err != nil || status < 200 || status > 599 {
		return nil, invalidf("status %q is not a number between 200 and 599", resp.Status)
	}
	res.response, res.status = resp, status
	if resp.Headers == nil {
		resp.Headers = awsevent.CloudFrontHeaders{}
	}
	if outBody != nil || (isRequestEvent && resp.Body == "") {
		res.body, res.bodySet = outBody, true
	} else if resp.Body != "" {
		b, err := (&awsevent.CloudFrontBody{Data: resp.Body, Encoding: resp.BodyEncoding}).Decode()
		if err != nil {
			return nil, invalidf("body is not valid %s", resp.BodyEncoding)
		}
		res.body, res.bodySet = b, true
	}
	res.native = true
	return res, nil
}

func cloneCFHeaders(h awsevent.CloudFrontHeaders) awsevent.CloudFrontHeaders {
	out := make(awsevent.CloudFrontHeaders, len(h))
	for k, vs := range h {
		out[k] = append([]awsevent.CloudFrontHeader(nil), vs...)
	}
	return out
}

// validateResult applies the header, status and size rules of the event.
func validateResult(h *hook, cf awsevent.CloudFrontCF, res *hookResult) error {
	switch h.eventType {
	case awsevent.EdgeViewerRequest, awsevent.EdgeOriginRequest:
		if res.response != nil {
			return checkGenerated(h.eventType, res, res.native)
		}
		return checkHeaders(h.eventType, cf.Request.Headers, res.request.Headers)
	case awsevent.EdgeOriginResponse:
		if err := checkHeaders(h.eventType, cf.Response.Headers, res.response.Headers); err != nil {
			return err
		}
		if res.bodySet && !res.native && len(res.body) > maxOriginGenerated {
			return invalidf("the replaced body is %d bytes, the limit is %d", len(res.body), maxOriginGenerated)
		}
	case awsevent.EdgeViewerResponse:
		// Viewer-response functions cannot change the status or the body.
		res.status, _ = strconv.Atoi(cf.Response.Status)
		res.bodySet, res.body = false, nil
		return checkHeaders(h.eventType, cf.Response.Headers, res.response.Headers)
	}
	return nil
}
