package benchkit

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

// EmptySHA256 is the hex SHA-256 of an empty payload, sent with GETs.
const EmptySHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

// UnsignedPayload is the x-amz-content-sha256 value SDKs use over TLS.
const UnsignedPayload = "UNSIGNED-PAYLOAD"

// okBodyLimit is how much of a response DoOK keeps: a ListObjectsV2 page of
// 1,000 keys fits.
const okBodyLimit = 4 << 20

// NewTransport is a keep-alive transport with room for maxConns callers,
// as an SDK client reusing its connections has. Compression is off:
// asking for gzip would let a server compress bodies for one side only,
// and S3 and Lambda clients do not ask for it either.
func NewTransport(maxConns int) *http.Transport {
	return &http.Transport{
		Proxy:                 nil,
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:          2 * maxConns,
		MaxIdleConnsPerHost:   2 * maxConns,
		IdleConnTimeout:       90 * time.Second,
		DisableCompression:    true,
		ResponseHeaderTimeout: 60 * time.Second,
	}
}

// S3Client is a deliberately lean S3 client: path-style requests, one tuned
// keep-alive transport, SigV4 headers computed by the AWS SDK signer. It
// avoids the full SDK middleware stack so that, on a 2-core machine shared
// with the server, the client costs as little CPU as possible and costs the
// same for every server. It is safe for concurrent use.
type S3Client struct {
	base   string
	http   *http.Client
	signer *v4.Signer
	creds  aws.Credentials
	region string
}

// NewS3Client talks to the server at base ("http://127.0.0.1:PORT") with
// room for conns concurrent requests.
func NewS3Client(base, accessKey, secretKey, region string, conns int) *S3Client {
	tr := NewTransport(conns)
	tr.WriteBufferSize = 64 << 10
	tr.ReadBufferSize = 64 << 10
	tr.ResponseHeaderTimeout = 30 * time.Second
	return &S3Client{
		base: base,
		http: &http.Client{Transport: tr, Timeout: 60 * time.Second},
		signer: v4.NewSigner(func(o *v4.SignerOptions) {
			// S3 signs the path as sent, without the second escaping other
			// services use.
			o.DisableURIPathEscaping = true
		}),
		creds:  aws.Credentials{AccessKeyID: accessKey, SecretAccessKey: secretKey},
		region: region,
	}
}

// HTTP is the client's transport-tuned HTTP client, for unsigned probes.
func (c *S3Client) HTTP() *http.Client { return c.http }

// Close drops the idle connections.
func (c *S3Client) Close() { c.http.CloseIdleConnections() }

// Body is an object payload with its SigV4 payload hash computed once, the
// way a client that hashes before sending (aws-cli over plain HTTP) does,
// without charging the hash to every request.
type Body struct {
	Data []byte
	Hash string
}

// NewBody hashes data for x-amz-content-sha256.
func NewBody(data []byte) Body {
	sum := sha256.Sum256(data)
	return Body{Data: data, Hash: hex.EncodeToString(sum[:])}
}

// UnsignedBody sends data with UNSIGNED-PAYLOAD, as SDKs do over TLS.
func UnsignedBody(data []byte) Body { return Body{Data: data, Hash: UnsignedPayload} }

// Do signs and sends one request and returns the status, up to keep bytes
// of the response body, and the number of body bytes read. The rest of the
// body is drained so the connection goes back to the pool; with keep 0
// nothing is buffered, which keeps the measured loop allocation-light.
func (c *S3Client) Do(ctx context.Context, method, path string, hdr http.Header, b *Body, keep int64) (int, []byte, int64, error) {
	var rd io.Reader
	hash := EmptySHA256
	if b != nil {
		rd = bytes.NewReader(b.Data)
		hash = b.Hash
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return 0, nil, 0, err
	}
	if b != nil {
		req.ContentLength = int64(len(b.Data))
	}
	for k, vs := range hdr {
		req.Header[k] = vs
	}
	req.Header.Set("X-Amz-Content-Sha256", hash)
	if err := c.signer.SignHTTP(ctx, c.creds, req, hash, "s3", c.region, time.Now().UTC()); err != nil {
		return 0, nil, 0, fmt.Errorf("sign %s %s: %w", method, path, err)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, nil, 0, err
	}
	defer resp.Body.Close()
	var msg []byte
	if keep > 0 {
		msg, err = io.ReadAll(io.LimitReader(resp.Body, keep))
	}
	n := int64(len(msg))
	if err == nil {
		var rest int64
		rest, err = io.Copy(io.Discard, resp.Body)
		n += rest
	}
	if err != nil {
		return resp.StatusCode, msg, n, fmt.Errorf("read %s %s body: %w", method, path, err)
	}
	return resp.StatusCode, msg, n, nil
}

// DoOK is Do for setup calls: anything but a 2xx is an error carrying the
// start of the body (S3 puts the error code there). It returns the body.
func (c *S3Client) DoOK(ctx context.Context, method, path string, hdr http.Header, b *Body) ([]byte, error) {
	st, msg, _, err := c.Do(ctx, method, path, hdr, b, okBodyLimit)
	if err != nil {
		return nil, err
	}
	if st/100 != 2 {
		return nil, fmt.Errorf("%s %s: HTTP %d: %s", method, path, st, strings.TrimSpace(string(msg)))
	}
	return msg, nil
}
