package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"text/tabwriter"

	"github.com/sluicehq/sluice/cloudfront"
)

const cdnUsageUsage = `Usage: sluice cdn-usage [flags]

Prints how many invalidation paths each distribution used per calendar month
(UTC), the figure CloudFront bills beyond its free 1,000 paths a month. A
wildcard path counts as one; automatic invalidations count like the ones
made with CreateInvalidation.

Example:
  sluice cdn-usage
  MONTH    DISTRIBUTION    PATHS
  2026-11  EBDQO5BV4C89XO  42
  2026-11  (all)           42 of 1000 free
`

func runCDNUsage(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("cdn-usage", cdnUsageUsage, stderr)
	awsConfig := clientConfig(fs)
	positional, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(positional) > 0 {
		return usageError{fmt.Sprintf("cdn-usage: unexpected argument %q", positional[0])}
	}
	cfg, err := awsConfig()
	if err != nil {
		return err
	}
	body, err := signedCall(ctx, cfg, http.MethodGet, "/_sluice/cdn/usage", nil)
	if err != nil {
		return err
	}
	var rep cloudfront.UsageReport
	if err := json.Unmarshal(body, &rep); err != nil {
		return fmt.Errorf("decode usage: %w", err)
	}
	if len(rep.Months) == 0 {
		fmt.Fprintln(stdout, "no invalidations yet")
		return nil
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "MONTH\tDISTRIBUTION\tPATHS")
	for _, m := range rep.Months {
		ids := make([]string, 0, len(m.Distributions))
		for id := range m.Distributions {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		for _, id := range ids {
			fmt.Fprintf(tw, "%s\t%s\t%d\n", m.Month, id, m.Distributions[id])
		}
		fmt.Fprintf(tw, "%s\t(all)\t%d of %d free\n", m.Month, m.Paths, rep.FreePathsPerMonth)
	}
	return tw.Flush()
}
