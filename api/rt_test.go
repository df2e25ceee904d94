package api_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/api/client"
	"github.com/switchboardhq/switchboard/hub"
)

// TestChatAcrossInstances: a customer on instance A and an agent on B
// exchange messages; each side sees every message of both, in order.
func TestChatAcrossInstances(t *testing.T) {
	e := newRTEnv(t, 2, rtOptions{})
	a, b := e.hubs[0], e.hubs[1]
	agentTok := e.agent(b, "ag1")
	sid, custTok := e.customer(a, "Ann")
	cust := e.dial(a, custTok)
	if h := cust.Hello(); len(h.Sessions) != 1 || h.Sessions[0] != sid {
		t.Fatalf("customer hello %+v", h)
	}
	next(t, cust, ofType(hub.EventSessionCreated))
	agent := e.dial(b, agentTok)
	e.assign(a, sid, "ag1")
	next(t, agent, ofType(hub.EventMemberJoined))
	next(t, cust, ofType(hub.EventMemberJoined))

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const n = 50
	for i := range n {
		if _, err := cust.Send(ctx, sid, fmt.Sprint("c", i)); err != nil {
			t.Fatal(err)
		}
		if _, err := agent.Send(ctx, sid, fmt.Sprint("a", i)); err != nil {
			t.Fatal(err)
		}
	}
	for who, c := range map[string]*clientT{"customer": {cust}, "agent": {agent}} {
		seen := 0
		for seen < 2*n {
			f := next(t, c.Client, ofType(hub.EventMessage))
			text, _, _ := f.Message()
			want := fmt.Sprint("c", seen/2)
			if seen%2 == 1 {
				want = fmt.Sprint("a", seen/2)
			}
			if text != want {
				t.Fatalf("%s: message %d is %q, want %q", who, seen, text, want)
			}
			seen++
		}
		if st := c.Stats(); st.Gaps != 0 || st.Duplicates != 0 {
			t.Fatalf("%s stats %+v", who, st)
		}
	}
}

// TestOnFrame: a client with OnFrame (the load tool's) hands every frame
// whole to OnFrame on its reader goroutine, long and short ones in turn,
// and each Send still gets its own reply: the seq of the message OnFrame
// saw.
func TestOnFrame(t *testing.T) {
	e := newRTEnv(t, 1, rtOptions{})
	in := e.hubs[0]
	agentTok := e.agent(in, "ag1")
	sid, custTok := e.customer(in, "Ann")
	agent := e.dial(in, agentTok)
	e.assign(in, sid, "ag1")
	next(t, agent, ofType(hub.EventMemberJoined))

	type got struct {
		text string
		seq  int64
	}
	frames := make(chan got, 1024)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cust, err := client.Dial(ctx, client.Config{URL: in.WSURL(), Token: custTok, OnFrame: func(f client.Frame) {
		if f.Type == hub.EventMessage {
			text, _, _ := f.Message()
			frames <- got{text, f.Seq}
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer cust.CloseNow()

	text := func(i int) string { // a long frame, then a short one, in turn
		if i%2 == 0 {
			return fmt.Sprintf("long %d %s", i, strings.Repeat("x", 1500))
		}
		return fmt.Sprint("s", i)
	}
	const n = 40
	for i := range n {
		c := cust
		if i%3 == 2 {
			c = agent
		}
		r, err := c.Send(ctx, sid, text(i))
		if err != nil {
			t.Fatal(err)
		}
		select {
		case g := <-frames:
			if g.text != text(i) || g.seq != r.Seq {
				t.Fatalf("message %d: OnFrame saw %.20q seq %d; sent %.20q, reply seq %d", i, g.text, g.seq, text(i), r.Seq)
			}
		case <-ctx.Done():
			t.Fatalf("message %d never reached OnFrame", i)
		}
	}
}
