package notify_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/sluicehq/sluice"
)

// TestVersionedBucketRecords: in a bucket with versioning enabled every
// record names the version it is about — the one a PUT made, the delete
// marker a DELETE made, the version a DELETE with a version id removed —
// and ObjectRemoved:* delivers delete markers as
// ObjectRemoved:DeleteMarkerCreated.
func TestVersionedBucketRecords(t *testing.T) {
	s := newStack(t, false, nil)
	rcv := newReceiver(t, nil)
	ctx := context.Background()
	s.bucket("versioned", `<NotificationConfiguration>`+
		`<WebhookConfiguration><Id>created</Id><Url>`+rcv.URL+`</Url><Event>s3:ObjectCreated:*</Event></WebhookConfiguration>`+
		`<WebhookConfiguration><Id>removed</Id><Url>`+rcv.URL+`</Url><Event>s3:ObjectRemoved:*</Event></WebhookConfiguration>`+
		`</NotificationConfiguration>`)
	if err := s.store.SetVersioning(ctx, "versioned", sluice.VersioningEnabled); err != nil {
		t.Fatal(err)
	}

	v1 := s.put("versioned", "doc.txt", []byte("one"))
	v2 := s.put("versioned", "doc.txt", []byte("two"))
	del, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("versioned"), Key: aws.String("doc.txt")})
	if err != nil {
		t.Fatal(err)
	}
	if !aws.ToBool(del.DeleteMarker) || aws.ToString(del.VersionId) == "" {
		t.Fatalf("DeleteObject in a versioned bucket: DeleteMarker %v, VersionId %q", aws.ToBool(del.DeleteMarker), aws.ToString(del.VersionId))
	}
	if _, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("versioned"), Key: aws.String("doc.txt"), VersionId: v1.VersionId}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "four deliveries", func() bool { return len(rcv.received()) >= 4 })

	type seen struct {
		Rule, Name, Version, ETag string
		Size                      *int64
	}
	var got []seen
	seqs := map[string]string{}
	for _, r := range rcv.received() {
		var m struct {
			Records []struct {
				EventName string `json:"eventName"`
				S3        struct {
					ConfigurationID string `json:"configurationId"`
					Object          struct {
						VersionID string `json:"versionId"`
						ETag      string `json:"eTag"`
						Size      *int64 `json:"size"`
						Sequencer string `json:"sequencer"`
					} `json:"object"`
				} `json:"s3"`
			}
		}
		if err := json.Unmarshal(r.body, &m); err != nil || len(m.Records) != 1 {
			t.Fatalf("delivery %s: %v", r.body, err)
		}
		rec := m.Records[0]
		got = append(got, seen{rec.S3.ConfigurationID, rec.EventName, rec.S3.Object.VersionID, rec.S3.Object.ETag, rec.S3.Object.Size})
		seqs[rec.S3.Object.VersionID] = rec.S3.Object.Sequencer
	}
	size := func(n int64) *int64 { return &n }
	etag := func(o *s3.PutObjectOutput) string { return aws.ToString(o.ETag)[1 : len(aws.ToString(o.ETag))-1] }
	want := []seen{
		{"created", sluice.EventObjectCreatedPut, aws.ToString(v1.VersionId), etag(v1), size(3)},
		{"created", sluice.EventObjectCreatedPut, aws.ToString(v2.VersionId), etag(v2), size(3)},
		{"removed", sluice.EventObjectRemovedMarker, aws.ToString(del.VersionId), "", nil},
		{"removed", sluice.EventObjectRemovedDelete, aws.ToString(v1.VersionId), "", nil},
	}
	// The two rules deliver in parallel, so in no set order.
	byEvent := cmpopts.SortSlices(func(a, b seen) bool { return a.Name+a.Version < b.Name+b.Version })
	if diff := cmp.Diff(want, got, byEvent); diff != "" {
		t.Errorf("records (-want +got):\n%s", diff)
	}
	if seqs[aws.ToString(del.VersionId)] == "" {
		t.Error("the delete marker's record has no sequencer")
	}
}
