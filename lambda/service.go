package lambda

// The Lambda API side of the package: Service is the "lambda" service behind
// the front door (REST-JSON under /2015-03-31/... and the other dated
// prefixes the Lambda API uses), the registry of functions and versions in
// Dir/lambda.db, their code under Dir/code/, the durable queue of
// asynchronous invocations and the RIE-compatible endpoint. It also
// implements sluice.Invoker for the packages that trigger functions.
//
// Concurrency: a Service is safe for concurrent use. Registry writes are
// serialized (registry.mu) and readers see immutable snapshots; Serve runs
// the async dispatcher with at most Config.AsyncParallel invocations in
// flight.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	bolt "go.etcd.io/bbolt"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/frontdoor"
)

// Config configures the Lambda API service.
type Config struct {
	// Dir holds lambda.db (functions, versions, the async queue and dead
	// letters) and code/ (extracted packages).
	Dir string
	// Region is used when a request or an ARN names none.
	Region string
	// AsyncRetries is how many times a failed asynchronous invocation is
	// retried when the function has no EventInvokeConfig (Lambda's default
	// is 2; MaximumRetryAttempts overrides it per function).
	AsyncRetries int
	// AsyncBackoff is the wait before each retry: the n-th retry waits
	// AsyncBackoff[n-1], the last entry repeating. Lambda waits about a
	// minute then two; local development wants seconds.
	AsyncBackoff []time.Duration
	// MaxEventAge is how long an asynchronous event may wait before it is
	// given up (dead-lettered) when the function sets no
	// MaximumEventAgeInSeconds.
	MaxEventAge time.Duration
	// AsyncParallel bounds how many asynchronous invocations run at once.
	AsyncParallel int
}

// DefaultConfig returns the defaults; Dir must still be set.
func DefaultConfig() Config {
	return Config{
		Region:        sluice.DefaultRegion,
		AsyncRetries:  2,
		AsyncBackoff:  []time.Duration{time.Second, 2 * time.Second},
		MaxEventAge:   6 * time.Hour,
		AsyncParallel: 8,
	}
}

// Validate reports the first bad setting by name.
func (c Config) Validate() error {
	switch {
	case c.Dir == "":
		return errors.New("lambda: Dir is required")
	case c.Region == "":
		return errors.New("lambda: Region is required")
	case c.AsyncRetries < 0 || c.AsyncRetries > 2:
		return fmt.Errorf("lambda: AsyncRetries must be 0..2, got %d", c.AsyncRetries)
	case len(c.AsyncBackoff) == 0:
		return errors.New("lambda: AsyncBackoff needs at least one delay")
	case c.MaxEventAge <= 0:
		return fmt.Errorf("lambda: MaxEventAge must be positive, got %s", c.MaxEventAge)
	case c.AsyncParallel <= 0:
		return fmt.Errorf("lambda: AsyncParallel must be positive, got %d", c.AsyncParallel)
	}
	for _, d := range c.AsyncBackoff {
		if d < 0 {
			return fmt.Errorf("lambda: AsyncBackoff delays must not be negative, got %s", d)
		}
	}
	return nil
}

// Service is the Lambda API.
type Service struct {
	cfg   Config
	host  *Host
	log   *slog.Logger
	db    *bolt.DB
	reg   *registry
	code  *codeStore
	queue *asyncQueue
	// codeMu serializes code changes (install, registry update, removal of
	// unused trees) so that a tree is never removed between its install and
	// the registry update that refers to it.
	codeMu sync.Mutex

	closeOnce sync.Once
	closed    chan struct{}
}

var (
	_ frontdoor.Service = (*Service)(nil)
	_ sluice.Invoker    = (*Service)(nil)
)

// New opens (or creates) the registry in cfg.Dir. store supplies code named
// by S3Bucket/S3Key; host runs the functions.
func New(cfg Config, store sluice.Store, host *Host, log *slog.Logger) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if host == nil {
		return nil, errors.New("lambda: a Host is required")
	}
	if log == nil {
		log = slog.Default()
	}
	if err := os.MkdirAll(filepath.Join(cfg.Dir, "code"), 0o755); err != nil {
		return nil, fmt.Errorf("create lambda directory: %w", err)
	}
	db, err := bolt.Open(filepath.Join(cfg.Dir, "lambda.db"), 0o600, &bolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("open lambda registry: %w", err)
	}
	reg, err := openRegistry(db)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open lambda registry: %w", err)
	}
	s := &Service{
		cfg:    cfg,
		host:   host,
		log:    log,
		db:     db,
		reg:    reg,
		code:   &codeStore{root: filepath.Join(cfg.Dir, "code"), store: store},
		closed: make(chan struct{}),
	}
	s.queue, err = newAsyncQueue(s)
	if err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// Serve runs the asynchronous-invocation dispatcher until ctx ends or Close
// is called. Invocations in flight when it stops stay queued and run again
// on the next start.
func (s *Service) Serve(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-s.closed:
			cancel()
		case <-ctx.Done():
		}
	}()
	s.queue.run(ctx)
	return nil
}

// Close stops the dispatcher, waits for its invocations and closes the
// registry. It does not close the Host, which cmd/sluice owns.
func (s *Service) Close() error {
	var err error
	s.closeOnce.Do(func() {
		close(s.closed)
		s.queue.wait()
		err = s.db.Close()
	})
	return err
}

// ServeHTTP implements http.Handler for the front door.
func (s *Service) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			s.log.Error("lambda: panic", "request_id", sluice.RequestInfoFrom(r.Context()).ID, "panic", v)
			s.WriteError(w, r, sluice.Errorf(sluice.ErrServiceException, "panic"))
		}
	}()
	setRequestID(w, r)
	if r.Method == http.MethodPost && r.URL.Path == riePath {
		s.serveRIE(w, r)
		return
	}
	if sluice.IdentityFrom(r.Context()).Anonymous {
		s.WriteError(w, r, sluice.Errorf(errMissingAuthToken, "Missing Authentication Token"))
		return
	}
	if err := s.route(w, r); err != nil {
		s.WriteError(w, r, err)
	}
}

// Invoke implements sluice.Invoker: it runs the function and waits.
func (s *Service) Invoke(ctx context.Context, req *sluice.InvokeRequest) (*sluice.InvokeResult, error) {
	fn, ver, _, err := s.resolve(s.regionOf(ctx), req.Function, req.Qualifier)
	if err != nil {
		return nil, err
	}
	if len(req.Payload) > sluice.MaxSyncPayload {
		return nil, sluice.Errorf(errRequestEntityTooLarge, "Request must be smaller than %d bytes for the InvokeFunction operation", sluice.MaxSyncPayload)
	}
	return s.invoke(ctx, fn, ver, req.Payload, InvokeOptions{ClientContext: req.ClientContext, Tail: req.Tail})
}

// FunctionExists reports whether name (a name or ARN, qualifier included)
// resolves to a function version, as configurations that name functions
// (S3 notifications) must check.
func (s *Service) FunctionExists(ctx context.Context, name string) (bool, error) {
	_, _, _, err := s.resolve(s.regionOf(ctx), name, "")
	if err == nil {
		return true, nil
	}
	// A name that is not found, or is not a function name at all, is no
	// function; only a failure of the registry itself is an error.
	if code := sluice.ErrorCode(err); code != sluice.ErrInternal && code != sluice.ErrServiceException {
		return false, nil
	}
	return false, err
}

// InvokeAsync implements sluice.Invoker: it durably queues the invocation.
func (s *Service) InvokeAsync(ctx context.Context, req *sluice.InvokeRequest) (string, error) {
	fn, _, q, err := s.resolve(s.regionOf(ctx), req.Function, req.Qualifier)
	if err != nil {
		return "", err
	}
	return s.enqueue(fn, q, req.Payload)
}

// regionOf is the region a request acts in: its credential scope's, else the
// configured default.
func (s *Service) regionOf(ctx context.Context) string {
	if id := sluice.IdentityFrom(ctx); !id.Anonymous && id.Region != "" {
		return id.Region
	}
	if ri := sluice.RequestInfoFrom(ctx); ri.Region != "" {
		return ri.Region
	}
	return s.cfg.Region
}

// invoke runs one synchronous invocation of a resolved version.
func (s *Service) invoke(ctx context.Context, fn *functionRecord, ver *versionRecord, payload []byte, opts InvokeOptions) (*sluice.InvokeResult, error) {
	if len(payload) == 0 {
		// Lambda hands an invocation without a payload to the function as {}.
		payload = []byte("{}")
	}
	if fn.Concurrency != nil && *fn.Concurrency == 0 {
		return nil, throttled()
	}
	if opts.RequestID == "" {
		opts.RequestID = uuid.NewString()
	}
	if fn.builtin != nil {
		return s.invokeBuiltin(ctx, fn, ver, payload, opts)
	}
	res, err := s.host.Invoke(ctx, s.spec(fn, ver), payload, opts)
	if err != nil {
		return nil, err
	}
	if res.ExecutedVersion == "" {
		res.ExecutedVersion = ver.Version
	}
	if res.RequestID == "" {
		res.RequestID = opts.RequestID
	}
	return res, nil
}

func throttled() *sluice.Error {
	return sluice.Errorf(sluice.ErrTooManyRequests, "Rate Exceeded.").
		With("Reason", "ReservedFunctionConcurrentInvocationLimitExceeded").
		With("retryAfterSeconds", "1")
}

// spec is what the host needs to run ver.
func (s *Service) spec(fn *functionRecord, ver *versionRecord) *FunctionSpec {
	conc := 0
	if fn.Concurrency != nil {
		conc = *fn.Concurrency
	}
	return &FunctionSpec{
		Name:         fn.Name,
		Version:      ver.Version,
		ARN:          fn.arn(),
		Region:       fn.Region,
		Runtime:      ver.Runtime,
		Handler:      ver.Handler,
		CodeDir:      ver.Code.Dir,
		Timeout:      time.Duration(ver.Timeout) * time.Second,
		MemoryMB:     ver.MemorySize,
		Env:          ver.Env,
		Concurrency:  conc,
		CodeRevision: ver.Code.revision(),
		WatchCode:    ver.Code.Local,
	}
}

// functionRef is a parsed FunctionName: a name, a partial ARN
// (ACCOUNT:function:NAME) or a full ARN, each with an optional qualifier.
type functionRef struct {
	Region    string // from a full ARN; "" otherwise
	Name      string
	Qualifier string
}

var functionNameRE = regexp.MustCompile(`^(arn:(aws[a-zA-Z-]*)?:lambda:)?([a-z]{2}(-gov)?-[a-z]+-\d{1}:)?(\d{12}:)?(function:)?([a-zA-Z0-9-_]+)(:(\$LATEST|[a-zA-Z0-9-_]+))?$`)

const functionNamePattern = `(arn:(aws[a-zA-Z-]*)?:lambda:)?([a-z]{2}(-gov)?-[a-z]+-\d{1}:)?(\d{12}:)?(function:)?([a-zA-Z0-9-_]+)(:(\$LATEST|[a-zA-Z0-9-_]+))?`

// parseFunctionName validates and splits a FunctionName as Lambda does.
func parseFunctionName(s string) (functionRef, error) {
	if s == "" {
		return functionRef{}, validation(nil, "functionName", "Member must not be null")
	}
	if len(s) > 170 {
		return functionRef{}, validation(s, "functionName", "Member must have length less than or equal to 170")
	}
	if plainFunctionName(s) {
		// The common case, a bare name, needs no regular expression.
		return functionRef{Name: s}, nil
	}
	m := functionNameRE.FindStringSubmatch(s)
	if m == nil {
		return functionRef{}, validation(s, "functionName", "Member must satisfy regular expression pattern: "+functionNamePattern)
	}
	ref := functionRef{Region: strings.TrimSuffix(m[3], ":"), Name: m[7], Qualifier: m[9]}
	if m[1] != "" && (m[3] == "" || m[5] == "") {
		return functionRef{}, validation(s, "functionName", "Member must satisfy regular expression pattern: "+functionNamePattern)
	}
	if len(ref.Name) > 64 {
		return functionRef{}, validation(s, "functionName", "Member must have length less than or equal to 64")
	}
	if len(ref.Qualifier) > 128 {
		return functionRef{}, validation(ref.Qualifier, "qualifier", "Member must have length less than or equal to 128")
	}
	return ref, nil
}

// plainFunctionName reports whether s is a bare function name of at most
// 64 letters, digits, '-' and '_'.
func plainFunctionName(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// resolve finds the version to invoke for a FunctionName and Qualifier, in
// region unless the name is an ARN naming another. It also returns the
// qualifier as asked ("$LATEST", a version or an alias), which async
// invocations keep so that an alias is resolved when the event runs.
func (s *Service) resolve(region, name, qualifier string) (*functionRecord, *versionRecord, string, error) {
	ref, err := parseFunctionName(name)
	if err != nil {
		return nil, nil, "", err
	}
	if ref.Region != "" {
		region = ref.Region
	}
	if ref.Qualifier != "" && qualifier != "" && ref.Qualifier != qualifier {
		return nil, nil, "", invalidParam("The derived qualifier from the function name does not match the specified qualifier.")
	}
	if qualifier == "" {
		qualifier = ref.Qualifier
	}
	fn, ok := s.reg.get(region, ref.Name)
	if !ok {
		arn := functionARN(region, ref.Name)
		if qualifier != "" {
			arn += ":" + qualifier
		}
		return nil, nil, "", functionNotFound(arn)
	}
	if qualifier == "" {
		qualifier = sluice.DefaultQualifier
	}
	ver := fn.invocationVersion(qualifier)
	if ver == nil {
		return nil, nil, "", functionNotFound(fn.arn() + ":" + qualifier)
	}
	return fn, ver, qualifier, nil
}
