package replicate

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sluicehq/sluice"
)

// fileOnlyStore is a store that offers nothing beyond sluice.Store: no
// records of its own, no links, no joined commits, so the replicator keeps
// its records in replicate.db and streams every copy.
type fileOnlyStore struct{ sluice.Store }

func (s *stack) startFileReplicator(cfg Config) *running {
	s.t.Helper()
	return s.startReplicatorOn(fileOnlyStore{s.store}, cfg)
}

func exists(t *testing.T, path string) bool {
	t.Helper()
	_, err := os.Stat(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	return err == nil
}

// TestRecordsInEitherPlace copies, restarts mid-burst and reads statuses
// with the records in the store (fsstore) and in replicate.db (a store
// without records of its own).
func TestRecordsInEitherPlace(t *testing.T) {
	for _, tc := range []struct {
		name     string
		inFile   bool
		wantFile bool
	}{
		{"store", false, false},
		{"replicate.db", true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newStack(t)
			s.mkBucket("src", "")
			s.mkBucket("dst", "")
			s.tagBucket("src", "dst")
			dir := t.TempDir()
			start := s.startReplicator
			if tc.inFile {
				start = s.startFileReplicator
			}
			r1 := start(testConfig(dir))
			const n = 40
			etags := make([]string, n)
			for i := range n {
				etags[i] = s.put("src", fmt.Sprintf("obj-%03d", i), bytes.Repeat([]byte{byte(i)}, 1000+i))
			}
			poll(t, "first copy", func() bool { b, _ := getObject(t, s.client, "dst", "obj-000"); return b != nil })
			r1.stop()
			r2 := start(testConfig(dir))
			s.caughtUp()
			for i := range n {
				key := fmt.Sprintf("obj-%03d", i)
				got, _ := getObject(t, s.client, "dst", key)
				if !bytes.Equal(got, bytes.Repeat([]byte{byte(i)}, 1000+i)) {
					t.Errorf("%s: copy missing or different after restart", key)
				}
				if st := r2.Status(context.Background(), "src", key, "", etags[i]); st != StatusCompleted {
					t.Errorf("%s: status %q, want COMPLETED", key, st)
				}
				if st := r2.Status(context.Background(), "dst", key, "", etags[i]); st != StatusReplica {
					t.Errorf("%s: target status %q, want REPLICA", key, st)
				}
			}
			if got := exists(t, filepath.Join(dir, dbFile)); got != tc.wantFile {
				t.Errorf("replicate.db exists: %v, want %v", got, tc.wantFile)
			}
		})
	}
}

func TestNoSyncHonoured(t *testing.T) {
	st := openTestStore(t)
	for _, noSync := range []bool{false, true} {
		cfg := testConfig(t.TempDir())
		cfg.NoSync = noSync
		r, err := New(cfg, fileOnlyStore{st}, st, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		if db := r.state.fileDB(); db == nil || db.NoSync != noSync {
			t.Errorf("Config.NoSync %v: replicate.db %v", noSync, db)
		}
		r.Close()
	}
}

// TestImportReplicateDB starts a replicator on a store that keeps records
// where an earlier version left replicate.db: its records are imported
// once, and the file is renamed.
func TestImportReplicateDB(t *testing.T) {
	st := openTestStore(t)
	ctx := context.Background()
	for _, b := range []string{"src", "dst"} {
		if err := st.CreateBucket(ctx, sluice.Bucket{Name: b, Region: sluice.DefaultRegion}); err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	old, err := New(testConfig(dir), fileOnlyStore{st}, st, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	dead := DeadLetter{Event: sluice.Event{Seq: 7, Bucket: "src", Key: "gone"}, Target: "dst", Error: "boom", Time: time.Unix(1700000000, 0).UTC()}
	err = old.commit(stateWrite{
		applied: []appliedAt{{target: "local/dst", key: "k", a: applied{Sequencer: "0000000000000003", ETag: "e1", TargetETag: "e1"}}},
		status:  &statusAt{bucket: "src", key: "k", rec: statusRecord{ETag: "e1", Status: StatusCompleted, Sequencer: "0000000000000003"}},
		dead:    []DeadLetter{dead},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := old.Close(); err != nil {
		t.Fatal(err)
	}

	r, err := New(testConfig(dir), st, st, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if exists(t, filepath.Join(dir, dbFile)) || !exists(t, filepath.Join(dir, dbFile+".imported")) {
		t.Errorf("replicate.db was not renamed replicate.db.imported after the import")
	}
	if got := r.Status(ctx, "src", "k", "", `"e1"`); got != StatusCompleted {
		t.Errorf("imported status %q, want COMPLETED", got)
	}
	if got := r.Status(ctx, "dst", "k", "", "e1"); got != StatusReplica {
		t.Errorf("imported replica status %q, want REPLICA", got)
	}
	got, err := r.DeadLetters()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]DeadLetter{dead}, got); diff != "" {
		t.Errorf("imported dead letters (-want +got):\n%s", diff)
	}
	if r.deadMax.Load() != 7 {
		t.Errorf("highest dead-lettered seq %d after the import, want 7", r.deadMax.Load())
	}
}

// FuzzRecordSeq checks recordSeq's reading of the sequencer straight from
// the bytes against decoding the JSON, on applied and status records as
// json.Marshal writes them, whatever their fields hold; on any other
// input it must not panic.
func FuzzRecordSeq(f *testing.F) {
	f.Add("00000000000000A1", "d41d8cd98f00b204e9800998ecf8427e", "abc", "COMPLETED", `"seq":"x`)
	f.Add("", "", "", "", "")
	f.Add(`a"b`, `\`, `"seq":"y"`, "PENDING", `{"seq":"1"}`)
	f.Fuzz(func(t *testing.T, seq, etag, digest, status, raw string) {
		recordSeq([]byte(raw))
		for _, v := range []any{
			applied{Sequencer: seq, ETag: etag, Digest: digest, TargetETag: raw},
			statusRecord{ETag: etag, Status: status, Sequencer: seq},
		} {
			b, err := json.Marshal(v)
			if err != nil {
				t.Fatal(err)
			}
			var want struct {
				Sequencer string `json:"seq"`
			}
			if err := json.Unmarshal(b, &want); err != nil {
				t.Fatal(err)
			}
			if got, ok := recordSeq(b); !ok || got != want.Sequencer {
				t.Fatalf("recordSeq(%s) = %q, %v; want %q", b, got, ok, want.Sequencer)
			}
		}
	})
}
