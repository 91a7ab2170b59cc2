package cloudfront

import (
	"bytes"
	"errors"
	"net/http"

	"github.com/sluicehq/sluice"
)

// CloudFront wire codes the root package does not name. Statuses are the
// ones the CloudFront API model gives each error.
const (
	errMalformedInput                  sluice.Code = "MalformedInput"
	errMissingBody                     sluice.Code = "MissingBody"
	errNoSuchDistribution              sluice.Code = "NoSuchDistribution"
	errNoSuchInvalidation              sluice.Code = "NoSuchInvalidation"
	errNoSuchOrigin                    sluice.Code = "NoSuchOrigin"
	errNoSuchResource                  sluice.Code = "NoSuchResource"
	errNoSuchCachePolicy               sluice.Code = "NoSuchCachePolicy"
	errNoSuchOAC                       sluice.Code = "NoSuchOriginAccessControl"
	errNoSuchOAI                       sluice.Code = "NoSuchCloudFrontOriginAccessIdentity"
	errInvalidOrigin                   sluice.Code = "InvalidOrigin"
	errIllegalUpdate                   sluice.Code = "IllegalUpdate"
	errDistributionAlreadyExists       sluice.Code = "DistributionAlreadyExists"
	errCNAMEAlreadyExists              sluice.Code = "CNAMEAlreadyExists"
	errInvalidLambdaAssociation        sluice.Code = "InvalidLambdaFunctionAssociation"
	errTooManyLambdaAssociations       sluice.Code = "TooManyLambdaFunctionAssociations"
	errInvalidFunctionAssociation      sluice.Code = "InvalidFunctionAssociation"
	errInvalidIfMatchVersion           sluice.Code = "InvalidIfMatchVersion"
	errDistributionNotDisabled         sluice.Code = "DistributionNotDisabled"
	errTooManyInvalidationsInProgress  sluice.Code = "TooManyInvalidationsInProgress"
	errBatchTooLarge                   sluice.Code = "BatchTooLarge"
	errInconsistentQuantities          sluice.Code = "InconsistentQuantities"
	errInvalidTTLOrder                 sluice.Code = "InvalidTTLOrder"
	errInvalidQueryStringParameters    sluice.Code = "InvalidQueryStringParameters"
	errTooManyQueryStringParameters    sluice.Code = "TooManyQueryStringParameters"
	errTooManyHeadersInForwardedValues sluice.Code = "TooManyHeadersInForwardedValues"
	errInvalidForwardCookies           sluice.Code = "InvalidForwardCookies"
	errInvalidTagging                  sluice.Code = "InvalidTagging"
	errInvalidOAC                      sluice.Code = "InvalidOriginAccessControl"
	errInvalidOAI                      sluice.Code = "InvalidOriginAccessIdentity"
	errIllegalOriginAccessConfig       sluice.Code = "IllegalOriginAccessConfiguration"
	errTooManyOrigins                  sluice.Code = "TooManyOrigins"
	errTooManyCacheBehaviors           sluice.Code = "TooManyCacheBehaviors"
	errTooManyCNAMEs                   sluice.Code = "TooManyDistributionCNAMEs"
	errTooManyOriginCustomHeaders      sluice.Code = "TooManyOriginCustomHeaders"
	errInvalidDefaultRootObject        sluice.Code = "InvalidDefaultRootObject"
	errInvalidRelativePath             sluice.Code = "InvalidRelativePath"
	errInvalidErrorCode                sluice.Code = "InvalidErrorCode"
	errInvalidResponseCode             sluice.Code = "InvalidResponseCode"
	errInvalidOriginReadTimeout        sluice.Code = "InvalidOriginReadTimeout"
	errInvalidOriginKeepaliveTimeout   sluice.Code = "InvalidOriginKeepaliveTimeout"
	errTrustedSignerDoesNotExist       sluice.Code = "TrustedSignerDoesNotExist"
	errTrustedKeyGroupDoesNotExist     sluice.Code = "TrustedKeyGroupDoesNotExist"
	errOACAlreadyExists                sluice.Code = "OriginAccessControlAlreadyExists"
	errOACInUse                        sluice.Code = "OriginAccessControlInUse"
	errOAIAlreadyExists                sluice.Code = "CloudFrontOriginAccessIdentityAlreadyExists"
	errOAIInUse                        sluice.Code = "CloudFrontOriginAccessIdentityInUse"
	errInvalidClientTokenID            sluice.Code = "InvalidClientTokenId"
)

// internalMessage is all a client learns about an error without a code.
const internalMessage = "An internal error occurred. Check the sluice log for details."

var statusByCode = map[sluice.Code]int{
	sluice.ErrAccessDenied:             http.StatusForbidden,
	sluice.ErrSignatureDoesNotMatch:    http.StatusForbidden,
	errInvalidClientTokenID:            http.StatusForbidden,
	sluice.ErrRequestTimeTooSkewed:     http.StatusForbidden,
	sluice.ErrExpiredToken:             http.StatusForbidden,
	sluice.ErrInvalidArgument:          http.StatusBadRequest,
	sluice.ErrPreconditionFailed:       http.StatusPreconditionFailed,
	sluice.ErrNotImplemented:           http.StatusNotImplemented,
	sluice.ErrMethodNotAllowed:         http.StatusMethodNotAllowed,
	sluice.ErrServiceUnavailable:       http.StatusServiceUnavailable,
	errMalformedInput:                  http.StatusBadRequest,
	errMissingBody:                     http.StatusBadRequest,
	errNoSuchDistribution:              http.StatusNotFound,
	errNoSuchInvalidation:              http.StatusNotFound,
	errNoSuchOrigin:                    http.StatusNotFound,
	errNoSuchResource:                  http.StatusNotFound,
	errNoSuchCachePolicy:               http.StatusNotFound,
	errNoSuchOAC:                       http.StatusNotFound,
	errNoSuchOAI:                       http.StatusNotFound,
	errInvalidOrigin:                   http.StatusBadRequest,
	errIllegalUpdate:                   http.StatusBadRequest,
	errDistributionAlreadyExists:       http.StatusConflict,
	errCNAMEAlreadyExists:              http.StatusConflict,
	errInvalidLambdaAssociation:        http.StatusBadRequest,
	errTooManyLambdaAssociations:       http.StatusBadRequest,
	errInvalidFunctionAssociation:      http.StatusBadRequest,
	errInvalidIfMatchVersion:           http.StatusBadRequest,
	errDistributionNotDisabled:         http.StatusConflict,
	errTooManyInvalidationsInProgress:  http.StatusBadRequest,
	errBatchTooLarge:                   http.StatusRequestEntityTooLarge,
	errInconsistentQuantities:          http.StatusBadRequest,
	errInvalidTTLOrder:                 http.StatusBadRequest,
	errInvalidQueryStringParameters:    http.StatusBadRequest,
	errTooManyQueryStringParameters:    http.StatusBadRequest,
	errTooManyHeadersInForwardedValues: http.StatusBadRequest,
	errInvalidForwardCookies:           http.StatusBadRequest,
	errInvalidTagging:                  http.StatusBadRequest,
	errInvalidOAC:                      http.StatusBadRequest,
	errInvalidOAI:                      http.StatusBadRequest,
	errIllegalOriginAccessConfig:       http.StatusBadRequest,
	errTooManyOrigins:                  http.StatusBadRequest,
	errTooManyCacheBehaviors:           http.StatusBadRequest,
	errTooManyCNAMEs:                   http.StatusBadRequest,
	errTooManyOriginCustomHeaders:      http.StatusBadRequest,
	errInvalidDefaultRootObject:        http.StatusBadRequest,
	errInvalidRelativePath:             http.StatusBadRequest,
	errInvalidErrorCode:                http.StatusBadRequest,
	errInvalidResponseCode:             http.StatusBadRequest,
	errInvalidOriginReadTimeout:        http.StatusBadRequest,
	errInvalidOriginKeepaliveTimeout:   http.StatusBadRequest,
	errTrustedSignerDoesNotExist:       http.StatusBadRequest,
	errTrustedKeyGroupDoesNotExist:     http.StatusBadRequest,
	errOACAlreadyExists:                http.StatusConflict,
	errOACInUse:                        http.StatusConflict,
	errOAIAlreadyExists:                http.StatusConflict,
	errOAIInUse:                        http.StatusConflict,
}

// wireError turns any error into the CloudFront error a client should see:
// codes CloudFront knows pass through, the front door's authentication codes
// become CloudFront's, anything else is an InternalError.
func wireError(err error) *sluice.Error {
	var e *sluice.Error
	if !errors.As(err, &e) {
		return sluice.Wrap(sluice.ErrInternal, err, internalMessage)
	}
	switch e.Code {
	case sluice.ErrInvalidAccessKeyID:
		return sluice.Wrap(errInvalidClientTokenID, e, "The security token included in the request is invalid.")
	case sluice.ErrAuthorizationHeaderMalformed, sluice.ErrAuthorizationQueryParamsError,
		sluice.ErrMissingSecurityHeader, sluice.ErrContentSHA256Mismatch:
		return sluice.Wrap(sluice.ErrAccessDenied, e, e.Message)
	case sluice.ErrMalformedXML:
		return sluice.Wrap(errMalformedInput, e, e.Message)
	}
	if _, ok := statusByCode[e.Code]; ok {
		return e
	}
	return sluice.Wrap(sluice.ErrInternal, err, internalMessage)
}

// WriteError writes err as CloudFront's ErrorResponse document. The front
// door calls it for requests that fail authentication.
func (s *Service) WriteError(w http.ResponseWriter, r *http.Request, err error) {
	e := wireError(err)
	status, ok := statusByCode[e.Code]
	if !ok {
		status = http.StatusInternalServerError
	}
	if status >= 500 && status != http.StatusNotImplemented {
		s.log.Error("cloudfront: request failed", "request_id", sluice.RequestInfoFrom(r.Context()).ID,
			"method", r.Method, "path", r.URL.Path, "err", err)
	}
	typ := "Sender"
	if status >= 500 {
		typ = "Receiver"
	}
	doc := elk("ErrorResponse",
		elk("Error", el("Type", typ), el("Code", string(e.Code)), el("Message", e.Message)),
		el("RequestId", sluice.RequestInfoFrom(r.Context()).ID))
	var b bytes.Buffer
	b.WriteString(`<?xml version="1.0"?>`)
	doc.writeTo(&b, true)
	h := w.Header()
	h.Set("Content-Type", "text/xml")
	h.Del("ETag")
	h.Del("Location")
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		w.Write(b.Bytes())
	}
}
