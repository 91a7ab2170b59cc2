package fsstore

import (
	"context"
	"encoding/binary"

	"github.com/sluicehq/sluice"
	bolt "go.etcd.io/bbolt"
)

// Files shared by several object records.
//
// LinkObject lets a second object record refer to the files of another, so
// a file may have several references. rootLinks counts, per file id, the
// references beyond the first; a file without an entry has exactly one,
// which is every file never linked, so ordinary writes and deletes pay one
// lookup in an (almost always) empty bucket. Every transaction that adds a
// reference to an existing file calls shareFiles, and every one that drops
// a record's reference calls releaseFiles, which returns only the files
// that lost their last reference: those are removed after the commit, as
// before. Part records are never linked, so part files are never shared.
// The orphan collector needs no counts: it keeps every file that any
// object or part record names.

// shareFiles records one more reference to each of ids.
func shareFiles(tx *bolt.Tx, ids []string) error {
	links := tx.Bucket(rootLinks)
	for _, id := range ids {
		n := linkCount(links, id) + 1
		if err := links.Put([]byte(id), binary.AppendUvarint(nil, n)); err != nil {
			return err
		}
	}
	return nil
}

// releaseFiles drops one reference to each of ids and returns those that
// no record refers to any more.
func releaseFiles(tx *bolt.Tx, ids []string) ([]string, error) {
	links := tx.Bucket(rootLinks)
	if len(ids) == 0 {
		return nil, nil
	}
	var gone []string
	for _, id := range ids {
		n := linkCount(links, id)
		switch {
		case n == 0:
			gone = append(gone, id)
		case n == 1:
			if err := links.Delete([]byte(id)); err != nil {
				return nil, err
			}
		default:
			if err := links.Put([]byte(id), binary.AppendUvarint(nil, n-1)); err != nil {
				return nil, err
			}
		}
	}
	return gone, nil
}

// linkCount returns the references to id beyond the first.
func linkCount(links *bolt.Bucket, id string) uint64 {
	v := links.Get([]byte(id))
	if v == nil {
		return 0
	}
	n, _ := binary.Uvarint(v)
	return n
}

// linkInto records under key in data (bucket's) a copy of src with meta
// that shares src's files (and body, its inline bytes), in place of cur,
// with its event; it returns the copy and the files cur no longer holds.
func linkInto(tx *bolt.Tx, ev *eventBatch, data *bolt.Bucket, bucket, key string, src *objectRecord, meta sluice.ObjectMeta, body []byte, cur *objectRecord, eventName string) (*objectRecord, []string, error) {
	r := &objectRecord{
		Size:     src.Size,
		ETag:     src.ETag,
		Meta:     meta,
		Checksum: src.Checksum,
		Files:    src.Files,
		Parts:    src.Parts,
	}
	// Share before replacing: when the copy replaces src itself, replacing
	// releases the reference shared here and the files stay.
	if err := shareFiles(tx, r.Files); err != nil {
		return nil, nil, err
	}
	old, err := replaceObject(tx, ev, data, bucket, key, r, body, cur, eventName)
	if err != nil {
		return nil, nil, err
	}
	return r, old, nil
}

// LinkObject makes dst.Bucket/dst.Key a copy of the object src names
// (src.Bucket, src.Key) without copying its bytes: the new record refers to
// the same files, which stay on disk until no record refers to them. An
// inline body, being small, is copied. The copy has the source's size,
// ETag, checksums and parts, and dst.Meta as its metadata and tags.
//
// With src.VersionID set, the source is that version of the key, current
// or not; else it is the current version. It commits only if the source's
// ETag is still src.ETag, else it fails with PreconditionFailed (NoSuchKey
// when the source, or the version, is gone or is a delete marker), so a
// caller holding a snapshot of the source links exactly those bytes or
// learns it must fall back to copying its snapshot. dst.Conditions apply to
// the destination as for PutObject. dst.EventName is the recorded event,
// ObjectCreated:Copy when empty. dst.Body, Size, ChecksumAlgorithm and
// Verify must be unset: there are no bytes to receive.
func (s *Store) LinkObject(ctx context.Context, src sluice.ObjectInfo, dst *sluice.PutObjectInput) (sluice.ObjectInfo, error) {
	if err := validateKey(src.Key); err != nil {
		return sluice.ObjectInfo{}, err
	}
	if err := validateKey(dst.Key); err != nil {
		return sluice.ObjectInfo{}, err
	}
	if dst.Body != nil || dst.Size != 0 || dst.ChecksumAlgorithm != "" || dst.Verify != nil {
		return sluice.ObjectInfo{}, sluice.Errorf(sluice.ErrInvalidArgument, "A link carries no body.")
	}
	name := dst.EventName
	if name == "" {
		name = sluice.EventObjectCreatedCopy
	}
	meta := normalizeMeta(dst.Meta)
	g := guardOf(ctx)
	var (
		rec *objectRecord
		old []string
	)
	err := s.update(ctx, func(tx *bolt.Tx, ev *eventBatch) error {
		rec, old = nil, nil
		sdata, err := bucketData(tx, src.Bucket)
		if err != nil {
			return refuse(err)
		}
		cur, body, err := linkSource(sdata, src)
		if err != nil {
			return refuse(err)
		}
		ddata, err := bucketData(tx, dst.Bucket)
		if err != nil {
			return refuse(err)
		}
		dcur, err := currentObject(ddata.Bucket(subObjects), dst.Key)
		if err != nil {
			return refuse(err)
		}
		if err := checkConditions(dst.Conditions, dst.Key, dcur); err != nil {
			return refuse(err)
		}
		if err := checkGuard(tx, g); err != nil {
			return err
		}
		r, o, err := linkInto(tx, ev, ddata, dst.Bucket, dst.Key, cur, meta, body, dcur, name)
		if err != nil {
			return err
		}
		rec, old = r, o
		return recordGuard(tx, g, unquote(r.ETag))
	})
	if err != nil {
		return sluice.ObjectInfo{}, err
	}
	s.removeFiles(old)
	return rec.info(dst.Bucket, dst.Key), nil
}

// linkSource returns the record LinkObject copies and a copy of its inline
// body, if it has one.
func linkSource(data *bolt.Bucket, src sluice.ObjectInfo) (*objectRecord, []byte, error) {
	var f found
	if src.VersionID == "" {
		cur, err := currentObject(data.Bucket(subObjects), src.Key)
		if err != nil {
			return nil, nil, err
		}
		f.rec = cur
	} else {
		if err := checkVersionID(src.VersionID); err != nil {
			return nil, nil, err
		}
		var err error
		if f, err = findVersion(data, src.Key, src.VersionID); err != nil {
			return nil, nil, err
		}
	}
	if f.rec == nil || f.rec.Marker {
		return nil, nil, errNoSuchKey(src.Key)
	}
	if unquote(f.rec.ETag) != unquote(src.ETag) {
		return nil, nil, sluice.Errorf(sluice.ErrPreconditionFailed, "At least one of the pre-conditions you specified did not hold").With("Condition", "x-amz-copy-source-if-match")
	}
	if !f.rec.inline() || f.rec.Size == 0 {
		return f.rec, nil, nil
	}
	var (
		body []byte
		err  error
	)
	if f.vk == nil {
		body, err = inlineBody(data.Bucket(subInline), []byte(src.Key), src.Key, f.rec.Size)
	} else {
		body, err = inlineBody(data.Bucket(subVersionData), f.vk, src.Key, f.rec.Size)
	}
	return f.rec, body, err
}
