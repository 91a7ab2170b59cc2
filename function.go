package sluice

import (
	"context"
	"time"
)

// Error codes of the Lambda and CloudWatch Logs APIs. They share one
// namespace with the S3 codes because every edge renders a Code as is.
const (
	ErrResourceNotFound      Code = "ResourceNotFoundException"
	ErrResourceConflict      Code = "ResourceConflictException"
	ErrResourceAlreadyExists Code = "ResourceAlreadyExistsException"
	ErrInvalidParameterValue Code = "InvalidParameterValueException"
	ErrInvalidParameter      Code = "InvalidParameterException"
	ErrInvalidRequestContent Code = "InvalidRequestContentException"
	ErrRequestTooLarge       Code = "RequestTooLargeException"
	ErrTooManyRequests       Code = "TooManyRequestsException"
	ErrServiceException      Code = "ServiceException"
	ErrUnsupportedMediaType  Code = "UnsupportedMediaTypeException"
	ErrCodeStorageExceeded   Code = "CodeStorageExceededException"
	ErrPreconditionFailedFn  Code = "PreconditionFailedException"
	ErrInvalidSignature      Code = "InvalidSignatureException"
	ErrUnrecognizedClient    Code = "UnrecognizedClientException"
)

// Invocation types (X-Amz-Invocation-Type).
const (
	InvokeRequestResponse = "RequestResponse"
	InvokeEvent           = "Event"
	InvokeDryRun          = "DryRun"
)

// Lambda limits.
const (
	MaxSyncPayload   = 6 << 20
	MaxAsyncPayload  = 1 << 20
	MaxEnvVarsSize   = 4 << 10
	MaxLogTail       = 4 << 10
	MaxZipSize       = 50 << 20
	MaxUnzippedSize  = 250 << 20
	DefaultTimeout   = 3 * time.Second
	MaxTimeout       = 900 * time.Second
	DefaultMemoryMB  = 128
	DefaultQualifier = "$LATEST"
)

// InvokeRequest asks for one invocation of a function. Function is a name,
// a partial ARN or a full ARN; Qualifier is "$LATEST", a version or an alias
// ("" means the qualifier in the ARN, else $LATEST).
type InvokeRequest struct {
	Function  string
	Qualifier string
	Payload   []byte
	// ClientContext is the base64 JSON of X-Amz-Client-Context, passed through.
	ClientContext string
	// Tail asks for the last 4 KB of the invocation's log.
	Tail bool
}

// InvokeResult is what a synchronous invocation returned. A function error
// is not a Go error: FunctionError is "Unhandled" and Payload carries the
// error document ({"errorMessage", "errorType", "stackTrace"}), as on AWS.
type InvokeResult struct {
	Payload         []byte
	FunctionError   string
	LogTail         []byte
	ExecutedVersion string
	RequestID       string
}

// Invoker runs functions. The lambda package implements it; S3 event
// notifications, edge hooks and HTTP API routes consume it.
type Invoker interface {
	// Invoke runs the function and waits for its result.
	Invoke(ctx context.Context, req *InvokeRequest) (*InvokeResult, error)
	// InvokeAsync durably queues the invocation (Lambda's Event type, with
	// its retries and dead letters) and returns its request id.
	InvokeAsync(ctx context.Context, req *InvokeRequest) (requestID string, err error)
}

// LogEvent is one line of a function's (or anyone's) log.
type LogEvent struct {
	Time    time.Time
	Message string
}
