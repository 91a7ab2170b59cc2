package stack

import (
	"errors"
	"os"
	"testing"
)

// FuzzLoad feeds arbitrary bytes to the loader: it must never panic, and a
// failure is always Errors with at least one entry.
//
// Run it with a short minimisation time: go test ./stack/ -run '^$' -fuzz
// FuzzLoad -fuzzminimizetime 2s. With the default 60 s, minimising each
// new interesting input (the seeds are kilobyte templates) shows as
// minutes of "0/sec" although the worker runs thousands of inputs a second.
func FuzzLoad(f *testing.F) {
	if b, err := os.ReadFile("testdata/media/template.yaml"); err == nil {
		f.Add(b)
	}
	for _, s := range []string{
		bucketOnly + "Outputs:\n  V:\n    Value: !Sub [\"${A}\", {A: !Select [9, []]}]\n",
		"Resources:\n  A:\n    Type: AWS::S3::Bucket\n    Properties:\n      BucketName: !Sub \"${A.Arn}\"\n",
		"Conditions:\n  A: !Condition B\n  B: !Condition A\nResources:\n  X:\n    Type: AWS::S3::Bucket\n    Condition: A\n",
		"a: &x [*x]\n",
		"x: &a [1,2]\ny: &b [*a,*a,*a]\nz: [*b,*b,*b]\nResources: {}\n",
		`{"Resources": {"F": {"Type": "AWS::Lambda::Function", "Properties": {"Code": {"ZipFile": "x"}, "Handler": "i.h", "Runtime": "python3.12", "Role": "arn:aws:iam::0:role/r"}}}}`,
		"Resources:\n  F:\n    Type: AWS::Serverless::Function\n    Properties:\n      Events: {E: {Type: HttpApi, Properties: {ApiId: !Ref F}}}\n",
		chainTemplate(4),
		webhookTemplate,
		"Resources:\n  B:\n    Type: AWS::S3::Bucket\n    Properties:\n      NotificationConfiguration:\n        WebhookConfigurations: [{Url: 'http://[::1', Event: s3:ObjectCreated:*, BatchSize: -1, Secret: REDACTED}, {Url: !Ref B, Event: s3:ObjectCreated:*}]\n",
		"{", "", "- 1\n", "Resources:\n  !Ref x: 1\n", "Resources: !GetAtt\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		st, err := LoadBytes("fuzz/template.yaml", data, Options{StackName: "fuzz"})
		if err != nil {
			var es Errors
			if !errors.As(err, &es) || len(es) == 0 {
				t.Fatalf("error is not Errors: %v", err)
			}
			return
		}
		if st == nil {
			t.Fatal("nil stack without error")
		}
	})
}
