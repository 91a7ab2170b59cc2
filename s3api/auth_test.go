package s3api

import (
	"strings"
	"testing"
)

func (ts *testServer) setPolicy(bucket, doc string) {
	ts.t.Helper()
	r := ts.do(rawReq{method: "PUT", path: "/" + bucket + "?policy", body: []byte(doc)})
	if r.status != 204 {
		ts.t.Fatalf("put policy: %d %s", r.status, r.body)
	}
}

func TestAnonymousAccess(t *testing.T) {
	ts := newTestServer(t)
	ts.mkBucket("private")
	ts.mkBucket("public")
	ts.mkBucket("oac")
	ts.mkBucket("listable")
	ts.mkBucket("iponly")
	for _, b := range []string{"private", "public", "oac", "listable", "iponly"} {
		ts.putObject(b, "obj", []byte("secret"))
		ts.putObject(b, "public/doc", []byte("doc"))
	}
	ts.setPolicy("public", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":["s3:GetObject"],"Resource":"arn:aws:s3:::public/*"}]}`)
	ts.setPolicy("oac", `{"Version":"2012-10-17","Statement":[{"Sid":"AllowCloudFrontServicePrincipal","Effect":"Allow",
		"Principal":{"Service":"cloudfront.amazonaws.com"},"Action":"s3:GetObject","Resource":"arn:aws:s3:::oac/*",
		"Condition":{"StringEquals":{"AWS:SourceArn":"arn:aws:cloudfront::000000000000:distribution/E1"}}}]}`)
	ts.setPolicy("listable", `{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Principal":"*","Action":"s3:ListBucket","Resource":"arn:aws:s3:::listable","Condition":{"StringLike":{"s3:prefix":"public/*"}}},
		{"Effect":"Allow","Principal":{"AWS":"*"},"Action":["s3:GetObject","s3:PutObject","s3:DeleteObject"],"Resource":"arn:aws:s3:::listable/public/*"}]}`)
	ts.setPolicy("iponly", `{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::iponly/*","Condition":{"IpAddress":{"aws:SourceIp":"127.0.0.0/8"}}},
		{"Effect":"Deny","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::iponly/public/*","Condition":{"Bool":{"aws:SecureTransport":"false"}}}]}`)

	tests := []struct {
		name, method, path string
		body               string
		status             int
	}{
		{"no policy get", "GET", "/private/obj", "", 403},
		{"no policy head", "HEAD", "/private/obj", "", 403},
		{"no policy list", "GET", "/private?list-type=2", "", 403},
		{"no policy put", "PUT", "/private/new", "x", 403},
		{"public get", "GET", "/public/obj", "", 200},
		{"public head", "HEAD", "/public/obj", "", 200},
		{"public get missing key", "GET", "/public/missing", "", 404},
		{"public put denied", "PUT", "/public/new", "x", 403},
		{"public delete denied", "DELETE", "/public/obj", "", 403},
		{"public list denied", "GET", "/public", "", 403},
		{"public tagging denied", "GET", "/public/obj?tagging", "", 403},
		{"public acl denied", "GET", "/public/obj?acl", "", 403},
		{"oac service principal is not anonymous", "GET", "/oac/obj", "", 403},
		{"list with allowed prefix", "GET", "/listable?list-type=2&prefix=public/", "", 200},
		{"list without prefix", "GET", "/listable?list-type=2", "", 403},
		{"list v1 with other prefix", "GET", "/listable?prefix=private/", "", 403},
		{"put under public", "PUT", "/listable/public/new", "x", 200},
		{"put elsewhere", "PUT", "/listable/other", "x", 403},
		{"source ip allowed", "GET", "/iponly/obj", "", 200},
		{"insecure transport denied", "GET", "/iponly/public/doc", "", 403},
		{"list buckets", "GET", "/", "", 403},
		{"create bucket", "PUT", "/anon-new", "", 403},
		{"delete bucket", "DELETE", "/public", "", 403},
		{"get policy", "GET", "/public?policy", "", 403},
		{"delete policy", "DELETE", "/public?policy", "", 403},
		{"missing bucket", "GET", "/nosuchbucket/k", "", 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var body []byte
			if tt.body != "" {
				body = []byte(tt.body)
			}
			r := ts.do(rawReq{method: tt.method, path: tt.path, body: body, anon: true})
			if r.status != tt.status {
				t.Fatalf("status = %d, want %d: %s", r.status, tt.status, r.body)
			}
			if tt.status == 403 && tt.method != "HEAD" {
				if e := wantError(t, r, 403, "AccessDenied"); e.Message != "Access Denied" {
					t.Fatalf("message = %q", e.Message)
				}
			}
		})
	}

	del := []byte("<Delete><Object><Key>public/doc</Key></Object><Object><Key>obj</Key></Object></Delete>")
	r := ts.do(rawReq{method: "POST", path: "/listable?delete", body: del, header: map[string]string{"Content-MD5": b64md5(del)}, anon: true})
	if r.status != 200 || !strings.Contains(string(r.body), "<Deleted><Key>public/doc</Key></Deleted>") ||
		!strings.Contains(string(r.body), "<Error><Key>obj</Key><Code>AccessDenied</Code><Message>Access Denied</Message></Error>") {
		t.Fatalf("anonymous DeleteObjects = %d %s", r.status, r.body)
	}
}

func TestAuthenticatedExplicitDeny(t *testing.T) {
	ts := newTestServer(t)
	ts.mkBucket("locked")
	ts.putObject("locked", "k", []byte("v"))
	ts.setPolicy("locked", `{"Version":"2012-10-17","Statement":[
		{"Effect":"Deny","Principal":{"AWS":"arn:aws:iam::000000000000:root"},"Action":"s3:DeleteObject","Resource":"arn:aws:s3:::locked/*"},
		{"Effect":"Deny","Principal":"*","Action":"s3:*","Resource":["arn:aws:s3:::locked","arn:aws:s3:::locked/*"],"Condition":{"StringEquals":{"s3:prefix":"hidden/"}}},
		{"Effect":"Deny","Principal":"*","Action":"s3:*Policy","Resource":"arn:aws:s3:::locked"}]}`)
	tests := []struct {
		name, method, path string
		status             int
	}{
		{"delete denied", "DELETE", "/locked/k", 403},
		{"get allowed", "GET", "/locked/k", 200},
		{"list allowed", "GET", "/locked?list-type=2", 200},
		{"list with denied prefix", "GET", "/locked?list-type=2&prefix=hidden/", 403},
		{"owner keeps policy access", "GET", "/locked?policy", 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := ts.do(rawReq{method: tt.method, path: tt.path})
			if r.status != tt.status {
				t.Fatalf("status = %d, want %d: %s", r.status, tt.status, r.body)
			}
			if tt.status == 403 {
				wantError(t, r, 403, "AccessDenied")
			}
		})
	}
	if r := ts.do(rawReq{method: "DELETE", path: "/locked?policy"}); r.status != 204 {
		t.Fatalf("owner delete policy = %d %s", r.status, r.body)
	}
	if r := ts.do(rawReq{method: "DELETE", path: "/locked/k"}); r.status != 204 {
		t.Fatalf("delete after policy removal = %d %s", r.status, r.body)
	}
}
