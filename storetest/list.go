package storetest

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/sluicehq/sluice"
)

// putMany writes keys concurrently with 16 writers, as many as a busy
// server might.
func putMany(t *testing.T, s sluice.Store, bucket string, keys []string) {
	t.Helper()
	var wg sync.WaitGroup
	next := make(chan string)
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range next {
				if _, err := s.PutObject(context.Background(), &sluice.PutObjectInput{Bucket: bucket, Key: k, Body: strings.NewReader(k), Size: int64(len(k))}); err != nil {
					t.Errorf("PutObject(%q): %v", k, err)
				}
			}
		}()
	}
	for _, k := range keys {
		next <- k
	}
	close(next)
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
}

func testListPagination(t *testing.T, s sluice.Store) {
	b := newBucket(t, s)
	var keys []string
	for i := range 2500 {
		if i < 2450 {
			keys = append(keys, fmt.Sprintf("d%02d/k%04d", i%49, i))
		} else {
			keys = append(keys, fmt.Sprintf("top%04d", i))
		}
	}
	putMany(t, s, b, keys)
	sorted := slices.Sorted(slices.Values(keys))

	tests := []struct {
		name         string
		opts         sluice.ListOptions
		wantKeys     []string
		wantPrefixes []string
		wantPages    int
	}{
		{"all by 1000", sluice.ListOptions{MaxKeys: 1000}, sorted, nil, 3},
		{"all by 333", sluice.ListOptions{MaxKeys: 333}, sorted, nil, 8},
		{"prefix", sluice.ListOptions{Prefix: "d07/", MaxKeys: 1000}, filter(sorted, "d07/"), nil, 1},
		{"prefix by 7", sluice.ListOptions{Prefix: "d07/", MaxKeys: 7}, filter(sorted, "d07/"), nil, 8},
		{"delimiter", sluice.ListOptions{Delimiter: "/", MaxKeys: 1000}, filter(sorted, "top"), dirs(49), 1},
		{"delimiter by 10", sluice.ListOptions{Delimiter: "/", MaxKeys: 10}, filter(sorted, "top"), dirs(49), 10},
		{"delimiter by 1", sluice.ListOptions{Delimiter: "/", MaxKeys: 1}, filter(sorted, "top"), dirs(49), 99},
		{"prefix and delimiter", sluice.ListOptions{Prefix: "d1", Delimiter: "/", MaxKeys: 3}, nil, dirs(49)[10:20], 4},
		{"after", sluice.ListOptions{After: "d48/k2400", MaxKeys: 1000}, sorted[slices.Index(sorted, "d48/k2400")+1:], nil, 1},
		{"after a common prefix", sluice.ListOptions{After: "d47/", Delimiter: "/", MaxKeys: 1000}, filter(sorted, "top"), []string{"d48/"}, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			gotKeys, gotPrefixes, pages := listAll(t, s, b, tc.opts)
			if diff := cmp.Diff(tc.wantKeys, gotKeys); diff != "" {
				t.Errorf("keys (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantPrefixes, gotPrefixes); diff != "" {
				t.Errorf("common prefixes (-want +got):\n%s", diff)
			}
			if pages != tc.wantPages {
				t.Errorf("pages = %d, want %d", pages, tc.wantPages)
			}
		})
	}
}

func filter(keys []string, prefix string) []string {
	var out []string
	for _, k := range keys {
		if strings.HasPrefix(k, prefix) {
			out = append(out, k)
		}
	}
	return out
}

func dirs(n int) []string {
	var out []string
	for i := range n {
		out = append(out, fmt.Sprintf("d%02d/", i))
	}
	return out
}

func testListDelimiter(t *testing.T, s sluice.Store) {
	b := newBucket(t, s)
	keys := []string{"a", "a/", "a/b", "a/b/c", "a--x", "a--y--z", "ab", "b/", "b/x", "photos/2024/jan/1.jpg", "photos/2024/feb/2.jpg", "photos/2025/mar/3.jpg", "photos/index.html"}
	putMany(t, s, b, keys)
	tests := []struct {
		name         string
		opts         sluice.ListOptions
		wantKeys     []string
		wantPrefixes []string
	}{
		{"slash", sluice.ListOptions{Delimiter: "/"}, []string{"a", "a--x", "a--y--z", "ab"}, []string{"a/", "b/", "photos/"}},
		{"prefix equal to a key", sluice.ListOptions{Prefix: "a/", Delimiter: "/"}, []string{"a/", "a/b"}, []string{"a/b/"}},
		{"nested", sluice.ListOptions{Prefix: "photos/", Delimiter: "/"}, []string{"photos/index.html"}, []string{"photos/2024/", "photos/2025/"}},
		{"deeper", sluice.ListOptions{Prefix: "photos/2024/", Delimiter: "/"}, nil, []string{"photos/2024/feb/", "photos/2024/jan/"}},
		{"multi-byte delimiter", sluice.ListOptions{Delimiter: "--"}, []string{"a", "a/", "a/b", "a/b/c", "ab", "b/", "b/x", "photos/2024/feb/2.jpg", "photos/2024/jan/1.jpg", "photos/2025/mar/3.jpg", "photos/index.html"}, []string{"a--"}},
		{"delimiter not in keys", sluice.ListOptions{Prefix: "b", Delimiter: "|"}, []string{"b/", "b/x"}, nil},
		{"prefix without matches", sluice.ListOptions{Prefix: "zzz", Delimiter: "/"}, nil, nil},
		{"prefix is partial name", sluice.ListOptions{Prefix: "pho", Delimiter: "/"}, nil, []string{"photos/"}},
	}
	for _, tc := range tests {
		for _, max := range []int{1000, 2, 1} {
			t.Run(fmt.Sprintf("%s max %d", tc.name, max), func(t *testing.T) {
				opts := tc.opts
				opts.MaxKeys = max
				gotKeys, gotPrefixes, _ := listAll(t, s, b, opts)
				if diff := cmp.Diff(tc.wantKeys, gotKeys); diff != "" {
					t.Errorf("keys (-want +got):\n%s", diff)
				}
				if diff := cmp.Diff(tc.wantPrefixes, gotPrefixes); diff != "" {
					t.Errorf("common prefixes (-want +got):\n%s", diff)
				}
			})
		}
	}
}

func testListEdges(t *testing.T, s sluice.Store) {
	ctx := context.Background()
	b := newBucket(t, s)

	page, err := s.ListObjects(ctx, b, sluice.ListOptions{MaxKeys: 0})
	if err != nil || page.IsTruncated || len(page.Objects) != 0 {
		t.Errorf("MaxKeys 0 on an empty bucket = %+v, %v", page, err)
	}
	putMany(t, s, b, []string{"a", "b", "c"})
	page, err = s.ListObjects(ctx, b, sluice.ListOptions{MaxKeys: 0})
	if err != nil || !page.IsTruncated || len(page.Objects)+len(page.CommonPrefixes) != 0 {
		t.Errorf("MaxKeys 0 = %+v, %v; want an empty truncated page", page, err)
	}
	page, err = s.ListObjects(ctx, b, sluice.ListOptions{MaxKeys: 3})
	if err != nil || page.IsTruncated || len(page.Objects) != 3 || page.NextAfter != "c" {
		t.Errorf("MaxKeys equal to the count = %+v, %v; want 3 objects, not truncated", page, err)
	}
	page, err = s.ListObjects(ctx, b, sluice.ListOptions{MaxKeys: 2})
	if err != nil || !page.IsTruncated || len(page.Objects) != 2 || page.NextAfter != "b" {
		t.Errorf("MaxKeys 2 = %+v, %v; want a, b truncated with NextAfter b", page, err)
	}
	page, err = s.ListObjects(ctx, b, sluice.ListOptions{After: "c", MaxKeys: 10})
	if err != nil || page.IsTruncated || len(page.Objects) != 0 {
		t.Errorf("After the last key = %+v, %v; want empty", page, err)
	}
	page, err = s.ListObjects(ctx, b, sluice.ListOptions{After: "bb", MaxKeys: 10})
	if err != nil || len(page.Objects) != 1 || page.Objects[0].Key != "c" {
		t.Errorf("After a missing key = %+v, %v; want c", page, err)
	}
	// Listed info is the same as HeadObject's.
	body := []byte("listed")
	info, err := s.PutObject(ctx, &sluice.PutObjectInput{Bucket: b, Key: "d", Body: bytes.NewReader(body), Size: int64(len(body)),
		Meta: sluice.ObjectMeta{ContentType: "text/plain", User: map[string]string{"k": "v"}}, ChecksumAlgorithm: sluice.ChecksumCRC32})
	if err != nil {
		t.Fatalf("PutObject: %v", err)
	}
	page, err = s.ListObjects(ctx, b, sluice.ListOptions{Prefix: "d", MaxKeys: 10})
	if err != nil || len(page.Objects) != 1 {
		t.Fatalf("ListObjects(prefix d) = %+v, %v", page, err)
	}
	if diff := cmp.Diff(info, page.Objects[0]); diff != "" {
		t.Errorf("listed info differs from PutObject's (-put +list):\n%s", diff)
	}
}
