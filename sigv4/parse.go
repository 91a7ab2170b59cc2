package sigv4

import (
	"errors"
	"strings"

	"github.com/sluicehq/sluice"
)

// credential is a parsed credential scope: AK/YYYYMMDD/region/service/aws4_request.
type credential struct {
	accessKey, date, region, service string
}

func (c credential) scope() string {
	return string(c.appendScope(make([]byte, 0, len(c.date)+len(c.region)+len(c.service)+16)))
}

func (c credential) appendScope(b []byte) []byte {
	b = append(b, c.date...)
	b = append(b, '/')
	b = append(b, c.region...)
	b = append(b, '/')
	b = append(b, c.service...)
	return append(b, "/aws4_request"...)
}

var errCredential = errors.New(`the Credential is mal-formed; expecting "<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request".`)

func parseCredential(s string) (credential, error) {
	var c credential
	parts := [5]string{}
	for i := range 4 {
		j := strings.IndexByte(s, '/')
		if j < 0 {
			return c, errCredential
		}
		parts[i], s = s[:j], s[j+1:]
	}
	parts[4] = s
	c = credential{accessKey: parts[0], date: parts[1], region: parts[2], service: parts[3]}
	if c.accessKey == "" || c.region == "" || c.service == "" || !isDate(c.date) {
		return c, errCredential
	}
	if parts[4] != "aws4_request" {
		return c, errors.New(`incorrect terminal "` + parts[4] + `". This endpoint uses "aws4_request".`)
	}
	return c, nil
}

func isDate(s string) bool {
	if len(s) != 8 {
		return false
	}
	for i := 0; i < 8; i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// authorization is a parsed Authorization header.
type authorization struct {
	cred          credential
	signedHeaders []string
	signature     string
}

// parseAuthorization parses
//
//	AWS4-HMAC-SHA256 Credential=AK/20130524/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-date, Signature=...
//
// accepting, as S3 does, any spacing around the commas and components in
// any order.
func parseAuthorization(h string) (authorization, error) {
	var a authorization
	h = strings.TrimSpace(h)
	alg, rest, _ := strings.Cut(h, " ")
	if alg != algorithm {
		return a, sluice.Errorf(sluice.ErrInvalidRequest, "The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256.")
	}
	var cred, sh, sig string
	var haveCred, haveSH, haveSig bool
	for rest != "" {
		var part string
		part, rest, _ = strings.Cut(rest, ",")
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		k, val, ok := strings.Cut(part, "=")
		if !ok {
			return a, headerMalformed(`the authorization component "` + part + `" is malformed.`)
		}
		var dup bool
		switch strings.TrimSpace(k) {
		case "Credential":
			dup, cred, haveCred = haveCred, val, true
		case "SignedHeaders":
			dup, sh, haveSH = haveSH, val, true
		case "Signature":
			dup, sig, haveSig = haveSig, val, true
		default:
			return a, headerMalformed(`the authorization component "` + part + `" is malformed.`)
		}
		if dup {
			return a, headerMalformed(`the authorization component "` + part + `" is duplicated.`)
		}
	}
	if !haveCred || !haveSH || !haveSig {
		return a, headerMalformed("the authorization header requires three components: Credential, SignedHeaders, and Signature.")
	}
	c, err := parseCredential(cred)
	if err != nil {
		return a, headerMalformed(err.Error())
	}
	if sh == "" || sig == "" {
		return a, headerMalformed("the authorization header requires three components: Credential, SignedHeaders, and Signature.")
	}
	a.cred = c
	a.signedHeaders = strings.Split(sh, ";")
	for _, name := range a.signedHeaders {
		if name == "" {
			return a, headerMalformed(`the authorization component "SignedHeaders=` + sh + `" is malformed.`)
		}
	}
	a.signature = sig
	return a, nil
}

// hasQueryParam reports whether the raw query has the key, without
// decoding the query (keys SigV4 looks for are never escaped).
func hasQueryParam(raw, key string) bool {
	for raw != "" {
		var part string
		part, raw, _ = strings.Cut(raw, "&")
		k, _, _ := strings.Cut(part, "=")
		if k == key {
			return true
		}
	}
	return false
}

// queryValues decodes the raw query into its first value per key.
func queryValues(raw string) map[string]string {
	m := make(map[string]string, 8)
	for raw != "" {
		var part string
		part, raw, _ = strings.Cut(raw, "&")
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		dk, err1 := unescape(k)
		dv, err2 := unescape(v)
		if err1 != nil || err2 != nil {
			continue
		}
		if _, ok := m[dk]; !ok {
			m[dk] = dv
		}
	}
	return m
}

// unescape decodes %XX escapes; '+' stays a plus sign, as SDKs encode a
// space as %20 (see canonicalQueries for clients that do otherwise).
func unescape(s string) (string, error) {
	if strings.IndexByte(s, '%') < 0 {
		return s, nil
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			b = append(b, s[i])
			continue
		}
		if i+2 >= len(s) || !isHex(s[i+1]) || !isHex(s[i+2]) {
			return "", errors.New("invalid escape")
		}
		b = append(b, unhex(s[i+1])<<4|unhex(s[i+2]))
		i += 2
	}
	return string(b), nil
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c >= 'a':
		return c - 'a' + 10
	default:
		return c - 'A' + 10
	}
}
