package fsstore

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/sluicehq/sluice"
	bolt "go.etcd.io/bbolt"
)

// Object versioning.
//
// A bucket's versioning state is the value of keyVersioning in its data
// bucket: absent while versioning was never enabled (and then nothing below
// exists and every path is the unversioned one), else "Enabled" or
// "Suspended". Every write reads it in its own commit transaction, so a
// state change and a write are ordered by their commits.
//
// The current version of a key (the newest, unless that is a delete
// marker) stays where an unversioned object lives: its record in
// subObjects, its inline body in subInline. GET, HEAD and ListObjects
// therefore read exactly what they read in an unversioned bucket.
// Every other version, and every delete marker, lives in subVersions under
//
//	escape(key) 0x00  big-endian(MaxUint64 - counter)
//
// where escape maps 0x00 to 0x01 0x01 and 0x01 to 0x01 0x02, so that the
// terminator sorts before any continuation of the key: entries sort by key
// and then newest first, whatever bytes keys hold. A noncurrent version's
// inline body is in subVersionData under the same key, and the counter of
// the key's null version, while it is not current, in subNullVersion under
// the plain key (so that a Suspended write finds the null version it
// replaces in one lookup). Invariant: a key's record in subObjects, when
// there is one, is newer than all of its entries in subVersions; when
// there is none, the newest entry, if any, is a delete marker.
//
// Counters come from one store-wide sequence (metaVersionSeq in rootMeta),
// advanced in the commit transaction. A version id is 24 bytes in URL-safe
// base64 (32 characters, as S3's): 16 random bytes, then the counter XORed
// with the first 8 of them. The store computes an entry's key from an id
// in O(1), and the random bytes, checked against the record, keep ids of
// another store (or a bucket deleted and created again) from naming a
// version here. Records written while the bucket was never versioned carry
// no counter: such a record is the key's null version, and gets a counter
// when it first becomes noncurrent.

var (
	subVersions    = []byte("v") // escaped key + 0 + inverted counter → objectRecord
	subVersionData = []byte("w") // same key → inline body of a noncurrent version
	subNullVersion = []byte("n") // key → big-endian counter of the noncurrent null version

	keyVersioning  = []byte("versioning") // in a bucket's data bucket: its state
	metaVersionSeq = []byte("vseq")       // in rootMeta: the last counter issued
	metaVersioned  = []byte("versioned")  // in rootMeta: some bucket's versioning was set
)

const versionIDLen = 32

func errInvalidVersionID(id string) *sluice.Error {
	return sluice.Errorf(sluice.ErrInvalidArgument, "Invalid version id specified").With("ArgumentName", "versionId").With("ArgumentValue", id)
}

func errNoSuchVersion(key, id string) error {
	e := sluice.Errorf(sluice.ErrNoSuchVersion, "The specified version does not exist.").With("Key", key).With("VersionId", id)
	e.Resource = key
	return e
}

func errMarkerMethod(method string) error {
	return sluice.Errorf(sluice.ErrMethodNotAllowed, "The specified method is not allowed against this resource.").With("Method", method).With("ResourceType", "DeleteMarker")
}

// newVersionID returns a fresh id encoding counter.
func newVersionID(counter uint64) string {
	var b [24]byte
	idRandom(b[:16])
	binary.BigEndian.PutUint64(b[16:], counter^binary.BigEndian.Uint64(b[:8]))
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// idRandom fills b with random bytes for an id in URL-safe base64 that
// does not start with '-': command lines take that for an option, so
// `aws s3api get-object --version-id -xyz` (or upload-part --upload-id)
// would fail. S3's ids never start with one.
func idRandom(b []byte) {
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	if b[0]>>2 == 62 { // '-' in the URL-safe alphabet
		b[0] ^= 0x80
	}
}

// parseVersionID returns the counter an id (not "null") encodes; ok is
// false for a string newVersionID cannot have returned.
func parseVersionID(id string) (counter uint64, ok bool) {
	if len(id) != versionIDLen {
		return 0, false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return 0, false
		}
	}
	var b [24]byte
	if n, err := base64.RawURLEncoding.Decode(b[:], []byte(id)); err != nil || n != len(b) {
		return 0, false
	}
	return binary.BigEndian.Uint64(b[16:]) ^ binary.BigEndian.Uint64(b[:8]), true
}

// checkVersionID validates a version id argument: "", "null" or an id.
func checkVersionID(id string) error {
	if id == "" || id == sluice.NullVersionID {
		return nil
	}
	if _, ok := parseVersionID(id); !ok {
		return errInvalidVersionID(id)
	}
	return nil
}

// eventVersionID is the version id an event carries: none for a null
// version.
func eventVersionID(id string) string {
	if id == sluice.NullVersionID {
		return ""
	}
	return id
}

// appendEscaped appends key so that escaped keys sort as keys do and an
// escaped key followed by 0x00 sorts before every longer key's.
func appendEscaped(dst []byte, key string) []byte {
	for i := 0; i < len(key); i++ {
		switch c := key[i]; c {
		case 0, 1:
			dst = append(dst, 1, c+1)
		default:
			dst = append(dst, c)
		}
	}
	return dst
}

// versionPrefix is the common start of every entry of key in subVersions.
func versionPrefix(key string) []byte {
	return append(appendEscaped(make([]byte, 0, len(key)+9), key), 0)
}

func versionKey(key string, counter uint64) []byte {
	return binary.BigEndian.AppendUint64(versionPrefix(key), math.MaxUint64-counter)
}

// parseVersionKey returns the key and counter of an entry of subVersions.
func parseVersionKey(k []byte) (string, uint64, bool) {
	if len(k) < 9 || k[len(k)-9] != 0 {
		return "", 0, false
	}
	counter := math.MaxUint64 - binary.BigEndian.Uint64(k[len(k)-8:])
	esc := k[:len(k)-9]
	if bytes.IndexByte(esc, 1) < 0 {
		if bytes.IndexByte(esc, 0) >= 0 {
			return "", 0, false
		}
		return string(esc), counter, true
	}
	key := make([]byte, 0, len(esc))
	for i := 0; i < len(esc); i++ {
		switch c := esc[i]; c {
		case 0:
			return "", 0, false
		case 1:
			if i+1 == len(esc) || esc[i+1] != 1 && esc[i+1] != 2 {
				return "", 0, false
			}
			key = append(key, esc[i+1]-1)
			i++
		default:
			key = append(key, c)
		}
	}
	return string(key), counter, true
}

// isNull reports whether a record is its key's null version: written while
// the bucket was never versioned, or while versioning was suspended.
func (r *objectRecord) isNull() bool {
	return r.VersionID == "" || r.VersionID == sluice.NullVersionID
}

// position orders a key's versions: higher is newer. A record without a
// counter can only be the current one, which is the newest.
func (r *objectRecord) position() uint64 {
	if r.Version == 0 {
		return math.MaxUint64
	}
	return r.Version
}

// versionState returns a bucket's versioning state ("" when never enabled).
func versionState(data *bolt.Bucket) string {
	v := data.Get(keyVersioning)
	if v == nil {
		return ""
	}
	return string(v)
}

// nullIfVersioned names a record written before versioning was enabled by
// its version id once it is (state is the bucket's).
func nullIfVersioned(state []byte, r *objectRecord) {
	if r.VersionID == "" && state != nil {
		r.VersionID = sluice.NullVersionID
	}
}

// versionState returns the versioning state of the bucket whose data
// bucket is data, nil when it was never set, for reads; call it inside
// the read transaction, so that a transaction that begins after
// SetVersioning committed sees the flag it set.
func (s *Store) versionState(data *bolt.Bucket) []byte {
	if !s.versioned.Load() {
		return nil
	}
	return data.Get(keyVersioning)
}

// nextVersion issues the next counter of the store.
func nextVersion(tx *bolt.Tx) (uint64, error) {
	meta := tx.Bucket(rootMeta)
	var n uint64
	if v := meta.Get(metaVersionSeq); len(v) == 8 {
		n = binary.BigEndian.Uint64(v)
	}
	n++
	if err := meta.Put(metaVersionSeq, binary.BigEndian.AppendUint64(nil, n)); err != nil {
		return 0, err
	}
	return n, nil
}

// stampVersion gives rec, about to become the current version (or a
// marker) in a bucket in state, its counter and id.
func stampVersion(tx *bolt.Tx, rec *objectRecord, state []byte) error {
	n, err := nextVersion(tx)
	if err != nil {
		return err
	}
	rec.Version = n
	if string(state) == sluice.VersioningEnabled {
		rec.VersionID = newVersionID(n)
	} else {
		rec.VersionID = sluice.NullVersionID
	}
	return nil
}

// demote moves cur, the current version of key, among the noncurrent
// versions, with its inline body; its files stay referenced. The caller
// replaces or deletes the record in subObjects and the body in subInline.
func demote(tx *bolt.Tx, data *bolt.Bucket, key string, cur *objectRecord) error {
	if cur.Version == 0 {
		n, err := nextVersion(tx)
		if err != nil {
			return err
		}
		cur.Version, cur.VersionID = n, sluice.NullVersionID
	}
	vk := versionKey(key, cur.Version)
	v, err := encodeObject(cur)
	if err != nil {
		return err
	}
	if err := data.Bucket(subVersions).Put(vk, v); err != nil {
		return err
	}
	if cur.inline() && cur.Size > 0 {
		body, err := inlineBody(data.Bucket(subInline), []byte(key), key, cur.Size)
		if err != nil {
			return err
		}
		if err := data.Bucket(subVersionData).Put(vk, body); err != nil {
			return err
		}
	}
	if cur.isNull() {
		return data.Bucket(subNullVersion).Put([]byte(key), binary.BigEndian.AppendUint64(nil, cur.Version))
	}
	return nil
}

// inlineBody returns a copy of the inline body under k in b, checking that
// it has size bytes.
func inlineBody(b *bolt.Bucket, k []byte, key string, size int64) ([]byte, error) {
	var d []byte
	if b != nil {
		d = b.Get(k)
	}
	if int64(len(d)) != size {
		return nil, fmt.Errorf("inline body of %q: %w", key, errCorrupt)
	}
	// A value is only valid in its transaction, and bbolt keeps what Put
	// is given until the commit writes it.
	return bytes.Clone(d), nil
}

// removeNoncurrent deletes the noncurrent version at vk, rec, and returns
// the files that lost their last reference.
func removeNoncurrent(tx *bolt.Tx, data *bolt.Bucket, key string, vk []byte, rec *objectRecord) ([]string, error) {
	if err := data.Bucket(subVersions).Delete(vk); err != nil {
		return nil, err
	}
	if rec.inline() && rec.Size > 0 {
		if err := data.Bucket(subVersionData).Delete(vk); err != nil {
			return nil, err
		}
	}
	if rec.isNull() {
		if err := data.Bucket(subNullVersion).Delete([]byte(key)); err != nil {
			return nil, err
		}
	}
	return releaseFiles(tx, rec.Files)
}

// noncurrentNull returns the key's null version when it is not the
// current one, or nil.
func noncurrentNull(data *bolt.Bucket, key string) ([]byte, *objectRecord, error) {
	idx := data.Bucket(subNullVersion)
	if idx == nil {
		return nil, nil, nil
	}
	v := idx.Get([]byte(key))
	if len(v) != 8 {
		return nil, nil, nil
	}
	vk := versionKey(key, binary.BigEndian.Uint64(v))
	rec, err := noncurrentAt(data, key, vk)
	if err != nil {
		return nil, nil, err
	}
	if rec == nil {
		return nil, nil, fmt.Errorf("null version of %q: %w", key, errCorrupt)
	}
	return vk, rec, nil
}

// noncurrentAt decodes the entry at vk, or returns nil when there is none.
func noncurrentAt(data *bolt.Bucket, key string, vk []byte) (*objectRecord, error) {
	vers := data.Bucket(subVersions)
	if vers == nil {
		return nil, nil
	}
	v := vers.Get(vk)
	if v == nil {
		return nil, nil
	}
	rec := new(objectRecord)
	if err := decodeObject(v, rec); err != nil {
		return nil, fmt.Errorf("decode version of %q: %w", key, err)
	}
	return rec, nil
}

// newestNoncurrent returns the newest entry of key in subVersions, or nil.
func newestNoncurrent(data *bolt.Bucket, key string) ([]byte, *objectRecord, error) {
	vers := data.Bucket(subVersions)
	if vers == nil {
		return nil, nil, nil
	}
	prefix := versionPrefix(key)
	k, v := vers.Cursor().Seek(prefix)
	if k == nil || len(k) != len(prefix)+8 || !bytes.HasPrefix(k, prefix) {
		return nil, nil, nil
	}
	rec := new(objectRecord)
	if err := decodeObject(v, rec); err != nil {
		return nil, nil, fmt.Errorf("decode version of %q: %w", key, err)
	}
	return bytes.Clone(k), rec, nil
}

// promoteNewest makes the newest noncurrent version of key current, after
// the current one was removed, unless it is a delete marker, which then
// stays where it is as the key's latest version.
func promoteNewest(data *bolt.Bucket, key string) error {
	vk, rec, err := newestNoncurrent(data, key)
	if err != nil || rec == nil || rec.Marker {
		return err
	}
	v, err := encodeObject(rec)
	if err != nil {
		return err
	}
	if err := data.Bucket(subObjects).Put([]byte(key), v); err != nil {
		return err
	}
	if rec.inline() && rec.Size > 0 {
		body, err := inlineBody(data.Bucket(subVersionData), vk, key, rec.Size)
		if err != nil {
			return err
		}
		inl, err := data.CreateBucketIfNotExists(subInline)
		if err != nil {
			return err
		}
		if err := inl.Put([]byte(key), body); err != nil {
			return err
		}
		if err := data.Bucket(subVersionData).Delete(vk); err != nil {
			return err
		}
	}
	if err := data.Bucket(subVersions).Delete(vk); err != nil {
		return err
	}
	if rec.isNull() {
		return data.Bucket(subNullVersion).Delete([]byte(key))
	}
	return nil
}

// versionWrite prepares the write of rec as key's new current version in
// a versioned bucket (state is its keyVersioning value): it stamps rec,
// moves cur (the current record, or nil) among the noncurrent versions
// unless rec replaces it, and in a Suspended bucket removes the null
// version rec replaces. It reports whether cur is to be replaced (its
// files released by the caller), and returns the files released here.
func versionWrite(tx *bolt.Tx, data *bolt.Bucket, key string, rec, cur *objectRecord, state []byte) (replace bool, old []string, err error) {
	null := string(state) != sluice.VersioningEnabled
	if null && cur != nil && cur.isNull() {
		return true, nil, stampVersion(tx, rec, state)
	}
	// cur may get its counter now: before rec's, as it is older.
	if cur != nil {
		if err := demote(tx, data, key, cur); err != nil {
			return false, nil, err
		}
	}
	if err := stampVersion(tx, rec, state); err != nil {
		return false, nil, err
	}
	if !null {
		return false, nil, nil
	}
	vk, prev, err := noncurrentNull(data, key)
	if err != nil || prev == nil {
		return false, nil, err
	}
	old, err = removeNoncurrent(tx, data, key, vk, prev)
	return false, old, err
}

// SetVersioning sets a bucket's versioning state; see sluice.Store.
func (s *Store) SetVersioning(ctx context.Context, bucket, state string) error {
	if state != sluice.VersioningEnabled && state != sluice.VersioningSuspended {
		return sluice.Errorf(sluice.ErrMalformedXML, "The XML you provided was not well-formed or did not validate against our published schema")
	}
	return s.update(ctx, func(tx *bolt.Tx, _ *eventBatch) error {
		data, err := bucketData(tx, bucket)
		if err != nil {
			return refuse(err)
		}
		if string(data.Get(keyVersioning)) == state {
			return nil
		}
		for _, sub := range [][]byte{subVersions, subVersionData, subNullVersion} {
			if _, err := data.CreateBucketIfNotExists(sub); err != nil {
				return err
			}
		}
		if err := tx.Bucket(rootMeta).Put(metaVersioned, []byte{1}); err != nil {
			return err
		}
		// Set before the commit, for every change applied after this one;
		// should the commit fail, the flag only costs reads a lookup.
		s.versioned.Store(true)
		return data.Put(keyVersioning, []byte(state))
	})
}

// Versioning returns a bucket's versioning state: "" when it was never
// enabled.
func (s *Store) Versioning(ctx context.Context, bucket string) (string, error) {
	var state string
	err := s.db.View(func(tx *bolt.Tx) error {
		data, err := bucketData(tx, bucket)
		if err != nil {
			return err
		}
		state = versionState(data)
		return nil
	})
	return state, err
}

// found is a version a lookup found.
type found struct {
	rec *objectRecord
	// vk is its key in subVersions; nil for the current version.
	vk []byte
}

// findVersion looks up key's version id (not ""), or returns a zero found.
// In an unversioned bucket only "null" names a version, the object.
func findVersion(data *bolt.Bucket, key, id string) (found, error) {
	cur, err := currentObject(data.Bucket(subObjects), key)
	if err != nil {
		return found{}, err
	}
	if id == sluice.NullVersionID {
		if cur != nil && cur.isNull() {
			return found{rec: cur}, nil
		}
		vk, rec, err := noncurrentNull(data, key)
		if err != nil || rec == nil {
			return found{}, err
		}
		return found{rec: rec, vk: vk}, nil
	}
	counter, ok := parseVersionID(id)
	if !ok {
		return found{}, errInvalidVersionID(id)
	}
	if cur != nil && cur.VersionID == id {
		return found{rec: cur}, nil
	}
	vk := versionKey(key, counter)
	rec, err := noncurrentAt(data, key, vk)
	if err != nil || rec == nil || rec.VersionID != id {
		return found{}, err
	}
	return found{rec: rec, vk: vk}, nil
}

// lookupVersion reads one version of key (versionID "" is the current
// one) and, when body is set and it is inline, a copy of its bytes. It
// returns a delete marker's record with the error of HeadVersion.
func (s *Store) lookupVersion(bucket, key, versionID string, body bool) (*objectRecord, []byte, error) {
	if versionID == "" {
		return s.lookup(bucket, key, body)
	}
	if err := validateKey(key); err != nil {
		return nil, nil, err
	}
	if err := checkVersionID(versionID); err != nil {
		return nil, nil, err
	}
	var (
		rec  *objectRecord
		data []byte
	)
	err := s.db.View(func(tx *bolt.Tx) error {
		b, err := bucketData(tx, bucket)
		if err != nil {
			return err
		}
		f, err := findVersion(b, key, versionID)
		if err != nil {
			return err
		}
		if f.rec == nil {
			return errNoSuchVersion(key, versionID)
		}
		rec = f.rec
		nullIfVersioned(b.Get(keyVersioning), rec)
		if rec.Marker {
			return errMarkerMethod("GET")
		}
		if !body || !rec.inline() || rec.Size == 0 {
			return nil
		}
		if f.vk == nil {
			data, err = inlineBody(b.Bucket(subInline), []byte(key), key, rec.Size)
		} else {
			data, err = inlineBody(b.Bucket(subVersionData), f.vk, key, rec.Size)
		}
		return err
	})
	if err != nil && (rec == nil || !rec.Marker) {
		return nil, nil, err
	}
	return rec, data, err
}

// latestMarker returns key's newest delete marker when it is the key's
// latest version, for the errors of reads without a version id; the
// caller knows the bucket is versioned.
func latestMarker(data *bolt.Bucket, key string) (*objectRecord, error) {
	if data.Bucket(subObjects).Get([]byte(key)) != nil {
		return nil, nil
	}
	_, rec, err := newestNoncurrent(data, key)
	if err != nil || rec == nil || !rec.Marker {
		return nil, err
	}
	return rec, nil
}

// HeadVersion returns one version's info; see sluice.Store.
func (s *Store) HeadVersion(ctx context.Context, bucket, key, versionID string) (sluice.ObjectInfo, error) {
	rec, _, err := s.lookupVersion(bucket, key, versionID, false)
	if rec == nil {
		return sluice.ObjectInfo{}, err
	}
	return rec.info(bucket, key), err
}

// OpenVersion opens one version; see sluice.Store.
func (s *Store) OpenVersion(ctx context.Context, bucket, key, versionID string) (sluice.Object, error) {
	if versionID == "" {
		return s.OpenObject(ctx, bucket, key)
	}
	return s.openRecord(ctx, bucket, key, versionID, func() (*objectRecord, []byte, error) {
		return s.lookupVersion(bucket, key, versionID, true)
	})
}

// DeleteVersion deletes as S3's DeleteObject does; see sluice.Store.
func (s *Store) DeleteVersion(ctx context.Context, bucket, key, versionID string) (sluice.DeleteResult, error) {
	if err := validateKey(key); err != nil {
		return sluice.DeleteResult{}, err
	}
	if err := checkVersionID(versionID); err != nil {
		return sluice.DeleteResult{}, err
	}
	var (
		old []string
		res sluice.DeleteResult
	)
	g := guardOf(ctx)
	err := s.update(ctx, func(tx *bolt.Tx, ev *eventBatch) error {
		old, res = nil, sluice.DeleteResult{}
		data, err := bucketData(tx, bucket)
		if err != nil {
			return refuse(err)
		}
		if err := checkGuard(tx, g); err != nil {
			return err
		}
		state := ev.versionState(data)
		switch {
		case versionID != "":
			old, res, err = deleteVersion(tx, ev, data, bucket, key, versionID)
		case state == nil:
			old, err = deleteCurrent(tx, ev, data, bucket, key)
		default:
			old, res, err = addMarker(tx, ev, data, bucket, key, state)
		}
		if err != nil {
			return err
		}
		return recordGuard(tx, g, "")
	})
	if err != nil {
		return sluice.DeleteResult{}, err
	}
	s.removeFiles(old)
	return res, nil
}

// deleteCurrent removes the object of an unversioned bucket; a missing
// key records nothing.
func deleteCurrent(tx *bolt.Tx, ev *eventBatch, data *bolt.Bucket, bucket, key string) ([]string, error) {
	objs := data.Bucket(subObjects)
	cur, err := currentObject(objs, key)
	if err != nil {
		return nil, refuse(err)
	}
	if cur == nil {
		return nil, nil
	}
	if err := objs.Delete([]byte(key)); err != nil {
		return nil, err
	}
	if cur.inline() {
		if err := deleteInline(data, key); err != nil {
			return nil, err
		}
	}
	old, err := releaseFiles(tx, cur.Files)
	if err != nil {
		return nil, err
	}
	return old, ev.add(tx, sluice.EventObjectRemovedDelete, bucket, key, &objectRecord{})
}

// addMarker makes a delete marker key's latest version: a new one in an
// Enabled bucket, the null version in a Suspended one (which replaces the
// null version there was).
func addMarker(tx *bolt.Tx, ev *eventBatch, data *bolt.Bucket, bucket, key string, state []byte) ([]string, sluice.DeleteResult, error) {
	objs := data.Bucket(subObjects)
	cur, err := currentObject(objs, key)
	if err != nil {
		return nil, sluice.DeleteResult{}, refuse(err)
	}
	marker := &objectRecord{Marker: true, Modified: now()}
	replace, old, err := versionWrite(tx, data, key, marker, cur, state)
	if err != nil {
		return nil, sluice.DeleteResult{}, err
	}
	if cur != nil {
		if err := objs.Delete([]byte(key)); err != nil {
			return nil, sluice.DeleteResult{}, err
		}
		if cur.inline() {
			if err := deleteInline(data, key); err != nil {
				return nil, sluice.DeleteResult{}, err
			}
		}
		if replace {
			gone, err := releaseFiles(tx, cur.Files)
			if err != nil {
				return nil, sluice.DeleteResult{}, err
			}
			old = append(old, gone...)
		}
	}
	v, err := encodeObject(marker)
	if err != nil {
		return nil, sluice.DeleteResult{}, err
	}
	if err := data.Bucket(subVersions).Put(versionKey(key, marker.Version), v); err != nil {
		return nil, sluice.DeleteResult{}, err
	}
	if marker.isNull() {
		if err := data.Bucket(subNullVersion).Put([]byte(key), binary.BigEndian.AppendUint64(nil, marker.Version)); err != nil {
			return nil, sluice.DeleteResult{}, err
		}
	}
	if err := ev.add(tx, sluice.EventObjectRemovedMarker, bucket, key, marker); err != nil {
		return nil, sluice.DeleteResult{}, err
	}
	return old, sluice.DeleteResult{VersionID: marker.VersionID, DeleteMarker: true}, nil
}

// deleteVersion removes one version for good; a version that does not
// exist is no error and records nothing.
func deleteVersion(tx *bolt.Tx, ev *eventBatch, data *bolt.Bucket, bucket, key, versionID string) ([]string, sluice.DeleteResult, error) {
	f, err := findVersion(data, key, versionID)
	if err != nil {
		return nil, sluice.DeleteResult{}, refuse(err)
	}
	versioned := data.Get(keyVersioning) != nil
	if f.rec == nil {
		if !versioned {
			return nil, sluice.DeleteResult{}, nil
		}
		return nil, sluice.DeleteResult{VersionID: versionID}, nil
	}
	var old []string
	if f.vk == nil {
		if err := data.Bucket(subObjects).Delete([]byte(key)); err != nil {
			return nil, sluice.DeleteResult{}, err
		}
		if f.rec.inline() {
			if err := deleteInline(data, key); err != nil {
				return nil, sluice.DeleteResult{}, err
			}
		}
		if old, err = releaseFiles(tx, f.rec.Files); err != nil {
			return nil, sluice.DeleteResult{}, err
		}
		if versioned {
			if err := promoteNewest(data, key); err != nil {
				return nil, sluice.DeleteResult{}, err
			}
		}
	} else {
		// Only a delete marker can be the latest entry of subVersions;
		// removing it may leave a version to make current.
		latest := data.Bucket(subObjects).Get([]byte(key)) == nil
		if old, err = removeNoncurrent(tx, data, key, f.vk, f.rec); err != nil {
			return nil, sluice.DeleteResult{}, err
		}
		if latest {
			if err := promoteNewest(data, key); err != nil {
				return nil, sluice.DeleteResult{}, err
			}
		}
	}
	if !versioned {
		return old, sluice.DeleteResult{}, ev.add(tx, sluice.EventObjectRemovedDelete, bucket, key, &objectRecord{})
	}
	id := f.rec.VersionID
	if id == "" {
		id = sluice.NullVersionID
	}
	if err := ev.add(tx, sluice.EventObjectRemovedDelete, bucket, key, &objectRecord{VersionID: id}); err != nil {
		return nil, sluice.DeleteResult{}, err
	}
	return old, sluice.DeleteResult{VersionID: id, DeleteMarker: f.rec.Marker}, nil
}

// PutVersionTags replaces one version's tag set; see sluice.Store.
func (s *Store) PutVersionTags(ctx context.Context, bucket, key, versionID string, tags []sluice.Tag) (sluice.ObjectInfo, error) {
	if err := validateKey(key); err != nil {
		return sluice.ObjectInfo{}, err
	}
	if err := checkVersionID(versionID); err != nil {
		return sluice.ObjectInfo{}, err
	}
	var info sluice.ObjectInfo
	err := s.update(ctx, func(tx *bolt.Tx, ev *eventBatch) error {
		data, err := bucketData(tx, bucket)
		if err != nil {
			return refuse(err)
		}
		var f found
		if versionID == "" {
			f.rec, err = currentObject(data.Bucket(subObjects), key)
			if err != nil {
				return refuse(err)
			}
			if f.rec == nil {
				return refuse(errNoSuchKey(key))
			}
		} else {
			if f, err = findVersion(data, key, versionID); err != nil {
				return refuse(err)
			}
			if f.rec == nil {
				return refuse(errNoSuchVersion(key, versionID))
			}
			if f.rec.Marker {
				return refuse(errMarkerMethod("PUT"))
			}
		}
		rec := f.rec
		rec.Meta.Tags = slices.Clone(tags)
		name := sluice.EventObjectTaggingPut
		if len(tags) == 0 {
			rec.Meta.Tags = nil
			name = sluice.EventObjectTaggingDelete
		}
		nv, err := encodeObject(rec)
		if err != nil {
			return err
		}
		if f.vk == nil {
			err = data.Bucket(subObjects).Put([]byte(key), nv)
		} else {
			err = data.Bucket(subVersions).Put(f.vk, nv)
		}
		if err != nil {
			return err
		}
		nullIfVersioned(ev.versionState(data), rec)
		info = rec.info(bucket, key)
		return ev.add(tx, name, bucket, key, rec)
	})
	return info, err
}

// ListVersions lists versions and delete markers in S3's order; see
// sluice.Store. MaxKeys 0 returns an empty page (truncated when entries
// remain); a negative MaxKeys means 1000. A VersionIDMarker resumes after
// the position of that version among its key's, so that a version deleted
// since the previous page still resumes where it was; "null" naming no
// version resumes at the key's newest version.
func (s *Store) ListVersions(ctx context.Context, bucket string, opts sluice.ListVersionsOptions) (sluice.VersionsPage, error) {
	if opts.MaxKeys < 0 {
		opts.MaxKeys = sluice.MaxListKeys
	}
	var markerPos uint64
	switch {
	case opts.VersionIDMarker == "":
	case opts.KeyMarker == "":
		return sluice.VersionsPage{}, sluice.Errorf(sluice.ErrInvalidArgument, "A version-id marker cannot be specified without a key marker.").With("ArgumentName", "version-id-marker").With("ArgumentValue", opts.VersionIDMarker)
	case opts.VersionIDMarker == sluice.NullVersionID:
	default:
		n, ok := parseVersionID(opts.VersionIDMarker)
		if !ok {
			return sluice.VersionsPage{}, errInvalidVersionID(opts.VersionIDMarker).With("ArgumentName", "version-id-marker")
		}
		markerPos = n
	}
	var page sluice.VersionsPage
	err := s.db.View(func(tx *bolt.Tx) error {
		data, err := bucketData(tx, bucket)
		if err != nil {
			return err
		}
		if opts.VersionIDMarker == sluice.NullVersionID {
			markerPos = math.MaxUint64
			f, err := findVersion(data, opts.KeyMarker, sluice.NullVersionID)
			if err != nil {
				return err
			}
			if f.rec != nil {
				markerPos = f.rec.position()
			}
		}
		return listVersions(data, bucket, opts, markerPos, &page)
	})
	return page, err
}

// versionCursor walks the current versions (subObjects) and the rest
// (subVersions) together, in key order.
type versionCursor struct {
	objs *bolt.Cursor
	vers *bolt.Cursor // nil in a bucket never versioned

	objK, objV []byte
	verK, verV []byte
	verKey     string // verK's key
	verCounter uint64
}

func (c *versionCursor) setVer(k, v []byte) error {
	c.verK, c.verV = k, v
	if k == nil {
		return nil
	}
	key, counter, ok := parseVersionKey(k)
	if !ok {
		return fmt.Errorf("version entry %q: %w", k, errCorrupt)
	}
	c.verKey, c.verCounter = key, counter
	return nil
}

// seek positions both cursors at the first entries of keys >= key.
func (c *versionCursor) seek(key []byte) error {
	c.objK, c.objV = c.objs.Seek(key)
	if c.vers == nil {
		return nil
	}
	return c.setVer(c.vers.Seek(appendEscaped(nil, string(key))))
}

// key returns the smallest key either cursor is at.
func (c *versionCursor) key() (string, bool) {
	switch {
	case c.objK == nil && c.verK == nil:
		return "", false
	case c.verK == nil:
		return string(c.objK), true
	case c.objK == nil || c.verKey < string(c.objK):
		return c.verKey, true
	default:
		return string(c.objK), true
	}
}

func listVersions(data *bolt.Bucket, bucket string, opts sluice.ListVersionsOptions, markerPos uint64, page *sluice.VersionsPage) error {
	c := &versionCursor{objs: data.Bucket(subObjects).Cursor()}
	if vers := data.Bucket(subVersions); vers != nil {
		c.vers = vers.Cursor()
	}
	prefix, delim := opts.Prefix, opts.Delimiter
	// resume is the key whose versions start after markerPos.
	resume := ""
	var err error
	switch {
	case opts.KeyMarker != "" && opts.KeyMarker >= prefix && opts.VersionIDMarker != "":
		resume = opts.KeyMarker
		err = c.seek([]byte(opts.KeyMarker))
	case opts.KeyMarker != "" && opts.KeyMarker >= prefix:
		err = c.seek(append([]byte(opts.KeyMarker), 0))
	default:
		err = c.seek([]byte(prefix))
	}
	if err != nil {
		return err
	}
	count := 0
	var last sluice.ObjectInfo
	lastPrefix := false
	for {
		key, ok := c.key()
		if !ok || !strings.HasPrefix(key, prefix) {
			break
		}
		if delim != "" {
			if i := strings.Index(key[len(prefix):], delim); i >= 0 {
				cp := key[:len(prefix)+i+len(delim)]
				if cp > opts.KeyMarker {
					if count == opts.MaxKeys {
						page.IsTruncated = true
						break
					}
					page.CommonPrefixes = append(page.CommonPrefixes, cp)
					last, lastPrefix = sluice.ObjectInfo{Key: cp}, true
					count++
				}
				end := prefixEnd([]byte(cp))
				if end == nil {
					break
				}
				if err := c.seek(end); err != nil {
					return err
				}
				continue
			}
		}
		latest := true
		full := false
		emit := func(rec *objectRecord, pos uint64) {
			isLatest := latest
			latest = false
			if key == resume && pos >= markerPos {
				return
			}
			if count == opts.MaxKeys {
				full = true
				return
			}
			if rec.VersionID == "" {
				rec.VersionID = sluice.NullVersionID
			}
			info := rec.info(bucket, key)
			info.IsLatest = isLatest
			page.Versions = append(page.Versions, info)
			last, lastPrefix = info, false
			count++
		}
		if c.objK != nil && string(c.objK) == key {
			var rec objectRecord
			if err := decodeObjectFiles(c.objV, &rec, false); err != nil {
				return fmt.Errorf("decode object %q: %w", key, err)
			}
			emit(&rec, rec.position())
			c.objK, c.objV = c.objs.Next()
		}
		if key == resume && markerPos != math.MaxUint64 && c.verK != nil && c.verKey == key {
			// Skip, without decoding them, the versions the marker passed.
			newest := c.verCounter
			if err := c.setVer(c.vers.Seek(versionKey(key, markerPos))); err != nil {
				return err
			}
			if c.verK == nil || c.verKey != key || c.verCounter != newest {
				latest = false
			}
		}
		for !full && c.verK != nil && c.verKey == key {
			var rec objectRecord
			if err := decodeObjectFiles(c.verV, &rec, false); err != nil {
				return fmt.Errorf("decode version of %q: %w", key, err)
			}
			emit(&rec, c.verCounter)
			if err := c.setVer(c.vers.Next()); err != nil {
				return err
			}
		}
		if full {
			page.IsTruncated = true
			break
		}
	}
	if page.IsTruncated {
		page.NextKeyMarker = last.Key
		if !lastPrefix {
			page.NextVersionIDMarker = last.VersionID
		}
	}
	return nil
}
