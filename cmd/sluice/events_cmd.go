package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"

	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

const eventsUsage = `Usage: sluice events dead-letters [flags]
       sluice events redrive [ID] [flags]

dead-letters lists the S3 event deliveries that ran out of attempts, one per
line: ID, attempts, target, bucket/key, event name and the last error.
redrive sends the dead letter ID (every dead letter without ID) again with a
fresh retry budget.
`

// eventsPath is where a running sluice serves the notifier's dead letters
// (behind SigV4, service s3).
const eventsPath = "/_sluice/events/dead-letters"

// deadLetter is the part of a dead letter the CLI prints.
type deadLetter struct {
	ID        string `json:"Id"`
	Kind      string
	Target    string
	Bucket    string
	Key       string
	EventName string
	Attempts  int
	LastError string
}

func runEvents(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("events", eventsUsage, stderr)
	awsConfig := clientConfig(fs)
	positional, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(positional) == 0 {
		fs.Usage()
		return usageError{"events: no subcommand given (dead-letters or redrive)"}
	}
	cfg, err := awsConfig()
	if err != nil {
		return err
	}
	call := func(method, path string) ([]byte, error) {
		endpoint := strings.TrimSuffix(*cfg.BaseEndpoint, "/") + path
		req, err := http.NewRequestWithContext(ctx, method, endpoint, nil)
		if err != nil {
			return nil, err
		}
		creds, err := cfg.Credentials.Retrieve(ctx)
		if err != nil {
			return nil, fmt.Errorf("credentials: %w", err)
		}
		sum := sha256.Sum256(nil)
		hash := hex.EncodeToString(sum[:])
		req.Header.Set("X-Amz-Content-Sha256", hash)
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
			var e struct{ Message string }
			_ = json.Unmarshal(body, &e)
			if e.Message == "" {
				e.Message = strings.TrimSpace(string(body))
			}
			return nil, fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, e.Message)
		}
		return body, nil
	}
	switch positional[0] {
	case "dead-letters":
		if len(positional) > 1 {
			return usageError{fmt.Sprintf("events dead-letters: unexpected argument %q", positional[1])}
		}
		body, err := call(http.MethodGet, eventsPath)
		if err != nil {
			return err
		}
		var list struct{ DeadLetters []deadLetter }
		if err := json.Unmarshal(body, &list); err != nil {
			return fmt.Errorf("decode dead letters: %w", err)
		}
		if len(list.DeadLetters) == 0 {
			fmt.Fprintln(stdout, "no dead letters")
			return nil
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tATTEMPTS\tTARGET\tOBJECT\tEVENT\tLAST ERROR")
		for _, d := range list.DeadLetters {
			fmt.Fprintf(tw, "%s\t%d\t%s\t%s/%s\t%s\t%s\n", d.ID, d.Attempts, d.Target, d.Bucket, d.Key, d.EventName, d.LastError)
		}
		return tw.Flush()
	case "redrive":
		path := eventsPath + "/redrive"
		switch len(positional) {
		case 1:
		case 2:
			path += "?id=" + url.QueryEscape(positional[1])
		default:
			return usageError{fmt.Sprintf("events redrive: unexpected argument %q", positional[2])}
		}
		body, err := call(http.MethodPost, path)
		if err != nil {
			return err
		}
		var out struct{ Redriven int }
		if err := json.Unmarshal(body, &out); err != nil {
			return fmt.Errorf("decode redrive answer: %w", err)
		}
		fmt.Fprintf(stdout, "redriven: %d\n", out.Redriven)
		return nil
	}
	return usageError{fmt.Sprintf("events: unknown subcommand %q (dead-letters or redrive)", positional[0])}
}
