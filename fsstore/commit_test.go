package fsstore

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	bolt "go.etcd.io/bbolt"
)

var scratch = []byte("test-scratch")

// TestGroupCommitIsolation holds a leader inside its commit function while
// other changes queue, so that they all land in one group, and checks that
// each caller gets its own result: a refused change and a change that fails
// or panics after writing leave no trace, and the others (whose functions
// are re-applied after the rollbacks) commit exactly once.
func TestGroupCommitIsolation(t *testing.T) {
	s, err := Open(Config{Dir: t.TempDir(), NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()

	put := func(tx *bolt.Tx, key string) error {
		b, err := tx.CreateBucketIfNotExists(scratch)
		if err != nil {
			return err
		}
		return b.Put([]byte(key), []byte("x"))
	}
	// incr counts its applications in the database, to show that a
	// re-applied change is counted once.
	incr := func(tx *bolt.Tx, _ *eventBatch) error {
		b, err := tx.CreateBucketIfNotExists(scratch)
		if err != nil {
			return err
		}
		var n uint64
		if v := b.Get([]byte("count")); v != nil {
			n = binary.BigEndian.Uint64(v)
		}
		return b.Put([]byte("count"), binary.BigEndian.AppendUint64(nil, n+1))
	}
	errDomain := errors.New("domain")
	errDirty := errors.New("dirty")
	changes := []struct {
		name string
		fn   commitFunc
		want error
	}{
		{"incr1", incr, nil},
		{"refused", func(*bolt.Tx, *eventBatch) error { return refuse(errDomain) }, errDomain},
		{"a", func(tx *bolt.Tx, _ *eventBatch) error { return put(tx, "a") }, nil},
		{"dirty", func(tx *bolt.Tx, _ *eventBatch) error {
			if err := put(tx, "dirty"); err != nil {
				return err
			}
			return errDirty
		}, errDirty},
		{"incr2", incr, nil},
		{"panics", func(tx *bolt.Tx, _ *eventBatch) error {
			if err := put(tx, "panicked"); err != nil {
				return err
			}
			panic("boom")
		}, errors.New("panic")},
		{"b", func(tx *bolt.Tx, _ *eventBatch) error { return put(tx, "b") }, nil},
	}

	release := make(chan struct{})
	held := make(chan struct{}, 1) // the leader's function may run more than once
	leaderDone := make(chan error, 1)
	go func() {
		leaderDone <- s.update(ctx, func(tx *bolt.Tx, ev *eventBatch) error {
			select {
			case held <- struct{}{}:
			default:
			}
			<-release
			return put(tx, "leader")
		})
	}()
	<-held
	groups := s.committer.groups.Load()

	got := make([]string, len(changes))
	var wg sync.WaitGroup
	for i, c := range changes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() {
				if p := recover(); p != nil {
					got[i] = "panic"
				}
			}()
			if err := s.update(ctx, c.fn); err != nil {
				got[i] = err.Error()
			} else {
				got[i] = "ok"
			}
		}()
	}
	// Wait (with a deadline) until every change is queued behind the
	// leader.
	deadline := time.Now().Add(10 * time.Second)
	for {
		s.committer.mu.Lock()
		n := len(s.committer.queue)
		s.committer.mu.Unlock()
		if n == len(changes) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d changes queued", n, len(changes))
		}
		time.Sleep(time.Millisecond)
	}
	close(release)
	if err := <-leaderDone; err != nil {
		t.Fatalf("leader: %v", err)
	}
	wg.Wait()
	if n := s.committer.groups.Load() - groups; n != 0 {
		t.Errorf("%d more groups committed, want every change in the leader's", n)
	}

	want := make([]string, len(changes))
	for i, c := range changes {
		switch {
		case c.want == nil:
			want[i] = "ok"
		case c.want.Error() == "panic":
			want[i] = "panic"
		default:
			want[i] = c.want.Error()
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("results (-want +got):\n%s", diff)
	}
	var keys []string
	var count uint64
	err = s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(scratch)
		if b == nil {
			return errors.New("nothing committed")
		}
		return b.ForEach(func(k, v []byte) error {
			if string(k) == "count" {
				count = binary.BigEndian.Uint64(v)
			}
			keys = append(keys, string(k))
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"a", "b", "count", "leader"}, keys); diff != "" {
		t.Errorf("committed keys (-want +got):\n%s", diff)
	}
	if count != 2 {
		t.Errorf("count = %d after two increments", count)
	}
}

// TestGroupCommitMany runs many concurrent changes and checks that each
// committed exactly once.
func TestGroupCommitMany(t *testing.T) {
	s, err := Open(Config{Dir: t.TempDir(), NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const writers, each = 16, 50
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				err := s.update(context.Background(), func(tx *bolt.Tx, _ *eventBatch) error {
					b, err := tx.CreateBucketIfNotExists(scratch)
					if err != nil {
						return err
					}
					return b.Put(fmt.Appendf(nil, "%02d-%03d", w, i), nil)
				})
				if err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	n := 0
	s.db.View(func(tx *bolt.Tx) error {
		n = tx.Bucket(scratch).Stats().KeyN
		return nil
	})
	if n != writers*each {
		t.Errorf("%d keys committed, want %d", n, writers*each)
	}
}

// putScratch is a change that records key in the scratch bucket.
func putScratch(key string) commitFunc {
	return func(tx *bolt.Tx, _ *eventBatch) error {
		b, err := tx.CreateBucketIfNotExists(scratch)
		if err != nil {
			return err
		}
		return b.Put([]byte(key), nil)
	}
}

func scratchKeys(t *testing.T, s *Store) int {
	t.Helper()
	n := 0
	if err := s.db.View(func(tx *bolt.Tx) error {
		if b := tx.Bucket(scratch); b != nil {
			n = b.Stats().KeyN
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestLazyChangeJoinsNextGroup queues a lazy change that may not lead on
// its own and checks that the next write's group commits it: one group for
// both.
func TestLazyChangeJoinsNextGroup(t *testing.T) {
	s, err := Open(Config{Dir: t.TempDir(), NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.committer.lazyDelay = time.Hour
	before := s.committer.groups.Load()
	lazy := make(chan error, 1)
	go func() { lazy <- s.commit(&commitReq{fn: putScratch("lazy"), lazy: true}) }()
	for deadline := time.Now().Add(10 * time.Second); ; {
		s.committer.mu.Lock()
		queued := len(s.committer.queue)
		s.committer.mu.Unlock()
		if queued == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("lazy change never queued")
		}
		time.Sleep(time.Millisecond)
	}
	if err := s.update(context.Background(), putScratch("write")); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-lazy:
		if err != nil {
			t.Fatalf("lazy change: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("lazy change not committed with the next write")
	}
	if groups := s.committer.groups.Load() - before; groups != 1 {
		t.Errorf("%d groups committed the write and the lazy change, want 1", groups)
	}
	if n := scratchKeys(t, s); n != 2 {
		t.Errorf("%d keys committed, want 2", n)
	}
}

// TestHandOff checks who a finished group hands the lead to: the oldest
// waiting change, unless every waiting change is lazy and within its
// delay; those wait to join the next write (a group of their own would
// cost a commit) or lead when their delay ends.
func TestHandOff(t *testing.T) {
	for _, tc := range []struct {
		name    string
		queue   []commitReq
		handed  bool // the oldest change is woken to lead
		leading bool // after the hand-off
	}{
		{"nothing waits", nil, false, false},
		{"a write waits", []commitReq{{}}, true, true},
		{"only lazy changes wait", []commitReq{{lazy: true}, {lazy: true}}, false, false},
		{"a write waits behind a lazy change", []commitReq{{lazy: true}, {}}, true, true},
		{"a lazy change is overdue", []commitReq{{lazy: true}, {lazy: true, overdue: true}}, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &committer{leading: true}
			for i := range tc.queue {
				r := tc.queue[i]
				r.wake = make(chan bool, 1)
				c.queue = append(c.queue, &r)
			}
			c.handOff()
			handed := false
			if len(c.queue) > 0 {
				select {
				case lead := <-c.queue[0].wake:
					handed = lead
				default:
				}
			}
			if handed != tc.handed || c.leading != tc.leading {
				t.Errorf("handed %v, leading %v; want %v, %v", handed, c.leading, tc.handed, tc.leading)
			}
		})
	}
}

// TestLazyChangesLeadAlone commits lazy changes with no write to join:
// they lead on their own, one of them on behalf of the others queued
// before it.
func TestLazyChangesLeadAlone(t *testing.T) {
	s, err := Open(Config{Dir: t.TempDir(), NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.committer.lazyDelay = time.Millisecond
	const n = 8
	errs := make(chan error, n)
	for i := range n {
		go func() { errs <- s.commit(&commitReq{fn: putScratch(fmt.Sprint(i)), lazy: true}) }()
	}
	for range n {
		select {
		case err := <-errs:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("lazy change never committed")
		}
	}
	if got := scratchKeys(t, s); got != n {
		t.Errorf("%d keys committed, want %d", got, n)
	}
}

// TestGroupCommitManyWithLazy mixes lazy changes into concurrent writes, so
// that lazy changes lead groups, join them and are handed the lead.
func TestGroupCommitManyWithLazy(t *testing.T) {
	s, err := Open(Config{Dir: t.TempDir(), NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.committer.lazyDelay = 100 * time.Microsecond
	const writers, each = 8, 40
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				r := &commitReq{fn: putScratch(fmt.Sprintf("%02d-%03d", w, i)), lazy: (w+i)%3 == 0}
				if err := s.commit(r); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if n := scratchKeys(t, s); n != writers*each {
		t.Errorf("%d keys committed, want %d", n, writers*each)
	}
}
