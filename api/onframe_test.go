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
