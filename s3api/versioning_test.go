package s3api

import (
	"bytes"
	"context"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/google/go-cmp/cmp"
	"github.com/sluicehq/sluice"
)

// setVersioning puts a bucket's versioning state through the SDK.
func (ts *testServer) setVersioning(bucket, state string) {
	ts.t.Helper()
	_, err := ts.Client.PutBucketVersioning(context.Background(), &s3.PutBucketVersioningInput{
		Bucket:                  aws.String(bucket),
		VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatus(state)},
	})
	if err != nil {
		ts.t.Fatalf("put versioning %s on %s: %v", state, bucket, err)
	}
}

// putVersion writes body and returns the version id S3 reported.
func (ts *testServer) putVersion(bucket, key, body string) string {
	ts.t.Helper()
	out := ts.putObject(bucket, key, []byte(body))
	return aws.ToString(out.VersionId)
}

func TestBucketVersioningStates(t *testing.T) {
	ts := newTestServer(t)
	ts.mkBucket("vstate")
	ctx := context.Background()
	get := func() (string, string) {
		t.Helper()
		out, err := ts.Client.GetBucketVersioning(ctx, &s3.GetBucketVersioningInput{Bucket: aws.String("vstate")})
		if err != nil {
			t.Fatal(err)
		}
		return string(out.Status), string(out.MFADelete)
	}
	if st, mfa := get(); st != "" || mfa != "" {
		t.Fatalf("never enabled: status %q mfa %q, want none", st, mfa)
	}
	r := ts.do(rawReq{method: "GET", path: "/vstate?versioning"})
	if want := `<?xml version="1.0" encoding="UTF-8"?>` + "\n" + `<VersioningConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"></VersioningConfiguration>`; r.status != 200 || string(r.body) != want {
		t.Fatalf("never enabled on the wire: %d\n%s\nwant\n%s", r.status, r.body, want)
	}
	for _, state := range []string{"Enabled", "Suspended", "Enabled"} {
		ts.setVersioning("vstate", state)
		if st, _ := get(); st != state {
			t.Fatalf("after putting %s: status %q", state, st)
		}
	}
	r = ts.do(rawReq{method: "GET", path: "/vstate?versioning"})
	if want := `<VersioningConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Status>Enabled</Status></VersioningConfiguration>`; !bytes.HasSuffix(r.body, []byte(want)) {
		t.Fatalf("enabled on the wire:\n%s\nwant suffix\n%s", r.body, want)
	}
	_, err := ts.Client.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{
		Bucket: aws.String("vstate"),
		VersioningConfiguration: &types.VersioningConfiguration{
			Status: types.BucketVersioningStatusSuspended, MFADelete: types.MFADeleteDisabled,
		},
	})
	if err != nil {
		t.Fatalf("MfaDelete Disabled refused: %v", err)
	}
	if st, _ := get(); st != "Suspended" {
		t.Fatalf("status %q after Suspended with MfaDelete Disabled", st)
	}
}

func TestPutBucketVersioningErrors(t *testing.T) {
	ts := newTestServer(t)
	ts.mkBucket("verr")
	doc := func(inner string) string {
		return `<VersioningConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">` + inner + `</VersioningConfiguration>`
	}
	tests := []struct {
		name   string
		bucket string
		body   string
		header map[string]string
		anon   bool
		status int
		code   string
	}{
		{"not xml", "verr", "nope", nil, false, 400, "MalformedXML"},
		{"empty body", "verr", "", nil, false, 400, "MalformedXML"},
		{"trailing garbage", "verr", doc(`<Status>Enabled</Status>`) + "wrongxml", nil, false, 400, "MalformedXML"},
		{"other root", "verr", `<Versioning><Status>Enabled</Status></Versioning>`, nil, false, 400, "MalformedXML"},
		{"lower case status", "verr", doc(`<Status>enabled</Status>`), nil, false, 400, "MalformedXML"},
		{"disabled is not a state", "verr", doc(`<Status>Disabled</Status>`), nil, false, 400, "MalformedXML"},
		{"padded status", "verr", doc(`<Status> Enabled </Status>`), nil, false, 400, "MalformedXML"},
		{"no status", "verr", doc(``), nil, false, 400, "IllegalVersioningConfigurationException"},
		{"empty status", "verr", doc(`<Status></Status>`), nil, false, 400, "IllegalVersioningConfigurationException"},
		{"lower case mfa delete", "verr", doc(`<Status>Enabled</Status><MfaDelete>disabled</MfaDelete>`), nil, false, 400, "MalformedXML"},
		{"mfa delete without mfa", "verr", doc(`<Status>Enabled</Status><MfaDelete>Enabled</MfaDelete>`), nil, false, 403, "AccessDenied"},
		{"mfa delete with mfa", "verr", doc(`<Status>Enabled</Status><MfaDelete>Enabled</MfaDelete>`), map[string]string{"X-Amz-Mfa": "arn:aws:iam::000000000000:mfa/root 123456"}, false, 501, "NotImplemented"},
		{"bad content-md5", "verr", doc(`<Status>Enabled</Status>`), map[string]string{"Content-MD5": b64md5([]byte("other"))}, false, 400, "BadDigest"},
		{"no such bucket", "nowhere", doc(`<Status>Enabled</Status>`), nil, false, 404, "NoSuchBucket"},
		{"anonymous", "verr", doc(`<Status>Enabled</Status>`), nil, true, 403, "AccessDenied"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantError(t, ts.do(rawReq{method: "PUT", path: "/" + tt.bucket + "?versioning", body: []byte(tt.body), header: tt.header, anon: tt.anon}), tt.status, tt.code)
		})
	}
	if st, err := ts.Store.Versioning(context.Background(), "verr"); err != nil || st != "" {
		t.Fatalf("a refused request changed the state: %q %v", st, err)
	}
	t.Run("empty mfa delete is absent", func(t *testing.T) {
		r := ts.do(rawReq{method: "PUT", path: "/verr?versioning", body: []byte(doc(`<Status>Enabled</Status><MfaDelete></MfaDelete>`))})
		if r.status != 200 {
			t.Fatalf("status %d: %s", r.status, r.body)
		}
	})
}

func TestVersionedObjectReads(t *testing.T) {
	ts := newTestServer(t)
	ts.mkBucket("vread")
	ts.setVersioning("vread", sluice.VersioningEnabled)
	ctx := context.Background()
	v1 := ts.putVersion("vread", "k", "one")
	v2 := ts.putVersion("vread", "k", "two!")
	if v1 == "" || v2 == "" || v1 == v2 || v1 == sluice.NullVersionID {
		t.Fatalf("version ids %q %q: want two distinct issued ids", v1, v2)
	}
	read := func(vid string) (string, string) {
		t.Helper()
		in := &s3.GetObjectInput{Bucket: aws.String("vread"), Key: aws.String("k")}
		if vid != "" {
			in.VersionId = aws.String(vid)
		}
		out, err := ts.Client.GetObject(ctx, in)
		if err != nil {
			t.Fatalf("get %q: %v", vid, err)
		}
		defer out.Body.Close()
		b, _ := io.ReadAll(out.Body)
		return string(b), aws.ToString(out.VersionId)
	}
	for _, tc := range []struct{ vid, body, reported string }{{"", "two!", v2}, {v1, "one", v1}, {v2, "two!", v2}} {
		if body, vid := read(tc.vid); body != tc.body || vid != tc.reported {
			t.Errorf("get versionId %q = %q (version %q), want %q (version %q)", tc.vid, body, vid, tc.body, tc.reported)
		}
	}
	head, err := ts.Client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("vread"), Key: aws.String("k"), VersionId: aws.String(v1)})
	if err != nil || aws.ToInt64(head.ContentLength) != 3 || aws.ToString(head.VersionId) != v1 {
		t.Fatalf("head v1: %+v %v", head, err)
	}
	// Range reads and conditions apply to the version asked for.
	r := ts.do(rawReq{method: "GET", path: "/vread/k?versionId=" + url.QueryEscape(v1), header: map[string]string{"Range": "bytes=1-"}})
	if r.status != 206 || string(r.body) != "ne" || r.header.Get("X-Amz-Version-Id") != v1 {
		t.Fatalf("ranged v1: %d %q %v", r.status, r.body, r.header)
	}

	tests := []struct {
		name, method, query string
		status              int
		code                string
	}{
		{"empty version id", "GET", "versionId=", 400, "InvalidArgument"},
		{"bare version id", "GET", "versionId", 400, "InvalidArgument"},
		{"never issued", "GET", "versionId=not-a-version", 400, "InvalidArgument"},
		{"null when none", "GET", "versionId=null", 404, "NoSuchVersion"},
		{"no such bucket", "GET", "versionId=" + url.QueryEscape(v1), 404, "NoSuchBucket"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := "/vread/k?" + tt.query
			if tt.code == "NoSuchBucket" {
				path = "/nobucket/k?" + tt.query
			}
			e := wantError(t, ts.do(rawReq{method: tt.method, path: path}), tt.status, tt.code)
			if tt.code == "NoSuchVersion" && (e.Key != "k" || !strings.Contains(string(ts.do(rawReq{method: "GET", path: path}).body), "<VersionId>null</VersionId>")) {
				t.Fatalf("NoSuchVersion lacks Key/VersionId: %+v", e)
			}
			if tt.code == "InvalidArgument" && e.ArgumentName != "versionId" {
				t.Fatalf("ArgumentName = %q", e.ArgumentName)
			}
		})
	}
	t.Run("head errors have no body", func(t *testing.T) {
		r := ts.do(rawReq{method: "HEAD", path: "/vread/k?versionId=null"})
		if r.status != 404 || len(r.body) != 0 {
			t.Fatalf("HEAD NoSuchVersion: %d %q", r.status, r.body)
		}
	})
}

func TestDeleteMarkers(t *testing.T) {
	ts := newTestServer(t)
	ts.mkBucket("dmark")
	ts.setVersioning("dmark", sluice.VersioningEnabled)
	ctx := context.Background()
	v1 := ts.putVersion("dmark", "k", "data")

	del, err := ts.Client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("dmark"), Key: aws.String("k")})
	if err != nil {
		t.Fatal(err)
	}
	marker := aws.ToString(del.VersionId)
	if !aws.ToBool(del.DeleteMarker) || marker == "" || marker == v1 {
		t.Fatalf("delete: marker %v version %q", aws.ToBool(del.DeleteMarker), marker)
	}

	for _, method := range []string{"GET", "HEAD"} {
		t.Run(method+" latest is a marker", func(t *testing.T) {
			r := ts.do(rawReq{method: method, path: "/dmark/k"})
			if r.status != 404 || r.header.Get("X-Amz-Delete-Marker") != "true" || r.header.Get("X-Amz-Version-Id") != marker {
				t.Fatalf("%d %v", r.status, r.header)
			}
			if method == "GET" {
				wantError(t, r, 404, "NoSuchKey")
			} else if len(r.body) != 0 {
				t.Fatalf("HEAD body %q", r.body)
			}
		})
		t.Run(method+" the marker by id", func(t *testing.T) {
			r := ts.do(rawReq{method: method, path: "/dmark/k?versionId=" + url.QueryEscape(marker)})
			h := r.header
			if r.status != 405 || h.Get("X-Amz-Delete-Marker") != "true" || h.Get("X-Amz-Version-Id") != marker || h.Get("Allow") != "DELETE" {
				t.Fatalf("%d %v", r.status, h)
			}
			if _, err := http.ParseTime(h.Get("Last-Modified")); err != nil {
				t.Fatalf("Last-Modified %q: %v", h.Get("Last-Modified"), err)
			}
			if method == "GET" {
				wantError(t, r, 405, "MethodNotAllowed")
				for _, want := range []string{"<Method>GET</Method>", "<ResourceType>DeleteMarker</ResourceType>"} {
					if !bytes.Contains(r.body, []byte(want)) {
						t.Fatalf("body lacks %s: %s", want, r.body)
					}
				}
			} else if len(r.body) != 0 {
				t.Fatalf("HEAD body %q", r.body)
			}
		})
	}
	if r := ts.do(rawReq{method: "GET", path: "/dmark/k?versionId=" + url.QueryEscape(v1)}); r.status != 200 || string(r.body) != "data" {
		t.Fatalf("older version behind the marker: %d %q", r.status, r.body)
	}
	t.Run("tagging and attributes see the marker", func(t *testing.T) {
		r := ts.do(rawReq{method: "GET", path: "/dmark/k?tagging"})
		wantError(t, r, 404, "NoSuchKey")
		if r.header.Get("X-Amz-Delete-Marker") != "true" {
			t.Fatalf("tagging headers %v", r.header)
		}
		wantError(t, ts.do(rawReq{method: "GET", path: "/dmark/k?tagging&versionId=" + url.QueryEscape(marker)}), 405, "MethodNotAllowed")
		wantError(t, ts.do(rawReq{method: "GET", path: "/dmark/k?attributes&versionId=" + url.QueryEscape(marker), header: map[string]string{"X-Amz-Object-Attributes": "ETag"}}), 405, "MethodNotAllowed")
		wantError(t, ts.do(rawReq{method: "GET", path: "/dmark/k?acl"}), 404, "NoSuchKey")
		r = ts.do(rawReq{method: "PUT", path: "/dmark/k?acl", header: map[string]string{"X-Amz-Acl": "private"}})
		wantError(t, r, 405, "MethodNotAllowed")
		if r.header.Get("X-Amz-Delete-Marker") != "" {
			t.Fatalf("PutObjectAcl on a latest marker reports it: %v", r.header)
		}
	})

	// Removing the marker by id brings the object back.
	r := ts.do(rawReq{method: "DELETE", path: "/dmark/k?versionId=" + url.QueryEscape(marker)})
	if r.status != 204 || r.header.Get("X-Amz-Delete-Marker") != "true" || r.header.Get("X-Amz-Version-Id") != marker {
		t.Fatalf("delete the marker: %d %v", r.status, r.header)
	}
	if r := ts.do(rawReq{method: "GET", path: "/dmark/k"}); r.status != 200 || string(r.body) != "data" || r.header.Get("X-Amz-Version-Id") != v1 {
		t.Fatalf("after removing the marker: %d %q %v", r.status, r.body, r.header)
	}
	// Removing a version for good reports it, without the marker header.
	r = ts.do(rawReq{method: "DELETE", path: "/dmark/k?versionId=" + url.QueryEscape(v1)})
	if r.status != 204 || r.header.Get("X-Amz-Delete-Marker") != "" || r.header.Get("X-Amz-Version-Id") != v1 {
		t.Fatalf("delete v1: %d %v", r.status, r.header)
	}
	if r := ts.do(rawReq{method: "GET", path: "/dmark/k"}); r.status != 404 || r.header.Get("X-Amz-Delete-Marker") != "" {
		t.Fatalf("after removing every version: %d %v", r.status, r.header)
	}
	t.Run("delete errors", func(t *testing.T) {
		wantError(t, ts.do(rawReq{method: "DELETE", path: "/dmark/k?versionId="}), 400, "InvalidArgument")
		wantError(t, ts.do(rawReq{method: "DELETE", path: "/dmark/k?versionId=not-a-version"}), 400, "InvalidArgument")
		if r := ts.do(rawReq{method: "DELETE", path: "/dmark/k?versionId=" + url.QueryEscape(v1)}); r.status != 204 {
			t.Fatalf("deleting a version that is gone: %d %s", r.status, r.body)
		}
	})
}

func TestUnversionedAndSuspendedBuckets(t *testing.T) {
	ts := newTestServer(t)
	ts.mkBucket("plain")
	r := ts.do(rawReq{method: "PUT", path: "/plain/k", body: []byte("x")})
	if r.status != 200 || r.header.Get("X-Amz-Version-Id") != "" {
		t.Fatalf("unversioned put: %d %v", r.status, r.header)
	}
	if r := ts.do(rawReq{method: "GET", path: "/plain/k?versionId=null"}); r.status != 200 || string(r.body) != "x" {
		t.Fatalf("versionId=null on an unversioned bucket: %d %s", r.status, r.body)
	}
	r = ts.do(rawReq{method: "DELETE", path: "/plain/k"})
	if r.status != 204 || r.header.Get("X-Amz-Delete-Marker") != "" || r.header.Get("X-Amz-Version-Id") != "" {
		t.Fatalf("unversioned delete: %d %v", r.status, r.header)
	}
	if r := ts.do(rawReq{method: "GET", path: "/plain/k"}); r.status != 404 || r.header.Get("X-Amz-Delete-Marker") != "" {
		t.Fatalf("after unversioned delete: %d %v", r.status, r.header)
	}
	ts.putObject("plain", "k2", []byte("y"))
	if got := ts.versions("plain?versions").lines(); len(got) != 1 || got[0] != "Version k2 null latest" {
		t.Fatalf("versions of an unversioned bucket: %q", got)
	}

	ts.mkBucket("paused")
	ts.setVersioning("paused", sluice.VersioningEnabled)
	kept := ts.putVersion("paused", "k", "kept")
	ts.setVersioning("paused", sluice.VersioningSuspended)
	if vid := ts.putVersion("paused", "k", "null one"); vid != sluice.NullVersionID {
		t.Fatalf("suspended put version %q, want null", vid)
	}
	r = ts.do(rawReq{method: "DELETE", path: "/paused/k"})
	if r.status != 204 || r.header.Get("X-Amz-Delete-Marker") != "true" || r.header.Get("X-Amz-Version-Id") != sluice.NullVersionID {
		t.Fatalf("suspended delete: %d %v", r.status, r.header)
	}
	if r := ts.do(rawReq{method: "GET", path: "/paused/k?versionId=" + url.QueryEscape(kept)}); r.status != 200 || string(r.body) != "kept" {
		t.Fatalf("version from before the suspension: %d %s", r.status, r.body)
	}
}

// wireVersions is ListVersionsResult as tests read it, entries in order.
type wireVersions struct {
	Name, Prefix, KeyMarker, VersionIdMarker, NextKeyMarker, NextVersionIdMarker string
	Delimiter, EncodingType                                                      string
	MaxKeys                                                                      int
	IsTruncated                                                                  bool
	Entries                                                                      []wireVersion `xml:",any"`
}

type wireVersion struct {
	XMLName   xml.Name
	Key       string
	VersionId string
	IsLatest  bool
	ETag      string
	Size      int64
	Prefix    string
}

func (w wireVersions) lines() []string {
	var out []string
	for _, e := range w.Entries {
		switch e.XMLName.Local {
		case "Version", "DeleteMarker":
			latest := ""
			if e.IsLatest {
				latest = " latest"
			}
			out = append(out, e.XMLName.Local+" "+e.Key+" "+e.VersionId+latest)
		case "CommonPrefixes":
			out = append(out, "Prefix "+e.Prefix)
		}
	}
	return out
}

func (ts *testServer) versions(query string) wireVersions {
	ts.t.Helper()
	r := ts.do(rawReq{method: "GET", path: "/" + query})
	if r.status != 200 {
		ts.t.Fatalf("GET %s = %d %s", query, r.status, r.body)
	}
	var w wireVersions
	if err := xml.Unmarshal(r.body, &w); err != nil {
		ts.t.Fatalf("decode %s: %v\n%s", query, err, r.body)
	}
	return w
}

func TestListObjectVersions(t *testing.T) {
	ts := newTestServer(t)
	ts.mkBucket("lvers")
	ts.putObject("lvers", "a", []byte("before versioning"))
	ts.setVersioning("lvers", sluice.VersioningEnabled)
	a2 := ts.putVersion("lvers", "a", "a2")
	b1 := ts.putVersion("lvers", "b", "b1")
	del, err := ts.Client.DeleteObject(context.Background(), &s3.DeleteObjectInput{Bucket: aws.String("lvers"), Key: aws.String("b")})
	if err != nil {
		t.Fatal(err)
	}
	bm := aws.ToString(del.VersionId)
	d1 := ts.putVersion("lvers", "dir/x", "x")
	ts.putVersion("lvers", "dir/y", "y")
	sp := ts.putVersion("lvers", "s p+", "odd")

	all := []string{
		"Version a " + a2 + " latest",
		"Version a null",
		"DeleteMarker b " + bm + " latest",
		"Version b " + b1,
		"Version dir/x " + d1 + " latest",
	}
	got := ts.versions("lvers?versions").lines()
	if diff := cmp.Diff(all, got[:len(all)]); diff != "" {
		t.Fatalf("versions (-want +got):\n%s", diff)
	}
	if len(got) != 7 || got[6] != "Version s p+ "+sp+" latest" {
		t.Fatalf("tail of the listing: %q", got)
	}

	t.Run("delimiter and prefix", func(t *testing.T) {
		w := ts.versions("lvers?versions&delimiter=/")
		want := []string{"Version a " + a2 + " latest", "Version a null", "DeleteMarker b " + bm + " latest", "Version b " + b1, "Version s p+ " + sp + " latest", "Prefix dir/"}
		if diff := cmp.Diff(want, w.lines()); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
		if w := ts.versions("lvers?versions&prefix=dir/&max-keys=1"); !w.IsTruncated || w.NextKeyMarker != "dir/x" || w.NextVersionIdMarker != d1 || w.Prefix != "dir/" {
			t.Errorf("prefix page: %+v", w)
		}
	})

	t.Run("pages join up", func(t *testing.T) {
		for _, max := range []int{1, 2, 3} {
			var joined []string
			q := fmt.Sprintf("lvers?versions&max-keys=%d", max)
			for pages := 0; ; pages++ {
				if pages > 10 {
					t.Fatalf("max-keys=%d: no end", max)
				}
				w := ts.versions(q)
				if len(w.Entries) > max || w.MaxKeys != max {
					t.Fatalf("max-keys=%d: page of %d, MaxKeys %d", max, len(w.Entries), w.MaxKeys)
				}
				joined = append(joined, w.lines()...)
				if !w.IsTruncated {
					break
				}
				q = fmt.Sprintf("lvers?versions&max-keys=%d&key-marker=%s&version-id-marker=%s", max, url.QueryEscape(w.NextKeyMarker), url.QueryEscape(w.NextVersionIdMarker))
			}
			if diff := cmp.Diff(got, joined); diff != "" {
				t.Errorf("max-keys=%d (-unpaged +paged):\n%s", max, diff)
			}
		}
	})

	t.Run("SDK paginator", func(t *testing.T) {
		var keys []string
		var markers int
		p := s3.NewListObjectVersionsPaginator(ts.Client, &s3.ListObjectVersionsInput{Bucket: aws.String("lvers"), MaxKeys: aws.Int32(2)})
		for p.HasMorePages() {
			out, err := p.NextPage(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			for _, v := range out.Versions {
				keys = append(keys, aws.ToString(v.Key)+"@"+aws.ToString(v.VersionId))
			}
			markers += len(out.DeleteMarkers)
		}
		if len(keys) != 6 || markers != 1 {
			t.Fatalf("SDK saw %d versions %q and %d markers", len(keys), keys, markers)
		}
	})

	t.Run("key-marker alone skips every version of the key", func(t *testing.T) {
		got := ts.versions("lvers?versions&key-marker=a").lines()
		if len(got) == 0 || !strings.HasPrefix(got[0], "DeleteMarker b ") {
			t.Fatalf("%q", got)
		}
	})

	t.Run("url encoding", func(t *testing.T) {
		w := ts.versions("lvers?versions&encoding-type=url&prefix=s%20p")
		if w.EncodingType != "url" || w.Prefix != "s+p" || len(w.Entries) != 1 || w.Entries[0].Key != "s+p%2B" {
			t.Fatalf("%+v", w)
		}
	})

	t.Run("max-keys 0", func(t *testing.T) {
		if w := ts.versions("lvers?versions&max-keys=0"); len(w.Entries) != 0 || w.IsTruncated || w.MaxKeys != 0 {
			t.Fatalf("%+v", w)
		}
	})

	t.Run("errors", func(t *testing.T) {
		tests := []struct {
			name, query, code, arg string
			status                 int
		}{
			{"version-id-marker without key-marker", "lvers?versions&version-id-marker=" + url.QueryEscape(b1), "InvalidArgument", "version-id-marker", 400},
			{"empty version-id-marker", "lvers?versions&key-marker=b&version-id-marker=", "InvalidArgument", "version-id-marker", 400},
			{"never issued version-id-marker", "lvers?versions&key-marker=b&version-id-marker=bad-vid", "InvalidArgument", "version-id-marker", 400},
			{"max-keys first", "lvers?versions&max-keys=abc&version-id-marker=x", "InvalidArgument", "max-keys", 400},
			{"bad encoding", "lvers?versions&encoding-type=xml", "InvalidArgument", "encoding-type", 400},
			{"no such bucket", "nobucket?versions", "NoSuchBucket", "", 404},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				e := wantError(t, ts.do(rawReq{method: "GET", path: "/" + tt.query}), tt.status, tt.code)
				if e.ArgumentName != tt.arg {
					t.Fatalf("ArgumentName %q, want %q", e.ArgumentName, tt.arg)
				}
			})
		}
		if w := ts.versions("lvers?versions&key-marker=b&version-id-marker=null"); len(w.Entries) == 0 || w.VersionIdMarker != "null" {
			t.Fatalf("version-id-marker=null refused or empty: %+v", w)
		}
	})
}

// TestListObjectVersionsWire checks the whole document against the shape S3
// sends: element order, Owner in both entry kinds, no ETag or Size in a
// delete marker, markers echoed.
func TestListObjectVersionsWire(t *testing.T) {
	ts := newTestServer(t)
	ts.mkBucket("lwire")
	ts.setVersioning("lwire", sluice.VersioningEnabled)
	// A raw PUT, so that no SDK checksum shows up in the listing.
	v1 := ts.do(rawReq{method: "PUT", path: "/lwire/k", body: []byte("hello")}).header.Get("X-Amz-Version-Id")
	if _, err := ts.Client.DeleteObject(context.Background(), &s3.DeleteObjectInput{Bucket: aws.String("lwire"), Key: aws.String("k")}); err != nil {
		t.Fatal(err)
	}
	page, err := ts.Store.ListVersions(context.Background(), "lwire", sluice.ListVersionsOptions{MaxKeys: 10})
	if err != nil || len(page.Versions) != 2 {
		t.Fatalf("store listing: %+v %v", page, err)
	}
	dm, ver := page.Versions[0], page.Versions[1]
	owner := `<Owner><ID>` + ownerID + `</ID><DisplayName>` + ownerDisplayName + `</DisplayName></Owner>`
	want := `<?xml version="1.0" encoding="UTF-8"?>` + "\n" +
		`<ListVersionsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>lwire</Name><Prefix></Prefix>` +
		`<KeyMarker></KeyMarker><VersionIdMarker></VersionIdMarker><MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated>` +
		`<DeleteMarker><Key>k</Key><VersionId>` + dm.VersionID + `</VersionId><IsLatest>true</IsLatest><LastModified>` + isoTime(dm.LastModified) + `</LastModified>` + owner + `</DeleteMarker>` +
		`<Version><Key>k</Key><VersionId>` + v1 + `</VersionId><IsLatest>false</IsLatest><LastModified>` + isoTime(ver.LastModified) + `</LastModified>` +
		`<ETag>&#34;5d41402abc4b2a76b9719d911017c592&#34;</ETag><Size>5</Size>` + owner + `<StorageClass>STANDARD</StorageClass></Version>` +
		`</ListVersionsResult>`
	r := ts.do(rawReq{method: "GET", path: "/lwire?versions"})
	if r.status != 200 || string(r.body) != want {
		t.Fatalf("%d\n got: %s\nwant: %s", r.status, r.body, want)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/xml" {
		t.Fatalf("Content-Type %q", ct)
	}

	// A page after a marker echoes it; the next markers are the last entry
	// returned when the page is cut short.
	want = `<Name>lwire</Name><Prefix></Prefix><KeyMarker>k</KeyMarker><VersionIdMarker>` + dm.VersionID + `</VersionIdMarker>` +
		`<MaxKeys>1</MaxKeys><Delimiter>/</Delimiter><EncodingType>url</EncodingType><IsTruncated>false</IsTruncated><Version><Key>k</Key><VersionId>` + v1 + `</VersionId>`
	r = ts.do(rawReq{method: "GET", path: "/lwire?versions&key-marker=k&version-id-marker=" + url.QueryEscape(dm.VersionID) + "&max-keys=1&delimiter=/&encoding-type=url"})
	if r.status != 200 || !bytes.Contains(r.body, []byte(want)) {
		t.Fatalf("page after the marker: %d\n got: %s\nwant: …%s…", r.status, r.body, want)
	}
	want = `<KeyMarker></KeyMarker><VersionIdMarker></VersionIdMarker><NextKeyMarker>k</NextKeyMarker><NextVersionIdMarker>` + dm.VersionID +
		`</NextVersionIdMarker><MaxKeys>1</MaxKeys><IsTruncated>true</IsTruncated><DeleteMarker>`
	if r := ts.do(rawReq{method: "GET", path: "/lwire?versions&max-keys=1"}); !bytes.Contains(r.body, []byte(want)) {
		t.Fatalf("truncated page:\n got: %s\nwant: …%s…", r.body, want)
	}
}

func TestDeleteObjectsVersions(t *testing.T) {
	ts := newTestServer(t)
	ts.mkBucket("multi")
	ts.setVersioning("multi", sluice.VersioningEnabled)
	v1 := ts.putVersion("multi", "a", "a1")
	ts.putVersion("multi", "a", "a2")
	ts.putVersion("multi", "b", "b1")
	mdel := func(quiet bool, objects ...string) rawResp {
		t.Helper()
		q := ""
		if quiet {
			q = "<Quiet>true</Quiet>"
		}
		body := []byte(`<Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/">` + q + strings.Join(objects, "") + `</Delete>`)
		return ts.do(rawReq{method: "POST", path: "/multi?delete", body: body, header: map[string]string{"Content-MD5": b64md5(body)}})
	}
	obj := func(key, vid string) string {
		if vid == "-" {
			return "<Object><Key>" + key + "</Key></Object>"
		}
		return "<Object><Key>" + key + "</Key><VersionId>" + vid + "</VersionId></Object>"
	}
	type deleted struct {
		Key, VersionId, DeleteMarkerVersionId string
		DeleteMarker                          bool
	}
	type result struct {
		Deleted []deleted
		Error   []struct{ Key, VersionId, Code string }
	}
	decode := func(r rawResp) result {
		t.Helper()
		if r.status != 200 {
			t.Fatalf("status %d: %s", r.status, r.body)
		}
		var res result
		if err := xml.Unmarshal(r.body, &res); err != nil {
			t.Fatal(err)
		}
		return res
	}

	res := decode(mdel(false, obj("a", v1), obj("a", v1), obj("b", "-"), obj("b", "-"), obj("c", "")))
	if len(res.Deleted) != 2 || len(res.Error) != 1 {
		t.Fatalf("want 2 deleted (duplicates answered once) and 1 error: %+v", res)
	}
	if d := res.Deleted[0]; d != (deleted{Key: "a", VersionId: v1}) {
		t.Errorf("version delete reported %+v", d)
	}
	d := res.Deleted[1]
	if d.Key != "b" || !d.DeleteMarker || d.DeleteMarkerVersionId == "" || d.VersionId != "" {
		t.Errorf("marker creation reported %+v", d)
	}
	if e := res.Error[0]; e.Key != "c" || e.Code != "InvalidArgument" {
		t.Errorf("empty VersionId: %+v", e)
	}
	r := ts.do(rawReq{method: "GET", path: "/multi/b"})
	if r.status != 404 || r.header.Get("X-Amz-Version-Id") != d.DeleteMarkerVersionId {
		t.Fatalf("b after multi-delete: %d %v", r.status, r.header)
	}
	// Deleting the marker by id says it was one.
	res = decode(mdel(false, obj("b", d.DeleteMarkerVersionId), obj("a", "not-a-version")))
	if len(res.Deleted) != 1 || res.Deleted[0] != (deleted{Key: "b", VersionId: d.DeleteMarkerVersionId, DeleteMarker: true, DeleteMarkerVersionId: d.DeleteMarkerVersionId}) {
		t.Fatalf("marker removal: %+v", res)
	}
	if len(res.Error) != 1 || res.Error[0].Code != "NoSuchVersion" || res.Error[0].VersionId != "not-a-version" {
		t.Fatalf("never issued version: %+v", res.Error)
	}
	if r := ts.do(rawReq{method: "GET", path: "/multi/b"}); r.status != 200 || string(r.body) != "b1" {
		t.Fatalf("b is back: %d %s", r.status, r.body)
	}
	// Quiet keeps successes out, errors in.
	res = decode(mdel(true, obj("a", "-"), obj("z", "")))
	if len(res.Deleted) != 0 || len(res.Error) != 1 {
		t.Fatalf("quiet: %+v", res)
	}
	if r := ts.do(rawReq{method: "GET", path: "/multi/a"}); r.status != 404 || r.header.Get("X-Amz-Delete-Marker") != "true" {
		t.Fatalf("quiet delete did not leave a marker: %d %v", r.status, r.header)
	}
}

func TestVersionedWritesReportVersion(t *testing.T) {
	ts := newTestServer(t)
	ts.mkBucket("vwrite")
	ts.setVersioning("vwrite", sluice.VersioningEnabled)
	ctx := context.Background()
	src := ts.putVersion("vwrite", "src", "source one")
	ts.putVersion("vwrite", "src", "source two")

	cp, err := ts.Client.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("vwrite"), Key: aws.String("dst"), CopySource: aws.String("vwrite/src?versionId=" + url.QueryEscape(src))})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(cp.CopySourceVersionId) != src || aws.ToString(cp.VersionId) == "" {
		t.Fatalf("copy: source version %q, new version %q", aws.ToString(cp.CopySourceVersionId), aws.ToString(cp.VersionId))
	}
	if r := ts.do(rawReq{method: "GET", path: "/vwrite/dst"}); string(r.body) != "source one" || r.header.Get("X-Amz-Version-Id") != aws.ToString(cp.VersionId) {
		t.Fatalf("copied version: %q %v", r.body, r.header)
	}

	up, err := ts.Client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("vwrite"), Key: aws.String("mp")})
	if err != nil {
		t.Fatal(err)
	}
	part, err := ts.Client.UploadPartCopy(ctx, &s3.UploadPartCopyInput{
		Bucket: aws.String("vwrite"), Key: aws.String("mp"), UploadId: up.UploadId, PartNumber: aws.Int32(1),
		CopySource: aws.String("vwrite/src?versionId=" + url.QueryEscape(src)),
	})
	if err != nil || aws.ToString(part.CopySourceVersionId) != src {
		t.Fatalf("part copy: %+v %v", part, err)
	}
	done, err := ts.Client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
		Bucket: aws.String("vwrite"), Key: aws.String("mp"), UploadId: up.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{{PartNumber: aws.Int32(1), ETag: part.CopyPartResult.ETag}}},
	})
	if err != nil || aws.ToString(done.VersionId) == "" {
		t.Fatalf("complete: %+v %v", done, err)
	}
	// Copying an older version onto its own key restores it; copying the
	// current one onto itself unchanged stays illegal.
	restored, err := ts.Client.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("vwrite"), Key: aws.String("src"), CopySource: aws.String("vwrite/src?versionId=" + url.QueryEscape(src))})
	if err != nil {
		t.Fatalf("restore by copy: %v", err)
	}
	if r := ts.do(rawReq{method: "GET", path: "/vwrite/src"}); string(r.body) != "source one" || r.header.Get("X-Amz-Version-Id") != aws.ToString(restored.VersionId) {
		t.Fatalf("restored: %q %v", r.body, r.header)
	}
	wantError(t, ts.do(rawReq{method: "PUT", path: "/vwrite/src", header: map[string]string{"X-Amz-Copy-Source": "/vwrite/src?versionId=" + url.QueryEscape(aws.ToString(restored.VersionId))}}), 400, "InvalidRequest")
	wantError(t, ts.do(rawReq{method: "PUT", path: "/vwrite/src", header: map[string]string{"X-Amz-Copy-Source": "/vwrite/src"}}), 400, "InvalidRequest")

	r := ts.do(rawReq{method: "PUT", path: "/vwrite/mp?partNumber=1&uploadId=x&versionId=" + url.QueryEscape(src), body: []byte("x")})
	wantError(t, r, 400, "InvalidArgument")

	if _, err := ts.Client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("vwrite"), Key: aws.String("src")}); err != nil {
		t.Fatal(err)
	}
	marker := ts.do(rawReq{method: "HEAD", path: "/vwrite/src"}).header.Get("X-Amz-Version-Id")
	tests := []struct {
		name, source, header string
		status               int
		code                 string
	}{
		{"latest is a marker", "/vwrite/src", "", 404, "NoSuchKey"},
		{"names a marker", "/vwrite/src?versionId=" + url.QueryEscape(marker), "", 400, "InvalidRequest"},
		{"empty version", "/vwrite/src?versionId=", "", 400, "InvalidArgument"},
		{"never issued", "/vwrite/src?versionId=bogus", "", 400, "InvalidRequest"},
		{"part copy never issued", "/vwrite/src?versionId=bogus", "part", 400, "InvalidArgument"},
		{"no such version", "/vwrite/src?versionId=null", "", 404, "NoSuchVersion"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := "/vwrite/copy"
			if tt.header == "part" {
				path = "/vwrite/mp2?partNumber=1&uploadId=" + url.QueryEscape(aws.ToString(up.UploadId))
			}
			r := ts.do(rawReq{method: "PUT", path: path, header: map[string]string{"X-Amz-Copy-Source": tt.source}})
			wantError(t, r, tt.status, tt.code)
			if tt.code == "NoSuchKey" && (r.header.Get("X-Amz-Delete-Marker") != "true" || r.header.Get("X-Amz-Version-Id") != marker) {
				t.Fatalf("copy from a marker: headers %v", r.header)
			}
		})
	}
}

func TestVersionTaggingAndAttributes(t *testing.T) {
	ts := newTestServer(t)
	ts.mkBucket("vtags")
	ts.setVersioning("vtags", sluice.VersioningEnabled)
	ctx := context.Background()
	v1 := ts.putVersion("vtags", "k", "first")
	v2 := ts.putVersion("vtags", "k", "second!")

	_, err := ts.Client.PutObjectTagging(ctx, &s3.PutObjectTaggingInput{
		Bucket: aws.String("vtags"), Key: aws.String("k"), VersionId: aws.String(v1),
		Tagging: &types.Tagging{TagSet: []types.Tag{{Key: aws.String("old"), Value: aws.String("yes")}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	tags := func(vid string) ([]string, string) {
		t.Helper()
		in := &s3.GetObjectTaggingInput{Bucket: aws.String("vtags"), Key: aws.String("k")}
		if vid != "" {
			in.VersionId = aws.String(vid)
		}
		out, err := ts.Client.GetObjectTagging(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		var s []string
		for _, tg := range out.TagSet {
			s = append(s, aws.ToString(tg.Key)+"="+aws.ToString(tg.Value))
		}
		return s, aws.ToString(out.VersionId)
	}
	if got, vid := tags(v1); len(got) != 1 || got[0] != "old=yes" || vid != v1 {
		t.Fatalf("v1 tags %q (%q)", got, vid)
	}
	if got, vid := tags(""); len(got) != 0 || vid != v2 {
		t.Fatalf("latest tags %q (%q)", got, vid)
	}
	del, err := ts.Client.DeleteObjectTagging(ctx, &s3.DeleteObjectTaggingInput{Bucket: aws.String("vtags"), Key: aws.String("k"), VersionId: aws.String(v1)})
	if err != nil || aws.ToString(del.VersionId) != v1 {
		t.Fatalf("delete v1 tags: %+v %v", del, err)
	}
	if got, _ := tags(v1); len(got) != 0 {
		t.Fatalf("v1 tags after delete %q", got)
	}
	wantError(t, ts.do(rawReq{method: "GET", path: "/vtags/k?tagging&versionId=null"}), 404, "NoSuchVersion")
	wantError(t, ts.do(rawReq{method: "GET", path: "/vtags/k?tagging&versionId="}), 400, "InvalidArgument")

	attrs, err := ts.Client.GetObjectAttributes(ctx, &s3.GetObjectAttributesInput{
		Bucket: aws.String("vtags"), Key: aws.String("k"), VersionId: aws.String(v1),
		ObjectAttributes: []types.ObjectAttributes{types.ObjectAttributesObjectSize},
	})
	if err != nil || aws.ToInt64(attrs.ObjectSize) != 5 || aws.ToString(attrs.VersionId) != v1 {
		t.Fatalf("attributes of v1: %+v %v", attrs, err)
	}
	acl := ts.do(rawReq{method: "GET", path: "/vtags/k?acl&versionId=" + url.QueryEscape(v1)})
	if acl.status != 200 || acl.header.Get("X-Amz-Version-Id") != v1 {
		t.Fatalf("acl of v1: %d %v", acl.status, acl.header)
	}
}

func TestReplicationNeedsVersioning(t *testing.T) {
	ts := newTestServer(t)
	ts.mkBucket("rsrc")
	ts.mkBucket("rdst")
	doc := replDoc(`<Rule><Status>Enabled</Status><Destination><Bucket>arn:aws:s3:::rdst</Bucket></Destination></Rule>`)
	put := func() rawResp {
		return ts.do(rawReq{method: "PUT", path: "/rsrc?replication", body: doc, header: map[string]string{"Content-MD5": b64md5(doc)}})
	}
	e := wantError(t, put(), 400, "InvalidRequest")
	if e.Message != "Versioning must be 'Enabled' on the bucket to apply a replication configuration" {
		t.Fatalf("message %q", e.Message)
	}
	ts.setVersioning("rsrc", sluice.VersioningEnabled)
	if r := put(); r.status != 200 {
		t.Fatalf("replication on a versioned bucket: %d %s", r.status, r.body)
	}
	_, err := ts.Client.PutBucketVersioning(context.Background(), &s3.PutBucketVersioningInput{
		Bucket: aws.String("rsrc"), VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusSuspended},
	})
	if apiCode(err) != "InvalidBucketState" || !strings.Contains(err.Error(), "StatusCode: 409") {
		t.Fatalf("suspending a replicating bucket: %v", err)
	}
	ts.setVersioning("rsrc", sluice.VersioningEnabled) // enabling again is no change
	if r := ts.do(rawReq{method: "DELETE", path: "/rsrc?replication"}); r.status != 204 {
		t.Fatalf("delete replication: %d", r.status)
	}
	ts.setVersioning("rsrc", sluice.VersioningSuspended)
}

func TestVersionActionsInPolicies(t *testing.T) {
	ts := newTestServer(t)
	ts.mkBucket("vpol")
	ts.setVersioning("vpol", sluice.VersioningEnabled)
	v1 := ts.putVersion("vpol", "k", "one")
	ts.putVersion("vpol", "k", "two")
	ts.setPolicy("vpol", `{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Principal":"*","Action":["s3:GetObject","s3:ListBucketVersions"],"Resource":["arn:aws:s3:::vpol","arn:aws:s3:::vpol/*"]},
		{"Effect":"Deny","Principal":"*","Action":["s3:DeleteObjectVersion","s3:PutBucketVersioning"],"Resource":["arn:aws:s3:::vpol","arn:aws:s3:::vpol/*"]}]}`)
	vq := "versionId=" + url.QueryEscape(v1)
	tests := []struct {
		name, method, path string
		anon               bool
		status             int
	}{
		{"anonymous latest", "GET", "/vpol/k", true, 200},
		{"anonymous version needs GetObjectVersion", "GET", "/vpol/k?" + vq, true, 403},
		{"anonymous head version", "HEAD", "/vpol/k?" + vq, true, 403},
		{"anonymous list versions", "GET", "/vpol?versions", true, 200},
		{"anonymous version tagging", "GET", "/vpol/k?tagging&" + vq, true, 403},
		{"account version read", "GET", "/vpol/k?" + vq, false, 200},
		{"denied version delete", "DELETE", "/vpol/k?" + vq, false, 403},
		{"denied versioning change", "PUT", "/vpol?versioning", false, 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := ts.do(rawReq{method: tt.method, path: tt.path, anon: tt.anon, body: []byte(`<VersioningConfiguration><Status>Suspended</Status></VersioningConfiguration>`)})
			if r.status != tt.status {
				t.Fatalf("status %d, want %d: %s", r.status, tt.status, r.body)
			}
		})
	}
	body := []byte(`<Delete><Object><Key>k</Key><VersionId>` + v1 + `</VersionId></Object><Object><Key>k</Key></Object></Delete>`)
	r := ts.do(rawReq{method: "POST", path: "/vpol?delete", body: body, header: map[string]string{"Content-MD5": b64md5(body)}})
	if r.status != 200 || !bytes.Contains(r.body, []byte("<Code>AccessDenied</Code>")) || !bytes.Contains(r.body, []byte("<DeleteMarker>true</DeleteMarker>")) {
		t.Fatalf("multi-delete under the policy: %d %s", r.status, r.body)
	}
}

func FuzzVersioningXML(f *testing.F) {
	for _, s := range []string{
		`<VersioningConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Status>Enabled</Status></VersioningConfiguration>`,
		`<VersioningConfiguration><Status>Suspended</Status><MfaDelete>Disabled</MfaDelete></VersioningConfiguration>`,
		`<VersioningConfiguration><MfaDelete>Enabled</MfaDelete><Status>Enabled</Status></VersioningConfiguration>`,
		`<VersioningConfiguration/>`,
		`<VersioningConfiguration><Status>Enabled</Status><Status>Suspended</Status></VersioningConfiguration>`,
		`<VersioningConfiguration><Status>Enabled</Status></VersioningConfiguration>trailing`,
		``,
	} {
		f.Add([]byte(s), "")
	}
	f.Add([]byte(`<VersioningConfiguration><Status>Enabled</Status><MfaDelete>Enabled</MfaDelete></VersioningConfiguration>`), "arn 123456")
	allowed := map[sluice.Code]bool{
		sluice.ErrMalformedXML: true, errIllegalVersioningConfig: true, sluice.ErrAccessDenied: true, sluice.ErrNotImplemented: true,
	}
	f.Fuzz(func(t *testing.T, body []byte, mfa string) {
		state, err := parseVersioning(body, mfa)
		if err != nil {
			if !allowed[sluice.ErrorCode(err)] || state != "" {
				t.Fatalf("parseVersioning(%q) = %q, %v", body, state, err)
			}
			return
		}
		if state != sluice.VersioningEnabled && state != sluice.VersioningSuspended {
			t.Fatalf("accepted state %q from %q", state, body)
		}
		// What is accepted round-trips through the document S3 returns.
		var b bytes.Buffer
		if err := xml.NewEncoder(&b).Encode(versioningOut{Status: state}); err != nil {
			t.Fatal(err)
		}
		if again, err := parseVersioning(b.Bytes(), ""); err != nil || again != state {
			t.Fatalf("round trip of %q: %q %v", state, again, err)
		}
	})
}

func FuzzListVersionsParams(f *testing.F) {
	for _, q := range []string{
		"versions", "versions&key-marker=a&version-id-marker=null", "versions&version-id-marker=x",
		"versions&key-marker=&version-id-marker=x", "versions&key-marker=k&version-id-marker=",
		"versions&max-keys=0&encoding-type=url", "versions&max-keys=-1", "versions&max-keys=99999&delimiter=/",
		"versions&encoding-type=URL&prefix=a%20b", "versions&key-marker=%00",
	} {
		f.Add(q)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		p, err := parseListVersionsParams(q)
		if err != nil {
			if sluice.ErrorCode(err) != sluice.ErrInvalidArgument {
				t.Fatalf("%q: %v", raw, err)
			}
			return
		}
		if p.maxKeys < 0 || p.maxKeys > sluice.MaxListKeys {
			t.Fatalf("%q: max-keys %d", raw, p.maxKeys)
		}
		if p.versionIDMarker != "" && p.keyMarker == "" {
			t.Fatalf("%q: a version-id-marker without a key-marker was accepted", raw)
		}
		if q.Has("version-id-marker") && p.versionIDMarker != q.Get("version-id-marker") {
			t.Fatalf("%q: version-id-marker %q lost", raw, q.Get("version-id-marker"))
		}
	})
}
