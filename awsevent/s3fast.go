package awsevent

import (
	"strconv"

	"github.com/aws/aws-lambda-go/events"
)

// appendS3Message appends the message of records as MarshalJSON renders it,
// without reflection: every event delivery encodes one, so this is on the
// path of every write that triggers something. It handles the records
// nearly all events make, whose strings are printable ASCII without quotes
// or backslashes (keys are URL-encoded, so user keys qualify) and which
// carry none of the optional service data; for anything else it reports
// false and MarshalJSON takes the encoding/json path. FuzzS3FastPath
// checks the two agree byte for byte.
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
		var ok bool
		if b, ok = appendS3Record(b, r); !ok {
			return nil, false
		}
	}
	return append(b, "]}"...), true
}

func appendS3Record(b []byte, r *events.S3EventRecord) ([]byte, bool) {
	o := &r.S3.Object
	fields := []string{
		r.EventVersion, r.EventSource, r.AWSRegion, r.EventName, r.PrincipalID.PrincipalID,
		r.RequestParameters.SourceIPAddress, r.ResponseElements["x-amz-request-id"], r.ResponseElements["x-amz-id-2"],
		r.S3.SchemaVersion, r.S3.ConfigurationID, r.S3.Bucket.Name, r.S3.Bucket.OwnerIdentity.PrincipalID, r.S3.Bucket.Arn,
		o.Key, o.ETag, o.VersionID, o.Sequencer,
	}
	for _, f := range fields {
		if !plainJSON(f) {
			return nil, false
		}
	}
	b = append(b, `{"eventVersion":"`...)
	b = append(b, r.EventVersion...)
	b = append(b, `","eventSource":"`...)
	b = append(b, r.EventSource...)
	b = append(b, `","awsRegion":"`...)
	b = append(b, r.AWSRegion...)
	b = append(b, `","eventTime":"`...)
	b = r.EventTime.UTC().AppendFormat(b, S3TimeLayout)
	b = append(b, `","eventName":"`...)
	b = append(b, r.EventName...)
	b = append(b, `","userIdentity":{"principalId":"`...)
	b = append(b, r.PrincipalID.PrincipalID...)
	b = append(b, `"},"requestParameters":{"sourceIPAddress":"`...)
	b = append(b, r.RequestParameters.SourceIPAddress...)
	b = append(b, `"},"responseElements":{"x-amz-request-id":"`...)
	b = append(b, r.ResponseElements["x-amz-request-id"]...)
	b = append(b, `","x-amz-id-2":"`...)
	b = append(b, r.ResponseElements["x-amz-id-2"]...)
	b = append(b, `"},"s3":{"s3SchemaVersion":"`...)
	b = append(b, r.S3.SchemaVersion...)
	b = append(b, `","configurationId":"`...)
	b = append(b, r.S3.ConfigurationID...)
	b = append(b, `","bucket":{"name":"`...)
	b = append(b, r.S3.Bucket.Name...)
	b = append(b, `","ownerIdentity":{"principalId":"`...)
	b = append(b, r.S3.Bucket.OwnerIdentity.PrincipalID...)
	b = append(b, `"},"arn":"`...)
	b = append(b, r.S3.Bucket.Arn...)
	b = append(b, `"},"object":{"key":"`...)
	b = append(b, o.Key...)
	b = append(b, '"')
	// The omissions follow MarshalJSON's: size for creations only, eTag
	// not for removals, the rest when set.
	if isCreation(r.EventName) {
		b = append(b, `,"size":`...)
		b = strconv.AppendInt(b, o.Size, 10)
	}
	if !isRemoval(r.EventName) && o.ETag != "" {
		b = append(b, `,"eTag":"`...)
		b = append(b, o.ETag...)
		b = append(b, '"')
	}
	if o.VersionID != "" {
		b = append(b, `,"versionId":"`...)
		b = append(b, o.VersionID...)
		b = append(b, '"')
	}
	if o.Sequencer != "" {
		b = append(b, `,"sequencer":"`...)
		b = append(b, o.Sequencer...)
		b = append(b, '"')
	}
	return append(b, "}}}"...), true
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
