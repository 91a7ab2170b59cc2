package notify

import (
	"bytes"
	"context"
	"sync"
)

// Batched webhook rules.
//
// A webhook rule whose BatchSize is above one gets a queue of first
// attempts per (bucket, rule, URL, secret). At most maxRulePosts POSTs of
// a queue are in flight at once; records that arrive meanwhile wait in the
// queue, and the worker whose POST ends takes the next POST of up to
// BatchSize of them. An idle rule thus sends a record at once, and a busy
// one sends fewer, fuller POSTs: like a group commit, batching adds no wait
// of its own. Each record is still settled on its own: a failed POST makes
// every record in it a pending retry, retried alone.

// maxRulePosts bounds the POSTs of one batched rule in flight at once.
const maxRulePosts = 2

// ruleKey names the queue of one batched rule.
type ruleKey struct{ bucket, id, target, secret string }

// ruleQueue is a batched rule's records not yet attempted, and its POSTs
// in flight.
type ruleQueue struct {
	waiting []firstAttempt
	posts   int
}

// take removes the next POST's records from q.
func (q *ruleQueue) take() []firstAttempt {
	n := min(len(q.waiting), q.waiting[0].batch)
	g := append([]firstAttempt(nil), q.waiting[:n]...)
	clear(q.waiting[:n])
	q.waiting = q.waiting[n:]
	if len(q.waiting) == 0 {
		q.waiting = nil
	}
	return g
}

// batchQueues are the queues of batched rules; it exists only while Serve
// runs.
type batchQueues struct {
	mu     sync.Mutex
	queues map[ruleKey]*ruleQueue
}

// batchable reports whether j may share a POST with other records.
func batchable(j firstAttempt) bool {
	if j.batch <= 1 || j.d.Kind != "webhook" {
		return false
	}
	_, ok := recordOf(j.d.Payload)
	return ok
}

// enqueue appends j to its rule's queue and returns the queue's key.
func (n *Notifier) enqueue(j firstAttempt) ruleKey {
	k := ruleKey{j.d.Bucket, j.d.RuleID, j.d.Target, j.d.Secret}
	b := &n.batches
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.queues == nil {
		b.queues = map[ruleKey]*ruleQueue{}
	}
	q := b.queues[k]
	if q == nil {
		q = &ruleQueue{}
		b.queues[k] = q
	}
	q.waiting = append(q.waiting, j)
	return k
}

// startPosts starts POSTs of queue k while it has records waiting and
// fewer than maxRulePosts in flight. It reports false when ctx ended
// first; the records stay queued, for settleQueued.
func (n *Notifier) startPosts(ctx context.Context, wg *sync.WaitGroup, k ruleKey) bool {
	b := &n.batches
	for {
		b.mu.Lock()
		q := b.queues[k]
		if q == nil || len(q.waiting) == 0 || q.posts >= maxRulePosts {
			b.mu.Unlock()
			return true
		}
		g := q.take()
		q.posts++
		b.mu.Unlock()
		if !n.run(ctx, wg, func() { n.postLoop(ctx, k, g) }) {
			b.mu.Lock()
			q.waiting = append(g, q.waiting...)
			q.posts--
			b.mu.Unlock()
			return false
		}
	}
}

// postLoop sends g, then the next POST of queue k as long as records
// wait there, on the same worker.
func (n *Notifier) postLoop(ctx context.Context, k ruleKey, g []firstAttempt) {
	b := &n.batches
	for {
		err := n.sendGroup(ctx, g)
		for _, j := range g {
			n.settleFirst(j, err, err != nil && ctx.Err() != nil)
		}
		b.mu.Lock()
		q := b.queues[k]
		if ctx.Err() != nil || len(q.waiting) == 0 {
			q.posts--
			if q.posts == 0 && len(q.waiting) == 0 {
				delete(b.queues, k)
			}
			b.mu.Unlock()
			return
		}
		g = q.take()
		b.mu.Unlock()
	}
}

// settleQueued records every record still queued as pending, untried:
// what shutdown kept from being attempted. No POST may be in flight.
func (n *Notifier) settleQueued() {
	b := &n.batches
	b.mu.Lock()
	queues := b.queues
	b.queues = nil
	b.mu.Unlock()
	for _, q := range queues {
		for _, j := range q.waiting {
			n.settleFirst(j, errNotAttempted, true)
		}
	}
}

// sendGroup makes one attempt at g's records: one POST carrying them all.
func (n *Notifier) sendGroup(ctx context.Context, g []firstAttempt) error {
	if len(g) == 1 {
		return n.send(ctx, g[0].d)
	}
	body, ids := groupBody(g)
	d := g[0].d
	return n.postBody(ctx, d.Target, d.Secret, ids, body)
}

// groupBody returns the event message of g's records, in order, and their
// delivery ids, comma-separated.
func groupBody(g []firstAttempt) ([]byte, string) {
	body := append(make([]byte, 0, len(g)*(len(g[0].d.Payload)+8)), recordsOpen...)
	ids := make([]byte, 0, len(g)*(len(g[0].d.ID)+1))
	for i, j := range g {
		rec, _ := recordOf(j.d.Payload)
		if i > 0 {
			body = append(body, ',')
			ids = append(ids, ',')
		}
		body = append(body, rec...)
		ids = append(ids, j.d.ID...)
	}
	return append(body, recordsClose...), string(ids)
}

// An S3 event message as awsevent renders it: {"Records":[...]}.
var (
	recordsOpen  = []byte(`{"Records":[`)
	recordsClose = []byte(`]}`)
)

// recordOf returns the record of a one-record S3 event message.
func recordOf(payload []byte) ([]byte, bool) {
	rec, ok := bytes.CutPrefix(bytes.TrimSpace(payload), recordsOpen)
	if !ok {
		return nil, false
	}
	return bytes.CutSuffix(rec, recordsClose)
}
