package realtime

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/switchboardhq/switchboard/api/protocol"
	"github.com/switchboardhq/switchboard/hub"
)

// conn is one WebSocket connection.
//
// The handler goroutine reads frames and runs commands; one writer
// goroutine is the only one to write the socket (each write under
// WriteTimeout) and owns the per-session progress; a pinger keeps the
// connection alive. The bus reader hands events over through Deliver and
// Resync without ever blocking: a full queue drops typing events first and
// kicks the socket when a durable event does not fit, and the client
// resumes from its last seq.
type conn struct {
	// Immutable after newConn (cork set by serveWS before the reader starts).
	e      *Engine
	ws     *websocket.Conn
	cork   *corkConn       // the connection under ws: the writer coalesces frames in it
	ctx    context.Context // the connection's lifetime, not the request's
	cancel context.CancelFunc
	ip     string

	// The send queue. An idle connection holds neither a queue nor a
	// writer goroutine: enqueue starts a writer when there is something to
	// write, and the writer ends when the queue is empty (Tailscale's relay
	// saved a third of its memory per idle connection so).
	qmu      sync.Mutex
	queue    []item         // guarded by qmu: queue[head:] wait, oldest first; at most SendQueue
	head     int            // guarded by qmu
	writing  bool           // guarded by qmu: a writer goroutine is running
	stopped  bool           // guarded by qmu: the connection ended; no writer starts again
	writers  sync.WaitGroup // the writer goroutine, while one runs
	lastRead atomic.Int64   // unix ns of the last frame read (the pinger skips busy sockets)
	pingSlot int            // guarded by the pinger's mu: its group in the pinger

	// principal is set once by the reader at auth, before the writer and
	// any subscription start; read-only afterwards. presenceID is the id of
	// an agent's connection in the desk's presence, set with it; queueSID
	// is the session of a customer's socket whose queue position it is
	// told (its only session), set at hello before any subscription.
	principal  hub.Principal
	presenceID string
	queueSID   string
	// id names this socket (a call's leg remembers the socket it is on);
	// device is the page or app it belongs to (auth's device, or id), kept
	// across the client's reconnects. Both are set at auth.
	id, device string

	// Owned by the writer goroutine (one at a time: each starts only after
	// the last one ended, under qmu): the last seq written per followed
	// session, and the epoch of the event at that seq ("" unknown). A
	// session is followed while it has an entry in last.
	last   map[string]int64
	epochs map[string]string

	mu     sync.Mutex
	closed bool                   // guarded by mu: close has begun
	typing map[string]*time.Timer // guarded by mu: server-side typing expiry per session
	// calls are the calls this socket holds a leg of, by session: when
	// the socket ends, each gets its grace (hub.CallLegLost).
	calls map[string]string // guarded by mu

	closeOnce sync.Once
	// stopping counts the typing-off publishes begun at close; presence is
	// released only after them, or an agent requeued at once (no grace)
	// could no longer say it stopped typing.
	stopping sync.WaitGroup

	// ownCloses counts a customer's own close commands whose reply the
	// writer has not reached yet (the reader adds, the writer subtracts).
	// While one is pending, the writer keeps the socket open after
	// session.ended until the reply is written too, so that the customer
	// learns that its close worked.
	ownCloses atomic.Int32
	// ownRates counts the customer's rate commands whose reply the writer
	// has not reached yet: session.rated does not close the socket before
	// that reply is written.
	ownRates atomic.Int32

	// Owned by the writer: the customer's session.ended was written, and
	// the reply to its own close was.
	endedWritten, ownCloseWritten bool
	// Owned by the writer: closes a customer's socket when the rating
	// window after its session's end runs out.
	ratingTimer *time.Timer
	// Owned by the writer: cork is gathering its frames for one write.
	corked bool
	// Owned by the writer: the wait before the next catch-up attempt while
	// the store is unavailable (0: none failed since the last success).
	retryDelay time.Duration
}

// close ends the connection with code (once) without waiting: safe from
// any goroutine, the bus reader's included.
func (c *conn) close(code websocket.StatusCode, reason string) {
	if c.beginClose() {
		go c.finishClose(code, reason)
	}
}

// closeNow is close that waits for the close handshake (shutdown uses it
// to bound how many handshakes run at once).
func (c *conn) closeNow(code websocket.StatusCode, reason string) {
	if c.beginClose() {
		c.finishClose(code, reason)
	}
}

// beginClose marks the connection closing, once, and clears its typing
// indicators. It reports whether this call began it.
func (c *conn) beginClose() bool {
	began := false
	c.closeOnce.Do(func() {
		began = true
		c.mu.Lock()
		c.closed = true
		for sid, t := range c.typing {
			t.Stop()
			delete(c.typing, sid)
			c.stopping.Add(1)
			go func() { defer c.stopping.Done(); c.stopTyping(sid) }()
		}
		c.mu.Unlock()
	})
	return began
}

// finishClose sends the close frame with code, waiting up to 5 s for the
// peer's, and only then cancels the connection's context: cancelling a
// read's context first would make coder/websocket close the socket itself
// with another code.
//
// A client closed for abuse (a flood, frames outside the protocol) is not
// waited for: it would be reading its flood for those 5 s. Its close frame
// is written, then the connection cut.
func (c *conn) finishClose(code websocket.StatusCode, reason string) {
	if code == protocol.CloseRateLimited || code == protocol.CloseProtocolError {
		cut := time.AfterFunc(250*time.Millisecond, func() { c.ws.CloseNow() })
		defer cut.Stop()
	}
	c.ws.Close(code, reason)
	c.cancel()
}

func (c *conn) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

// send queues a frame for the writer.
func (c *conn) send(v any) {
	b, err := json.Marshal(v)
	if err != nil {
		c.e.logger.Error("ws: encoding a frame", "err", err)
		return
	}
	c.enqueue(item{frame: b})
}

// writeDirect writes one frame from the reader before the writer runs.
func (c *conn) writeDirect(v any) {
	b, _ := json.Marshal(v)
	ctx, cancel := context.WithTimeout(c.ctx, c.e.opts.WriteTimeout)
	defer cancel()
	c.ws.Write(ctx, websocket.MessageText, b)
}

func errorBody(err error) protocol.ErrorBody {
	var pe *protocol.Error
	if errors.As(err, &pe) {
		return pe.ErrorBody
	}
	return protocol.ErrorBody{Code: hub.ErrorCode(err), Message: hub.ErrorMessage(err)}
}

func ptr[T any](v T) *T { return &v }

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
