package stack

import (
	"archive/zip"
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestPlan(t *testing.T) {
	st := &state{Resources: map[string]*stateEntry{
		"Same":    {Kind: kindFunction, Physical: "Same", Hash: "h1"},
		"Changed": {Kind: kindFunction, Physical: "Changed", Hash: "old"},
		"GoneFn":  {Kind: kindFunction, Physical: "GoneFn", Hash: "x"},
		"GoneB":   {Kind: kindBucket, Physical: "gone-b", Hash: "x"},
		"GoneD":   {Kind: kindDistribution, Physical: "E123", Hash: "x"},
		"Morph":   {Kind: kindBucket, Physical: "morph", Hash: "x"},
	}}
	want := []desired{
		{"Same", kindFunction, "h1"},
		{"Changed", kindFunction, "new"},
		{"New", kindBucket, "h"},
		{"Morph", kindFunction, "h"},
	}
	got := plan(want, st)
	exp := []Change{
		{Action: ActionUnchanged, Kind: kindFunction, LogicalID: "Same", PhysicalID: "Same"},
		{Action: ActionUpdate, Kind: kindFunction, LogicalID: "Changed", PhysicalID: "Changed"},
		{Action: ActionCreate, Kind: kindBucket, LogicalID: "New"},
		{Action: ActionDelete, Kind: kindBucket, LogicalID: "Morph", PhysicalID: "morph"},
		{Action: ActionCreate, Kind: kindFunction, LogicalID: "Morph"},
		{Action: ActionDelete, Kind: kindDistribution, LogicalID: "GoneD", PhysicalID: "E123"},
		{Action: ActionDelete, Kind: kindFunction, LogicalID: "GoneFn", PhysicalID: "GoneFn"},
		{Action: ActionDelete, Kind: kindBucket, LogicalID: "GoneB", PhysicalID: "gone-b"},
	}
	if diff := cmp.Diff(exp, got); diff != "" {
		t.Errorf("plan (-want +got):\n%s", diff)
	}
	if got := plan(want[:1], &state{Resources: map[string]*stateEntry{"Same": {Kind: kindFunction, Hash: "h1"}}}); len(got) != 1 || got[0].Action != ActionUnchanged {
		t.Errorf("unchanged stack: %v", got)
	}
}

func TestStateRoundTrip(t *testing.T) {
	path := statePath(t.TempDir(), "demo")
	st, err := loadState(path, "demo")
	if err != nil || len(st.Resources) != 0 {
		t.Fatalf("missing state: %v %v", st, err)
	}
	st.Resources["Cdn"] = &stateEntry{Kind: kindDistribution, Physical: "EABC", DomainName: "eabc.localhost", Hash: "h"}
	if err := st.save(path); err != nil {
		t.Fatal(err)
	}
	again, err := loadState(path, "demo")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(st, again); diff != "" {
		t.Errorf("state (-want +got):\n%s", diff)
	}
	a := &applier{vals: map[string]string{}}
	for id, e := range again.Resources {
		a.remember(id, e)
	}
	got, ok := a.resolve("https://{{sluice:Cdn.DomainName}}/x?id={{sluice:Cdn.Id}}")
	if !ok || got != "https://eabc.localhost/x?id=EABC" {
		t.Errorf("resolve = %q, %v", got, ok)
	}
	if _, ok := a.resolve("{{sluice:Fn.Version}}"); ok {
		t.Error("an unknown token resolved")
	}
}

func TestEdgeURL(t *testing.T) {
	for in, want := range map[string]string{
		"https://eabc123.localhost/":      "http://eabc123.localhost:4567/",
		"https://eabc123.localhost":       "http://eabc123.localhost:4567",
		"eabc123.localhost":               "eabc123.localhost",
		"https://example.com/":            "https://example.com/",
		"see https://e1.localhost/a.jpg.": "see http://e1.localhost:4567/a.jpg.",
	} {
		if got := edgeURL(in, "localhost:4567"); got != want {
			t.Errorf("edgeURL(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestInlineZip(t *testing.T) {
	for rt, name := range map[string]string{"python3.12": "index.py", "nodejs20.x": "index.js", "provided.al2023": "bootstrap"} {
		b, err := inlineZip(rt, "code")
		if err != nil {
			t.Fatal(err)
		}
		zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
		if err != nil || len(zr.File) != 1 || zr.File[0].Name != name {
			t.Fatalf("%s: %v %v", rt, err, zr)
		}
		rc, _ := zr.File[0].Open()
		got, _ := io.ReadAll(rc)
		if string(got) != "code" {
			t.Errorf("%s: content %q", rt, got)
		}
	}
}

func TestCloudFrontConfig(t *testing.T) {
	st, err := Load("testdata/media/template.yaml", Options{StackName: "media"})
	if err != nil {
		t.Fatal(err)
	}
	d := st.Distributions[0].DistributionConfig
	cfg := cloudFrontConfig(d)
	if *cfg.Origins.Quantity != 1 || *cfg.Origins.Items[0].DomainName != "media-thumbs.s3.us-east-1.amazonaws.com" {
		t.Errorf("origins %+v", cfg.Origins)
	}
	dcb := cfg.DefaultCacheBehavior
	if *dcb.LambdaFunctionAssociations.Quantity != 1 || string(dcb.LambdaFunctionAssociations.Items[0].EventType) != "origin-response" {
		t.Errorf("associations %+v", dcb.LambdaFunctionAssociations)
	}
	if *dcb.ForwardedValues.QueryStringCacheKeys.Quantity != 1 || dcb.ForwardedValues.QueryStringCacheKeys.Items[0] != "d" || !*dcb.ForwardedValues.QueryString {
		t.Errorf("forwarded values %+v", dcb.ForwardedValues)
	}
	if *dcb.DefaultTTL != 86400 || *dcb.MaxTTL != 31536000 || !*dcb.Compress {
		t.Errorf("ttl/compress %+v", dcb)
	}
}

func TestWatch(t *testing.T) {
	oldI, oldD := WatchInterval, WatchDebounce
	WatchInterval, WatchDebounce = 10*time.Millisecond, 20*time.Millisecond
	t.Cleanup(func() { WatchInterval, WatchDebounce = oldI, oldD })
	dir := t.TempDir()
	path := filepath.Join(dir, "template.yaml")
	if err := os.WriteFile(path, []byte("a"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var calls atomic.Int32
	done := make(chan error, 1)
	go func() { done <- Watch(ctx, path, func() { calls.Add(1) }) }()
	// Let the first snapshot be taken, then change the file.
	time.Sleep(3 * WatchInterval)
	if err := os.WriteFile(path, []byte("ab"), 0o644); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for calls.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if calls.Load() != 1 {
		t.Fatalf("onChange called %d times after one change", calls.Load())
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestWatchSnapshotCoversTemplateAndCode(t *testing.T) {
	dir := t.TempDir()
	write := func(rel, body string) {
		t.Helper()
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tmpl := "Transform: AWS::Serverless-2016-10-31\nResources:\n  F:\n    Type: AWS::Serverless::Function\n    Properties:\n      CodeUri: src\n  G:\n    Type: AWS::Serverless::Function\n    Properties:\n      CodeUri: build/g.zip\n"
	write("template.yaml", tmpl)
	write("src/app.py", "a")
	write("build/g.zip", "z")
	w := &watcher{path: filepath.Join(dir, "template.yaml"), dir: dir}
	steps := []struct {
		name    string
		change  func()
		differs bool
	}{
		{"scratch file beside the template", func() { write("scratch.json", "{}") }, false},
		{"README", func() { write("README.md", "hello") }, false},
		{"other build output", func() { write("build/other.txt", "x") }, false},
		{"code directory", func() { write("src/app.py", "ab") }, true},
		{"new file in the code directory", func() { write("src/lib/util.py", "x") }, true},
		{"cache directory skipped", func() { write("src/__pycache__/app.pyc", "x") }, false},
		{"zip", func() { write("build/g.zip", "zz") }, true},
		{"template", func() { write("template.yaml", tmpl+"\n") }, true},
	}
	last := w.snapshot()
	for _, s := range steps {
		s.change()
		cur := w.snapshot()
		if (cur != last) != s.differs {
			t.Errorf("%s: snapshot changed = %v, want %v", s.name, cur != last, s.differs)
		}
		last = cur
	}
	// A CodeUri that is an intrinsic could be anywhere: the whole directory
	// is watched.
	write("template.yaml", strings.Replace(tmpl, "CodeUri: src", "CodeUri: !Sub src", 1))
	last = w.snapshot()
	write("scratch.json", "{\"a\": 1}")
	if w.snapshot() == last {
		t.Error("with an intrinsic CodeUri a file beside the template is not watched")
	}
}
