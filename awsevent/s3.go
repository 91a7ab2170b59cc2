package awsevent

import (
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/sluicehq/sluice"
)

// S3 event record constants.
const (
	S3EventVersion        = "2.1"
	s3TaggingEventVersion = "2.3" // AWS uses 2.3 for object tagging events
	S3EventSource         = "aws:s3"
	S3SchemaVersion       = "1.0"
	// S3TimeLayout is eventTime's format: UTC, always three fractional digits.
	S3TimeLayout = "2006-01-02T15:04:05.000Z"

	// AccountPrincipalID is the principal id S3 event records give the
	// account that owns every Sluice bucket (AWS shows the owner's customer
	// id here, an upper-case token such as "A3I5XTEXAMAI3E").
	AccountPrincipalID = "A1SLUICE000000"
	// AnonymousPrincipalID is userIdentity.principalId for unsigned requests.
	AnonymousPrincipalID = "ANONYMOUS_PRINCIPAL"
)

// S3Rule is the part of a matched notification rule that shows in a record.
type S3Rule struct {
	// ConfigurationID is the rule's Id (s3.configurationId).
	ConfigurationID string
	// OwnerID is the bucket owner's principal id; AccountPrincipalID when empty.
	OwnerID string
}

// S3Event is the S3 notification message, {"Records":[...]}.
//
// It is events.S3Event with AWS's JSON encoding, because the aws-lambda-go
// tags differ from what S3 sends in four ways: they emit urlDecodedKey (S3
// never does), drop a zero size (S3 sends "size":0 for an empty object),
// always emit versionId (S3 leaves it out for unversioned objects) and
// render eventTime without fixed milliseconds. Decoding uses the embedded
// type's tags, so a handler's view of the record is unchanged.
type S3Event events.S3Event

// NewS3Event returns the message S3 delivers for e under rule: one record.
func NewS3Event(e sluice.Event, rule S3Rule) S3Event {
	return S3Event{Records: []events.S3EventRecord{S3Record(e, rule)}}
}

// S3Record builds the record S3 delivers for e under rule.
func S3Record(e sluice.Event, rule S3Rule) events.S3EventRecord {
	p := s3PartsOf(e, rule)
	return events.S3EventRecord{
		EventVersion:      p.version,
		EventSource:       p.source,
		AWSRegion:         p.region,
		EventTime:         e.Time.UTC().Truncate(time.Millisecond),
		EventName:         p.name,
		PrincipalID:       events.S3UserIdentity{PrincipalID: p.principalPrefix + p.principal},
		RequestParameters: events.S3RequestParameters{SourceIPAddress: p.sourceIP},
		ResponseElements: map[string]string{
			"x-amz-request-id": p.requestID,
			"x-amz-id-2":       p.hostID,
		},
		S3: events.S3Entity{
			SchemaVersion:   p.schema,
			ConfigurationID: p.configID,
			Bucket: events.S3Bucket{
				Name:          p.bucket,
				OwnerIdentity: events.S3UserIdentity{PrincipalID: p.owner},
				Arn:           p.arnPrefix + p.arn,
			},
			Object: events.S3Object{
				Key:           EncodeS3Key(e.Key),
				URLDecodedKey: e.Key,
				Size:          p.size,
				ETag:          p.etag,
				VersionID:     p.versionID,
				Sequencer:     p.sequencer,
			},
		},
	}
}

// PrincipalID is userIdentity.principalId for a caller known by accessKey.
// AWS writes "AWS:" and the IAM principal's unique id for IAM callers;
// Sluice knows a caller only by its access key, so that stands in for the
// id. An anonymous caller ("") is AnonymousPrincipalID.
func PrincipalID(accessKey string) string {
	if accessKey == "" {
		return AnonymousPrincipalID
	}
	return "AWS:" + accessKey
}

func isCreation(name string) bool { return strings.HasPrefix(name, "ObjectCreated:") }
func isRemoval(name string) bool  { return strings.HasPrefix(name, "ObjectRemoved:") }
func isTagging(name string) bool  { return strings.HasPrefix(name, "ObjectTagging:") }

// EncodeS3Key encodes an object key as S3 event records carry it: the
// application/x-www-form-urlencoded form of its UTF-8 bytes (space becomes
// '+', reserved bytes become upper-case %XX) except that '/' stays as is.
// The unreserved set is the form encoder's: letters, digits and "-_.*".
func EncodeS3Key(key string) string {
	return string(appendS3Key(make([]byte, 0, len(key)+len(key)/4), key))
}

func appendS3Key(b []byte, key string) []byte {
	const hexDigits = "0123456789ABCDEF"
	for i := 0; i < len(key); i++ {
		c := key[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9',
			c == '-', c == '_', c == '.', c == '*', c == '/':
			b = append(b, c)
		case c == ' ':
			b = append(b, '+')
		default:
			b = append(b, '%', hexDigits[c>>4], hexDigits[c&0xF])
		}
	}
	return b
}

// DecodeS3Key reverses EncodeS3Key (it is what handlers do with
// urllib.parse.unquote_plus or url.QueryUnescape).
func DecodeS3Key(encoded string) (string, error) {
	return url.QueryUnescape(encoded)
}

// The wire types fix key order and omission to match S3's messages.
type s3Message struct {
	Records []s3WireRecord `json:"Records"`
}

type s3WireRecord struct {
	EventVersion      string                     `json:"eventVersion"`
	EventSource       string                     `json:"eventSource"`
	AWSRegion         string                     `json:"awsRegion"`
	EventTime         string                     `json:"eventTime"`
	EventName         string                     `json:"eventName"`
	UserIdentity      events.S3UserIdentity      `json:"userIdentity"`
	RequestParameters events.S3RequestParameters `json:"requestParameters"`
	ResponseElements  s3ResponseElements         `json:"responseElements"`
	S3                s3WireEntity               `json:"s3"`

	GlacierEventData            *events.S3GlacierEventData            `json:"glacierEventData,omitempty"`
	RestoreEventData            *events.S3RestoreEventData            `json:"restoreEventData,omitempty"`
	ReplicationEventData        *events.S3ReplicationEventData        `json:"replicationEventData,omitempty"`
	IntelligentTieringEventData *events.S3IntelligentTieringEventData `json:"intelligentTieringEventData,omitempty"`
	LifecycleEventData          *events.S3LifecycleEventData          `json:"lifecycleEventData,omitempty"`
}

type s3ResponseElements struct {
	RequestID string `json:"x-amz-request-id"`
	HostID    string `json:"x-amz-id-2"`
}

type s3WireEntity struct {
	SchemaVersion   string          `json:"s3SchemaVersion"`
	ConfigurationID string          `json:"configurationId"`
	Bucket          events.S3Bucket `json:"bucket"`
	Object          s3WireObject    `json:"object"`
}

type s3WireObject struct {
	Key       string `json:"key"`
	Size      *int64 `json:"size,omitempty"`
	ETag      string `json:"eTag,omitempty"`
	VersionID string `json:"versionId,omitempty"`
	Sequencer string `json:"sequencer,omitempty"`
}

// MarshalJSON renders the message as S3 does.
func (e S3Event) MarshalJSON() ([]byte, error) {
	if b, ok := appendS3Message(make([]byte, 0, 768*len(e.Records)), e.Records); ok {
		return b, nil
	}
	return e.marshalReflect()
}

// marshalReflect is MarshalJSON through encoding/json and the wire types:
// what appendS3Message must match byte for byte.
func (e S3Event) marshalReflect() ([]byte, error) {
	m := s3Message{Records: make([]s3WireRecord, len(e.Records))}
	for i, r := range e.Records {
		obj := s3WireObject{
			Key:       r.S3.Object.Key,
			VersionID: r.S3.Object.VersionID,
			Sequencer: r.S3.Object.Sequencer,
		}
		if !isRemoval(r.EventName) {
			obj.ETag = r.S3.Object.ETag
		}
		if isCreation(r.EventName) {
			size := r.S3.Object.Size
			obj.Size = &size
		}
		m.Records[i] = s3WireRecord{
			EventVersion:      r.EventVersion,
			EventSource:       r.EventSource,
			AWSRegion:         r.AWSRegion,
			EventTime:         r.EventTime.UTC().Format(S3TimeLayout),
			EventName:         r.EventName,
			UserIdentity:      r.PrincipalID,
			RequestParameters: r.RequestParameters,
			ResponseElements: s3ResponseElements{
				RequestID: r.ResponseElements["x-amz-request-id"],
				HostID:    r.ResponseElements["x-amz-id-2"],
			},
			S3: s3WireEntity{
				SchemaVersion:   r.S3.SchemaVersion,
				ConfigurationID: r.S3.ConfigurationID,
				Bucket:          r.S3.Bucket,
				Object:          obj,
			},
			GlacierEventData:            r.GlacierEventData,
			RestoreEventData:            r.RestoreEventData,
			ReplicationEventData:        r.ReplicationEventData,
			IntelligentTieringEventData: r.IntelligentTieringEventData,
			LifecycleEventData:          r.LifecycleEventData,
		}
	}
	return Marshal(m)
}
