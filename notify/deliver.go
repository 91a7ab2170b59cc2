package notify

import (
	"bytes"
	"container/heap"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/awsevent"
)

// Delivery runs as four kinds of goroutine while Serve runs:
//
//   - the reader (consume) reads outbox batches, matches rules and makes
//     every first attempt straight from the event, on the Workers
//     goroutines Serve starts (run hands them jobs), shared with retries;
//     records of a rule with a BatchSize may share a POST (batch.go);
//   - the retry loop (retryLoop) starts pending retries when their time
//     comes, in next-attempt order from an in-memory heap (queue);
//   - the writer (writeLoop) is the only goroutine writing notify.db after
//     New: it applies whatever attempts finished meanwhile in one
//     transaction, so deliveries do not queue behind one fsync each;
//   - the acker (ackLoop) moves the outbox cursor to the highest seq up to
//     which every delivery is done: delivered, or recorded in notify.db as
//     pending or dead. Acknowledgements coalesce.
//
// A crash loses nothing: an event is acknowledged only after each of its
// deliveries succeeded or was committed to notify.db, and is otherwise read
// again (and its deliveries made again: at least once) after a restart.

// newTransport is the webhook client's transport: an idle pool as wide as
// the workers, so that concurrent POSTs to one receiver reuse connections
// instead of dialing (Go's default keeps 2 per host).
func newTransport(cfg Config) *http.Transport {
	return &http.Transport{
		Proxy: http.ProxyFromEnvironment,
		DialContext: (&net.Dialer{
			Timeout:   min(cfg.WebhookTimeout, 5*time.Second),
			KeepAlive: 30 * time.Second,
		}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          4 * cfg.Workers,
		MaxIdleConnsPerHost:   cfg.Workers,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   min(cfg.WebhookTimeout, 10*time.Second),
		ExpectContinueTimeout: time.Second,
		ResponseHeaderTimeout: cfg.WebhookTimeout,
	}
}

// retryItem is a pending delivery's place in the retry queue; key is its
// notify.db key, index its heap position (-1 while its attempt runs).
type retryItem struct {
	key   string
	next  time.Time
	index int
}

// retryQueue is a min-heap of retryItems by next attempt time.
type retryQueue []*retryItem

func (q retryQueue) Len() int           { return len(q) }
func (q retryQueue) Less(i, j int) bool { return q[i].next.Before(q[j].next) }
func (q retryQueue) Swap(i, j int) {
	q[i], q[j] = q[j], q[i]
	q[i].index, q[j].index = i, j
}
func (q *retryQueue) Push(x any) {
	it := x.(*retryItem)
	it.index = len(*q)
	*q = append(*q, it)
}
func (q *retryQueue) Pop() any {
	old := *q
	it := old[len(old)-1]
	old[len(old)-1] = nil
	*q = old[:len(old)-1]
	it.index = -1
	return it
}

// scheduleLocked (re)queues the pending delivery key for next. n.mu is held.
func (n *Notifier) scheduleLocked(key string, next time.Time) {
	it := n.pending[key]
	if it == nil {
		it = &retryItem{key: key, index: -1}
		n.pending[key] = it
	}
	it.next = next
	if it.index >= 0 {
		heap.Fix(&n.queue, it.index)
	} else {
		heap.Push(&n.queue, it)
	}
}

// loadPending builds the retry queue from notify.db; the only full scan.
func (n *Notifier) loadPending() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketPending).ForEach(func(k, v []byte) error {
			var d struct {
				Next time.Time `json:"NextAttempt"`
			}
			if err := json.Unmarshal(v, &d); err != nil {
				n.log.Error("notify: undecodable delivery", "id", deliveryID(k), "err", err)
				return nil
			}
			n.scheduleLocked(string(k), d.Next)
			return nil
		})
	})
}

// dbOp is one change to notify.db; done runs after its transaction
// committed (err nil) or was given up on.
type dbOp struct {
	key  []byte
	d    *Delivery // nil: delete from pending
	dead bool      // move to the dead letters
	done func(err error)
}

// maxOpsPerTx bounds one transaction of the writer.
const maxOpsPerTx = 1024

// writeLoop applies ops in batches until ops is closed and drained. A
// failed transaction is retried while ctx lives; after it ends, once.
func (n *Notifier) writeLoop(ctx context.Context, ops <-chan dbOp) {
	batch := make([]dbOp, 0, 64)
	for op := range ops {
		batch = append(batch[:0], op)
	more:
		for len(batch) < maxOpsPerTx {
			select {
			case op, ok := <-ops:
				if !ok {
					break more
				}
				batch = append(batch, op)
			default:
				break more
			}
		}
		var err error
		for {
			if err = n.db.Update(func(tx *bolt.Tx) error { return applyOps(tx, batch) }); err == nil {
				break
			}
			n.log.Error("notify: record delivery attempts", "ops", len(batch), "err", err)
			if !sleep(ctx, time.Second) {
				break
			}
		}
		for _, op := range batch {
			op.done(err)
		}
	}
}

func applyOps(tx *bolt.Tx, ops []dbOp) error {
	pending, dead := tx.Bucket(bucketPending), tx.Bucket(bucketDead)
	for _, op := range ops {
		if op.d == nil {
			if err := pending.Delete(op.key); err != nil {
				return err
			}
			continue
		}
		v, err := json.Marshal(op.d)
		if err != nil {
			return fmt.Errorf("encode delivery %s: %w", op.d.ID, err)
		}
		if op.dead {
			if err := pending.Delete(op.key); err != nil {
				return err
			}
			err = dead.Put(op.key, v)
		} else {
			err = pending.Put(op.key, v)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// window tracks the events read from the outbox but not yet acknowledged,
// in seq order, with how many of each one's deliveries are not yet done.
type window struct {
	mu     sync.Mutex
	events []*readEvent
	// through is the highest seq up to which everything is done.
	through uint64
}

type readEvent struct {
	seq  uint64
	left int
}

// add appends events (in seq order) and reports whether through advanced.
func (w *window) add(evs []*readEvent) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.events = append(w.events, evs...)
	return w.advanceLocked()
}

// finish marks one delivery of e done and reports whether through advanced.
func (w *window) finish(e *readEvent) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	e.left--
	return w.advanceLocked()
}

func (w *window) advanceLocked() bool {
	i := 0
	for i < len(w.events) && w.events[i].left == 0 {
		w.through = w.events[i].seq
		i++
	}
	if i == 0 {
		return false
	}
	clear(w.events[:i])
	w.events = w.events[i:]
	return true
}

func (w *window) done() uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.through
}

// Serve reads the outbox and delivers until ctx ends; it returns nil then.
// Before returning it records every delivery it read but did not complete
// as pending and acknowledges the outbox as far as that allows.
func (n *Notifier) Serve(ctx context.Context) error {
	cursor, err := n.events.Cursor(ctx, Consumer)
	if err != nil {
		return fmt.Errorf("notify: read cursor: %w", err)
	}
	n.win = window{through: cursor}
	n.ops = make(chan dbOp, 4*n.cfg.Workers)

	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		n.writeLoop(ctx, n.ops)
	}()
	ackStop, ackDone := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(ackDone)
		n.ackLoop(ackStop, cursor)
	}()
	n.jobs = make(chan func())
	var workers sync.WaitGroup
	for range n.cfg.Workers {
		workers.Add(1)
		go func() {
			defer workers.Done()
			for job := range n.jobs {
				job()
			}
		}()
	}
	var loops sync.WaitGroup
	loops.Add(2)
	go func() {
		defer loops.Done()
		n.retryLoop(ctx)
	}()
	go func() {
		defer loops.Done()
		n.consume(ctx, cursor)
	}()
	loops.Wait()
	close(n.jobs)
	workers.Wait()
	// Every attempt has finished and handed its write to the writer.
	close(n.ops)
	<-writerDone
	close(ackStop)
	<-ackDone
	return nil
}

// run hands job to a worker, waiting for a free one, and counts it in wg
// until it returns. It reports false, not running job, when ctx ends
// first.
func (n *Notifier) run(ctx context.Context, wg *sync.WaitGroup, job func()) bool {
	wg.Add(1)
	select {
	case n.jobs <- func() {
		defer wg.Done()
		job()
	}:
		return true
	case <-ctx.Done():
		wg.Done()
		return false
	}
}

func (n *Notifier) poke() {
	select {
	case n.wake <- struct{}{}:
	default:
	}
}

func (n *Notifier) pokeAck() {
	select {
	case n.ackWake <- struct{}{}:
	default:
	}
}

// ackLoop acknowledges the outbox up to the window's done seq whenever it
// advances, and once more when stop closes.
func (n *Notifier) ackLoop(stop <-chan struct{}, acked uint64) {
	ack := func() {
		seq := n.win.done()
		if seq <= acked {
			return
		}
		// The acknowledgement must land even while shutting down.
		if err := n.events.AckEvents(context.Background(), Consumer, seq); err != nil {
			n.log.Error("notify: ack outbox", "seq", seq, "err", err)
			return
		}
		acked = seq
	}
	for {
		select {
		case <-n.ackWake:
			ack()
		case <-stop:
			ack()
			return
		}
	}
}

// firstAttempt is one delivery made straight from an outbox event.
type firstAttempt struct {
	ev *readEvent
	d  *Delivery
	// batch is the most records the rule lets one delivery carry.
	batch int
}

// consume reads the outbox and makes first attempts until ctx ends, then
// waits for those in flight.
func (n *Notifier) consume(ctx context.Context, cursor uint64) {
	var wg sync.WaitGroup
	defer func() {
		wg.Wait()
		n.settleQueued()
	}()
	var lastRead time.Time // of the last read that found events
	for ctx.Err() == nil {
		if wait := time.Until(lastRead.Add(n.cfg.ReadInterval)); wait > 0 && !sleep(ctx, wait) {
			return
		}
		evs, err := n.events.ReadEvents(ctx, cursor, n.cfg.BatchSize)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			n.log.Error("notify: read outbox", "err", err)
			if !sleep(ctx, time.Second) {
				return
			}
			continue
		}
		if len(evs) == 0 {
			continue
		}
		read, jobs, err := n.match(ctx, evs)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			n.log.Error("notify: match events", "err", err)
			if !sleep(ctx, time.Second) {
				return
			}
			continue
		}
		cursor = evs[len(evs)-1].Seq
		// A full read means a backlog: the next one need not wait.
		lastRead = time.Time{}
		if len(evs) < n.cfg.BatchSize {
			lastRead = time.Now()
		}
		if n.win.add(read) {
			n.pokeAck()
		}
		touched := map[ruleKey]bool{}
		for i, j := range jobs {
			if n.queued(j) {
				touched[n.enqueue(j)] = true
				continue
			}
			ok := n.run(ctx, &wg, func() {
				err := n.send(ctx, j.d)
				n.settleFirst(j, err, err != nil && ctx.Err() != nil)
			})
			if !ok {
				// Not attempted: record the rest as pending, untried.
				for _, j := range jobs[i:] {
					n.settleFirst(j, errNotAttempted, true)
				}
				return
			}
		}
		for k := range touched {
			if !n.startPosts(ctx, &wg, k) {
				return
			}
		}
	}
}

// match turns events into first attempts, one per matching rule, leaving
// out deliveries notify.db already holds (an event read again after a
// crash).
func (n *Notifier) match(ctx context.Context, evs []sluice.Event) ([]*readEvent, []firstAttempt, error) {
	read := make([]*readEvent, 0, len(evs))
	var jobs []firstAttempt
	byBucket := map[string][]Rule{}
	for _, e := range evs {
		rules, ok := byBucket[e.Bucket]
		if !ok {
			var err error
			if rules, err = n.bucketRules(ctx, e.Bucket); err != nil {
				return nil, nil, err
			}
			byBucket[e.Bucket] = rules
		}
		re := &readEvent{seq: e.Seq}
		read = append(read, re)
		for i, r := range rules {
			if !r.Matches(e.Name, e.Key) {
				continue
			}
			k := deliveryKey(e.Seq, i)
			n.mu.Lock()
			_, known := n.pending[string(k)]
			n.mu.Unlock()
			if known {
				continue
			}
			payload := awsevent.AppendS3Message(make([]byte, 0, 1024), e, awsevent.S3Rule{ConfigurationID: r.ID})
			re.left++
			jobs = append(jobs, firstAttempt{ev: re, batch: r.Batch, d: &Delivery{
				ID: deliveryID(k), Seq: e.Seq, RuleID: r.ID, Kind: r.Kind, Target: r.Target, Secret: r.Secret,
				Bucket: e.Bucket, Key: e.Key, EventName: e.Name, EventTime: e.Time, Payload: payload,
			}})
		}
	}
	n.m.events.Add(float64(len(evs)))
	return read, jobs, nil
}

// errNotAttempted stands for the outcome of a first attempt shutdown
// kept from starting.
var errNotAttempted = errors.New("not attempted before shutdown")

// settleFirst settles a first attempt that ended with err. A success
// counts at once; a failure, or an attempt cut short by shutdown, counts
// only once notify.db holds it, as a pending retry (or a dead letter when
// the budget is one attempt). An interrupted attempt is not charged to the
// budget.
func (n *Notifier) settleFirst(j firstAttempt, err error, interrupted bool) {
	d := j.d
	if err == nil {
		n.delivered(d)
		if n.win.finish(j.ev) {
			n.pokeAck()
		}
		return
	}
	d.Next = time.Now()
	dead := false
	if !interrupted {
		dead = n.failed(d, err)
	}
	key := string(deliveryKeyOf(d))
	n.ops <- dbOp{key: []byte(key), d: d, dead: dead, done: func(err error) {
		if err != nil {
			// Not recorded: the event stays unacknowledged and is read
			// again after a restart.
			return
		}
		if !dead {
			n.mu.Lock()
			n.scheduleLocked(key, d.Next)
			n.mu.Unlock()
			n.poke()
		}
		if n.win.finish(j.ev) {
			n.pokeAck()
		}
	}}
}

// delivered counts a successful attempt.
func (n *Notifier) delivered(d *Delivery) {
	k := n.m.kind(d.Kind)
	k.delivered.Inc()
	k.latency.Observe(time.Since(d.EventTime).Seconds())
}

// failed charges a failed attempt to d: its count, error and next attempt
// time. It reports whether d ran out of attempts.
func (n *Notifier) failed(d *Delivery, err error) bool {
	d.Attempts++
	d.LastError = err.Error()
	if d.Attempts >= n.cfg.MaxAttempts {
		n.m.dead.WithLabelValues(d.Kind).Inc()
		n.log.Warn("notify: delivery dead-lettered", "id", d.ID, "target", d.Target, "attempts", d.Attempts, "err", err)
		return true
	}
	n.m.retried.WithLabelValues(d.Kind).Inc()
	d.Next = time.Now().Add(n.backoff(d.Attempts))
	n.log.Debug("notify: delivery failed, will retry", "id", d.ID, "target", d.Target, "attempts", d.Attempts, "next", d.Next, "err", err)
	return false
}

func deliveryKeyOf(d *Delivery) []byte {
	k, _ := hex.DecodeString(d.ID)
	return k
}

// retryLoop starts pending retries as they come due, in next-attempt
// order, until ctx ends; then it waits for those in flight.
func (n *Notifier) retryLoop(ctx context.Context) {
	var wg sync.WaitGroup
	defer wg.Wait()
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for {
		now := time.Now()
		var due []*retryItem
		wait := time.Hour
		n.mu.Lock()
		for len(n.queue) > 0 && len(due) < n.cfg.Workers {
			if next := n.queue[0].next; next.After(now) {
				wait = next.Sub(now)
				break
			}
			due = append(due, heap.Pop(&n.queue).(*retryItem))
		}
		n.mu.Unlock()
		for i, it := range due {
			if !n.run(ctx, &wg, func() { n.retry(ctx, it) }) {
				n.mu.Lock()
				for _, it := range due[i:] {
					heap.Push(&n.queue, it)
				}
				n.mu.Unlock()
				return
			}
		}
		if len(due) > 0 {
			// More may be due than one pass took.
			continue
		}
		t.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case <-n.wake:
		case <-t.C:
		}
	}
}

// retry makes one more attempt at the pending delivery it and records the
// outcome.
func (n *Notifier) retry(ctx context.Context, it *retryItem) {
	d, err := n.loadDelivery(it.key)
	if err != nil || d == nil {
		if err != nil {
			n.log.Error("notify: read pending delivery", "id", deliveryID([]byte(it.key)), "err", err)
		}
		n.mu.Lock()
		delete(n.pending, it.key)
		n.mu.Unlock()
		return
	}
	err = n.send(ctx, d)
	if err == nil {
		n.delivered(d)
		n.ops <- dbOp{key: []byte(it.key), done: func(error) {
			n.mu.Lock()
			delete(n.pending, it.key)
			n.mu.Unlock()
		}}
		return
	}
	if ctx.Err() != nil {
		// Shutting down: notify.db keeps the delivery as it was.
		n.mu.Lock()
		heap.Push(&n.queue, it)
		n.mu.Unlock()
		return
	}
	dead := n.failed(d, err)
	n.ops <- dbOp{key: []byte(it.key), d: d, dead: dead, done: func(error) {
		n.mu.Lock()
		defer n.mu.Unlock()
		if dead {
			delete(n.pending, it.key)
			return
		}
		// Even when the write failed, retry on the in-memory schedule.
		n.scheduleLocked(it.key, d.Next)
		n.poke()
	}}
}

func (n *Notifier) loadDelivery(key string) (*Delivery, error) {
	var d *Delivery
	err := n.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketPending).Get([]byte(key))
		if v == nil {
			return nil
		}
		d = new(Delivery)
		return json.Unmarshal(v, d)
	})
	return d, err
}

// bucketRules returns the rules of bucket's current configuration, parsed
// again only when the stored document changed.
func (n *Notifier) bucketRules(ctx context.Context, bucket string) ([]Rule, error) {
	doc, err := n.store.BucketConfig(ctx, bucket, sluice.ConfigNotification)
	if sluice.IsCode(err, sluice.ErrNoSuchBucket) {
		doc, err = nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read notification configuration of %q: %w", bucket, err)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if c, ok := n.rules[bucket]; ok && bytes.Equal(c.doc, doc) {
		return c.rules, nil
	}
	var rules []Rule
	if doc != nil {
		cfg, err := Parse(doc)
		if err != nil {
			// Only validated documents are stored; a broken one is logged
			// and matches nothing rather than stalling every bucket.
			n.log.Error("notify: stored configuration does not parse", "bucket", bucket, "err", err)
		} else {
			rules = cfg.Rules()
		}
	}
	if doc == nil {
		delete(n.rules, bucket)
	} else {
		n.rules[bucket] = cachedRules{doc: doc, rules: rules}
	}
	return rules, nil
}
