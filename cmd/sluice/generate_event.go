package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/awsevent"
)

const generateEventUsage = `Usage: sluice generate-event SERVICE EVENT [flags]

Prints, as indented JSON, the event AWS delivers to a Lambda function, with
realistic values (the same keys and nesting as the real thing). Pipe it into
'sluice invoke NAME --event -', or save it for tests.

Services and events:
  s3           put, post, copy, complete-multipart-upload, delete, delete-marker
  apigateway   http-api
  cloudfront   viewer-request, origin-request, origin-response, viewer-response

Run 'sluice generate-event SERVICE --help' or
'sluice generate-event SERVICE EVENT --help' for the flags.

Examples:
  sluice generate-event s3 put --bucket photos --key "cats/tom 1.jpg" --size 52311
  sluice generate-event apigateway http-api --method POST --path /orders --body '{"id":1}' --header content-type:application/json
  sluice generate-event cloudfront origin-response --uri /a.jpg --querystring d=1x1
`

// eventSource supplies the clock and randomness of generated events, so
// that tests can make them reproducible.
type eventSource struct {
	now  time.Time
	rand io.Reader
}

// generator prints one kind of event.
type generator struct {
	service, event, summary string
	run                     func(src eventSource, args []string, stdout, stderr io.Writer) error
}

func generators() []generator {
	var gens []generator
	for _, e := range []struct{ name, eventName, summary string }{
		{"put", sluice.EventObjectCreatedPut, "an object was uploaded with PUT"},
		{"post", sluice.EventObjectCreatedPost, "an object was uploaded with a browser POST form"},
		{"copy", sluice.EventObjectCreatedCopy, "an object was created by CopyObject"},
		{"complete-multipart-upload", sluice.EventObjectCreatedComplete, "a multipart upload was completed"},
		{"delete", sluice.EventObjectRemovedDelete, "an object was deleted"},
		{"delete-marker", sluice.EventObjectRemovedMarker, "a delete marker was created in a versioned bucket"},
	} {
		gens = append(gens, generator{"s3", e.name, e.summary, s3EventGenerator(e.name, e.eventName)})
	}
	gens = append(gens, generator{"apigateway", "http-api", "an HTTP API (payload format 2.0) request to a route", generateHTTPAPI})
	for _, e := range []struct{ name, summary string }{
		{awsevent.EdgeViewerRequest, "a viewer's request, before the cache"},
		{awsevent.EdgeOriginRequest, "a cache miss, before the request goes to the origin"},
		{awsevent.EdgeOriginResponse, "the origin's response, before it is cached"},
		{awsevent.EdgeViewerResponse, "the response, before it goes to the viewer"},
	} {
		gens = append(gens, generator{"cloudfront", e.name, e.summary, cloudFrontGenerator(e.name)})
	}
	return gens
}

func runGenerateEvent(_ context.Context, args []string, stdout, stderr io.Writer) error {
	return generateEvent(eventSource{now: time.Now(), rand: rand.Reader}, args, stdout, stderr)
}

func generateEvent(src eventSource, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, generateEventUsage)
		return usageError{"generate-event: no service given"}
	}
	if isHelpArg(args[0]) {
		fmt.Fprint(stdout, generateEventUsage)
		return nil
	}
	service := args[0]
	var events []generator
	for _, g := range generators() {
		if g.service == service {
			events = append(events, g)
		}
	}
	if len(events) == 0 {
		fmt.Fprint(stderr, generateEventUsage)
		return usageError{fmt.Sprintf("generate-event: unknown service %q (want s3, apigateway or cloudfront)", service)}
	}
	listEvents := func(w io.Writer) {
		fmt.Fprintf(w, "Usage: sluice generate-event %s EVENT [flags]\n\nEvents:\n", service)
		for _, g := range events {
			fmt.Fprintf(w, "  %-26s %s\n", g.event, g.summary)
		}
		fmt.Fprintf(w, "\nRun 'sluice generate-event %s EVENT --help' for its flags.\n", service)
	}
	if len(args) < 2 || isHelpArg(args[1]) {
		if len(args) < 2 {
			listEvents(stderr)
			return usageError{fmt.Sprintf("generate-event %s: no event given", service)}
		}
		listEvents(stdout)
		return nil
	}
	for _, g := range events {
		if g.event == args[1] {
			return g.run(src, args[2:], stdout, stderr)
		}
	}
	listEvents(stderr)
	return usageError{fmt.Sprintf("generate-event %s: unknown event %q", service, args[1])}
}

func isHelpArg(s string) bool {
	switch s {
	case "-h", "-help", "--help", "help":
		return true
	}
	return false
}

// printEvent writes ev as indented JSON.
func printEvent(w io.Writer, ev any) error {
	b, err := awsevent.MarshalIndent(ev)
	if err != nil {
		return fmt.Errorf("encode event: %w", err)
	}
	_, err = w.Write(b)
	return err
}

// repeatedFlag collects every occurrence of a flag.
type repeatedFlag []string

func (f *repeatedFlag) String() string     { return strings.Join(*f, ", ") }
func (f *repeatedFlag) Set(v string) error { *f = append(*f, v); return nil }

// pairs splits each "k<sep>v" value; a value without sep is a usage error.
func (f repeatedFlag) pairs(flagName, sep string) ([][2]string, error) {
	out := make([][2]string, 0, len(f))
	for _, v := range f {
		k, val, ok := strings.Cut(v, sep)
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return nil, usageError{fmt.Sprintf("--%s %q: want NAME%sVALUE", flagName, v, sep)}
		}
		out = append(out, [2]string{k, strings.TrimSpace(val)})
	}
	return out, nil
}

// parseEventFlags parses the flags of one generator, refusing positionals.
func parseEventFlags(fs *flag.FlagSet, name string, args []string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("generate-event %s: unexpected argument %q", name, fs.Arg(0))}
	}
	return nil
}

func s3EventGenerator(name, eventName string) func(eventSource, []string, io.Writer, io.Writer) error {
	return func(src eventSource, args []string, stdout, stderr io.Writer) error {
		usage := fmt.Sprintf("Usage: sluice generate-event s3 %s [flags]\n\nPrints the S3 notification (eventVersion 2.1) for %s event.\nThe key is URL-encoded as S3 encodes it (a space becomes '+').\n", name, eventName)
		fs := newFlagSet("generate-event s3 "+name, usage, stderr)
		bucket := fs.String("bucket", "example-bucket", "bucket name")
		key := fs.String("key", "test/key", "object key, as stored (not encoded)")
		size := fs.Int64("size", 1024, "object size in bytes")
		etag := fs.String("etag", "0123456789abcdef0123456789abcdef", "object ETag")
		versionID := fs.String("version-id", "", "object version id (versioned buckets only)")
		region := fs.String("region", sluice.DefaultRegion, "bucket region")
		configID := fs.String("configuration-id", "testConfigRule", "Id of the notification rule that matched")
		accessKey := fs.String("access-key", sluice.DefaultAccessKey, "access key of the caller; empty for an anonymous request")
		sourceIP := fs.String("source-ip", "127.0.0.1", "caller's IP address")
		if err := parseEventFlags(fs, "s3 "+name, args); err != nil {
			return err
		}
		if *size < 0 {
			return usageError{fmt.Sprintf("--size %d is negative", *size)}
		}
		if eventName == sluice.EventObjectRemovedMarker && *versionID == "" {
			// A delete marker exists only in a versioned bucket, so it has an id.
			*versionID = base64.RawURLEncoding.EncodeToString(readRandom(src.rand, 24))
		}
		ev := sluice.Event{
			Name:      eventName,
			Time:      src.now,
			Region:    *region,
			Bucket:    *bucket,
			Key:       *key,
			Size:      *size,
			ETag:      *etag,
			VersionID: *versionID,
			// S3 sequencers are hex that grows with time for one key.
			Sequencer: fmt.Sprintf("%016X%s", src.now.UnixNano(), strings.ToUpper(hex.EncodeToString(readRandom(src.rand, 1)))),
			Request: sluice.RequestInfo{
				ID:        strings.ToUpper(hex.EncodeToString(readRandom(src.rand, 8))),
				HostID:    base64.StdEncoding.EncodeToString(readRandom(src.rand, 56)),
				SourceIP:  *sourceIP,
				Principal: *accessKey,
			},
		}
		return printEvent(stdout, awsevent.NewS3Event(ev, awsevent.S3Rule{ConfigurationID: *configID}))
	}
}

func readRandom(r io.Reader, n int) []byte {
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		panic(fmt.Sprintf("random source: %v", err))
	}
	return b
}

const httpAPIUsage = `Usage: sluice generate-event apigateway http-api [flags]

Prints the payload format 2.0 event an HTTP API route delivers. Repeated
headers and query parameters are comma-joined, cookies are moved to
"cookies", and a body that is not text (by Content-Type) is base64-encoded,
as API Gateway does.
`

func generateHTTPAPI(src eventSource, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("generate-event apigateway http-api", httpAPIUsage, stderr)
	method := fs.String("method", http.MethodGet, "HTTP method")
	reqPath := fs.String("path", "/", "request path")
	body := fs.String("body", "", "request body")
	routeKey := fs.String("route", awsevent.DefaultRoute, `route key, e.g. "GET /items/{id}"`)
	stage := fs.String("stage", awsevent.DefaultStage, "stage name")
	apiID := fs.String("api-id", "", "API id (default: random, as AWS assigns)")
	sourceIP := fs.String("source-ip", "127.0.0.1", "client IP address")
	var query, headers, pathParams, stageVars repeatedFlag
	fs.Var(&query, "query", "query parameter NAME=VALUE (repeatable)")
	fs.Var(&headers, "header", "header NAME:VALUE (repeatable)")
	fs.Var(&pathParams, "path-param", "path parameter NAME=VALUE (repeatable)")
	fs.Var(&stageVars, "stage-var", "stage variable NAME=VALUE (repeatable)")
	if err := parseEventFlags(fs, "apigateway http-api", args); err != nil {
		return err
	}
	if !strings.HasPrefix(*reqPath, "/") {
		return usageError{fmt.Sprintf("--path %q must start with /", *reqPath)}
	}
	if *apiID == "" {
		const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
		b := readRandom(src.rand, 10)
		for i := range b {
			b[i] = alphabet[int(b[i])%len(alphabet)]
		}
		*apiID = string(b)
	}
	qp, err := query.pairs("query", "=")
	if err != nil {
		return err
	}
	var rawQuery []string
	for _, p := range qp {
		rawQuery = append(rawQuery, queryEscape(p[0])+"="+queryEscape(p[1]))
	}
	domain := *apiID + ".execute-api.localhost"
	target := "http://" + domain + escapePath(*reqPath)
	if len(rawQuery) > 0 {
		target += "?" + strings.Join(rawQuery, "&")
	}
	r := httptest.NewRequest(*method, target, strings.NewReader(*body))
	r.RemoteAddr = *sourceIP + ":49152"
	r.Header.Set("Accept", "*/*")
	r.Header.Set("User-Agent", "curl/8.5.0")
	hp, err := headers.pairs("header", ":")
	if err != nil {
		return err
	}
	setHeaders := map[string]bool{}
	for _, h := range hp {
		if !setHeaders[strings.ToLower(h[0])] {
			r.Header.Del(h[0])
			setHeaders[strings.ToLower(h[0])] = true
		}
		r.Header.Add(h[0], h[1])
	}
	if *body != "" && r.Header.Get("Content-Type") == "" && isJSON(*body) {
		r.Header.Set("Content-Type", "application/json")
	}
	route := awsevent.HTTPRoute{
		APIID: *apiID, RouteKey: *routeKey, Stage: *stage, Time: src.now, Rand: src.rand,
	}
	if route.PathParameters, err = pairMap(pathParams, "path-param"); err != nil {
		return err
	}
	if route.StageVariables, err = pairMap(stageVars, "stage-var"); err != nil {
		return err
	}
	return printEvent(stdout, awsevent.NewHTTPAPIRequest(r, []byte(*body), route))
}

func pairMap(f repeatedFlag, name string) (map[string]string, error) {
	ps, err := f.pairs(name, "=")
	if err != nil || len(ps) == 0 {
		return nil, err
	}
	m := make(map[string]string, len(ps))
	for _, p := range ps {
		m[p[0]] = p[1]
	}
	return m, nil
}

func isJSON(s string) bool {
	s = strings.TrimSpace(s)
	return strings.HasPrefix(s, "{") || strings.HasPrefix(s, "[")
}

// queryEscape and escapePath keep what the user typed readable in rawQueryString
// and rawPath while making a valid request target.
func queryEscape(s string) string {
	return strings.NewReplacer("%", "%25", "&", "%26", "=", "%3D", "#", "%23", " ", "%20", "+", "%2B").Replace(s)
}

func escapePath(s string) string {
	return strings.NewReplacer("%", "%25", "?", "%3F", "#", "%23", " ", "%20").Replace(s)
}

func cloudFrontGenerator(eventType string) func(eventSource, []string, io.Writer, io.Writer) error {
	return func(src eventSource, args []string, stdout, stderr io.Writer) error {
		usage := fmt.Sprintf("Usage: sluice generate-event cloudfront %s [flags]\n\nPrints the Lambda@Edge %s event: Records[0].cf with config,\nrequest%s.\n", eventType, eventType,
			map[bool]string{true: " and response", false: ""}[strings.HasSuffix(eventType, "-response")])
		fs := newFlagSet("generate-event cloudfront "+eventType, usage, stderr)
		uri := fs.String("uri", "/", "request URI (path)")
		querystring := fs.String("querystring", "", "query string, without '?'")
		method := fs.String("method", http.MethodGet, "HTTP method")
		status := fs.Int("status", http.StatusOK, "response status (response events)")
		size := fs.Int64("size", 1024, "response Content-Length (response events)")
		distID := fs.String("distribution-id", "EDFDVBD6EXAMPLE", "distribution id")
		domain := fs.String("domain", "d111111abcdef8.cloudfront.net", "distribution domain name")
		clientIP := fs.String("client-ip", "203.0.113.178", "viewer's IP address")
		origin := fs.String("origin", "s3", "origin type for origin events: s3 or custom")
		originDomain := fs.String("origin-domain", "", "origin domain (default example-bucket.s3.us-east-1.amazonaws.com, or example.org for custom)")
		body := fs.String("body", "", "request body to include, as with IncludeBody (request events)")
		var headers repeatedFlag
		fs.Var(&headers, "header", "viewer request header NAME:VALUE (repeatable)")
		if err := parseEventFlags(fs, "cloudfront "+eventType, args); err != nil {
			return err
		}
		if !strings.HasPrefix(*uri, "/") {
			return usageError{fmt.Sprintf("--uri %q must start with /", *uri)}
		}
		if *status < 100 || *status > 599 {
			return usageError{fmt.Sprintf("--status %d is not an HTTP status", *status)}
		}
		*querystring = strings.TrimPrefix(*querystring, "?")
		hp, err := headers.pairs("header", ":")
		if err != nil {
			return err
		}
		orig, err := edgeOrigin(*origin, *originDomain)
		if err != nil {
			return err
		}

		req := awsevent.CloudFrontRequest{
			ClientIP:    *clientIP,
			Headers:     awsevent.CloudFrontHeaders{},
			Method:      strings.ToUpper(*method),
			QueryString: *querystring,
			URI:         *uri,
		}
		if strings.HasPrefix(eventType, "viewer-") {
			req.Headers.Set("Host", *domain)
			req.Headers.Set("User-Agent", "curl/8.5.0")
			req.Headers.Set("Accept", "*/*")
		} else {
			// What CloudFront sends to the origin on a miss.
			req.Headers.Set("X-Forwarded-For", *clientIP)
			req.Headers.Set("User-Agent", "Amazon CloudFront")
			req.Headers.Set("Via", "2.0 "+hex.EncodeToString(readRandom(src.rand, 16))+".cloudfront.net (CloudFront)")
			req.Headers.Set("Host", originHost(orig))
			req.Origin = orig
		}
		for _, h := range hp {
			req.Headers.Set(http.CanonicalHeaderKey(h[0]), h[1])
		}
		cfg := awsevent.NewCloudFrontConfig(*distID, *domain, eventType, src.rand)
		if strings.HasSuffix(eventType, "-request") {
			if *body != "" {
				req.Body = awsevent.NewCloudFrontBody([]byte(*body), eventType)
			}
			return printEvent(stdout, awsevent.NewCloudFrontRequestEvent(cfg, req))
		}
		h := http.Header{}
		contentType := mime.TypeByExtension(path.Ext(*uri))
		if contentType == "" {
			contentType = "application/octet-stream"
		}
		h.Set("Content-Type", contentType)
		h.Set("Content-Length", strconv.FormatInt(*size, 10))
		h.Set("Date", src.now.UTC().Format(http.TimeFormat))
		h.Set("Last-Modified", src.now.UTC().Add(-time.Hour).Format(http.TimeFormat))
		h.Set("ETag", `"`+hex.EncodeToString(readRandom(src.rand, 16))+`"`)
		h.Set("Server", "AmazonS3")
		if eventType == awsevent.EdgeViewerResponse {
			h.Set("X-Cache", "Miss from cloudfront")
			h.Set("Via", "1.1 "+hex.EncodeToString(readRandom(src.rand, 16))+".cloudfront.net (CloudFront)")
		}
		return printEvent(stdout, awsevent.NewCloudFrontResponseEvent(cfg, req, awsevent.NewCloudFrontResponse(*status, h)))
	}
}

func edgeOrigin(kind, domain string) (*awsevent.CloudFrontOrigin, error) {
	switch kind {
	case "s3":
		if domain == "" {
			domain = "example-bucket.s3." + sluice.DefaultRegion + ".amazonaws.com"
		}
		return &awsevent.CloudFrontOrigin{S3: &awsevent.CloudFrontS3Origin{
			AuthMethod: "origin-access-identity", DomainName: domain, Region: sluice.DefaultRegion,
		}}, nil
	case "custom":
		if domain == "" {
			domain = "example.org"
		}
		return &awsevent.CloudFrontOrigin{Custom: &awsevent.CloudFrontCustomOrigin{
			DomainName: domain, KeepaliveTimeout: 5, Port: 443, Protocol: "https", ReadTimeout: 30,
			SSLProtocols: []string{"TLSv1.2"},
		}}, nil
	}
	return nil, usageError{fmt.Sprintf("--origin %q: want s3 or custom", kind)}
}

func originHost(o *awsevent.CloudFrontOrigin) string {
	if o.S3 != nil {
		return o.S3.DomainName
	}
	return o.Custom.DomainName
}
