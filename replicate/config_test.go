package replicate

import (
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/fsstore"
)

func TestConfigValidate(t *testing.T) {
	cases := []struct {
		name    string
		edit    func(*Config)
		wantErr string
	}{
		{"default", func(*Config) {}, ""},
		{"no dir", func(c *Config) { c.Dir = "" }, "dir"},
		{"no workers", func(c *Config) { c.Workers = 0 }, "workers"},
		{"no remote workers", func(c *Config) { c.RemoteWorkers = 0 }, "remote_workers"},
		{"no batch", func(c *Config) { c.BatchSize = 0 }, "batch_size"},
		{"window below batch", func(c *Config) { c.Window = c.BatchSize - 1 }, "window"},
		{"small parts", func(c *Config) { c.PartSize = 1 << 20 }, "part_size"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.Dir = t.TempDir()
			c.edit(&cfg)
			err := cfg.Validate()
			switch {
			case c.wantErr == "" && err != nil:
				t.Fatalf("Validate: %v", err)
			case c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)):
				t.Fatalf("Validate = %v, want an error naming %s", err, c.wantErr)
			}
		})
	}
}

func openTestStore(t *testing.T) *fsstore.Store {
	t.Helper()
	cfg := fsstore.DefaultConfig()
	cfg.Dir = t.TempDir()
	cfg.NoSync = true
	cfg.RecordEvents = true
	st, err := fsstore.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// TestStateCommitNewerWins commits an older write's state after a newer
// one's, as a retried commit can: the newer applied record and status stay.
func TestStateCommitNewerWins(t *testing.T) {
	st := openTestStore(t)
	if err := st.CreateBucket(context.Background(), sluice.Bucket{Name: "src", Region: sluice.DefaultRegion}); err != nil {
		t.Fatal(err)
	}
	r, err := New(testConfig(t.TempDir()), st, st, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	write := func(seq, etag, status string) stateWrite {
		return stateWrite{
			applied: []appliedAt{{target: "local/dst", key: "k", a: applied{Sequencer: seq, ETag: etag}}},
			status:  &statusAt{bucket: "src", key: "k", rec: statusRecord{ETag: etag, Status: status, Sequencer: seq}},
		}
	}
	// The newer write's commit is queued first, the older one's right after.
	newer := r.queueCommit(write("0000000000000002", "e2", StatusCompleted))
	older := r.queueCommit(write("0000000000000001", "e1", StatusFailed))
	if err := newer(); err != nil {
		t.Fatal(err)
	}
	if err := older(); err != nil {
		t.Fatal(err)
	}
	a, found, err := r.lookup("local/dst", "k")
	if err != nil || !found || a.ETag != "e2" {
		t.Errorf("applied record %+v (found %v, err %v), want the newer write e2", a, found, err)
	}
	if got := r.Status(context.Background(), "src", "k", "", `"e2"`); got != StatusCompleted {
		t.Errorf("status of the newer write %q, want COMPLETED", got)
	}
}
