package realtime

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
)

// wsBufferSize is the size of a socket's read and write buffers. Frames
// are small (commands and events are a few hundred bytes); a larger one is
// read or written in more than one system call, and an idle socket holds
// 2 KB of buffers instead of net/http's 8.
const wsBufferSize = 1024

// smallBuffers hands coder/websocket the hijacked connection with small
// buffers of its own, behind a corkConn (kept in cork for the socket's
// writer).
type smallBuffers struct {
	http.ResponseWriter
	timeout time.Duration // the corkConn's flush timeout
	cork    *corkConn     // set by Hijack
}

// Hijack implements http.Hijacker. net/http has flushed the 101 response
// by now; bytes it read past the request (a client that did not wait for
// the 101) are kept in front of the connection.
func (w *smallBuffers) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	nc, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	// The socket outlives the request: the server's read and write
	// deadlines (ReadTimeout, WriteTimeout) must not end it, and
	// coder/websocket sets none of its own (it bounds each call with a
	// context). The Hijacker contract says a hijacked connection may keep
	// them (Go 1.26 happens to clear them), so they are cleared here.
	if err := nc.SetDeadline(time.Time{}); err != nil {
		nc.Close()
		return nil, nil, err
	}
	if brw.Writer.Buffered() > 0 {
		if err := brw.Writer.Flush(); err != nil {
			nc.Close()
			return nil, nil, err
		}
	}
	br := brw.Reader
	if n := br.Buffered(); n <= wsBufferSize {
		// The bytes must end up in the new reader's buffer: Accept peeks
		// what is buffered and resets the reader onto the connection.
		b, _ := br.Peek(n)
		br = bufio.NewReaderSize(io.MultiReader(bytes.NewReader(bytes.Clone(b)), nc), wsBufferSize)
		if _, err := br.Peek(n); err != nil {
			nc.Close()
			return nil, nil, err
		}
	}
	w.cork = &corkConn{Conn: nc, timeout: w.timeout}
	return w.cork, bufio.NewReadWriter(br, bufio.NewWriterSize(w.cork, wsBufferSize)), nil
}

// offers reports whether the handshake offers the subprotocol.
func offers(r *http.Request, proto string) bool {
	for _, h := range r.Header.Values("Sec-WebSocket-Protocol") {
		for _, p := range strings.Split(h, ",") {
			if strings.TrimSpace(p) == proto {
				return true
			}
		}
	}
	return false
}
