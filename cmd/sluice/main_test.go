package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestIsLoopback(t *testing.T) {
	tests := []struct {
		addr string
		want bool
	}{
		{"127.0.0.1:4566", true},
		{"127.0.0.2:4566", true},
		{"[::1]:4566", true},
		{"localhost:4566", true},
		{"LOCALHOST:4566", true},
		{":4566", false},
		{"0.0.0.0:4566", false},
		{"[::]:4566", false},
		{"192.0.2.10:4566", false},
		{"no-port", false},
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			if got := isLoopback(tt.addr); got != tt.want {
				t.Errorf("isLoopback(%q) = %v, want %v", tt.addr, got, tt.want)
			}
		})
	}
}

func TestSettingsPrecedence(t *testing.T) {
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "sluice.json")
	if err := os.WriteFile(cfgFile, []byte(`{"addr":"127.0.0.1:1111","data":"/from/file","region":"eu-west-1"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("TEST_SLUICE_DATA", "/from/env")
	t.Setenv("TEST_SLUICE_REGION", "ap-south-1")

	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	set := newSettings(fs,
		&setting{name: "addr", env: "TEST_SLUICE_ADDR", def: "127.0.0.1:4566"},
		&setting{name: "data", env: "TEST_SLUICE_DATA", def: "./sluice-data"},
		&setting{name: "region", env: "TEST_SLUICE_REGION", def: "us-east-1"},
		&setting{name: "log-level", env: "TEST_SLUICE_LOG_LEVEL", def: "info"},
	)
	if err := fs.Parse([]string{"--region", "sa-east-1"}); err != nil {
		t.Fatal(err)
	}
	if err := set.resolve(fs, cfgFile); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, name := range []string{"addr", "data", "region", "log-level"} {
		got[name] = set.get(name)
	}
	want := map[string]string{
		"addr":      "127.0.0.1:1111", // file beats default
		"data":      "/from/env",      // env beats file
		"region":    "sa-east-1",      // flag beats env
		"log-level": "info",           // default
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("settings (-want +got):\n%s", diff)
	}
}

func TestSettingsRejectsUnknownFileKey(t *testing.T) {
	cfgFile := filepath.Join(t.TempDir(), "sluice.json")
	if err := os.WriteFile(cfgFile, []byte(`{"adr":"127.0.0.1:1"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	set := newSettings(fs, &setting{name: "addr", def: "x"})
	if err := fs.Parse(nil); err != nil {
		t.Fatal(err)
	}
	err := set.resolve(fs, cfgFile)
	if err == nil || !strings.Contains(err.Error(), `unknown key "adr"`) {
		t.Fatalf("err = %v, want unknown key error", err)
	}
}

func TestServeRefusesDefaultCredentialsOnPublicAddress(t *testing.T) {
	t.Setenv("SLUICE_ACCESS_KEY", "")
	os.Unsetenv("SLUICE_ACCESS_KEY")
	os.Unsetenv("SLUICE_SECRET_KEY")
	data := t.TempDir()
	var stderr bytes.Buffer
	err := run(context.Background(), []string{"serve", "--addr", "0.0.0.0:0", "--edge-addr", "127.0.0.1:0", "--data", data}, &bytes.Buffer{}, &stderr)
	if err == nil || !strings.Contains(err.Error(), "refusing to serve") || !strings.Contains(err.Error(), "SLUICE_ACCESS_KEY") {
		t.Fatalf("err = %v, want refusal naming SLUICE_ACCESS_KEY", err)
	}
	// Nothing was opened: the refusal comes before the store is touched.
	entries, _ := os.ReadDir(data)
	if len(entries) != 0 {
		t.Errorf("data dir has %d entries after refusal, want none", len(entries))
	}
}

func TestUsageAndVersion(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		wantErr  func(error) bool
		wantOut  string
		wantErrW string
	}{
		{"help", []string{"--help"}, isNil, "Commands:", ""},
		{"help serve", []string{"help", "serve"}, isHelp, "", "--edge-addr"},
		{"serve --help", []string{"serve", "--help"}, isHelp, "", "SLUICE_ACCESS_KEY"},
		{"version", []string{"version"}, isNil, "sluice ", ""},
		{"version --help", []string{"version", "--help"}, isHelp, "", "Usage: sluice version"},
		{"unknown", []string{"frobnicate"}, isUsage, "", "Commands:"},
		{"none", nil, isUsage, "", "Commands:"},
		{"bad flag", []string{"serve", "--nope"}, func(err error) bool { return err != nil }, "", "flag provided but not defined"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := run(context.Background(), tt.args, &stdout, &stderr)
			if !tt.wantErr(err) {
				t.Fatalf("err = %v", err)
			}
			if !strings.Contains(stdout.String(), tt.wantOut) {
				t.Errorf("stdout %q lacks %q", stdout.String(), tt.wantOut)
			}
			if !strings.Contains(stderr.String(), tt.wantErrW) {
				t.Errorf("stderr %q lacks %q", stderr.String(), tt.wantErrW)
			}
		})
	}
}

func isNil(err error) bool  { return err == nil }
func isHelp(err error) bool { return errors.Is(err, flag.ErrHelp) }
func isUsage(err error) bool {
	var ue usageError
	return errors.As(err, &ue)
}
