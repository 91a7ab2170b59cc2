package s3api

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/google/go-cmp/cmp"
)

func TestObjectTaggingSDK(t *testing.T) {
	e := newMPEnv(t)
	ctx := context.Background()
	e.bucket("tags")
	e.put("tags", "k", []byte("tagged"))

	out, err := e.client.GetObjectTagging(ctx, &s3.GetObjectTaggingInput{Bucket: aws.String("tags"), Key: aws.String("k")})
	if err != nil || len(out.TagSet) != 0 {
		t.Fatalf("untagged: %v %+v", err, out)
	}
	set := []types.Tag{
		{Key: aws.String("b"), Value: aws.String("2")},
		{Key: aws.String("a"), Value: aws.String("")},
		{Key: aws.String("unicode é"), Value: aws.String("+ - = . _ : / @")},
	}
	if _, err := e.client.PutObjectTagging(ctx, &s3.PutObjectTaggingInput{
		Bucket: aws.String("tags"), Key: aws.String("k"), Tagging: &types.Tagging{TagSet: set},
	}); err != nil {
		t.Fatalf("put tagging: %v", err)
	}
	out, err = e.client.GetObjectTagging(ctx, &s3.GetObjectTaggingInput{Bucket: aws.String("tags"), Key: aws.String("k")})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(set, out.TagSet, cmp.AllowUnexported(types.Tag{})); diff != "" {
		t.Errorf("tag set (-want +got):\n%s", diff)
	}
	head, err := e.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("tags"), Key: aws.String("k")})
	if err != nil || aws.ToInt32(head.TagCount) != 3 {
		t.Errorf("head tag count: %v %d", err, aws.ToInt32(head.TagCount))
	}
	if string(e.get("tags", "k")) != "tagged" {
		t.Error("tagging changed the bytes")
	}

	if _, err := e.client.DeleteObjectTagging(ctx, &s3.DeleteObjectTaggingInput{Bucket: aws.String("tags"), Key: aws.String("k")}); err != nil {
		t.Fatalf("delete tagging: %v", err)
	}
	out, err = e.client.GetObjectTagging(ctx, &s3.GetObjectTaggingInput{Bucket: aws.String("tags"), Key: aws.String("k")})
	if err != nil || len(out.TagSet) != 0 {
		t.Errorf("after delete: %v %+v", err, out.TagSet)
	}
}

func TestObjectTaggingWire(t *testing.T) {
	e := newMPEnv(t)
	e.bucket("tagw")
	e.put("tagw", "k", []byte("x"))

	resp, body := e.do("GET", "/tagw/k?tagging", nil)
	want := `<?xml version="1.0" encoding="UTF-8"?>` + "\n" +
		`<Tagging xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><TagSet></TagSet></Tagging>`
	if resp.StatusCode != 200 || string(body) != want {
		t.Errorf("empty tagging: %d\n%s\nwant\n%s", resp.StatusCode, body, want)
	}

	doc1 := []byte(`<Tagging><TagSet><Tag><Key>a b</Key><Value>x=y+z/@</Value></Tag></TagSet></Tagging>`)
	resp, body = e.do("PUT", "/tagw/k?tagging", doc1)
	expectError(t, resp, body, 400, "InvalidRequest")
	resp, body = e.do("PUT", "/tagw/k?tagging", doc1, "Content-MD5", b64md5([]byte("other")))
	expectError(t, resp, body, 400, "BadDigest")
	resp, body = e.do("PUT", "/tagw/k?tagging", doc1, "Content-MD5", b64md5(doc1))
	if resp.StatusCode != 200 || len(body) != 0 {
		t.Fatalf("put: %d %s", resp.StatusCode, body)
	}
	resp, body = e.do("GET", "/tagw/k?tagging", nil)
	want = `<?xml version="1.0" encoding="UTF-8"?>` + "\n" +
		`<Tagging xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><TagSet><Tag><Key>a b</Key><Value>x=y+z/@</Value></Tag></TagSet></Tagging>`
	if resp.StatusCode != 200 || string(body) != want {
		t.Errorf("tagging: %d\n%s\nwant\n%s", resp.StatusCode, body, want)
	}
	resp, body = e.do("DELETE", "/tagw/k?tagging", nil)
	if resp.StatusCode != 204 || len(body) != 0 {
		t.Errorf("delete: %d %s", resp.StatusCode, body)
	}

	tag := func(k, v string) string { return "<Tag><Key>" + k + "</Key><Value>" + v + "</Value></Tag>" }
	doc := func(tags ...string) []byte {
		return []byte("<Tagging><TagSet>" + strings.Join(tags, "") + "</TagSet></Tagging>")
	}
	var eleven []string
	for i := range 11 {
		eleven = append(eleven, tag("k"+itoa2(i), "v"))
	}
	tests := []struct {
		name   string
		method string
		path   string
		body   []byte
		status int
		code   string
	}{
		{"eleven tags", "PUT", "/tagw/k?tagging", doc(eleven...), 400, "InvalidTag"},
		{"duplicate key", "PUT", "/tagw/k?tagging", doc(tag("a", "1"), tag("a", "2")), 400, "InvalidTag"},
		{"aws prefix", "PUT", "/tagw/k?tagging", doc(tag("aws:owner", "me")), 400, "InvalidTag"},
		{"key too long", "PUT", "/tagw/k?tagging", doc(tag(strings.Repeat("k", 129), "v")), 400, "InvalidTag"},
		{"value too long", "PUT", "/tagw/k?tagging", doc(tag("k", strings.Repeat("v", 257))), 400, "InvalidTag"},
		{"empty key", "PUT", "/tagw/k?tagging", doc(tag("", "v")), 400, "InvalidTag"},
		{"missing key", "PUT", "/tagw/k?tagging", doc("<Tag><Value>v</Value></Tag>"), 400, "MalformedXML"},
		{"missing value", "PUT", "/tagw/k?tagging", doc("<Tag><Key>k</Key></Tag>"), 400, "MalformedXML"},
		{"missing tag set", "PUT", "/tagw/k?tagging", []byte("<Tagging></Tagging>"), 400, "MalformedXML"},
		{"not xml", "PUT", "/tagw/k?tagging", []byte("tags"), 400, "MalformedXML"},
		{"empty body", "PUT", "/tagw/k?tagging", nil, 400, "MalformedXML"},
		{"put on missing key", "PUT", "/tagw/nope?tagging", doc(tag("a", "1")), 404, "NoSuchKey"},
		{"get on missing key", "GET", "/tagw/nope?tagging", nil, 404, "NoSuchKey"},
		{"delete on missing key", "DELETE", "/tagw/nope?tagging", nil, 404, "NoSuchKey"},
		{"get never issued version", "GET", "/tagw/k?tagging&versionId=abc", nil, 400, "InvalidArgument"},
		{"missing bucket", "GET", "/tagw-none/k?tagging", nil, 404, "NoSuchBucket"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := e.do(tt.method, tt.path, tt.body, "Content-MD5", b64md5(tt.body))
			expectError(t, resp, body, tt.status, tt.code)
		})
	}

	// Ten tags at the length limits are fine.
	var ten []string
	for i := range 10 {
		ten = append(ten, tag(strings.Repeat("k", 126)+itoa2(i), strings.Repeat("v", 256)))
	}
	if resp, body := e.do("PUT", "/tagw/k?tagging", doc(ten...), "x-amz-checksum-crc32", crc32B64(doc(ten...))); resp.StatusCode != 200 {
		t.Errorf("ten tags at the limits: %d %s", resp.StatusCode, body)
	}
}

func itoa2(i int) string { return string(rune('0'+i/10)) + string(rune('0'+i%10)) }
