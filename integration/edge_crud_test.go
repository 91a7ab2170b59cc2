//go:build integration

package integration

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestEdgeDistributionCRUD drives a distribution's life with aws-cli as a
// user does: create, get, update with If-Match (a stale ETag is refused),
// list, disable, delete (refused while enabled), and what the edge serves
// at each step.
func TestEdgeDistributionCRUD(t *testing.T) {
	s := startSluice(t)
	bucket := bucketName("crud")
	awsOK(t, s, "s3api", "create-bucket", "--bucket", bucket)
	putFile(t, s, bucket, "hello.txt", []byte("hello"), "--content-type", "text/plain")
	d := createDistribution(t, s, distributionConfig(bucket, nil, nil, false))
	if resp, body := edgeGet(t, s, d, "/hello.txt"); resp.StatusCode != 200 || string(body) != "hello" {
		t.Fatalf("new distribution serves %d %q", resp.StatusCode, body)
	}

	type getOut struct {
		ETag               string
		DistributionConfig map[string]any
		Distribution       struct {
			Id, Status, DomainName string
			DistributionConfig     map[string]any
		}
	}
	get := func() getOut {
		var o getOut
		if err := json.Unmarshal([]byte(awsOK(t, s, "cloudfront", "get-distribution", "--id", d.ID)), &o); err != nil {
			t.Fatal(err)
		}
		return o
	}
	g := get()
	if g.ETag != d.ETag || g.Distribution.Id != d.ID || g.Distribution.Status != "Deployed" {
		t.Errorf("get-distribution: ETag %q (create said %q), id %q, status %q", g.ETag, d.ETag, g.Distribution.Id, g.Distribution.Status)
	}
	var gc getOut
	if err := json.Unmarshal([]byte(awsOK(t, s, "cloudfront", "get-distribution-config", "--id", d.ID)), &gc); err != nil {
		t.Fatal(err)
	}
	cfg := gc.DistributionConfig

	update := func(cfg map[string]any, etag string) cliResult {
		path := filepath.Join(t.TempDir(), "dist.json")
		b, _ := json.Marshal(cfg)
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return awsCLI(t, s, "cloudfront", "update-distribution", "--id", d.ID, "--if-match", etag, "--distribution-config", "file://"+path)
	}
	cfg["Comment"] = "renamed by update"
	r := update(cfg, gc.ETag)
	if r.Code != 0 {
		t.Fatalf("update-distribution: %s", r)
	}
	var up getOut
	if err := json.Unmarshal([]byte(r.Stdout), &up); err != nil {
		t.Fatal(err)
	}
	if up.ETag == "" || up.ETag == gc.ETag || up.Distribution.DistributionConfig["Comment"] != "renamed by update" {
		t.Errorf("update-distribution: ETag %q (was %q), comment %v", up.ETag, gc.ETag, up.Distribution.DistributionConfig["Comment"])
	}
	if r := update(cfg, gc.ETag); r.Code == 0 || !strings.Contains(r.Stderr, "PreconditionFailed") {
		t.Errorf("update with the stale ETag: want PreconditionFailed, got %s", r)
	}
	if r := awsCLI(t, s, "cloudfront", "delete-distribution", "--id", d.ID, "--if-match", up.ETag); r.Code == 0 || !strings.Contains(r.Stderr, "DistributionNotDisabled") {
		t.Errorf("delete while enabled: want DistributionNotDisabled, got %s", r)
	}

	list := awsOK(t, s, "cloudfront", "list-distributions", "--query", "DistributionList.Items[].Id", "--output", "text")
	if !strings.Contains(list, d.ID) {
		t.Errorf("list-distributions %q lacks %s", list, d.ID)
	}

	cfg["Enabled"] = false
	r = update(cfg, up.ETag)
	if r.Code != 0 {
		t.Fatalf("disable: %s", r)
	}
	if err := json.Unmarshal([]byte(r.Stdout), &up); err != nil {
		t.Fatal(err)
	}
	if resp, _ := edgeGet(t, s, d, "/hello.txt"); resp.StatusCode != http.StatusForbidden {
		t.Errorf("a disabled distribution's host: status %d, want 403", resp.StatusCode)
	}
	awsOK(t, s, "cloudfront", "delete-distribution", "--id", d.ID, "--if-match", up.ETag)
	if r := awsCLI(t, s, "cloudfront", "get-distribution", "--id", d.ID); r.Code == 0 || !strings.Contains(r.Stderr, "NoSuchDistribution") {
		t.Errorf("get after delete: want NoSuchDistribution, got %s", r)
	}
	if list := awsOK(t, s, "cloudfront", "list-distributions", "--query", "DistributionList.Items[].Id", "--output", "text"); strings.Contains(list, d.ID) {
		t.Errorf("list-distributions after delete still has %s: %q", d.ID, list)
	}
	if resp, _ := edgeGet(t, s, d, "/hello.txt"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("the deleted distribution's host: status %d, want 404 (no distribution)", resp.StatusCode)
	}
}
