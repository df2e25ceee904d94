package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/api"
	"github.com/switchboardhq/switchboard/api/client"
	"github.com/switchboardhq/switchboard/api/protocol"
	"github.com/switchboardhq/switchboard/hub"
)

// hsCustomer opens a widget session for a customer id the site vouches
// for (with a ticket-system user id when userID is not empty).
func hsCustomer(t *testing.T, in *rtInstance, customerID, userID string) (sid, token string) {
	t.Helper()
	vouched, user := customerID, ""
	if userID != "" {
		vouched += ":" + userID
		user = fmt.Sprintf(`,"user_id":%q`, userID)
	}
	body := fmt.Sprintf(`{"name":"Customer %s","title":"Help","customer_id":%q,"customer_hash":%q%s}`,
		customerID, customerID, hub.IdentityHash([]byte("identity-secret-0123"), vouched), user)
	var out struct {
		Session struct{ ID string }
		Token   string
	}
	if st := httpJSON(t, "POST", in.http.URL+"/api/v1/widget/sessions", "", body, &out); st != http.StatusCreated {
		t.Fatalf("widget session of %s: %d", customerID, st)
	}
	return out.Session.ID, out.Token
}

// hsEnd ends a session with the admin key.
func hsEnd(t *testing.T, in *rtInstance, sid string) {
	t.Helper()
	if st := httpJSON(t, "DELETE", in.http.URL+"/api/v1/sessions/"+sid, rtAdminKey, "", nil); st != http.StatusOK {
		t.Fatalf("close %s: %d", sid, st)
	}
}

// hsPage is an answer of GET /api/v1/sessions/{id}/messages.
type hsPage struct {
	Events []struct {
		Seq       int64  `json:"seq"`
		Type      string `json:"type"`
		SessionID string `json:"session_id"`
	} `json:"events"`
	HasMore bool `json:"has_more"`
}

func (p hsPage) seqs() []int64 {
	out := []int64{}
	for _, e := range p.Events {
		out = append(out, e.Seq)
	}
	return out
}

// hsMessages gets a page of a session's history with key and query.
func hsMessages(t *testing.T, in *rtInstance, sid, key, query string) (int, hsPage) {
	t.Helper()
	var p hsPage
	st := httpJSON(t, "GET", in.http.URL+"/api/v1/sessions/"+sid+"/messages"+query, key, "", &p)
	return st, p
}

// TestHistoryMessagesPaging: the scroll-back over REST pages the messages
// sent over WebSocket by seq, forward and backward, without reads and
// state changes; the customer reads only its own session, any agent reads
// every session.
func TestHistoryMessagesPaging(t *testing.T) {
	e := newRTEnv(t, 1, rtOptions{ws: fastWS})
	in := e.hubs[0]
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	agTok := e.quickAgent("hma")
	sid, ctok := e.customer(in, "Ann")
	e.assign(in, sid, "hma") // 1 created, 2 state (skipped), 3 member.joined
	cc, ac := e.dial(in, ctok), e.dial(in, agTok)
	visible := []int64{1, 3}
	send := func(c *client.Client, text string) {
		t.Helper()
		r, err := c.Send(ctx, sid, text)
		if err != nil || !r.OK {
			t.Fatalf("send %q: %+v %v", text, r, err)
		}
		visible = append(visible, r.Seq)
	}
	send(cc, "m1")
	send(cc, "m2")
	if err := ac.Read(ctx, sid, visible[len(visible)-1]); err != nil {
		t.Fatal(err)
	}
	send(ac, "m3")
	send(cc, "m4")
	if err := cc.Read(ctx, sid, visible[len(visible)-1]); err != nil {
		t.Fatal(err)
	}
	if err := ac.Read(ctx, sid, visible[len(visible)-1]+1); err != nil {
		t.Fatal(err)
	}
	send(ac, "m5")
	send(cc, "m6")
	if err := ac.Read(ctx, sid, visible[len(visible)-1]); err != nil {
		t.Fatal(err)
	}
	// 1 3 | 4 5 | read 6 | 7 8 | reads 9 10 | 11 12 | read 13
	if !slices.Equal(visible, []int64{1, 3, 4, 5, 7, 8, 11, 12}) {
		t.Fatalf("seqs %v", visible)
	}

	st, p := hsMessages(t, in, sid, ctok, "")
	if st != 200 || !slices.Equal(p.seqs(), visible) || p.HasMore {
		t.Fatalf("whole history: %d %v more %v", st, p.seqs(), p.HasMore)
	}
	for i, ev := range p.Events {
		want := "message.created"
		switch i {
		case 0:
			want = "session.created"
		case 1:
			want = "member.joined"
		}
		if ev.Type != want || ev.SessionID != sid {
			t.Fatalf("event %d: %+v, want %s", ev.Seq, ev, want)
		}
	}
	cases := []struct {
		query string
		want  []int64
		more  bool
	}{
		{"?limit=3", []int64{8, 11, 12}, true},
		{"?limit=8", visible, false},
		{"?before=8&limit=3", []int64{4, 5, 7}, true},
		{"?before=4&limit=3", []int64{1, 3}, false},
		{"?before=3&limit=2", []int64{1}, false},
		{"?after=0&limit=2", []int64{1, 3}, true}, // after=0: from the first event, forward
		{"?after=3&limit=3", []int64{4, 5, 7}, true},
		{"?after=7&limit=3", []int64{8, 11, 12}, false},
		{"?after=8&limit=2", []int64{11, 12}, false},
		{"?after=12", []int64{}, false},
		{"?after=1&before=11&limit=10", []int64{3, 4, 5, 7, 8}, false},
		{"?after=1&before=11&limit=2", []int64{3, 4}, true},
		{"?after=5&before=7", []int64{}, false},
		{"?after=3&before=4", []int64{}, false},
		{"?after=3&before=5", []int64{4}, false},
	}
	for _, c := range cases {
		st, p := hsMessages(t, in, sid, ctok, c.query)
		if st != 200 || !slices.Equal(p.seqs(), c.want) || p.HasMore != c.more {
			t.Errorf("%s: %d %v more %v, want %v more %v", c.query, st, p.seqs(), p.HasMore, c.want, c.more)
		}
	}
	// Scrolling back page by page sees the conversation once.
	var back []int64
	query := "?limit=2"
	for i := 0; ; i++ {
		st, p := hsMessages(t, in, sid, agTok, query)
		if st != 200 || i > 10 || len(p.Events) == 0 && p.HasMore {
			t.Fatalf("scroll-back %s: %d %+v", query, st, p)
		}
		back = append(p.seqs(), back...)
		if !p.HasMore {
			break
		}
		query = fmt.Sprintf("?limit=2&before=%d", p.Events[0].Seq)
	}
	if !slices.Equal(back, visible) {
		t.Fatalf("scroll-back saw %v, want %v", back, visible)
	}

	// Bad parameters.
	for _, q := range []string{"?limit=0", "?limit=201", "?limit=x", "?after=-1", "?before=-2", "?after=abc",
		"?after=5&before=5", "?after=6&before=2", "?limit="} {
		if st, _ := hsMessages(t, in, sid, ctok, q); st != http.StatusBadRequest {
			t.Errorf("%s: %d, want 400", q, st)
		}
	}
	// Who reads: its customer, any agent, the admin; not another customer.
	_, otherTok := e.customer(in, "Bob")
	for _, c := range []struct {
		who, key string
		want     int
	}{
		{"its customer", ctok, 200},
		{"its agent", agTok, 200},
		{"another agent", e.quickAgent("hmb"), 200},
		{"the admin", rtAdminKey, 200},
		{"another customer", otherTok, 404},
		{"nobody", "", 401},
	} {
		if st, _ := hsMessages(t, in, sid, c.key, "?limit=1"); st != c.want {
			t.Errorf("%s: %d, want %d", c.who, st, c.want)
		}
	}
	if st, _ := hsMessages(t, in, hub.NewSessionID(), agTok, ""); st != 404 {
		t.Errorf("unknown session: %d, want 404", st)
	}
	// The customer still reads its ended session.
	hsEnd(t, in, sid)
	st, p = hsMessages(t, in, sid, ctok, "?limit=1")
	if st != 200 || len(p.Events) != 1 || p.Events[0].Type != hub.EventSessionEnded || !p.HasMore {
		t.Fatalf("ended session, last page: %d %+v", st, p)
	}
}

// TestCustomerSessionsSidePanel: staff see a customer's record and its
// sessions newest first; customers may not; unknown customers are 404.
func TestCustomerSessionsSidePanel(t *testing.T) {
	e := newRTEnv(t, 1, rtOptions{})
	in := e.hubs[0]
	agTok := e.quickAgent("csa")
	var mine []string
	var ctok string
	for i := range 3 {
		user := ""
		if i == 0 {
			user = "9001"
		}
		sid, tok := hsCustomer(t, in, "side-1", user)
		mine, ctok = append(mine, sid), tok
		if i < 2 {
			hsEnd(t, in, sid)
		}
	}
	otherSid, _ := hsCustomer(t, in, "side-2", "")
	type panel struct {
		Customer struct {
			ID        string  `json:"id"`
			Name      string  `json:"name"`
			VisitorID int64   `json:"visitor_id"`
			UserID    *string `json:"user_id"`
		} `json:"customer"`
		Sessions []struct {
			ID         string `json:"id"`
			VisitorID  int64  `json:"visitor_id"`
			CustomerID string `json:"customer_id"`
			State      string `json:"state"`
		} `json:"sessions"`
		Total int `json:"total"`
	}
	get := func(key, customer, query string) (int, panel) {
		t.Helper()
		var p panel
		st := httpJSON(t, "GET", in.http.URL+"/api/v1/customers/"+customer+"/sessions"+query, key, "", &p)
		return st, p
	}
	sessionIDs := func(p panel) []string {
		out := []string{}
		for _, s := range p.Sessions {
			out = append(out, s.ID)
		}
		return out
	}
	st, p := get(agTok, "side-1", "")
	newestFirst := []string{mine[2], mine[1], mine[0]}
	if st != 200 || p.Customer.ID != "side-1" || p.Customer.Name != "Customer side-1" || p.Customer.VisitorID < 1 ||
		p.Customer.UserID == nil || *p.Customer.UserID != "9001" || p.Total != 3 || !slices.Equal(sessionIDs(p), newestFirst) {
		t.Fatalf("side panel of side-1: %d %+v", st, p)
	}
	for _, s := range p.Sessions {
		if s.VisitorID != p.Customer.VisitorID || s.CustomerID != "side-1" {
			t.Fatalf("session %+v of visitor %d", s, p.Customer.VisitorID)
		}
	}
	if p.Sessions[0].State == string(hub.StateEnded) || p.Sessions[1].State != string(hub.StateEnded) {
		t.Fatalf("states %+v", p.Sessions)
	}
	visitor := p.Customer.VisitorID
	if st, p := get(rtAdminKey, "side-1", "?limit=2"); st != 200 || p.Total != 3 || !slices.Equal(sessionIDs(p), newestFirst[:2]) {
		t.Fatalf("limit 2: %d %+v", st, p)
	}
	st, p = get(agTok, "side-2", "")
	if st != 200 || p.Customer.VisitorID == visitor || p.Customer.VisitorID < 1 || p.Customer.UserID != nil ||
		!slices.Equal(sessionIDs(p), []string{otherSid}) || p.Total != 1 {
		t.Fatalf("side panel of side-2: %d %+v", st, p)
	}
	for _, c := range []struct {
		what, key, customer, query string
		want                       int
	}{
		{"its customer", ctok, "side-1", "", 403},
		{"no token", "", "side-1", "", 401},
		{"unknown customer", agTok, "nobody", "", 404},
		{"invalid customer id", agTok, "bad%21id", "", 404},
		{"limit 0", agTok, "side-1", "?limit=0", 400},
		{"limit 101", agTok, "side-1", "?limit=101", 400},
		{"limit x", agTok, "side-1", "?limit=x", 400},
	} {
		if st, _ := get(c.key, c.customer, c.query); st != c.want {
			t.Errorf("%s: %d, want %d", c.what, st, c.want)
		}
	}
}

// hsRate posts a rating with key and returns the status and the answer.
func hsRate(t *testing.T, in *rtInstance, sid, key, body string) (int, map[string]any) {
	t.Helper()
	var out map[string]any
	st := httpJSON(t, "POST", in.http.URL+"/api/v1/sessions/"+sid+"/rating", key, body, &out)
	return st, out
}

// hsRatings returns the ratings of GET /api/v1/stats.
func hsRatings(t *testing.T, in *rtInstance) (avg float64, count int64) {
	t.Helper()
	var out struct {
		Ratings struct {
			Average float64 `json:"average"`
			Count   int64   `json:"count"`
		} `json:"ratings"`
	}
	if st := httpJSON(t, "GET", in.http.URL+"/api/v1/stats", rtAdminKey, "", &out); st != 200 {
		t.Fatalf("stats: %d", st)
	}
	return out.Ratings.Average, out.Ratings.Count
}

// TestRatingOverREST: the customer rates its session once, after the end;
// agents may not; the stats show the average.
func TestRatingOverREST(t *testing.T) {
	e := newRTEnv(t, 1, rtOptions{})
	in := e.hubs[0]
	agTok := e.quickAgent("rta")
	sid, ctok := e.customer(in, "Ann")
	e.assign(in, sid, "rta")
	_, otherTok := e.customer(in, "Bob")

	if st, _ := hsRate(t, in, sid, ctok, `{"score":5}`); st != http.StatusConflict {
		t.Fatalf("rating an open session: %d, want 409", st)
	}
	hsEnd(t, in, sid)
	for _, c := range []struct {
		what, key, body string
		want            int
	}{
		{"by its agent", agTok, `{"score":5}`, 403},
		{"by the admin", rtAdminKey, `{"score":5}`, 403},
		{"by another customer", otherTok, `{"score":5}`, 404},
		{"without a token", "", `{"score":5}`, 401},
		{"score 0", ctok, `{"score":0}`, 400},
		{"score 6", ctok, `{"score":6}`, 400},
		{"score missing", ctok, `{"comment":"x"}`, 400},
		{"score a string", ctok, `{"score":"5"}`, 400},
		{"score a fraction", ctok, `{"score":4.5}`, 400},
		{"comment too long", ctok, `{"score":3,"comment":"` + strings.Repeat("x", hub.MaxRatingComment+1) + `"}`, 400},
		{"not JSON", ctok, `score=5`, 400},
	} {
		if st, _ := hsRate(t, in, sid, c.key, c.body); st != c.want {
			t.Errorf("%s: %d, want %d", c.what, st, c.want)
		}
	}
	if avg, n := hsRatings(t, in); avg != 0 || n != 0 {
		t.Fatalf("ratings before any: %v/%d", avg, n)
	}
	st, out := hsRate(t, in, sid, ctok, `{"score":4,"comment":" fine "}`)
	rating, _ := out["rating"].(map[string]any)
	sess, _ := out["session"].(map[string]any)
	if st != 200 || rating["score"] != 4.0 || rating["comment"] != "fine" || sess["id"] != sid || sess["state"] != string(hub.StateEnded) {
		t.Fatalf("rate: %d %v", st, out)
	}
	if r, _ := sess["rating"].(map[string]any); r["score"] != 4.0 {
		t.Fatalf("session in the answer: %v", sess)
	}
	if st, _ := hsRate(t, in, sid, ctok, `{"score":1}`); st != http.StatusConflict {
		t.Fatalf("second rating: %d, want 409", st)
	}
	var got struct{ Rating *hub.Rating }
	if httpJSON(t, "GET", in.http.URL+"/api/v1/sessions/"+sid, ctok, "", &got); got.Rating == nil || *got.Rating != (hub.Rating{Score: 4, Comment: "fine"}) {
		t.Fatalf("session's rating: %+v", got.Rating)
	}
	if avg, n := hsRatings(t, in); avg != 4 || n != 1 {
		t.Fatalf("ratings: %v/%d, want 4/1", avg, n)
	}
	sid2, ctok2 := e.customer(in, "Cy")
	hsEnd(t, in, sid2)
	if st, _ := hsRate(t, in, sid2, ctok2, `{"score":1}`); st != 200 {
		t.Fatalf("rate the second session: %d", st)
	}
	if avg, n := hsRatings(t, in); avg != 2.5 || n != 2 {
		t.Fatalf("ratings: %v/%d, want 2.5/2", avg, n)
	}
	for _, key := range []string{agTok, ctok} {
		if st := httpJSON(t, "GET", in.http.URL+"/api/v1/stats", key, "", nil); st != http.StatusForbidden {
			t.Errorf("stats with a non-supervisor token: %d, want 403", st)
		}
	}
}

// TestRatingNoticeReachesAgent: the agent who handled a session hears of
// its rating on its socket (rate.lua publishes session.rated on the
// agent's topic), although it stopped following the session at its end.
func TestRatingNoticeReachesAgent(t *testing.T) {
	e := newRTEnv(t, 1, rtOptions{})
	in := e.hubs[0]
	agTok := e.quickAgent("rnb")
	ac := e.dial(in, agTok)
	rec := record(t, ac)
	sid, ctok := e.customer(in, "Ann")
	e.assign(in, sid, "rnb")
	hsEnd(t, in, sid)
	rec.waitUntil(t, 10*time.Second, "session.ended on the agent's socket", func(fs []client.Frame) bool {
		return slices.ContainsFunc(fs, func(f client.Frame) bool { return f.Type == hub.EventSessionEnded && f.SessionID == sid })
	})
	// Listen on the agent's topic on Redis too, to tell a notice never
	// published from one the socket drops.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sub := e.r.Client.Subscribe(ctx, e.r.Prefix+":ch:"+hub.AgentTopic("rnb"))
	defer sub.Close()
	if _, err := sub.Receive(ctx); err != nil {
		t.Fatal(err)
	}
	if st, _ := hsRate(t, in, sid, ctok, `{"score":5,"comment":"great"}`); st != 200 {
		t.Fatalf("rate: %d", st)
	}
	for {
		m, err := sub.ReceiveMessage(ctx)
		if err != nil {
			t.Fatalf("no session.rated published on the agent's topic: %v", err)
		}
		if strings.Contains(m.Payload, `"session.rated"`) {
			t.Logf("published on %s: %s", m.Channel, m.Payload)
			break
		}
	}
	// The notice is published after the rating is stored: waiting for it
	// on the socket is the test.
	rec.waitUntil(t, 5*time.Second, "session.rated on the agent's socket", func(fs []client.Frame) bool {
		return slices.ContainsFunc(fs, func(f client.Frame) bool {
			var m struct {
				Rating *hub.Rating `json:"rating"`
			}
			json.Unmarshal(f.Raw, &m)
			return f.Type == hub.EventSessionRated && f.SessionID == sid && m.Rating != nil && m.Rating.Score == 5
		})
	})
}

// hsRateCmd is the customer's rate command as a browser would send it.
func hsRateCmd(id, sid string, score int, comment string) map[string]any {
	return map[string]any{"type": "rate", "id": id, "session_id": sid, "score": score, "comment": comment}
}

// hsUntilEnded reads a raw connection until its session.ended.
func hsUntilEnded(c *rawConn, sid string) {
	c.t.Helper()
	c.readUntil(func(f rawFrame) bool { return f.Type == hub.EventSessionEnded && f.SessionID == sid })
}

// TestRateOverWebSocket: with a rating window the customer's socket stays
// open after the end, takes one rate command, answers it and closes with
// 4501; without one it closes at once after session.ended.
func TestRateOverWebSocket(t *testing.T) {
	const window = 5 * time.Second
	e := newRTEnv(t, 1, rtOptions{ws: api.WSOptions{RatingWindow: window}})
	in := e.hubs[0]
	agTok := e.quickAgent("rwa")

	// Ended by the hub (the admin here): the customer rates on the same socket.
	sid, ctok := e.customer(in, "Ann")
	e.assign(in, sid, "rwa")
	ag, _ := rawAuth(t, in, agTok, nil)
	c, _ := rawAuth(t, in, ctok, nil)
	hsEnd(t, in, sid)
	hsUntilEnded(c, sid)
	ended := time.Now()
	// An agent may not rate; a bad command is answered and the socket stays.
	ag.send(hsRateCmd("a1", sid, 5, ""))
	if f := ag.readUntil(func(f rawFrame) bool { return f.ID == "a1" }); f.OK || f.Error == nil || f.Error.Code != hub.EFORBIDDEN {
		t.Fatalf("agent's rate: %s", f.Raw)
	}
	c.send(hsRateCmd("r0", sid, 9, ""))
	if f := c.readUntil(func(f rawFrame) bool { return f.ID == "r0" }); f.OK || f.Error == nil || f.Error.Code != hub.EINVALID {
		t.Fatalf("rate with score 9: %s", f.Raw)
	}
	c.send(hsRateCmd("r1", sid, 5, "great"))
	if f := c.readUntil(func(f rawFrame) bool { return f.ID == "r1" }); f.Type != protocol.FrameReply || !f.OK {
		t.Fatalf("rate: %s", f.Raw)
	}
	c.wantClose(protocol.CloseSessionEnded)
	if d := time.Since(ended); d >= window {
		t.Fatalf("socket closed %v after the end: the rating did not close it", d)
	}
	var got struct{ Rating *hub.Rating }
	if httpJSON(t, "GET", in.http.URL+"/api/v1/sessions/"+sid, rtAdminKey, "", &got); got.Rating == nil || *got.Rating != (hub.Rating{Score: 5, Comment: "great"}) {
		t.Fatalf("stored rating: %+v", got.Rating)
	}

	// Ended by the customer itself: its close is answered, then it rates.
	sid2, ctok2 := e.customer(in, "Bob")
	c2, _ := rawAuth(t, in, ctok2, nil)
	c2.send(protocol.Command{Type: protocol.CmdClose, ID: "x", SessionID: sid2})
	sawReply, sawEnded := false, false
	for !sawReply || !sawEnded {
		f := c2.read()
		sawReply = sawReply || f.ID == "x" && f.OK
		sawEnded = sawEnded || f.Type == hub.EventSessionEnded
	}
	c2.send(hsRateCmd("r2", sid2, 3, ""))
	if f := c2.readUntil(func(f rawFrame) bool { return f.ID == "r2" }); !f.OK {
		t.Fatalf("rate after its own close: %s", f.Raw)
	}
	c2.wantClose(protocol.CloseSessionEnded)
	if avg, n := hsRatings(t, in); avg != 4 || n != 2 {
		t.Fatalf("ratings %v/%d, want 4/2", avg, n)
	}
}

// TestRatingWindowRunsOut: a customer who does not rate is disconnected
// with 4501 when the window runs out.
func TestRatingWindowRunsOut(t *testing.T) {
	e := newRTEnv(t, 1, rtOptions{ws: api.WSOptions{RatingWindow: 300 * time.Millisecond}})
	in := e.hubs[0]
	sid, ctok := e.customer(in, "Ann")
	c, _ := rawAuth(t, in, ctok, nil)
	hsEnd(t, in, sid)
	hsUntilEnded(c, sid)
	c.wantClose(protocol.CloseSessionEnded)
	// Rating then goes over REST.
	if st, _ := hsRate(t, in, sid, ctok, `{"score":2}`); st != 200 {
		t.Fatalf("rate over REST after the window: %d", st)
	}
}

// TestRatingWindowZeroClosesAtOnce: without a rating window the customer's
// socket closes right after session.ended, as before ratings existed.
func TestRatingWindowZeroClosesAtOnce(t *testing.T) {
	e := newRTEnv(t, 1, rtOptions{})
	in := e.hubs[0]
	sid, ctok := e.customer(in, "Ann")
	c, _ := rawAuth(t, in, ctok, nil)
	hsEnd(t, in, sid)
	hsUntilEnded(c, sid)
	start := time.Now()
	frames := c.wantClose(protocol.CloseSessionEnded)
	if d := time.Since(start); d > 3*time.Second || len(frames) > 0 {
		t.Fatalf("closed %v after session.ended, with %d frames after it", d, len(frames))
	}
}

// TestRatingOverRESTClosesWindowSocket: a customer whose socket waits in
// its rating window and who rates over REST instead is rated: the socket
// closes then, not when the window runs out.
func TestRatingOverRESTClosesWindowSocket(t *testing.T) {
	const window = 5 * time.Second
	e := newRTEnv(t, 1, rtOptions{ws: api.WSOptions{RatingWindow: window}})
	in := e.hubs[0]
	sid, ctok := e.customer(in, "Ann")
	c, _ := rawAuth(t, in, ctok, nil)
	hsEnd(t, in, sid)
	hsUntilEnded(c, sid)
	start := time.Now()
	if st, _ := hsRate(t, in, sid, ctok, `{"score":4}`); st != 200 {
		t.Fatalf("rate: %d", st)
	}
	c.wantClose(protocol.CloseSessionEnded)
	if d := time.Since(start); d >= window-time.Second {
		t.Fatalf("socket closed %v after a REST rating: it waited out the window", d)
	}
}
