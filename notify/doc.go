// Package notify owns S3 event notifications: the bucket notification
// configuration (parsing, S3's validation rules, the normalized document
// stored under sluice.ConfigNotification), matching events to rules, and
// delivering S3 event records to Lambda functions (sluice.Invoker's async
// invocation) and to webhooks (the Sluice WebhookConfiguration extension,
// HMAC-signed POSTs).
//
// Queue (SQS), topic (SNS) and EventBridge destinations are parsed but
// refused with NotImplemented until Sluice has those services.
//
// Delivery is at least once. The Notifier reads the store's outbox as the
// consumer "notify" and makes each delivery's first attempt straight from
// the event. Only failed attempts are written to its own bbolt file
// (notify.db), batched into one transaction per round, as pending retries
// or dead letters. The outbox is acknowledged up to the highest event
// before which every delivery succeeded or is committed there, so a crash
// at any point re-delivers rather than loses. Pending deliveries are retried
// from an in-memory queue ordered by next attempt time, with exponential
// backoff within a bounded budget, then kept as dead letters that can be
// listed and re-driven.
//
// Concurrency: a Validator is a value safe for concurrent use. A Notifier
// is safe for concurrent use; Serve runs its loops until its context ends
// and must be called at most once.
package notify
