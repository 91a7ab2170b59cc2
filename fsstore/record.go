package fsstore

import (
	"encoding/json"
	"time"

	"github.com/sluicehq/sluice"
)

// bucketRecord is the value under rootBuckets.
type bucketRecord struct {
	Region  string    `json:"r"`
	Created time.Time `json:"t"`
}

// objectRecord is the value of one key in a bucket's object index.
type objectRecord struct {
	Size     int64             `json:"s"`
	ETag     string            `json:"e"`
	Modified time.Time         `json:"m"`
	Meta     sluice.ObjectMeta `json:"meta"`
	Checksum sluice.Checksums  `json:"c"`
	// Files are the ids whose concatenation is the object's bytes: one for
	// a PUT, one per part for a completed multipart upload.
	Files []string          `json:"f"`
	Parts []sluice.PartInfo `json:"p,omitempty"`
}

// uploadRecord is a multipart upload in progress.
type uploadRecord struct {
	Key               string            `json:"k"`
	Initiated         time.Time         `json:"t"`
	Meta              sluice.ObjectMeta `json:"meta"`
	ChecksumAlgorithm string            `json:"a,omitempty"`
	ChecksumType      string            `json:"y,omitempty"`
}

// partRecord is one uploaded part.
type partRecord struct {
	Size     int64            `json:"s"`
	ETag     string           `json:"e"`
	Modified time.Time        `json:"m"`
	Checksum sluice.Checksums `json:"c"`
	File     string           `json:"f"`
}

func encodeObject(r *objectRecord) ([]byte, error) { return json.Marshal(r) }

func decodeObject(v []byte, r *objectRecord) error { return json.Unmarshal(v, r) }

// recordFiles returns the file ids an encoded object record refers to.
func recordFiles(v []byte) ([]string, error) {
	var r objectRecord
	if err := decodeObject(v, &r); err != nil {
		return nil, err
	}
	return r.Files, nil
}

func encodePart(r *partRecord) ([]byte, error) { return json.Marshal(r) }

func decodePart(v []byte, r *partRecord) error { return json.Unmarshal(v, r) }

func (r *objectRecord) info(bucket, key string) sluice.ObjectInfo {
	return sluice.ObjectInfo{
		Bucket:       bucket,
		Key:          key,
		Size:         r.Size,
		ETag:         r.ETag,
		LastModified: r.Modified,
		Meta:         r.Meta,
		Checksum:     r.Checksum,
		Parts:        r.Parts,
	}
}

func (r *partRecord) info(number int) sluice.PartInfo {
	return sluice.PartInfo{
		Number:       number,
		Size:         r.Size,
		ETag:         r.ETag,
		LastModified: r.Modified,
		Checksum:     r.Checksum,
	}
}
