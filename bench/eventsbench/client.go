package main

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/sluicehq/sluice/bench/internal/benchkit"
)

// client is benchkit's lean SigV4 S3 client with the calls this bench
// makes: path-style requests over one keep-alive transport, so that the
// client costs little CPU on a 2-core machine shared with the server.
type client struct{ *benchkit.S3Client }

func newClient(base string, cfg Config, conns int) *client {
	return &client{benchkit.NewS3Client(base, cfg.AccessKey, cfg.SecretKey, cfg.Region, conns)}
}

// put uploads one object; anything but 200 is an error.
func (c *client) put(ctx context.Context, path string, b *benchkit.Body) error {
	st, msg, _, err := c.Do(ctx, http.MethodPut, path, nil, b, 512)
	if err != nil {
		return err
	}
	if st != http.StatusOK {
		return fmt.Errorf("PUT %s: HTTP %d: %s", path, st, strings.TrimSpace(string(msg)))
	}
	return nil
}

// copyObject copies the object at src ("bucket/key") to dst with
// CopyObject, which can fail with an error document in a 200 answer.
func (c *client) copyObject(ctx context.Context, src, dst string) error {
	hdr := http.Header{"X-Amz-Copy-Source": {"/" + src}}
	st, msg, _, err := c.Do(ctx, http.MethodPut, "/"+dst, hdr, nil, 1024)
	if err != nil {
		return err
	}
	if st != http.StatusOK || !bytes.Contains(msg, []byte("<CopyObjectResult")) {
		return fmt.Errorf("CopyObject %s to %s: HTTP %d: %s", src, dst, st, strings.TrimSpace(string(msg)))
	}
	return nil
}

// doOK is DoOK with an optional XML body, which carries a Content-MD5:
// PutBucketTagging requires one.
func (c *client) doOK(ctx context.Context, method, path string, data []byte) ([]byte, error) {
	if data == nil {
		return c.DoOK(ctx, method, path, nil, nil)
	}
	b := benchkit.NewBody(data)
	sum := md5.Sum(data)
	hdr := http.Header{}
	hdr.Set("Content-MD5", base64.StdEncoding.EncodeToString(sum[:]))
	hdr.Set("Content-Type", "application/xml")
	return c.DoOK(ctx, method, path, hdr, &b)
}

// listPage is the part of a ListObjectsV2 answer the copy poller reads.
type listPage struct {
	Keys        []string `xml:"Contents>Key"`
	IsTruncated bool     `xml:"IsTruncated"`
	NextToken   string   `xml:"NextContinuationToken"`
}

// list returns every key of bucket under prefix that sorts after
// startAfter, following continuation tokens.
func (c *client) list(ctx context.Context, bucket, prefix, startAfter string) ([]string, error) {
	var keys []string
	token := ""
	for {
		q := url.Values{"list-type": {"2"}, "prefix": {prefix}, "max-keys": {"1000"}}
		if token != "" {
			q.Set("continuation-token", token)
		} else if startAfter != "" {
			q.Set("start-after", startAfter)
		}
		msg, err := c.doOK(ctx, http.MethodGet, "/"+bucket+"?"+strings.ReplaceAll(q.Encode(), "+", "%20"), nil)
		if err != nil {
			return nil, err
		}
		var p listPage
		if err := xml.Unmarshal(msg, &p); err != nil {
			return nil, fmt.Errorf("decode ListObjectsV2 of %s: %w", bucket, err)
		}
		keys = append(keys, p.Keys...)
		if !p.IsTruncated || p.NextToken == "" {
			return keys, nil
		}
		token = p.NextToken
	}
}
