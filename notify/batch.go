package notify

import (
	"bytes"
	"context"
	"sync"
	"time"
)

// Queued webhook rules.
//
// Webhook first attempts wait in a queue per (bucket, rule, URL, secret)
// when they can share a write: those of a rule whose BatchSize is above
// one share a POST, and one-record POSTs to a plain-http receiver that
// answers fast share a connection, pipelined. Records that arrive while a
// queue's POSTs are in flight wait, and the worker whose POST ends takes
// the next ones. An idle rule thus sends a record at once, and a busy one
// sends fewer, fuller writes: like a group commit, queueing adds no wait
// of its own. Each record is still settled on its own: a failed POST makes
// every record in it a pending retry, retried alone.

// maxRulePosts bounds the POSTs of one batched rule in flight at once.
const maxRulePosts = 2

// ruleKey names the queue of one rule.
type ruleKey struct{ bucket, id, target, secret string }

// ruleQueue is a rule's records not yet attempted, and its POSTs in
// flight.
type ruleQueue struct {
	waiting []firstAttempt
	posts   int
}

// take removes the next POST's records from q: up to the rule's
// BatchSize, or for a one-record rule up to depth pipelined POSTs.
func (q *ruleQueue) take(depth int) []firstAttempt {
	size := q.waiting[0].batch
	if size <= 1 {
		size = depth
	}
	n := min(len(q.waiting), size)
	g := append([]firstAttempt(nil), q.waiting[:n]...)
	clear(q.waiting[:n])
	q.waiting = q.waiting[n:]
	if len(q.waiting) == 0 {
		q.waiting = nil
	}
	return g
}

// batchQueues are the queues of rules; it exists only while Serve runs.
type batchQueues struct {
	mu     sync.Mutex
	queues map[ruleKey]*ruleQueue
}

// queued reports whether j waits in its rule's queue: a webhook record of
// a batched rule, or one a plain-http receiver may get pipelined.
func (n *Notifier) queued(j firstAttempt) bool {
	if j.d.Kind != "webhook" {
		return false
	}
	if j.batch <= 1 {
		_, ok := n.hookTarget(j.d.Target)
		return ok
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

// maxPosts is how many POSTs of q may be in flight at once: a batched
// rule's few fill up while they wait; one-record POSTs may use every
// worker, as when they are not queued.
func (n *Notifier) maxPosts(q *ruleQueue) int {
	if q.waiting[0].batch > 1 {
		return maxRulePosts
	}
	return n.cfg.Workers
}

// startPosts starts POSTs of queue k while it has records waiting and
// fewer than its maxPosts in flight. It reports false when ctx ended
// first; the records stay queued, for settleQueued.
func (n *Notifier) startPosts(ctx context.Context, wg *sync.WaitGroup, k ruleKey) bool {
	b := &n.batches
	depth := n.pipelineDepth(k.target)
	for {
		b.mu.Lock()
		q := b.queues[k]
		if q == nil || len(q.waiting) == 0 || q.posts >= n.maxPosts(q) {
			b.mu.Unlock()
			return true
		}
		g := q.take(depth)
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
		errs := n.sendGroup(ctx, g)
		for i, j := range g {
			n.settleFirst(j, errs[i], errs[i] != nil && ctx.Err() != nil)
		}
		depth := n.pipelineDepth(k.target)
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
		g = q.take(depth)
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

// sendGroup makes one attempt at each of g's records and returns their
// outcomes: one POST carrying them all for a batched rule, else one POST
// each, pipelined when there are several.
func (n *Notifier) sendGroup(ctx context.Context, g []firstAttempt) []error {
	errs := make([]error, len(g))
	d := g[0].d
	switch {
	case g[0].batch <= 1:
		n.postEach(ctx, g, errs)
	case len(g) == 1:
		errs[0] = n.send(ctx, d)
	default:
		body, ids := groupBody(g)
		err := n.postBody(ctx, d.Target, d.Secret, ids, body)
		for i := range errs {
			errs[i] = err
		}
	}
	return errs
}

// postEach POSTs each of g's records, one-record rules' first attempts to
// one plain-http receiver, on one connection, and notes how fast the
// receiver answered.
func (n *Notifier) postEach(ctx context.Context, g []firstAttempt, errs []error) {
	url := g[0].d.Target
	t, ok := n.hookTarget(url)
	if !ok {
		for i, j := range g {
			errs[i] = n.send(ctx, j.d)
		}
		return
	}
	reqs := make([][]byte, len(g))
	for i, j := range g {
		reqs[i] = hookRequest(t, j.d.Secret, j.d.ID, j.d.Payload)
	}
	status := make([]int, len(g))
	start := time.Now()
	cut := false
	if len(g) == 1 {
		n.m.alonePosts.Inc()
		status[0], errs[0] = n.hooks.send(ctx, t, reqs[0])
	} else {
		n.m.pipelines.Inc()
		n.m.pipelinedPosts.Add(float64(len(g)))
		cut = n.hooks.postPipelined(ctx, t, reqs, status, errs)
	}
	failed := false
	for i := range errs {
		if errs[i] == nil {
			errs[i] = statusErr(status[i])
		} else {
			failed = true
		}
	}
	if cut {
		n.noteSerial(url)
	}
	if !failed {
		n.notePace(url, time.Since(start)/time.Duration(len(g)))
	}
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
