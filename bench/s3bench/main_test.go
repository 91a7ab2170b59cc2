package main

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseFlags(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		check   func(Config) string
		wantErr string
	}{
		{
			name: "defaults are the issue's grid",
			check: func(c Config) string {
				return cmp.Diff([]cell{
					{"PUT", 4096, 1}, {"GET", 4096, 1}, {"PUT", 4096, 32}, {"GET", 4096, 32},
					{"PUT", 1 << 20, 1}, {"GET", 1 << 20, 1}, {"PUT", 1 << 20, 32}, {"GET", 1 << 20, 32},
				}, c.cells(), cmp.AllowUnexported(cell{}))
			},
		},
		{
			name: "narrowed grid keeps PUT before GET",
			args: []string{"-ops=get,put", "-sizes=1MiB", "-concurrency=8", "-servers=versitygw"},
			check: func(c Config) string {
				return cmp.Diff([]cell{{"PUT", 1 << 20, 8}, {"GET", 1 << 20, 8}}, c.cells(), cmp.AllowUnexported(cell{})) +
					cmp.Diff([]string{"versitygw"}, c.Servers)
			},
		},
		{
			name: "default servers may drop sluice-nofsync, explicit ones may not",
			check: func(c Config) string {
				if !c.defaultServers {
					return "defaultServers = false without -servers"
				}
				return cmp.Diff([]string{"versitygw", "sluice", "sluice-nofsync"}, c.Servers)
			},
		},
		{
			name: "explicit servers",
			args: []string{"-servers=sluice-nofsync,versitygw"},
			check: func(c Config) string {
				if c.defaultServers {
					return "defaultServers = true with -servers"
				}
				return ""
			},
		},
		{name: "unknown server", args: []string{"-servers=minio"}, wantErr: "-servers"},
		{name: "unknown op", args: []string{"-ops=DELETE"}, wantErr: "-ops"},
		{name: "bad concurrency", args: []string{"-concurrency=0"}, wantErr: "-concurrency"},
		{name: "non-numeric concurrency", args: []string{"-concurrency=x"}, wantErr: "-concurrency"},
		{name: "bad payload", args: []string{"-payload=md5"}, wantErr: "-payload"},
		{name: "zero duration", args: []string{"-duration=0s"}, wantErr: "-duration"},
		{name: "stray argument", args: []string{"extra"}, wantErr: "unexpected"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := parseFlags(tt.args)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("parseFlags(%q) error = %v, want one naming %q", tt.args, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseFlags(%q): %v", tt.args, err)
			}
			if diff := tt.check(cfg); diff != "" {
				t.Errorf("config mismatch:\n%s", diff)
			}
		})
	}
}

func TestRenderReportRatios(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Ops, cfg.Sizes, cfg.Concurrency = []string{"PUT"}, []int{4096}, []int{1}
	c := cell{op: "PUT", size: 4096, conc: 1}
	results := []result{
		{server: "sluice", cell: c, ops: 500, elapsed: time.Second, p50: 2 * time.Millisecond, p99: 8 * time.Millisecond, mean: 2 * time.Millisecond, busy: time.Second, serverCPU: 100 * time.Millisecond},
		{server: "versitygw", cell: c, ops: 1000, elapsed: time.Second, p50: time.Millisecond, p99: 4 * time.Millisecond, mean: 500 * time.Microsecond, busy: 500 * time.Millisecond, serverCPU: -1},
	}
	got := renderReport(cfg, env{}, results)
	rows := map[string]string{}
	for _, line := range strings.Split(got, "\n") {
		if strings.HasPrefix(line, "| sluice ") || strings.HasPrefix(line, "| versitygw ") {
			rows[strings.Fields(line)[1]] = line
		}
	}
	want := map[string]string{
		"versitygw": "| versitygw | PUT | 4KiB | 1 | 1000 | 3.9 | 1.00 | 4.00 | ? | 50% | 0 | — | — | — |",
		"sluice":    "| sluice | PUT | 4KiB | 1 | 500 | 2.0 | 2.00 | 8.00 | 200 µs | 100% | 0 | 0.50× | 2.00× | 2.00× |",
	}
	if diff := cmp.Diff(want, rows); diff != "" {
		t.Errorf("table rows (-want +got):\n%s\nfull report:\n%s", diff, got)
	}
	if !strings.Contains(got, "starved in 1 cell(s)") || !strings.Contains(got, "versitygw PUT 4KiB c=1 (50%)") {
		t.Errorf("report does not warn about the starved versitygw cell:\n%s", got)
	}
	if !strings.Contains(got, "never fsyncs") {
		t.Errorf("report does not state versitygw's durability:\n%s", got)
	}
}

func TestResultMergePoolsSlices(t *testing.T) {
	c := cell{op: "GET", size: 4096, conc: 2}
	a := result{server: "sluice", cell: c, elapsed: time.Second, busy: time.Second, serverCPU: 30 * time.Millisecond,
		lat: []time.Duration{1 * time.Millisecond, 3 * time.Millisecond}}
	b := result{server: "sluice", cell: c, elapsed: 2 * time.Second, busy: 3 * time.Second, serverCPU: 50 * time.Millisecond, errors: 1, firstErr: "HTTP 500",
		lat: []time.Duration{2 * time.Millisecond, 10 * time.Millisecond}}
	got := a.merge(b)
	if got.ops != 4 || got.elapsed != 3*time.Second || got.serverCPU != 80*time.Millisecond || got.errors != 1 || got.firstErr != "HTTP 500" {
		t.Errorf("merge = ops %d, elapsed %s, cpu %s, errors %d %q; want 4, 3s, 80ms, 1 \"HTTP 500\"",
			got.ops, got.elapsed, got.serverCPU, got.errors, got.firstErr)
	}
	if f := got.inFlight(); f < 0.66 || f > 0.67 {
		t.Errorf("pooled in-flight share = %.3f, want 4s busy / (3s × 2 clients) = 0.667", f)
	}
	if got.p50 != 2*time.Millisecond || got.p99 != 10*time.Millisecond || got.mean != 4*time.Millisecond {
		t.Errorf("merge percentiles = p50 %s p99 %s mean %s, want 2ms 10ms 4ms", got.p50, got.p99, got.mean)
	}
	if unknown := a.merge(result{cell: c, serverCPU: -1}); unknown.serverCPU != -1 {
		t.Errorf("merging an unknown CPU time gave %s, want -1 (unknown)", unknown.serverCPU)
	}
}
