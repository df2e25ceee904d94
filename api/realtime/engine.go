// Package realtime is the hub's WebSocket engine: the upgrade, each
// connection's reader, its bounded send queue and single writer, the
// catch-up that makes a resume gap-free, keepalive and the close codes.
// The commands a client sends are handled beside it, one file per topic:
// chat.go (messages, typing, receipts, rating, closing), desk.go (an
// agent's routing commands, status and its own topic's events), calls.go
// (voice and video: signalling a session's call) and queuewatch.go (queue
// positions). The frames are in api/protocol and
// documented in docs/protocol.md.
//
// Where a frame goes: reader.go reads and decodes it and runs its handler
// from the handlers table; the handler calls the hub (which writes Redis
// and publishes on the bus); the bus reader hands the event back to every
// following socket through Deliver (queue.go), and the socket's writer
// (writer.go, follow.go) writes it in seq order.
package realtime

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/switchboardhq/switchboard/api/keyrate"
	"github.com/switchboardhq/switchboard/api/protocol"
	"github.com/switchboardhq/switchboard/hub"
)

// EventReader reads a session's stream from a seq on (redisstore.Store).
type EventReader interface {
	EventsFrom(ctx context.Context, sessionID string, after int64, limit int) (hub.EventRange, error)
}

// Config is what an Engine needs. Every field is required unless its
// comment says otherwise.
type Config struct {
	Sessions *hub.Service
	Agents   hub.AgentStore
	// History reads session streams for the catch-up; the connection has
	// authorized the session already.
	History EventReader
	// Chats records ratings.
	Chats *hub.History
	// Desk runs presence, statuses and routing.
	Desk *hub.Desk
	// Fanout routes bus events to this instance's sockets.
	Fanout *hub.Fanout
	// Options tune the endpoint; zero fields take their defaults.
	Options Options
	// Authenticate returns who a token speaks for.
	Authenticate func(ctx context.Context, token string) (hub.Principal, error)
	// ClientIP returns the address a request came from (behind trusted
	// proxies, the client's own).
	ClientIP func(*http.Request) string
	// Bearer returns the token of a request's Authorization header: a
	// client that has one authenticates with the upgrade.
	Bearer func(*http.Request) (string, bool)
	// Origins returns the origin patterns whose pages may open sockets now.
	Origins func() []string
	// ICE returns the STUN and TURN servers for a party's calls, with
	// fresh TURN credentials (hub/ice); nil or an empty answer: none.
	ICE func(user string) []protocol.ICEServer
	// Refuse answers an upgrade that is refused before any WebSocket
	// exists, in the native API's format (status 0: the error's own).
	Refuse  func(w http.ResponseWriter, r *http.Request, err error, status int)
	Metrics *Metrics
	// Instance, when set, is the Engine of the instance's default tenant,
	// and this one a tenant's: it shares the instance's pinger and caps on
	// unauthenticated sockets, which are the instance's, not a tenant's.
	Instance *Engine
	// Logger; nil discards.
	Logger *slog.Logger
}

// Engine serves the WebSocket endpoint of one tenant on an instance.
type Engine struct {
	// Immutable after New.
	sessions     *hub.Service
	agents       hub.AgentStore
	history      EventReader
	chats        *hub.History
	desk         *hub.Desk
	fanout       *hub.Fanout
	opts         Options
	authenticate func(context.Context, string) (hub.Principal, error)
	clientIP     func(*http.Request) string
	bearer       func(*http.Request) (string, bool)
	origins      func() []string
	refuse       func(http.ResponseWriter, *http.Request, error, int)
	ice          func(string) []protocol.ICEServer
	metrics      *Metrics
	logger       *slog.Logger
	instance     *Engine // the instance's default-tenant Engine when this is a tenant's
	unauth       *unauthLimiter
	pings        *pinger
	queueWatch   *queueWatch
	// frameLimit holds each principal's frame budget, shared by its
	// sockets on this instance, so that reconnecting does not refill it;
	// authLimit bounds how often a principal authenticates a socket here.
	frameLimit *keyrate.Limiter
	authLimit  *keyrate.Limiter
	sendLimit  *keyrate.Limiter // each customer's message budget; nil: none

	// draining refuses new upgrades (shutdown, a disabled tenant).
	draining atomic.Bool

	connMu sync.Mutex
	conns  map[*conn]struct{} // guarded by connMu: open connections
	connWG sync.WaitGroup     // one per connection handler still running
}

// New returns an Engine; Run runs its background work.
func New(cfg Config) *Engine {
	e := &Engine{
		sessions: cfg.Sessions, agents: cfg.Agents, history: cfg.History, chats: cfg.Chats, desk: cfg.Desk,
		fanout: cfg.Fanout, opts: cfg.Options, authenticate: cfg.Authenticate, clientIP: cfg.ClientIP, bearer: cfg.Bearer,
		origins: cfg.Origins, refuse: cfg.Refuse, ice: cfg.ICE, metrics: cfg.Metrics, logger: cfg.Logger, instance: cfg.Instance,
		conns: map[*conn]struct{}{},
	}
	if e.logger == nil {
		e.logger = slog.New(slog.DiscardHandler)
	}
	e.opts.SetDefaults()
	if in := e.instance; in != nil {
		e.unauth, e.pings = in.unauth, in.pings
	} else {
		e.unauth = newUnauthLimiter(e.opts.MaxUnauthPerAddr, e.opts.MaxUnauth)
		e.pings = newPinger(e.opts.PingInterval, e.opts.PongTimeout, e.logger)
	}
	e.frameLimit = keyrate.New(e.opts.RateLimit, e.opts.RateBurst)
	if e.opts.CustomerSendRate > 0 {
		e.sendLimit = keyrate.New(e.opts.CustomerSendRate, e.opts.CustomerSendBurst)
	}
	e.authLimit = keyrate.New(e.opts.AuthRate, e.opts.AuthBurst)
	e.queueWatch = newQueueWatch(e)
	return e
}

// Run runs the instance's pinger and the queue-position pusher until ctx
// ends; a tenant's sockets are pinged by the instance's pinger.
func (e *Engine) Run(ctx context.Context) {
	var wg sync.WaitGroup
	defer wg.Wait()
	if e.instance == nil {
		wg.Add(1)
		go func() { defer wg.Done(); e.pings.run(ctx) }()
	}
	e.fanout.Add(hub.QueueTopic, e.queueWatch)
	defer e.fanout.Remove(hub.QueueTopic, e.queueWatch)
	e.queueWatch.run(ctx)
}

// Drain refuses new upgrades from now on.
func (e *Engine) Drain() { e.draining.Store(true) }

// Enable undoes Drain.
func (e *Engine) Enable() { e.draining.Store(false) }

// Connections returns the number of open connections.
func (e *Engine) Connections() int {
	e.connMu.Lock()
	defer e.connMu.Unlock()
	return len(e.conns)
}

// ServeHTTP upgrades to a WebSocket and hands the connection to a reader
// goroutine of its own, then returns: net/http's connection state (its
// request, buffers and the stack that parsed them) is freed rather than
// held for the socket's life.
func (e *Engine) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if e.draining.Load() {
		e.refuse(w, r, hub.Errorf(hub.EINTERNAL, "shutting down"), http.StatusServiceUnavailable)
		return
	}
	if !offers(r, protocol.Subprotocol) {
		e.refuse(w, r, hub.Errorf(hub.EINVALID, "offer the WebSocket subprotocol "+protocol.Subprotocol), 0)
		return
	}
	ip := e.clientIP(r)
	if !e.admitUnauth(w, r, ip) {
		return
	}
	sb := &smallBuffers{ResponseWriter: w, timeout: e.opts.WriteTimeout}
	ws, err := websocket.Accept(sb, r, &websocket.AcceptOptions{
		Subprotocols:    []string{protocol.Subprotocol},
		OriginPatterns:  e.origins(),
		CompressionMode: websocket.CompressionDisabled,
	})
	if err != nil {
		e.unauthRelease(ip)
		return // Accept wrote the refusal (403 for a foreign Origin)
	}
	ws.SetReadLimit(e.opts.ReadLimit)
	c := e.newConn(ws, ip)
	if c == nil {
		e.unauthRelease(ip)
		ws.Close(protocol.CloseShutdown, "shutting down")
		return
	}
	c.cork = sb.cork
	e.unauth.attach(c)
	token, hasToken := e.bearer(r)
	if d := r.URL.Query().Get("device"); hub.ValidDevice(d) {
		c.device = d // a client that authenticates with the upgrade names its device here
	}
	go func() {
		defer e.dropConn(c)
		defer e.unauthDone(c)
		c.run(token, hasToken)
		c.leaveCalls()
		c.leaveDesk()
		c.stopWriting()
	}()
}

func (e *Engine) newConn(ws *websocket.Conn, ip string) *conn {
	ctx, cancel := context.WithCancel(context.Background())
	c := &conn{
		e: e, ws: ws, ctx: ctx, cancel: cancel, ip: ip,
		last: map[string]int64{}, epochs: map[string]string{}, typing: map[string]*time.Timer{},
		calls: map[string]string{}, id: hub.NewSecret(16),
	}
	e.connMu.Lock()
	defer e.connMu.Unlock()
	if e.draining.Load() {
		cancel()
		return nil
	}
	e.conns[c] = struct{}{}
	e.connWG.Add(1)
	e.metrics.Connections.Inc()
	if e.metrics.TenantConnections != nil {
		e.metrics.TenantConnections.Inc()
	}
	return c
}

func (e *Engine) dropConn(c *conn) {
	e.connMu.Lock()
	delete(e.conns, c)
	e.connMu.Unlock()
	e.metrics.Connections.Dec()
	if e.metrics.TenantConnections != nil {
		e.metrics.TenantConnections.Dec()
	}
	e.connWG.Done()
}

// CloseAll closes every socket with code and reason, at most 64 at a time,
// and waits for their handlers to return or ctx to end. Shutdown uses the
// shutdown code (reconnect elsewhere and resume), a disabled tenant its own.
func (e *Engine) CloseAll(ctx context.Context, code websocket.StatusCode, reason string) error {
	e.connMu.Lock()
	conns := make([]*conn, 0, len(e.conns))
	for c := range e.conns {
		conns = append(conns, c)
	}
	e.connMu.Unlock()
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
	go func() { e.connWG.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
