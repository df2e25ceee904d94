package api_test

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/api/protocol"
	"github.com/switchboardhq/switchboard/hub"
)

// Regression tests of defects the real-time tests found in non-test code
// (each failed before its fix).

// TestHelloIsTheFirstFrame: hello must be the first frame of a connection
// (api/client's Dial fails on anything else). An agent's hello used to be
// queued after the agent topic item while the reader still did work (the
// auth resume's look-ups), so the writer could follow the agent's sessions
// and write their events before hello.
func TestHelloIsTheFirstFrame(t *testing.T) {
	e := newRTEnv(t, 1, rtOptions{})
	a := e.hubs[0]
	agentTok := e.quickAgent("ag1")
	sid, _ := e.customer(a, "Ann")
	tab1 := e.dial(a, agentTok) // keeps the agent topic and the session topic live on a
	e.assign(a, sid, "ag1")
	next(t, tab1, ofType(hub.EventMemberJoined))
	// Sessions the agent may not read, in the auth frame's resume: one
	// Redis look-up each between queueing the agent item and hello.
	resume := map[string]int64{}
	for len(resume) < 500 {
		resume[hub.NewSessionID()] = 0
	}
	for i := range 5 {
		c := rawDial(t, a)
		c.send(protocol.Command{Type: protocol.CmdAuth, ID: "auth", Token: agentTok, Resume: resume})
		if f := c.read(); f.Type != protocol.FrameHello {
			t.Fatalf("attempt %d: first frame %s, want hello", i, f.Raw)
		}
		c.ws.CloseNow()
	}
}

// TestNoSpuriousResync: a connection that is up to date and catches up
// (here on each resume command; also on every (re)subscription) while
// messages are appended must never be told to resync: the stream holds
// every event (no trimming at this size). redisstore's Store.Events used to
// read XRANGE, then, finding nothing, HGET seq in a second round trip: an
// event appended in between made it answer ErrHistoryGone.
func TestNoSpuriousResync(t *testing.T) {
	e := newRTEnv(t, 1, rtOptions{ws: fastWS})
	a := e.hubs[0]
	agentTok := e.quickAgent("ag1")
	sid, custTok := e.customer(a, "Ann")
	agent := e.dial(a, agentTok)
	rec := record(t, agent)
	e.assign(a, sid, "ag1")
	rec.waitSeq(t, 10*time.Second, sid, 3)
	raw, _ := rawAuth(t, a, custTok, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s := stream(ctx, agent, sid, "m")
	defer s.finish(t)
	for i := range 500 {
		// A resume from beyond the connection's last seq only catches up.
		raw.send(protocol.Command{Type: protocol.CmdResume, ID: "r", Resume: map[string]int64{sid: 1 << 40}})
		for {
			f := raw.read()
			if f.Type == protocol.FrameResync {
				t.Fatalf("resume %d: %s although the stream holds every event", i, f.Raw)
			}
			if f.Type == protocol.FrameReply {
				break
			}
		}
	}
}

// TestDisableRightAfterConnect: an agent disabled just after its tab
// connected, while the instance's subscription to the agent's topic is
// still under way, must lose its socket too. The agent.disabled notice goes
// out before the instance listens, so the catch-up that follows the
// subscription (refreshAgentSessions) must look at the account; it used
// not to, and the socket stayed open. The subscription is held back here to
// make the race deterministic; without the gate it happened about once in
// 20 connections.
func TestDisableRightAfterConnect(t *testing.T) {
	release := make(chan struct{})
	var once sync.Once
	open := func() { once.Do(func() { close(release) }) }
	var held atomic.Bool
	e := newRTEnv(t, 1, rtOptions{subscribeGate: func(topics []string) {
		for _, topic := range topics {
			if strings.HasPrefix(topic, "agent:") {
				held.Store(true)
				<-release
				return
			}
		}
	}})
	t.Cleanup(open) // before the instances stop (cleanups run last first)
	a := e.hubs[0]
	tok := e.quickAgent("ag1")
	tab := e.dial(a, tok)
	waitFor(t, 5*time.Second, "the agent topic's subscription", held.Load)
	if st := httpJSON(t, "PATCH", a.http.URL+"/api/v1/agents/ag1", rtAdminKey, `{"disabled":true}`, nil); st != 200 {
		t.Fatalf("disable: %d", st)
	}
	open() // the subscription completes
	if code := waitDone(t, tab, 2*time.Second); code != protocol.CloseAgentDisabled {
		t.Fatalf("tab closed with %d, want %d", code, protocol.CloseAgentDisabled)
	}
}

// TestCloseReplyReachesTheCustomer: a customer's close command succeeds,
// and every command gets a reply; but the session.ended event usually
// reaches the connection's writer before the reply, writeEvent closes the
// socket with 4501 at once, and handle() drops every item queued after
// that, the reply included: the client cannot tell that its close worked
// (api/client's CloseSession returns ErrClosed).
func TestCloseReplyReachesTheCustomer(t *testing.T) {
	e := newRTEnv(t, 1, rtOptions{})
	a := e.hubs[0]
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for i := range 5 {
		sid, tok := e.customer(a, "Ann")
		c := e.dial(a, tok)
		r, err := c.Do(ctx, protocol.Command{Type: protocol.CmdClose, SessionID: sid})
		if err != nil || !r.OK {
			t.Fatalf("close %d: %+v %v, want ok", i, r, err)
		}
		if code := waitDone(t, c, 5*time.Second); code != protocol.CloseSessionEnded {
			t.Fatalf("close %d: socket closed with %d", i, code)
		}
	}
}
