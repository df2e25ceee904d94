package realtime

import (
	"net"
	"sync"
	"time"
)

// corkConn is the connection under a socket's websocket.Conn. coder/websocket
// flushes every frame to the kernel on its own, one write system call each,
// the largest single cost of a busy hub (docs/performance.md, "Coalesced
// writes"). While the socket's writer has more frames queued it corks the
// connection: the frames' bytes gather in one buffer, and uncork hands them
// to the kernel in one write. A frame with nothing queued behind it is
// written at once, as before, so coalescing adds no latency: it only joins
// what was already waiting.
//
// Every write, corked or not, goes through mu, so that the bytes of a frame
// written by another goroutine (a ping, the close frame) never overtake
// frames buffered before it.
//
// Each write to the kernel is bounded by the connection's write deadline,
// set to timeout from now: a reader that stops reading fills the socket's
// buffer, the write fails, and the writer kicks the socket as a slow
// consumer. The deadline is what bounds a frame, not a context: a context
// with a timeout per frame cost a timer, a child registered with the
// connection's context and an AfterFunc in coder/websocket, about 5 % of a
// hub's CPU at 1,000 msg/s (docs/performance.md, round three).
type corkConn struct {
	net.Conn
	timeout time.Duration // bounds each write to the kernel (WriteTimeout)

	mu     sync.Mutex
	corked bool    // guarded by mu
	buf    *[]byte // guarded by mu: the corked bytes, from corkBufs while corked
	pieces int     // guarded by mu: the writes gathered in buf (a frame each, or a part of a large one)
}

// corkLimit is how many bytes a writer gathers before it flushes anyway.
const corkLimit = 32 << 10

// corkBufs keeps the buffers of corked sockets: an idle socket holds none.
var corkBufs = sync.Pool{New: func() any { b := make([]byte, 0, 8<<10); return &b }}

// Write implements net.Conn.
func (c *corkConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.corked {
		*c.buf = append(*c.buf, p...)
		c.pieces++
		return len(p), nil
	}
	return c.write(p)
}

// write writes p to the kernel within timeout. The deadline stays set
// after it: every write sets its own. Called with mu held.
func (c *corkConn) write(p []byte) (int, error) {
	if err := c.Conn.SetWriteDeadline(time.Now().Add(c.timeout)); err != nil {
		return 0, err
	}
	return c.Conn.Write(p)
}

// cork makes the writes that follow gather until uncork.
func (c *corkConn) cork() {
	c.mu.Lock()
	if !c.corked {
		c.corked = true
		c.buf = corkBufs.Get().(*[]byte)
	}
	c.mu.Unlock()
}

// gathered returns how many bytes wait for uncork.
func (c *corkConn) gathered() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.corked {
		return 0
	}
	return len(*c.buf)
}

// uncork writes what gathered in one write, within the timeout, and lets
// writes through again. It returns how many writes it joined.
func (c *corkConn) uncork() (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.corked {
		return 0, nil
	}
	c.corked = false
	b, joined := c.buf, c.pieces
	c.buf, c.pieces = nil, 0
	defer func() {
		*b = (*b)[:0]
		if cap(*b) <= 4*corkLimit {
			corkBufs.Put(b)
		}
	}()
	if len(*b) == 0 {
		return 0, nil
	}
	_, err := c.write(*b)
	return joined, err
}
