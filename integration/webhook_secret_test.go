//go:build integration

package integration

// The webhook HMAC secret is write-only: GetBucketNotificationConfiguration
// redacts it, and a configuration read back, edited and written again
// (raw XML, `sluice events webhook`) keeps it, as deliveries signed with
// the original secret show.

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"
	"testing"
)

func TestWebhookSecretRedacted(t *testing.T) {
	t.Parallel()
	s := sharedSluice(t)
	c := s3Client(s)
	recv := newWebhookReceiver(t, func(string, int) int { return http.StatusOK })
	bucket := createBucket(t, c, "ev-secret")
	secret, secret2 := "first-"+randSuffix(12), "second-"+randSuffix(12)
	mustPutNotificationXML(t, s, bucket, notificationXML(webhookRuleXML("signed", recv.srv.URL+"/signed", secret, "a/", "", "s3:ObjectCreated:*")))

	get := func() []byte {
		t.Helper()
		r := do(t, signedRequest(t, s, http.MethodGet, s.URL+"/"+bucket+"?notification", nil, signSpec{}))
		if r.Status != http.StatusOK {
			t.Fatalf("GET ?notification: %d %s", r.Status, r.Body)
		}
		for _, sec := range []string{secret, secret2} {
			if bytes.Contains(r.Body, []byte(sec)) {
				t.Fatalf("GET ?notification shows a webhook secret: %s", r.Body)
			}
		}
		return r.Body
	}
	doc := get()
	if !bytes.Contains(doc, []byte("<Secret>REDACTED</Secret>")) {
		t.Fatalf("GET ?notification = %s, want the secret as REDACTED", doc)
	}
	if out := awsOK(t, s, "s3api", "get-bucket-notification-configuration", "--bucket", bucket); strings.Contains(out, secret) {
		t.Fatalf("aws-cli shows the webhook secret: %s", out)
	}

	// Edit what GET answered (the rule now wants b/) and write it back.
	edited := strings.Replace(string(doc), "<Value>a/</Value>", "<Value>b/</Value>", 1)
	if edited == string(doc) {
		t.Fatalf("GET ?notification = %s: no prefix a/ to edit", doc)
	}
	mustPutNotificationXML(t, s, bucket, edited)
	// The CLI adds its rule the same way: GET, append, PUT.
	if r := sluiceCmd(t, s, nil, "events", "webhook", "--bucket", bucket, "--url", recv.srv.URL+"/second",
		"--id", "second", "--secret", secret2, "--prefix", "c/"); r.Code != 0 {
		t.Fatalf("sluice events webhook: %s", r)
	}
	if doc := get(); bytes.Count(doc, []byte("<Secret>REDACTED</Secret>")) != 2 || !bytes.Contains(doc, []byte("<Value>b/</Value>")) {
		t.Fatalf("after the edits, GET ?notification = %s, want both rules with redacted secrets", doc)
	}

	// REDACTED for a rule with no stored secret is refused.
	r := putNotificationXML(t, s, bucket, notificationXML(webhookRuleXML("new-rule", recv.srv.URL+"/x", "REDACTED", "", "", "s3:ObjectCreated:*")))
	if e := r.errorCode(); r.Status != http.StatusBadRequest || e.Code != "InvalidArgument" {
		t.Fatalf("PUT with REDACTED for a new rule: %d %s, want 400 InvalidArgument", r.Status, r.Body)
	}

	// Deliveries are signed with the secrets as first given.
	putEventObject(t, c, bucket, "b/one.txt", []byte("one"))
	putEventObject(t, c, bucket, "c/two.txt", []byte("two"))
	want := map[string]string{"b/one.txt": secret, "c/two.txt": secret2}
	if err := poll(eventDeadline, func() error {
		got := recv.accepted()
		for key := range want {
			if len(got[key]) == 0 {
				return fmt.Errorf("no delivery for %s yet", key)
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for key, sec := range want {
		for _, d := range recv.accepted()[key] {
			if d.Signature != hmacSignature(sec, d.Body) {
				t.Errorf("delivery of %s signed %q, want the HMAC under the secret first given", key, d.Signature)
			}
		}
	}
}
