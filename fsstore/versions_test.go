package fsstore

import (
	"bytes"
	"cmp"
	"context"
	"encoding/base64"
	"encoding/binary"
	"math"
	"strings"
	"testing"

	"github.com/sluicehq/sluice"
)

// FuzzVersionID checks the version id decoder: it accepts exactly the
// 32-character URL-safe strings, never panics, and reads back the counter
// of every id newVersionID issues.
func FuzzVersionID(f *testing.F) {
	for _, s := range []string{"", "null", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "____________________________----",
		strings.Repeat("A", 31), strings.Repeat("A", 33), strings.Repeat("A", 30) + "\n\n", strings.Repeat("=", 32),
		"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==", newVersionID(1), newVersionID(math.MaxUint64)} {
		f.Add(s, uint64(len(s)))
	}
	f.Fuzz(func(t *testing.T, id string, counter uint64) {
		n, ok := parseVersionID(id)
		wantOK := len(id) == versionIDLen && strings.Trim(id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") == ""
		if ok != wantOK {
			t.Fatalf("parseVersionID(%q) ok = %v, want %v", id, ok, wantOK)
		}
		if ok {
			b, err := base64.RawURLEncoding.DecodeString(id)
			if err != nil || len(b) != 24 || base64.RawURLEncoding.EncodeToString(b) != id {
				t.Fatalf("accepted %q is not canonical base64 of 24 bytes", id)
			}
			if want := binary.BigEndian.Uint64(b[16:]) ^ binary.BigEndian.Uint64(b[:8]); n != want {
				t.Fatalf("parseVersionID(%q) = %d, want %d", id, n, want)
			}
		}
		if err := checkVersionID(id); (err == nil) != (ok || id == "" || id == "null") {
			t.Fatalf("checkVersionID(%q) = %v", id, err)
		}
		issued := newVersionID(counter)
		if got, ok := parseVersionID(issued); !ok || got != counter {
			t.Fatalf("parseVersionID(newVersionID(%d)) = %d, %v", counter, got, ok)
		}
		if strings.HasPrefix(issued, "-") {
			t.Fatalf("newVersionID(%d) = %q starts with '-'", counter, issued)
		}
	})
}

// TestIDsNotOptions: no version or upload id starts with '-', which a
// command line would take for an option (`aws s3api get-object
// --version-id -xyz` fails); without the check one id in 64 would.
func TestIDsNotOptions(t *testing.T) {
	for i := range 10000 {
		if id := newVersionID(uint64(i)); id[0] == '-' {
			t.Fatalf("newVersionID(%d) = %q", i, id)
		}
		if id := newUploadID(); id[0] == '-' {
			t.Fatalf("newUploadID() = %q", id)
		}
	}
}

// FuzzVersionKey checks the layout of subVersions: keys round-trip, and
// entries sort by key, then newest first, whatever bytes the keys hold.
func FuzzVersionKey(f *testing.F) {
	f.Add("a", uint64(1), "a\x00", uint64(2), []byte("a\x00\x00\x00\x00\x00\x00\x00\x00\x01"))
	f.Add("a\x00b", uint64(5), "a", uint64(3), []byte{1, 1, 0, 1, 2, 3, 4, 5, 6, 7, 8})
	f.Add("e\x01", uint64(0), "e\x00\xff", uint64(math.MaxUint64), []byte{0})
	f.Add("", uint64(7), "x", uint64(7), []byte("x\x01\x03\x00abcdefgh"))
	f.Fuzz(func(t *testing.T, a string, ca uint64, b string, cb uint64, raw []byte) {
		for _, kc := range []struct {
			k string
			c uint64
		}{{a, ca}, {b, cb}} {
			k, c, ok := parseVersionKey(versionKey(kc.k, kc.c))
			if !ok || k != kc.k || c != kc.c {
				t.Fatalf("round trip of (%q, %d) = (%q, %d, %v)", kc.k, kc.c, k, c, ok)
			}
			if !bytes.HasPrefix(versionKey(kc.k, kc.c), versionPrefix(kc.k)) {
				t.Fatalf("versionKey(%q) does not start with its prefix", kc.k)
			}
		}
		want := cmp.Or(strings.Compare(a, b), cmp.Compare(cb, ca))
		if got := bytes.Compare(versionKey(a, ca), versionKey(b, cb)); got != want {
			t.Fatalf("order of (%q, %d) and (%q, %d) = %d, want %d", a, ca, b, cb, got, want)
		}
		// Seeking to an escaped key lands before all of its entries and
		// after every smaller key's.
		if seek := appendEscaped(nil, a); (bytes.Compare(seek, versionKey(b, cb)) <= 0) != (a <= b) {
			t.Fatalf("seek to %q vs entry of %q misordered", a, b)
		}
		// Arbitrary bytes parse, or are refused, without panicking; what
		// parses is the one encoding of its key and counter.
		if k, c, ok := parseVersionKey(raw); ok && !bytes.Equal(versionKey(k, c), raw) {
			t.Fatalf("parseVersionKey(%q) = (%q, %d), which encodes differently", raw, k, c)
		}
	})
}

func TestObjectRecordVersions(t *testing.T) {
	for _, r := range []objectRecord{
		{Size: 3, ETag: `"x"`, Files: []string{"f"}},
		{Size: 3, ETag: `"x"`, Version: 9, VersionID: "null"},
		{Marker: true, Version: math.MaxUint64, VersionID: newVersionID(math.MaxUint64)},
	} {
		v, err := encodeObject(&r)
		if err != nil {
			t.Fatal(err)
		}
		if want := byte(objectRecordV1); r.Version != 0 && v[0] == want {
			t.Errorf("versioned record encoded as V1")
		}
		if r.Version == 0 && v[0] != objectRecordV1 {
			t.Errorf("unversioned record encoded as V%d", v[0])
		}
		got := objectRecord{Version: 1, VersionID: "stale", Marker: true}
		if err := decodeObject(v, &got); err != nil {
			t.Fatal(err)
		}
		if got.Version != r.Version || got.VersionID != r.VersionID || got.Marker != r.Marker || got.Size != r.Size {
			t.Errorf("decoded %+v, want %+v", got, r)
		}
		files, err := recordFiles(v)
		if err != nil || len(files) != len(r.Files) {
			t.Errorf("recordFiles = %v, %v", files, err)
		}
	}
}

// TestFanoutIntoVersionedBucket: a Fanout's link into an Enabled bucket
// is a new version there, carried by the source's ObjectInfo and the
// copy's event, and the previous copy stays as a noncurrent version; the
// source's own version id reaches the Fanout.
func TestFanoutIntoVersionedBucket(t *testing.T) {
	ctx := context.Background()
	s := openEvents(t, "src", "dst")
	for _, b := range []string{"src", "dst"} {
		if err := s.SetVersioning(ctx, b, sluice.VersioningEnabled); err != nil {
			t.Fatal(err)
		}
	}
	var seen []string
	s.SetFanout(func(tx *FanoutTx, obj sluice.ObjectInfo, _ string) error {
		seen = append(seen, obj.VersionID)
		_, _, err := tx.Link("dst", sluice.ObjectMeta{})
		return err
	})
	var src []sluice.ObjectInfo
	for _, body := range []string{"one", "two"} {
		info, err := s.PutObject(ctx, &sluice.PutObjectInput{Bucket: "src", Key: "k", Body: strings.NewReader(body), Size: int64(len(body))})
		if err != nil {
			t.Fatal(err)
		}
		src = append(src, info)
	}
	if len(seen) != 2 || seen[0] != src[0].VersionID || seen[1] != src[1].VersionID {
		t.Errorf("Fanout saw version ids %q, writes returned %q and %q", seen, src[0].VersionID, src[1].VersionID)
	}
	page, err := s.ListVersions(ctx, "dst", sluice.ListVersionsOptions{MaxKeys: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Versions) != 2 || page.Versions[0].ETag != src[1].ETag || page.Versions[1].ETag != src[0].ETag {
		t.Fatalf("dst versions = %+v", page.Versions)
	}
	for _, v := range page.Versions {
		if v.VersionID == src[0].VersionID || v.VersionID == src[1].VersionID {
			t.Errorf("copy has its source's version id %s", v.VersionID)
		}
	}
	evs, err := s.ReadEvents(ctx, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	var dstIDs []string
	for _, e := range evs {
		if e.Bucket == "dst" {
			dstIDs = append(dstIDs, e.VersionID)
		}
	}
	if len(dstIDs) != 2 || dstIDs[0] != page.Versions[1].VersionID || dstIDs[1] != page.Versions[0].VersionID {
		t.Errorf("dst events carry %q, versions are %s then %s", dstIDs, page.Versions[1].VersionID, page.Versions[0].VersionID)
	}
	if got := readAll(t, s, "dst", "k"); string(got) != "two" {
		t.Errorf("dst reads %q", got)
	}
}

// TestLinkVersionSource: LinkObject with a version id links that version,
// current or not, and refuses markers, removed versions and changed ETags
// with the errors a caller falls back on.
func TestLinkVersionSource(t *testing.T) {
	ctx := context.Background()
	s := openEvents(t, "src", "dst")
	if err := s.SetVersioning(ctx, "src", sluice.VersioningEnabled); err != nil {
		t.Fatal(err)
	}
	put := func(body string) sluice.ObjectInfo {
		info, err := s.PutObject(ctx, &sluice.PutObjectInput{Bucket: "src", Key: "k", Body: strings.NewReader(body), Size: int64(len(body))})
		if err != nil {
			t.Fatal(err)
		}
		return info
	}
	v1 := put("one")
	put("two")
	link := func(src sluice.ObjectInfo) error {
		_, err := s.LinkObject(ctx, src, &sluice.PutObjectInput{Bucket: "dst", Key: "copy"})
		return err
	}
	if err := link(v1); err != nil {
		t.Fatalf("link of a noncurrent version: %v", err)
	}
	if got := readAll(t, s, "dst", "copy"); string(got) != "one" {
		t.Errorf("copy of v1 reads %q", got)
	}
	res, err := s.DeleteVersion(ctx, "src", "k", "")
	if err != nil {
		t.Fatal(err)
	}
	stale := v1
	stale.ETag = `"00000000000000000000000000000000"`
	marker := sluice.ObjectInfo{Bucket: "src", Key: "k", VersionID: res.VersionID}
	gone := sluice.ObjectInfo{Bucket: "src", Key: "k", VersionID: newVersionID(1 << 40), ETag: v1.ETag}
	current := sluice.ObjectInfo{Bucket: "src", Key: "k", ETag: v1.ETag}
	bad := v1
	bad.VersionID = "bad"
	for _, tc := range []struct {
		name string
		src  sluice.ObjectInfo
		code sluice.Code
	}{
		{"changed ETag", stale, sluice.ErrPreconditionFailed},
		{"delete marker", marker, sluice.ErrNoSuchKey},
		{"no such version", gone, sluice.ErrNoSuchKey},
		{"current is a marker", current, sluice.ErrNoSuchKey},
		{"malformed id", bad, sluice.ErrInvalidArgument},
	} {
		if err := link(tc.src); !sluice.IsCode(err, tc.code) {
			t.Errorf("%s: %v, want %s", tc.name, err, tc.code)
		}
	}
}
