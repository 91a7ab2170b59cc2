package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"
)

// conn is a minimal HTTP/1.1 keep-alive client connection: it writes a
// prepared request and reads the status line, the few headers the bench
// checks, and a Content-Length body. The hits phase needs a client that
// costs the machine far less than the servers it measures: on this 2-core
// box net/http's client managed about 6,600 requests/s of 100 KB against
// nginx where this one managed 11,000 or more, so net/http would have
// measured itself. Every server is measured through the same code.
type conn struct {
	addr string
	c    net.Conn
	br   *bufio.Reader
}

// head is what the bench reads from a response's header.
type head struct {
	status          int
	contentLength   int64 // -1 when absent
	xCache          string
	contentType     string
	contentEncoding string
	close           bool
}

// response is one answer: its head and, when asked for, its body.
type response struct {
	head
	body []byte // nil unless kept
	n    int64  // body bytes read
}

var errChunked = errors.New("chunked response: the bench reads Content-Length bodies only")

func dial(addr string) (*conn, error) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	return &conn{addr: addr, c: c, br: bufio.NewReaderSize(c, 64<<10)}, nil
}

func (c *conn) Close() error { return c.c.Close() }

// do sends req (a whole HTTP/1.1 request) and reads the answer; keep
// buffers the body. Any error leaves the connection unusable.
func (c *conn) do(req []byte, keep bool, timeout time.Duration) (response, error) {
	if timeout > 0 {
		_ = c.c.SetDeadline(time.Now().Add(timeout))
	}
	if _, err := c.c.Write(req); err != nil {
		return response{}, err
	}
	h, err := readHead(c.br)
	if err != nil {
		return response{}, err
	}
	r := response{head: h}
	if h.contentLength < 0 {
		return r, errors.New("response without Content-Length")
	}
	if keep {
		r.body = make([]byte, h.contentLength)
		n, err := io.ReadFull(c.br, r.body)
		r.n = int64(n)
		if err != nil {
			return r, fmt.Errorf("read body: %w", err)
		}
	} else {
		n, err := c.br.Discard(int(h.contentLength))
		r.n = int64(n)
		if err != nil {
			return r, fmt.Errorf("read body: %w", err)
		}
	}
	if h.close {
		return r, errConnClose
	}
	return r, nil
}

// errConnClose marks a good answer after which the server closes the
// connection: the caller redials.
var errConnClose = errors.New("server closed the connection")

// readHead parses a status line and header fields up to the blank line.
func readHead(br *bufio.Reader) (head, error) {
	h := head{contentLength: -1}
	line, err := br.ReadSlice('\n')
	if err != nil {
		return h, fmt.Errorf("read status line: %w", err)
	}
	// "HTTP/1.1 200 OK"
	proto, rest, ok := bytes.Cut(bytes.TrimRight(line, "\r\n"), []byte(" "))
	if !ok || !bytes.HasPrefix(proto, []byte("HTTP/1.")) || len(rest) < 3 {
		return h, fmt.Errorf("bad status line %q", truncate(line))
	}
	code, err := strconv.Atoi(string(rest[:3]))
	if err != nil || code < 100 || code > 999 {
		return h, fmt.Errorf("bad status line %q", truncate(line))
	}
	h.status = code
	for n := 0; ; n++ {
		if n > 200 {
			return h, errors.New("more than 200 header lines")
		}
		line, err := br.ReadSlice('\n')
		if err != nil {
			return h, fmt.Errorf("read header: %w", err)
		}
		line = bytes.TrimRight(line, "\r\n")
		if len(line) == 0 {
			return h, nil
		}
		k, v, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			return h, fmt.Errorf("bad header line %q", truncate(line))
		}
		v = bytes.TrimSpace(v)
		switch {
		case bytes.EqualFold(k, []byte("Content-Length")):
			cl, err := strconv.ParseInt(string(v), 10, 64)
			if err != nil || cl < 0 || cl > 1<<30 {
				return h, fmt.Errorf("bad Content-Length %q", truncate(v))
			}
			h.contentLength = cl
		case bytes.EqualFold(k, []byte("Transfer-Encoding")):
			if !bytes.EqualFold(v, []byte("identity")) {
				return h, errChunked
			}
		case bytes.EqualFold(k, []byte("X-Cache")):
			h.xCache = string(v)
		case bytes.EqualFold(k, []byte("Content-Type")):
			h.contentType = string(v)
		case bytes.EqualFold(k, []byte("Content-Encoding")):
			h.contentEncoding = string(v)
		case bytes.EqualFold(k, []byte("Connection")):
			h.close = bytes.EqualFold(v, []byte("close"))
		}
	}
}

func truncate(b []byte) string {
	if len(b) > 80 {
		b = b[:80]
	}
	return string(b)
}

// getRequest is a keep-alive GET with the given Host and extra header
// lines ("Name: value").
func getRequest(host, target string, extra ...string) []byte {
	var b bytes.Buffer
	b.WriteString("GET " + target + " HTTP/1.1\r\nHost: " + host + "\r\n")
	for _, h := range extra {
		b.WriteString(h + "\r\n")
	}
	b.WriteString("\r\n")
	return b.Bytes()
}
