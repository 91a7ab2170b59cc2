package edge

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// The fast lane answers plain cache hits on the edge listener's
// connections itself, without net/http: most of the cost of a hit in
// net/http is the server's, not the edge's — the http.Request and its
// Header map, the response Header map and its sorted write, deadlines and
// buffers per request, a separate packet for the response head. It parses
// the request head strictly (parseHead), looks the object up the way
// ServeHTTP does, and when the answer is a fresh cached 200 that no
// function touches, writes it with a pre-formatted head and the body by
// sendfile(2) (the head goes out in the same packets, with MSG_MORE).
//
// Anything else — a miss, a stale or uncompressed variant, a function, a
// precondition or Range, a body, an unusual header, a parse doubt — hands
// the connection, with the bytes already read, to the net/http server that
// serves the FastLane as its net.Listener; that server owns the connection
// from then on. The fast lane's answers are those ServeHTTP gives, header
// for header (TestFastLaneMatchesServeHTTP).

// FastLaneConfig configures a FastLane.
type FastLaneConfig struct {
	// ReadHeaderTimeout bounds the time from a request's first bytes to
	// the end of its head; IdleTimeout the wait for the next request on a
	// keep-alive connection. Use the fallback http.Server's values.
	ReadHeaderTimeout time.Duration
	IdleTimeout       time.Duration
	// MaxHeadBytes is the largest request head the fast lane reads; a
	// larger one is handed to the fallback server, which applies its own
	// MaxHeaderBytes.
	MaxHeadBytes int
	// Reserved are path prefixes the fast lane never answers (the
	// fallback's own endpoints, such as "/_sluice/").
	Reserved []string
}

// DefaultFastLaneConfig returns net/http-like limits.
func DefaultFastLaneConfig() FastLaneConfig {
	return FastLaneConfig{
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeadBytes:      16 << 10,
		Reserved:          []string{"/_sluice/"},
	}
}

// Validate reports the first invalid setting.
func (c FastLaneConfig) Validate() error {
	switch {
	case c.ReadHeaderTimeout <= 0:
		return errors.New("edge: FastLaneConfig.ReadHeaderTimeout: must be positive")
	case c.IdleTimeout <= 0:
		return errors.New("edge: FastLaneConfig.IdleTimeout: must be positive")
	case c.MaxHeadBytes < 1024:
		return fmt.Errorf("edge: FastLaneConfig.MaxHeadBytes: %d is less than 1024", c.MaxHeadBytes)
	}
	return nil
}

// FastLane serves cache hits on a listener's connections and is the
// net.Listener of the http.Server that serves everything else: its Accept
// returns the connections it hands off. Create it with Edge.FastLane,
// give it to http.Server.Serve, and after the server's Shutdown (which
// closes it) call Wait.
//
// Concurrency: one goroutine accepts, one serves each connection; Accept,
// Close and Wait are safe for concurrent use.
type FastLane struct {
	e   *Edge
	cfg FastLaneConfig
	ln  net.Listener

	handoff   chan net.Conn
	done      chan struct{} // closed by Close or a failed accept
	closing   atomic.Bool
	startOnce sync.Once
	closeOnce sync.Once
	closeErr  error
	acceptErr error // written before done is closed

	mu    sync.Mutex
	conns map[*laneConn]struct{}

	date atomic.Pointer[laneDate]

	served, handedOff atomic.Int64
}

// FastLaneStats counts what a FastLane did.
type FastLaneStats struct {
	// Served is the requests it answered itself, HandedOff the
	// connections it gave to the fallback server.
	Served, HandedOff int64
}

// Stats returns the counts so far.
func (l *FastLane) Stats() FastLaneStats {
	return FastLaneStats{Served: l.served.Load(), HandedOff: l.handedOff.Load()}
}

// FastLane returns a FastLane serving ln. It starts accepting on the first
// call of its Accept.
func (e *Edge) FastLane(cfg FastLaneConfig, ln net.Listener) (*FastLane, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &FastLane{
		e: e, cfg: cfg, ln: ln,
		handoff: make(chan net.Conn),
		done:    make(chan struct{}),
		conns:   make(map[*laneConn]struct{}),
	}, nil
}

var _ net.Listener = (*FastLane)(nil)

// Accept returns the next connection handed off to the fallback server.
func (l *FastLane) Accept() (net.Conn, error) {
	l.startOnce.Do(func() { go l.acceptLoop() })
	select {
	case c := <-l.handoff:
		return c, nil
	case <-l.done:
		if l.acceptErr != nil {
			return nil, l.acceptErr
		}
		return nil, net.ErrClosed
	}
}

// Addr is the listener's address.
func (l *FastLane) Addr() net.Addr { return l.ln.Addr() }

// Close stops accepting and closes the idle connections; a connection
// busy with a request finishes its response, then closes. http.Server's
// Shutdown and Close call it.
func (l *FastLane) Close() error {
	l.closeOnce.Do(func() {
		l.closing.Store(true)
		close(l.done)
		l.closeErr = l.ln.Close()
		l.closeIdle()
	})
	return l.closeErr
}

// Wait waits until the fast lane's connections are gone (after Close),
// closing each as it becomes idle; when ctx ends first it closes the rest
// and returns ctx's error.
func (l *FastLane) Wait(ctx context.Context) error {
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for {
		l.closeIdle()
		if l.activeConns() == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			l.mu.Lock()
			for c := range l.conns {
				c.nc.Close()
			}
			l.mu.Unlock()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// activeConns is how many connections the fast lane holds.
func (l *FastLane) activeConns() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.conns)
}

func (l *FastLane) closeIdle() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for c := range l.conns {
		if c.state.CompareAndSwap(stateIdle, stateClosed) {
			c.nc.Close()
		}
	}
}

func (l *FastLane) acceptLoop() {
	var delay time.Duration
	for {
		nc, err := l.ln.Accept()
		if err != nil {
			if l.closing.Load() {
				return
			}
			if !errors.Is(err, net.ErrClosed) {
				// Out of descriptors and the like: back off as net/http does.
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				l.e.log.Warn("edge: fast lane accept", "err", err, "retry_in", delay)
				time.Sleep(delay)
				continue
			}
			l.closeOnce.Do(func() {
				l.acceptErr = err
				l.closing.Store(true)
				close(l.done)
				l.closeIdle()
			})
			return
		}
		delay = 0
		c := &laneConn{l: l, nc: nc}
		// Nothing of a request is read yet: idle, so that a Close now
		// closes it rather than waiting for a request that may never come.
		c.state.Store(stateIdle)
		c.tcp, _ = nc.(*net.TCPConn)
		l.mu.Lock()
		if l.closing.Load() {
			l.mu.Unlock()
			nc.Close()
			return
		}
		l.conns[c] = struct{}{}
		l.mu.Unlock()
		go c.serve()
	}
}

// forget drops c from the connections Close and Wait see.
func (l *FastLane) forget(c *laneConn) {
	l.mu.Lock()
	delete(l.conns, c)
	l.mu.Unlock()
}

// handOff gives nc, with the bytes read from it but not consumed, to the
// fallback server. During shutdown nobody takes it: it is closed.
func (l *FastLane) handOff(nc net.Conn, buffered []byte) {
	l.handedOff.Add(1)
	rc := &replayConn{Conn: nc, buf: buffered}
	select {
	case l.handoff <- rc:
	case <-l.done:
		nc.Close()
	}
}

// replayConn is a connection handed off with bytes the fast lane read:
// Read returns those first.
type replayConn struct {
	net.Conn
	buf []byte
}

func (c *replayConn) Read(p []byte) (int, error) {
	if len(c.buf) > 0 {
		n := copy(p, c.buf)
		c.buf = c.buf[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

// ReadFrom keeps net/http's sendfile path: it sends through the
// connection's own ReadFrom.
func (c *replayConn) ReadFrom(r io.Reader) (int64, error) {
	if rf, ok := c.Conn.(io.ReaderFrom); ok {
		return rf.ReadFrom(r)
	}
	return io.Copy(writerOnly{c.Conn}, r)
}

// CloseWrite lets net/http half-close as it does on a *net.TCPConn.
func (c *replayConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// laneDate is the Date header of one second.
type laneDate struct {
	sec int64
	b   []byte
}

// appendDate appends now as an HTTP date, formatted once a second.
func (l *FastLane) appendDate(dst []byte, now time.Time) []byte {
	sec := now.Unix()
	if d := l.date.Load(); d != nil && d.sec == sec {
		return append(dst, d.b...)
	}
	d := &laneDate{sec: sec, b: now.UTC().AppendFormat(nil, http.TimeFormat)}
	l.date.Store(d)
	return append(dst, d.b...)
}
