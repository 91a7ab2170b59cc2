package main

import (
	"cmp"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
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
