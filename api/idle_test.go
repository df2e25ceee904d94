package api_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/api/client"
	"github.com/switchboardhq/switchboard/hub"
)

// TestIdleAutoClose: a customer who leaves the agent's last message
// unanswered is warned after idleWarn (session.idle, both parties) and the
// session is closed idleClose later (session.ended, reason idle); a
// customer's answer stops the clock, an agent's message starts it again.
// Two instances sweep at once at each step: one warning, one close.
func TestIdleAutoClose(t *testing.T) {
	clock := &fakeClock{now: time.Now()}
	const warn, closeAfter = 10 * time.Minute, 5 * time.Minute
	e := newRTEnv(t, 2, rtOptions{clock: clock.Now, idleWarn: warn, idleClose: closeAfter, idleSweepEvery: time.Hour})
	a, b := e.hubs[0], e.hubs[1]
	agentToken := e.quickAgent("ag1")
	sid, custToken := e.customer(a, "Maria")
	agent := e.dial(b, agentToken)
	e.assign(a, sid, "ag1")
	customer := e.dial(a, custToken)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	// sweepBoth sweeps on both instances at once and sums what they did.
	sweepBoth := func() (warned, closed int) {
		var wg sync.WaitGroup
		var mu sync.Mutex
		for _, in := range e.hubs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				w, c, err := in.sessions.SweepIdle(ctx)
				if err != nil {
					t.Error(err)
				}
				mu.Lock()
				warned, closed = warned+w, closed+c
				mu.Unlock()
			}()
		}
		wg.Wait()
		return warned, closed
	}

	if _, err := agent.Send(ctx, sid, "Could you send me your order number?"); err != nil {
		t.Fatal(err)
	}
	clock.Advance(warn - time.Second)
	if w, c := sweepBoth(); w+c != 0 {
		t.Fatalf("before the warning time: warned %d, closed %d", w, c)
	}
	// The customer answers in time: nothing happens, however long after.
	if _, err := customer.Send(ctx, sid, "It is 1042"); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Hour)
	if w, c := sweepBoth(); w+c != 0 {
		t.Fatalf("after the customer answered: warned %d, closed %d", w, c)
	}

	// The agent asks again and the customer goes quiet.
	if _, err := agent.Send(ctx, sid, "Thanks! Anything else?"); err != nil {
		t.Fatal(err)
	}
	clock.Advance(warn + time.Second)
	if w, c := sweepBoth(); w != 1 || c != 0 {
		t.Fatalf("at the warning time: warned %d, closed %d", w, c)
	}
	for _, c := range []*client.Client{customer, agent} {
		f := next(t, c, ofType(hub.EventSessionIdle))
		if f.Seq == 0 || !strings.Contains(string(f.Raw), `"closes_in_s":`) {
			t.Fatalf("session.idle: %s", f.Raw)
		}
	}
	if w, c := sweepBoth(); w+c != 0 { // again at the same time: nothing more
		t.Fatalf("a second sweep: warned %d, closed %d", w, c)
	}
	clock.Advance(closeAfter)
	if w, c := sweepBoth(); w != 0 || c != 1 {
		t.Fatalf("at the closing time: warned %d, closed %d", w, c)
	}
	for _, c := range []*client.Client{customer, agent} {
		f := next(t, c, ofType(hub.EventSessionEnded))
		if !strings.Contains(string(f.Raw), `"reason":"idle"`) || !strings.Contains(string(f.Raw), `"role":"system"`) {
			t.Fatalf("session.ended: %s", f.Raw)
		}
	}
	if _, state := e.sessionSeq(a, sid); state != string(hub.StateEnded) {
		t.Fatalf("state %s", state)
	}
	if w, c := sweepBoth(); w+c != 0 {
		t.Fatalf("after the close: warned %d, closed %d", w, c)
	}
}
