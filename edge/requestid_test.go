package edge

import (
	"encoding/base64"
	"net/http"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestNewRequestID(t *testing.T) {
	seen := make(map[string]bool)
	for range 1000 {
		id := newRequestID()
		raw, err := base64.URLEncoding.DecodeString(id)
		if err != nil || len(id) != 56 || len(raw) != 40 {
			t.Fatalf("id %q: %d chars, %d bytes, err %v; want 56 chars of URL-safe base64 of 40 bytes", id, len(id), len(raw), err)
		}
		if seen[id] {
			t.Fatalf("id %q repeated", id)
		}
		seen[id] = true
	}
}

// TestAddVaryLeavesSharedValues checks that adding to Vary never writes
// into the value slice a cached entry shares with concurrent hits, even
// when that slice has spare capacity.
func TestAddVaryLeavesSharedValues(t *testing.T) {
	shared := make([]string, 1, 4)
	shared[0] = "Origin"
	h := http.Header{"Vary": shared}
	addVary(h, "Accept-Encoding")
	if diff := cmp.Diff([]string{"Origin", "Accept-Encoding"}, h["Vary"]); diff != "" {
		t.Fatalf("Vary (-want +got):\n%s", diff)
	}
	if spare := shared[:2]; spare[1] != "" {
		t.Fatalf("addVary wrote %q into the shared slice's spare capacity", spare[1])
	}
	for _, tc := range []struct {
		name string
		vary []string
		want []string
	}{
		{"already there, any case", []string{"accept-encoding, Origin"}, []string{"accept-encoding, Origin"}},
		{"star", []string{"*"}, []string{"*"}},
		{"none", nil, []string{"Accept-Encoding"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			if tc.vary != nil {
				h["Vary"] = tc.vary
			}
			addVary(h, "Accept-Encoding")
			if diff := cmp.Diff(tc.want, h["Vary"]); diff != "" {
				t.Fatalf("Vary (-want +got):\n%s", diff)
			}
		})
	}
}
