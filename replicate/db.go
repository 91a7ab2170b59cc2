package replicate

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/s3api"
)

// replicate.db buckets.
var (
	bktApplied = []byte("applied") // target id \x00 key → applied
	bktStatus  = []byte("status")  // source bucket \x00 key → status of its newest write
	// bktVersionStatus keeps the status of each version of a versioned
	// source, so that an older version reports its own.
	bktVersionStatus = []byte("vstatus") // source bucket \x00 key \x00 version id → status
	bktDead          = []byte("dead")    // seq, target → DeadLetter
	// bktAttempts holds the retry budget spent on a copy still being
	// retried, so that a restart resumes it rather than starting afresh.
	bktAttempts = []byte("attempts") // seq, target → attemptState
)

// targetKey keys the dead letters and attempts of one event's copy to one
// target: big-endian seq first, so one event's records are adjacent.
func targetKey(seq uint64, target string) []byte {
	return append(binary.BigEndian.AppendUint64(nil, seq), target...)
}

func indexKey(a, b string) []byte { return []byte(a + "\x00" + b) }

func (r *Replicator) lookup(target, key string) (applied, bool, error) {
	var a applied
	found := false
	err := r.state.view(func(tx buckets) error {
		v := tx.Bucket(bktApplied).Get(indexKey(target, key))
		if v == nil {
			return nil
		}
		found = true
		return json.Unmarshal(v, &a)
	})
	if err != nil {
		return applied{}, false, fmt.Errorf("read replicate.db: %w", err)
	}
	return a, found, nil
}

// appliedSeq returns the sequencer of target's applied record of key, ""
// when there is none.
func (r *Replicator) appliedSeq(target, key string) (string, error) {
	var seq string
	err := r.state.view(func(tx buckets) error {
		seq, _ = recordSeq(tx.Bucket(bktApplied).Get(indexKey(target, key)))
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("read replicate.db: %w", err)
	}
	return seq, nil
}

// appliedAt is a change applied to one (target, key).
type appliedAt struct {
	target, key string
	a           applied
}

type statusRecord struct {
	ETag   string `json:"etag"`
	Status string `json:"status"`
	// Sequencer keeps a retried commit of an older write's status from
	// replacing a newer one's.
	Sequencer string `json:"seq,omitempty"`
}

// stateWrite is what one event leaves in replicate.db, written in one
// transaction once every target is done with it.
type stateWrite struct {
	applied []appliedAt
	status  *statusAt
	dead    []DeadLetter
	// clearAttempts are events whose persisted retry budgets are spent
	// with this write: their copies are committed or dead-lettered.
	clearAttempts []uint64
	// dropStatus are version status keys of versions deleted for good.
	dropStatus [][]byte
}

type statusAt struct {
	bucket, key string
	// versionID is the version written, "" for an unversioned or null one.
	versionID string
	rec       statusRecord
}

// versionStatusKey keys a version's status: version ids hold no 0x00, so
// the last one ends the key.
func versionStatusKey(bucket, key, versionID string) []byte {
	return append(append(indexKey(bucket, key), 0), versionID...)
}

// statusPuts are the puts recording rec for bucket/key: the key's record
// and, for a version other than the null one, the version's own.
func statusPuts(bucket, key, versionID string, rec statusRecord) ([]kv, error) {
	v, err := json.Marshal(rec)
	if err != nil {
		return nil, err
	}
	out := []kv{{bucket: bktStatus, k: indexKey(bucket, key), v: v, seq: rec.Sequencer}}
	if versionID != "" && versionID != sluice.NullVersionID {
		out = append(out, kv{bucket: bktVersionStatus, k: versionStatusKey(bucket, key, versionID), v: v, seq: rec.Sequencer})
	}
	return out, nil
}

func (w stateWrite) empty() bool {
	return len(w.applied) == 0 && w.status == nil && len(w.dead) == 0 && len(w.clearAttempts) == 0 && len(w.dropStatus) == 0
}

// kv is one encoded put; seq, set for an applied or status record, keeps
// it from replacing a record of a newer change.
type kv struct {
	bucket []byte
	k, v   []byte
	seq    string
	// clear deletes every key that starts with k instead of putting v;
	// drop deletes k alone.
	clear, drop bool
}

func (w stateWrite) encode() ([]kv, error) {
	var out []kv
	for _, a := range w.applied {
		v, err := json.Marshal(a.a)
		if err != nil {
			return nil, err
		}
		out = append(out, kv{bucket: bktApplied, k: indexKey(a.target, a.key), v: v, seq: a.a.Sequencer})
	}
	if w.status != nil {
		puts, err := statusPuts(w.status.bucket, w.status.key, w.status.versionID, w.status.rec)
		if err != nil {
			return nil, err
		}
		out = append(out, puts...)
	}
	for _, k := range w.dropStatus {
		out = append(out, kv{bucket: bktVersionStatus, k: k, drop: true})
	}
	for _, d := range w.dead {
		v, err := json.Marshal(d)
		if err != nil {
			return nil, err
		}
		out = append(out, kv{bucket: bktDead, k: targetKey(d.Event.Seq, d.Target), v: v})
	}
	for _, seq := range w.clearAttempts {
		out = append(out, kv{bucket: bktAttempts, k: binary.BigEndian.AppendUint64(nil, seq), clear: true})
	}
	return out, nil
}

// groupCommit writes the state of concurrent events in one transaction:
// requests queue while a commit is in progress and the next commit takes
// them all, so a burst of copies costs a few fsyncs, not one each.
// Requests commit in the order they were queued, so one worker's records
// of a key land in outbox order.
type groupCommit struct {
	mu      sync.Mutex
	pending []commitReq
	busy    bool
}

type commitReq struct {
	puts []kv
	done chan error
}

// commit writes w durably (unless Config.NoSync) and returns when it is.
func (r *Replicator) commit(w stateWrite) error {
	return r.queueCommit(w)()
}

// queueCommit queues w for the next commit and returns a function that
// waits for that commit.
func (r *Replicator) queueCommit(w stateWrite) (wait func() error) {
	if w.empty() {
		return func() error { return nil }
	}
	puts, err := w.encode()
	if err != nil {
		return func() error { return fmt.Errorf("encode replicate.db record: %w", err) }
	}
	return r.queuePuts(puts)
}

// queuePuts queues puts for the next commit.
func (r *Replicator) queuePuts(puts []kv) (wait func() error) {
	req := commitReq{puts: puts, done: make(chan error, 1)}
	g := &r.commits
	g.mu.Lock()
	g.pending = append(g.pending, req)
	if !g.busy {
		g.busy = true
		go r.commitLoop()
	}
	g.mu.Unlock()
	return func() error { return <-req.done }
}

// commitLoop commits queued requests until none are left.
func (r *Replicator) commitLoop() {
	g := &r.commits
	g.mu.Lock()
	for len(g.pending) > 0 {
		batch := g.pending
		g.pending = nil
		g.mu.Unlock()
		err := r.state.update(func(tx buckets) error {
			for _, req := range batch {
				for _, p := range req.puts {
					if err := putOne(tx, p); err != nil {
						return err
					}
				}
			}
			return nil
		})
		if err != nil {
			err = fmt.Errorf("write replicate.db: %w", err)
		}
		for _, req := range batch {
			req.done <- err
		}
		g.mu.Lock()
	}
	g.busy = false
	g.mu.Unlock()
}

func putOne(tx buckets, p kv) error {
	b := tx.Bucket(p.bucket)
	if p.clear {
		// Collected first: deleting under a moving cursor skips keys.
		var keys [][]byte
		c := b.Cursor()
		for k, _ := c.Seek(p.k); k != nil && bytes.HasPrefix(k, p.k); k, _ = c.Next() {
			keys = append(keys, bytes.Clone(k))
		}
		for _, k := range keys {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		return nil
	}
	if p.drop {
		return b.Delete(p.k)
	}
	if p.seq != "" {
		if prev, ok := recordSeq(b.Get(p.k)); ok && cmpSequencer(prev, p.seq) > 0 {
			return nil
		}
	}
	return b.Put(p.k, p.v)
}

// recordSeq returns the sequencer of an applied or status record (both
// keep it as "seq"), and false when v is no such record. It runs for
// every copy, on the records the copy replaces, so it reads the field
// straight from the bytes when it can: in the flat objects json.Marshal
// writes for these records, `"seq":"` can only be that key (a quote in a
// string value is escaped), and a value without a backslash needs no
// unescaping.
func recordSeq(v []byte) (string, bool) {
	if v == nil {
		return "", false
	}
	if i := bytes.Index(v, seqField); i >= 0 {
		rest := v[i+len(seqField):]
		if j := bytes.IndexByte(rest, '"'); j >= 0 && bytes.IndexByte(rest[:j], '\\') < 0 {
			return string(rest[:j]), true
		}
	}
	var prev struct {
		Sequencer string `json:"seq"`
	}
	if json.Unmarshal(v, &prev) != nil {
		return "", false
	}
	return prev.Sequencer, true
}

var seqField = []byte(`"seq":"`)

// DeadLetter is a copy or delete the replicator gave up on.
type DeadLetter struct {
	Event  sluice.Event `json:"event"`
	Target string       `json:"target"`
	Error  string       `json:"error"`
	Time   time.Time    `json:"time"`
}

// DeadLetters returns every dead-lettered copy, oldest first.
func (r *Replicator) DeadLetters() ([]DeadLetter, error) {
	var out []DeadLetter
	err := r.state.view(func(tx buckets) error {
		return tx.Bucket(bktDead).ForEach(func(_, v []byte) error {
			var d DeadLetter
			if err := json.Unmarshal(v, &d); err != nil {
				return err
			}
			out = append(out, d)
			return nil
		})
	})
	return out, err
}

// attemptState is the retry budget spent on one copy, persisted after
// every failed attempt.
type attemptState struct {
	// Attempts counts the failed attempts; MaxAttempts of them spend the
	// budget (a permanent failure spends it at once).
	Attempts int `json:"attempts"`
	// Next is when the next attempt is due.
	Next  time.Time `json:"next"`
	Error string    `json:"error,omitempty"`
}

func (r *Replicator) loadAttempts(seq uint64, target string) (attemptState, bool, error) {
	var st attemptState
	found := false
	err := r.state.view(func(tx buckets) error {
		v := tx.Bucket(bktAttempts).Get(targetKey(seq, target))
		if v == nil {
			return nil
		}
		found = true
		return json.Unmarshal(v, &st)
	})
	if err != nil {
		return attemptState{}, false, fmt.Errorf("read replicate.db: %w", err)
	}
	return st, found, nil
}

// saveAttempts durably records the budget spent on one copy before the
// replicator waits for the next attempt.
func (r *Replicator) saveAttempts(seq uint64, target string, st attemptState) error {
	v, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("encode replicate.db record: %w", err)
	}
	r.mu.Lock()
	r.retrying[seq] = true
	r.mu.Unlock()
	return r.queuePuts([]kv{{bucket: bktAttempts, k: targetKey(seq, target), v: v}})()
}

// hasAttempts reports whether replicate.db may hold retry budgets of the
// event seq, so that the common case reads nothing.
func (r *Replicator) hasAttempts(seq uint64) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.retrying[seq]
}

// forgetAttempts reports whether the event seq had retry budgets and
// forgets them: the caller's state write clears them.
func (r *Replicator) forgetAttempts(seq uint64) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	had := r.retrying[seq]
	delete(r.retrying, seq)
	return had
}

// deadLettered reports whether the copy of event seq to target was already
// dead-lettered: the event is being redelivered after a restart that came
// between the dead letter's commit and the acknowledgement.
func (r *Replicator) deadLettered(seq uint64, target string) bool {
	if seq > r.deadMax.Load() {
		return false
	}
	found := false
	err := r.state.view(func(tx buckets) error {
		found = tx.Bucket(bktDead).Get(targetKey(seq, target)) != nil
		return nil
	})
	if err != nil {
		r.log.Error("replicate: read dead letters", "seq", seq, "err", err)
	}
	return found
}

// noteDead raises the highest dead-lettered seq to seq.
func (r *Replicator) noteDead(seq uint64) {
	for {
		cur := r.deadMax.Load()
		if seq <= cur || r.deadMax.CompareAndSwap(cur, seq) {
			return
		}
	}
}

// loadRetryState reads which events have retry budgets and the highest
// dead-lettered seq.
func (r *Replicator) loadRetryState() error {
	return r.state.view(func(tx buckets) error {
		if k, _ := tx.Bucket(bktDead).Cursor().Last(); len(k) >= 8 {
			r.deadMax.Store(binary.BigEndian.Uint64(k))
		}
		return tx.Bucket(bktAttempts).ForEach(func(k, _ []byte) error {
			if len(k) >= 8 {
				r.retrying[binary.BigEndian.Uint64(k)] = true
			}
			return nil
		})
	})
}

// statusCacheTTL bounds how long Status trusts its knowledge of whether a
// bucket replicates at all.
const statusCacheTTL = time.Second

// Status is the s3api.ReplicationStatusFunc: the x-amz-replication-status of
// an object, or of one version of it. etag may be quoted.
func (r *Replicator) Status(ctx context.Context, bucket, key, versionID, etag string) string {
	etag = unquote(etag)
	// Read before the records' transaction: the store's own reads must
	// not nest in it.
	repl := r.replicates(ctx, bucket)
	var inline []string
	if repl {
		inline = r.inlineTargetIDs(ctx, bucket)
	}
	var st string
	_ = r.state.view(func(tx buckets) error {
		var rec statusRecord
		if versionID != "" && versionID != sluice.NullVersionID {
			if v := tx.Bucket(bktVersionStatus).Get(versionStatusKey(bucket, key, versionID)); v != nil && json.Unmarshal(v, &rec) == nil && rec.ETag == etag {
				st = rec.Status
				return nil
			}
		}
		found := false
		if v := tx.Bucket(bktStatus).Get(indexKey(bucket, key)); v != nil && json.Unmarshal(v, &rec) == nil && rec.ETag == etag {
			found = true
		}
		// A write copied inline records no status (inlineStatus): its
		// targets' applied records say it, unless a status of a later
		// change of the same bytes is recorded.
		after := ""
		if found {
			after = rec.Sequencer
		}
		if copiedInline(tx, inline, key, etag, after) {
			st = StatusCompleted
			return nil
		}
		if found {
			st = rec.Status
			return nil
		}
		var a applied
		if v := tx.Bucket(bktApplied).Get(indexKey("local/"+bucket, key)); v != nil && json.Unmarshal(v, &a) == nil && !a.Deleted && a.TargetETag == etag {
			st = StatusReplica
		}
		return nil
	})
	if st != "" {
		return st
	}
	if repl {
		return StatusPending
	}
	return ""
}

// replicates reports whether bucket has a TargetBucket tag or an enabled
// replication rule, from a short-lived cache.
func (r *Replicator) replicates(ctx context.Context, bucket string) bool {
	r.mu.Lock()
	c, ok := r.hasRepl[bucket]
	r.mu.Unlock()
	if ok && time.Since(c.at) < statusCacheTTL {
		return c.v
	}
	v := false
	if tags, err := s3api.BucketTags(ctx, r.store, bucket); err == nil {
		for _, t := range tags {
			if t.Key == TagName {
				if ts, err := ParseTargetBucketTag(t.Value); err == nil && len(ts) > 0 {
					v = true
				}
			}
		}
	}
	if cfg, err := s3api.BucketReplication(ctx, r.store, bucket); err == nil && cfg != nil {
		for _, rule := range cfg.Rules {
			v = v || rule.Enabled()
		}
	}
	r.mu.Lock()
	if len(r.hasRepl) > 10000 {
		clear(r.hasRepl)
	}
	r.hasRepl[bucket] = cachedBool{v: v, at: time.Now()}
	r.mu.Unlock()
	return v
}

var _ s3api.ReplicationStatusFunc = (*Replicator)(nil).Status
