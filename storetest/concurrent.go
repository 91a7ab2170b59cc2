package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"

	"github.com/sluicehq/sluice"
)

// testConcurrentReaders reads ranges of one open object from several
// goroutines at once, both with Read and with io.Copy into a writer that has
// ReadFrom (the path an HTTP response takes), for a small and a large
// object.
func testConcurrentReaders(t *testing.T, s sluice.Store) {
	ctx := context.Background()
	b := newBucket(t, s)
	for _, size := range []int{1000, 700 << 10} {
		body := randomBytes(size)
		key := fmt.Sprintf("k%d", size)
		put(t, s, b, key, body)
		obj, err := s.OpenObject(ctx, b, key)
		if err != nil {
			t.Fatalf("OpenObject: %v", err)
		}
		var wg sync.WaitGroup
		for i := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				off := int64(size * i / 10)
				n := min(int64(size/3+i), int64(size)-off)
				r, err := obj.Reader(off, n)
				if err != nil {
					t.Errorf("Reader(%d, %d): %v", off, n, err)
					return
				}
				defer r.Close()
				var got []byte
				if i%2 == 0 {
					var buf bytes.Buffer
					_, err = io.Copy(&buf, r)
					got = buf.Bytes()
				} else {
					got, err = io.ReadAll(r)
				}
				if err != nil || !bytes.Equal(got, body[off:off+n]) {
					t.Errorf("size %d: reader %d read %d bytes (%v), not the range [%d, %d)", size, i, len(got), err, off, off+n)
				}
			}()
		}
		wg.Wait()
		if err := obj.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	}
}

// testConcurrentMixed runs writes that must fail (failed verification,
// failed preconditions, a missing bucket, a short body) at the same time as
// writes and deletes that must succeed, and checks that each got its own
// outcome.
func testConcurrentMixed(t *testing.T, s sluice.Store) {
	ctx := context.Background()
	b := newBucket(t, s)
	put(t, s, b, "exists", []byte("already"))
	for i := range 4 {
		put(t, s, b, fmt.Sprintf("doomed/%d", i), []byte("delete me"))
	}
	bad := errors.New("verification refused")
	type write struct {
		in      *sluice.PutObjectInput
		wantErr func(error) bool
	}
	var writes []write
	for i := range 24 {
		key := fmt.Sprintf("good/%02d", i)
		body := bytes.Repeat([]byte{byte('a' + i)}, 100+i*4000)
		in := &sluice.PutObjectInput{Bucket: b, Key: key, Body: bytes.NewReader(body), Size: int64(len(body))}
		writes = append(writes, write{in, nil})
		switch i % 4 {
		case 0:
			writes = append(writes, write{&sluice.PutObjectInput{Bucket: b, Key: key + "-verify", Body: bytes.NewReader(body), Size: int64(len(body)),
				Verify: func(sluice.Checksums) error { return bad }}, func(err error) bool { return errors.Is(err, bad) }})
		case 1:
			writes = append(writes, write{&sluice.PutObjectInput{Bucket: b, Key: "exists", Body: strings.NewReader("no"), Size: 2,
				Conditions: sluice.Conditions{IfNoneMatch: "*"}}, func(err error) bool { return sluice.IsCode(err, sluice.ErrPreconditionFailed) }})
		case 2:
			writes = append(writes, write{&sluice.PutObjectInput{Bucket: b + "-missing", Key: key, Body: strings.NewReader("no"), Size: 2},
				func(err error) bool { return sluice.IsCode(err, sluice.ErrNoSuchBucket) }})
		case 3:
			writes = append(writes, write{&sluice.PutObjectInput{Bucket: b, Key: key + "-short", Body: strings.NewReader("no"), Size: 3},
				func(err error) bool { return sluice.IsCode(err, sluice.ErrIncompleteBody) }})
		}
	}
	var wg sync.WaitGroup
	for _, w := range writes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.PutObject(ctx, w.in)
			switch {
			case w.wantErr == nil && err != nil:
				t.Errorf("PutObject(%q): %v", w.in.Key, err)
			case w.wantErr != nil && !w.wantErr(err):
				t.Errorf("PutObject(%q) = %v, want its own failure", w.in.Key, err)
			}
		}()
	}
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.DeleteObject(ctx, b, fmt.Sprintf("doomed/%d", i)); err != nil {
				t.Errorf("DeleteObject: %v", err)
			}
		}()
	}
	wg.Wait()
	for i := range 24 {
		got, info := get(t, s, b, fmt.Sprintf("good/%02d", i))
		if want := bytes.Repeat([]byte{byte('a' + i)}, 100+i*4000); !bytes.Equal(got, want) || info.ETag != etagOf(want) {
			t.Errorf("good/%02d holds %d bytes, ETag %s; want %d bytes", i, len(got), info.ETag, len(want))
		}
	}
	keys, _, _ := listAll(t, s, b, sluice.ListOptions{MaxKeys: 1000})
	if len(keys) != 25 || keys[0] != "exists" {
		t.Errorf("bucket holds %d keys (%v), want exists and the 24 good ones", len(keys), keys)
	}
	if got, _ := get(t, s, b, "exists"); string(got) != "already" {
		t.Errorf("failed conditional writes changed exists to %q", got)
	}
}
