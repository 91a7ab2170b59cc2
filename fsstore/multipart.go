package fsstore

import (
	"bytes"
	"cmp"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/sluicehq/sluice"
	bolt "go.etcd.io/bbolt"
)

func errNoSuchUpload(id string) error {
	e := sluice.Errorf(sluice.ErrNoSuchUpload, "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.").With("UploadId", id)
	e.Resource = id
	return e
}

var (
	errInvalidPart      = sluice.Errorf(sluice.ErrInvalidPart, "One or more of the specified parts could not be found.  The part may not have been uploaded, or the specified entity tag may not match the part's entity tag.")
	errInvalidPartOrder = sluice.Errorf(sluice.ErrInvalidPartOrder, "The list of parts was not in ascending order. The parts list must be specified in order by part number.")
)

func newUploadID() string {
	var b [24]byte
	idRandom(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func partKey(uploadID string, number int) []byte {
	return binary.BigEndian.AppendUint32([]byte(uploadID), uint32(number))
}

// getUpload returns the upload record for id, checking it belongs to key.
func getUpload(data *bolt.Bucket, key, id string) (*uploadRecord, error) {
	if id == "" {
		return nil, errNoSuchUpload(id)
	}
	v := data.Bucket(subUploads).Get([]byte(id))
	if v == nil {
		return nil, errNoSuchUpload(id)
	}
	var u uploadRecord
	if err := json.Unmarshal(v, &u); err != nil {
		return nil, fmt.Errorf("decode upload %q: %w", id, err)
	}
	if u.Key != key {
		return nil, errNoSuchUpload(id)
	}
	return &u, nil
}

func (u *uploadRecord) upload(bucket, id string) sluice.Upload {
	return sluice.Upload{
		Bucket:            bucket,
		Key:               u.Key,
		UploadID:          id,
		Initiated:         u.Initiated,
		Meta:              u.Meta,
		ChecksumAlgorithm: u.ChecksumAlgorithm,
		ChecksumType:      u.ChecksumType,
	}
}

// CreateUpload starts a multipart upload with a random URL-safe id.
func (s *Store) CreateUpload(ctx context.Context, in *sluice.CreateUploadInput) (sluice.Upload, error) {
	if err := validateKey(in.Key); err != nil {
		return sluice.Upload{}, err
	}
	typ, err := uploadChecksumType(in.ChecksumAlgorithm, in.ChecksumType)
	if err != nil {
		return sluice.Upload{}, err
	}
	id := newUploadID()
	rec := &uploadRecord{
		Key:               in.Key,
		Initiated:         now(),
		Meta:              normalizeMeta(in.Meta),
		ChecksumAlgorithm: in.ChecksumAlgorithm,
		ChecksumType:      typ,
	}
	v, err := json.Marshal(rec)
	if err != nil {
		return sluice.Upload{}, err
	}
	err = s.update(ctx, func(tx *bolt.Tx, _ *eventBatch) error {
		data, err := bucketData(tx, in.Bucket)
		if err != nil {
			return refuse(err)
		}
		return data.Bucket(subUploads).Put([]byte(id), v)
	})
	if err != nil {
		return sluice.Upload{}, err
	}
	return rec.upload(in.Bucket, id), nil
}

func validPartNumber(n int) error {
	if n < 1 || n > sluice.MaxParts {
		return sluice.Errorf(sluice.ErrInvalidArgument, "Part number must be an integer between 1 and 10000, inclusive").With("ArgumentName", "partNumber").With("ArgumentValue", fmt.Sprint(n))
	}
	return nil
}

// UploadPart writes one part; writing a part number again replaces it.
func (s *Store) UploadPart(ctx context.Context, in *sluice.UploadPartInput) (sluice.PartInfo, error) {
	if err := validateKey(in.Key); err != nil {
		return sluice.PartInfo{}, err
	}
	if err := validPartNumber(in.PartNumber); err != nil {
		return sluice.PartInfo{}, err
	}
	var up *uploadRecord
	err := s.db.View(func(tx *bolt.Tx) error {
		data, err := bucketData(tx, in.Bucket)
		if err != nil {
			return err
		}
		up, err = getUpload(data, in.Key, in.UploadID)
		return err
	})
	if err != nil {
		return sluice.PartInfo{}, err
	}
	r, err := s.receive(ctx, in.Body, in.Size, sluice.MaxPutSize, 0, up.ChecksumAlgorithm)
	if err != nil {
		return sluice.PartInfo{}, err
	}
	if up.ChecksumAlgorithm != "" {
		r.sums.Type = up.ChecksumType
	}
	if in.Verify != nil {
		if err := in.Verify(r.sums); err != nil {
			s.discard(&r)
			return sluice.PartInfo{}, err
		}
	}
	rec := &partRecord{
		Size:     r.size,
		ETag:     quoteETag(r.sums.MD5),
		Modified: now(),
		Checksum: r.sums,
		File:     r.id,
	}
	v, err := encodePart(rec)
	if err != nil {
		s.discard(&r)
		return sluice.PartInfo{}, err
	}
	var old string
	err = s.commit(&commitReq{
		fn: func(tx *bolt.Tx, _ *eventBatch) error {
			old = ""
			data, err := bucketData(tx, in.Bucket)
			if err != nil {
				return refuse(err)
			}
			// The upload may have been completed or aborted meanwhile.
			if _, err := getUpload(data, in.Key, in.UploadID); err != nil {
				return refuse(err)
			}
			parts := data.Bucket(subParts)
			k := partKey(in.UploadID, in.PartNumber)
			if prev := parts.Get(k); prev != nil {
				var p partRecord
				if err := decodePart(prev, &p); err != nil {
					return refuse(err)
				}
				old = p.File
			}
			return parts.Put(k, v)
		},
		ev:   s.events(ctx),
		dirs: r.dirs(s),
	})
	if err != nil {
		s.discard(&r)
		return sluice.PartInfo{}, err
	}
	if old != "" {
		s.removeFiles([]string{old})
	}
	return rec.info(in.PartNumber), nil
}

// uploadParts returns every part of an upload in part-number order.
func uploadParts(data *bolt.Bucket, id string) (map[int]*partRecord, error) {
	out := make(map[int]*partRecord)
	prefix := []byte(id)
	c := data.Bucket(subParts).Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		if len(k) != len(prefix)+4 {
			continue
		}
		p := new(partRecord)
		if err := decodePart(v, p); err != nil {
			return nil, err
		}
		out[int(binary.BigEndian.Uint32(k[len(prefix):]))] = p
	}
	return out, nil
}

// deleteUpload removes an upload and its part records and returns the part
// files, for removal after the commit.
func deleteUpload(data *bolt.Bucket, id string, parts map[int]*partRecord) ([]string, error) {
	var files []string
	pb := data.Bucket(subParts)
	for n, p := range parts {
		if err := pb.Delete(partKey(id, n)); err != nil {
			return nil, err
		}
		files = append(files, p.File)
	}
	return files, data.Bucket(subUploads).Delete([]byte(id))
}

// CompleteUpload builds the object from the listed parts without copying
// bytes: the object's files are the part files, in order.
func (s *Store) CompleteUpload(ctx context.Context, in *sluice.CompleteUploadInput) (sluice.ObjectInfo, error) {
	if err := validateKey(in.Key); err != nil {
		return sluice.ObjectInfo{}, err
	}
	if len(in.Parts) == 0 {
		return sluice.ObjectInfo{}, sluice.Errorf(sluice.ErrMalformedXML, "The XML you provided was not well-formed or did not validate against our published schema")
	}
	if len(in.Parts) > sluice.MaxParts {
		return sluice.ObjectInfo{}, sluice.Errorf(sluice.ErrInvalidArgument, "Part number must be an integer between 1 and 10000, inclusive")
	}
	for i, p := range in.Parts {
		if err := validPartNumber(p.Number); err != nil {
			return sluice.ObjectInfo{}, err
		}
		if i > 0 && p.Number <= in.Parts[i-1].Number {
			return sluice.ObjectInfo{}, errInvalidPartOrder
		}
	}
	var (
		rec     *objectRecord
		garbage []string
		fan     *FanoutTx
	)
	err := s.update(ctx, func(tx *bolt.Tx, ev *eventBatch) error {
		garbage, fan = nil, nil
		data, err := bucketData(tx, in.Bucket)
		if err != nil {
			return refuse(err)
		}
		up, err := getUpload(data, in.Key, in.UploadID)
		if err != nil {
			return refuse(err)
		}
		all, err := uploadParts(data, in.UploadID)
		if err != nil {
			return refuse(err)
		}
		rec, err = assemble(up, in.Parts, all)
		if err != nil {
			return refuse(err)
		}
		cur, err := currentObject(data.Bucket(subObjects), in.Key)
		if err != nil {
			return refuse(err)
		}
		if err := checkConditions(in.Conditions, in.Key, cur); err != nil {
			return refuse(err)
		}
		unused, err := deleteUpload(data, in.UploadID, all)
		if err != nil {
			return err
		}
		used := make(map[string]bool, len(rec.Files))
		for _, f := range rec.Files {
			used[f] = true
		}
		for _, f := range unused {
			if !used[f] {
				garbage = append(garbage, f)
			}
		}
		old, err := replaceObject(tx, ev, data, in.Bucket, in.Key, rec, nil, cur, sluice.EventObjectCreatedComplete)
		garbage = append(garbage, old...)
		if err != nil {
			return err
		}
		fan, err = s.fanOut(tx, ev, data, in.Bucket, in.Key, rec, nil)
		return err
	})
	if err != nil {
		return sluice.ObjectInfo{}, err
	}
	s.removeFiles(garbage)
	s.removeFiles(fan.done())
	return rec.info(in.Bucket, in.Key), nil
}

// assemble validates the requested parts against the uploaded ones and
// builds the object record.
func assemble(up *uploadRecord, want []sluice.CompletePart, have map[int]*partRecord) (*objectRecord, error) {
	rec := &objectRecord{Meta: up.Meta}
	md5s := make([][]byte, 0, len(want))
	values := make([]string, 0, len(want))
	sizes := make([]int64, 0, len(want))
	for _, w := range want {
		p, ok := have[w.Number]
		if !ok || unquote(w.ETag) != unquote(p.ETag) {
			return nil, errInvalidPart.With("PartNumber", fmt.Sprint(w.Number))
		}
		if w.Checksum != "" && w.Checksum != p.Checksum.Value {
			return nil, errInvalidPart.With("PartNumber", fmt.Sprint(w.Number))
		}
		rec.Size += p.Size
		rec.Files = append(rec.Files, p.File)
		rec.Parts = append(rec.Parts, p.info(w.Number))
		md5s = append(md5s, p.Checksum.MD5)
		values = append(values, p.Checksum.Value)
		sizes = append(sizes, p.Size)
	}
	for i, p := range rec.Parts[:len(rec.Parts)-1] {
		if p.Size < sluice.MinPartSize {
			return nil, sluice.Errorf(sluice.ErrEntityTooSmall, "Your proposed upload is smaller than the minimum allowed size").
				With("ProposedSize", fmt.Sprint(p.Size)).With("MinSizeAllowed", fmt.Sprint(sluice.MinPartSize)).
				With("PartNumber", fmt.Sprint(want[i].Number)).With("ETag", unquote(p.ETag))
		}
	}
	if rec.Size > sluice.MaxObjectSize {
		return nil, errEntityTooLarge
	}
	rec.ETag = multipartETag(md5s)
	if up.ChecksumAlgorithm != "" {
		var v string
		var err error
		if up.ChecksumType == sluice.ChecksumTypeComposite {
			v, err = compositeChecksum(up.ChecksumAlgorithm, values)
		} else {
			v, err = fullObjectCRC(up.ChecksumAlgorithm, values, sizes)
		}
		if err != nil {
			return nil, err
		}
		rec.Checksum = sluice.Checksums{Algorithm: up.ChecksumAlgorithm, Value: v, Type: up.ChecksumType}
	}
	return rec, nil
}

// AbortUpload removes an upload and its parts.
func (s *Store) AbortUpload(ctx context.Context, bucket, key, uploadID string) error {
	if err := validateKey(key); err != nil {
		return err
	}
	var files []string
	err := s.update(ctx, func(tx *bolt.Tx, _ *eventBatch) error {
		files = nil
		data, err := bucketData(tx, bucket)
		if err != nil {
			return refuse(err)
		}
		if _, err := getUpload(data, key, uploadID); err != nil {
			return refuse(err)
		}
		parts, err := uploadParts(data, uploadID)
		if err != nil {
			return refuse(err)
		}
		files, err = deleteUpload(data, uploadID, parts)
		return err
	})
	if err != nil {
		return err
	}
	s.removeFiles(files)
	return nil
}

// ListParts returns parts numbered above marker, at most max of them. A
// negative max means 1000; max 0 returns no parts, only the upload, which is
// how callers look an upload up cheaply.
func (s *Store) ListParts(ctx context.Context, bucket, key, uploadID string, marker, max int) (sluice.PartsPage, error) {
	if max < 0 {
		max = sluice.MaxListKeys
	}
	var page sluice.PartsPage
	err := s.db.View(func(tx *bolt.Tx) error {
		data, err := bucketData(tx, bucket)
		if err != nil {
			return err
		}
		up, err := getUpload(data, key, uploadID)
		if err != nil {
			return err
		}
		page.Upload = up.upload(bucket, uploadID)
		prefix := []byte(uploadID)
		c := data.Bucket(subParts).Cursor()
		for k, v := c.Seek(partKey(uploadID, max0(marker)+1)); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			if len(k) != len(prefix)+4 {
				continue
			}
			if len(page.Parts) == max {
				page.IsTruncated = true
				break
			}
			var p partRecord
			if err := decodePart(v, &p); err != nil {
				return err
			}
			n := int(binary.BigEndian.Uint32(k[len(prefix):]))
			page.Parts = append(page.Parts, p.info(n))
			page.NextPartNumberMarker = n
		}
		return nil
	})
	return page, err
}

func max0(n int) int { return max(n, 0) }

// ListUploads returns uploads in S3 order: by key, then initiation time,
// then id. Uploads are few, so they are gathered and sorted per call. With
// UploadIDMarker, uploads of KeyMarker after that upload are included. A
// negative MaxUploads means 1000.
func (s *Store) ListUploads(ctx context.Context, bucket string, opts sluice.ListUploadsOptions) (sluice.UploadsPage, error) {
	if opts.MaxUploads < 0 {
		opts.MaxUploads = sluice.MaxListKeys
	}
	var all []sluice.Upload
	err := s.db.View(func(tx *bolt.Tx) error {
		data, err := bucketData(tx, bucket)
		if err != nil {
			return err
		}
		return data.Bucket(subUploads).ForEach(func(k, v []byte) error {
			var u uploadRecord
			if err := json.Unmarshal(v, &u); err != nil {
				return fmt.Errorf("decode upload %q: %w", k, err)
			}
			if strings.HasPrefix(u.Key, opts.Prefix) {
				all = append(all, u.upload(bucket, string(k)))
			}
			return nil
		})
	})
	if err != nil {
		return sluice.UploadsPage{}, err
	}
	slices.SortFunc(all, func(a, b sluice.Upload) int {
		return cmp.Or(strings.Compare(a.Key, b.Key), a.Initiated.Compare(b.Initiated), strings.Compare(a.UploadID, b.UploadID))
	})
	start := 0
	if opts.KeyMarker != "" {
		start = len(all)
		for i, u := range all {
			if u.Key > opts.KeyMarker {
				start = i
				break
			}
		}
		if opts.UploadIDMarker != "" {
			for i, u := range all {
				if u.Key == opts.KeyMarker && u.UploadID == opts.UploadIDMarker {
					start = i + 1
					break
				}
			}
		}
	}
	var page sluice.UploadsPage
	count := 0
	lastCP := ""
	for _, u := range all[start:] {
		if opts.Delimiter != "" {
			if i := strings.Index(u.Key[len(opts.Prefix):], opts.Delimiter); i >= 0 {
				cp := u.Key[:len(opts.Prefix)+i+len(opts.Delimiter)]
				if cp == lastCP || cp <= opts.KeyMarker {
					continue
				}
				if count == opts.MaxUploads {
					page.IsTruncated = true
					break
				}
				page.CommonPrefixes = append(page.CommonPrefixes, cp)
				page.NextKeyMarker, page.NextUploadIDMarker = cp, ""
				lastCP = cp
				count++
				continue
			}
		}
		if count == opts.MaxUploads {
			page.IsTruncated = true
			break
		}
		page.Uploads = append(page.Uploads, u)
		page.NextKeyMarker, page.NextUploadIDMarker = u.Key, u.UploadID
		count++
	}
	return page, nil
}
