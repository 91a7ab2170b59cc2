package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	cfsdk "github.com/aws/aws-sdk-go-v2/service/cloudfront"
	lambdasdk "github.com/aws/aws-sdk-go-v2/service/lambda"
	s3sdk "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/apigw"
	"github.com/sluicehq/sluice/stack"
)

// templateSettings are the settings that load a template, shared by serve
// and validate; def is the template used when none is named.
func templateSettings(def string) []*setting {
	return []*setting{
		{name: "template", env: "SLUICE_TEMPLATE", def: def, usage: "SAM or CloudFormation template (also -t)"},
		{name: "parameter-overrides", env: "SLUICE_PARAMETER_OVERRIDES", def: "", usage: "template parameters, as sam deploy takes them: 'Key=Value Key2=Value2'"},
		{name: "stack-name", env: "SLUICE_STACK_NAME", def: "", usage: "AWS::StackName of the template (default: its directory's name)"},
	}
}

// stackSettings are the serve flags of templates and HTTP APIs.
func stackSettings() []*setting {
	list := templateSettings("")
	list[0].usage = "SAM or CloudFormation template to bring up (also -t); re-applied when it or its code changes"
	return append(list, &setting{name: "api-addr", env: "SLUICE_API_ADDR", def: "127.0.0.1:3000",
		usage: "plain port serving the template's first HTTP API (as sam local start-api does); empty: none. Every API is also served at http://<apiId>.execute-api.localhost:<addr port>"})
}

// templateFlag binds -t as a shorthand of --template. The returned apply
// must run after set.resolve: a flag wins over the environment and the
// config file, as --template would.
func templateFlag(fs *flag.FlagSet) (apply func(set *settings)) {
	var v string
	fs.Func("t", "shorthand for --template", func(s string) error { v = s; return nil })
	return func(set *settings) {
		if v != "" {
			set.byID["template"].value = v
		}
	}
}

// loadStack reads the template named by the settings.
func loadStack(set *settings, apiHost, edgeHost string) (*stack.Stack, error) {
	params, err := stack.ParseOverrides(set.get("parameter-overrides"))
	if err != nil {
		return nil, usageError{fmt.Sprintf("--parameter-overrides: %v", err)}
	}
	return stack.Load(set.get("template"), stack.Options{
		StackName:  set.get("stack-name"),
		Region:     set.get("region"),
		Parameters: params,
		APIHost:    apiHost,
		EdgeHost:   edgeHost,
	})
}

// stackRunner applies a template to this process's own services through
// their public APIs, as CloudFormation would, and again whenever the
// template or its code changes.
type stackRunner struct {
	set      *settings
	apiHost  string
	edgeHost string
	targets  stack.Targets
	log      *slog.Logger
	out      io.Writer
	apis     *apigw.Gateway
	// apiAddr is --api-addr: the plain port of the first HTTP API, bound
	// the first time the stack has one ("" never).
	apiAddr string
	grace   time.Duration

	mu          sync.Mutex // one Apply at a time; guards the fields below
	firstAPIURL string     // where apiAddr serves, once bound
	port        sync.WaitGroup
}

func newStackRunner(set *settings, endpoint, accessKey, secretKey, dataDir, apiHost, edgeHost string, apis *apigw.Gateway, grace time.Duration, out io.Writer, log *slog.Logger) *stackRunner {
	creds := credentials.NewStaticCredentialsProvider(accessKey, secretKey, "")
	region := set.get("region")
	return &stackRunner{
		set: set, apiHost: apiHost, edgeHost: edgeHost, log: log, out: out,
		apis: apis, apiAddr: set.get("api-addr"), grace: grace,
		targets: stack.Targets{
			S3:         s3sdk.New(s3sdk.Options{Region: region, BaseEndpoint: aws.String(endpoint), Credentials: creds, UsePathStyle: true}),
			Lambda:     lambdasdk.New(lambdasdk.Options{Region: region, BaseEndpoint: aws.String(endpoint), Credentials: creds}),
			CloudFront: cfsdk.New(cfsdk.Options{Region: "us-east-1", BaseEndpoint: aws.String(endpoint), Credentials: creds}),
			APIs:       gatewayAPIs{apis},
			DataDir:    dataDir,
		},
	}
}

// apply loads and applies the template once and prints its outputs.
func (r *stackRunner) apply(ctx context.Context, st *stack.Stack) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	start := time.Now()
	if st == nil {
		var err error
		if st, err = loadStack(r.set, r.apiHost, r.edgeHost); err != nil {
			return err
		}
	}
	res, err := stack.Apply(ctx, st, r.targets, r.log)
	if err != nil {
		return err
	}
	changed := 0
	for _, c := range res.Changes {
		if c.Action != "unchanged" {
			changed++
			r.log.Info("stack: "+c.Action, "kind", c.Kind, "resource", c.LogicalID, "id", c.PhysicalID)
		}
	}
	for _, w := range res.Warnings {
		r.log.Warn("stack: " + w)
	}
	r.log.Info("stack applied", "stack", st.Name, "template", st.File, "changes", changed, "took", time.Since(start).Round(time.Millisecond))
	if len(res.Outputs) > 0 {
		fmt.Fprintf(r.out, "Outputs of stack %s:\n", st.Name)
		for _, o := range res.Outputs {
			fmt.Fprintf(r.out, "  %-24s %s\n", o.Name, o.Value)
		}
	}
	if len(st.HTTPAPIs) > 0 && r.apiAddr != "" {
		if r.firstAPIURL == "" {
			if err := r.servePort(ctx); err != nil {
				return err
			}
		}
		fmt.Fprintf(r.out, "HTTP API %s is also served at %s\n", st.HTTPAPIs[0].LogicalID, r.firstAPIURL)
	}
	return nil
}

// servePort binds --api-addr and serves the first HTTP API there until ctx
// ends. It runs the first time an applied stack has an HTTP API, so stacks
// without one can be served side by side and an API added by an edit is
// served without a restart.
func (r *stackRunner) servePort(ctx context.Context) error {
	ln, err := net.Listen("tcp", r.apiAddr)
	if err != nil {
		return fmt.Errorf("listen on --api-addr (the template's first HTTP API; --api-addr '' turns it off): %w", err)
	}
	r.firstAPIURL = "http://" + dialable(ln.Addr()) + "/"
	r.port.Add(1)
	go func() {
		defer r.port.Done()
		if err := serveHTTP(ctx, ln, r.apis.Handler(""), r.grace, r.log); err != nil && !errors.Is(err, http.ErrServerClosed) {
			r.log.Error("serve --api-addr", "addr", r.apiAddr, "err", err)
		}
	}()
	return nil
}

// wait returns once the --api-addr server has finished shutting down.
func (r *stackRunner) wait() { r.port.Wait() }

// watch re-applies the template whenever it or a file beside it changes;
// a template with mistakes is reported and the running stack kept.
func (r *stackRunner) watch(ctx context.Context) error {
	return stack.Watch(ctx, r.set.get("template"), func() {
		r.log.Info("stack: template or code changed; applying again", "template", r.set.get("template"))
		if err := r.apply(ctx, nil); err != nil && ctx.Err() == nil {
			r.log.Error("stack: the changed template was not applied; the previous one keeps running\n" + err.Error())
		}
	})
}

// gatewayAPIs adapts the HTTP API gateway to what stack applies.
type gatewayAPIs struct{ g *apigw.Gateway }

func (a gatewayAPIs) PutAPI(api stack.HTTPAPI) error {
	out := apigw.API{ID: api.ID, Name: api.LogicalID, StageName: api.StageName}
	if api.CORS != nil {
		out.CORS = &apigw.CORSConfig{
			AllowOrigins: api.CORS.AllowOrigins, AllowMethods: api.CORS.AllowMethods,
			AllowHeaders: api.CORS.AllowHeaders, ExposeHeaders: api.CORS.ExposeHeaders,
			AllowCredentials: api.CORS.AllowCredentials, MaxAge: api.CORS.MaxAge,
		}
	}
	for _, rt := range api.Routes {
		fn := rt.FunctionARN
		if fn == "" {
			fn = rt.Function
		}
		out.Routes = append(out.Routes, apigw.Route{Key: rt.RouteKey(), FunctionARN: fn,
			PayloadFormatVersion: rt.PayloadFormatVersion, TimeoutMillis: rt.TimeoutMillis})
	}
	return a.g.PutAPI(out)
}

func (a gatewayAPIs) RemoveAPI(id string) { a.g.RemoveAPI(id) }

const validateUsage = `Usage: sluice validate -t template.yaml [flags]

Loads a SAM or CloudFormation template as 'sluice serve -t' would, without
starting anything, and prints every mistake with file:line:column and the
key path, then the warnings (resource types Sluice does not run). Exits 1
when the template has mistakes.

Example:
  sluice validate -t examples/image-resize/template.yaml
`

func runValidate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("validate", validateUsage, stderr)
	applyT := templateFlag(fs)
	set := newSettings(fs, append(templateSettings("template.yaml"),
		&setting{name: "region", env: "SLUICE_REGION", def: sluice.DefaultRegion, usage: "AWS::Region"})...)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("validate: unexpected argument %q", fs.Arg(0))}
	}
	if err := set.resolve(fs, ""); err != nil {
		return err
	}
	applyT(set)
	st, err := loadStack(set, "", "")
	var errs stack.Errors
	if errors.As(err, &errs) {
		for _, e := range errs {
			fmt.Fprintln(stdout, e.Error())
		}
		return fmt.Errorf("%s: %d mistake(s)", set.get("template"), len(errs))
	}
	if err != nil {
		return err
	}
	for _, w := range st.Warnings {
		fmt.Fprintln(stdout, "warning: "+w)
	}
	for _, n := range st.Notes {
		fmt.Fprintln(stdout, "note: "+n)
	}
	counts := map[string]int{"bucket": len(st.Buckets), "function": len(st.Functions), "HTTP API": len(st.HTTPAPIs), "distribution": len(st.Distributions)}
	var parts []string
	for kind, n := range counts {
		if n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s%s", n, kind, plural(n)))
		}
	}
	sort.Strings(parts)
	fmt.Fprintf(stdout, "%s: valid (stack %s: %s)\n", st.File, st.Name, strings.Join(parts, ", "))
	return nil
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
