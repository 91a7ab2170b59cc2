package benchkit

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Ratio prints a/b as a report cell, "n/a" when b is zero.
func Ratio(a, b float64) string {
	if b == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.2f×", a/b)
}

// FmtCPU prints a per-request CPU time in µs, or "?" when unknown
// (negative).
func FmtCPU(d time.Duration) string {
	if d < 0 {
		return "?"
	}
	return fmt.Sprintf("%.0f µs", float64(d)/float64(time.Microsecond))
}

// ErrCol is an errors cell: the count, and when there are any, the first
// error with its pipes escaped so the table stays a table.
func ErrCol(n int, first string) string {
	if n == 0 {
		return "0"
	}
	return fmt.Sprintf("**%d FAILED** (%s)", n, strings.ReplaceAll(first, "|", "/"))
}

// Ms is d in milliseconds, for %f verbs.
func Ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// Logf prints a progress line, time-stamped, to stderr.
func Logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

// WriteReport writes the markdown report to path, creating its directory.
func WriteReport(path, text string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("create report dir: %w", err)
	}
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	Logf("report written to %s", path)
	return nil
}
