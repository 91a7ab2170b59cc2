package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"text/tabwriter"

	"github.com/sluicehq/sluice/notify"
)

const eventsUsage = `Usage: sluice events dead-letters [flags]
       sluice events redrive [ID] [flags]
       sluice events webhook --bucket B --url URL [--secret S] [--event E]... [--prefix P] [--suffix S] [--id ID] [--batch-size N]

dead-letters lists the S3 event deliveries that ran out of attempts, one per
line: ID, attempts, target, bucket/key, event name and the last error.
redrive sends the dead letter ID (every dead letter without ID) again with a
fresh retry budget.
webhook adds a Sluice webhook rule to bucket B's notification configuration
(keeping its other rules): every matching event's AWS-shaped record is
POSTed to URL, with X-Sluice-Signature: sha256=<hex HMAC-SHA256 of the body>
when --secret is set. --event defaults to s3:ObjectCreated:*. Each POST
carries one record, as S3 sends them; --batch-size N (up to 100) lets one
POST carry up to N records when several are waiting at once, for receivers
that read every entry of "Records".

Example:
  sluice events webhook --bucket photos --url http://127.0.0.1:9000/hook \
      --secret s3cr3t --event 's3:ObjectCreated:*' --event 's3:ObjectRemoved:*' --suffix .jpg
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
	var hook webhookFlags
	hook.register(fs)
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
	call := func(method, path string, payload []byte) ([]byte, error) {
		return signedCall(ctx, cfg, method, path, payload)
	}
	switch positional[0] {
	case "dead-letters":
		if len(positional) > 1 {
			return usageError{fmt.Sprintf("events dead-letters: unexpected argument %q", positional[1])}
		}
		body, err := call(http.MethodGet, eventsPath, nil)
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
		body, err := call(http.MethodPost, path, nil)
		if err != nil {
			return err
		}
		var out struct{ Redriven int }
		if err := json.Unmarshal(body, &out); err != nil {
			return fmt.Errorf("decode redrive answer: %w", err)
		}
		fmt.Fprintf(stdout, "redriven: %d\n", out.Redriven)
		return nil
	case "webhook":
		if len(positional) > 1 {
			return usageError{fmt.Sprintf("events webhook: unexpected argument %q", positional[1])}
		}
		rule, err := hook.rule()
		if err != nil {
			return err
		}
		path := "/" + url.PathEscape(hook.bucket) + "?notification"
		current, err := call(http.MethodGet, path, nil)
		if err != nil {
			return err
		}
		doc, err := notify.Parse(current)
		if err != nil {
			return fmt.Errorf("bucket %s's notification configuration: %w", hook.bucket, err)
		}
		doc.Webhooks = append(doc.Webhooks, rule)
		updated, err := doc.Marshal()
		if err != nil {
			return err
		}
		if _, err := call(http.MethodPut, path, updated); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "webhook added to bucket %s: %s\n", hook.bucket, rule.URL)
		return nil
	}
	return usageError{fmt.Sprintf("events: unknown subcommand %q (dead-letters, redrive or webhook)", positional[0])}
}

// webhookFlags are the flags of 'sluice events webhook'.
type webhookFlags struct {
	bucket, url, secret, id, prefix, suffix string
	events                                  listFlag
	batch                                   int
}

func (w *webhookFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&w.bucket, "bucket", "", "webhook: the bucket whose events are sent")
	fs.StringVar(&w.url, "url", "", "webhook: the http(s) URL records are POSTed to")
	fs.StringVar(&w.secret, "secret", "", "webhook: HMAC-SHA256 key for the X-Sluice-Signature header")
	fs.StringVar(&w.id, "id", "", "webhook: the rule id (generated when empty)")
	fs.StringVar(&w.prefix, "prefix", "", "webhook: only keys starting with this")
	fs.StringVar(&w.suffix, "suffix", "", "webhook: only keys ending with this")
	fs.Var(&w.events, "event", "webhook: an event type such as s3:ObjectCreated:* (repeatable; default s3:ObjectCreated:*)")
	fs.IntVar(&w.batch, "batch-size", 1, fmt.Sprintf("webhook: the most records one POST may carry when several are waiting (1 to %d)", notify.MaxWebhookBatch))
}

// rule validates the flags and builds the rule; the server checks the rest.
func (w *webhookFlags) rule() (notify.WebhookRule, error) {
	if w.bucket == "" {
		return notify.WebhookRule{}, usageError{"events webhook: --bucket is required"}
	}
	if u, err := url.Parse(w.url); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return notify.WebhookRule{}, usageError{fmt.Sprintf("events webhook: --url %q is not an http(s) URL", w.url)}
	}
	if w.batch < 1 || w.batch > notify.MaxWebhookBatch {
		return notify.WebhookRule{}, usageError{fmt.Sprintf("events webhook: --batch-size %d is not between 1 and %d", w.batch, notify.MaxWebhookBatch)}
	}
	rule := notify.WebhookRule{ID: w.id, URL: w.url, Secret: w.secret, Events: w.events}
	if w.batch > 1 {
		rule.BatchSize = w.batch
	}
	if len(rule.Events) == 0 {
		rule.Events = []string{"s3:ObjectCreated:*"}
	}
	var filters []notify.FilterRule
	if w.prefix != "" {
		filters = append(filters, notify.FilterRule{Name: "Prefix", Value: w.prefix})
	}
	if w.suffix != "" {
		filters = append(filters, notify.FilterRule{Name: "Suffix", Value: w.suffix})
	}
	if filters != nil {
		rule.Filter = &notify.Filter{Rules: filters}
	}
	return rule, nil
}
