// Command gofn is the Go S3-trigger handler of the events end-to-end tests,
// built with aws-lambda-go at test time and run as a provided.al2023
// bootstrap. For every S3 record it receives it writes one marker object to
// the bucket named by $OUT_BUCKET: key "go/<decoded object key>", body the
// record as it arrived (raw JSON, so the test sees S3's encoding, not the
// events package's).
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

type s3Event struct {
	Records []json.RawMessage `json:"Records"`
}

type record struct {
	S3 struct {
		Object struct {
			Key string `json:"key"`
		} `json:"object"`
	} `json:"s3"`
}

func main() {
	cfg, err := config.LoadDefaultConfig(context.Background())
	if err != nil {
		fmt.Fprintln(os.Stderr, "load AWS config:", err)
		os.Exit(1)
	}
	// Sluice hands the function AWS_ENDPOINT_URL (an IP address), where
	// virtual-hosted bucket names cannot resolve.
	client := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })
	lambda.Start(func(ctx context.Context, ev s3Event) (map[string][]string, error) {
		out := os.Getenv("OUT_BUCKET")
		var wrote []string
		for _, raw := range ev.Records {
			var r record
			if err := json.Unmarshal(raw, &r); err != nil {
				return nil, fmt.Errorf("decode record: %w", err)
			}
			key, err := url.QueryUnescape(r.S3.Object.Key)
			if err != nil {
				return nil, fmt.Errorf("decode key %q: %w", r.S3.Object.Key, err)
			}
			marker := "go/" + key
			_, err = client.PutObject(ctx, &s3.PutObjectInput{
				Bucket:      aws.String(out),
				Key:         aws.String(marker),
				Body:        bytes.NewReader(raw),
				ContentType: aws.String("application/json"),
			})
			if err != nil {
				return nil, fmt.Errorf("put marker %q: %w", marker, err)
			}
			wrote = append(wrote, marker)
		}
		return map[string][]string{"wrote": wrote}, nil
	})
}
