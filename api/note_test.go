package api_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/api/client"
	"github.com/switchboardhq/switchboard/hub"
)

// TestPrivateNotes: an agent's note reaches staff sockets with its text
// and the customer's socket only as a hidden placeholder of its seq (live
// and replayed), so the customer's seqs stay contiguous; the customer's
// event reads and history never show it; staff's history does; a customer
// cannot write one.
func TestPrivateNotes(t *testing.T) {
	e := newCallEnv(t) // a customer on A, the agent and a second tab on B
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	const secret = "customer seems upset, offer a refund"
	before, _ := e.sessionSeq(e.hubs[0], e.sid)
	r, err := e.agent.Note(ctx, e.sid, secret)
	if err != nil || r.Seq != before+1 {
		t.Fatalf("note: %+v %v", r, err)
	}
	if _, err := e.agent.Send(ctx, e.sid, "after the note"); err != nil {
		t.Fatal(err)
	}
	// Staff see it.
	f := next(t, e.tab, ofType(hub.EventNote))
	if f.Seq != r.Seq || !strings.Contains(string(f.Raw), secret) || !strings.Contains(string(f.Raw), `"type":"chat.note"`) {
		t.Fatalf("the other tab got %s", f.Raw)
	}
	// The customer gets its seq and nothing of it.
	rec := record(t, e.customer)
	rec.waitSeq(t, 10*time.Second, e.sid, r.Seq+1)
	frames, _ := rec.snapshot()
	var hidden *client.Frame
	for i, f := range frames {
		if strings.Contains(string(f.Raw), secret) || f.Type == hub.EventNote {
			t.Fatalf("the customer got the note: %s", f.Raw)
		}
		if f.Seq == r.Seq {
			hidden = &frames[i]
		}
	}
	if hidden == nil || hidden.Type != hub.EventHidden {
		t.Fatalf("the customer's frame at the note's seq: %+v", hidden)
	}
	wantStats(t, "customer", e.customer)

	// Replayed to a new socket of the customer (from seq 1): hidden again.
	custToken := e.custToken
	replay := e.dial(e.hubs[1], custToken)
	for {
		f := next(t, replay, func(f client.Frame) bool { return f.SessionID == e.sid && f.Seq > before })
		if strings.Contains(string(f.Raw), secret) {
			t.Fatalf("replayed to the customer: %s", f.Raw)
		}
		if f.Seq == r.Seq {
			if f.Type != hub.EventHidden {
				t.Fatalf("replayed as %s", f.Raw)
			}
			break
		}
	}

	// REST: the customer's event read and history leave it out; staff's history has it.
	var evs struct{ Events []map[string]any }
	httpJSON(t, "GET", e.hubs[0].http.URL+"/api/v1/sessions/"+e.sid+"/events?after="+strconv.FormatInt(before, 10), custToken, "", &evs)
	if len(evs.Events) < 2 || evs.Events[0]["type"] != hub.EventHidden || evs.Events[0]["message"] != nil {
		t.Fatalf("the customer's events: %v", evs.Events)
	}
	var hist struct{ Events []map[string]any }
	httpJSON(t, "GET", e.hubs[0].http.URL+"/api/v1/sessions/"+e.sid+"/messages?after=0", custToken, "", &hist)
	for _, ev := range hist.Events {
		if ev["type"] == hub.EventNote || ev["type"] == hub.EventHidden {
			t.Fatalf("the customer's history shows %v", ev)
		}
	}
	httpJSON(t, "GET", e.hubs[0].http.URL+"/api/v1/sessions/"+e.sid+"/messages?after=0", e.agentToken, "", &hist)
	found := false
	for _, ev := range hist.Events {
		found = found || ev["type"] == hub.EventNote
	}
	if !found {
		t.Fatal("staff's history lacks the note")
	}

	// A customer cannot write one.
	_, err = e.customer.Note(ctx, e.sid, "let me in")
	wantRefusal(t, "a customer's note", err, hub.EFORBIDDEN, "only staff write notes")
}
