package fsstore

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/sluicehq/sluice"
	bolt "go.etcd.io/bbolt"
)

func openEvents(t *testing.T, buckets ...string) *Store {
	t.Helper()
	s, err := Open(Config{Dir: t.TempDir(), NoSync: true, RecordEvents: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	for _, b := range buckets {
		if err := s.CreateBucket(context.Background(), sluice.Bucket{Name: b, Region: sluice.DefaultRegion}); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

func readAll(t *testing.T, s *Store, bucket, key string) []byte {
	t.Helper()
	o, err := s.OpenObject(context.Background(), bucket, key)
	if err != nil {
		t.Fatalf("open %s/%s: %v", bucket, key, err)
	}
	defer o.Close()
	r, err := o.Reader(0, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestFanoutLinksWithTheWrite: a Fanout's link commits with the client's
// write (PUT, inline or in files, and multipart completion), shares its
// files, records its own ObjectCreated:Put event without the caller, and
// its After runs once per write.
func TestFanoutLinksWithTheWrite(t *testing.T) {
	s := openEvents(t, "src", "dst")
	ctx := sluice.WithRequestInfo(context.Background(), sluice.RequestInfo{Principal: "AKID", SourceIP: "192.0.2.1"})
	afters := 0
	var seqs []string
	s.SetFanout(func(tx *FanoutTx, obj sluice.ObjectInfo, seq string) error {
		seqs = append(seqs, seq)
		if string(tx.BucketConfig("src", "marker")) != "on" {
			return nil
		}
		if _, ok := tx.BucketRegion("dst"); !ok {
			t.Error("BucketRegion(dst): no bucket")
		}
		etag, ok, err := tx.Link("dst", sluice.ObjectMeta{ContentType: "text/copy"})
		if err != nil || !ok || etag != unquote(obj.ETag) {
			t.Errorf("Link: %q %v %v", etag, ok, err)
		}
		if _, ok, _ := tx.Link("missing", sluice.ObjectMeta{}); ok {
			t.Error("Link into a missing bucket succeeded")
		}
		tx.After(func() { afters++ })
		return nil
	})
	if err := s.PutBucketConfig(ctx, "src", "marker", []byte("on")); err != nil {
		t.Fatal(err)
	}
	for i, body := range [][]byte{[]byte("small"), bytes.Repeat([]byte("big "), 64<<10)} {
		key := []string{"small", "big"}[i]
		if _, err := s.PutObject(ctx, &sluice.PutObjectInput{Bucket: "src", Key: key, Body: bytes.NewReader(body), Size: int64(len(body))}); err != nil {
			t.Fatal(err)
		}
		if got := readAll(t, s, "dst", key); !bytes.Equal(got, body) {
			t.Fatalf("%s: copy has %d bytes, want %d", key, len(got), len(body))
		}
		info, err := s.HeadObject(ctx, "dst", key)
		if err != nil || info.Meta.ContentType != "text/copy" {
			t.Fatalf("%s: copy %+v, %v", key, info, err)
		}
	}
	up, err := s.CreateUpload(ctx, &sluice.CreateUploadInput{Bucket: "src", Key: "multi"})
	if err != nil {
		t.Fatal(err)
	}
	part, err := s.UploadPart(ctx, &sluice.UploadPartInput{Bucket: "src", Key: "multi", UploadID: up.UploadID, PartNumber: 1, Body: strings.NewReader("parts"), Size: 5})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CompleteUpload(ctx, &sluice.CompleteUploadInput{Bucket: "src", Key: "multi", UploadID: up.UploadID, Parts: []sluice.CompletePart{{Number: 1, ETag: part.ETag}}}); err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, s, "dst", "multi"); string(got) != "parts" {
		t.Fatalf("multipart copy has %q", got)
	}
	if afters != 3 {
		t.Errorf("After ran %d times for 3 writes", afters)
	}

	// The copies outlive their sources: they share, not borrow, the files.
	for _, k := range []string{"small", "big", "multi"} {
		if err := s.DeleteObject(ctx, "src", k); err != nil {
			t.Fatal(err)
		}
	}
	if got := readAll(t, s, "dst", "big"); len(got) != 4*64<<10 {
		t.Errorf("copy after its source's delete has %d bytes", len(got))
	}

	evs, err := s.ReadEvents(ctx, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range evs {
		got = append(got, e.Name+" "+e.Bucket+"/"+e.Key+" "+e.Request.Principal)
	}
	want := []string{
		"ObjectCreated:Put src/small AKID", "ObjectCreated:Put dst/small ",
		"ObjectCreated:Put src/big AKID", "ObjectCreated:Put dst/big ",
		"ObjectCreated:CompleteMultipartUpload src/multi AKID", "ObjectCreated:Put dst/multi ",
		"ObjectRemoved:Delete src/small AKID", "ObjectRemoved:Delete src/big AKID", "ObjectRemoved:Delete src/multi AKID",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("events:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for i, e := range []int{0, 2, 4} {
		if seqs[i] != evs[e].Sequencer {
			t.Errorf("write %d: Fanout got sequencer %q, its event has %q", i, seqs[i], evs[e].Sequencer)
		}
	}
}

// TestFanoutErrorFailsTheWrite: an error from the Fanout fails the write,
// and nothing of it, nor of what the Fanout did, is committed.
func TestFanoutErrorFailsTheWrite(t *testing.T) {
	s := openEvents(t, "src", "dst")
	ctx := context.Background()
	boom := errors.New("boom")
	s.SetFanout(func(tx *FanoutTx, obj sluice.ObjectInfo, seq string) error {
		if _, _, err := tx.Link("dst", sluice.ObjectMeta{}); err != nil {
			return err
		}
		return boom
	})
	if _, err := s.PutObject(ctx, &sluice.PutObjectInput{Bucket: "src", Key: "k", Body: strings.NewReader("v"), Size: 1}); !errors.Is(err, boom) {
		t.Fatalf("PutObject: %v, want the Fanout's error", err)
	}
	for _, b := range []string{"src", "dst"} {
		if _, err := s.HeadObject(ctx, b, "k"); !sluice.IsCode(err, sluice.ErrNoSuchKey) {
			t.Errorf("%s/k after the failed write: %v", b, err)
		}
	}
	s.SetFanout(nil)
	if _, err := s.PutObject(ctx, &sluice.PutObjectInput{Bucket: "src", Key: "k", Body: strings.NewReader("v"), Size: 1}); err != nil {
		t.Fatalf("PutObject without a Fanout: %v", err)
	}
}

// TestGuardedWrites: under WithGuard, a failing check refuses PutObject,
// LinkObject and DeleteObject with nothing changed; a passing one lets
// them through and record runs in their transaction with the ETag.
func TestGuardedWrites(t *testing.T) {
	s := openEvents(t, "src", "dst")
	ctx := context.Background()
	src, err := s.PutObject(ctx, &sluice.PutObjectInput{Bucket: "src", Key: "k", Body: strings.NewReader("v"), Size: 1})
	if err != nil {
		t.Fatal(err)
	}
	no := errors.New("not newer")
	refuse := func(*bolt.Bucket) error { return no }
	var recorded []string
	record := func(st *bolt.Bucket, etag string) error {
		recorded = append(recorded, etag)
		return st.Put([]byte("last"), []byte(etag))
	}
	pass := func(st *bolt.Bucket) error { return nil }
	// Before any state exists, the check sees nothing and passes.
	first := s.WithGuard(ctx, "c", refuse, record)
	if _, err := s.PutObject(first, &sluice.PutObjectInput{Bucket: "dst", Key: "k", Body: strings.NewReader("v"), Size: 1}); err != nil {
		t.Fatalf("first guarded PUT: %v", err)
	}

	denied := s.WithGuard(ctx, "c", refuse, record)
	if _, err := s.PutObject(denied, &sluice.PutObjectInput{Bucket: "dst", Key: "k", Body: strings.NewReader("w"), Size: 1}); !errors.Is(err, no) {
		t.Errorf("refused PUT: %v", err)
	}
	if _, err := s.LinkObject(denied, src, &sluice.PutObjectInput{Bucket: "dst", Key: "k2"}); !errors.Is(err, no) {
		t.Errorf("refused link: %v", err)
	}
	if err := s.DeleteObject(denied, "dst", "k"); !errors.Is(err, no) {
		t.Errorf("refused delete: %v", err)
	}
	if got := string(readAll(t, s, "dst", "k")); got != "v" {
		t.Errorf("after refused writes dst/k = %q", got)
	}
	if _, err := s.HeadObject(ctx, "dst", "k2"); !sluice.IsCode(err, sluice.ErrNoSuchKey) {
		t.Errorf("refused link left dst/k2: %v", err)
	}

	ok := s.WithGuard(ctx, "c", pass, record)
	if _, err := s.LinkObject(ok, src, &sluice.PutObjectInput{Bucket: "dst", Key: "k2"}); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteObject(ok, "dst", "k"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteObject(ok, "dst", "never"); err != nil {
		t.Fatal(err)
	}
	want := []string{unquote(src.ETag), unquote(src.ETag), "", ""}
	if strings.Join(recorded, ",") != strings.Join(want, ",") {
		t.Errorf("recorded %q, want %q", recorded, want)
	}
	if err := s.ViewState("c", func(b *bolt.Bucket) error {
		if v := b.Get([]byte("last")); len(v) != 0 {
			t.Errorf("state after the last delete: %q", v)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}
