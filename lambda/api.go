package lambda

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/sluicehq/sluice"
)

// Request body limits. The zip limit is Lambda's own: a 50 MB zip is
// 69905067 bytes of base64, and AWS words its refusal in request bytes.
const (
	maxCodeRequest   = 69905067
	maxConfigRequest = 1 << 20
)

// lastModifiedLayout is FunctionConfiguration.LastModified's format.
const lastModifiedLayout = "2006-01-02T15:04:05.000-0700"

// Account limits reported by GetAccountSettings and enforced by
// PutFunctionConcurrency, as on a default AWS account.
const (
	accountConcurrency     = 1000
	minUnreservedExecution = 100
	totalCodeSizeLimit     = 80530636800
)

// runtimes Sluice runs: provided/go executables, and python/node through the
// embedded bootstraps on the machine's interpreter.
var supportedRuntimes = []string{
	"provided", "provided.al2", "provided.al2023", "go1.x",
	"python3.8", "python3.9", "python3.10", "python3.11", "python3.12", "python3.13", "python3.14",
	"nodejs16.x", "nodejs18.x", "nodejs20.x", "nodejs22.x", "nodejs24.x",
}

// deprecatedRuntimes are ones Lambda itself no longer lets functions be
// created or updated with.
var deprecatedRuntimes = []string{
	"nodejs", "nodejs4.3", "nodejs6.10", "nodejs8.10", "nodejs10.x", "nodejs12.x", "nodejs14.x", "nodejs4.3-edge",
	"python2.7", "python3.6", "python3.7", "dotnetcore1.0", "dotnetcore2.0", "dotnetcore2.1", "ruby2.5",
}

// otherRuntimes are valid on AWS but not runnable here.
var otherRuntimes = []string{
	"java8", "java8.al2", "java11", "java17", "java21", "java25",
	"dotnetcore3.1", "dotnet6", "dotnet8", "dotnet10",
	"ruby2.7", "ruby3.2", "ruby3.3", "ruby3.4",
}

var (
	roleRE   = regexp.MustCompile(`^arn:(aws[a-zA-Z-]*)?:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-_/]+$`)
	envKeyRE = regexp.MustCompile(`^[a-zA-Z]([a-zA-Z0-9_])+$`)
)

// reservedEnv are the variables Lambda sets itself and refuses to let a
// function override.
var reservedEnv = []string{
	"_HANDLER", "_X_AMZN_TRACE_ID", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_EXECUTION_ENV",
	"AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_LAMBDA_FUNCTION_VERSION",
	"AWS_LAMBDA_INITIALIZATION_TYPE", "AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME",
	"AWS_ACCESS_KEY", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
	"AWS_LAMBDA_RUNTIME_API", "LAMBDA_TASK_ROOT", "LAMBDA_RUNTIME_DIR",
}

// The routes, by the Lambda API's dated prefixes:
//
//	/2015-03-31/functions                        POST CreateFunction, GET ListFunctions
//	/2015-03-31/functions/{F}                    GET GetFunction, DELETE DeleteFunction
//	/2015-03-31/functions/{F}/configuration      GET, PUT (UpdateFunctionConfiguration)
//	/2015-03-31/functions/{F}/code               PUT UpdateFunctionCode
//	/2015-03-31/functions/{F}/versions           GET ListVersionsByFunction, POST PublishVersion
//	/2015-03-31/functions/{F}/invocations        POST Invoke
//	/2015-03-31/functions/{F}/aliases[/{Name}]   POST, GET, PUT, DELETE (aliases)
//	/2014-11-13/functions/{F}/invoke-async/      POST InvokeAsync (legacy)
//	/2017-10-31/functions/{F}/concurrency        PUT, DELETE
//	/2019-09-30/functions/{F}/concurrency        GET
//	/2019-09-25/functions/{F}/event-invoke-config[/list]  PUT, POST, GET, DELETE
//	/2016-08-19/account-settings                 GET
//	/2017-03-31/tags/{ARN}                       GET, POST, DELETE
//
// Sluice extensions, signed like every other Lambda call (the CLI uses them):
//
//	GET  /2015-03-31/functions/{F}/sluice-dead-letters
//	     lists the function's dead-lettered asynchronous invocations:
//	     {"DeadLetters":[{"Id","FunctionArn","Qualifier","RequestId","Payload",
//	     "FunctionError","Error","Attempts","EnqueuedTime","FailedTime"}]}
//	POST /2015-03-31/functions/{F}/sluice-dead-letters/redrive[?id=ID]
//	     queues them (all, or the one named) again with fresh retries:
//	     {"Redriven":N,"RequestIds":[...]}
func (s *Service) route(w http.ResponseWriter, r *http.Request) error {
	segs, err := pathSegments(r.URL)
	if err != nil {
		return err
	}
	if len(segs) > 0 && segs[len(segs)-1] == "" {
		segs = segs[:len(segs)-1] // ListFunctions and others end in "/"
	}
	m := r.Method
	unknown := sluice.Errorf(errUnknownOperation, "Unknown operation %s %s", m, r.URL.Path)
	if len(segs) < 2 {
		return unknown
	}
	date, kind := segs[0], segs[1]
	if date == "2016-08-19" && kind == "account-settings" && len(segs) == 2 && m == http.MethodGet {
		return s.getAccountSettings(w, r)
	}
	if date == "2017-03-31" && kind == "tags" && len(segs) == 3 {
		switch m {
		case http.MethodGet:
			return s.listTags(w, r, segs[2])
		case http.MethodPost:
			return s.tagResource(w, r, segs[2])
		case http.MethodDelete:
			return s.untagResource(w, r, segs[2])
		}
		return unknown
	}
	if kind != "functions" {
		return unknown
	}
	rest := segs[2:]
	switch date {
	case "2015-03-31":
		if len(rest) == 0 {
			switch m {
			case http.MethodPost:
				return s.createFunction(w, r)
			case http.MethodGet:
				return s.listFunctions(w, r)
			}
			return unknown
		}
		name := rest[0]
		switch {
		case len(rest) == 1 && m == http.MethodGet:
			return s.getFunction(w, r, name)
		case len(rest) == 1 && m == http.MethodDelete:
			return s.deleteFunction(w, r, name)
		case len(rest) == 2 && rest[1] == "configuration" && m == http.MethodGet:
			return s.getFunctionConfiguration(w, r, name)
		case len(rest) == 2 && rest[1] == "configuration" && m == http.MethodPut:
			return s.updateFunctionConfiguration(w, r, name)
		case len(rest) == 2 && rest[1] == "code" && m == http.MethodPut:
			return s.updateFunctionCode(w, r, name)
		case len(rest) == 2 && rest[1] == "versions" && m == http.MethodGet:
			return s.listVersions(w, r, name)
		case len(rest) == 2 && rest[1] == "versions" && m == http.MethodPost:
			return s.publishVersion(w, r, name)
		case len(rest) == 2 && rest[1] == "invocations" && m == http.MethodPost:
			return s.invokeHTTP(w, r, name)
		case len(rest) == 2 && rest[1] == "aliases" && m == http.MethodPost:
			return s.createAlias(w, r, name)
		case len(rest) == 2 && rest[1] == "aliases" && m == http.MethodGet:
			return s.listAliases(w, r, name)
		case len(rest) == 3 && rest[1] == "aliases" && m == http.MethodGet:
			return s.getAlias(w, r, name, rest[2])
		case len(rest) == 3 && rest[1] == "aliases" && m == http.MethodPut:
			return s.updateAlias(w, r, name, rest[2])
		case len(rest) == 3 && rest[1] == "aliases" && m == http.MethodDelete:
			return s.deleteAlias(w, r, name, rest[2])
		case len(rest) == 2 && rest[1] == "sluice-dead-letters" && m == http.MethodGet:
			return s.listDeadLetters(w, r, name)
		case len(rest) == 3 && rest[1] == "sluice-dead-letters" && rest[2] == "redrive" && m == http.MethodPost:
			return s.redriveDeadLetters(w, r, name)
		}
	case "2014-11-13":
		if len(rest) == 2 && rest[1] == "invoke-async" && m == http.MethodPost {
			return s.invokeAsyncLegacy(w, r, rest[0])
		}
	case "2017-10-31":
		if len(rest) == 2 && rest[1] == "concurrency" {
			switch m {
			case http.MethodPut:
				return s.putConcurrency(w, r, rest[0])
			case http.MethodDelete:
				return s.deleteConcurrency(w, r, rest[0])
			}
		}
	case "2019-09-30":
		if len(rest) == 2 && rest[1] == "concurrency" && m == http.MethodGet {
			return s.getConcurrency(w, r, rest[0])
		}
	case "2019-09-25":
		if len(rest) == 3 && rest[1] == "event-invoke-config" && rest[2] == "list" && m == http.MethodGet {
			return s.listEventInvokeConfigs(w, r, rest[0])
		}
		if len(rest) == 2 && rest[1] == "event-invoke-config" {
			switch m {
			case http.MethodPut:
				return s.putEventInvokeConfig(w, r, rest[0], true)
			case http.MethodPost:
				return s.putEventInvokeConfig(w, r, rest[0], false)
			case http.MethodGet:
				return s.getEventInvokeConfig(w, r, rest[0])
			case http.MethodDelete:
				return s.deleteEventInvokeConfig(w, r, rest[0])
			}
		}
	}
	return unknown
}

// pathSegments splits the escaped path so that an escaped "/" inside an ARN
// stays part of its segment.
func pathSegments(u *url.URL) ([]string, error) {
	raw := strings.TrimPrefix(u.EscapedPath(), "/")
	parts := strings.Split(raw, "/")
	for i, p := range parts {
		v, err := url.PathUnescape(p)
		if err != nil {
			return nil, sluice.Errorf(errUnknownOperation, "Malformed request path")
		}
		parts[i] = v
	}
	return parts, nil
}

// --- request and response shapes ---

type functionCodeInput struct {
	ZipFile         []byte
	S3Bucket        string
	S3Key           string
	S3ObjectVersion string
	ImageUri        string
}

type environmentInput struct {
	Variables map[string]string
}

type ephemeralStorage struct {
	Size int
}

type createFunctionInput struct {
	FunctionName     string
	Runtime          string
	Role             string
	Handler          string
	Code             *functionCodeInput
	Description      string
	Timeout          *int
	MemorySize       *int
	Publish          bool
	Environment      *environmentInput
	Architectures    []string
	PackageType      string
	Tags             map[string]string
	EphemeralStorage *ephemeralStorage
	Layers           []string
}

type updateConfigInput struct {
	Role             *string
	Handler          *string
	Description      *string
	Timeout          *int
	MemorySize       *int
	Environment      *environmentInput
	Runtime          *string
	RevisionId       string
	EphemeralStorage *ephemeralStorage
	Layers           []string
}

type updateCodeInput struct {
	ZipFile         []byte
	S3Bucket        string
	S3Key           string
	S3ObjectVersion string
	ImageUri        string
	Publish         bool
	DryRun          bool
	RevisionId      string
	Architectures   []string
}

type environmentOutput struct {
	Variables map[string]string
}

type functionConfiguration struct {
	FunctionName     string
	FunctionArn      string
	Runtime          string
	Role             string
	Handler          string
	CodeSize         int64
	Description      string
	Timeout          int
	MemorySize       int
	LastModified     string
	CodeSha256       string
	Version          string
	Environment      *environmentOutput `json:",omitempty"`
	TracingConfig    map[string]string
	RevisionId       string
	State            string
	LastUpdateStatus string
	PackageType      string
	Architectures    []string
	EphemeralStorage ephemeralStorage
	SnapStart        map[string]string
	LoggingConfig    map[string]string
}

func (s *Service) configuration(fn *functionRecord, v *versionRecord, arn string) functionConfiguration {
	c := functionConfiguration{
		FunctionName:     fn.Name,
		FunctionArn:      arn,
		Runtime:          v.Runtime,
		Role:             v.Role,
		Handler:          v.Handler,
		CodeSize:         v.Code.Size,
		Description:      v.Description,
		Timeout:          v.Timeout,
		MemorySize:       v.MemorySize,
		LastModified:     v.LastModified.UTC().Format(lastModifiedLayout),
		CodeSha256:       v.Code.Sha256,
		Version:          v.Version,
		TracingConfig:    map[string]string{"Mode": "PassThrough"},
		RevisionId:       v.RevisionID,
		State:            "Active",
		LastUpdateStatus: "Successful",
		PackageType:      "Zip",
		Architectures:    v.Architectures,
		EphemeralStorage: ephemeralStorage{Size: v.EphemeralStorage},
		SnapStart:        map[string]string{"ApplyOn": "None", "OptimizationStatus": "Off"},
		LoggingConfig:    map[string]string{"LogFormat": "Text", "LogGroup": "/aws/lambda/" + fn.Name},
	}
	if v.Env != nil {
		c.Environment = &environmentOutput{Variables: v.Env}
	}
	return c
}

// qualifiedARN is the ARN Lambda reports for a version asked for by
// qualifier; an unqualified request gets the unqualified ARN.
func qualifiedARN(fn *functionRecord, qualifier string) string {
	if qualifier == "" {
		return fn.arn()
	}
	return fn.arn() + ":" + qualifier
}

// --- helpers ---

func writeJSON(w http.ResponseWriter, status int, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode response: %w", err)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
	return nil
}

func writeNoContent(w http.ResponseWriter) error {
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// readBody reads at most limit bytes of the request body, refusing larger
// bodies as Lambda does, naming the operation.
func readBody(r *http.Request, limit int64, op string) ([]byte, error) {
	tooLarge := sluice.Errorf(errRequestEntityTooLarge, "Request must be smaller than %d bytes for the %s operation", limit, op)
	if r.ContentLength > limit {
		return nil, tooLarge
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		var se *sluice.Error
		if errors.As(err, &se) {
			return nil, se
		}
		return nil, sluice.Wrap(sluice.ErrInvalidRequestContent, err, "Could not read the request body.")
	}
	if int64(len(b)) > limit {
		return nil, tooLarge
	}
	return b, nil
}

// decodeBody reads and decodes a JSON request body; an empty body is {}.
func decodeBody(r *http.Request, limit int64, op string, v any) error {
	b, err := readBody(r, limit, op)
	if err != nil {
		return err
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return nil
	}
	if err := json.Unmarshal(b, v); err != nil {
		return sluice.Wrap(errSerializationException, err, "Could not parse the request body: "+jsonErrorText(err))
	}
	return nil
}

func jsonErrorText(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Sprintf("value of type %s is not valid for field %s", te.Value, te.Field)
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("%s at offset %d", se.Error(), se.Offset)
	}
	if _, ok := err.(base64.CorruptInputError); ok {
		return "ZipFile is not valid base64"
	}
	return "malformed JSON"
}

// name validates a FunctionName path parameter and returns the region it
// lives in (the caller's, or the one its ARN names).
func (s *Service) name(r *http.Request, raw string) (functionRef, string, error) {
	ref, err := parseFunctionName(raw)
	if err != nil {
		return functionRef{}, "", err
	}
	region := s.regionOf(r.Context())
	if ref.Region != "" {
		region = ref.Region
	}
	return ref, region, nil
}

// lookup resolves a FunctionName path parameter and the Qualifier query
// parameter to a function; the version may be nil when absent.
func (s *Service) lookup(r *http.Request, raw string) (*functionRecord, string, error) {
	ref, region, err := s.name(r, raw)
	if err != nil {
		return nil, "", err
	}
	q := r.URL.Query().Get("Qualifier")
	if q != "" && ref.Qualifier != "" && q != ref.Qualifier {
		return nil, "", invalidParam("The derived qualifier from the function name does not match the specified qualifier.")
	}
	if q == "" {
		q = ref.Qualifier
	}
	if q != "" {
		if err := validateQualifier(q); err != nil {
			return nil, "", err
		}
	}
	fn, ok := s.reg.get(region, ref.Name)
	if !ok {
		arn := functionARN(region, ref.Name)
		if q != "" {
			arn += ":" + q
		}
		return nil, "", functionNotFound(arn)
	}
	return fn, q, nil
}

func validateQualifier(q string) error {
	if len(q) > 128 {
		return validation(q, "qualifier", "Member must have length less than or equal to 128")
	}
	for _, c := range q {
		if !(c == '$' || c == '_' || c == '-' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return validation(q, "qualifier", "Member must satisfy regular expression pattern: (|[a-zA-Z0-9$_-]+)")
		}
	}
	return nil
}

func newRevision() string { return uuid.NewString() }

// --- configuration validation ---

func validateRuntime(rt string) error {
	if slices.Contains(supportedRuntimes, rt) {
		return nil
	}
	if slices.Contains(deprecatedRuntimes, rt) {
		return invalidParam("The runtime parameter of %s is no longer supported for creating or updating AWS Lambda functions. "+
			"We recommend you use a supported runtime while creating or updating functions.", rt)
	}
	if slices.Contains(otherRuntimes, rt) {
		return invalidParam("The runtime parameter of %s is not supported by Sluice, which runs functions as local processes. Supported runtimes: %s.",
			rt, strings.Join(supportedRuntimes, ", "))
	}
	all := slices.Concat(supportedRuntimes, otherRuntimes, deprecatedRuntimes)
	return validation(rt, "runtime", "Member must satisfy enum value set: ["+strings.Join(all, ", ")+"]")
}

func validateHandler(h string) error {
	if len(h) > 128 {
		return validation(h, "handler", "Member must have length less than or equal to 128")
	}
	if strings.ContainsAny(h, " \t\r\n") {
		return validation(h, "handler", `Member must satisfy regular expression pattern: [^\s]+`)
	}
	return nil
}

func validateRole(role string) error {
	if role == "" {
		return validation(nil, "role", "Member must not be null")
	}
	if !roleRE.MatchString(role) {
		return validation(role, "role", `Member must satisfy regular expression pattern: arn:(aws[a-zA-Z-]*)?:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-_/]+`)
	}
	return nil
}

func validateTimeout(t int) error {
	if t < 1 {
		return validation(t, "timeout", "Member must have value greater than or equal to 1")
	}
	if t > int(sluice.MaxTimeout/time.Second) {
		return validation(t, "timeout", "Member must have value less than or equal to 900")
	}
	return nil
}

func validateMemory(m int) error {
	if m < 128 {
		return validation(m, "memorySize", "Member must have value greater than or equal to 128")
	}
	if m > 10240 {
		return validation(m, "memorySize", "Member must have value less than or equal to 10240")
	}
	return nil
}

func validateEphemeral(e *ephemeralStorage) error {
	if e.Size < 512 || e.Size > 10240 {
		return invalidParam("Ephemeral storage size must be between 512 and 10240 MB, got %d.", e.Size)
	}
	return nil
}

func validateDescription(d string) error {
	if len(d) > 256 {
		return validation(d, "description", "Member must have length less than or equal to 256")
	}
	return nil
}

func validateArchitectures(a []string) error {
	if len(a) == 0 {
		return nil
	}
	if len(a) > 1 {
		return validation(a, "architectures", "Member must have length less than or equal to 1")
	}
	if a[0] != "x86_64" && a[0] != "arm64" {
		return validation(a, "architectures", "Member must satisfy constraint: [Member must satisfy enum value set: [x86_64, arm64]]")
	}
	return nil
}

// validateEnv applies Lambda's rules: names of letters, digits and
// underscores starting with a letter, no reserved names, and at most 4 KB,
// measured as the JSON of the variables (AWS shows the string it measured).
func validateEnv(env map[string]string) error {
	var reserved []string
	for k := range env {
		if !envKeyRE.MatchString(k) {
			return validation(k, "environment.variables", `Member must satisfy constraint: [Member must satisfy regular expression pattern: [a-zA-Z]([a-zA-Z0-9_])+]`)
		}
		if slices.Contains(reservedEnv, k) {
			reserved = append(reserved, k)
		}
	}
	if len(reserved) > 0 {
		slices.Sort(reserved)
		return invalidParam("Lambda was unable to configure your environment variables because the environment variables you have provided contains reserved keys that are currently not supported for modification. Reserved keys used in this request: %s",
			strings.Join(reserved, ","))
	}
	b, _ := json.Marshal(env)
	if len(b) > sluice.MaxEnvVarsSize {
		measured := string(b)
		if len(measured) > 200 {
			measured = measured[:200] + "..."
		}
		return invalidParam("Lambda was unable to configure your environment variables because the environment variables you have provided exceeded the 4KB limit. String measured: %s", measured)
	}
	return nil
}

// --- CreateFunction ---

func (s *Service) createFunction(w http.ResponseWriter, r *http.Request) error {
	var in createFunctionInput
	if err := decodeBody(r, maxCodeRequest, "CreateFunction", &in); err != nil {
		return err
	}
	ref, err := parseFunctionName(in.FunctionName)
	if err != nil {
		return err
	}
	if ref.Qualifier != "" {
		return validation(in.FunctionName, "functionName", "Member must satisfy regular expression pattern: "+functionNamePattern)
	}
	region := s.regionOf(r.Context())
	if ref.Region != "" {
		region = ref.Region
	}
	if in.PackageType != "" && in.PackageType != "Zip" {
		if in.PackageType == "Image" {
			return invalidParam("PackageType Image is not supported: Sluice runs functions as local processes from Zip packages or local directories, not container images. Use PackageType Zip.")
		}
		return validation(in.PackageType, "packageType", "Member must satisfy enum value set: [Image, Zip]")
	}
	if in.Code == nil {
		return validation(nil, "code", "Member must not be null")
	}
	if in.Code.ImageUri != "" {
		return invalidParam("Code.ImageUri is not supported: Sluice runs Zip packages only.")
	}
	if err := validateRole(in.Role); err != nil {
		return err
	}
	if in.Runtime == "" || in.Handler == "" {
		return invalidParam("Runtime and Handler are mandatory parameters for functions created with deployment packages.")
	}
	if err := validateRuntime(in.Runtime); err != nil {
		return err
	}
	if err := validateHandler(in.Handler); err != nil {
		return err
	}
	if err := validateDescription(in.Description); err != nil {
		return err
	}
	if len(in.Layers) > 0 {
		return invalidParam("Layers are not supported by Sluice: include the layer's files in the function's package.")
	}
	ver := versionRecord{
		Version:          sluice.DefaultQualifier,
		Runtime:          in.Runtime,
		Role:             in.Role,
		Handler:          in.Handler,
		Description:      in.Description,
		Timeout:          int(sluice.DefaultTimeout / time.Second),
		MemorySize:       sluice.DefaultMemoryMB,
		Architectures:    []string{"x86_64"},
		EphemeralStorage: 512,
		RevisionID:       newRevision(),
	}
	if in.Timeout != nil {
		if err := validateTimeout(*in.Timeout); err != nil {
			return err
		}
		ver.Timeout = *in.Timeout
	}
	if in.MemorySize != nil {
		if err := validateMemory(*in.MemorySize); err != nil {
			return err
		}
		ver.MemorySize = *in.MemorySize
	}
	if in.Environment != nil {
		if err := validateEnv(in.Environment.Variables); err != nil {
			return err
		}
		ver.Env = in.Environment.Variables
		if ver.Env == nil {
			ver.Env = map[string]string{}
		}
	}
	if err := validateArchitectures(in.Architectures); err != nil {
		return err
	}
	if len(in.Architectures) == 1 {
		ver.Architectures = in.Architectures
	}
	if in.EphemeralStorage != nil {
		if err := validateEphemeral(in.EphemeralStorage); err != nil {
			return err
		}
		ver.EphemeralStorage = in.EphemeralStorage.Size
	}
	s.codeMu.Lock()
	defer s.codeMu.Unlock()
	if _, exists := s.reg.get(region, ref.Name); exists {
		return sluice.Errorf(sluice.ErrResourceConflict, "Function already exist: %s", ref.Name)
	}
	code, err := s.installCode(r, region, ref.Name, in.Code.ZipFile, in.Code.S3Bucket, in.Code.S3Key, in.Code.S3ObjectVersion)
	if err != nil {
		return err
	}
	ver.Code = code
	now := time.Now()
	ver.LastModified = now
	fn := &functionRecord{Region: region, Name: ref.Name, Latest: ver, Tags: in.Tags, Created: now}
	if err := s.reg.create(fn); err != nil {
		s.gcCode(region, ref.Name)
		return err
	}
	out, arn := &fn.Latest, fn.arn()
	if in.Publish {
		if fn, out, err = s.publish(region, ref.Name, "", "", ""); err != nil {
			return err
		}
		arn = qualifiedARN(fn, out.Version)
	}
	s.log.Info("lambda: function created", "function", ref.Name, "region", region, "runtime", in.Runtime, "local", code.Local)
	return writeJSON(w, http.StatusCreated, s.configuration(fn, out, arn))
}

// installCode turns a Code source into a code directory. Exactly one of a
// zip, an S3 object or (S3Bucket "hot-reload") a local directory.
func (s *Service) installCode(r *http.Request, region, name string, zipFile []byte, bucket, key, version string) (codeInfo, error) {
	switch {
	case len(zipFile) > 0 && bucket != "":
		return codeInfo{}, invalidParam("Please do not provide other FunctionCode parameters when providing a ZipFile.")
	case len(zipFile) > 0:
		if len(zipFile) > sluice.MaxZipSize {
			return codeInfo{}, sluice.Errorf(errRequestEntityTooLarge, "Zipped size must be smaller than %d bytes", sluice.MaxZipSize)
		}
		return s.code.fromZip(region, name, zipFile)
	case bucket == HotReloadBucket:
		return fromLocal(key)
	case bucket != "" && key != "":
		return s.code.fromS3(r.Context(), region, name, bucket, key, version)
	case bucket != "" || key != "":
		return codeInfo{}, invalidParam("Both S3Bucket and S3Key are required to deploy code from Amazon S3.")
	}
	return codeInfo{}, invalidParam("Please provide a source for function code.")
}

// --- GetFunction, GetFunctionConfiguration, ListFunctions ---

func (s *Service) getFunction(w http.ResponseWriter, r *http.Request, raw string) error {
	fn, q, err := s.lookup(r, raw)
	if err != nil {
		return err
	}
	v := fn.version(q)
	if v == nil {
		return functionNotFound(qualifiedARN(fn, q))
	}
	code := map[string]string{"RepositoryType": "S3"}
	if v.Code.Local {
		code["Location"] = "file://" + v.Code.Dir
	} else if v.Code.Zip != "" {
		code["Location"] = (&url.URL{Scheme: "file", Path: v.Code.Zip}).String()
	}
	out := map[string]any{
		"Configuration": s.configuration(fn, v, qualifiedARN(fn, q)),
		"Code":          code,
	}
	if len(fn.Tags) > 0 {
		out["Tags"] = fn.Tags
	}
	if fn.Concurrency != nil {
		out["Concurrency"] = map[string]int{"ReservedConcurrentExecutions": *fn.Concurrency}
	}
	return writeJSON(w, http.StatusOK, out)
}

func (s *Service) getFunctionConfiguration(w http.ResponseWriter, r *http.Request, raw string) error {
	fn, q, err := s.lookup(r, raw)
	if err != nil {
		return err
	}
	v := fn.version(q)
	if v == nil {
		return functionNotFound(qualifiedARN(fn, q))
	}
	return writeJSON(w, http.StatusOK, s.configuration(fn, v, qualifiedARN(fn, q)))
}

// pageParams reads Marker and MaxItems (1..10000, default 50).
func pageParams(r *http.Request) (marker string, max int, err error) {
	q := r.URL.Query()
	max = 50
	if v := q.Get("MaxItems"); v != "" {
		n, perr := strconv.Atoi(v)
		if perr != nil {
			return "", 0, validation(v, "maxItems", "Member must be a number")
		}
		if n < 1 || n > 10000 {
			return "", 0, validation(n, "maxItems", "Member must have value between 1 and 10000")
		}
		max = n
	}
	if m := q.Get("Marker"); m != "" {
		b, derr := base64.RawURLEncoding.DecodeString(m)
		if derr != nil {
			return "", 0, invalidParam("Invalid Marker: %q", m)
		}
		marker = string(b)
	}
	return marker, max, nil
}

func encodeMarker(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

func (s *Service) listFunctions(w http.ResponseWriter, r *http.Request) error {
	marker, max, err := pageParams(r)
	if err != nil {
		return err
	}
	all := false
	switch v := r.URL.Query().Get("FunctionVersion"); v {
	case "":
	case "ALL":
		all = true
	default:
		return validation(v, "functionVersion", "Member must satisfy enum value set: [ALL]")
	}
	type entry struct {
		key string
		cfg functionConfiguration
	}
	var entries []entry
	for _, fn := range s.reg.list(s.regionOf(r.Context())) {
		entries = append(entries, entry{fn.Name + "\x00" + versionSortKey(sluice.DefaultQualifier), s.configuration(fn, &fn.Latest, fn.arn())})
		if all {
			for i := range fn.Versions {
				v := &fn.Versions[i]
				entries = append(entries, entry{fn.Name + "\x00" + versionSortKey(v.Version), s.configuration(fn, v, qualifiedARN(fn, v.Version))})
			}
		}
	}
	start := 0
	if marker != "" {
		start = len(entries)
		for i, e := range entries {
			if e.key > marker {
				start = i
				break
			}
		}
	}
	out := struct {
		Functions  []functionConfiguration
		NextMarker string `json:",omitempty"`
	}{Functions: []functionConfiguration{}}
	for i := start; i < len(entries) && len(out.Functions) < max; i++ {
		out.Functions = append(out.Functions, entries[i].cfg)
		if len(out.Functions) == max && i+1 < len(entries) {
			out.NextMarker = encodeMarker(entries[i].key)
		}
	}
	return writeJSON(w, http.StatusOK, out)
}

// versionSortKey orders $LATEST before 1, 2, ..., 10 in marker comparisons.
func versionSortKey(v string) string {
	if v == sluice.DefaultQualifier {
		return "0"
	}
	return fmt.Sprintf("1%020s", v)
}

// --- UpdateFunctionConfiguration, UpdateFunctionCode ---

func (s *Service) updateFunctionConfiguration(w http.ResponseWriter, r *http.Request, raw string) error {
	var in updateConfigInput
	if err := decodeBody(r, maxConfigRequest, "UpdateFunctionConfiguration", &in); err != nil {
		return err
	}
	ref, region, err := s.name(r, raw)
	if err != nil {
		return err
	}
	if ref.Qualifier != "" {
		return validation(raw, "functionName", "Member must satisfy regular expression pattern: "+functionNamePattern)
	}
	checks := []func() error{}
	if in.Role != nil {
		checks = append(checks, func() error { return validateRole(*in.Role) })
	}
	if in.Handler != nil {
		checks = append(checks, func() error {
			if *in.Handler == "" {
				return invalidParam("Runtime and Handler are mandatory parameters for functions created with deployment packages.")
			}
			return validateHandler(*in.Handler)
		})
	}
	if in.Runtime != nil {
		checks = append(checks, func() error { return validateRuntime(*in.Runtime) })
	}
	if in.Description != nil {
		checks = append(checks, func() error { return validateDescription(*in.Description) })
	}
	if in.Timeout != nil {
		checks = append(checks, func() error { return validateTimeout(*in.Timeout) })
	}
	if in.MemorySize != nil {
		checks = append(checks, func() error { return validateMemory(*in.MemorySize) })
	}
	if in.Environment != nil {
		checks = append(checks, func() error { return validateEnv(in.Environment.Variables) })
	}
	if in.EphemeralStorage != nil {
		checks = append(checks, func() error { return validateEphemeral(in.EphemeralStorage) })
	}
	if len(in.Layers) > 0 {
		checks = append(checks, func() error {
			return invalidParam("Layers are not supported by Sluice: include the layer's files in the function's package.")
		})
	}
	for _, check := range checks {
		if err := check(); err != nil {
			return err
		}
	}
	if s.reg.isBuiltin(ref.Name) {
		return s.updateBuiltinEnvironment(w, region, ref.Name, &in)
	}
	fn, err := s.reg.update(region, ref.Name, func(f *functionRecord) error {
		if in.RevisionId != "" && in.RevisionId != f.Latest.RevisionID {
			return preconditionFailed()
		}
		v := &f.Latest
		if in.Role != nil {
			v.Role = *in.Role
		}
		if in.Handler != nil {
			v.Handler = *in.Handler
		}
		if in.Runtime != nil {
			v.Runtime = *in.Runtime
		}
		if in.Description != nil {
			v.Description = *in.Description
		}
		if in.Timeout != nil {
			v.Timeout = *in.Timeout
		}
		if in.MemorySize != nil {
			v.MemorySize = *in.MemorySize
		}
		if in.Environment != nil {
			v.Env = in.Environment.Variables
			if v.Env == nil {
				v.Env = map[string]string{}
			}
		}
		if in.EphemeralStorage != nil {
			v.EphemeralStorage = in.EphemeralStorage.Size
		}
		v.LastModified = time.Now()
		v.RevisionID = newRevision()
		return nil
	})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, s.configuration(fn, &fn.Latest, fn.arn()))
}

func (s *Service) updateFunctionCode(w http.ResponseWriter, r *http.Request, raw string) error {
	var in updateCodeInput
	if err := decodeBody(r, maxCodeRequest, "UpdateFunctionCode", &in); err != nil {
		return err
	}
	ref, region, err := s.name(r, raw)
	if err != nil {
		return err
	}
	if ref.Qualifier != "" {
		return validation(raw, "functionName", "Member must satisfy regular expression pattern: "+functionNamePattern)
	}
	if in.ImageUri != "" {
		return invalidParam("ImageUri is not supported: Sluice runs Zip packages only.")
	}
	if err := validateArchitectures(in.Architectures); err != nil {
		return err
	}
	cur, ok := s.reg.get(region, ref.Name)
	if !ok {
		return functionNotFound(functionARN(region, ref.Name))
	}
	if cur.builtin != nil {
		return builtinImmutable(cur.Name)
	}
	if in.RevisionId != "" && in.RevisionId != cur.Latest.RevisionID {
		return preconditionFailed()
	}

	s.codeMu.Lock()
	defer s.codeMu.Unlock()
	code, err := s.installCode(r, region, ref.Name, in.ZipFile, in.S3Bucket, in.S3Key, in.S3ObjectVersion)
	if err != nil {
		return err
	}
	if in.DryRun {
		cfg := s.configuration(cur, &cur.Latest, cur.arn())
		cfg.CodeSha256, cfg.CodeSize = code.Sha256, code.Size
		if !code.Local && !cur.codeDirsInUse()[code.Dir] {
			os.RemoveAll(code.Dir)
			os.Remove(code.Zip)
		}
		return writeJSON(w, http.StatusOK, cfg)
	}
	var previous string
	fn, err := s.reg.update(region, ref.Name, func(f *functionRecord) error {
		if in.RevisionId != "" && in.RevisionId != f.Latest.RevisionID {
			return preconditionFailed()
		}
		previous = f.Latest.Code.Dir
		f.Latest.Code = code
		if len(in.Architectures) == 1 {
			f.Latest.Architectures = in.Architectures
		}
		f.Latest.LastModified = time.Now()
		f.Latest.RevisionID = newRevision()
		return nil
	})
	// The code being replaced stays until the next update: invocations
	// still running on it may load files from it.
	s.gcCode(region, ref.Name, previous)
	if err != nil {
		return err
	}
	out, arn := &fn.Latest, fn.arn()
	if in.Publish {
		if fn, out, err = s.publish(region, ref.Name, "", "", ""); err != nil {
			return err
		}
		arn = qualifiedARN(fn, out.Version)
	}
	return writeJSON(w, http.StatusOK, s.configuration(fn, out, arn))
}

// gcCode removes code trees no version of the function uses any more,
// except those in also. Callers hold codeMu, so no upload of this function
// is between install and registry update.
func (s *Service) gcCode(region, name string, also ...string) {
	fn, ok := s.reg.get(region, name)
	keep := map[string]bool{}
	if ok {
		keep = fn.codeDirsInUse()
	}
	for _, d := range also {
		keep[d] = true
	}
	keep[""] = true // keep never empty: an empty set would remove everything
	if err := s.code.removeUnused(region, name, keep); err != nil {
		s.log.Warn("lambda: remove unused code", "function", name, "err", err)
	}
}

// --- PublishVersion, ListVersionsByFunction, DeleteFunction ---

type publishInput struct {
	CodeSha256  string
	Description string
	RevisionId  string
}

func (s *Service) publishVersion(w http.ResponseWriter, r *http.Request, raw string) error {
	var in publishInput
	if err := decodeBody(r, maxConfigRequest, "PublishVersion", &in); err != nil {
		return err
	}
	ref, region, err := s.name(r, raw)
	if err != nil {
		return err
	}
	if err := validateDescription(in.Description); err != nil {
		return err
	}
	fn, v, err := s.publish(region, ref.Name, in.CodeSha256, in.RevisionId, in.Description)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, s.configuration(fn, v, qualifiedARN(fn, v.Version)))
}

// publish snapshots $LATEST as the next version, or returns the newest
// version when nothing changed since it was published.
func (s *Service) publish(region, name, codeSha, revision, description string) (*functionRecord, *versionRecord, error) {
	var published string
	fn, err := s.reg.update(region, name, func(f *functionRecord) error {
		if revision != "" && revision != f.Latest.RevisionID {
			return preconditionFailed()
		}
		if codeSha != "" && codeSha != f.Latest.Code.Sha256 {
			return invalidParam("CodeSHA256 (%s) is different from current CodeSHA256 in $LATEST (%s). Please try again.", codeSha, f.Latest.Code.Sha256)
		}
		if n := len(f.Versions); n > 0 && f.Latest.sameAs(&f.Versions[n-1]) {
			published = f.Versions[n-1].Version
			return nil
		}
		f.LastVersion++
		v := f.Latest
		v.Version = strconv.Itoa(f.LastVersion)
		if description != "" {
			v.Description = description
		}
		v.LastModified = time.Now()
		v.RevisionID = newRevision()
		f.Versions = append(f.Versions, v)
		published = v.Version
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return fn, fn.version(published), nil
}

func (s *Service) listVersions(w http.ResponseWriter, r *http.Request, raw string) error {
	marker, max, err := pageParams(r)
	if err != nil {
		return err
	}
	ref, region, err := s.name(r, raw)
	if err != nil {
		return err
	}
	fn, ok := s.reg.get(region, ref.Name)
	if !ok {
		return functionNotFound(functionARN(region, ref.Name))
	}
	vers := []*versionRecord{&fn.Latest}
	for i := range fn.Versions {
		vers = append(vers, &fn.Versions[i])
	}
	out := struct {
		Versions   []functionConfiguration
		NextMarker string `json:",omitempty"`
	}{Versions: []functionConfiguration{}}
	for i, v := range vers {
		if marker != "" && versionSortKey(v.Version) <= marker {
			continue
		}
		if len(out.Versions) == max {
			out.NextMarker = encodeMarker(versionSortKey(vers[i-1].Version))
			break
		}
		out.Versions = append(out.Versions, s.configuration(fn, v, qualifiedARN(fn, v.Version)))
	}
	return writeJSON(w, http.StatusOK, out)
}

func (s *Service) deleteFunction(w http.ResponseWriter, r *http.Request, raw string) error {
	fn, q, err := s.lookup(r, raw)
	if err != nil {
		return err
	}
	if fn.Aliases[q] != nil {
		return invalidParam("Deletion of aliases is not supported by DeleteFunction; use DeleteAlias for %s.", qualifiedARN(fn, q))
	}
	switch q {
	case sluice.DefaultQualifier:
		return invalidParam("$LATEST version cannot be deleted without deleting the function.")
	case "":
		s.codeMu.Lock()
		defer s.codeMu.Unlock()
		if _, err := s.reg.remove(fn.Region, fn.Name); err != nil {
			return err
		}
		s.host.Recycle(fn.Name)
		if err := s.code.removeUnused(fn.Region, fn.Name, nil); err != nil {
			s.log.Warn("lambda: remove code of deleted function", "function", fn.Name, "err", err)
		}
		s.log.Info("lambda: function deleted", "function", fn.Name, "region", fn.Region)
		return writeNoContent(w)
	}
	s.codeMu.Lock()
	defer s.codeMu.Unlock()
	_, err = s.reg.update(fn.Region, fn.Name, func(f *functionRecord) error {
		i := slices.IndexFunc(f.Versions, func(v versionRecord) bool { return v.Version == q })
		if i < 0 {
			return functionNotFound(qualifiedARN(f, q))
		}
		var users []string
		for _, a := range f.Aliases {
			if a.FunctionVersion == q || a.Weights[q] > 0 {
				users = append(users, a.Name)
			}
		}
		if len(users) > 0 {
			slices.Sort(users)
			return sluice.Errorf(sluice.ErrResourceConflict, "Unable to delete version because the following aliases reference it: %v", users)
		}
		f.Versions = slices.Delete(f.Versions, i, i+1)
		delete(f.EventInvoke, q)
		return nil
	})
	if err != nil {
		return err
	}
	s.gcCode(fn.Region, fn.Name)
	return writeNoContent(w)
}

// --- Invoke ---

func (s *Service) invokeHTTP(w http.ResponseWriter, r *http.Request, raw string) error {
	invType := r.Header.Get("X-Amz-Invocation-Type")
	switch invType {
	case "":
		invType = sluice.InvokeRequestResponse
	case sluice.InvokeRequestResponse, sluice.InvokeEvent, sluice.InvokeDryRun:
	default:
		return validation(invType, "invocationType", "Member must satisfy enum value set: [Event, RequestResponse, DryRun]")
	}
	logType := r.Header.Get("X-Amz-Log-Type")
	if logType != "" && logType != "None" && logType != "Tail" {
		return validation(logType, "logType", "Member must satisfy enum value set: [None, Tail]")
	}
	clientCtx := r.Header.Get("X-Amz-Client-Context")
	if err := validateClientContext(clientCtx); err != nil {
		return err
	}
	payload, err := readBody(r, sluice.MaxSyncPayload, "InvokeFunction")
	if err != nil {
		return err
	}
	if invType == sluice.InvokeEvent && len(payload) > sluice.MaxAsyncPayload {
		return sluice.Errorf(errRequestEntityTooLarge, "%d byte payload is too large for the Event invocation type (limit %d bytes)", len(payload), sluice.MaxAsyncPayload)
	}
	fn, ver, q, err := s.resolve(s.regionOf(r.Context()), raw, r.URL.Query().Get("Qualifier"))
	if err != nil {
		return err
	}
	if err := validatePayload(payload); err != nil {
		return err
	}
	switch invType {
	case sluice.InvokeDryRun:
		return writeNoContent(w)
	case sluice.InvokeEvent:
		id, err := s.enqueue(fn, q, payload)
		if err != nil {
			return err
		}
		w.Header().Set("X-Amzn-RequestId", id)
		w.WriteHeader(http.StatusAccepted)
		return nil
	}
	res, err := s.invoke(r.Context(), fn, ver, payload, InvokeOptions{ClientContext: clientCtx, Tail: logType == "Tail"})
	if err != nil {
		if r.Context().Err() != nil {
			return nil // the caller went away; there is no one to answer
		}
		return err
	}
	writeInvokeResult(w, res, logType == "Tail")
	return nil
}

// writeInvokeResult renders a synchronous invocation's result as Invoke
// does: 200 whatever the function did, with X-Amz-Function-Error naming a
// function error.
func writeInvokeResult(w http.ResponseWriter, res *sluice.InvokeResult, tail bool) {
	h := w.Header()
	h.Set("X-Amzn-RequestId", res.RequestID)
	h.Set("X-Amz-Executed-Version", res.ExecutedVersion)
	if res.FunctionError != "" {
		h.Set("X-Amz-Function-Error", res.FunctionError)
	}
	if tail {
		logTail := res.LogTail
		if len(logTail) > sluice.MaxLogTail {
			logTail = logTail[len(logTail)-sluice.MaxLogTail:]
		}
		h.Set("X-Amz-Log-Result", base64.StdEncoding.EncodeToString(logTail))
	}
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(res.Payload)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(res.Payload)
}

// validateClientContext checks X-Amz-Client-Context: base64 JSON of at most
// 3583 bytes.
func validateClientContext(cc string) error {
	if cc == "" {
		return nil
	}
	if len(cc) > 3583 {
		return validation(cc[:32]+"...", "clientContext", "Member must have length less than or equal to 3583")
	}
	b, err := base64.StdEncoding.DecodeString(cc)
	if err != nil || !json.Valid(b) {
		return sluice.Errorf(sluice.ErrInvalidRequestContent, "Client context must be a valid Base64-encoded JSON object.")
	}
	return nil
}

// validatePayload refuses a payload that is not JSON, as Lambda does.
func validatePayload(p []byte) error {
	if len(bytes.TrimSpace(p)) == 0 || json.Valid(p) {
		return nil
	}
	// Invalid: decode only to name the mistake as Lambda does.
	var v any
	if err := json.Unmarshal(p, &v); err != nil {
		return sluice.Errorf(sluice.ErrInvalidRequestContent, "Could not parse request body into json: Could not parse payload into json: %s", jsonErrorText(err))
	}
	return nil
}

// invokeAsyncLegacy is the deprecated InvokeAsync operation: the body is the
// event, queued as an Event invocation; 202 {"Status":202}.
func (s *Service) invokeAsyncLegacy(w http.ResponseWriter, r *http.Request, raw string) error {
	payload, err := readBody(r, sluice.MaxAsyncPayload, "InvokeAsync")
	if err != nil {
		return err
	}
	fn, _, q, err := s.resolve(s.regionOf(r.Context()), raw, "")
	if err != nil {
		return err
	}
	if err := validatePayload(payload); err != nil {
		return err
	}
	id, err := s.enqueue(fn, q, payload)
	if err != nil {
		return err
	}
	w.Header().Set("X-Amzn-RequestId", id)
	return writeJSON(w, http.StatusAccepted, map[string]int{"Status": http.StatusAccepted})
}

// --- concurrency ---

func (s *Service) putConcurrency(w http.ResponseWriter, r *http.Request, raw string) error {
	var in struct{ ReservedConcurrentExecutions *int }
	if err := decodeBody(r, maxConfigRequest, "PutFunctionConcurrency", &in); err != nil {
		return err
	}
	ref, region, err := s.name(r, raw)
	if err != nil {
		return err
	}
	if in.ReservedConcurrentExecutions == nil {
		return validation(nil, "reservedConcurrentExecutions", "Member must not be null")
	}
	n := *in.ReservedConcurrentExecutions
	if n < 0 {
		return validation(n, "reservedConcurrentExecutions", "Member must have value greater than or equal to 0")
	}
	reserved := 0
	for _, f := range s.reg.list(region) {
		if f.Name != ref.Name && f.Concurrency != nil {
			reserved += *f.Concurrency
		}
	}
	if reserved+n > accountConcurrency-minUnreservedExecution {
		return invalidParam("Specified ReservedConcurrentExecutions for function decreases account's UnreservedConcurrentExecution below its minimum value of [%d].", minUnreservedExecution)
	}
	if _, err := s.reg.update(region, ref.Name, func(f *functionRecord) error {
		f.Concurrency = &n
		return nil
	}); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]int{"ReservedConcurrentExecutions": n})
}

func (s *Service) getConcurrency(w http.ResponseWriter, r *http.Request, raw string) error {
	fn, _, err := s.lookup(r, raw)
	if err != nil {
		return err
	}
	out := map[string]int{}
	if fn.Concurrency != nil {
		out["ReservedConcurrentExecutions"] = *fn.Concurrency
	}
	return writeJSON(w, http.StatusOK, out)
}

func (s *Service) deleteConcurrency(w http.ResponseWriter, r *http.Request, raw string) error {
	ref, region, err := s.name(r, raw)
	if err != nil {
		return err
	}
	if _, err := s.reg.update(region, ref.Name, func(f *functionRecord) error {
		f.Concurrency = nil
		return nil
	}); err != nil {
		return err
	}
	return writeNoContent(w)
}

// --- event invoke config ---

type eventInvokeConfigInput struct {
	MaximumRetryAttempts     *int
	MaximumEventAgeInSeconds *int
	DestinationConfig        *destinationConfig
}

type eventInvokeConfigOutput struct {
	LastModified             float64
	FunctionArn              string
	MaximumRetryAttempts     *int               `json:",omitempty"`
	MaximumEventAgeInSeconds *int               `json:",omitempty"`
	DestinationConfig        *destinationConfig `json:",omitempty"`
}

func eventInvokeOutput(fn *functionRecord, q string, c *eventInvokeConfig) eventInvokeConfigOutput {
	dc := c.DestinationConfig
	if dc == nil {
		dc = &destinationConfig{OnSuccess: &destination{}, OnFailure: &destination{}}
	}
	return eventInvokeConfigOutput{
		LastModified:             float64(c.LastModified.UnixMilli()) / 1000,
		FunctionArn:              qualifiedARN(fn, q),
		MaximumRetryAttempts:     c.MaximumRetryAttempts,
		MaximumEventAgeInSeconds: c.MaximumEventAgeInSeconds,
		DestinationConfig:        dc,
	}
}

// eventQualifier is the version an EventInvokeConfig request is about.
func (s *Service) eventTarget(r *http.Request, raw string) (*functionRecord, string, error) {
	fn, q, err := s.lookup(r, raw)
	if err != nil {
		return nil, "", err
	}
	if q == "" {
		q = sluice.DefaultQualifier
	}
	if fn.version(q) == nil {
		return nil, "", functionNotFound(qualifiedARN(fn, q))
	}
	return fn, q, nil
}

func (s *Service) putEventInvokeConfig(w http.ResponseWriter, r *http.Request, raw string, replace bool) error {
	op := "PutFunctionEventInvokeConfig"
	if !replace {
		op = "UpdateFunctionEventInvokeConfig"
	}
	var in eventInvokeConfigInput
	if err := decodeBody(r, maxConfigRequest, op, &in); err != nil {
		return err
	}
	if n := in.MaximumRetryAttempts; n != nil && (*n < 0 || *n > 2) {
		return validation(*n, "maximumRetryAttempts", "Member must have value between 0 and 2")
	}
	if n := in.MaximumEventAgeInSeconds; n != nil && (*n < 60 || *n > 21600) {
		return validation(*n, "maximumEventAgeInSeconds", "Member must have value between 60 and 21600")
	}
	fn, q, err := s.eventTarget(r, raw)
	if err != nil {
		return err
	}
	var saved *eventInvokeConfig
	fn, err = s.reg.update(fn.Region, fn.Name, func(f *functionRecord) error {
		c := &eventInvokeConfig{}
		if cur := f.EventInvoke[q]; cur != nil && !replace {
			c = cur
		}
		if replace || in.MaximumRetryAttempts != nil {
			c.MaximumRetryAttempts = in.MaximumRetryAttempts
		}
		if replace || in.MaximumEventAgeInSeconds != nil {
			c.MaximumEventAgeInSeconds = in.MaximumEventAgeInSeconds
		}
		if replace || in.DestinationConfig != nil {
			c.DestinationConfig = in.DestinationConfig
		}
		c.LastModified = time.Now()
		if f.EventInvoke == nil {
			f.EventInvoke = map[string]*eventInvokeConfig{}
		}
		f.EventInvoke[q] = c
		saved = c
		return nil
	})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, eventInvokeOutput(fn, q, saved))
}

func noEventInvokeConfig(fn *functionRecord, q string) *sluice.Error {
	return sluice.Errorf(sluice.ErrResourceNotFound, "The function %s doesn't have an EventInvokeConfig", qualifiedARN(fn, q))
}

func (s *Service) getEventInvokeConfig(w http.ResponseWriter, r *http.Request, raw string) error {
	fn, q, err := s.eventTarget(r, raw)
	if err != nil {
		return err
	}
	c := fn.EventInvoke[q]
	if c == nil {
		return noEventInvokeConfig(fn, q)
	}
	return writeJSON(w, http.StatusOK, eventInvokeOutput(fn, q, c))
}

func (s *Service) deleteEventInvokeConfig(w http.ResponseWriter, r *http.Request, raw string) error {
	fn, q, err := s.eventTarget(r, raw)
	if err != nil {
		return err
	}
	if _, err := s.reg.update(fn.Region, fn.Name, func(f *functionRecord) error {
		if f.EventInvoke[q] == nil {
			return noEventInvokeConfig(f, q)
		}
		delete(f.EventInvoke, q)
		return nil
	}); err != nil {
		return err
	}
	return writeNoContent(w)
}

func (s *Service) listEventInvokeConfigs(w http.ResponseWriter, r *http.Request, raw string) error {
	fn, _, err := s.lookup(r, raw)
	if err != nil {
		return err
	}
	qs := make([]string, 0, len(fn.EventInvoke))
	for q := range fn.EventInvoke {
		qs = append(qs, q)
	}
	slices.SortFunc(qs, func(a, b string) int { return strings.Compare(versionSortKey(a), versionSortKey(b)) })
	out := struct{ FunctionEventInvokeConfigs []eventInvokeConfigOutput }{[]eventInvokeConfigOutput{}}
	for _, q := range qs {
		out.FunctionEventInvokeConfigs = append(out.FunctionEventInvokeConfigs, eventInvokeOutput(fn, q, fn.EventInvoke[q]))
	}
	return writeJSON(w, http.StatusOK, out)
}

// --- account settings and tags ---

func (s *Service) getAccountSettings(w http.ResponseWriter, r *http.Request) error {
	fns := s.reg.list(s.regionOf(r.Context()))
	var codeSize int64
	reserved := 0
	for _, f := range fns {
		codeSize += f.Latest.Code.Size
		for _, v := range f.Versions {
			codeSize += v.Code.Size
		}
		if f.Concurrency != nil {
			reserved += *f.Concurrency
		}
	}
	return writeJSON(w, http.StatusOK, map[string]any{
		"AccountLimit": map[string]int64{
			"TotalCodeSize":                  totalCodeSizeLimit,
			"CodeSizeUnzipped":               sluice.MaxUnzippedSize,
			"CodeSizeZipped":                 sluice.MaxZipSize,
			"ConcurrentExecutions":           accountConcurrency,
			"UnreservedConcurrentExecutions": int64(accountConcurrency - reserved),
		},
		"AccountUsage": map[string]int64{
			"TotalCodeSize": codeSize,
			"FunctionCount": int64(len(fns)),
		},
	})
}

// tagTarget resolves a tagging ARN, which must name an unqualified function.
func (s *Service) tagTarget(r *http.Request, arn string) (functionRef, string, error) {
	if !strings.HasPrefix(arn, "arn:") {
		return functionRef{}, "", validation(arn, "resource", "Member must satisfy regular expression pattern: arn:(aws[a-zA-Z-]*):lambda:[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\\d{1}:\\d{12}:function:[a-zA-Z0-9-_]+")
	}
	ref, region, err := s.name(r, arn)
	if err != nil {
		return functionRef{}, "", err
	}
	if ref.Qualifier != "" {
		return functionRef{}, "", invalidParam("Tags are not supported on function versions: %s", arn)
	}
	if _, ok := s.reg.get(region, ref.Name); !ok {
		return functionRef{}, "", functionNotFound(arn)
	}
	return ref, region, nil
}

func (s *Service) listTags(w http.ResponseWriter, r *http.Request, arn string) error {
	ref, region, err := s.tagTarget(r, arn)
	if err != nil {
		return err
	}
	fn, _ := s.reg.get(region, ref.Name)
	tags := fn.Tags
	if tags == nil {
		tags = map[string]string{}
	}
	return writeJSON(w, http.StatusOK, map[string]any{"Tags": tags})
}

func (s *Service) tagResource(w http.ResponseWriter, r *http.Request, arn string) error {
	var in struct{ Tags map[string]string }
	if err := decodeBody(r, maxConfigRequest, "TagResource", &in); err != nil {
		return err
	}
	ref, region, err := s.tagTarget(r, arn)
	if err != nil {
		return err
	}
	if _, err := s.reg.update(region, ref.Name, func(f *functionRecord) error {
		if f.Tags == nil {
			f.Tags = map[string]string{}
		}
		for k, v := range in.Tags {
			f.Tags[k] = v
		}
		if len(f.Tags) > 50 {
			return invalidParam("Number of tags exceeds resource tag limit of 50.")
		}
		return nil
	}); err != nil {
		return err
	}
	return writeNoContent(w)
}

func (s *Service) untagResource(w http.ResponseWriter, r *http.Request, arn string) error {
	ref, region, err := s.tagTarget(r, arn)
	if err != nil {
		return err
	}
	keys := r.URL.Query()["tagKeys"]
	if _, err := s.reg.update(region, ref.Name, func(f *functionRecord) error {
		for _, k := range keys {
			delete(f.Tags, k)
		}
		return nil
	}); err != nil {
		return err
	}
	return writeNoContent(w)
}

// --- aliases ---

type routingConfig struct {
	AdditionalVersionWeights map[string]float64
}

type aliasInput struct {
	Name            string
	FunctionVersion *string
	Description     *string
	RoutingConfig   *routingConfig
	RevisionId      string
}

type aliasConfiguration struct {
	AliasArn        string
	Name            string
	FunctionVersion string
	Description     string
	RevisionId      string
	RoutingConfig   *routingConfig `json:",omitempty"`
}

func aliasOutput(fn *functionRecord, a *aliasRecord) aliasConfiguration {
	out := aliasConfiguration{
		AliasArn:        qualifiedARN(fn, a.Name),
		Name:            a.Name,
		FunctionVersion: a.FunctionVersion,
		Description:     a.Description,
		RevisionId:      a.RevisionID,
	}
	if len(a.Weights) > 0 {
		out.RoutingConfig = &routingConfig{AdditionalVersionWeights: a.Weights}
	}
	return out
}

var aliasNameRE = regexp.MustCompile(`^[a-zA-Z0-9-_]+$`)

func validateAliasName(n string) error {
	if n == "" {
		return validation(nil, "name", "Member must not be null")
	}
	if len(n) > 128 {
		return validation(n, "name", "Member must have length less than or equal to 128")
	}
	if !aliasNameRE.MatchString(n) || isVersionNumber(n) {
		return validation(n, "name", "Member must satisfy regular expression pattern: (?!^[0-9]+$)([a-zA-Z0-9-_]+)")
	}
	return nil
}

func isVersionNumber(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// checkAliasTarget validates an alias's version and routing weights
// against the function's published versions.
func checkAliasTarget(f *functionRecord, version string, rc *routingConfig) error {
	if version != sluice.DefaultQualifier && !isVersionNumber(version) {
		return validation(version, "functionVersion", `Member must satisfy regular expression pattern: (\$LATEST|[0-9]+)`)
	}
	if f.version(version) == nil || f.Aliases[version] != nil {
		return functionNotFound(qualifiedARN(f, version))
	}
	if rc == nil {
		return nil
	}
	if len(rc.AdditionalVersionWeights) > 1 {
		return invalidParam("Number of items in AdditionalVersionWeights cannot be greater than 1")
	}
	for v, w := range rc.AdditionalVersionWeights {
		if w < 0 || w > 1 {
			return validation(w, "routingConfig.additionalVersionWeights", "Member must have value between 0.0 and 1.0")
		}
		if !isVersionNumber(v) || f.version(v) == nil {
			return invalidParam("Invalid function version %s. Function version %s is not a published version.", v, v)
		}
		if v == version {
			return invalidParam("Invalid function version %s. Function version %s is already included in routing configuration.", v, v)
		}
		if version == sluice.DefaultQualifier {
			return invalidParam("Routing configuration requires a published primary version, not $LATEST.")
		}
	}
	return nil
}

func (s *Service) createAlias(w http.ResponseWriter, r *http.Request, raw string) error {
	var in aliasInput
	if err := decodeBody(r, maxConfigRequest, "CreateAlias", &in); err != nil {
		return err
	}
	if err := validateAliasName(in.Name); err != nil {
		return err
	}
	if in.FunctionVersion == nil {
		return validation(nil, "functionVersion", "Member must not be null")
	}
	if in.Description != nil {
		if err := validateDescription(*in.Description); err != nil {
			return err
		}
	}
	ref, region, err := s.name(r, raw)
	if err != nil {
		return err
	}
	var created *aliasRecord
	fn, err := s.reg.update(region, ref.Name, func(f *functionRecord) error {
		if f.Aliases[in.Name] != nil {
			return sluice.Errorf(sluice.ErrResourceConflict, "Alias already exists: %s", qualifiedARN(f, in.Name))
		}
		if err := checkAliasTarget(f, *in.FunctionVersion, in.RoutingConfig); err != nil {
			return err
		}
		a := &aliasRecord{Name: in.Name, FunctionVersion: *in.FunctionVersion, RevisionID: newRevision()}
		if in.Description != nil {
			a.Description = *in.Description
		}
		if in.RoutingConfig != nil {
			a.Weights = in.RoutingConfig.AdditionalVersionWeights
		}
		if f.Aliases == nil {
			f.Aliases = map[string]*aliasRecord{}
		}
		f.Aliases[in.Name] = a
		created = a
		return nil
	})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, aliasOutput(fn, created))
}

// aliasOf finds an alias; GetAlias and UpdateAlias word a missing one
// differently on Lambda, so notFound is the message prefix.
func (s *Service) aliasOf(r *http.Request, raw, name, notFound string) (*functionRecord, *aliasRecord, error) {
	ref, region, err := s.name(r, raw)
	if err != nil {
		return nil, nil, err
	}
	fn, ok := s.reg.get(region, ref.Name)
	if !ok {
		return nil, nil, functionNotFound(functionARN(region, ref.Name))
	}
	a := fn.Aliases[name]
	if a == nil {
		return nil, nil, sluice.Errorf(sluice.ErrResourceNotFound, "%s%s", notFound, qualifiedARN(fn, name))
	}
	return fn, a, nil
}

func (s *Service) getAlias(w http.ResponseWriter, r *http.Request, raw, name string) error {
	fn, a, err := s.aliasOf(r, raw, name, "Cannot find alias arn: ")
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, aliasOutput(fn, a))
}

func (s *Service) listAliases(w http.ResponseWriter, r *http.Request, raw string) error {
	marker, max, err := pageParams(r)
	if err != nil {
		return err
	}
	ref, region, err := s.name(r, raw)
	if err != nil {
		return err
	}
	fn, ok := s.reg.get(region, ref.Name)
	if !ok {
		return functionNotFound(functionARN(region, ref.Name))
	}
	only := r.URL.Query().Get("FunctionVersion")
	out := struct {
		Aliases    []aliasConfiguration
		NextMarker string `json:",omitempty"`
	}{Aliases: []aliasConfiguration{}}
	names := slices.Sorted(maps.Keys(fn.Aliases))
	for i, n := range names {
		a := fn.Aliases[n]
		if n <= marker || (only != "" && a.FunctionVersion != only) {
			continue
		}
		if len(out.Aliases) == max {
			out.NextMarker = encodeMarker(names[i-1])
			break
		}
		out.Aliases = append(out.Aliases, aliasOutput(fn, a))
	}
	return writeJSON(w, http.StatusOK, out)
}

func (s *Service) updateAlias(w http.ResponseWriter, r *http.Request, raw, name string) error {
	var in aliasInput
	if err := decodeBody(r, maxConfigRequest, "UpdateAlias", &in); err != nil {
		return err
	}
	if in.Description != nil {
		if err := validateDescription(*in.Description); err != nil {
			return err
		}
	}
	fn, _, err := s.aliasOf(r, raw, name, "Alias not found: ")
	if err != nil {
		return err
	}
	var updated *aliasRecord
	fn, err = s.reg.update(fn.Region, fn.Name, func(f *functionRecord) error {
		a := f.Aliases[name]
		if a == nil {
			return sluice.Errorf(sluice.ErrResourceNotFound, "Alias not found: %s", qualifiedARN(f, name))
		}
		if in.RevisionId != "" && in.RevisionId != a.RevisionID {
			return preconditionFailed()
		}
		version := a.FunctionVersion
		if in.FunctionVersion != nil {
			version = *in.FunctionVersion
		}
		rc := in.RoutingConfig
		if rc == nil && len(a.Weights) > 0 {
			rc = &routingConfig{AdditionalVersionWeights: a.Weights}
		}
		if err := checkAliasTarget(f, version, rc); err != nil {
			return err
		}
		a.FunctionVersion = version
		if in.Description != nil {
			a.Description = *in.Description
		}
		if in.RoutingConfig != nil {
			a.Weights = in.RoutingConfig.AdditionalVersionWeights
		}
		a.RevisionID = newRevision()
		updated = a
		return nil
	})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, aliasOutput(fn, updated))
}

func (s *Service) deleteAlias(w http.ResponseWriter, r *http.Request, raw, name string) error {
	ref, region, err := s.name(r, raw)
	if err != nil {
		return err
	}
	if _, err := s.reg.update(region, ref.Name, func(f *functionRecord) error {
		// Deleting an alias that does not exist succeeds, as on Lambda.
		delete(f.Aliases, name)
		delete(f.EventInvoke, name)
		return nil
	}); err != nil {
		return err
	}
	return writeNoContent(w)
}
