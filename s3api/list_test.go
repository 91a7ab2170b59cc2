package s3api

import (
	"bytes"
	"context"
	"encoding/xml"
	"regexp"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/google/go-cmp/cmp"
)

// listing is a wire listing as tests read it (V1 and V2 share names).
type listing struct {
	Name                  string
	Prefix                string
	Delimiter             string
	Marker                string
	NextMarker            string
	StartAfter            string
	MaxKeys               int
	KeyCount              int
	IsTruncated           bool
	EncodingType          string
	ContinuationToken     string
	NextContinuationToken string
	Contents              []struct {
		Key          string
		LastModified string
		ETag         string
		Size         int64
		StorageClass string
		Owner        *struct{ ID string }
	}
	CommonPrefixes []struct{ Prefix string }
}

func (l listing) keys() []string {
	var out []string
	for _, c := range l.Contents {
		out = append(out, c.Key)
	}
	for _, p := range l.CommonPrefixes {
		out = append(out, p.Prefix+"(prefix)")
	}
	return out
}

func (ts *testServer) list(path string) listing {
	ts.t.Helper()
	r := ts.do(rawReq{method: "GET", path: path})
	if r.status != 200 {
		ts.t.Fatalf("GET %s = %d %s", path, r.status, r.body)
	}
	var l listing
	if err := xml.Unmarshal(r.body, &l); err != nil {
		ts.t.Fatalf("decode listing: %v: %s", err, r.body)
	}
	return l
}

func TestListObjectsV2Wire(t *testing.T) {
	ts := newTestServer(t)
	ts.mkBucket("lst")
	for _, k := range []string{"a/1", "a/2", "b/1", "c", "d/e/f", "a b+c/%"} {
		ts.putObject("lst", k, []byte(k))
	}
	tests := []struct {
		name  string
		query string
		want  []string
		trunc bool
	}{
		{"all", "list-type=2", []string{"a b+c/%", "a/1", "a/2", "b/1", "c", "d/e/f"}, false},
		{"delimiter", "list-type=2&delimiter=/", []string{"c", "a b+c/(prefix)", "a/(prefix)", "b/(prefix)", "d/(prefix)"}, false},
		{"prefix and delimiter", "list-type=2&prefix=d/&delimiter=/", []string{"d/e/(prefix)"}, false},
		{"prefix", "list-type=2&prefix=a/", []string{"a/1", "a/2"}, false},
		{"start-after", "list-type=2&start-after=b/1", []string{"c", "d/e/f"}, false},
		{"max-keys", "list-type=2&max-keys=2", []string{"a b+c/%", "a/1"}, true},
		{"max-keys zero", "list-type=2&max-keys=0", nil, false},
		{"delimiter max-keys", "list-type=2&delimiter=/&max-keys=2", []string{"a b+c/(prefix)", "a/(prefix)"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := ts.list("/lst?" + tt.query)
			if diff := cmp.Diff(tt.want, l.keys()); diff != "" {
				t.Fatalf("entries (-want +got):\n%s", diff)
			}
			if l.IsTruncated != tt.trunc || l.KeyCount != len(tt.want) || l.Name != "lst" {
				t.Fatalf("IsTruncated=%v KeyCount=%d Name=%q", l.IsTruncated, l.KeyCount, l.Name)
			}
			if tt.trunc == (l.NextContinuationToken == "") {
				t.Fatalf("NextContinuationToken = %q with IsTruncated=%v", l.NextContinuationToken, l.IsTruncated)
			}
		})
	}

	// Pages joined by continuation tokens give the whole listing.
	var all []string
	path := "/lst?list-type=2&delimiter=/&max-keys=1"
	for i := 0; i < 10; i++ {
		l := ts.list(path)
		all = append(all, l.keys()...)
		if !l.IsTruncated {
			break
		}
		path = "/lst?list-type=2&delimiter=/&max-keys=1&continuation-token=" + l.NextContinuationToken
	}
	if diff := cmp.Diff([]string{"a b+c/(prefix)", "a/(prefix)", "b/(prefix)", "c", "d/(prefix)"}, all); diff != "" {
		t.Fatalf("paged (-want +got):\n%s", diff)
	}

	enc := ts.list("/lst?list-type=2&encoding-type=url&prefix=a%20b&start-after=a")
	if enc.EncodingType != "url" || enc.Prefix != "a+b" || enc.StartAfter != "a" || len(enc.Contents) != 1 || enc.Contents[0].Key != "a+b%2Bc/%25" {
		t.Fatalf("url encoding = %+v", enc)
	}
	encp := ts.list("/lst?list-type=2&encoding-type=url&delimiter=/")
	if encp.CommonPrefixes[0].Prefix != "a+b%2Bc/" || encp.Delimiter != "/" {
		t.Fatalf("encoded prefixes = %+v", encp.CommonPrefixes)
	}

	full := ts.list("/lst?list-type=2&max-keys=5000&prefix=c")
	if full.MaxKeys != 1000 || len(full.Contents) != 1 {
		t.Fatalf("max-keys cap = %d", full.MaxKeys)
	}
	c := full.Contents[0]
	if !regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$`).MatchString(c.LastModified) ||
		c.Size != 1 || c.StorageClass != "STANDARD" || c.ETag != `"4a8a08f09d37b73795649038408b5f33"` || c.Owner != nil {
		t.Fatalf("entry = %+v", c)
	}
	if o := ts.list("/lst?list-type=2&prefix=c&fetch-owner=true").Contents[0].Owner; o == nil || o.ID != ownerID {
		t.Fatalf("fetch-owner: %+v", o)
	}

	errs := []struct{ name, query string }{
		{"negative max-keys", "list-type=2&max-keys=-1"},
		{"non-integer max-keys", "list-type=2&max-keys=ten"},
		{"bad token", "list-type=2&continuation-token=%21%21"},
		{"empty token", "list-type=2&continuation-token="},
		{"base64 that is no token", "list-type=2&continuation-token=this-is-not-a-token"},
		{"token of another bucket", "list-type=2&continuation-token=" + encodeToken("other", "a/1")},
		{"bad encoding", "list-type=2&encoding-type=base64"},
	}
	for _, tt := range errs {
		t.Run(tt.name, func(t *testing.T) {
			wantError(t, ts.do(rawReq{method: "GET", path: "/lst?" + tt.query}), 400, "InvalidArgument")
		})
	}
}

func TestListObjectsV1Wire(t *testing.T) {
	ts := newTestServer(t)
	ts.mkBucket("lv1")
	for _, k := range []string{"a/1", "a/2", "b", "c"} {
		ts.putObject("lv1", k, []byte(k))
	}
	l := ts.list("/lv1?max-keys=2")
	if diff := cmp.Diff([]string{"a/1", "a/2"}, l.keys()); diff != "" || !l.IsTruncated || l.NextMarker != "" || l.Contents[0].Owner == nil {
		t.Fatalf("v1 page = %+v %s", l, diff)
	}
	l = ts.list("/lv1?marker=a/2")
	if diff := cmp.Diff([]string{"b", "c"}, l.keys()); diff != "" || l.Marker != "a/2" || l.IsTruncated {
		t.Fatalf("v1 marker page = %+v %s", l, diff)
	}
	l = ts.list("/lv1?delimiter=/&max-keys=1")
	if diff := cmp.Diff([]string{"a/(prefix)"}, l.keys()); diff != "" || !l.IsTruncated || l.NextMarker != "a/" {
		t.Fatalf("v1 delimiter page = %+v %s", l, diff)
	}
	l = ts.list("/lv1?delimiter=/&marker=a/")
	if diff := cmp.Diff([]string{"b", "c"}, l.keys()); diff != "" {
		t.Fatalf("v1 after prefix marker (-want +got):\n%s", diff)
	}
	r := ts.do(rawReq{method: "GET", path: "/lv1?prefix=zzz"})
	want := `<?xml version="1.0" encoding="UTF-8"?>` + "\n" +
		`<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>lv1</Name><Prefix>zzz</Prefix><Marker></Marker><MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated></ListBucketResult>`
	if diff := cmp.Diff(want, string(r.body)); diff != "" {
		t.Fatalf("empty v1 body (-want +got):\n%s", diff)
	}
}

func TestListSDKPaginators(t *testing.T) {
	ts := newTestServer(t)
	ts.mkBucket("pag")
	var want []string
	for i := range 25 {
		k := strings.Repeat("k", i%3+1) + "/" + string(rune('a'+i))
		ts.putObject("pag", k, nil)
		want = append(want, k)
	}
	sortStrings(want)
	ctx := context.Background()
	var got []string
	p := s3.NewListObjectsV2Paginator(ts.Client, &s3.ListObjectsV2Input{Bucket: aws.String("pag"), MaxKeys: aws.Int32(7), EncodingType: types.EncodingTypeUrl})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range page.Contents {
			got = append(got, aws.ToString(o.Key))
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("v2 paginator (-want +got):\n%s", diff)
	}
	got = nil
	marker := ""
	for {
		page, err := ts.Client.ListObjects(ctx, &s3.ListObjectsInput{Bucket: aws.String("pag"), MaxKeys: aws.Int32(4), Marker: aws.String(marker)})
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range page.Contents {
			got = append(got, aws.ToString(o.Key))
		}
		if !aws.ToBool(page.IsTruncated) {
			break
		}
		marker = got[len(got)-1]
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("v1 paginator (-want +got):\n%s", diff)
	}
	_, err := ts.Client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("nosuch")})
	if sdkCode(err) != "NoSuchBucket" {
		t.Fatalf("list missing bucket: %v", err)
	}
}

func TestListChecksumAlgorithm(t *testing.T) {
	ts := newTestServer(t)
	ts.mkBucket("lsum")
	if _, err := ts.Client.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String("lsum"), Key: aws.String("k"), Body: bytes.NewReader([]byte("x")), ChecksumAlgorithm: types.ChecksumAlgorithmSha256}); err != nil {
		t.Fatal(err)
	}
	out, err := ts.Client.ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{Bucket: aws.String("lsum")})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]types.ChecksumAlgorithm{types.ChecksumAlgorithmSha256}, out.Contents[0].ChecksumAlgorithm); diff != "" {
		t.Fatalf("ChecksumAlgorithm (-want +got):\n%s", diff)
	}
}

func TestS3URLEncode(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"plain", "photos/2006/a.jpg", "photos/2006/a.jpg"},
		{"space and plus", "a b+c", "a+b%2Bc"},
		{"percent", "100%", "100%25"},
		{"control", "a\x01b", "a%01b"},
		{"unicode", "é", "%C3%A9"},
		{"reserved", "a&b=c?d#e", "a%26b%3Dc%3Fd%23e"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := s3URLEncode(tt.in); got != tt.want {
				t.Fatalf("s3URLEncode(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}
