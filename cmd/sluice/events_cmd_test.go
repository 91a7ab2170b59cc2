package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/fsstore"
	"github.com/sluicehq/sluice/notify"
	"github.com/sluicehq/sluice/s3api"
	"github.com/sluicehq/sluice/sigv4"
)

// TestEventsDeadLettersAndRedrive lists and re-drives a real dead letter
// through the notifier's handler behind SigV4 verification.
func TestEventsDeadLettersAndRedrive(t *testing.T) {
	dir := t.TempDir()
	scfg := fsstore.DefaultConfig()
	scfg.Dir, scfg.RecordEvents, scfg.NoSync = filepath.Join(dir, "store"), true, true
	store, err := fsstore.Open(scfg)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()

	var failing atomic.Bool
	failing.Store(true)
	var hits atomic.Int32
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if failing.Load() {
			w.WriteHeader(http.StatusBadGateway)
		}
	}))
	defer hook.Close()

	ctx := context.Background()
	if err := store.CreateBucket(ctx, sluice.Bucket{Name: "b", Region: sluice.DefaultRegion, Created: time.Now()}); err != nil {
		t.Fatal(err)
	}
	doc, err := notify.Validator{}.ValidateNotification(ctx, "b", []byte(`<NotificationConfiguration><WebhookConfiguration><Url>`+hook.URL+`</Url><Event>s3:ObjectCreated:*</Event></WebhookConfiguration></NotificationConfiguration>`))
	if err != nil {
		t.Fatal(err)
	}
	if err := store.PutBucketConfig(ctx, "b", sluice.ConfigNotification, doc); err != nil {
		t.Fatal(err)
	}

	ncfg := notify.DefaultConfig()
	ncfg.Dir, ncfg.NoSync, ncfg.MaxAttempts = filepath.Join(dir, "notify"), true, 1
	n, err := notify.New(ncfg, store, store, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	sctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- n.Serve(sctx) }()
	defer func() { stop(); <-done; n.Close() }()

	if _, err := store.PutObject(ctx, &sluice.PutObjectInput{Bucket: "b", Key: "lost.txt", Body: strings.NewReader("x"), Size: 1}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		dl, _ := n.DeadLetters(ctx)
		if len(dl) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no dead letter")
		}
		time.Sleep(5 * time.Millisecond)
	}

	acfg := sigv4.DefaultConfig()
	acfg.Credentials = map[string]string{"test": "test"}
	verifier, err := sigv4.New(acfg)
	if err != nil {
		t.Fatal(err)
	}
	h := n.Handler()
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := verifier.Verify(r); err != nil {
			http.Error(w, `{"message":"`+err.Error()+`"}`, http.StatusForbidden)
			return
		}
		h.ServeHTTP(w, r)
	}))
	defer api.Close()
	t.Setenv("SLUICE_ACCESS_KEY", "test")
	t.Setenv("SLUICE_SECRET_KEY", "test")

	var out, errOut bytes.Buffer
	if err := runEvents(ctx, []string{"dead-letters", "--endpoint", api.URL}, &out, &errOut); err != nil {
		t.Fatalf("dead-letters: %v (%s)", err, errOut.String())
	}
	if !strings.Contains(out.String(), "b/lost.txt") || !strings.Contains(out.String(), "502") {
		t.Fatalf("dead-letters output:\n%s", out.String())
	}

	failing.Store(false)
	out.Reset()
	if err := runEvents(ctx, []string{"redrive", "--endpoint", api.URL}, &out, &errOut); err != nil {
		t.Fatalf("redrive: %v", err)
	}
	if strings.TrimSpace(out.String()) != "redriven: 1" {
		t.Fatalf("redrive output %q", out.String())
	}
	for hits.Load() < 2 {
		if time.Now().After(deadline) {
			t.Fatal("redriven delivery never arrived")
		}
		time.Sleep(5 * time.Millisecond)
	}

	// A wrong key is refused by the verifier, and the command says so.
	t.Setenv("SLUICE_SECRET_KEY", "wrong")
	if err := runEvents(ctx, []string{"redrive", "nope", "--endpoint", api.URL}, &out, &errOut); err == nil || !strings.Contains(err.Error(), "403") {
		t.Fatalf("bad signature: err = %v", err)
	}
}

// TestEventsWebhook adds a webhook rule through the real S3 API and keeps
// the rules the bucket already had.
func TestEventsWebhook(t *testing.T) {
	ctx := context.Background()
	scfg := fsstore.DefaultConfig()
	scfg.Dir, scfg.NoSync = t.TempDir(), true
	store, err := fsstore.Open(scfg)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	if err := store.CreateBucket(ctx, sluice.Bucket{Name: "b"}); err != nil {
		t.Fatal(err)
	}
	first, err := notify.Validator{}.ValidateNotification(ctx, "b", []byte(`<NotificationConfiguration><WebhookConfiguration><Id>first</Id><Url>http://127.0.0.1:1/a</Url><Event>s3:ObjectRemoved:*</Event></WebhookConfiguration></NotificationConfiguration>`))
	if err != nil {
		t.Fatal(err)
	}
	if err := store.PutBucketConfig(ctx, "b", sluice.ConfigNotification, first); err != nil {
		t.Fatal(err)
	}
	s3, err := s3api.New(s3api.DefaultConfig(), store, nil, s3api.WithNotifications(notify.Validator{}))
	if err != nil {
		t.Fatal(err)
	}
	acfg := sigv4.DefaultConfig()
	acfg.Credentials = map[string]string{"test": "test"}
	verifier, err := sigv4.New(acfg)
	if err != nil {
		t.Fatal(err)
	}
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, err := verifier.Verify(r)
		if err != nil {
			s3.WriteError(w, r, err)
			return
		}
		s3.ServeHTTP(w, r.WithContext(sluice.WithIdentity(r.Context(), id)))
	}))
	defer api.Close()
	t.Setenv("SLUICE_ACCESS_KEY", "test")
	t.Setenv("SLUICE_SECRET_KEY", "test")

	var out, errOut bytes.Buffer
	args := []string{"webhook", "--endpoint", api.URL, "--bucket", "b", "--url", "http://127.0.0.1:1/hook", "--secret", "k", "--suffix", ".jpg", "--id", "second", "--batch-size", "20"}
	if err := runEvents(ctx, args, &out, &errOut); err != nil {
		t.Fatalf("webhook: %v (%s)", err, errOut.String())
	}
	doc, err := store.BucketConfig(ctx, "b", sluice.ConfigNotification)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := notify.Parse(doc)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Webhooks) != 2 || cfg.Webhooks[0].ID != "first" {
		t.Fatalf("webhooks after adding one: %+v", cfg.Webhooks)
	}
	got := cfg.Webhooks[1]
	if got.ID != "second" || got.URL != "http://127.0.0.1:1/hook" || got.Secret != "k" || got.BatchSize != 20 ||
		len(got.Events) != 1 || got.Events[0] != "s3:ObjectCreated:*" ||
		got.Filter == nil || len(got.Filter.Rules) != 1 || got.Filter.Rules[0].Value != ".jpg" {
		t.Errorf("added webhook = %+v", got)
	}

	for _, tt := range []struct {
		name string
		args []string
		want string
	}{
		{"no bucket", []string{"webhook", "--url", "http://x/"}, "--bucket is required"},
		{"bad url", []string{"webhook", "--bucket", "b", "--url", "ftp://x/"}, "is not an http(s) URL"},
		{"missing bucket", []string{"webhook", "--bucket", "nope", "--url", "http://x/"}, "NoSuchBucket"},
		{"batch too big", []string{"webhook", "--bucket", "b", "--url", "http://x/", "--batch-size", "101"}, "--batch-size 101 is not between 1 and 100"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := runEvents(ctx, append(tt.args, "--endpoint", api.URL), &out, &errOut)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want it to mention %q", err, tt.want)
			}
		})
	}
}
