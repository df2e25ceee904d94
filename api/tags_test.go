package api_test

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/api/client"
	"github.com/switchboardhq/switchboard/hub"
)

// TestSessionTags: the session's agent tags it (normalized), a supervisor
// lists the sessions of a tag, the customer's socket gets the change only
// as a hidden seq, customers and other agents cannot tag, bad tags are
// refused and change nothing, and retention takes the session out of its
// tags' lists.
func TestSessionTags(t *testing.T) {
	clock := &fakeClock{now: time.Now()}
	e := newRTEnv(t, 2, rtOptions{clock: clock.Now, policy: hub.Policy{Retention: time.Hour}})
	a, b := e.hubs[0], e.hubs[1]
	agentToken := e.quickAgent("ag1")
	otherToken := e.quickAgent("ag2")
	sid, custToken := e.customer(a, "Maria")
	e.assign(a, sid, "ag1")
	customer := e.dial(a, custToken)
	agent := e.dial(b, agentToken)
	next(t, customer, func(f client.Frame) bool { return f.Type == hub.EventMemberJoined })

	var sess struct{ Tags []string }
	if st := httpJSON(t, "PUT", b.http.URL+"/api/v1/sessions/"+sid+"/tags", agentToken, `{"tags":["VIP"," refund","vip"]}`, &sess); st != 200 {
		t.Fatalf("tag: %d", st)
	}
	if !slices.Equal(sess.Tags, []string{"refund", "vip"}) {
		t.Fatalf("tags %v", sess.Tags)
	}
	f := next(t, agent, ofType(hub.EventSessionTags))
	if !strings.Contains(string(f.Raw), `"tags":["refund","vip"]`) {
		t.Fatalf("the agent got %s", f.Raw)
	}
	h := next(t, customer, func(f client.Frame) bool { return f.Seq > 0 && f.Type != hub.EventMemberJoined })
	if h.Type != hub.EventHidden || strings.Contains(string(h.Raw), "vip") {
		t.Fatalf("the customer got %s", h.Raw)
	}
	wantStats(t, "customer", customer)

	list := func(query string) (ids []string, status int) {
		var out struct {
			Sessions []struct{ ID string }
			Total    int
		}
		status = httpJSON(t, "GET", a.http.URL+"/api/v1/sessions?"+query, rtAdminKey, "", &out)
		for _, s := range out.Sessions {
			ids = append(ids, s.ID)
		}
		return ids, status
	}
	if ids, st := list("tag=vip"); st != 200 || !slices.Equal(ids, []string{sid}) {
		t.Fatalf("tag=vip: %d %v", st, ids)
	}
	if ids, st := list("tag=nothing"); st != 200 || len(ids) != 0 {
		t.Fatalf("tag=nothing: %d %v", st, ids)
	}
	if _, st := list("tag=vip&status=Active"); st != http.StatusBadRequest {
		t.Fatalf("tag with status: %d", st)
	}

	before, _ := e.sessionSeq(a, sid)
	refusals := []struct {
		token, body string
		status      int
	}{
		{custToken, `{"tags":["x"]}`, http.StatusForbidden},
		{otherToken, `{"tags":["x"]}`, http.StatusNotFound},
		{"", `{"tags":["x"]}`, http.StatusUnauthorized},
		{agentToken, `{"tags":["no spaces"]}`, http.StatusBadRequest},
		{agentToken, `{"tags":["a","b","c","d","e","f","g","h","i","j","k"]}`, http.StatusBadRequest},
		{agentToken, `{"tags":"vip"}`, http.StatusBadRequest},
		{agentToken, `{"tags":null}`, http.StatusBadRequest},
		{agentToken, `{"tag":["x"]}`, http.StatusBadRequest},
		{agentToken, `not json`, http.StatusBadRequest},
	}
	for _, r := range refusals {
		if st := httpJSON(t, "PUT", a.http.URL+"/api/v1/sessions/"+sid+"/tags", r.token, r.body, nil); st != r.status {
			t.Fatalf("%s: %d, want %d", r.body, st, r.status)
		}
	}
	if after, _ := e.sessionSeq(a, sid); after != before {
		t.Fatalf("refusals changed the session: seq %d -> %d", before, after)
	}

	// The store's audit knows every key tags add.
	if au, err := a.store.Audit(context.Background(), clock.Now()); err != nil || len(au.Violations) != 0 {
		t.Fatalf("audit: %v %v", err, au.Violations)
	}

	// Retagging moves the session between the lists.
	if st := httpJSON(t, "PUT", a.http.URL+"/api/v1/sessions/"+sid+"/tags", rtAdminKey, `{"tags":["refund"]}`, nil); st != 200 {
		t.Fatalf("retag: %d", st)
	}
	if ids, _ := list("tag=vip"); len(ids) != 0 {
		t.Fatalf("tag=vip after retagging: %v", ids)
	}
	// Ended and past retention, it is in no list, and its tag index is gone.
	if st := httpJSON(t, "DELETE", a.http.URL+"/api/v1/sessions/"+sid, rtAdminKey, "", nil); st != 200 {
		t.Fatalf("close: %d", st)
	}
	if ids, _ := list("tag=refund"); !slices.Equal(ids, []string{sid}) {
		t.Fatalf("an ended session keeps its tags until retention: %v", ids)
	}
	clock.Advance(2 * time.Hour)
	if ids, _ := list("tag=refund"); len(ids) != 0 {
		t.Fatalf("after retention: %v", ids)
	}
	rdb := e.r.NewClient()
	defer rdb.Close()
	ctx := context.Background()
	if n, _ := rdb.Exists(ctx, e.r.Prefix+":tag:refund", e.r.Prefix+":session:"+sid+":tags").Result(); n != 0 {
		t.Fatalf("%d tag keys left after retention", n)
	}
}
