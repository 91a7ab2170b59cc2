package stack

import (
	"context"
	"crypto/sha256"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// WatchInterval is how often Watch polls, and WatchDebounce how long the
// tree must stay unchanged before onChange runs (editors write files in
// several steps).
var (
	WatchInterval = 500 * time.Millisecond
	WatchDebounce = 300 * time.Millisecond
)

// maxWatchFiles bounds the files Watch stats per poll, so that a template
// in a huge directory (node_modules) does not spin the CPU.
const maxWatchFiles = 5000

// Watch polls the template file and the files under its directory (hidden
// directories and node_modules skipped) and calls onChange once changes
// have settled. Function code in CodeUri directories needs no re-apply (it
// is hot-reloaded); a change there still calls onChange so that the caller
// can report it. Watch returns when ctx is done.
func Watch(ctx context.Context, path string, onChange func()) error {
	dir := filepath.Dir(path)
	last := snapshot(path, dir)
	tick := time.NewTicker(WatchInterval)
	defer tick.Stop()
	var changedAt time.Time
	for {
		select {
		case <-ctx.Done():
			return nil
		case now := <-tick.C:
			cur := snapshot(path, dir)
			if cur != last {
				last, changedAt = cur, now
				continue
			}
			if !changedAt.IsZero() && now.Sub(changedAt) >= WatchDebounce {
				changedAt = time.Time{}
				onChange()
			}
		}
	}
}

// snapshot summarises the template and the tree's names, sizes and
// modification times.
func snapshot(path, dir string) string {
	var b strings.Builder
	if st, err := os.Stat(path); err == nil {
		b.WriteString(st.ModTime().String())
		b.WriteString(strconv.FormatInt(st.Size(), 10))
	}
	n := 0
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		name := d.Name()
		if d.IsDir() && p != dir && (strings.HasPrefix(name, ".") || name == "node_modules" || name == "__pycache__") {
			return filepath.SkipDir
		}
		if n++; n > maxWatchFiles {
			return filepath.SkipAll
		}
		if info, err := d.Info(); err == nil && !d.IsDir() {
			b.WriteString(p)
			b.WriteString(info.ModTime().String())
			b.WriteString(strconv.FormatInt(info.Size(), 10))
		}
		return nil
	})
	sum := sha256.Sum256([]byte(b.String()))
	return string(sum[:])
}
