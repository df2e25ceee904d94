package api_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/switchboardhq/switchboard/api/client"
	"github.com/switchboardhq/switchboard/api/protocol"
	"github.com/switchboardhq/switchboard/hub"
)

// TestShutdownClosesEverySocket: Shutdown closes every socket of the
// instance, customers', agents' and one not yet authenticated, with 4000
// (reconnect elsewhere); readiness then fails and new upgrades are refused
// with 503, while the other instance goes on.
func TestShutdownClosesEverySocket(t *testing.T) {
	e := newRTEnv(t, 2, rtOptions{})
	a, b := e.hubs[0], e.hubs[1]
	tok1, tok2 := e.quickAgent("ag1"), e.quickAgent("ag2")
	sid1, ctok1 := e.customer(a, "Ann")
	sid2, ctok2 := e.customer(a, "Bob")
	clients := map[string]*client.Client{
		"agent 1": e.dial(a, tok1), "agent 1 tab 2": e.dial(a, tok1), "agent 2": e.dial(a, tok2),
	}
	e.assign(a, sid1, "ag1")
	e.assign(a, sid2, "ag2")
	clients["customer 1"] = e.dial(a, ctok1)
	clients["customer 2"] = e.dial(a, ctok2)
	for _, c := range clients {
		next(t, c, ofType(hub.EventMemberJoined))
	}
	onB := e.dial(b, ctok1)
	next(t, onB, ofType(hub.EventMemberJoined))
	// A socket that has not authenticated yet; read in the background, so
	// that it answers the close handshake as a client does.
	unauth := rawDial(t, a)
	unauthCode := make(chan websocket.StatusCode, 1)
	go func() {
		for {
			if _, err := unauth.readErr(); err != nil {
				unauthCode <- websocket.CloseStatus(err)
				return
			}
		}
	}()
	waitFor(t, 5*time.Second, "6 sockets on A", func() bool { return a.srv.Connections() == 6 })

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	if err := a.srv.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	t.Logf("Shutdown took %v", time.Since(start))
	for name, c := range clients {
		waitDone(t, c, 5*time.Second)
		var ce *client.CloseError
		if !errors.As(c.Err(), &ce) || ce.Code != protocol.CloseShutdown || !ce.Reconnectable() {
			t.Fatalf("%s: ended with %v, want a reconnectable close %d", name, c.Err(), protocol.CloseShutdown)
		}
	}
	select {
	case code := <-unauthCode:
		if code != protocol.CloseShutdown {
			t.Fatalf("unauthenticated socket closed with %d, want %d", code, protocol.CloseShutdown)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("unauthenticated socket still open")
	}
	if n := a.srv.Connections(); n != 0 {
		t.Fatalf("%d connections after Shutdown", n)
	}

	if st := httpJSON(t, "GET", a.http.URL+"/readyz", "", "", nil); st != http.StatusServiceUnavailable {
		t.Fatalf("readyz after Shutdown: %d, want 503", st)
	}
	_, res, err := rawDialOpts(t, a.WSURL(), nil, nil)
	if err == nil || res == nil || res.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("upgrade after Shutdown: %v %v, want 503", err, res)
	}
	if _, err := client.Dial(ctx, client.Config{URL: a.WSURL(), Token: ctok1}); err == nil {
		t.Fatal("client.Dial after Shutdown succeeded")
	}
	// The other instance is untouched.
	if st := httpJSON(t, "GET", b.http.URL+"/readyz", "", "", nil); st != http.StatusOK {
		t.Fatalf("readyz of B: %d", st)
	}
	if onB.Err() != nil {
		t.Fatalf("socket on B: %v", onB.Err())
	}
	if _, err := onB.Send(ctx, sid1, "still on B"); err != nil {
		t.Fatal(err)
	}
	next(t, onB, ofType(hub.EventMessage))
}

// TestTypingExpiresOnServer: a typing indicator that is never turned off
// ends by itself after TypingExpiry (the hub publishes on: false), and at
// once when the typing socket dies.
func TestTypingExpiresOnServer(t *testing.T) {
	setup := func(t *testing.T, expiry time.Duration) (sid string, cust, agent *client.Client) {
		e := newRTEnv(t, 2, rtOptions{policy: hub.Policy{TypingExpiry: expiry}})
		a, b := e.hubs[0], e.hubs[1]
		tok := e.quickAgent("ag1")
		sid, ctok := e.customer(a, "Ann")
		agent = e.dial(b, tok)
		e.assign(a, sid, "ag1")
		next(t, agent, ofType(hub.EventMemberJoined))
		cust = e.dial(a, ctok)
		next(t, cust, ofType(hub.EventMemberJoined))
		return sid, cust, agent
	}
	typing := func(f client.Frame) bool { return f.Type == hub.EventTyping }
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	t.Run("expiry", func(t *testing.T) {
		const expiry = 300 * time.Millisecond
		sid, cust, agent := setup(t, expiry)
		start := time.Now()
		if err := agent.Typing(ctx, sid, true); err != nil {
			t.Fatal(err)
		}
		f := next(t, cust, typing)
		if on, role := typingOf(f); !on || role != hub.PrincipalAgent {
			t.Fatalf("first typing event: %s", f.Raw)
		}
		var ev struct {
			ExpiresMS int64 `json:"expires_ms"`
		}
		jsonDecode(t, f.Raw, &ev)
		if ev.ExpiresMS != expiry.Milliseconds() {
			t.Fatalf("typing on says expires_ms %d, want %d", ev.ExpiresMS, expiry.Milliseconds())
		}
		f = next(t, cust, typing)
		if on, role := typingOf(f); on || role != hub.PrincipalAgent {
			t.Fatalf("second typing event: %s, want the agent's on: false", f.Raw)
		}
		if d := time.Since(start); d < expiry {
			t.Fatalf("typing off %v after typing on, before the %v expiry", d, expiry)
		}
		if agent.Err() != nil {
			t.Fatalf("the agent's socket closed: %v", agent.Err())
		}
		// An explicit off ends a new indicator without waiting for the expiry.
		start = time.Now()
		if err := agent.Typing(ctx, sid, true); err != nil {
			t.Fatal(err)
		}
		if on, _ := typingOf(next(t, cust, typing)); !on {
			t.Fatal("no typing on")
		}
		if err := agent.Typing(ctx, sid, false); err != nil {
			t.Fatal(err)
		}
		if on, _ := typingOf(next(t, cust, typing)); on {
			t.Fatal("typing off did not arrive")
		}
		t.Logf("explicit off after %v", time.Since(start))
	})

	t.Run("socket dies", func(t *testing.T) {
		sid, cust, agent := setup(t, time.Minute)
		if err := agent.Typing(ctx, sid, true); err != nil {
			t.Fatal(err)
		}
		if on, _ := typingOf(next(t, cust, typing)); !on {
			t.Fatal("no typing on")
		}
		agent.CloseNow() // the network goes, no close frame
		f := next(t, cust, typing)
		if on, role := typingOf(f); on || role != hub.PrincipalAgent {
			t.Fatalf("after the agent's socket died: %s, want the agent's on: false", f.Raw)
		}
	})
}

// TestReadMarkers: the customer's read marker reaches the agent as a read
// event; an older or equal marker changes nothing and publishes nothing;
// one beyond the session's last seq is refused.
func TestReadMarkers(t *testing.T) {
	e := newRTEnv(t, 2, rtOptions{})
	a, b := e.hubs[0], e.hubs[1]
	tok := e.quickAgent("ag1")
	sid, ctok := e.customer(a, "Ann")
	agent := e.dial(b, tok)
	arec := record(t, agent)
	e.assign(a, sid, "ag1")
	cust := e.dial(a, ctok)
	crec := record(t, cust)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	m1, err := agent.Send(ctx, sid, "first")
	if err != nil {
		t.Fatal(err)
	}
	m2, err := agent.Send(ctx, sid, "second")
	if err != nil {
		t.Fatal(err)
	}
	crec.waitSeq(t, 10*time.Second, sid, m2.Seq)
	read := func(seq int64) (protocol.Reply, error) {
		return cust.Do(ctx, protocol.Command{Type: protocol.CmdRead, SessionID: sid, Seq: seq})
	}

	r, err := read(m2.Seq)
	if err != nil || !r.OK || r.Seq != m2.Seq {
		t.Fatalf("read %d: %+v %v", m2.Seq, r, err)
	}
	arec.waitSeq(t, 10*time.Second, sid, m2.Seq+1)
	ev := lastDurable(arec)
	var body struct {
		UpTo int64        `json:"up_to"`
		From client.Party `json:"from"`
	}
	jsonDecode(t, ev.Raw, &body)
	if ev.Type != hub.EventRead || ev.Seq != m2.Seq+1 || body.UpTo != m2.Seq || body.From.Role != hub.PrincipalCustomer ||
		body.From.ID != cust.Hello().Principal.ID {
		t.Fatalf("agent got %s, want read up_to %d from the customer", ev.Raw, m2.Seq)
	}

	// Older and equal markers: the marker in force, and no event.
	for _, seq := range []int64{m1.Seq, m2.Seq} {
		r, err := read(seq)
		if err != nil || !r.OK || r.Seq != m2.Seq {
			t.Fatalf("read %d after %d: %+v %v, want ok with seq %d", seq, m2.Seq, r, err, m2.Seq)
		}
	}
	// Beyond the last seq: refused.
	r, err = read(m2.Seq + 10)
	wantReplyError(t, "read beyond the end", err, hub.EINVALID)
	// The next event after the read is the agent's next message: nothing
	// was published in between.
	m3, err := agent.Send(ctx, sid, "third")
	if err != nil {
		t.Fatal(err)
	}
	if m3.Seq != m2.Seq+2 {
		t.Fatalf("next message has seq %d, want %d: the no-op reads appended events", m3.Seq, m2.Seq+2)
	}
	arec.waitSeq(t, 10*time.Second, sid, m3.Seq)
	frames, _ := arec.snapshot()
	wantContiguous(t, "agent", frames, sid, 1, m3.Seq)
	// The agent's own marker is separate from the customer's.
	if err := agent.Read(ctx, sid, m1.Seq); err != nil {
		t.Fatal(err)
	}
	crec.waitSeq(t, 10*time.Second, sid, m3.Seq+1)
	ev = lastDurable(crec)
	jsonDecode(t, ev.Raw, &body)
	if ev.Type != hub.EventRead || body.UpTo != m1.Seq || body.From.Role != hub.PrincipalAgent {
		t.Fatalf("customer got %s, want the agent's read up_to %d", ev.Raw, m1.Seq)
	}
}

// lastDurable returns the last durable event a recorder saw.
func lastDurable(r *recorder) client.Frame {
	fs := r.durable()
	if len(fs) == 0 {
		return client.Frame{}
	}
	return fs[len(fs)-1]
}

// TestCloseSession: closing a session (by its customer over WS, or by an
// admin over the Customer Service API) sends member.left then
// session.ended to both sides, closes the customer's socket with 4501 and
// leaves the agent's open and working; a customer coming back after the
// end gets the rest of the history, then 4501.
func TestCloseSession(t *testing.T) {
	e := newRTEnv(t, 2, rtOptions{})
	a, b := e.hubs[0], e.hubs[1]
	tok := e.quickAgent("ag1")
	agent := e.dial(b, tok)
	arec := record(t, agent)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	open := func(name string) (sid, ctok string, cust *client.Client, crec *recorder) {
		sid, ctok = e.customer(a, name)
		e.assign(a, sid, "ag1")
		arec.waitSeq(t, 10*time.Second, sid, 3)
		cust = e.dial(a, ctok)
		crec = record(t, cust)
		crec.waitSeq(t, 10*time.Second, sid, 3)
		if _, err := cust.Send(ctx, sid, "hello from "+name); err != nil {
			t.Fatal(err)
		}
		return sid, ctok, cust, crec
	}
	// wantEnd checks that both sides got member.left then session.ended
	// as the session's last events, and that the customer's socket is closed.
	wantEnd := func(sid string, cust *client.Client, crec *recorder, byRole string) int64 {
		t.Helper()
		end, state := e.sessionSeq(a, sid)
		if state != string(hub.StateEnded) {
			t.Fatalf("session state %s", state)
		}
		for who, r := range map[string]*recorder{"customer": crec, "agent": arec} {
			r.waitSeq(t, 10*time.Second, sid, end)
			var evs []client.Frame
			for _, f := range r.durable() {
				if f.SessionID == sid {
					evs = append(evs, f)
				}
			}
			n := len(evs)
			if n < 2 || evs[n-2].Type != hub.EventMemberLeft || evs[n-1].Type != hub.EventSessionEnded || evs[n-1].Seq != end {
				t.Fatalf("%s: last events %s %s, want member.left then session.ended (seq %d)", who, evs[n-2].Raw, evs[n-1].Raw, end)
			}
			var left, ended struct {
				From client.Party `json:"from"`
			}
			jsonDecode(t, evs[n-2].Raw, &left)
			jsonDecode(t, evs[n-1].Raw, &ended)
			if left.From.Role != hub.PrincipalAgent || left.From.ID != "ag1" {
				t.Fatalf("%s: member.left from %+v, want agent ag1", who, left.From)
			}
			if ended.From.Role != byRole {
				t.Fatalf("%s: session.ended from %+v, want %s", who, ended.From, byRole)
			}
			frames, _ := r.snapshot()
			var mine []client.Frame
			for _, f := range frames {
				if f.SessionID == sid {
					mine = append(mine, f)
				}
			}
			wantContiguous(t, who, mine, sid, 1, end)
		}
		if code := waitDone(t, cust, 5*time.Second); code != protocol.CloseSessionEnded {
			t.Fatalf("customer's socket closed with %d, want %d", code, protocol.CloseSessionEnded)
		}
		if ce := cust.Err().(*client.CloseError); ce.Reconnectable() {
			t.Fatalf("%v is reconnectable", ce)
		}
		return end
	}
	// agentWorks checks that the agent's socket is open and sends in sid.
	agentWorks := func(sid string) {
		t.Helper()
		if agent.Err() != nil {
			t.Fatalf("agent's socket closed: %v", agent.Err())
		}
		r, err := agent.Send(ctx, sid, "agent still here")
		if err != nil {
			t.Fatal(err)
		}
		arec.waitSeq(t, 10*time.Second, sid, r.Seq)
	}

	sid1, ctok1, cust1, crec1 := open("Ann")
	sid2, _, cust2, crec2 := open("Bob")
	sid3, _, _, _ := open("Cy")

	t.Run("customer closes over WS", func(t *testing.T) {
		r, err := cust1.Do(ctx, protocol.Command{Type: protocol.CmdClose, SessionID: sid1})
		// The reply comes before the socket closes with 4501.
		if err != nil || !r.OK {
			t.Fatalf("close: %+v %v", r, err)
		}
		wantEnd(sid1, cust1, crec1, hub.PrincipalCustomer)
		agentWorks(sid3)
		// The agent no longer acts on the ended session.
		_, err = agent.Send(ctx, sid1, "too late")
		wantReplyError(t, "send to the ended session", err, hub.ECONFLICT)
		wantReplyError(t, "close again", agent.CloseSession(ctx, sid1), hub.ECONFLICT)
	})

	t.Run("admin closes over REST", func(t *testing.T) {
		var out struct{ Code int }
		if st := httpJSON(t, "DELETE", b.http.URL+"/customer-service/sessions/"+sid2, rtAdminKey, "", &out); st != 200 || out.Code != 0 {
			t.Fatalf("DELETE: %d %+v", st, out)
		}
		wantEnd(sid2, cust2, crec2, "system")
		agentWorks(sid3)
	})

	t.Run("customer comes back after the end", func(t *testing.T) {
		end, _ := e.sessionSeq(a, sid1)
		// With everything seen: closed at once.
		if err := cust1.Reconnect(ctx); closeErrCode(err) != protocol.CloseSessionEnded {
			t.Fatalf("reconnect having seen the end: %v, want close %d", err, protocol.CloseSessionEnded)
		}
		// A fresh client (a reloaded page): the whole transcript, then 4501.
		fresh := e.dial(b, ctok1)
		frec := record(t, fresh)
		if code := waitDone(t, fresh, 10*time.Second); code != protocol.CloseSessionEnded {
			t.Fatalf("fresh client: closed with %d", code)
		}
		frec.waitSeq(t, 10*time.Second, sid1, end)
		frames, _ := frec.snapshot()
		wantContiguous(t, "fresh client", frames, sid1, 1, end)
		// Resuming from before the end: the tail, then 4501.
		raw, _ := rawAuth(t, a, ctok1, map[string]int64{sid1: end - 2})
		tail := raw.wantClose(protocol.CloseSessionEnded)
		var seqs []int64
		for _, f := range tail {
			if f.Seq > 0 {
				seqs = append(seqs, f.Seq)
			}
		}
		if fmt.Sprint(seqs) != fmt.Sprint([]int64{end - 1, end}) {
			t.Fatalf("resuming from %d after the end: seqs %v, want %d and %d", end-2, seqs, end-1, end)
		}
	})
}

// TestRetriedSendIsIdempotent: the same client_msg_id sent again (on the
// same socket, after a reconnect, or from another instance) answers the
// first seq with duplicate true, and the message exists once.
func TestRetriedSendIsIdempotent(t *testing.T) {
	e := newRTEnv(t, 2, rtOptions{})
	a, b := e.hubs[0], e.hubs[1]
	tok := e.quickAgent("ag1")
	sid, ctok := e.customer(a, "Ann")
	agent := e.dial(b, tok)
	arec := record(t, agent)
	e.assign(a, sid, "ag1")
	cust := e.dial(a, ctok)
	record(t, cust)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	r1, err := cust.SendID(ctx, sid, "cmid-1", "hello")
	if err != nil || r1.Duplicate {
		t.Fatalf("first send: %+v %v", r1, err)
	}
	r1b, err := cust.SendID(ctx, sid, "cmid-1", "hello (retry, other text)")
	if err != nil || !r1b.Duplicate || r1b.Seq != r1.Seq {
		t.Fatalf("retry: %+v %v, want seq %d duplicate", r1b, err, r1.Seq)
	}

	r2, err := cust.SendID(ctx, sid, "cmid-2", "second")
	if err != nil || r2.Duplicate || r2.Seq != r1.Seq+1 {
		t.Fatalf("second message: %+v %v, want seq %d", r2, err, r1.Seq+1)
	}
	cust.CloseNow()
	if err := cust.Reconnect(ctx); err != nil {
		t.Fatal(err)
	}
	r2b, err := cust.SendID(ctx, sid, "cmid-2", "second")
	if err != nil || !r2b.Duplicate || r2b.Seq != r2.Seq {
		t.Fatalf("retry after reconnect: %+v %v, want seq %d duplicate", r2b, err, r2.Seq)
	}
	// From the other instance, on a raw socket.
	raw, _ := rawAuth(t, b, ctok, map[string]int64{sid: r2.Seq})
	raw.send(protocol.Command{Type: protocol.CmdSend, ID: "x", SessionID: sid, ClientMsgID: "cmid-2", Text: "second"})
	if f := raw.readUntil(func(f rawFrame) bool { return f.Type == protocol.FrameReply }); !f.OK || !f.Duplicate || f.Seq != r2.Seq {
		t.Fatalf("retry on B: %s, want seq %d duplicate", f.Raw, r2.Seq)
	}
	// Ids are per sender: the agent choosing the same id sends a message of its own.
	r3, err := agent.SendID(ctx, sid, "cmid-2", "agent's own")
	if err != nil || r3.Duplicate || r3.Seq != r2.Seq+1 {
		t.Fatalf("the agent using cmid-2: %+v %v, want a new message seq %d", r3, err, r2.Seq+1)
	}
	if r3b, err := agent.SendID(ctx, sid, "cmid-2", "agent's own"); err != nil || !r3b.Duplicate || r3b.Seq != r3.Seq {
		t.Fatalf("the agent's retry: %+v %v, want seq %d duplicate", r3b, err, r3.Seq)
	}

	end, err := cust.SendID(ctx, sid, "cmid-end", "end")
	if err != nil || end.Seq != r3.Seq+1 {
		t.Fatalf("marker: %+v %v, want seq %d", end, err, r3.Seq+1)
	}
	arec.waitSeq(t, 10*time.Second, sid, end.Seq)
	count := map[string]int{}
	texts := map[string]string{}
	for _, f := range arec.durable() {
		if f.Type == hub.EventMessage {
			text, cmid, from := f.Message()
			count[from.Role+"/"+cmid]++
			texts[from.Role+"/"+cmid] = text
		}
	}
	want := map[string]string{"customer/cmid-1": "hello", "customer/cmid-2": "second", "agent/cmid-2": "agent's own", "customer/cmid-end": "end"}
	for k, text := range want {
		if count[k] != 1 || texts[k] != text {
			t.Fatalf("message %s: %d events, text %q, want one with %q", k, count[k], texts[k], text)
		}
	}
	if len(count) != len(want) {
		t.Fatalf("messages %v, want %v", count, want)
	}
	frames, _ := arec.snapshot()
	wantContiguous(t, "agent", frames, sid, 1, end.Seq)
}
