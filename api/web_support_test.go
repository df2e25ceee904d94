package api_test

// What the web pages need (commit dad0f1a): delivered markers, session.changed
// for supervisors, ended_today, agent load and supervisors reading agents, the
// directory, the customer's e-mail and CORS. The helpers of this file start
// with wb so as not to collide with others.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/switchboardhq/switchboard/api"
	"github.com/switchboardhq/switchboard/api/client"
	"github.com/switchboardhq/switchboard/api/protocol"
	"github.com/switchboardhq/switchboard/hub"
	"github.com/switchboardhq/switchboard/hub/redisstore"
	"github.com/switchboardhq/switchboard/hub/redisstore/redistest"
)

// wbResp is an HTTP answer: status, headers and body.
type wbResp struct {
	status int
	header http.Header
	body   []byte
}

func (r wbResp) String() string { return fmt.Sprintf("%d %s", r.status, bytes.TrimSpace(r.body)) }

// wbReq makes a request with the given headers ("Authorization" may be
// given as a bare token: it is sent as Bearer).
func wbReq(t *testing.T, method, url string, hdr map[string]string, body string) wbResp {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range hdr {
		if k == "Authorization" {
			v = "Bearer " + v
		}
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return wbResp{status: res.StatusCode, header: res.Header, body: b}
}

// wbGet is a GET with a bearer token ("" for none), decoding a 200's body into out.
func wbGet(t *testing.T, url, token string, out any) wbResp {
	t.Helper()
	hdr := map[string]string{}
	if token != "" {
		hdr["Authorization"] = token
	}
	r := wbReq(t, "GET", url, hdr, "")
	if r.status == http.StatusOK && out != nil {
		if err := json.Unmarshal(r.body, out); err != nil {
			t.Fatalf("GET %s: %v: %s", url, err, r.body)
		}
	}
	return r
}

// wbWantError fails unless r is status with exactly the native error
// envelope {"error":{"code":code,"message":msg}}.
func wbWantError(t *testing.T, what string, r wbResp, status int, code, msg string) {
	t.Helper()
	if r.status != status {
		t.Errorf("%s: status %d, want %d; answer %s", what, r.status, status, r)
	}
	var got any
	if err := json.Unmarshal(r.body, &got); err != nil {
		t.Errorf("%s: body is not JSON: %s", what, r)
		return
	}
	want := map[string]any{"error": map[string]any{"code": code, "message": msg}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s: body %s, want {\"error\":{\"code\":%q,\"message\":%q}}", what, bytes.TrimSpace(r.body), code, msg)
	}
}

// wbKeys returns the sorted keys of m.
func wbKeys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// wbStats returns the sessions object of GET /api/v1/stats (admin key).
func wbStats(t *testing.T, base string) map[string]int64 {
	t.Helper()
	var out struct {
		Sessions map[string]int64 `json:"sessions"`
	}
	if r := wbGet(t, base+"/api/v1/stats", rtAdminKey, &out); r.status != http.StatusOK {
		t.Fatalf("stats: %s", r)
	}
	return out.Sessions
}

// ---------------------------------------------------------------------
// 1. delivered

// wbDelivered sends a delivered command with a 10 s bound.
func wbDelivered(c *client.Client, sid string, seq int64) (protocol.Reply, error) {
	return dwDo(c, protocol.Command{Type: protocol.CmdDelivered, SessionID: sid, Seq: seq})
}

// wbMarker is a delivered or read event as followers receive it.
type wbMarker struct {
	Seq       int64        `json:"seq"`
	Type      string       `json:"type"`
	SessionID string       `json:"session_id"`
	From      client.Party `json:"from"`
	UpTo      int64        `json:"up_to"`
	At        string       `json:"at"`
}

// wbWantReplyCode fails unless err is a refusal with code (and, if not "", message).
func wbWantReplyCode(t *testing.T, what string, err error, code, msg string) {
	t.Helper()
	re, ok := err.(*client.ReplyError)
	if !ok {
		t.Errorf("%s: %v, want a refusal %s", what, err, code)
		return
	}
	if re.Code != code || msg != "" && re.Message != msg {
		t.Errorf("%s: refused %s %q, want %s %q", what, re.Code, re.Message, code, msg)
	}
}

// TestDeliveredMarker: a customer's delivered answers ok with the marker
// and every follower of the session on either instance (the agent's
// socket, the customer's other tab, the sending socket) receives one durable delivered event with
// up_to; a delivered at or below the party's marker (delivered or read)
// changes nothing; reading carries the delivered marker along; bad seqs,
// foreign sessions and ended sessions are refused without an event; the
// scroll-back leaves delivered events out while the stream keeps them.
func TestDeliveredMarker(t *testing.T) {
	e := newRTEnv(t, 2, rtOptions{ws: api.WSOptions{RateLimit: 5000, RateBurst: 5000, RatingWindow: time.Minute}})
	in := e.hubs[0]
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	agTok := e.quickAgent("dva")
	otherTok := e.quickAgent("dvb")
	sid, ctok := e.customer(in, "Ann")
	e.assign(in, sid, "dva")                                                           // 1 session.created, 2 session.state, 3 member.joined
	cc, cc2, ac := e.dial(in, ctok), e.dial(e.hubs[1], ctok), e.dial(e.hubs[1], agTok) // followers on both instances
	custID := cc.Hello().Principal.ID
	rc, rc2, ra := record(t, cc), record(t, cc2), record(t, ac)
	followers := map[string]*recorder{"customer": rc, "customer's second tab": rc2, "agent": ra}

	send := func(c *client.Client, text string) int64 {
		t.Helper()
		r, err := c.Send(ctx, sid, text)
		if err != nil || !r.OK {
			t.Fatalf("send %q: %+v %v", text, r, err)
		}
		return r.Seq
	}
	delivered := func(c *client.Client, seq, wantMarker int64) {
		t.Helper()
		rep, err := wbDelivered(c, sid, seq)
		if err != nil || !rep.OK || rep.Seq != wantMarker {
			t.Fatalf("delivered %d: %+v %v, want ok with seq %d", seq, rep, err, wantMarker)
		}
	}
	if s := send(ac, "m1"); s != 4 {
		t.Fatalf("m1 has seq %d, want 4", s)
	}
	send(ac, "m2") // 5

	// A delivered moves the marker with its own event, to every follower.
	delivered(cc, 4, 4) // 6
	for who, r := range followers {
		r.waitSeq(t, 10*time.Second, sid, 6)
		var ev map[string]any
		for _, f := range r.durable() {
			if f.SessionID == sid && f.Seq == 6 {
				jsonDecode(t, f.Raw, &ev)
			}
		}
		if ev == nil {
			t.Fatalf("%s: no event with seq 6", who)
		}
		want := []string{"at", "from", "seq", "session_id", "type", "up_to"}
		if !slices.Equal(wbKeys(ev), want) {
			t.Errorf("%s: delivered event keys %v, want %v: %v", who, wbKeys(ev), want, ev)
		}
		from, _ := ev["from"].(map[string]any)
		if ev["type"] != "delivered" || ev["session_id"] != sid || ev["up_to"] != 4.0 || ev["seq"] != 6.0 ||
			from["role"] != "customer" || from["id"] != custID || from["name"] != "Ann" {
			t.Errorf("%s: delivered event %v, want delivered of %s up_to 4 from customer %s Ann", who, ev, sid, custID)
		}
	}
	delivered(cc, 5, 5) // 7
	// At or below the marker: ok with the marker, no event.
	delivered(cc, 5, 5)
	delivered(cc, 3, 5)
	// Reading moves the read marker (its own event) and carries delivery along.
	if err := cc.Read(ctx, sid, 5); err != nil { // 8
		t.Fatal(err)
	}
	send(ac, "m3")                               // 9
	if err := cc.Read(ctx, sid, 9); err != nil { // 10
		t.Fatal(err)
	}
	delivered(cc, 9, 9) // read carried it: nothing
	delivered(cc2, 7, 9)
	// The agent's markers are its own.
	delivered(ac, 9, 9) // 11
	delivered(ac, 9, 9)
	last := send(ac, "m4") // 12
	if last != 12 {
		t.Fatalf("m4 has seq %d, want 12: a no-op delivered emitted an event? stream %v", last, dwStream(e, in, sid))
	}
	type mark struct {
		seq, upTo int64
		typ, role string
	}
	wantMarks := []mark{{6, 4, "delivered", "customer"}, {7, 5, "delivered", "customer"}, {8, 5, "read", "customer"},
		{10, 9, "read", "customer"}, {11, 9, "delivered", "agent"}}
	for who, r := range followers {
		r.waitSeq(t, 10*time.Second, sid, last)
		fs, _ := r.snapshot()
		wantContiguous(t, who, fs, sid, 1, last)
		var got []mark
		for _, f := range r.durable() {
			if f.Type == "delivered" || f.Type == "read" {
				var m wbMarker
				jsonDecode(t, f.Raw, &m)
				got = append(got, mark{m.Seq, m.UpTo, m.Type, m.From.Role})
			}
		}
		if !slices.Equal(got, wantMarks) {
			t.Errorf("%s: markers %+v, want %+v", who, got, wantMarks)
		}
	}

	// Bad input: error frames, as for read.
	raw, _ := rawAuth(t, in, ctok, nil)
	for _, c := range []struct{ frame, msg string }{
		{`{"type":"delivered","id":"z0","session_id":"` + sid + `","seq":0}`, "delivered needs seq of at least 1"},
		{`{"type":"delivered","id":"z1","session_id":"` + sid + `"}`, "delivered needs seq of at least 1"},
		{`{"type":"delivered","id":"z2","session_id":"` + sid + `","seq":-3}`, "delivered needs seq of at least 1"},
		{`{"type":"delivered","id":"z3","seq":2}`, "delivered needs session_id"},
	} {
		var id struct{ ID string }
		json.Unmarshal([]byte(c.frame), &id)
		raw.write(websocket.MessageText, []byte(c.frame))
		f := raw.readUntil(func(f rawFrame) bool { return f.ID == id.ID })
		if f.Type != protocol.FrameError || f.Error == nil || f.Error.Code != hub.EINVALID || f.Error.Message != c.msg {
			t.Errorf("%s: answered %s, want an error frame invalid %q", c.frame, f.Raw, c.msg)
		}
	}
	_, err := wbDelivered(cc, sid, last+5)
	wbWantReplyCode(t, "delivered beyond the last seq", err, hub.EINVALID, "")

	// Sessions that are not the sender's: not_found, as if they did not exist.
	_, tokB := e.customer(in, "Bob")
	cb := e.dial(in, tokB)
	_, err = wbDelivered(cb, sid, 1)
	wbWantReplyCode(t, "another customer's delivered", err, hub.ENOTFOUND, "")
	_, err = wbDelivered(e.dial(in, otherTok), sid, 1)
	wbWantReplyCode(t, "an agent not in the session", err, hub.ENOTFOUND, "")
	_, err = wbDelivered(cc, hub.NewSessionID(), 1)
	wbWantReplyCode(t, "an unknown session", err, hub.ENOTFOUND, "")
	if seq, _ := e.sessionSeq(in, sid); seq != last {
		t.Fatalf("after the refusals the session's seq is %d, want %d", seq, last)
	}

	// An ended session: conflict, no event.
	hsEnd(t, in, sid) // 13 member.left, 14 session.ended
	_, err = wbDelivered(cc, sid, 12)
	wbWantReplyCode(t, "delivered on an ended session (customer)", err, hub.ECONFLICT, "session already ended")
	_, err = wbDelivered(ac, sid, 12)
	wbWantReplyCode(t, "delivered on an ended session (agent)", err, hub.ECONFLICT, "session already ended")
	if seq, _ := e.sessionSeq(in, sid); seq != last+2 {
		t.Fatalf("after the end the session's seq is %d, want %d", seq, last+2)
	}

	// The scroll-back leaves markers out; the stream keeps them.
	st, p := hsMessages(t, in, sid, rtAdminKey, "?limit=200")
	if st != http.StatusOK {
		t.Fatalf("messages: %d", st)
	}
	for _, ev := range p.Events {
		if ev.Type == "delivered" || ev.Type == "read" {
			t.Errorf("the scroll-back holds a %s event (seq %d)", ev.Type, ev.Seq)
		}
	}
	if want := []int64{1, 3, 4, 5, 9, 12, 13, 14}; !slices.Equal(p.seqs(), want) {
		t.Errorf("scroll-back seqs %v, want %v", p.seqs(), want)
	}
	var streamDelivered []int64
	for _, f := range dwStream(e, in, sid) {
		if f.Type == "delivered" {
			streamDelivered = append(streamDelivered, f.Seq)
		}
	}
	if want := []int64{6, 7, 11}; !slices.Equal(streamDelivered, want) {
		t.Errorf("delivered events in the stream at %v, want %v", streamDelivered, want)
	}
}

// ---------------------------------------------------------------------
// 2. session.changed

// wbChanged is a session.changed notice.
type wbChanged struct {
	Type      string `json:"type"`
	SessionID string `json:"session_id"`
	Event     string `json:"event"`
	LastSeq   int64  `json:"last_seq"`
}

// wbChangedOf returns the session.changed notices r saw (of sid, or all when sid is "").
func wbChangedOf(t *testing.T, r *recorder, sid string) []wbChanged {
	t.Helper()
	fs, _ := r.snapshot()
	var out []wbChanged
	for _, f := range fs {
		if f.Type != hub.EventSessionChanged {
			continue
		}
		var c wbChanged
		jsonDecode(t, f.Raw, &c)
		if sid == "" || c.SessionID == sid {
			out = append(out, c)
		}
	}
	return out
}

// wbCSCreate opens a session through the Customer Service API (no rate limit).
func wbCSCreate(t *testing.T, base string) string {
	t.Helper()
	var out struct {
		Data struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	if st := httpJSON(t, "POST", base+"/customer-service/sessions", rtAdminKey, `{"title":"Canary","customer_name":"Cy"}`, &out); st != 200 || out.Data.ID == "" {
		t.Fatalf("create over the Customer Service API: %d %+v", st, out)
	}
	return out.Data.ID
}

// wbSupervisorsLive waits until sup receives session.changed notices: it
// opens canary sessions until one's notice arrives.
func wbSupervisorsLive(t *testing.T, base string, sup *recorder) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		canary := wbCSCreate(t, base)
		wait := time.After(100 * time.Millisecond)
	poll:
		for {
			if len(wbChangedOf(t, sup, canary)) > 0 {
				return
			}
			select {
			case <-sup.wake:
			case <-wait:
				break poll
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("the supervisor's socket never received a session.changed")
		}
	}
}

// TestSessionChangedForSupervisors: a supervisor's socket hears of every
// session event but messages and markers (creation, state, members, end,
// rating) as session.changed with the event's type and the session's last
// seq, and of no message, read, delivered or typing; the session's own
// parties (a plain agent, the customer) never receive session.changed.
func TestSessionChangedForSupervisors(t *testing.T) {
	e := newRTEnv(t, 2, rtOptions{ws: api.WSOptions{RateLimit: 5000, RateBurst: 5000, RatingWindow: time.Minute}})
	in := e.hubs[0]
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	supTok := dwAgent(e, "scs", hub.RoleSupervisor, 5)
	agTok := dwAgent(e, "sca", hub.RoleAgent, 5)
	sup := record(t, e.dial(e.hubs[1], supTok)) // the notices cross instances
	ac := e.dial(in, agTok)
	ra := record(t, ac)
	wbSupervisorsLive(t, in.http.URL, sup)

	sid, ctok := e.customer(in, "Ann")
	f := dwWait(t, sup, "session.changed of the widget session", dwOfType(hub.EventSessionChanged, sid))
	var created map[string]any
	jsonDecode(t, []byte(f.Raw), &created)
	if want := []string{"at", "event", "last_seq", "session_id", "type"}; !slices.Equal(wbKeys(created), want) {
		t.Errorf("session.changed keys %v, want %v: %s", wbKeys(created), want, f.Raw)
	}
	if created["event"] != hub.EventSessionCreated || created["last_seq"] != 1.0 {
		t.Errorf("first session.changed %s, want event session.created, last_seq 1", f.Raw)
	}

	e.assign(in, sid, "sca") // 2 session.state, 3 member.joined
	cc := e.dial(in, ctok)
	rc := record(t, cc)
	r, err := cc.Send(ctx, sid, "hello") // 4
	if err != nil || r.Seq != 4 {
		t.Fatalf("send: %+v %v", r, err)
	}
	if err := ac.Read(ctx, sid, 4); err != nil { // 5
		t.Fatal(err)
	}
	if rep, err := wbDelivered(ac, sid, 4); err != nil || rep.Seq != 4 { // nothing: read carried it
		t.Fatalf("agent delivered: %+v %v", rep, err)
	}
	if rep, err := wbDelivered(cc, sid, 5); err != nil || rep.Seq != 5 { // 6
		t.Fatalf("customer delivered: %+v %v", rep, err)
	}
	if err := cc.Typing(ctx, sid, true); err != nil {
		t.Fatal(err)
	}
	hsEnd(t, in, sid) // 7 member.left, 8 session.ended
	rc.waitSeq(t, 10*time.Second, sid, 8)
	score := 5
	if _, err := dwDo(cc, protocol.Command{Type: protocol.CmdRate, SessionID: sid, Score: &score}); err != nil { // 9
		t.Fatalf("rate: %v", err)
	}

	dwWait(t, sup, "session.changed of the rating", func(f dwFrame) bool {
		return f.Type == hub.EventSessionChanged && f.SessionID == sid && strings.Contains(f.Raw, `"event":"session.rated"`)
	})
	got := wbChangedOf(t, sup, sid)
	want := []wbChanged{
		{hub.EventSessionChanged, sid, hub.EventSessionCreated, 1},
		{hub.EventSessionChanged, sid, hub.EventSessionState, 2},
		{hub.EventSessionChanged, sid, hub.EventMemberJoined, 3},
		{hub.EventSessionChanged, sid, hub.EventMemberLeft, 7},
		{hub.EventSessionChanged, sid, hub.EventSessionEnded, 8},
		{hub.EventSessionChanged, sid, hub.EventSessionRated, 9},
	}
	if !slices.Equal(got, want) {
		t.Errorf("the supervisor's session.changed notices\n got %+v\nwant %+v", got, want)
	}

	// The parties followed the session to its end (the agent to the rating,
	// on its own topic) and saw no notice.
	ra.waitSeq(t, 10*time.Second, sid, 8)
	dwWait(t, ra, "the rating on the agent's topic", dwOfType(hub.EventSessionRated, sid))
	waitDone(t, cc, 10*time.Second) // closed after its own rating
	for who, r := range map[string]*recorder{"plain agent": ra, "customer": rc} {
		if n := wbChangedOf(t, r, ""); len(n) > 0 {
			t.Errorf("the %s's socket received session.changed: %+v", who, n)
		}
	}
}

// ---------------------------------------------------------------------
// 3. ended_today

// wbSetClock is a settable clock.
type wbSetClock struct{ fakeClock }

func (c *wbSetClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

// wbClockServer starts one hub instance (HTTP only) on a fresh Redis with
// clock, loc as its time zone and retention.
func wbClockServer(t *testing.T, clock func() time.Time, loc *time.Location, retention time.Duration) *httptest.Server {
	t.Helper()
	r := redistest.New(t)
	t.Logf("redis: %s", r.Kind())
	store, err := redisstore.New(r.Client, redisstore.Options{Prefix: r.Prefix})
	if err != nil {
		t.Fatal(err)
	}
	tokens, err := hub.NewTokens([]byte(strings.Repeat("s", 32)))
	if err != nil {
		t.Fatal(err)
	}
	srv := api.NewServer(api.Config{
		Sessions: hub.NewService(store, hub.Policy{AgentCapacity: 5, Retention: retention}, clock),
		Agents:   store, Teams: store, Desk: hub.NewDesk(store, hub.DeskPolicy{}, clock, nil),
		Chats: hub.NewHistory(store, clock), Webhooks: store, Tokens: tokens, AdminKey: rtAdminKey,
		Ping: store.Ping, Location: loc,
	})
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	return ts
}

// TestStatsEndedToday: sessions.ended_today counts the sessions ended since
// midnight in the server's time zone (UTC+8 here, whose midnight is not
// UTC's), a session ended at midnight exactly included and one a
// millisecond before not; retention pruning takes a retired session out of
// the count.
func TestStatsEndedToday(t *testing.T) {
	loc := time.FixedZone("UTC+8", 8*3600)
	clk := &wbSetClock{fakeClock{now: time.Date(2026, 3, 9, 20, 0, 0, 0, loc)}}
	ts := wbClockServer(t, clk.Now, loc, 10*time.Hour)
	base := ts.URL
	end := func(sid string, at time.Time) {
		t.Helper()
		clk.Set(at)
		if st := httpJSON(t, "DELETE", base+"/api/v1/sessions/"+sid, rtAdminKey, "", nil); st != http.StatusOK {
			t.Fatalf("close %s: %d", sid, st)
		}
	}
	want := func(what string, total, ended, today int64) {
		t.Helper()
		s := wbStats(t, base)
		if _, ok := s["ended_today"]; !ok {
			t.Fatalf("%s: stats sessions %v have no ended_today", what, s)
		}
		if s["total"] != total || s["ended"] != ended || s["ended_today"] != today {
			t.Errorf("%s (now %s): total %d ended %d ended_today %d, want %d %d %d", what, clk.Now().Format(time.RFC3339Nano),
				s["total"], s["ended"], s["ended_today"], total, ended, today)
		}
	}
	x, w, y, z := wbCSCreate(t, base), wbCSCreate(t, base), wbCSCreate(t, base), wbCSCreate(t, base)
	want("four open", 4, 0, 0)
	end(x, time.Date(2026, 3, 9, 23, 59, 59, 999_000_000, loc)) // yesterday, by a millisecond
	want("one ended yesterday, asked yesterday", 4, 1, 1)
	end(w, time.Date(2026, 3, 10, 0, 0, 0, 0, loc)) // midnight: today
	end(y, time.Date(2026, 3, 10, 1, 0, 0, 0, loc)) // today (yesterday 17:00 in UTC)
	clk.Set(time.Date(2026, 3, 10, 7, 0, 0, 0, loc))
	// In UTC it is still the 9th (23:00), and all three ended that day:
	// ended_today 3 would mean midnight was taken in UTC.
	want("one yesterday, two today", 4, 3, 2)
	end(z, time.Date(2026, 3, 10, 8, 0, 0, 0, loc))
	want("one yesterday, three today", 4, 4, 3)
	// Retention 10 h: x, w and y retire by 11:00; z stays until 18:00.
	clk.Set(time.Date(2026, 3, 10, 11, 30, 0, 0, loc))
	want("after pruning", 1, 1, 1)
	clk.Set(time.Date(2026, 3, 11, 0, 30, 0, 0, loc))
	want("the next day, all pruned", 0, 0, 0)
}

// ---------------------------------------------------------------------
// 4. agents: load, supervisors read

// wbAgentView is an agent of GET /api/v1/agents.
type wbAgentView struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	Load *int   `json:"load"`
}

// wbLoads returns every agent's load from GET /api/v1/agents with token,
// and checks that GET /api/v1/agents/{id} agrees.
func wbLoads(t *testing.T, base, token string) map[string]int {
	t.Helper()
	var list struct{ Agents []wbAgentView }
	if r := wbGet(t, base+"/api/v1/agents", token, &list); r.status != http.StatusOK {
		t.Fatalf("list agents: %s", r)
	}
	out := map[string]int{}
	for _, a := range list.Agents {
		if a.Load == nil {
			t.Fatalf("agent %s has no load", a.ID)
		}
		out[a.ID] = *a.Load
		var one wbAgentView
		if r := wbGet(t, base+"/api/v1/agents/"+a.ID, token, &one); r.status != http.StatusOK || one.Load == nil || *one.Load != *a.Load {
			t.Fatalf("GET agent %s: %s, the list says load %d", a.ID, r, *a.Load)
		}
	}
	return out
}

// TestAgentLoadAndSupervisorsReadAgents: load counts the sessions an agent
// handles or is offered; supervisors may read the agents (list and one)
// but not change them; plain agents and customers may not read them.
func TestAgentLoadAndSupervisorsReadAgents(t *testing.T) {
	e := newRTEnv(t, 1, rtOptions{desk: &hub.DeskPolicy{OfferTimeout: 30 * time.Second, Grace: time.Minute}})
	in := e.hubs[0]
	base := in.http.URL
	supTok := dwAgent(e, "lsu", hub.RoleSupervisor, 5)
	plainTok := dwAgent(e, "lpl", hub.RoleAgent, 5)
	dwAgent(e, "lda", hub.RoleAgent, 5)
	s1, ctok := e.customer(in, "C1")
	s2, _ := e.customer(in, "C2")
	e.assign(in, s1, "lda")
	e.assign(in, s2, "lda")
	wantLoads := func(what string, want map[string]int) {
		t.Helper()
		for _, tok := range []string{rtAdminKey, supTok} {
			got := wbLoads(t, base, tok)
			for id, n := range want {
				if got[id] != n {
					t.Errorf("%s: load of %s is %d, want %d (all: %v)", what, id, got[id], n, got)
				}
			}
		}
	}
	wantLoads("two assigned", map[string]int{"lda": 2, "lsu": 0, "lpl": 0})
	hsEnd(t, in, s2)
	wantLoads("one closed", map[string]int{"lda": 1})

	// An offer counts too, until declined.
	ofc := e.dial(in, dwAgent(e, "lof", hub.RoleAgent, 5))
	rof := record(t, ofc)
	dwWait(t, rof, "lof's status", dwStatus("lof", hub.AgentAvailable, ""))
	s3, _ := e.customer(in, "C3")
	dwWait(t, rof, "the offer to lof", dwState(s3, hub.StateOffered, "lof"))
	wantLoads("offered", map[string]int{"lda": 1, "lof": 1})
	dwMustDo(t, ofc, protocol.Command{Type: protocol.CmdDecline, SessionID: s3})
	wantLoads("declined", map[string]int{"lda": 1, "lof": 0})

	// Who may read and change agents.
	for _, c := range []struct {
		who, token string
		status     int
	}{{"plain agent", plainTok, 403}, {"customer", ctok, 403}, {"nobody", "", 401}} {
		for _, path := range []string{"/api/v1/agents", "/api/v1/agents/lda"} {
			r := wbGet(t, base+path, c.token, nil)
			if c.status == 403 {
				wbWantError(t, c.who+" GET "+path, r, 403, hub.EFORBIDDEN, "supervisors only")
			} else if r.status != c.status {
				t.Errorf("%s GET %s: %s, want %d", c.who, path, r, c.status)
			}
		}
	}
	r := wbReq(t, "PATCH", base+"/api/v1/agents/lda", map[string]string{"Authorization": supTok}, `{"name":"Renamed"}`)
	wbWantError(t, "supervisor PATCH", r, 403, hub.EFORBIDDEN, "admin only")
	r = wbReq(t, "PATCH", base+"/api/v1/agents/lda", map[string]string{"Authorization": plainTok}, `{"name":"Renamed"}`)
	wbWantError(t, "plain agent PATCH", r, 403, hub.EFORBIDDEN, "admin only")
	var a wbAgentView
	if r := wbGet(t, base+"/api/v1/agents/lda", supTok, &a); r.status != 200 || a.Name != "Agent lda" {
		t.Fatalf("lda after the refused PATCHes: %s", r)
	}
	r = wbReq(t, "PATCH", base+"/api/v1/agents/lda", map[string]string{"Authorization": rtAdminKey}, `{"name":"Renamed"}`)
	if r.status != 200 {
		t.Fatalf("admin PATCH: %s", r)
	}
	// Creating stays admin-only too.
	r = wbReq(t, "POST", base+"/api/v1/agents", map[string]string{"Authorization": supTok},
		`{"id":"lnew","name":"New","email":"lnew@example.com","password":"password-lnew"}`)
	wbWantError(t, "supervisor POST agent", r, 403, hub.EFORBIDDEN, "admin only")
}

// ---------------------------------------------------------------------
// 5. directory

// TestDirectory: any agent may list its enabled human colleagues (no
// e-mail, no addresses) and the teams; disabled agents and bots are left
// out; customers are refused 403 and the anonymous 401.
func TestDirectory(t *testing.T) {
	e := newRTEnv(t, 1, rtOptions{ws: fastWS})
	in := e.hubs[0]
	base := in.http.URL
	st := in.store
	ctx := context.Background()
	billing, err := st.PutTeam(ctx, &hub.Team{Name: "Billing", CreatedAt: time.Now()}, true)
	if err != nil {
		t.Fatal(err)
	}
	sales, err := st.PutTeam(ctx, &hub.Team{Name: "Sales", CreatedAt: time.Now()}, true)
	if err != nil {
		t.Fatal(err)
	}
	put := func(id string, role hub.Role, capacity int, disabled bool, teams ...string) {
		t.Helper()
		a := &hub.Agent{ID: id, Name: "Agent " + id, Email: id + "@example.com", Role: role, Capacity: capacity,
			Disabled: disabled, TeamIDs: teams, CreatedAt: time.Now()}
		if err := st.PutAgent(ctx, a); err != nil {
			t.Fatalf("put %s: %v", id, err)
		}
	}
	put("dra", hub.RoleAgent, 3, false, billing)
	put("drs", hub.RoleSupervisor, 4, false, billing, sales)
	put("drm", hub.RoleAdmin, 2, false)
	put("drd", hub.RoleAgent, 5, true, sales)
	put("drb", hub.RoleBot, 50, false)
	sign := func(id string) string {
		return e.tokens.Sign(hub.Claims{Role: hub.PrincipalAgent, Subject: id, Name: "Agent " + id, Expires: time.Now().Add(time.Hour).Unix()})
	}
	draTok := sign("dra")
	sid, ctok := e.customer(in, "Ann")
	e.assign(in, sid, "dra")
	e.dial(in, draTok) // online
	dwWaitAgent(e, in, "dra", "online", func(a dwAgentView) bool { return a.Online })

	var admin struct{ Agents []map[string]any }
	if r := wbGet(t, base+"/api/v1/agents", rtAdminKey, &admin); r.status != 200 {
		t.Fatalf("agents: %s", r)
	}
	adminView := map[string]map[string]any{}
	for _, a := range admin.Agents {
		adminView[a["id"].(string)] = a
	}

	for _, who := range []struct{ name, token string }{{"plain agent", draTok}, {"supervisor", sign("drs")}, {"admin key", rtAdminKey}} {
		var dir struct {
			Agents []map[string]any `json:"agents"`
			Teams  []map[string]any `json:"teams"`
		}
		r := wbGet(t, base+"/api/v1/directory", who.token, &dir)
		if r.status != 200 {
			t.Errorf("%s: directory %s", who.name, r)
			continue
		}
		var top map[string]any
		json.Unmarshal(r.body, &top)
		if !slices.Equal(wbKeys(top), []string{"agents", "teams"}) {
			t.Errorf("%s: directory keys %v", who.name, wbKeys(top))
		}
		var ids []string
		for _, a := range dir.Agents {
			id, _ := a["id"].(string)
			ids = append(ids, id)
			if want := []string{"capacity", "id", "load", "name", "online", "role", "status", "team_ids"}; !slices.Equal(wbKeys(a), want) {
				t.Errorf("%s: directory agent %s has keys %v, want %v", who.name, id, wbKeys(a), want)
			}
			full := adminView[id]
			for _, k := range []string{"name", "role", "status", "online", "load", "capacity", "team_ids"} {
				if !reflect.DeepEqual(a[k], full[k]) {
					t.Errorf("%s: directory agent %s: %s = %v, the admin's view says %v", who.name, id, k, a[k], full[k])
				}
			}
		}
		sort.Strings(ids)
		if want := []string{"dra", "drm", "drs"}; !slices.Equal(ids, want) {
			t.Errorf("%s: directory agents %v, want %v (no disabled agent, no bot)", who.name, ids, want)
		}
		for _, a := range dir.Agents {
			switch a["id"] {
			case "dra":
				if a["load"] != 1.0 || a["online"] != true || a["capacity"] != 3.0 || a["role"] != "agent" ||
					!reflect.DeepEqual(a["team_ids"], []any{billing}) {
					t.Errorf("%s: dra %v, want load 1, online, capacity 3, role agent, team_ids [%s]", who.name, a, billing)
				}
			case "drm":
				if !reflect.DeepEqual(a["team_ids"], []any{}) || a["online"] != false || a["load"] != 0.0 {
					t.Errorf("%s: drm %v, want team_ids [] (not null), offline, load 0", who.name, a)
				}
			case "drs":
				if a["role"] != "supervisor" || !reflect.DeepEqual(a["team_ids"], []any{billing, sales}) {
					t.Errorf("%s: drs %v, want role supervisor, team_ids [%s %s]", who.name, a, billing, sales)
				}
			}
		}
		wantTeams := []map[string]any{{"id": billing, "name": "Billing"}, {"id": sales, "name": "Sales"}}
		sort.Slice(dir.Teams, func(i, j int) bool { return dir.Teams[i]["name"].(string) < dir.Teams[j]["name"].(string) })
		if !reflect.DeepEqual(dir.Teams, wantTeams) {
			t.Errorf("%s: teams %v, want %v", who.name, dir.Teams, wantTeams)
		}
	}
	wbWantError(t, "customer", wbGet(t, base+"/api/v1/directory", ctok, nil), 403, hub.EFORBIDDEN, "agents only")
	r := wbGet(t, base+"/api/v1/directory", "", nil)
	if r.status != http.StatusUnauthorized {
		t.Errorf("no token: %s, want 401", r)
	}
	if r := wbGet(t, base+"/api/v1/directory", sign("drd"), nil); r.status != http.StatusUnauthorized {
		t.Errorf("a disabled agent's token: %s, want 401", r)
	}
	if r := wbReq(t, "POST", base+"/api/v1/directory", map[string]string{"Authorization": draTok}, `{}`); r.status != http.StatusMethodNotAllowed {
		t.Errorf("POST directory: %s, want 405", r)
	}
}

// ---------------------------------------------------------------------
// 6. the customer's e-mail

// wbWidget opens a widget session with body from address ip (the instance
// trusts the loopback's X-Forwarded-For).
func wbWidget(t *testing.T, in *rtInstance, ip, body string) (wbResp, string, string) {
	t.Helper()
	r := wbReq(t, "POST", in.http.URL+"/api/v1/widget/sessions", map[string]string{"X-Forwarded-For": ip}, body)
	var out struct {
		Session struct {
			ID         string `json:"id"`
			CustomerID string `json:"customer_id"`
		} `json:"session"`
	}
	if r.status == http.StatusCreated {
		json.Unmarshal(r.body, &out)
	}
	return r, out.Session.ID, out.Session.CustomerID
}

// TestWidgetEmail: the widget's optional email is kept, trimmed, on the
// session (customer_email) and on the customer's record (email, the last
// one given); an invalid one is refused 400 and creates nothing.
func TestWidgetEmail(t *testing.T) {
	e := newRTEnv(t, 1, rtOptions{trusted: dwTrusted})
	in := e.hubs[0]
	base := in.http.URL
	ip := 0
	widget := func(body string) (wbResp, string, string) {
		t.Helper()
		ip++
		return wbWidget(t, in, fmt.Sprintf("10.9.0.%d", ip), body)
	}
	sessionEmail := func(sid string) string {
		t.Helper()
		var s map[string]any
		if r := wbGet(t, base+"/api/v1/sessions/"+sid, rtAdminKey, &s); r.status != 200 {
			t.Fatalf("session %s: %s", sid, r)
		}
		v, ok := s["customer_email"].(string)
		if !ok {
			t.Fatalf("session %s: customer_email is %v, want a string", sid, s["customer_email"])
		}
		return v
	}
	customerEmail := func(cid string) (string, int) {
		t.Helper()
		var out struct {
			Customer map[string]any `json:"customer"`
			Sessions []any          `json:"sessions"`
		}
		if r := wbGet(t, base+"/api/v1/customers/"+cid+"/sessions", rtAdminKey, &out); r.status != 200 {
			t.Fatalf("customer %s: %s", cid, r)
		}
		v, ok := out.Customer["email"].(string)
		if !ok {
			t.Fatalf("customer %s: email is %v, want a string", cid, out.Customer["email"])
		}
		return v, len(out.Sessions)
	}

	r, sid, cid := widget(`{"name":"Ann","email":"ann@example.com"}`)
	if r.status != http.StatusCreated {
		t.Fatalf("widget with email: %s", r)
	}
	if !strings.Contains(string(r.body), `"customer_email":"ann@example.com"`) {
		t.Errorf("the widget's answer does not show the email: %s", r.body)
	}
	if got := sessionEmail(sid); got != "ann@example.com" {
		t.Errorf("customer_email %q, want ann@example.com", got)
	}
	if got, _ := customerEmail(cid); got != "ann@example.com" {
		t.Errorf("customer's email %q, want ann@example.com", got)
	}

	r, sid, cid = widget(`{"name":"Bo","email":"  bo@example.org  "}`)
	if r.status != http.StatusCreated {
		t.Fatalf("widget with a padded email: %s", r)
	}
	if got := sessionEmail(sid); got != "bo@example.org" {
		t.Errorf("padded email kept as %q, want bo@example.org", got)
	}
	if got, _ := customerEmail(cid); got != "bo@example.org" {
		t.Errorf("customer's padded email kept as %q, want bo@example.org", got)
	}

	// A blank email field is no email: pre-chat forms send what was typed.
	r, sid, _ = widget(`{"name":"Di","email":"   "}`)
	if r.status != http.StatusCreated {
		t.Fatalf("widget with a blank email: %s", r)
	}
	if got := sessionEmail(sid); got != "" {
		t.Errorf("blank email kept as %q, want none", got)
	}

	r, sid, cid = widget(`{"name":"Cy"}`)
	if r.status != http.StatusCreated {
		t.Fatalf("widget without email: %s", r)
	}
	if got := sessionEmail(sid); got != "" {
		t.Errorf("customer_email without an email: %q, want \"\"", got)
	}
	if got, _ := customerEmail(cid); got != "" {
		t.Errorf("customer's email without one: %q, want \"\"", got)
	}

	long254 := strings.Repeat("a", 254-len("@example.com")) + "@example.com"
	r, sid, _ = widget(`{"name":"Di","email":"` + long254 + `"}`)
	if r.status != http.StatusCreated || sessionEmail(sid) != long254 {
		t.Errorf("a 254-byte email: %s", r)
	}

	before := wbStats(t, base)["total"]
	for _, bad := range []string{"nope", "a b@c", "@x", "x@", "a@b@c", "<a@b.c>",
		strings.Repeat("a", 300-len("@example.com")) + "@example.com", long254 + "m",
		strings.Repeat("é", 130) + "@example.com"} { // 142 characters but 272 bytes

		r, _, _ := widget(`{"name":"Ed","email":` + fmt.Sprintf("%q", bad) + `}`)
		wbWantError(t, fmt.Sprintf("email %.20q (%d bytes)", bad, len(bad)), r, 400, hub.EINVALID, "email is not an e-mail address")
	}
	if after := wbStats(t, base)["total"]; after != before {
		t.Errorf("refused emails created sessions: total %d, then %d", before, after)
	}

	// A returning customer (vouched id): the record keeps the last email given.
	vouched := func(email string) (string, string) {
		t.Helper()
		extra := ""
		if email != "" {
			extra = fmt.Sprintf(`,"email":%q`, email)
		}
		body := fmt.Sprintf(`{"name":"Fay","customer_id":"cust-fay","customer_hash":%q%s}`,
			hub.IdentityHash([]byte("identity-secret-0123"), "cust-fay"), extra)
		r, sid, cid := widget(body)
		if r.status != http.StatusCreated {
			t.Fatalf("vouched widget session: %s", r)
		}
		return sid, cid
	}
	s1, cid := vouched("fay@one.example")
	hsEnd(t, in, s1)
	s2, _ := vouched("")
	if got := sessionEmail(s2); got != "" {
		t.Errorf("second session without email: customer_email %q, want \"\"", got)
	}
	if got := sessionEmail(s1); got != "fay@one.example" {
		t.Errorf("first session's customer_email now %q, want fay@one.example", got)
	}
	if got, n := customerEmail(cid); got != "fay@one.example" || n != 2 {
		t.Errorf("customer after a session without email: email %q with %d sessions, want fay@one.example and 2", got, n)
	}
	hsEnd(t, in, s2)
	vouched("fay@two.example")
	if got, _ := customerEmail(cid); got != "fay@two.example" {
		t.Errorf("customer after a new email: %q, want fay@two.example", got)
	}
}

// ---------------------------------------------------------------------
// 7. CORS

// TestCORS: /api/v1 answers preflights and marks answers readable for the
// allowed origins (and the hub's own), refuses other origins 403 (without
// acting), leaves requests without Origin and other paths alone, and
// agrees with the WebSocket handshake on every origin.
func TestCORS(t *testing.T) {
	const shop = "http://shop.example:8443"
	const evil = "http://evil.example"
	e := newRTEnv(t, 1, rtOptions{trusted: dwTrusted, ws: api.WSOptions{AllowedOrigins: []string{"shop.example:8443"}}})
	in := e.hubs[0]
	base := in.http.URL
	own := base // the hub's own host
	ip := 0
	widget := func(origin string) wbResp {
		t.Helper()
		ip++
		hdr := map[string]string{"X-Forwarded-For": fmt.Sprintf("10.8.0.%d", ip)}
		if origin != "" {
			hdr["Origin"] = origin
		}
		return wbReq(t, "POST", base+"/api/v1/widget/sessions", hdr, `{"name":"Ann","title":"Help"}`)
	}
	preflight := func(path, origin string) wbResp {
		t.Helper()
		return wbReq(t, "OPTIONS", base+path, map[string]string{"Origin": origin,
			"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization,content-type"}, "")
	}
	hasToken := func(h http.Header, name, token string) bool {
		for _, v := range h.Values(name) {
			for _, p := range strings.Split(v, ",") {
				if strings.EqualFold(strings.TrimSpace(p), token) {
					return true
				}
			}
		}
		return false
	}
	noCORS := func(what string, r wbResp) {
		t.Helper()
		for k := range r.header {
			if strings.HasPrefix(strings.ToLower(k), "access-control-") {
				t.Errorf("%s: CORS header %s: %v", what, k, r.header.Values(k))
			}
		}
	}
	total := func() int64 { t.Helper(); return wbStats(t, base)["total"] }

	for _, origin := range []string{shop, own} {
		r := preflight("/api/v1/widget/sessions", origin)
		if r.status != http.StatusNoContent || r.header.Get("Access-Control-Allow-Origin") != origin ||
			!hasToken(r.header, "Access-Control-Allow-Headers", "Authorization") ||
			!hasToken(r.header, "Access-Control-Allow-Headers", "Content-Type") ||
			!hasToken(r.header, "Access-Control-Allow-Methods", "POST") || !hasToken(r.header, "Vary", "Origin") || len(r.body) != 0 {
			t.Errorf("preflight from %s: %s %v", origin, r, r.header)
		}
		n := total()
		r = widget(origin)
		if r.status != http.StatusCreated || r.header.Get("Access-Control-Allow-Origin") != origin || !hasToken(r.header, "Vary", "Origin") {
			t.Errorf("POST from %s: %s %v", origin, r, r.header)
		}
		if total() != n+1 {
			t.Errorf("POST from %s created no session", origin)
		}
	}
	// An error answer of an allowed origin is readable too.
	r := wbReq(t, "GET", base+"/api/v1/stats", map[string]string{"Origin": shop}, "")
	if r.status != http.StatusUnauthorized || r.header.Get("Access-Control-Allow-Origin") != shop {
		t.Errorf("unauthorized GET from the shop: %s %v", r, r.header)
	}

	n := total()
	r = preflight("/api/v1/widget/sessions", evil)
	wbWantError(t, "preflight from evil", r, 403, hub.EFORBIDDEN, "origin not allowed")
	if r.header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("preflight from evil allowed: %v", r.header)
	}
	r = widget(evil)
	wbWantError(t, "POST from evil", r, 403, hub.EFORBIDDEN, "origin not allowed")
	if r.header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("POST from evil readable: %v", r.header)
	}
	r = wbReq(t, "GET", base+"/api/v1/stats", map[string]string{"Origin": evil, "Authorization": rtAdminKey}, "")
	wbWantError(t, "admin GET from evil", r, 403, hub.EFORBIDDEN, "origin not allowed")
	if total() != n {
		t.Errorf("requests from evil created sessions: %d, then %d", n, total())
	}

	// Without Origin: as before.
	r = widget("")
	if r.status != http.StatusCreated {
		t.Errorf("POST without Origin: %s", r)
	}
	noCORS("POST without Origin", r)
	r = wbReq(t, "GET", base+"/api/v1/stats", map[string]string{"Authorization": rtAdminKey}, "")
	if r.status != 200 {
		t.Errorf("GET without Origin: %s", r)
	}
	noCORS("GET without Origin", r)

	// Other paths: no CORS, whatever the Origin.
	for _, origin := range []string{shop, evil} {
		r = wbReq(t, "GET", base+"/healthz", map[string]string{"Origin": origin}, "")
		if r.status != 200 {
			t.Errorf("/healthz from %s: %s", origin, r)
		}
		noCORS("/healthz from "+origin, r)
		r = wbReq(t, "GET", base+"/customer-service/stats", map[string]string{"Origin": origin, "Authorization": rtAdminKey}, "")
		if r.status != 200 {
			t.Errorf("/customer-service/stats from %s: %s", origin, r)
		}
		noCORS("/customer-service/stats from "+origin, r)
		noCORS("preflight of /customer-service from "+origin, preflight("/customer-service/sessions", origin))
	}

	// The one setting governs both: the API and the WebSocket handshake
	// decide every origin alike.
	for _, c := range []struct {
		origin string
		ok     bool
	}{
		{shop, true}, {"https://shop.example:8443", true}, {"http://SHOP.Example:8443", true}, {own, true},
		{"http://shop.example", false}, {"http://shop.example:8444", false}, {"http://shop.example:8443.evil.example", false},
		{evil, false}, {"null", false}, {"http://localhost" + base[strings.LastIndex(base, ":"):], false},
	} {
		r := wbReq(t, "GET", base+"/api/v1/stats", map[string]string{"Origin": c.origin, "Authorization": rtAdminKey}, "")
		apiOK := r.status == 200
		_, _, err := rawDialOpts(t, in.WSURL(), http.Header{"Origin": {c.origin}}, nil)
		wsOK := err == nil
		if apiOK != c.ok || wsOK != c.ok {
			t.Errorf("origin %q: API %v (%s), WebSocket %v (%v); want both %v", c.origin, apiOK, r, wsOK, err, c.ok)
		}
	}
}

// TestObservingSupervisorIsNotOffered: a supervisor's socket that says
// observe (the supervisor view) does not make the supervisor present, so
// routing offers it nothing, while it still hears the contact center; the
// same supervisor's ordinary socket (the desktop) is offered the session.
// A plain agent cannot observe: its socket makes it present all the same.
func TestObservingSupervisorIsNotOffered(t *testing.T) {
	e := newRTEnv(t, 2, rtOptions{desk: &hub.DeskPolicy{OfferTimeout: 30 * time.Second, Grace: time.Minute,
		PresenceTTL: time.Minute, SweepEvery: time.Hour}})
	sup := dwAgent(e, "sup", hub.RoleSupervisor, 5)
	plain := dwAgent(e, "plain", hub.RoleAgent, 5)

	watch := rawDial(t, e.hubs[0])
	watch.send(protocol.Command{Type: protocol.CmdAuth, ID: "auth", Token: sup, Observe: true})
	if h := watch.read(); h.Type != protocol.FrameHello {
		t.Fatalf("observer: expected hello, got %s", h.Raw)
	}
	// Notices are not replayed: the session is created once the observer's
	// instance listens to the supervisors' channel (a loaded machine may
	// take a while to subscribe after hello).
	supCh := e.r.Prefix + ":ch:" + hub.SupervisorsTopic
	waitFor(t, 10*time.Second, "the supervisors' channel subscribed", func() bool {
		n, err := e.r.Client.PubSubNumSub(context.Background(), supCh).Result()
		return err == nil && n[supCh] >= 1
	})
	sid, _ := e.customer(e.hubs[1], "Maria")
	watch.readUntil(func(f rawFrame) bool { return f.Type == hub.EventSessionChanged && f.SessionID == sid })
	watch.readUntil(func(f rawFrame) bool {
		return f.Type == hub.EventQueueStats && strings.Contains(string(f.Raw), `"length":1`)
	})
	if a := dwGetAgent(e, e.hubs[0], "sup"); a.Online || a.Status != hub.AgentOffline {
		t.Fatalf("an observing supervisor: %+v, want Offline and not online", a)
	}
	if _, state := e.sessionSeq(e.hubs[0], sid); state != string(hub.StateQueuing) {
		t.Fatalf("with only an observer connected the session is %s, want Queuing", state)
	}

	desk := dwDialFrom(e, e.hubs[1], sup, "198.51.100.7")
	rd := record(t, desk)
	dwWait(t, rd, "the offer to the supervisor's desktop", dwState(sid, hub.StateOffered, "sup"))

	// observe is ignored for a plain agent: it is present and Available.
	c := rawDial(t, e.hubs[0])
	c.send(protocol.Command{Type: protocol.CmdAuth, ID: "auth", Token: plain, Observe: true})
	if h := c.read(); h.Type != protocol.FrameHello {
		t.Fatalf("plain agent: expected hello, got %s", h.Raw)
	}
	dwWaitAgent(e, e.hubs[0], "plain", "the plain agent online", func(a dwAgentView) bool { return a.Online && a.Status == hub.AgentAvailable })
}
