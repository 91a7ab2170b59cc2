package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"time"

	"github.com/sluicehq/sluice/bench/internal/benchkit"
)

// hitKey is the cached object of the hits phase, under the same path on
// both servers.
const hitKey = "static/obj.bin"

// bench is the running setup every phase uses.
type bench struct {
	cfg     Config
	workDir string
	photos  []photo
	hitBody []byte

	sluice   *benchkit.Proc
	edgeAddr string
	nginx    *benchkit.Proc
	sharp    *benchkit.Proc
	sharpVer sharpVersions

	// procs in start order, stopped in reverse.
	procs []*benchkit.Proc
	sl    *sluiceSetup // buckets and distributions, once created
}

// sharpVersions is what the sharp server's /_health reports.
type sharpVersions struct {
	Node  string `json:"node"`
	Sharp string `json:"sharp"`
	Vips  string `json:"vips"`
	// Concurrency is sharp.concurrency(): libvips threads per image.
	Concurrency int `json:"concurrency"`
	// Threadpool is UV_THREADPOOL_SIZE: images processed at once.
	Threadpool int `json:"threadpool"`
}

func (b *bench) startServers(ctx context.Context) error {
	b.hitBody = make([]byte, b.cfg.HitSize)
	_, _ = rand.Read(b.hitBody) // incompressible, as a photo or a bundle is
	if b.cfg.has(srvSluice) {
		if err := b.startSluice(ctx); err != nil {
			return err
		}
	}
	if b.cfg.has(srvNginx) && b.cfg.runs(phaseHits) {
		if err := b.startNginx(ctx); err != nil {
			return err
		}
	}
	if b.cfg.has(srvSharp) && b.cfg.runs(phaseResize) {
		if err := b.startSharp(ctx); err != nil {
			return err
		}
	}
	return nil
}

func (b *bench) stopAll() {
	for i := len(b.procs) - 1; i >= 0; i-- {
		if err := b.procs[i].Stop(); err != nil {
			benchkit.Logf("%s: stop: %v", b.procs[i].Name(), err)
		}
	}
	b.procs = nil
}

// alive fails as soon as any server has exited.
func (b *bench) alive(during string) error {
	for _, p := range b.procs {
		if !p.Alive() {
			return fmt.Errorf("%s exited during %s (%s); log tail:\n%s", p.Name(), during, p.ExitReason(), p.LogTail(20))
		}
	}
	return nil
}

// sluiceArgs is the `sluice serve` command line: both listeners on the
// given loopback ports, per-request logging off.
func sluiceArgs(addr, edgeAddr, dataDir, extra string) []string {
	args := []string{"serve", "--addr", addr, "--edge-addr", edgeAddr, "--data", dataDir, "--log-level", "warn"}
	return append(args, strings.Fields(extra)...)
}

func (b *bench) startSluice(ctx context.Context) error {
	addr, err := benchkit.FreeAddr()
	if err != nil {
		return err
	}
	if b.edgeAddr, err = benchkit.FreeAddr(); err != nil {
		return err
	}
	dir := filepath.Join(b.workDir, "sluice")
	dataDir := filepath.Join(dir, "data")
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return fmt.Errorf("create sluice data dir: %w", err)
	}
	p, err := benchkit.Start(benchkit.Spec{
		Name: srvSluice, Bin: b.cfg.SluiceBin, Args: sluiceArgs(addr, b.edgeAddr, dataDir, b.cfg.SluiceArgs), Dir: dir, Addr: addr,
		Env:       append(benchkit.EnvironWithout("SLUICE_ACCESS_KEY", "SLUICE_SECRET_KEY"), "SLUICE_ACCESS_KEY="+b.cfg.AccessKey, "SLUICE_SECRET_KEY="+b.cfg.SecretKey),
		CleanExit: "exit status 0: it was sent SIGINT/SIGTERM by a process other than the bench",
	})
	if err != nil {
		return err
	}
	b.procs = append(b.procs, p)
	b.sluice = p
	t0 := time.Now()
	cl := &http.Client{Timeout: 5 * time.Second}
	if err := p.WaitReady(ctx, b.cfg.ReadyWait, benchkit.HTTPHealth(cl, p.BaseURL()+"/_sluice/health")); err != nil {
		return err
	}
	benchkit.Logf("sluice: pid %d, API on %s, edge on %s, ready in %s", p.Pid(), addr, b.edgeAddr, time.Since(t0).Round(time.Millisecond))
	return nil
}

// nginxConf is nginx's whole configuration: our own foreground process
// (the bench supervises it), a master with one worker per core, no access
// log, sendfile, every path it would write inside dir, and keep-alive
// connections that last the whole run, as a CDN's do.
func nginxConf(dir, root, addr, runAs string) string {
	var b strings.Builder
	w := func(s string) { b.WriteString(s + "\n") }
	w("daemon off;")
	w("master_process on;")
	w("worker_processes auto;")
	if runAs != "" {
		// Only a master started as root switches users; the workers then
		// need to read the docroot, which is ours.
		w("user " + runAs + ";")
	}
	w("pid " + filepath.Join(dir, "nginx.pid") + ";")
	w("error_log " + filepath.Join(dir, "error.log") + " warn;")
	w("events { worker_connections 4096; }")
	w("http {")
	w("  access_log off;")
	w("  sendfile on;")
	w("  tcp_nopush on;")
	w("  keepalive_timeout 300s;")
	w("  keepalive_requests 10000000;")
	for _, t := range []string{"client_body", "proxy", "fastcgi", "uwsgi", "scgi"} {
		w(fmt.Sprintf("  %s_temp_path %s;", t, filepath.Join(dir, "tmp", t)))
	}
	w("  types { application/octet-stream bin; image/jpeg jpg; }")
	w("  default_type application/octet-stream;")
	w("  server {")
	w("    listen " + addr + ";")
	w("    root " + root + ";")
	w("  }")
	w("}")
	return b.String()
}

func (b *bench) startNginx(ctx context.Context) error {
	addr, err := benchkit.FreeAddr()
	if err != nil {
		return err
	}
	dir := filepath.Join(b.workDir, "nginx")
	root := filepath.Join(dir, "www")
	objPath := filepath.Join(root, filepath.FromSlash(hitKey))
	if err := os.MkdirAll(filepath.Dir(objPath), 0o755); err != nil {
		return fmt.Errorf("create nginx docroot: %w", err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "tmp"), 0o755); err != nil {
		return fmt.Errorf("create nginx temp dir: %w", err)
	}
	if err := os.WriteFile(objPath, b.hitBody, 0o644); err != nil {
		return fmt.Errorf("write nginx object: %w", err)
	}
	runAs := ""
	if os.Geteuid() == 0 {
		if u, err := user.Current(); err == nil {
			runAs = u.Username
		}
	}
	conf := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(conf, []byte(nginxConf(dir, root, addr, runAs)), 0o644); err != nil {
		return fmt.Errorf("write nginx.conf: %w", err)
	}
	p, err := benchkit.Start(benchkit.Spec{
		Name: srvNginx, Bin: b.cfg.NginxBin, Dir: dir, Addr: addr, Env: os.Environ(),
		// -e: the error log before the config is read (the default is
		// under /var/log, which may not be ours).
		Args:      []string{"-p", dir, "-c", conf, "-e", filepath.Join(dir, "error.log")},
		CleanExit: "exit status 0: it was sent SIGTERM/SIGQUIT by a process other than the bench",
	})
	if err != nil {
		return err
	}
	b.procs = append(b.procs, p)
	b.nginx = p
	t0 := time.Now()
	cl := &http.Client{Timeout: 5 * time.Second}
	if err := p.WaitReady(ctx, b.cfg.ReadyWait, benchkit.HTTPHealth(cl, p.BaseURL()+"/"+hitKey)); err != nil {
		return fmt.Errorf("%w\nnginx error.log:\n%s", err, benchkit.ReadTrim(filepath.Join(dir, "error.log")))
	}
	benchkit.Logf("nginx: pid %d on %s, ready in %s", p.Pid(), addr, time.Since(t0).Round(time.Millisecond))
	return nil
}

func (b *bench) startSharp(ctx context.Context) error {
	addr, err := benchkit.FreeAddr()
	if err != nil {
		return err
	}
	node := b.cfg.NodeBin
	if node, err = exec.LookPath(node); err != nil {
		return fmt.Errorf("node: %w", err)
	}
	modules := filepath.Join(absFrom(b.cfg.SharpDir), "node_modules")
	if _, err := os.Stat(filepath.Join(modules, "sharp", "package.json")); err != nil {
		return fmt.Errorf("sharp is not installed in %s (run.sh installs it: npm install sharp@0.34 there): %w", modules, err)
	}
	dir := filepath.Join(b.workDir, "sharp")
	p, err := benchkit.Start(benchkit.Spec{
		Name: srvSharp, Bin: node, Dir: dir, Addr: addr,
		Args: []string{absFrom(b.cfg.SharpJS), "--addr", addr, "--dir", absFrom(b.cfg.PhotosDir), "--quality", fmt.Sprint(b.cfg.Quality)},
		Env:  append(benchkit.EnvironWithout("NODE_PATH"), "NODE_PATH="+modules),
	})
	if err != nil {
		return err
	}
	b.procs = append(b.procs, p)
	b.sharp = p
	t0 := time.Now()
	cl := &http.Client{Timeout: 5 * time.Second}
	if err := p.WaitReady(ctx, b.cfg.ReadyWait, benchkit.HTTPHealth(cl, p.BaseURL()+"/_health")); err != nil {
		return err
	}
	if b.sharpVer, err = fetchSharpVersions(ctx, cl, p.BaseURL()+"/_health"); err != nil {
		return err
	}
	benchkit.Logf("sharp: pid %d on %s, ready in %s (node %s, sharp %s, libvips %s)", p.Pid(), addr, time.Since(t0).Round(time.Millisecond),
		b.sharpVer.Node, b.sharpVer.Sharp, b.sharpVer.Vips)
	return nil
}

func fetchSharpVersions(ctx context.Context, cl *http.Client, url string) (sharpVersions, error) {
	var v sharpVersions
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return v, err
	}
	resp, err := cl.Do(req)
	if err != nil {
		return v, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	if err != nil {
		return v, err
	}
	if err := json.Unmarshal(body, &v); err != nil {
		return v, fmt.Errorf("sharp /_health: %w", err)
	}
	return v, nil
}

// perf starts `perf record` of sluice for one phase when -perf is set; the
// returned func stops it.
func (b *bench) perf(phase string) func() {
	if b.cfg.PerfDir == "" || b.sluice == nil {
		return func() {}
	}
	rec, err := benchkit.StartPerf(b.cfg.PerfDir, "sluice-"+phase, b.sluice.Pid(), 499)
	if err != nil {
		benchkit.Logf("perf: %v", err)
		return func() {}
	}
	return rec.Stop
}
