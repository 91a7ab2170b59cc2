package main

import (
	"bytes"
	"cmp"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/sluicehq/sluice"
)

// defaultEndpoint is where client commands find a running sluice.
const defaultEndpoint = "http://127.0.0.1:4566"

// clientTimeout bounds one client call. It must outlast the longest
// synchronous invocation Lambda allows (15 minutes).
const clientTimeout = sluice.MaxTimeout + time.Minute

// clientConfig registers the flags every client command shares (--endpoint,
// --region) on fs and returns a function that, after fs.Parse, resolves the
// AWS SDK configuration for talking to a running sluice:
//
//   - endpoint: --endpoint, else SLUICE_ENDPOINT, else http://127.0.0.1:4566;
//   - credentials: SLUICE_ACCESS_KEY/SLUICE_SECRET_KEY, else
//     AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (+ AWS_SESSION_TOKEN), else test/test;
//   - region: --region, else AWS_REGION, else AWS_DEFAULT_REGION, else us-east-1.
//
// Shared files (~/.aws) and instance metadata are never consulted: a local
// tool must not pick up production credentials by accident.
func clientConfig(fs *flag.FlagSet) func() (aws.Config, error) {
	endpoint := fs.String("endpoint", "", "sluice endpoint URL (env SLUICE_ENDPOINT; default "+defaultEndpoint+")")
	region := fs.String("region", "", "region (env AWS_REGION, AWS_DEFAULT_REGION; default "+sluice.DefaultRegion+")")
	return func() (aws.Config, error) {
		ep := cmp.Or(*endpoint, os.Getenv("SLUICE_ENDPOINT"), defaultEndpoint)
		u, err := url.Parse(ep)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return aws.Config{}, usageError{fmt.Sprintf("--endpoint %q is not an http(s) URL", ep)}
		}
		ak, sk, token := clientCredentials()
		if ak == "" || sk == "" {
			return aws.Config{}, errors.New("empty access key or secret key in the environment")
		}
		return aws.Config{
			Region:       cmp.Or(*region, os.Getenv("AWS_REGION"), os.Getenv("AWS_DEFAULT_REGION"), sluice.DefaultRegion),
			BaseEndpoint: aws.String(ep),
			Credentials:  credentials.NewStaticCredentialsProvider(ak, sk, token),
			HTTPClient:   closedBodySafeClient{awshttp.NewBuildableClient().WithTimeout(clientTimeout)},
		}, nil
	}
}

// clientCredentials picks the key pair as clientConfig documents.
func clientCredentials() (accessKey, secretKey, sessionToken string) {
	if ak, sk := os.Getenv("SLUICE_ACCESS_KEY"), os.Getenv("SLUICE_SECRET_KEY"); ak != "" || sk != "" {
		return ak, sk, ""
	}
	if ak, sk := os.Getenv("AWS_ACCESS_KEY_ID"), os.Getenv("AWS_SECRET_ACCESS_KEY"); ak != "" || sk != "" {
		return ak, sk, os.Getenv("AWS_SESSION_TOKEN")
	}
	return sluice.DefaultAccessKey, sluice.DefaultSecretKey, ""
}

// parseInterspersed parses args with fs, allowing flags after positional
// arguments ("sluice invoke NAME --tail"), and returns the positionals.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return positional, nil
		}
		rest := fs.Args()
		// Everything after a "--" is positional.
		if len(args) > len(rest) && args[len(args)-len(rest)-1] == "--" {
			return append(positional, rest...), nil
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
}

// closedBodySafeClient hides the request body's WriteTo from net/http. The
// SDK closes a request body as soon as the response headers arrive; Go
// 1.26's transport then reads the body once more, the SDK's closed body
// answers WriteTo with io.EOF, and the transport takes that for a write
// failure and closes the connection under the response being read
// ("use of closed network connection"). Read after close is a clean EOF.
type closedBodySafeClient struct{ aws.HTTPClient }

type readOnlyRequestBody struct{ io.ReadCloser }

func (c closedBodySafeClient) Do(r *http.Request) (*http.Response, error) {
	if r.Body != nil && r.Body != http.NoBody {
		r.Body = readOnlyRequestBody{r.Body}
	}
	return c.HTTPClient.Do(r)
}

// signedCall sends a SigV4-signed request for one of Sluice's own endpoints
// (/_sluice/...) and returns the body of a 200 answer; any other answer
// becomes an error carrying the server's code and message.
func signedCall(ctx context.Context, cfg aws.Config, method, path string, payload []byte) ([]byte, error) {
	endpoint := strings.TrimSuffix(*cfg.BaseEndpoint, "/") + path
	req, err := http.NewRequestWithContext(ctx, method, endpoint, bytes.NewReader(payload))
	if err != nil {
		return nil, err
	}
	creds, err := cfg.Credentials.Retrieve(ctx)
	if err != nil {
		return nil, fmt.Errorf("credentials: %w", err)
	}
	sum := sha256.Sum256(payload)
	hash := hex.EncodeToString(sum[:])
	req.Header.Set("X-Amz-Content-Sha256", hash)
	if payload != nil {
		md := md5.Sum(payload)
		req.Header.Set("Content-MD5", base64.StdEncoding.EncodeToString(md[:]))
	}
	if err := v4.NewSigner().SignHTTP(ctx, creds, req, hash, "s3", cfg.Region, time.Now()); err != nil {
		return nil, fmt.Errorf("sign request: %w", err)
	}
	resp, err := cfg.HTTPClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		var e struct{ Code, Message string }
		if json.Unmarshal(body, &e) != nil {
			_ = xml.Unmarshal(body, &e)
		}
		if e.Code != "" {
			e.Message = e.Code + ": " + e.Message
		}
		if e.Message == "" {
			e.Message = strings.TrimSpace(string(body))
		}
		return nil, fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, e.Message)
	}
	return body, nil
}
