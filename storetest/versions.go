package storetest

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/sluicehq/sluice"
)

// Versioning contract tests. They follow S3: a bucket's state goes from ""
// to Enabled or Suspended and never back; objects written before versioning
// are the "null" version; a delete without a version id adds a delete
// marker; a delete with one removes that version for good.

func setVersioning(t *testing.T, s sluice.Store, bucket, state string) {
	t.Helper()
	if err := s.SetVersioning(context.Background(), bucket, state); err != nil {
		t.Fatalf("SetVersioning(%q, %s): %v", bucket, state, err)
	}
}

func versionedBucket(t *testing.T, s sluice.Store) string {
	t.Helper()
	b := newBucket(t, s)
	setVersioning(t, s, b, sluice.VersioningEnabled)
	return b
}

func deleteVersion(t *testing.T, s sluice.Store, bucket, key, id string) sluice.DeleteResult {
	t.Helper()
	res, err := s.DeleteVersion(context.Background(), bucket, key, id)
	if err != nil {
		t.Fatalf("DeleteVersion(%q, %q): %v", key, id, err)
	}
	return res
}

// getVersion opens one version and reads all of it.
func getVersion(t *testing.T, s sluice.Store, bucket, key, id string) ([]byte, sluice.ObjectInfo) {
	t.Helper()
	obj, err := s.OpenVersion(context.Background(), bucket, key, id)
	if err != nil {
		t.Fatalf("OpenVersion(%q, %q): %v", key, id, err)
	}
	defer obj.Close()
	return readAll(t, obj, 0, -1), obj.Info()
}

// wellFormedUnknownID is a version id of the shape S3 issues that no store
// issued.
const wellFormedUnknownID = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"

func checkNewVersionID(t *testing.T, what, id string, seen map[string]bool) {
	t.Helper()
	if id == "" || id == sluice.NullVersionID || len(id) > 1024 {
		t.Errorf("%s: version id %q, want a fresh id", what, id)
	}
	if seen[id] {
		t.Errorf("%s: version id %q issued twice", what, id)
	}
	seen[id] = true
}

func testVersioningState(t *testing.T, s sluice.Store) {
	ctx := context.Background()
	b := newBucket(t, s)
	steps := []struct {
		set  string
		want string
		code sluice.Code
	}{
		{"", "", ""},
		{sluice.VersioningEnabled, sluice.VersioningEnabled, ""},
		{sluice.VersioningEnabled, sluice.VersioningEnabled, ""},
		{sluice.VersioningSuspended, sluice.VersioningSuspended, ""},
		{"", sluice.VersioningSuspended, sluice.ErrMalformedXML},
		{"Disabled", sluice.VersioningSuspended, sluice.ErrMalformedXML},
		{sluice.VersioningEnabled, sluice.VersioningEnabled, ""},
	}
	for i, st := range steps {
		if i > 0 {
			err := s.SetVersioning(ctx, b, st.set)
			wantCode(t, fmt.Sprintf("step %d: SetVersioning(%q)", i, st.set), err, st.code)
		}
		got, err := s.Versioning(ctx, b)
		if err != nil || got != st.want {
			t.Errorf("step %d: Versioning = %q, %v; want %q", i, got, err, st.want)
		}
	}
	_, err := s.Versioning(ctx, "no-such-bucket-"+b)
	wantCode(t, "Versioning(missing bucket)", err, sluice.ErrNoSuchBucket)
	err = s.SetVersioning(ctx, "no-such-bucket-"+b, sluice.VersioningEnabled)
	wantCode(t, "SetVersioning(missing bucket)", err, sluice.ErrNoSuchBucket)

	// Suspending a bucket that was never versioned is allowed, as on S3.
	b2 := newBucket(t, s)
	setVersioning(t, s, b2, sluice.VersioningSuspended)
	if got, _ := s.Versioning(ctx, b2); got != sluice.VersioningSuspended {
		t.Errorf("Versioning after suspending a new bucket = %q", got)
	}
	if info := put(t, s, b2, "k", []byte("x")); info.VersionID != sluice.NullVersionID {
		t.Errorf("PutObject in a suspended bucket: VersionID %q, want null", info.VersionID)
	}
}

func testUnversioned(t *testing.T, s sluice.Store) {
	ctx := context.Background()
	b := newBucket(t, s)
	info := put(t, s, b, "a", []byte("one"))
	if info.VersionID != "" {
		t.Errorf("PutObject in an unversioned bucket: VersionID %q, want empty", info.VersionID)
	}
	put(t, s, b, "b", []byte("two"))
	for _, id := range []string{"", sluice.NullVersionID} {
		got, info := getVersion(t, s, b, "a", id)
		if string(got) != "one" || info.VersionID != "" {
			t.Errorf("OpenVersion(a, %q) = %q, VersionID %q", id, got, info.VersionID)
		}
		if h, err := s.HeadVersion(ctx, b, "a", id); err != nil || h.ETag != etagOf([]byte("one")) || h.VersionID != "" {
			t.Errorf("HeadVersion(a, %q) = %+v, %v", id, h, err)
		}
	}
	_, err := s.HeadVersion(ctx, b, "a", wellFormedUnknownID)
	wantCode(t, "HeadVersion(unknown id)", err, sluice.ErrNoSuchVersion)
	_, err = s.HeadVersion(ctx, b, "a", "not-a-version")
	wantCode(t, "HeadVersion(malformed id)", err, sluice.ErrInvalidArgument)
	_, err = s.HeadVersion(ctx, b, "missing", "")
	wantCode(t, "HeadVersion(missing key)", err, sluice.ErrNoSuchKey)

	page, err := s.ListVersions(ctx, b, sluice.ListVersionsOptions{MaxKeys: 1000})
	if err != nil {
		t.Fatalf("ListVersions: %v", err)
	}
	want := []vEntry{{"a", "null", false, true, etagOf([]byte("one"))}, {"b", "null", false, true, etagOf([]byte("two"))}}
	if diff := cmp.Diff(want, entries(page.Versions)); diff != "" {
		t.Errorf("ListVersions (-want +got):\n%s", diff)
	}

	// A delete without a version id is DeleteObject; with "null" it
	// removes the object too; an unknown id removes nothing.
	if res := deleteVersion(t, s, b, "a", ""); res != (sluice.DeleteResult{}) {
		t.Errorf("DeleteVersion(a, \"\") = %+v, want zero", res)
	}
	if res := deleteVersion(t, s, b, "b", wellFormedUnknownID); res != (sluice.DeleteResult{}) {
		t.Errorf("DeleteVersion(b, unknown) = %+v, want zero", res)
	}
	if _, err := s.HeadObject(ctx, b, "b"); err != nil {
		t.Errorf("HeadObject(b) after deleting an unknown version: %v", err)
	}
	deleteVersion(t, s, b, "b", sluice.NullVersionID)
	if _, err := s.HeadObject(ctx, b, "b"); !sluice.IsCode(err, sluice.ErrNoSuchKey) {
		t.Errorf("HeadObject(b) after deleting the null version: %v", err)
	}
	if err := s.DeleteBucket(ctx, b); err != nil {
		t.Errorf("DeleteBucket(emptied unversioned bucket): %v", err)
	}
}

func testVersionsPut(t *testing.T, s sluice.Store) {
	ctx := context.Background()
	b := newBucket(t, s)
	put(t, s, b, "k", []byte("before"))
	setVersioning(t, s, b, sluice.VersioningEnabled)
	if h, err := s.HeadObject(ctx, b, "k"); err != nil || h.VersionID != sluice.NullVersionID {
		t.Errorf("HeadObject of an object written before versioning = %q, %v; want VersionID null", h.VersionID, err)
	}
	seen := map[string]bool{}
	bodies := [][]byte{[]byte("v1"), randomBytes(100 << 10), nil, []byte("v4")}
	var infos []sluice.ObjectInfo
	for i, body := range bodies {
		info := put(t, s, b, "k", body)
		checkNewVersionID(t, fmt.Sprintf("put %d", i), info.VersionID, seen)
		infos = append(infos, info)
		head, err := s.HeadObject(ctx, b, "k")
		if err != nil || !cmp.Equal(info, head) {
			t.Errorf("HeadObject after put %d differs from PutObject: %s (%v)", i, cmp.Diff(info, head), err)
		}
	}
	for i, info := range infos {
		got, oinfo := getVersion(t, s, b, "k", info.VersionID)
		if !bytes.Equal(got, bodies[i]) {
			t.Errorf("OpenVersion(%d) bytes differ", i)
		}
		if diff := cmp.Diff(info, oinfo); diff != "" {
			t.Errorf("OpenVersion(%d) info (-put +open):\n%s", i, diff)
		}
		h, err := s.HeadVersion(ctx, b, "k", info.VersionID)
		if err != nil || !cmp.Equal(info, h) {
			t.Errorf("HeadVersion(%d) = %s, %v", i, cmp.Diff(info, h), err)
		}
	}
	got, info := getVersion(t, s, b, "k", sluice.NullVersionID)
	if string(got) != "before" || info.VersionID != sluice.NullVersionID {
		t.Errorf("OpenVersion(null) = %q, VersionID %q", got, info.VersionID)
	}
	got, info = getVersion(t, s, b, "k", "")
	if string(got) != "v4" || info.VersionID != infos[3].VersionID {
		t.Errorf("OpenVersion(\"\") = %q, VersionID %q; want the newest", got, info.VersionID)
	}
	_, err := s.HeadVersion(ctx, b, "k", wellFormedUnknownID)
	wantCode(t, "HeadVersion(unknown id)", err, sluice.ErrNoSuchVersion)
	_, err = s.OpenVersion(ctx, b, "k", wellFormedUnknownID)
	wantCode(t, "OpenVersion(unknown id)", err, sluice.ErrNoSuchVersion)
	for _, bad := range []string{"x", "null2", strings.Repeat("!", 32), infos[0].VersionID + "A"} {
		_, err = s.HeadVersion(ctx, b, "k", bad)
		wantCode(t, fmt.Sprintf("HeadVersion(%q)", bad), err, sluice.ErrInvalidArgument)
	}
	// A version id names a version of its own key only.
	put(t, s, b, "other", []byte("o"))
	_, err = s.HeadVersion(ctx, b, "other", infos[0].VersionID)
	wantCode(t, "HeadVersion(another key's id)", err, sluice.ErrNoSuchVersion)

	// ListObjects lists only the current version.
	page, err := s.ListObjects(ctx, b, sluice.ListOptions{MaxKeys: 1000})
	if err != nil || len(page.Objects) != 2 || page.Objects[0].ETag != etagOf([]byte("v4")) {
		t.Errorf("ListObjects = %+v, %v; want k (v4) and other", page.Objects, err)
	}
	lv := listVersions(t, s, b, sluice.ListVersionsOptions{Prefix: "k", MaxKeys: 1000})
	want := []vEntry{
		{"k", infos[3].VersionID, false, true, infos[3].ETag},
		{"k", infos[2].VersionID, false, false, infos[2].ETag},
		{"k", infos[1].VersionID, false, false, infos[1].ETag},
		{"k", infos[0].VersionID, false, false, infos[0].ETag},
		{"k", "null", false, false, etagOf([]byte("before"))},
	}
	if diff := cmp.Diff(want, entries(lv)); diff != "" {
		t.Errorf("ListVersions (-want +got):\n%s", diff)
	}
	if lv[1].Size != 0 || lv[2].Size != int64(len(bodies[1])) {
		t.Errorf("listed sizes %d, %d", lv[1].Size, lv[2].Size)
	}
}

func testVersionsMultipart(t *testing.T, s sluice.Store) {
	ctx := context.Background()
	b := versionedBucket(t, s)
	first := put(t, s, b, "mp", []byte("small"))
	up := createUpload(t, s, &sluice.CreateUploadInput{Bucket: b, Key: "mp"})
	p1 := uploadPart(t, s, up, 1, bytes.Repeat([]byte("a"), int(sluice.MinPartSize)))
	p2 := uploadPart(t, s, up, 2, []byte("tail"))
	info, err := s.CompleteUpload(ctx, &sluice.CompleteUploadInput{Bucket: b, Key: "mp", UploadID: up.UploadID, Parts: completeOf(p1, p2)})
	if err != nil {
		t.Fatalf("CompleteUpload: %v", err)
	}
	if info.VersionID == "" || info.VersionID == first.VersionID || info.VersionID == sluice.NullVersionID {
		t.Errorf("CompleteUpload VersionID %q (first %q)", info.VersionID, first.VersionID)
	}
	if got, _ := getVersion(t, s, b, "mp", first.VersionID); string(got) != "small" {
		t.Errorf("first version reads %q after a multipart overwrite", got)
	}
	got, oinfo := getVersion(t, s, b, "mp", info.VersionID)
	if len(got) != int(sluice.MinPartSize)+4 || oinfo.ETag != info.ETag {
		t.Errorf("multipart version: %d bytes, ETag %s", len(got), oinfo.ETag)
	}
	// Removing the multipart version makes the first one current again.
	if res := deleteVersion(t, s, b, "mp", info.VersionID); res.VersionID != info.VersionID || res.DeleteMarker {
		t.Errorf("DeleteVersion(multipart) = %+v", res)
	}
	if got, inf := getVersion(t, s, b, "mp", ""); string(got) != "small" || inf.VersionID != first.VersionID {
		t.Errorf("current after removing the newest = %q (%s)", got, inf.VersionID)
	}
}

func testVersionsDeleteMarker(t *testing.T, s sluice.Store) {
	ctx := context.Background()
	b := versionedBucket(t, s)
	v1 := put(t, s, b, "k", []byte("one"))
	seen := map[string]bool{v1.VersionID: true}

	m1 := deleteVersion(t, s, b, "k", "")
	if !m1.DeleteMarker {
		t.Errorf("DeleteVersion(\"\") = %+v, want a delete marker", m1)
	}
	checkNewVersionID(t, "marker", m1.VersionID, seen)
	// The current version is gone for reads without a version id; the
	// marker's info comes back with NoSuchKey.
	info, err := s.HeadVersion(ctx, b, "k", "")
	wantCode(t, "HeadVersion(\"\") under a marker", err, sluice.ErrNoSuchKey)
	if !info.DeleteMarker || info.VersionID != m1.VersionID || info.Key != "k" || info.Bucket != b {
		t.Errorf("HeadVersion(\"\") under a marker returned %+v, want the marker's info", info)
	}
	_, err = s.HeadObject(ctx, b, "k")
	wantCode(t, "HeadObject under a marker", err, sluice.ErrNoSuchKey)
	_, err = s.OpenObject(ctx, b, "k")
	wantCode(t, "OpenObject under a marker", err, sluice.ErrNoSuchKey)
	_, err = s.OpenVersion(ctx, b, "k", "")
	wantCode(t, "OpenVersion(\"\") under a marker", err, sluice.ErrNoSuchKey)
	_, err = s.PutObjectTags(ctx, b, "k", []sluice.Tag{{Key: "a", Value: "b"}})
	wantCode(t, "PutObjectTags under a marker", err, sluice.ErrNoSuchKey)
	// Naming the marker is not allowed.
	info, err = s.HeadVersion(ctx, b, "k", m1.VersionID)
	wantCode(t, "HeadVersion(marker)", err, sluice.ErrMethodNotAllowed)
	if !info.DeleteMarker || info.VersionID != m1.VersionID || info.LastModified.IsZero() {
		t.Errorf("HeadVersion(marker) = %+v, want the marker's info", info)
	}
	_, err = s.OpenVersion(ctx, b, "k", m1.VersionID)
	wantCode(t, "OpenVersion(marker)", err, sluice.ErrMethodNotAllowed)
	_, err = s.PutVersionTags(ctx, b, "k", m1.VersionID, nil)
	wantCode(t, "PutVersionTags(marker)", err, sluice.ErrMethodNotAllowed)
	if got, _ := getVersion(t, s, b, "k", v1.VersionID); string(got) != "one" {
		t.Errorf("the version under the marker reads %q", got)
	}
	if page, _ := s.ListObjects(ctx, b, sluice.ListOptions{MaxKeys: 10}); len(page.Objects) != 0 {
		t.Errorf("ListObjects lists %+v under a marker", page.Objects)
	}

	// Deleting again adds another marker, as S3 does.
	m2 := deleteVersion(t, s, b, "k", "")
	checkNewVersionID(t, "second marker", m2.VersionID, seen)
	// A key that never existed gets a marker too.
	m3 := deleteVersion(t, s, b, "never", "")
	checkNewVersionID(t, "marker of a new key", m3.VersionID, seen)
	want := []vEntry{
		{"k", m2.VersionID, true, true, ""},
		{"k", m1.VersionID, true, false, ""},
		{"k", v1.VersionID, false, false, v1.ETag},
		{"never", m3.VersionID, true, true, ""},
	}
	if diff := cmp.Diff(want, entries(listVersions(t, s, b, sluice.ListVersionsOptions{MaxKeys: 1000}))); diff != "" {
		t.Errorf("ListVersions (-want +got):\n%s", diff)
	}

	// Removing the latest marker leaves the older marker latest; removing
	// that one brings the object back.
	if res := deleteVersion(t, s, b, "k", m2.VersionID); res != (sluice.DeleteResult{VersionID: m2.VersionID, DeleteMarker: true}) {
		t.Errorf("DeleteVersion(marker) = %+v", res)
	}
	_, err = s.HeadObject(ctx, b, "k")
	wantCode(t, "HeadObject under the older marker", err, sluice.ErrNoSuchKey)
	deleteVersion(t, s, b, "k", m1.VersionID)
	got, info := getVersion(t, s, b, "k", "")
	if string(got) != "one" || info.VersionID != v1.VersionID {
		t.Errorf("after removing every marker: %q (%s)", got, info.VersionID)
	}
	if page, _ := s.ListObjects(ctx, b, sluice.ListOptions{MaxKeys: 10}); len(page.Objects) != 1 || page.Objects[0].VersionID != v1.VersionID {
		t.Errorf("ListObjects after removing the markers = %+v", page.Objects)
	}

	// A write over a marker is the new current version; the marker stays
	// among the noncurrent versions.
	m4 := deleteVersion(t, s, b, "k", "")
	v2 := put(t, s, b, "k", []byte("two"))
	want = []vEntry{
		{"k", v2.VersionID, false, true, v2.ETag},
		{"k", m4.VersionID, true, false, ""},
		{"k", v1.VersionID, false, false, v1.ETag},
	}
	if diff := cmp.Diff(want, entries(listVersions(t, s, b, sluice.ListVersionsOptions{Prefix: "k", MaxKeys: 1000}))); diff != "" {
		t.Errorf("ListVersions after a write over a marker (-want +got):\n%s", diff)
	}
	// DeleteObject in a versioned bucket adds a marker too.
	if err := s.DeleteObject(ctx, b, "k"); err != nil {
		t.Fatal(err)
	}
	if info, err := s.HeadVersion(ctx, b, "k", ""); !sluice.IsCode(err, sluice.ErrNoSuchKey) || !info.DeleteMarker {
		t.Errorf("after DeleteObject: %+v, %v; want a marker", info, err)
	}
	if got, _ := getVersion(t, s, b, "k", v2.VersionID); string(got) != "two" {
		t.Errorf("DeleteObject in a versioned bucket lost the version: %q", got)
	}
}

func testVersionsPermanentDelete(t *testing.T, s sluice.Store) {
	ctx := context.Background()
	b := newBucket(t, s)
	null := put(t, s, b, "k", []byte("null"))
	setVersioning(t, s, b, sluice.VersioningEnabled)
	null.VersionID = sluice.NullVersionID
	v1 := put(t, s, b, "k", []byte("one"))
	v2 := put(t, s, b, "k", bytes.Repeat([]byte("2"), 70<<10))
	v3 := put(t, s, b, "k", []byte("three"))

	// The current version removed, the next newest is current.
	if res := deleteVersion(t, s, b, "k", v3.VersionID); res != (sluice.DeleteResult{VersionID: v3.VersionID}) {
		t.Errorf("DeleteVersion(current) = %+v", res)
	}
	if h, err := s.HeadObject(ctx, b, "k"); err != nil || h.VersionID != v2.VersionID {
		t.Errorf("current after removing v3 = %q, %v; want v2", h.VersionID, err)
	}
	_, err := s.HeadVersion(ctx, b, "k", v3.VersionID)
	wantCode(t, "HeadVersion(removed)", err, sluice.ErrNoSuchVersion)
	// Removing it again, or an id never issued, succeeds and removes
	// nothing.
	deleteVersion(t, s, b, "k", v3.VersionID)
	deleteVersion(t, s, b, "k", wellFormedUnknownID)
	_, err = s.DeleteVersion(ctx, b, "k", "bad id")
	wantCode(t, "DeleteVersion(malformed)", err, sluice.ErrInvalidArgument)
	_, err = s.DeleteVersion(ctx, "no-such-bucket-"+b, "k", v1.VersionID)
	wantCode(t, "DeleteVersion(missing bucket)", err, sluice.ErrNoSuchBucket)

	// A noncurrent version removed, the current stays.
	deleteVersion(t, s, b, "k", v1.VersionID)
	if got, info := getVersion(t, s, b, "k", ""); info.VersionID != v2.VersionID || len(got) != 70<<10 {
		t.Errorf("current after removing v1 = %s (%d bytes)", info.VersionID, len(got))
	}
	want := []vEntry{{"k", v2.VersionID, false, true, v2.ETag}, {"k", "null", false, false, null.ETag}}
	if diff := cmp.Diff(want, entries(listVersions(t, s, b, sluice.ListVersionsOptions{MaxKeys: 1000}))); diff != "" {
		t.Errorf("ListVersions (-want +got):\n%s", diff)
	}
	// The null version removed by name.
	if res := deleteVersion(t, s, b, "k", sluice.NullVersionID); res != (sluice.DeleteResult{VersionID: sluice.NullVersionID}) {
		t.Errorf("DeleteVersion(null) = %+v", res)
	}
	deleteVersion(t, s, b, "k", v2.VersionID)
	if _, err := s.HeadObject(ctx, b, "k"); !sluice.IsCode(err, sluice.ErrNoSuchKey) {
		t.Errorf("HeadObject after removing every version: %v", err)
	}
	if lv := listVersions(t, s, b, sluice.ListVersionsOptions{MaxKeys: 1000}); len(lv) != 0 {
		t.Errorf("ListVersions after removing every version = %+v", entries(lv))
	}
	if err := s.DeleteBucket(ctx, b); err != nil {
		t.Errorf("DeleteBucket(emptied versioned bucket): %v", err)
	}
}

func testVersionsSuspended(t *testing.T, s sluice.Store) {
	ctx := context.Background()
	b := newBucket(t, s)
	put(t, s, b, "k", []byte("original null"))
	setVersioning(t, s, b, sluice.VersioningEnabled)
	v1 := put(t, s, b, "k", []byte("one"))
	setVersioning(t, s, b, sluice.VersioningSuspended)

	// A write replaces the null version, wherever it is, and keeps the rest.
	n1 := put(t, s, b, "k", []byte("null while suspended"))
	if n1.VersionID != sluice.NullVersionID {
		t.Errorf("PutObject while suspended: VersionID %q, want null", n1.VersionID)
	}
	want := []vEntry{{"k", "null", false, true, n1.ETag}, {"k", v1.VersionID, false, false, v1.ETag}}
	if diff := cmp.Diff(want, entries(listVersions(t, s, b, sluice.ListVersionsOptions{MaxKeys: 1000}))); diff != "" {
		t.Errorf("after a suspended write (-want +got):\n%s", diff)
	}
	n2 := put(t, s, b, "k", []byte("null again"))
	want[0].ETag = n2.ETag
	if diff := cmp.Diff(want, entries(listVersions(t, s, b, sluice.ListVersionsOptions{MaxKeys: 1000}))); diff != "" {
		t.Errorf("after a second suspended write (-want +got):\n%s", diff)
	}
	if got, _ := getVersion(t, s, b, "k", sluice.NullVersionID); string(got) != "null again" {
		t.Errorf("null version reads %q", got)
	}

	// A delete replaces the null version with a null delete marker.
	res := deleteVersion(t, s, b, "k", "")
	if res != (sluice.DeleteResult{VersionID: sluice.NullVersionID, DeleteMarker: true}) {
		t.Errorf("DeleteVersion while suspended = %+v", res)
	}
	want = []vEntry{{"k", "null", true, true, ""}, {"k", v1.VersionID, false, false, v1.ETag}}
	if diff := cmp.Diff(want, entries(listVersions(t, s, b, sluice.ListVersionsOptions{MaxKeys: 1000}))); diff != "" {
		t.Errorf("after a suspended delete (-want +got):\n%s", diff)
	}
	info, err := s.HeadVersion(ctx, b, "k", sluice.NullVersionID)
	wantCode(t, "HeadVersion(null marker)", err, sluice.ErrMethodNotAllowed)
	if !info.DeleteMarker || info.VersionID != sluice.NullVersionID {
		t.Errorf("HeadVersion(null marker) = %+v", info)
	}
	// A write replaces the null marker.
	n3 := put(t, s, b, "k", []byte("back"))
	want = []vEntry{{"k", "null", false, true, n3.ETag}, {"k", v1.VersionID, false, false, v1.ETag}}
	if diff := cmp.Diff(want, entries(listVersions(t, s, b, sluice.ListVersionsOptions{MaxKeys: 1000}))); diff != "" {
		t.Errorf("after a suspended write over the null marker (-want +got):\n%s", diff)
	}

	// Enabled again: the null version becomes noncurrent and stays.
	setVersioning(t, s, b, sluice.VersioningEnabled)
	v2 := put(t, s, b, "k", []byte("two"))
	want = []vEntry{{"k", v2.VersionID, false, true, v2.ETag}, {"k", "null", false, false, n3.ETag}, {"k", v1.VersionID, false, false, v1.ETag}}
	if diff := cmp.Diff(want, entries(listVersions(t, s, b, sluice.ListVersionsOptions{MaxKeys: 1000}))); diff != "" {
		t.Errorf("after enabling again (-want +got):\n%s", diff)
	}
	// Suspended with a noncurrent null: a write removes it and is current.
	setVersioning(t, s, b, sluice.VersioningSuspended)
	n4 := put(t, s, b, "k", []byte("four"))
	want = []vEntry{{"k", "null", false, true, n4.ETag}, {"k", v2.VersionID, false, false, v2.ETag}, {"k", v1.VersionID, false, false, v1.ETag}}
	if diff := cmp.Diff(want, entries(listVersions(t, s, b, sluice.ListVersionsOptions{MaxKeys: 1000}))); diff != "" {
		t.Errorf("suspended write with a noncurrent null (-want +got):\n%s", diff)
	}
	// A suspended delete of a key whose current version is not null keeps
	// that version and adds the null marker.
	setVersioning(t, s, b, sluice.VersioningEnabled)
	v3 := put(t, s, b, "k", []byte("five"))
	setVersioning(t, s, b, sluice.VersioningSuspended)
	deleteVersion(t, s, b, "k", "")
	want = []vEntry{{"k", "null", true, true, ""}, {"k", v3.VersionID, false, false, v3.ETag}, {"k", v2.VersionID, false, false, v2.ETag}, {"k", v1.VersionID, false, false, v1.ETag}}
	if diff := cmp.Diff(want, entries(listVersions(t, s, b, sluice.ListVersionsOptions{MaxKeys: 1000}))); diff != "" {
		t.Errorf("suspended delete over a versioned current (-want +got):\n%s", diff)
	}
}

func testVersionTags(t *testing.T, s sluice.Store) {
	ctx := context.Background()
	b := versionedBucket(t, s)
	v1 := put(t, s, b, "k", []byte("one"))
	v2 := put(t, s, b, "k", []byte("two"))
	tags := []sluice.Tag{{Key: "z", Value: "1"}, {Key: "a", Value: "2"}}
	info, err := s.PutVersionTags(ctx, b, "k", v1.VersionID, tags)
	if err != nil {
		t.Fatalf("PutVersionTags(noncurrent): %v", err)
	}
	if info.VersionID != v1.VersionID || !cmp.Equal(info.Meta.Tags, tags) || info.ETag != v1.ETag || !info.LastModified.Equal(v1.LastModified) {
		t.Errorf("PutVersionTags(noncurrent) = %+v", info)
	}
	if h, _ := s.HeadVersion(ctx, b, "k", v1.VersionID); !cmp.Equal(h.Meta.Tags, tags) {
		t.Errorf("noncurrent tags = %v", h.Meta.Tags)
	}
	if h, _ := s.HeadObject(ctx, b, "k"); h.Meta.Tags != nil || h.VersionID != v2.VersionID {
		t.Errorf("current after tagging a noncurrent version: %+v", h)
	}
	// "" is the current version, and PutObjectTags too.
	if info, err := s.PutVersionTags(ctx, b, "k", "", tags[:1]); err != nil || info.VersionID != v2.VersionID || len(info.Meta.Tags) != 1 {
		t.Errorf("PutVersionTags(\"\") = %+v, %v", info, err)
	}
	if info, err := s.PutObjectTags(ctx, b, "k", nil); err != nil || info.Meta.Tags != nil || info.VersionID != v2.VersionID {
		t.Errorf("PutObjectTags(nil) = %+v, %v", info, err)
	}
	if info, err := s.PutVersionTags(ctx, b, "k", v2.VersionID, tags); err != nil || !cmp.Equal(info.Meta.Tags, tags) {
		t.Errorf("PutVersionTags(current by id) = %+v, %v", info, err)
	}
	if got, info := getVersion(t, s, b, "k", v1.VersionID); string(got) != "one" || !cmp.Equal(info.Meta.Tags, tags) {
		t.Errorf("OpenVersion after tagging = %q %v", got, info.Meta.Tags)
	}
	_, err = s.PutVersionTags(ctx, b, "k", wellFormedUnknownID, tags)
	wantCode(t, "PutVersionTags(unknown)", err, sluice.ErrNoSuchVersion)
	_, err = s.PutVersionTags(ctx, b, "k", "??", tags)
	wantCode(t, "PutVersionTags(malformed)", err, sluice.ErrInvalidArgument)
}

func testVersionsConditions(t *testing.T, s sluice.Store) {
	ctx := context.Background()
	b := versionedBucket(t, s)
	v1 := put(t, s, b, "k", []byte("one"))
	putC := func(c sluice.Conditions) (sluice.ObjectInfo, error) {
		return s.PutObject(ctx, &sluice.PutObjectInput{Bucket: b, Key: "k", Body: strings.NewReader("new"), Size: 3, Conditions: c})
	}
	_, err := putC(sluice.Conditions{IfNoneMatch: "*"})
	wantCode(t, "If-None-Match over a current version", err, sluice.ErrPreconditionFailed)
	info, err := putC(sluice.Conditions{IfMatch: v1.ETag})
	if err != nil || info.VersionID == v1.VersionID {
		t.Fatalf("If-Match on the current ETag = %+v, %v", info, err)
	}
	// The noncurrent version's ETag no longer matches.
	if _, err := putC(sluice.Conditions{IfMatch: `"` + strings.Repeat("0", 32) + `"`}); !sluice.IsCode(err, sluice.ErrPreconditionFailed) {
		t.Errorf("If-Match on a stale ETag: %v", err)
	}
	// A delete marker as the latest version means no current object.
	deleteVersion(t, s, b, "k", "")
	_, err = putC(sluice.Conditions{IfMatch: "*"})
	wantCode(t, "If-Match under a marker", err, sluice.ErrNoSuchKey)
	if _, err := putC(sluice.Conditions{IfNoneMatch: "*"}); err != nil {
		t.Errorf("If-None-Match under a marker: %v", err)
	}
	if n := len(listVersions(t, s, b, sluice.ListVersionsOptions{MaxKeys: 1000})); n != 4 {
		t.Errorf("%d versions, want 4 (one, new, marker, new)", n)
	}
}

func testVersionsDeleteBucket(t *testing.T, s sluice.Store) {
	ctx := context.Background()
	b := versionedBucket(t, s)
	v := put(t, s, b, "k", []byte("x"))
	m := deleteVersion(t, s, b, "k", "")
	// Only a noncurrent version and a marker remain: not empty.
	if page, _ := s.ListObjects(ctx, b, sluice.ListOptions{MaxKeys: 10}); len(page.Objects) != 0 {
		t.Fatalf("ListObjects = %+v", page.Objects)
	}
	wantCode(t, "DeleteBucket with a version and a marker", s.DeleteBucket(ctx, b), sluice.ErrBucketNotEmpty)
	deleteVersion(t, s, b, "k", v.VersionID)
	wantCode(t, "DeleteBucket with a marker", s.DeleteBucket(ctx, b), sluice.ErrBucketNotEmpty)
	deleteVersion(t, s, b, "k", m.VersionID)
	if err := s.DeleteBucket(ctx, b); err != nil {
		t.Errorf("DeleteBucket after removing every version: %v", err)
	}
}

// testVersionsConcurrent writes and deletes one key from many goroutines:
// every write's version must survive with its own bytes.
func testVersionsConcurrent(t *testing.T, s sluice.Store) {
	ctx := context.Background()
	b := versionedBucket(t, s)
	const writers, each = 8, 10
	type wrote struct {
		id   string
		body string
	}
	var (
		mu  sync.Mutex
		all []wrote
		wg  sync.WaitGroup
	)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				body := fmt.Sprintf("writer %d write %d", w, i)
				if i%4 == 3 {
					res, err := s.DeleteVersion(ctx, b, "k", "")
					if err != nil {
						t.Errorf("DeleteVersion: %v", err)
						return
					}
					mu.Lock()
					all = append(all, wrote{res.VersionID, ""})
					mu.Unlock()
					continue
				}
				info, err := s.PutObject(ctx, &sluice.PutObjectInput{Bucket: b, Key: "k", Body: strings.NewReader(body), Size: int64(len(body))})
				if err != nil {
					t.Errorf("PutObject: %v", err)
					return
				}
				mu.Lock()
				all = append(all, wrote{info.VersionID, body})
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	lv := listVersions(t, s, b, sluice.ListVersionsOptions{MaxKeys: 7})
	if len(lv) != len(all) {
		t.Fatalf("%d versions listed, %d written", len(lv), len(all))
	}
	ids := map[string]bool{}
	for i, v := range lv {
		ids[v.VersionID] = true
		if v.IsLatest != (i == 0) {
			t.Errorf("version %d IsLatest %v", i, v.IsLatest)
		}
		if i > 0 && v.LastModified.After(lv[i-1].LastModified) {
			t.Errorf("version %d is newer than version %d", i, i-1)
		}
	}
	for _, w := range all {
		if !ids[w.id] {
			t.Errorf("version %q not listed", w.id)
			continue
		}
		if w.body == "" {
			continue
		}
		if got, _ := getVersion(t, s, b, "k", w.id); string(got) != w.body {
			t.Errorf("version %s reads %q, want %q", w.id, got, w.body)
		}
	}
}

// vEntry is what the listing tests compare of a listed version.
type vEntry struct {
	Key      string
	ID       string
	Marker   bool
	IsLatest bool
	ETag     string
}

func entries(vs []sluice.ObjectInfo) []vEntry {
	out := make([]vEntry, 0, len(vs))
	for _, v := range vs {
		out = append(out, vEntry{v.Key, v.VersionID, v.DeleteMarker, v.IsLatest, v.ETag})
	}
	return out
}

// listVersions pages through ListVersions and checks the paging contract.
func listVersions(t *testing.T, s sluice.Store, bucket string, opts sluice.ListVersionsOptions) []sluice.ObjectInfo {
	t.Helper()
	out, _ := listVersionPages(t, s, bucket, opts)
	return out
}

func listVersionPages(t *testing.T, s sluice.Store, bucket string, opts sluice.ListVersionsOptions) ([]sluice.ObjectInfo, []string) {
	t.Helper()
	var (
		versions []sluice.ObjectInfo
		prefixes []string
	)
	for pages := 0; ; pages++ {
		page, err := s.ListVersions(context.Background(), bucket, opts)
		if err != nil {
			t.Fatalf("ListVersions(%+v): %v", opts, err)
		}
		if n := len(page.Versions) + len(page.CommonPrefixes); n > opts.MaxKeys {
			t.Fatalf("page has %d entries, MaxKeys %d", n, opts.MaxKeys)
		}
		versions = append(versions, page.Versions...)
		prefixes = append(prefixes, page.CommonPrefixes...)
		if !page.IsTruncated {
			return versions, prefixes
		}
		if page.NextKeyMarker == "" {
			t.Fatalf("truncated page without NextKeyMarker (%+v)", opts)
		}
		opts.KeyMarker, opts.VersionIDMarker = page.NextKeyMarker, page.NextVersionIDMarker
		if pages > 10000 {
			t.Fatal("listing does not terminate")
		}
	}
}

// versionModel is what a test wrote: each key's versions, newest first.
type versionModel map[string][]vEntry

// page computes the page S3 would return for opts, independently of the
// store: every entry in order, then markers, prefix and delimiter applied.
func (m versionModel) page(opts sluice.ListVersionsOptions) sluice.VersionsPage {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var all []vEntry
	for _, k := range keys {
		all = append(all, m[k]...)
	}
	start := 0
	if opts.KeyMarker != "" {
		start = len(all)
		for i, e := range all {
			if e.Key > opts.KeyMarker {
				start = i
				break
			}
		}
		if opts.VersionIDMarker != "" {
			for i, e := range all {
				if e.Key == opts.KeyMarker && e.ID == opts.VersionIDMarker {
					start = i + 1
					break
				}
			}
		}
	}
	var page sluice.VersionsPage
	count, lastCP := 0, ""
	for _, e := range all[start:] {
		if !strings.HasPrefix(e.Key, opts.Prefix) {
			continue
		}
		cp := ""
		if opts.Delimiter != "" {
			if i := strings.Index(e.Key[len(opts.Prefix):], opts.Delimiter); i >= 0 {
				cp = e.Key[:len(opts.Prefix)+i+len(opts.Delimiter)]
				if cp == lastCP || cp <= opts.KeyMarker {
					continue
				}
			}
		}
		if count == opts.MaxKeys {
			page.IsTruncated = true
			break
		}
		count++
		if cp != "" {
			lastCP = cp
			page.CommonPrefixes = append(page.CommonPrefixes, cp)
			page.NextKeyMarker, page.NextVersionIDMarker = cp, ""
			continue
		}
		page.Versions = append(page.Versions, sluice.ObjectInfo{Key: e.Key, VersionID: e.ID, DeleteMarker: e.Marker, IsLatest: e.IsLatest, ETag: e.ETag})
		page.NextKeyMarker, page.NextVersionIDMarker = e.Key, e.ID
	}
	if !page.IsTruncated {
		page.NextKeyMarker, page.NextVersionIDMarker = "", ""
	}
	return page
}

func testListVersions(t *testing.T, s sluice.Store) {
	b := newBucket(t, s)
	m := versionModel{}
	add := func(key string, e vEntry) {
		e.Key = key
		for i := range m[key] {
			m[key][i].IsLatest = false
		}
		e.IsLatest = true
		m[key] = append([]vEntry{e}, m[key]...)
	}
	write := func(key string) {
		info := put(t, s, b, key, []byte("body of "+key+fmt.Sprint(len(m[key]))))
		id := info.VersionID
		if id == "" {
			id = sluice.NullVersionID
		}
		add(key, vEntry{ID: id, ETag: info.ETag})
	}
	remove := func(key string) {
		res := deleteVersion(t, s, b, key, "")
		add(key, vEntry{ID: res.VersionID, Marker: true})
	}
	// Written before versioning: null versions. Keys with NUL and 0x01
	// bytes check that they sort as keys do.
	for _, k := range []string{"a", "d/1", "d/2/x", "e\x00", "e"} {
		write(k)
	}
	setVersioning(t, s, b, sluice.VersioningEnabled)
	for _, k := range []string{"a", "a", "b", "d/1", "d/1", "d/2/x", "e\x00", "e\x01", "e\x00b", "f/g", "z"} {
		write(k)
	}
	for _, k := range []string{"b", "c", "c", "d/2/x", "e", "z"} {
		remove(k)
	}
	write("z")

	// Every entry in order, unpaged, matches the model.
	full := m.page(sluice.ListVersionsOptions{MaxKeys: 1000})
	got, err := s.ListVersions(context.Background(), b, sluice.ListVersionsOptions{MaxKeys: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(full, got, cmpopts.IgnoreFields(sluice.ObjectInfo{}, "Bucket", "Size", "LastModified", "Meta", "Checksum", "Parts")); diff != "" {
		t.Fatalf("ListVersions (-model +store):\n%s", diff)
	}
	if len(full.Versions) < 20 {
		t.Fatalf("model lists only %d versions", len(full.Versions))
	}

	// Every marker position, with and without prefix and delimiter, and
	// every page size.
	var cases []sluice.ListVersionsOptions
	for _, base := range []sluice.ListVersionsOptions{
		{}, {Delimiter: "/"}, {Prefix: "d/"}, {Prefix: "d/", Delimiter: "/"}, {Prefix: "e"}, {Prefix: "c"}, {Prefix: "nothing"},
	} {
		for _, max := range []int{0, 1, 2, 3, 1000} {
			o := base
			o.MaxKeys = max
			cases = append(cases, o)
			for _, e := range full.Versions {
				o.KeyMarker, o.VersionIDMarker = e.Key, ""
				cases = append(cases, o)
				o.VersionIDMarker = e.VersionID
				cases = append(cases, o)
			}
			for _, km := range []string{"d/", "d/2/", "e\x00a", "zz", "0"} {
				o.KeyMarker, o.VersionIDMarker = km, ""
				cases = append(cases, o)
			}
		}
	}
	ignore := cmpopts.IgnoreFields(sluice.ObjectInfo{}, "Bucket", "Size", "LastModified", "Meta", "Checksum", "Parts")
	for _, o := range cases {
		want := m.page(o)
		got, err := s.ListVersions(context.Background(), b, o)
		if err != nil {
			t.Errorf("ListVersions(%#v): %v", o, err)
			continue
		}
		if diff := cmp.Diff(want, got, ignore, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("ListVersions(%#v) (-model +store):\n%s", o, diff)
		}
	}
	// Paging through with every page size yields the full listing.
	for _, base := range []sluice.ListVersionsOptions{{}, {Delimiter: "/"}, {Prefix: "e"}} {
		wantAll := base
		wantAll.MaxKeys = 1000
		want := m.page(wantAll)
		for _, max := range []int{1, 2, 5} {
			o := base
			o.MaxKeys = max
			vs, cps := listVersionPages(t, s, b, o)
			if diff := cmp.Diff(entries(want.Versions), entries(vs), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("paged by %d (%#v): versions (-want +got):\n%s", max, base, diff)
			}
			if diff := cmp.Diff(want.CommonPrefixes, cps, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("paged by %d (%#v): prefixes (-want +got):\n%s", max, base, diff)
			}
		}
	}

	// Markers carry sizes and ETags only for versions.
	for _, v := range got.Versions {
		if v.DeleteMarker && (v.Size != 0 || v.ETag != "") {
			t.Errorf("marker %+v has a size or ETag", v)
		}
		if v.Bucket != b || v.LastModified.IsZero() {
			t.Errorf("listed version %+v lacks its bucket or time", v)
		}
	}

	// Bad markers.
	ctx := context.Background()
	_, err = s.ListVersions(ctx, b, sluice.ListVersionsOptions{VersionIDMarker: full.Versions[0].VersionID, MaxKeys: 10})
	wantCode(t, "ListVersions(version marker without key marker)", err, sluice.ErrInvalidArgument)
	_, err = s.ListVersions(ctx, b, sluice.ListVersionsOptions{KeyMarker: "a", VersionIDMarker: "bad", MaxKeys: 10})
	wantCode(t, "ListVersions(malformed version marker)", err, sluice.ErrInvalidArgument)
	_, err = s.ListVersions(ctx, "no-such-bucket-"+b, sluice.ListVersionsOptions{MaxKeys: 10})
	wantCode(t, "ListVersions(missing bucket)", err, sluice.ErrNoSuchBucket)

	// A version removed since the page that named it still resumes where
	// it was.
	a := m["a"]
	deleteVersion(t, s, b, "a", a[1].ID)
	page, err := s.ListVersions(ctx, b, sluice.ListVersionsOptions{KeyMarker: "a", VersionIDMarker: a[1].ID, MaxKeys: 2})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Versions) != 2 || page.Versions[0].VersionID != a[2].ID || page.Versions[1].Key != "b" {
		t.Errorf("resume after a removed version = %+v", entries(page.Versions))
	}
}
