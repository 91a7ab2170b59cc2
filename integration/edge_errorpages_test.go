//go:build integration

package integration

import (
	"encoding/json"
	"net/http"
	"testing"
)

// TestEdgeCustomErrorPages configures a single-page app's fallback with
// aws-cli (404 → /index.html as 200, 403 → /errors/403.html as 403) and
// checks what viewers of missing keys get.
func TestEdgeCustomErrorPages(t *testing.T) {
	s := startSluice(t)
	bucket := bucketName("spa")
	awsOK(t, s, "s3api", "create-bucket", "--bucket", bucket)
	putFile(t, s, bucket, "index.html", []byte("<html>app shell</html>"), "--content-type", "text/html")
	putFile(t, s, bucket, "errors/403.html", []byte("<html>forbidden</html>"), "--content-type", "text/html")
	cfg := distributionConfig(bucket, nil, nil, false)
	cfg["CustomErrorResponses"] = map[string]any{
		"Quantity": 2,
		"Items": []map[string]any{
			{"ErrorCode": 404, "ResponsePagePath": "/index.html", "ResponseCode": "200", "ErrorCachingMinTTL": 60},
			{"ErrorCode": 403, "ResponsePagePath": "/errors/403.html", "ResponseCode": "403", "ErrorCachingMinTTL": 60},
		},
	}
	d := createDistribution(t, s, cfg)

	var got struct {
		DistributionConfig struct {
			CustomErrorResponses struct {
				Quantity int
				Items    []struct {
					ErrorCode          int
					ResponsePagePath   string
					ResponseCode       string
					ErrorCachingMinTTL int
				}
			}
		}
	}
	if err := json.Unmarshal([]byte(awsOK(t, s, "cloudfront", "get-distribution-config", "--id", d.ID)), &got); err != nil {
		t.Fatal(err)
	}
	if ce := got.DistributionConfig.CustomErrorResponses; ce.Quantity != 2 || len(ce.Items) != 2 || ce.Items[0].ResponsePagePath != "/index.html" || ce.Items[0].ResponseCode != "200" {
		t.Errorf("get-distribution-config CustomErrorResponses: %+v", ce)
	}

	for _, path := range []string{"/dashboard/settings", "/dashboard/settings", "/users/42"} {
		resp, body := edgeGet(t, s, d, path)
		if resp.StatusCode != http.StatusOK || string(body) != "<html>app shell</html>" {
			t.Errorf("GET %s: %d %q, want the app shell as 200", path, resp.StatusCode, body)
		}
		if xc := resp.Header.Get("X-Cache"); xc != "Error from sluice" {
			t.Errorf("GET %s: X-Cache %q, want Error from sluice", path, xc)
		}
		if ct := resp.Header.Get("Content-Type"); ct != "text/html" {
			t.Errorf("GET %s: Content-Type %q", path, ct)
		}
	}
	resp, body := edgeGet(t, s, d, "/index.html")
	if resp.StatusCode != http.StatusOK || resp.Header.Get("X-Cache") != "Hit from sluice" || string(body) != "<html>app shell</html>" {
		t.Errorf("the page is cached as an ordinary object: %d %q %q", resp.StatusCode, resp.Header.Get("X-Cache"), body)
	}
}
