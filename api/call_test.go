package api_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/api/client"
	"github.com/switchboardhq/switchboard/api/protocol"
	"github.com/switchboardhq/switchboard/hub"
)

// callFrame is a call event as a socket receives it.
type callFrame struct {
	Type       string     `json:"type"`
	Seq        int64      `json:"seq"`
	SessionID  string     `json:"session_id"`
	CallID     string     `json:"call_id"`
	Media      string     `json:"media"`
	Device     string     `json:"device"`
	FromDevice string     `json:"from_device"`
	To         string     `json:"to"`
	Reason     string     `json:"reason"`
	DurationS  *int64     `json:"duration_s"`
	From       *hub.Party `json:"from"`
	By         *hub.Party `json:"by"`
	EndedBy    *hub.Party `json:"ended_by"`
	SDP        *struct {
		Type string `json:"type"`
		SDP  string `json:"sdp"`
	} `json:"sdp"`
	Candidate json.RawMessage `json:"candidate"`
}

func decodeCall(t *testing.T, f client.Frame) callFrame {
	t.Helper()
	var c callFrame
	if err := json.Unmarshal(f.Raw, &c); err != nil {
		t.Fatalf("%s: %v", f.Raw, err)
	}
	return c
}

// nextCall returns c's next frame of type typ, decoded.
func nextCall(t *testing.T, c *client.Client, typ string) callFrame {
	t.Helper()
	return decodeCall(t, next(t, c, ofType(typ)))
}

// callEnv is a customer on instance A and its session's agent on
// instance B (with a second tab), both following the session.
type callEnv struct {
	*rtEnv
	sid                   string
	customer, agent, tab  *client.Client
	agentToken, custToken string
}

func newCallEnv(t *testing.T) *callEnv {
	t.Helper()
	e := newRTEnv(t, 2, rtOptions{})
	a, b := e.hubs[0], e.hubs[1]
	agentToken := e.quickAgent("ag1")
	sid, custToken := e.customer(a, "Maria")
	ce := &callEnv{rtEnv: e, sid: sid, agentToken: agentToken, custToken: custToken}
	ce.agent = e.dial(b, agentToken)
	ce.tab = e.dial(b, agentToken)
	e.assign(a, sid, "ag1")
	ce.customer = e.dial(a, custToken)
	for _, c := range []*client.Client{ce.agent, ce.tab, ce.customer} {
		next(t, c, func(f client.Frame) bool { return f.Type == hub.EventMemberJoined && f.SessionID == sid })
	}
	return ce
}

func ctx10(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// wantRefusal fails unless err is the hub's refusal with code and message.
func wantRefusal(t *testing.T, what string, err error, code, msg string) {
	t.Helper()
	var re *client.ReplyError
	if !errors.As(err, &re) || re.Code != code || msg != "" && re.Message != msg {
		t.Fatalf("%s: %v, want %s %q", what, err, code, msg)
	}
}

// TestCallSignalling: the agent (instance B) calls the customer (instance
// A), who accepts; offer, answer and candidates reach the other leg's
// device only; both report media up; the customer hangs up. Each durable
// step reaches both parties, and the session keeps the call.
func TestCallSignalling(t *testing.T) {
	e := newCallEnv(t)
	ctx := ctx10(t)
	var hook struct{ ID string }
	if st := httpJSON(t, "POST", e.hubs[0].http.URL+"/api/v1/webhooks", rtAdminKey,
		`{"url":"https://hooks.example.com/calls","events":["call.started","call.ended"]}`, &hook); st != http.StatusCreated {
		t.Fatalf("webhook: %d", st)
	}
	inv, err := e.agent.CallInvite(ctx, e.sid, hub.CallVideo)
	if err != nil || inv.CallID == "" || inv.CallState != hub.CallRinging {
		t.Fatalf("invite: %+v %v", inv, err)
	}
	for _, c := range []*client.Client{e.customer, e.agent, e.tab} {
		r := nextCall(t, c, hub.EventCallRinging)
		if r.CallID != inv.CallID || r.Media != hub.CallVideo || r.From == nil || r.From.Role != "agent" || r.Seq == 0 ||
			r.Device != e.agent.Device() {
			t.Fatalf("call.ringing: %+v", r)
		}
	}
	// The inviter cannot signal before the call is answered.
	_, err = e.agent.CallSignal(ctx, e.sid, inv.CallID, json.RawMessage(`{"type":"offer","sdp":"v=0"}`), nil)
	wantRefusal(t, "signal while ringing", err, hub.ECONFLICT, hub.ErrCallState.Message)

	acc, err := e.customer.CallStep(ctx, protocol.CmdCallAccept, e.sid, inv.CallID)
	if err != nil || acc.CallState != hub.CallAccepted || acc.CallID != inv.CallID {
		t.Fatalf("accept: %+v %v", acc, err)
	}
	for _, c := range []*client.Client{e.customer, e.agent, e.tab} {
		s := nextCall(t, c, hub.EventCallStarted)
		if s.CallID != inv.CallID || s.By == nil || s.By.Role != "customer" || s.Device != e.customer.Device() {
			t.Fatalf("call.started: %+v", s)
		}
	}

	offer := json.RawMessage(`{"type":"offer","sdp":"v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\n"}`)
	if _, err := e.agent.CallSignal(ctx, e.sid, inv.CallID, offer, nil); err != nil {
		t.Fatal(err)
	}
	got := nextCall(t, e.customer, hub.EventCallSignal)
	if got.SDP == nil || got.SDP.Type != "offer" || got.FromDevice != e.agent.Device() || got.To != e.customer.Device() {
		t.Fatalf("offer relayed as %+v", got)
	}
	cand := json.RawMessage(`{"candidate":"candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host","sdpMid":"0","sdpMLineIndex":0}`)
	if _, err := e.customer.CallSignal(ctx, e.sid, inv.CallID, json.RawMessage(`{"type":"answer","sdp":"v=0"}`), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := e.customer.CallSignal(ctx, e.sid, inv.CallID, nil, cand); err != nil {
		t.Fatal(err)
	}
	if a := nextCall(t, e.agent, hub.EventCallSignal); a.SDP == nil || a.SDP.Type != "answer" || a.To != e.agent.Device() {
		t.Fatalf("answer relayed as %+v", a)
	}
	if c := nextCall(t, e.agent, hub.EventCallSignal); !strings.Contains(string(c.Candidate), "typ host") {
		t.Fatalf("candidate relayed as %+v", c)
	}

	for _, c := range []*client.Client{e.customer, e.agent} {
		if _, err := c.CallStep(ctx, protocol.CmdCallConnected, e.sid, inv.CallID); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []*client.Client{e.customer, e.agent} {
		nextCall(t, c, hub.EventCallConnected)
	}
	// The agent's second tab rang, saw the call answered and never got a
	// signal: the next call frame it gets after call.started is call.connected.
	if f := next(t, e.tab, func(f client.Frame) bool { return strings.HasPrefix(f.Type, "call.") }); f.Type != hub.EventCallConnected {
		t.Fatalf("the other tab got %s", f.Raw)
	}

	if r, err := e.customer.CallStep(ctx, protocol.CmdCallHangup, e.sid, inv.CallID); err != nil || r.CallState != "ended" {
		t.Fatalf("hangup: %+v %v", r, err)
	}
	for _, c := range []*client.Client{e.customer, e.agent, e.tab} {
		end := nextCall(t, c, hub.EventCallEnded)
		if end.Reason != hub.CallEndHangup || end.EndedBy == nil || end.EndedBy.Role != "customer" || end.DurationS == nil {
			t.Fatalf("call.ended: %+v", end)
		}
	}
	wantStats(t, "customer", e.customer)
	wantStats(t, "agent", e.agent)

	// The webhook deliveries were queued with the events: call.started and
	// call.ended (the endpoint wants no others).
	rdb := e.r.NewClient()
	defer rdb.Close()
	queued, err := rdb.XRange(ctx, e.r.Prefix+":hook:"+hook.ID+":q", "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, m := range queued {
		if m.Values["sid"] == e.sid {
			kinds = append(kinds, fmt.Sprint(m.Values["type"]))
		}
	}
	if strings.Join(kinds, ",") != "call.started,call.ended" {
		t.Fatalf("webhook deliveries queued: %v", kinds)
	}

	var sess struct {
		Call  *struct{ ID string }
		Calls []struct {
			ID, Media, State, Reason string
			ConnectedAt              *string    `json:"connected_at"`
			EndedBy                  *hub.Party `json:"ended_by"`
		}
	}
	if st := httpJSON(t, "GET", e.hubs[0].http.URL+"/api/v1/sessions/"+e.sid, rtAdminKey, "", &sess); st != 200 {
		t.Fatalf("session: %d", st)
	}
	if sess.Call != nil || len(sess.Calls) != 1 || sess.Calls[0].ID != inv.CallID || sess.Calls[0].Reason != "hangup" ||
		sess.Calls[0].State != "ended" || sess.Calls[0].ConnectedAt == nil || sess.Calls[0].EndedBy == nil {
		t.Fatalf("the session shows its calls as %+v", sess)
	}
	// The history shows the call: rung, answered, connected, ended.
	var hist struct{ Events []callFrame }
	if st := httpJSON(t, "GET", e.hubs[1].http.URL+"/api/v1/sessions/"+e.sid+"/messages?after=0&limit=200", e.agentToken, "", &hist); st != 200 {
		t.Fatalf("history: %d", st)
	}
	var seen []string
	for _, ev := range hist.Events {
		if strings.HasPrefix(ev.Type, "call.") {
			seen = append(seen, ev.Type)
		}
	}
	if strings.Join(seen, " ") != "call.ringing call.started call.connected call.ended" {
		t.Fatalf("the history shows the call as %v", seen)
	}
	// A new call may follow the one that ended.
	if _, err := e.customer.CallInvite(ctx, e.sid, hub.CallAudio); err != nil {
		t.Fatal(err)
	}
}

// TestCallRaces: two devices answering at once, both parties inviting at
// once, an accept racing a cancel: exactly one wins each time, and the
// call's state is the winner's.
func TestCallRaces(t *testing.T) {
	e := newCallEnv(t)
	ctx := ctx10(t)
	for round := range 10 {
		// Both parties invite at once: one call rings, the other is refused.
		var wg sync.WaitGroup
		replies := make([]protocol.Reply, 2)
		errs := make([]error, 2)
		for i, c := range []*client.Client{e.customer, e.agent} {
			wg.Add(1)
			go func() { defer wg.Done(); replies[i], errs[i] = c.CallInvite(ctx, e.sid, hub.CallAudio) }()
		}
		wg.Wait()
		won := 0
		var callID string
		for i := range 2 {
			if errs[i] == nil {
				won++
				callID = replies[i].CallID
			} else {
				wantRefusal(t, "the second invite", errs[i], hub.ECONFLICT, hub.ErrCallBusy.Message)
			}
		}
		if won != 1 {
			t.Fatalf("round %d: %d invites won", round, won)
		}
		ring := nextCall(t, e.agent, hub.EventCallRinging)
		if ring.CallID != callID {
			t.Fatalf("rang %s, want %s", ring.CallID, callID)
		}
		inviter, invitee := e.customer, []*client.Client{e.agent, e.tab}
		if ring.From.Role == "agent" {
			inviter, invitee = e.agent, []*client.Client{e.customer}
		}
		// The invitee answers from all its devices while the inviter
		// cancels: one of them wins.
		type result struct {
			who string
			err error
		}
		results := make(chan result, 3)
		for i, c := range invitee {
			go func() {
				_, err := c.CallStep(ctx, protocol.CmdCallAccept, e.sid, callID)
				results <- result{fmt.Sprint("accept ", i), err}
			}()
		}
		go func() {
			_, err := inviter.CallStep(ctx, protocol.CmdCallCancel, e.sid, callID)
			results <- result{"cancel", err}
		}()
		var winners []string
		for range len(invitee) + 1 {
			r := <-results
			if r.err == nil {
				winners = append(winners, r.who)
				continue
			}
			var re *client.ReplyError
			if !errors.As(r.err, &re) || re.Code != hub.ECONFLICT && re.Code != hub.ENOTFOUND {
				t.Fatalf("%s: %v", r.who, r.err)
			}
		}
		if len(winners) != 1 {
			t.Fatalf("round %d: winners %v", round, winners)
		}
		var sess struct{ Call *struct{ ID, State string } }
		httpJSON(t, "GET", e.hubs[1].http.URL+"/api/v1/sessions/"+e.sid, rtAdminKey, "", &sess)
		switch {
		case winners[0] == "cancel" && sess.Call != nil:
			t.Fatalf("cancelled, yet the call is %+v", sess.Call)
		case winners[0] != "cancel" && (sess.Call == nil || sess.Call.State != hub.CallAccepted):
			t.Fatalf("%s won, yet the call is %+v", winners[0], sess.Call)
		}
		if winners[0] != "cancel" {
			if _, err := inviter.CallStep(ctx, protocol.CmdCallHangup, e.sid, callID); err != nil {
				t.Fatal(err)
			}
		}
		for _, c := range []*client.Client{e.customer, e.agent, e.tab} {
			end := nextCall(t, c, hub.EventCallEnded)
			if end.CallID != callID {
				t.Fatalf("ended %s, want %s", end.CallID, callID)
			}
		}
	}
	wantStats(t, "customer", e.customer)
	wantStats(t, "agent", e.agent)
}

// TestCallAnsweredElsewhere: an agent's two tabs ring; the first to accept
// takes the call, the other is told it was answered elsewhere and gets no
// signal of it.
func TestCallAnsweredElsewhere(t *testing.T) {
	e := newCallEnv(t)
	ctx := ctx10(t)
	inv, err := e.customer.CallInvite(ctx, e.sid, hub.CallVideo)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []*client.Client{e.agent, e.tab} {
		nextCall(t, c, hub.EventCallRinging)
	}
	if _, err := e.tab.CallStep(ctx, protocol.CmdCallAccept, e.sid, inv.CallID); err != nil {
		t.Fatal(err)
	}
	_, err = e.agent.CallStep(ctx, protocol.CmdCallAccept, e.sid, inv.CallID)
	wantRefusal(t, "the late tab's accept", err, hub.ECONFLICT, hub.ErrCallAnswered.Message)
	if s := nextCall(t, e.agent, hub.EventCallStarted); s.Device != e.tab.Device() || s.Device == e.agent.Device() {
		t.Fatalf("call.started names device %q; the winner is %q", s.Device, e.tab.Device())
	}
	// Signals go to the tab that answered; the other tab may not signal.
	if _, err := e.customer.CallSignal(ctx, e.sid, inv.CallID, json.RawMessage(`{"type":"offer","sdp":"v=0"}`), nil); err != nil {
		t.Fatal(err)
	}
	if s := nextCall(t, e.tab, hub.EventCallSignal); s.To != e.tab.Device() {
		t.Fatalf("relayed to %q", s.To)
	}
	_, err = e.agent.CallSignal(ctx, e.sid, inv.CallID, json.RawMessage(`{"type":"answer","sdp":"v=0"}`), nil)
	wantRefusal(t, "a signal from the tab that did not answer", err, hub.ECONFLICT, "")
	_, err = e.agent.CallStep(ctx, protocol.CmdCallHangup, e.sid, inv.CallID)
	wantRefusal(t, "a hangup from the tab that did not answer", err, hub.ECONFLICT, "")
	if _, err := e.tab.CallStep(ctx, protocol.CmdCallHangup, e.sid, inv.CallID); err != nil {
		t.Fatal(err)
	}
	if end := nextCall(t, e.agent, hub.EventCallEnded); end.Reason != hub.CallEndHangup || end.EndedBy.Role != "agent" {
		t.Fatalf("%+v", end)
	}
	// The tab that lost never saw a signal: what it gets after call.ended
	// is the next message.
	if _, err := e.customer.Send(ctx, e.sid, "after the call"); err != nil {
		t.Fatal(err)
	}
	if f := next(t, e.agent, func(f client.Frame) bool { return f.Type == hub.EventCallSignal || f.Type == hub.EventMessage }); f.Type != hub.EventMessage {
		t.Fatalf("the other tab got %s", f.Raw)
	}
}

// TestCallAuthorization: another customer, and an agent who does not hold
// the session, cannot ring, answer, signal, rejoin or end a call in it (80
// attempts over WS), and the session does not change.
func TestCallAuthorization(t *testing.T) {
	e := newCallEnv(t)
	ctx := ctx10(t)
	inv, err := e.customer.CallInvite(ctx, e.sid, hub.CallAudio)
	if err != nil {
		t.Fatal(err)
	}
	nextCall(t, e.agent, hub.EventCallRinging)
	_, otherToken := e.rtEnv.customer(e.hubs[1], "Mallory")
	mallory := e.dial(e.hubs[1], otherToken)
	stranger := e.dial(e.hubs[0], e.quickAgent("ag2"))
	before, _ := e.sessionSeq(e.hubs[0], e.sid)
	sdp := json.RawMessage(`{"type":"offer","sdp":"v=0"}`)
	attempts := 0
	for range 5 {
		for _, c := range []*client.Client{mallory, stranger} {
			cmds := []protocol.Command{
				{Type: protocol.CmdCallInvite, SessionID: e.sid, Media: hub.CallAudio},
				{Type: protocol.CmdCallAccept, SessionID: e.sid, CallID: inv.CallID},
				{Type: protocol.CmdCallDecline, SessionID: e.sid, CallID: inv.CallID},
				{Type: protocol.CmdCallCancel, SessionID: e.sid, CallID: inv.CallID},
				{Type: protocol.CmdCallHangup, SessionID: e.sid, CallID: inv.CallID},
				{Type: protocol.CmdCallConnected, SessionID: e.sid, CallID: inv.CallID},
				{Type: protocol.CmdCallSignal, SessionID: e.sid, CallID: inv.CallID, SDP: sdp},
				{Type: protocol.CmdCallRejoin, SessionID: e.sid, CallID: inv.CallID},
			}
			for _, cmd := range cmds {
				_, err := c.Do(ctx, cmd)
				wantRefusal(t, cmd.Type, err, hub.ENOTFOUND, "session not found")
				attempts++
			}
		}
	}
	if attempts < 50 {
		t.Fatalf("%d attempts", attempts)
	}
	if after, _ := e.sessionSeq(e.hubs[0], e.sid); after != before {
		t.Fatalf("the session went from seq %d to %d", before, after)
	}
	// The call still rings for its parties.
	if _, err := e.agent.CallStep(ctx, protocol.CmdCallAccept, e.sid, inv.CallID); err != nil {
		t.Fatal(err)
	}
}

// TestCallBadFrames: malformed call commands are answered with an error
// and change nothing.
func TestCallBadFrames(t *testing.T) {
	e := newCallEnv(t)
	ctx := ctx10(t)
	inv, err := e.customer.CallInvite(ctx, e.sid, hub.CallVideo)
	if err != nil {
		t.Fatal(err)
	}
	nextCall(t, e.agent, hub.EventCallRinging)
	if _, err := e.agent.CallStep(ctx, protocol.CmdCallAccept, e.sid, inv.CallID); err != nil {
		t.Fatal(err)
	}
	nextCall(t, e.agent, hub.EventCallStarted)
	before, _ := e.sessionSeq(e.hubs[0], e.sid)
	big := json.RawMessage(`{"type":"offer","sdp":"` + strings.Repeat("a", hub.MaxSignalBytes) + `"}`)
	cases := []struct {
		name      string
		cmd       protocol.Command
		code, msg string
	}{
		{"oversized sdp", protocol.Command{Type: protocol.CmdCallSignal, SessionID: e.sid, CallID: inv.CallID, SDP: big},
			hub.EINVALID, fmt.Sprintf("sdp larger than %d bytes", hub.MaxSignalBytes)},
		{"sdp not an object", protocol.Command{Type: protocol.CmdCallSignal, SessionID: e.sid, CallID: inv.CallID, SDP: json.RawMessage(`"v=0"`)},
			hub.EINVALID, "sdp must be a JSON object"},
		{"unknown call", protocol.Command{Type: protocol.CmdCallHangup, SessionID: e.sid, CallID: "call_0123456789abcdef"},
			hub.ENOTFOUND, hub.ErrNoCall.Message},
		{"malformed call id", protocol.Command{Type: protocol.CmdCallAccept, SessionID: e.sid, CallID: "x"},
			hub.ENOTFOUND, hub.ErrNoCall.Message},
		{"second invite", protocol.Command{Type: protocol.CmdCallInvite, SessionID: e.sid, Media: hub.CallAudio},
			hub.ECONFLICT, hub.ErrCallBusy.Message},
		{"accept own call", protocol.Command{Type: protocol.CmdCallAccept, SessionID: e.sid, CallID: inv.CallID},
			hub.ECONFLICT, hub.ErrCallState.Message},
		{"decline an answered call", protocol.Command{Type: protocol.CmdCallDecline, SessionID: e.sid, CallID: inv.CallID},
			hub.ECONFLICT, hub.ErrCallState.Message},
		{"unknown media", protocol.Command{Type: protocol.CmdCallInvite, SessionID: e.sid, Media: "smell"},
			hub.EINVALID, "call.invite needs media audio or video"},
		{"no call id", protocol.Command{Type: protocol.CmdCallHangup, SessionID: e.sid},
			hub.EINVALID, "call.hangup needs call_id"},
		{"sdp and candidate", protocol.Command{Type: protocol.CmdCallSignal, SessionID: e.sid, CallID: inv.CallID,
			SDP: json.RawMessage(`{}`), Candidate: json.RawMessage(`{}`)}, hub.EINVALID, "call.signal needs exactly one of sdp and candidate"},
	}
	for _, c := range cases {
		_, err := e.customer.Do(ctx, c.cmd)
		wantRefusal(t, c.name, err, c.code, c.msg)
	}
	if after, _ := e.sessionSeq(e.hubs[0], e.sid); after != before {
		t.Fatalf("the session went from seq %d to %d", before, after)
	}
	// The call goes on: a valid signal still passes.
	if _, err := e.customer.CallSignal(ctx, e.sid, inv.CallID, json.RawMessage(`{"type":"offer","sdp":"v=0"}`), nil); err != nil {
		t.Fatal(err)
	}
	nextCall(t, e.agent, hub.EventCallSignal)
}

// TestCallEndsWithTheSession: closing the session through the Customer
// Service API during a call ends the call for both parties first
// (session_closed); a transfer ends it too (transferred).
func TestCallEndsWithTheSession(t *testing.T) {
	e := newCallEnv(t)
	ctx := ctx10(t)
	inv, err := e.customer.CallInvite(ctx, e.sid, hub.CallVideo)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.agent.CallStep(ctx, protocol.CmdCallAccept, e.sid, inv.CallID); err != nil {
		t.Fatal(err)
	}
	ag2 := e.dial(e.hubs[0], e.quickAgent("ag2")) // online: a transfer goes to an agent who is
	if st := httpJSON(t, "POST", e.hubs[0].http.URL+"/api/v1/sessions/"+e.sid+"/transfer", rtAdminKey, `{"agent_id":"ag2"}`, nil); st != 200 {
		t.Fatalf("transfer: %d", st)
	}
	if end := nextCall(t, e.customer, hub.EventCallEnded); end.Reason != hub.CallEndTransferred || end.CallID != inv.CallID {
		t.Fatalf("%+v", end)
	}
	next(t, ag2, func(f client.Frame) bool { return f.Type == hub.EventMemberJoined && f.SessionID == e.sid })
	inv, err = ag2.CallInvite(ctx, e.sid, hub.CallAudio)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.customer.CallStep(ctx, protocol.CmdCallAccept, e.sid, inv.CallID); err != nil {
		t.Fatal(err)
	}
	if st := httpJSON(t, "DELETE", e.hubs[1].http.URL+"/customer-service/sessions/"+e.sid, rtAdminKey, "", nil); st != 200 {
		t.Fatalf("delete: %d", st)
	}
	for _, c := range []*client.Client{e.customer, ag2} {
		f := next(t, c, func(f client.Frame) bool { // ag2 caught up on the call before it too
			return f.Type == hub.EventCallEnded && strings.Contains(string(f.Raw), inv.CallID) || f.Type == hub.EventSessionEnded
		})
		if end := decodeCall(t, f); f.Type != hub.EventCallEnded || end.Reason != hub.CallEndSessionClosed || end.CallID != inv.CallID {
			t.Fatalf("first of the end: %s", f.Raw)
		}
		next(t, c, ofType(hub.EventSessionEnded))
	}
}

// endOf returns the call.ended of callID that c receives (earlier calls'
// ends are passed over).
func endOf(t *testing.T, c *client.Client, callID string) callFrame {
	t.Helper()
	for {
		if end := nextCall(t, c, hub.EventCallEnded); end.CallID == callID {
			return end
		}
	}
}

// tickAt runs the desk's periodic look as if it were at: what falls due
// by then (a ring timeout, a leg's grace) happens.
func (e *callEnv) tickAt(t *testing.T, at time.Time) {
	t.Helper()
	if _, err := e.hubs[0].store.Tick(context.Background(), 100, at, hub.DeskPolicy{}); err != nil {
		t.Fatal(err)
	}
}

// callField reads a field of the session's call in the store.
func (e *callEnv) callField(t *testing.T, field string) string {
	t.Helper()
	rdb := e.r.NewClient()
	defer rdb.Close()
	v, _ := rdb.HGet(context.Background(), e.r.Prefix+":session:"+e.sid, field).Result()
	return v
}

// TestCallTimeouts: a call nobody answers ends at the ring timeout
// (no_answer); a call whose leg's socket closes ends after the grace
// (network_lost) unless the device rejoins on a new socket first; a call
// whose agent goes offline ends (agent_offline).
func TestCallTimeouts(t *testing.T) {
	e := newCallEnv(t)
	ctx := ctx10(t)
	ring := hub.DeskPolicy{}.RingTimeout
	if ring == 0 {
		ring = 45 * time.Second // the default (DeskPolicy)
	}
	inv, err := e.agent.CallInvite(ctx, e.sid, hub.CallAudio)
	if err != nil {
		t.Fatal(err)
	}
	e.tickAt(t, time.Now().Add(ring/2))
	if e.callField(t, "call_id") != inv.CallID {
		t.Fatal("the call ended before its ring timeout")
	}
	e.tickAt(t, time.Now().Add(ring+time.Second))
	if end := nextCall(t, e.customer, hub.EventCallEnded); end.Reason != hub.CallEndNoAnswer || end.EndedBy != nil {
		t.Fatalf("%+v", end)
	}

	// The customer's socket drops mid-call, and the device comes back.
	inv, err = e.agent.CallInvite(ctx, e.sid, hub.CallAudio)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.customer.CallStep(ctx, protocol.CmdCallAccept, e.sid, inv.CallID); err != nil {
		t.Fatal(err)
	}
	device := e.customer.Device()
	e.customer.Drop()
	waitFor(t, 10*time.Second, "the leg to be lost", func() bool { return e.callField(t, "call_lost") == "c" })
	if err := e.customer.Reconnect(ctx); err != nil {
		t.Fatal(err)
	}
	if e.customer.Device() != device {
		t.Fatalf("reconnected as device %q, was %q", e.customer.Device(), device)
	}
	if r, err := e.customer.CallStep(ctx, protocol.CmdCallRejoin, e.sid, inv.CallID); err != nil || r.CallState != hub.CallAccepted {
		t.Fatalf("rejoin: %+v %v", r, err)
	}
	// Past the grace (20 s), within the agent's presence TTL (60 s).
	e.tickAt(t, time.Now().Add(30*time.Second))
	if e.callField(t, "call_id") != inv.CallID || e.callField(t, "call_lost") != "" {
		t.Fatal("the call ended although its leg came back")
	}
	// It drops again and does not come back.
	e.customer.Drop()
	waitFor(t, 10*time.Second, "the leg to be lost", func() bool { return e.callField(t, "call_lost") == "c" })
	e.tickAt(t, time.Now().Add(time.Second)) // within the grace
	if e.callField(t, "call_id") != inv.CallID {
		t.Fatal("the call ended within the grace")
	}
	e.tickAt(t, time.Now().Add(30*time.Second))
	if end := endOf(t, e.agent, inv.CallID); end.Reason != hub.CallEndNetworkLost {
		t.Fatalf("%+v", end)
	}

	// The agent goes offline during a call (no grace here): it ends.
	if err := e.customer.Reconnect(ctx); err != nil {
		t.Fatal(err)
	}
	inv, err = e.customer.CallInvite(ctx, e.sid, hub.CallAudio)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.agent.CallStep(ctx, protocol.CmdCallAccept, e.sid, inv.CallID); err != nil {
		t.Fatal(err)
	}
	e.tab.Close()
	e.agent.Close()
	if end := endOf(t, e.customer, inv.CallID); end.Reason != hub.CallEndAgentOffline {
		t.Fatalf("%+v", end)
	}
}
