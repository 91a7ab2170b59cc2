package fsstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/sluicehq/sluice"
	bolt "go.etcd.io/bbolt"
)

// Consumer state and background changes.
//
// An outbox consumer that records what it did (the replicator: which write
// each copy applied, replication statuses, dead letters) would otherwise
// keep a database of its own, and pay that database's commit and fsyncs
// for every event on top of the store's. UpdateState commits such records
// in the store's group commits instead, in a bucket of meta.db that
// belongs to the consumer, and, like AckEvents, lazily: it joins the next
// group a write leads. A consumer's own writes to the store (a copy) can
// do the same under a context from JoinCommits.

// joinKey marks a context whose changes join the next group commit rather
// than lead one.
type joinKey struct{}

// JoinCommits returns a context under which the store's changes are lazy:
// each waits a few milliseconds for a write to lead a group commit and
// joins it, and leads one itself only if none comes. Background writers
// whose latency matters less than the fsyncs they would add to the
// requests they follow use it: a copy made for every write then shares
// that write's commit instead of adding a commit of its own.
func (s *Store) JoinCommits(ctx context.Context) context.Context {
	return context.WithValue(ctx, joinKey{}, true)
}

func joinsCommits(ctx context.Context) bool {
	v, _ := ctx.Value(joinKey{}).(bool)
	return v
}

// UpdateState runs fn on consumer's state bucket, created on first use, in
// a write transaction, and returns once its change is durable. fn may run
// more than once (when another change of the group fails, the group is
// applied again), must leave no trace outside the bucket, and must not keep
// b or any value it reads from it after it returns.
//
// The change is lazy, as AckEvents is: it joins the next group commit a
// write leads, or commits on its own after a few milliseconds.
func (s *Store) UpdateState(ctx context.Context, consumer string, fn func(b *bolt.Bucket) error) error {
	if consumer == "" {
		return sluice.Errorf(sluice.ErrInvalidArgument, "consumer name must not be empty")
	}
	return s.commit(&commitReq{ev: s.events(ctx), lazy: true, fn: func(tx *bolt.Tx, _ *eventBatch) error {
		b, err := tx.Bucket(rootState).CreateBucketIfNotExists([]byte(consumer))
		if err != nil {
			return fmt.Errorf("state of %s: %w", consumer, err)
		}
		return fn(b)
	}})
}

// errNoState is returned by ViewState before the consumer's first
// UpdateState.
var errNoState = errors.New("no state recorded")

// ViewState runs fn on consumer's state bucket in a read transaction. It
// fails when UpdateState never created the bucket. fn must not keep b or
// any value read from it after it returns.
func (s *Store) ViewState(consumer string, fn func(b *bolt.Bucket) error) error {
	return s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(rootState).Bucket([]byte(consumer))
		if b == nil {
			return fmt.Errorf("state of %s: %w", consumer, errNoState)
		}
		return fn(b)
	})
}
