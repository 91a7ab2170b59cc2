package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// receiver is the webhook target: an HTTP server on a loopback port that
// records, per object key, when its first event record arrived.
type receiver struct {
	secret string
	srv    *http.Server
	ln     net.Listener

	mu       sync.Mutex
	arrived  map[string]time.Time // bucket/key -> first arrival
	records  int                  // every record received, duplicates included
	dups     int
	badSig   int
	badBody  int
	lastSeen time.Time
	// posts and perBucket count, by bucket of the first record, the POSTs
	// and the records they carried; most is the largest POST by records.
	posts, perBucket, most map[string]int
}

// hookRecord is the part of an S3 event record the bench reads.
type hookRecord struct {
	EventName string `json:"eventName"`
	S3        struct {
		Bucket struct {
			Name string `json:"name"`
		} `json:"bucket"`
		Object struct {
			Key string `json:"key"`
		} `json:"object"`
	} `json:"s3"`
}

func newReceiver(secret string) *receiver {
	return &receiver{secret: secret, arrived: map[string]time.Time{},
		posts: map[string]int{}, perBucket: map[string]int{}, most: map[string]int{}}
}

func startReceiver(secret string) (*receiver, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("webhook receiver: %w", err)
	}
	r := newReceiver(secret)
	r.ln = ln
	r.srv = &http.Server{Handler: r, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = r.srv.Serve(ln) }()
	return r, nil
}

func (r *receiver) url() string { return "http://" + r.ln.Addr().String() + "/hook" }

func (r *receiver) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = r.srv.Shutdown(ctx)
}

// ServeHTTP takes the arrival time once the whole body is read: that is
// when a real receiver could act on the event.
func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	b, err := io.ReadAll(io.LimitReader(req.Body, 1<<20))
	now := time.Now()
	if err != nil || req.Method != http.MethodPost {
		r.count(func() { r.badBody++ })
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	if r.secret != "" && !validSignature(r.secret, b, req.Header.Get("X-Sluice-Signature")) {
		r.count(func() { r.badSig++ })
		http.Error(w, "bad signature", http.StatusForbidden)
		return
	}
	keys, err := parseRecords(b)
	if err != nil {
		r.count(func() { r.badBody++ })
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	if b, _, ok := strings.Cut(keys[0], "/"); ok {
		r.posts[b]++
		r.perBucket[b] += len(keys)
		r.most[b] = max(r.most[b], len(keys))
	}
	for _, k := range keys {
		r.records++
		if _, ok := r.arrived[k]; ok {
			r.dups++
			continue
		}
		r.arrived[k] = now
	}
	r.lastSeen = now
	r.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func (r *receiver) count(f func()) {
	r.mu.Lock()
	f()
	r.mu.Unlock()
}

// validSignature checks X-Sluice-Signature: "sha256=" and the hex
// HMAC-SHA256 of the body under the rule's secret.
func validSignature(secret string, body []byte, header string) bool {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	want := "sha256=" + hex.EncodeToString(m.Sum(nil))
	return hmac.Equal([]byte(want), []byte(header))
}

// parseRecords returns "bucket/key" of every ObjectCreated record in an S3
// event message, the key decoded as S3 encodes it (a space is '+').
func parseRecords(b []byte) ([]string, error) {
	var msg struct {
		Records []hookRecord `json:"Records"`
	}
	if err := json.Unmarshal(b, &msg); err != nil {
		return nil, fmt.Errorf("decode event message: %w", err)
	}
	if len(msg.Records) == 0 {
		return nil, errors.New("event message without records")
	}
	out := make([]string, 0, len(msg.Records))
	for _, rec := range msg.Records {
		key, err := url.QueryUnescape(rec.S3.Object.Key)
		if err != nil {
			return nil, fmt.Errorf("record key %q: %w", rec.S3.Object.Key, err)
		}
		if rec.S3.Bucket.Name == "" || key == "" {
			return nil, errors.New("record without bucket or key")
		}
		out = append(out, rec.S3.Bucket.Name+"/"+key)
	}
	return out, nil
}

// arrivals returns the first arrival of each of keys that has arrived.
func (r *receiver) arrivals(keys []string) map[string]time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]time.Time, len(keys))
	for _, k := range keys {
		if t, ok := r.arrived[k]; ok {
			out[k] = t
		}
	}
	return out
}

// missing counts keys whose event has not arrived yet.
func (r *receiver) missing(keys []string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, k := range keys {
		if _, ok := r.arrived[k]; !ok {
			n++
		}
	}
	return n
}

// batching returns, for bucket, the POSTs received, the records they
// carried and the most records one carried.
func (r *receiver) batching(bucket string) (posts, records, most int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.posts[bucket], r.perBucket[bucket], r.most[bucket]
}

// stats returns the counters that must stay zero, and duplicates.
func (r *receiver) stats() (records, dups, badSig, badBody int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.records, r.dups, r.badSig, r.badBody
}
