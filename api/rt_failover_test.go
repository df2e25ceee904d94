package api_test

import (
	"context"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/api/client"
)

// TestClientFailsOverToAnotherInstance: a client with AutoReconnect and a
// second instance's URL, whose instance stops, reconnects to the other one
// by itself and resumes: the events sent meanwhile arrive once, in order.
func TestClientFailsOverToAnotherInstance(t *testing.T) {
	e := newRTEnv(t, 2, rtOptions{ws: fastWS})
	a, b := e.hubs[0], e.hubs[1]
	agentTok := e.quickAgent("fo1")
	sid, custTok := e.customer(a, "Ann")
	agent := e.dial(b, agentTok)
	go func() {
		for range agent.Events() {
		}
	}()
	e.assign(b, sid, "fo1")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cust, err := client.Dial(ctx, client.Config{URL: a.WSURL(), FallbackURLs: []string{b.WSURL()}, Token: custTok, AutoReconnect: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cust.CloseNow() })
	rec := record(t, cust)
	first, err := agent.Send(ctx, sid, "before")
	if err != nil {
		t.Fatal(err)
	}
	rec.waitSeq(t, 10*time.Second, sid, first.Seq)

	a.stop() // the instance goes away; its sockets close with 4000
	var last int64
	for i := range 5 {
		r, err := agent.Send(ctx, sid, "while failing over "+string(rune('a'+i)))
		if err != nil {
			t.Fatal(err)
		}
		last = r.Seq
	}
	rec.waitSeq(t, 10*time.Second, sid, last)
	frames, _ := rec.snapshot()
	wantContiguous(t, "customer", frames, sid, 1, last)
	if cust.URL() != b.WSURL() {
		t.Fatalf("client on %s, want %s", cust.URL(), b.WSURL())
	}
	if st := cust.Stats(); st.Reconnects < 1 || st.Duplicates != 0 || st.Gaps != 0 {
		t.Fatalf("client stats %+v", st)
	}
	// A send from the failed-over client works too.
	if _, err := cust.Send(ctx, sid, "after"); err != nil {
		t.Fatal(err)
	}
}
