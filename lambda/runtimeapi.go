package lambda

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// maxResponseSize is the largest response a function may return: Lambda's
// 6 MB synchronous limit plus the 100 bytes of slack it allows.
const maxResponseSize = 6*1024*1024 + 100

// maxErrorSize bounds an error document a runtime posts.
const maxErrorSize = 1 << 20

const runtimePrefix = "/2018-06-01/runtime/"

// ServeHTTP is the instance's Runtime API, as AWS documents it for version
// 2018-06-01.
func (in *instance) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path, ok := strings.CutPrefix(r.URL.Path, runtimePrefix)
	if !ok {
		runtimeFail(w, http.StatusNotFound, "InvalidRequest", "unknown path "+r.URL.Path)
		return
	}
	switch {
	case path == "invocation/next":
		if r.Method != http.MethodGet {
			runtimeFail(w, http.StatusMethodNotAllowed, "MethodNotAllowed", "use GET")
			return
		}
		in.next(w, r)
	case path == "init/error":
		if r.Method != http.MethodPost {
			runtimeFail(w, http.StatusMethodNotAllowed, "MethodNotAllowed", "use POST")
			return
		}
		in.postInitError(w, r)
	case strings.HasPrefix(path, "invocation/"):
		rest := path[len("invocation/"):]
		id, kind, ok := strings.Cut(rest, "/")
		if !ok || id == "" || (kind != "response" && kind != "error") {
			runtimeFail(w, http.StatusNotFound, "InvalidRequest", "unknown path "+r.URL.Path)
			return
		}
		if r.Method != http.MethodPost {
			runtimeFail(w, http.StatusMethodNotAllowed, "MethodNotAllowed", "use POST")
			return
		}
		in.postResult(w, r, id, kind == "error")
	default:
		runtimeFail(w, http.StatusNotFound, "InvalidRequest", "unknown path "+r.URL.Path)
	}
}

// next blocks until the host hands the runtime an invocation.
func (in *instance) next(w http.ResponseWriter, r *http.Request) {
	in.readyOnce.Do(func() {
		in.readyAt = time.Now()
		close(in.readyCh)
	})
	var inv *invocation
	select {
	case inv = <-in.invq:
		// START goes out before the runtime can see the event, so nothing the
		// function prints can precede it.
		in.out.startInvocation(inv, time.Now())
	case <-in.stopping:
		runtimeFail(w, http.StatusInternalServerError, "Runtime.Stopping", "the execution environment is shutting down")
		return
	case <-r.Context().Done():
		return
	}
	h := w.Header()
	h["Content-Type"] = []string{"application/json"}
	h["Lambda-Runtime-Aws-Request-Id"] = []string{inv.id}
	h["Lambda-Runtime-Deadline-Ms"] = []string{strconv.FormatInt(inv.deadline.UnixMilli(), 10)}
	h["Lambda-Runtime-Invoked-Function-Arn"] = []string{inv.arn}
	h["Lambda-Runtime-Trace-Id"] = []string{inv.traceID}
	if inv.clientContext != "" {
		h["Lambda-Runtime-Client-Context"] = []string{clientContextJSON(inv.clientContext)}
	}
	h["Content-Length"] = []string{strconv.Itoa(len(inv.payload))}
	w.WriteHeader(http.StatusOK)
	w.Write(inv.payload)
}

// clientContextJSON decodes X-Amz-Client-Context (base64 JSON): runtimes
// expect the JSON itself.
func clientContextJSON(b64 string) string {
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil || !json.Valid(raw) {
		return b64
	}
	return string(raw)
}

// postResult takes a runtime's response or error for invocation id.
func (in *instance) postResult(w http.ResponseWriter, r *http.Request, id string, isError bool) {
	in.mu.Lock()
	inv := in.cur
	in.mu.Unlock()
	if inv == nil || inv.id != id {
		io.Copy(io.Discard, io.LimitReader(r.Body, maxResponseSize+1))
		runtimeFail(w, http.StatusBadRequest, "InvalidRequestID", "Invalid request ID")
		return
	}
	limit := int64(maxResponseSize)
	if isError {
		limit = maxErrorSize
	}
	body, tooLarge, err := readLimited(r, limit)
	if err != nil {
		runtimeFail(w, http.StatusBadRequest, "InvalidRequest", "read body: "+err.Error())
		return
	}
	if tooLarge && isError {
		// An oversize error document is cut, not refused: the caller still
		// learns the invocation failed.
		tooLarge = false
	}
	errType := ""
	if isError {
		errType = r.Header.Get("Lambda-Runtime-Function-Error-Type")
		if !json.Valid(body) {
			if errType == "" {
				errType = "Runtime.Unknown"
			}
			body = errorDoc(errType, string(body))
		}
	}

	in.mu.Lock()
	if in.cur != inv {
		in.mu.Unlock()
		runtimeFail(w, http.StatusForbidden, "InvalidStateTransition", "State transition from Responded to "+map[bool]string{false: "Responded", true: "ResponseError"}[isError]+" failed for runtime. Error: Invalid transition")
		return
	}
	in.cur = nil
	inv.isError = isError
	inv.errType = errType
	inv.tooLarge = tooLarge
	if !tooLarge {
		inv.result = body
	}
	in.mu.Unlock()
	close(inv.done)

	if tooLarge {
		runtimeFail(w, http.StatusRequestEntityTooLarge, "RequestEntityTooLarge",
			"Exceeded maximum allowed payload size ("+strconv.Itoa(maxResponseSize)+" bytes).")
		return
	}
	accepted(w)
}

// postInitError takes an initialisation error; the runtime exits after it.
func (in *instance) postInitError(w http.ResponseWriter, r *http.Request) {
	select {
	case <-in.readyCh:
		io.Copy(io.Discard, io.LimitReader(r.Body, maxErrorSize))
		runtimeFail(w, http.StatusForbidden, "InvalidStateTransition", "State transition from Ready to InitError failed for runtime. Error: Invalid transition")
		return
	default:
	}
	body, _, err := readLimited(r, maxErrorSize)
	if err != nil {
		runtimeFail(w, http.StatusBadRequest, "InvalidRequest", "read body: "+err.Error())
		return
	}
	posted := false
	in.initOnce.Do(func() {
		in.initErr = &runtimeError{errType: r.Header.Get("Lambda-Runtime-Function-Error-Type"), body: body}
		close(in.initErrCh)
		posted = true
	})
	if !posted {
		runtimeFail(w, http.StatusForbidden, "InvalidStateTransition", "State transition from InitError to InitError failed for runtime. Error: Invalid transition")
		return
	}
	accepted(w)
}

// readLimited reads a request body of at most limit bytes; past the limit it
// discards the rest and reports tooLarge.
func readLimited(r *http.Request, limit int64) (body []byte, tooLarge bool, err error) {
	if r.ContentLength > limit {
		io.Copy(io.Discard, io.LimitReader(r.Body, 4*limit))
		return nil, true, nil
	}
	if r.ContentLength >= 0 {
		body = make([]byte, r.ContentLength)
		_, err = io.ReadFull(r.Body, body)
		return body, false, err
	}
	body, err = io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		return nil, false, err
	}
	if int64(len(body)) > limit {
		io.Copy(io.Discard, io.LimitReader(r.Body, 4*limit))
		return body[:limit], true, nil
	}
	return body, false, nil
}

var statusOK = []byte(`{"status":"OK"}`)

func accepted(w http.ResponseWriter) {
	h := w.Header()
	h["Content-Type"] = []string{"application/json"}
	h["Content-Length"] = []string{"15"}
	w.WriteHeader(http.StatusAccepted)
	w.Write(statusOK)
}

func runtimeFail(w http.ResponseWriter, status int, errType, msg string) {
	b, _ := json.Marshal(struct {
		ErrorMessage string `json:"errorMessage"`
		ErrorType    string `json:"errorType"`
	}{msg, errType})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(b)
}
