package main

import (
	"bufio"
	"bytes"
	"fmt"
	"math"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/sluicehq/sluice/notify"
)

func TestParseRecords(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		want    []string
		wantErr bool
	}{
		{"two records, S3 key encoding", `{"Records":[{"eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"src"},"object":{"key":"a+b%2Fc"}}},` +
			`{"s3":{"bucket":{"name":"src"},"object":{"key":"burst-1KiB/000001"}}}]}`, []string{"src/a b/c", "src/burst-1KiB/000001"}, false},
		{"no records", `{"Records":[]}`, nil, true},
		{"not json", `<xml/>`, nil, true},
		{"no key", `{"Records":[{"s3":{"bucket":{"name":"src"},"object":{}}}]}`, nil, true},
		{"bad escape", `{"Records":[{"s3":{"bucket":{"name":"src"},"object":{"key":"%zz"}}}]}`, nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseRecords([]byte(tc.body))
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tc.wantErr)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("keys (-want +got):\n%s", diff)
			}
		})
	}
}

// TestReceiver posts deliveries signed as the notifier signs them, over
// HTTP to a running receiver, and checks what it records, counts and
// refuses.
func TestReceiver(t *testing.T) {
	r, err := startReceiver("s3cr3t")
	if err != nil {
		t.Fatal(err)
	}
	defer r.close()
	post := func(body, sig string) int {
		req, err := http.NewRequest(http.MethodPost, r.url(), strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if sig != "" {
			req.Header.Set(notify.SignatureHeader, sig)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	rec := `{"Records":[{"s3":{"bucket":{"name":"src"},"object":{"key":"k1"}}}]}`
	if code := post(rec, notify.Sign("s3cr3t", []byte(rec))); code != http.StatusNoContent {
		t.Fatalf("signed delivery: HTTP %d, want 204", code)
	}
	if code := post(rec, notify.Sign("s3cr3t", []byte(rec))); code != http.StatusNoContent {
		t.Fatalf("redelivery: HTTP %d, want 204", code)
	}
	if code := post(rec, notify.Sign("other", []byte(rec))); code != http.StatusForbidden {
		t.Fatalf("wrong secret: HTTP %d, want 403", code)
	}
	if code := post(rec, ""); code != http.StatusForbidden {
		t.Fatalf("unsigned: HTTP %d, want 403", code)
	}
	if code := post("{}", notify.Sign("s3cr3t", []byte("{}"))); code != http.StatusBadRequest {
		t.Fatalf("no records: HTTP %d, want 400", code)
	}
	two := `{"Records":[{"s3":{"bucket":{"name":"src"},"object":{"key":"k3"}}},{"s3":{"bucket":{"name":"src"},"object":{"key":"k4"}}}]}`
	if code := post(two, notify.Sign("s3cr3t", []byte(two))); code != http.StatusNoContent {
		t.Fatalf("two records: HTTP %d, want 204", code)
	}
	posts, recs, most := r.batching("src")
	if diff := cmp.Diff([]int{3, 4, 2}, []int{posts, recs, most}); diff != "" {
		t.Errorf("posts, records, most (-want +got):\n%s", diff)
	}
	records, dups, badSig, badBody := r.stats()
	if diff := cmp.Diff([]int{4, 1, 2, 1}, []int{records, dups, badSig, badBody}); diff != "" {
		t.Errorf("records, dups, badSig, badBody (-want +got):\n%s", diff)
	}
	if got := r.missing([]string{"src/k1", "src/k2"}); got != 1 {
		t.Errorf("missing = %d, want 1", got)
	}
	if got := len(r.arrivals([]string{"src/k1", "src/k2"})); got != 1 {
		t.Errorf("arrivals has %d keys, want 1", got)
	}
}

// TestReceiverPipeline writes several requests in one write, as the
// notifier pipelines them, and reads an answer for each, in order; a
// request it cannot frame gets a 400 and the connection is closed.
func TestReceiverPipeline(t *testing.T) {
	r, err := startReceiver("s3cr3t")
	if err != nil {
		t.Fatal(err)
	}
	defer r.close()
	c, err := net.Dial("tcp", r.ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var reqs bytes.Buffer
	for i, sig := range []string{"s3cr3t", "other", "s3cr3t"} {
		body := fmt.Sprintf(`{"Records":[{"s3":{"bucket":{"name":"src"},"object":{"key":"p%d"}}}]}`, i)
		fmt.Fprintf(&reqs, "POST /hook HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n%s: %s\r\nContent-Length: %d\r\n\r\n%s",
			notify.SignatureHeader, notify.Sign(sig, []byte(body)), len(body), body)
	}
	reqs.WriteString("POST /hook HTTP/1.1\r\nContent-Length: x\r\n\r\n")
	if _, err := c.Write(reqs.Bytes()); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(c)
	var got []int
	for range 4 {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("answer %d: %v", len(got)+1, err)
		}
		resp.Body.Close()
		got = append(got, resp.StatusCode)
	}
	if diff := cmp.Diff([]int{204, 403, 204, 400}, got); diff != "" {
		t.Errorf("statuses (-want +got):\n%s", diff)
	}
	if _, err := br.ReadByte(); err == nil {
		t.Error("connection still open after a request that cannot be framed")
	}
	if got := r.missing([]string{"src/p0", "src/p1", "src/p2"}); got != 1 {
		t.Errorf("missing = %d, want 1 (the badly signed one)", got)
	}
}

// FuzzReceiverConn feeds arbitrary bytes to a connection's reader: no
// panic, and every record counted came from a correctly signed body.
func FuzzReceiverConn(f *testing.F) {
	body := `{"Records":[{"s3":{"bucket":{"name":"src"},"object":{"key":"a+b"}}}]}`
	f.Add([]byte(fmt.Sprintf("POST / HTTP/1.1\r\nContent-Length: %d\r\n%s: %s\r\n\r\n%s", len(body), notify.SignatureHeader, notify.Sign("k", []byte(body)), body)))
	f.Add([]byte("POST / HTTP/1.0\r\nContent-Length: 2\r\n\r\n{}"))
	f.Add([]byte("GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"))
	f.Add([]byte("POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n{"))
	f.Fuzz(func(t *testing.T, in []byte) {
		r := newReceiver("k")
		var out bytes.Buffer
		r.serveConn(bytes.NewReader(in), &out)
		records, _, _, _ := r.stats()
		if records > 0 && !bytes.Contains(in, []byte("sha256=")) {
			t.Fatalf("%d records counted without a signature", records)
		}
	})
}

func TestParseRecordsEscapes(t *testing.T) {
	// A JSON escape in a bucket name or key is refused, not misread.
	body := `{"Records":[{"s3":{"bucket":{"name":"s\u0072c"},"object":{"key":"k"}}}]}`
	if _, err := parseRecords([]byte(body)); err == nil {
		t.Error("escaped bucket name accepted")
	}
}

func TestParseFlags(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr bool
		check   func(Config) bool
	}{
		{"defaults", nil, false, func(c Config) bool {
			return cmp.Equal(c.Sizes, []int{1 << 10, 8 << 20}) && cmp.Equal(c.Bursts, []int{1000, 100}) && c.TputSize == 1<<10
		}},
		{"one size", []string{"-sizes", "4KiB", "-bursts", "50"}, false, func(c Config) bool {
			return cmp.Equal(c.Sizes, []int{4 << 10}) && cmp.Equal(c.Bursts, []int{50})
		}},
		{"skip throughput", []string{"-tput-duration", "0"}, false, func(c Config) bool { return c.TputDuration == 0 }},
		{"counts do not match sizes", []string{"-bursts", "10"}, true, nil},
		{"bad size", []string{"-sizes", "1KB"}, true, nil},
		{"poll too fine", []string{"-poll", "100us"}, true, nil},
		{"slices too short", []string{"-tput-duration", "200ms", "-rounds", "3"}, true, nil},
		{"stray argument", []string{"extra"}, true, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := parseFlags(tc.args)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tc.wantErr)
			}
			if tc.check != nil && !tc.check(cfg) {
				t.Errorf("config %+v", cfg)
			}
		})
	}
}

// TestReportFailures: a loss or a bad delivery keeps the report from being
// saved, a slow run does not.
func TestReportFailures(t *testing.T) {
	ok := burstResult{size: 1024, n: 10, eventLat: []time.Duration{200 * time.Millisecond}}
	tests := []struct {
		name string
		r    report
		want int
	}{
		{"slow but complete", report{bursts: []burstResult{ok}}, 0},
		{"event lost", report{bursts: []burstResult{{size: 1024, eventsLost: 1}}}, 1},
		{"put errors and bad signature", report{bursts: []burstResult{{size: 1024, errors: 2, firstErr: "x"}}, badSig: 1}, 2},
		{"throughput copy lost", report{tput: []tputResult{{bucket: "src", lost: 3}}}, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.r.failures(); len(got) != tc.want {
				t.Errorf("failures = %q, want %d", got, tc.want)
			}
		})
	}
}

// TestRoundRatios: both ratios pair a bucket's slices with the first
// bucket's slices of the same rounds, and the CPU ratio is left out when
// a slice's CPU is unknown rather than paired with another round's.
func TestRoundRatios(t *testing.T) {
	base := tputResult{rates: []float64{1000, 2000, 1000}, cpuPerPut: []float64{300, 250, 300}}
	hook := tputResult{rates: []float64{900, 1900, 500}, cpuPerPut: []float64{330, 250, 600}}
	if diff := cmp.Diff([]float64{0.9, 0.95, 0.5}, hook.roundRatios(base)); diff != "" {
		t.Errorf("PUT/s ratios (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]float64{300.0 / 330, 1, 0.5}, hook.cpuRatios(base)); diff != "" {
		t.Errorf("CPU ratios (-want +got):\n%s", diff)
	}
	text, q, n := medianOf(hook.cpuRatios(base), nil)
	if q != 300.0/330 || n != 3 || text != "0.91× (0.91, 1.00, 0.50)" {
		t.Errorf("medianOf = %q, %v, %d", text, q, n)
	}
	hook.cpuPerPut = hook.cpuPerPut[:2] // one slice's CPU unknown
	if got := hook.cpuRatios(base); got != nil {
		t.Errorf("CPU ratios with a slice unknown = %v, want none", got)
	}
	if text, q, n := medianOf(nil, nil); text != "—" || q != 0 || n != 0 {
		t.Errorf("medianOf(nil) = %q, %v, %d", text, q, n)
	}
}

// TestStolenRounds: a round whose slice of either bucket lost more than
// maxRoundSteal to the hypervisor is shown in brackets and left out of
// the median; an unknown steal (-1) leaves the round in.
func TestStolenRounds(t *testing.T) {
	base := tputResult{rates: []float64{1000, 1000, 1000, 1000}, steal: []float64{0.02, 0.25, 0.01, -1}}
	hook := tputResult{rates: []float64{950, 500, 600, 930}, steal: []float64{0.03, 0.01, 0.12, 0.02}}
	out := hook.leftOut(base)
	if diff := cmp.Diff([]bool{false, true, true, false}, out); diff != "" {
		t.Fatalf("left out (-want +got):\n%s", diff)
	}
	text, q, n := medianOf(hook.roundRatios(base), out)
	if text != "0.94× (0.95, [0.50], [0.60], 0.93)" || n != 2 || math.Abs(q-0.94) > 1e-9 {
		t.Errorf("medianOf = %q, %v, %d", text, q, n)
	}
	if got := count(out); got != 2 {
		t.Errorf("count = %d, want 2", got)
	}
	// A zero rate keeps the rounds in order: shown as "?", not counted.
	text, _, n = medianOf(ratios([]float64{1, 2}, []float64{0, 2}), nil)
	if text != "1.00× (?, 1.00)" || n != 1 {
		t.Errorf("medianOf with a zero rate = %q, %d", text, n)
	}
}

// TestReportStolenRounds renders a throughput table in which most rounds
// had heavy steal: the goal is not judged.
func TestReportStolenRounds(t *testing.T) {
	cfg := DefaultConfig()
	base := tputResult{bucket: cfg.Plain, rates: []float64{1000, 1000, 1000}, cpuPerPut: []float64{300, 300, 300}, steal: []float64{0.2, 0.3, 0.01}, cpuKnown: true, ops: 3000, elapsed: 3 * time.Second}
	hook := tputResult{bucket: cfg.HookOnly, rates: []float64{800, 800, 950}, cpuPerPut: []float64{380, 380, 310}, steal: []float64{0.02, 0.02, 0.02}, cpuKnown: true, ops: 2550, elapsed: 3 * time.Second}
	src := tputResult{bucket: cfg.Source, rates: []float64{500, 500, 600}, cpuPerPut: []float64{500, 500, 480}, steal: []float64{0.01, 0.01, 0.01}, cpuKnown: true, ops: 1600, elapsed: 3 * time.Second}
	cc := tputResult{bucket: cfg.ClientCopy, rates: []float64{400, 400, 400}, cpuPerPut: []float64{700, 700, 700}, steal: []float64{0.01, 0.5, 0.01}, cpuKnown: true, ops: 1200, elapsed: 3 * time.Second}
	out := report{cfg: cfg, tput: []tputResult{base, hook, src, cc}}.render()
	if !strings.Contains(out, "not judged: 2 of 3 rounds over 10% steal") {
		t.Errorf("report does not say the goal was not judged:\n%s", out)
	}
	if !strings.Contains(out, "PUT/s 1.38× (1.25, [1.25], 1.50)") || !strings.Contains(out, "leave out the 1 of 3 rounds in brackets (over 10% steal).") {
		t.Errorf("copy line does not leave out the stolen round:\n%s", out)
	}
	if strings.Contains(out, "%!") {
		t.Errorf("report has a formatting error:\n%s", out)
	}
}

func TestGoalVerdict(t *testing.T) {
	tests := []struct {
		name       string
		qPut, qCPU float64
		want       string
	}{
		{"both met", 0.95, 0.92, "met"},
		{"exactly 10 % slower", 0.9, 0.9, "met"},
		{"PUT/s missed", 0.85, 0.97, "**missed** (15% slower by PUT/s)"},
		{"CPU missed", 0.93, 0.88, "**missed** (12% slower by CPU)"},
		{"CPU unknown", 0.95, 0, "—"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := goalVerdict(tc.qPut, tc.qCPU); got != tc.want {
				t.Errorf("goalVerdict(%v, %v) = %q, want %q", tc.qPut, tc.qCPU, got, tc.want)
			}
		})
	}
}
