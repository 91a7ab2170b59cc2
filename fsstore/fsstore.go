// Package fsstore is Sluice's embedded object store: object bytes live in
// files on local disk, or, for small objects, inline in the metadata
// database, and all metadata (buckets, the object index, bucket
// configurations, multipart uploads, the event outbox and consumer cursors)
// lives in one bbolt file beside them.
//
// Layout of the data directory:
//
//	DIR/meta.db              bbolt: every piece of metadata, and inline bodies
//	DIR/objects/xx/<id>      object and part bytes, named by a random id
//
// File names never derive from keys, so no key can reach outside DIR.
//
// Inside meta.db each bucket has a nested bucket (under "b") holding its
// object index "o" (key → record of the current version), inline bodies
// "d", configurations "c", uploads "u" and parts "p". A bucket whose
// versioning was ever enabled also holds its state under the key
// "versioning" and three more: "v", every noncurrent version and delete
// marker under escape(key) 0x00 big-endian(MaxUint64 - counter), so that a
// key's versions sort newest first; "w", their inline bodies under the same
// keys; and "n", the counter of the key's noncurrent null version. The
// current version stays in "o", so reads and ListObjects cost what they
// cost without versioning; versions.go tells the rest.
//
// # Writes
//
// A body of at most Config.InlineMax bytes is read into a pooled buffer and
// stored in the bbolt transaction that commits the object, in a bucket of
// its own keyed like the object index, so listings never read it; a body of
// unknown size is buffered up to that threshold and spills into a file when
// it grows beyond. Such a write touches no file at all. A larger body, and
// every multipart part, streams straight into a new file at its final path
// objects/xx/<id> and is fsynced there: nothing refers to the id until a
// commit does, so a rename would buy nothing, and a crash mid-write leaves
// only an unreferenced file for the collector (below).
//
// Every change (objects, parts, uploads, buckets, events, cursors) then
// commits through a group commit: the first change to find no commit in
// flight leads at once (there is no timer), and takes into one bbolt
// transaction whatever is queued and whatever arrives while it applies
// them, up to a bound; changes arriving during its fsyncs queue for the next
// leader. Lazy changes are the exception: event acknowledgements, a
// consumer's own records (UpdateState, in a bucket of meta.db per
// consumer) and changes made under a context from JoinCommits wait a few
// milliseconds for a write to lead a group and join it, so that a consumer
// acting on every write (acknowledging it, copying it and recording the
// copy) adds no commits of its own. Before the transaction commits, the leader fsyncs once each
// shard directory holding a new file of the group, so that a file's
// directory entry is durable before any metadata refers to it. A bbolt
// commit costs two fdatasyncs; concurrent writers share them, and each
// caller returns only once its own change is durable. Changes check
// everything that can fail before they touch the transaction, so that a
// failed precondition leaves the group alone; a change failing after it
// wrote rolls the transaction back and the others are applied again
// without it, so change functions keep their side effects (file removals,
// waking ReadEvents) until after the commit.
//
// # Durability
//
// By default an acknowledged write survives an OS crash or power loss. With
// Config.NoSync no fsync is issued: an acknowledged write still survives
// the process being killed, because the kernel holds it, but an OS crash or
// power loss can lose recent writes and damage meta.db.
//
// # Concurrency
//
// Every method of *Store is safe for concurrent use. bbolt serializes the
// group transactions, so the last commit wins and readers see the old
// object or the new one, never a mix. LinkObject lets several object
// records share files (a copy within the store writes no bytes), so the
// metadata counts a file's extra references. A file is removed only after
// the transaction that dropped its last reference committed; readers that
// opened it before keep reading it (POSIX unlink semantics), and OpenObject
// copies an inline body, so an open Object is a snapshot either way. Its
// Readers may run concurrently; a reader copied with io.Copy into an
// http.ResponseWriter lets net/http send the file with sendfile(2).
//
// Files orphaned by a crash (written but never committed, or replaced but
// not yet removed) are collected by a background pass after Open, which
// only considers files written by an earlier process (every id carries the
// epoch of the process that wrote it), so it never races a live write.
package fsstore

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluicehq/sluice"
	bolt "go.etcd.io/bbolt"
)

var (
	_ sluice.Store    = (*Store)(nil)
	_ sluice.EventLog = (*Store)(nil)
)

// Config configures a Store.
type Config struct {
	// Dir is the data directory; it is created if missing.
	Dir string
	// RecordEvents appends a sluice.Event to the durable outbox in the same
	// transaction that commits each change.
	RecordEvents bool
	// InlineMax is the largest object body, in bytes, kept in the metadata
	// database instead of in a file of its own, so that writing it costs no
	// file at all. 0 keeps every body in a file. Multipart parts are always
	// files.
	InlineMax int64
	// NoSync skips every fsync. An acknowledged write still survives the
	// process being killed (kill -9), because the kernel's page cache holds
	// it, but not an OS crash or power loss, which can lose acknowledged
	// writes and leave the metadata database damaged. This is the guarantee
	// servers that never fsync give; the default is fully synced.
	NoSync bool
	// Logger receives background problems (failed file removals, GC).
	Logger *slog.Logger
}

// DefaultConfig returns the configuration `sluice serve` starts from.
func DefaultConfig() Config {
	return Config{Dir: "./sluice-data", InlineMax: DefaultInlineMax}
}

// DefaultInlineMax is the InlineMax of DefaultConfig. Measured on ext4:
// bodies of 16-32 KiB commit faster inline than as files, especially
// fsynced, where a file costs its own fsync and a directory entry; from
// 64 KiB bbolt's copying of the value into freshly allocated pages makes an
// inline write slower than a file without fsync. Inline bodies also stay in
// meta.db, which bbolt never shrinks.
const DefaultInlineMax = 32 << 10

// maxInlineMax bounds InlineMax: every concurrent small write holds a
// buffer of this size, and a group commit holds many.
const maxInlineMax = 4 << 20

// Validate reports the first invalid setting.
func (c Config) Validate() error {
	if c.Dir == "" {
		return errors.New("fsstore: Dir: must not be empty")
	}
	if c.InlineMax < 0 || c.InlineMax > maxInlineMax {
		return fmt.Errorf("fsstore: InlineMax: %d is outside 0..%d", c.InlineMax, maxInlineMax)
	}
	return nil
}

// Store is the embedded object store. Create it with Open.
type Store struct {
	cfg   Config
	log   *slog.Logger
	db    *bolt.DB
	dir   string
	epoch uint32

	// evMu guards evCh, which is closed and replaced after every commit
	// that appended events, to wake ReadEvents without polling.
	evMu sync.Mutex
	evCh chan struct{}

	committer committer
	configs   configCache
	regions   regionCache
	// fanout is the Fanout client writes run in their transaction.
	fanout fanoutHook
	// versioned is set once any bucket's versioning was ever set (and
	// then for good, in metaVersioned): until then no change and no read
	// looks up a bucket's versioning state, so a store that never uses
	// versioning pays nothing for it.
	versioned atomic.Bool

	gcCancel context.CancelFunc
	gcDone   chan struct{}
	closeMu  sync.Once
}

// Top-level bbolt buckets.
var (
	rootBuckets = []byte("buckets") // name → bucketRecord
	rootData    = []byte("b")       // name → nested {o, c, u, p}
	rootEvents  = []byte("events")  // big-endian seq → eventRecord
	rootCursors = []byte("cursors") // consumer → big-endian seq
	rootMeta    = []byte("meta")    // store-wide values
	rootLinks   = []byte("links")   // file id → uvarint count of references beyond the first
	rootState   = []byte("state")   // consumer → nested bucket of its records (UpdateState)

	subObjects = []byte("o") // key → objectRecord
	subConfigs = []byte("c") // kind → document
	subUploads = []byte("u") // upload id → uploadRecord
	subParts   = []byte("p") // upload id + big-endian part number → partRecord
	subInline  = []byte("d") // key → body of an inline object (made on first use)

	metaEpoch = []byte("epoch")
)

const (
	objectsDir = "objects"
	// tmpDir held bodies being received before they were written in place;
	// Open removes what an older version left there.
	tmpDir = "tmp"
)

// Open opens (creating if needed) the store in cfg.Dir. It starts a
// background pass that collects object files no metadata refers to.
func Open(cfg Config) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	dir, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("fsstore: resolve %q: %w", cfg.Dir, err)
	}
	if err := os.MkdirAll(filepath.Join(dir, objectsDir), 0o755); err != nil {
		return nil, fmt.Errorf("fsstore: create data dir: %w", err)
	}
	// Whatever an older version left in tmp/ was never acknowledged.
	if err := os.RemoveAll(filepath.Join(dir, tmpDir)); err != nil {
		return nil, fmt.Errorf("fsstore: clear tmp: %w", err)
	}

	db, err := bolt.Open(filepath.Join(dir, "meta.db"), 0o644, &bolt.Options{
		Timeout:      time.Second,
		NoSync:       cfg.NoSync,
		FreelistType: bolt.FreelistMapType,
	})
	if err != nil {
		return nil, fmt.Errorf("fsstore: open metadata: %w", err)
	}
	s := &Store{cfg: cfg, log: log, db: db, dir: dir, evCh: make(chan struct{})}
	s.committer.lazyDelay = lazyLeadDelay
	err = db.Update(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{rootBuckets, rootData, rootEvents, rootCursors, rootMeta, rootLinks, rootState} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		meta := tx.Bucket(rootMeta)
		var epoch uint64
		if v := meta.Get(metaEpoch); len(v) == 8 {
			epoch = binary.BigEndian.Uint64(v)
		}
		epoch++
		s.epoch = uint32(epoch)
		s.versioned.Store(meta.Get(metaVersioned) != nil)
		return meta.Put(metaEpoch, binary.BigEndian.AppendUint64(nil, epoch))
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("fsstore: initialize metadata: %w", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	s.gcCancel = cancel
	s.gcDone = make(chan struct{})
	go func() {
		defer close(s.gcDone)
		n, err := s.collectOrphans(ctx)
		if err != nil && ctx.Err() == nil {
			s.log.Error("fsstore: collect orphaned files", "err", err)
			return
		}
		if n > 0 {
			s.log.Info("fsstore: collected orphaned files", "count", n)
		}
	}()
	return s, nil
}

// Close stops background work and closes the metadata file. Objects opened
// before stay readable until they are closed.
func (s *Store) Close() error {
	var err error
	s.closeMu.Do(func() {
		s.gcCancel()
		<-s.gcDone
		err = s.db.Close()
	})
	return err
}

// WaitGC blocks until the orphan collection started by Open has finished.
// Tests and tools use it; serving never needs to.
func (s *Store) WaitGC() { <-s.gcDone }

// newFileID returns a fresh file id: the process epoch (8 hex digits) then
// 12 random bytes. The epoch lets the collector tell files of a previous run
// from files this run is still writing.
func (s *Store) newFileID() string {
	var b [16]byte
	binary.BigEndian.PutUint32(b[:4], s.epoch)
	if _, err := rand.Read(b[4:]); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return hex.EncodeToString(b[:])
}

// fileEpoch extracts the epoch from an id; ok is false for names that are
// not ids.
func fileEpoch(id string) (uint32, bool) {
	if len(id) != 32 {
		return 0, false
	}
	b, err := hex.DecodeString(id)
	if err != nil {
		return 0, false
	}
	return binary.BigEndian.Uint32(b[:4]), true
}

func (s *Store) objectPath(id string) string {
	// Shard on the random part so directories fill evenly.
	return filepath.Join(s.dir, objectsDir, id[8:10], id)
}

// removeFiles deletes object files no longer referenced by metadata. A
// failure only leaks disk space until the next Open collects the file.
func (s *Store) removeFiles(ids []string) {
	for _, id := range ids {
		if err := os.Remove(s.objectPath(id)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			s.log.Warn("fsstore: remove object file", "id", id, "err", err)
		}
	}
}

func syncDir(path string, noSync bool) error {
	if noSync {
		return nil
	}
	d, err := os.Open(path)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// collectOrphans removes object files of earlier epochs that no object
// record (current or noncurrent version) or part record refers to: leftovers of a crash between rename and commit, or
// between commit and the removal of a replaced file.
func (s *Store) collectOrphans(ctx context.Context) (int, error) {
	live := make(map[string]struct{})
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(rootData).ForEachBucket(func(name []byte) error {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			b := tx.Bucket(rootData).Bucket(name)
			n := 0
			// Noncurrent versions hold their files as current ones do.
			for _, sub := range [][]byte{subObjects, subVersions} {
				records := b.Bucket(sub)
				if records == nil {
					continue
				}
				if err := records.ForEach(func(_, v []byte) error {
					if n++; n%1024 == 0 && ctx.Err() != nil {
						return ctx.Err()
					}
					ids, err := recordFiles(v)
					for _, id := range ids {
						live[id] = struct{}{}
					}
					return err
				}); err != nil {
					return err
				}
			}
			return b.Bucket(subParts).ForEach(func(_, v []byte) error {
				var p partRecord
				if err := decodePart(v, &p); err != nil {
					return err
				}
				live[p.File] = struct{}{}
				return nil
			})
		})
	})
	if err != nil {
		return 0, err
	}
	root := filepath.Join(s.dir, objectsDir)
	shards, err := os.ReadDir(root)
	if err != nil {
		return 0, err
	}
	removed := 0
	for _, shard := range shards {
		if ctx.Err() != nil {
			return removed, ctx.Err()
		}
		if !shard.IsDir() {
			continue
		}
		files, err := os.ReadDir(filepath.Join(root, shard.Name()))
		if err != nil {
			return removed, err
		}
		for _, f := range files {
			epoch, ok := fileEpoch(f.Name())
			if !ok || epoch >= s.epoch {
				continue
			}
			if _, ok := live[f.Name()]; ok {
				continue
			}
			if err := os.Remove(filepath.Join(root, shard.Name(), f.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return removed, err
			}
			removed++
		}
	}
	return removed, nil
}
