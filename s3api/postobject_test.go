package s3api

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/fsstore"
	"github.com/sluicehq/sluice/sigv4"
)

// postEnv is a Server with a real SigV4 verifier for POST forms (key
// "test"/"test"), over an fsstore that records events, behind the stand-in
// front door on 127.0.0.1.
type postEnv struct {
	t      *testing.T
	url    string
	store  *fsstore.Store
	client *s3.Client
	http   *http.Client
}

func newPostEnv(t *testing.T) *postEnv {
	t.Helper()
	cfg := testStoreConfig(t.TempDir())
	cfg.RecordEvents = true
	st, err := fsstore.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	vcfg := sigv4.DefaultConfig()
	vcfg.Credentials = map[string]string{"test": "test"}
	verifier, err := sigv4.New(vcfg)
	if err != nil {
		t.Fatal(err)
	}
	ts := serveTest(t, DefaultConfig(), st, WithPostPolicyVerifier(verifier))
	hc := *ts.HTTP
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &postEnv{t: t, url: ts.URL, store: st, client: ts.Client, http: &hc}
}

func (e *postEnv) bucket(name string) {
	e.t.Helper()
	if _, err := e.client.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		e.t.Fatalf("create bucket %s: %v", name, err)
	}
}

// field is one form field, in form order.
type field struct{ name, value string }

// testForm describes a form: fields before the file, the file (omitted
// when noFile), fields after it.
type testForm struct {
	fields   []field
	filename string
	file     []byte
	noFile   bool
	after    []field
}

func (f testForm) encode(t testing.TB) (body []byte, contentType string) {
	t.Helper()
	var b bytes.Buffer
	w := multipart.NewWriter(&b)
	for _, fl := range f.fields {
		if err := w.WriteField(fl.name, fl.value); err != nil {
			t.Fatal(err)
		}
	}
	if !f.noFile {
		h := make(textproto.MIMEHeader)
		name := f.filename
		if name == "" {
			name = "upload.bin"
		}
		h.Set("Content-Disposition", fmt.Sprintf(`form-data; name="file"; filename=%q`, name))
		h.Set("Content-Type", "application/x-should-be-ignored")
		pw, err := w.CreatePart(h)
		if err != nil {
			t.Fatal(err)
		}
		pw.Write(f.file)
	}
	for _, fl := range f.after {
		if err := w.WriteField(fl.name, fl.value); err != nil {
			t.Fatal(err)
		}
	}
	w.Close()
	return b.Bytes(), w.FormDataContentType()
}

// signed returns fields plus the SigV4 fields and a policy whose
// conditions are the three signature fields and conds (raw JSON values),
// signed with secret for key ak.
func signed(t testing.TB, ak, secret string, exp time.Time, conds []string, fields ...field) []field {
	t.Helper()
	now := time.Now().UTC()
	cred := ak + "/" + now.Format("20060102") + "/us-east-1/s3/aws4_request"
	date := now.Format("20060102T150405Z")
	all := append([]string{
		`{"x-amz-algorithm":"AWS4-HMAC-SHA256"}`,
		fmt.Sprintf(`{"x-amz-credential":%q}`, cred),
		fmt.Sprintf(`{"x-amz-date":%q}`, date),
	}, conds...)
	doc := fmt.Sprintf(`{"expiration":%q,"conditions":[%s]}`, exp.UTC().Format("2006-01-02T15:04:05.000Z"), strings.Join(all, ","))
	return signDoc(ak, secret, cred, date, doc, fields...)
}

func signDoc(ak, secret, cred, date, doc string, fields ...field) []field {
	policy := base64.StdEncoding.EncodeToString([]byte(doc))
	sig := sigv4.PolicySignature(secret, date[:8], "us-east-1", "s3", policy)
	return append(fields,
		field{"x-amz-algorithm", "AWS4-HMAC-SHA256"},
		field{"x-amz-credential", cred},
		field{"x-amz-date", date},
		field{"policy", policy},
		field{"x-amz-signature", sig})
}

type postResult struct {
	status int
	header http.Header
	body   []byte
}

func (e *postEnv) post(path, host string, f testForm) postResult {
	e.t.Helper()
	body, ct := f.encode(e.t)
	return e.postRaw(path, host, ct, body)
}

func (e *postEnv) postRaw(path, host, contentType string, body []byte) postResult {
	e.t.Helper()
	req, err := http.NewRequest("POST", e.url+path, bytes.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	if host != "" {
		req.Host = host
	}
	resp, err := e.http.Do(req)
	if err != nil {
		e.t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return postResult{status: resp.StatusCode, header: resp.Header, body: b}
}

func (e *postEnv) get(bucket, key string) (*s3.GetObjectOutput, []byte) {
	e.t.Helper()
	out, err := e.client.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		e.t.Fatalf("get %s/%s: %v", bucket, key, err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return out, b
}

func (e *postEnv) wantNoObject(bucket, key string) {
	e.t.Helper()
	_, err := e.client.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	var nf *types.NotFound
	if !errors.As(err, &nf) {
		e.t.Fatalf("head %s/%s after a refused upload: err = %v, want NotFound", bucket, key, err)
	}
}

func etagOf(b []byte) string {
	sum := md5.Sum(b)
	return `"` + hex.EncodeToString(sum[:]) + `"`
}

var hour = time.Hour

func TestPostObjectSuccess(t *testing.T) {
	e := newPostEnv(t)
	e.bucket("forms")
	exp := time.Now().Add(hour)
	payload := []byte("hello from a browser form\n")
	tests := []struct {
		name       string
		form       testForm
		host       string
		path       string
		wantStatus int
		wantKey    string
		wantType   string
		check      func(t *testing.T, r postResult)
	}{
		{
			name: "default 204 with Content-Type",
			form: testForm{fields: signed(t, "test", "test", exp,
				[]string{`{"bucket":"forms"}`, `["eq","$key","plain.txt"]`, `{"Content-Type":"text/plain"}`},
				field{"key", "plain.txt"}, field{"Content-Type", "text/plain"}), file: payload},
			wantStatus: 204, wantKey: "plain.txt", wantType: "text/plain",
			check: func(t *testing.T, r postResult) {
				if len(r.body) != 0 {
					t.Errorf("204 body = %q", r.body)
				}
				if got, want := r.header.Get("Location"), e.url+"/forms/plain.txt"; got != want {
					t.Errorf("Location = %q, want %q", got, want)
				}
			},
		},
		{
			name: "201 answers a PostResponse",
			form: testForm{fields: signed(t, "test", "test", exp,
				[]string{`{"bucket":"forms"}`, `["starts-with","$key","dir/"]`, `{"success_action_status":"201"}`},
				field{"key", "dir/a b+c.txt"}, field{"success_action_status", "201"}), file: payload},
			wantStatus: 201, wantKey: "dir/a b+c.txt", wantType: defaultContentType,
			check: func(t *testing.T, r postResult) {
				var got postResponse
				if err := xml.Unmarshal(r.body, &got); err != nil {
					t.Fatalf("body %q: %v", r.body, err)
				}
				want := postResponse{XMLName: xml.Name{Local: "PostResponse"}, Location: e.url + "/forms/dir/a%20b+c.txt",
					Bucket: "forms", Key: "dir/a b+c.txt", ETag: etagOf(payload)}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("PostResponse (-want +got):\n%s", diff)
				}
			},
		},
		{
			name: "200",
			form: testForm{fields: signed(t, "test", "test", exp,
				[]string{`["starts-with","$key",""]`, `["eq","$success_action_status","200"]`},
				field{"key", "two-hundred"}, field{"success_action_status", "200"}), file: payload},
			wantStatus: 200, wantKey: "two-hundred", wantType: defaultContentType,
		},
		{
			name: "an unknown success_action_status is 204",
			form: testForm{fields: signed(t, "test", "test", exp,
				[]string{`["starts-with","$key",""]`, `["starts-with","$success_action_status",""]`},
				field{"key", "status-404"}, field{"success_action_status", "404"}), file: payload},
			wantStatus: 204, wantKey: "status-404", wantType: defaultContentType,
		},
		{
			name: "success_action_redirect is a 303 naming bucket, key and etag",
			form: testForm{fields: signed(t, "test", "test", exp,
				[]string{`["starts-with","$key",""]`, `["starts-with","$success_action_redirect","http://app.example/"]`},
				field{"key", "redir"}, field{"success_action_redirect", "http://app.example/done?from=form"}), file: payload},
			wantStatus: 303, wantKey: "redir", wantType: defaultContentType,
			check: func(t *testing.T, r postResult) {
				u, err := url.Parse(r.header.Get("Location"))
				if err != nil {
					t.Fatal(err)
				}
				want := url.Values{"from": {"form"}, "bucket": {"forms"}, "key": {"redir"}, "etag": {etagOf(payload)}}
				if diff := cmp.Diff(want, u.Query()); diff != "" || u.Host != "app.example" || u.Path != "/done" {
					t.Errorf("redirect %s (-want +got query):\n%s", u, diff)
				}
			},
		},
		{
			name: "redirect field, unsigned policy-free form is not needed: signed",
			form: testForm{fields: signed(t, "test", "test", exp,
				[]string{`["starts-with","$key",""]`, `{"redirect":"https://app.example/ok"}`},
				field{"key", "redir2"}, field{"redirect", "https://app.example/ok"}), file: payload},
			wantStatus: 303, wantKey: "redir2", wantType: defaultContentType,
		},
		{
			name: "${filename} takes the name after the last slash or backslash",
			form: testForm{fields: signed(t, "test", "test", exp,
				[]string{`["starts-with","$key","uploads/"]`},
				field{"key", "uploads/${filename}"}), filename: `C:\Users\me\photo.jpg`, file: payload},
			wantStatus: 204, wantKey: "uploads/photo.jpg", wantType: defaultContentType,
		},
		{
			name: "fields after the file are ignored",
			form: testForm{fields: signed(t, "test", "test", exp,
				[]string{`["eq","$key","after"]`},
				field{"key", "after"}), file: payload,
				after: []field{{"x-amz-meta-late", "ignored"}, {"key", "other"}, {"submit", "Upload"}}},
			wantStatus: 204, wantKey: "after", wantType: defaultContentType,
			check: func(t *testing.T, _ postResult) {
				out, _ := e.get("forms", "after")
				if len(out.Metadata) != 0 {
					t.Errorf("metadata from after the file: %v", out.Metadata)
				}
			},
		},
		{
			name: "condition fields and operations in any case; x-ignore- fields need none",
			form: testForm{fields: signed(t, "test", "test", exp,
				[]string{`{"BuCkEt":"forms"}`, `["StArTs-WiTh","$KeY","ci/"]`, `["EQ","$content-TYPE","image/png"]`},
				field{"Key", "ci/x.png"}, field{"CONTENT-type", "image/png"}, field{"x-ignore-tracking", "42"}), file: payload},
			wantStatus: 204, wantKey: "ci/x.png", wantType: "image/png",
		},
		{
			name: "content-length-range that holds, as integers or digit strings",
			form: testForm{fields: signed(t, "test", "test", exp,
				[]string{`["eq","$key","sized"]`, `["content-length-range", 1, 1024]`, `["content-length-range","0","100"]`},
				field{"key", "sized"}), file: payload},
			wantStatus: 204, wantKey: "sized", wantType: defaultContentType,
		},
		{
			name:       "an empty file",
			form:       testForm{fields: signed(t, "test", "test", exp, []string{`["eq","$key","empty"]`}, field{"key", "empty"})},
			wantStatus: 204, wantKey: "empty", wantType: defaultContentType,
		},
		{
			name:       "virtual-hosted style",
			host:       "forms.localhost",
			path:       "/",
			form:       testForm{fields: signed(t, "test", "test", exp, []string{`{"bucket":"forms"}`, `["eq","$key","vhost"]`}, field{"key", "vhost"}), file: payload},
			wantStatus: 204, wantKey: "vhost", wantType: defaultContentType,
			check: func(t *testing.T, r postResult) {
				if got, want := r.header.Get("Location"), "http://forms.localhost/vhost"; got != want {
					t.Errorf("Location = %q, want %q", got, want)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := tt.path
			if path == "" {
				path = "/forms"
			}
			r := e.post(path, tt.host, tt.form)
			if r.status != tt.wantStatus {
				t.Fatalf("status = %d, want %d: %s", r.status, tt.wantStatus, r.body)
			}
			out, body := e.get("forms", tt.wantKey)
			if !bytes.Equal(body, tt.form.file) {
				t.Fatalf("stored %q, want %q", body, tt.form.file)
			}
			if got := aws.ToString(out.ContentType); got != tt.wantType {
				t.Errorf("Content-Type = %q, want %q", got, tt.wantType)
			}
			if got := r.header.Get("ETag"); got != etagOf(tt.form.file) {
				t.Errorf("ETag = %q, want %q", got, etagOf(tt.form.file))
			}
			if tt.check != nil {
				tt.check(t, r)
			}
		})
	}
}

func TestPostObjectStoresMetadataAndTags(t *testing.T) {
	e := newPostEnv(t)
	e.bucket("meta")
	tagging := `<Tagging><TagSet><Tag><Key>team</Key><Value>web</Value></Tag><Tag><Key>stage</Key><Value>raw</Value></Tag></TagSet></Tagging>`
	payload := []byte("<svg/>")
	md5sum := md5.Sum(payload)
	fields := []field{
		{"key", "m/logo.svg"},
		{"Content-Type", "image/svg+xml"},
		{"Cache-Control", "max-age=60"},
		{"Content-Disposition", `inline; filename="logo.svg"`},
		{"Content-Encoding", "identity"},
		{"Expires", "Wed, 21 Oct 2037 07:28:00 GMT"},
		{"x-amz-meta-Color", "blue"},
		{"x-amz-meta-uploader", "${filename}"},
		{"Content-MD5", base64.StdEncoding.EncodeToString(md5sum[:])},
		{"tagging", tagging},
	}
	var conds []string
	for _, f := range fields {
		conds = append(conds, fmt.Sprintf(`["starts-with","$%s",""]`, f.name))
	}
	r := e.post("/meta", "", testForm{fields: signed(t, "test", "test", time.Now().Add(hour), conds, fields...), filename: "logo.svg", file: payload})
	if r.status != 204 {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	out, body := e.get("meta", "m/logo.svg")
	got := map[string]string{
		"body":                string(body),
		"Content-Type":        aws.ToString(out.ContentType),
		"Cache-Control":       aws.ToString(out.CacheControl),
		"Content-Disposition": aws.ToString(out.ContentDisposition),
		"Content-Encoding":    aws.ToString(out.ContentEncoding),
		"Expires":             aws.ToString(out.ExpiresString),
		"tag count":           fmt.Sprint(aws.ToInt32(out.TagCount)),
	}
	want := map[string]string{
		"body":                "<svg/>",
		"Content-Type":        "image/svg+xml",
		"Cache-Control":       "max-age=60",
		"Content-Disposition": `inline; filename="logo.svg"`,
		"Content-Encoding":    "identity",
		"Expires":             "Wed, 21 Oct 2037 07:28:00 GMT",
		"tag count":           "2",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("object (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]string{"color": "blue", "uploader": "logo.svg"}, out.Metadata); diff != "" {
		t.Errorf("metadata (-want +got):\n%s", diff)
	}
	tags, err := e.client.GetObjectTagging(context.Background(), &s3.GetObjectTaggingInput{Bucket: aws.String("meta"), Key: aws.String("m/logo.svg")})
	if err != nil {
		t.Fatal(err)
	}
	var gotTags []string
	for _, tg := range tags.TagSet {
		gotTags = append(gotTags, aws.ToString(tg.Key)+"="+aws.ToString(tg.Value))
	}
	if diff := cmp.Diff([]string{"team=web", "stage=raw"}, gotTags); diff != "" {
		t.Errorf("tags (-want +got):\n%s", diff)
	}
}

// postErr is the error document of a refused POST, with the fields POST
// errors carry.
type postErr struct {
	Code, Message                                   string
	ArgumentName, ArgumentValue, Condition          string
	ProposedSize, MaxSizeAllowed, MinSizeAllowed    string
	AWSAccessKeyId, StringToSign, SignatureProvided string
	RequestID                                       string `xml:"RequestId"`
}

func TestPostObjectErrors(t *testing.T) {
	e := newPostEnv(t)
	e.bucket("errs")
	e.bucket("other")
	exp := time.Now().Add(hour)
	payload := []byte("0123456789")
	keyCond := `["starts-with","$key",""]`
	sign := func(conds []string, fields ...field) []field {
		return signed(t, "test", "test", exp, append([]string{keyCond}, conds...), fields...)
	}
	now := time.Now().UTC()
	cred := "test/" + now.Format("20060102") + "/us-east-1/s3/aws4_request"
	date := now.Format("20060102T150405Z")
	withSig := func(fields []field, sig string) []field {
		out := append([]field(nil), fields...)
		for i := range out {
			if out[i].name == "x-amz-signature" {
				out[i].value = sig
			}
		}
		return out
	}
	without := func(fields []field, name string) []field {
		var out []field
		for _, f := range fields {
			if f.name != name {
				out = append(out, f)
			}
		}
		return out
	}
	base := sign(nil, field{"key", "k"})
	truncated, truncatedType := testForm{fields: base, file: bytes.Repeat([]byte("z"), 10000)}.encode(t)
	truncated = truncated[:len(truncated)-100]

	tests := []struct {
		name        string
		form        testForm
		contentType string
		raw         []byte
		status      int
		want        postErr
	}{
		{name: "expired policy", status: 403,
			form: testForm{fields: signed(t, "test", "test", time.Now().Add(-time.Minute), []string{keyCond}, field{"key", "k"}), file: payload},
			want: postErr{Code: "AccessDenied", Message: "Invalid according to Policy: Policy expired."}},
		{name: "wrong signature", status: 403,
			form: testForm{fields: withSig(base, strings.Repeat("0", 64)), file: payload},
			want: postErr{Code: "SignatureDoesNotMatch", Message: "The request signature we calculated does not match the signature you provided. Check your key and signing method.",
				AWSAccessKeyId: "test", SignatureProvided: strings.Repeat("0", 64), StringToSign: base[len(base)-2].value}},
		{name: "signed with another secret", status: 403,
			form: testForm{fields: signed(t, "test", "not-the-secret", exp, []string{keyCond}, field{"key", "k"}), file: payload},
			want: postErr{Code: "SignatureDoesNotMatch"}},
		{name: "unknown access key", status: 403,
			form: testForm{fields: signed(t, "AKIDUNKNOWN", "x", exp, []string{keyCond}, field{"key", "k"}), file: payload},
			want: postErr{Code: "InvalidAccessKeyId", Message: "The AWS Access Key Id you provided does not exist in our records.", AWSAccessKeyId: "AKIDUNKNOWN"}},
		{name: "no file", status: 400,
			form: testForm{fields: base, noFile: true},
			want: postErr{Code: "InvalidArgument", Message: "POST requires exactly one file upload per request.", ArgumentName: "file", ArgumentValue: "0"}},
		{name: "no key", status: 400,
			form: testForm{fields: sign(nil), file: payload},
			want: postErr{Code: "InvalidArgument", Message: "Bucket POST must contain a field named 'key'.  If it is specified, please check the order of the fields.", ArgumentName: "key"}},
		{name: "key only after the file", status: 400,
			form: testForm{fields: sign(nil), file: payload, after: []field{{"key", "k"}}},
			want: postErr{Code: "InvalidArgument", ArgumentName: "key"}},
		{name: "no signature", status: 400,
			form: testForm{fields: without(base, "x-amz-signature"), file: payload},
			want: postErr{Code: "InvalidArgument", ArgumentName: "x-amz-signature"}},
		{name: "signature without policy", status: 400,
			form: testForm{fields: without(base, "policy"), file: payload},
			want: postErr{Code: "InvalidArgument", ArgumentName: "policy"}},
		{name: "wrong algorithm", status: 400,
			form: testForm{fields: append(without(base, "x-amz-algorithm"), field{"x-amz-algorithm", "AWS4-HMAC-SHA1"}), file: payload},
			want: postErr{Code: "InvalidArgument", ArgumentName: "x-amz-algorithm", ArgumentValue: "AWS4-HMAC-SHA1"}},
		{name: "eq fails", status: 403,
			form: testForm{fields: signed(t, "test", "test", exp, []string{`["eq","$key","expected"]`}, field{"key", "k"}), file: payload},
			want: postErr{Code: "AccessDenied", Message: `Invalid according to Policy: Policy Condition failed: ["eq", "$key", "expected"]`}},
		{name: "exact match object fails", status: 403,
			form: testForm{fields: sign([]string{`{"Content-Type":"image/png"}`}, field{"key", "k"}, field{"Content-Type", "image/gif"}), file: payload},
			want: postErr{Code: "AccessDenied", Message: `Invalid according to Policy: Policy Condition failed: ["eq", "$Content-Type", "image/png"]`}},
		{name: "starts-with fails", status: 403,
			form: testForm{fields: signed(t, "test", "test", exp, []string{`["starts-with","$key","user/eric/"]`}, field{"key", "user/mallory/x"}), file: payload},
			want: postErr{Code: "AccessDenied", Message: `Invalid according to Policy: Policy Condition failed: ["starts-with", "$key", "user/eric/"]`}},
		{name: "condition on a field the form lacks", status: 403,
			form: testForm{fields: sign([]string{`["starts-with","$x-amz-meta-owner",""]`}, field{"key", "k"}), file: payload},
			want: postErr{Code: "AccessDenied", Message: `Invalid according to Policy: Policy Condition failed: ["starts-with", "$x-amz-meta-owner", ""]`}},
		{name: "bucket condition names another bucket", status: 403,
			form: testForm{fields: sign([]string{`{"bucket":"other"}`}, field{"key", "k"}), file: payload},
			want: postErr{Code: "AccessDenied", Message: `Invalid according to Policy: Policy Condition failed: ["eq", "$bucket", "other"]`}},
		{name: "field the policy does not name", status: 403,
			form: testForm{fields: sign(nil, field{"key", "k"}, field{"x-amz-meta-sneaky", "1"}, field{"acl", "private"}), file: payload},
			want: postErr{Code: "AccessDenied", Message: "Invalid according to Policy: Extra input fields: x-amz-meta-sneaky, acl"}},
		{name: "larger than content-length-range", status: 400,
			form: testForm{fields: sign([]string{`["content-length-range",0,9]`}, field{"key", "k"}), file: payload},
			want: postErr{Code: "EntityTooLarge", Message: "Your proposed upload exceeds the maximum allowed size", ProposedSize: "10", MaxSizeAllowed: "9"}},
		{name: "smaller than content-length-range", status: 400,
			form: testForm{fields: sign([]string{`["content-length-range",11,100]`}, field{"key", "k"}), file: payload},
			want: postErr{Code: "EntityTooSmall", Message: "Your proposed upload is smaller than the minimum allowed size", ProposedSize: "10", MinSizeAllowed: "11"}},
		{name: "Content-MD5 mismatch", status: 400,
			form: testForm{fields: sign([]string{`["starts-with","$Content-MD5",""]`}, field{"key", "k"}, field{"Content-MD5", "1B2M2Y8AsgTpgAmY7PhCfg=="}), file: payload},
			want: postErr{Code: "BadDigest"}},
		{name: "SSE-KMS is refused as PutObject refuses it", status: 501,
			form: testForm{fields: sign([]string{`{"x-amz-server-side-encryption":"aws:kms"}`}, field{"key", "k"}, field{"x-amz-server-side-encryption", "aws:kms"}), file: payload},
			want: postErr{Code: "NotImplemented"}},
		{name: "public-read ACL is refused as PutObject refuses it", status: 400,
			form: testForm{fields: sign([]string{`{"acl":"public-read"}`}, field{"key", "k"}, field{"acl", "public-read"}), file: payload},
			want: postErr{Code: "AccessControlListNotSupported"}},
		{name: "invalid tagging XML", status: 400,
			form: testForm{fields: sign([]string{`["starts-with","$tagging",""]`}, field{"key", "k"}, field{"tagging", "<Tagging><TagSet>"}), file: payload},
			want: postErr{Code: "MalformedXML"}},
		{name: "policy is not JSON", status: 400,
			form: testForm{fields: signDoc("test", "test", cred, date, `{"expiration":`, field{"key", "k"}), file: payload},
			want: postErr{Code: "InvalidPolicyDocument", Message: "Invalid Policy: Invalid JSON."}},
		{name: "policy without expiration", status: 400,
			form: testForm{fields: signDoc("test", "test", cred, date, `{"conditions":[]}`, field{"key", "k"}), file: payload},
			want: postErr{Code: "InvalidPolicyDocument", Message: "Invalid Policy: Policy missing expiration."}},
		{name: "policy keys are case-sensitive", status: 400,
			form: testForm{fields: signDoc("test", "test", cred, date, `{"expiration":"2099-01-01T00:00:00Z","CONDITIONS":[]}`, field{"key", "k"}), file: payload},
			want: postErr{Code: "InvalidPolicyDocument", Message: "Invalid Policy: Policy missing conditions."}},
		{name: "content-length-range with a fraction", status: 400,
			form: testForm{fields: sign([]string{`["content-length-range",0,512.0]`}, field{"key", "k"}), file: payload},
			want: postErr{Code: "InvalidPolicyDocument"}},
		{name: "simple condition with two properties", status: 400,
			form: testForm{fields: sign([]string{`{"key":"k","acl":"private"}`}, field{"key", "k"}), file: payload},
			want: postErr{Code: "InvalidPolicyDocument", Message: "Invalid Policy: Invalid Simple-Condition: Simple-Conditions must have exactly one property specified."}},
		{name: "not a form", status: 412, contentType: "application/octet-stream", raw: []byte("key=k"),
			want: postErr{Code: "PreconditionFailed", Condition: "Bucket POST must be of the enclosure-type multipart/form-data"}},
		{name: "form cut off in the file", status: 400, contentType: truncatedType, raw: truncated,
			want: postErr{Code: "MalformedPOSTRequest", Message: "The body of your POST request is not well-formed multipart/form-data."}},
		{name: "form cut off before the file", status: 400, contentType: "multipart/form-data; boundary=XyZ",
			raw:  []byte("--XyZ\r\nContent-Disposition: form-data; name=\"key\"\r\n\r\nk"),
			want: postErr{Code: "MalformedPOSTRequest", Message: "The body of your POST request is not well-formed multipart/form-data."}},
		{name: "fields before the file beyond 20 KB", status: 400,
			form: testForm{fields: []field{{"key", "k"}, {"x-ignore-pad", strings.Repeat("p", 21<<10)}}, file: payload},
			want: postErr{Code: "MaxPostPreDataLengthExceeded"}},
		{name: "anonymous form without a bucket policy", status: 403,
			form: testForm{fields: []field{{"key", "k"}}, file: payload},
			want: postErr{Code: "AccessDenied", Message: "Access Denied"}},
		{name: "SigV2 form with a wrong signature", status: 403,
			form: testForm{fields: []field{{"key", "k"}, {"AWSAccessKeyId", "test"}, {"policy", "e30="}, {"signature", "AAAAAAAAAAAAAAAAAAAAAAAAAAA="}}, file: payload},
			want: postErr{Code: "SignatureDoesNotMatch"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r postResult
			if tt.raw != nil {
				r = e.postRaw("/errs", "", tt.contentType, tt.raw)
			} else {
				r = e.post("/errs", "", tt.form)
			}
			if r.status != tt.status {
				t.Fatalf("status = %d, want %d: %s", r.status, tt.status, r.body)
			}
			var got postErr
			if err := xml.Unmarshal(r.body, &got); err != nil {
				t.Fatalf("body %q: %v", r.body, err)
			}
			if got.RequestID != testRequestID || got.Message == "" {
				t.Errorf("error lacks request id or message: %s", r.body)
			}
			// Compare only what the case names, besides the code.
			want := tt.want
			opts := cmp.Options{cmpopts.IgnoreFields(postErr{}, "RequestID")}
			if want.Message == "" {
				opts = append(opts, cmpopts.IgnoreFields(postErr{}, "Message"))
			}
			if want.StringToSign == "" {
				opts = append(opts, cmpopts.IgnoreFields(postErr{}, "StringToSign", "SignatureProvided", "AWSAccessKeyId"))
			}
			if want.ArgumentValue == "" && want.ArgumentName != "" {
				opts = append(opts, cmpopts.IgnoreFields(postErr{}, "ArgumentValue"))
			}
			if diff := cmp.Diff(want, got, opts...); diff != "" {
				t.Errorf("error (-want +got):\n%s\nbody: %s", diff, r.body)
			}
			e.wantNoObject("errs", "k")
		})
	}
	// Nothing reached the store, not even an event.
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	evs, _ := e.store.ReadEvents(ctx, 0, 100)
	if len(evs) != 0 {
		t.Errorf("refused uploads recorded events: %+v", evs)
	}
}

func TestPostObjectAnonymousAndBucketPolicy(t *testing.T) {
	e := newPostEnv(t)
	e.bucket("dropbox")
	policy := `{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Principal":"*","Action":"s3:PutObject","Resource":"arn:aws:s3:::dropbox/incoming/*"},
		{"Effect":"Deny","Principal":"*","Action":"s3:PutObject","Resource":"arn:aws:s3:::dropbox/locked/*"},
		{"Effect":"Deny","Principal":"*","Action":"s3:PutObjectTagging","Resource":"arn:aws:s3:::dropbox/*"}]}`
	if _, err := e.client.PutBucketPolicy(context.Background(), &s3.PutBucketPolicyInput{Bucket: aws.String("dropbox"), Policy: aws.String(policy)}); err != nil {
		t.Fatal(err)
	}
	exp := time.Now().Add(hour)
	tagging := `<Tagging><TagSet><Tag><Key>a</Key><Value>b</Value></Tag></TagSet></Tagging>`
	tests := []struct {
		name   string
		fields []field
		key    string
		status int
	}{
		{"anonymous under the allowed prefix", []field{{"key", "incoming/a.txt"}, {"Content-Type", "text/plain"}}, "incoming/a.txt", 204},
		{"anonymous elsewhere", []field{{"key", "outgoing/a.txt"}}, "outgoing/a.txt", 403},
		{"anonymous with tags denied by s3:PutObjectTagging", []field{{"key", "incoming/t.txt"}, {"tagging", tagging}}, "incoming/t.txt", 403},
		{"signed form where the policy allows", signed(t, "test", "test", exp, []string{`["starts-with","$key",""]`}, field{"key", "free/a"}), "free/a", 204},
		{"signed form under an explicit Deny", signed(t, "test", "test", exp, []string{`["starts-with","$key",""]`}, field{"key", "locked/a"}), "locked/a", 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.post("/dropbox", "", testForm{fields: tt.fields, file: []byte("data")})
			if r.status != tt.status {
				t.Fatalf("status = %d, want %d: %s", r.status, tt.status, r.body)
			}
			if tt.status != 204 {
				if !bytes.Contains(r.body, []byte("<Code>AccessDenied</Code>")) {
					t.Fatalf("body: %s", r.body)
				}
				e.wantNoObject("dropbox", tt.key)
				return
			}
			if _, body := e.get("dropbox", tt.key); string(body) != "data" {
				t.Fatalf("stored %q", body)
			}
		})
	}
}

// TestPostObjectEventAndVersion: an upload is recorded as
// ObjectCreated:Post with the form's access key as principal, and in a
// versioned bucket answers with the new version's id.
func TestPostObjectEventAndVersion(t *testing.T) {
	e := newPostEnv(t)
	e.bucket("ver")
	if _, err := e.client.PutBucketVersioning(context.Background(), &s3.PutBucketVersioningInput{Bucket: aws.String("ver"),
		VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusEnabled}}); err != nil {
		t.Fatal(err)
	}
	var vids []string
	for i := range 2 {
		r := e.post("/ver", "", testForm{fields: signed(t, "test", "test", time.Now().Add(hour), []string{`["eq","$key","doc"]`}, field{"key", "doc"}),
			file: []byte(fmt.Sprint("version ", i))})
		if r.status != 204 {
			t.Fatalf("status %d: %s", r.status, r.body)
		}
		vids = append(vids, r.header.Get("X-Amz-Version-Id"))
	}
	head, err := e.client.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String("ver"), Key: aws.String("doc")})
	if err != nil {
		t.Fatal(err)
	}
	if vids[0] == "" || vids[0] == vids[1] || aws.ToString(head.VersionId) != vids[1] {
		t.Fatalf("version ids %q, current %q", vids, aws.ToString(head.VersionId))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	evs, err := e.store.ReadEvents(ctx, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	type ev struct{ Name, Key, VersionID, Principal string }
	var got []ev
	for _, x := range evs {
		got = append(got, ev{x.Name, x.Key, x.VersionID, x.Request.Principal})
	}
	want := []ev{{sluice.EventObjectCreatedPost, "doc", vids[0], "test"}, {sluice.EventObjectCreatedPost, "doc", vids[1], "test"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("events (-want +got):\n%s", diff)
	}
}

// TestPostObjectSDKPresignedPost uploads with the form aws-sdk-go-v2's
// PresignPostObject makes, and a SigV2 form signed as boto3 signs by
// default.
func TestPostObjectSDKPresignedPost(t *testing.T) {
	e := newPostEnv(t)
	e.bucket("sdk")
	pre, err := s3.NewPresignClient(e.client).PresignPostObject(context.Background(), &s3.PutObjectInput{
		Bucket: aws.String("sdk"), Key: aws.String("from-go.bin"),
	}, func(o *s3.PresignPostOptions) {
		o.Expires = 5 * time.Minute
		o.Conditions = []any{[]any{"content-length-range", 1, 64}}
	})
	if err != nil {
		t.Fatal(err)
	}
	if pre.URL != e.url+"/sdk" {
		t.Fatalf("URL = %q", pre.URL)
	}
	var fields []field
	for k, v := range pre.Values {
		fields = append(fields, field{k, v})
	}
	payload := []byte("bytes from aws-sdk-go-v2's presigned POST")
	if r := e.post("/sdk", "", testForm{fields: fields, file: payload}); r.status != 204 {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	if _, body := e.get("sdk", "from-go.bin"); !bytes.Equal(body, payload) {
		t.Fatalf("stored %q", body)
	}
	if r := e.post("/sdk", "", testForm{fields: fields, file: bytes.Repeat([]byte("x"), 65)}); r.status != 400 || !bytes.Contains(r.body, []byte("<Code>EntityTooLarge</Code>")) {
		t.Fatalf("too large: %d %s", r.status, r.body)
	}

	doc := fmt.Sprintf(`{"expiration":%q,"conditions":[{"bucket":"sdk"},["starts-with","$key","v2/"]]}`, time.Now().Add(hour).UTC().Format(time.RFC3339))
	policy := base64.StdEncoding.EncodeToString([]byte(doc))
	v2 := []field{{"key", "v2/${filename}"}, {"AWSAccessKeyId", "test"}, {"policy", policy}, {"signature", sigv4.PolicySignatureV2("test", policy)}}
	if r := e.post("/sdk", "", testForm{fields: v2, filename: "old.txt", file: []byte("v2")}); r.status != 204 {
		t.Fatalf("SigV2 form: %d %s", r.status, r.body)
	}
	if _, body := e.get("sdk", "v2/old.txt"); string(body) != "v2" {
		t.Fatalf("stored %q", body)
	}
}

// The policy of AWS's SigV4 POST example parses into its conditions.
func TestParsePostPolicyAWSExample(t *testing.T) {
	doc, err := base64.StdEncoding.DecodeString("eyAiZXhwaXJhdGlvbiI6ICIyMDE1LTEyLTMwVDEyOjAwOjAwLjAwMFoiLA0KICAiY29uZGl0aW9ucyI6IFsNCiAgICB7ImJ1Y2tldCI6ICJzaWd2NGV4YW1wbGVidWNrZXQifSwNCiAgICBbInN0YXJ0cy13aXRoIiwgIiRrZXkiLCAidXNlci91c2VyMS8iXSwNCiAgICB7ImFjbCI6ICJwdWJsaWMtcmVhZCJ9LA0KICAgIHsic3VjY2Vzc19hY3Rpb25fcmVkaXJlY3QiOiAiaHR0cDovL3NpZ3Y0ZXhhbXBsZWJ1Y2tldC5zMy5hbWF6b25hd3MuY29tL3N1Y2Nlc3NmdWxfdXBsb2FkLmh0bWwifSwNCiAgICBbInN0YXJ0cy13aXRoIiwgIiRDb250ZW50LVR5cGUiLCAiaW1hZ2UvIl0sDQogICAgeyJ4LWFtei1tZXRhLXV1aWQiOiAiMTQzNjUxMjM2NTEyNzQifSwNCiAgICB7IngtYW16LXNlcnZlci1zaWRlLWVuY3J5cHRpb24iOiAiQUVTMjU2In0sDQogICAgWyJzdGFydHMtd2l0aCIsICIkeC1hbXotbWV0YS10YWciLCAiIl0sDQoNCiAgICB7IngtYW16LWNyZWRlbnRpYWwiOiAiQUtJQUlPU0ZPRE5ON0VYQU1QTEUvMjAxNTEyMjkvdXMtZWFzdC0xL3MzL2F3czRfcmVxdWVzdCJ9LA0KICAgIHsieC1hbXotYWxnb3JpdGhtIjogIkFXUzQtSE1BQy1TSEEyNTYifSwNCiAgICB7IngtYW16LWRhdGUiOiAiMjAxNTEyMjlUMDAwMDAwWiIgfQ0KICBdDQp9")
	if err != nil {
		t.Fatal(err)
	}
	p, err := parsePostPolicy(doc)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range p.conditions {
		got = append(got, c.String())
	}
	want := []string{
		`["eq", "$bucket", "sigv4examplebucket"]`,
		`["starts-with", "$key", "user/user1/"]`,
		`["eq", "$acl", "public-read"]`,
		`["eq", "$success_action_redirect", "http://sigv4examplebucket.s3.amazonaws.com/successful_upload.html"]`,
		`["starts-with", "$Content-Type", "image/"]`,
		`["eq", "$x-amz-meta-uuid", "14365123651274"]`,
		`["eq", "$x-amz-server-side-encryption", "AES256"]`,
		`["starts-with", "$x-amz-meta-tag", ""]`,
		`["eq", "$x-amz-credential", "AKIAIOSFODNN7EXAMPLE/20151229/us-east-1/s3/aws4_request"]`,
		`["eq", "$x-amz-algorithm", "AWS4-HMAC-SHA256"]`,
		`["eq", "$x-amz-date", "20151229T000000Z"]`,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("conditions (-want +got):\n%s", diff)
	}
	if !p.expiration.Equal(time.Date(2015, 12, 30, 12, 0, 0, 0, time.UTC)) {
		t.Fatalf("expiration %v", p.expiration)
	}
	// The example form's fields satisfy it.
	fields := map[string]string{
		"key": "user/user1/photo.jpg", "acl": "public-read", "success_action_redirect": "http://sigv4examplebucket.s3.amazonaws.com/successful_upload.html",
		"content-type": "image/jpeg", "x-amz-meta-uuid": "14365123651274", "x-amz-server-side-encryption": "AES256", "x-amz-meta-tag": "",
		"x-amz-credential": "AKIAIOSFODNN7EXAMPLE/20151229/us-east-1/s3/aws4_request", "x-amz-algorithm": "AWS4-HMAC-SHA256",
		"x-amz-date": "20151229T000000Z", "policy": "...", "x-amz-signature": "...",
	}
	var order []string
	for k := range fields {
		order = append(order, k)
	}
	if err := p.check(fields, order, "sigv4examplebucket"); err != nil {
		t.Fatal(err)
	}
}

// FuzzPostPolicy: the parser never panics, errors are InvalidPolicyDocument,
// and a parsed policy's check never panics, refuses only with AccessDenied,
// and passes only forms that meet every eq and starts-with condition.
func FuzzPostPolicy(f *testing.F) {
	f.Add([]byte(`{"expiration":"2030-01-01T00:00:00Z","conditions":[{"bucket":"b"},["starts-with","$key","a/"],["content-length-range",0,10]]}`), "key", "a/b", "b")
	f.Add([]byte(`{"expiration":"2030-01-01T00:00:00.000Z","conditions":[["eq","$Content-Type","text/plain"],{"x-amz-meta-a":"1"}]}`), "content-type", "text/plain", "b")
	f.Add([]byte(`{"expiration":"2030-01-01T00:00:00Z","conditions":[["StArTs-WiTh","$KEY",""]]}`), "key", "", "b")
	f.Add([]byte(`{"expiration":"2030-01-01T00:00:00Z","conditions":[["content-length-range","1","x"]]}`), "key", "k", "b")
	f.Add([]byte(`{"expiration":"x","conditions":[]}`), "", "", "")
	f.Add([]byte(`{"expiration":"2030-01-01T00:00:00Z","conditions":[{}]}`), "key", "k", "b")
	f.Add([]byte(`{"expiration":"2030-01-01T00:00:00Z","conditions":[["eq"]]}`), "key", "k", "b")
	f.Add([]byte(`{"expiration":"2030-01-01T00:00:00Z","conditions":[["eq","key","k"]]} trailing`), "key", "k", "b")
	f.Add([]byte(`[]`), "", "", "")
	f.Add([]byte(`{"expiration":"2030-01-01T00:00:00Z","conditions":[["content-length-range",-1,5e3]]}`), "", "", "")
	f.Fuzz(func(t *testing.T, doc []byte, name, value, bucket string) {
		p, err := parsePostPolicy(doc)
		if err != nil {
			if c := sluice.ErrorCode(err); c != errInvalidPolicyDocument {
				t.Fatalf("parse error code %s: %v", c, err)
			}
			return
		}
		for _, c := range p.conditions {
			var arr []string
			if c.op != opLengthRange {
				if err := json.Unmarshal([]byte(c.String()), &arr); err != nil || len(arr) != 3 {
					t.Fatalf("condition renders as %q, not a JSON list of three strings", c.String())
				}
			}
		}
		lname := strings.ToLower(name)
		fields := map[string]string{lname: value}
		err = p.check(fields, []string{lname}, bucket)
		if err != nil {
			if c := sluice.ErrorCode(err); c != sluice.ErrAccessDenied {
				t.Fatalf("check error code %s: %v", c, err)
			}
			return
		}
		for _, c := range p.conditions {
			v, ok := fields[c.field]
			if c.field == "bucket" {
				v, ok = bucket, true
			}
			switch {
			case c.op == opEq && (!ok || v != c.value), c.op == opStartsWith && (!ok || !strings.HasPrefix(v, c.value)):
				t.Fatalf("check passed %v against %s", fields, c)
			}
		}
		if lo, hi, ok := p.lengthRange(); ok && (lo < 0 || hi < 0) {
			t.Fatalf("negative range %d..%d", lo, hi)
		}
	})
}

// FuzzPostForm: any body posted as a form is answered with an S3 error or
// a stored object, never a panic or an internal error.
func FuzzPostForm(f *testing.F) {
	good, ct := testForm{fields: []field{{"key", "k"}}, file: []byte("x")}.encode(f)
	boundary := strings.TrimPrefix(ct, "multipart/form-data; boundary=")
	f.Add(good)
	f.Add([]byte("--" + boundary + "\r\nContent-Disposition: form-data\r\n\r\nv\r\n--" + boundary + "--\r\n"))
	f.Add([]byte("--" + boundary + "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"../..\\\\x\"\r\n\r\nbody\r\n--" + boundary + "--\r\n"))
	f.Add([]byte("--" + boundary + "\r\nContent-Disposition: attachment; name=\"key\"\r\n\r\nk\r\n"))
	f.Add([]byte(""))
	srv, st := storeServer(f, testStoreConfig(f.TempDir()))
	h := frontDoor(srv)
	if err := st.CreateBucket(context.Background(), sluice.Bucket{Name: "fz", Region: sluice.DefaultRegion}); err != nil {
		f.Fatal(err)
	}
	if err := st.PutBucketConfig(context.Background(), "fz", sluice.ConfigPolicy,
		[]byte(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:PutObject","Resource":"arn:aws:s3:::fz/*"}]}`)); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		req := httptest.NewRequest("POST", "/fz", bytes.NewReader(body))
		req.Header.Set("Content-Type", ct)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		switch {
		case rec.Code == 204:
		case rec.Code >= 400 && rec.Code < 500 || rec.Code == 501:
			if !bytes.Contains(rec.Body.Bytes(), []byte("<Error><Code>")) {
				t.Fatalf("%d without an error document: %q", rec.Code, rec.Body)
			}
		default:
			t.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
	})
}
