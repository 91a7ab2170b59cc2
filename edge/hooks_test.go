package edge

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/awsevent"
)

// goInvoker implements sluice.Invoker by running Go handlers on the JSON
// event, as a Lambda@Edge function would: the handler sees the decoded
// event and its result is encoded back to JSON. A handler returning
// json.RawMessage answers with those bytes as they are.
type goInvoker struct {
	mu       sync.Mutex
	handlers map[string]func(ctx context.Context, ev awsevent.CloudFrontEvent) (any, error)
	calls    map[string]*atomic.Int64
	arns     []string
}

func newGoInvoker() *goInvoker {
	return &goInvoker{handlers: map[string]func(context.Context, awsevent.CloudFrontEvent) (any, error){}, calls: map[string]*atomic.Int64{}}
}

func (g *goInvoker) handle(name string, fn func(ctx context.Context, ev awsevent.CloudFrontEvent) (any, error)) string {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.handlers[name] = fn
	g.calls[name] = &atomic.Int64{}
	return "arn:aws:lambda:us-east-1:000000000000:function:" + name + ":1"
}

func (g *goInvoker) count(name string) int64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.calls[name].Load()
}

func (g *goInvoker) Invoke(ctx context.Context, req *sluice.InvokeRequest) (*sluice.InvokeResult, error) {
	name := functionName(req.Function)
	g.mu.Lock()
	fn := g.handlers[name]
	calls := g.calls[name]
	g.arns = append(g.arns, req.Function)
	g.mu.Unlock()
	if fn == nil {
		return nil, sluice.Errorf(sluice.ErrResourceNotFound, "Function not found: %s", req.Function)
	}
	calls.Add(1)
	var ev awsevent.CloudFrontEvent
	if err := json.Unmarshal(req.Payload, &ev); err != nil {
		return nil, err
	}
	out, err := fn(ctx, ev)
	if err != nil {
		doc, _ := json.Marshal(map[string]string{"errorMessage": err.Error(), "errorType": "Error"})
		return &sluice.InvokeResult{Payload: doc, FunctionError: "Unhandled"}, nil
	}
	if raw, ok := out.(json.RawMessage); ok {
		return &sluice.InvokeResult{Payload: raw}, nil
	}
	payload, err := json.Marshal(out)
	return &sluice.InvokeResult{Payload: payload}, err
}

func (g *goInvoker) InvokeAsync(context.Context, *sluice.InvokeRequest) (string, error) {
	return "", errors.New("edge hooks are synchronous")
}

var _ sluice.Invoker = (*goInvoker)(nil)

func hookDist(id, bucket string, cbs ...sluice.FunctionAssociation) sluice.Distribution {
	d := s3Dist(id, bucket)
	d.Config.DefaultCacheBehavior.FunctionAssociations = cbs
	return d
}

func TestViewerRequestHook(t *testing.T) {
	g := newGoInvoker()
	h := newHarness(t, g, func(c *Config) { c.HookTimeout = 300 * time.Millisecond })
	h.bucket("b")
	h.put("b", "new.txt", []byte("rewritten"), sluice.ObjectMeta{})
	arn := g.handle("vr", func(ctx context.Context, ev awsevent.CloudFrontEvent) (any, error) {
		cf := ev.Records[0].CF
		req := cf.Request
		if cf.Config.EventType != "viewer-request" || req.Origin != nil || cf.Config.DistributionID == "" {
			return nil, errors.New("bad event")
		}
		switch req.URI {
		case "/old.txt":
			req.URI = "/new.txt"
			return req, nil
		case "/deny":
			return map[string]any{"status": "401", "statusDescription": "Unauthorized",
				"headers": map[string]any{"www-authenticate": []map[string]string{{"key": "WWW-Authenticate", "value": "Basic"}}},
				"body":    "no"}, nil
		case "/host":
			req.Headers.Set("Host", "evil.example")
			return req, nil
		case "/xcache":
			req.Headers.Set("X-Cache", "Hit")
			return req, nil
		case "/connection":
			req.Headers["connection"] = []awsevent.CloudFrontHeader{{Value: "close"}}
			return req, nil
		case "/big":
			return map[string]any{"status": 200, "body": strings.Repeat("x", 41<<10)}, nil
		case "/nocontent":
			return map[string]any{"status": "204", "body": "x"}, nil
		case "/badstatus":
			return map[string]any{"status": "99"}, nil
		case "/throw":
			return nil, errors.New("boom")
		case "/garbage":
			return json.RawMessage(`not json`), nil
		case "/slow":
			<-ctx.Done()
			return nil, ctx.Err()
		case "/nouri":
			return map[string]any{"headers": map[string]any{}}, nil
		}
		return req, nil
	})
	d := hookDist("EVIEWERREQ0001", "b", sluice.FunctionAssociation{EventType: "viewer-request", FunctionARN: arn})
	h.dist(d)
	host := hostOf(d.ID)
	for _, tc := range []struct {
		path   string
		status int
		xcache string
		body   string
	}{
		{"/old.txt", 200, "Miss", "rewritten"},
		{"/old.txt", 200, "Hit", "rewritten"},
		{"/deny", 401, "LambdaGeneratedResponse", "no"},
		{"/deny", 401, "LambdaGeneratedResponse", "no"},
		{"/host", 502, "LambdaValidationError", ""},
		{"/xcache", 502, "LambdaValidationError", ""},
		{"/connection", 502, "LambdaValidationError", ""},
		{"/big", 502, "LambdaValidationError", ""},
		{"/nocontent", 502, "LambdaValidationError", ""},
		{"/badstatus", 502, "LambdaValidationError", ""},
		{"/garbage", 502, "LambdaValidationError", ""},
		{"/nouri", 502, "LambdaValidationError", ""},
		{"/throw", 503, "LambdaExecutionError", ""},
		{"/slow", 503, "LambdaLimitExceeded", ""},
	} {
		r := h.get(host, tc.path, nil)
		if r.status != tc.status || r.xcache() != tc.xcache+" from sluice" || (tc.body != "" && string(r.body) != tc.body) {
			t.Errorf("%s: %d %q %q, want %d %s %q", tc.path, r.status, r.xcache(), r.body, tc.status, tc.xcache, tc.body)
		}
		if tc.path == "/deny" && r.header.Get("WWW-Authenticate") != "Basic" {
			t.Errorf("generated header lost: %v", r.header)
		}
	}
	if n := g.count("vr"); n != 14 {
		t.Errorf("viewer-request ran %d times, want once per request (14)", n)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.arns[0] != arn {
		t.Errorf("invoked %q, want the versioned ARN %q", g.arns[0], arn)
	}
}

func TestOriginHooks(t *testing.T) {
	g := newGoInvoker()
	h := newHarness(t, g, nil)
	h.bucket("b")
	h.put("b", "real.txt", []byte("origin body"), sluice.ObjectMeta{ContentType: "text/plain"})
	orArn := g.handle("or", func(ctx context.Context, ev awsevent.CloudFrontEvent) (any, error) {
		req := ev.Records[0].CF.Request
		if req.Origin == nil || req.Origin.S3 == nil || req.Origin.S3.DomainName != "b.s3.localhost" {
			return nil, errors.New("origin-request event without its origin")
		}
		switch req.URI {
		case "/alias.txt":
			req.URI = "/real.txt"
			return req, nil
		case "/made":
			return map[string]any{"status": "200", "headers": map[string]any{
				"cache-control": []map[string]string{{"value": "max-age=60"}},
				"content-type":  []map[string]string{{"value": "text/plain"}}}, "body": "generated at origin"}, nil
		case "/readonly":
			req.Headers.Set("If-None-Match", `"x"`)
			return req, nil
		}
		return req, nil
	})
	orsArn := g.handle("ors", func(ctx context.Context, ev awsevent.CloudFrontEvent) (any, error) {
		cf := ev.Records[0].CF
		resp := cf.Response
		if cf.Request.Origin == nil || resp.Status == "" {
			return nil, errors.New("origin-response event without origin or status")
		}
		switch cf.Request.URI {
		case "/real.txt":
			resp.Headers.Set("X-Hooked", "yes")
			return resp, nil
		case "/missing":
			if resp.Status != "404" {
				return nil, errors.New("want the origin's 404")
			}
			return map[string]any{"status": "200", "statusDescription": "OK", "body": "replaced",
				"headers": map[string]any{"content-type": []map[string]string{{"value": "text/plain"}}}}, nil
		case "/huge":
			return map[string]any{"status": "200", "body": strings.Repeat("y", 1<<20+1)}, nil
		case "/via":
			resp.Headers.Set("Via", "me")
			return resp, nil
		}
		return resp, nil
	})
	vrsArn := g.handle("vrs", func(ctx context.Context, ev awsevent.CloudFrontEvent) (any, error) {
		resp := ev.Records[0].CF.Response
		resp.Headers.Set("X-Viewer", "seen")
		resp.Status = "500" // viewer-response functions cannot change the status
		return resp, nil
	})
	d := hookDist("EORIGINHOOK001", "b",
		sluice.FunctionAssociation{EventType: "origin-request", FunctionARN: orArn},
		sluice.FunctionAssociation{EventType: "origin-response", FunctionARN: orsArn},
		sluice.FunctionAssociation{EventType: "viewer-response", FunctionARN: vrsArn})
	h.dist(d)
	host := hostOf(d.ID)
	for _, tc := range []struct {
		path   string
		status int
		xcache string
		body   string
		hooked string
	}{
		{"/alias.txt", 200, "Miss", "origin body", "yes"},
		{"/alias.txt", 200, "Hit", "origin body", "yes"},
		{"/made", 200, "Miss", "generated at origin", ""},
		{"/made", 200, "Hit", "generated at origin", ""},
		{"/missing", 200, "Miss", "replaced", ""},
		{"/missing", 200, "Hit", "replaced", ""},
		{"/readonly", 502, "LambdaValidationError", "", ""},
		{"/huge", 502, "LambdaValidationError", "", ""},
		{"/via", 502, "LambdaValidationError", "", ""},
	} {
		r := h.get(host, tc.path, nil)
		if r.status != tc.status || r.xcache() != tc.xcache+" from sluice" || (tc.body != "" && string(r.body) != tc.body) ||
			r.header.Get("X-Hooked") != tc.hooked {
			t.Errorf("%s: %d %q %q hooked %q", tc.path, r.status, r.xcache(), r.body, r.header.Get("X-Hooked"))
		}
		if tc.status == 200 && r.header.Get("X-Viewer") != "seen" {
			t.Errorf("%s: viewer-response did not run", tc.path)
		}
	}
	// Origin-facing functions run on misses only; viewer-response on every
	// response below 400.
	if g.count("or") != 6 || g.count("ors") != 4 || g.count("vrs") != 6 {
		t.Errorf("invocations: origin-request %d, origin-response %d, viewer-response %d", g.count("or"), g.count("ors"), g.count("vrs"))
	}
}

func TestNativeHookAndFormatAuto(t *testing.T) {
	h := newHarness(t, nil, nil)
	h.bucket("b")
	h.put("b", "photo.jpg", []byte("jpegbytes"), sluice.ObjectMeta{ContentType: "image/jpeg"})
	var calls atomic.Int64
	var mu sync.Mutex
	var seenQuery []string
	h.edge.RegisterNativeHook("sluice-image-resize", func(ctx context.Context, cf *awsevent.CloudFrontCF, body []byte) (*awsevent.CloudFrontCF, []byte, error) {
		calls.Add(1)
		mu.Lock()
		seenQuery = append(seenQuery, cf.Request.QueryString)
		mu.Unlock()
		if cf.Config.EventType != awsevent.EdgeOriginResponse || string(body) != "jpegbytes" {
			return nil, nil, errors.New("unexpected event")
		}
		out := *cf
		resp := *cf.Response
		resp.Headers = awsevent.CloudFrontHeaders{}
		resp.Headers.Set("Content-Type", "image/webp")
		out.Response = &resp
		return &out, []byte("resized:" + cf.Request.QueryString), nil
	})
	d := hookDist("ENATIVEHOOK001", "b", sluice.FunctionAssociation{EventType: "origin-response",
		FunctionARN: "arn:aws:lambda:us-east-1:000000000000:function:sluice-image-resize:1"})
	d.Config.DefaultCacheBehavior.QueryString = true
	d.Config.DefaultCacheBehavior.QueryStringCacheKeys = []string{"d", "format"}
	h.dist(d)
	host := hostOf(d.ID)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			r := h.get(host, "/photo.jpg?d=10x10&format=auto", map[string]string{"Accept": "image/webp,*/*"})
			if string(r.body) != "resized:d=10x10&format=webp" || r.header.Get("Vary") != "Accept" {
				t.Errorf("native: %q vary %q", r.body, r.header.Get("Vary"))
			}
		})
	}
	wg.Wait()
	if calls.Load() != 1 {
		t.Fatalf("native hook ran %d times for 8 concurrent requests, want 1", calls.Load())
	}
	r := h.get(host, "/photo.jpg?format=auto&d=10x10", map[string]string{"Accept": "image/jpeg"})
	if string(r.body) != "resized:d=10x10" || r.xcache() != "Miss from sluice" {
		t.Fatalf("no negotiated format: %q %q", r.body, r.xcache())
	}
	if n, _ := h.edge.Invalidate(t.Context(), d.ID, []string{"/photo.jpg"}); n != 2 {
		t.Fatalf("invalidated %d variants, want 2 (webp and original format)", n)
	}
	_ = http.StatusOK
}
