package s3api

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/google/go-cmp/cmp"
	"github.com/sluicehq/sluice"
)

func TestBucketReplicationRoundTrip(t *testing.T) {
	ts := newTestServer(t)
	ts.mkBucket("src")
	ts.mkBucket("dst")
	ts.setVersioning("src", sluice.VersioningEnabled)
	ctx := context.Background()

	_, err := ts.Client.GetBucketReplication(ctx, &s3.GetBucketReplicationInput{Bucket: aws.String("src")})
	if err == nil || !strings.Contains(err.Error(), "ReplicationConfigurationNotFoundError") || !strings.Contains(err.Error(), "StatusCode: 404") {
		t.Fatalf("get before put: %v, want ReplicationConfigurationNotFoundError 404", err)
	}
	in := &types.ReplicationConfiguration{
		Role: aws.String("arn:aws:iam::000000000000:role/r"),
		Rules: []types.ReplicationRule{{
			ID: aws.String("docs"), Priority: aws.Int32(1), Status: types.ReplicationRuleStatusEnabled,
			Filter: &types.ReplicationRuleFilter{And: &types.ReplicationRuleAndOperator{Prefix: aws.String("docs/"),
				Tags: []types.Tag{{Key: aws.String("k"), Value: aws.String("v")}}}},
			DeleteMarkerReplication: &types.DeleteMarkerReplication{Status: types.DeleteMarkerReplicationStatusDisabled},
			Destination:             &types.Destination{Bucket: aws.String("arn:aws:s3:::dst"), StorageClass: types.StorageClassStandardIa},
		}},
	}
	if _, err := ts.Client.PutBucketReplication(ctx, &s3.PutBucketReplicationInput{Bucket: aws.String("src"), ReplicationConfiguration: in}); err != nil {
		t.Fatal(err)
	}
	out, err := ts.Client.GetBucketReplication(ctx, &s3.GetBucketReplicationInput{Bucket: aws.String("src")})
	if err != nil {
		t.Fatal(err)
	}
	got := out.ReplicationConfiguration
	r := got.Rules[0]
	type view struct {
		Role, ID, Status, Prefix, TagKey, Dest, Class, DMR string
		Priority                                           int32
	}
	gotv := view{aws.ToString(got.Role), aws.ToString(r.ID), string(r.Status), aws.ToString(r.Filter.And.Prefix),
		aws.ToString(r.Filter.And.Tags[0].Key), aws.ToString(r.Destination.Bucket), string(r.Destination.StorageClass),
		string(r.DeleteMarkerReplication.Status), aws.ToInt32(r.Priority)}
	want := view{"arn:aws:iam::000000000000:role/r", "docs", "Enabled", "docs/", "k", "arn:aws:s3:::dst", "STANDARD_IA", "Disabled", 1}
	if diff := cmp.Diff(want, gotv); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
	cfg, err := BucketReplication(ctx, ts.Store, "src")
	if err != nil || cfg == nil || cfg.Rules[0].Matches("docs/a", nil) || !cfg.Rules[0].Matches("docs/a", []sluice.Tag{{Key: "k", Value: "v"}}) {
		t.Fatalf("BucketReplication: %v %v", cfg, err)
	}
	if _, err := ts.Client.DeleteBucketReplication(ctx, &s3.DeleteBucketReplicationInput{Bucket: aws.String("src")}); err != nil {
		t.Fatal(err)
	}
	if _, err := ts.Client.GetBucketReplication(ctx, &s3.GetBucketReplicationInput{Bucket: aws.String("src")}); err == nil {
		t.Fatal("configuration still there after delete")
	}
}

func replDoc(rules string) []byte {
	return []byte(`<ReplicationConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Role>arn:aws:iam::1:role/r</Role>` + rules + `</ReplicationConfiguration>`)
}

const goodDest = `<Destination><Bucket>arn:aws:s3:::dst</Bucket></Destination>`

func TestPutBucketReplicationErrors(t *testing.T) {
	ts := newTestServer(t)
	ts.mkBucket("src")
	ts.mkBucket("dst")
	ts.mkBucket("plain")
	ts.mkBucket("paused")
	ts.setVersioning("src", sluice.VersioningEnabled)
	ts.setVersioning("paused", sluice.VersioningSuspended)
	tests := []struct {
		name   string
		bucket string
		doc    []byte
		status int
		code   string
	}{
		{"not xml", "src", []byte("nope"), 400, "MalformedXML"},
		{"no rules", "src", replDoc(""), 400, "MalformedXML"},
		{"no role", "src", []byte(`<ReplicationConfiguration><Rule><Status>Enabled</Status>` + goodDest + `</Rule></ReplicationConfiguration>`), 400, "MalformedXML"},
		{"missing status", "src", replDoc(`<Rule>` + goodDest + `</Rule>`), 400, "InvalidArgument"},
		{"bad status", "src", replDoc(`<Rule><Status>On</Status>` + goodDest + `</Rule>`), 400, "MalformedXML"},
		{"missing destination", "src", replDoc(`<Rule><Status>Enabled</Status></Rule>`), 400, "InvalidArgument"},
		{"bad arn", "src", replDoc(`<Rule><Status>Enabled</Status><Destination><Bucket>dst</Bucket></Destination></Rule>`), 400, "InvalidArgument"},
		{"filter without priority", "src", replDoc(`<Rule><Status>Enabled</Status><Filter><Prefix>a</Prefix></Filter><DeleteMarkerReplication><Status>Disabled</Status></DeleteMarkerReplication>` + goodDest + `</Rule>`), 400, "InvalidRequest"},
		{"filter without delete marker", "src", replDoc(`<Rule><Priority>1</Priority><Status>Enabled</Status><Filter><Prefix>a</Prefix></Filter>` + goodDest + `</Rule>`), 400, "InvalidRequest"},
		{"duplicate id", "src", replDoc(`<Rule><ID>x</ID><Status>Enabled</Status>` + goodDest + `</Rule><Rule><ID>x</ID><Status>Enabled</Status>` + goodDest + `</Rule>`), 400, "InvalidArgument"},
		{"tag filter with delete markers", "src", replDoc(`<Rule><Priority>1</Priority><Status>Enabled</Status><Filter><Tag><Key>a</Key><Value>b</Value></Tag></Filter><DeleteMarkerReplication><Status>Enabled</Status></DeleteMarkerReplication>` + goodDest + `</Rule>`), 400, "InvalidArgument"},
		{"missing destination bucket", "src", replDoc(`<Rule><Status>Enabled</Status><Destination><Bucket>arn:aws:s3:::nowhere</Bucket></Destination></Rule>`), 400, "InvalidRequest"},
		{"same bucket", "src", replDoc(`<Rule><Status>Enabled</Status><Destination><Bucket>arn:aws:s3:::src</Bucket></Destination></Rule>`), 400, "InvalidRequest"},
		{"bad storage class", "src", replDoc(`<Rule><Status>Enabled</Status><Destination><Bucket>arn:aws:s3:::dst</Bucket><StorageClass>FAST</StorageClass></Destination></Rule>`), 400, "InvalidStorageClass"},
		{"no such bucket", "nobucket", replDoc(`<Rule><Status>Enabled</Status>` + goodDest + `</Rule>`), 404, "NoSuchBucket"},
		{"versioning never enabled", "plain", replDoc(`<Rule><Status>Enabled</Status>` + goodDest + `</Rule>`), 400, "InvalidRequest"},
		{"versioning suspended", "paused", replDoc(`<Rule><Status>Enabled</Status>` + goodDest + `</Rule>`), 400, "InvalidRequest"},
		{"versioning checked before the document", "plain", []byte("nope"), 400, "InvalidRequest"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := ts.do(rawReq{method: "PUT", path: "/" + tt.bucket + "?replication", body: tt.doc, header: map[string]string{"Content-MD5": b64md5(tt.doc)}})
			wantError(t, resp, tt.status, tt.code)
		})
	}
	t.Run("missing content-md5", func(t *testing.T) {
		doc := replDoc(`<Rule><Status>Enabled</Status>` + goodDest + `</Rule>`)
		wantError(t, ts.do(rawReq{method: "PUT", path: "/src?replication", body: doc}), 400, "InvalidRequest")
	})
	t.Run("remote region destination need not exist here", func(t *testing.T) {
		doc := replDoc(`<Rule><Status>Enabled</Status><Destination><Bucket>arn:aws:s3:eu-west-1::far-away</Bucket></Destination></Rule>`)
		if resp := ts.do(rawReq{method: "PUT", path: "/src?replication", body: doc, header: map[string]string{"Content-MD5": b64md5(doc)}}); resp.status != 200 {
			t.Fatalf("status %d: %s", resp.status, resp.body)
		}
	})
	t.Run("anonymous refused", func(t *testing.T) {
		wantError(t, ts.do(rawReq{method: "GET", path: "/src?replication", anon: true}), 403, "AccessDenied")
	})
}

func TestReplicationRuleMatches(t *testing.T) {
	p := func(s string) *string { return &s }
	tests := []struct {
		name string
		rule ReplicationRule
		key  string
		tags map[string]string
		want bool
	}{
		{"empty filter", ReplicationRule{Filter: &ReplicationFilter{}}, "x", nil, true},
		{"v1 prefix", ReplicationRule{Prefix: p("a/")}, "a/b", nil, true},
		{"v1 prefix miss", ReplicationRule{Prefix: p("a/")}, "b", nil, false},
		{"tag", ReplicationRule{Filter: &ReplicationFilter{Tag: &bucketTag{"k", "v"}}}, "x", map[string]string{"k": "v"}, true},
		{"tag miss", ReplicationRule{Filter: &ReplicationFilter{Tag: &bucketTag{"k", "v"}}}, "x", map[string]string{"k": "w"}, false},
		{"and", ReplicationRule{Filter: &ReplicationFilter{And: &ReplicationAnd{Prefix: p("d/"), Tags: []bucketTag{{"k", "v"}}}}}, "d/x", map[string]string{"k": "v"}, true},
		{"and prefix miss", ReplicationRule{Filter: &ReplicationFilter{And: &ReplicationAnd{Prefix: p("d/"), Tags: []bucketTag{{"k", "v"}}}}}, "e/x", map[string]string{"k": "v"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var tags []sluice.Tag
			for k, v := range tt.tags {
				tags = append(tags, sluice.Tag{Key: k, Value: v})
			}
			if got := tt.rule.Matches(tt.key, tags); got != tt.want {
				t.Errorf("Matches = %v, want %v", got, tt.want)
			}
		})
	}
}

func FuzzReplicationXML(f *testing.F) {
	f.Add(replDoc(`<Rule><Status>Enabled</Status>` + goodDest + `</Rule>`))
	f.Add(replDoc(`<Rule><Priority>1</Priority><Status>Enabled</Status><Filter><And><Prefix>a</Prefix><Tag><Key>k</Key><Value>v</Value></Tag></And></Filter><DeleteMarkerReplication><Status>Disabled</Status></DeleteMarkerReplication>` + goodDest + `</Rule>`))
	f.Add([]byte("<ReplicationConfiguration/>"))
	f.Fuzz(func(t *testing.T, doc []byte) {
		c, err := ParseReplicationConfiguration(doc)
		if err != nil {
			return
		}
		// What is accepted is stored normalized and must parse back equal.
		norm, err := marshalReplication(c)
		if err != nil {
			t.Fatalf("marshal accepted config: %v", err)
		}
		again, err := ParseReplicationConfiguration(norm)
		if err != nil {
			t.Fatalf("normalized document refused: %v\n%s", err, norm)
		}
		if diff := cmp.Diff(c.Rules, again.Rules); diff != "" {
			t.Fatalf("normalization changed rules (-first +second):\n%s", diff)
		}
	})
}
