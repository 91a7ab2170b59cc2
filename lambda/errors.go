package lambda

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/sluicehq/sluice"
)

// Lambda wire codes that have no constant in the root package because only
// this edge produces them.
const (
	errValidation              sluice.Code = "ValidationException"
	errRequestEntityTooLarge   sluice.Code = "RequestEntityTooLargeException"
	errAccessDeniedException   sluice.Code = "AccessDeniedException"
	errMissingAuthToken        sluice.Code = "MissingAuthenticationTokenException"
	errIncompleteSignature     sluice.Code = "IncompleteSignatureException"
	errExpiredTokenException   sluice.Code = "ExpiredTokenException"
	errUnknownOperation        sluice.Code = "UnknownOperationException"
	errSerializationException  sluice.Code = "SerializationException"
	errNotImplementedException sluice.Code = "NotImplementedException"
)

// internalMessage is all a client learns about an error without a code.
const internalMessage = "An internal error occurred. Check the sluice log for details."

// statusOf maps a Lambda error code to its HTTP status, as the Lambda API
// reference lists them.
func statusOf(code sluice.Code) int {
	switch code {
	case sluice.ErrResourceNotFound, errUnknownOperation:
		return http.StatusNotFound
	case sluice.ErrResourceConflict, sluice.ErrResourceAlreadyExists:
		return http.StatusConflict
	case sluice.ErrInvalidParameterValue, sluice.ErrInvalidParameter, sluice.ErrInvalidRequestContent,
		errValidation, sluice.ErrCodeStorageExceeded, errIncompleteSignature, errSerializationException:
		return http.StatusBadRequest
	case sluice.ErrRequestTooLarge, errRequestEntityTooLarge:
		return http.StatusRequestEntityTooLarge
	case sluice.ErrTooManyRequests:
		return http.StatusTooManyRequests
	case sluice.ErrPreconditionFailedFn:
		return http.StatusPreconditionFailed
	case sluice.ErrUnsupportedMediaType:
		return http.StatusUnsupportedMediaType
	case sluice.ErrInvalidSignature, sluice.ErrUnrecognizedClient, errAccessDeniedException,
		errMissingAuthToken, errExpiredTokenException:
		return http.StatusForbidden
	case errNotImplementedException:
		return http.StatusNotImplemented
	}
	return http.StatusInternalServerError
}

// lambdaError translates errors that other layers produce (the front door's
// authentication codes, store codes) into the Lambda error the AWS service
// would send for the same situation. Codes already in Lambda's vocabulary
// pass through; anything else becomes a ServiceException.
func lambdaError(err error) *sluice.Error {
	var e *sluice.Error
	if !errors.As(err, &e) {
		return sluice.Wrap(sluice.ErrServiceException, err, internalMessage)
	}
	switch e.Code {
	case sluice.ErrSignatureDoesNotMatch:
		return sluice.Wrap(sluice.ErrInvalidSignature, e, "The request signature we calculated does not match the signature you provided. "+
			"Check your AWS Secret Access Key and signing method. Consult the service documentation for details.")
	case sluice.ErrInvalidAccessKeyID:
		return sluice.Wrap(sluice.ErrUnrecognizedClient, e, "The security token included in the request is invalid.")
	case sluice.ErrRequestTimeTooSkewed:
		return sluice.Wrap(sluice.ErrInvalidSignature, e, skewMessage(e))
	case sluice.ErrExpiredToken:
		return sluice.Wrap(errExpiredTokenException, e, "The security token included in the request is expired")
	case sluice.ErrAuthorizationHeaderMalformed, sluice.ErrAuthorizationQueryParamsError, sluice.ErrMissingSecurityHeader:
		return sluice.Wrap(errIncompleteSignature, e, e.Message)
	case sluice.ErrContentSHA256Mismatch:
		return sluice.Wrap(sluice.ErrInvalidSignature, e, e.Message)
	case sluice.ErrAccessDenied:
		return sluice.Wrap(errAccessDeniedException, e, e.Message)
	case sluice.ErrInternal:
		return sluice.Wrap(sluice.ErrServiceException, e, internalMessage)
	case sluice.ErrNotImplemented:
		return sluice.Wrap(errNotImplementedException, e, e.Message)
	}
	if statusOf(e.Code) == http.StatusInternalServerError && e.Code != sluice.ErrServiceException {
		return sluice.Wrap(sluice.ErrServiceException, e, internalMessage)
	}
	return e
}

// skewMessage words a clock-skew refusal as Lambda does: "Signature
// expired: 20240101T000000Z is now earlier than 20240101T001000Z
// (20240101T002500Z - 15 min.)", or "Signature not yet current: ... is still
// later than ..." for a request from the future.
func skewMessage(e *sluice.Error) string {
	const basic = "20060102T150405Z"
	req := e.Fields["RequestTime"]
	now, err := time.Parse(time.RFC3339, e.Fields["ServerTime"])
	ms, merr := strconv.ParseInt(e.Fields["MaxAllowedSkewMilliseconds"], 10, 64)
	rt, rerr := time.Parse(basic, req)
	if err != nil || merr != nil || rerr != nil {
		return "Signature expired: " + e.Message
	}
	skew := time.Duration(ms) * time.Millisecond
	mins := int(skew / time.Minute)
	if rt.After(now) {
		return fmt.Sprintf("Signature not yet current: %s is still later than %s (%s + %d min.)",
			req, now.Add(skew).UTC().Format(basic), now.UTC().Format(basic), mins)
	}
	return fmt.Sprintf("Signature expired: %s is now earlier than %s (%s - %d min.)",
		req, now.Add(-skew).UTC().Format(basic), now.UTC().Format(basic), mins)
}

// WriteError renders err in Lambda's REST-JSON error shape: the status, an
// x-amzn-ErrorType header naming the code and a JSON body with Type and
// Message (AWS sends "message" for some codes and "Message" for others; both
// are written so that every SDK finds it). The front door calls it for
// authentication failures too.
func (s *Service) WriteError(w http.ResponseWriter, r *http.Request, err error) {
	e := lambdaError(err)
	msg := e.Message
	if e.Code == sluice.ErrServiceException {
		s.log.Error("lambda: internal error", "request_id", sluice.RequestInfoFrom(r.Context()).ID,
			"method", r.Method, "path", r.URL.Path, "err", err)
		msg = internalMessage
	} else if e.Err != nil {
		s.log.Warn("lambda: request failed", "request_id", sluice.RequestInfoFrom(r.Context()).ID,
			"code", string(e.Code), "err", err)
	}
	body := map[string]any{"Type": "User", "Message": msg, "message": msg}
	if statusOf(e.Code) >= 500 {
		body["Type"] = "Service"
	}
	for k, v := range e.Fields {
		body[k] = v
	}
	if e.Code == sluice.ErrTooManyRequests {
		if ra := e.Fields["retryAfterSeconds"]; ra != "" {
			w.Header().Set("Retry-After", ra)
		}
	}
	b, _ := json.Marshal(body)
	h := w.Header()
	setRequestID(w, r)
	h.Del("Content-Length")
	h.Set("Content-Type", "application/json")
	h.Set("X-Amzn-ErrorType", string(e.Code))
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(statusOf(e.Code))
	_, _ = w.Write(b)
}

// setRequestID names the request in Lambda's header unless a handler already
// set the invocation's own id.
func setRequestID(w http.ResponseWriter, r *http.Request) {
	if w.Header().Get("X-Amzn-RequestId") == "" {
		if id := sluice.RequestInfoFrom(r.Context()).ID; id != "" {
			w.Header().Set("X-Amzn-RequestId", id)
		}
	}
}

// Error constructors for the common cases, worded as AWS words them.

func functionNotFound(arn string) *sluice.Error {
	return sluice.Errorf(sluice.ErrResourceNotFound, "Function not found: %s", arn)
}

func invalidParam(format string, args ...any) *sluice.Error {
	return sluice.Errorf(sluice.ErrInvalidParameterValue, format, args...)
}

// validation builds the "1 validation error detected" message the Lambda
// front end sends (code ValidationException) for values outside a member's
// constraints.
func validation(value any, member, constraint string) *sluice.Error {
	v := "null"
	if value != nil {
		v = "'" + strings.TrimSpace(strings.ReplaceAll(toString(value), "\n", " ")) + "'"
	}
	return sluice.Errorf(errValidation, "1 validation error detected: Value %s at '%s' failed to satisfy constraint: %s", v, member, constraint)
}

func toString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case int:
		return strconv.Itoa(x)
	case int64:
		return strconv.FormatInt(x, 10)
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func preconditionFailed() *sluice.Error {
	return sluice.Errorf(sluice.ErrPreconditionFailedFn,
		"The Revision Id provided does not match the latest Revision Id. Call the GetFunction/GetAlias API to retrieve the latest Revision Id")
}
