package api_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/switchboardhq/switchboard/api"
	"github.com/switchboardhq/switchboard/api/client"
	"github.com/switchboardhq/switchboard/api/protocol"
	"github.com/switchboardhq/switchboard/hub"
)

// fromAddr is an HTTP client whose connections leave from the loopback
// address src (any 127.x.y.z is local on Linux): another client address
// for the hub.
func fromAddr(src string) *http.Client {
	d := &net.Dialer{Timeout: 10 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
	return &http.Client{Transport: &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true}}
}

// forwardedFor is the header a load balancer adds for client ip.
func forwardedFor(ip string) http.Header { return http.Header{"X-Forwarded-For": {ip}} }

// wantRefused fails unless an upgrade was refused with 429 and the native
// API's limit error, before any WebSocket existed.
func wantRefused(t *testing.T, res *http.Response, err error, msg string) {
	t.Helper()
	if err == nil {
		t.Fatal("upgrade accepted past the cap")
	}
	if res == nil || res.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("refusal: %v (response %v), want 429", err, res)
	}
	b, _ := io.ReadAll(res.Body)
	var body struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	if json.Unmarshal(b, &body) != nil || body.Error.Code != hub.ELIMIT || body.Error.Message != msg {
		t.Fatalf("refusal body %s, want code %q message %q", b, hub.ELIMIT, msg)
	}
}

// TestUnauthSocketsCappedPerAddress: the 101st unauthenticated socket from
// one client address (as a trusted load balancer reports it) is refused
// 429 and counted, while another client behind the same balancer, and
// another peer that merely claims the first one's address, still connect;
// authenticating a socket or closing one frees its slot; and authenticated
// sockets are not capped per address.
func TestUnauthSocketsCappedPerAddress(t *testing.T) {
	lb := netip.MustParsePrefix("127.0.0.1/32")
	e := newRTEnv(t, 1, rtOptions{ws: api.WSOptions{AuthTimeout: time.Minute, AuthBurst: 1000}, trusted: []netip.Prefix{lb}})
	in := e.hubs[0]
	const perAddr = 100 // the default
	_, custTok := e.customer(in, "Ann")

	held := make([]*rawConn, 0, perAddr)
	for i := range perAddr {
		c, _, err := rawDialOpts(t, in.WSURL(), forwardedFor("198.51.100.1"), nil)
		if err != nil {
			t.Fatalf("unauthenticated socket %d: %v", i+1, err)
		}
		held = append(held, c)
	}
	if got := metric(t, in, "switchboard_ws_unauthenticated"); got != perAddr {
		t.Fatalf("switchboard_ws_unauthenticated = %v, want %d", got, perAddr)
	}
	_, res, err := rawDialOpts(t, in.WSURL(), forwardedFor("198.51.100.1"), nil)
	wantRefused(t, res, err, "too many unauthenticated sockets from this address")
	if got := metric(t, in, `switchboard_ws_unauthenticated_refused_total{cap="address"}`); got != 1 {
		t.Fatalf("refusals counted %v, want 1", got)
	}
	// Another customer behind the same balancer.
	if _, _, err := rawDialOpts(t, in.WSURL(), forwardedFor("198.51.100.2"), nil); err != nil {
		t.Fatalf("another client address refused: %v", err)
	}
	// A peer that is no trusted proxy is its own address, whatever it claims.
	if _, _, err := rawDialOpts(t, in.WSURL(), forwardedFor("198.51.100.1"), fromAddr("127.0.0.2")); err != nil {
		t.Fatalf("another peer refused: %v", err)
	}

	// Authenticating frees the slot at once: the hello is written after it.
	held[0].send(protocol.Command{Type: protocol.CmdAuth, ID: "auth", Token: custTok})
	if h := held[0].read(); h.Type != protocol.FrameHello {
		t.Fatalf("auth: %s", h.Raw)
	}
	next, _, err := rawDialOpts(t, in.WSURL(), forwardedFor("198.51.100.1"), nil)
	if err != nil {
		t.Fatalf("upgrade after a socket authenticated: %v", err)
	}
	held = append(held, next)
	_, res, err = rawDialOpts(t, in.WSURL(), forwardedFor("198.51.100.1"), nil)
	wantRefused(t, res, err, "too many unauthenticated sockets from this address")

	// Closing an unauthenticated socket frees its slot once the hub has
	// seen it end.
	before := metric(t, in, "switchboard_ws_unauthenticated")
	held[1].ws.Close(websocket.StatusNormalClosure, "")
	waitFor(t, 10*time.Second, "the closed socket's slot", func() bool {
		return metric(t, in, "switchboard_ws_unauthenticated") == before-1
	})
	if _, _, err := rawDialOpts(t, in.WSURL(), forwardedFor("198.51.100.1"), nil); err != nil {
		t.Fatalf("upgrade after an unauthenticated socket closed: %v", err)
	}

	// Authenticated sockets from the address are not capped: 120 of them.
	authed := 1
	for _, c := range held[2:] {
		c.send(protocol.Command{Type: protocol.CmdAuth, ID: "auth", Token: custTok})
		if h := c.read(); h.Type != protocol.FrameHello {
			t.Fatalf("auth: %s", h.Raw)
		}
		authed++
	}
	for authed < 120 {
		c, _, err := rawDialOpts(t, in.WSURL(), forwardedFor("198.51.100.1"), nil)
		if err != nil {
			t.Fatalf("socket %d (the others authenticated): %v", authed+1, err)
		}
		c.send(protocol.Command{Type: protocol.CmdAuth, ID: "auth", Token: custTok})
		if h := c.read(); h.Type != protocol.FrameHello {
			t.Fatalf("auth: %s", h.Raw)
		}
		authed++
	}
}

// TestUnauthSocketsCappedInAll: past MaxUnauth unauthenticated sockets on
// the instance, from any addresses, upgrades are refused 429 and counted;
// a slot freed by an authentication takes the next one.
func TestUnauthSocketsCappedInAll(t *testing.T) {
	lb := netip.MustParsePrefix("127.0.0.1/32")
	e := newRTEnv(t, 1, rtOptions{ws: api.WSOptions{AuthTimeout: time.Minute, MaxUnauth: 3}, trusted: []netip.Prefix{lb}})
	in := e.hubs[0]
	_, custTok := e.customer(in, "Ann")
	var held []*rawConn
	for i := range 3 {
		c, _, err := rawDialOpts(t, in.WSURL(), forwardedFor(fmt.Sprintf("198.51.100.%d", i+1)), nil)
		if err != nil {
			t.Fatalf("socket %d: %v", i+1, err)
		}
		held = append(held, c)
	}
	_, res, err := rawDialOpts(t, in.WSURL(), forwardedFor("198.51.100.9"), nil)
	wantRefused(t, res, err, "too many unauthenticated sockets")
	if got := metric(t, in, `switchboard_ws_unauthenticated_refused_total{cap="total"}`); got != 1 {
		t.Fatalf("refusals counted %v, want 1", got)
	}
	held[0].send(protocol.Command{Type: protocol.CmdAuth, ID: "auth", Token: custTok})
	if h := held[0].read(); h.Type != protocol.FrameHello {
		t.Fatalf("auth: %s", h.Raw)
	}
	if _, _, err := rawDialOpts(t, in.WSURL(), forwardedFor("198.51.100.9"), nil); err != nil {
		t.Fatalf("upgrade after a socket authenticated: %v", err)
	}
}

// TestWebSocketOutlivesServerTimeouts: a socket upgraded by an
// http.Server with short ReadTimeout and WriteTimeout still reads and
// writes long after both: the deadlines net/http set for the request are
// not the socket's.
func TestWebSocketOutlivesServerTimeouts(t *testing.T) {
	e := newRTEnv(t, 1, rtOptions{})
	in := e.hubs[0]
	const timeout = 300 * time.Millisecond
	hs := httptest.NewUnstartedServer(in.srv)
	hs.Config.ReadTimeout, hs.Config.WriteTimeout = timeout, timeout
	hs.Start()
	t.Cleanup(hs.Close)
	agentTok := e.quickAgent("ag1")
	sid, custTok := e.customer(in, "Ann")
	e.assign(in, sid, "ag1")
	url := "ws" + strings.TrimPrefix(hs.URL, "http") + "/ws"
	cust, _, err := rawDialOpts(t, url, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	cust.send(protocol.Command{Type: protocol.CmdAuth, ID: "auth", Token: custTok})
	if h := cust.read(); h.Type != protocol.FrameHello {
		t.Fatalf("auth: %s", h.Raw)
	}

	// Both deadlines pass while the socket is quiet (nothing but time is
	// awaited here: the deadlines are the condition).
	time.Sleep(4 * timeout)

	// The socket still writes: an agent's message reaches the customer...
	agent := e.dial(in, agentTok)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r, err := agent.Send(ctx, sid, "still there?")
	if err != nil {
		t.Fatal(err)
	}
	if f := cust.readUntil(func(f rawFrame) bool { return f.Seq == r.Seq }); f.Message == nil || f.Message.Text != "still there?" {
		t.Fatalf("customer got %s", f.Raw)
	}
	// ...and still reads: the customer's command is answered.
	cust.send(protocol.Command{Type: protocol.CmdSend, ID: "s1", SessionID: sid, Text: "yes", ClientMsgID: client.NewClientMsgID()})
	if f := cust.readUntil(func(f rawFrame) bool { return f.ID == "s1" }); !f.OK {
		t.Fatalf("send after the deadlines: %s", f.Raw)
	}
}

// deafTab is a session whose customer has a tab that reads and a tab
// that reads nothing, and whose agent sends into it.
type deafTab struct {
	in          *rtInstance
	sid         string
	good, agent *client.Client
	grec, arec  *recorder
	deaf        *rawConn
}

// newDeafTab starts the session on one instance with opts, its customer's
// two tabs and its agent, the reading tab following it.
func newDeafTab(t *testing.T, opts rtOptions) (*rtEnv, *deafTab) {
	t.Helper()
	e := newRTEnv(t, 1, opts)
	d := &deafTab{in: e.hubs[0]}
	agentTok := e.quickAgent("ag1")
	sid, custTok := e.customer(d.in, "Ann")
	e.assign(d.in, sid, "ag1")
	d.sid = sid
	d.good, d.agent = e.dial(d.in, custTok), e.dial(d.in, agentTok)
	d.grec, d.arec = record(t, d.good), record(t, d.agent)
	d.deaf, _ = rawAuth(t, d.in, custTok, nil)
	first, _ := e.sessionSeq(d.in, sid)
	d.grec.waitSeq(t, 10*time.Second, sid, first)
	return e, d
}

// sendUntil has the agent send messages of 4 KB until the metric moves,
// at most max of them.
func (d *deafTab) sendUntil(t *testing.T, metricName string, max int) {
	t.Helper()
	before := metric(t, d.in, metricName)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	text := strings.Repeat("x", 3900)
	for i := 0; metric(t, d.in, metricName) == before; i++ {
		if i == max {
			t.Fatalf("a tab that reads nothing: %s unmoved after %d messages of 4 KB", metricName, max)
		}
		if _, err := d.agent.Send(ctx, d.sid, fmt.Sprint(i, text)); err != nil {
			t.Fatal(err)
		}
	}
}

// goesOn checks that the session goes on after the deaf tab left: ten
// more messages, and the reading tab and the agent hold every event in
// order, with the deaf tab's handler ended.
func (d *deafTab) goesOn(t *testing.T, e *rtEnv) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for i := range 10 {
		if _, err := d.agent.Send(ctx, d.sid, fmt.Sprint("after ", i)); err != nil {
			t.Fatal(err)
		}
	}
	last, _ := e.sessionSeq(d.in, d.sid)
	for _, r := range []struct {
		who string
		rec *recorder
		c   *client.Client
	}{{"customer's reading tab", d.grec, d.good}, {"agent", d.arec, d.agent}} {
		r.rec.waitSeq(t, 20*time.Second, d.sid, last)
		frames, _ := r.rec.snapshot()
		wantContiguous(t, r.who, frames, d.sid, 1, last)
		wantStats(t, r.who, r.c)
	}
	waitFor(t, 10*time.Second, "the deaf tab's handler to end", func() bool { return d.in.srv.Connections() == 2 })
}

// TestNeverReadingSocketKicked: a customer's tab that never reads is
// closed as a slow consumer (4001) once its queue is full, while the
// customer's other tab, and the agent, get every event in order.
func TestNeverReadingSocketKicked(t *testing.T) {
	// Small kernel send buffers so that the hub's writes to the tab block
	// after little data; a write timeout far off, so that the full queue
	// (not the timeout, which drops the TCP connection) closes it and the
	// close frame reaches the tab once it reads.
	e, d := newDeafTab(t, rtOptions{ws: api.WSOptions{SendQueue: 16, WriteTimeout: 30 * time.Second,
		RateLimit: 5000, RateBurst: 5000}, sendBuffer: 16 << 10})
	d.sendUntil(t, `switchboard_ws_kicked_total{reason="slow_consumer"}`, 2000)
	// The deaf tab, reading at last, gets what the kernel held, then 4001.
	d.deaf.wantClose(protocol.CloseSlowConsumer)
	d.goesOn(t, e)
}

// TestWriteTimeoutKicked: a tab that stops reading while its queue has
// room is dropped once one write to it blocks for WriteTimeout (the
// connection's write deadline, set on each write to the kernel), counted
// as a write timeout; the customer's other tab and the agent get every
// event in order, and the session goes on.
func TestWriteTimeoutKicked(t *testing.T) {
	// A queue too long to fill here, small kernel buffers: the write
	// blocks long before the queue is full, and only the deadline ends it.
	e, d := newDeafTab(t, rtOptions{ws: api.WSOptions{SendQueue: 100_000, WriteTimeout: 300 * time.Millisecond,
		RateLimit: 5000, RateBurst: 5000}, sendBuffer: 16 << 10})
	slow := `switchboard_ws_kicked_total{reason="slow_consumer"}`
	slow0 := metric(t, d.in, slow)
	d.sendUntil(t, `switchboard_ws_kicked_total{reason="write_timeout"}`, 5000)
	if n := metric(t, d.in, slow); n != slow0 {
		t.Fatalf("the tab was kicked for its queue (%v), not its write", n-slow0)
	}
	d.goesOn(t, e)
	// The deaf tab, reading at last, gets what the kernel held, then the
	// end of its connection.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		if _, _, err := d.deaf.ws.Read(ctx); err != nil {
			if ctx.Err() != nil {
				t.Fatal("the dropped tab's connection still open after 10 s")
			}
			break
		}
	}
}

// TestFloodClosed: a socket that sends frames flat out is closed with
// 4004; another socket on the instance is served all along.
func TestFloodClosed(t *testing.T) {
	e := newRTEnv(t, 1, rtOptions{}) // the default limit: 20 frames/s, burst 40
	in := e.hubs[0]
	_, floodTok := e.customer(in, "Flood")
	sid, custTok := e.customer(in, "Ann")
	calm := e.dial(in, custTok)
	floodUntilClosed(t, in, floodTok)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := calm.Send(ctx, sid, "hello"); err != nil {
		t.Fatalf("the other socket, after the flood: %v", err)
	}
}

// floodUntilClosed authenticates a socket with tok and writes pings flat
// out until the hub closes it, which must be with 4004. (The refusals
// queued before the close may be dropped with the socket's queue: the
// close code is what the client is sure to see.)
func floodUntilClosed(t *testing.T, in *rtInstance, tok string) {
	t.Helper()
	flood, _ := rawAuth(t, in, tok, nil)
	ping, _ := json.Marshal(protocol.Command{Type: protocol.CmdPing, ID: "p"})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for range 1000 { // the hub closes it long before
		if flood.ws.Write(ctx, websocket.MessageText, ping) != nil {
			break
		}
	}
	flood.wantClose(protocol.CloseRateLimited)
}

// TestFloodBudgetSurvivesReconnect: the frame budget is the principal's, so
// a flooder closed with 4004 that reconnects has none left: its first
// command is refused (limit), not run. (Frames come back slowly here, and
// authentications fast, so that the reconnect, which waits for one, is
// done before a frame is.)
func TestFloodBudgetSurvivesReconnect(t *testing.T) {
	e := newRTEnv(t, 1, rtOptions{ws: api.WSOptions{RateLimit: 0.2, RateBurst: 40, AuthRate: 20}})
	in := e.hubs[0]
	_, floodTok := e.customer(in, "Flood")
	floodUntilClosed(t, in, floodTok)
	var again *rawConn
	waitFor(t, 10*time.Second, "an authentication given back", func() bool {
		c := rawDial(t, in)
		c.send(protocol.Command{Type: protocol.CmdAuth, ID: "a", Token: floodTok})
		if f := c.read(); f.Type == protocol.FrameHello {
			again = c
			return true
		}
		c.ws.CloseNow()
		return false
	})
	again.send(protocol.Command{Type: protocol.CmdPing, ID: "p2"})
	f := again.readUntil(func(f rawFrame) bool { return f.ID == "p2" })
	if f.OK || f.Error == nil || f.Error.Code != hub.ELIMIT {
		t.Fatalf("first command after reconnecting: %s, want a limit refusal", f.Raw)
	}
}

// TestReconnectLoopClosed: a principal that authenticates sockets faster
// than AuthRate after AuthBurst is refused with 4004 (each socket costs a
// replay); another principal is not affected.
func TestReconnectLoopClosed(t *testing.T) {
	e := newRTEnv(t, 1, rtOptions{ws: api.WSOptions{AuthBurst: 3, AuthRate: 0.1}})
	in := e.hubs[0]
	_, tok := e.customer(in, "Loop")
	for i := range 3 {
		c, hello := rawAuth(t, in, tok, nil)
		if hello.Type != protocol.FrameHello {
			t.Fatalf("socket %d: %s", i, hello.Raw)
		}
		c.ws.CloseNow()
	}
	wantAuthRefused(t, e, in, tok, "the fourth auth")
}

// TestCustomerSendBudget: past its message budget a customer's send is
// refused with a limit error and nothing is stored; the same socket stays
// open, and the agent's sends are not bounded by it.
func TestCustomerSendBudget(t *testing.T) {
	e := newRTEnv(t, 1, rtOptions{ws: api.WSOptions{CustomerSendRate: 0.1, CustomerSendBurst: 3}})
	in := e.hubs[0]
	agentTok := e.quickAgent("sb1")
	sid, custTok := e.customer(in, "Ann")
	e.assign(in, sid, "sb1")
	cust, agent := e.dial(in, custTok), e.dial(in, agentTok)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for i := range 3 {
		if _, err := cust.SendID(ctx, sid, fmt.Sprintf("m%d", i), "hello"); err != nil {
			t.Fatalf("send %d within the burst: %v", i, err)
		}
	}
	// Do, not Send: the client's Send waits and retries a limit refusal.
	_, err := cust.Do(ctx, protocol.Command{Type: protocol.CmdSend, SessionID: sid, ClientMsgID: "m3", Text: "one too many"})
	var re *client.ReplyError
	if !errors.As(err, &re) || re.Code != hub.ELIMIT {
		t.Fatalf("the fourth send: %v, want a limit refusal", err)
	}
	for i := range 5 {
		if _, err := agent.Send(ctx, sid, fmt.Sprintf("reply %d", i)); err != nil {
			t.Fatalf("agent send %d: %v", i, err)
		}
	}
	customerMsgs := 0
	for _, f := range dwStream(e, in, sid) {
		if f.Type == hub.EventMessage && f.From.Role == hub.PrincipalCustomer {
			customerMsgs++
		}
	}
	if customerMsgs != 3 {
		t.Fatalf("the stream holds %d customer messages, want 3 (the refused one not stored)", customerMsgs)
	}
}

// TestFloodCostsReconnects: a flooder closed with 4004 has used up its
// authentications: reconnecting at once is refused (limit, then 4004)
// before any replay; another customer is not affected.
func TestFloodCostsReconnects(t *testing.T) {
	e := newRTEnv(t, 1, rtOptions{}) // the defaults: 20 authentications, then one every 2 s
	in := e.hubs[0]
	_, floodTok := e.customer(in, "Flood")
	floodUntilClosed(t, in, floodTok)
	wantAuthRefused(t, e, in, floodTok, "the flooder's reconnect")
}

// TestFloodPenalty: a flooder closed with 4004 owes a whole burst of
// authentications: none is given back for AuthBurst/AuthRate (here 3 s),
// where one would be after 1/AuthRate (0.5 s) without the penalty.
func TestFloodPenalty(t *testing.T) {
	e := newRTEnv(t, 1, rtOptions{ws: api.WSOptions{AuthRate: 2, AuthBurst: 6}})
	in := e.hubs[0]
	_, floodTok := e.customer(in, "Flood")
	floodUntilClosed(t, in, floodTok)
	closed := time.Now()
	waitFor(t, 20*time.Second, "an authentication given back", func() bool {
		c := rawDial(t, in)
		defer c.ws.CloseNow()
		c.send(protocol.Command{Type: protocol.CmdAuth, ID: "a", Token: floodTok})
		return c.read().Type == protocol.FrameHello
	})
	if waited := time.Since(closed); waited < 2500*time.Millisecond {
		t.Fatalf("the flooder authenticated again %v after its 4004, want the 3 s penalty", waited)
	}
}

// wantAuthRefused checks that authenticating with tok is refused (a limit
// error, then 4004) and that another customer's is not.
func wantAuthRefused(t *testing.T, e *rtEnv, in *rtInstance, tok, what string) {
	t.Helper()
	c := rawDial(t, in)
	c.send(protocol.Command{Type: protocol.CmdAuth, ID: "a", Token: tok})
	if f := c.read(); f.Type != protocol.FrameError || f.Error.Code != hub.ELIMIT {
		t.Fatalf("%s: %s, want a limit error", what, f.Raw)
	}
	c.wantClose(protocol.CloseRateLimited)
	_, other := e.customer(in, "Other")
	if _, hello := rawAuth(t, in, other, nil); hello.Type != protocol.FrameHello {
		t.Fatalf("another customer: %s", hello.Raw)
	}
}
