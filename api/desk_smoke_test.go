package api_test

import (
	"context"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/api/client"
	"github.com/switchboardhq/switchboard/api/protocol"
	"github.com/switchboardhq/switchboard/hub"
)

func TestDeskOfferAcceptSmoke(t *testing.T) {
	e := newRTEnv(t, 2, rtOptions{desk: &hub.DeskPolicy{OfferTimeout: 30 * time.Second, Grace: time.Minute, Statuses: []string{"lunch"}}})
	tok := e.quickAgent("a1")
	ag := e.dial(e.hubs[0], tok)
	next(t, ag, func(f client.Frame) bool { return f.Type == "agent.status" })
	sid, ctok := e.customer(e.hubs[1], "Cust")
	cu := e.dial(e.hubs[1], ctok)
	f := next(t, ag, func(f client.Frame) bool { return f.Type == "session.state" && f.SessionID == sid })
	t.Logf("agent got %s", f.Raw)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	rep, err := ag.Do(ctx, protocol.Command{Type: protocol.CmdAccept, SessionID: sid})
	if err != nil || rep.Error != nil || rep.State != "Agent" {
		t.Fatalf("accept: %+v %v", rep, err)
	}
	g := next(t, cu, func(f client.Frame) bool { return f.Type == "member.joined" })
	t.Logf("customer got %s", g.Raw)
	st := next(t, ag, func(f client.Frame) bool { return f.Type == "agent.status" })
	t.Logf("status %s", st.Raw)
}
