package lambda

import (
	"encoding/hex"
	"hash/fnv"
	"io/fs"
	"path/filepath"
	"strconv"
	"sync"
	"time"
)

// fingerprintTTL is how long a directory fingerprint is trusted: a burst of
// invocations walks a watched code directory once, not once per invocation.
const fingerprintTTL = 250 * time.Millisecond

// watcher fingerprints code directories for hot reload: names, sizes and
// modification times, cheap enough to check before reusing a warm instance.
type watcher struct {
	mu   sync.Mutex
	dirs map[string]*fingerprintEntry
}

type fingerprintEntry struct {
	mu    sync.Mutex
	at    time.Time
	value string
}

func newWatcher() *watcher { return &watcher{dirs: make(map[string]*fingerprintEntry)} }

func (w *watcher) fingerprint(dir string) string {
	w.mu.Lock()
	e := w.dirs[dir]
	if e == nil {
		e = &fingerprintEntry{}
		w.dirs[dir] = e
	}
	w.mu.Unlock()
	e.mu.Lock()
	defer e.mu.Unlock()
	if now := time.Now(); e.value == "" || now.Sub(e.at) >= fingerprintTTL {
		e.value = fingerprintDir(dir)
		e.at = now
	}
	return e.value
}

// fingerprintDir hashes every entry's relative path, size, mode and
// modification time. Byte-code caches and version-control metadata are left
// out: runtimes and tools write them without the code changing.
func fingerprintDir(dir string) string {
	h := fnv.New128a()
	var num []byte
	filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			h.Write([]byte(path))
			h.Write([]byte(err.Error()))
			return nil
		}
		if d.IsDir() && path != dir {
			switch d.Name() {
			case "__pycache__", ".git", ".hg", ".svn", ".aws-sam":
				return filepath.SkipDir
			}
		}
		info, err := d.Info()
		if err != nil {
			return nil
		}
		rel, _ := filepath.Rel(dir, path)
		h.Write([]byte(rel))
		num = strconv.AppendInt(num[:0], info.Size(), 10)
		num = append(num, ' ')
		num = strconv.AppendInt(num, info.ModTime().UnixNano(), 10)
		num = append(num, ' ')
		num = strconv.AppendUint(num, uint64(info.Mode()), 10)
		num = append(num, 0)
		h.Write(num)
		return nil
	})
	return hex.EncodeToString(h.Sum(nil))
}
