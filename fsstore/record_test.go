package fsstore

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/sluicehq/sluice"
)

func TestObjectRecordRoundTrip(t *testing.T) {
	mod := time.Date(2025, 1, 2, 3, 4, 5, 6_000_000, time.UTC)
	tests := []struct {
		name string
		rec  objectRecord
	}{
		{"empty", objectRecord{Files: []string{"f"}, Modified: mod}},
		{"full", objectRecord{
			Files: []string{"a", "b"}, Size: 1 << 40, ETag: `"abc-2"`, Modified: mod,
			Meta: sluice.ObjectMeta{ContentType: "t", ContentEncoding: "e", ContentDisposition: "d", ContentLanguage: "l",
				CacheControl: "c", Expires: "x", StorageClass: "s", WebsiteRedirect: "/w",
				User: map[string]string{"b": "2", "a": "1"}, Tags: []sluice.Tag{{Key: "z", Value: ""}, {Key: "a", Value: "ü"}}},
			Checksum: sluice.Checksums{Algorithm: "CRC32", Value: "AAAAAA==-2", Type: "COMPOSITE"},
			Parts: []sluice.PartInfo{
				{Number: 1, Size: 5 << 20, ETag: `"p1"`, LastModified: mod, Checksum: sluice.Checksums{MD5: []byte{1, 2}, Algorithm: "CRC32", Value: "AAAAAA==", Type: "COMPOSITE"}},
				{Number: 10000, Size: 0, ETag: `"p2"`, LastModified: mod},
			},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v, err := encodeObject(&tc.rec)
			if err != nil {
				t.Fatal(err)
			}
			var got objectRecord
			if err := decodeObject(v, &got); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.rec, got); diff != "" {
				t.Errorf("round trip (-want +got):\n%s", diff)
			}
			files, err := recordFiles(v)
			if err != nil || !cmp.Equal(files, tc.rec.Files) {
				t.Errorf("recordFiles = %q, %v", files, err)
			}
			// Every truncation is an error, never a panic.
			for i := range v {
				if err := decodeObject(v[:i], new(objectRecord)); err == nil {
					t.Errorf("decoding %d of %d bytes succeeded", i, len(v))
				}
			}
		})
	}
}

// FuzzDecodeRecord feeds arbitrary bytes to the record decoders: they must
// fail cleanly, and whatever they accept must encode back to a record that
// decodes the same.
func FuzzDecodeRecord(f *testing.F) {
	rec := objectRecord{Files: []string{"x"}, Size: 3, ETag: `"e"`, Meta: sluice.ObjectMeta{User: map[string]string{"k": "v"}}}
	v, _ := encodeObject(&rec)
	f.Add(v)
	p, _ := encodePart(&partRecord{File: "f", Size: 1, ETag: `"p"`})
	f.Add(p)
	f.Add([]byte{1, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, b []byte) {
		var r objectRecord
		if decodeObject(b, &r) == nil {
			v, err := encodeObject(&r)
			if err != nil {
				t.Fatal(err)
			}
			var again objectRecord
			if err := decodeObject(v, &again); err != nil || !cmp.Equal(r, again) {
				t.Fatalf("re-decoded record differs: %v", err)
			}
		}
		var pr partRecord
		decodePart(b, &pr)
		recordFiles(b)
	})
}
