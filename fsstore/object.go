package fsstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/sluicehq/sluice"
	bolt "go.etcd.io/bbolt"
)

// validateKey applies S3's key rules: non-empty, at most 1024 bytes, UTF-8.
func validateKey(key string) error {
	switch {
	case key == "":
		return sluice.Errorf(sluice.ErrInvalidArgument, "Object key must not be empty.")
	case len(key) > sluice.MaxKeyLength:
		e := sluice.Errorf(sluice.ErrKeyTooLong, "Your key is too long").With("Size", fmt.Sprint(len(key))).With("MaxSizeAllowed", fmt.Sprint(sluice.MaxKeyLength))
		return e
	case !utf8.ValidString(key):
		return sluice.Errorf(sluice.ErrInvalidArgument, "Object key is not valid UTF-8.")
	}
	return nil
}

func errNoSuchKey(key string) error {
	e := sluice.Errorf(sluice.ErrNoSuchKey, "The specified key does not exist.").With("Key", key)
	e.Resource = key
	return e
}

// checkConditions evaluates write preconditions against the current record
// (nil when the key has no object), inside the committing transaction.
func checkConditions(c sluice.Conditions, key string, cur *objectRecord) error {
	if c.IfNoneMatch != "" {
		if c.IfNoneMatch != "*" {
			return sluice.Errorf(sluice.ErrNotImplemented, "If-None-Match supports only \"*\" on writes.")
		}
		if cur != nil {
			return sluice.Errorf(sluice.ErrPreconditionFailed, "At least one of the pre-conditions you specified did not hold").With("Condition", "If-None-Match")
		}
	}
	if c.IfMatch != "" {
		if cur == nil {
			return errNoSuchKey(key)
		}
		if c.IfMatch != "*" && unquote(c.IfMatch) != unquote(cur.ETag) {
			return sluice.Errorf(sluice.ErrPreconditionFailed, "At least one of the pre-conditions you specified did not hold").With("Condition", "If-Match")
		}
	}
	return nil
}

func unquote(etag string) string {
	etag = strings.TrimPrefix(etag, "W/")
	return strings.Trim(etag, `"`)
}

// checkBucket fails fast with NoSuchBucket before bytes are received; the
// commit checks again.
func (s *Store) checkBucket(name string) error {
	_, err := s.bucketConfig(name, "")
	return err
}

// PutObject writes a whole object; see sluice.Store.
func (s *Store) PutObject(ctx context.Context, in *sluice.PutObjectInput) (sluice.ObjectInfo, error) {
	if err := validateKey(in.Key); err != nil {
		return sluice.ObjectInfo{}, err
	}
	if err := s.checkBucket(in.Bucket); err != nil {
		return sluice.ObjectInfo{}, err
	}
	r, err := s.receive(ctx, in.Body, in.Size, sluice.MaxPutSize, s.cfg.InlineMax, in.ChecksumAlgorithm)
	if err != nil {
		return sluice.ObjectInfo{}, err
	}
	if in.Verify != nil {
		if err := in.Verify(r.sums); err != nil {
			s.discard(&r)
			return sluice.ObjectInfo{}, err
		}
	}
	rec := &objectRecord{
		Size:     r.size,
		ETag:     quoteETag(r.sums.MD5),
		Meta:     normalizeMeta(in.Meta),
		Checksum: r.sums,
		Files:    r.files(),
	}
	name := in.EventName
	if name == "" {
		name = sluice.EventObjectCreatedPut
	}
	body := r.body()
	g := guardOf(ctx)
	var (
		old []string
		fan *FanoutTx
	)
	err = s.commit(&commitReq{
		fn: func(tx *bolt.Tx, ev *eventBatch) error {
			old, fan = nil, nil
			data, err := bucketData(tx, in.Bucket)
			if err != nil {
				return refuse(err)
			}
			if err := checkGuard(tx, g); err != nil {
				return err
			}
			if old, err = commitObject(tx, ev, data, in.Bucket, in.Key, rec, body, in.Conditions, name); err != nil {
				return err
			}
			if err := recordGuard(tx, g, unquote(rec.ETag)); err != nil {
				return err
			}
			if g == nil {
				// A guarded write is a consumer's, never a client's.
				fan, err = s.fanOut(tx, ev, data, in.Bucket, in.Key, rec, body)
			}
			return err
		},
		ev:   s.events(ctx),
		dirs: r.dirs(s),
		size: len(body),
		lazy: joinsCommits(ctx),
	})
	if err != nil {
		s.discard(&r)
		return sluice.ObjectInfo{}, err
	}
	s.done(&r)
	s.removeFiles(old)
	s.removeFiles(fan.done())
	return rec.info(in.Bucket, in.Key), nil
}

// currentObject returns the record under key, or nil when there is none.
func currentObject(objs *bolt.Bucket, key string) (*objectRecord, error) {
	v := objs.Get([]byte(key))
	if v == nil {
		return nil, nil
	}
	cur := new(objectRecord)
	if err := decodeObject(v, cur); err != nil {
		return nil, fmt.Errorf("decode object %q: %w", key, err)
	}
	return cur, nil
}

// commitObject checks conditions and then records rec (and body, for an
// inline object) under key; see replaceObject. Failed checks are refused.
func commitObject(tx *bolt.Tx, ev *eventBatch, data *bolt.Bucket, bucket, key string, rec *objectRecord, body []byte, cond sluice.Conditions, eventName string) ([]string, error) {
	cur, err := currentObject(data.Bucket(subObjects), key)
	if err != nil {
		return nil, refuse(err)
	}
	if err := checkConditions(cond, key, cur); err != nil {
		return nil, refuse(err)
	}
	return replaceObject(tx, ev, data, bucket, key, rec, body, cur, eventName)
}

// replaceObject records rec under key in place of cur, with body as its
// inline bytes when rec has no files, and returns the files of cur that no
// record refers to any more, for removal after the commit. It stamps rec
// with the commit time so that LastModified follows commit order.
func replaceObject(tx *bolt.Tx, ev *eventBatch, data *bolt.Bucket, bucket, key string, rec *objectRecord, body []byte, cur *objectRecord, eventName string) ([]string, error) {
	rec.Modified = now()
	// In a versioned bucket cur usually stays, as a noncurrent version.
	replace := cur != nil
	var old []string
	if state := ev.versionState(data); state != nil {
		var err error
		if replace, old, err = versionWrite(tx, data, key, rec, cur, state); err != nil {
			return nil, err
		}
	}
	v, err := encodeObject(rec)
	if err != nil {
		return nil, refuse(err)
	}
	objs := data.Bucket(subObjects)
	appending := cur == nil && sortsLast(objs, key)
	if appending {
		objs.FillPercent = appendFillPercent
	}
	if err := objs.Put([]byte(key), v); err != nil {
		return nil, err
	}
	if len(body) > 0 {
		inl, err := data.CreateBucketIfNotExists(subInline)
		if err != nil {
			return nil, err
		}
		if appending {
			inl.FillPercent = appendFillPercent
		}
		if err := inl.Put([]byte(key), body); err != nil {
			return nil, err
		}
	} else if cur != nil && cur.inline() {
		if err := deleteInline(data, key); err != nil {
			return nil, err
		}
	}
	if err := ev.add(tx, eventName, bucket, key, rec); err != nil {
		return nil, err
	}
	if !replace {
		return old, nil
	}
	gone, err := releaseFiles(tx, cur.Files)
	return append(old, gone...), err
}

// appendFillPercent is the fill factor of the object index and the inline
// bodies while keys are appended at their end (sequence numbers,
// timestamps): a node that splits then leaves a full page behind, where
// bbolt's default of one half would leave pages half empty that no later
// key ever lands in. That halves the pages of such a bucket, and with them
// the branch entries every later commit reads and rewrites. bbolt applies a
// bucket's fill factor at commit, to that transaction only.
const appendFillPercent = 1.0

// sortsLast reports whether key sorts after every key in b, that is,
// whether putting it appends.
func sortsLast(b *bolt.Bucket, key string) bool {
	last, _ := b.Cursor().Last()
	return last == nil || string(last) < key
}

func deleteInline(data *bolt.Bucket, key string) error {
	if inl := data.Bucket(subInline); inl != nil {
		return inl.Delete([]byte(key))
	}
	return nil
}

// lookup reads an object's record and, when body is set and the object is
// inline, a copy of its bytes, in one consistent view. When the key's
// latest version is a delete marker it returns the marker with NoSuchKey.
func (s *Store) lookup(bucket, key string, body bool) (*objectRecord, []byte, error) {
	if err := validateKey(key); err != nil {
		return nil, nil, err
	}
	var (
		rec  objectRecord
		data []byte
	)
	err := s.db.View(func(tx *bolt.Tx) error {
		b, err := bucketData(tx, bucket)
		if err != nil {
			return err
		}
		state := s.versionState(b)
		v := b.Bucket(subObjects).Get([]byte(key))
		if v == nil {
			if state != nil {
				m, err := latestMarker(b, key)
				if err != nil {
					return err
				}
				if m != nil {
					rec = *m
				}
			}
			return errNoSuchKey(key)
		}
		if err := decodeObject(v, &rec); err != nil {
			return err
		}
		nullIfVersioned(state, &rec)
		if !body || !rec.inline() || rec.Size == 0 {
			return nil
		}
		var d []byte
		if inl := b.Bucket(subInline); inl != nil {
			d = inl.Get([]byte(key))
		}
		if int64(len(d)) != rec.Size {
			return fmt.Errorf("inline body of %q: %w", key, errCorrupt)
		}
		data = bytes.Clone(d)
		return nil
	})
	if err != nil {
		if rec.Marker {
			return &rec, nil, err
		}
		return nil, nil, err
	}
	return &rec, data, nil
}

// HeadObject returns the object's info, or NoSuchKey.
func (s *Store) HeadObject(ctx context.Context, bucket, key string) (sluice.ObjectInfo, error) {
	rec, _, err := s.lookup(bucket, key, false)
	if err != nil {
		return sluice.ObjectInfo{}, err
	}
	return rec.info(bucket, key), nil
}

// OpenObject returns a snapshot of the object: its info and either a copy
// of its inline bytes or open handles on its files. A file can disappear
// between the metadata read and the open only because a newer commit
// replaced the object, so the lookup is retried.
func (s *Store) OpenObject(ctx context.Context, bucket, key string) (sluice.Object, error) {
	return s.openRecord(ctx, bucket, key, "", func() (*objectRecord, []byte, error) { return s.lookup(bucket, key, true) })
}

// openRecord opens what lookup finds, retrying while the files it names
// disappear under a newer commit; versionID only names it in errors.
func (s *Store) openRecord(ctx context.Context, bucket, key, versionID string, lookup func() (*objectRecord, []byte, error)) (sluice.Object, error) {
	var prev []string
	for {
		rec, data, err := lookup()
		if err != nil {
			return nil, err
		}
		if rec.inline() {
			return &object{info: rec.info(bucket, key), data: data}, nil
		}
		files, err := s.openFiles(rec.Files)
		if err == nil {
			return newObject(rec.info(bucket, key), files, partSizes(rec)), nil
		}
		if !errors.Is(err, fs.ErrNotExist) || slices.Equal(prev, rec.Files) {
			if versionID != "" {
				return nil, fmt.Errorf("open version %q of %q: %w", versionID, key, err)
			}
			return nil, fmt.Errorf("open object %q: %w", key, err)
		}
		prev = rec.Files
		if err := ctx.Err(); err != nil {
			return nil, err
		}
	}
}

func (s *Store) openFiles(ids []string) ([]*os.File, error) {
	files := make([]*os.File, 0, len(ids))
	for _, id := range ids {
		f, err := os.Open(s.objectPath(id))
		if err != nil {
			for _, f := range files {
				f.Close()
			}
			return nil, err
		}
		files = append(files, f)
	}
	return files, nil
}

func partSizes(rec *objectRecord) []int64 {
	if len(rec.Parts) == 0 {
		return []int64{rec.Size}
	}
	sizes := make([]int64, len(rec.Parts))
	for i, p := range rec.Parts {
		sizes[i] = p.Size
	}
	return sizes
}

// DeleteObject removes an object; a missing key succeeds without an event.
// In a versioned bucket it adds a delete marker, as S3 does.
func (s *Store) DeleteObject(ctx context.Context, bucket, key string) error {
	_, err := s.DeleteVersion(ctx, bucket, key, "")
	return err
}

// PutObjectTags replaces the object's tag set; nil or empty removes every
// tag. The object's bytes, ETag and LastModified do not change.
func (s *Store) PutObjectTags(ctx context.Context, bucket, key string, tags []sluice.Tag) (sluice.ObjectInfo, error) {
	return s.PutVersionTags(ctx, bucket, key, "", tags)
}

// ListObjects returns one page of keys in byte order. With a delimiter,
// keys sharing a prefix up to the delimiter are rolled into one common
// prefix and the cursor seeks past all of them at once. MaxKeys 0 returns an
// empty page (truncated when keys remain); a negative MaxKeys means 1000.
func (s *Store) ListObjects(ctx context.Context, bucket string, opts sluice.ListOptions) (sluice.ListPage, error) {
	if opts.MaxKeys < 0 {
		opts.MaxKeys = sluice.MaxListKeys
	}
	var page sluice.ListPage
	err := s.db.View(func(tx *bolt.Tx) error {
		data, err := bucketData(tx, bucket)
		if err != nil {
			return err
		}
		objs := data.Bucket(subObjects)
		versioned := s.versionState(data) != nil
		prefix := []byte(opts.Prefix)
		after := []byte(opts.After)
		delim := []byte(opts.Delimiter)
		c := objs.Cursor()
		var k, v []byte
		if bytes.Compare(after, prefix) >= 0 {
			k, v = c.Seek(after)
			if k != nil && bytes.Equal(k, after) {
				k, v = c.Next()
			}
		} else {
			k, v = c.Seek(prefix)
		}
		if len(delim) == 0 {
			page.Objects = make([]sluice.ObjectInfo, 0, min(opts.MaxKeys, sluice.MaxListKeys))
		}
		count := 0
		for k != nil && bytes.HasPrefix(k, prefix) {
			if len(delim) > 0 {
				if i := bytes.Index(k[len(prefix):], delim); i >= 0 {
					cp := k[:len(prefix)+i+len(delim)]
					if bytes.Compare(cp, after) > 0 {
						if count == opts.MaxKeys {
							page.IsTruncated = true
							break
						}
						page.CommonPrefixes = append(page.CommonPrefixes, string(cp))
						page.NextAfter = string(cp)
						count++
					}
					next := prefixEnd(cp)
					if next == nil {
						break
					}
					k, v = c.Seek(next)
					continue
				}
			}
			if count == opts.MaxKeys {
				page.IsTruncated = true
				break
			}
			var rec objectRecord
			if err := decodeObjectFiles(v, &rec, false); err != nil {
				return fmt.Errorf("decode object %q: %w", k, err)
			}
			if versioned && rec.VersionID == "" {
				rec.VersionID = sluice.NullVersionID
			}
			key := string(k)
			page.Objects = append(page.Objects, rec.info(bucket, key))
			page.NextAfter = key
			count++
			k, v = c.Next()
		}
		if len(page.Objects) == 0 {
			page.Objects = nil
		}
		return nil
	})
	return page, err
}

// prefixEnd returns the smallest key greater than every key starting with
// p, or nil when there is none.
func prefixEnd(p []byte) []byte {
	end := bytes.Clone(p)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}
