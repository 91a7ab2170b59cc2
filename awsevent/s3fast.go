package awsevent

import (
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/sluicehq/sluice"
)

// appendS3Message appends the message of records as MarshalJSON renders it,
// without reflection. It handles the records nearly all events make, whose
// strings are printable ASCII without quotes or backslashes (keys are
// URL-encoded, so user keys qualify) and which carry none of the optional
// service data; for anything else it reports false and MarshalJSON takes
// the encoding/json path. FuzzS3FastPath checks the two agree byte for
// byte.
func appendS3Message(b []byte, records []events.S3EventRecord) ([]byte, bool) {
	b = append(b, `{"Records":[`...)
	for i := range records {
		r := &records[i]
		if r.GlacierEventData != nil || r.RestoreEventData != nil || r.ReplicationEventData != nil ||
			r.IntelligentTieringEventData != nil || r.LifecycleEventData != nil {
			return nil, false
		}
		if i > 0 {
			b = append(b, ',')
		}
		o := &r.S3.Object
		p := s3Parts{
			version: r.EventVersion, source: r.EventSource, region: r.AWSRegion, time: r.EventTime, name: r.EventName,
			principal: r.PrincipalID.PrincipalID, sourceIP: r.RequestParameters.SourceIPAddress,
			requestID: r.ResponseElements["x-amz-request-id"], hostID: r.ResponseElements["x-amz-id-2"],
			schema: r.S3.SchemaVersion, configID: r.S3.ConfigurationID,
			bucket: r.S3.Bucket.Name, owner: r.S3.Bucket.OwnerIdentity.PrincipalID, arn: r.S3.Bucket.Arn,
			key: o.Key, size: o.Size, etag: o.ETag, versionID: o.VersionID, sequencer: o.Sequencer,
		}
		if !p.plain() || !plainJSON(p.key) {
			return nil, false
		}
		b = p.append(b)
	}
	return append(b, "]}"...), true
}

// AppendS3Message appends the message S3 delivers for e under rule, one
// record, exactly as NewS3Event(e, rule).MarshalJSON() renders it, but
// straight from e: every event delivery encodes one, so this is on the
// path of every write that triggers something.
func AppendS3Message(b []byte, e sluice.Event, rule S3Rule) []byte {
	p := s3PartsOf(e, rule)
	if !p.plain() {
		// Encoding strings and numbers cannot fail.
		msg, _ := NewS3Event(e, rule).MarshalJSON()
		return append(b, msg...)
	}
	b = append(b, `{"Records":[`...)
	b = p.append(b)
	return append(b, "]}"...)
}

// s3PartsOf returns the values of the record S3 delivers for e under
// rule; S3Record builds its record from them too.
func s3PartsOf(e sluice.Event, rule S3Rule) s3Parts {
	p := s3Parts{
		version: S3EventVersion, source: S3EventSource, region: e.Region, time: e.Time,
		name:      strings.TrimPrefix(e.Name, "s3:"),
		principal: e.Request.Principal, sourceIP: e.Request.SourceIP,
		requestID: e.Request.ID, hostID: e.Request.HostID,
		schema: S3SchemaVersion, configID: rule.ConfigurationID,
		bucket: e.Bucket, owner: rule.OwnerID, arnPrefix: "arn:aws:s3:::", arn: e.Bucket,
		key: e.Key, encodeKey: true, versionID: e.VersionID, sequencer: e.Sequencer,
	}
	if p.owner == "" {
		p.owner = AccountPrincipalID
	}
	if p.region == "" {
		p.region = sluice.DefaultRegion
	}
	if isTagging(e.Name) {
		p.version = s3TaggingEventVersion
		p.sequencer = ""
	}
	if p.principal == "" {
		p.principal = AnonymousPrincipalID
	} else {
		p.principalPrefix = "AWS:"
	}
	if !isRemoval(e.Name) {
		p.etag = strings.Trim(e.ETag, `"`)
	}
	if isCreation(e.Name) {
		p.size = e.Size
	}
	return p
}

// s3Parts are the values of one record as appendS3Message and
// AppendS3Message write it. Two values come in two parts, so the direct
// path builds no string for them: principalPrefix+principal and
// arnPrefix+arn. The key is written as it is, or URL-encoded with
// encodeKey.
type s3Parts struct {
	version, source, region    string
	time                       time.Time
	name                       string
	principalPrefix            string
	principal, sourceIP        string
	requestID, hostID          string
	schema, configID           string
	bucket, owner              string
	arnPrefix, arn             string
	key                        string
	encodeKey                  bool
	size                       int64
	etag, versionID, sequencer string
}

// plain reports whether every string but the key is one encoding/json
// writes as itself.
func (p *s3Parts) plain() bool {
	for _, f := range [...]string{
		p.version, p.source, p.region, p.name, p.principalPrefix, p.principal, p.sourceIP, p.requestID, p.hostID,
		p.schema, p.configID, p.bucket, p.owner, p.arnPrefix, p.arn, p.etag, p.versionID, p.sequencer,
	} {
		if !plainJSON(f) {
			return false
		}
	}
	return true
}

func (p *s3Parts) append(b []byte) []byte {
	b = append(b, `{"eventVersion":"`...)
	b = append(b, p.version...)
	b = append(b, `","eventSource":"`...)
	b = append(b, p.source...)
	b = append(b, `","awsRegion":"`...)
	b = append(b, p.region...)
	b = append(b, `","eventTime":"`...)
	b = appendS3Time(b, p.time)
	b = append(b, `","eventName":"`...)
	b = append(b, p.name...)
	b = append(b, `","userIdentity":{"principalId":"`...)
	b = append(b, p.principalPrefix...)
	b = append(b, p.principal...)
	b = append(b, `"},"requestParameters":{"sourceIPAddress":"`...)
	b = append(b, p.sourceIP...)
	b = append(b, `"},"responseElements":{"x-amz-request-id":"`...)
	b = append(b, p.requestID...)
	b = append(b, `","x-amz-id-2":"`...)
	b = append(b, p.hostID...)
	b = append(b, `"},"s3":{"s3SchemaVersion":"`...)
	b = append(b, p.schema...)
	b = append(b, `","configurationId":"`...)
	b = append(b, p.configID...)
	b = append(b, `","bucket":{"name":"`...)
	b = append(b, p.bucket...)
	b = append(b, `","ownerIdentity":{"principalId":"`...)
	b = append(b, p.owner...)
	b = append(b, `"},"arn":"`...)
	b = append(b, p.arnPrefix...)
	b = append(b, p.arn...)
	b = append(b, `"},"object":{"key":"`...)
	if p.encodeKey {
		b = appendS3Key(b, p.key)
	} else {
		b = append(b, p.key...)
	}
	b = append(b, '"')
	// The omissions follow MarshalJSON's: size for creations only, eTag
	// not for removals, the rest when set.
	if isCreation(p.name) {
		b = append(b, `,"size":`...)
		b = strconv.AppendInt(b, p.size, 10)
	}
	if !isRemoval(p.name) && p.etag != "" {
		b = append(b, `,"eTag":"`...)
		b = append(b, p.etag...)
		b = append(b, '"')
	}
	if p.versionID != "" {
		b = append(b, `,"versionId":"`...)
		b = append(b, p.versionID...)
		b = append(b, '"')
	}
	if p.sequencer != "" {
		b = append(b, `,"sequencer":"`...)
		b = append(b, p.sequencer...)
		b = append(b, '"')
	}
	return append(b, "}}}"...)
}

// appendS3Time appends t in S3TimeLayout, in UTC, its fraction truncated
// to milliseconds; by hand for years 0-9999, which is several times
// faster than AppendFormat.
func appendS3Time(b []byte, t time.Time) []byte {
	t = t.UTC()
	year, month, day := t.Date()
	if year < 0 || year > 9999 {
		return t.AppendFormat(b, S3TimeLayout)
	}
	hour, minute, second := t.Clock()
	b = appendDigits(b, year, 4)
	b = append(b, '-')
	b = appendDigits(b, int(month), 2)
	b = append(b, '-')
	b = appendDigits(b, day, 2)
	b = append(b, 'T')
	b = appendDigits(b, hour, 2)
	b = append(b, ':')
	b = appendDigits(b, minute, 2)
	b = append(b, ':')
	b = appendDigits(b, second, 2)
	b = append(b, '.')
	b = appendDigits(b, t.Nanosecond()/int(time.Millisecond), 3)
	return append(b, 'Z')
}

// appendDigits appends v, 0 <= v < 10^width <= 10^4, as width decimal
// digits.
func appendDigits(b []byte, v, width int) []byte {
	var d [4]byte
	for i := width - 1; i >= 0; i-- {
		d[i] = byte('0' + v%10)
		v /= 10
	}
	return append(b, d[:width]...)
}

// plainJSON reports whether s is encoded by encoding/json as itself:
// printable ASCII without '"' or '\'.
func plainJSON(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}
