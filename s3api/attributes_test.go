package s3api

import (
	"bytes"
	"context"
	"encoding/xml"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/s3/manager"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

func TestGetObjectAttributesSinglePart(t *testing.T) {
	e := newMPEnv(t)
	e.bucket("attrs")
	data := []byte("attribute me")
	e.put("attrs", "k", data, func(in *s3.PutObjectInput) { in.ChecksumAlgorithm = types.ChecksumAlgorithmSha256 })
	info, err := e.store.HeadObject(context.Background(), "attrs", "k")
	if err != nil {
		t.Fatal(err)
	}

	resp, body := e.do("GET", "/attrs/k?attributes", nil, "x-amz-object-attributes", "ETag,ObjectSize,StorageClass,Checksum,ObjectParts")
	want := xml.Header + `<GetObjectAttributesResponse xmlns="http://s3.amazonaws.com/doc/2006-03-01/">` +
		`<ETag>` + strings.Trim(quotedMD5(data), `"`) + `</ETag>` +
		`<Checksum><ChecksumSHA256>` + sha256B64(data) + `</ChecksumSHA256><ChecksumType>FULL_OBJECT</ChecksumType></Checksum>` +
		`<StorageClass>STANDARD</StorageClass><ObjectSize>12</ObjectSize></GetObjectAttributesResponse>`
	if resp.StatusCode != 200 || string(body) != want {
		t.Errorf("status %d\n%s\nwant\n%s", resp.StatusCode, body, want)
	}
	if got, want := resp.Header.Get("Last-Modified"), info.LastModified.UTC().Format(http.TimeFormat); got != want {
		t.Errorf("Last-Modified = %q, want %q", got, want)
	}

	resp, body = e.do("GET", "/attrs/k?attributes", nil, "x-amz-object-attributes", "ObjectSize")
	want = xml.Header + `<GetObjectAttributesResponse xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><ObjectSize>12</ObjectSize></GetObjectAttributesResponse>`
	if string(body) != want {
		t.Errorf("only ObjectSize:\n%s", body)
	}

	tests := []struct {
		name   string
		path   string
		header []string
		status int
		code   string
	}{
		{"no header", "/attrs/k?attributes", nil, 400, "InvalidRequest"},
		{"empty header", "/attrs/k?attributes", []string{"x-amz-object-attributes", " , "}, 400, "InvalidRequest"},
		{"unknown attribute", "/attrs/k?attributes", []string{"x-amz-object-attributes", "ETag,Owner"}, 400, "InvalidArgument"},
		{"missing key", "/attrs/none?attributes", []string{"x-amz-object-attributes", "ETag"}, 404, "NoSuchKey"},
		{"never issued version", "/attrs/k?attributes&versionId=v1", []string{"x-amz-object-attributes", "ETag"}, 400, "InvalidArgument"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := e.do("GET", tt.path, nil, tt.header...)
			we := expectError(t, resp, body, tt.status, tt.code)
			if tt.name == "unknown attribute" && (we.ArgumentName != "x-amz-object-attributes" || we.ArgumentValue != "Owner") {
				t.Errorf("argument = %q %q", we.ArgumentName, we.ArgumentValue)
			}
			if tt.name == "never issued version" && (we.ArgumentName != "versionId" || we.ArgumentValue != "v1") {
				t.Errorf("argument = %q %q", we.ArgumentName, we.ArgumentValue)
			}
		})
	}
}

// TestGetObjectAttributesMultipart pages the parts of an object uploaded by
// the SDK's transfer manager with CRC32 checksums.
func TestGetObjectAttributesMultipart(t *testing.T) {
	e := newMPEnv(t)
	ctx := context.Background()
	e.bucket("mpattrs")
	data := mpData(11*mib, 40)
	up := manager.NewUploader(e.client, func(u *manager.Uploader) { u.PartSize = 5 * mib })
	if _, err := up.Upload(ctx, &s3.PutObjectInput{Bucket: aws.String("mpattrs"), Key: aws.String("big"), Body: bytes.NewReader(data)}); err != nil {
		t.Fatalf("upload: %v", err)
	}
	parts := split(data, 5*mib)

	out, err := e.client.GetObjectAttributes(ctx, &s3.GetObjectAttributesInput{
		Bucket: aws.String("mpattrs"), Key: aws.String("big"), MaxParts: aws.Int32(2),
		ObjectAttributes: []types.ObjectAttributes{types.ObjectAttributesEtag, types.ObjectAttributesChecksum,
			types.ObjectAttributesObjectParts, types.ObjectAttributesObjectSize, types.ObjectAttributesStorageClass},
	})
	if err != nil {
		t.Fatalf("attributes: %v", err)
	}
	if got, want := aws.ToString(out.ETag), strings.Trim(multipartETag(parts...), `"`); got != want {
		t.Errorf("ETag = %q, want %q", got, want)
	}
	if aws.ToInt64(out.ObjectSize) != int64(len(data)) || out.StorageClass != types.StorageClassStandard {
		t.Errorf("size %d class %q", aws.ToInt64(out.ObjectSize), out.StorageClass)
	}
	if out.Checksum == nil || aws.ToString(out.Checksum.ChecksumCRC32) == "" {
		t.Fatalf("no CRC32 checksum: %+v", out.Checksum)
	}
	if out.LastModified == nil || out.LastModified.IsZero() {
		t.Error("no LastModified")
	}
	op := out.ObjectParts
	if op == nil || aws.ToInt32(op.TotalPartsCount) != 3 || !aws.ToBool(op.IsTruncated) || aws.ToInt32(op.MaxParts) != 2 ||
		aws.ToString(op.NextPartNumberMarker) != "2" || len(op.Parts) != 2 {
		t.Fatalf("first page of parts: %+v", op)
	}
	for i, p := range op.Parts {
		if aws.ToInt32(p.PartNumber) != int32(i+1) || aws.ToInt64(p.Size) != int64(len(parts[i])) || aws.ToString(p.ChecksumCRC32) != crc32B64(parts[i]) {
			t.Errorf("part %d = %d/%d/%s", i+1, aws.ToInt32(p.PartNumber), aws.ToInt64(p.Size), aws.ToString(p.ChecksumCRC32))
		}
	}
	out, err = e.client.GetObjectAttributes(ctx, &s3.GetObjectAttributesInput{
		Bucket: aws.String("mpattrs"), Key: aws.String("big"), PartNumberMarker: op.NextPartNumberMarker,
		ObjectAttributes: []types.ObjectAttributes{types.ObjectAttributesObjectParts},
	})
	if err != nil {
		t.Fatal(err)
	}
	op = out.ObjectParts
	if op == nil || aws.ToBool(op.IsTruncated) || len(op.Parts) != 1 || aws.ToInt32(op.Parts[0].PartNumber) != 3 ||
		aws.ToInt64(op.Parts[0].Size) != int64(len(parts[2])) || aws.ToString(op.PartNumberMarker) != "2" {
		t.Errorf("second page of parts: %+v", op)
	}
	if out.ETag != nil || out.ObjectSize != nil {
		t.Error("attributes not asked for were returned")
	}
}
