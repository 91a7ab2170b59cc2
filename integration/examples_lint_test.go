//go:build integration

package integration

// Every example's template is also a valid SAM template (cfn-lint, which
// the machines this runs on have installed) and loads in Sluice
// (`sluice validate`).

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestExamplesLint(t *testing.T) {
	requireBinary(t)
	templates, err := filepath.Glob(filepath.Join(moduleRoot, "examples", "*", "template.yaml"))
	if err != nil || len(templates) < 5 {
		t.Fatalf("examples/*/template.yaml: %d found (%v), want the five scenarios", len(templates), err)
	}
	lint, lintErr := exec.LookPath("cfn-lint")
	for _, tpl := range templates {
		name := filepath.Base(filepath.Dir(tpl))
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			if lintErr != nil {
				t.Logf("cfn-lint is not installed here: only sluice validate runs")
			} else if r := runCmd(t, ctx, cleanEnv(), moduleRoot, lint, tpl); r.Code != 0 {
				t.Errorf("cfn-lint %s: %s", tpl, r)
			}
			r := runCmd(t, ctx, cleanEnv(), moduleRoot, sluiceBin, "validate", "-t", tpl)
			// tests-in-a-function's code is a build output (make), not
			// part of the clone: only that mistake is expected there.
			if name == "tests-in-a-function" && r.Code != 0 {
				if !strings.Contains(r.Stdout, "build does not exist") || strings.Count(r.Stdout, "\n") != 1 {
					t.Errorf("sluice validate %s: %s", tpl, r)
				}
				return
			}
			if r.Code != 0 || !strings.Contains(r.Stdout, ": valid (stack ") {
				t.Errorf("sluice validate %s: %s", tpl, r)
			}
		})
	}
}
