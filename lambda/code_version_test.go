package lambda

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	lambdasdk "github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/sluicehq/sluice"
)

// TestCodeFromS3ObjectVersion: S3ObjectVersion installs that version of
// the object even after newer ones were written; a version that is gone,
// or a delete marker, is refused with S3's error in the message.
func TestCodeFromS3ObjectVersion(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if err := e.store.CreateBucket(ctx, sluice.Bucket{Name: "code", Region: "us-east-1", Created: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if err := e.store.SetVersioning(ctx, "code", sluice.VersioningEnabled); err != nil {
		t.Fatal(err)
	}
	put := func(zip []byte) string {
		t.Helper()
		info, err := e.store.PutObject(ctx, &sluice.PutObjectInput{Bucket: "code", Key: "fn.zip", Body: bytes.NewReader(zip), Size: int64(len(zip))})
		if err != nil {
			t.Fatal(err)
		}
		return info.VersionID
	}
	first := pyZip(t)
	v1 := put(first)
	v2 := put(zipOf(t, map[string]string{"app.py": pyHandler + "\n# a newer version\n"}))
	out := e.createPy("versioned", func(in *lambdasdk.CreateFunctionInput) {
		in.Code = &types.FunctionCode{S3Bucket: aws.String("code"), S3Key: aws.String("fn.zip"), S3ObjectVersion: aws.String(v1)}
	})
	sum := sha256.Sum256(first)
	if got := aws.ToString(out.CodeSha256); got != base64.StdEncoding.EncodeToString(sum[:]) {
		t.Errorf("CodeSha256 %s: not the version asked for", got)
	}

	marker, err := e.store.DeleteVersion(ctx, "code", "fn.zip", "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.DeleteVersion(ctx, "code", "fn.zip", v2); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, version, want string }{
		{"deleted version", v2, "S3 Error Code: NoSuchVersion."},
		{"delete marker", marker.VersionID, "S3 Error Code: MethodNotAllowed."},
		{"current is a marker", "", "S3 Error Code: NoSuchKey."},
	} {
		in := &lambdasdk.UpdateFunctionCodeInput{FunctionName: aws.String("versioned"), S3Bucket: aws.String("code"), S3Key: aws.String("fn.zip")}
		if tc.version != "" {
			in.S3ObjectVersion = aws.String(tc.version)
		}
		_, err := e.client.UpdateFunctionCode(ctx, in)
		if msg := apiError(t, err, "InvalidParameterValueException"); !strings.Contains(msg, tc.want) {
			t.Errorf("%s: message %q, want %q", tc.name, msg, tc.want)
		}
	}
	if _, err := e.client.UpdateFunctionCode(ctx, &lambdasdk.UpdateFunctionCodeInput{FunctionName: aws.String("versioned"),
		S3Bucket: aws.String("code"), S3Key: aws.String("fn.zip"), S3ObjectVersion: aws.String(v1)}); err != nil {
		t.Errorf("the version under the marker: %v", err)
	}
}
