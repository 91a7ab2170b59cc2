package fsstore_test

import (
	"testing"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/fsstore"
	"github.com/sluicehq/sluice/storetest"
)

func openTest(t testing.TB, dir string, record bool) *fsstore.Store {
	t.Helper()
	s, err := fsstore.Open(fsstore.Config{Dir: dir, RecordEvents: record, NoSync: true})
	if err != nil {
		t.Fatalf("Open(%q): %v", dir, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) sluice.Store {
		return openTest(t, t.TempDir(), true)
	})
}
