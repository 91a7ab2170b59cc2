package storetest

import (
	"bytes"
	"cmp"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"hash/crc64"
	"slices"
	"strings"
	"testing"

	gocmp "github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/sluicehq/sluice"
)

func createUpload(t *testing.T, s sluice.Store, in *sluice.CreateUploadInput) sluice.Upload {
	t.Helper()
	up, err := s.CreateUpload(context.Background(), in)
	if err != nil {
		t.Fatalf("CreateUpload(%q): %v", in.Key, err)
	}
	return up
}

func uploadPart(t *testing.T, s sluice.Store, up sluice.Upload, n int, body []byte) sluice.PartInfo {
	t.Helper()
	p, err := s.UploadPart(context.Background(), &sluice.UploadPartInput{
		Bucket: up.Bucket, Key: up.Key, UploadID: up.UploadID, PartNumber: n, Body: bytes.NewReader(body), Size: int64(len(body)),
	})
	if err != nil {
		t.Fatalf("UploadPart(%d): %v", n, err)
	}
	return p
}

func completeOf(parts ...sluice.PartInfo) []sluice.CompletePart {
	out := make([]sluice.CompletePart, len(parts))
	for i, p := range parts {
		out[i] = sluice.CompletePart{Number: p.Number, ETag: p.ETag}
	}
	return out
}

// multipartETag computes the expected ETag independently of the store.
func multipartETag(bodies ...[]byte) string {
	h := md5.New()
	for _, b := range bodies {
		sum := md5.Sum(b)
		h.Write(sum[:])
	}
	return fmt.Sprintf(`"%s-%d"`, hex.EncodeToString(h.Sum(nil)), len(bodies))
}

func testMultipart(t *testing.T, s sluice.Store) {
	ctx := context.Background()
	b := newBucket(t, s)
	put(t, s, b, "big.bin", []byte("to be replaced"))
	meta := sluice.ObjectMeta{ContentType: "application/octet-stream", User: map[string]string{"origin": "multipart"}}
	up := createUpload(t, s, &sluice.CreateUploadInput{Bucket: b, Key: "big.bin", Meta: meta})
	if up.UploadID == "" || up.Bucket != b || up.Key != "big.bin" || up.Initiated.IsZero() {
		t.Fatalf("CreateUpload = %+v", up)
	}
	if strings.ContainsAny(up.UploadID, "/?&#% +=") {
		t.Errorf("upload id %q is not URL-safe", up.UploadID)
	}
	p1body := randomBytes(sluice.MinPartSize)
	p2body := randomBytes(sluice.MinPartSize + 1)
	p3body := []byte("tail")
	// Parts may arrive in any order.
	p3 := uploadPart(t, s, up, 3, p3body)
	p1 := uploadPart(t, s, up, 1, p1body)
	p2 := uploadPart(t, s, up, 2, p2body)
	for _, c := range []struct {
		p    sluice.PartInfo
		n    int
		body []byte
	}{{p1, 1, p1body}, {p2, 2, p2body}, {p3, 3, p3body}} {
		if c.p.Number != c.n || c.p.Size != int64(len(c.body)) || c.p.ETag != etagOf(c.body) {
			t.Errorf("part %d = %+v", c.n, c.p)
		}
	}
	info, err := s.CompleteUpload(ctx, &sluice.CompleteUploadInput{Bucket: b, Key: "big.bin", UploadID: up.UploadID, Parts: completeOf(p1, p2, p3)})
	if err != nil {
		t.Fatalf("CompleteUpload: %v", err)
	}
	whole := slices.Concat(p1body, p2body, p3body)
	if info.ETag != multipartETag(p1body, p2body, p3body) {
		t.Errorf("ETag = %s, want %s", info.ETag, multipartETag(p1body, p2body, p3body))
	}
	if info.Size != int64(len(whole)) || info.Key != "big.bin" || info.Bucket != b {
		t.Errorf("CompleteUpload info = size %d key %q bucket %q", info.Size, info.Key, info.Bucket)
	}
	if diff := gocmp.Diff(meta, info.Meta); diff != "" {
		t.Errorf("meta from CreateUpload (-want +got):\n%s", diff)
	}
	wantParts := []sluice.PartInfo{p1, p2, p3}
	if diff := gocmp.Diff(wantParts, info.Parts, cmpopts.IgnoreFields(sluice.PartInfo{}, "LastModified")); diff != "" {
		t.Errorf("Parts (-want +got):\n%s", diff)
	}
	head, err := s.HeadObject(ctx, b, "big.bin")
	if err != nil {
		t.Fatalf("HeadObject: %v", err)
	}
	if diff := gocmp.Diff(info, head); diff != "" {
		t.Errorf("HeadObject differs from CompleteUpload (-complete +head):\n%s", diff)
	}
	obj, err := s.OpenObject(ctx, b, "big.bin")
	if err != nil {
		t.Fatalf("OpenObject: %v", err)
	}
	defer obj.Close()
	if got := readAll(t, obj, 0, -1); !bytes.Equal(got, whole) {
		t.Error("completed object bytes differ from the parts")
	}
	// Ranges across part boundaries.
	for _, r := range []struct{ off, n int64 }{
		{sluice.MinPartSize - 3, 6}, {sluice.MinPartSize*2 - 1, 5}, {int64(len(whole)) - 4, 4}, {0, int64(len(whole))}, {sluice.MinPartSize, 1},
	} {
		if got := readAll(t, obj, r.off, r.n); !bytes.Equal(got, whole[r.off:r.off+r.n]) {
			t.Errorf("range %d+%d differs", r.off, r.n)
		}
	}
	uploads, err := s.ListUploads(ctx, b, sluice.ListUploadsOptions{MaxUploads: 1000})
	if err != nil || len(uploads.Uploads) != 0 {
		t.Errorf("ListUploads after complete = %+v, %v", uploads, err)
	}

	// A completion may use a subset of the uploaded parts.
	up2 := createUpload(t, s, &sluice.CreateUploadInput{Bucket: b, Key: "subset"})
	q1 := uploadPart(t, s, up2, 1, p1body)
	uploadPart(t, s, up2, 2, []byte("skipped"))
	q5 := uploadPart(t, s, up2, 5, p3body)
	info, err = s.CompleteUpload(ctx, &sluice.CompleteUploadInput{Bucket: b, Key: "subset", UploadID: up2.UploadID, Parts: completeOf(q1, q5)})
	if err != nil {
		t.Fatalf("CompleteUpload(subset): %v", err)
	}
	if got, _ := get(t, s, b, "subset"); !bytes.Equal(got, slices.Concat(p1body, p3body)) || info.ETag != multipartETag(p1body, p3body) {
		t.Errorf("subset completion: %d bytes, ETag %s", len(got), info.ETag)
	}

	// A single small part is a valid upload; completion ETags may be unquoted.
	up3 := createUpload(t, s, &sluice.CreateUploadInput{Bucket: b, Key: "one"})
	r1 := uploadPart(t, s, up3, 1, []byte("only"))
	info, err = s.CompleteUpload(ctx, &sluice.CompleteUploadInput{Bucket: b, Key: "one", UploadID: up3.UploadID,
		Parts: []sluice.CompletePart{{Number: 1, ETag: strings.Trim(r1.ETag, `"`)}}})
	if err != nil || info.ETag != multipartETag([]byte("only")) {
		t.Errorf("single-part completion = %+v, %v", info, err)
	}
}

// crc64NVME is CRC-64/NVME computed with the standard library, checked
// against the catalogue value below before use.
var crc64NVME = crc64.MakeTable(0x9a6c9329ac4bc9b5)

func testMultipartChecksums(t *testing.T, s sluice.Store) {
	ctx := context.Background()
	if got := crc64.Checksum([]byte("123456789"), crc64NVME); got != 0xae8b14860a799888 {
		t.Fatalf("test's CRC-64/NVME check value = %x", got)
	}
	b := newBucket(t, s)
	p1 := randomBytes(sluice.MinPartSize)
	p2 := randomBytes(1000)
	whole := slices.Concat(p1, p2)
	crc32c := crc32.MakeTable(crc32.Castagnoli)
	b64 := func(raw []byte) string { return base64.StdEncoding.EncodeToString(raw) }
	be32 := func(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }
	sha := func(b []byte) []byte { s := sha256.Sum256(b); return s[:] }

	tests := []struct {
		algorithm, typ string
		wantType       string
		wantPart       func([]byte) string
		want           string
	}{
		{sluice.ChecksumCRC32C, "", sluice.ChecksumTypeComposite,
			func(b []byte) string { return b64(be32(crc32.Checksum(b, crc32c))) },
			b64(be32(crc32.Checksum(slices.Concat(be32(crc32.Checksum(p1, crc32c)), be32(crc32.Checksum(p2, crc32c))), crc32c))) + "-2"},
		{sluice.ChecksumCRC32C, sluice.ChecksumTypeFullObject, sluice.ChecksumTypeFullObject,
			func(b []byte) string { return b64(be32(crc32.Checksum(b, crc32c))) },
			b64(be32(crc32.Checksum(whole, crc32c)))},
		{sluice.ChecksumCRC32, sluice.ChecksumTypeFullObject, sluice.ChecksumTypeFullObject,
			func(b []byte) string { return b64(be32(crc32.ChecksumIEEE(b))) },
			b64(be32(crc32.ChecksumIEEE(whole)))},
		{sluice.ChecksumCRC64NVME, "", sluice.ChecksumTypeFullObject,
			func(b []byte) string { return b64(binary.BigEndian.AppendUint64(nil, crc64.Checksum(b, crc64NVME))) },
			b64(binary.BigEndian.AppendUint64(nil, crc64.Checksum(whole, crc64NVME)))},
		{sluice.ChecksumCRC32, sluice.ChecksumTypeComposite, sluice.ChecksumTypeComposite,
			func(b []byte) string { return b64(be32(crc32.ChecksumIEEE(b))) },
			b64(be32(crc32.ChecksumIEEE(slices.Concat(be32(crc32.ChecksumIEEE(p1)), be32(crc32.ChecksumIEEE(p2)))))) + "-2"},
		{sluice.ChecksumSHA256, "", sluice.ChecksumTypeComposite,
			func(b []byte) string { return b64(sha(b)) },
			b64(sha(slices.Concat(sha(p1), sha(p2)))) + "-2"},
	}
	for _, tc := range tests {
		t.Run(tc.algorithm+" "+cmp.Or(tc.typ, "default"), func(t *testing.T) {
			key := "k-" + tc.algorithm + "-" + tc.typ
			up := createUpload(t, s, &sluice.CreateUploadInput{Bucket: b, Key: key, ChecksumAlgorithm: tc.algorithm, ChecksumType: tc.typ})
			if up.ChecksumAlgorithm != tc.algorithm || up.ChecksumType != tc.wantType {
				t.Errorf("upload checksum = %s %s, want %s %s", up.ChecksumAlgorithm, up.ChecksumType, tc.algorithm, tc.wantType)
			}
			part1 := uploadPart(t, s, up, 1, p1)
			part2 := uploadPart(t, s, up, 2, p2)
			if part1.Checksum.Algorithm != tc.algorithm || part1.Checksum.Value != tc.wantPart(p1) || part2.Checksum.Value != tc.wantPart(p2) {
				t.Errorf("part checksums = %+v, %+v", part1.Checksum, part2.Checksum)
			}
			parts := completeOf(part1, part2)
			parts[0].Checksum = "AAAAAA=="
			_, err := s.CompleteUpload(ctx, &sluice.CompleteUploadInput{Bucket: b, Key: key, UploadID: up.UploadID, Parts: parts})
			wantCode(t, "CompleteUpload with a wrong part checksum", err, sluice.ErrInvalidPart)
			parts[0].Checksum = part1.Checksum.Value
			parts[1].Checksum = part2.Checksum.Value
			info, err := s.CompleteUpload(ctx, &sluice.CompleteUploadInput{Bucket: b, Key: key, UploadID: up.UploadID, Parts: parts})
			if err != nil {
				t.Fatalf("CompleteUpload: %v", err)
			}
			want := sluice.Checksums{Algorithm: tc.algorithm, Value: tc.want, Type: tc.wantType}
			if diff := gocmp.Diff(want, info.Checksum, cmpopts.IgnoreFields(sluice.Checksums{}, "MD5")); diff != "" {
				t.Errorf("object checksum (-want +got):\n%s", diff)
			}
		})
	}

	for _, bad := range []struct{ algorithm, typ string }{
		{sluice.ChecksumSHA256, sluice.ChecksumTypeFullObject},
		{sluice.ChecksumSHA1, sluice.ChecksumTypeFullObject},
		{sluice.ChecksumCRC64NVME, sluice.ChecksumTypeComposite},
		{"MD4", ""},
		{sluice.ChecksumCRC32, "PARTIAL"},
	} {
		_, err := s.CreateUpload(ctx, &sluice.CreateUploadInput{Bucket: b, Key: "bad", ChecksumAlgorithm: bad.algorithm, ChecksumType: bad.typ})
		if err == nil {
			t.Errorf("CreateUpload(%s, %s) succeeded, want an error", bad.algorithm, bad.typ)
		}
	}
}

func testMultipartErrors(t *testing.T, s sluice.Store) {
	ctx := context.Background()
	b := newBucket(t, s)
	put(t, s, b, "exists", []byte("already here"))
	big := randomBytes(sluice.MinPartSize)
	small := []byte("small part")

	up := createUpload(t, s, &sluice.CreateUploadInput{Bucket: b, Key: "k"})
	p1 := uploadPart(t, s, up, 1, big)
	p2 := uploadPart(t, s, up, 2, small)
	p3 := uploadPart(t, s, up, 3, small)

	complete := func(key, id string, parts []sluice.CompletePart, c sluice.Conditions) error {
		_, err := s.CompleteUpload(ctx, &sluice.CompleteUploadInput{Bucket: b, Key: key, UploadID: id, Parts: parts, Conditions: c})
		return err
	}
	wrongETag := completeOf(p1, p2)
	wrongETag[1].ETag = etagOf([]byte("something else"))
	tests := []struct {
		name  string
		key   string
		id    string
		parts []sluice.CompletePart
		cond  sluice.Conditions
		code  sluice.Code
	}{
		{"unknown upload", "k", "no-such-upload", completeOf(p1, p2), sluice.Conditions{}, sluice.ErrNoSuchUpload},
		{"empty upload id", "k", "", completeOf(p1, p2), sluice.Conditions{}, sluice.ErrNoSuchUpload},
		{"other key", "other", up.UploadID, completeOf(p1, p2), sluice.Conditions{}, sluice.ErrNoSuchUpload},
		{"descending", "k", up.UploadID, completeOf(p2, p1), sluice.Conditions{}, sluice.ErrInvalidPartOrder},
		{"duplicate", "k", up.UploadID, completeOf(p1, p1), sluice.Conditions{}, sluice.ErrInvalidPartOrder},
		{"missing part", "k", up.UploadID, append(completeOf(p1), sluice.CompletePart{Number: 4, ETag: p2.ETag}), sluice.Conditions{}, sluice.ErrInvalidPart},
		{"wrong etag", "k", up.UploadID, wrongETag, sluice.Conditions{}, sluice.ErrInvalidPart},
		{"small part not last", "k", up.UploadID, completeOf(p1, p2, p3), sluice.Conditions{}, sluice.ErrEntityTooSmall},
		{"if-match on missing key", "k", up.UploadID, completeOf(p1, p2), sluice.Conditions{IfMatch: `"abc"`}, sluice.ErrNoSuchKey},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wantCode(t, "CompleteUpload", complete(tc.key, tc.id, tc.parts, tc.cond), tc.code)
		})
	}
	if err := complete("k", up.UploadID, nil, sluice.Conditions{}); err == nil {
		t.Error("CompleteUpload with no parts succeeded")
	}
	// Failed completions leave the upload intact.
	page, err := s.ListParts(ctx, b, "k", up.UploadID, 0, 1000)
	if err != nil || len(page.Parts) != 3 {
		t.Fatalf("ListParts after failed completions = %+v, %v", page, err)
	}
	if _, err := s.HeadObject(ctx, b, "k"); !sluice.IsCode(err, sluice.ErrNoSuchKey) {
		t.Errorf("failed completion created the object: %v", err)
	}

	var serr *sluice.Error
	err = complete("k", "no-such-upload", completeOf(p1), sluice.Conditions{})
	if sluice.IsCode(err, sluice.ErrNoSuchUpload) && errors.As(err, &serr) && serr.Message != "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed." {
		t.Errorf("NoSuchUpload message = %q", serr.Message)
	}

	// Bad part numbers and bodies.
	for _, n := range []int{0, -1, sluice.MaxParts + 1} {
		_, err := s.UploadPart(ctx, &sluice.UploadPartInput{Bucket: b, Key: "k", UploadID: up.UploadID, PartNumber: n, Body: bytes.NewReader(small), Size: int64(len(small))})
		wantCode(t, fmt.Sprintf("UploadPart(%d)", n), err, sluice.ErrInvalidArgument)
	}
	_, err = s.UploadPart(ctx, &sluice.UploadPartInput{Bucket: b, Key: "k", UploadID: up.UploadID, PartNumber: 7, Body: bytes.NewReader(small), Size: int64(len(small)) + 1})
	wantCode(t, "UploadPart(short body)", err, sluice.ErrIncompleteBody)
	_, err = s.UploadPart(ctx, &sluice.UploadPartInput{Bucket: b, Key: "k", UploadID: up.UploadID, PartNumber: 8, Body: bytes.NewReader(small), Size: int64(len(small)),
		Verify: func(sluice.Checksums) error { return sluice.Errorf(sluice.ErrBadDigest, "bad") }})
	wantCode(t, "UploadPart(failing Verify)", err, sluice.ErrBadDigest)
	page, _ = s.ListParts(ctx, b, "k", up.UploadID, 0, 1000)
	if len(page.Parts) != 3 {
		t.Errorf("failed part uploads were recorded: %+v", page.Parts)
	}

	// Conditions on completion hold against the target key.
	up2 := createUpload(t, s, &sluice.CreateUploadInput{Bucket: b, Key: "exists"})
	e1 := uploadPart(t, s, up2, 1, small)
	wantCode(t, "CompleteUpload If-None-Match on an existing key", complete("exists", up2.UploadID, completeOf(e1), sluice.Conditions{IfNoneMatch: "*"}), sluice.ErrPreconditionFailed)
	if got, _ := get(t, s, b, "exists"); string(got) != "already here" {
		t.Errorf("failed conditional completion changed the object to %q", got)
	}
	cur, _ := s.HeadObject(ctx, b, "exists")
	if err := complete("exists", up2.UploadID, completeOf(e1), sluice.Conditions{IfMatch: cur.ETag}); err != nil {
		t.Errorf("CompleteUpload with If-Match on the current ETag: %v", err)
	}

	// Completed and aborted uploads are gone.
	if err := complete("k", up.UploadID, completeOf(p1, p2), sluice.Conditions{}); err != nil {
		t.Fatalf("CompleteUpload: %v", err)
	}
	wantCode(t, "CompleteUpload twice", complete("k", up.UploadID, completeOf(p1, p2), sluice.Conditions{}), sluice.ErrNoSuchUpload)
	_, err = s.UploadPart(ctx, &sluice.UploadPartInput{Bucket: b, Key: "k", UploadID: up.UploadID, PartNumber: 1, Body: bytes.NewReader(small), Size: int64(len(small))})
	wantCode(t, "UploadPart after complete", err, sluice.ErrNoSuchUpload)
	_, err = s.ListParts(ctx, b, "k", up.UploadID, 0, 1000)
	wantCode(t, "ListParts after complete", err, sluice.ErrNoSuchUpload)
	wantCode(t, "AbortUpload after complete", s.AbortUpload(ctx, b, "k", up.UploadID), sluice.ErrNoSuchUpload)
	if got, _ := get(t, s, b, "k"); !bytes.Equal(got, slices.Concat(big, small)) {
		t.Error("completed object bytes differ")
	}

	up3 := createUpload(t, s, &sluice.CreateUploadInput{Bucket: b, Key: "aborted"})
	uploadPart(t, s, up3, 1, small)
	wantCode(t, "AbortUpload(other key)", s.AbortUpload(ctx, b, "other", up3.UploadID), sluice.ErrNoSuchUpload)
	if err := s.AbortUpload(ctx, b, "aborted", up3.UploadID); err != nil {
		t.Fatalf("AbortUpload: %v", err)
	}
	wantCode(t, "AbortUpload twice", s.AbortUpload(ctx, b, "aborted", up3.UploadID), sluice.ErrNoSuchUpload)
	_, err = s.UploadPart(ctx, &sluice.UploadPartInput{Bucket: b, Key: "aborted", UploadID: up3.UploadID, PartNumber: 2, Body: bytes.NewReader(small), Size: int64(len(small))})
	wantCode(t, "UploadPart after abort", err, sluice.ErrNoSuchUpload)
	wantCode(t, "CompleteUpload after abort", complete("aborted", up3.UploadID, completeOf(e1), sluice.Conditions{}), sluice.ErrNoSuchUpload)
	if _, err := s.HeadObject(ctx, b, "aborted"); !sluice.IsCode(err, sluice.ErrNoSuchKey) {
		t.Errorf("aborted upload created an object: %v", err)
	}
	_, err = s.UploadPart(ctx, &sluice.UploadPartInput{Bucket: b + "-missing", Key: "k", UploadID: up.UploadID, PartNumber: 1, Body: bytes.NewReader(small), Size: int64(len(small))})
	wantCode(t, "UploadPart(missing bucket)", err, sluice.ErrNoSuchBucket)
}

func testMultipartConcurrentParts(t *testing.T, s sluice.Store) {
	ctx := context.Background()
	b := newBucket(t, s)
	up := createUpload(t, s, &sluice.CreateUploadInput{Bucket: b, Key: "k", ChecksumAlgorithm: sluice.ChecksumCRC32C})
	const n = 8
	bodies := make([][]byte, n)
	parts := make([]sluice.PartInfo, n)
	errs := make(chan error, n)
	for i := range n {
		bodies[i] = randomBytes(1000 + i)
		go func() {
			p, err := s.UploadPart(ctx, &sluice.UploadPartInput{Bucket: b, Key: "k", UploadID: up.UploadID, PartNumber: i + 1,
				Body: bytes.NewReader(bodies[i]), Size: int64(len(bodies[i]))})
			parts[i] = p
			errs <- err
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Fatalf("concurrent UploadPart: %v", err)
		}
	}
	page, err := s.ListParts(ctx, b, "k", up.UploadID, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if diff := gocmp.Diff(parts, page.Parts); diff != "" {
		t.Errorf("ListParts after concurrent uploads (-want +got):\n%s", diff)
	}
	// Only the last part may be small, so complete with just that one.
	info, err := s.CompleteUpload(ctx, &sluice.CompleteUploadInput{Bucket: b, Key: "k", UploadID: up.UploadID, Parts: completeOf(parts[n-1])})
	if err != nil {
		t.Fatalf("CompleteUpload: %v", err)
	}
	if got, _ := get(t, s, b, "k"); !bytes.Equal(got, bodies[n-1]) || info.Size != int64(len(bodies[n-1])) {
		t.Errorf("completed object = %d bytes, want %d", len(got), len(bodies[n-1]))
	}
}

func testMultipartReplacePart(t *testing.T, s sluice.Store) {
	ctx := context.Background()
	b := newBucket(t, s)
	up := createUpload(t, s, &sluice.CreateUploadInput{Bucket: b, Key: "k"})
	old := uploadPart(t, s, up, 1, []byte("first attempt"))
	cur := uploadPart(t, s, up, 1, []byte("second attempt"))
	page, err := s.ListParts(ctx, b, "k", up.UploadID, 0, 1000)
	if err != nil || len(page.Parts) != 1 || page.Parts[0].ETag != cur.ETag {
		t.Fatalf("ListParts after replacing part 1 = %+v, %v", page.Parts, err)
	}
	_, err = s.CompleteUpload(ctx, &sluice.CompleteUploadInput{Bucket: b, Key: "k", UploadID: up.UploadID, Parts: completeOf(old)})
	wantCode(t, "CompleteUpload with the replaced ETag", err, sluice.ErrInvalidPart)
	if _, err := s.CompleteUpload(ctx, &sluice.CompleteUploadInput{Bucket: b, Key: "k", UploadID: up.UploadID, Parts: completeOf(cur)}); err != nil {
		t.Fatalf("CompleteUpload: %v", err)
	}
	if got, _ := get(t, s, b, "k"); string(got) != "second attempt" {
		t.Errorf("object = %q, want the replacement part", got)
	}
}

func testListParts(t *testing.T, s sluice.Store) {
	ctx := context.Background()
	b := newBucket(t, s)
	meta := sluice.ObjectMeta{ContentType: "video/mp4"}
	up := createUpload(t, s, &sluice.CreateUploadInput{Bucket: b, Key: "k", Meta: meta, ChecksumAlgorithm: sluice.ChecksumSHA256})
	var parts []sluice.PartInfo
	for _, n := range []int{1, 2, 3, 5, 10000} {
		parts = append(parts, uploadPart(t, s, up, n, []byte(fmt.Sprint("part ", n))))
	}
	page, err := s.ListParts(ctx, b, "k", up.UploadID, 0, 1000)
	if err != nil {
		t.Fatalf("ListParts: %v", err)
	}
	if diff := gocmp.Diff(up, page.Upload); diff != "" {
		t.Errorf("ListParts upload (-want +got):\n%s", diff)
	}
	if diff := gocmp.Diff(parts, page.Parts); diff != "" {
		t.Errorf("ListParts parts (-want +got):\n%s", diff)
	}
	if page.IsTruncated {
		t.Error("full ListParts page is truncated")
	}
	var got []sluice.PartInfo
	marker, pages := 0, 0
	for {
		page, err := s.ListParts(ctx, b, "k", up.UploadID, marker, 2)
		if err != nil {
			t.Fatalf("ListParts(marker %d): %v", marker, err)
		}
		pages++
		got = append(got, page.Parts...)
		if !page.IsTruncated {
			break
		}
		if page.NextPartNumberMarker <= marker {
			t.Fatalf("NextPartNumberMarker %d does not advance past %d", page.NextPartNumberMarker, marker)
		}
		marker = page.NextPartNumberMarker
	}
	if diff := gocmp.Diff(parts, got); diff != "" || pages != 3 {
		t.Errorf("paged ListParts in %d pages (-want +got):\n%s", pages, diff)
	}
	page, err = s.ListParts(ctx, b, "k", up.UploadID, 5, 1000)
	if err != nil || len(page.Parts) != 1 || page.Parts[0].Number != 10000 {
		t.Errorf("ListParts(marker 5) = %+v, %v", page.Parts, err)
	}
	_, err = s.ListParts(ctx, b, "k", "nope", 0, 1000)
	wantCode(t, "ListParts(unknown upload)", err, sluice.ErrNoSuchUpload)
	_, err = s.ListParts(ctx, b, "other", up.UploadID, 0, 1000)
	wantCode(t, "ListParts(other key)", err, sluice.ErrNoSuchUpload)
}

func testListUploads(t *testing.T, s sluice.Store) {
	ctx := context.Background()
	b := newBucket(t, s)
	var all []sluice.Upload
	for _, k := range []string{"c", "a", "b/1", "a", "b/2", "d/x/y"} {
		all = append(all, createUpload(t, s, &sluice.CreateUploadInput{Bucket: b, Key: k}))
	}
	byOrder := func(x, y sluice.Upload) int {
		return cmp.Or(strings.Compare(x.Key, y.Key), x.Initiated.Compare(y.Initiated), strings.Compare(x.UploadID, y.UploadID))
	}
	page, err := s.ListUploads(ctx, b, sluice.ListUploadsOptions{MaxUploads: 1000})
	if err != nil {
		t.Fatalf("ListUploads: %v", err)
	}
	if !slices.IsSortedFunc(page.Uploads, byOrder) {
		t.Errorf("uploads not in key, initiation order: %+v", page.Uploads)
	}
	if diff := gocmp.Diff(all, page.Uploads, cmpopts.SortSlices(func(x, y sluice.Upload) bool { return x.UploadID < y.UploadID })); diff != "" {
		t.Errorf("ListUploads (-want +got):\n%s", diff)
	}
	if page.IsTruncated {
		t.Error("full page truncated")
	}
	want := page.Uploads

	// Paging with both markers visits every upload once, in order.
	var got []sluice.Upload
	opts := sluice.ListUploadsOptions{MaxUploads: 2}
	for range 10 {
		page, err := s.ListUploads(ctx, b, opts)
		if err != nil {
			t.Fatalf("ListUploads(%+v): %v", opts, err)
		}
		got = append(got, page.Uploads...)
		if !page.IsTruncated {
			break
		}
		opts.KeyMarker, opts.UploadIDMarker = page.NextKeyMarker, page.NextUploadIDMarker
	}
	if diff := gocmp.Diff(want, got); diff != "" {
		t.Errorf("paged ListUploads (-want +got):\n%s", diff)
	}

	page, err = s.ListUploads(ctx, b, sluice.ListUploadsOptions{Delimiter: "/", MaxUploads: 1000})
	if err != nil {
		t.Fatalf("ListUploads(delimiter): %v", err)
	}
	var keys []string
	for _, u := range page.Uploads {
		keys = append(keys, u.Key)
	}
	if diff := gocmp.Diff([]string{"a", "a", "c"}, keys); diff != "" {
		t.Errorf("delimited upload keys (-want +got):\n%s", diff)
	}
	if diff := gocmp.Diff([]string{"b/", "d/"}, page.CommonPrefixes); diff != "" {
		t.Errorf("delimited common prefixes (-want +got):\n%s", diff)
	}
	page, err = s.ListUploads(ctx, b, sluice.ListUploadsOptions{Prefix: "b/", MaxUploads: 1000})
	if err != nil || len(page.Uploads) != 2 || page.Uploads[0].Key != "b/1" || page.Uploads[1].Key != "b/2" {
		t.Errorf("ListUploads(prefix b/) = %+v, %v", page.Uploads, err)
	}
	page, err = s.ListUploads(ctx, b, sluice.ListUploadsOptions{KeyMarker: "b/2", MaxUploads: 1000})
	if err != nil || len(page.Uploads) != 2 || page.Uploads[0].Key != "c" {
		t.Errorf("ListUploads(key marker b/2) = %+v, %v", page.Uploads, err)
	}
}
