// Package client is a Go client for Switchboard's WebSocket protocol
// (api/protocol): it authenticates, follows sessions from where it left
// off, hands events over in order and once each, correlates replies to
// commands, and retries sends across reconnects without duplicating them
// (the same client_msg_id is sent again, and the hub answers a retry with
// the first result). The tests and the load tool use it.
package client

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/switchboardhq/switchboard/api/protocol"
	"github.com/switchboardhq/switchboard/hub/jsonhead"
)

// Config says where and as whom to connect.
type Config struct {
	// URL is the hub's WebSocket endpoint, e.g. ws://localhost:8080/ws.
	URL string
	// Token is an agent or customer token.
	Token string
	// Origin, if set, is sent as the Origin header (as a browser would).
	Origin string
	// HTTPClient dials; nil uses http.DefaultClient.
	HTTPClient *http.Client
	// OnFrame, if set, receives every frame in place of Events, on the
	// connection's reader goroutine, in order: it must not block (a slow
	// one stalls the socket, and the hub kicks it as a slow consumer). It
	// saves a goroutine handoff per frame to a client that only records
	// what it reads, such as the load tool.
	OnFrame func(Frame)
	// EventBuffer is how many frames wait for Events' reader; default 4096
	// (none with OnFrame).
	// A reader that falls further behind stops the socket's reads, and the
	// hub kicks it as a slow consumer.
	EventBuffer int
	// FallbackURLs are more endpoints of the same cluster: a reconnect
	// tries the one last connected, then the others in turn. It is the
	// client's own failover, where no load balancer does it.
	FallbackURLs []string
	// AutoReconnect makes the client reconnect by itself, with backoff,
	// when a connection ends with a close that allows it (docs/protocol.md,
	// close codes), resuming every session, until Close. Without it only
	// Reconnect and a Send that finds the connection gone reconnect.
	AutoReconnect bool
	// Device names this client's device to the hub (a call's leg is bound
	// to it); empty: the hub makes one up, which the client keeps for its
	// reconnects.
	Device string
}

// Frame is one frame from the hub as Events hands it over: an event (Seq >
// 0 for durable ones), a resync, or an error frame nobody waited for.
type Frame struct {
	Type      string          `json:"type"`
	Seq       int64           `json:"seq"`
	Epoch     string          `json:"epoch"` // the event's epoch, or the resync's
	SessionID string          `json:"session_id"`
	LastSeq   int64           `json:"last_seq"` // resync
	Reason    string          `json:"reason"`   // resync
	Raw       json.RawMessage `json:"-"`
}

// Message returns the text and client_msg_id of a message.created frame.
func (f Frame) Message() (text, clientMsgID string, from Party) {
	var m struct {
		From    Party `json:"from"`
		Message struct {
			Text        string `json:"text"`
			ClientMsgID string `json:"client_msg_id"`
		} `json:"message"`
	}
	json.Unmarshal(f.Raw, &m)
	return m.Message.Text, m.Message.ClientMsgID, m.From
}

// Party is who did something, as events name it.
type Party struct {
	Role string `json:"role"`
	ID   string `json:"id"`
	Name string `json:"name"`
}

// CloseError is how a connection ended: the hub's close code and reason.
type CloseError struct {
	Code   websocket.StatusCode
	Reason string
}

func (e *CloseError) Error() string { return fmt.Sprintf("closed: %d %s", e.Code, e.Reason) }

// Reconnectable reports whether the client may reconnect after this close.
func (e *CloseError) Reconnectable() bool { return protocol.Reconnectable(e.Code) }

// ErrClosed is returned by commands on a connection that ended.
var ErrClosed = errors.New("client: connection closed")

// Client is one logical client across any number of connections: its
// progress (last seq per session) carries over Reconnect.
type Client struct {
	cfg    Config
	urls   []string // cfg.URL, then cfg.FallbackURLs
	events chan Frame

	// connMu serializes (re)connecting: a connection is replaced by one
	// goroutine at a time, which the generation check in reconnect makes
	// idempotent for those that saw the same connection fail.
	connMu sync.Mutex

	mu      sync.Mutex
	ws      *websocket.Conn                 // guarded by mu: the current connection
	gen     int                             // guarded by mu: connection generation
	done    chan struct{}                   // guarded by mu: closed when the current connection ends
	endErr  error                           // guarded by mu: why the last connection ended
	hello   protocol.Hello                  // guarded by mu
	last    map[string]int64                // guarded by mu: last seq handed over per session
	epochs  map[string]string               // guarded by mu: the epoch of the event at last, per session
	pending map[string]chan json.RawMessage // guarded by mu: replies awaited, by command id
	nextID  int                             // guarded by mu
	stats   Stats                           // guarded by mu
	cur     int                             // guarded by mu: the index in urls of the URL last connected
	live    bool                            // guarded by mu: the current connection is up (its reader runs)
	upAt    time.Time                       // guarded by mu: when the current connection's hello came
	closing bool                            // guarded by mu: Close or CloseNow was called: no automatic reconnect
}

// Stats count what the client saw; a correct hub keeps Gaps and
// Duplicates at zero (Duplicates are dropped before Events sees them).
type Stats struct {
	Events, Duplicates, Gaps, Resyncs int
	// Reconnects counts the connections after the first (automatic or not).
	Reconnects int
}

// Dial connects and authenticates, following every session the principal has.
func Dial(ctx context.Context, cfg Config) (*Client, error) {
	if cfg.EventBuffer <= 0 {
		cfg.EventBuffer = 4096
	}
	if cfg.OnFrame != nil {
		cfg.EventBuffer = 0 // Events stays empty: no buffer to hold
	}
	c := &Client{cfg: cfg, events: make(chan Frame, cfg.EventBuffer), last: map[string]int64{},
		epochs: map[string]string{}, pending: map[string]chan json.RawMessage{},
		urls: append([]string{cfg.URL}, cfg.FallbackURLs...)}
	if err := c.dialAny(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

// URL returns the endpoint of the current (or last) connection.
func (c *Client) URL() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.urls[c.cur]
}

// dialAny connects to the URL last connected, then to the others in turn,
// and returns the first error when none answers. connMu must be held, or
// the client not yet shared.
func (c *Client) dialAny(ctx context.Context) error {
	c.mu.Lock()
	start := c.cur
	c.mu.Unlock()
	var first error
	for i := range c.urls {
		k := (start + i) % len(c.urls)
		err := c.connect(ctx, k)
		if err == nil {
			return nil
		}
		if first == nil {
			first = err
		}
		var ce *CloseError
		if errors.As(err, &ce) && !ce.Reconnectable() || ctx.Err() != nil {
			return err // refused for good (a bad token), or out of time
		}
	}
	return first
}

// Events returns the frames of the hub in order: each durable event once.
func (c *Client) Events() <-chan Frame { return c.events }

// Hello returns the hub's greeting on the current connection.
func (c *Client) Hello() protocol.Hello {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.hello
}

// Last returns the last seq handed over for a session.
func (c *Client) Last(sessionID string) int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.last[sessionID]
}

// Stats returns what the client counted.
func (c *Client) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stats
}

// Done is closed when the current connection ends; Err then says why.
func (c *Client) Done() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.done
}

// Connected reports whether a connection is up: authenticated, and not
// ended since.
func (c *Client) Connected() bool {
	c.mu.Lock()
	done := c.done
	c.mu.Unlock()
	select {
	case <-done:
		return false
	default:
		return true
	}
}

// ConnectedAt returns when the current (or last) connection was
// authenticated.
func (c *Client) ConnectedAt() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.upAt
}

// Err returns why the last connection ended (a *CloseError when the hub
// closed it with a code), or nil while it is open.
func (c *Client) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.endErr
}

// connect dials urls[k] and authenticates, resuming every session followed
// so far, and waits for hello.
func (c *Client) connect(ctx context.Context, k int) error {
	url := c.urls[k]
	hdr := http.Header{}
	if c.cfg.Origin != "" {
		hdr.Set("Origin", c.cfg.Origin)
	}
	ws, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{
		HTTPClient: c.cfg.HTTPClient, HTTPHeader: hdr, Subprotocols: []string{protocol.Subprotocol},
	})
	if err != nil {
		return err
	}
	ws.SetReadLimit(1 << 20)
	c.mu.Lock()
	resume := make(map[string]int64, len(c.last))
	epochs := make(map[string]string, len(c.epochs))
	for sid, seq := range c.last {
		resume[sid] = seq
		if e := c.epochs[sid]; e != "" {
			epochs[sid] = e
		}
	}
	if c.gen > 0 {
		c.stats.Reconnects++
	}
	c.gen++
	gen, done := c.gen, make(chan struct{})
	c.ws, c.done, c.endErr = ws, done, nil
	c.mu.Unlock()

	// fail ends this attempt: its connection counts as ended (so that a
	// later reconnect does not wait for it), with err.
	fail := func(err error) error {
		ws.CloseNow()
		c.mu.Lock()
		if c.gen == gen {
			c.endErr = err
		}
		c.mu.Unlock()
		close(done)
		return err
	}
	c.mu.Lock()
	device := c.cfg.Device
	if device == "" {
		device = c.hello.Device // the one the hub made up on the first connection
	}
	c.mu.Unlock()
	auth, _ := json.Marshal(protocol.Command{Type: protocol.CmdAuth, ID: "auth", Token: c.cfg.Token, Resume: resume,
		Epochs: epochs, Device: device})
	if err := ws.Write(ctx, websocket.MessageText, auth); err != nil {
		return fail(err)
	}
	typ, data, err := ws.Read(ctx)
	if err != nil {
		return fail(closeErr(err))
	}
	var hello protocol.Hello
	if typ != websocket.MessageText || json.Unmarshal(data, &hello) != nil || hello.Type != protocol.FrameHello {
		if hello.Type == protocol.FrameError {
			// The close that follows says whether to try again (4500: no;
			// 4002, the hub could not check the token: yes).
			if _, _, err := ws.Read(ctx); websocket.CloseStatus(err) != -1 {
				return fail(closeErr(err))
			}
		}
		return fail(fmt.Errorf("client: expected hello, got %s", data))
	}
	c.mu.Lock()
	// cur is set before the reader hands over the first frame, so that
	// URL names the connection the frames come from.
	c.hello, c.live, c.upAt, c.cur = hello, true, time.Now(), k
	for _, sid := range hello.Sessions {
		if _, ok := c.last[sid]; !ok {
			c.last[sid] = resume[sid]
		}
	}
	c.mu.Unlock()
	go c.read(ws, gen, done)
	return nil
}

// read hands the frames of one connection over until it ends.
func (c *Client) read(ws *websocket.Conn, gen int, done chan struct{}) {
	var err error
	defer func() {
		c.mu.Lock()
		current := c.gen == gen
		if current {
			c.live = false
			c.endErr = closeErr(err)
			for id, ch := range c.pending {
				close(ch)
				delete(c.pending, id)
			}
		}
		auto := current && c.cfg.AutoReconnect && !c.closing
		endErr := c.endErr
		c.mu.Unlock()
		close(done)
		var ce *CloseError
		if auto && !(errors.As(endErr, &ce) && !ce.Reconnectable()) {
			go c.autoReconnect(gen)
		}
	}()
	for {
		var data []byte
		_, data, err = ws.Read(context.Background())
		if err != nil {
			return
		}
		f, id, perr := readFrame(data)
		if perr != nil {
			continue
		}
		c.mu.Lock()
		if (f.Type == protocol.FrameReply || f.Type == protocol.FrameError) && id != "" {
			if ch := c.pending[id]; ch != nil {
				delete(c.pending, id)
				c.mu.Unlock()
				ch <- data
				continue
			}
		}
		if f.Seq > 0 && f.SessionID != "" {
			last := c.last[f.SessionID]
			switch {
			case f.Seq <= last:
				c.stats.Duplicates++
				c.mu.Unlock()
				continue
			case f.Seq > last+1:
				c.stats.Gaps++
			}
			c.last[f.SessionID] = f.Seq
			if f.Epoch != "" {
				c.epochs[f.SessionID] = f.Epoch
			}
			c.stats.Events++
		}
		if f.Type == protocol.FrameResync {
			c.last[f.SessionID], c.epochs[f.SessionID] = f.LastSeq, f.Epoch
			c.stats.Resyncs++
		}
		c.mu.Unlock()
		if c.cfg.OnFrame != nil {
			c.cfg.OnFrame(f)
			continue
		}
		c.events <- f
	}
}

// readFrame reads the fields of a frame that say where it goes, and a
// reply's or error's command id, stepping over the rest without decoding
// it (hub/jsonhead): the reader of a busy socket does this for every frame.
func readFrame(data []byte) (Frame, string, error) {
	h, err := jsonhead.ReadHead(data)
	return Frame{Type: h.Type, Seq: h.Seq, Epoch: h.Epoch, SessionID: h.SessionID, LastSeq: h.LastSeq, Reason: h.Reason, Raw: data}, h.ID, err
}

func closeErr(err error) error {
	if err == nil {
		return nil
	}
	if code := websocket.CloseStatus(err); code != -1 {
		var ce websocket.CloseError
		errors.As(err, &ce)
		return &CloseError{Code: code, Reason: ce.Reason}
	}
	return err
}

// Reconnect drops the current connection (if any) and connects again,
// resuming every session from the last seq handed over.
func (c *Client) Reconnect(ctx context.Context) error {
	c.mu.Lock()
	gen := c.gen
	c.mu.Unlock()
	return c.reconnect(ctx, gen)
}

// reconnect replaces connection gen, unless another goroutine has
// replaced it already.
func (c *Client) reconnect(ctx context.Context, gen int) error {
	c.connMu.Lock()
	defer c.connMu.Unlock()
	c.mu.Lock()
	ws, done, current := c.ws, c.done, c.gen == gen
	c.mu.Unlock()
	if !current {
		select {
		case <-done:
			// The replacement is gone too: connect anew below.
		default:
			return nil
		}
	}
	ws.CloseNow()
	<-done
	return c.dialAny(ctx)
}

// autoReconnect reconnects after connection gen ended, with full-jitter
// backoff (50 ms doubling to 5 s), until a connection is up, the hub
// refuses for good, or the client is closed.
func (c *Client) autoReconnect(gen int) {
	for backoff := 50 * time.Millisecond; ; backoff = min(2*backoff, 5*time.Second) {
		time.Sleep(time.Duration(mrand.Int64N(int64(backoff))))
		c.mu.Lock()
		stop := c.closing || c.gen != gen
		c.mu.Unlock()
		if stop {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := c.reconnect(ctx, gen)
		cancel()
		var ce *CloseError
		if err == nil || errors.As(err, &ce) && !ce.Reconnectable() {
			return
		}
	}
}

// ReplyError is a command the hub refused.
type ReplyError struct{ protocol.ErrorBody }

func (e *ReplyError) Error() string { return e.Code + ": " + e.Message }

// Do sends a command and waits for its reply on the current connection.
func (c *Client) Do(ctx context.Context, cmd protocol.Command) (protocol.Reply, error) {
	r, _, err := c.do(ctx, cmd)
	return r, err
}

// do is Do that also returns the generation of the connection it used.
func (c *Client) do(ctx context.Context, cmd protocol.Command) (protocol.Reply, int, error) {
	c.mu.Lock()
	gen := c.gen
	if !c.live {
		// Its reader has ended and answered every pending command: one
		// registered now would wait for a reply that cannot come.
		c.mu.Unlock()
		return protocol.Reply{}, gen, ErrClosed
	}
	c.nextID++
	cmd.ID = strconv.Itoa(c.nextID)
	ch := make(chan json.RawMessage, 1)
	c.pending[cmd.ID] = ch
	ws := c.ws
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.pending, cmd.ID)
		c.mu.Unlock()
	}()
	b, _ := json.Marshal(cmd)
	if err := ws.Write(ctx, websocket.MessageText, b); err != nil {
		return protocol.Reply{}, gen, ErrClosed
	}
	select {
	case data, ok := <-ch:
		if !ok {
			return protocol.Reply{}, gen, ErrClosed
		}
		var r struct {
			protocol.Reply
			Error *protocol.ErrorBody `json:"error"`
		}
		json.Unmarshal(data, &r)
		if r.Error != nil {
			return r.Reply, gen, &ReplyError{*r.Error}
		}
		return r.Reply, gen, nil
	case <-ctx.Done():
		return protocol.Reply{}, gen, ctx.Err()
	}
}

// NewClientMsgID returns a random client_msg_id.
func NewClientMsgID() string {
	var b [12]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Send sends a message and returns its seq. If the connection drops before
// the reply, it reconnects and sends the same client_msg_id again, until
// ctx ends: the message is created once.
func (c *Client) Send(ctx context.Context, sessionID, text string) (protocol.Reply, error) {
	return c.SendID(ctx, sessionID, NewClientMsgID(), text)
}

// SendID is Send with the caller's client_msg_id.
func (c *Client) SendID(ctx context.Context, sessionID, clientMsgID, text string) (protocol.Reply, error) {
	cmd := protocol.Command{Type: protocol.CmdSend, SessionID: sessionID, ClientMsgID: clientMsgID, Text: text}
	for backoff := 50 * time.Millisecond; ; backoff = min(2*backoff, 2*time.Second) {
		r, gen, err := c.do(ctx, cmd)
		var re *ReplyError
		if errors.As(err, &re) && (re.Code == "limit" || re.Code == "unavailable") {
			// Rate limited (the command was not run), or the hub could not
			// reach its store (it may or may not have run): wait and send
			// the same client_msg_id again, which is created at most once.
			select {
			case <-ctx.Done():
				return r, ctx.Err()
			case <-time.After(backoff):
			}
			continue
		}
		if !errors.Is(err, ErrClosed) {
			return r, err
		}
		if ce, ok := c.Err().(*CloseError); ok && !ce.Reconnectable() {
			return r, ce
		}
		select {
		case <-ctx.Done():
			return r, ctx.Err()
		case <-time.After(backoff):
		}
		if err := c.reconnect(ctx, gen); err != nil && ctx.Err() != nil {
			return r, err
		}
	}
}

// Typing says the client's party started or stopped typing.
func (c *Client) Typing(ctx context.Context, sessionID string, on bool) error {
	_, err := c.Do(ctx, protocol.Command{Type: protocol.CmdTyping, SessionID: sessionID, On: &on})
	return err
}

// Read marks the session read up to seq.
func (c *Client) Read(ctx context.Context, sessionID string, seq int64) error {
	_, err := c.Do(ctx, protocol.Command{Type: protocol.CmdRead, SessionID: sessionID, Seq: seq})
	return err
}

// CloseSession ends the session.
func (c *Client) CloseSession(ctx context.Context, sessionID string) error {
	_, err := c.Do(ctx, protocol.Command{Type: protocol.CmdClose, SessionID: sessionID})
	return err
}

// Close ends the connection normally, for good: no automatic reconnect.
func (c *Client) Close() error {
	c.mu.Lock()
	ws := c.ws
	c.closing = true
	c.mu.Unlock()
	return ws.Close(websocket.StatusNormalClosure, "")
}

// CloseNow drops the connection without a close handshake (as a network
// failure would), for good: no automatic reconnect.
func (c *Client) CloseNow() error {
	c.mu.Lock()
	ws := c.ws
	c.closing = true
	c.mu.Unlock()
	return ws.CloseNow()
}

// Drop drops the connection without a close handshake, as a network
// failure would; with AutoReconnect the client then reconnects by itself.
func (c *Client) Drop() error {
	c.mu.Lock()
	ws := c.ws
	c.mu.Unlock()
	return ws.CloseNow()
}

// Device returns the device the hub knows this client as (hello's).
func (c *Client) Device() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.hello.Device
}

// CallInvite calls the other party of a session (media "audio" or
// "video"); the reply carries the call's id and the ICE servers.
func (c *Client) CallInvite(ctx context.Context, sessionID, media string) (protocol.Reply, error) {
	return c.Do(ctx, protocol.Command{Type: protocol.CmdCallInvite, SessionID: sessionID, Media: media})
}

// CallStep sends one of the call commands that name a call: call.accept,
// call.decline, call.cancel, call.hangup, call.connected, call.rejoin.
func (c *Client) CallStep(ctx context.Context, typ, sessionID, callID string) (protocol.Reply, error) {
	return c.Do(ctx, protocol.Command{Type: typ, SessionID: sessionID, CallID: callID})
}

// CallSignal relays an SDP (offer or answer) or, with sdp nil, an ICE
// candidate to the other party's device in the call.
func (c *Client) CallSignal(ctx context.Context, sessionID, callID string, sdp, candidate json.RawMessage) (protocol.Reply, error) {
	return c.Do(ctx, protocol.Command{Type: protocol.CmdCallSignal, SessionID: sessionID, CallID: callID, SDP: sdp, Candidate: candidate})
}

// Note writes a private note in a session (staff only): a send with note.
func (c *Client) Note(ctx context.Context, sessionID, text string) (protocol.Reply, error) {
	return c.Do(ctx, protocol.Command{Type: protocol.CmdSend, SessionID: sessionID, ClientMsgID: NewClientMsgID(), Text: text, Note: true})
}
