package lambda

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/sluicehq/sluice"
)

// maxLogLine is the longest line kept as one log event; longer lines are
// split, as CloudWatch Logs caps an event at 256 KB.
const maxLogLine = 256*1024 - 26

// logPipe captures one instance's stdout and stderr (one pipe, so their
// order is kept) line by line and attributes every line to the invocation in
// flight on the instance.
//
// The host keeps its own copy of the pipe's write end so it can write a
// marker after a runtime answers: the pipe is FIFO, so once the reader sees
// the marker, everything the function printed before posting its answer has
// been read. That makes the log of an invocation complete without waiting
// blindly.
type logPipe struct {
	r, w    *os.File
	marker  []byte
	flusher *logFlusher
	group   string
	stream  string

	wmu     sync.Mutex // guards w, wclosed and sent
	wclosed bool
	sent    uint64
	seen    atomic.Uint64
	seenCh  chan struct{}
	eof     chan struct{}

	mu      sync.Mutex // guards inv and pending
	inv     *invocation
	pending []sluice.LogEvent
}

func newLogPipe(flusher *logFlusher, group, stream string) (*logPipe, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	var nonce [12]byte
	rand.Read(nonce[:])
	return &logPipe{
		r: r, w: w,
		marker:  []byte("\x00\x1bsluice-drain-" + hex.EncodeToString(nonce[:]) + "\n"),
		flusher: flusher,
		group:   group,
		stream:  stream,
		seenCh:  make(chan struct{}, 1),
		eof:     make(chan struct{}),
	}, nil
}

// read runs until every writer of the pipe has closed it.
func (lp *logPipe) read() {
	defer close(lp.eof)
	defer lp.r.Close()
	buf := make([]byte, 64<<10)
	var line []byte
	for {
		n, err := lp.r.Read(buf)
		if n > 0 {
			now := time.Now()
			data := buf[:n]
			for len(data) > 0 {
				i := bytes.IndexByte(data, '\n')
				if i < 0 {
					line = append(line, data...)
					if len(line) > maxLogLine {
						// Keep a marker's length back: a marker may be arriving.
						cut := len(line) - len(lp.marker)
						lp.emit(line[:cut], now)
						line = append(line[:0], line[cut:]...)
					}
					break
				}
				line = append(line, data[:i+1]...)
				data = data[i+1:]
				if bytes.HasSuffix(line, lp.marker) {
					// What precedes the marker is a partial line that goes on.
					line = line[:len(line)-len(lp.marker)]
					lp.seen.Add(1)
					select {
					case lp.seenCh <- struct{}{}:
					default:
					}
					continue
				}
				for len(line)-1 > maxLogLine {
					lp.emit(line[:maxLogLine], now)
					line = line[maxLogLine:]
				}
				lp.emit(line[:len(line)-1], now)
				line = line[:0]
			}
		}
		if err != nil {
			if len(line) > 0 {
				lp.emit(line, time.Now())
			}
			return
		}
	}
}

// emit records one line the function printed.
func (lp *logPipe) emit(line []byte, t time.Time) {
	line = bytes.TrimSuffix(line, []byte{'\r'})
	if len(line) == 0 {
		return
	}
	var msg string
	if utf8.Valid(line) {
		msg = string(line)
	} else {
		msg = strings.ToValidUTF8(string(line), "\uFFFD")
	}
	lp.add(msg, t)
}

// add appends a line to the stream and to the tail of the invocation in flight.
func (lp *logPipe) add(msg string, t time.Time) {
	lp.mu.Lock()
	mark := len(lp.pending) == 0
	lp.pending = append(lp.pending, sluice.LogEvent{Time: t, Message: msg})
	if inv := lp.inv; inv != nil && inv.wantTail {
		inv.appendTail(msg)
	}
	lp.mu.Unlock()
	if mark {
		lp.flusher.mark(lp)
	}
}

// attribute makes inv (or nobody, for nil) the owner of the lines read from now on.
func (lp *logPipe) attribute(inv *invocation) {
	lp.mu.Lock()
	lp.inv = inv
	lp.mu.Unlock()
}

// startInvocation writes inv's START line and makes it the owner of the
// lines read from now on.
func (lp *logPipe) startInvocation(inv *invocation, t time.Time) {
	msg := "START RequestId: " + inv.id + " Version: " + inv.version
	lp.mu.Lock()
	lp.inv = inv
	mark := len(lp.pending) == 0
	lp.pending = append(lp.pending, sluice.LogEvent{Time: t, Message: msg})
	if inv.wantTail {
		inv.appendTail(msg)
	}
	lp.mu.Unlock()
	if mark {
		lp.flusher.mark(lp)
	}
}

func (lp *logPipe) takePending() []sluice.LogEvent {
	lp.mu.Lock()
	ev := lp.pending
	lp.pending = nil
	lp.mu.Unlock()
	return ev
}

// drain waits until everything written to the pipe before the call has been
// read, or until limit passes.
func (lp *logPipe) drain(limit time.Duration) {
	lp.wmu.Lock()
	if lp.wclosed {
		lp.wmu.Unlock()
		lp.waitEOF(limit)
		return
	}
	lp.sent++
	want := lp.sent
	_, err := lp.w.Write(lp.marker)
	lp.wmu.Unlock()
	if err != nil {
		return
	}
	if lp.seen.Load() >= want {
		return
	}
	t := time.NewTimer(limit)
	defer t.Stop()
	for lp.seen.Load() < want {
		select {
		case <-lp.seenCh:
		case <-lp.eof:
			return
		case <-t.C:
			return
		}
	}
}

// closeWrite drops the host's write end: the reader sees EOF once the
// function's processes have gone too.
func (lp *logPipe) closeWrite() {
	lp.wmu.Lock()
	if !lp.wclosed {
		lp.wclosed = true
		lp.w.Close()
	}
	lp.wmu.Unlock()
}

func (lp *logPipe) waitEOF(limit time.Duration) {
	t := time.NewTimer(limit)
	defer t.Stop()
	select {
	case <-lp.eof:
	case <-t.C:
	}
}

// logFlusher hands captured lines to the LogSink off the invocation path.
type logFlusher struct {
	sink LogSink
	log  *slog.Logger

	mu    sync.Mutex
	dirty []*logPipe
	wake  chan struct{}
	stop  chan struct{}
	done  chan struct{}
}

func newLogFlusher(sink LogSink, log *slog.Logger) *logFlusher {
	f := &logFlusher{sink: sink, log: log, wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	go f.run()
	return f
}

func (f *logFlusher) mark(lp *logPipe) {
	f.mu.Lock()
	f.dirty = append(f.dirty, lp)
	f.mu.Unlock()
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

func (f *logFlusher) run() {
	defer close(f.done)
	for {
		select {
		case <-f.wake:
			f.flush()
		case <-f.stop:
			f.flush()
			return
		}
	}
}

func (f *logFlusher) flush() {
	f.mu.Lock()
	dirty := f.dirty
	f.dirty = nil
	f.mu.Unlock()
	for _, lp := range dirty {
		events := lp.takePending()
		if len(events) == 0 || f.sink == nil {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := f.sink.PutLogEvents(ctx, lp.group, lp.stream, events); err != nil {
			f.log.Warn("write function log", "group", lp.group, "stream", lp.stream, "events", len(events), "err", err)
		}
		cancel()
	}
}

func (f *logFlusher) close() {
	select {
	case <-f.stop:
	default:
		close(f.stop)
	}
	<-f.done
}
