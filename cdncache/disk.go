package cdncache

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"time"
)

// On-disk entry format (all integers little-endian):
//
//	magic    [4]byte "SLC1"
//	metaLen  uint32  length of the meta section
//	bodyLen  uint64  length of the body
//	bodyCRC  uint32  CRC-32C of the body
//	metaCRC  uint32  CRC-32C of the 20 bytes above followed by the meta section
//	meta     metaLen bytes
//	body     bodyLen bytes
//
// The meta section holds, as varints and length-prefixed strings: the write
// time, the key (scope, path, variant), the status, the Stored, Expires and
// LastModified times, the ETag and the header. Each file thus describes
// itself, and the index is rebuilt at start by reading only the fixed part
// and the meta section of every file. A file whose size is not exactly
// 24 + metaLen + bodyLen, or whose checksums disagree, is torn or corrupt:
// it is a miss and is removed.
const (
	fileMagic     = "SLC1"
	fixedLen      = 24
	maxMetaLen    = 1 << 20
	fileExt       = ".ent"
	diskLayoutDir = "v1"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

var errCorrupt = errors.New("corrupt cache file")

// appendString appends a uvarint length and s.
func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func timeNanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func nanosTime(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}

// encodeMeta returns the fixed part and the meta section of an entry's file.
func encodeMeta(k Key, e *Entry, written int64) ([]byte, error) {
	b := make([]byte, fixedLen, fixedLen+256+len(k.Scope)+len(k.Path)+len(k.Variant))
	b = binary.AppendVarint(b, written)
	b = appendString(b, k.Scope)
	b = appendString(b, k.Path)
	b = appendString(b, k.Variant)
	b = binary.AppendUvarint(b, uint64(max(e.Status, 0)))
	b = binary.AppendVarint(b, timeNanos(e.Stored))
	b = binary.AppendVarint(b, timeNanos(e.Expires))
	b = binary.AppendVarint(b, timeNanos(e.LastModified))
	b = appendString(b, e.ETag)
	b = binary.AppendUvarint(b, uint64(len(e.Header)))
	for name, vs := range e.Header {
		b = appendString(b, name)
		b = binary.AppendUvarint(b, uint64(len(vs)))
		for _, v := range vs {
			b = appendString(b, v)
		}
	}
	metaLen := len(b) - fixedLen
	if metaLen > maxMetaLen {
		return nil, fmt.Errorf("entry meta of %d bytes exceeds %d", metaLen, maxMetaLen)
	}
	copy(b, fileMagic)
	binary.LittleEndian.PutUint32(b[4:], uint32(metaLen))
	binary.LittleEndian.PutUint64(b[8:], uint64(len(e.Body)))
	binary.LittleEndian.PutUint32(b[16:], crc32.Checksum(e.Body, castagnoli))
	crc := crc32.Update(crc32.Checksum(b[:20], castagnoli), castagnoli, b[fixedLen:])
	binary.LittleEndian.PutUint32(b[20:], crc)
	return b, nil
}

// fileHead is the fixed part of a file, checked against its own bounds.
type fileHead struct {
	metaLen int
	bodyLen int64
	bodyCRC uint32
	metaCRC uint32
}

func parseFixed(b []byte, maxBody int64) (fileHead, error) {
	if len(b) < fixedLen || string(b[:4]) != fileMagic {
		return fileHead{}, errCorrupt
	}
	h := fileHead{
		metaLen: int(binary.LittleEndian.Uint32(b[4:])),
		bodyCRC: binary.LittleEndian.Uint32(b[16:]),
		metaCRC: binary.LittleEndian.Uint32(b[20:]),
	}
	bodyLen := binary.LittleEndian.Uint64(b[8:])
	if h.metaLen > maxMetaLen || bodyLen > uint64(maxBody) {
		return fileHead{}, errCorrupt
	}
	h.bodyLen = int64(bodyLen)
	return h, nil
}

// metaReader decodes the meta section; every read is bounds-checked, and
// the first failure sticks.
type metaReader struct {
	b   []byte
	bad bool
}

func (r *metaReader) uvarint() uint64 {
	if r.bad {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.bad = true
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *metaReader) varint() int64 {
	if r.bad {
		return 0
	}
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.bad = true
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *metaReader) str() string {
	n := r.uvarint()
	if r.bad || n > uint64(len(r.b)) {
		r.bad = true
		return ""
	}
	s := string(r.b[:n])
	r.b = r.b[n:]
	return s
}

// decodeMeta decodes a meta section into the key, the entry without its
// body, and the write time.
func decodeMeta(meta []byte) (Key, *Entry, int64, error) {
	r := &metaReader{b: meta}
	written := r.varint()
	k := Key{Scope: r.str(), Path: r.str(), Variant: r.str()}
	status := r.uvarint()
	e := &Entry{
		Stored:       nanosTime(r.varint()),
		Expires:      nanosTime(r.varint()),
		LastModified: nanosTime(r.varint()),
		ETag:         r.str(),
	}
	if status > 999 {
		r.bad = true
	}
	e.Status = int(status)
	// Every header name and value takes at least one byte, which bounds the
	// counts by what is left and keeps arbitrary input from allocating much.
	names := r.uvarint()
	if names > uint64(len(r.b)) {
		r.bad = true
	}
	if !r.bad && names > 0 {
		e.Header = make(http.Header, names)
		for i := uint64(0); i < names && !r.bad; i++ {
			name := r.str()
			n := r.uvarint()
			if n > uint64(len(r.b)) {
				r.bad = true
				break
			}
			vs := make([]string, 0, n)
			for j := uint64(0); j < n && !r.bad; j++ {
				vs = append(vs, r.str())
			}
			e.Header[name] = append(e.Header[name], vs...)
		}
	}
	if r.bad || len(r.b) != 0 {
		return Key{}, nil, 0, errCorrupt
	}
	if e.Header == nil {
		e.Header = http.Header{}
	}
	return k, e, written, nil
}

// decodeHead checks the fixed part and the meta section at the start of b
// (which may be a prefix of the file) and returns the key, the entry without
// its body, the write time and the expected file length.
func decodeHead(b []byte, maxBody int64) (Key, *Entry, int64, fileHead, error) {
	h, err := parseFixed(b, maxBody)
	if err != nil {
		return Key{}, nil, 0, h, err
	}
	if len(b) < fixedLen+h.metaLen {
		return Key{}, nil, 0, h, errCorrupt
	}
	meta := b[fixedLen : fixedLen+h.metaLen]
	if crc32.Update(crc32.Checksum(b[:20], castagnoli), castagnoli, meta) != h.metaCRC {
		return Key{}, nil, 0, h, errCorrupt
	}
	k, e, written, err := decodeMeta(meta)
	return k, e, written, h, err
}

// decodeEntry decodes a whole file. The body aliases b.
func decodeEntry(b []byte, maxBody int64) (Key, *Entry, error) {
	k, e, _, h, err := decodeHead(b, maxBody)
	if err != nil {
		return Key{}, nil, err
	}
	if int64(len(b)) != int64(fixedLen+h.metaLen)+h.bodyLen {
		return Key{}, nil, errCorrupt
	}
	body := b[fixedLen+h.metaLen:]
	if crc32.Checksum(body, castagnoli) != h.bodyCRC {
		return Key{}, nil, errCorrupt
	}
	e.Body = body
	return k, e, nil
}

// disk is the on-disk tier's file handling; the index lives in Cache.
//
// Layout:
//
//	DIR/v1/xx/<random>.ent   one entry per file, xx = its first byte
//	DIR/v1/tmp/                     files being written; emptied at start
//	DIR/v1/LOCK                     flock held while a cache uses DIR
//
// Every write goes to a new unique name, so removing a replaced or
// invalidated file can never remove a newer one of the same key.
type disk struct {
	root    string
	tmp     string
	maxBody int64
	lock    *os.File
}

func openDisk(dir string, maxBody int64) (*disk, error) {
	d := &disk{
		root:    filepath.Join(dir, diskLayoutDir),
		maxBody: maxBody,
	}
	d.tmp = filepath.Join(d.root, "tmp")
	if err := os.MkdirAll(d.root, 0o755); err != nil {
		return nil, fmt.Errorf("create cache dir: %w", err)
	}
	lock, err := lockDir(d.root)
	if err != nil {
		return nil, err
	}
	d.lock = lock
	if err := os.RemoveAll(d.tmp); err != nil {
		d.close()
		return nil, fmt.Errorf("clear cache temp dir: %w", err)
	}
	if err := os.MkdirAll(d.tmp, 0o755); err != nil {
		d.close()
		return nil, fmt.Errorf("create cache dir: %w", err)
	}
	return d, nil
}

// close releases the directory for another cache.
func (d *disk) close() {
	if d.lock != nil {
		d.lock.Close()
		d.lock = nil
	}
}

// shards lists the shard directories that exist; the others are created
// by the first write into them.
func (d *disk) shards() ([]string, error) {
	ents, err := os.ReadDir(d.root)
	if err != nil {
		return nil, fmt.Errorf("read cache dir: %w", err)
	}
	var out []string
	for _, de := range ents {
		if n := de.Name(); de.IsDir() && len(n) == 2 && isHex(n[0]) && isHex(n[1]) {
			out = append(out, n)
		}
	}
	return out, nil
}

func isHex(b byte) bool { return '0' <= b && b <= '9' || 'a' <= b && b <= 'f' }

// publish renames a written temporary file to name.
func (d *disk) publish(tmp, name string) error {
	p := d.path(name)
	err := os.Rename(tmp, p)
	if errors.Is(err, os.ErrNotExist) {
		if err = os.MkdirAll(filepath.Dir(p), 0o755); err == nil {
			err = os.Rename(tmp, p)
		}
	}
	return err
}

// newName returns a fresh random relative file name. Names never derive
// from keys: the file carries its key, and no key can reach outside DIR.
func (d *disk) newName() string {
	a, b := rand.Uint64(), rand.Uint64()
	return fmt.Sprintf("%02x/%016x%016x%s", byte(a>>56), a, b, fileExt)
}

func (d *disk) path(name string) string { return filepath.Join(d.root, filepath.FromSlash(name)) }

// writeTemp writes e to a temporary file and returns its path and length.
// No fsync: a cache may lose entries in a power cut, and the checksums
// catch a file the kernel never finished writing.
func (d *disk) writeTemp(k Key, e *Entry, written int64) (string, int64, error) {
	head, err := encodeMeta(k, e, written)
	if err != nil {
		return "", 0, err
	}
	f, err := os.CreateTemp(d.tmp, "w-*")
	if err != nil {
		return "", 0, fmt.Errorf("create cache file: %w", err)
	}
	_, err = f.Write(head)
	if err == nil {
		_, err = f.Write(e.Body)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		return "", 0, fmt.Errorf("write cache file: %w", err)
	}
	return f.Name(), int64(len(head) + len(e.Body)), nil
}

// read reads and fully validates the file name.
func (d *disk) read(name string) (Key, *Entry, error) {
	b, err := os.ReadFile(d.path(name))
	if err != nil {
		return Key{}, nil, err
	}
	return decodeEntry(b, d.maxBody)
}

// scanned is one valid file found at start.
type scanned struct {
	key     Key
	name    string
	size    int64
	bodyOff int64
	written int64
	mtime   int64
}

// scanFile validates the head of one file against its size.
func (d *disk) scanFile(name string) (scanned, error) {
	f, err := os.Open(d.path(name))
	if err != nil {
		return scanned{}, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return scanned{}, err
	}
	buf := make([]byte, 4096)
	n, err := io.ReadFull(f, buf)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return scanned{}, err
	}
	buf = buf[:n]
	h, err := parseFixed(buf, d.maxBody)
	if err != nil {
		return scanned{}, err
	}
	if need := fixedLen + h.metaLen; need > len(buf) {
		more := make([]byte, need)
		copy(more, buf)
		if _, err := io.ReadFull(f, more[len(buf):]); err != nil {
			return scanned{}, errCorrupt
		}
		buf = more
	}
	k, _, written, h, err := decodeHead(buf, d.maxBody)
	if err != nil {
		return scanned{}, err
	}
	if st.Size() != int64(fixedLen+h.metaLen)+h.bodyLen {
		return scanned{}, errCorrupt
	}
	return scanned{key: k, name: name, size: st.Size(), bodyOff: int64(fixedLen + h.metaLen), written: written, mtime: st.ModTime().UnixNano()}, nil
}

// scanDir returns the valid files of one shard directory and removes the
// invalid ones.
func (d *disk) scanDir(shard string, corrupt func(name string, err error)) ([]scanned, error) {
	ents, err := os.ReadDir(filepath.Join(d.root, shard))
	if err != nil {
		return nil, fmt.Errorf("read cache dir: %w", err)
	}
	out := make([]scanned, 0, len(ents))
	for _, de := range ents {
		name := shard + "/" + de.Name()
		if !de.Type().IsRegular() || filepath.Ext(de.Name()) != fileExt {
			continue
		}
		s, err := d.scanFile(name)
		if err != nil {
			corrupt(name, err)
			os.Remove(d.path(name))
			continue
		}
		out = append(out, s)
	}
	return out, nil
}

// syncDirs fsyncs the shard directories of names, so that removals are
// durable even across a power cut.
func (d *disk) syncDirs(names []string) {
	seen := make(map[string]bool)
	for _, n := range names {
		dir := filepath.Dir(d.path(n))
		if seen[dir] {
			continue
		}
		seen[dir] = true
		if f, err := os.Open(dir); err == nil {
			f.Sync()
			f.Close()
		}
	}
}
