package main

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// emptySHA256 is the hex SHA-256 of an empty payload.
const emptySHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

// client is the lean S3 client of bench/s3bench (a main package, so not
// importable): path-style requests over one keep-alive transport, SigV4
// headers from the AWS SDK signer, no SDK middleware, so that the client
// costs little CPU on a 2-core machine shared with the server.
type client struct {
	base   string
	http   *http.Client
	signer *v4.Signer
	creds  aws.Credentials
	region string
}

func newClient(base string, cfg Config, conns int) *client {
	tr := &http.Transport{
		Proxy:                 nil,
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:          2 * conns,
		MaxIdleConnsPerHost:   2 * conns,
		IdleConnTimeout:       90 * time.Second,
		DisableCompression:    true,
		WriteBufferSize:       64 << 10,
		ReadBufferSize:        64 << 10,
		ResponseHeaderTimeout: 30 * time.Second,
	}
	return &client{
		base: base,
		http: &http.Client{Transport: tr, Timeout: 60 * time.Second},
		signer: v4.NewSigner(func(o *v4.SignerOptions) {
			// S3 signs the path as sent, without the second escaping other
			// services use.
			o.DisableURIPathEscaping = true
		}),
		creds:  aws.Credentials{AccessKeyID: cfg.AccessKey, SecretAccessKey: cfg.SecretKey},
		region: cfg.Region,
	}
}

func (c *client) close() { c.http.CloseIdleConnections() }

// body is an object payload with its SigV4 payload hash computed once, as
// aws-cli does over plain HTTP, without charging the hash to every request.
type body struct {
	data []byte
	hash string
}

func newBody(data []byte) body {
	sum := sha256.Sum256(data)
	return body{data: data, hash: hex.EncodeToString(sum[:])}
}

// request signs and sends one request and returns the status and up to
// limit bytes of the response body; the rest is drained so the connection
// goes back to the pool.
func (c *client) request(ctx context.Context, method, path string, hdr http.Header, b *body, limit int64) (int, []byte, error) {
	var rd io.Reader
	hash := emptySHA256
	if b != nil {
		rd = bytes.NewReader(b.data)
		hash = b.hash
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return 0, nil, err
	}
	if b != nil {
		req.ContentLength = int64(len(b.data))
	}
	for k, vs := range hdr {
		req.Header[k] = vs
	}
	req.Header.Set("X-Amz-Content-Sha256", hash)
	if err := c.signer.SignHTTP(ctx, c.creds, req, hash, "s3", c.region, time.Now().UTC()); err != nil {
		return 0, nil, fmt.Errorf("sign %s %s: %w", method, path, err)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	msg, err := io.ReadAll(io.LimitReader(resp.Body, limit))
	if err == nil {
		_, err = io.Copy(io.Discard, resp.Body)
	}
	if err != nil {
		return resp.StatusCode, msg, fmt.Errorf("read %s %s body: %w", method, path, err)
	}
	return resp.StatusCode, msg, nil
}

// put uploads one object; anything but 200 is an error.
func (c *client) put(ctx context.Context, path string, b *body) error {
	st, msg, err := c.request(ctx, http.MethodPut, path, nil, b, 512)
	if err != nil {
		return err
	}
	if st != http.StatusOK {
		return fmt.Errorf("PUT %s: HTTP %d: %s", path, st, strings.TrimSpace(string(msg)))
	}
	return nil
}

// doOK is request for setup calls: anything but a 2xx is an error carrying
// the start of the body (S3 puts the error code there). XML bodies carry a
// Content-MD5, which PutBucketTagging requires.
func (c *client) doOK(ctx context.Context, method, path string, data []byte) ([]byte, error) {
	var b *body
	hdr := http.Header{}
	if data != nil {
		bb := newBody(data)
		b = &bb
		sum := md5.Sum(data)
		hdr.Set("Content-MD5", base64.StdEncoding.EncodeToString(sum[:]))
		hdr.Set("Content-Type", "application/xml")
	}
	st, msg, err := c.request(ctx, method, path, hdr, b, 4<<20)
	if err != nil {
		return nil, err
	}
	if st/100 != 2 {
		return nil, fmt.Errorf("%s %s: HTTP %d: %s", method, path, st, strings.TrimSpace(string(msg)))
	}
	return msg, nil
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
