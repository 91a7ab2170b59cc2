package stack

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/google/go-cmp/cmp"

	"github.com/sluicehq/sluice"
)

func TestVersioningConfiguration(t *testing.T) {
	st, err := load(t, `
Resources:
  On:
    Type: AWS::S3::Bucket
    Properties:
      BucketName: versioned-on
      VersioningConfiguration: {Status: Enabled}
      ReplicationConfiguration:
        Role: arn:aws:iam::000000000000:role/r
        Rules:
          - Status: Enabled
            Destination: {Bucket: !GetAtt Replica.Arn}
  Replica:
    Type: AWS::S3::Bucket
    Properties:
      BucketName: replica
      VersioningConfiguration:
        Status: Enabled
  Paused:
    Type: AWS::S3::Bucket
    Properties:
      BucketName: paused
      VersioningConfiguration: {Status: Suspended}
  Plain:
    Type: AWS::S3::Bucket
    Properties:
      BucketName: plain
`, Options{})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, b := range st.Buckets {
		got[b.Name] = b.Versioning
	}
	want := map[string]string{"versioned-on": "Enabled", "replica": "Enabled", "paused": "Suspended", "plain": ""}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("versioning (-want +got):\n%s", diff)
	}
	if len(st.Warnings) != 0 {
		t.Errorf("warnings %q: VersioningConfiguration is applied, not ignored", st.Warnings)
	}
}

func TestVersioningConfigurationErrors(t *testing.T) {
	tests := []struct {
		name string
		tmpl string
		want []string
	}{
		{
			name: "bad status",
			tmpl: `Resources:
  B:
    Type: AWS::S3::Bucket
    Properties:
      VersioningConfiguration: {Status: On}
`,
			want: []string{`5:33: Resources.B.Properties.VersioningConfiguration.Status: must be Enabled or Suspended, got "On"`},
		},
		{
			name: "no status",
			tmpl: `Resources:
  B:
    Type: AWS::S3::Bucket
    Properties:
      VersioningConfiguration:
        MfaDelete: Enabled
`,
			want: []string{
				`6:9: Resources.B.Properties.VersioningConfiguration.MfaDelete: unknown property (expected one of Status)`,
				`6:9: Resources.B.Properties.VersioningConfiguration: Status is required`,
			},
		},
		{
			name: "replication without versioning",
			tmpl: `Resources:
  B:
    Type: AWS::S3::Bucket
    Properties:
      ReplicationConfiguration:
        Role: arn:aws:iam::000000000000:role/r
        Rules:
          - Status: Enabled
            Destination: {Bucket: "arn:aws:s3:::elsewhere"}
`,
			want: []string{`5:7: Resources.B.Properties.ReplicationConfiguration: needs versioning: add VersioningConfiguration: {Status: Enabled} to the bucket, as S3 replicates only from a bucket with versioning enabled`},
		},
		{
			name: "replication with versioning suspended",
			tmpl: `Resources:
  B:
    Type: AWS::S3::Bucket
    Properties:
      VersioningConfiguration: {Status: Suspended}
      ReplicationConfiguration:
        Role: arn:aws:iam::000000000000:role/r
        Rules:
          - Status: Enabled
            Destination: {Bucket: "arn:aws:s3:::elsewhere"}
`,
			want: []string{`6:7: Resources.B.Properties.ReplicationConfiguration: needs versioning: add VersioningConfiguration: {Status: Enabled} to the bucket, as S3 replicates only from a bucket with versioning enabled`},
		},
		{
			name: "destination of this template without versioning",
			tmpl: `Resources:
  B:
    Type: AWS::S3::Bucket
    Properties:
      VersioningConfiguration: {Status: Enabled}
      ReplicationConfiguration:
        Role: arn:aws:iam::000000000000:role/r
        Rules:
          - Status: Enabled
            Destination:
              Bucket: !GetAtt Copy.Arn
  Copy:
    Type: AWS::S3::Bucket
    Properties:
      BucketName: the-copy
`,
			want: []string{`11:15: Resources.B.Properties.ReplicationConfiguration.Rules[0].Destination.Bucket: destination bucket the-copy (Resources.Copy) needs VersioningConfiguration: {Status: Enabled}: S3 replicates only into a bucket with versioning enabled`},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, errorLines(t, tc.tmpl, Options{})); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
}

// A destination in another region, or one the template does not declare,
// is not checked here: the endpoint holding it is.
func TestReplicationDestinationElsewhere(t *testing.T) {
	_, err := load(t, `Resources:
  B:
    Type: AWS::S3::Bucket
    Properties:
      VersioningConfiguration: {Status: Enabled}
      ReplicationConfiguration:
        Role: arn:aws:iam::000000000000:role/r
        Rules:
          - Status: Enabled
            Destination: {Bucket: "arn:aws:s3:eu-west-1::same-name"}
          - Status: Enabled
            Destination: {Bucket: "arn:aws:s3:::not-in-template"}
  Local:
    Type: AWS::S3::Bucket
    Properties:
      BucketName: same-name
`, Options{})
	if err != nil {
		t.Fatal(err)
	}
}

func TestARNBucket(t *testing.T) {
	tests := []struct{ arn, region, name string }{
		{"arn:aws:s3:::photos", "", "photos"},
		{"arn:aws:s3:eu-west-1::photos", "eu-west-1", "photos"},
		{"arn:aws:s3:::photos/key", "", ""},
		{"arn:aws:s3::000000000000:photos", "", ""},
		{"arn:aws:lambda:::photos", "", ""},
		{"photos", "", ""},
	}
	for _, tc := range tests {
		region, name := arnBucket(tc.arn)
		if region != tc.region || name != tc.name {
			t.Errorf("arnBucket(%q) = %q, %q; want %q, %q", tc.arn, region, name, tc.region, tc.name)
		}
	}
}

// TestApplyVersioning applies versioning before the replication
// configuration that needs it, and suspends it when the template drops it.
func TestApplyVersioning(t *testing.T) {
	srv := startSluiceS3(t)
	ctx := context.Background()
	tmpl := `Resources:
  Src:
    Type: AWS::S3::Bucket
    Properties:
      BucketName: vsrc
      VersioningConfiguration: {Status: Enabled}
      ReplicationConfiguration:
        Role: arn:aws:iam::000000000000:role/r
        Rules:
          - Status: Enabled
            Destination: {Bucket: !GetAtt Dst.Arn}
  Dst:
    Type: AWS::S3::Bucket
    Properties:
      BucketName: vdst
      VersioningConfiguration: {Status: Enabled}
  Plain:
    Type: AWS::S3::Bucket
    Properties:
      BucketName: vplain
`
	path := filepath.Join(t.TempDir(), "template.yaml")
	data := t.TempDir()
	apply := func(tmpl string) *Result {
		t.Helper()
		st, err := LoadBytes(path, []byte(tmpl), Options{StackName: "versioned"})
		if err != nil {
			t.Fatal(err)
		}
		res, err := Apply(ctx, st, srv.targets(data), nil)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	states := func() map[string]string {
		t.Helper()
		out := map[string]string{}
		for _, b := range []string{"vsrc", "vdst", "vplain"} {
			v, err := srv.store.Versioning(ctx, b)
			if err != nil {
				t.Fatal(err)
			}
			out[b] = v
		}
		return out
	}
	apply(tmpl)
	want := map[string]string{"vsrc": sluice.VersioningEnabled, "vdst": sluice.VersioningEnabled, "vplain": ""}
	if diff := cmp.Diff(want, states()); diff != "" {
		t.Errorf("after the first apply (-want +got):\n%s", diff)
	}
	rc, err := srv.targets(data).S3.GetBucketReplication(ctx, &s3.GetBucketReplicationInput{Bucket: aws.String("vsrc")})
	if err != nil || len(rc.ReplicationConfiguration.Rules) != 1 {
		t.Fatalf("replication configuration: %v", err)
	}

	// Unchanged: nothing is put again.
	for _, c := range apply(tmpl).Changes {
		if c.Kind == kindBucket && c.Action != ActionUnchanged {
			t.Errorf("second apply changed %+v", c)
		}
	}

	// Dropped from the template: suspended (a bucket never returns to
	// unversioned); the replica may drop it once nothing replicates to it.
	edited := strings.Replace(tmpl, "      BucketName: vdst\n      VersioningConfiguration: {Status: Enabled}\n", "      BucketName: vdst\n", 1)
	edited = strings.Replace(edited, "      BucketName: vplain\n", "      BucketName: vplain\n      VersioningConfiguration: {Status: Suspended}\n", 1)
	edited = edited[:strings.Index(edited, "      ReplicationConfiguration:")] + edited[strings.Index(edited, "  Dst:"):]
	apply(edited)
	want = map[string]string{"vsrc": sluice.VersioningEnabled, "vdst": sluice.VersioningSuspended, "vplain": sluice.VersioningSuspended}
	if diff := cmp.Diff(want, states()); diff != "" {
		t.Errorf("after the edit (-want +got):\n%s", diff)
	}
}
