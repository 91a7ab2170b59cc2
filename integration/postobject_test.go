//go:build integration

package integration

// End-to-end tests of browser-based uploads (S3 POST Object): boto3's
// generate_presigned_post posted with requests (py/post_policy.py) and
// aws-sdk-go-v2's PresignPostObject posted from Go, against the real
// binary; every upload reaches a webhook as an ObjectCreated:Post record.

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"mime/multipart"
	"net/http"
	"sort"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/google/go-cmp/cmp"
)

func TestPostObject(t *testing.T) {
	t.Parallel()
	s := sharedSluice(t)
	c := s3Client(s)
	recv := newWebhookReceiver(t, func(string, int) int { return http.StatusOK })
	bucket := createBucket(t, c, "post-form")
	mustPutNotificationXML(t, s, bucket, notificationXML(
		webhookRuleXML("form-uploads", recv.srv.URL+"/hook", "", "", "", "s3:ObjectCreated:Post")))

	r := runPython(t, s, "post_policy.py", "BUCKET="+bucket)
	if r.Code != 0 {
		t.Fatalf("python3 py/post_policy.py: %s", r)
	}

	// aws-sdk-go-v2's presigned POST, posted as a browser would.
	pre, err := s3.NewPresignClient(c).PresignPostObject(context.Background(), &s3.PutObjectInput{
		Bucket: aws.String(bucket), Key: aws.String("go/photo.jpg"),
	}, func(o *s3.PresignPostOptions) {
		o.Expires = 5 * time.Minute
		o.Conditions = []any{[]any{"content-length-range", 1, 1 << 20}, map[string]string{"Content-Type": "image/jpeg"}}
	})
	if err != nil {
		t.Fatal(err)
	}
	payload := make([]byte, 300_000)
	rand.Read(payload)
	var body bytes.Buffer
	w := multipart.NewWriter(&body)
	for k, v := range pre.Values {
		w.WriteField(k, v)
	}
	w.WriteField("Content-Type", "image/jpeg")
	fw, _ := w.CreateFormFile("file", "photo.jpg")
	fw.Write(payload)
	w.WriteField("submit", "Upload")
	w.Close()
	req, err := http.NewRequest(http.MethodPost, pre.URL, &body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", w.FormDataContentType())
	resp := do(t, req)
	if resp.Status != http.StatusNoContent {
		t.Fatalf("POST %s: %d %s", pre.URL, resp.Status, resp.Body)
	}
	got, out := getBody(t, c, bucket, "go/photo.jpg")
	if !bytes.Equal(got, payload) || aws.ToString(out.ContentType) != "image/jpeg" {
		t.Fatalf("read back %d bytes of type %q, want %d bytes of image/jpeg", len(got), aws.ToString(out.ContentType), len(payload))
	}

	// One ObjectCreated:Post record per accepted upload, none for the
	// refused ones (the script posts four that must fail).
	want := []string{"go/photo.jpg", "uploads/cat.png", "uploads/v2.png"}
	var keys []string
	if err := poll(eventDeadline, func() error {
		keys = keys[:0]
		for _, d := range recv.deliveries() {
			rec := onlyRecord(t, d.Body)
			name, _ := recordField(rec, "eventName").(string)
			if name != "ObjectCreated:Post" {
				return fmt.Errorf("record for %s is %q", d.Key, name)
			}
			keys = append(keys, d.Key)
		}
		if len(keys) < len(want) {
			return fmt.Errorf("have %d of %d records", len(keys), len(want))
		}
		return nil
	}); err != nil {
		t.Fatalf("webhook: %v", err)
	}
	sort.Strings(keys)
	if diff := cmp.Diff(want, keys); diff != "" {
		t.Fatalf("ObjectCreated:Post records (-want +got):\n%s", diff)
	}
}
