package apigw

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"

	"github.com/aws/aws-lambda-go/events"

	"github.com/sluicehq/sluice"
)

// goFunc is a function written as aws-lambda-go handlers are: it gets the
// decoded payload format 2.0 event and returns any value, which is encoded
// as JSON like the Lambda runtime encodes a handler's result. A returned
// error becomes a function error with Lambda's error document.
type goFunc func(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (any, error)

// rawOutput is a handler result sent as is, for outputs no Go value encodes
// to (invalid JSON).
type rawOutput []byte

// goInvoker runs goFuncs in-process as a sluice.Invoker: the real event
// bytes go through JSON both ways, so tests see what a function sees.
type goInvoker struct {
	funcs map[string]goFunc

	// record keeps every event for lastEvent and calls (off in benchmarks).
	record bool

	mu       sync.Mutex
	payloads [][]byte
	errs     map[string]error // function name -> Invoke error
}

var _ sluice.Invoker = (*goInvoker)(nil)

func newGoInvoker(funcs map[string]goFunc) *goInvoker {
	return &goInvoker{funcs: funcs, errs: map[string]error{}, record: true}
}

func (g *goInvoker) Invoke(ctx context.Context, req *sluice.InvokeRequest) (*sluice.InvokeResult, error) {
	g.mu.Lock()
	if g.record {
		g.payloads = append(g.payloads, append([]byte(nil), req.Payload...))
	}
	err := g.errs[req.Function]
	g.mu.Unlock()
	if err != nil {
		return nil, err
	}
	fn := g.funcs[req.Function]
	if fn == nil {
		return nil, sluice.Errorf(sluice.ErrResourceNotFound, "Function not found: %s", req.Function)
	}
	var ev events.APIGatewayV2HTTPRequest
	if err := json.Unmarshal(req.Payload, &ev); err != nil {
		return nil, fmt.Errorf("decode event: %w", err)
	}
	out, ferr := fn(ctx, ev)
	if ferr != nil {
		doc, _ := json.Marshal(map[string]any{"errorMessage": ferr.Error(), "errorType": "errorString"})
		return &sluice.InvokeResult{Payload: doc, FunctionError: "Unhandled"}, nil
	}
	if raw, ok := out.(rawOutput); ok {
		return &sluice.InvokeResult{Payload: raw}, nil
	}
	b, err := json.Marshal(out)
	if err != nil {
		return nil, fmt.Errorf("encode result: %w", err)
	}
	return &sluice.InvokeResult{Payload: b}, nil
}

func (g *goInvoker) InvokeAsync(ctx context.Context, req *sluice.InvokeRequest) (string, error) {
	return "", sluice.Errorf(sluice.ErrInvalidRequest, "HTTP APIs invoke synchronously")
}

// lastEvent returns the raw event of the last invocation.
func (g *goInvoker) lastEvent() []byte {
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.payloads) == 0 {
		return nil
	}
	return g.payloads[len(g.payloads)-1]
}

func (g *goInvoker) calls() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.payloads)
}
