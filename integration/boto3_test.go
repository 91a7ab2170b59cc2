//go:build integration

package integration

import "testing"

// TestBoto3 runs the Python scripts in py/ against the shared server. Each
// is a unittest module; its verbose output is shown when it fails.
func TestBoto3(t *testing.T) {
	t.Parallel()
	s := sharedSluice(t)
	for _, script := range []string{"transfer.py", "listing.py", "objects.py", "errors.py"} {
		t.Run(script, func(t *testing.T) {
			r := runPython(t, s, script)
			if r.Code != 0 {
				t.Errorf("python3 py/%s: %s", script, r)
			}
		})
	}
}
