package replicate

import (
	"crypto/md5"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func md5sum(b []byte) []byte { s := md5.Sum(b); return s[:] }

func TestParseTargetBucketTag(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []Target
		wantErr bool
	}{
		{name: "recipe example", in: "photos-backup photos-eu@eu-west-1", want: []Target{{"photos-backup", ""}, {"photos-eu", "eu-west-1"}}},
		{name: "extra spaces and tabs", in: "  a-b\t c.d@us-east-2 ", want: []Target{{"a-b", ""}, {"c.d", "us-east-2"}}},
		{name: "duplicates dropped", in: "abc abc abc@eu-west-1", want: []Target{{"abc", ""}, {"abc", "eu-west-1"}}},
		{name: "empty", in: "   ", want: nil},
		{name: "upper case bucket", in: "Photos", wantErr: true},
		{name: "empty region", in: "abc@", wantErr: true},
		{name: "bad region", in: "abc@EU_WEST", wantErr: true},
		{name: "short name", in: "ab", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseTargetBucketTag(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func FuzzTargetBucketTag(f *testing.F) {
	for _, s := range []string{"photos-backup photos-eu@eu-west-1", "a@b@c", "x", "abc@", "  ", "abc\u00a0def"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		ts, err := ParseTargetBucketTag(v)
		if err != nil {
			return
		}
		// Every target round-trips through its string form.
		var parts []string
		for _, tg := range ts {
			parts = append(parts, tg.String())
		}
		again, err := ParseTargetBucketTag(strings.Join(parts, " "))
		if err != nil || !cmp.Equal(ts, again) {
			t.Fatalf("round trip of %q: %v, %v vs %v", v, err, ts, again)
		}
	})
}

func TestParseRegionEndpoints(t *testing.T) {
	got, err := ParseRegionEndpoints([]string{"eu-west-1=http://AK:SK@127.0.0.1:4600", "ap-south-1=https://s3.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"eu-west-1": "http://AK:SK@127.0.0.1:4600", "ap-south-1": "https://s3.example.com"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	for _, bad := range [][]string{{"eu-west-1"}, {"=http://x"}, {"eu-west-1=ftp://x"}, {"eu-west-1=http://x/path"}, {"eu-west-1=http://a@x"}, {"eu-west-1=http://x", "eu-west-1=http://y"}} {
		if _, err := ParseRegionEndpoints(bad); err == nil {
			t.Errorf("ParseRegionEndpoints(%q) accepted", bad)
		}
	}
}

func TestCmpSequencer(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"0000000000000001", "0000000000000002", -1},
		{"2", "0000000000000002", 0},
		{"00000000000000FF", "100", -1},
		{"0000000000000A", "9", 1},
	}
	for _, tt := range tests {
		if got := cmpSequencer(tt.a, tt.b); got != tt.want {
			t.Errorf("cmpSequencer(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}
