package api_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/api/client"
	"github.com/switchboardhq/switchboard/api/protocol"
	"github.com/switchboardhq/switchboard/hub"
)

// TestOfflineMessages: the widget learns whether a chat can be answered
// (closed outside business hours, no_agents when no agent is Available);
// an offline message needs an e-mail and the message, waits in the
// offline list (never routed), and an agent on another instance picks it.
func TestOfflineMessages(t *testing.T) {
	// Monday 09:00-10:00 UTC; the clock starts on a Sunday.
	hours, err := hub.ParseHours("mon 09:00-10:00", time.UTC)
	if err != nil {
		t.Fatal(err)
	}
	clock := &fakeClock{now: time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)}
	e := newRTEnv(t, 2, rtOptions{clock: clock.Now, hours: hours, desk: &hub.DeskPolicy{Statuses: []string{"lunch"}}})
	a, b := e.hubs[0], e.hubs[1]

	type avail struct {
		Online  bool
		Reason  string
		OpensAt *string `json:"opens_at"`
	}
	availability := func() avail {
		var out avail
		if st := httpJSON(t, "GET", a.http.URL+"/api/v1/widget/availability", "", "", &out); st != 200 {
			t.Fatalf("availability: %d", st)
		}
		return out
	}
	if got := availability(); got.Online || got.Reason != "closed" || got.OpensAt == nil || *got.OpensAt != "2026-12-07T09:00:00.000Z" {
		t.Fatalf("on Sunday: %+v", got)
	}
	clock.Advance(21*time.Hour + 30*time.Minute) // Monday 09:30
	if got := availability(); got.Online || got.Reason != "no_agents" {
		t.Fatalf("open, nobody Available: %+v", got)
	}
	e.quickAgent("ag1")
	// Signed for the hub's clock, which runs ahead of the real one here.
	agentToken := e.tokens.Sign(hub.Claims{Role: hub.PrincipalAgent, Subject: "ag1", Name: "Agent ag1", Expires: clock.Now().Add(time.Hour).Unix()})
	agent := e.dial(b, agentToken)
	if got := availability(); !got.Online {
		t.Fatalf("with an Available agent: %+v", got)
	}
	// On lunch, the agent answers nobody new: the offline form again.
	setStatus := func(status string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := agent.Do(ctx, protocol.Command{Type: protocol.CmdStatus, Status: status}); err != nil {
			t.Fatal(err)
		}
	}
	setStatus("lunch")
	if got := availability(); got.Online || got.Reason != "no_agents" {
		t.Fatalf("the only agent on lunch: %+v", got)
	}
	setStatus("Available")
	if got := availability(); !got.Online {
		t.Fatalf("back from lunch: %+v", got)
	}

	// The offline form: an e-mail and the message are required.
	for _, body := range []string{
		`{"name":"Maria","offline":true,"description":"Please call me back"}`,
		`{"name":"Maria","offline":true,"email":"maria@example.com"}`,
		`{"name":"Maria","offline":"yes","email":"maria@example.com","description":"x"}`,
	} {
		if st := httpJSON(t, "POST", a.http.URL+"/api/v1/widget/sessions", "", body, nil); st != http.StatusBadRequest {
			t.Fatalf("%s: %d", body, st)
		}
	}
	var created struct {
		Session struct {
			ID, State string
			Offline   bool
		}
		Token string
	}
	if st := httpJSON(t, "POST", a.http.URL+"/api/v1/widget/sessions", "",
		`{"name":"Maria","email":"maria@example.com","offline":true,"description":"My parcel 1042 never came"}`, &created); st != http.StatusCreated {
		t.Fatalf("offline message: %d", st)
	}
	sid := created.Session.ID
	if !created.Session.Offline || created.Session.State != string(hub.StateQueuing) {
		t.Fatalf("offline session %+v", created.Session)
	}
	// Never routed, though an agent is Available; not in the queue.
	tick, err := a.store.Tick(context.Background(), 100, clock.Now(), hub.DeskPolicy{})
	if err != nil || tick.Routed != 0 || tick.Queued != 0 {
		t.Fatalf("routing touched it: %+v %v", tick, err)
	}
	var list struct {
		Sessions []struct {
			ID          string
			Offline     bool
			Description string
		}
		Total int
	}
	if st := httpJSON(t, "GET", b.http.URL+"/api/v1/offline-messages", agentToken, "", &list); st != 200 || list.Total != 1 ||
		list.Sessions[0].ID != sid || list.Sessions[0].Description != "My parcel 1042 never came" {
		t.Fatalf("offline list: %d %+v", st, list)
	}
	if st := httpJSON(t, "GET", b.http.URL+"/api/v1/offline-messages", created.Token, "", nil); st != http.StatusForbidden {
		t.Fatalf("a customer read the offline list: %d", st)
	}

	// The customer is still on the page: it sees the agent come.
	customer := e.dial(a, created.Token)
	var picked struct{ State string }
	if st := httpJSON(t, "POST", b.http.URL+"/api/v1/sessions/"+sid+"/pick", agentToken, "", &picked); st != 200 || picked.State != string(hub.StateAgent) {
		t.Fatalf("pick: %d %+v", st, picked)
	}
	next(t, customer, func(f client.Frame) bool { return f.Type == hub.EventMemberJoined })
	next(t, agent, func(f client.Frame) bool { return f.Type == hub.EventMemberJoined && f.SessionID == sid })
	if st := httpJSON(t, "GET", b.http.URL+"/api/v1/offline-messages", agentToken, "", &list); st != 200 || list.Total != 0 {
		t.Fatalf("offline list after the pick: %d %+v", st, list)
	}
}
