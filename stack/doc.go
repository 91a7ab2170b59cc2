// Package stack loads, validates and applies SAM (Transform
// AWS::Serverless-2016-10-31) and plain CloudFormation templates: the subset
// of resource types, intrinsics and properties a serverless media pipeline
// uses. Load is pure (no network): it resolves parameters, conditions,
// Globals and intrinsics into a Stack of plain Go values and reports every
// mistake at once, each with file, line, column and key path. Apply creates,
// updates and deletes the stack's resources through Sluice's own AWS APIs
// (S3, Lambda, CloudFront) and an HTTP API registry, keeping the physical ids
// in a small state file so that re-applying is idempotent and a restart
// reuses what exists. Watch polls a template for changes.
//
// Concurrency: Load and Watch are safe to call from any goroutine; Apply
// must not run twice at once for one data directory (the caller serialises
// re-applies).
package stack
