package sigv4

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/sluicehq/sluice"
)

// The policy and signature of AWS's "Example: Browser-Based Upload using
// HTTP POST (Using AWS Signature Version 4)": the policy document with CRLF
// line ends, base64-encoded, signed with the example secret on 20151229.
const (
	awsPostPolicy     = "eyAiZXhwaXJhdGlvbiI6ICIyMDE1LTEyLTMwVDEyOjAwOjAwLjAwMFoiLA0KICAiY29uZGl0aW9ucyI6IFsNCiAgICB7ImJ1Y2tldCI6ICJzaWd2NGV4YW1wbGVidWNrZXQifSwNCiAgICBbInN0YXJ0cy13aXRoIiwgIiRrZXkiLCAidXNlci91c2VyMS8iXSwNCiAgICB7ImFjbCI6ICJwdWJsaWMtcmVhZCJ9LA0KICAgIHsic3VjY2Vzc19hY3Rpb25fcmVkaXJlY3QiOiAiaHR0cDovL3NpZ3Y0ZXhhbXBsZWJ1Y2tldC5zMy5hbWF6b25hd3MuY29tL3N1Y2Nlc3NmdWxfdXBsb2FkLmh0bWwifSwNCiAgICBbInN0YXJ0cy13aXRoIiwgIiRDb250ZW50LVR5cGUiLCAiaW1hZ2UvIl0sDQogICAgeyJ4LWFtei1tZXRhLXV1aWQiOiAiMTQzNjUxMjM2NTEyNzQifSwNCiAgICB7IngtYW16LXNlcnZlci1zaWRlLWVuY3J5cHRpb24iOiAiQUVTMjU2In0sDQogICAgWyJzdGFydHMtd2l0aCIsICIkeC1hbXotbWV0YS10YWciLCAiIl0sDQoNCiAgICB7IngtYW16LWNyZWRlbnRpYWwiOiAiQUtJQUlPU0ZPRE5ON0VYQU1QTEUvMjAxNTEyMjkvdXMtZWFzdC0xL3MzL2F3czRfcmVxdWVzdCJ9LA0KICAgIHsieC1hbXotYWxnb3JpdGhtIjogIkFXUzQtSE1BQy1TSEEyNTYifSwNCiAgICB7IngtYW16LWRhdGUiOiAiMjAxNTEyMjlUMDAwMDAwWiIgfQ0KICBdDQp9"
	awsPostSignature  = "8afdbf4008c03f22c2cd3cdb72e4afbb1f6a588f3255ac628749a66d7f09699e"
	awsPostCredential = "AKIAIOSFODNN7EXAMPLE/20151229/us-east-1/s3/aws4_request"
	awsPostDate       = "20151229T000000Z"
)

func TestPolicySignatureAWSExample(t *testing.T) {
	// The vector is the document AWS shows, not just any bytes: it
	// decodes to the example policy.
	doc, err := base64.StdEncoding.DecodeString(awsPostPolicy)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(doc), "{ \"expiration\": \"2015-12-30T12:00:00.000Z\",\r\n") {
		t.Fatalf("decoded policy starts %q", doc[:60])
	}
	if got := PolicySignature(s3Secret, "20151229", "us-east-1", "s3", awsPostPolicy); got != awsPostSignature {
		t.Fatalf("PolicySignature = %s, want %s", got, awsPostSignature)
	}
}

// TestPolicySignatureIndependent computes the signing key step by step, as
// the SigV4 documentation spells it out, for a second vector.
func TestPolicySignatureIndependent(t *testing.T) {
	mac := func(key []byte, data string) []byte {
		m := hmac.New(sha256.New, key)
		m.Write([]byte(data))
		return m.Sum(nil)
	}
	const secret, policy = "test", "eyJleHBpcmF0aW9uIjoiMjAzMC0wMS0wMVQwMDowMDowMFoiLCJjb25kaXRpb25zIjpbXX0="
	k := mac([]byte("AWS4"+secret), "20250102")
	k = mac(k, "eu-west-1")
	k = mac(k, "s3")
	k = mac(k, "aws4_request")
	want := hex.EncodeToString(mac(k, policy))
	if got := PolicySignature(secret, "20250102", "eu-west-1", "s3", policy); got != want {
		t.Fatalf("PolicySignature = %s, want %s", got, want)
	}
}

func TestVerifyPolicy(t *testing.T) {
	v := newVerifier(t, s3Key, s3Secret, time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	tests := []struct {
		name                      string
		cred, date, policy, sig   string
		wantCode                  sluice.Code
		wantFields                map[string]string
		wantAccessKey, wantRegion string
	}{
		{name: "aws example", cred: awsPostCredential, date: awsPostDate, policy: awsPostPolicy, sig: awsPostSignature,
			wantAccessKey: s3Key, wantRegion: "us-east-1"},
		{name: "upper-case hex signature", cred: awsPostCredential, date: awsPostDate, policy: awsPostPolicy, sig: strings.ToUpper(awsPostSignature),
			wantAccessKey: s3Key, wantRegion: "us-east-1"},
		{name: "policy changed by one byte", cred: awsPostCredential, date: awsPostDate, policy: awsPostPolicy[:len(awsPostPolicy)-1] + "0", sig: awsPostSignature,
			wantCode: sluice.ErrSignatureDoesNotMatch,
			wantFields: map[string]string{"AWSAccessKeyId": s3Key, "SignatureProvided": awsPostSignature,
				"StringToSign": awsPostPolicy[:len(awsPostPolicy)-1] + "0"}},
		{name: "signature not hex", cred: awsPostCredential, date: awsPostDate, policy: awsPostPolicy, sig: "zz",
			wantCode:   sluice.ErrSignatureDoesNotMatch,
			wantFields: map[string]string{"AWSAccessKeyId": s3Key, "SignatureProvided": "zz", "StringToSign": awsPostPolicy}},
		{name: "other region signs differently", cred: "AKIAIOSFODNN7EXAMPLE/20151229/us-west-2/s3/aws4_request", date: awsPostDate, policy: awsPostPolicy, sig: awsPostSignature,
			wantCode: sluice.ErrSignatureDoesNotMatch,
			wantFields: map[string]string{"AWSAccessKeyId": s3Key, "SignatureProvided": awsPostSignature,
				"StringToSign": awsPostPolicy}},
		{name: "unknown key", cred: "AKIDUNKNOWN/20151229/us-east-1/s3/aws4_request", date: awsPostDate, policy: awsPostPolicy, sig: awsPostSignature,
			wantCode: sluice.ErrInvalidAccessKeyID, wantFields: map[string]string{"AWSAccessKeyId": "AKIDUNKNOWN"}},
		{name: "malformed credential", cred: "AKIAIOSFODNN7EXAMPLE/20151229/us-east-1", date: awsPostDate, policy: awsPostPolicy, sig: awsPostSignature,
			wantCode: sluice.ErrInvalidArgument, wantFields: map[string]string{"ArgumentName": "x-amz-credential", "ArgumentValue": "AKIAIOSFODNN7EXAMPLE/20151229/us-east-1"}},
		{name: "bad date", cred: awsPostCredential, date: "2015-12-29", policy: awsPostPolicy, sig: awsPostSignature,
			wantCode: sluice.ErrInvalidArgument, wantFields: map[string]string{"ArgumentName": "x-amz-date", "ArgumentValue": "2015-12-29"}},
		{name: "date not the credential's", cred: awsPostCredential, date: "20151230T000000Z", policy: awsPostPolicy, sig: awsPostSignature,
			wantCode: sluice.ErrInvalidArgument, wantFields: map[string]string{"ArgumentName": "x-amz-date", "ArgumentValue": "20151230T000000Z"}},
		{name: "not s3", cred: "AKIAIOSFODNN7EXAMPLE/20151229/us-east-1/lambda/aws4_request", date: awsPostDate, policy: awsPostPolicy, sig: awsPostSignature,
			wantCode: sluice.ErrInvalidArgument, wantFields: map[string]string{"ArgumentName": "x-amz-credential", "ArgumentValue": "AKIAIOSFODNN7EXAMPLE/20151229/us-east-1/lambda/aws4_request"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, err := v.VerifyPolicy(tt.cred, tt.date, tt.policy, tt.sig)
			if tt.wantCode == "" {
				if err != nil {
					t.Fatalf("VerifyPolicy: %v", err)
				}
				want := sluice.Identity{AccessKey: tt.wantAccessKey, Service: "s3", Region: tt.wantRegion}
				if diff := cmp.Diff(want, id); diff != "" {
					t.Fatalf("identity (-want +got):\n%s", diff)
				}
				return
			}
			e, ok := err.(*sluice.Error)
			if !ok {
				t.Fatalf("err = %v (%T), want *sluice.Error %s", err, err, tt.wantCode)
			}
			if e.Code != tt.wantCode {
				t.Fatalf("code = %s, want %s (%v)", e.Code, tt.wantCode, err)
			}
			if diff := cmp.Diff(tt.wantFields, e.Fields); diff != "" {
				t.Fatalf("fields (-want +got):\n%s", diff)
			}
			if id != (sluice.Identity{}) {
				t.Fatalf("identity %+v returned with an error", id)
			}
		})
	}
}

// FuzzVerifyPolicy: no input panics, and whatever verifies is exactly the
// policy signed with the configured secret.
func FuzzVerifyPolicy(f *testing.F) {
	f.Add(awsPostCredential, awsPostDate, awsPostPolicy, awsPostSignature)
	f.Add("AKIAIOSFODNN7EXAMPLE/20151229/us-east-1/s3/aws4_request/x", awsPostDate, "", "")
	f.Add("////", "20151229T000000Z", "e30=", "00")
	f.Add(awsPostCredential, "99999999T999999Z", awsPostPolicy, awsPostSignature)
	v := newVerifier(f, s3Key, s3Secret, time.Now())
	f.Fuzz(func(t *testing.T, cred, date, policy, sig string) {
		id, err := v.VerifyPolicy(cred, date, policy, sig)
		if err != nil {
			if sluice.ErrorCode(err) == sluice.ErrInternal {
				t.Fatalf("uncoded error: %v", err)
			}
			return
		}
		c, perr := parseCredential(cred)
		if perr != nil {
			t.Fatalf("verified a malformed credential %q", cred)
		}
		if want := PolicySignature(s3Secret, c.date, c.region, c.service, policy); !strings.EqualFold(want, sig) {
			t.Fatalf("verified signature %q, want %q", sig, want)
		}
		if id.AccessKey != s3Key {
			t.Fatalf("identity %+v", id)
		}
	})
}

// The Signature Version 2 example of AWS's "Browser-Based Uploads Using
// POST" (HTML forms, SigV2): its policy, its secret, its signature.
const (
	awsPostPolicyV2    = "eyAiZXhwaXJhdGlvbiI6ICIyMDA3LTEyLTAxVDEyOjAwOjAwLjAwMFoiLAogICJjb25kaXRpb25zIjogWwogICAgeyJidWNrZXQiOiAiam9obnNtaXRoIn0sCiAgICBbInN0YXJ0cy13aXRoIiwgIiRrZXkiLCAidXNlci9lcmljLyJdLAogICAgeyJhY2wiOiAicHVibGljLXJlYWQifSwKICAgIHsic3VjY2Vzc19hY3Rpb25fcmVkaXJlY3QiOiAiaHR0cDovL2pvaG5zbWl0aC5zMy5hbWF6b25hd3MuY29tL3N1Y2Nlc3NmdWxfdXBsb2FkLmh0bWwifSwKICAgIFsic3RhcnRzLXdpdGgiLCAiJENvbnRlbnQtVHlwZSIsICJpbWFnZS8iXSwKICAgIHsieC1hbXotbWV0YS11dWlkIjogIjE0MzY1MTIzNjUxMjc0In0sCiAgICBbInN0YXJ0cy13aXRoIiwgIiR4LWFtei1tZXRhLXRhZyIsICIiXQogIF0KfQo="
	awsPostSecretV2    = "uV3F3YluFJax1cknvbcGwgjvx4QpvB+leU8dUj2o"
	awsPostSignatureV2 = "0RavWzkygo6QX9caELEqKi9kDbU="
)

func TestVerifyPolicyV2(t *testing.T) {
	if got := PolicySignatureV2(awsPostSecretV2, awsPostPolicyV2); got != awsPostSignatureV2 {
		t.Fatalf("PolicySignatureV2 = %s, want %s", got, awsPostSignatureV2)
	}
	v := newVerifier(t, s3Key, awsPostSecretV2, time.Now())
	tests := []struct {
		name, ak, policy, sig string
		wantCode              sluice.Code
	}{
		{"aws example", s3Key, awsPostPolicyV2, awsPostSignatureV2, ""},
		{"policy changed", s3Key, "e30=", awsPostSignatureV2, sluice.ErrSignatureDoesNotMatch},
		{"signature not base64", s3Key, awsPostPolicyV2, "!!", sluice.ErrSignatureDoesNotMatch},
		{"v4 signature in a v2 form", s3Key, awsPostPolicyV2, awsPostSignature, sluice.ErrSignatureDoesNotMatch},
		{"unknown key", "AKIDUNKNOWN", awsPostPolicyV2, awsPostSignatureV2, sluice.ErrInvalidAccessKeyID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, err := v.VerifyPolicyV2(tt.ak, tt.policy, tt.sig)
			if got := sluice.ErrorCode(err); got != tt.wantCode {
				t.Fatalf("code = %q, want %q (%v)", got, tt.wantCode, err)
			}
			if tt.wantCode == "" {
				if diff := cmp.Diff(sluice.Identity{AccessKey: s3Key, Service: "s3"}, id); diff != "" {
					t.Fatalf("identity (-want +got):\n%s", diff)
				}
			}
		})
	}
}
