package cloudfront_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	cfsdk "github.com/aws/aws-sdk-go-v2/service/cloudfront"
	cftypes "github.com/aws/aws-sdk-go-v2/service/cloudfront/types"
	"github.com/google/go-cmp/cmp"

	"github.com/sluicehq/sluice/cloudfront"
)

func (h *harness) invalidate(ref string, paths ...string) (*cfsdk.CreateInvalidationOutput, error) {
	return h.client.CreateInvalidation(context.Background(), &cfsdk.CreateInvalidationInput{
		DistributionId: aws.String(h.onlyID()),
		InvalidationBatch: &cftypes.InvalidationBatch{
			CallerReference: aws.String(ref),
			Paths:           &cftypes.Paths{Quantity: aws.Int32(int32(len(paths))), Items: paths},
		},
	})
}

// onlyID returns the id of the first distribution the edge got.
func (h *harness) onlyID() string {
	h.edge.mu.Lock()
	defer h.edge.mu.Unlock()
	return h.edge.order[0]
}

func TestInvalidationAPI(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	out := h.create(t, minimalConfig("inv"))
	id := *out.Distribution.Id

	inv, err := h.invalidate("deploy-1", "/index.html", "/images/*", "/a b.jpg?x=1")
	if err != nil {
		t.Fatalf("CreateInvalidation: %v", err)
	}
	i := inv.Invalidation
	if len(*i.Id) != 14 || (*i.Id)[0] != 'I' || *i.Status != "Completed" {
		t.Errorf("invalidation Id %q Status %q", *i.Id, *i.Status)
	}
	if got, want := aws.ToString(inv.Location), h.url+"/2020-05-31/distribution/"+id+"/invalidation/"+*i.Id; got != want {
		t.Errorf("Location = %q, want %q", got, want)
	}
	if diff := cmp.Diff([]string{"/index.html", "/images/*", "/a b.jpg?x=1"}, i.InvalidationBatch.Paths.Items); diff != "" {
		t.Errorf("paths:\n%s", diff)
	}
	want := []edgeInvalidation{{Dist: id, Paths: []string{"/index.html", "/images/*", "/a b.jpg"}}}
	if diff := cmp.Diff(want, h.edge.invalidations()); diff != "" {
		t.Errorf("edge invalidations (-want +got):\n%s", diff)
	}

	// Same reference, same paths (in another order): the same invalidation.
	again, err := h.invalidate("deploy-1", "/images/*", "/a b.jpg?x=1", "/index.html")
	if err != nil {
		t.Fatal(err)
	}
	if *again.Invalidation.Id != *i.Id {
		t.Errorf("repeated batch made %s, want %s", *again.Invalidation.Id, *i.Id)
	}
	if n := len(h.edge.invalidations()); n != 1 {
		t.Errorf("edge saw %d invalidations, want 1", n)
	}
	// Same reference, other paths.
	_, err = h.invalidate("deploy-1", "/other")
	wantCode(t, err, "InvalidArgument", 400)

	g, err := h.client.GetInvalidation(ctx, &cfsdk.GetInvalidationInput{DistributionId: aws.String(id), Id: i.Id})
	if err != nil {
		t.Fatal(err)
	}
	if *g.Invalidation.InvalidationBatch.CallerReference != "deploy-1" || *g.Invalidation.Status != "Completed" ||
		!g.Invalidation.CreateTime.Equal(*i.CreateTime) {
		t.Errorf("GetInvalidation = %+v", g.Invalidation)
	}
	_, err = h.client.GetInvalidation(ctx, &cfsdk.GetInvalidationInput{DistributionId: aws.String(id), Id: aws.String("INOSUCH1234567")})
	wantCode(t, err, "NoSuchInvalidation", 404)
	_, err = h.client.GetInvalidation(ctx, &cfsdk.GetInvalidationInput{DistributionId: aws.String("ENOSUCH1234567"), Id: i.Id})
	wantCode(t, err, "NoSuchDistribution", 404)

	// ListInvalidations: newest first, paged.
	ids := []string{*i.Id}
	for n := range 4 {
		o, err := h.invalidate(fmt.Sprintf("deploy-%d", n+2), fmt.Sprintf("/p%d", n))
		if err != nil {
			t.Fatal(err)
		}
		ids = append([]string{*o.Invalidation.Id}, ids...)
	}
	var listed []string
	var marker *string
	for range 10 {
		l, err := h.client.ListInvalidations(ctx, &cfsdk.ListInvalidationsInput{DistributionId: aws.String(id), MaxItems: aws.Int32(2), Marker: marker})
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range l.InvalidationList.Items {
			listed = append(listed, *s.Id)
			if *s.Status != "Completed" {
				t.Errorf("%s status %s", *s.Id, *s.Status)
			}
		}
		if !*l.InvalidationList.IsTruncated {
			break
		}
		marker = l.InvalidationList.NextMarker
	}
	if diff := cmp.Diff(ids, listed); diff != "" {
		t.Errorf("ListInvalidations order (-want +got):\n%s", diff)
	}

	// Usage: 3 + 4 paths this month; the repeat was not counted.
	months, err := h.svc.Usage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	month := time.Now().UTC().Format("2006-01")
	if diff := cmp.Diff([]cloudfront.MonthUsage{{Month: month, Paths: 7, Distributions: map[string]uint64{id: 7}}}, months); diff != "" {
		t.Errorf("Usage (-want +got):\n%s", diff)
	}
	rec := httptest.NewRecorder()
	h.svc.UsageHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/_sluice/cdn/usage", nil))
	var report cloudfront.UsageReport
	if err := json.Unmarshal(rec.Body.Bytes(), &report); err != nil || rec.Code != 200 {
		t.Fatalf("usage handler: %d %v %s", rec.Code, err, rec.Body)
	}
	if report.FreePathsPerMonth != 1000 || len(report.Months) != 1 || report.Months[0].Paths != 7 {
		t.Errorf("usage report = %+v", report)
	}
}

func TestInvalidationPathErrors(t *testing.T) {
	h := newHarness(t)
	h.create(t, minimalConfig("inv-err"))
	many := func(n int, wildcard bool) []string {
		var out []string
		for i := range n {
			p := fmt.Sprintf("/f%d", i)
			if wildcard {
				p += "*"
			}
			out = append(out, p)
		}
		return out
	}
	for _, tc := range []struct {
		name   string
		paths  []string
		code   string
		status int
	}{
		{"no leading slash", []string{"index.html"}, "InvalidArgument", 400},
		{"star in the middle", []string{"/images/*.jpg"}, "InvalidArgument", 400},
		{"control character", []string{"/a\x7fb"}, "InvalidArgument", 400},
		{"too long", []string{"/" + strings.Repeat("a", 4000)}, "InvalidArgument", 400},
		{"3001 files", many(3001, false), "BatchTooLarge", 413},
		{"16 wildcards", many(16, true), "TooManyInvalidationsInProgress", 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := h.invalidate("ref-"+tc.name, tc.paths...)
			wantCode(t, err, tc.code, tc.status)
		})
	}
	// 3,000 files and 15 wildcards in one batch are within the limits.
	if _, err := h.invalidate("max", append(many(3000, false), many(15, true)...)...); err != nil {
		t.Errorf("3000 files + 15 wildcards: %v", err)
	}

	// Quantity must match Items: send the document by hand.
	body := `<InvalidationBatch xmlns="http://cloudfront.amazonaws.com/doc/2020-05-31/"><Paths><Quantity>2</Quantity><Items><Path>/a</Path></Items></Paths><CallerReference>q</CallerReference></InvalidationBatch>`
	code, status := rawCall(t, h, http.MethodPost, "/2020-05-31/distribution/"+h.onlyID()+"/invalidation", body, nil)
	if code != "InconsistentQuantities" || status != 400 {
		t.Errorf("Quantity mismatch: %s %d", code, status)
	}
}

// rawCall sends a request without the SDK and returns the error code and
// status ("" for success).
func rawCall(t *testing.T, h *harness, method, path, body string, hdr map[string]string) (string, int) {
	t.Helper()
	req, err := http.NewRequest(method, h.url+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode < 300 {
		return "", resp.StatusCode
	}
	s := string(data)
	start, end := strings.Index(s, "<Code>"), strings.Index(s, "</Code>")
	if start < 0 || end < start || !strings.Contains(s, `<ErrorResponse xmlns="http://cloudfront.amazonaws.com/doc/2020-05-31/">`) ||
		!strings.Contains(s, "<RequestId>req-") || !strings.Contains(s, "<Type>") {
		t.Fatalf("error body is not CloudFront's ErrorResponse: %s", s)
	}
	return s[start+6 : end], resp.StatusCode
}

func TestInvalidationEdgeFailureRetries(t *testing.T) {
	h := newHarness(t)
	h.create(t, minimalConfig("inv-fail"))
	h.edge.mu.Lock()
	h.edge.fail = 2
	h.edge.mu.Unlock()
	out, err := h.invalidate("r", "/x")
	if err != nil {
		t.Fatalf("CreateInvalidation: %v", err)
	}
	if *out.Invalidation.Status != "InProgress" {
		t.Errorf("status = %s, want InProgress while the edge fails", *out.Invalidation.Status)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		g, err := h.client.GetInvalidation(context.Background(), &cfsdk.GetInvalidationInput{DistributionId: aws.String(h.onlyID()), Id: out.Invalidation.Id})
		if err != nil {
			t.Fatal(err)
		}
		if *g.Invalidation.Status == "Completed" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("invalidation never completed")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got := h.edge.invalidations(); len(got) != 1 || got[0].Paths[0] != "/x" {
		t.Errorf("edge invalidations = %+v", got)
	}
}
