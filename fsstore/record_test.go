package fsstore

import (
	"encoding/json"
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

func TestEventRecordRoundTrip(t *testing.T) {
	at := time.Date(2025, 1, 2, 3, 4, 5, 6_000_000, time.UTC)
	tests := []struct {
		name string
		ev   sluice.Event
	}{
		{"empty", sluice.Event{Time: at}},
		{"full", sluice.Event{
			Seq: 1<<63 + 5, Name: sluice.EventObjectCreatedPut, Time: at, Region: "eu-west-1", Bucket: "b",
			Key: "dir/ключ", Size: 1 << 40, ETag: "abc-2", VersionID: "v", Sequencer: "8000000000000005",
			Request: sluice.RequestInfo{ID: "0123456789ABCDEF", HostID: "h", SourceIP: "127.0.0.1", Principal: "test", Region: "us-east-1"},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := encodeEvent(&tc.ev)
			var got sluice.Event
			if err := decodeEvent(v, &got); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.ev, got); diff != "" {
				t.Errorf("round trip (-want +got):\n%s", diff)
			}
			// An outbox written before events were binary holds JSON.
			js, err := json.Marshal(tc.ev)
			if err != nil {
				t.Fatal(err)
			}
			var old sluice.Event
			if err := decodeEvent(js, &old); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.ev, old); diff != "" {
				t.Errorf("JSON event (-want +got):\n%s", diff)
			}
			for i := range v {
				if err := decodeEvent(v[:i], new(sluice.Event)); err == nil {
					t.Errorf("decoding %d of %d bytes succeeded", i, len(v))
				}
			}
			if err := decodeEvent(append(v, 0), new(sluice.Event)); err == nil {
				t.Error("decoding with a trailing byte succeeded")
			}
		})
	}
}

// FuzzDecodeEvent: the event decoder fails cleanly on arbitrary bytes, and
// what it accepts in binary form encodes back to the same bytes.
func FuzzDecodeEvent(f *testing.F) {
	f.Add(encodeEvent(&sluice.Event{Seq: 7, Name: sluice.EventObjectRemovedDelete, Bucket: "b", Key: "k"}))
	f.Add([]byte(`{"Seq":3,"Key":"k"}`))
	f.Add([]byte{eventRecordV1, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, b []byte) {
		var ev sluice.Event
		if decodeEvent(b, &ev) != nil || (len(b) > 0 && b[0] == '{') {
			return
		}
		if v := encodeEvent(&ev); string(v) != string(b) {
			var again sluice.Event
			if err := decodeEvent(v, &again); err != nil || !cmp.Equal(ev, again) {
				t.Fatalf("re-decoded event differs: %v", err)
			}
		}
	})
}
