//go:build integration

package integration

// Webhook deliveries to receivers written with Python's http.server
// (HTTP/1.1 with pipelined requests, and HTTP/1.0, which closes every
// connection after one answer) and Node's http module: a burst of uploads
// reaches each exactly once per record, correctly signed, whether Sluice
// pipelines its POSTs or falls back to one per connection.

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// receiverProcess is a webhook receiver running as its own process.
type receiverProcess struct {
	url string
}

// startReceiver runs a receiver from testdata/receivers and waits for the
// port it prints.
func startReceiver(t *testing.T, name string, args ...string) *receiverProcess {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = filepath.Join("testdata", "receivers")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("start %s: %v", name, err)
	}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
		if t.Failed() && stderr.Len() > 0 {
			t.Logf("%s %v stderr:\n%s", name, args, stderr.String())
		}
	})
	port := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(out).ReadString('\n')
		port <- strings.TrimSpace(line)
		_, _ = io.Copy(io.Discard, out)
	}()
	select {
	case p := <-port:
		if _, err := strconv.Atoi(p); err != nil {
			t.Fatalf("%s %v printed %q, not a port; stderr: %s", name, args, p, stderr.String())
		}
		return &receiverProcess{url: "http://127.0.0.1:" + p}
	case <-time.After(30 * time.Second):
		t.Fatalf("%s %v printed no port", name, args)
	}
	return nil
}

type receiverStats struct {
	Records map[string]int `json:"records"`
	Bad     int            `json:"bad"`
}

func (r *receiverProcess) stats() (receiverStats, error) {
	var st receiverStats
	resp, err := httpClient().Get(r.url + "/")
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return st, fmt.Errorf("GET stats: %s", resp.Status)
	}
	return st, json.NewDecoder(resp.Body).Decode(&st)
}

func TestWebhookReceiversInPythonAndNode(t *testing.T) {
	t.Parallel()
	s := sharedSluice(t)
	c := s3Client(s)
	const uploads, clients = 300, 8
	for _, tc := range []struct {
		name string
		cmd  []string
	}{
		{"python HTTP/1.1", []string{"python3", "receiver.py", "py11-secret", "HTTP/1.1"}},
		{"python HTTP/1.0", []string{"python3", "receiver.py", "py10-secret", "HTTP/1.0"}},
		{"node", []string{"node", "receiver.js", "node-secret"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			recv := startReceiver(t, tc.cmd[0], tc.cmd[1:]...)
			secret := tc.cmd[2]
			bucket := createBucket(t, c, "ev-recv")
			mustPutNotificationXML(t, s, bucket, notificationXML(webhookRuleXML("burst", recv.url+"/hook", secret, "", "", "s3:ObjectCreated:*")))

			var wg sync.WaitGroup
			for w := range clients {
				wg.Go(func() {
					for i := w; i < uploads; i += clients {
						key := fmt.Sprintf("up/%04d.txt", i)
						if _, err := c.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: strings.NewReader("x")}); err != nil {
							t.Errorf("put %s: %v", key, err)
							return
						}
					}
				})
			}
			wg.Wait()
			if t.Failed() {
				return
			}

			var st receiverStats
			err := poll(eventDeadline, func() error {
				var err error
				if st, err = recv.stats(); err != nil {
					return err
				}
				if len(st.Records) < uploads {
					return fmt.Errorf("%d of %d records arrived", len(st.Records), uploads)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if st.Bad != 0 {
				t.Errorf("%d POSTs with a bad signature", st.Bad)
			}
			for i := range uploads {
				key := fmt.Sprintf("up/%04d.txt", i)
				if n := st.Records[key]; n != 1 {
					t.Errorf("%s arrived %d times, want once", key, n)
				}
			}
		})
	}
}
