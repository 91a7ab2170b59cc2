// Command echo is the function the Lambda benchmark invokes: an unmodified
// aws-lambda-go handler that returns its event as it came. The bench builds
// it once and runs the same binary under every host it measures, so any
// difference in latency is the host's.
package main

import (
	"context"
	"encoding/json"

	"github.com/aws/aws-lambda-go/lambda"
)

// echo does no work of its own: what an invoke costs beyond the runtime
// client's JSON handling is the host's.
func echo(_ context.Context, event json.RawMessage) (json.RawMessage, error) {
	return event, nil
}

func main() { lambda.Start(echo) }
