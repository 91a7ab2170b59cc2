package fsstore_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/fsstore"
)

func mustVersioning(t testing.TB, s sluice.Store, bucket, state string) {
	t.Helper()
	if err := s.SetVersioning(context.Background(), bucket, state); err != nil {
		t.Fatalf("SetVersioning(%s, %s): %v", bucket, state, err)
	}
}

func mustDeleteVersion(t testing.TB, s sluice.Store, bucket, key, id string) sluice.DeleteResult {
	t.Helper()
	res, err := s.DeleteVersion(context.Background(), bucket, key, id)
	if err != nil {
		t.Fatalf("DeleteVersion(%s, %q): %v", key, id, err)
	}
	return res
}

func readVersion(t testing.TB, s sluice.Store, bucket, key, id string) []byte {
	t.Helper()
	o, err := s.OpenVersion(context.Background(), bucket, key, id)
	if err != nil {
		t.Fatalf("OpenVersion(%s, %q): %v", key, id, err)
	}
	defer o.Close()
	r, err := o.Reader(0, -1)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestVersionFiles checks the files behind versions: a noncurrent
// version keeps its file, versions linked to other keys share files with
// the right counts, a file goes exactly when its last version does, and
// the orphan collector of the next Open keeps every version's file.
func TestVersionFiles(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	cfg := testConfig(dir, false)
	cfg.InlineMax = 0 // every body is a file
	s := openConfig(t, cfg)
	mustBucket(t, s, "v")
	mustBucket(t, s, "plain")
	mustVersioning(t, s, "v", sluice.VersioningEnabled)
	files := func(want int, what string) {
		t.Helper()
		if got, _ := dataFiles(t, dir); len(got) != want {
			t.Errorf("%s: %d object files, want %d", what, len(got), want)
		}
	}
	body := func(n int) []byte { return bytes.Repeat([]byte{byte('a' + n)}, 1000+n) }

	v1 := mustPut(t, s, "v", "k", body(1))
	v2 := mustPut(t, s, "v", "k", body(2))
	files(2, "two versions")
	// A link of the noncurrent version, into another bucket and onto the
	// same key (a copy of an old version made current), shares its file.
	mustLink(t, s, v1, "plain", "copy", sluice.ObjectMeta{})
	v3 := mustLink(t, s, v1, "v", "k", sluice.ObjectMeta{})
	files(2, "after links")
	if v3.VersionID == v1.VersionID || v3.ETag != v1.ETag {
		t.Errorf("link of v1 = %+v", v3)
	}
	// Removing v1 leaves its file to the two copies.
	mustDeleteVersion(t, s, "v", "k", v1.VersionID)
	files(2, "v1 removed")
	if got := readVersion(t, s, "v", "k", v3.VersionID); !bytes.Equal(got, body(1)) {
		t.Errorf("v3 reads %q", got)
	}
	// A delete marker keeps every file.
	m := mustDeleteVersion(t, s, "v", "k", "")
	files(2, "marker")
	mustDeleteVersion(t, s, "v", "k", v3.VersionID)
	files(2, "v3 removed, the plain copy holds its file")
	if err := s.DeleteObject(ctx, "plain", "copy"); err != nil {
		t.Fatal(err)
	}
	files(1, "last reference to v1's file dropped")
	if got := readVersion(t, s, "v", "k", v2.VersionID); !bytes.Equal(got, body(2)) {
		t.Errorf("v2 reads %q", got)
	}

	// A version linked from the plain bucket; replacing the plain object
	// leaves the version's file.
	p := mustPut(t, s, "plain", "p", body(4))
	pv := mustLink(t, s, p, "v", "p", sluice.ObjectMeta{})
	mustPut(t, s, "plain", "p", body(5))
	files(3, "plain overwritten, its old file held by a version")
	if got := readVersion(t, s, "v", "p", pv.VersionID); !bytes.Equal(got, body(4)) {
		t.Errorf("linked version reads %q", got)
	}

	// Suspended: a write replaces the null version and frees its file; a
	// suspended delete frees the null version's too.
	mustVersioning(t, s, "v", sluice.VersioningSuspended)
	mustPut(t, s, "v", "n", body(6))
	mustPut(t, s, "v", "n", body(7))
	files(4, "null version replaced")
	mustDeleteVersion(t, s, "v", "n", "")
	files(3, "null version replaced by a null marker")

	// Every version's file survives a reopen and the collector, which
	// removes only what no version names.
	var wantFiles []string
	objs, _ := dataFiles(t, dir)
	wantFiles = append(wantFiles, objs...)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	orphan := make([]byte, 16)
	binary.BigEndian.PutUint32(orphan, 1)
	orphan[4] = 0xab
	id := hex.EncodeToString(orphan)
	if err := os.MkdirAll(filepath.Join(dir, "objects", id[8:10]), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "objects", id[8:10], id), []byte("orphan"), 0o644); err != nil {
		t.Fatal(err)
	}
	s2 := openConfig(t, cfg)
	s2.WaitGC()
	objs, _ = dataFiles(t, dir)
	slices.Sort(objs)
	slices.Sort(wantFiles)
	if diff := cmp.Diff(wantFiles, objs); diff != "" {
		t.Errorf("files after the collector (-want +got):\n%s", diff)
	}
	if got := readVersion(t, s2, "v", "k", v2.VersionID); !bytes.Equal(got, body(2)) {
		t.Errorf("v2 after reopen reads %q", got)
	}
	if _, err := s2.HeadVersion(ctx, "v", "k", m.VersionID); !sluice.IsCode(err, sluice.ErrMethodNotAllowed) {
		t.Errorf("marker after reopen: %v", err)
	}
	// The reopened store knows versioning is in use without being told.
	if info, err := s2.HeadVersion(ctx, "v", "k", ""); !sluice.IsCode(err, sluice.ErrNoSuchKey) || info.VersionID != m.VersionID {
		t.Errorf("HeadVersion(\"\") under the marker after reopen = %+v, %v", info, err)
	}
	if info, err := s2.HeadObject(ctx, "v", "n"); !sluice.IsCode(err, sluice.ErrNoSuchKey) || info.DeleteMarker {
		t.Errorf("HeadObject under the null marker after reopen = %+v, %v; want NoSuchKey without info", info, err)
	}
	// Emptying the bucket of versions removes every file of it.
	page, err := s2.ListVersions(ctx, "v", sluice.ListVersionsOptions{MaxKeys: 1000})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range page.Versions {
		mustDeleteVersion(t, s2, "v", v.Key, v.VersionID)
	}
	if err := s2.DeleteBucket(ctx, "v"); err != nil {
		t.Errorf("DeleteBucket(emptied): %v", err)
	}
	files(1, "versioned bucket emptied (the plain object stays)")
}

// TestVersionInlineBodies moves inline bodies between the current and the
// noncurrent versions: demoted by a write or a marker, promoted back when
// the newer version is removed.
func TestVersionInlineBodies(t *testing.T) {
	s := openTest(t, t.TempDir(), false)
	mustBucket(t, s, "v")
	mustPut(t, s, "v", "k", []byte("one"))
	mustVersioning(t, s, "v", sluice.VersioningEnabled)
	two := mustPut(t, s, "v", "k", []byte("two"))
	big := bytes.Repeat([]byte("b"), fsstore.DefaultInlineMax+1)
	three := mustPut(t, s, "v", "k", big)
	m := mustDeleteVersion(t, s, "v", "k", "")
	for _, step := range []struct {
		remove string
		want   []byte
	}{
		{m.VersionID, big},
		{three.VersionID, []byte("two")},
		{two.VersionID, []byte("one")},
	} {
		mustDeleteVersion(t, s, "v", "k", step.remove)
		got, info := readAll(t, s, "v", "k")
		if !bytes.Equal(got, step.want) {
			t.Errorf("after removing %s the current reads %.10q", step.remove, got)
		}
		if step.remove == two.VersionID && info.VersionID != sluice.NullVersionID {
			t.Errorf("current after removing two: VersionID %q, want null", info.VersionID)
		}
	}
}

// TestVersionEvents checks the events versioned changes record.
func TestVersionEvents(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, t.TempDir(), true)
	mustBucket(t, s, "v")
	mustPut(t, s, "v", "k", []byte("null"))
	mustVersioning(t, s, "v", sluice.VersioningEnabled)
	v1 := mustPut(t, s, "v", "k", []byte("one"))
	m := mustDeleteVersion(t, s, "v", "k", "")
	if _, err := s.PutVersionTags(ctx, "v", "k", v1.VersionID, []sluice.Tag{{Key: "a", Value: "b"}}); err != nil {
		t.Fatal(err)
	}
	mustDeleteVersion(t, s, "v", "k", m.VersionID)
	mustDeleteVersion(t, s, "v", "k", v1.VersionID)
	mustDeleteVersion(t, s, "v", "k", sluice.NullVersionID)
	mustDeleteVersion(t, s, "v", "k", v1.VersionID) // gone: no event
	mustVersioning(t, s, "v", sluice.VersioningSuspended)
	mustPut(t, s, "v", "k", []byte("suspended"))
	mustDeleteVersion(t, s, "v", "k", "")

	evs, err := s.ReadEvents(ctx, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	type ev struct{ Name, VersionID, ETag string }
	var got []ev
	for _, e := range evs {
		got = append(got, ev{e.Name, e.VersionID, e.ETag})
	}
	want := []ev{
		{sluice.EventObjectCreatedPut, "", md5hex("null")},
		{sluice.EventObjectCreatedPut, v1.VersionID, md5hex("one")},
		{sluice.EventObjectRemovedMarker, m.VersionID, ""},
		{sluice.EventObjectTaggingPut, v1.VersionID, md5hex("one")},
		{sluice.EventObjectRemovedDelete, m.VersionID, ""},
		{sluice.EventObjectRemovedDelete, v1.VersionID, ""},
		{sluice.EventObjectRemovedDelete, "", ""}, // the null version
		{sluice.EventObjectCreatedPut, "", md5hex("suspended")},
		{sluice.EventObjectRemovedMarker, "", ""}, // the null marker
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	for i := 1; i < len(evs); i++ {
		if evs[i].Sequencer <= evs[i-1].Sequencer {
			t.Errorf("sequencer %s after %s", evs[i].Sequencer, evs[i-1].Sequencer)
		}
	}
}
