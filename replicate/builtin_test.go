package replicate

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/google/go-cmp/cmp"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/awsevent"
	"github.com/sluicehq/sluice/frontdoor"
	"github.com/sluicehq/sluice/fsstore"
	"github.com/sluicehq/sluice/lambda"
	"github.com/sluicehq/sluice/notify"
	"github.com/sluicehq/sluice/s3api"
)

// newCopier is a Replicator that is not consuming the outbox, so that every
// copy a test sees was made by HandleS3Event.
func (s *stack) newCopier() *Replicator {
	s.t.Helper()
	r, err := New(testConfig(s.t.TempDir()), s.store, s.store, slog.New(slog.DiscardHandler))
	if err != nil {
		s.t.Fatal(err)
	}
	s.t.Cleanup(func() { r.Close() })
	return r
}

// lastEvent is the newest outbox event of bucket/key, as the notifier would
// turn it into a record.
func (s *stack) lastEvent(bucket, key string) sluice.Event {
	s.t.Helper()
	evs, err := s.store.ReadEvents(context.Background(), 0, 1<<20)
	if err != nil {
		s.t.Fatal(err)
	}
	for i := len(evs) - 1; i >= 0; i-- {
		if evs[i].Bucket == bucket && evs[i].Key == key {
			return evs[i]
		}
	}
	s.t.Fatalf("no event for %s/%s", bucket, key)
	return sluice.Event{}
}

func s3EventJSON(t *testing.T, ev sluice.Event) []byte {
	t.Helper()
	b, err := json.Marshal(awsevent.NewS3Event(ev, awsevent.S3Rule{ConfigurationID: "copy"}))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestHandleS3EventCopiesAndDeletes(t *testing.T) {
	s := newStack(t)
	s.mkBucket("photos", "")
	s.mkBucket("backup", "")
	s.mkBucket("backup-eu", "eu-west-1")
	s.tagBucket("photos", "backup backup-eu@eu-west-1")
	r := s.newCopier()
	ctx := context.Background()

	// A key with a space and a non-ASCII letter: the record carries it
	// form-encoded ("my+caf%C3%A9.jpg").
	const key = "2025/my café.jpg"
	body := []byte("a photo, honestly")
	_, err := s.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String("photos"), Key: aws.String(key), Body: bytes.NewReader(body),
		ContentType: aws.String("image/jpeg"), CacheControl: aws.String("max-age=60"),
		Metadata: map[string]string{"camera": "x100"}, Tagging: aws.String("kind=cat"),
	})
	if err != nil {
		t.Fatal(err)
	}
	payload := s3EventJSON(t, s.lastEvent("photos", key))
	if !strings.Contains(string(payload), `"key":"2025/my+caf%C3%A9.jpg"`) {
		t.Fatalf("record key not form-encoded: %s", payload)
	}
	out, err := r.HandleS3Event(ctx, payload)
	if err != nil {
		t.Fatal(err)
	}
	var sum CopySummary
	if err := json.Unmarshal(out, &sum); err != nil {
		t.Fatal(err)
	}
	want := CopySummary{
		Copied:  []CopyResult{{Bucket: "photos", Key: key, Target: "backup"}, {Bucket: "photos", Key: key, Target: "backup-eu@eu-west-1"}},
		Deleted: []CopyResult{}, Skipped: []CopyResult{},
	}
	if diff := cmp.Diff(want, sum); diff != "" {
		t.Errorf("summary (-want +got):\n%s", diff)
	}
	for _, target := range []string{"backup", "backup-eu"} {
		got, obj := getObject(t, s.client, target, key)
		if !bytes.Equal(got, body) {
			t.Fatalf("%s: body %q, want %q", target, got, body)
		}
		type meta struct {
			ContentType, CacheControl, ETag string
			User                            map[string]string
		}
		wantm := meta{"image/jpeg", "max-age=60", fmt.Sprintf("%q", md5hex(body)), map[string]string{"camera": "x100"}}
		gotm := meta{aws.ToString(obj.ContentType), aws.ToString(obj.CacheControl), aws.ToString(obj.ETag), obj.Metadata}
		if diff := cmp.Diff(wantm, gotm); diff != "" {
			t.Errorf("%s: metadata (-want +got):\n%s", target, diff)
		}
		if diff := cmp.Diff(map[string]string{"kind": "cat"}, objectTags(t, s.client, target, key)); diff != "" {
			t.Errorf("%s: tags (-want +got):\n%s", target, diff)
		}
	}

	// The same record again (Lambda's at-least-once delivery) copies nothing
	// new: the copies keep their modification time.
	_, before := getObject(t, s.client, "backup", key)
	if _, err := r.HandleS3Event(ctx, payload); err != nil {
		t.Fatal(err)
	}
	if _, after := getObject(t, s.client, "backup", key); !aws.ToTime(after.LastModified).Equal(aws.ToTime(before.LastModified)) {
		t.Error("a replayed record copied the object again")
	}

	if _, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("photos"), Key: aws.String(key)}); err != nil {
		t.Fatal(err)
	}
	out, err = r.HandleS3Event(ctx, s3EventJSON(t, s.lastEvent("photos", key)))
	if err != nil {
		t.Fatal(err)
	}
	sum = CopySummary{}
	if err := json.Unmarshal(out, &sum); err != nil {
		t.Fatal(err)
	}
	if len(sum.Deleted) != 2 {
		t.Errorf("summary %s, want two deletions", out)
	}
	for _, target := range []string{"backup", "backup-eu"} {
		if b, _ := getObject(t, s.client, target, key); b != nil {
			t.Errorf("%s: copy still there after the delete record", target)
		}
	}
}

func TestHandleS3EventOlderRecordLoses(t *testing.T) {
	s := newTaggedStack(t)
	r := s.newCopier()
	ctx := context.Background()
	s.put("src", "k", []byte("v1"))
	first := s.lastEvent("src", "k")
	s.put("src", "k", []byte("v2"))
	second := s.lastEvent("src", "k")
	if _, err := r.HandleS3Event(ctx, s3EventJSON(t, second)); err != nil {
		t.Fatal(err)
	}
	out, err := r.HandleS3Event(ctx, s3EventJSON(t, first))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), "overwritten since") {
		t.Errorf("older record: %s", out)
	}
	if got, _ := getObject(t, s.client, "dst", "k"); string(got) != "v2" {
		t.Errorf("target holds %q, want v2", got)
	}
}

func TestHandleS3EventErrors(t *testing.T) {
	s := newStack(t)
	s.mkBucket("src", "")
	s.mkBucket("untagged", "")
	s.tagBucket("src", "missing-target")
	r := s.newCopier()
	ctx := context.Background()
	s.put("src", "k", []byte("v"))
	s.put("untagged", "k", []byte("v"))
	good := s.lastEvent("src", "k")

	tests := []struct {
		name    string
		payload []byte
		errText string // "" for success
		skipped bool
	}{
		{"not JSON", []byte(`{"Records":`), "decode S3 event", false},
		{"bad escape in key", []byte(`{"Records":[{"eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"src"},"object":{"key":"a%zz"}}}]}`), "invalid URL escape", false},
		{"no bucket", []byte(`{"Records":[{"eventName":"ObjectCreated:Put","s3":{"object":{"key":"k"}}}]}`), "no s3.bucket.name", false},
		{"unknown bucket", []byte(`{"Records":[{"eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"nope"},"object":{"key":"k"}}}]}`), "nope", false},
		{"target bucket missing", s3EventJSON(t, good), "missing-target", false},
		{"untagged bucket", s3EventJSON(t, s.lastEvent("untagged", "k")), "", true},
		{"other event", []byte(`{"Records":[{"eventName":"ObjectRestore:Completed","s3":{"bucket":{"name":"src"},"object":{"key":"k"}}}]}`), "", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := r.HandleS3Event(ctx, tc.payload)
			if tc.errText != "" {
				if err == nil || !strings.Contains(err.Error(), tc.errText) {
					t.Fatalf("err %v, want one mentioning %q", err, tc.errText)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var sum CopySummary
			if err := json.Unmarshal(out, &sum); err != nil {
				t.Fatal(err)
			}
			if tc.skipped && (len(sum.Skipped) != 1 || len(sum.Copied) != 0) {
				t.Errorf("summary %s, want one skipped record", out)
			}
		})
	}
}

// TestCopyBuiltinThroughNotification attaches sluice-s3-copy to a bucket
// with a notification configuration, as the Lambda recipe does, with the
// replicator's outbox consumer off: the upload reaches the target only
// through S3 notify → Lambda async invoke → the built-in.
func TestCopyBuiltinThroughNotification(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	scfg := fsstore.DefaultConfig()
	scfg.Dir = filepath.Join(dir, "store")
	scfg.RecordEvents = true
	scfg.NoSync = true
	st, err := fsstore.Open(scfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	log := slog.New(slog.DiscardHandler)

	r, err := New(testConfig(filepath.Join(dir, "replicate")), st, st, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })

	hcfg := lambda.DefaultHostConfig()
	hcfg.Dir = filepath.Join(dir, "run")
	host, err := lambda.NewHost(hcfg, nil, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { host.Close() })
	fcfg := lambda.DefaultConfig()
	fcfg.Dir = filepath.Join(dir, "lambda")
	fcfg.AsyncBackoff = []time.Duration{10 * time.Millisecond}
	fns, err := lambda.New(fcfg, st, host, log)
	if err != nil {
		t.Fatal(err)
	}
	if err := fns.RegisterBuiltin("sluice-s3-copy", "Copies new objects to the buckets named by the source bucket's TargetBucket tag.", r.HandleS3Event); err != nil {
		t.Fatal(err)
	}
	ncfg := notify.DefaultConfig()
	ncfg.Dir = filepath.Join(dir, "notify")
	ncfg.NoSync = true
	ncfg.MinBackoff, ncfg.MaxBackoff = 10*time.Millisecond, 50*time.Millisecond
	n, err := notify.New(ncfg, st, st, fns, log)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := s3api.New(s3api.DefaultConfig(), st, log, s3api.WithNotifications(n))
	if err != nil {
		t.Fatal(err)
	}
	url := serveDoor(t, log, map[string]frontdoor.Service{"s3": srv, "lambda": fns})
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{}, 2)
	go func() { fns.Serve(runCtx); done <- struct{}{} }()
	go func() { n.Serve(runCtx); done <- struct{}{} }()
	t.Cleanup(func() {
		cancel()
		for range 2 {
			<-done
		}
		n.Close()
		fns.Close()
	})
	client := s3.New(s3.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(url), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider("test", "test", ""),
	})

	for _, b := range []string{"uploads", "uploads-copy"} {
		if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(b)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := client.PutBucketTagging(ctx, &s3.PutBucketTaggingInput{Bucket: aws.String("uploads"),
		Tagging: &types.Tagging{TagSet: []types.Tag{{Key: aws.String(TagName), Value: aws.String("uploads-copy")}}}}); err != nil {
		t.Fatal(err)
	}
	_, err = client.PutBucketNotificationConfiguration(ctx, &s3.PutBucketNotificationConfigurationInput{
		Bucket: aws.String("uploads"),
		NotificationConfiguration: &types.NotificationConfiguration{LambdaFunctionConfigurations: []types.LambdaFunctionConfiguration{{
			Id:                aws.String("copy"),
			LambdaFunctionArn: aws.String("arn:aws:lambda:us-east-1:000000000000:function:sluice-s3-copy"),
			Events:            []types.Event{"s3:ObjectCreated:*", "s3:ObjectRemoved:*"},
		}}},
	})
	if err != nil {
		t.Fatalf("PutBucketNotificationConfiguration: %v", err)
	}

	body := []byte("uploaded through the recipe")
	if _, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("uploads"), Key: aws.String("in/a b.txt"),
		Body: bytes.NewReader(body), ContentType: aws.String("text/plain")}); err != nil {
		t.Fatal(err)
	}
	poll(t, "copy through the notification", func() bool { b, _ := getObject(t, client, "uploads-copy", "in/a b.txt"); return b != nil })
	got, obj := getObject(t, client, "uploads-copy", "in/a b.txt")
	if !bytes.Equal(got, body) || aws.ToString(obj.ContentType) != "text/plain" {
		t.Errorf("copy %q, content type %q", got, aws.ToString(obj.ContentType))
	}

	if _, err := client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("uploads"), Key: aws.String("in/a b.txt")}); err != nil {
		t.Fatal(err)
	}
	poll(t, "delete through the notification", func() bool { b, _ := getObject(t, client, "uploads-copy", "in/a b.txt"); return b == nil })
}
