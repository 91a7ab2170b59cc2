package fsstore

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
)

// commitFunc applies one change inside a write transaction. It may run more
// than once (when another change of its group fails and the group is
// re-applied), so it must reset whatever it reports through its closure and
// must have no side effects outside tx: files are removed and waiters woken
// only after the commit.
//
// A change that fails its checks before touching tx returns refuse(err):
// the group then goes on without it. Any other error makes the group roll
// back and re-apply the others without it.
type commitFunc func(tx *bolt.Tx, ev *eventBatch) error

// refused marks an error returned before the commit function changed
// anything in the transaction.
type refused struct{ err error }

func (r refused) Error() string { return r.err.Error() }
func (r refused) Unwrap() error { return r.err }

// refuse wraps err, returned by a commit function before any change to the
// transaction; nil stays nil.
func refuse(err error) error {
	if err == nil {
		return nil
	}
	return refused{err}
}

// Group bounds: a group is one bbolt transaction, so these cap its memory
// and the latency of its last member.
const (
	maxGroupChanges = 256
	maxGroupBytes   = 16 << 20
)

// commitReq is one change waiting for a group commit.
type commitReq struct {
	fn commitFunc
	ev eventBatch
	// dirs are directories holding files this change refers to; each is
	// fsynced once per group before the transaction commits.
	dirs []string
	// size is the number of body bytes the change puts into the database.
	size int
	// lazy changes do not lead a group at once: they wait up to
	// lazyLeadDelay for another change to lead one and join it.
	lazy bool
	// overdue marks a lazy change that waited its delay while a group
	// was in flight: it is handed the lead like any change.
	overdue bool

	err      error
	panicVal any
	// wake receives false when the change is committed (or failed) and
	// true when its goroutine must lead the next group.
	wake chan bool
}

// committer runs group commits: changes that arrive while a group is being
// committed wait in queue, and the next leader commits them together in one
// transaction, sharing its fsyncs. There is no timer: the first change to
// find no group in flight leads at once, unless it is lazy.
type committer struct {
	mu      sync.Mutex
	queue   []*commitReq
	leading bool // a leader is working or is being handed the lead
	// lazyDelay is how long a lazy change waits for another change to
	// lead a group before it leads one itself (lazyLeadDelay; tests
	// change it before use).
	lazyDelay time.Duration
	// groups counts the groups begun, for tests.
	groups atomic.Int64
}

// update commits fn in a group with whatever else is being committed and
// returns once fn's change is durable (or failed). After a commit that
// appended events it wakes every ReadEvents waiter.
func (s *Store) update(ctx context.Context, fn commitFunc) error {
	return s.commit(&commitReq{fn: fn, ev: s.events(ctx), lazy: joinsCommits(ctx)})
}

func (s *Store) commit(r *commitReq) error {
	r.wake = make(chan bool, 1)
	c := &s.committer
	c.mu.Lock()
	c.queue = append(c.queue, r)
	lead := !c.leading && !r.lazy
	if lead {
		c.leading = true
	}
	c.mu.Unlock()
	switch {
	case lead:
	case r.lazy:
		lead = c.awaitLazy(r)
	default:
		lead = <-r.wake
	}
	for lead {
		// The group takes the queue from its head: r when it was handed
		// the lead, but a lazy leader may find others before it. Its wake
		// says whether the group took it (false) or it leads the next.
		s.commitGroup()
		lead = <-r.wake
	}
	if r.panicVal != nil {
		panic(r.panicVal)
	}
	return unrefuse(r.err)
}

func unrefuse(err error) error {
	var rf refused
	if errors.As(err, &rf) {
		return rf.err
	}
	return err
}

// lazyLeadDelay is how long a lazy change waits for another change to
// lead a group before it leads one itself: long enough for the next write
// of a steady stream to come, short enough not to hold up its caller.
const lazyLeadDelay = 2 * time.Millisecond

// awaitLazy waits until a leader takes r into its group or hands it the
// lead, and reports which; when no group has begun after lazyDelay, r
// leads.
func (c *committer) awaitLazy(r *commitReq) bool {
	t := time.NewTimer(c.lazyDelay)
	defer t.Stop()
	select {
	case lead := <-r.wake:
		return lead
	case <-t.C:
	}
	c.mu.Lock()
	// A leader wakes its members before it gives up leading, so with no
	// leader and no wake, r is still queued.
	select {
	case lead := <-r.wake:
		c.mu.Unlock()
		return lead
	default:
	}
	if !c.leading {
		c.leading = true
		c.mu.Unlock()
		return true
	}
	r.overdue = true
	c.mu.Unlock()
	return <-r.wake
}

// next pops the next queued change, or nil when the queue is empty or the
// group is full.
func (c *committer) next(n, bytes int) *commitReq {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.queue) == 0 || n >= maxGroupChanges || (n > 0 && bytes+c.queue[0].size > maxGroupBytes) {
		return nil
	}
	r := c.queue[0]
	c.queue[0] = nil
	c.queue = c.queue[1:]
	return r
}

// handOff passes the lead to the oldest waiting change, or ends leading
// when no change waits or only lazy ones within their delay do: a group of
// those alone would cost a commit of its own, which they wait to share
// with the next write (or lead after their delay).
func (c *committer) handOff() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.queue) == 0 {
		c.leading = false
		c.queue = nil
		return
	}
	for _, r := range c.queue {
		if !r.lazy || r.overdue {
			c.queue[0].wake <- true
			return
		}
	}
	c.leading = false
}

// commitGroup takes queued changes into one transaction until the queue is
// empty or the group is full, fsyncs the directories they need, commits,
// and wakes every member.
func (s *Store) commitGroup() {
	var (
		members []*commitReq // everything taken, for waking
		applied []*commitReq // applied and not failed, in order
		bytes   int
		err     error
	)
	s.committer.groups.Add(1)
	tx, err := s.db.Begin(true)
	for {
		r := s.committer.next(len(members), bytes)
		if r == nil {
			break
		}
		members = append(members, r)
		bytes += r.size
		if err != nil {
			continue // every member gets err below
		}
		ok, rerr := apply(tx, r)
		if ok {
			applied = append(applied, r)
			continue
		}
		if rerr == nil {
			continue // refused: tx untouched
		}
		// r may have changed tx before it failed: start over without it.
		tx.Rollback()
		tx, err = s.reapply(applied)
		applied = survivors(applied)
	}
	if err == nil {
		err = s.syncDirs(applied)
	}
	if err == nil {
		err = tx.Commit()
	} else if tx != nil {
		tx.Rollback()
	}
	if err != nil {
		err = fmt.Errorf("commit metadata: %w", err)
	}
	events := false
	for _, r := range members {
		if err != nil && r.panicVal == nil {
			r.err = err
		}
		if r.err == nil && r.ev.n > 0 {
			events = true
		}
	}
	if events {
		s.evMu.Lock()
		close(s.evCh)
		s.evCh = make(chan struct{})
		s.evMu.Unlock()
	}
	for _, r := range members {
		r.wake <- false
	}
	s.committer.handOff()
}

// apply runs r in tx. ok reports that r's change is in tx; otherwise r.err
// (or r.panicVal) is set and rerr is non-nil when tx may hold part of r.
func apply(tx *bolt.Tx, r *commitReq) (ok bool, rerr error) {
	defer func() {
		if p := recover(); p != nil {
			r.panicVal = p
			ok, rerr = false, fmt.Errorf("commit panicked: %v", p)
		}
	}()
	r.ev.n = 0
	r.err = r.fn(tx, &r.ev)
	if r.err == nil {
		return true, nil
	}
	var rf refused
	if errors.As(r.err, &rf) {
		return false, nil
	}
	return false, r.err
}

// reapply opens a new transaction and applies the changes that had been
// applied before a failure. A change failing now (it cannot fail the same
// way twice in the same state, but a panic or I/O error could) is dropped
// and the rest applied again, so the loop ends after at most len(rs)
// rounds. The survivors keep r.err == nil.
func (s *Store) reapply(rs []*commitReq) (*bolt.Tx, error) {
	for {
		tx, err := s.db.Begin(true)
		if err != nil {
			return nil, err
		}
		failed := false
		for _, r := range rs {
			if r.err != nil || r.panicVal != nil {
				continue
			}
			if ok, rerr := apply(tx, r); !ok && rerr != nil {
				failed = true
				break
			}
		}
		if !failed {
			return tx, nil
		}
		tx.Rollback()
	}
}

// survivors drops the changes that failed from rs.
func survivors(rs []*commitReq) []*commitReq {
	out := rs[:0]
	for _, r := range rs {
		if r.err == nil && r.panicVal == nil {
			out = append(out, r)
		}
	}
	return out
}

// syncDirs fsyncs, once each, the directories the applied changes name, so
// that their files' directory entries are durable before the metadata that
// refers to them.
func (s *Store) syncDirs(rs []*commitReq) error {
	if s.cfg.NoSync {
		return nil
	}
	var done map[string]bool
	for _, r := range rs {
		for _, d := range r.dirs {
			if done[d] {
				continue
			}
			if done == nil {
				done = make(map[string]bool)
			}
			done[d] = true
			if err := syncDir(d, false); err != nil {
				return fmt.Errorf("sync %s: %w", d, err)
			}
		}
	}
	return nil
}
