package benchkit

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
)

// Main is a bench's main: parse errors exit 2, run errors 1, both printed
// as "NAME: error". Ctrl-C and SIGTERM cancel run's context, so the bench
// stops its servers in order instead of dying with them.
func Main[C any](name string, parse func([]string) (C, error), run func(context.Context, C) error) {
	cfg, err := parse(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, name+":", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err = run(ctx, cfg)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, name+":", err)
		os.Exit(1)
	}
}

// PrepareWorkDir returns dir as an absolute path, created, or when dir is
// empty a new temp dir named after prefix. Removing it is the caller's.
func PrepareWorkDir(dir, prefix string) (string, error) {
	if dir == "" {
		d, err := os.MkdirTemp("", prefix)
		if err != nil {
			return "", fmt.Errorf("create work dir: %w", err)
		}
		dir = d
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("create work dir: %w", err)
	}
	return filepath.Abs(dir)
}
