package storetest

import (
	"bytes"
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/iotest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/sluicehq/sluice"
)

func testPutHeadOpen(t *testing.T, s sluice.Store) {
	ctx := context.Background()
	b := newBucket(t, s)
	body := []byte("hello, sluice\n")
	meta := sluice.ObjectMeta{
		ContentType:        "text/plain",
		ContentEncoding:    "identity",
		ContentDisposition: `attachment; filename="a.txt"`,
		ContentLanguage:    "en",
		CacheControl:       "max-age=60",
		Expires:            "Wed, 21 Oct 2015 07:28:00 GMT",
		User:               map[string]string{"color": "blue", "x-y": "ünïcode"},
		Tags:               []sluice.Tag{{Key: "b", Value: "2"}, {Key: "a", Value: "1"}},
		StorageClass:       "STANDARD",
		WebsiteRedirect:    "/other",
	}
	before := time.Now().Add(-2 * time.Second)
	info, err := s.PutObject(ctx, &sluice.PutObjectInput{
		Bucket: b, Key: "dir/file.txt", Body: bytes.NewReader(body), Size: int64(len(body)), Meta: meta,
	})
	if err != nil {
		t.Fatalf("PutObject: %v", err)
	}
	want := sluice.ObjectInfo{
		Bucket:   b,
		Key:      "dir/file.txt",
		Size:     int64(len(body)),
		ETag:     etagOf(body),
		Meta:     meta,
		Checksum: sluice.Checksums{MD5: md5Of(body)},
	}
	ignoreTime := cmpopts.IgnoreFields(sluice.ObjectInfo{}, "LastModified")
	if diff := cmp.Diff(want, info, ignoreTime); diff != "" {
		t.Errorf("PutObject info mismatch (-want +got):\n%s", diff)
	}
	if info.LastModified.Before(before) || info.LastModified.After(time.Now().Add(2*time.Second)) {
		t.Errorf("LastModified = %v, want about now", info.LastModified)
	}

	head, err := s.HeadObject(ctx, b, "dir/file.txt")
	if err != nil {
		t.Fatalf("HeadObject: %v", err)
	}
	if diff := cmp.Diff(info, head); diff != "" {
		t.Errorf("HeadObject differs from PutObject (-put +head):\n%s", diff)
	}
	got, openInfo := get(t, s, b, "dir/file.txt")
	if !bytes.Equal(got, body) {
		t.Errorf("OpenObject bytes = %q, want %q", got, body)
	}
	if diff := cmp.Diff(info, openInfo); diff != "" {
		t.Errorf("OpenObject info differs (-put +open):\n%s", diff)
	}

	// An unknown size (-1) is allowed: the store counts.
	info, err = s.PutObject(ctx, &sluice.PutObjectInput{Bucket: b, Key: "unsized", Body: iotest.HalfReader(bytes.NewReader(body)), Size: -1})
	if err != nil {
		t.Fatalf("PutObject(size -1): %v", err)
	}
	if info.Size != int64(len(body)) || info.ETag != etagOf(body) {
		t.Errorf("PutObject(size -1) = size %d etag %s, want %d %s", info.Size, info.ETag, len(body), etagOf(body))
	}

	// Empty metadata collections read back as what the write returned.
	info, err = s.PutObject(ctx, &sluice.PutObjectInput{Bucket: b, Key: "empty-meta", Body: strings.NewReader("x"), Size: 1,
		Meta: sluice.ObjectMeta{User: map[string]string{}, Tags: []sluice.Tag{}}})
	if err != nil {
		t.Fatalf("PutObject(empty meta): %v", err)
	}
	if head, err := s.HeadObject(ctx, b, "empty-meta"); err != nil || !cmp.Equal(info, head) {
		t.Errorf("HeadObject(empty meta) differs from PutObject: %s (%v)", cmp.Diff(info, head), err)
	}

	// Empty objects are objects.
	info = put(t, s, b, "empty", nil)
	if info.Size != 0 || info.ETag != `"d41d8cd98f00b204e9800998ecf8427e"` {
		t.Errorf("empty object = size %d etag %s", info.Size, info.ETag)
	}
	if got, _ := get(t, s, b, "empty"); len(got) != 0 {
		t.Errorf("empty object reads %d bytes", len(got))
	}

	// A bigger body crosses any internal buffer boundary.
	big := randomBytes(3<<20 + 17)
	info = put(t, s, b, "big", big)
	if info.ETag != etagOf(big) {
		t.Errorf("big ETag = %s, want %s", info.ETag, etagOf(big))
	}
	if got, _ := get(t, s, b, "big"); !bytes.Equal(got, big) {
		t.Error("big object bytes differ")
	}
}

func testOddKeys(t *testing.T, s sluice.Store) {
	b := newBucket(t, s)
	keys := []string{
		"../x", "../../../../etc/passwd", "a//b", "/leading", "trailing/", "%2F", "a%2Fb", "with space",
		"emoji-🙂", "tab\tnew\nline", ".", "..", "~", "a\\b", "C:\\x", "?query=1&b", "#frag",
		"\x00nul", "x\x7f", "日本語/キー", strings.Repeat("k", sluice.MaxKeyLength),
		strings.Repeat("é", sluice.MaxKeyLength/2),
	}
	for _, k := range keys {
		body := []byte("body of " + k)
		info := put(t, s, b, k, body)
		if info.Key != k {
			t.Errorf("PutObject(%q).Key = %q", k, info.Key)
		}
	}
	for _, k := range keys {
		got, info := get(t, s, b, k)
		if want := []byte("body of " + k); !bytes.Equal(got, want) || info.Key != k {
			t.Errorf("OpenObject(%q) = %q (key %q), want %q", k, got, info.Key, want)
		}
	}
	listed, _, _ := listAll(t, s, b, sluice.ListOptions{MaxKeys: 7})
	want := append([]string(nil), keys...)
	slices.Sort(want)
	if diff := cmp.Diff(want, listed); diff != "" {
		t.Errorf("listed keys mismatch (-want +got):\n%s", diff)
	}
	for _, k := range keys {
		if err := s.DeleteObject(context.Background(), b, k); err != nil {
			t.Errorf("DeleteObject(%q): %v", k, err)
		}
	}
	if listed, _, _ := listAll(t, s, b, sluice.ListOptions{MaxKeys: 1000}); len(listed) != 0 {
		t.Errorf("after deleting every key, list = %q", listed)
	}
}

func testKeyValidation(t *testing.T, s sluice.Store) {
	ctx := context.Background()
	b := newBucket(t, s)
	tests := []struct {
		name string
		key  string
		code sluice.Code
	}{
		{"too long", strings.Repeat("k", sluice.MaxKeyLength+1), sluice.ErrKeyTooLong},
		{"too long multibyte", strings.Repeat("é", sluice.MaxKeyLength/2) + "x", sluice.ErrKeyTooLong},
		{"empty", "", sluice.ErrInvalidArgument},
		{"invalid utf-8", "bad\xff\xfe", sluice.ErrInvalidArgument},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.PutObject(ctx, &sluice.PutObjectInput{Bucket: b, Key: tc.key, Body: strings.NewReader("x"), Size: 1})
			wantCode(t, "PutObject", err, tc.code)
			_, err = s.CreateUpload(ctx, &sluice.CreateUploadInput{Bucket: b, Key: tc.key})
			wantCode(t, "CreateUpload", err, tc.code)
		})
	}
	if listed, _, _ := listAll(t, s, b, sluice.ListOptions{MaxKeys: 1000}); len(listed) != 0 {
		t.Errorf("rejected keys were stored: %q", listed)
	}
}

func testMissing(t *testing.T, s sluice.Store) {
	ctx := context.Background()
	b := newBucket(t, s)
	nb := b + "-missing"
	body := func() io.Reader { return strings.NewReader("x") }

	_, err := s.PutObject(ctx, &sluice.PutObjectInput{Bucket: nb, Key: "k", Body: body(), Size: 1})
	wantCode(t, "PutObject(no bucket)", err, sluice.ErrNoSuchBucket)
	_, err = s.HeadObject(ctx, nb, "k")
	wantCode(t, "HeadObject(no bucket)", err, sluice.ErrNoSuchBucket)
	_, err = s.OpenObject(ctx, nb, "k")
	wantCode(t, "OpenObject(no bucket)", err, sluice.ErrNoSuchBucket)
	wantCode(t, "DeleteObject(no bucket)", s.DeleteObject(ctx, nb, "k"), sluice.ErrNoSuchBucket)
	_, err = s.PutObjectTags(ctx, nb, "k", nil)
	wantCode(t, "PutObjectTags(no bucket)", err, sluice.ErrNoSuchBucket)
	_, err = s.ListObjects(ctx, nb, sluice.ListOptions{MaxKeys: 10})
	wantCode(t, "ListObjects(no bucket)", err, sluice.ErrNoSuchBucket)
	_, err = s.CreateUpload(ctx, &sluice.CreateUploadInput{Bucket: nb, Key: "k"})
	wantCode(t, "CreateUpload(no bucket)", err, sluice.ErrNoSuchBucket)
	_, err = s.ListUploads(ctx, nb, sluice.ListUploadsOptions{MaxUploads: 10})
	wantCode(t, "ListUploads(no bucket)", err, sluice.ErrNoSuchBucket)

	_, err = s.HeadObject(ctx, b, "k")
	wantCode(t, "HeadObject(no key)", err, sluice.ErrNoSuchKey)
	var serr *sluice.Error
	if errors.As(err, &serr) && serr.Message != "The specified key does not exist." {
		t.Errorf("NoSuchKey message = %q", serr.Message)
	}
	_, err = s.OpenObject(ctx, b, "k")
	wantCode(t, "OpenObject(no key)", err, sluice.ErrNoSuchKey)
	_, err = s.PutObjectTags(ctx, b, "k", []sluice.Tag{{Key: "a", Value: "b"}})
	wantCode(t, "PutObjectTags(no key)", err, sluice.ErrNoSuchKey)
	if err := s.DeleteObject(ctx, b, "k"); err != nil {
		t.Errorf("DeleteObject(no key) = %v, want success", err)
	}
	_, err = s.Bucket(ctx, nb)
	if errors.As(err, &serr) && serr.Message != "The specified bucket does not exist" {
		t.Errorf("NoSuchBucket message = %q", serr.Message)
	}
}

func testOverwrite(t *testing.T, s sluice.Store) {
	ctx := context.Background()
	b := newBucket(t, s)
	put(t, s, b, "k", []byte("first version, longer than the second"))
	second := put(t, s, b, "k", []byte("second"))
	got, info := get(t, s, b, "k")
	if string(got) != "second" || info.ETag != second.ETag || info.Size != 6 {
		t.Errorf("after overwrite: %q etag %s size %d", got, info.ETag, info.Size)
	}
	page, err := s.ListObjects(ctx, b, sluice.ListOptions{MaxKeys: 1000})
	if err != nil || len(page.Objects) != 1 || page.Objects[0].ETag != second.ETag {
		t.Errorf("list after overwrite = %+v, %v", page.Objects, err)
	}
}

func testDelete(t *testing.T, s sluice.Store) {
	ctx := context.Background()
	b := newBucket(t, s)
	put(t, s, b, "a", []byte("1"))
	put(t, s, b, "b", []byte("2"))
	if err := s.DeleteObject(ctx, b, "a"); err != nil {
		t.Fatalf("DeleteObject: %v", err)
	}
	_, err := s.HeadObject(ctx, b, "a")
	wantCode(t, "HeadObject after delete", err, sluice.ErrNoSuchKey)
	if err := s.DeleteObject(ctx, b, "a"); err != nil {
		t.Errorf("second DeleteObject = %v, want success", err)
	}
	if got, _ := get(t, s, b, "b"); string(got) != "2" {
		t.Errorf("other key = %q after delete", got)
	}
	keys, _, _ := listAll(t, s, b, sluice.ListOptions{MaxKeys: 1000})
	if diff := cmp.Diff([]string{"b"}, keys); diff != "" {
		t.Errorf("list after delete (-want +got):\n%s", diff)
	}
}

func testTags(t *testing.T, s sluice.Store) {
	ctx := context.Background()
	b := newBucket(t, s)
	orig, err := s.PutObject(ctx, &sluice.PutObjectInput{
		Bucket: b, Key: "k", Body: strings.NewReader("data"), Size: 4,
		Meta: sluice.ObjectMeta{ContentType: "text/plain", Tags: []sluice.Tag{{Key: "old", Value: "1"}}},
	})
	if err != nil {
		t.Fatalf("PutObject: %v", err)
	}
	tags := []sluice.Tag{{Key: "z", Value: "last"}, {Key: "a", Value: ""}}
	info, err := s.PutObjectTags(ctx, b, "k", tags)
	if err != nil {
		t.Fatalf("PutObjectTags: %v", err)
	}
	if diff := cmp.Diff(tags, info.Meta.Tags); diff != "" {
		t.Errorf("returned tags (-want +got):\n%s", diff)
	}
	head, _ := s.HeadObject(ctx, b, "k")
	if diff := cmp.Diff(tags, head.Meta.Tags); diff != "" {
		t.Errorf("stored tags (-want +got):\n%s", diff)
	}
	if head.ETag != orig.ETag || !head.LastModified.Equal(orig.LastModified) || head.Meta.ContentType != "text/plain" {
		t.Errorf("tagging changed the object: %+v, was %+v", head, orig)
	}
	if _, err := s.PutObjectTags(ctx, b, "k", nil); err != nil {
		t.Fatalf("PutObjectTags(nil): %v", err)
	}
	head, _ = s.HeadObject(ctx, b, "k")
	if len(head.Meta.Tags) != 0 {
		t.Errorf("tags after delete = %v", head.Meta.Tags)
	}
	if got, _ := get(t, s, b, "k"); string(got) != "data" {
		t.Errorf("bytes after tagging = %q", got)
	}
}

func testRanges(t *testing.T, s sluice.Store) {
	b := newBucket(t, s)
	body := []byte("0123456789abcdefghij")
	put(t, s, b, "k", body)
	obj, err := s.OpenObject(context.Background(), b, "k")
	if err != nil {
		t.Fatalf("OpenObject: %v", err)
	}
	defer obj.Close()
	tests := []struct {
		name      string
		off, n    int64
		want      string
		wantError bool
	}{
		{"whole", 0, -1, string(body), false},
		{"prefix", 0, 5, "01234", false},
		{"middle", 7, 4, "789a", false},
		{"suffix to end", 15, -1, "fghij", false},
		{"last byte", 19, 1, "j", false},
		{"empty at end", 20, 0, "", false},
		{"past end", 18, 5, "", true},
		{"negative offset", -1, 2, "", true},
		{"offset past end", 21, -1, "", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := obj.Reader(tc.off, tc.n)
			if tc.wantError {
				if err == nil {
					r.Close()
					t.Fatal("Reader succeeded, want error")
				}
				wantCode(t, "Reader", err, sluice.ErrInvalidRange)
				return
			}
			if err != nil {
				t.Fatalf("Reader: %v", err)
			}
			got, err := io.ReadAll(r)
			r.Close()
			if err != nil || string(got) != tc.want {
				t.Errorf("Reader(%d,%d) = %q, %v; want %q", tc.off, tc.n, got, err, tc.want)
			}
		})
	}
	// Readers of one snapshot are independent.
	r1, _ := obj.Reader(0, 10)
	r2, _ := obj.Reader(10, 10)
	a, _ := io.ReadAll(io.LimitReader(r1, 3))
	c, _ := io.ReadAll(r2)
	rest, _ := io.ReadAll(r1)
	r1.Close()
	r2.Close()
	if string(a)+string(rest) != "0123456789" || string(c) != "abcdefghij" {
		t.Errorf("interleaved readers = %q+%q, %q", a, rest, c)
	}
}

func testSnapshotRead(t *testing.T, s sluice.Store) {
	ctx := context.Background()
	b := newBucket(t, s)
	first := randomBytes(1 << 20)
	put(t, s, b, "k", first)
	obj, err := s.OpenObject(ctx, b, "k")
	if err != nil {
		t.Fatalf("OpenObject: %v", err)
	}
	defer obj.Close()
	r, err := obj.Reader(0, -1)
	if err != nil {
		t.Fatalf("Reader: %v", err)
	}
	head := make([]byte, 1000)
	if _, err := io.ReadFull(r, head); err != nil {
		t.Fatalf("read head: %v", err)
	}
	second := randomBytes(1 << 19)
	put(t, s, b, "k", second)
	rest, err := io.ReadAll(r)
	r.Close()
	if err != nil {
		t.Fatalf("read after overwrite: %v", err)
	}
	if !bytes.Equal(append(head, rest...), first) {
		t.Error("snapshot changed when the key was overwritten")
	}
	if obj.Info().ETag != etagOf(first) {
		t.Errorf("snapshot info ETag = %s, want %s", obj.Info().ETag, etagOf(first))
	}

	obj2, err := s.OpenObject(ctx, b, "k")
	if err != nil {
		t.Fatalf("OpenObject(second): %v", err)
	}
	defer obj2.Close()
	if err := s.DeleteObject(ctx, b, "k"); err != nil {
		t.Fatalf("DeleteObject: %v", err)
	}
	if got := readAll(t, obj2, 0, -1); !bytes.Equal(got, second) {
		t.Error("snapshot changed when the key was deleted")
	}
}

func testConcurrentPut(t *testing.T, s sluice.Store) {
	ctx := context.Background()
	b := newBucket(t, s)
	const writers = 8
	bodies := make([][]byte, writers)
	for i := range bodies {
		bodies[i] = randomBytes(256<<10 + i)
	}
	var wg sync.WaitGroup
	errs := make([]error, writers)
	for i := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = s.PutObject(ctx, &sluice.PutObjectInput{Bucket: b, Key: "same", Body: bytes.NewReader(bodies[i]), Size: int64(len(bodies[i]))})
		}()
	}
	// Readers run alongside and must only ever see a whole body.
	stop := make(chan struct{})
	var readers sync.WaitGroup
	for range 2 {
		readers.Add(1)
		go func() {
			defer readers.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				obj, err := s.OpenObject(ctx, b, "same")
				if sluice.IsCode(err, sluice.ErrNoSuchKey) {
					continue
				}
				if err != nil {
					t.Errorf("OpenObject during writes: %v", err)
					return
				}
				r, err := obj.Reader(0, -1)
				if err != nil {
					t.Errorf("Reader: %v", err)
					obj.Close()
					return
				}
				got, err := io.ReadAll(r)
				r.Close()
				if err != nil || etagOf(got) != obj.Info().ETag {
					t.Errorf("read %d bytes inconsistent with ETag %s (%v)", len(got), obj.Info().ETag, err)
				}
				obj.Close()
			}
		}()
	}
	wg.Wait()
	close(stop)
	readers.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("writer %d: %v", i, err)
		}
	}
	got, info := get(t, s, b, "same")
	if etagOf(got) != info.ETag || int64(len(got)) != info.Size {
		t.Fatalf("final object inconsistent: %d bytes, info %+v", len(got), info)
	}
	winners := 0
	for _, body := range bodies {
		if bytes.Equal(body, got) {
			winners++
		}
	}
	if winners != 1 {
		t.Errorf("final object matches %d of the written bodies, want exactly 1", winners)
	}
	keys, _, _ := listAll(t, s, b, sluice.ListOptions{MaxKeys: 1000})
	if diff := cmp.Diff([]string{"same"}, keys); diff != "" {
		t.Errorf("list (-want +got):\n%s", diff)
	}
}

func testConditions(t *testing.T, s sluice.Store) {
	ctx := context.Background()
	b := newBucket(t, s)
	putIf := func(key, body string, c sluice.Conditions) (sluice.ObjectInfo, error) {
		return s.PutObject(ctx, &sluice.PutObjectInput{Bucket: b, Key: key, Body: strings.NewReader(body), Size: int64(len(body)), Conditions: c})
	}
	first, err := putIf("k", "one", sluice.Conditions{IfNoneMatch: "*"})
	if err != nil {
		t.Fatalf("If-None-Match on a new key: %v", err)
	}
	_, err = putIf("k", "two", sluice.Conditions{IfNoneMatch: "*"})
	wantCode(t, "If-None-Match on an existing key", err, sluice.ErrPreconditionFailed)
	_, err = putIf("k", "two", sluice.Conditions{IfMatch: `"0123456789abcdef0123456789abcdef"`})
	wantCode(t, "If-Match with another ETag", err, sluice.ErrPreconditionFailed)
	_, err = putIf("missing", "x", sluice.Conditions{IfMatch: first.ETag})
	wantCode(t, "If-Match on a missing key", err, sluice.ErrNoSuchKey)
	if got, _ := get(t, s, b, "k"); string(got) != "one" {
		t.Errorf("failed conditional writes changed the object to %q", got)
	}
	second, err := putIf("k", "two", sluice.Conditions{IfMatch: first.ETag})
	if err != nil {
		t.Fatalf("If-Match with the current ETag: %v", err)
	}
	if _, err := putIf("k", "three", sluice.Conditions{IfMatch: strings.Trim(second.ETag, `"`)}); err != nil {
		t.Errorf("If-Match with an unquoted ETag: %v", err)
	}
	if _, err := s.HeadObject(ctx, b, "missing"); !sluice.IsCode(err, sluice.ErrNoSuchKey) {
		t.Errorf("failed If-Match created the key: %v", err)
	}

	// Of many racing If-None-Match writers exactly one wins.
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins, fails := 0, 0
	for i := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := putIf("race", strings.Repeat("r", i+1), sluice.Conditions{IfNoneMatch: "*"})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				wins++
			case sluice.IsCode(err, sluice.ErrPreconditionFailed):
				fails++
			default:
				t.Errorf("racing If-None-Match: %v", err)
			}
		}()
	}
	wg.Wait()
	if wins != 1 || fails != 5 {
		t.Errorf("racing If-None-Match: %d won, %d failed; want 1 and 5", wins, fails)
	}
}

// sizedReader yields n bytes of 'x'.
func sizedReader(n int) io.Reader { return bytes.NewReader(bytes.Repeat([]byte("x"), n)) }

func testSizeMismatch(t *testing.T, s sluice.Store) {
	ctx := context.Background()
	b := newBucket(t, s)
	put(t, s, b, "existing", []byte("keep me"))
	tests := []struct {
		name string
		key  string
		body io.Reader
		size int64
		code sluice.Code
	}{
		{"short body", "short", sizedReader(10), 11, sluice.ErrIncompleteBody},
		{"long body", "long", sizedReader(12), 11, sluice.ErrIncompleteBody},
		{"short overwrite", "existing", sizedReader(1), 100, sluice.ErrIncompleteBody},
		{"unexpected EOF", "trunc", io.MultiReader(sizedReader(5), iotest.ErrReader(io.ErrUnexpectedEOF)), 10, sluice.ErrIncompleteBody},
		{"too large", "huge", sizedReader(0), sluice.MaxPutSize + 1, sluice.ErrEntityTooLarge},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.PutObject(ctx, &sluice.PutObjectInput{Bucket: b, Key: tc.key, Body: tc.body, Size: tc.size})
			wantCode(t, "PutObject", err, tc.code)
		})
	}
	keys, _, _ := listAll(t, s, b, sluice.ListOptions{MaxKeys: 1000})
	if diff := cmp.Diff([]string{"existing"}, keys); diff != "" {
		t.Errorf("keys after failed writes (-want +got):\n%s", diff)
	}
	if got, _ := get(t, s, b, "existing"); string(got) != "keep me" {
		t.Errorf("failed overwrite changed the object to %q", got)
	}
	// A failing body is the caller's error, passed through, and commits nothing.
	boom := errors.New("boom")
	_, err := s.PutObject(ctx, &sluice.PutObjectInput{Bucket: b, Key: "boom", Body: iotest.ErrReader(boom), Size: -1})
	if !errors.Is(err, boom) {
		t.Errorf("PutObject with failing body = %v, want it to wrap %v", err, boom)
	}
	if _, err := s.HeadObject(ctx, b, "boom"); !sluice.IsCode(err, sluice.ErrNoSuchKey) {
		t.Errorf("failing body committed an object: %v", err)
	}
	// A cancelled context commits nothing.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s.PutObject(cctx, &sluice.PutObjectInput{Bucket: b, Key: "cancelled", Body: sizedReader(10), Size: 10}); err == nil {
		t.Error("PutObject with a cancelled context succeeded")
	}
	if _, err := s.HeadObject(ctx, b, "cancelled"); !sluice.IsCode(err, sluice.ErrNoSuchKey) {
		t.Errorf("cancelled put committed an object: %v", err)
	}
}

func testVerifyError(t *testing.T, s sluice.Store) {
	ctx := context.Background()
	b := newBucket(t, s)
	body := []byte("verified body")
	put(t, s, b, "k", []byte("old"))
	bad := sluice.Errorf(sluice.ErrBadDigest, "The Content-MD5 you specified did not match what we received.")
	var seen sluice.Checksums
	_, err := s.PutObject(ctx, &sluice.PutObjectInput{
		Bucket: b, Key: "k", Body: bytes.NewReader(body), Size: int64(len(body)), ChecksumAlgorithm: sluice.ChecksumSHA256,
		Verify: func(c sluice.Checksums) error { seen = c; return bad },
	})
	if !errors.Is(err, bad) {
		t.Errorf("PutObject with failing Verify = %v, want %v", err, bad)
	}
	sha := sha256.Sum256(body)
	want := sluice.Checksums{MD5: md5Of(body), Algorithm: sluice.ChecksumSHA256, Value: base64.StdEncoding.EncodeToString(sha[:]), Type: sluice.ChecksumTypeFullObject}
	if diff := cmp.Diff(want, seen); diff != "" {
		t.Errorf("Verify saw checksums (-want +got):\n%s", diff)
	}
	if got, _ := get(t, s, b, "k"); string(got) != "old" {
		t.Errorf("failed Verify changed the object to %q", got)
	}
	called := false
	info, err := s.PutObject(ctx, &sluice.PutObjectInput{
		Bucket: b, Key: "k", Body: bytes.NewReader(body), Size: int64(len(body)),
		Verify: func(c sluice.Checksums) error { called = true; return nil },
	})
	if err != nil || !called || info.ETag != etagOf(body) {
		t.Errorf("PutObject with passing Verify = %+v, %v (called %v)", info, err, called)
	}
}

func testChecksums(t *testing.T, s sluice.Store) {
	ctx := context.Background()
	b := newBucket(t, s)
	// "123456789" is the input of the published CRC catalogue check values.
	body := []byte("123456789")
	be32 := func(v uint32) string { return base64.StdEncoding.EncodeToString(binary.BigEndian.AppendUint32(nil, v)) }
	sha1sum := sha1.Sum(body)
	sha256sum := sha256.Sum256(body)
	tests := []struct {
		algorithm string
		want      string
	}{
		{"", ""},
		{sluice.ChecksumCRC32, be32(0xcbf43926)},
		{sluice.ChecksumCRC32C, be32(0xe3069283)},
		{sluice.ChecksumCRC64NVME, base64.StdEncoding.EncodeToString(binary.BigEndian.AppendUint64(nil, 0xae8b14860a799888))},
		{sluice.ChecksumSHA1, base64.StdEncoding.EncodeToString(sha1sum[:])},
		{sluice.ChecksumSHA256, base64.StdEncoding.EncodeToString(sha256sum[:])},
	}
	for _, tc := range tests {
		t.Run("algorithm "+tc.algorithm, func(t *testing.T) {
			key := "k-" + tc.algorithm
			info, err := s.PutObject(ctx, &sluice.PutObjectInput{Bucket: b, Key: key, Body: bytes.NewReader(body), Size: int64(len(body)), ChecksumAlgorithm: tc.algorithm})
			if err != nil {
				t.Fatalf("PutObject: %v", err)
			}
			want := sluice.Checksums{MD5: md5Of(body)}
			if tc.algorithm != "" {
				want.Algorithm, want.Value, want.Type = tc.algorithm, tc.want, sluice.ChecksumTypeFullObject
			}
			if diff := cmp.Diff(want, info.Checksum); diff != "" {
				t.Errorf("checksum (-want +got):\n%s", diff)
			}
			head, _ := s.HeadObject(ctx, b, key)
			if diff := cmp.Diff(want, head.Checksum); diff != "" {
				t.Errorf("stored checksum (-want +got):\n%s", diff)
			}
		})
	}
	_, err := s.PutObject(ctx, &sluice.PutObjectInput{Bucket: b, Key: "bad-algo", Body: bytes.NewReader(body), Size: int64(len(body)), ChecksumAlgorithm: "MD4"})
	if err == nil {
		t.Error("PutObject with an unknown checksum algorithm succeeded")
	}
}
