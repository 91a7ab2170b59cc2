//go:build lambdasuite

// The suite the function runs. The build tag keeps it out of `go test
// ./...` (TestMakeAccents fails on purpose); `go test -c -tags lambdasuite`
// compiles it into the binary the function bundles.
package slug

import (
	"fmt"
	"strings"
	"testing"
)

func TestMake(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"Hello, World!", "hello-world"},
		{"  leading and trailing  ", "leading-and-trailing"},
		{"already-a-slug", "already-a-slug"},
		{"Go 1.26 release notes", "go-1-26-release-notes"},
		{"", ""},
		{"!!!", ""},
		{"a--b__c", "a-b-c"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			if got := Make(tc.in); got != tc.want {
				t.Errorf("Make(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

// TestMakeLong runs enough cases that the whole log is well over the 4 KB a
// Tail invocation returns.
func TestMakeLong(t *testing.T) {
	for i := range 80 {
		in := fmt.Sprintf("Chapter %d: The %s", i, strings.Repeat("Long ", i%5+1))
		t.Run(fmt.Sprintf("chapter_%02d", i), func(t *testing.T) {
			got := Make(in)
			if strings.ContainsAny(got, " :") || strings.HasSuffix(got, "-") {
				t.Errorf("Make(%q) = %q", in, got)
			}
			t.Logf("%q -> %q", in, got)
		})
	}
}

// TestMakeAccents is the known failure: Make drops accented letters
// instead of transliterating them.
func TestMakeAccents(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"Crème brûlée", "creme-brulee"},
		{"Smörgåsbord", "smorgasbord"},
	} {
		if got := Make(tc.in); got != tc.want {
			t.Errorf("Make(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
