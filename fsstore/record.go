package fsstore

import (
	"encoding/binary"
	"errors"
	"maps"
	"slices"
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
	Size     int64
	ETag     string
	Modified time.Time
	Meta     sluice.ObjectMeta
	Checksum sluice.Checksums
	// Files are the ids whose concatenation is the object's bytes: one for
	// a PUT, one per part for a completed multipart upload, none for an
	// inline object, whose bytes are under its key in subInline.
	Files []string
	Parts []sluice.PartInfo
	// Version orders the versions of a key in a bucket whose versioning
	// was ever enabled (see versions.go); 0 for a record written while it
	// never was. VersionID is then "" as well, and the record is the
	// key's null version.
	Version   uint64
	VersionID string
	// Marker makes the record a delete marker: no bytes, no metadata.
	Marker bool
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
	Size     int64
	ETag     string
	Modified time.Time
	Checksum sluice.Checksums
	File     string
}

// Object and part records are read on every listing and by the orphan
// collector, so they use a compact binary encoding rather than JSON: a
// version byte, then fields as uvarint lengths and varints. The file ids come
// first so that the collector can stop reading there. A record of a
// versioned bucket is a V2 record: the fields of V1, then a flags byte, the
// version counter and the version id; a record without version fields stays
// V1, so unversioned buckets keep their records as they were.
const (
	objectRecordV1 = 1
	objectRecordV2 = 2
	partRecordV1   = 1
)

// Flags of a V2 object record.
const recordFlagMarker = 1

var errCorrupt = errors.New("corrupt metadata record")

func encodeObject(r *objectRecord) ([]byte, error) {
	w := recordWriter{buf: make([]byte, 0, 256)}
	versioned := r.Version != 0 || r.VersionID != "" || r.Marker
	if versioned {
		w.byte(objectRecordV2)
	} else {
		w.byte(objectRecordV1)
	}
	w.uvarint(uint64(len(r.Files)))
	for _, f := range r.Files {
		w.string(f)
	}
	w.varint(r.Size)
	w.string(r.ETag)
	w.time(r.Modified)
	w.meta(&r.Meta)
	w.checksums(&r.Checksum)
	w.uvarint(uint64(len(r.Parts)))
	for i := range r.Parts {
		p := &r.Parts[i]
		w.uvarint(uint64(p.Number))
		w.varint(p.Size)
		w.string(p.ETag)
		w.time(p.LastModified)
		w.checksums(&p.Checksum)
	}
	if versioned {
		var flags byte
		if r.Marker {
			flags |= recordFlagMarker
		}
		w.byte(flags)
		w.uvarint(r.Version)
		w.string(r.VersionID)
	}
	return w.buf, nil
}

func decodeObject(v []byte, r *objectRecord) error { return decodeObjectFiles(v, r, true) }

// decodeObjectFiles decodes a record, skipping the file ids unless files is
// set: listings never need them.
func decodeObjectFiles(v []byte, r *objectRecord, files bool) error {
	d := recordReader{buf: v}
	ver := d.byte()
	if ver != objectRecordV1 && ver != objectRecordV2 {
		return errCorrupt
	}
	if files {
		r.Files = d.strings()
	} else {
		for range d.count() {
			d.raw()
		}
	}
	r.Size = d.varint()
	r.ETag = d.string()
	r.Modified = d.time()
	d.meta(&r.Meta)
	d.checksums(&r.Checksum)
	if n := d.count(); n > 0 {
		r.Parts = make([]sluice.PartInfo, n)
		for i := range r.Parts {
			p := &r.Parts[i]
			p.Number = int(d.uvarint())
			p.Size = d.varint()
			p.ETag = d.string()
			p.LastModified = d.time()
			d.checksums(&p.Checksum)
		}
	}
	if ver == objectRecordV2 {
		r.Marker = d.byte()&recordFlagMarker != 0
		r.Version = d.uvarint()
		r.VersionID = d.string()
	} else {
		r.Marker, r.Version, r.VersionID = false, 0, ""
	}
	return d.err
}

// recordFiles returns the file ids an encoded object record refers to,
// without decoding the rest.
func recordFiles(v []byte) ([]string, error) {
	d := recordReader{buf: v}
	if ver := d.byte(); ver != objectRecordV1 && ver != objectRecordV2 {
		return nil, errCorrupt
	}
	files := d.strings()
	return files, d.err
}

func encodePart(r *partRecord) ([]byte, error) {
	w := recordWriter{buf: make([]byte, 0, 128)}
	w.byte(partRecordV1)
	w.string(r.File)
	w.varint(r.Size)
	w.string(r.ETag)
	w.time(r.Modified)
	w.checksums(&r.Checksum)
	return w.buf, nil
}

func decodePart(v []byte, r *partRecord) error {
	d := recordReader{buf: v}
	if d.byte() != partRecordV1 {
		return errCorrupt
	}
	r.File = d.string()
	r.Size = d.varint()
	r.ETag = d.string()
	r.Modified = d.time()
	d.checksums(&r.Checksum)
	return d.err
}

type recordWriter struct{ buf []byte }

func (w *recordWriter) byte(b byte)      { w.buf = append(w.buf, b) }
func (w *recordWriter) uvarint(v uint64) { w.buf = binary.AppendUvarint(w.buf, v) }
func (w *recordWriter) varint(v int64)   { w.buf = binary.AppendVarint(w.buf, v) }
func (w *recordWriter) time(t time.Time) { w.varint(t.UnixNano()) }
func (w *recordWriter) bytes(b []byte)   { w.uvarint(uint64(len(b))); w.buf = append(w.buf, b...) }
func (w *recordWriter) string(s string)  { w.uvarint(uint64(len(s))); w.buf = append(w.buf, s...) }
func (w *recordWriter) pairs(kv [][2]string) {
	w.uvarint(uint64(len(kv)))
	for _, p := range kv {
		w.string(p[0])
		w.string(p[1])
	}
}

func (w *recordWriter) meta(m *sluice.ObjectMeta) {
	for _, s := range []string{m.ContentType, m.ContentEncoding, m.ContentDisposition, m.ContentLanguage,
		m.CacheControl, m.Expires, m.StorageClass, m.WebsiteRedirect} {
		w.string(s)
	}
	// User metadata is written in key order so that equal maps encode equally.
	keys := slices.Sorted(maps.Keys(m.User))
	user := make([][2]string, len(keys))
	for i, k := range keys {
		user[i] = [2]string{k, m.User[k]}
	}
	w.pairs(user)
	tags := make([][2]string, len(m.Tags))
	for i, t := range m.Tags {
		tags[i] = [2]string{t.Key, t.Value}
	}
	w.pairs(tags)
}

func (w *recordWriter) checksums(c *sluice.Checksums) {
	w.bytes(c.MD5)
	w.string(c.Algorithm)
	w.string(c.Value)
	w.string(c.Type)
}

// recordReader decodes what recordWriter wrote; the first problem sticks in
// err and every later read returns zero values.
type recordReader struct {
	buf []byte
	err error
}

func (d *recordReader) fail() { d.err, d.buf = errCorrupt, nil }

func (d *recordReader) byte() byte {
	if len(d.buf) == 0 {
		d.fail()
		return 0
	}
	b := d.buf[0]
	d.buf = d.buf[1:]
	return b
}

func (d *recordReader) uvarint() uint64 {
	v, n := binary.Uvarint(d.buf)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.buf = d.buf[n:]
	return v
}

func (d *recordReader) varint() int64 {
	v, n := binary.Varint(d.buf)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.buf = d.buf[n:]
	return v
}

// count reads a length that must fit in what is left of the record.
func (d *recordReader) count() int {
	n := d.uvarint()
	if n > uint64(len(d.buf)) {
		d.fail()
		return 0
	}
	return int(n)
}

func (d *recordReader) raw() []byte {
	n := d.count()
	b := d.buf[:n]
	d.buf = d.buf[n:]
	return b
}

func (d *recordReader) string() string { return string(d.raw()) }

func (d *recordReader) bytes() []byte {
	b := d.raw()
	if len(b) == 0 {
		return nil
	}
	return slices.Clone(b)
}

func (d *recordReader) time() time.Time {
	ns := d.varint()
	if d.err != nil {
		return time.Time{}
	}
	return time.Unix(0, ns).UTC()
}

func (d *recordReader) strings() []string {
	n := d.count()
	if n == 0 {
		return nil
	}
	out := make([]string, n)
	for i := range out {
		out[i] = d.string()
	}
	return out
}

func (d *recordReader) meta(m *sluice.ObjectMeta) {
	for _, s := range []*string{&m.ContentType, &m.ContentEncoding, &m.ContentDisposition, &m.ContentLanguage,
		&m.CacheControl, &m.Expires, &m.StorageClass, &m.WebsiteRedirect} {
		*s = d.string()
	}
	if n := d.count(); n > 0 {
		m.User = make(map[string]string, n)
		for range n {
			k := d.string()
			m.User[k] = d.string()
		}
	}
	if n := d.count(); n > 0 {
		m.Tags = make([]sluice.Tag, n)
		for i := range m.Tags {
			m.Tags[i].Key = d.string()
			m.Tags[i].Value = d.string()
		}
	}
}

func (d *recordReader) checksums(c *sluice.Checksums) {
	c.MD5 = d.bytes()
	c.Algorithm = d.string()
	c.Value = d.string()
	c.Type = d.string()
}

// normalizeMeta makes empty collections nil, as they read back, so that
// what a write returns equals what a later read returns.
func normalizeMeta(m sluice.ObjectMeta) sluice.ObjectMeta {
	if len(m.User) == 0 {
		m.User = nil
	} else {
		m.User = maps.Clone(m.User)
	}
	if len(m.Tags) == 0 {
		m.Tags = nil
	} else {
		m.Tags = slices.Clone(m.Tags)
	}
	return m
}

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
		VersionID:    r.VersionID,
		DeleteMarker: r.Marker,
	}
}

// inline reports whether the object's bytes are kept in the metadata
// database: every object written before inlining existed has a file, even
// an empty one.
func (r *objectRecord) inline() bool { return len(r.Files) == 0 }

func (r *partRecord) info(number int) sluice.PartInfo {
	return sluice.PartInfo{
		Number:       number,
		Size:         r.Size,
		ETag:         r.ETag,
		LastModified: r.Modified,
		Checksum:     r.Checksum,
	}
}
