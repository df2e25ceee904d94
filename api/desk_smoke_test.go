package api_test

import (
	"context"
	"strings"
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

// TestSupervisorJoinsSilently: a supervisor lists every session, follows
// one it is not in with resume, and sees its messages, while the customer
// and the agent never see the supervisor join.
func TestSupervisorJoinsSilently(t *testing.T) {
	e := newRTEnv(t, 2, rtOptions{})
	sup := &hub.Agent{ID: "sup1", Name: "Sue", Email: "sue@example.com", Role: hub.RoleSupervisor, Capacity: 5, CreatedAt: time.Now()}
	if err := e.hubs[0].store.PutAgent(context.Background(), sup); err != nil {
		t.Fatal(err)
	}
	supTok := e.tokens.Sign(hub.Claims{Role: hub.PrincipalAgent, Subject: "sup1", Name: "Sue", Expires: time.Now().Add(time.Hour).Unix()})
	sid, ctok := e.customer(e.hubs[0], "Cust")
	e.quickAgent("ag1")
	e.assign(e.hubs[0], sid, "ag1")
	cu := e.dial(e.hubs[0], ctok)
	rec := record(t, cu)

	var list struct {
		Sessions []struct{ ID string }
		Total    int
	}
	if st := httpJSON(t, "GET", e.hubs[1].http.URL+"/api/v1/sessions", supTok, "", &list); st != 200 || list.Total != 1 || list.Sessions[0].ID != sid {
		t.Fatalf("supervisor's session list: %d %+v", st, list)
	}
	agentTok := e.quickAgent("ag2")
	if st := httpJSON(t, "GET", e.hubs[1].http.URL+"/api/v1/sessions", agentTok, "", nil); st != 403 {
		t.Fatalf("an agent's session list: %d, want 403", st)
	}

	sc := e.dial(e.hubs[1], supTok)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if rep, err := sc.Do(ctx, protocol.Command{Type: protocol.CmdResume, Resume: map[string]int64{sid: 0}}); err != nil || rep.Error != nil {
		t.Fatalf("resume: %+v %v", rep, err)
	}
	next(t, sc, func(f client.Frame) bool { return f.Type == hub.EventMemberJoined && f.SessionID == sid })
	if _, err := cu.Send(ctx, sid, "hello?"); err != nil {
		t.Fatal(err)
	}
	f := next(t, sc, ofType(hub.EventMessage))
	if text, _, _ := f.Message(); text != "hello?" {
		t.Fatalf("supervisor saw %s", f.Raw)
	}
	rec.waitUntil(t, 10*time.Second, "the customer's own message", func(fs []client.Frame) bool {
		return len(fs) > 0 && fs[len(fs)-1].Type == hub.EventMessage
	})
	for _, f := range rec.durable() {
		if f.Type == hub.EventMemberJoined && strings.Contains(string(f.Raw), `"sup1"`) {
			t.Fatalf("the customer saw the supervisor join: %s", f.Raw)
		}
	}
}

// TestSupervisorStats: queue length, longest wait and agents by status in
// the supervisors' stats.
func TestSupervisorStats(t *testing.T) {
	e := newRTEnv(t, 1, rtOptions{})
	for range 3 {
		e.customer(e.hubs[0], "Cust")
	}
	e.dial(e.hubs[0], e.quickAgent("ag1"))
	var st struct {
		Sessions struct{ Total, Waiting int }
		Queue    struct {
			Length       int
			LongestWaitS int64 `json:"longest_wait_s"`
		}
		AgentsByStatus map[string]int `json:"agents_by_status"`
	}
	waitFor(t, 10*time.Second, "the agent online in stats", func() bool {
		if code := httpJSON(t, "GET", e.hubs[0].http.URL+"/api/v1/stats", rtAdminKey, "", &st); code != 200 {
			t.Fatalf("stats: %d", code)
		}
		return st.AgentsByStatus["Available"] == 1
	})
	if st.Sessions.Total != 3 || st.Sessions.Waiting != 3 || st.Queue.Length != 3 || st.Queue.LongestWaitS < 0 {
		t.Fatalf("stats: %+v", st)
	}
}
