package benchkit

import (
	"flag"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseSizes(t *testing.T) {
	tests := []struct {
		in      string
		want    []int
		wantErr bool
	}{
		{in: "4KiB,1MiB", want: []int{4096, 1 << 20}},
		{in: " 100 , 2GiB ", want: []int{100, 2 << 30}},
		{in: "512B", want: []int{512}},
		{in: ""},
		{in: "4kb", wantErr: true},
		{in: "0", wantErr: true},
		{in: "-1KiB", wantErr: true},
		{in: "KiB", wantErr: true},
		{in: "9999999999999GiB", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseSizes(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("ParseSizes(%q) error = %v, want error %v", tt.in, err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ParseSizes(%q) (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

func FuzzParseSizes(f *testing.F) {
	for _, s := range []string{"4KiB,1MiB", "1", "0B", ",,", "9999999999999GiB", "1KiB,-2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sizes, err := ParseSizes(s)
		if err != nil {
			return
		}
		for _, n := range sizes {
			if n <= 0 {
				t.Errorf("ParseSizes(%q) accepted non-positive size %d", s, n)
			}
			if back, err := ParseSizes(SizeLabel(n)); err != nil || len(back) != 1 || back[0] != n {
				t.Errorf("SizeLabel(%d) = %q does not parse back: %v %v", n, SizeLabel(n), back, err)
			}
		}
	})
}

func TestSizeLabel(t *testing.T) {
	tests := map[int]string{1: "1B", 1000: "1000B", 4096: "4KiB", 1 << 20: "1MiB", 3 << 30: "3GiB", 1536: "1536B"}
	for in, want := range tests {
		if got := SizeLabel(in); got != want {
			t.Errorf("SizeLabel(%d) = %q, want %q", in, got, want)
		}
	}
}

func TestParseInts(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []int
		wantErr string
	}{
		{name: "list", in: "1, 32", want: []int{1, 32}},
		{name: "empty", in: ""},
		{name: "not a number", in: "1,x", wantErr: `"x" is not a number`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseInts(tt.in)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestFlagSet(t *testing.T) {
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	fs.String("a", "", "")
	fs.String("b", "", "")
	if err := fs.Parse([]string{"-a", "v"}); err != nil {
		t.Fatal(err)
	}
	if !FlagSet(fs, "a") || FlagSet(fs, "b") {
		t.Errorf("FlagSet: a=%v b=%v, want true false", FlagSet(fs, "a"), FlagSet(fs, "b"))
	}
}
