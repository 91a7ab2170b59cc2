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

	mu      sync.Mutex // guards inv, pending and reports
	inv     *invocation
	pending []sluice.LogEvent
	reports []pendingReport
	memory  func() uint64 // the instance's peak memory, for REPORT lines
}

// pendingReport is a REPORT line in pending whose Max Memory Used the
// flusher fills in.
type pendingReport struct {
	idx            int
	prefix, suffix string
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
	sp := lineSplitter{marker: lp.marker, max: maxLogLine}
	var now time.Time
	emit := func(line []byte) { lp.emit(line, now) }
	mark := func() {
		lp.seen.Add(1)
		select {
		case lp.seenCh <- struct{}{}:
		default:
		}
	}
	for {
		n, err := lp.r.Read(buf)
		if n > 0 {
			now = time.Now()
			sp.feed(buf[:n], emit, mark)
		}
		if err != nil {
			now = time.Now()
			sp.flush(emit)
			return
		}
	}
}

// lineSplitter cuts a byte stream into lines of at most max bytes and
// recognises the host's drain marker wherever it lands, even in the middle
// of a line the function had not finished.
type lineSplitter struct {
	marker []byte
	max    int
	line   []byte
}

// feed consumes data, calling emit for every complete line (without its
// newline) and mark for every marker.
func (s *lineSplitter) feed(data []byte, emit func([]byte), mark func()) {
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			s.line = append(s.line, data...)
			if len(s.line) > s.max+len(s.marker) {
				// Keep a marker's length back: a marker may be arriving.
				cut := len(s.line) - len(s.marker)
				for cut > 0 {
					n := min(cut, s.max)
					emit(s.line[:n])
					s.line = s.line[n:]
					cut -= n
				}
				s.line = append([]byte(nil), s.line...)
			}
			return
		}
		s.line = append(s.line, data[:i+1]...)
		data = data[i+1:]
		if bytes.HasSuffix(s.line, s.marker) {
			// What precedes the marker is a partial line that goes on.
			s.line = s.line[:len(s.line)-len(s.marker)]
			mark()
			continue
		}
		line := s.line[:len(s.line)-1]
		for len(line) > s.max {
			emit(line[:s.max])
			line = line[s.max:]
		}
		emit(line)
		s.line = s.line[:0]
	}
}

// flush emits an unfinished last line.
func (s *lineSplitter) flush(emit func([]byte)) {
	line := s.line
	for len(line) > s.max {
		emit(line[:s.max])
		line = line[s.max:]
	}
	if len(line) > 0 {
		emit(line)
	}
	s.line = s.line[:0]
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

// addReport appends a REPORT line whose memory figure is read when the
// line is flushed.
func (lp *logPipe) addReport(prefix, suffix string, t time.Time) {
	lp.mu.Lock()
	mark := len(lp.pending) == 0
	lp.reports = append(lp.reports, pendingReport{idx: len(lp.pending), prefix: prefix, suffix: suffix})
	lp.pending = append(lp.pending, sluice.LogEvent{Time: t, Message: prefix + "0" + suffix})
	lp.mu.Unlock()
	if mark {
		lp.flusher.mark(lp)
	}
}

func (lp *logPipe) takePending() []sluice.LogEvent {
	lp.mu.Lock()
	ev, reports := lp.pending, lp.reports
	lp.pending, lp.reports = nil, nil
	lp.mu.Unlock()
	if len(reports) > 0 && lp.memory != nil {
		mem := lp.memory()
		for _, r := range reports {
			ev[r.idx].Message = reportLine(r.prefix, mem, r.suffix)
		}
	}
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
