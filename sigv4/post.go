package sigv4

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"io"

	"github.com/sluicehq/sluice"
)

// PolicySignature returns the Signature Version 4 signature of a
// browser-based upload's policy: the hex HMAC-SHA256, under the signing key
// of the credential scope (date YYYYMMDD, region, service), of the policy
// exactly as the form carries it, base64 and all. S3 signs nothing else of
// a POST upload: the policy's conditions are what bind the form's fields.
func PolicySignature(secret, date, region, service, policy string) string {
	m := hmac.New(sha256.New, deriveKey(secret, date, region, service))
	io.WriteString(m, policy)
	return hex.EncodeToString(m.Sum(nil))
}

// VerifyPolicy authenticates a browser-based upload (S3 POST Object) from
// the form's x-amz-credential, x-amz-date, policy and x-amz-signature
// fields, and returns the caller. It checks the signature only: the
// policy's expiration and conditions are the S3 layer's to enforce, and
// x-amz-date is not held to MaxSkew, because a form is signed once and
// then used until its policy expires.
//
// Errors are S3's: InvalidAccessKeyId for an unknown key,
// SignatureDoesNotMatch for a wrong signature, InvalidArgument for a
// malformed credential or date.
func (v *Verifier) VerifyPolicy(credential, amzDate, policy, signature string) (sluice.Identity, error) {
	cred, err := parseCredential(credential)
	if err != nil {
		return sluice.Identity{}, postArgument("x-amz-credential", credential, "Error parsing the X-Amz-Credential parameter; "+err.Error())
	}
	if _, err := parseAmzDate(amzDate); err != nil {
		return sluice.Identity{}, postArgument("x-amz-date", amzDate, `X-Amz-Date must be in the ISO8601 Long Format "yyyyMMdd'T'HHmmss'Z'"`)
	}
	if cred.date != amzDate[:8] {
		return sluice.Identity{}, postArgument("x-amz-date", amzDate,
			"Invalid credential date \""+cred.date+"\". This date is not the same as X-Amz-Date: \""+amzDate[:8]+"\".")
	}
	if !isS3(cred.service) {
		return sluice.Identity{}, postArgument("x-amz-credential", credential,
			"Invalid credential scope service \""+cred.service+"\". This endpoint uses \"s3\".")
	}
	secret, ok := v.creds[cred.accessKey]
	if !ok {
		return sluice.Identity{}, invalidAccessKey(cred.accessKey)
	}
	var provided [sha256.Size]byte
	valid := decodeHexString(provided[:], signature)
	key := v.keys.get(secret, cred)
	m := hmac.New(sha256.New, key.key)
	io.WriteString(m, policy)
	if !valid || !hmac.Equal(m.Sum(nil), provided[:]) {
		e := sluice.Errorf(sluice.ErrSignatureDoesNotMatch, "The request signature we calculated does not match the signature you provided. Check your key and signing method.")
		e.Fields = map[string]string{
			"AWSAccessKeyId":    cred.accessKey,
			"StringToSign":      policy,
			"SignatureProvided": signature,
		}
		return sluice.Identity{}, e
	}
	return sluice.Identity{AccessKey: cred.accessKey, Service: cred.service, Region: cred.region}, nil
}

// PolicySignatureV2 returns the Signature Version 2 signature of a POST
// policy: the base64 HMAC-SHA1 of the policy as the form carries it, keyed
// with the secret itself. boto3's generate_presigned_post makes this form
// unless told to sign with s3v4.
func PolicySignatureV2(secret, policy string) string {
	m := hmac.New(sha1.New, []byte(secret))
	io.WriteString(m, policy)
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// VerifyPolicyV2 authenticates a Signature Version 2 POST form from its
// AWSAccessKeyId, policy and signature fields. As with VerifyPolicy, the
// policy's expiration and conditions are for the caller to enforce. The
// identity has Service "s3" and no Region: SigV2 names none.
func (v *Verifier) VerifyPolicyV2(accessKey, policy, signature string) (sluice.Identity, error) {
	secret, ok := v.creds[accessKey]
	if !ok {
		return sluice.Identity{}, invalidAccessKey(accessKey)
	}
	provided, err := base64.StdEncoding.DecodeString(signature)
	m := hmac.New(sha1.New, []byte(secret))
	io.WriteString(m, policy)
	if err != nil || !hmac.Equal(m.Sum(nil), provided) {
		e := sluice.Errorf(sluice.ErrSignatureDoesNotMatch, "The request signature we calculated does not match the signature you provided. Check your key and signing method.")
		e.Fields = map[string]string{
			"AWSAccessKeyId":    accessKey,
			"StringToSign":      policy,
			"SignatureProvided": signature,
		}
		return sluice.Identity{}, e
	}
	return sluice.Identity{AccessKey: accessKey, Service: "s3"}, nil
}

func postArgument(name, value, msg string) error {
	e := sluice.Errorf(sluice.ErrInvalidArgument, "%s", msg)
	e.Fields = map[string]string{"ArgumentName": name, "ArgumentValue": value}
	return e
}
