package stack

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite golden files")

// TestMediaPipelineGolden loads a realistic template (bucket, image function
// with an S3 event filtered by prefix and suffix, HTTP API routes, a
// distribution with an origin-response function) and compares the whole
// resolved model with testdata/media/stack.golden.json.
func TestMediaPipelineGolden(t *testing.T) {
	st, err := Load("testdata/media/template.yaml", Options{StackName: "media"})
	if err != nil {
		t.Fatal(err)
	}
	dir, err := filepath.Abs("testdata/media")
	if err != nil {
		t.Fatal(err)
	}
	// Code directories are absolute; the golden file holds them as $DIR.
	for i := range st.Functions {
		st.Functions[i].Code.Dir = strings.Replace(st.Functions[i].Code.Dir, dir, "$DIR", 1)
	}
	// Webhook secrets are left out of the model's JSON, so of the golden
	// file too: they are checked here.
	var secrets []string
	for i := range st.Buckets {
		for j := range st.Buckets[i].Webhooks {
			w := &st.Buckets[i].Webhooks[j]
			secrets = append(secrets, w.ID+"="+w.Secret)
			w.Secret = ""
		}
	}
	if diff := cmp.Diff([]string{"Uploads-hook-1=golden-secret"}, secrets); diff != "" {
		t.Errorf("webhook secrets (-want +got):\n%s", diff)
	}
	golden := filepath.Join("testdata", "media", "stack.golden.json")
	if *update {
		b, err := json.MarshalIndent(st, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(golden, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	var want Stack
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(&want, st); diff != "" {
		t.Errorf("stack (-want +got):\n%s", diff)
	}
}
