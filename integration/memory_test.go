//go:build integration

package integration

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// TestLargeUploadMemoryStaysFlat streams a 512 MiB object through the whole
// stack (front door, SigV4, s3api, fsstore) and back, and checks that the
// server's peak resident memory grows by far less than the object: objects
// stream, they are never held whole. The same code path serves 5 GiB.
func TestLargeUploadMemoryStaysFlat(t *testing.T) {
	const size = 512 << 20
	const maxGrowth = 96 << 20 // peak RSS growth allowed over the idle server

	srv := startSluice(t)
	pid := srv.pid()
	base := peakRSS(t, pid)
	c := s3Client(srv)
	ctx := context.Background()
	bucket := bucketName("mem")
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}

	// A single PUT with UNSIGNED-PAYLOAD, so the client streams too.
	url := fmt.Sprintf("%s/%s/big", srv.URL, bucket)
	body := &genReader{rng: rand.New(rand.NewPCG(1, 2)), left: size, h: sha256.New()}
	req, err := http.NewRequest(http.MethodPut, url, body)
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = size
	req.Header.Set("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD")
	creds := aws.Credentials{AccessKeyID: srv.AccessKey, SecretAccessKey: srv.SecretKey}
	if err := v4.NewSigner().SignHTTP(ctx, creds, req, "UNSIGNED-PAYLOAD", "s3", srv.Region, time.Now()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("PUT status %d", resp.StatusCode)
	}
	wantSum := body.sum()

	out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String("big")})
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	n, err := io.Copy(h, out.Body)
	out.Body.Close()
	if err != nil || n != size {
		t.Fatalf("GET read %d bytes, err %v", n, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != wantSum {
		t.Fatalf("GET returned different bytes: sha256 %s, want %s", got, wantSum)
	}

	peak := peakRSS(t, pid)
	t.Logf("server peak RSS: %d MiB idle, %d MiB after a %d MiB PUT and GET", base>>20, peak>>20, size>>20)
	if peak-base > maxGrowth {
		t.Errorf("server peak RSS grew by %d MiB for a %d MiB object; objects must stream", (peak-base)>>20, size>>20)
	}
}

// genReader yields left pseudo-random bytes and hashes them as it goes.
type genReader struct {
	rng  *rand.Rand
	left int64
	h    hash.Hash
}

func (g *genReader) Read(p []byte) (int, error) {
	if g.left == 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > g.left {
		p = p[:g.left]
	}
	for i := 0; i+8 <= len(p); i += 8 {
		binary.LittleEndian.PutUint64(p[i:], g.rng.Uint64())
	}
	for i := len(p) &^ 7; i < len(p); i++ {
		p[i] = byte(g.rng.Uint32())
	}
	g.h.Write(p)
	g.left -= int64(len(p))
	return len(p), nil
}

func (g *genReader) sum() string { return hex.EncodeToString(g.h.Sum(nil)) }

// pid is the running server's process id.
func (s *sluiceServer) pid() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cmd.Process.Pid
}

// peakRSS reads the high-water mark of a process's resident memory.
func peakRSS(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatalf("read process status: %v", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err != nil {
				t.Fatalf("parse VmHWM %q: %v", rest, err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmHWM in /proc status")
	return 0
}
