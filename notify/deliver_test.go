package notify

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/awsevent"
)

func TestRuleQueues(t *testing.T) {
	payload := func(key string) []byte {
		b, err := awsevent.NewS3Event(sluice.Event{Bucket: "b", Key: key, Name: sluice.EventObjectCreatedPut, Time: time.Unix(0, 0)},
			awsevent.S3Rule{ConfigurationID: "r"}).MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	job := func(kind, bucket, rule string, batch int, key string) firstAttempt {
		return firstAttempt{batch: batch, d: &Delivery{ID: key, Kind: kind, Bucket: bucket, RuleID: rule, Target: "http://h/" + rule, Key: key, Payload: payload(key)}}
	}
	https := func(j firstAttempt) firstAttempt {
		j.d.Target = "https://h/" + j.d.RuleID
		return j
	}
	tests := []struct {
		name  string
		depth int // pipeline depth of one-record rules
		jobs  []firstAttempt
		alone []string   // ids sent on their own
		posts [][]string // ids per write of the queues, queues in order of first record
	}{
		{"one per POST by default", 1,
			[]firstAttempt{job("webhook", "b", "r", 1, "a"), job("webhook", "b", "r", 1, "b")},
			nil, [][]string{{"a"}, {"b"}}},
		{"one-record POSTs to a fast receiver share writes up to the depth", 2,
			[]firstAttempt{job("webhook", "b", "r", 1, "a"), job("webhook", "b", "r", 1, "b"), job("webhook", "b", "r", 1, "c")},
			nil, [][]string{{"a", "b"}, {"c"}}},
		{"https receivers get one-record POSTs through net/http", 2,
			[]firstAttempt{https(job("webhook", "b", "r", 1, "a")), https(job("webhook", "b", "r", 1, "b"))},
			[]string{"a", "b"}, nil},
		{"a batched rule shares POSTs up to its size", 1,
			[]firstAttempt{job("webhook", "b", "r", 2, "a"), job("webhook", "b", "r", 2, "b"), job("webhook", "b", "r", 2, "c")},
			nil, [][]string{{"a", "b"}, {"c"}}},
		{"rules and buckets do not mix", 1,
			[]firstAttempt{job("webhook", "b", "r", 5, "a"), job("webhook", "b", "s", 5, "b"), job("webhook", "c", "r", 5, "c"), job("webhook", "b", "r", 5, "d")},
			nil, [][]string{{"a", "d"}, {"b"}, {"c"}}},
		{"functions go alone", 1,
			[]firstAttempt{job("lambda", "b", "r", 5, "a"), job("lambda", "b", "r", 5, "b")},
			[]string{"a", "b"}, nil},
		{"a payload of another shape goes alone", 1,
			[]firstAttempt{job("webhook", "b", "r", 5, "a"), {batch: 5, d: &Delivery{ID: "x", Kind: "webhook", Bucket: "b", RuleID: "r", Target: "http://h/r", Payload: []byte(`{"x":1}`)}}, job("webhook", "b", "r", 5, "b")},
			[]string{"x"}, [][]string{{"a", "b"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n := &Notifier{}
			var alone []string
			var order []ruleKey
			for _, j := range tc.jobs {
				if !n.queued(j) {
					alone = append(alone, j.d.ID)
					continue
				}
				if k := n.enqueue(j); !slices.Contains(order, k) {
					order = append(order, k)
				}
			}
			var posts [][]string
			for _, k := range order {
				q := n.batches.queues[k]
				for len(q.waiting) > 0 {
					var ids []string
					for _, j := range q.take(tc.depth) {
						ids = append(ids, j.d.ID)
					}
					posts = append(posts, ids)
				}
			}
			if d := cmp.Diff(tc.alone, alone); d != "" {
				t.Errorf("sent alone (-want +got):\n%s", d)
			}
			if d := cmp.Diff(tc.posts, posts); d != "" {
				t.Errorf("batched POSTs (-want +got):\n%s", d)
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

// TestPipelinePace: a receiver is pipelined to once it answered within
// PipelineMaxWait per request, stays so while it is somewhat slower (a
// busy machine), and is not once it is slowFactor times slower, or cut a
// pipeline short.
func TestPipelinePace(t *testing.T) {
	const url = "http://127.0.0.1:9/hook"
	ms := time.Millisecond
	for _, tc := range []struct {
		name  string
		paces []time.Duration
		cut   bool
		depth int
	}{
		{"not yet seen", nil, false, 1},
		{"slow at first", []time.Duration{3 * ms}, false, 1},
		{"fast", []time.Duration{ms / 2}, false, maxPipeline},
		{"fast, then somewhat slower", []time.Duration{ms / 2, 5 * ms}, false, maxPipeline},
		{"fast, then slow", []time.Duration{ms / 2, 11 * ms}, false, 1},
		{"slow, then fast again", []time.Duration{ms / 2, 11 * ms, ms}, false, maxPipeline},
		{"fast but cut a pipeline", []time.Duration{ms / 2}, true, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := &Notifier{cfg: Config{PipelineMaxWait: ms}}
			n.hookTarget(url) // as queueing a record for it does
			for _, p := range tc.paces {
				n.notePace(url, p)
			}
			if tc.cut {
				n.noteSerial(url)
			}
			if got := n.pipelineDepth(url); got != tc.depth {
				t.Errorf("depth %d, want %d", got, tc.depth)
			}
		})
	}
	n := &Notifier{cfg: Config{}}
	n.hookTarget(url)
	n.notePace(url, 0)
	if got := n.pipelineDepth(url); got != 1 {
		t.Errorf("PipelineMaxWait 0: depth %d, want 1 (never pipelined)", got)
	}
}
