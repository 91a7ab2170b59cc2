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

// Watch polls the template file and the code it names (CodeUri
// directories and zip files; the whole directory when a CodeUri is an
// intrinsic, hidden directories, node_modules and __pycache__ skipped) and
// calls onChange once changes have settled, so that scratch files beside the
// template cause no re-apply. Function code in CodeUri directories needs no
// re-apply (it is hot-reloaded); a change there still calls onChange so that
// the caller can report it. Watch returns when ctx is done.
func Watch(ctx context.Context, path string, onChange func()) error {
	w := &watcher{path: path, dir: filepath.Dir(path)}
	last := w.snapshot()
	tick := time.NewTicker(WatchInterval)
	defer tick.Stop()
	var changedAt time.Time
	for {
		select {
		case <-ctx.Done():
			return nil
		case now := <-tick.C:
			cur := w.snapshot()
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

type watcher struct {
	path, dir string
	// stamp is the template's modification time and size when roots was
	// computed; roots are the paths to watch besides the template.
	stamp string
	roots []string
}

// codeRoots lists the local code a template names: the CodeUri values of
// its resources and of Globals, relative to dir. all is true when one is
// not a plain string (an intrinsic), so everything under dir may be code.
func codeRoots(path, dir string) (roots []string, all bool) {
	data, err := os.ReadFile(path)
	if err != nil || len(data) > MaxTemplateBytes {
		return nil, true
	}
	var errs Errors
	root := parse(path, data, &errs)
	if root == nil {
		return nil, true
	}
	add := func(v *node) {
		switch {
		case v == nil:
		case v.kind == kScalar:
			if strings.HasPrefix(v.str, "s3://") || v.str == "" {
				return
			}
			p := v.str
			if !filepath.IsAbs(p) {
				p = filepath.Join(dir, p)
			}
			roots = append(roots, filepath.Clean(p))
		case v.kind == kMap && v.get("Bucket") != nil:
			// {Bucket, Key}: code in S3, nothing local.
		default:
			all = true
		}
	}
	add(root.get("Globals").get("Function").get("CodeUri"))
	if rs := root.get("Resources"); rs != nil && rs.kind == kMap {
		for _, r := range rs.vals {
			props := r.get("Properties")
			add(props.get("CodeUri"))
			if c := props.get("Code"); c != nil && c.get("S3Bucket") != nil && c.get("S3Bucket").str == "hot-reload" {
				add(c.get("S3Key"))
			}
		}
	}
	return roots, all
}

// snapshot summarises the template and the code it names: names, sizes
// and modification times.
func (w *watcher) snapshot() string {
	var b strings.Builder
	if st, err := os.Stat(w.path); err == nil {
		stamp := st.ModTime().String() + strconv.FormatInt(st.Size(), 10)
		b.WriteString(stamp)
		if stamp != w.stamp {
			roots, all := codeRoots(w.path, w.dir)
			if all {
				roots = []string{w.dir}
			}
			w.stamp, w.roots = stamp, roots
		}
	}
	n := 0
	for _, root := range w.roots {
		filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return nil
			}
			name := d.Name()
			if d.IsDir() && p != root && (strings.HasPrefix(name, ".") || name == "node_modules" || name == "__pycache__") {
				return filepath.SkipDir
			}
			if n++; n > maxWatchFiles {
				return filepath.SkipAll
			}
			if info, err := d.Info(); err == nil && !d.IsDir() && p != w.path {
				b.WriteString(p)
				b.WriteString(info.ModTime().String())
				b.WriteString(strconv.FormatInt(info.Size(), 10))
			}
			return nil
		})
	}
	sum := sha256.Sum256([]byte(b.String()))
	return string(sum[:])
}
