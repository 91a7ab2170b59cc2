package s3api

import (
	"bytes"
	"encoding/xml"
	"errors"
	"net/http"
	"slices"
	"strconv"

	"github.com/sluicehq/sluice"
)

// Codes S3 uses that the root package does not name.
const (
	errAccessControlListNotSupported sluice.Code = "AccessControlListNotSupported"
	errInvalidBucketACLWithOwnership sluice.Code = "InvalidBucketAclWithObjectOwnership"
	errUserKeyMustBeSpecified        sluice.Code = "UserKeyMustBeSpecified"
	errInvalidToken                  sluice.Code = "InvalidToken"
	errInvalidBucketState            sluice.Code = "InvalidBucketState"
)

// statusByCode is S3's HTTP status for each error code.
var statusByCode = map[sluice.Code]int{
	errReplicationNotFound:                  http.StatusNotFound,
	sluice.ErrAccessDenied:                  http.StatusForbidden,
	sluice.ErrSignatureDoesNotMatch:         http.StatusForbidden,
	sluice.ErrInvalidAccessKeyID:            http.StatusForbidden,
	sluice.ErrAuthorizationHeaderMalformed:  http.StatusBadRequest,
	sluice.ErrAuthorizationQueryParamsError: http.StatusBadRequest,
	sluice.ErrRequestTimeTooSkewed:          http.StatusForbidden,
	sluice.ErrExpiredToken:                  http.StatusBadRequest,
	sluice.ErrMissingSecurityHeader:         http.StatusBadRequest,
	sluice.ErrContentSHA256Mismatch:         http.StatusBadRequest,
	sluice.ErrIncompleteBody:                http.StatusBadRequest,

	sluice.ErrNoSuchBucket:            http.StatusNotFound,
	sluice.ErrBucketAlreadyOwnedByYou: http.StatusConflict,
	sluice.ErrBucketAlreadyExists:     http.StatusConflict,
	sluice.ErrBucketNotEmpty:          http.StatusConflict,
	sluice.ErrInvalidBucketName:       http.StatusBadRequest,
	sluice.ErrNoSuchBucketPolicy:      http.StatusNotFound,
	sluice.ErrNoSuchTagSet:            http.StatusNotFound,
	sluice.ErrMalformedPolicy:         http.StatusBadRequest,
	sluice.ErrInvalidLocationConstr:   http.StatusBadRequest,
	sluice.ErrIllegalLocationConstr:   http.StatusBadRequest,

	sluice.ErrNoSuchKey:             http.StatusNotFound,
	sluice.ErrNoSuchVersion:         http.StatusNotFound,
	sluice.ErrKeyTooLong:            http.StatusBadRequest,
	sluice.ErrEntityTooLarge:        http.StatusBadRequest,
	sluice.ErrEntityTooSmall:        http.StatusBadRequest,
	sluice.ErrBadDigest:             http.StatusBadRequest,
	sluice.ErrInvalidDigest:         http.StatusBadRequest,
	sluice.ErrInvalidTag:            http.StatusBadRequest,
	sluice.ErrMetadataTooLarge:      http.StatusBadRequest,
	sluice.ErrPreconditionFailed:    http.StatusPreconditionFailed,
	sluice.ErrNotModified:           http.StatusNotModified,
	sluice.ErrInvalidRange:          http.StatusRequestedRangeNotSatisfiable,
	sluice.ErrInvalidPartNumber:     http.StatusRequestedRangeNotSatisfiable,
	sluice.ErrConditionalConflict:   http.StatusConflict,
	sluice.ErrInvalidObjectState:    http.StatusForbidden,
	sluice.ErrMissingContentLength:  http.StatusLengthRequired,
	sluice.ErrInvalidStorageClass:   http.StatusBadRequest,
	sluice.ErrInvalidEncryptionAlgo: http.StatusBadRequest,

	sluice.ErrNoSuchUpload:     http.StatusNotFound,
	sluice.ErrInvalidPart:      http.StatusBadRequest,
	sluice.ErrInvalidPartOrder: http.StatusBadRequest,

	sluice.ErrInvalidArgument:         http.StatusBadRequest,
	sluice.ErrInvalidRequest:          http.StatusBadRequest,
	sluice.ErrMalformedXML:            http.StatusBadRequest,
	sluice.ErrMethodNotAllowed:        http.StatusMethodNotAllowed,
	sluice.ErrNotImplemented:          http.StatusNotImplemented,
	sluice.ErrInternal:                http.StatusInternalServerError,
	sluice.ErrServiceUnavailable:      http.StatusServiceUnavailable,
	sluice.ErrSlowDown:                http.StatusServiceUnavailable,
	sluice.ErrRequestTimeout:          http.StatusBadRequest,
	sluice.ErrMaxMessageLengthExceeds: http.StatusBadRequest,
	sluice.ErrInvalidURI:              http.StatusBadRequest,
	sluice.ErrUnknownService:          http.StatusBadRequest,

	errAccessControlListNotSupported: http.StatusBadRequest,
	errInvalidBucketACLWithOwnership: http.StatusBadRequest,
	errUserKeyMustBeSpecified:        http.StatusBadRequest,
	errInvalidToken:                  http.StatusBadRequest,
	errInvalidBucketState:            http.StatusConflict,
}

// Status returns the HTTP status S3 answers an error code with; unknown
// codes are client errors (400), except InternalError.
func Status(code sluice.Code) int {
	if s, ok := statusByCode[code]; ok {
		return s
	}
	return http.StatusBadRequest
}

const internalMessage = "We encountered an internal error. Please try again."

// WriteError renders err as an S3 XML error (used by the front door for auth
// failures too). An error without a sluice.Code is an InternalError whose text
// is logged and never sent. HEAD responses and 304 carry no body. Headers
// already set on w (x-amz-request-id, ETag for a 304) are kept.
func (s *Server) WriteError(w http.ResponseWriter, r *http.Request, err error) {
	var e *sluice.Error
	if !errors.As(err, &e) {
		e = sluice.Wrap(sluice.ErrInternal, err, internalMessage)
	}
	status := Status(e.Code)
	msg := e.Message
	if e.Code == sluice.ErrInternal {
		s.log.Error("s3api: internal error", "request_id", requestID(r), "method", r.Method, "path", r.URL.Path, "err", err)
		msg = internalMessage
	} else if e.Err != nil {
		s.log.Warn("s3api: request failed", "request_id", requestID(r), "code", string(e.Code), "err", err)
	}
	h := w.Header()
	for _, k := range []string{"Content-Length", "Content-Range", "Content-Encoding", "Content-Disposition", "Content-Language", "Cache-Control", "Expires"} {
		h.Del(k)
	}
	if status == http.StatusNotModified {
		w.WriteHeader(status)
		return
	}
	if r.Method == http.MethodHead {
		h.Del("Content-Type")
		w.WriteHeader(status)
		return
	}
	body := errorXML(e, msg, resourceOf(r, e), sluice.RequestInfoFrom(r.Context()))
	h.Set("Content-Type", "application/xml")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func resourceOf(r *http.Request, e *sluice.Error) string {
	if e.Resource != "" {
		return e.Resource
	}
	return r.URL.Path
}

func errorXML(e *sluice.Error, msg, resource string, ri sluice.RequestInfo) []byte {
	var b bytes.Buffer
	b.WriteString(xml.Header)
	b.WriteString("<Error>")
	element(&b, "Code", string(e.Code))
	element(&b, "Message", msg)
	keys := make([]string, 0, len(e.Fields))
	for k := range e.Fields {
		if validElementName(k) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		element(&b, k, e.Fields[k])
	}
	element(&b, "Resource", resource)
	element(&b, "RequestId", ri.ID)
	if ri.HostID != "" {
		element(&b, "HostId", ri.HostID)
	}
	b.WriteString("</Error>")
	return b.Bytes()
}

func element(b *bytes.Buffer, name, value string) {
	b.WriteString("<" + name + ">")
	_ = xml.EscapeText(b, []byte(value))
	b.WriteString("</" + name + ">")
}

// validElementName keeps a field name from breaking the document; field
// names are chosen by code, but they are rendered as markup.
func validElementName(s string) bool {
	if s == "" {
		return false
	}
	for i, c := range s {
		switch {
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c == '_':
		case i > 0 && (c >= '0' && c <= '9' || c == '-' || c == '.'):
		default:
			return false
		}
	}
	return true
}
