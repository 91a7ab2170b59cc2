package main

import "testing"

func TestParseBytes(t *testing.T) {
	tests := []struct {
		in      string
		want    int64
		wantErr bool
	}{
		{"512", 512, false},
		{"64KiB", 64 << 10, false},
		{"256MiB", 256 << 20, false},
		{"4GiB", 4 << 30, false},
		{"1GB", 1e9, false},
		{" 2 MiB ", 2 << 20, false},
		{"0", 0, false},
		{"10B", 10, false},
		{"lots", 0, true},
		{"1.5GiB", 0, true},
		{"", 0, true},
		{"9999999999TiB", 0, true},
	}
	for _, tt := range tests {
		got, err := parseBytes(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("parseBytes(%q) = %d, %v; want %d, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}
