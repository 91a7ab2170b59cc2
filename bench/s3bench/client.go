package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// emptySHA256 is the hex SHA-256 of an empty payload, sent with GETs.
const emptySHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

// unsignedPayload is the x-amz-content-sha256 value SDKs use over TLS.
const unsignedPayload = "UNSIGNED-PAYLOAD"

// client is a deliberately lean S3 client: path-style requests, one tuned
// keep-alive transport, SigV4 headers computed by the AWS SDK signer. It
// avoids the full SDK middleware stack so that, on a 2-core machine shared
// with the server, the client costs as little CPU as possible and costs the
// same for every server.
type client struct {
	base    string
	http    *http.Client
	signer  *v4.Signer
	creds   aws.Credentials
	region  string
	payload string // "sha256" or "unsigned"
}

func newClient(base string, cfg Config) *client {
	maxConns := 1
	for _, c := range cfg.Concurrency {
		maxConns = max(maxConns, c)
	}
	tr := &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        2 * maxConns,
		MaxIdleConnsPerHost: 2 * maxConns,
		IdleConnTimeout:     90 * time.Second,
		// Asking for gzip would let a server compress GET bodies for one
		// side only; S3 clients do not ask for it either.
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
		creds:   aws.Credentials{AccessKeyID: cfg.AccessKey, SecretAccessKey: cfg.SecretKey},
		region:  cfg.Region,
		payload: cfg.Payload,
	}
}

func (c *client) close() { c.http.CloseIdleConnections() }

// body is an object payload with its SigV4 payload hash computed once, the
// way a client that hashes before sending (aws-cli over plain HTTP) does,
// without charging the hash to every request.
type body struct {
	data []byte
	hash string
}

func newBody(data []byte, payload string) body {
	if payload == "unsigned" {
		return body{data: data, hash: unsignedPayload}
	}
	sum := sha256.Sum256(data)
	return body{data: data, hash: hex.EncodeToString(sum[:])}
}

// do signs and sends one request and returns the status, and the number of
// body bytes read. The response body is always drained so the connection
// goes back to the pool.
func (c *client) do(ctx context.Context, method, path string, b *body) (int, int64, error) {
	var rd io.Reader
	hash := emptySHA256
	if b != nil {
		rd = bytes.NewReader(b.data)
		hash = b.hash
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return 0, 0, err
	}
	if b != nil {
		req.ContentLength = int64(len(b.data))
	}
	req.Header.Set("X-Amz-Content-Sha256", hash)
	if err := c.signer.SignHTTP(ctx, c.creds, req, hash, "s3", c.region, time.Now().UTC()); err != nil {
		return 0, 0, fmt.Errorf("sign %s %s: %w", method, path, err)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, 0, err
	}
	n, err := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil {
		return resp.StatusCode, n, fmt.Errorf("read %s %s body: %w", method, path, err)
	}
	return resp.StatusCode, n, nil
}

// doOK is do for setup calls: anything but a 2xx is an error carrying the
// start of the body (S3 puts the error code there).
func (c *client) doOK(ctx context.Context, method, path string, b *body) error {
	var rd io.Reader
	hash := emptySHA256
	if b != nil {
		rd = bytes.NewReader(b.data)
		hash = b.hash
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("X-Amz-Content-Sha256", hash)
	if err := c.signer.SignHTTP(ctx, c.creds, req, hash, "s3", c.region, time.Now().UTC()); err != nil {
		return fmt.Errorf("sign %s %s: %w", method, path, err)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 2048))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: HTTP %d: %s", method, path, resp.StatusCode, strings.TrimSpace(string(msg)))
	}
	return nil
}

func (c *client) listBuckets(ctx context.Context) error { return c.doOK(ctx, http.MethodGet, "/", nil) }

func (c *client) createBucket(ctx context.Context, bucket string) error {
	return c.doOK(ctx, http.MethodPut, "/"+bucket, nil)
}
