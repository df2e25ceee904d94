package api

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"golang.org/x/time/rate"

	"github.com/switchboardhq/switchboard/api/protocol"
	"github.com/switchboardhq/switchboard/hub"
)

// WSOptions tune the WebSocket endpoint. The zero value of each field is
// replaced by the default in its comment (DESIGN §4).
type WSOptions struct {
	PingInterval time.Duration // 25 s: keepalive (coder/websocket sends none)
	PongTimeout  time.Duration // 10 s: a ping unanswered this long closes the socket
	AuthTimeout  time.Duration // 10 s: an unauthenticated socket is closed after this
	WriteTimeout time.Duration // 5 s: a write that takes longer closes the socket
	SendQueue    int           // 256: events queued per socket before it is kicked
	ReadLimit    int64         // 16 KiB: largest frame accepted
	RateLimit    rate.Limit    // 20/s sustained frames per socket
	RateBurst    int           // 40
	// AuthRate and AuthBurst bound how often one principal (a customer,
	// an agent) authenticates sockets on an instance: one every 2 s after
	// a burst of 20 (a client backs off between reconnects; tabs, reloads
	// and network changes stay well within it). Reconnecting replays a session, and a client that
	// floods, is closed and reconnects in a loop would have the hub replay
	// it again and again; past the bound the socket closes 4004.
	AuthRate  rate.Limit
	AuthBurst int
	// CustomerSendRate bounds the messages one customer sends (all its
	// sockets on an instance), in a burst of CustomerSendBurst (default
	// twice the rate); past it a send is refused with a limit error and
	// nothing is stored. People type a few messages a second at most; a
	// script that floods its chat within the frame budget would otherwise
	// add its whole budget to the store, to the agent's screen and to every
	// replay of the session. 0 (the default here; cmd/switchboard sets 5)
	// leaves sends bounded by the frame budget only. Agents are staff and
	// are not bounded by it.
	CustomerSendRate  rate.Limit
	CustomerSendBurst int
	// RatingWindow is how long a customer's socket stays open after its
	// session ended, for the rate command; it closes as soon as the
	// customer rated. 0 closes it at once (rating then goes over REST).
	RatingWindow time.Duration
	// AllowedOrigins are host patterns (path.Match syntax, e.g.
	// "shop.example.com", "*.example.com") whose pages may open sockets;
	// the hub's own host is always allowed. A request without Origin (not a
	// browser) is allowed and still needs a token.
	AllowedOrigins []string
	// MaxUnauthPerAddr caps the sockets from one client address (behind
	// trusted proxies, the client's own) that have not authenticated yet;
	// past it an upgrade is refused 429 before any WebSocket exists.
	// Default 100: a browser opens one at a time, and even a large NAT's
	// reconnect storm holds each for milliseconds. Authenticated sockets
	// are not capped per address.
	MaxUnauthPerAddr int
	// MaxUnauth caps the unauthenticated sockets of the instance in all,
	// the same way, for attacks from many addresses; default 10,000
	// (at ~26 KB a socket, 260 MB at worst).
	MaxUnauth int

	// unauth counts the unauthenticated sockets against the caps: set by
	// setDefaults, so that each Server (whose copy of the options it is)
	// has its own.
	unauth *unauthLimiter
}

func (o *WSOptions) setDefaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.PingInterval, 25*time.Second)
	def(&o.PongTimeout, 10*time.Second)
	def(&o.AuthTimeout, 10*time.Second)
	def(&o.WriteTimeout, 5*time.Second)
	if o.SendQueue <= 0 {
		o.SendQueue = 256
	}
	if o.ReadLimit <= 0 {
		o.ReadLimit = 16 << 10
	}
	if o.RateLimit <= 0 {
		o.RateLimit = 20
	}
	if o.RateBurst <= 0 {
		o.RateBurst = 40
	}
	if o.AuthRate <= 0 {
		o.AuthRate = 0.5
	}
	if o.AuthBurst <= 0 {
		o.AuthBurst = 20
	}
	if o.CustomerSendRate > 0 && o.CustomerSendBurst <= 0 {
		o.CustomerSendBurst = max(1, int(2*o.CustomerSendRate))
	}
	if o.MaxUnauthPerAddr <= 0 {
		o.MaxUnauthPerAddr = 100
	}
	if o.MaxUnauth <= 0 {
		o.MaxUnauth = 10_000
	}
	o.unauth = newUnauthLimiter(o.MaxUnauthPerAddr, o.MaxUnauth)
}

// errAuthRateLimited refuses a principal that authenticates sockets too
// often (WSOptions.AuthRate, AuthBurst).
var errAuthRateLimited = hub.Errorf(hub.ELIMIT, "too many connections; retry later")

// errSendRateLimited refuses a customer's message past
// WSOptions.CustomerSendRate: nothing is stored, and the same
// client_msg_id may be sent again later.
var errSendRateLimited = hub.Errorf(hub.ELIMIT, "rate limited: message not sent; retry later")

// errAlreadyAuthenticated answers a second auth frame.
var errAlreadyAuthenticated = hub.Errorf(hub.EINVALID, "already authenticated")

// serveWS upgrades to a WebSocket and hands the connection to a reader
// goroutine of its own, then returns: net/http's connection state (its
// request, buffers and the stack that parsed them) is freed rather than
// held for the socket's life.
func (s *Server) serveWS(w http.ResponseWriter, r *http.Request) {
	if s.draining.Load() {
		s.nativeError(w, r, hub.Errorf(hub.EINTERNAL, "shutting down"), http.StatusServiceUnavailable)
		return
	}
	if !offers(r, protocol.Subprotocol) {
		s.nativeError(w, r, hub.Errorf(hub.EINVALID, "offer the WebSocket subprotocol "+protocol.Subprotocol), 0)
		return
	}
	ip := s.clientIP(r)
	if !s.admitUnauth(w, r, ip) {
		return
	}
	sb := &smallBuffers{ResponseWriter: w, timeout: s.ws.WriteTimeout}
	ws, err := websocket.Accept(sb, r, &websocket.AcceptOptions{
		Subprotocols:    []string{protocol.Subprotocol},
		OriginPatterns:  s.allowedOrigins(),
		CompressionMode: websocket.CompressionDisabled,
	})
	if err != nil {
		s.unauthRelease(ip)
		return // Accept wrote the refusal (403 for a foreign Origin)
	}
	ws.SetReadLimit(s.ws.ReadLimit)
	c := s.newConn(ws, r)
	if c == nil {
		s.unauthRelease(ip)
		ws.Close(protocol.CloseShutdown, "shutting down")
		return
	}
	c.cork = sb.cork
	s.ws.unauth.attach(c)
	token, hasToken := bearer(r)
	go func() {
		defer s.dropConn(c)
		defer s.unauthDone(c)
		c.run(token, hasToken)
		c.leaveDesk()
		c.stopWriting()
	}()
}

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

// item is one thing for a connection's writer to do.
type item struct {
	frame  []byte        // a frame to write as is
	event  *hub.Delivery // an event from the bus
	resync string        // a topic to catch up on from its stream
	follow string        // a session to start following...
	from   int64         // ...after this seq...
	epoch  string        // ...which the client saw in this epoch ("" unknown)
	agent  bool          // start following the agent's own topic
	// supervisor starts following every agent's status changes.
	supervisor bool
	// ownClose marks where the reply to a customer's own close command was
	// queued; ownClosed says whether that close succeeded.
	ownClose, ownClosed bool
	// rateDone marks where the reply to a customer's rate command was
	// queued; rated says whether the rating was recorded.
	rateDone, rated bool
}

// writes reports whether the item only writes a frame (a reply, a session
// event), without reading the store.
func (it item) writes() bool {
	return it.frame != nil || it.event != nil && strings.HasPrefix(it.event.Topic, "session:")
}

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
	srv    *Server
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

	// Owned by the writer goroutine (one at a time: each starts only after
	// the last one ended, under qmu): the last seq written per followed
	// session, and the epoch of the event at that seq ("" unknown). A
	// session is followed while it has an entry in last.
	last   map[string]int64
	epochs map[string]string

	mu     sync.Mutex
	closed bool                   // guarded by mu: close has begun
	typing map[string]*time.Timer // guarded by mu: server-side typing expiry per session

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

func (s *Server) newConn(ws *websocket.Conn, r *http.Request) *conn {
	ctx, cancel := context.WithCancel(context.Background())
	c := &conn{
		srv: s, ws: ws, ctx: ctx, cancel: cancel,
		ip:   s.clientIP(r),
		last: map[string]int64{}, epochs: map[string]string{}, typing: map[string]*time.Timer{},
	}
	s.connMu.Lock()
	defer s.connMu.Unlock()
	if s.draining.Load() {
		cancel()
		return nil
	}
	s.conns[c] = struct{}{}
	s.connWG.Add(1)
	s.metrics.connections.Inc()
	if s.tm != nil {
		s.tm.connections.Inc()
	}
	return c
}

func (s *Server) dropConn(c *conn) {
	s.connMu.Lock()
	delete(s.conns, c)
	s.connMu.Unlock()
	s.metrics.connections.Dec()
	if s.tm != nil {
		s.tm.connections.Dec()
	}
	s.connWG.Done()
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

// run is the reader: it authenticates (with the upgrade's bearer token when
// it had one, else with the first frame), joins the pinger, and runs
// commands until the socket ends.
func (c *conn) run(token string, hasToken bool) {
	defer c.close(websocket.StatusNormalClosure, "")
	var authResume map[string]int64
	var authEpochs map[string]string
	authID, observe := "", false
	if !hasToken {
		cmd, err := c.readAuth()
		if err != nil {
			return
		}
		token, authResume, authEpochs, authID, observe = cmd.Token, cmd.Resume, cmd.Epochs, cmd.ID, cmd.Observe
	}
	if err := c.authenticate(token, observe); err != nil {
		c.writeDirect(protocol.ErrorFrame{Type: protocol.FrameError, ID: authID, Error: errorBody(err)})
		if errors.Is(err, errAuthRateLimited) {
			c.close(protocol.CloseRateLimited, "too many connections")
			return
		}
		if code := hub.ErrorCode(err); code == hub.EUNAVAILABLE || code == hub.EINTERNAL {
			// The store could not say: not a verdict on the token.
			c.close(protocol.CloseServerError, "store unavailable")
			return
		}
		c.close(protocol.CloseUnauthorized, "unauthorized")
		return
	}
	c.srv.unauthDone(c)
	c.srv.pings.add(c)
	defer c.srv.pings.remove(c)
	if err := c.hello(authID, authResume, authEpochs); err != nil {
		c.close(protocol.CloseServerError, "store unavailable")
		return
	}
	// The frame budget is the principal's, not the socket's: a client
	// that floods, is closed (4004) and reconnects does not start afresh.
	key := c.principal.Kind + ":" + c.principal.ID
	limiter := c.srv.frameLimit.limiter(key)
	strikes := 0
	for {
		typ, data, err := c.ws.Read(c.ctx)
		if err != nil {
			return
		}
		c.srv.metrics.framesIn.Inc()
		c.lastRead.Store(time.Now().UnixNano())
		if typ != websocket.MessageText {
			c.close(protocol.CloseProtocolError, "binary frames are not part of the protocol")
			return
		}
		cmd, err := protocol.DecodeCommand(data)
		id := ""
		if cmd != nil {
			id = cmd.ID
		}
		if !limiter.Allow() {
			// Refused unread, with the command's id so that the client's
			// request ends now; a client that keeps pushing is closed.
			if strikes++; strikes > c.srv.ws.RateBurst {
				// Each reconnect costs a replay of the principal's sessions:
				// a flooder has used up its authentications too, and the
				// next waits for AuthRate to give one back.
				auth := c.srv.authLimit.limiter(key)
				auth.AllowN(time.Now(), int(auth.Tokens()))
				c.close(protocol.CloseRateLimited, "too many frames")
				return
			}
			c.send(protocol.Reply{Type: protocol.FrameReply, ID: id,
				Error: &protocol.ErrorBody{Code: hub.ELIMIT, Message: "rate limited: command ignored; retry later"}})
			continue
		}
		strikes = 0
		if err != nil {
			c.send(protocol.ErrorFrame{Type: protocol.FrameError, ID: id, Error: errorBody(err)})
			continue
		}
		c.command(cmd)
	}
}

// readAuth reads the first frame, which must be auth, within AuthTimeout.
func (c *conn) readAuth() (*protocol.Command, error) {
	// A timer rather than a read deadline: coder/websocket drops the TCP
	// connection when a read's context ends, and the client must see 4003.
	timer := time.AfterFunc(c.srv.ws.AuthTimeout, func() { c.close(protocol.CloseAuthTimeout, "authenticate first") })
	typ, data, err := c.ws.Read(c.ctx)
	timer.Stop()
	if err != nil {
		return nil, err
	}
	if typ != websocket.MessageText {
		c.close(protocol.CloseProtocolError, "binary frames are not part of the protocol")
		return nil, errors.New("binary frame")
	}
	cmd, err := protocol.DecodeCommand(data)
	if err == nil && cmd.Type != protocol.CmdAuth {
		err = hub.Errorf(hub.EINVALID, "the first frame must be auth")
	}
	if err != nil {
		id := ""
		if cmd != nil {
			id = cmd.ID
		}
		c.writeDirect(protocol.ErrorFrame{Type: protocol.FrameError, ID: id, Error: errorBody(err)})
		c.close(protocol.CloseProtocolError, "the first frame must be a valid auth command")
		return nil, err
	}
	return cmd, nil
}

// authenticate sets the principal from a token. An agent's socket makes the
// agent present (online, routable when Available), except a supervisor's
// or an admin's observing socket (the supervisor view): watching the
// contact center must not get one offered sessions.
func (c *conn) authenticate(token string, observe bool) error {
	p, err := c.srv.principalFromToken(c.ctx, token)
	if err != nil {
		return err
	}
	if !c.srv.authLimit.allow(p.Kind + ":" + p.ID) {
		// A loop of reconnects costs the hub a replay each: refused with the
		// rate-limit close (reconnect, with a longer backoff).
		return errAuthRateLimited
	}
	c.principal = p
	if p.Kind == hub.PrincipalAgent && !(observe && p.Privileged()) {
		id, err := c.srv.desk.Connect(c.ctx, p.ID, c.ip)
		if err != nil {
			return err
		}
		c.presenceID = id
	}
	return nil
}

// leaveDesk ends the connection's part in presence and queue positions;
// the handler calls it once the reader is done.
func (c *conn) leaveDesk() {
	c.srv.queueWatch.remove(c)
	if c.presenceID == "" {
		return
	}
	c.stopping.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.srv.desk.Disconnect(ctx, c.presenceID); err != nil {
		c.srv.logger.Warn("ws: presence not released; the sweep will", "err", err)
	}
}

// hello follows the principal's sessions and greets the client.
func (c *conn) hello(id string, resume map[string]int64, epochs map[string]string) error {
	p := c.principal
	var sessions []string
	switch p.Kind {
	case hub.PrincipalCustomer:
		sess, err := c.srv.sessions.SessionFor(c.ctx, p, p.SessionID)
		if err == nil && sess.State == hub.StateEnded && resume[sess.ID] >= sess.Seq {
			// The customer has seen the end already: nothing more will come.
			c.close(protocol.CloseSessionEnded, "session ended")
			return nil
		}
		if err == nil {
			sessions = []string{sess.ID}
		} else if hub.ErrorCode(err) == hub.EINTERNAL {
			return err
		}
	case hub.PrincipalAgent:
		ids, err := c.srv.agents.AgentSessions(c.ctx, p.ID)
		if err != nil {
			return err
		}
		sessions = ids
	}
	// Sessions named in resume that the principal may read are followed too
	// (a supervisor's silent joins, a customer's earlier sessions).
	for sid := range resume {
		if !contains(sessions, sid) {
			if _, err := c.srv.sessions.SessionFor(c.ctx, p, sid); err == nil {
				sessions = append(sessions, sid)
			}
		}
	}
	hello := protocol.Hello{
		Type: protocol.FrameHello, ID: id, Sessions: sessions, HeartbeatMS: c.srv.ws.PingInterval.Milliseconds(),
		Principal: protocol.Principal{Role: p.Kind, ID: p.ID, Name: p.Name, AgentRole: string(p.Role)},
	}
	if hello.Sessions == nil {
		hello.Sessions = []string{}
	}
	c.send(hello) // first: nothing else is queued before it
	switch {
	case p.Kind == hub.PrincipalCustomer && len(sessions) == 1:
		c.queueSID = sessions[0]
		c.srv.queueWatch.addCustomer(c, c.queueSID)
	case p.Kind == hub.PrincipalAgent && p.Privileged():
		c.enqueue(item{supervisor: true})
		c.srv.queueWatch.addSupervisor(c)
	}
	if p.Kind == hub.PrincipalAgent {
		// Sessions added between AgentSessions above and this topic's
		// subscription are picked up by the Resync that its confirmation
		// brings (refreshAgentSessions).
		c.enqueue(item{agent: true})
	}
	for _, sid := range sessions {
		c.enqueue(item{follow: sid, from: resume[sid], epoch: epochs[sid]})
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// command runs one decoded command from the client.
func (c *conn) command(cmd *protocol.Command) {
	ctx, cancel := context.WithTimeout(c.ctx, 10*time.Second)
	defer cancel()
	svc, p := c.srv.sessions, c.principal
	reply := protocol.Reply{Type: protocol.FrameReply, ID: cmd.ID, OK: true}
	var err error
	switch cmd.Type {
	case protocol.CmdAuth:
		err = errAlreadyAuthenticated
	case protocol.CmdResume:
		for sid := range cmd.Resume {
			if _, err = svc.SessionFor(ctx, p, sid); err != nil {
				break
			}
		}
		if err == nil {
			for sid, seq := range cmd.Resume {
				c.enqueue(item{follow: sid, from: seq, epoch: cmd.Epochs[sid]})
			}
		}
	case protocol.CmdSend:
		if p.Kind == hub.PrincipalCustomer && c.srv.sendLimit != nil && !c.srv.sendLimit.limiter(p.ID).Allow() {
			err = errSendRateLimited
			break
		}
		reply.Seq, reply.Duplicate, err = svc.SendMessage(ctx, p, cmd.SessionID, cmd.ClientMsgID, cmd.Text)
	case protocol.CmdTyping:
		if err = svc.Typing(ctx, p, cmd.SessionID, *cmd.On); err == nil {
			c.armTyping(cmd.SessionID, *cmd.On)
		}
	case protocol.CmdRead:
		reply.Seq, _, err = svc.MarkRead(ctx, p, cmd.SessionID, cmd.Seq)
	case protocol.CmdDelivered:
		reply.Seq, _, err = svc.MarkDelivered(ctx, p, cmd.SessionID, cmd.Seq)
	case protocol.CmdAccept, protocol.CmdDecline, protocol.CmdPick, protocol.CmdTransfer, protocol.CmdHandover:
		var sess *hub.Session
		sess, err = c.deskCommand(ctx, cmd)
		if err == nil {
			reply.State = string(sess.State)
		}
	case protocol.CmdPing:
	case protocol.CmdStatus:
		if p.Kind != hub.PrincipalAgent || p.Role == hub.RoleBot {
			err = hub.Errorf(hub.EFORBIDDEN, "only agents have a status")
			break
		}
		var changes []hub.StatusChange
		if changes, err = c.srv.desk.SetStatus(ctx, []string{p.ID}, cmd.Status, false); err == nil && len(changes) == 1 {
			reply.Status = changes[0].Current
		}
	case protocol.CmdRate:
		c.ownRates.Add(1)
		_, err = c.srv.chats.Rate(ctx, p, cmd.SessionID, hub.Rating{Score: *cmd.Score, Comment: cmd.Comment})
		defer func() { c.enqueue(item{rateDone: true, rated: err == nil}) }() // after the reply below is queued
	case protocol.CmdClose:
		own := p.Kind == hub.PrincipalCustomer && cmd.SessionID == p.SessionID
		if own {
			c.ownCloses.Add(1)
		}
		_, err = svc.CloseSessionAs(ctx, p, cmd.SessionID)
		if own {
			defer func() { // after the reply below is queued
				c.enqueue(item{ownClose: true, ownClosed: err == nil || errors.Is(err, hub.ErrSessionEnded)})
			}()
		}
	}
	if err != nil {
		if hub.ErrorCode(err) == hub.EINTERNAL {
			c.srv.logger.Error("ws command failed", "type", cmd.Type, "err", err)
		}
		reply = protocol.Reply{Type: protocol.FrameReply, ID: cmd.ID, Error: ptr(errorBody(err))}
	}
	c.send(reply)
}

// deskCommand runs an agent's routing command.
func (c *conn) deskCommand(ctx context.Context, cmd *protocol.Command) (*hub.Session, error) {
	p, desk := c.principal, c.srv.desk
	if p.Kind != hub.PrincipalAgent {
		return nil, hub.ErrSessionNotFound
	}
	switch cmd.Type {
	case protocol.CmdAccept:
		return desk.Accept(ctx, p, cmd.SessionID)
	case protocol.CmdDecline:
		return desk.Decline(ctx, p, cmd.SessionID)
	case protocol.CmdPick:
		return desk.Pick(ctx, p, cmd.SessionID) // the agent's topic brings the session to follow
	case protocol.CmdTransfer:
		return desk.Transfer(ctx, p, cmd.SessionID, hub.Transfer{AgentID: cmd.AgentID, TeamID: cmd.TeamID})
	default:
		return desk.Handover(ctx, p, cmd.SessionID)
	}
}

// armTyping keeps the server-side expiry of this connection's typing
// indicator in a session: a start without a stop ends by itself after
// TypingExpiry, so no indicator sticks when a client vanishes.
func (c *conn) armTyping(sid string, on bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t := c.typing[sid]; t != nil {
		t.Stop()
		delete(c.typing, sid)
	}
	if on && !c.closed {
		c.typing[sid] = time.AfterFunc(c.srv.sessions.Policy().TypingExpiry, func() {
			c.mu.Lock()
			delete(c.typing, sid)
			c.mu.Unlock()
			c.stopTyping(sid)
		})
	}
}

// stopTyping publishes that this connection's party stopped typing.
func (c *conn) stopTyping(sid string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c.srv.sessions.Typing(ctx, c.principal, sid, false)
}

func ptr[T any](v T) *T { return &v }

func errorBody(err error) protocol.ErrorBody {
	var pe *protocol.Error
	if errors.As(err, &pe) {
		return pe.ErrorBody
	}
	return protocol.ErrorBody{Code: hub.ErrorCode(err), Message: hub.ErrorMessage(err)}
}

// send queues a frame for the writer.
func (c *conn) send(v any) {
	b, err := json.Marshal(v)
	if err != nil {
		c.srv.logger.Error("ws: encoding a frame", "err", err)
		return
	}
	c.enqueue(item{frame: b})
}

// writeDirect writes one frame from the reader before the writer runs.
func (c *conn) writeDirect(v any) {
	b, _ := json.Marshal(v)
	ctx, cancel := context.WithTimeout(c.ctx, c.srv.ws.WriteTimeout)
	defer cancel()
	c.ws.Write(ctx, websocket.MessageText, b)
}

// sendEphemeral queues a frame that may be lost (a queue position): it is
// dropped, and counted, when the queue is half full.
func (c *conn) sendEphemeral(b []byte) {
	c.push(item{frame: b}, true)
}

// enqueue hands an item to the writer without blocking; when the queue is
// full the connection is kicked as a slow consumer.
func (c *conn) enqueue(it item) { c.push(it, false) }

// push queues it and starts a writer if none runs. An ephemeral item is
// dropped (and counted) when the queue is half full; any other item that
// does not fit kicks the socket.
func (c *conn) push(it item, ephemeral bool) {
	c.qmu.Lock()
	if c.stopped {
		c.qmu.Unlock()
		return
	}
	if n := len(c.queue) - c.head; n >= c.srv.ws.SendQueue || ephemeral && n >= c.srv.ws.SendQueue/2 {
		c.qmu.Unlock()
		if ephemeral {
			c.srv.metrics.dropped.Inc()
			return
		}
		c.srv.metrics.kicked.WithLabelValues("slow_consumer").Inc()
		c.close(protocol.CloseSlowConsumer, "slow consumer")
		return
	}
	if c.head > 0 && len(c.queue) == cap(c.queue) {
		// A writer that never empties the queue would grow the array
		// without end: slide the waiting items to the front instead.
		n := copy(c.queue, c.queue[c.head:])
		clear(c.queue[n:])
		c.queue, c.head = c.queue[:n], 0
	}
	c.queue = append(c.queue, it)
	start := !c.writing
	if start {
		c.writing = true
		c.writers.Add(1)
	}
	c.qmu.Unlock()
	if start {
		go c.writer()
	}
}

// Deliver implements hub.Subscriber. Called by the bus reader; never blocks.
func (c *conn) Deliver(d *hub.Delivery) {
	if d.Type == hub.EventSessionState && d.State == hub.StateQueuing && d.SessionID == c.queueSID && c.queueSID != "" {
		c.srv.queueWatch.addCustomer(c, c.queueSID) // back in the queue: positions again
	}
	c.push(item{event: d}, d.Ephemeral())
}

// Resync implements hub.Subscriber. A customer's session may have gone
// back to the queue unseen: it is watched again (and dropped at the next
// recomputation if not waiting).
func (c *conn) Resync(topic string) {
	if c.queueSID != "" && topic == hub.SessionTopic(c.queueSID) {
		c.srv.queueWatch.addCustomer(c, c.queueSID)
	}
	c.enqueue(item{resync: topic})
}

// writer is the only goroutine that writes to the socket: it drains the
// queue and ends when it is empty (push starts the next one).
func (c *conn) writer() {
	defer c.writers.Done()
	for {
		c.qmu.Lock()
		if c.head == len(c.queue) || c.stopped || c.ctx.Err() != nil {
			if c.corked { // only a stop leaves frames gathered: they go first
				c.qmu.Unlock()
				c.uncork()
				continue
			}
			c.writing = false
			c.head = 0
			if cap(c.queue) > 4 {
				c.queue = nil // a burst's array goes back to the heap
			} else {
				clear(c.queue[:cap(c.queue)])
				c.queue = c.queue[:0]
			}
			c.qmu.Unlock()
			return
		}
		it := c.queue[c.head]
		c.queue[c.head] = item{}
		c.head++
		more := c.head < len(c.queue) && c.queue[c.head].writes()
		c.qmu.Unlock()
		if more && it.writes() {
			c.gather() // frames wait behind this one: one write for them all
		}
		err := c.handle(it)
		if err == nil {
			err = c.flushFull()
		}
		if c.corked && (err != nil || !c.nextWrites()) {
			if ferr := c.uncork(); ferr != nil && err == nil {
				err = ferr
			}
		}
		if err != nil && !errors.Is(err, errWrite) && hub.ErrorCode(err) == hub.EUNAVAILABLE && c.retryLater(it) {
			continue // the store is away: the socket stays open and catches up when it is back
		}
		c.retryDelay = 0
		if err != nil {
			if c.ctx.Err() == nil {
				code, reason := protocol.CloseServerError, "store unavailable"
				if errors.Is(err, errWrite) {
					code, reason = protocol.CloseSlowConsumer, "write timed out"
					if !c.isClosed() { // a write cut by a close under way is no kick
						c.srv.metrics.kicked.WithLabelValues("write_timeout").Inc()
					}
				}
				c.close(code, reason)
			}
			c.qmu.Lock()
			c.stopped, c.writing, c.queue, c.head = true, false, nil, 0
			c.qmu.Unlock()
			return
		}
	}
}

// retryLater schedules another catch-up of what item it could not do
// because the store was unavailable (a session's catch-up or resync, the
// agent topic's refresh), after a backoff of 250 ms doubling to 5 s, and
// reports whether it did: a Redis restart or failover keeps the socket
// open rather than sending every client of the instance back at once.
func (c *conn) retryLater(it item) bool {
	topic := it.resync
	switch {
	case it.follow != "":
		topic = hub.SessionTopic(it.follow)
	case it.event != nil && strings.HasPrefix(it.event.Topic, "session:"):
		topic = it.event.Topic
	}
	if topic == "" {
		return false
	}
	c.retryDelay = min(max(2*c.retryDelay, 250*time.Millisecond), 5*time.Second)
	time.AfterFunc(c.retryDelay, func() { c.enqueue(item{resync: topic}) })
	c.srv.metrics.catchUpRetries.Inc()
	return true
}

// stopWriting ends the queue once the reader is done: no writer starts
// again, the one running (writing the close, say) finishes, and the
// connection leaves its topics.
func (c *conn) stopWriting() {
	c.qmu.Lock()
	c.stopped = true
	if !c.writing {
		c.queue, c.head = nil, 0
	}
	c.qmu.Unlock()
	c.writers.Wait()
	c.leaveAll()
}

var errWrite = errors.New("write failed")

// write writes one frame under WriteTimeout; corked, it only gathers (the
// flush has the timeout), and waits at most for a ping or close frame that
// holds the socket, each bounded by its own timeout.
func (c *conn) write(b []byte) error {
	ctx := c.ctx
	if !c.corked {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(c.ctx, c.srv.ws.WriteTimeout)
		defer cancel()
	}
	if err := c.ws.Write(ctx, websocket.MessageText, b); err != nil {
		return errWrite
	}
	c.srv.metrics.delivered.Inc()
	return nil
}

// nextWrites reports whether the next item in the queue only writes a
// frame, so that gathered frames may wait for it: anything else (a
// catch-up reads the store) has them flushed first.
func (c *conn) nextWrites() bool {
	c.qmu.Lock()
	defer c.qmu.Unlock()
	return c.head < len(c.queue) && c.queue[c.head].writes()
}

// gather corks the socket (if it is not already) for the frames the writer
// is about to write; the writer's loop, or a read of the store, uncorks.
func (c *conn) gather() {
	if c.cork != nil && !c.corked {
		c.cork.cork()
		c.corked = true
	}
}

// uncork writes the frames the writer gathered, in one write.
func (c *conn) uncork() error {
	if !c.corked {
		return nil
	}
	c.corked = false
	joined, err := c.cork.uncork()
	if err != nil {
		return errWrite
	}
	if joined > 1 {
		c.srv.metrics.flushes.Inc()
	}
	return nil
}

// flushFull writes what the writer gathered once it reaches corkLimit, and
// goes on gathering.
func (c *conn) flushFull() error {
	if !c.corked || c.cork.gathered() < corkLimit {
		return nil
	}
	if err := c.uncork(); err != nil {
		return err
	}
	c.gather()
	return nil
}

func (c *conn) handle(it item) error {
	if c.isClosed() {
		return nil
	}
	switch {
	case it.ownClose:
		c.ownCloses.Add(-1)
		c.ownCloseWritten = c.ownCloseWritten || it.ownClosed
		if c.endedWritten && c.ownCloseWritten {
			c.sessionEnded()
		}
		return nil
	case it.rateDone:
		c.ownRates.Add(-1)
		if it.rated {
			c.close(protocol.CloseSessionEnded, "session ended")
		}
		return nil
	case it.agent:
		c.srv.fanout.Add(hub.AgentTopic(c.principal.ID), c)
		return nil
	case it.supervisor:
		c.srv.fanout.Add(hub.SupervisorsTopic, c)
		return nil
	case it.frame != nil:
		return c.write(it.frame)
	case it.follow != "":
		if _, ok := c.last[it.follow]; ok {
			// Already followed: a resume asks to catch up from an earlier seq?
			// Events the client has not seen are replayed only forward.
			if it.from < c.last[it.follow] {
				c.last[it.follow], c.epochs[it.follow] = it.from, it.epoch
			}
			return c.catchUp(it.follow)
		}
		c.last[it.follow], c.epochs[it.follow] = it.from, it.epoch
		c.srv.fanout.Add(hub.SessionTopic(it.follow), c) // Resync follows when the topic is live
		return nil
	case it.resync != "":
		if sid, ok := strings.CutPrefix(it.resync, "session:"); ok {
			if _, following := c.last[sid]; following {
				return c.catchUp(sid)
			}
		} else if c.principal.Kind == hub.PrincipalAgent {
			return c.refreshAgentSessions()
		}
		return nil
	case it.event != nil:
		return c.handleEvent(it.event)
	}
	return nil
}

// handleEvent writes a bus event in seq order: older ones are dropped as
// duplicates, and a gap is filled from the stream first.
func (c *conn) handleEvent(d *hub.Delivery) error {
	if !strings.HasPrefix(d.Topic, "session:") {
		return c.agentNotice(d)
	}
	last, following := c.last[d.SessionID]
	if !following {
		return nil
	}
	if d.Ephemeral() {
		return c.write(d.Data)
	}
	if known := c.epochs[d.SessionID]; known != "" && d.Epoch != "" && d.Epoch != known {
		// Appended in another epoch than the last event written: the store
		// may have rolled back and reused seqs. The stream tells.
		return c.catchUp(d.SessionID)
	}
	switch {
	case d.Seq <= last:
		return nil
	case d.Seq > last+1:
		return c.catchUp(d.SessionID)
	}
	return c.writeEvent(d, false)
}

// sessionEnded closes a customer's socket after its session ended and it
// saw the end: at once, or when the rating window runs out (or the customer
// rated, see rated). The writer calls it.
func (c *conn) sessionEnded() {
	if c.srv.ws.RatingWindow <= 0 {
		c.close(protocol.CloseSessionEnded, "session ended")
		return
	}
	if c.ratingTimer == nil {
		c.ratingTimer = time.AfterFunc(c.srv.ws.RatingWindow, func() {
			c.close(protocol.CloseSessionEnded, "session ended")
		})
	}
}

// writeEvent writes the next event of a session and applies its
// consequences: a customer's socket closes after its session ends, an agent
// stops following it, and stops following a session given to someone else.
// While replaying history (replay), a session.state naming another agent is
// only the past (an offer another agent declined): catchUp decides on the
// last one instead.
func (c *conn) writeEvent(d *hub.Delivery, replay bool) error {
	if err := c.write(d.Data); err != nil {
		return err
	}
	c.last[d.SessionID] = d.Seq
	if d.Epoch != "" {
		c.epochs[d.SessionID] = d.Epoch
	}
	if d.Type == hub.EventSessionRated && c.principal.Kind == hub.PrincipalCustomer {
		// Rated (over REST, maybe from another device): the rating window
		// has nothing left to wait for. A rate of this socket's own closes
		// it after its reply instead (the rateDone item).
		if c.ownRates.Load() == 0 {
			c.close(protocol.CloseSessionEnded, "session ended")
		}
		return nil
	}
	if d.Type == hub.EventSessionEnded {
		if c.principal.Kind == hub.PrincipalCustomer {
			c.endedWritten = true
			if c.ownCloses.Load() == 0 || c.ownCloseWritten {
				c.sessionEnded()
			}
			return nil
		}
		c.unfollow(d.SessionID)
		return nil
	}
	if d.Type == hub.EventSessionState && !replay && c.notMine(d) {
		// Offered or given to someone else, or back in the queue: it is no
		// longer this agent's (or this bot's) to follow.
		c.unfollow(d.SessionID)
	}
	return nil
}

// notMine reports whether a session.state takes the session away from a
// (non-supervisor) agent's socket.
func (c *conn) notMine(d *hub.Delivery) bool {
	p := c.principal
	return p.Kind == hub.PrincipalAgent && !p.Privileged() && d.AgentID != p.ID
}

// catchUp writes every event of a session after the last one written,
// from the stream, once it has checked that the stream still holds the
// very event the client saw last: one of another epoch, or none where the
// session went no further, means the store rolled back and reused seqs.
// When it cannot continue it sends resync.
func (c *conn) catchUp(sid string) error {
	const batch = 500
	var lastState *hub.Delivery
	for {
		if err := c.uncork(); err != nil { // what gathered goes before the store is read
			return err
		}
		last := c.last[sid]
		r, err := c.srv.history.EventsFrom(c.ctx, sid, last, batch)
		switch {
		case errors.Is(err, hub.ErrHistoryGone):
			return c.resync(sid, "history_trimmed")
		case err != nil:
			return err
		case r.Seq < last:
			return c.resync(sid, "history_rolled_back")
		case last > 0 && r.AnchorKept && c.epochs[sid] != "" && r.Anchor != "" && r.Anchor != c.epochs[sid]:
			return c.resync(sid, "epoch_changed")
		}
		if r.AnchorKept && r.Anchor != "" {
			c.epochs[sid] = r.Anchor
		}
		if len(r.Events) > 1 {
			c.gather() // the missed events go out in few writes
		}
		for i, data := range r.Events {
			d, err := hub.ParseDelivery(hub.SessionTopic(sid), data)
			if err != nil || d.Seq != last+int64(i)+1 {
				return c.resync(sid, "history_unreadable")
			}
			if err := c.writeEvent(d, true); err != nil {
				return err
			}
			if err := c.flushFull(); err != nil {
				return err
			}
			if d.Type == hub.EventSessionState {
				lastState = d
			}
			if _, following := c.last[sid]; !following || c.ctx.Err() != nil {
				return nil // ended on the way
			}
		}
		if len(r.Events) < batch {
			if lastState != nil && c.notMine(lastState) {
				c.unfollow(sid)
			}
			return nil
		}
	}
}

// resync tells the client to reload a session it cannot catch up on, and
// continues live from the session's current seq.
func (c *conn) resync(sid, reason string) error {
	if err := c.uncork(); err != nil { // what gathered goes before the store is read
		return err
	}
	sess, err := c.srv.sessions.Session(c.ctx, sid)
	if errors.Is(err, hub.ErrSessionNotFound) {
		c.unfollow(sid)
		b, _ := json.Marshal(protocol.Resync{Type: protocol.FrameResync, SessionID: sid, Reason: "session_gone"})
		return c.write(b)
	} else if err != nil {
		return err
	}
	c.srv.metrics.resyncs.WithLabelValues(reason).Inc()
	b, _ := json.Marshal(protocol.Resync{Type: protocol.FrameResync, SessionID: sid, Reason: reason,
		LastSeq: sess.Seq, Epoch: sess.Epoch})
	if err := c.write(b); err != nil {
		return err
	}
	c.last[sid], c.epochs[sid] = sess.Seq, sess.Epoch
	return nil
}

// agentNotice handles an event of the agent's own topic.
func (c *conn) agentNotice(d *hub.Delivery) error {
	switch d.Type {
	case hub.EventAgentSessionAdded:
		if _, ok := c.last[d.SessionID]; !ok && d.SessionID != "" {
			c.last[d.SessionID] = 0
			c.srv.fanout.Add(hub.SessionTopic(d.SessionID), c)
		}
	case hub.EventAgentDisabled:
		c.close(protocol.CloseAgentDisabled, "agent disabled")
	case hub.EventAgentStatus, hub.EventSessionRated, hub.EventSessionChanged:
		// A rating comes after session.ended, when the agent's socket no
		// longer follows the session: it reaches the agent on its own topic.
		return c.write(d.Data)
	}
	return nil
}

// refreshAgentSessions catches up on the agent's topic after its
// (re)subscription: a disabling published before it was live closes the
// socket now, and sessions added meanwhile are followed.
func (c *conn) refreshAgentSessions() error {
	a, err := c.srv.agents.Agent(c.ctx, c.principal.ID)
	if errors.Is(err, hub.ErrAgentNotFound) || err == nil && a.Disabled {
		c.close(protocol.CloseAgentDisabled, "agent disabled")
		return nil
	} else if err != nil {
		return err
	}
	// The status as it is now: changes published before the subscription
	// was live are not replayed.
	b, _ := json.Marshal(agentStatusFrame{Type: hub.EventAgentStatus, AgentID: a.ID, Status: a.Status,
		Chosen: a.Chosen, At: c.srv.sessions.Now().UTC()})
	if err := c.write(b); err != nil {
		return err
	}
	ids, err := c.srv.agents.AgentSessions(c.ctx, c.principal.ID)
	if err != nil {
		return err
	}
	for _, sid := range ids {
		if _, ok := c.last[sid]; !ok {
			c.last[sid] = 0
			c.srv.fanout.Add(hub.SessionTopic(sid), c)
		}
	}
	return nil
}

// agentStatusFrame is the agent.status an agent's socket gets when its
// topic (re)starts; later ones come from the bus with "previous" instead of
// "chosen_status".
type agentStatusFrame struct {
	Type    string    `json:"type"`
	AgentID string    `json:"agent_id"`
	Status  string    `json:"status"`
	Chosen  string    `json:"chosen_status"`
	At      time.Time `json:"at"`
}

func (c *conn) unfollow(sid string) {
	delete(c.last, sid)
	delete(c.epochs, sid)
	c.srv.fanout.Remove(hub.SessionTopic(sid), c)
}

// leaveAll removes the connection from every topic; the writer calls it on exit.
func (c *conn) leaveAll() {
	for sid := range c.last {
		c.srv.fanout.Remove(hub.SessionTopic(sid), c)
	}
	if c.principal.Kind == hub.PrincipalAgent {
		c.srv.fanout.Remove(hub.AgentTopic(c.principal.ID), c)
		c.srv.fanout.Remove(hub.SupervisorsTopic, c)
	}
}

// closeAll closes every socket with the shutdown code, at most 64 at a
// time, and waits for their handlers to return or ctx to end.
func (s *Server) closeAll(ctx context.Context) error {
	return s.closeAllWith(ctx, protocol.CloseShutdown, "server shutting down")
}

// closeAllWith closes every socket with code and reason, waiting for their
// handlers until ctx ends.
func (s *Server) closeAllWith(ctx context.Context, code websocket.StatusCode, reason string) error {
	s.connMu.Lock()
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.connMu.Unlock()
	sem := make(chan struct{}, 64)
	for _, c := range conns {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			return ctx.Err()
		}
		go func() {
			defer func() { <-sem }()
			c.closeNow(code, reason)
		}()
	}
	done := make(chan struct{})
	go func() { s.connWG.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
