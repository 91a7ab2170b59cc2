package sigv4

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/sluicehq/sluice"
)

func FuzzParseAuthorization(f *testing.F) {
	f.Add("AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")
	f.Add("AWS4-HMAC-SHA256 Credential=a/b/c/d/e,SignedHeaders=,Signature=")
	f.Add("AWS4-HMAC-SHA256 ,,,=,==")
	f.Add("AWS test:sig")
	f.Add("")
	f.Fuzz(func(t *testing.T, h string) {
		a, err := parseAuthorization(h)
		if err != nil {
			if sluice.ErrorCode(err) == sluice.ErrInternal {
				t.Fatalf("uncoded error: %v", err)
			}
			return
		}
		if a.cred.accessKey == "" || a.signature == "" || len(a.signedHeaders) == 0 || len(a.cred.date) != 8 {
			t.Fatalf("accepted incomplete header %q: %+v", h, a)
		}
		// Scope must agree with the full parser on anything it accepts.
		r := &http.Request{Header: http.Header{"Authorization": {h}}}
		svc, region, ok := Scope(r)
		if ok && (svc != a.cred.service || region != a.cred.region) {
			t.Fatalf("Scope = %q %q, parser = %q %q", svc, region, a.cred.service, a.cred.region)
		}
	})
}

func FuzzCanonicalQuery(f *testing.F) {
	f.Add("Param2=value2&Param1=value1")
	f.Add("a=%2F&b&=c&&%zz=1&+=+")
	f.Add("X-Amz-Signature=abc&X-Amz-Date=1")
	f.Add("%E1%88%B4=bar&k=v%20w")
	f.Fuzz(func(t *testing.T, raw string) {
		for _, presigned := range []bool{false, true} {
			q := canonicalQuery(raw, presigned, false)
			// Canonical output is already canonical: re-canonicalising it
			// changes nothing, and it holds only unreserved bytes, '%', '&', '='.
			if again := canonicalQuery(q, presigned, false); again != q {
				t.Fatalf("not idempotent: %q -> %q -> %q", raw, q, again)
			}
			for i := 0; i < len(q); i++ {
				c := q[i]
				ok := 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || strings.IndexByte("-_.~%&=", c) >= 0
				if !ok {
					t.Fatalf("byte %q in canonical query %q", c, q)
				}
			}
			if presigned && strings.Contains(q, "X-Amz-Signature=") {
				t.Fatalf("signature kept in %q", q)
			}
		}
	})
}

// chunkSigner produces signed aws-chunked bodies the way clients do, to
// seed the fuzzer with valid streams.
type chunkSigner struct {
	key       []byte
	date      string
	scope     string
	prev      []byte
	maxChunks int
}

func (s *chunkSigner) sign(data []byte) []byte {
	sum := sha256.Sum256(data)
	var b bytes.Buffer
	b.WriteString("AWS4-HMAC-SHA256-PAYLOAD\n" + s.date + "\n" + s.scope + "\n")
	writeHex(&b, s.prev)
	b.WriteString("\n" + emptySHA256 + "\n")
	writeHex(&b, sum[:])
	m := hmac.New(sha256.New, s.key)
	m.Write(b.Bytes())
	s.prev = m.Sum(nil)
	return s.prev
}

func (s *chunkSigner) encode(data []byte, chunk int) []byte {
	var out bytes.Buffer
	for len(data) > 0 {
		n := min(chunk, len(data))
		out.WriteString(strings.ToLower(strings.TrimLeft(hexSize(n), "0")) + ";chunk-signature=")
		writeHex(&out, s.sign(data[:n]))
		out.WriteString("\r\n")
		out.Write(data[:n])
		out.WriteString("\r\n")
		data = data[n:]
	}
	out.WriteString("0;chunk-signature=")
	writeHex(&out, s.sign(nil))
	out.WriteString("\r\n\r\n")
	return out.Bytes()
}

func hexSize(n int) string {
	const digits = "0123456789abcdef"
	s := ""
	for ; n > 0; n >>= 4 {
		s = string(digits[n&15]) + s
	}
	if s == "" {
		return "0"
	}
	return s
}

var fuzzSeed = bytes.Repeat([]byte{0x5a}, 32)

func newFuzzChunked(body []byte, signed, trailers bool, declared int64, trailer http.Header) *chunkedReader {
	cr := &chunkedReader{
		src: newLineReader(bytes.NewReader(body)), closer: io.NopCloser(nil),
		signed: signed, trailers: trailers, declared: declared, maxChunk: 1 << 20, trailer: trailer,
	}
	if signed {
		key := deriveKey("secret", "20260301", "us-east-1", "s3")
		cr.mac = hmac.New(sha256.New, key)
		cr.sha = sha256.New()
		cr.amzDate = "20260301T120000Z"
		cr.scope = "20260301/us-east-1/s3/aws4_request"
		copy(cr.prev[:], fuzzSeed)
	}
	return cr
}

func TestChunkedReaderRoundTrip(t *testing.T) {
	payload := bytes.Repeat([]byte("The quick brown fox. "), 1000)
	for _, chunk := range []int{1, 7, 8192, 65536, len(payload)} {
		s := &chunkSigner{key: deriveKey("secret", "20260301", "us-east-1", "s3"), date: "20260301T120000Z",
			scope: "20260301/us-east-1/s3/aws4_request", prev: fuzzSeed}
		body := s.encode(payload, chunk)
		for _, readSize := range []int{1, 13, 4096, 1 << 20} {
			cr := newFuzzChunked(body, true, false, int64(len(payload)), nil)
			var got []byte
			buf := make([]byte, readSize)
			var err error
			for err == nil {
				var n int
				n, err = cr.Read(buf)
				got = append(got, buf[:n]...)
			}
			if err != io.EOF {
				t.Fatalf("chunk %d read %d: %v", chunk, readSize, err)
			}
			if !bytes.Equal(got, payload) {
				t.Fatalf("chunk %d read %d: payload differs (%d bytes)", chunk, readSize, len(got))
			}
		}
	}
}

func TestUnsignedTrailerDecoding(t *testing.T) {
	tests := []struct {
		name     string
		body     string
		declared int64
		want     string
		trailer  http.Header
		code     sluice.Code
	}{
		{name: "two chunks", body: "3\r\nabc\r\n4\r\ndefg\r\n0\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n", declared: 7, want: "abcdefg",
			trailer: http.Header{"X-Amz-Checksum-Crc32": {"AAAAAA=="}}},
		{name: "no final empty line", body: "3\r\nabc\r\n0\r\nx-amz-checksum-crc32:AAAAAA==\r\n", declared: 3, want: "abc",
			trailer: http.Header{"X-Amz-Checksum-Crc32": {"AAAAAA=="}}},
		{name: "space after colon", body: "3\r\nabc\r\n0\r\nx-amz-checksum-crc32: AAAAAA==\r\n\r\n", declared: 3, want: "abc",
			trailer: http.Header{"X-Amz-Checksum-Crc32": {"AAAAAA=="}}},
		{name: "missing declared trailer", body: "3\r\nabc\r\n0\r\n\r\n", declared: 3, code: sluice.ErrIncompleteBody},
		{name: "short of decoded length", body: "3\r\nabc\r\n0\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n", declared: 4, code: sluice.ErrIncompleteBody},
		{name: "beyond decoded length", body: "3\r\nabc\r\n0\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n", declared: 2, code: sluice.ErrIncompleteBody},
		{name: "bad size", body: "zz\r\nabc\r\n0\r\n\r\n", declared: -1, code: sluice.ErrIncompleteBody},
		{name: "missing crlf after data", body: "3\r\nabcd\r\n0\r\n\r\n", declared: -1, code: sluice.ErrIncompleteBody},
		{name: "chunk over limit", body: "200000\r\n", declared: -1, code: sluice.ErrInvalidRequest},
		{name: "empty body", body: "", declared: -1, code: sluice.ErrIncompleteBody},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			trailer := http.Header{"X-Amz-Checksum-Crc32": nil}
			cr := newFuzzChunked([]byte(tt.body), false, true, tt.declared, trailer)
			cr.declaredTrailers = []string{"x-amz-checksum-crc32"}
			got, err := io.ReadAll(cr)
			if tt.code != "" {
				checkErr(t, err, tt.code, "", nil)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("body = %q, want %q", got, tt.want)
			}
			if diff := cmp.Diff(tt.trailer, trailer); diff != "" {
				t.Errorf("trailer (-want +got):\n%s", diff)
			}
		})
	}
}

func FuzzChunkedReader(f *testing.F) {
	s := &chunkSigner{key: deriveKey("secret", "20260301", "us-east-1", "s3"), date: "20260301T120000Z",
		scope: "20260301/us-east-1/s3/aws4_request", prev: fuzzSeed}
	f.Add(s.encode([]byte("hello, chunked world"), 5), true, false)
	f.Add([]byte("3\r\nabc\r\n0\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n"), false, true)
	f.Add([]byte("ffffffff\r\n"), false, false)
	f.Add([]byte("0\r\n\r\n\r\n\r\n"), false, true)
	f.Add([]byte(""), true, true)
	f.Fuzz(func(t *testing.T, body []byte, signed, trailers bool) {
		trailer := http.Header{}
		cr := newFuzzChunked(body, signed, trailers, -1, trailer)
		buf := make([]byte, 7)
		total := 0
		// Every Read either makes progress or fails; a decoder that loops
		// without consuming input would exceed this bound.
		for i := 0; i <= 2*len(body)+4; i++ {
			n, err := cr.Read(buf)
			total += n
			if err == io.EOF {
				if total > len(body) {
					t.Fatalf("decoded %d bytes from %d", total, len(body))
				}
				return
			}
			if err != nil {
				if sluice.ErrorCode(err) == sluice.ErrInternal {
					t.Fatalf("uncoded error: %v", err)
				}
				if _, err2 := cr.Read(buf); err2 == nil {
					t.Fatal("read succeeded after an error")
				}
				return
			}
		}
		t.Fatalf("no end after %d reads of a %d-byte body", 2*len(body)+4, len(body))
	})
}

func TestScope(t *testing.T) {
	tests := []struct {
		name, raw       string
		service, region string
		ok              bool
	}{
		{"header", "GET / HTTP/1.1\r\nHost: h\r\nAuthorization: AWS4-HMAC-SHA256 Credential=test/20260301/eu-west-1/lambda/aws4_request, SignedHeaders=host, Signature=00\r\n\r\n", "lambda", "eu-west-1", true},
		{"header no spaces", "GET / HTTP/1.1\r\nHost: h\r\nAuthorization: AWS4-HMAC-SHA256 Credential=test/20260301/us-east-1/logs/aws4_request,SignedHeaders=host,Signature=00\r\n\r\n", "logs", "us-east-1", true},
		{"query", "GET /b/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=test%2F20260301%2Fus-east-1%2Fs3%2Faws4_request HTTP/1.1\r\nHost: h\r\n\r\n", "s3", "us-east-1", true},
		{"query unescaped slashes", "GET /b/k?X-Amz-Credential=test/20260301/us-west-2/s3/aws4_request HTTP/1.1\r\nHost: h\r\n\r\n", "s3", "us-west-2", true},
		{"anonymous", "GET /b/k HTTP/1.1\r\nHost: h\r\n\r\n", "", "", false},
		{"malformed scope", "GET / HTTP/1.1\r\nHost: h\r\nAuthorization: AWS4-HMAC-SHA256 Credential=test/20260301/us-east-1, SignedHeaders=host, Signature=00\r\n\r\n", "", "", false},
		{"sigv2", "GET / HTTP/1.1\r\nHost: h\r\nAuthorization: AWS test:abc\r\n\r\n", "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svc, region, ok := Scope(serverRequest(t, tt.raw))
			if svc != tt.service || region != tt.region || ok != tt.ok {
				t.Errorf("Scope = %q, %q, %v; want %q, %q, %v", svc, region, ok, tt.service, tt.region, tt.ok)
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	valid := DefaultConfig()
	valid.Credentials = map[string]string{"test": "test"}
	tests := []struct {
		name   string
		mutate func(*Config)
		want   string
	}{
		{"valid", func(*Config) {}, ""},
		{"no credentials", func(c *Config) { c.Credentials = nil }, "sigv4: Credentials: no access keys configured"},
		{"empty secret", func(c *Config) { c.Credentials = map[string]string{"k": ""} }, `sigv4: Credentials: empty secret for access key id "k"`},
		{"slash in key", func(c *Config) { c.Credentials = map[string]string{"a/b": "s"} }, `sigv4: Credentials: invalid access key id "a/b"`},
		{"no skew", func(c *Config) { c.MaxSkew = 0 }, "sigv4: MaxSkew: 0s is not positive"},
		{"presign too long", func(c *Config) { c.MaxPresignExpiry = 8 * 24 * time.Hour }, "sigv4: MaxPresignExpiry: 192h0m0s is outside 1s..168h"},
		{"no clock", func(c *Config) { c.Now = nil }, "sigv4: Now: no clock"},
		{"no body limit", func(c *Config) { c.MaxBufferedBody = 0 }, "sigv4: MaxBufferedBody: 0 is not positive"},
		{"no chunk limit", func(c *Config) { c.MaxChunkSize = -1 }, "sigv4: MaxChunkSize: -1 is not positive"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := valid
			tt.mutate(&c)
			err := c.Validate()
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tt.want {
				t.Errorf("Validate = %q, want %q", got, tt.want)
			}
			if _, err := New(c); (err == nil) != (tt.want == "") {
				t.Errorf("New error = %v", err)
			}
		})
	}
}

func BenchmarkVerifyHeader(b *testing.B) {
	v := newVerifier(b, s3Key, s3Secret, s3Time)
	raw := "GET /test.txt HTTP/1.1\r\nHost: examplebucket.s3.amazonaws.com\r\nRange: bytes=0-9\r\n" +
		"x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\r\nx-amz-date: 20130524T000000Z\r\n" +
		s3Auth("host;range;x-amz-content-sha256;x-amz-date", "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41") + "\r\n"
	r := serverRequest(b, raw)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(r); err != nil {
			b.Fatal(err)
		}
	}
}

// FuzzParseAmzDate: the fast path of parseAmzDate agrees with time.Parse
// on whatever it accepts, and formatAmzDate keeps a well-formed value as
// sent.
func FuzzParseAmzDate(f *testing.F) {
	for _, s := range []string{"20130524T000000Z", "20240229T235959Z", "20230229T000000Z", "20231301T000000Z",
		"20130524T240000Z", "20130524T000060Z", "2013052T0000000Z", "20130524t000000z", "+0130524T000000Z"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, werr := time.Parse(amzDateLayout, s)
		got, gerr := parseAmzDate(s)
		if (werr == nil) != (gerr == nil) || !got.Equal(want) {
			t.Fatalf("parseAmzDate(%q) = %v, %v; time.Parse = %v, %v", s, got, gerr, want, werr)
		}
		if werr == nil {
			if f := formatAmzDate(want, s); f != want.UTC().Format(amzDateLayout) {
				t.Fatalf("formatAmzDate(%q) = %q", s, f)
			}
		}
	})
}
