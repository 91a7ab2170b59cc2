package replicate

import (
	"context"
	"hash/maphash"
	"strings"
	"sync"
	"time"

	"github.com/sluicehq/sluice"
)

// pipeline consumes the outbox without batch barriers: the reader keeps
// reading while copies run, up to Config.Window events in flight; each
// event goes to the worker its (bucket, key) hashes to, so one key's events
// are applied in outbox order while other keys proceed; and the cursor is
// acknowledged up to the highest seq below which every event is done, so a
// restart re-delivers exactly what was not finished.
type pipeline struct {
	r      *Replicator
	events sluice.EventLog
	seed   maphash.Seed
	queues []*queue
	// committing counts events whose state is being committed.
	committing sync.WaitGroup
	// slots holds one token per event that may still be put in flight.
	slots chan struct{}

	mu        sync.Mutex
	inflight  []uint64 // dispatched and unfinished or not yet contiguous, ascending
	done      map[uint64]bool
	watermark uint64 // every event up to it is done
	wake      chan struct{}
}

// run consumes events after cursor until ctx ends.
func (r *Replicator) run(ctx context.Context, events sluice.EventLog, cursor uint64) {
	p := &pipeline{
		r: r, events: events, seed: maphash.MakeSeed(),
		slots:     make(chan struct{}, r.cfg.Window),
		done:      map[uint64]bool{},
		watermark: cursor,
		wake:      make(chan struct{}, 1),
	}
	for range r.cfg.Window {
		p.slots <- struct{}{}
	}
	var workers sync.WaitGroup
	for range r.cfg.Workers {
		q := newQueue()
		p.queues = append(p.queues, q)
		workers.Go(func() { p.work(ctx, q) })
	}
	acker := make(chan struct{})
	go func() { defer close(acker); p.ackLoop(ctx, cursor) }()
	p.read(ctx, cursor)
	workers.Wait()
	p.committing.Wait()
	<-acker
	// What finished before the stop is durable in replicate.db: record it
	// so a restart does not look it up again. Best effort: the store may be
	// closing too, and not acknowledging only costs lookups.
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	p.mu.Lock()
	wm := p.watermark
	// The events left unfinished are read again by the next run.
	r.m.backlog.Sub(float64(len(p.inflight) - len(p.done)))
	p.mu.Unlock()
	if wm > cursor {
		if err := events.AckEvents(actx, Consumer, wm); err != nil {
			r.log.Debug("replicate: final ack", "seq", wm, "err", err)
		}
	}
}

// read dispatches events until ctx ends.
func (p *pipeline) read(ctx context.Context, cursor uint64) {
	for {
		// Hold one slot per event asked for, at least one.
		n := 0
		select {
		case <-p.slots:
			n = 1
		case <-ctx.Done():
			return
		}
	more:
		for n < p.r.cfg.BatchSize {
			select {
			case <-p.slots:
				n++
			default:
				break more
			}
		}
		evs, err := p.events.ReadEvents(ctx, cursor, n)
		if len(evs) > n {
			evs = evs[:n] // each event in flight holds a slot
		}
		for range n - len(evs) {
			p.slots <- struct{}{}
		}
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			p.r.log.Error("replicate: read events", "err", err)
			if !sleep(ctx, p.r.cfg.MinBackoff) {
				return
			}
			continue
		}
		p.r.m.events.Add(float64(len(evs)))
		p.r.m.backlog.Add(float64(len(evs)))
		for _, ev := range evs {
			p.mu.Lock()
			p.inflight = append(p.inflight, ev.Seq)
			p.mu.Unlock()
			if !relevant(ev) || p.r.idle(ctx, ev) {
				p.finish(ev.Seq)
			} else {
				p.queues[p.queueOf(ev)].push(ev)
			}
			cursor = ev.Seq
		}
	}
}

// idle reports whether ev leaves nothing to do, as apply would find, and
// no retry budget of an earlier run waits to be cleared for it: its bucket
// replicates nowhere (or is gone), or its copies were all made in its own
// transaction. Most events are of the first kind (the copies' own, to
// start with), and under a TargetBucket tag most of the rest are of the
// second; finishing them here spares them the hand-off to a worker.
func (r *Replicator) idle(ctx context.Context, ev sluice.Event) bool {
	if r.hasAttempts(ev.Seq) {
		return false
	}
	set, err := r.settings(ctx, ev.Bucket)
	if err != nil {
		return sluice.IsCode(err, sluice.ErrNoSuchBucket)
	}
	return set.none() || createdEvent(ev) && r.doneInline(ev, set)
}

func createdEvent(ev sluice.Event) bool {
	return strings.HasPrefix(ev.Name, "ObjectCreated:") || strings.HasPrefix(ev.Name, "ObjectTagging:")
}

func relevant(ev sluice.Event) bool {
	return createdEvent(ev) || strings.HasPrefix(ev.Name, "ObjectRemoved:")
}

func (p *pipeline) queueOf(ev sluice.Event) int {
	var h maphash.Hash
	h.SetSeed(p.seed)
	h.WriteString(ev.Bucket)
	h.WriteByte(0)
	h.WriteString(ev.Key)
	return int(h.Sum64() % uint64(len(p.queues)))
}

// work applies its queue's events in order until ctx ends.
func (p *pipeline) work(ctx context.Context, q *queue) {
	for {
		ev, ok := q.pop(ctx)
		if !ok {
			return
		}
		w, err := p.r.handle(ctx, ev)
		for err == errRetry {
			w, err = p.r.handle(ctx, ev)
		}
		if err != nil {
			return // ctx ended: the event stays unacknowledged
		}
		if w.empty() {
			p.finish(ev.Seq)
			continue
		}
		// The next event need not wait for this one's fsync: queued in
		// order, this key's records still commit in order, and the event
		// counts as done, so acknowledged, only once its state is durable.
		wait := p.r.queueCommit(w)
		p.committing.Go(func() { p.settle(ctx, ev, w, wait) })
	}
}

// settle finishes ev once its state is committed, retrying the commit.
func (p *pipeline) settle(ctx context.Context, ev sluice.Event, w stateWrite, wait func() error) {
	for {
		err := wait()
		if err == nil {
			p.finish(ev.Seq)
			return
		}
		p.r.log.Error("replicate: will retry", "seq", ev.Seq, "err", err)
		if !sleep(ctx, p.r.cfg.MaxBackoff) {
			return
		}
		wait = p.r.queueCommit(w)
	}
}

// finish marks seq done, advances the watermark over every contiguous done
// event and frees its slot.
func (p *pipeline) finish(seq uint64) {
	p.mu.Lock()
	p.done[seq] = true
	advanced := false
	for len(p.inflight) > 0 && p.done[p.inflight[0]] {
		delete(p.done, p.inflight[0])
		p.watermark = p.inflight[0]
		p.inflight = p.inflight[1:]
		advanced = true
	}
	p.mu.Unlock()
	p.r.m.backlog.Dec()
	p.slots <- struct{}{}
	if advanced {
		select {
		case p.wake <- struct{}{}:
		default:
		}
	}
}

// ackLoop acknowledges the watermark whenever it moves; acknowledgements
// coalesce while one is being written.
func (p *pipeline) ackLoop(ctx context.Context, acked uint64) {
	for {
		select {
		case <-p.wake:
		case <-ctx.Done():
			return
		}
		p.mu.Lock()
		wm := p.watermark
		p.mu.Unlock()
		if wm <= acked {
			continue
		}
		if err := p.events.AckEvents(ctx, Consumer, wm); err != nil {
			if ctx.Err() != nil {
				return
			}
			p.r.log.Error("replicate: ack events", "seq", wm, "err", err)
			if !sleep(ctx, p.r.cfg.MinBackoff) {
				return
			}
			select {
			case p.wake <- struct{}{}:
			default:
			}
			continue
		}
		acked = wm
	}
}

// queue is one worker's unbounded FIFO; the pipeline's slots bound it.
type queue struct {
	mu   sync.Mutex
	evs  []sluice.Event
	wake chan struct{}
}

func newQueue() *queue { return &queue{wake: make(chan struct{}, 1)} }

func (q *queue) push(ev sluice.Event) {
	q.mu.Lock()
	q.evs = append(q.evs, ev)
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

func (q *queue) pop(ctx context.Context) (sluice.Event, bool) {
	for {
		q.mu.Lock()
		if len(q.evs) > 0 {
			ev := q.evs[0]
			q.evs[0] = sluice.Event{}
			q.evs = q.evs[1:]
			q.mu.Unlock()
			return ev, true
		}
		q.mu.Unlock()
		select {
		case <-q.wake:
		case <-ctx.Done():
			return sluice.Event{}, false
		}
	}
}
