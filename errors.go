package sluice

import (
	"errors"
	"fmt"
)

// Code names a domain error. The names are the ones AWS uses on the wire so
// that every protocol edge can translate them without a lookup table of its
// own for the common cases; each edge still owns the mapping to its status
// codes and wire shape.
type Code string

// Error codes shared by the store, the authenticator and the protocol edges.
const (
	// Authentication and authorization.
	ErrAccessDenied                  Code = "AccessDenied"
	ErrSignatureDoesNotMatch         Code = "SignatureDoesNotMatch"
	ErrInvalidAccessKeyID            Code = "InvalidAccessKeyId"
	ErrAuthorizationHeaderMalformed  Code = "AuthorizationHeaderMalformed"
	ErrAuthorizationQueryParamsError Code = "AuthorizationQueryParametersError"
	ErrRequestTimeTooSkewed          Code = "RequestTimeTooSkewed"
	ErrExpiredToken                  Code = "ExpiredToken"
	ErrMissingSecurityHeader         Code = "MissingSecurityHeader"
	ErrContentSHA256Mismatch         Code = "XAmzContentSHA256Mismatch"
	ErrIncompleteBody                Code = "IncompleteBody"

	// Buckets.
	ErrNoSuchBucket            Code = "NoSuchBucket"
	ErrBucketAlreadyOwnedByYou Code = "BucketAlreadyOwnedByYou"
	ErrBucketAlreadyExists     Code = "BucketAlreadyExists"
	ErrBucketNotEmpty          Code = "BucketNotEmpty"
	ErrInvalidBucketName       Code = "InvalidBucketName"
	ErrNoSuchBucketPolicy      Code = "NoSuchBucketPolicy"
	ErrNoSuchTagSet            Code = "NoSuchTagSet"
	ErrMalformedPolicy         Code = "MalformedPolicy"
	ErrInvalidLocationConstr   Code = "InvalidLocationConstraint"
	ErrIllegalLocationConstr   Code = "IllegalLocationConstraintException"

	// Objects.
	ErrNoSuchKey             Code = "NoSuchKey"
	ErrNoSuchVersion         Code = "NoSuchVersion"
	ErrKeyTooLong            Code = "KeyTooLongError"
	ErrEntityTooLarge        Code = "EntityTooLarge"
	ErrEntityTooSmall        Code = "EntityTooSmall"
	ErrBadDigest             Code = "BadDigest"
	ErrInvalidDigest         Code = "InvalidDigest"
	ErrInvalidTag            Code = "InvalidTag"
	ErrMetadataTooLarge      Code = "MetadataTooLarge"
	ErrPreconditionFailed    Code = "PreconditionFailed"
	ErrNotModified           Code = "NotModified"
	ErrInvalidRange          Code = "InvalidRange"
	ErrInvalidPartNumber     Code = "InvalidPartNumber"
	ErrConditionalConflict   Code = "ConditionalRequestConflict"
	ErrInvalidObjectState    Code = "InvalidObjectState"
	ErrMissingContentLength  Code = "MissingContentLength"
	ErrInvalidStorageClass   Code = "InvalidStorageClass"
	ErrInvalidEncryptionAlgo Code = "InvalidEncryptionAlgorithmError"

	// Multipart uploads.
	ErrNoSuchUpload     Code = "NoSuchUpload"
	ErrInvalidPart      Code = "InvalidPart"
	ErrInvalidPartOrder Code = "InvalidPartOrder"

	// Requests in general.
	ErrInvalidArgument         Code = "InvalidArgument"
	ErrInvalidRequest          Code = "InvalidRequest"
	ErrMalformedXML            Code = "MalformedXML"
	ErrMethodNotAllowed        Code = "MethodNotAllowed"
	ErrNotImplemented          Code = "NotImplemented"
	ErrInternal                Code = "InternalError"
	ErrServiceUnavailable      Code = "ServiceUnavailable"
	ErrSlowDown                Code = "SlowDown"
	ErrRequestTimeout          Code = "RequestTimeout"
	ErrMaxMessageLengthExceeds Code = "MaxMessageLengthExceeded"
	ErrInvalidURI              Code = "InvalidURI"
	ErrUnknownService          Code = "UnknownService"
)

// Error is a domain error with a code and a message that is safe to show to
// the client. Err, when set, is internal detail: it is logged, never sent.
type Error struct {
	Code    Code
	Message string
	// Resource names what the error is about (a bucket, a key), when known.
	Resource string
	// Fields are extra wire fields some errors carry (BucketName, Key,
	// Condition, ActualObjectSize, ...). Protocol edges may render them.
	Fields map[string]string
	Err    error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

func (e *Error) Unwrap() error { return e.Err }

// With returns a copy of e carrying an extra wire field.
func (e *Error) With(field, value string) *Error {
	c := *e
	c.Fields = make(map[string]string, len(e.Fields)+1)
	for k, v := range e.Fields {
		c.Fields[k] = v
	}
	c.Fields[field] = value
	return &c
}

// Errorf builds an *Error with a client-safe message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Wrap builds an *Error around an internal cause; only msg reaches the client.
func Wrap(code Code, err error, msg string) *Error {
	return &Error{Code: code, Message: msg, Err: err}
}

// ErrorCode reports the Code of err, ErrInternal for an error without one and
// "" for nil.
func ErrorCode(err error) Code {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ErrInternal
}

// IsCode reports whether err carries code.
func IsCode(err error, code Code) bool {
	var e *Error
	return errors.As(err, &e) && e.Code == code
}
