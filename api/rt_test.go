package api_test

import (
	"context"
	"fmt"
	"testing"
	"time"

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
