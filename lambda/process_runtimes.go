package lambda

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sluicehq/sluice"
)

// The Python and Node bootstraps speak the Runtime API for handlers written
// for AWS's managed runtimes; they are written out under HostConfig.Dir once
// and run by the machine's interpreters.
//
//go:embed bootstrap/bootstrap.py bootstrap/bootstrap.mjs
var bootstrapFS embed.FS

type runtimeKind int

const (
	runtimeProvided runtimeKind = iota // an executable bootstrap
	runtimeGo                          // go1.x: the handler names the executable
	runtimePython
	runtimeNode
)

type runtimeInfo struct {
	name    string
	kind    runtimeKind
	version string // declared interpreter version: "3.12" for python3.12, "20" for nodejs20.x
}

func parseRuntime(name string) (runtimeInfo, error) {
	rt := runtimeInfo{name: name}
	switch {
	case name == "provided" || name == "provided.al2" || name == "provided.al2023":
		rt.kind = runtimeProvided
	case name == "go1.x":
		rt.kind = runtimeGo
	case strings.HasPrefix(name, "python3."):
		minor := strings.TrimPrefix(name, "python3.")
		if _, err := strconv.Atoi(minor); err != nil {
			return rt, unsupportedRuntime(name)
		}
		rt.kind, rt.version = runtimePython, "3."+minor
	case strings.HasPrefix(name, "nodejs") && strings.HasSuffix(name, ".x"):
		major := strings.TrimSuffix(strings.TrimPrefix(name, "nodejs"), ".x")
		if _, err := strconv.Atoi(major); err != nil {
			return rt, unsupportedRuntime(name)
		}
		rt.kind, rt.version = runtimeNode, major
	default:
		return rt, unsupportedRuntime(name)
	}
	return rt, nil
}

func unsupportedRuntime(name string) error {
	return sluice.Errorf(sluice.ErrInvalidParameterValue,
		"The runtime parameter of %s is not supported by this host: use provided.al2023, provided.al2, go1.x, python3.x or nodejs*.x", name)
}

// managed reports whether AWS sets AWS_EXECUTION_ENV for the runtime (it does
// not for OS-only runtimes).
func (rt runtimeInfo) managed() bool { return rt.kind != runtimeProvided }

// interpreters finds the local python3 and node and notes, once per
// function, when a function declares a version the machine does not have.
type interpreters struct {
	runtimeDir   string
	python, node string

	pyOnce, nodeOnce sync.Once
	pyVersion, nodeV string
	pyExec           string   // sys.executable of python, once probed
	noted            sync.Map // function name + runtime → struct{}
}

func (in *interpreters) localVersion(kind runtimeKind) string {
	switch kind {
	case runtimePython:
		in.pyOnce.Do(func() {
			// Also learn the real interpreter behind python3: version
			// managers (pyenv) put a shell-script shim on PATH that costs
			// every cold start tens of milliseconds.
			out := probeVersion(in.python, "-c", "import sys; print('%d.%d' % sys.version_info[:2]); print(sys.executable)")
			in.pyVersion, in.pyExec, _ = strings.Cut(out, "\n")
			in.pyExec = strings.TrimSpace(in.pyExec)
		})
		return in.pyVersion
	case runtimeNode:
		in.nodeOnce.Do(func() {
			v := probeVersion(in.node, "-p", "process.versions.node")
			in.nodeV, _, _ = strings.Cut(v, ".")
		})
		return in.nodeV
	}
	return ""
}

// pythonExec is the interpreter to start Python functions with: the real
// executable behind the configured python3 when it could be learned.
func (in *interpreters) pythonExec() string {
	in.localVersion(runtimePython)
	if in.pyExec != "" {
		return in.pyExec
	}
	return in.python
}

func probeVersion(path string, args ...string) string {
	if path == "" {
		return ""
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, path, args...).Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

func (in *interpreters) noteVersion(log *slog.Logger, function string, rt runtimeInfo) {
	local := in.localVersion(rt.kind)
	if local == "" || local == rt.version {
		return
	}
	if _, seen := in.noted.LoadOrStore(function+"\x00"+rt.name, struct{}{}); seen {
		return
	}
	lang, path := "Python", in.pythonExec()
	if rt.kind == runtimeNode {
		lang, path = "Node.js", in.node
	}
	log.Info("function declares a runtime version this machine does not have; running it on the local interpreter",
		"function", function, "runtime", rt.name, "local", lang+" "+local, "interpreter", path)
}

// writeBootstraps writes the embedded bootstraps into dir (replacing stale
// copies atomically) and returns dir.
func writeBootstraps(dir string) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("create runtime dir: %w", err)
	}
	err := fs.WalkDir(bootstrapFS, "bootstrap", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := bootstrapFS.ReadFile(path)
		if err != nil {
			return err
		}
		dst := filepath.Join(dir, d.Name())
		if old, err := os.ReadFile(dst); err == nil && bytes.Equal(old, data) {
			return nil
		}
		tmp, err := os.CreateTemp(dir, ".bootstrap-*")
		if err != nil {
			return err
		}
		_, werr := tmp.Write(data)
		cerr := tmp.Close()
		if err := errors.Join(werr, cerr); err != nil {
			os.Remove(tmp.Name())
			return err
		}
		if err := os.Chmod(tmp.Name(), 0o644); err != nil {
			return err
		}
		return os.Rename(tmp.Name(), dst)
	})
	if err != nil {
		return "", fmt.Errorf("write runtime bootstraps: %w", err)
	}
	return dir, nil
}

// command returns the program and arguments that start the function's
// runtime. A missing entry point is a function error (Runtime.InvalidEntrypoint),
// a missing interpreter a host error.
func (h *Host) command(spec *FunctionSpec, rt runtimeInfo) (string, []string, error) {
	switch rt.kind {
	case runtimePython:
		if h.interp.python == "" {
			return "", nil, sluice.Errorf(sluice.ErrServiceException, "python3 is not installed on this machine: runtime %s cannot run", rt.name)
		}
		h.interp.noteVersion(h.log, spec.Name, rt)
		return h.interp.pythonExec(), []string{"-X", "utf8", filepath.Join(h.interp.runtimeDir, "bootstrap.py")}, nil
	case runtimeNode:
		if h.interp.node == "" {
			return "", nil, sluice.Errorf(sluice.ErrServiceException, "node is not installed on this machine: runtime %s cannot run", rt.name)
		}
		h.interp.noteVersion(h.log, spec.Name, rt)
		return h.interp.node, []string{filepath.Join(h.interp.runtimeDir, "bootstrap.mjs")}, nil
	case runtimeGo:
		boot := filepath.Join(spec.CodeDir, "bootstrap")
		if fi, err := os.Stat(boot); err == nil && !fi.IsDir() {
			return boot, nil, nil
		}
		if spec.Handler != "" {
			return filepath.Join(spec.CodeDir, spec.Handler), nil, nil
		}
		return boot, nil, nil
	default:
		return filepath.Join(spec.CodeDir, "bootstrap"), nil, nil
	}
}

// hostReservedEnv is the environment Lambda defines; a function's own variables
// never override these.
var hostReservedEnv = map[string]bool{
	"_HANDLER": true, "_X_AMZN_TRACE_ID": true, "AWS_DEFAULT_REGION": true, "AWS_REGION": true,
	"AWS_EXECUTION_ENV": true, "AWS_LAMBDA_FUNCTION_NAME": true, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": true,
	"AWS_LAMBDA_FUNCTION_VERSION": true, "AWS_LAMBDA_INITIALIZATION_TYPE": true, "AWS_LAMBDA_LOG_GROUP_NAME": true,
	"AWS_LAMBDA_LOG_STREAM_NAME": true, "AWS_ACCESS_KEY": true, "AWS_ACCESS_KEY_ID": true,
	"AWS_SECRET_ACCESS_KEY": true, "AWS_SESSION_TOKEN": true, "AWS_LAMBDA_RUNTIME_API": true,
	"LAMBDA_TASK_ROOT": true, "LAMBDA_RUNTIME_DIR": true,
}

// environ builds the function's environment from scratch: the host's own
// environment never leaks into a function, apart from PATH.
func (h *Host) environ(spec *FunctionSpec, rt runtimeInfo, in *instance, apiAddr string) []string {
	env := make([]string, 0, len(spec.Env)+32)
	for k, v := range spec.Env {
		if !hostReservedEnv[k] {
			env = append(env, k+"="+v)
		}
	}
	path := os.Getenv("PATH")
	if path == "" {
		path = "/usr/local/bin:/usr/bin:/bin"
	}
	region := spec.Region
	if region == "" {
		region = sluice.DefaultRegion
	}
	memory := spec.MemoryMB
	if memory <= 0 {
		memory = sluice.DefaultMemoryMB
	}
	set := func(k, v string) {
		if _, user := spec.Env[k]; user && !hostReservedEnv[k] {
			return
		}
		env = append(env, k+"="+v)
	}
	env = append(env,
		"AWS_LAMBDA_RUNTIME_API="+apiAddr,
		"_HANDLER="+spec.Handler,
		"LAMBDA_TASK_ROOT="+spec.CodeDir,
		"LAMBDA_RUNTIME_DIR="+h.interp.runtimeDir,
		"AWS_LAMBDA_FUNCTION_NAME="+spec.Name,
		"AWS_LAMBDA_FUNCTION_VERSION="+in.version,
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE="+strconv.Itoa(memory),
		"AWS_LAMBDA_LOG_GROUP_NAME="+in.group,
		"AWS_LAMBDA_LOG_STREAM_NAME="+in.stream,
		"AWS_LAMBDA_INITIALIZATION_TYPE=on-demand",
		"AWS_REGION="+region,
		"AWS_DEFAULT_REGION="+region,
		"AWS_ACCESS_KEY_ID="+h.cfg.AccessKey,
		"AWS_SECRET_ACCESS_KEY="+h.cfg.SecretKey,
	)
	if rt.managed() {
		env = append(env, "AWS_EXECUTION_ENV=AWS_Lambda_"+rt.name)
	}
	// Variables Lambda sets but a function may override.
	if h.cfg.EndpointURL != "" {
		set("AWS_ENDPOINT_URL", h.cfg.EndpointURL)
	}
	set("PATH", path)
	set("LANG", "en_US.UTF-8")
	set("TZ", ":UTC")
	set("LD_LIBRARY_PATH", strings.Join([]string{h.interp.runtimeDir, spec.CodeDir, filepath.Join(spec.CodeDir, "lib")}, ":"))
	set("HOME", in.tmpDir)
	set("TMPDIR", in.tmpDir)
	switch rt.kind {
	case runtimePython:
		set("PYTHONUNBUFFERED", "1")
		// Byte code goes beside the host's scratch space, never into the
		// function's directory, where it would look like a code change.
		set("PYTHONPYCACHEPREFIX", filepath.Join(h.cfg.Dir, "pycache"))
	case runtimeNode:
		set("NODE_PATH", spec.CodeDir+":"+filepath.Join(spec.CodeDir, "node_modules"))
	}
	return env
}
