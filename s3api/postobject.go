package s3api

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/sluicehq/sluice"
)

// PostPolicyVerifier checks the signature of a browser-based upload's
// policy (S3 POST Object, AWS Signature Version 4 or 2) and names the
// caller. *sigv4.Verifier implements it.
type PostPolicyVerifier interface {
	VerifyPolicy(credential, amzDate, policy, signature string) (sluice.Identity, error)
	VerifyPolicyV2(accessKey, policy, signature string) (sluice.Identity, error)
}

// WithPostPolicyVerifier lets POST Object accept signed forms. Without one,
// only forms without a policy (anonymous uploads a bucket policy allows)
// are accepted.
func WithPostPolicyVerifier(v PostPolicyVerifier) Option {
	return func(s *Server) { s.postVerifier = v }
}

// Limits of a POST upload, as S3 states them.
const (
	// maxPostFieldBytes bounds the form fields before the file: S3 allows
	// 20 KB of form data and boundaries, the file's contents excluded.
	maxPostFieldBytes = 20 << 10
	// maxPostDrain is how much of a refused file is still read, to report
	// its size and let the client see the error rather than a reset
	// connection.
	maxPostDrain = 64 << 20
)

// Codes of POST Object errors the root package does not name.
const (
	errInvalidPolicyDocument       sluice.Code = "InvalidPolicyDocument"
	errMalformedPOSTRequest        sluice.Code = "MalformedPOSTRequest"
	errMaxPostPreDataLengthExceeds sluice.Code = "MaxPostPreDataLengthExceeded"
)

// postForm is the part of a POST upload read before the file.
type postForm struct {
	// fields are the form fields by lower-cased name, values as sent.
	fields map[string]string
	// order is the field names in the order they came.
	order []string
	// file is the file part, positioned at its first byte.
	file *multipart.Part
	// filename is the file's name without any directory, for ${filename}.
	filename string
}

// postObject is POST Object: a browser-based upload of a
// multipart/form-data form to a bucket. The fields before the file are
// read (at most 20 KB), the policy's signature, expiration and conditions
// are checked, the caller is authorized as for PutObject, and only then is
// the file streamed into the store, bounded by the policy's
// content-length-range and the server's largest PUT. Fields after the file
// are ignored, as S3 ignores them.
func (s *Server) postObject(w http.ResponseWriter, r *http.Request, bucket, _ string) error {
	form, err := readPostForm(r)
	if err != nil {
		return err
	}
	f := form.fields
	if form.file == nil {
		return invalidArgument("file", "0", "POST requires exactly one file upload per request.")
	}
	key, ok := f["key"]
	if !ok {
		return postFieldMissing("key")
	}
	// ${filename} stands for the uploaded file's name in every field.
	for name, v := range f {
		if name != "policy" && name != "x-amz-signature" && strings.Contains(v, "${filename}") {
			f[name] = strings.ReplaceAll(v, "${filename}", form.filename)
		}
	}
	key = f["key"]
	if key == "" {
		return invalidArgument("key", "", "User key must have a length greater than 0.")
	}
	if len(key) > sluice.MaxKeyLength {
		return sluice.Errorf(sluice.ErrKeyTooLong, "Your key is too long").
			With("Size", strconv.Itoa(len(key))).With("MaxSizeAllowed", strconv.Itoa(sluice.MaxKeyLength))
	}

	id, policy, err := s.authenticatePost(r, f)
	if err != nil {
		return err
	}
	minSize, maxSize := int64(0), s.cfg.MaxPutSize
	if policy != nil {
		if time.Now().After(policy.expiration) {
			return sluice.Errorf(sluice.ErrAccessDenied, "Invalid according to Policy: Policy expired.")
		}
		if err := policy.check(f, form.order, bucket); err != nil {
			return err
		}
		if lo, hi, ok := policy.lengthRange(); ok {
			minSize, maxSize = lo, min(hi, maxSize)
		}
	}

	hdr, tags, status, redirect, err := postObjectHeaders(f)
	if err != nil {
		return err
	}
	meta, err := parseMeta(hdr)
	if err != nil {
		return err
	}
	meta.Tags = tags
	if err := checkWriteHeaders(hdr); err != nil {
		return err
	}
	algo, verify, err := checksumVerifier(&http.Request{Header: hdr})
	if err != nil {
		return err
	}

	// The form's credential, not the (unsigned) request, is the caller
	// from here on: bucket policies and the event record see it.
	ri := sluice.RequestInfoFrom(r.Context())
	ri.Principal = id.AccessKey
	r = r.WithContext(sluice.WithIdentity(sluice.WithRequestInfo(r.Context(), ri), id))
	if err := s.authorize(r, "s3:PutObject", bucket, key); err != nil {
		return err
	}
	if len(tags) > 0 {
		if err := s.authorize(r, "s3:PutObjectTagging", bucket, key); err != nil {
			return err
		}
	}

	body := &postFileReader{r: form.file, max: maxSize}
	br := &bodyReader{r: body}
	info, err := s.store.PutObject(r.Context(), &sluice.PutObjectInput{
		Bucket:            bucket,
		Key:               key,
		Body:              br,
		Size:              -1,
		Meta:              meta,
		ChecksumAlgorithm: algo,
		Verify: func(c sluice.Checksums) error {
			if body.n < minSize {
				return sluice.Errorf(sluice.ErrEntityTooSmall, "Your proposed upload is smaller than the minimum allowed size").
					With("ProposedSize", strconv.FormatInt(body.n, 10)).With("MinSizeAllowed", strconv.FormatInt(minSize, 10))
			}
			return verify(c)
		},
		EventName: sluice.EventObjectCreatedPost,
	})
	if err != nil {
		if body.tooLarge {
			return body.entityTooLarge()
		}
		if e := br.failure(); e != nil {
			return e
		}
		return storeErr(err, bucket, key)
	}

	h := w.Header()
	setWrittenHeaders(h, info)
	location := objectURL(r, bucket, key)
	if redirect != nil {
		q := redirect.Query()
		q.Set("bucket", bucket)
		q.Set("key", key)
		q.Set("etag", info.ETag)
		redirect.RawQuery = q.Encode()
		h.Set("Location", redirect.String())
		h.Set("Content-Length", "0")
		w.WriteHeader(http.StatusSeeOther)
		return nil
	}
	h.Set("Location", location)
	if status == http.StatusCreated {
		s.writeXML(w, r, status, postResponse{Location: location, Bucket: bucket, Key: key, ETag: info.ETag})
		return nil
	}
	h.Set("Content-Length", "0")
	w.WriteHeader(status)
	return nil
}

// postResponse is the document a 201 POST upload answers with. S3 sends it
// without a namespace.
type postResponse struct {
	XMLName  xml.Name `xml:"PostResponse"`
	Location string
	Bucket   string
	Key      string
	ETag     string
}

// readPostForm reads the form up to and including the header of its file
// part. S3 requires the file to be the last field and ignores anything
// after it; a form without one comes back with a nil file.
func readPostForm(r *http.Request) (*postForm, error) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || !strings.EqualFold(mt, "multipart/form-data") {
		return nil, sluice.Errorf(sluice.ErrPreconditionFailed, "At least one of the pre-conditions you specified did not hold").
			With("Condition", "Bucket POST must be of the enclosure-type multipart/form-data")
	}
	mr, err := r.MultipartReader()
	if err != nil {
		return nil, malformedPOST()
	}
	form := &postForm{fields: make(map[string]string)}
	budget := int64(maxPostFieldBytes)
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			return form, nil
		}
		if err != nil {
			return nil, malformedPOST()
		}
		name := partName(part)
		if name == "" {
			return nil, malformedPOST()
		}
		lname := strings.ToLower(name)
		if lname == "file" {
			form.file = part
			form.filename = uploadFilename(part)
			return form, nil
		}
		budget -= int64(len(name))
		if budget < 0 {
			return nil, postPreDataTooLarge()
		}
		v, err := io.ReadAll(io.LimitReader(part, budget+1))
		if err != nil {
			return nil, malformedPOST()
		}
		budget -= int64(len(v))
		if budget < 0 {
			return nil, postPreDataTooLarge()
		}
		if _, dup := form.fields[lname]; dup {
			return nil, invalidArgument(name, string(v), "Field %s must not be specified more than once.", name)
		}
		form.fields[lname] = string(v)
		form.order = append(form.order, lname)
	}
}

// partName is the form field name of a part: the name parameter of its
// Content-Disposition, which must be form-data.
func partName(p *multipart.Part) string {
	disp, params, err := mime.ParseMediaType(p.Header.Get("Content-Disposition"))
	if err != nil || !strings.EqualFold(disp, "form-data") {
		return ""
	}
	return params["name"]
}

// uploadFilename is the file part's filename without a directory: S3 keeps
// what follows the last slash or backslash, whatever the client's platform.
// (multipart.Part.FileName cuts at the server's separator only.)
func uploadFilename(p *multipart.Part) string {
	_, params, err := mime.ParseMediaType(p.Header.Get("Content-Disposition"))
	if err != nil {
		return ""
	}
	name := params["filename"]
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	return name
}

// authenticatePost names the caller of a POST upload and returns its
// policy. A form with a policy or any signature field must be signed, with
// Signature Version 4 (x-amz-credential, x-amz-signature, ...) or 2
// (AWSAccessKeyId, signature), and the signature must verify; a form
// without is the request's own caller (anonymous for a browser), and
// carries no policy to check.
func (s *Server) authenticatePost(r *http.Request, f map[string]string) (sluice.Identity, *postPolicy, error) {
	_, v2 := f["awsaccesskeyid"]
	if _, ok := f["signature"]; ok {
		v2 = true
	}
	signed := v2
	for _, name := range []string{"policy", "x-amz-signature", "x-amz-credential", "x-amz-algorithm", "x-amz-date"} {
		if _, ok := f[name]; ok {
			signed = true
		}
	}
	if !signed {
		return sluice.IdentityFrom(r.Context()), nil, nil
	}
	required := []string{"policy", "x-amz-algorithm", "x-amz-credential", "x-amz-date", "x-amz-signature"}
	if v2 {
		required = []string{"awsaccesskeyid", "policy", "signature"}
	}
	for _, name := range required {
		if _, ok := f[name]; !ok {
			return sluice.Identity{}, nil, postFieldMissing(name)
		}
	}
	if s.postVerifier == nil {
		return sluice.Identity{}, nil, sluice.Errorf(sluice.ErrNotImplemented, "Signed POST uploads are not enabled on this server.")
	}
	var id sluice.Identity
	var err error
	if v2 {
		id, err = s.postVerifier.VerifyPolicyV2(f["awsaccesskeyid"], f["policy"], f["signature"])
		if id.Region == "" {
			id.Region = sluice.IdentityFrom(r.Context()).Region
		}
	} else {
		if alg := f["x-amz-algorithm"]; alg != "AWS4-HMAC-SHA256" {
			return sluice.Identity{}, nil, invalidArgument("x-amz-algorithm", alg, `X-Amz-Algorithm only supports "AWS4-HMAC-SHA256"`)
		}
		id, err = s.postVerifier.VerifyPolicy(f["x-amz-credential"], f["x-amz-date"], f["policy"], f["x-amz-signature"])
	}
	if err != nil {
		return sluice.Identity{}, nil, err
	}
	doc, err := base64.StdEncoding.DecodeString(f["policy"])
	if err != nil {
		return sluice.Identity{}, nil, invalidPolicy("Invalid Policy: Invalid JSON.")
	}
	p, err := parsePostPolicy(doc)
	if err != nil {
		return sluice.Identity{}, nil, err
	}
	p.v2 = v2
	return id, p, nil
}

// postHeaderFields are the form fields that stand for PutObject's request
// headers, by lower-cased field name.
var postHeaderFields = map[string]string{
	"acl":                             "X-Amz-Acl",
	"cache-control":                   "Cache-Control",
	"content-type":                    "Content-Type",
	"content-disposition":             "Content-Disposition",
	"content-encoding":                "Content-Encoding",
	"content-language":                "Content-Language",
	"content-md5":                     "Content-Md5",
	"expires":                         "Expires",
	"x-amz-storage-class":             "X-Amz-Storage-Class",
	"x-amz-website-redirect-location": "X-Amz-Website-Redirect-Location",
	"x-amz-server-side-encryption":    "X-Amz-Server-Side-Encryption",
	"x-amz-server-side-encryption-customer-algorithm": "X-Amz-Server-Side-Encryption-Customer-Algorithm",
	"x-amz-object-lock-mode":                          "X-Amz-Object-Lock-Mode",
	"x-amz-object-lock-legal-hold":                    "X-Amz-Object-Lock-Legal-Hold",
	"x-amz-checksum-algorithm":                        "X-Amz-Checksum-Algorithm",
}

// postObjectHeaders turns the form fields into the headers a PutObject
// would have carried, so that the same parsing and refusals apply, and
// reads the fields only a POST has: tagging (an XML Tagging document),
// success_action_status and success_action_redirect (or redirect).
func postObjectHeaders(f map[string]string) (hdr http.Header, tags []sluice.Tag, status int, redirect *url.URL, err error) {
	hdr = make(http.Header)
	for name, v := range f {
		switch {
		case postHeaderFields[name] != "":
			hdr.Set(postHeaderFields[name], v)
		case strings.HasPrefix(name, "x-amz-meta-"), strings.HasPrefix(name, "x-amz-checksum-"):
			hdr.Set(name, v)
		}
	}
	if doc, ok := f["tagging"]; ok {
		var t taggingIn
		if err := unmarshalXML([]byte(doc), &t); err != nil {
			return nil, nil, 0, nil, err
		}
		if t.TagSet == nil {
			return nil, nil, 0, nil, malformedXML()
		}
		for _, tag := range t.TagSet.Tags {
			if tag.Key == nil || tag.Value == nil {
				return nil, nil, 0, nil, malformedXML()
			}
			tags = append(tags, sluice.Tag{Key: *tag.Key, Value: *tag.Value})
		}
		if err := validateTags(tags, sluice.MaxObjectTags); err != nil {
			return nil, nil, 0, nil, err
		}
	}
	// S3 answers 204 unless told 200 or 201; any other value is ignored.
	status = http.StatusNoContent
	switch f["success_action_status"] {
	case "200":
		status = http.StatusOK
	case "201":
		status = http.StatusCreated
	}
	target, ok := f["success_action_redirect"]
	if !ok {
		target = f["redirect"]
	}
	// A redirect S3 cannot use as an absolute URL is ignored.
	if u, err := url.Parse(target); target != "" && err == nil && u.IsAbs() && u.Host != "" {
		redirect = u
	}
	return hdr, tags, status, redirect, nil
}

// objectURL is the object's URL as the client addressed the bucket.
func objectURL(r *http.Request, bucket, key string) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	path := (&url.URL{Path: "/" + key}).EscapedPath()
	if b, _, _ := strings.Cut(strings.TrimPrefix(r.URL.EscapedPath(), "/"), "/"); b != "" {
		// Path-style: the bucket is the first segment.
		path = "/" + b + path
	}
	return scheme + "://" + r.Host + path
}

// postFileReader counts the file's bytes and refuses the first byte past
// max, so a file larger than the policy or the server allows is never
// committed.
type postFileReader struct {
	r        io.Reader
	n, max   int64
	tooLarge bool
}

func (p *postFileReader) Read(b []byte) (int, error) {
	if p.tooLarge {
		return 0, p.entityTooLarge()
	}
	n, err := p.r.Read(b)
	p.n += int64(n)
	if p.n > p.max {
		p.tooLarge = true
		return 0, p.entityTooLarge()
	}
	if err != nil && err != io.EOF {
		if _, ok := asError(err); !ok {
			// A form cut short (or a part that never ends) is the
			// form's fault, whatever the store would call a short body.
			return n, malformedPOST()
		}
	}
	return n, err
}

// entityTooLarge reads on past the limit (up to maxPostDrain) to report the
// file's size, as S3 does, and so that the client, still sending, sees the
// error.
func (p *postFileReader) entityTooLarge() *sluice.Error {
	if p.n <= p.max+maxPostDrain {
		n, _ := io.Copy(io.Discard, io.LimitReader(p.r, p.max+maxPostDrain-p.n+1))
		p.n += n
	}
	e := sluice.Errorf(sluice.ErrEntityTooLarge, "Your proposed upload exceeds the maximum allowed size")
	if p.n <= p.max+maxPostDrain {
		e = e.With("ProposedSize", strconv.FormatInt(p.n, 10))
	}
	return e.With("MaxSizeAllowed", strconv.FormatInt(p.max, 10))
}

func malformedPOST() *sluice.Error {
	return sluice.Errorf(errMalformedPOSTRequest, "The body of your POST request is not well-formed multipart/form-data.")
}

func postPreDataTooLarge() error {
	return sluice.Errorf(errMaxPostPreDataLengthExceeds, "Your POST request fields preceding the upload file were too large.").
		With("MaxPostPreDataLength", strconv.Itoa(maxPostFieldBytes))
}

func postFieldMissing(name string) error {
	return invalidArgument(name, "", "Bucket POST must contain a field named '%s'.  If it is specified, please check the order of the fields.", name)
}

func invalidPolicy(msg string) error {
	return sluice.Errorf(errInvalidPolicyDocument, "%s", msg)
}

// postPolicy is a parsed POST policy document.
type postPolicy struct {
	expiration time.Time
	conditions []postCondition
	// v2 is set for a Signature Version 2 form, whose signature fields
	// are AWSAccessKeyId and signature.
	v2 bool
}

// Condition operators, lower-case; S3 accepts them in any case.
const (
	opEq          = "eq"
	opStartsWith  = "starts-with"
	opLengthRange = "content-length-range"
)

// postCondition is one entry of a policy's conditions.
type postCondition struct {
	op string
	// field is the form field, lower-cased, without "$"; raw is as the
	// policy wrote it, for messages.
	field, raw string
	value      string
	min, max   int64
}

// String renders the condition as S3 quotes a failed one.
func (c postCondition) String() string {
	q := func(s string) string {
		b, _ := json.Marshal(s)
		return string(b)
	}
	return "[" + q(c.op) + ", " + q("$"+c.raw) + ", " + q(c.value) + "]"
}

// parsePostPolicy parses a decoded policy document: a JSON object whose
// "expiration" is an ISO 8601 time and whose "conditions" is a list of
// exact matches ({"field": "value"}), ["eq", "$field", "value"],
// ["starts-with", "$field", "prefix"] and ["content-length-range", min,
// max]. Errors are InvalidPolicyDocument, with S3's messages.
func parsePostPolicy(doc []byte) (*postPolicy, error) {
	var top map[string]json.RawMessage
	if err := strictJSON(doc, &top); err != nil || top == nil {
		return nil, invalidPolicy("Invalid Policy: Invalid JSON.")
	}
	rawExp, ok := top["expiration"]
	if !ok {
		return nil, invalidPolicy("Invalid Policy: Policy missing expiration.")
	}
	var exp string
	if err := json.Unmarshal(rawExp, &exp); err != nil {
		return nil, invalidPolicy("Invalid Policy: Invalid 'expiration' value: " + string(rawExp))
	}
	t, err := time.Parse(time.RFC3339Nano, exp)
	if err != nil {
		return nil, invalidPolicy("Invalid Policy: Invalid 'expiration' value: '" + exp + "'")
	}
	rawConds, ok := top["conditions"]
	if !ok {
		return nil, invalidPolicy("Invalid Policy: Policy missing conditions.")
	}
	var conds []json.RawMessage
	if err := json.Unmarshal(rawConds, &conds); err != nil || conds == nil {
		return nil, invalidPolicy("Invalid Policy: Invalid 'conditions' value: must be a list.")
	}
	p := &postPolicy{expiration: t}
	for _, raw := range conds {
		c, err := parsePostCondition(raw)
		if err != nil {
			return nil, err
		}
		p.conditions = append(p.conditions, c)
	}
	return p, nil
}

// strictJSON decodes one JSON value with numbers kept as written, refusing
// trailing data.
func strictJSON(doc []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(doc))
	d.UseNumber()
	if err := d.Decode(v); err != nil {
		return err
	}
	if _, err := d.Token(); err != io.EOF {
		return errors.New("trailing data")
	}
	return nil
}

func parsePostCondition(raw json.RawMessage) (postCondition, error) {
	var c postCondition
	trimmed := bytes.TrimSpace(raw)
	if len(trimmed) > 0 && trimmed[0] == '{' {
		var m map[string]json.RawMessage
		if err := json.Unmarshal(trimmed, &m); err != nil {
			return c, invalidPolicy("Invalid Policy: Invalid JSON.")
		}
		if len(m) != 1 {
			return c, invalidPolicy("Invalid Policy: Invalid Simple-Condition: Simple-Conditions must have exactly one property specified.")
		}
		for k, v := range m {
			var s string
			if err := json.Unmarshal(v, &s); err != nil {
				return c, invalidPolicy("Invalid Policy: Invalid Simple-Condition: value must be a string.")
			}
			return postCondition{op: opEq, field: strings.ToLower(k), raw: k, value: s}, nil
		}
	}
	var list []json.RawMessage
	if err := json.Unmarshal(trimmed, &list); err != nil {
		return c, invalidPolicy("Invalid Policy: Invalid Condition: a condition must be an object or a list.")
	}
	if len(list) == 0 {
		return c, invalidPolicy("Invalid Policy: Invalid Condition: empty list.")
	}
	var op string
	if err := json.Unmarshal(list[0], &op); err != nil {
		return c, invalidPolicy("Invalid Policy: Invalid Condition: the first element must be the operation name.")
	}
	c.op = strings.ToLower(op)
	switch c.op {
	case opEq, opStartsWith:
		if len(list) != 3 {
			return c, invalidPolicy(fmt.Sprintf("Invalid Policy: Invalid %q condition: it takes a field and a value.", op))
		}
		var field string
		if err := json.Unmarshal(list[1], &field); err != nil || !strings.HasPrefix(field, "$") || len(field) < 2 {
			return c, invalidPolicy(fmt.Sprintf("Invalid Policy: Invalid %q condition: the field must be named as \"$name\".", op))
		}
		if err := json.Unmarshal(list[2], &c.value); err != nil {
			return c, invalidPolicy(fmt.Sprintf("Invalid Policy: Invalid %q condition: the value must be a string.", op))
		}
		c.raw = field[1:]
		c.field = strings.ToLower(c.raw)
		return c, nil
	case opLengthRange:
		if len(list) != 3 {
			return c, invalidPolicy("Invalid Policy: Invalid content-length-range condition: it takes a minimum and a maximum.")
		}
		lo, ok1 := policyInt(list[1])
		hi, ok2 := policyInt(list[2])
		if !ok1 || !ok2 || lo < 0 || hi < 0 || lo > hi {
			return c, invalidPolicy("Invalid Policy: Invalid content-length-range condition: the minimum and maximum must be integers with 0 <= minimum <= maximum.")
		}
		c.min, c.max = lo, hi
		return c, nil
	}
	return c, invalidPolicy(fmt.Sprintf("Invalid Policy: Invalid Condition: unknown operation %q.", op))
}

// policyInt reads a content-length-range bound: an integer, or a string of
// decimal digits.
func policyInt(raw json.RawMessage) (int64, bool) {
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		var n json.Number
		d := json.NewDecoder(bytes.NewReader(raw))
		d.UseNumber()
		if err := d.Decode(&n); err != nil {
			return 0, false
		}
		s = n.String()
	}
	v, err := strconv.ParseInt(s, 10, 64)
	return v, err == nil
}

// check enforces the policy's field conditions on the form: every
// condition must hold (a condition on a field the form lacks fails), and
// every field the form sent, except policy, the signature fields
// (x-amz-signature; AWSAccessKeyId and signature for SigV2), file and
// x-ignore-*, must be named by a condition. The bucket condition is
// checked against the bucket the form was posted to.
func (p *postPolicy) check(fields map[string]string, order []string, bucket string) error {
	named := make(map[string]bool, len(p.conditions))
	for _, c := range p.conditions {
		if c.op == opLengthRange {
			continue
		}
		named[c.field] = true
		v, ok := fields[c.field]
		if c.field == "bucket" {
			v, ok = bucket, true
		}
		var holds bool
		switch c.op {
		case opEq:
			holds = ok && v == c.value
		case opStartsWith:
			holds = ok && strings.HasPrefix(v, c.value)
		}
		if !holds {
			return sluice.Errorf(sluice.ErrAccessDenied, "Invalid according to Policy: Policy Condition failed: %s", c)
		}
	}
	var extra []string
	for _, name := range order {
		switch {
		case named[name], name == "policy", strings.HasPrefix(name, "x-ignore-"),
			!p.v2 && name == "x-amz-signature",
			p.v2 && (name == "awsaccesskeyid" || name == "signature"):
			continue
		}
		extra = append(extra, name)
	}
	if len(extra) > 0 {
		return sluice.Errorf(sluice.ErrAccessDenied, "Invalid according to Policy: Extra input fields: %s", strings.Join(extra, ", "))
	}
	return nil
}

// lengthRange is the policy's content-length-range; with several, the
// narrowest range all of them allow.
func (p *postPolicy) lengthRange() (lo, hi int64, ok bool) {
	for _, c := range p.conditions {
		if c.op != opLengthRange {
			continue
		}
		if !ok {
			lo, hi, ok = c.min, c.max, true
			continue
		}
		lo, hi = max(lo, c.min), min(hi, c.max)
	}
	return lo, hi, ok
}
