package sigv4

import (
	"bufio"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/sluicehq/sluice"
)

// serverRequest parses raw HTTP/1.1 the way net/http's server does, so the
// verifier sees Host, Content-Length and Transfer-Encoding where a real
// handler would.
func serverRequest(t testing.TB, raw string) *http.Request {
	t.Helper()
	r, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw)))
	if err != nil {
		t.Fatalf("ReadRequest: %v", err)
	}
	return r
}

func newVerifier(t testing.TB, ak, secret string, now time.Time) *Verifier {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Credentials = map[string]string{ak: secret}
	cfg.Now = func() time.Time { return now }
	v, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

const (
	suiteKey    = "AKIDEXAMPLE"
	suiteSecret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
	s3Key       = "AKIAIOSFODNN7EXAMPLE"
	s3Secret    = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
)

var (
	suiteTime = time.Date(2015, 8, 30, 12, 36, 0, 0, time.UTC)
	s3Time    = time.Date(2013, 5, 24, 0, 0, 0, 0, time.UTC)
)

func suiteAuth(signedHeaders, sig string) string {
	return "Authorization: AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=" +
		signedHeaders + ", Signature=" + sig + "\r\n"
}

// AWS's Signature Version 4 test suite (service "service", which takes the
// non-S3 canonicalisation rules).
func TestSigV4TestSuite(t *testing.T) {
	const base = "Host: example.amazonaws.com\r\nX-Amz-Date: 20150830T123600Z\r\n"
	tests := []struct {
		name, raw string
		body      string
	}{
		{"get-vanilla", "GET / HTTP/1.1\r\n" + base +
			suiteAuth("host;x-amz-date", "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"), ""},
		{"post-vanilla", "POST / HTTP/1.1\r\n" + base +
			suiteAuth("host;x-amz-date", "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"), ""},
		{"get-vanilla-query-order-key-case", "GET /?Param2=value2&Param1=value1 HTTP/1.1\r\n" + base +
			suiteAuth("host;x-amz-date", "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"), ""},
		{"get-vanilla-empty-query-key", "GET /?Param1=value1 HTTP/1.1\r\n" + base +
			suiteAuth("host;x-amz-date", "a67d582fa61cc504c4bae71f336f98b97f1ea3c7a6bfe1b6e45aec72011b9aeb"), ""},
		{"get-vanilla-query-unreserved", "GET /?-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz=-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz HTTP/1.1\r\n" + base +
			suiteAuth("host;x-amz-date", "9c3e54bfcdf0b19771a7f523ee5669cdf59bc7cc0884027167c21bb143a40197"), ""},
		{"get-vanilla-utf8-query", "GET /?%E1%88%B4=bar HTTP/1.1\r\n" + base +
			suiteAuth("host;x-amz-date", "2cdec8eed098649ff3a119c94853b13c643bcf08f8b0a1d91e12c9027818dd04"), ""},
		{"get-unreserved", "GET /-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz HTTP/1.1\r\n" + base +
			suiteAuth("host;x-amz-date", "07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f"), ""},
		{"get-utf8", "GET /%E1%88%B4 HTTP/1.1\r\n" + base +
			suiteAuth("host;x-amz-date", "8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85"), ""},
		{"get-header-key-duplicate", "GET / HTTP/1.1\r\n" + base + "My-Header1: value2\r\nMy-Header1: value2\r\nMy-Header1: value1\r\n" +
			suiteAuth("host;my-header1;x-amz-date", "c9d5ea9f3f72853aea855b47ea873832890dbdd183b4468f858259531a5138ea"), ""},
		{"get-header-value-order", "GET / HTTP/1.1\r\n" + base + "My-Header1: value4\r\nMy-Header1: value1\r\nMy-Header1: value3\r\nMy-Header1: value2\r\n" +
			suiteAuth("host;my-header1;x-amz-date", "08c7e5a9acfcfeb3ab6b2185e75ce8b1deb5e634ec47601a50643f830c755c01"), ""},
		{"get-header-value-trim", "GET / HTTP/1.1\r\n" + base + "My-Header1:  value1 \r\nMy-Header2: \"a   b   c\"\r\n" +
			suiteAuth("host;my-header1;my-header2;x-amz-date", "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736"), ""},
		{"post-header-key-sort", "POST / HTTP/1.1\r\n" + base + "My-Header1: value1\r\n" +
			suiteAuth("host;my-header1;x-amz-date", "c5410059b04c1ee005303aed430f6e6645f61f4dc9e1461ec8f8916fdf18852c"), ""},
		{"post-header-value-case", "POST / HTTP/1.1\r\n" + base + "My-Header1: VALUE1\r\n" +
			suiteAuth("host;my-header1;x-amz-date", "cdbc9802e29d2942e5e10b5bccfdd67c5f22c7c4e8ae67b53629efa58b974b7d"), ""},
		{"post-vanilla-query", "POST /?Param1=value1 HTTP/1.1\r\n" + base +
			suiteAuth("host;x-amz-date", "28038455d6de14eafc1f9222cf5aa6f1a96197d7deb8263271d420d138af7f11"), ""},
		{"post-vanilla-query-nonunreserved", "POST /?%40%23%24%25%5E=&%2B=%2F%2C%3F%3E%3C%60%22%3B%3A%5C%7C%5D%5B%7B%7D HTTP/1.1\r\n" + base +
			suiteAuth("host;x-amz-date", "66c82657c86e26fb25238d0e69f011edc4c6df5ae71119d7cb98ed9b87393c1e"), ""},
		{"post-x-www-form-urlencoded", "POST / HTTP/1.1\r\n" + base + "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 13\r\n" +
			suiteAuth("content-type;host;x-amz-date", "ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a") + "\r\nParam1=value1", "Param1=value1"},
		{"post-x-www-form-urlencoded-parameters", "POST / HTTP/1.1\r\n" + base + "Content-Type: application/x-www-form-urlencoded; charset=utf8\r\nContent-Length: 13\r\n" +
			suiteAuth("content-type;host;x-amz-date", "1a72ec8f64bd914b0e42e42607c7fbce7fb2c7465f63e3092b3b0d39fa77a6fe") + "\r\nParam1=value1", "Param1=value1"},
	}
	v := newVerifier(t, suiteKey, suiteSecret, suiteTime)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := tt.raw
			if !strings.Contains(raw, "\r\n\r\n") {
				raw += "\r\n"
			}
			r := serverRequest(t, raw)
			id, err := v.Verify(r)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			want := sluice.Identity{AccessKey: suiteKey, Service: "service", Region: "us-east-1"}
			if diff := cmp.Diff(want, id); diff != "" {
				t.Errorf("identity (-want +got):\n%s", diff)
			}
			body, err := io.ReadAll(r.Body)
			if err != nil {
				t.Fatalf("read body: %v", err)
			}
			if string(body) != tt.body {
				t.Errorf("body = %q, want %q", body, tt.body)
			}
		})
	}
}

func s3Auth(signedHeaders, sig string) string {
	return "Authorization: AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=" +
		signedHeaders + ",Signature=" + sig + "\r\n"
}

// The examples in S3's "Signature Calculations for the Authorization
// Header" documentation.
func TestS3DocumentationExamples(t *testing.T) {
	tests := []struct {
		name, raw, body string
	}{
		{"GET object with range", "GET /test.txt HTTP/1.1\r\nHost: examplebucket.s3.amazonaws.com\r\nRange: bytes=0-9\r\n" +
			"x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\r\nx-amz-date: 20130524T000000Z\r\n" +
			s3Auth("host;range;x-amz-content-sha256;x-amz-date", "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41") + "\r\n", ""},
		{"PUT object", "PUT /test$file.text HTTP/1.1\r\nHost: examplebucket.s3.amazonaws.com\r\nDate: Fri, 24 May 2013 00:00:00 GMT\r\n" +
			"x-amz-date: 20130524T000000Z\r\nx-amz-storage-class: REDUCED_REDUNDANCY\r\n" +
			"x-amz-content-sha256: 44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072\r\nContent-Length: 21\r\n" +
			s3Auth("date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class", "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd") +
			"\r\nWelcome to Amazon S3.", "Welcome to Amazon S3."},
		{"PUT object escaped dollar", "PUT /test%24file.text HTTP/1.1\r\nHost: examplebucket.s3.amazonaws.com\r\nDate: Fri, 24 May 2013 00:00:00 GMT\r\n" +
			"x-amz-date: 20130524T000000Z\r\nx-amz-storage-class: REDUCED_REDUNDANCY\r\n" +
			"x-amz-content-sha256: 44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072\r\nContent-Length: 21\r\n" +
			s3Auth("date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class", "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd") +
			"\r\nWelcome to Amazon S3.", "Welcome to Amazon S3."},
		{"GET bucket lifecycle", "GET /?lifecycle HTTP/1.1\r\nHost: examplebucket.s3.amazonaws.com\r\n" +
			"x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\r\nx-amz-date: 20130524T000000Z\r\n" +
			s3Auth("host;x-amz-content-sha256;x-amz-date", "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543") + "\r\n", ""},
		{"GET bucket list objects", "GET /?max-keys=2&prefix=J HTTP/1.1\r\nHost: examplebucket.s3.amazonaws.com\r\n" +
			"x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\r\nx-amz-date: 20130524T000000Z\r\n" +
			s3Auth("host;x-amz-content-sha256;x-amz-date", "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7") + "\r\n", ""},
	}
	v := newVerifier(t, s3Key, s3Secret, s3Time)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := serverRequest(t, tt.raw)
			id, err := v.Verify(r)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			want := sluice.Identity{AccessKey: s3Key, Service: "s3", Region: "us-east-1"}
			if diff := cmp.Diff(want, id); diff != "" {
				t.Errorf("identity (-want +got):\n%s", diff)
			}
			body, err := io.ReadAll(r.Body)
			if err != nil {
				t.Fatalf("read body: %v", err)
			}
			if string(body) != tt.body {
				t.Errorf("body = %q, want %q", body, tt.body)
			}
		})
	}
}

const presignedExample = "GET /test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request" +
	"&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host" +
	"&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404 HTTP/1.1\r\nHost: examplebucket.s3.amazonaws.com\r\n\r\n"

func TestPresignedExample(t *testing.T) {
	tests := []struct {
		name     string
		now      time.Time
		raw      string
		wantCode sluice.Code
		wantMsg  string
		fields   map[string]string
	}{
		{name: "at signing time", now: s3Time, raw: presignedExample},
		{name: "just before expiry", now: s3Time.Add(24*time.Hour - time.Second), raw: presignedExample},
		{name: "clock slightly behind", now: s3Time.Add(-time.Minute), raw: presignedExample},
		{name: "expired", now: s3Time.Add(24*time.Hour + time.Second), raw: presignedExample,
			wantCode: sluice.ErrAccessDenied, wantMsg: "Request has expired",
			fields: map[string]string{"X-Amz-Expires": "86400", "Expires": "2013-05-25T00:00:00Z", "ServerTime": "2013-05-25T00:00:01Z"}},
		{name: "far future", now: s3Time.Add(-time.Hour), raw: presignedExample,
			wantCode: sluice.ErrAccessDenied, wantMsg: "Request is not valid yet"},
		{name: "tampered path", now: s3Time, raw: strings.Replace(presignedExample, "/test.txt", "/test2.txt", 1),
			wantCode: sluice.ErrSignatureDoesNotMatch},
		{name: "tampered host", now: s3Time, raw: strings.Replace(presignedExample, "Host: examplebucket", "Host: otherbucket", 1),
			wantCode: sluice.ErrSignatureDoesNotMatch},
		{name: "added query parameter", now: s3Time, raw: strings.Replace(presignedExample, "/test.txt?", "/test.txt?versionId=1&", 1),
			wantCode: sluice.ErrSignatureDoesNotMatch},
		{name: "expires beyond a week", now: s3Time, raw: strings.Replace(presignedExample, "X-Amz-Expires=86400", "X-Amz-Expires=604801", 1),
			wantCode: sluice.ErrAuthorizationQueryParamsError, wantMsg: "X-Amz-Expires must be less than a week (in seconds) that is 604800"},
		{name: "expires negative", now: s3Time, raw: strings.Replace(presignedExample, "X-Amz-Expires=86400", "X-Amz-Expires=-1", 1),
			wantCode: sluice.ErrAuthorizationQueryParamsError, wantMsg: "X-Amz-Expires must be non-negative"},
		{name: "expires not a number", now: s3Time, raw: strings.Replace(presignedExample, "X-Amz-Expires=86400", "X-Amz-Expires=day", 1),
			wantCode: sluice.ErrAuthorizationQueryParamsError, wantMsg: "X-Amz-Expires should be a number"},
		{name: "missing signature", now: s3Time, raw: strings.Replace(presignedExample, "&X-Amz-Signature=", "&X-Amz-Sig=", 1),
			wantCode: sluice.ErrAuthorizationQueryParamsError},
		{name: "wrong algorithm", now: s3Time, raw: strings.Replace(presignedExample, "X-Amz-Algorithm=AWS4-HMAC-SHA256", "X-Amz-Algorithm=AWS4-ECDSA-P256-SHA256", 1),
			wantCode: sluice.ErrAuthorizationQueryParamsError},
		{name: "unknown key", now: s3Time, raw: strings.Replace(presignedExample, "AKIAIOSFODNN7EXAMPLE", "AKIAOTHER", 1),
			wantCode: sluice.ErrInvalidAccessKeyID},
		{name: "credential date mismatch", now: s3Time, raw: strings.Replace(presignedExample, "%2F20130524%2F", "%2F20130525%2F", 1),
			wantCode: sluice.ErrAuthorizationQueryParamsError},
		{name: "bad terminal", now: s3Time, raw: strings.Replace(presignedExample, "aws4_request", "aws4_reques", 1),
			wantCode: sluice.ErrAuthorizationQueryParamsError},
		{name: "host not signed", now: s3Time, raw: strings.Replace(presignedExample, "X-Amz-SignedHeaders=host", "X-Amz-SignedHeaders=range", 1),
			wantCode: sluice.ErrAuthorizationQueryParamsError},
		{name: "both auth forms", now: s3Time, raw: strings.Replace(presignedExample, "\r\n\r\n", "\r\nAuthorization: AWS4-HMAC-SHA256 x\r\n\r\n", 1),
			wantCode: sluice.ErrInvalidArgument},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := newVerifier(t, s3Key, s3Secret, tt.now)
			id, err := v.Verify(serverRequest(t, tt.raw))
			if tt.wantCode == "" {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				if id.AccessKey != s3Key || id.Anonymous {
					t.Errorf("identity = %+v", id)
				}
				return
			}
			checkErr(t, err, tt.wantCode, tt.wantMsg, tt.fields)
		})
	}
}

// checkErr asserts err is a *sluice.Error with code, and, when given, the
// message and a subset of fields.
func checkErr(t *testing.T, err error, code sluice.Code, msg string, fields map[string]string) {
	t.Helper()
	var e *sluice.Error
	if !asError(err, &e) {
		t.Fatalf("error = %v (%T), want *sluice.Error %s", err, err, code)
	}
	if e.Code != code {
		t.Fatalf("code = %s (%s), want %s", e.Code, e.Message, code)
	}
	if msg != "" && e.Message != msg {
		t.Errorf("message = %q, want %q", e.Message, msg)
	}
	for k, want := range fields {
		if got := e.Fields[k]; got != want {
			t.Errorf("field %s = %q, want %q", k, got, want)
		}
	}
}

func asError(err error, e **sluice.Error) bool {
	for err != nil {
		if x, ok := err.(*sluice.Error); ok {
			*e = x
			return true
		}
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			return false
		}
		err = u.Unwrap()
	}
	return false
}

// streamingExample builds the chunked PUT from S3's "Transferring Payload
// in Multiple Chunks" documentation: 66560 bytes of 'a' in a 64 KiB and a
// 1 KiB chunk.
func streamingExample(sig1, sig2, sigFinal string) string {
	body := "10000;chunk-signature=" + sig1 + "\r\n" + strings.Repeat("a", 65536) + "\r\n" +
		"400;chunk-signature=" + sig2 + "\r\n" + strings.Repeat("a", 1024) + "\r\n" +
		"0;chunk-signature=" + sigFinal + "\r\n\r\n"
	return "PUT /examplebucket/chunkObject.txt HTTP/1.1\r\nHost: s3.amazonaws.com\r\nx-amz-date: 20130524T000000Z\r\n" +
		"x-amz-storage-class: REDUCED_REDUNDANCY\r\n" +
		s3Auth("content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class",
			"4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9") +
		"x-amz-content-sha256: STREAMING-AWS4-HMAC-SHA256-PAYLOAD\r\nContent-Encoding: aws-chunked\r\n" +
		"x-amz-decoded-content-length: 66560\r\nContent-Length: 66824\r\n\r\n" + body
}

const (
	docChunk1 = "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648"
	docChunk2 = "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497"
	docChunk3 = "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9"
)

func TestStreamingExample(t *testing.T) {
	v := newVerifier(t, s3Key, s3Secret, s3Time)
	r := serverRequest(t, streamingExample(docChunk1, docChunk2, docChunk3))
	if _, err := v.Verify(r); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if r.ContentLength != 66560 {
		t.Errorf("ContentLength = %d, want 66560", r.ContentLength)
	}
	if ce, ok := r.Header["Content-Encoding"]; ok {
		t.Errorf("Content-Encoding still set: %q", ce)
	}
	// Small reads exercise chunk boundaries falling mid-buffer.
	var got []byte
	buf := make([]byte, 1000)
	for {
		n, err := r.Body.Read(buf)
		got = append(got, buf[:n]...)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("read: %v", err)
		}
	}
	if string(got) != strings.Repeat("a", 66560) {
		t.Errorf("decoded %d bytes, want 66560 'a'", len(got))
	}
}

// trailerExample is S3's "Including Trailing Headers" example: the same
// payload with a CRC32C trailer. extraCRLF puts an empty line between the
// last chunk and the trailers, as the documentation's listing shows it.
func trailerExample(trailerSig string, extraCRLF bool) string {
	body := "10000;chunk-signature=b474d8862b1487a5145d686f57f013e54db672cee1c953b3010fb58501ef5aa2\r\n" + strings.Repeat("a", 65536) + "\r\n" +
		"400;chunk-signature=1c1344b170168f8e65b41376b44b20fe354e373826ccbbe2c1d40a8cae51e5c7\r\n" + strings.Repeat("a", 1024) + "\r\n" +
		"0;chunk-signature=2ca2aba2005185cf7159c6277faf83795951dd77a3a99e6e65d5c9f85863f992\r\n"
	if extraCRLF {
		body += "\r\n"
	}
	body += "x-amz-checksum-crc32c:sOO8/Q==\r\nx-amz-trailer-signature:" + trailerSig + "\r\n\r\n"
	return "PUT /examplebucket/chunkObject.txt HTTP/1.1\r\nHost: s3.amazonaws.com\r\nx-amz-date: 20130524T000000Z\r\n" +
		"x-amz-storage-class: REDUCED_REDUNDANCY\r\n" +
		s3Auth("content-encoding;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class;x-amz-trailer",
			"106e2a8a18243abcf37539882f36619c00e2dfc72633413f02d3b74544bfeb8e") +
		"x-amz-content-sha256: STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER\r\nContent-Encoding: aws-chunked\r\n" +
		"x-amz-decoded-content-length: 66560\r\nx-amz-trailer: x-amz-checksum-crc32c\r\n" +
		"Content-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body
}

const docTrailerSig = "d81f82fc3505edab99d459891051a732e8730629a2e4a59689829ca17fe2e435"

func TestStreamingTrailerExample(t *testing.T) {
	for _, extra := range []bool{false, true} {
		name := "standard framing"
		if extra {
			name = "empty line before trailers"
		}
		t.Run(name, func(t *testing.T) {
			v := newVerifier(t, s3Key, s3Secret, s3Time)
			r := serverRequest(t, trailerExample(docTrailerSig, extra))
			if _, err := v.Verify(r); err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if diff := cmp.Diff(http.Header{"X-Amz-Checksum-Crc32c": nil}, r.Trailer); diff != "" {
				t.Errorf("trailer before body read (-want +got):\n%s", diff)
			}
			got, err := io.ReadAll(r.Body)
			if err != nil {
				t.Fatalf("read: %v", err)
			}
			if string(got) != strings.Repeat("a", 66560) {
				t.Errorf("decoded %d bytes, want 66560 'a'", len(got))
			}
			if diff := cmp.Diff(http.Header{"X-Amz-Checksum-Crc32c": {"sOO8/Q=="}}, r.Trailer); diff != "" {
				t.Errorf("trailer (-want +got):\n%s", diff)
			}
		})
	}
}
