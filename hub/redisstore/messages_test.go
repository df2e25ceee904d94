package redisstore_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/hub"
	"github.com/switchboardhq/switchboard/hub/redisstore"
	"github.com/switchboardhq/switchboard/hub/redisstore/redistest"
)

// chatFixture is one session with its customer and an assigned agent.
func chatFixture(t *testing.T) (*fixture, *hub.Session, hub.Principal, hub.Principal) {
	t.Helper()
	f := newFixture(t, hub.Policy{})
	s := f.create(t, "chat")
	agent := hub.Principal{Kind: hub.PrincipalAgent, ID: "ag", Name: "Ag", Role: hub.RoleAgent}
	if _, err := f.svc.AssignSession(context.Background(), s.ID, hub.Assignment{AgentID: "ag", AgentName: "Ag"}); err != nil {
		t.Fatal(err)
	}
	cust := hub.Principal{Kind: hub.PrincipalCustomer, ID: s.CustomerID, Name: "John", SessionID: s.ID}
	return f, s, cust, agent
}

func TestSendIsIdempotentAndAuthorized(t *testing.T) {
	f, s, cust, agent := chatFixture(t)
	ctx := context.Background()
	seq, dup, err := f.svc.SendMessage(ctx, cust, s.ID, "m-1", "hello")
	if err != nil || dup || seq != 4 { // created, state, member.joined, then this
		t.Fatalf("first send: seq %d dup %v err %v", seq, dup, err)
	}
	seq2, dup, err := f.svc.SendMessage(ctx, cust, s.ID, "m-1", "hello again")
	if err != nil || !dup || seq2 != seq {
		t.Fatalf("retry: seq %d dup %v err %v", seq2, dup, err)
	}
	if got, _ := f.svc.Session(ctx, s.ID); got.Seq != 4 {
		t.Fatalf("a retry appended an event: seq %d", got.Seq)
	}
	if _, _, err := f.svc.SendMessage(ctx, agent, s.ID, "m-2", "hi"); err != nil {
		t.Fatal(err)
	}
	others := []hub.Principal{
		{Kind: hub.PrincipalCustomer, ID: "cust_other"},
		{Kind: hub.PrincipalAgent, ID: "someone_else", Role: hub.RoleAgent},
	}
	// Strangers are told the session does not exist: ids cannot be probed.
	for _, p := range others {
		if _, _, err := f.svc.SendMessage(ctx, p, s.ID, "m-3", "x"); !errors.Is(err, hub.ErrSessionNotFound) {
			t.Errorf("%+v sent: %v", p, err)
		}
		if err := f.svc.Typing(ctx, p, s.ID, true); !errors.Is(err, hub.ErrSessionNotFound) {
			t.Errorf("%+v typed: %v", p, err)
		}
		if _, err := f.svc.CloseSessionAs(ctx, p, s.ID); !errors.Is(err, hub.ErrSessionNotFound) {
			t.Errorf("%+v closed: %v", p, err)
		}
	}
	// client_msg_id is per sender: the agent reusing the customer's id
	// sends a message of its own.
	if aseq, dup, err := f.svc.SendMessage(ctx, agent, s.ID, "m-1", "same id, other sender"); err != nil || dup || aseq == seq {
		t.Fatalf("agent reusing the customer's client_msg_id: seq %d dup %v err %v", aseq, dup, err)
	}
	sup := hub.Principal{Kind: hub.PrincipalAgent, ID: "boss", Role: hub.RoleSupervisor}
	if _, _, err := f.svc.SendMessage(ctx, sup, s.ID, "m-4", "supervisor here"); err != nil {
		t.Errorf("supervisor: %v", err)
	}
	// After the end a retry still answers the first result; a new message is refused.
	if _, err := f.svc.CloseSessionAs(ctx, cust, s.ID); err != nil {
		t.Fatal(err)
	}
	// member.left, emitted by the close, names the agent who left.
	evs, err := f.store.Events(ctx, s.ID, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	var left hub.Event
	json.Unmarshal(evs[len(evs)-2], &left)
	if left.Type != hub.EventMemberLeft || left.From == nil || left.From.ID != "ag" || left.From.Name != "Ag" || left.From.Role != "agent" {
		t.Fatalf("member.left: %s", evs[len(evs)-2])
	}
	if again, dup, err := f.svc.SendMessage(ctx, cust, s.ID, "m-1", "late retry"); err != nil || !dup || again != seq {
		t.Fatalf("retry after end: %d %v %v", again, dup, err)
	}
	if _, _, err := f.svc.SendMessage(ctx, cust, s.ID, "m-9", "new"); !errors.Is(err, hub.ErrSessionEnded) {
		t.Fatalf("send after end: %v", err)
	}
	for _, bad := range []struct{ id, text string }{{"", "x"}, {"has space", "x"}, {"ok", ""}, {"ok", "   "}} {
		if _, _, err := f.svc.SendMessage(ctx, cust, s.ID, bad.id, bad.text); hub.ErrorCode(err) != hub.EINVALID {
			t.Errorf("send %+v: %v", bad, err)
		}
	}
}

func TestReadMarkerMovesForwardOnly(t *testing.T) {
	f, s, cust, agent := chatFixture(t)
	ctx := context.Background()
	seq, _, _ := f.svc.SendMessage(ctx, agent, s.ID, "a-1", "hi")
	marker, moved, err := f.svc.MarkRead(ctx, cust, s.ID, seq)
	if err != nil || !moved || marker != seq {
		t.Fatalf("mark: %d %v %v", marker, moved, err)
	}
	before, _ := f.svc.Session(ctx, s.ID)
	marker, moved, err = f.svc.MarkRead(ctx, cust, s.ID, seq-1)
	if err != nil || moved || marker != seq {
		t.Fatalf("mark back: %d %v %v", marker, moved, err)
	}
	if after, _ := f.svc.Session(ctx, s.ID); after.Seq != before.Seq {
		t.Fatal("an unchanged marker emitted an event")
	}
	if _, _, err := f.svc.MarkRead(ctx, cust, s.ID, before.Seq+5); hub.ErrorCode(err) != hub.EINVALID {
		t.Fatalf("mark beyond the end: %v", err)
	}
}

// TestDeliveredMarker: a delivered marker moves forward with its own event,
// a read marker carries it along without one, and a delivered marker at or
// below the read one changes nothing.
func TestDeliveredMarker(t *testing.T) {
	f, s, cust, agent := chatFixture(t)
	ctx := context.Background()
	first, _, _ := f.svc.SendMessage(ctx, agent, s.ID, "a-1", "one")
	second, _, _ := f.svc.SendMessage(ctx, agent, s.ID, "a-2", "two")
	marker, moved, err := f.svc.MarkDelivered(ctx, cust, s.ID, first)
	if err != nil || !moved || marker != first {
		t.Fatalf("delivered: %d %v %v", marker, moved, err)
	}
	evs, err := f.svc.Events(ctx, cust, s.ID, second, 10)
	if err != nil || len(evs) != 1 || !strings.Contains(string(evs[0]), `"type":"delivered"`) ||
		!strings.Contains(string(evs[0]), fmt.Sprintf(`"up_to":%d`, first)) {
		t.Fatalf("delivered event: %q %v", evs, err)
	}
	if _, moved, _ := f.svc.MarkRead(ctx, cust, s.ID, second); !moved {
		t.Fatal("read did not move")
	}
	before, _ := f.svc.Session(ctx, s.ID)
	marker, moved, err = f.svc.MarkDelivered(ctx, cust, s.ID, second)
	if err != nil || moved || marker != second {
		t.Fatalf("delivered at the read marker: %d %v %v", marker, moved, err)
	}
	if after, _ := f.svc.Session(ctx, s.ID); after.Seq != before.Seq {
		t.Fatal("a delivered marker below the read one emitted an event")
	}
	// The agent's own markers are its own.
	if _, moved, err := f.svc.MarkDelivered(ctx, agent, s.ID, second); err != nil || !moved {
		t.Fatalf("agent delivered: %v %v", moved, err)
	}
}

// TestEventsAndTrimmedHistory: events page by seq; a stream trimmed by a
// version before whole histories (which capped streams) answers
// ErrHistoryGone for what it lost, and the recent events still.
func TestEventsAndTrimmedHistory(t *testing.T) {
	r := redistest.New(t)
	st, err := redisstore.New(r.Client, redisstore.Options{Prefix: r.Prefix})
	if err != nil {
		t.Fatal(err)
	}
	svc := hub.NewService(st, hub.Policy{AgentCapacity: 1, Retention: time.Hour}, nil)
	ctx := context.Background()
	s, err := svc.CreateSession(ctx, hub.SessionCreate{Title: "t", CustomerName: "n"})
	if err != nil {
		t.Fatal(err)
	}
	cust := hub.Principal{Kind: hub.PrincipalCustomer, ID: s.CustomerID}
	evs, err := svc.Events(ctx, cust, s.ID, 0, 100)
	if err != nil || len(evs) != 1 {
		t.Fatalf("fresh session: %d events, %v", len(evs), err)
	}
	if evs, err := svc.Events(ctx, cust, s.ID, 1, 100); err != nil || len(evs) != 0 {
		t.Fatalf("caught up: %d events, %v", len(evs), err)
	}
	for i := range 300 {
		if _, _, err := svc.SendMessage(ctx, cust, s.ID, fmt.Sprint("m", i), "x"); err != nil {
			t.Fatal(err)
		}
	}
	if evs, err := svc.Events(ctx, cust, s.ID, 0, 1000); err != nil || len(evs) != 301 {
		t.Fatalf("whole history: %d events, %v", len(evs), err)
	}
	if err := r.Client.XTrimMaxLen(ctx, r.Prefix+":session:"+s.ID+":events", 10).Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Events(ctx, cust, s.ID, 0, 100); !errors.Is(err, hub.ErrHistoryGone) {
		t.Fatalf("trimmed history: %v", err)
	}
	evs, err = svc.Events(ctx, cust, s.ID, 296, 100)
	if err != nil || len(evs) != 5 {
		t.Fatalf("recent events: %d, %v", len(evs), err)
	}
	stranger := hub.Principal{Kind: hub.PrincipalCustomer, ID: "cust_x"}
	if _, err := svc.Events(ctx, stranger, s.ID, 0, 10); !errors.Is(err, hub.ErrSessionNotFound) {
		t.Fatalf("stranger reads history: %v", err)
	}
}
