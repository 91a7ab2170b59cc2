package logs

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/sluicehq/sluice"
)

// Wire error codes of CloudWatch Logs that the root vocabulary does not
// need; they never leave this package.
const (
	codeUnknownOperation sluice.Code = "UnknownOperationException"
	codeSerialization    sluice.Code = "SerializationException"
	codeServiceUnavailbl sluice.Code = "ServiceUnavailableException"
	codeInvalidSignature             = sluice.ErrInvalidSignature
	codeIncompleteSig    sluice.Code = "IncompleteSignatureException"
	codeMissingAuthToken sluice.Code = "MissingAuthenticationTokenException"
	codeAccessDenied     sluice.Code = "AccessDeniedException"
	codeExpiredToken     sluice.Code = "ExpiredTokenException"
	codeRequestTooLarge  sluice.Code = "RequestEntityTooLargeException"
	codeLimitExceeded    sluice.Code = "LimitExceededException"
)

const (
	targetPrefix = "Logs_20140328."
	contentType  = "application/x-amz-json-1.1"
	// maxBody leaves room for a full 1 MB PutLogEvents batch written with
	// JSON escapes.
	maxBody = 8 << 20
)

// Service is the CloudWatch Logs JSON 1.1 API (POST / with X-Amz-Target:
// Logs_20140328.<Operation>) over a Store. It is safe for concurrent use.
type Service struct {
	store *Store
	log   *slog.Logger
	ops   map[string]func(ctx context.Context, body []byte) (any, error)
}

// handler adapts an operation that takes its decoded request to the
// operation table's shape.
func handler[T any](op func(context.Context, *T) (any, error)) func(context.Context, []byte) (any, error) {
	return func(ctx context.Context, body []byte) (any, error) {
		var req T
		if err := decode(body, &req); err != nil {
			return nil, err
		}
		return op(ctx, &req)
	}
}

// NewService returns the API for store.
func NewService(store *Store, log *slog.Logger) *Service {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Service{store: store, log: log}
	s.ops = map[string]func(context.Context, []byte) (any, error){
		"CreateLogGroup":        handler(s.createLogGroup),
		"DeleteLogGroup":        handler(s.deleteLogGroup),
		"DescribeLogGroups":     handler(s.describeLogGroups),
		"CreateLogStream":       handler(s.createLogStream),
		"DeleteLogStream":       handler(s.deleteLogStream),
		"DescribeLogStreams":    handler(s.describeLogStreams),
		"PutLogEvents":          handler(s.putLogEvents),
		"GetLogEvents":          handler(s.getLogEvents),
		"FilterLogEvents":       handler(s.filterLogEvents),
		"PutRetentionPolicy":    handler(s.putRetentionPolicy),
		"DeleteRetentionPolicy": handler(s.deleteRetentionPolicy),
	}
	return s
}

// ServeHTTP implements http.Handler.
func (s *Service) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	op, ok := strings.CutPrefix(r.Header.Get("X-Amz-Target"), targetPrefix)
	handler := s.ops[op]
	if r.Method != http.MethodPost || !ok || handler == nil {
		name := r.Header.Get("X-Amz-Target")
		if name == "" {
			name = r.Method + " " + r.URL.Path
		}
		s.WriteError(w, r, sluice.Errorf(codeUnknownOperation, "The operation %s is not supported by Sluice's CloudWatch Logs API.", name))
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			s.WriteError(w, r, sluice.Errorf(codeRequestTooLarge, "Request body is larger than %d bytes.", maxBody))
			return
		}
		s.WriteError(w, r, sluice.Wrap(codeSerialization, err, "The request body could not be read."))
		return
	}
	out, err := handler(r.Context(), body)
	if err != nil {
		s.WriteError(w, r, err)
		return
	}
	b, err := json.Marshal(out)
	if err != nil {
		s.WriteError(w, r, fmt.Errorf("encode %s response: %w", op, err))
		return
	}
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("x-amzn-RequestId", sluice.RequestInfoFrom(r.Context()).ID)
	_, _ = w.Write(b)
}

// WriteError renders err as CloudWatch Logs does: status 400 with
// {"__type": code, "message": ...} for client errors, 500 otherwise.
// Authentication failures from the front door are mapped to the codes JSON
// services use for them.
func (s *Service) WriteError(w http.ResponseWriter, r *http.Request, err error) {
	code, status, msg := wireError(err)
	ri := sluice.RequestInfoFrom(r.Context())
	if status >= 500 {
		s.log.ErrorContext(r.Context(), "logs request failed", "request_id", ri.ID, "err", err)
	} else {
		s.log.DebugContext(r.Context(), "logs request refused", "request_id", ri.ID, "code", code, "err", err)
	}
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("X-Amzn-ErrorType", string(code))
	h.Set("x-amzn-RequestId", ri.ID)
	w.WriteHeader(status)
	b, _ := json.Marshal(struct {
		Type    string `json:"__type"`
		Message string `json:"message"`
	}{string(code), msg})
	_, _ = w.Write(b)
}

func wireError(err error) (sluice.Code, int, string) {
	var e *sluice.Error
	if !errors.As(err, &e) {
		return codeServiceUnavailbl, http.StatusInternalServerError, "The service cannot complete the request."
	}
	switch e.Code {
	case sluice.ErrResourceNotFound, sluice.ErrResourceAlreadyExists, sluice.ErrInvalidParameter,
		codeUnknownOperation, codeSerialization, codeLimitExceeded, sluice.ErrUnrecognizedClient,
		codeInvalidSignature, codeIncompleteSig, codeAccessDenied, codeExpiredToken:
		return e.Code, http.StatusBadRequest, e.Message
	case codeRequestTooLarge:
		return e.Code, http.StatusRequestEntityTooLarge, e.Message
	case sluice.ErrSignatureDoesNotMatch, sluice.ErrContentSHA256Mismatch, sluice.ErrRequestTimeTooSkewed:
		return codeInvalidSignature, http.StatusBadRequest, e.Message
	case sluice.ErrInvalidAccessKeyID:
		return sluice.ErrUnrecognizedClient, http.StatusBadRequest, "The security token included in the request is invalid."
	case sluice.ErrAuthorizationHeaderMalformed, sluice.ErrAuthorizationQueryParamsError:
		return codeIncompleteSig, http.StatusBadRequest, e.Message
	case sluice.ErrMissingSecurityHeader:
		return codeMissingAuthToken, http.StatusForbidden, "Missing Authentication Token"
	case sluice.ErrAccessDenied:
		return codeAccessDenied, http.StatusBadRequest, e.Message
	case sluice.ErrExpiredToken:
		return codeExpiredToken, http.StatusBadRequest, e.Message
	case sluice.ErrMaxMessageLengthExceeds, sluice.ErrEntityTooLarge, sluice.ErrRequestTooLarge:
		return codeRequestTooLarge, http.StatusRequestEntityTooLarge, e.Message
	case sluice.ErrIncompleteBody:
		return codeSerialization, http.StatusBadRequest, e.Message
	}
	return codeServiceUnavailbl, http.StatusInternalServerError, "The service cannot complete the request."
}

func decode(body []byte, v any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	if err := json.Unmarshal(body, v); err != nil {
		return sluice.Wrap(codeSerialization, err, "The request body is not a valid JSON document for this operation.")
	}
	return nil
}

func invalid(format string, args ...any) error {
	return sluice.Errorf(sluice.ErrInvalidParameter, format, args...)
}

// constraint is AWS's validation message for one field.
func constraint(field string, value any, rule string) error {
	v := "null"
	if value != nil {
		v = fmt.Sprintf("'%v'", value)
	}
	return invalid("1 validation error detected: Value %s at '%s' failed to satisfy constraint: Member must %s", v, field, rule)
}

var groupNameRE = regexp.MustCompile(`^[.\-_/#A-Za-z0-9]+$`)

func checkGroupName(field string, name *string) (string, error) {
	if name == nil {
		return "", constraint(field, nil, "not be null")
	}
	n := *name
	if len(n) < 1 || len(n) > 512 {
		return "", constraint(field, n, "have length between 1 and 512")
	}
	if !groupNameRE.MatchString(n) {
		return "", constraint(field, n, `satisfy regular expression pattern: [\.\-_/#A-Za-z0-9]+`)
	}
	return n, nil
}

func checkStreamName(field string, name *string) (string, error) {
	if name == nil {
		return "", constraint(field, nil, "not be null")
	}
	n := *name
	if len(n) < 1 || len(n) > 512 {
		return "", constraint(field, n, "have length between 1 and 512")
	}
	if strings.ContainsAny(n, ":*\x00") {
		return "", constraint(field, n, "satisfy regular expression pattern: [^:*]*")
	}
	return n, nil
}

// groupFrom resolves logGroupName or logGroupIdentifier (a name or ARN).
func groupFrom(name, ident *string) (string, error) {
	if name != nil && ident != nil {
		return "", invalid("LogGroup name and LogGroup ARN are mutually exclusive parameters.")
	}
	if ident != nil {
		id := *ident
		if rest, ok := strings.CutPrefix(id, "arn:"); ok {
			parts := strings.SplitN(rest, ":", 5)
			if len(parts) != 5 || parts[1] != "logs" || !strings.HasPrefix(parts[4], "log-group:") {
				return "", invalid("The specified logGroupIdentifier is not a valid log group ARN.")
			}
			id = strings.TrimSuffix(strings.TrimPrefix(parts[4], "log-group:"), ":*")
		}
		return checkGroupName("logGroupIdentifier", &id)
	}
	return checkGroupName("logGroupName", name)
}

func checkLimit(limit *int32, max int32) (int, error) {
	if limit == nil {
		return int(max), nil
	}
	if *limit < 1 {
		return 0, constraint("limit", *limit, "have value greater than or equal to 1")
	}
	if *limit > max {
		return 0, constraint("limit", *limit, fmt.Sprintf("have value less than or equal to %d", max))
	}
	return int(*limit), nil
}

func region(ctx context.Context) string {
	if r := sluice.IdentityFrom(ctx).Region; r != "" {
		return r
	}
	return sluice.DefaultRegion
}

func groupARN(ctx context.Context, name string) string {
	return "arn:aws:logs:" + region(ctx) + ":" + sluice.AccountID + ":log-group:" + name
}

type empty struct{}

// Groups.

type groupRequest struct {
	LogGroupName       *string `json:"logGroupName"`
	LogGroupIdentifier *string `json:"logGroupIdentifier"`
	RetentionInDays    *int32  `json:"retentionInDays"`
}

func (s *Service) createLogGroup(ctx context.Context, req *groupRequest) (any, error) {
	name, err := checkGroupName("logGroupName", req.LogGroupName)
	if err != nil {
		return nil, err
	}
	return empty{}, s.store.CreateLogGroup(ctx, name)
}

func (s *Service) deleteLogGroup(ctx context.Context, req *groupRequest) (any, error) {
	name, err := checkGroupName("logGroupName", req.LogGroupName)
	if err != nil {
		return nil, err
	}
	return empty{}, s.store.DeleteLogGroup(ctx, name)
}

func (s *Service) putRetentionPolicy(ctx context.Context, req *groupRequest) (any, error) {
	name, err := checkGroupName("logGroupName", req.LogGroupName)
	if err != nil {
		return nil, err
	}
	if req.RetentionInDays == nil {
		return nil, constraint("retentionInDays", nil, "not be null")
	}
	if !slices.Contains(RetentionDays, *req.RetentionInDays) {
		set := make([]string, len(RetentionDays))
		for i, d := range RetentionDays {
			set[i] = fmt.Sprint(d)
		}
		return nil, constraint("retentionInDays", *req.RetentionInDays, "satisfy enum value set: ["+strings.Join(set, ", ")+"]")
	}
	return empty{}, s.store.PutRetentionPolicy(ctx, name, *req.RetentionInDays)
}

func (s *Service) deleteRetentionPolicy(ctx context.Context, req *groupRequest) (any, error) {
	name, err := checkGroupName("logGroupName", req.LogGroupName)
	if err != nil {
		return nil, err
	}
	return empty{}, s.store.PutRetentionPolicy(ctx, name, 0)
}

type describeGroupsRequest struct {
	LogGroupNamePrefix  *string `json:"logGroupNamePrefix"`
	LogGroupNamePattern *string `json:"logGroupNamePattern"`
	Limit               *int32  `json:"limit"`
	NextToken           *string `json:"nextToken"`
}

type logGroupOut struct {
	LogGroupName      string `json:"logGroupName"`
	CreationTime      int64  `json:"creationTime"`
	RetentionInDays   *int32 `json:"retentionInDays,omitempty"`
	MetricFilterCount int    `json:"metricFilterCount"`
	Arn               string `json:"arn"`
	StoredBytes       int64  `json:"storedBytes"`
	LogGroupClass     string `json:"logGroupClass"`
	LogGroupArn       string `json:"logGroupArn"`
}

func (s *Service) describeLogGroups(ctx context.Context, req *describeGroupsRequest) (any, error) {
	limit, err := checkLimit(req.Limit, 50)
	if err != nil {
		return nil, err
	}
	if req.LogGroupNamePrefix != nil && req.LogGroupNamePattern != nil {
		return nil, invalid("LogGroup name prefix and LogGroup name pattern are mutually exclusive parameters.")
	}
	prefix := ""
	if req.LogGroupNamePrefix != nil {
		if prefix, err = checkGroupName("logGroupNamePrefix", req.LogGroupNamePrefix); err != nil {
			return nil, err
		}
	}
	after, err := decodeNameToken(req.NextToken)
	if err != nil {
		return nil, err
	}
	out := struct {
		LogGroups []logGroupOut `json:"logGroups"`
		NextToken string        `json:"nextToken,omitempty"`
	}{LogGroups: []logGroupOut{}}
	for _, g := range s.store.LogGroups(prefix) {
		if after != nil && g.Name <= after.Name {
			continue
		}
		if req.LogGroupNamePattern != nil && !strings.Contains(strings.ToLower(g.Name), strings.ToLower(*req.LogGroupNamePattern)) {
			continue
		}
		if len(out.LogGroups) == limit {
			out.NextToken = encodeNameToken(nameToken{Name: out.LogGroups[limit-1].LogGroupName})
			break
		}
		arn := groupARN(ctx, g.Name)
		lg := logGroupOut{
			LogGroupName: g.Name, CreationTime: g.Created, Arn: arn + ":*", LogGroupArn: arn,
			StoredBytes: g.StoredBytes, LogGroupClass: "STANDARD",
		}
		if g.RetentionDays > 0 {
			d := g.RetentionDays
			lg.RetentionInDays = &d
		}
		out.LogGroups = append(out.LogGroups, lg)
	}
	return out, nil
}

// nameToken is the cursor of DescribeLogGroups and DescribeLogStreams:
// the last item returned (its name, and its last event time when streams
// are ordered by it).
type nameToken struct {
	Name string `json:"n"`
	Time int64  `json:"t,omitempty"`
}

func encodeNameToken(t nameToken) string {
	b, _ := json.Marshal(t)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeNameToken(tok *string) (*nameToken, error) {
	if tok == nil {
		return nil, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(*tok)
	var t nameToken
	if err != nil || json.Unmarshal(b, &t) != nil || t.Name == "" {
		return nil, invalid("The specified nextToken is invalid.")
	}
	return &t, nil
}

// Streams.

type streamRequest struct {
	LogGroupName  *string `json:"logGroupName"`
	LogStreamName *string `json:"logStreamName"`
}

func (s *Service) createLogStream(ctx context.Context, req *streamRequest) (any, error) {
	g, err := checkGroupName("logGroupName", req.LogGroupName)
	if err != nil {
		return nil, err
	}
	st, err := checkStreamName("logStreamName", req.LogStreamName)
	if err != nil {
		return nil, err
	}
	return empty{}, s.store.CreateLogStream(ctx, g, st)
}

func (s *Service) deleteLogStream(ctx context.Context, req *streamRequest) (any, error) {
	g, err := checkGroupName("logGroupName", req.LogGroupName)
	if err != nil {
		return nil, err
	}
	st, err := checkStreamName("logStreamName", req.LogStreamName)
	if err != nil {
		return nil, err
	}
	return empty{}, s.store.DeleteLogStream(ctx, g, st)
}

type describeStreamsRequest struct {
	LogGroupName        *string `json:"logGroupName"`
	LogGroupIdentifier  *string `json:"logGroupIdentifier"`
	LogStreamNamePrefix *string `json:"logStreamNamePrefix"`
	OrderBy             *string `json:"orderBy"`
	Descending          *bool   `json:"descending"`
	Limit               *int32  `json:"limit"`
	NextToken           *string `json:"nextToken"`
}

type logStreamOut struct {
	LogStreamName       string `json:"logStreamName"`
	CreationTime        int64  `json:"creationTime"`
	FirstEventTimestamp *int64 `json:"firstEventTimestamp,omitempty"`
	LastEventTimestamp  *int64 `json:"lastEventTimestamp,omitempty"`
	LastIngestionTime   *int64 `json:"lastIngestionTime,omitempty"`
	Arn                 string `json:"arn"`
	StoredBytes         int64  `json:"storedBytes"`
}

func (s *Service) describeLogStreams(ctx context.Context, req *describeStreamsRequest) (any, error) {
	gname, err := groupFrom(req.LogGroupName, req.LogGroupIdentifier)
	if err != nil {
		return nil, err
	}
	limit, err := checkLimit(req.Limit, 50)
	if err != nil {
		return nil, err
	}
	byTime := false
	if req.OrderBy != nil {
		switch *req.OrderBy {
		case "LogStreamName":
		case "LastEventTime":
			byTime = true
		default:
			return nil, constraint("orderBy", *req.OrderBy, "satisfy enum value set: [LogStreamName, LastEventTime]")
		}
	}
	prefix := ""
	if req.LogStreamNamePrefix != nil {
		if byTime {
			return nil, invalid("Cannot order by LastEventTime with a logStreamNamePrefix.")
		}
		if prefix, err = checkStreamName("logStreamNamePrefix", req.LogStreamNamePrefix); err != nil {
			return nil, err
		}
	}
	desc := req.Descending != nil && *req.Descending
	after, err := decodeNameToken(req.NextToken)
	if err != nil {
		return nil, err
	}
	streams, err := s.store.LogStreams(gname)
	if err != nil {
		return nil, err
	}
	// before reports whether a sorts before b in the requested order.
	before := func(a, b nameToken) bool {
		less := a.Name < b.Name
		if byTime && a.Time != b.Time {
			less = a.Time < b.Time
		}
		if desc {
			return !less && a != b
		}
		return less
	}
	tok := func(si StreamInfo) nameToken {
		t := nameToken{Name: si.Name}
		if byTime {
			t.Time = si.Last
		}
		return t
	}
	sort.Slice(streams, func(i, j int) bool { return before(tok(streams[i]), tok(streams[j])) })
	out := struct {
		LogStreams []logStreamOut `json:"logStreams"`
		NextToken  string         `json:"nextToken,omitempty"`
	}{LogStreams: []logStreamOut{}}
	arn := groupARN(ctx, gname)
	var last nameToken
	for _, si := range streams {
		if !strings.HasPrefix(si.Name, prefix) || after != nil && !before(*after, tok(si)) {
			continue
		}
		if len(out.LogStreams) == limit {
			out.NextToken = encodeNameToken(last)
			break
		}
		ls := logStreamOut{LogStreamName: si.Name, CreationTime: si.Created, Arn: arn + ":log-stream:" + si.Name, StoredBytes: si.StoredBytes}
		if si.Last != 0 || si.First != 0 {
			first, lastTS := si.First, si.Last
			ls.FirstEventTimestamp, ls.LastEventTimestamp = &first, &lastTS
		}
		if si.LastIngest != 0 {
			li := si.LastIngest
			ls.LastIngestionTime = &li
		}
		out.LogStreams = append(out.LogStreams, ls)
		last = tok(si)
	}
	return out, nil
}

// Events.

type inputLogEvent struct {
	Timestamp *int64  `json:"timestamp"`
	Message   *string `json:"message"`
}

type putEventsRequest struct {
	LogGroupName  *string         `json:"logGroupName"`
	LogStreamName *string         `json:"logStreamName"`
	LogEvents     []inputLogEvent `json:"logEvents"`
}

type rejectedInfo struct {
	TooNewLogEventStartIndex *int `json:"tooNewLogEventStartIndex,omitempty"`
	TooOldLogEventEndIndex   *int `json:"tooOldLogEventEndIndex,omitempty"`
	ExpiredLogEventEndIndex  *int `json:"expiredLogEventEndIndex,omitempty"`
}

func (s *Service) putLogEvents(ctx context.Context, req *putEventsRequest) (any, error) {
	gname, err := checkGroupName("logGroupName", req.LogGroupName)
	if err != nil {
		return nil, err
	}
	sname, err := checkStreamName("logStreamName", req.LogStreamName)
	if err != nil {
		return nil, err
	}
	n := len(req.LogEvents)
	if n < 1 || n > MaxBatchEvents {
		return nil, constraint("logEvents", fmt.Sprintf("[%d events]", n), fmt.Sprintf("have length between 1 and %d", MaxBatchEvents))
	}
	total := 0
	for i, e := range req.LogEvents {
		if e.Timestamp == nil {
			return nil, constraint(fmt.Sprintf("logEvents.%d.member.timestamp", i+1), nil, "not be null")
		}
		if e.Message == nil || *e.Message == "" {
			return nil, constraint(fmt.Sprintf("logEvents.%d.member.message", i+1), nil, "have length greater than or equal to 1")
		}
		size := len(*e.Message) + eventOverhead
		if len(*e.Message) > s.store.cfg.MaxEventSize {
			return nil, invalid("Log event too large: %d bytes exceeds limit of %d", size, s.store.cfg.MaxEventSize+eventOverhead)
		}
		total += size
		if i > 0 && *e.Timestamp < *req.LogEvents[i-1].Timestamp {
			return nil, invalid("Log events in a single PutLogEvents request must be in chronological order.")
		}
	}
	if total > MaxBatchBytes {
		return nil, invalid("Upload too large: %d bytes exceeds limit of %d", total, MaxBatchBytes)
	}
	if *req.LogEvents[n-1].Timestamp-*req.LogEvents[0].Timestamp > int64(24*time.Hour/time.Millisecond) {
		return nil, invalid("The batch of log events in a single PutLogEvents request cannot span more than 24 hours.")
	}
	info, err := s.store.LogGroup(gname)
	if err != nil {
		return nil, err
	}
	if _, err := s.store.streamExists(gname, sname); err != nil {
		return nil, err
	}
	now := s.store.cfg.Now()
	tooOld := now.Add(-14 * 24 * time.Hour).UnixMilli()
	expired := int64(math.MinInt64)
	if info.RetentionDays > 0 {
		expired = now.Add(-time.Duration(info.RetentionDays) * 24 * time.Hour).UnixMilli()
	}
	tooNew := now.Add(2 * time.Hour).UnixMilli()
	var rej rejectedInfo
	var accepted []inputEvent
	oldEnd, expEnd, newStart := 0, 0, -1
	for i, e := range req.LogEvents {
		ts := *e.Timestamp
		switch {
		case ts < expired:
			expEnd = i + 1
		case ts < tooOld:
			oldEnd = i + 1
		case ts > tooNew:
			if newStart < 0 {
				newStart = i
			}
		default:
			accepted = append(accepted, inputEvent{ts, *e.Message})
		}
	}
	if expEnd > 0 {
		rej.ExpiredLogEventEndIndex = &expEnd
	}
	if oldEnd > 0 {
		rej.TooOldLogEventEndIndex = &oldEnd
	}
	if newStart >= 0 {
		rej.TooNewLogEventStartIndex = &newStart
	}
	last, err := s.store.append(gname, sname, accepted, false)
	if err != nil {
		return nil, err
	}
	out := struct {
		NextSequenceToken string        `json:"nextSequenceToken"`
		Rejected          *rejectedInfo `json:"rejectedLogEventsInfo,omitempty"`
	}{NextSequenceToken: last.EventID()}
	if rej != (rejectedInfo{}) {
		out.Rejected = &rej
	}
	return out, nil
}

type getEventsRequest struct {
	LogGroupName       *string `json:"logGroupName"`
	LogGroupIdentifier *string `json:"logGroupIdentifier"`
	LogStreamName      *string `json:"logStreamName"`
	StartTime          *int64  `json:"startTime"`
	EndTime            *int64  `json:"endTime"`
	NextToken          *string `json:"nextToken"`
	Limit              *int32  `json:"limit"`
	StartFromHead      *bool   `json:"startFromHead"`
}

type outputLogEvent struct {
	Timestamp     int64  `json:"timestamp"`
	Message       string `json:"message"`
	IngestionTime int64  `json:"ingestionTime"`
}

// Stream tokens are "f/<eventId>/s" (events after that position) and
// "b/<eventId>/s" (events before it), the shape AWS uses.
func streamToken(dir byte, p Pos) string { return string(dir) + "/" + p.EventID() + "/s" }

func parseStreamToken(tok string) (dir byte, p Pos, err error) {
	bad := invalid("The specified nextToken is invalid.")
	if len(tok) < 2 || tok[1] != '/' || tok[0] != 'f' && tok[0] != 'b' {
		return 0, Pos{}, bad
	}
	id := strings.TrimSuffix(tok[2:], "/s")
	p, ok := ParseEventID(id)
	if !ok {
		return 0, Pos{}, bad
	}
	return tok[0], p, nil
}

func (s *Service) getLogEvents(ctx context.Context, req *getEventsRequest) (any, error) {
	gname, err := groupFrom(req.LogGroupName, req.LogGroupIdentifier)
	if err != nil {
		return nil, err
	}
	sname, err := checkStreamName("logStreamName", req.LogStreamName)
	if err != nil {
		return nil, err
	}
	limit, err := checkLimit(req.Limit, MaxBatchEvents)
	if err != nil {
		return nil, err
	}
	q := StreamQuery{Start: 0, End: math.MaxInt64, Limit: limit, MaxBytes: MaxBatchBytes}
	if req.StartTime != nil {
		if *req.StartTime < 0 {
			return nil, constraint("startTime", *req.StartTime, "have value greater than or equal to 0")
		}
		q.Start = *req.StartTime
	}
	if req.EndTime != nil {
		if *req.EndTime < 0 {
			return nil, constraint("endTime", *req.EndTime, "have value greater than or equal to 0")
		}
		q.End = *req.EndTime
	}
	var dir byte = 'b'
	if req.StartFromHead != nil && *req.StartFromHead {
		dir = 'f'
	}
	var tokPos *Pos
	if req.NextToken != nil {
		d, p, err := parseStreamToken(*req.NextToken)
		if err != nil {
			return nil, err
		}
		dir, tokPos = d, &p
		if d == 'f' {
			q.After = &p
		} else {
			q.Before = &p
		}
	}
	q.Backward = dir == 'b'
	events, err := s.store.ReadStream(ctx, gname, sname, q)
	if err != nil {
		return nil, err
	}
	out := struct {
		Events            []outputLogEvent `json:"events"`
		NextForwardToken  string           `json:"nextForwardToken"`
		NextBackwardToken string           `json:"nextBackwardToken"`
	}{Events: make([]outputLogEvent, len(events))}
	for i, e := range events {
		out.Events[i] = outputLogEvent{Timestamp: e.Pos.Time, Message: e.Message, IngestionTime: e.Ingestion}
	}
	switch {
	case len(events) > 0:
		out.NextForwardToken = streamToken('f', events[len(events)-1].Pos)
		out.NextBackwardToken = streamToken('b', events[0].Pos)
	case tokPos != nil && dir == 'f':
		// At the end: the same forward token, so followers keep polling it.
		out.NextForwardToken = *req.NextToken
		out.NextBackwardToken = streamToken('b', tokPos.next())
	case tokPos != nil:
		out.NextBackwardToken = *req.NextToken
		out.NextForwardToken = streamToken('f', tokPos.prev())
	default:
		// Nothing in the range yet: both tokens sit at its start, so a
		// forward token picks up the first events written later.
		start := Pos{Time: q.Start}
		out.NextForwardToken = streamToken('f', start)
		out.NextBackwardToken = streamToken('b', start)
	}
	return out, nil
}

type filterEventsRequest struct {
	LogGroupName        *string  `json:"logGroupName"`
	LogGroupIdentifier  *string  `json:"logGroupIdentifier"`
	LogStreamNames      []string `json:"logStreamNames"`
	LogStreamNamePrefix *string  `json:"logStreamNamePrefix"`
	StartTime           *int64   `json:"startTime"`
	EndTime             *int64   `json:"endTime"`
	FilterPattern       *string  `json:"filterPattern"`
	NextToken           *string  `json:"nextToken"`
	Limit               *int32   `json:"limit"`
}

type filteredLogEvent struct {
	LogStreamName string `json:"logStreamName"`
	Timestamp     int64  `json:"timestamp"`
	Message       string `json:"message"`
	IngestionTime int64  `json:"ingestionTime"`
	EventID       string `json:"eventId"`
}

type searchedLogStream struct {
	LogStreamName      string `json:"logStreamName"`
	SearchedCompletely bool   `json:"searchedCompletely"`
}

func (s *Service) filterLogEvents(ctx context.Context, req *filterEventsRequest) (any, error) {
	gname, err := groupFrom(req.LogGroupName, req.LogGroupIdentifier)
	if err != nil {
		return nil, err
	}
	limit, err := checkLimit(req.Limit, MaxBatchEvents)
	if err != nil {
		return nil, err
	}
	q := FilterQuery{Start: 0, End: math.MaxInt64, Limit: limit, MaxBytes: MaxBatchBytes}
	if req.LogStreamNames != nil && req.LogStreamNamePrefix != nil {
		return nil, invalid("Cannot specify both logStreamNames and logStreamNamePrefix.")
	}
	if req.LogStreamNames != nil {
		if len(req.LogStreamNames) < 1 || len(req.LogStreamNames) > 100 {
			return nil, constraint("logStreamNames", fmt.Sprintf("[%d names]", len(req.LogStreamNames)), "have length between 1 and 100")
		}
		for i := range req.LogStreamNames {
			n, err := checkStreamName("logStreamNames", &req.LogStreamNames[i])
			if err != nil {
				return nil, err
			}
			q.Streams = append(q.Streams, n)
		}
	}
	if req.LogStreamNamePrefix != nil {
		if q.StreamPrefix, err = checkStreamName("logStreamNamePrefix", req.LogStreamNamePrefix); err != nil {
			return nil, err
		}
	}
	if req.StartTime != nil {
		if *req.StartTime < 0 {
			return nil, constraint("startTime", *req.StartTime, "have value greater than or equal to 0")
		}
		q.Start = *req.StartTime
	}
	if req.EndTime != nil {
		if *req.EndTime < 0 {
			return nil, constraint("endTime", *req.EndTime, "have value greater than or equal to 0")
		}
		q.End = *req.EndTime
	}
	if req.FilterPattern != nil {
		if len(*req.FilterPattern) > MaxPatternLength {
			return nil, constraint("filterPattern", "...", fmt.Sprintf("have length less than or equal to %d", MaxPatternLength))
		}
		p, err := CompilePattern(*req.FilterPattern)
		if err != nil {
			return nil, err
		}
		q.Match = p.Match
	}
	if req.NextToken != nil {
		id, ok := strings.CutPrefix(*req.NextToken, "e/")
		p, valid := ParseEventID(id)
		if !ok || !valid {
			return nil, invalid("The specified nextToken is invalid.")
		}
		q.After = &p
	}
	res, err := s.store.Filter(ctx, gname, q)
	if err != nil {
		return nil, err
	}
	out := struct {
		Events             []filteredLogEvent  `json:"events"`
		SearchedLogStreams []searchedLogStream `json:"searchedLogStreams"`
		NextToken          string              `json:"nextToken,omitempty"`
	}{Events: make([]filteredLogEvent, len(res.Events)), SearchedLogStreams: []searchedLogStream{}}
	for i, e := range res.Events {
		out.Events[i] = filteredLogEvent{LogStreamName: e.Stream, Timestamp: e.Pos.Time, Message: e.Message, IngestionTime: e.Ingestion, EventID: e.Pos.EventID()}
	}
	if res.Next != nil {
		out.NextToken = "e/" + res.Next.EventID()
	}
	return out, nil
}
