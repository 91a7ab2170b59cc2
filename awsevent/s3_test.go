package awsevent

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"
	"github.com/google/go-cmp/cmp"

	"github.com/sluicehq/sluice"
)

func baseEvent() sluice.Event {
	return sluice.Event{
		Seq:       7,
		Name:      sluice.EventObjectCreatedPut,
		Time:      time.Date(2026, 1, 2, 3, 4, 5, 678_901_234, time.UTC),
		Region:    "eu-west-1",
		Bucket:    "photos",
		Key:       "albums/summer 2025/cat (1)+dog=1.jpg",
		Size:      1305107,
		ETag:      `"b21b84d653bb07b05b1e6b33684dc11b"`,
		Sequencer: "0065A1B2C3D4E5F601",
		Request: sluice.RequestInfo{
			ID:        "D82B88E5F771F645",
			HostID:    "vlR7PnpV2Ce81l0PRw6jlUpck7Jo5ZsQjryTjKlc5aLWGVHPZLj5NeC6qMa0emYBDXOo6QBU0Wo=",
			SourceIP:  "192.0.2.10",
			Principal: "test",
		},
	}
}

func TestS3EventGolden(t *testing.T) {
	rule := S3Rule{ConfigurationID: "resize-on-upload"}
	tests := []struct {
		name   string
		golden string
		edit   func(e *sluice.Event)
		// example, when set, is the AWS document whose structure ours must match.
		example string
	}{
		{name: "put", golden: "s3-put.json", example: "aws-s3-put-example.json", edit: func(e *sluice.Event) {}},
		{name: "empty object keeps size 0", golden: "s3-put-empty.json", example: "aws-s3-put-example.json", edit: func(e *sluice.Event) {
			e.Size, e.ETag, e.Key = 0, "d41d8cd98f00b204e9800998ecf8427e", "empty"
		}},
		{name: "versioned copy", golden: "s3-copy-versioned.json", edit: func(e *sluice.Event) {
			e.Name, e.VersionID = sluice.EventObjectCreatedCopy, "3HL4kqtJlcpXroDTDmjVBH40Nrjfkd"
		}},
		{name: "multipart anonymous", golden: "s3-complete-anonymous.json", edit: func(e *sluice.Event) {
			e.Name, e.Request.Principal = sluice.EventObjectCreatedComplete, ""
		}},
		{name: "delete", golden: "s3-delete.json", edit: func(e *sluice.Event) {
			e.Name, e.Size, e.ETag = sluice.EventObjectRemovedDelete, 0, ""
		}},
		{name: "delete marker", golden: "s3-delete-marker.json", edit: func(e *sluice.Event) {
			e.Name, e.VersionID = sluice.EventObjectRemovedMarker, "null"
		}},
		{name: "tagging", golden: "s3-tagging.json", edit: func(e *sluice.Event) {
			e.Name = sluice.EventObjectTaggingPut
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := baseEvent()
			tt.edit(&e)
			got := golden(t, tt.golden, NewS3Event(e, rule))
			if tt.example != "" {
				sameShape(t, tt.example, got)
			}
		})
	}
}

func TestS3RecordFields(t *testing.T) {
	e := baseEvent()
	rec := S3Record(e, S3Rule{ConfigurationID: "rule-1", OwnerID: "A3I5XTEXAMAI3E"})
	b, err := json.Marshal(NewS3Event(e, S3Rule{ConfigurationID: "rule-1", OwnerID: "A3I5XTEXAMAI3E"}))
	if err != nil {
		t.Fatal(err)
	}
	var raw struct {
		Records []map[string]any
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	r := raw.Records[0]
	obj := r["s3"].(map[string]any)["object"].(map[string]any)
	checks := []struct{ name, got, want string }{
		{"eventTime has exactly milliseconds", r["eventTime"].(string), "2026-01-02T03:04:05.678Z"},
		{"eventName has no s3: prefix", r["eventName"].(string), "ObjectCreated:Put"},
		{"principal", r["userIdentity"].(map[string]any)["principalId"].(string), "AWS:test"},
		{"key form-encoded, slash kept", obj["key"].(string), "albums/summer+2025/cat+%281%29%2Bdog%3D1.jpg"},
		{"etag unquoted", obj["eTag"].(string), "b21b84d653bb07b05b1e6b33684dc11b"},
		{"owner", rec.S3.Bucket.OwnerIdentity.PrincipalID, "A3I5XTEXAMAI3E"},
		{"arn", rec.S3.Bucket.Arn, "arn:aws:s3:::photos"},
		{"configurationId", rec.S3.ConfigurationID, "rule-1"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: got %q, want %q", c.name, c.got, c.want)
		}
	}
	for _, absent := range []string{"versionId", "urlDecodedKey"} {
		if _, ok := obj[absent]; ok {
			t.Errorf("object has %q, which S3 leaves out here", absent)
		}
	}
	if got := obj["size"].(float64); got != 1305107 {
		t.Errorf("size = %v", got)
	}
}

// A handler written with aws-lambda-go must see the record it would see on AWS.
func TestS3EventDecodesWithLambdaTypes(t *testing.T) {
	e := baseEvent()
	e.VersionID = "v1"
	b, err := json.Marshal(NewS3Event(e, S3Rule{ConfigurationID: "c"}))
	if err != nil {
		t.Fatal(err)
	}
	var got events.S3Event
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	want := events.S3Event(NewS3Event(e, S3Rule{ConfigurationID: "c"}))
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("round trip through events.S3Event (-want +got):\n%s", diff)
	}
	if got.Records[0].S3.Object.URLDecodedKey != e.Key {
		t.Errorf("URLDecodedKey = %q, want %q", got.Records[0].S3.Object.URLDecodedKey, e.Key)
	}
}

func TestEncodeS3Key(t *testing.T) {
	tests := []struct{ key, want string }{
		{"red flower.jpg", "red+flower.jpg"},
		{"a/b/c.txt", "a/b/c.txt"},
		{"dt=2018-05-04/_SUCCESS", "dt%3D2018-05-04/_SUCCESS"},
		{"test/10:47:07.log", "test/10%3A47%3A07.log"},
		{"c++/notes.txt", "c%2B%2B/notes.txt"},
		{"Slide (1).svs", "Slide+%281%29.svs"},
		{"100%.png", "100%25.png"},
		{"tilde~star*", "tilde%7Estar*"},
		{"ümlaut/日本.jpg", "%C3%BCmlaut/%E6%97%A5%E6%9C%AC.jpg"},
		{"q?a&b#c", "q%3Fa%26b%23c"},
		{"", ""},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			if got := EncodeS3Key(tt.key); got != tt.want {
				t.Errorf("EncodeS3Key(%q) = %q, want %q", tt.key, got, tt.want)
			}
			back, err := DecodeS3Key(tt.want)
			if err != nil || back != tt.key {
				t.Errorf("DecodeS3Key(%q) = %q, %v", tt.want, back, err)
			}
		})
	}
}

func FuzzEncodeS3Key(f *testing.F) {
	for _, s := range []string{"red flower.jpg", "a/b", "%", "+", "ü", "\x00\xff", "dt=1/x y"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, key string) {
		enc := EncodeS3Key(key)
		for i := 0; i < len(enc); i++ {
			c := enc[i]
			if c == ' ' || c == '"' || c == '\\' || c >= 0x7f || c < 0x20 {
				t.Fatalf("EncodeS3Key(%q) = %q holds %q", key, enc, c)
			}
		}
		back, err := DecodeS3Key(enc)
		if err != nil || back != key {
			t.Fatalf("round trip of %q via %q gave %q, %v", key, enc, back, err)
		}
		if utf8.ValidString(key) && !strings.Contains(key, "/") && strings.Contains(enc, "/") {
			t.Fatalf("EncodeS3Key(%q) = %q invents a slash", key, enc)
		}
	})
}

// FuzzS3FastPath checks that MarshalJSON's reflection-free encoding gives
// exactly the bytes of the encoding/json path, for every event name,
// optional field and string it accepts, and that it declines the rest.
func FuzzS3FastPath(f *testing.F) {
	f.Add("ObjectCreated:Put", "photos/a b+c.jpg", "rule-1", "3858f62230ac3c915f300c664312c11f", "", "0055AED6DCD90281E5", int64(1024), int64(1700000000123456789), "AKIDEXAMPLE", "192.0.2.3")
	f.Add("ObjectRemoved:Delete", "k", "", "", "v1", "", int64(0), int64(0), "", "")
	f.Add("ObjectTagging:Put", "ü/ключ", "id with \"quotes\"", "e", "", "s", int64(7), int64(-1), "a", "::1")
	f.Add("ObjectCreated:Copy", "k\n", "c\\d", "e\x00", "\u2028", "<&>", int64(1)<<40, int64(1)<<62, "\xff", "h")
	f.Add("s3:ObjectCreated:Put", "k", "r", `"e"`, "", "s", int64(3), int64(-1)<<63, "", "")
	f.Add("ObjectRemoved:DeleteMarkerCreated", "a/b", "r", "e", "v", "s", int64(3), int64(1)<<62+999, "p", "ip")
	f.Fuzz(func(t *testing.T, name, key, ruleID, etag, version, sequencer string, size, nanos int64, principal, ip string) {
		e := sluice.Event{Bucket: "bucket", Key: key, Name: name, ETag: etag, VersionID: version, Sequencer: sequencer,
			Size: size, Time: time.Unix(0, nanos), Region: "eu-west-1",
			Request: sluice.RequestInfo{Principal: principal, SourceIP: ip, ID: "REQ" + principal, HostID: "host/" + ip}}
		msg := NewS3Event(e, S3Rule{ConfigurationID: ruleID})
		want, err := msg.marshalReflect()
		if err != nil {
			t.Skip()
		}
		got, err := msg.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("fast path:\n%s\nencoding/json:\n%s", got, want)
		}
		fast, ok := appendS3Message(nil, msg.Records)
		if ok && !bytes.Equal(fast, want) {
			t.Fatalf("fast path accepted and differs:\n%s\n%s", fast, want)
		}
		// The direct path, with and without an owner and region, after
		// bytes already in the buffer.
		for _, rule := range []S3Rule{{ConfigurationID: ruleID}, {ConfigurationID: ruleID, OwnerID: principal}} {
			for _, region := range []string{e.Region, ""} {
				e := e
				e.Region = region
				want, err := NewS3Event(e, rule).MarshalJSON()
				if err != nil {
					t.Fatal(err)
				}
				if got := AppendS3Message([]byte("x"), e, rule); !bytes.Equal(got, append([]byte("x"), want...)) {
					t.Fatalf("AppendS3Message:\n%s\nMarshalJSON:\n%s", got, want)
				}
			}
		}
		// Two records, as a batched delivery concatenates them.
		two := S3Event{Records: append(msg.Records, msg.Records...)}
		want2, _ := two.marshalReflect()
		if got2, _ := two.MarshalJSON(); !bytes.Equal(got2, want2) {
			t.Fatalf("two records:\n%s\n%s", got2, want2)
		}
	})
}

func BenchmarkS3EventMarshal(b *testing.B) {
	e := sluice.Event{Bucket: "photos", Key: "uploads/2026/a photo.jpg", Name: sluice.EventObjectCreatedPut, ETag: `"3858f62230ac3c915f300c664312c11f"`,
		Sequencer: "0055AED6DCD90281E5", Size: 1024, Time: time.Now(), Request: sluice.RequestInfo{Principal: "test", SourceIP: "127.0.0.1", ID: "REQ", HostID: "HOST"}}
	msg := NewS3Event(e, S3Rule{ConfigurationID: "rule-1"})
	b.Run("fast", func(b *testing.B) {
		for b.Loop() {
			_, _ = msg.MarshalJSON()
		}
	})
	b.Run("direct", func(b *testing.B) {
		buf := make([]byte, 0, 1024)
		for b.Loop() {
			buf = AppendS3Message(buf[:0], e, S3Rule{ConfigurationID: "rule-1"})
		}
	})
	b.Run("reflect", func(b *testing.B) {
		for b.Loop() {
			_, _ = msg.marshalReflect()
		}
	})
}
