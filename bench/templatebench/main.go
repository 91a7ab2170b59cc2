// Command templatebench measures the two figures of the templates issue:
// the time from `sluice serve -t examples/image-resize/template.yaml` to the
// first resized image served by the edge, and requests/s with p50/p99 of an
// HTTP API route backed by a Go echo function (aws-lambda-go) at 32
// connections. There is no peer to run beside it here (sam local needs
// Docker), so the report gives absolute figures.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"image/jpeg"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/sluicehq/sluice/bench/internal/benchkit"
)

type config struct {
	sluiceBin, sluiceRev string
	template, photo      string
	echoDir              string
	runs                 int
	conns                int
	duration, warmup     time.Duration
	workdir, out         string
}

func parse(args []string) (config, error) {
	fs := flag.NewFlagSet("templatebench", flag.ContinueOnError)
	var c config
	fs.StringVar(&c.sluiceBin, "sluice-bin", "", "sluice binary")
	fs.StringVar(&c.sluiceRev, "sluice-rev", "", "sluice revision, for the report")
	fs.StringVar(&c.template, "template", "examples/image-resize/template.yaml", "template of the start-up measurement")
	fs.StringVar(&c.photo, "photo", "examples/image-resize/photo.jpg", "photo uploaded to the template's bucket")
	fs.StringVar(&c.echoDir, "echo-dir", "", "directory holding the Go echo function's bootstrap")
	fs.IntVar(&c.runs, "runs", 5, "start-up measurements, each on a fresh data directory")
	fs.IntVar(&c.conns, "conns", 32, "connections of the HTTP API measurement")
	fs.DurationVar(&c.duration, "duration", 10*time.Second, "HTTP API measurement window")
	fs.DurationVar(&c.warmup, "warmup", 2*time.Second, "HTTP API warm-up before the window")
	fs.StringVar(&c.workdir, "workdir", "", "scratch directory (default: a new temp dir)")
	fs.StringVar(&c.out, "out", "", "report file (default: stdout only)")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	switch {
	case c.sluiceBin == "":
		return c, errors.New("-sluice-bin is required")
	case c.echoDir == "":
		return c, errors.New("-echo-dir is required")
	case c.runs < 1 || c.conns < 1:
		return c, errors.New("-runs and -conns must be positive")
	}
	return c, benchkit.ValidateWindow(c.duration, c.warmup, 1)
}

func main() { benchkit.Main("templatebench", parse, run) }

func run(ctx context.Context, c config) error {
	work, err := benchkit.PrepareWorkDir(c.workdir, "templatebench")
	if err != nil {
		return err
	}
	for _, p := range []*string{&c.template, &c.photo, &c.echoDir, &c.sluiceBin} {
		if *p, err = filepath.Abs(*p); err != nil {
			return err
		}
	}
	photo, err := os.ReadFile(c.photo)
	if err != nil {
		return err
	}
	start := time.Now()
	var startups []time.Duration
	for i := range c.runs {
		d, err := startup(ctx, c, photo, filepath.Join(work, fmt.Sprintf("startup-%d", i)))
		if err != nil {
			return fmt.Errorf("start-up run %d: %w", i+1, err)
		}
		benchkit.Logf("start-up run %d: first resized image after %v", i+1, d.Round(time.Millisecond))
		startups = append(startups, d)
	}
	api, err := echoRoute(ctx, c, filepath.Join(work, "echo"))
	if err != nil {
		return fmt.Errorf("HTTP API: %w", err)
	}
	report := render(c, start, startups, api)
	fmt.Print(report)
	if c.out != "" {
		return benchkit.WriteReport(c.out, report)
	}
	return nil
}

// serve starts `sluice serve -t template` in dir on free ports.
func serve(c config, template, dir string, apiAddr string) (*benchkit.Proc, string, string, error) {
	addr, err := benchkit.FreeAddr()
	if err != nil {
		return nil, "", "", err
	}
	edge, err := benchkit.FreeAddr()
	if err != nil {
		return nil, "", "", err
	}
	args := []string{"serve", "-t", template, "--addr", addr, "--edge-addr", edge, "--data", filepath.Join(dir, "data"),
		"--log-level", "warn", "--api-addr", apiAddr}
	p, err := benchkit.Start(benchkit.Spec{Name: "sluice", Bin: c.sluiceBin, Args: args, Env: benchkit.EnvironWithout(), Dir: dir, Addr: addr})
	return p, addr, edge, err
}

// startup measures from the process start to the first 100x100 JPEG the
// edge serves: the template is applied, the bucket exists, the photo is
// uploaded as soon as it does, and the distribution resizes it.
func startup(ctx context.Context, c config, photo []byte, dir string) (time.Duration, error) {
	t0 := time.Now()
	p, addr, edge, err := serve(c, c.template, dir, "")
	if err != nil {
		return 0, err
	}
	defer p.Stop()
	s3 := benchkit.NewS3Client("http://"+addr, "test", "test", "us-east-1", 2)
	defer s3.Close()
	body := benchkit.NewBody(photo)
	hdr := http.Header{"Content-Type": {"image/jpeg"}}
	deadline := time.Now().Add(60 * time.Second)
	uploaded := false
	for time.Now().Before(deadline) {
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		if !p.Alive() {
			return 0, fmt.Errorf("sluice exited: %s\n%s", p.ExitReason(), p.LogTail(4096))
		}
		if !uploaded {
			status, _, _, err := s3.Do(ctx, http.MethodPut, "/photos/photo.jpg", hdr, &body, 0)
			uploaded = err == nil && status == http.StatusOK
		}
		if uploaded {
			resp, err := s3.HTTP().Get("http://" + edge + "/photo.jpg?d=100x100")
			if err == nil {
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					cfg, err := jpeg.DecodeConfig(bytes.NewReader(b))
					if err == nil && cfg.Width == 100 && cfg.Height == 100 {
						return time.Since(t0), nil
					}
				}
			}
		}
		time.Sleep(2 * time.Millisecond)
	}
	return 0, fmt.Errorf("no resized image within 60 s\n%s", p.LogTail(4096))
}

type apiResult struct {
	requests, errors int
	window           time.Duration
	sum              benchkit.Summary
}

const echoTemplate = `AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Resources:
  Echo:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: provided.al2023
      Handler: bootstrap
      CodeUri: %s
      MemorySize: 128
      Timeout: 10
      ReservedConcurrentExecutions: %d
      Events:
        Echo:
          Type: HttpApi
          Properties:
            Path: /echo
            Method: POST
`

// echoRoute serves a template whose only route is the Go echo function and
// loads it with c.conns keep-alive connections.
func echoRoute(ctx context.Context, c config, dir string) (apiResult, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return apiResult{}, err
	}
	tpl := filepath.Join(dir, "template.yaml")
	if err := os.WriteFile(tpl, []byte(fmt.Sprintf(echoTemplate, c.echoDir, c.conns)), 0o644); err != nil {
		return apiResult{}, err
	}
	apiAddr, err := benchkit.FreeAddr()
	if err != nil {
		return apiResult{}, err
	}
	p, _, _, err := serve(c, tpl, dir, apiAddr)
	if err != nil {
		return apiResult{}, err
	}
	defer p.Stop()
	tr := benchkit.NewTransport(c.conns)
	cl := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	defer tr.CloseIdleConnections()
	url := "http://" + apiAddr + "/echo"
	payload := []byte(`{"hello":"sluice","n":12345}`)
	post := func() (bool, error) {
		resp, err := cl.Post(url, "application/json", bytes.NewReader(payload))
		if err != nil {
			return false, err
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		return err == nil && resp.StatusCode == http.StatusOK && bytes.Contains(b, []byte(`"routeKey":"POST /echo"`)), err
	}
	if err := p.WaitReady(ctx, 60*time.Second, func(context.Context) error {
		if ok, err := post(); !ok {
			return fmt.Errorf("echo route not ready: %v", err)
		}
		return nil
	}); err != nil {
		return apiResult{}, err
	}

	var (
		mu   sync.Mutex
		lats []time.Duration
		res  apiResult
	)
	warmEnd := time.Now().Add(c.warmup)
	end := warmEnd.Add(c.duration)
	var wg sync.WaitGroup
	for range c.conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			errs := 0
			for ctx.Err() == nil {
				t := time.Now()
				if t.After(end) {
					break
				}
				ok, _ := post()
				if t.After(warmEnd) {
					if ok {
						mine = append(mine, time.Since(t))
					} else {
						errs++
					}
				}
			}
			mu.Lock()
			lats = append(lats, mine...)
			res.errors += errs
			mu.Unlock()
		}()
	}
	wg.Wait()
	res.requests = len(lats)
	res.window = c.duration
	res.sum = benchkit.Summarize(lats)
	return res, ctx.Err()
}

func render(c config, start time.Time, startups []time.Duration, api apiResult) string {
	var b strings.Builder
	m := benchkit.DescribeMachine()
	fmt.Fprintf(&b, "# Templates benchmark: start-up to the first resized image, HTTP API echo route\n\n")
	fmt.Fprintf(&b, "- run: %s, %s, %d CPUs shared by the load generator and sluice, load average %s at end\n",
		start.UTC().Format(time.RFC3339), m.CPU, runtime.NumCPU(), benchkit.LoadAvg())
	fmt.Fprintf(&b, "- sluice %s, `sluice serve -t ... --log-level warn` with its default durability\n\n", c.sluiceRev)
	s := benchkit.Summarize(startups)
	fmt.Fprintf(&b, "## 1. `sluice serve -t %s` → first resized image\n\n", filepath.Base(filepath.Dir(c.template))+"/"+filepath.Base(c.template))
	fmt.Fprintf(&b, "From process start (fresh data directory) to a 100×100 JPEG decoded from `GET /photo.jpg?d=100x100` on the edge, the photo uploaded as soon as the template's bucket exists. %d runs.\n\n", len(startups))
	fmt.Fprintf(&b, "| runs | p50 ms | max ms | goal |\n|---|---|---|---|\n")
	verdict := "met"
	if s.Max >= time.Second {
		verdict = "**missed**"
	}
	fmt.Fprintf(&b, "| %d | %.0f | %.0f | < 1 s: %s |\n\n", len(startups), benchkit.Ms(s.P50), benchkit.Ms(s.Max), verdict)
	fmt.Fprintf(&b, "## 2. HTTP API: POST /echo → Go echo function (aws-lambda-go), %d connections\n\n", c.conns)
	fmt.Fprintf(&b, "Served on `--api-addr`; payload format 2.0 events, the function returns its event (a JSON body, 200). net/http client with keep-alive, %v window after %v warm-up.\n\n", c.duration, c.warmup)
	fmt.Fprintf(&b, "| req/s | p50 ms | p99 ms | max ms | errors |\n|---|---|---|---|---|\n")
	fmt.Fprintf(&b, "| %.0f | %.2f | %.2f | %.2f | %d |\n", float64(api.requests)/api.window.Seconds(),
		benchkit.Ms(api.sum.P50), benchkit.Ms(api.sum.P99), benchkit.Ms(api.sum.Max), api.errors)
	return b.String()
}
