package notify

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/awsevent"
)

func TestBatches(t *testing.T) {
	payload := func(key string) []byte {
		b, err := awsevent.NewS3Event(sluice.Event{Bucket: "b", Key: key, Name: sluice.EventObjectCreatedPut, Time: time.Unix(0, 0)},
			awsevent.S3Rule{ConfigurationID: "r"}).MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	job := func(kind, bucket, rule string, batch int, key string) firstAttempt {
		return firstAttempt{batch: batch, d: &Delivery{ID: key, Kind: kind, Bucket: bucket, RuleID: rule, Key: key, Payload: payload(key)}}
	}
	tests := []struct {
		name string
		jobs []firstAttempt
		want [][]string // delivery ids per group
	}{
		{"one per POST by default",
			[]firstAttempt{job("webhook", "b", "r", 1, "a"), job("webhook", "b", "r", 1, "b")},
			[][]string{{"a"}, {"b"}}},
		{"a batched rule shares POSTs up to its size",
			[]firstAttempt{job("webhook", "b", "r", 2, "a"), job("webhook", "b", "r", 2, "b"), job("webhook", "b", "r", 2, "c")},
			[][]string{{"a", "b"}, {"c"}}},
		{"rules and buckets do not mix",
			[]firstAttempt{job("webhook", "b", "r", 5, "a"), job("webhook", "b", "s", 5, "b"), job("webhook", "c", "r", 5, "c"), job("webhook", "b", "r", 5, "d")},
			[][]string{{"a", "d"}, {"b"}, {"c"}}},
		{"functions go alone",
			[]firstAttempt{job("lambda", "b", "r", 5, "a"), job("lambda", "b", "r", 5, "b")},
			[][]string{{"a"}, {"b"}}},
		{"a payload of another shape goes alone",
			[]firstAttempt{job("webhook", "b", "r", 5, "a"), {batch: 5, d: &Delivery{ID: "x", Kind: "webhook", Bucket: "b", RuleID: "r", Payload: []byte(`{"x":1}`)}}, job("webhook", "b", "r", 5, "b")},
			[][]string{{"a", "b"}, {"x"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got [][]string
			for _, g := range batches(tc.jobs) {
				var ids []string
				for _, j := range g {
					ids = append(ids, j.d.ID)
				}
				got = append(got, ids)
			}
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Fatalf("groups (-want +got):\n%s", d)
			}
		})
	}
}

// TestGroupBodyIsOneMessage checks that a batched POST body is one S3
// event message whose records are those of its deliveries, in order.
func TestGroupBodyIsOneMessage(t *testing.T) {
	var g []firstAttempt
	for i := range 3 {
		key := fmt.Sprintf("dir/k %d.jpg", i)
		p, err := awsevent.NewS3Event(sluice.Event{Bucket: "b", Key: key, Name: sluice.EventObjectCreatedPut, Time: time.Unix(0, 0), Size: int64(i)},
			awsevent.S3Rule{ConfigurationID: "r"}).MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		g = append(g, firstAttempt{batch: 3, d: &Delivery{ID: fmt.Sprint(i), Kind: "webhook", Bucket: "b", RuleID: "r", Payload: p}})
	}
	body, ids := groupBody(g)
	if ids != "0,1,2" {
		t.Fatalf("ids %q", ids)
	}
	var m struct {
		Records []struct {
			S3 struct {
				Object struct {
					Key  string
					Size int64
				}
			} `json:"s3"`
		}
	}
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("body %s: %v", body, err)
	}
	if len(m.Records) != 3 {
		t.Fatalf("%d records", len(m.Records))
	}
	for i, r := range m.Records {
		if want := strings.ReplaceAll(fmt.Sprintf("dir/k %d.jpg", i), " ", "+"); r.S3.Object.Key != want || r.S3.Object.Size != int64(i) {
			t.Errorf("record %d: key %q size %d", i, r.S3.Object.Key, r.S3.Object.Size)
		}
	}
}
