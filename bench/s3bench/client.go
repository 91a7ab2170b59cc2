package main

import (
	"context"
	"net/http"

	"github.com/sluicehq/sluice/bench/internal/benchkit"
)

// client is benchkit's lean SigV4 S3 client with the calls this bench
// makes: the same client, costing the same CPU, for every server.
type client struct{ *benchkit.S3Client }

func newClient(base string, cfg Config) *client {
	maxConns := 1
	for _, c := range cfg.Concurrency {
		maxConns = max(maxConns, c)
	}
	return &client{benchkit.NewS3Client(base, cfg.AccessKey, cfg.SecretKey, cfg.Region, maxConns)}
}

// newBody prepares a payload for the -payload mode once, so that hashing
// is not charged to every request.
func newBody(data []byte, payload string) benchkit.Body {
	if payload == "unsigned" {
		return benchkit.UnsignedBody(data)
	}
	return benchkit.NewBody(data)
}

// do signs and sends one request and returns the status and the number of
// body bytes read, buffering none of them.
func (c *client) do(ctx context.Context, method, path string, b *benchkit.Body) (int, int64, error) {
	st, _, n, err := c.Do(ctx, method, path, nil, b, 0)
	return st, n, err
}

// doOK is do for setup calls: anything but a 2xx is an error.
func (c *client) doOK(ctx context.Context, method, path string, b *benchkit.Body) error {
	_, err := c.DoOK(ctx, method, path, nil, b)
	return err
}

func (c *client) listBuckets(ctx context.Context) error { return c.doOK(ctx, http.MethodGet, "/", nil) }

func (c *client) createBucket(ctx context.Context, bucket string) error {
	return c.doOK(ctx, http.MethodPut, "/"+bucket, nil)
}
