// Command sluice is the Sluice binary: an S3-compatible object store, a
// Lambda-compatible function host, a caching edge with image resizing, HTTP
// APIs and a SAM template runner, behind AWS-compatible interfaces. This
// package only parses configuration and wires the other packages together.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/sluicehq/sluice/lambda"
)

// command is one subcommand: its name, a one-line summary and its runner.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

func commands() []command {
	return []command{
		{"serve", "run every service: the AWS API on 127.0.0.1:4566 and the edge on 127.0.0.1:4567", runServe},
		{"validate", "check a SAM/CloudFormation template (sluice validate -t template.yaml) without starting anything", runValidate},
		{"invoke", "invoke a function on a running sluice and print its result", runInvoke},
		{"logs", "print a function's log (or any log group); --follow to tail it", runLogs},
		{"events", "list and re-drive S3 event notifications that could not be delivered", runEvents},
		{"cdn-usage", "print the invalidation paths each distribution used per month (what CloudFront bills)", runCDNUsage},
		{"generate-event", "print a sample S3, HTTP API or CloudFront event, as AWS delivers it", runGenerateEvent},
		{"version", "print the version", runVersion},
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintf(os.Stderr, "sluice: %v\n", err)
		}
		var ue usageError
		if errors.As(err, &ue) || errors.Is(err, flag.ErrHelp) {
			if errors.Is(err, flag.ErrHelp) {
				os.Exit(0)
			}
			os.Exit(2)
		}
		os.Exit(1)
	}
}

// reaperCommand is the hidden subcommand sluice serve starts as the
// function host's group reaper.
const reaperCommand = "__reap-groups"

// usageError is a mistake on the command line (exit status 2).
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		printUsage(stderr)
		return usageError{"no command given"}
	}
	name := args[0]
	switch name {
	case "-h", "-help", "--help", "help":
		if len(args) > 1 && name == "help" {
			return run(ctx, []string{args[1], "--help"}, stdout, stderr)
		}
		printUsage(stdout)
		return nil
	case "-v", "--version":
		name = "version"
	case reaperCommand:
		// Hidden: the function host's group reaper (see lambda.RunGroupReaper).
		return lambda.RunGroupReaper(os.Stdin)
	}
	for _, c := range commands() {
		if c.name == name {
			return c.run(ctx, args[1:], stdout, stderr)
		}
	}
	printUsage(stderr)
	return usageError{fmt.Sprintf("unknown command %q", name)}
}

func printUsage(w io.Writer) {
	fmt.Fprint(w, `Sluice: the serverless media pipeline on your own machine — S3, Lambda,
CloudFront and CloudWatch Logs compatible, in one binary.

Usage:
  sluice <command> [flags]

Commands:
`)
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-15s %s\n", c.name, c.summary)
	}
	fmt.Fprint(w, `
Run 'sluice <command> --help' for the flags of a command.

Quick start:
  sluice serve
  aws --endpoint-url http://127.0.0.1:4566 s3 mb s3://photos
  aws --endpoint-url http://127.0.0.1:4566 s3 cp ./cat.jpg s3://photos/
  (credentials: AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_DEFAULT_REGION=us-east-1)
`)
}

// newFlagSet returns a flag set whose --help prints usage text first.
func newFlagSet(name, usage string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usage)
		fmt.Fprintln(fs.Output(), "\nFlags:")
		fs.PrintDefaults()
	}
	return fs
}
