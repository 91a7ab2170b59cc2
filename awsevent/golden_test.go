package awsevent

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite testdata golden files")

// golden marshals v as indented JSON and compares it with testdata/name.
func golden(t *testing.T, name string, v any) []byte {
	t.Helper()
	got, err := MarshalIndent(v)
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return got
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden file (run go test -update): %v", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s mismatch (-want +got):\n%s", name, diff)
	}
	return got
}

// dynamicMaps are objects whose keys are data (header names, parameter
// names), not structure; their entries are compared as one "*" key.
var dynamicMaps = map[string]bool{
	"headers": true, "queryStringParameters": true, "pathParameters": true,
	"stageVariables": true, "customHeaders": true,
}

// shape lists every path in a JSON document with the JSON type found there,
// so that two documents can be compared key for key and level for level.
func shape(t *testing.T, doc []byte) []string {
	t.Helper()
	var v any
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("decode: %v", err)
	}
	set := map[string]bool{}
	var walk func(path, key string, v any)
	walk = func(path, key string, v any) {
		switch x := v.(type) {
		case map[string]any:
			set[path+":object"] = true
			for k, e := range x {
				if dynamicMaps[key] {
					k = "*"
				}
				walk(path+"."+k, k, e)
			}
		case []any:
			set[path+":array"] = true
			for _, e := range x {
				walk(path+"[]", key, e)
			}
		case string:
			set[path+":string"] = true
		case json.Number:
			set[path+":number"] = true
		case bool:
			set[path+":bool"] = true
		case nil:
			set[path+":null"] = true
		}
	}
	walk("$", "", v)
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// sameShape fails unless got has exactly the keys, nesting and value types
// of the AWS example in testdata/example.
func sameShape(t *testing.T, example string, got []byte) {
	t.Helper()
	want, err := os.ReadFile(filepath.Join("testdata", example))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(shape(t, want), shape(t, got)); diff != "" {
		t.Errorf("structure differs from AWS example %s (-aws +ours):\n%s", example, diff)
	}
}

// seqReader yields 0, 1, 2, ... so that generated ids are reproducible.
type seqReader struct{ n byte }

func (r *seqReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = r.n
		r.n++
	}
	return len(p), nil
}

func TestShapeSeesMissingKeys(t *testing.T) {
	a := shape(t, []byte(`{"a":{"b":1,"c":"x"},"headers":{"x":"1","y":"2"}}`))
	b := shape(t, []byte(`{"a":{"b":1},"headers":{"z":"3"}}`))
	if cmp.Equal(a, b) {
		t.Fatal("shape did not notice a missing key")
	}
	if !strings.Contains(strings.Join(a, " "), "$.headers.*:string") {
		t.Fatalf("headers not collapsed: %v", a)
	}
}
