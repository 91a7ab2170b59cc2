package lambda

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	bolt "go.etcd.io/bbolt"

	"github.com/sluicehq/sluice"
)

// queueItem is one accepted Event invocation waiting to run (or to be
// retried). It is in bbolt from the moment Invoke answers 202 until the
// function succeeds or the item moves to the dead letters, so a crash never
// loses it; it may run again after a crash (at least once, as on Lambda).
type queueItem struct {
	RequestID string    `json:"requestId"`
	Region    string    `json:"region"`
	Function  string    `json:"function"`
	Qualifier string    `json:"qualifier"`
	Payload   []byte    `json:"payload"`
	Enqueued  time.Time `json:"enqueued"`
	Attempts  int       `json:"attempts"`
	NotBefore time.Time `json:"notBefore"`
}

// deadLetter is an asynchronous invocation that failed every attempt or
// grew too old. It is what the sluice-dead-letters extension lists.
type deadLetter struct {
	ID            string    `json:"Id"`
	FunctionArn   string    `json:"FunctionArn"`
	Qualifier     string    `json:"Qualifier"`
	RequestID     string    `json:"RequestId"`
	Payload       string    `json:"Payload"`
	FunctionError string    `json:"FunctionError,omitempty"`
	Error         string    `json:"Error"`
	Attempts      int       `json:"Attempts"`
	EnqueuedTime  time.Time `json:"EnqueuedTime"`
	FailedTime    time.Time `json:"FailedTime"`
}

// asyncQueue dispatches queued invocations. due maps each queued item's
// key to when it may run and which function it is for; running holds the
// keys being run, so no item runs twice at once, and busy counts them per
// function, so that a function at its reserved concurrency does not tie up
// every dispatcher slot waiting for an instance while other functions'
// events wait.
type asyncQueue struct {
	s    *Service
	wake chan struct{}

	mu      sync.Mutex
	due     map[uint64]dueItem
	running map[uint64]bool
	busy    map[string]int // running items by regionKey
	stopped bool
	loops   sync.WaitGroup
}

func newAsyncQueue(s *Service) (*asyncQueue, error) {
	q := &asyncQueue{s: s, wake: make(chan struct{}, 1), due: map[uint64]dueItem{}, running: map[uint64]bool{}, busy: map[string]int{}}
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketQueue).ForEach(func(k, v []byte) error {
			var it queueItem
			if err := json.Unmarshal(v, &it); err != nil {
				return fmt.Errorf("decode queued invocation: %w", err)
			}
			q.due[binary.BigEndian.Uint64(k)] = it.due()
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("load async queue: %w", err)
	}
	return q, nil
}

type dueItem struct {
	at       time.Time
	function string // regionKey
}

func (it *queueItem) due() dueItem {
	return dueItem{at: it.NotBefore, function: regionKey(it.Region, it.Function)}
}

func queueKey(seq uint64) []byte { return binary.BigEndian.AppendUint64(nil, seq) }

func (q *asyncQueue) signal() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// enqueue durably queues an Event invocation and returns its request id.
func (s *Service) enqueue(fn *functionRecord, qualifier string, payload []byte) (string, error) {
	if len(payload) > sluice.MaxAsyncPayload {
		return "", sluice.Errorf(errRequestEntityTooLarge, "%d byte payload is too large for the Event invocation type (limit %d bytes)", len(payload), sluice.MaxAsyncPayload)
	}
	if len(payload) == 0 {
		payload = []byte("{}")
	}
	now := time.Now()
	it := queueItem{
		RequestID: uuid.NewString(),
		Region:    fn.Region,
		Function:  fn.Name,
		Qualifier: qualifier,
		Payload:   payload,
		Enqueued:  now,
		NotBefore: now,
	}
	if err := s.queue.put([]queueItem{it}, nil); err != nil {
		return "", err
	}
	return it.RequestID, nil
}

// put stores items as new queue entries and, in the same transaction, runs
// also (which may delete dead letters being redriven).
func (q *asyncQueue) put(items []queueItem, also func(tx *bolt.Tx) error) error {
	keys := make([]uint64, len(items))
	err := q.s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketQueue)
		for i, it := range items {
			seq, err := b.NextSequence()
			if err != nil {
				return err
			}
			v, err := json.Marshal(it)
			if err != nil {
				return err
			}
			if err := b.Put(queueKey(seq), v); err != nil {
				return err
			}
			keys[i] = seq
		}
		if also != nil {
			return also(tx)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("queue invocation: %w", err)
	}
	q.mu.Lock()
	for i, k := range keys {
		q.due[k] = items[i].due()
	}
	q.mu.Unlock()
	q.signal()
	return nil
}

// run dispatches due items until ctx ends, then waits for the invocations
// it started.
func (q *asyncQueue) run(ctx context.Context) {
	q.mu.Lock()
	if q.stopped {
		q.mu.Unlock()
		return
	}
	q.loops.Add(1)
	q.mu.Unlock()
	defer q.loops.Done()

	var workers sync.WaitGroup
	defer workers.Wait()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		next := q.dispatch(ctx, &workers)
		timer.Reset(next)
		select {
		case <-ctx.Done():
			return
		case <-q.wake:
		case <-timer.C:
		}
	}
}

// dispatch starts every due item there is a free slot for and returns how
// long to sleep before the next one falls due.
func (q *asyncQueue) dispatch(ctx context.Context, workers *sync.WaitGroup) time.Duration {
	q.mu.Lock()
	defer q.mu.Unlock()
	now := time.Now()
	sleep := time.Hour
	keys := make([]uint64, 0, len(q.due))
	for k := range q.due {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if q.running[k] {
			continue
		}
		d := q.due[k]
		if d.at.After(now) {
			sleep = min(sleep, d.at.Sub(now))
			continue
		}
		if len(q.running) >= q.s.cfg.AsyncParallel {
			break
		}
		if limit := q.functionLimit(d.function); limit > 0 && q.busy[d.function] >= limit {
			continue // woken again when one of its invocations ends
		}
		q.running[k] = true
		q.busy[d.function]++
		workers.Add(1)
		go func() {
			defer workers.Done()
			q.runItem(ctx, k)
			q.mu.Lock()
			delete(q.running, k)
			if q.busy[d.function]--; q.busy[d.function] <= 0 {
				delete(q.busy, d.function)
			}
			q.mu.Unlock()
			q.signal()
		}()
	}
	return sleep
}

// functionLimit is the function's reserved concurrency, or 0 for no limit
// of the dispatcher's own.
func (q *asyncQueue) functionLimit(key string) int {
	q.s.reg.mu.RLock()
	fn := q.s.reg.fns[key]
	q.s.reg.mu.RUnlock()
	if fn == nil || fn.Concurrency == nil {
		return 0
	}
	// Reserved concurrency 0 still dispatches one at a time: the attempt is
	// throttled and rescheduled without spending a retry.
	return max(*fn.Concurrency, 1)
}

// wait stops the dispatcher for good and waits for it to finish.
func (q *asyncQueue) wait() {
	q.mu.Lock()
	q.stopped = true
	q.mu.Unlock()
	q.loops.Wait()
}

// policy is the retry budget and event age limit for a version: its
// EventInvokeConfig, else the service defaults.
func (s *Service) policy(fn *functionRecord, qualifier string) (retries int, maxAge time.Duration) {
	retries, maxAge = s.cfg.AsyncRetries, s.cfg.MaxEventAge
	if c := fn.EventInvoke[qualifier]; c != nil {
		if c.MaximumRetryAttempts != nil {
			retries = *c.MaximumRetryAttempts
		}
		if c.MaximumEventAgeInSeconds != nil {
			maxAge = time.Duration(*c.MaximumEventAgeInSeconds) * time.Second
		}
	}
	return retries, maxAge
}

func (s *Service) backoff(attempt int) time.Duration {
	b := s.cfg.AsyncBackoff
	return b[min(max(attempt, 1), len(b))-1]
}

// runItem makes one attempt at a queued invocation and records the outcome.
func (q *asyncQueue) runItem(ctx context.Context, key uint64) {
	s := q.s
	var it queueItem
	found := false
	err := s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketQueue).Get(queueKey(key))
		if v == nil {
			return nil
		}
		found = true
		return json.Unmarshal(v, &it)
	})
	if err != nil || !found {
		if err != nil {
			s.log.Error("lambda: read queued invocation", "err", err)
		}
		q.forget(key)
		return
	}
	log := s.log.With("function", it.Function, "request_id", it.RequestID)
	fn, ok := s.reg.get(it.Region, it.Function)
	var ver *versionRecord
	if ok {
		ver = fn.invocationVersion(it.Qualifier)
	}
	if ver == nil {
		// The function (or version) was deleted after the event was accepted;
		// Lambda discards such events too.
		log.Warn("lambda: dropping queued event of a deleted function", "qualifier", it.Qualifier)
		q.remove(key, nil)
		return
	}
	retries, maxAge := s.policy(fn, it.Qualifier)
	if age := time.Since(it.Enqueued); age > maxAge {
		q.remove(key, s.deadLetterOf(fn, &it, "", fmt.Sprintf("EventAgeExceeded: the event waited %s, more than MaximumEventAgeInSeconds (%d)", age.Round(time.Second), int(maxAge/time.Second))))
		return
	}
	res, err := s.invoke(ctx, fn, ver, it.Payload, InvokeOptions{RequestID: it.RequestID, Queue: true})
	if ctx.Err() != nil {
		return // shutting down: the item stays queued and runs after restart
	}
	if err == nil && res.FunctionError == "" {
		q.remove(key, nil)
		return
	}
	now := time.Now()
	if sluice.IsCode(err, sluice.ErrTooManyRequests) {
		// Throttled (reserved concurrency 0): Lambda keeps the event and
		// tries again later without spending a retry.
		it.NotBefore = now.Add(s.backoff(1))
		q.update(key, &it)
		return
	}
	it.Attempts++
	var funcErr, errText string
	if err != nil {
		errText = string(sluice.ErrorCode(err)) + ": " + err.Error()
		log.Warn("lambda: async invocation failed", "attempt", it.Attempts, "err", err)
	} else {
		funcErr, errText = res.FunctionError, string(res.Payload)
		log.Info("lambda: async invocation returned a function error", "attempt", it.Attempts, "error", errText)
	}
	if it.Attempts > retries {
		q.remove(key, s.deadLetterOf(fn, &it, funcErr, errText))
		return
	}
	it.NotBefore = now.Add(s.backoff(it.Attempts))
	q.update(key, &it)
}

func (s *Service) deadLetterOf(fn *functionRecord, it *queueItem, funcErr, errText string) *deadLetterEntry {
	return &deadLetterEntry{
		region: it.Region,
		name:   it.Function,
		dl: deadLetter{
			ID:            uuid.NewString(),
			FunctionArn:   qualifiedARN(fn, it.Qualifier),
			Qualifier:     it.Qualifier,
			RequestID:     it.RequestID,
			Payload:       string(it.Payload),
			FunctionError: funcErr,
			Error:         errText,
			Attempts:      it.Attempts,
			EnqueuedTime:  it.Enqueued,
			FailedTime:    time.Now(),
		},
	}
}

type deadLetterEntry struct {
	region, name string
	dl           deadLetter
}

func deadPrefix(region, name string) string { return regionKey(region, name) + "\x00" }

// remove deletes a queue item, recording dl (when set) in the same
// transaction so the event is never in neither place.
func (q *asyncQueue) remove(key uint64, dl *deadLetterEntry) {
	err := q.s.db.Update(func(tx *bolt.Tx) error {
		if err := tx.Bucket(bucketQueue).Delete(queueKey(key)); err != nil {
			return err
		}
		if dl == nil {
			return nil
		}
		b := tx.Bucket(bucketDead)
		seq, err := b.NextSequence()
		if err != nil {
			return err
		}
		v, err := json.Marshal(dl.dl)
		if err != nil {
			return err
		}
		return b.Put([]byte(fmt.Sprintf("%s%020d", deadPrefix(dl.region, dl.name), seq)), v)
	})
	if err != nil {
		q.s.log.Error("lambda: update async queue", "err", err)
		return
	}
	if dl != nil {
		q.s.log.Warn("lambda: async invocation dead-lettered", "function", dl.name, "request_id", dl.dl.RequestID,
			"attempts", dl.dl.Attempts, "error", dl.dl.Error)
	}
	q.forget(key)
}

func (q *asyncQueue) forget(key uint64) {
	q.mu.Lock()
	delete(q.due, key)
	q.mu.Unlock()
}

// update stores an item's new attempt count and due time.
func (q *asyncQueue) update(key uint64, it *queueItem) {
	v, err := json.Marshal(it)
	if err == nil {
		err = q.s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketQueue).Put(queueKey(key), v) })
	}
	if err != nil {
		q.s.log.Error("lambda: update async queue", "err", err)
		return
	}
	q.mu.Lock()
	q.due[key] = it.due()
	q.mu.Unlock()
}

// queued reports how many invocations are waiting or running.
func (q *asyncQueue) queued() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.due)
}

// deadLetters lists a function's dead letters, oldest first.
func (s *Service) deadLetters(region, name string) ([]deadLetter, error) {
	var out []deadLetter
	prefix := []byte(deadPrefix(region, name))
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketDead).Cursor()
		for k, v := c.Seek(prefix); k != nil && strings.HasPrefix(string(k), string(prefix)); k, v = c.Next() {
			var dl deadLetter
			if err := json.Unmarshal(v, &dl); err != nil {
				return fmt.Errorf("decode dead letter %q: %w", k, err)
			}
			out = append(out, dl)
		}
		return nil
	})
	return out, err
}

// redrive queues a function's dead letters (all, or the one with id) again
// with a fresh retry budget, removing them from the dead letters in the same
// transaction. It returns their request ids.
func (s *Service) redrive(fn *functionRecord, id string) ([]string, error) {
	prefix := []byte(deadPrefix(fn.Region, fn.Name))
	var items []queueItem
	var keys [][]byte
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketDead).Cursor()
		for k, v := c.Seek(prefix); k != nil && strings.HasPrefix(string(k), string(prefix)); k, v = c.Next() {
			var dl deadLetter
			if err := json.Unmarshal(v, &dl); err != nil {
				return fmt.Errorf("decode dead letter %q: %w", k, err)
			}
			if id != "" && dl.ID != id {
				continue
			}
			now := time.Now()
			items = append(items, queueItem{
				RequestID: dl.RequestID,
				Region:    fn.Region,
				Function:  fn.Name,
				Qualifier: dl.Qualifier,
				Payload:   []byte(dl.Payload),
				Enqueued:  now,
				NotBefore: now,
			})
			keys = append(keys, slices.Clone(k))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if id != "" && len(items) == 0 {
		return nil, sluice.Errorf(sluice.ErrResourceNotFound, "Dead letter %s not found for function %s", id, fn.arn())
	}
	if len(items) == 0 {
		return []string{}, nil
	}
	err = s.queue.put(items, func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketDead)
		for _, k := range keys {
			if b.Get(k) == nil {
				return sluice.Errorf(sluice.ErrResourceConflict, "A dead letter of %s was redriven concurrently; list them again", fn.Name)
			}
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(items))
	for i, it := range items {
		ids[i] = it.RequestID
	}
	s.log.Info("lambda: dead letters redriven", "function", fn.Name, "count", len(ids))
	return ids, nil
}

func (s *Service) listDeadLetters(w http.ResponseWriter, r *http.Request, raw string) error {
	fn, _, err := s.lookup(r, raw)
	if err != nil {
		return err
	}
	dls, err := s.deadLetters(fn.Region, fn.Name)
	if err != nil {
		return err
	}
	if dls == nil {
		dls = []deadLetter{}
	}
	return writeJSON(w, http.StatusOK, map[string]any{"DeadLetters": dls})
}

func (s *Service) redriveDeadLetters(w http.ResponseWriter, r *http.Request, raw string) error {
	fn, _, err := s.lookup(r, raw)
	if err != nil {
		return err
	}
	ids, err := s.redrive(fn, r.URL.Query().Get("id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"Redriven": len(ids), "RequestIds": ids})
}
