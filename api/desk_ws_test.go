package api_test

// Agents at work over real sockets: queue positions across instances,
// presence (tabs, grace, sweeps), routing commands and statuses. The
// helpers of this file start with dw so as not to collide with others.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/api/client"
	"github.com/switchboardhq/switchboard/api/protocol"
	"github.com/switchboardhq/switchboard/hub"
)

// dwTrusted makes the loopback a trusted proxy, so that a test can give
// each client its own address with X-Forwarded-For (the widget's rate
// limit is per address; agents' ip_addrs show it).
var dwTrusted = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}

// dwClock runs with real time, shifted by what the test advanced.
type dwClock struct{ off atomic.Int64 }

func (c *dwClock) Now() time.Time          { return time.Now().Add(time.Duration(c.off.Load())) }
func (c *dwClock) Advance(d time.Duration) { c.off.Add(int64(d)) }

// dwFrame is any frame of the hub with the fields these tests look at.
type dwFrame struct {
	Type        string       `json:"type"`
	Seq         int64        `json:"seq"`
	SessionID   string       `json:"session_id"`
	State       string       `json:"state"`
	Reason      string       `json:"reason"`
	AgentID     string       `json:"agent_id"`
	TeamID      string       `json:"team_id"`
	BotID       string       `json:"bot_id"`
	Status      string       `json:"status"`
	Previous    string       `json:"previous"`
	Chosen      string       `json:"chosen_status"`
	Position    int          `json:"position"`
	QueueLength int          `json:"queue_length"`
	EstimatedS  *int64       `json:"estimated_wait_s"`
	Version     int64        `json:"version"`
	Length      int          `json:"length"`
	From        client.Party `json:"from"`
	Raw         string       `json:"-"`
}

func dwParse(raw []byte) dwFrame {
	var f dwFrame
	json.Unmarshal(raw, &f)
	f.Raw = string(raw)
	return f
}

// dwFrames returns every frame r has seen so far, parsed.
func dwFrames(r *recorder) []dwFrame {
	fs, _ := r.snapshot()
	out := make([]dwFrame, len(fs))
	for i, f := range fs {
		out[i] = dwParse(f.Raw)
	}
	return out
}

// dwMatching returns the frames of r that satisfy keep.
func dwMatching(r *recorder, keep func(dwFrame) bool) []dwFrame {
	var out []dwFrame
	for _, f := range dwFrames(r) {
		if keep(f) {
			out = append(out, f)
		}
	}
	return out
}

// dwWait waits up to 10 s for a frame of r satisfying keep and returns the first.
func dwWait(t *testing.T, r *recorder, what string, keep func(dwFrame) bool) dwFrame {
	t.Helper()
	var found dwFrame
	r.waitUntil(t, 10*time.Second, what, func(fs []client.Frame) bool {
		for _, f := range fs {
			if d := dwParse(f.Raw); keep(d) {
				found = d
				return true
			}
		}
		return false
	})
	return found
}

// dwWaitCount waits up to 10 s until r has seen n frames satisfying keep.
func dwWaitCount(t *testing.T, r *recorder, what string, keep func(dwFrame) bool, n int) {
	t.Helper()
	r.waitUntil(t, 10*time.Second, what, func(fs []client.Frame) bool {
		seen := 0
		for _, f := range fs {
			if keep(dwParse(f.Raw)) {
				seen++
			}
		}
		return seen >= n
	})
}

// dwWantRefused reports (without stopping the test) unless err is a
// refusal with one of codes.
func dwWantRefused(t *testing.T, what string, err error, codes ...string) {
	t.Helper()
	var re *client.ReplyError
	if !errors.As(err, &re) {
		t.Errorf("%s: %v, want a refusal (%v)", what, err, codes)
		return
	}
	if !slices.Contains(codes, re.Code) {
		t.Errorf("%s: refused with %q (%s), want %v", what, re.Code, re.Message, codes)
	}
}

// dwState matches a session.state of sid with state (and agent, if not "").
func dwState(sid string, state hub.State, agent string) func(dwFrame) bool {
	return func(f dwFrame) bool {
		return f.Type == hub.EventSessionState && f.SessionID == sid && f.State == string(state) &&
			(agent == "" || f.AgentID == agent)
	}
}

// dwStatus matches an agent.status of agent showing status (and, if not "", after previous).
func dwStatus(agent, status, previous string) func(dwFrame) bool {
	return func(f dwFrame) bool {
		return f.Type == hub.EventAgentStatus && f.AgentID == agent && f.Status == status &&
			(previous == "" || f.Previous == previous)
	}
}

func dwOfType(typ, sid string) func(dwFrame) bool {
	return func(f dwFrame) bool { return f.Type == typ && f.SessionID == sid }
}

// dwAgent stores an agent account of role and capacity and returns a token
// for it (as quickAgent, without bcrypt).
func dwAgent(e *rtEnv, id string, role hub.Role, capacity int) string {
	e.t.Helper()
	a := &hub.Agent{ID: id, Name: "Agent " + id, Email: id + "@example.com", Role: role, Capacity: capacity, CreatedAt: time.Now()}
	if err := e.hubs[0].store.PutAgent(context.Background(), a); err != nil {
		e.t.Fatal(err)
	}
	return e.tokens.Sign(hub.Claims{Role: hub.PrincipalAgent, Subject: id, Name: a.Name, Expires: time.Now().Add(time.Hour).Unix()})
}

// dwXFF adds X-Forwarded-For to every request.
type dwXFF struct{ ip string }

func (x dwXFF) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("X-Forwarded-For", x.ip)
	return http.DefaultTransport.RoundTrip(r)
}

// dwDialFrom connects a client to in as if from ip (the instances must trust the loopback).
func dwDialFrom(e *rtEnv, in *rtInstance, token, ip string) *client.Client {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, client.Config{URL: in.WSURL(), Token: token, HTTPClient: &http.Client{Transport: dwXFF{ip}}})
	if err != nil {
		e.t.Fatalf("dial: %v", err)
	}
	e.t.Cleanup(func() { c.CloseNow() })
	return c
}

// dwHTTP makes a JSON request without failing the test (for goroutines):
// it returns the status, or an error.
func dwHTTP(method, url, key, xff, body string, out any) (int, error) {
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		return 0, err
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if xff != "" {
		req.Header.Set("X-Forwarded-For", xff)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if out != nil && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			return res.StatusCode, fmt.Errorf("%s %s: %v: %s", method, url, err, b)
		}
	}
	return res.StatusCode, nil
}

// dwCustomer opens a widget session on in from address ip.
func dwCustomer(e *rtEnv, in *rtInstance, name, ip string) (sessionID, token string) {
	e.t.Helper()
	var out struct {
		Session struct{ ID, State string }
		Token   string
	}
	st, err := dwHTTP("POST", in.http.URL+"/api/v1/widget/sessions", "", ip, `{"name":"`+name+`","title":"Help"}`, &out)
	if err != nil || st != http.StatusCreated {
		e.t.Fatalf("widget session: %d %v", st, err)
	}
	return out.Session.ID, out.Token
}

// dwAgentView is an agent as GET /api/v1/agents/{id} shows it.
type dwAgentView struct {
	ID      string   `json:"id"`
	Status  string   `json:"status"`
	Chosen  string   `json:"chosen_status"`
	Online  bool     `json:"online"`
	IPAddrs []string `json:"ip_addrs"`
	TeamIDs []string `json:"team_ids"`
	Role    string   `json:"role"`
}

func dwGetAgent(e *rtEnv, in *rtInstance, id string) dwAgentView {
	e.t.Helper()
	var a dwAgentView
	if st := httpJSON(e.t, "GET", in.http.URL+"/api/v1/agents/"+id, rtAdminKey, "", &a); st != 200 {
		e.t.Fatalf("get agent %s: %d", id, st)
	}
	return a
}

// dwWaitAgent waits up to 10 s until the agent as REST shows it satisfies ok.
func dwWaitAgent(e *rtEnv, in *rtInstance, id, what string, ok func(dwAgentView) bool) dwAgentView {
	e.t.Helper()
	var a dwAgentView
	deadline := time.Now().Add(10 * time.Second)
	for {
		if a = dwGetAgent(e, in, id); ok(a) {
			return a
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("agent %s: timed out waiting for %s; last seen %+v", id, what, a)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// dwSetStatus sets an agent's chosen status with the admin key.
func dwSetStatus(e *rtEnv, in *rtInstance, id, status string) {
	e.t.Helper()
	if st := httpJSON(e.t, "PUT", in.http.URL+"/api/v1/agents/"+id+"/status", rtAdminKey, `{"status":"`+status+`"}`, nil); st != 200 {
		e.t.Fatalf("set status of %s to %s: %d", id, status, st)
	}
}

// dwStream returns a session's events as its stream holds them (over REST).
func dwStream(e *rtEnv, in *rtInstance, sid string) []dwFrame {
	e.t.Helper()
	var out struct{ Events []json.RawMessage }
	if st := httpJSON(e.t, "GET", in.http.URL+"/api/v1/sessions/"+sid+"/events?limit=1000", rtAdminKey, "", &out); st != 200 {
		e.t.Fatalf("events of %s: %d", sid, st)
	}
	fs := make([]dwFrame, len(out.Events))
	for i, raw := range out.Events {
		fs[i] = dwParse(raw)
	}
	return fs
}

// dwDo runs a command with a 10 s bound.
func dwDo(c *client.Client, cmd protocol.Command) (protocol.Reply, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return c.Do(ctx, cmd)
}

// dwMustDo runs a command and fails the test unless it succeeds.
func dwMustDo(t *testing.T, c *client.Client, cmd protocol.Command) protocol.Reply {
	t.Helper()
	rep, err := dwDo(c, cmd)
	if err != nil {
		t.Fatalf("%s %s: %v", cmd.Type, cmd.SessionID, err)
	}
	return rep
}

// dwRouteAll routes on every instance, now: what the routers would do on
// their own sooner or later, done before the test looks.
func dwRouteAll(t *testing.T, e *rtEnv) {
	t.Helper()
	for i, in := range e.hubs {
		if err := in.desk.Route(context.Background()); err != nil {
			t.Fatalf("route on instance %d: %v", i, err)
		}
	}
}

func dwSessionState(e *rtEnv, in *rtInstance, sid string) string {
	e.t.Helper()
	_, st := e.sessionSeq(in, sid)
	return st
}

// dwSupervisorLive waits until sup receives agents' status changes: it
// flips the chosen status of an online canary agent until sup sees one.
func dwSupervisorLive(t *testing.T, e *rtEnv, in *rtInstance, sup *recorder, canary string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for i := 0; ; i++ {
		status := []string{"lunch", hub.AgentAvailable}[i%2]
		dwSetStatus(e, in, canary, status)
		if len(dwMatching(sup, func(f dwFrame) bool { return f.Type == hub.EventAgentStatus && f.AgentID == canary })) > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the supervisor socket never received a status change")
		}
		select {
		case <-sup.wake:
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// ---------------------------------------------------------------------
// Queue positions

// dwQPos is one queue.position frame as a customer received it.
type dwQPos struct {
	Pos, Len int
	Est      *int64
	Version  int64
}

// dwCheckQueue checks the queue.position frames each customer received, in
// order, while waiting (nobody in them was requeued): per customer,
// versions strictly increase and positions never rise; per version, every
// frame has the same queue_length, positions are within 1..queue_length
// and distinct between customers, and the estimated waits are all null or
// all set and never decrease with the position. It returns the violations.
func dwCheckQueue(byCustomer map[string][]dwQPos) []string {
	var bad []string
	type seen struct {
		who string
		p   dwQPos
	}
	versions := map[int64][]seen{}
	for _, who := range slices.Sorted(mapKeys(byCustomer)) {
		ps := byCustomer[who]
		for i, p := range ps {
			if p.Pos < 1 || p.Pos > p.Len {
				bad = append(bad, fmt.Sprintf("%s: position %d outside 1..%d (version %d)", who, p.Pos, p.Len, p.Version))
			}
			if i > 0 {
				q := ps[i-1]
				if p.Version <= q.Version {
					bad = append(bad, fmt.Sprintf("%s: version went from %d to %d", who, q.Version, p.Version))
				}
				if p.Pos > q.Pos {
					bad = append(bad, fmt.Sprintf("%s: position rose from %d (version %d) to %d (version %d) while waiting",
						who, q.Pos, q.Version, p.Pos, p.Version))
				}
			}
			versions[p.Version] = append(versions[p.Version], seen{who, p})
		}
	}
	for _, v := range slices.Sorted(mapKeys(versions)) {
		ss := versions[v]
		sort.SliceStable(ss, func(i, j int) bool { return ss[i].p.Pos < ss[j].p.Pos })
		for i, s := range ss {
			if s.p.Len != ss[0].p.Len {
				bad = append(bad, fmt.Sprintf("version %d: queue_length %d for %s but %d for %s", v, s.p.Len, s.who, ss[0].p.Len, ss[0].who))
			}
			if (s.p.Est == nil) != (ss[0].p.Est == nil) {
				bad = append(bad, fmt.Sprintf("version %d: estimated_wait_s null for some customers only (%s, %s)", v, s.who, ss[0].who))
			}
			if i == 0 {
				continue
			}
			prev := ss[i-1]
			if s.p.Pos == prev.p.Pos && s.who != prev.who {
				bad = append(bad, fmt.Sprintf("version %d: %s and %s both at position %d", v, prev.who, s.who, s.p.Pos))
			}
			if s.p.Est != nil && prev.p.Est != nil && *s.p.Est < *prev.p.Est {
				bad = append(bad, fmt.Sprintf("version %d: estimated wait %d s at position %d but %d s at position %d",
					v, *s.p.Est, s.p.Pos, *prev.p.Est, prev.p.Pos))
			}
		}
	}
	return bad
}

func mapKeys[K comparable, V any](m map[K]V) func(func(K) bool) {
	return func(yield func(K) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// TestQueueCheckCatchesViolations shows that dwCheckQueue is not a check
// that cannot fail: each kind of inconsistency is reported.
func TestQueueCheckCatchesViolations(t *testing.T) {
	est := func(v int64) *int64 { return &v }
	good := map[string][]dwQPos{
		"a": {{1, 2, nil, 1}, {1, 3, nil, 2}, {1, 2, est(10), 4}},
		"b": {{2, 2, nil, 1}, {2, 3, nil, 2}, {2, 2, est(20), 4}},
		"c": {{3, 3, nil, 2}},
	}
	if bad := dwCheckQueue(good); len(bad) > 0 {
		t.Fatalf("consistent frames reported: %v", bad)
	}
	cases := map[string]map[string][]dwQPos{
		"duplicate position": {"a": {{1, 2, nil, 1}}, "b": {{1, 2, nil, 1}}},
		"position too big":   {"a": {{3, 2, nil, 1}}},
		"position zero":      {"a": {{0, 2, nil, 1}}},
		"position rises":     {"a": {{1, 3, nil, 1}, {2, 3, nil, 2}}},
		"version goes back":  {"a": {{2, 3, nil, 2}, {1, 3, nil, 1}}},
		"length differs":     {"a": {{1, 2, nil, 1}}, "b": {{2, 3, nil, 1}}},
		"estimate nullness":  {"a": {{1, 2, nil, 1}}, "b": {{2, 2, est(5), 1}}},
		"estimate decreases": {"a": {{1, 2, est(9), 1}}, "b": {{2, 2, est(5), 1}}},
	}
	for name, c := range cases {
		if bad := dwCheckQueue(c); len(bad) == 0 {
			t.Errorf("%s: not reported", name)
		}
	}
}

// dwQueueFrames returns the queue.position frames r has seen, in order.
func dwQueueFrames(r *recorder) []dwQPos {
	var out []dwQPos
	for _, f := range dwFrames(r) {
		if f.Type == hub.EventQueuePosition {
			out = append(out, dwQPos{f.Position, f.QueueLength, f.EstimatedS, f.Version})
		}
	}
	return out
}

// TestQueuePositionsConsistent (acceptance): 50 customers wait on two
// instances, recording every queue.position frame; sessions then leave the
// queue one at a time (admin assign, the customer's own close, an agent's
// pick), each followed by a quiescent checkpoint at which every waiting
// customer's last frame must show exactly its place (so that the frames of
// the customers form 1..n) and each customer that left must have last seen
// the place it had; then the rest leave in a burst (agents accepting
// offers and closing, customers closing, admin assigns and picks, all at
// once). Throughout, the frames of one version must be one consistent
// snapshot across both instances, and no customer's position may rise.
func TestQueuePositionsConsistent(t *testing.T) {
	e := newRTEnv(t, 2, rtOptions{ws: fastWS, trusted: dwTrusted,
		desk: &hub.DeskPolicy{OfferTimeout: 30 * time.Second, Grace: time.Minute, Statuses: []string{"lunch"}}})
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(uint64(seed), 7))

	// A supervisor (on lunch, so that it is never routed sessions) watches queue.stats on instance 0.
	supTok := dwAgent(e, "sup", hub.RoleSupervisor, 5)
	dwSetStatus(e, e.hubs[0], "sup", "lunch")
	sup := record(t, e.dial(e.hubs[0], supTok))
	// Two pickers on lunch: never routed, they pick queued sessions themselves.
	var pickers [2]*client.Client
	for i := range pickers {
		id := fmt.Sprintf("picker%d", i)
		tok := dwAgent(e, id, hub.RoleAgent, 50)
		dwSetStatus(e, e.hubs[i], id, "lunch")
		pickers[i] = e.dial(e.hubs[i], tok)
		record(t, pickers[i]) // keep its events drained
	}

	type waiter struct {
		name string
		sid  string
		in   int
		c    *client.Client
		rec  *recorder
	}
	const n = 50
	var all []*waiter
	newWaiter := func(i int) *waiter {
		in := i % 2
		name := fmt.Sprintf("cust%02d", i)
		sid, tok := dwCustomer(e, e.hubs[in], name, fmt.Sprintf("10.77.%d.%d", i/200, i%200+1))
		c := e.dial(e.hubs[in], tok)
		w := &waiter{name: name, sid: sid, in: in, c: c, rec: record(t, c)}
		all = append(all, w)
		return w
	}
	var order []*waiter // the queue as the test knows it, front first
	for i := range n {
		order = append(order, newWaiter(i))
	}

	lastPos := func(w *waiter) (dwQPos, bool) {
		ps := dwQueueFrames(w.rec)
		if len(ps) == 0 {
			return dwQPos{}, false
		}
		return ps[len(ps)-1], true
	}
	// checkpoint waits until every waiting customer's last frame shows its
	// place in a queue of len(order).
	checkpoint := func(label string) {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for {
			var wrong []string
			for rank, w := range order {
				p, ok := lastPos(w)
				if !ok || p.Pos != rank+1 || p.Len != len(order) {
					wrong = append(wrong, fmt.Sprintf("%s: last %+v, want position %d of %d", w.name, p, rank+1, len(order)))
				}
			}
			if len(wrong) == 0 {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: after 15 s, %d customers do not show their place:\n%s", label, len(wrong), strings.Join(wrong, "\n"))
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	checkpoint("all 50 waiting")

	// Phase A: one at a time, each followed by a checkpoint.
	assignee := 0
	for step := range 20 {
		var rank int
		switch step % 4 {
		case 0:
			rank = 0
		case 1:
			rank = len(order) - 1
		default:
			rank = rng.IntN(len(order))
		}
		w := order[rank]
		before, _ := lastPos(w)
		in := e.hubs[step%2]
		switch step % 3 {
		case 0:
			e.assign(in, w.sid, fmt.Sprintf("assignee%d", assignee/4))
			assignee++
		case 1:
			if rep := dwMustDo(t, w.c, protocol.Command{Type: protocol.CmdClose, SessionID: w.sid}); !rep.OK {
				t.Fatalf("close: %+v", rep)
			}
		case 2:
			if rep := dwMustDo(t, pickers[step%2], protocol.Command{Type: protocol.CmdPick, SessionID: w.sid}); rep.State != string(hub.StateAgent) {
				t.Fatalf("pick: %+v", rep)
			}
		}
		order = slices.Delete(order, rank, rank+1)
		checkpoint(fmt.Sprintf("step %d (%s left from position %d)", step, w.name, rank+1))
		// It last saw the place it had when it left, and nothing since.
		if after, _ := lastPos(w); after.Version != before.Version || after.Pos != rank+1 || after.Len != len(order)+1 {
			t.Fatalf("step %d: %s left from position %d of %d, but its last frame is %+v (at the checkpoint before: %+v)",
				step, w.name, rank+1, len(order)+1, after, before)
		}
	}

	// Phase B: everything at once.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// Commands lose races in the burst (a session taken meanwhile): a
	// refusal is fine, a failure of the hub is not.
	note := func(what string, err error) {
		var re *client.ReplyError
		switch {
		case err == nil, ctx.Err() != nil:
		case errors.As(err, &re) && re.Code != hub.EINTERNAL:
		default:
			t.Errorf("burst: %s: %v", what, err)
		}
	}
	var closers, assigns, picks []*waiter
	for i, w := range order {
		switch {
		case i%5 == 4:
			closers = append(closers, w)
		case i%5 == 3:
			assigns = append(assigns, w)
		case i%7 == 2:
			picks = append(picks, w)
		}
	}
	start := make(chan struct{})
	var wg sync.WaitGroup
	var workers []string
	for i := range 4 {
		id := fmt.Sprintf("worker%d", i)
		workers = append(workers, id)
		c := e.dial(e.hubs[i%2], dwAgent(e, id, hub.RoleAgent, 1))
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			for {
				var f client.Frame
				select {
				case <-ctx.Done():
					return
				case f = <-c.Events():
				}
				d := dwParse(f.Raw)
				if !dwState(d.SessionID, hub.StateOffered, id)(d) {
					continue
				}
				_, err := c.Do(ctx, protocol.Command{Type: protocol.CmdAccept, SessionID: d.SessionID})
				note(id+" accept", err)
				if err == nil {
					_, err = c.Do(ctx, protocol.Command{Type: protocol.CmdClose, SessionID: d.SessionID})
					note(id+" close", err)
				}
			}
		}()
	}
	wg.Add(3)
	go func() {
		defer wg.Done()
		<-start
		for _, w := range closers {
			_, err := w.c.Do(ctx, protocol.Command{Type: protocol.CmdClose, SessionID: w.sid})
			note("customer close", err)
		}
	}()
	go func() {
		defer wg.Done()
		<-start
		for i, w := range assigns {
			st, err := dwHTTP("POST", e.hubs[i%2].http.URL+"/customer-service/sessions/"+w.sid+"/assign", rtAdminKey, "",
				fmt.Sprintf(`{"agent_id":"bassignee%d","agent_name":"B"}`, i/4), nil)
			if err != nil || st != 200 && st != 409 {
				t.Errorf("burst assign: %d %v", st, err)
			}
		}
	}()
	go func() {
		defer wg.Done()
		<-start
		for i, w := range picks {
			_, err := pickers[i%2].Do(ctx, protocol.Command{Type: protocol.CmdPick, SessionID: w.sid})
			note("pick", err)
		}
	}()
	close(start)
	waitFor(t, 60*time.Second, "the queue to empty", func() bool {
		var q struct{ Length int }
		httpJSON(t, "GET", e.hubs[0].http.URL+"/api/v1/queue", rtAdminKey, "", &q)
		return q.Length == 0
	})
	cancel()
	wg.Wait()
	// Nothing may come back to the queue now: workers go to lunch, offers
	// still open are closed.
	for _, id := range workers {
		dwSetStatus(e, e.hubs[0], id, "lunch")
	}
	var waiting struct{ Sessions []struct{ ID, State string } }
	httpJSON(t, "GET", e.hubs[0].http.URL+"/api/v1/sessions?status=Waiting&limit=200", rtAdminKey, "", &waiting)
	for _, s := range waiting.Sessions {
		if s.State == string(hub.StateQueuing) {
			t.Fatalf("session %s still queued after the queue emptied", s.ID)
		}
		httpJSON(t, "DELETE", e.hubs[0].http.URL+"/api/v1/sessions/"+s.ID, rtAdminKey, "", nil)
	}
	// Two latecomers, one per instance, end on a last exact checkpoint.
	order = []*waiter{newWaiter(n), newWaiter(n + 1)}
	checkpoint("latecomers")

	byCustomer := map[string][]dwQPos{}
	versions := map[int64]map[int]bool{} // which instances' customers saw each version
	frames := 0
	for _, w := range all {
		ps := dwQueueFrames(w.rec)
		if len(ps) == 0 {
			t.Errorf("%s never received its position", w.name)
		}
		frames += len(ps)
		byCustomer[w.name] = ps
		for _, p := range ps {
			if versions[p.Version] == nil {
				versions[p.Version] = map[int]bool{}
			}
			versions[p.Version][w.in] = true
		}
	}
	both := 0
	for _, ins := range versions {
		if len(ins) == 2 {
			both++
		}
	}
	t.Logf("%d queue.position frames, %d versions, %d of them seen on both instances", frames, len(versions), both)
	if both < 20 {
		t.Fatalf("only %d versions were seen on both instances: the cross-instance check compared too little", both)
	}
	if bad := dwCheckQueue(byCustomer); len(bad) > 0 {
		if len(bad) > 30 {
			bad = append(bad[:30], fmt.Sprintf("... and %d more", len(bad)-30))
		}
		t.Fatalf("queue positions inconsistent:\n%s", strings.Join(bad, "\n"))
	}
	// The supervisor's queue.stats agree with the customers' frames of the same version.
	lengths := map[int64]int{}
	for _, ps := range byCustomer {
		for _, p := range ps {
			lengths[p.Version] = p.Len
		}
	}
	stats, agreed := dwMatching(sup, func(f dwFrame) bool { return f.Type == hub.EventQueueStats }), 0
	for _, s := range stats {
		if l, ok := lengths[s.Version]; ok {
			agreed++
			if l != s.Length {
				t.Errorf("version %d: queue.stats length %d, customers' queue_length %d", s.Version, s.Length, l)
			}
		}
	}
	if agreed == 0 {
		t.Errorf("the supervisor's %d queue.stats share no version with the customers' frames", len(stats))
	}
}

// ---------------------------------------------------------------------
// Presence

// TestSecondTabKeepsAgentOnline: an agent with two sockets (two tabs, on
// two instances, from two addresses) stays online and Available when one
// closes, even past the grace period; when both are closed it is kept for
// the grace period and then turned Offline by a sweep.
func TestSecondTabKeepsAgentOnline(t *testing.T) {
	clk := &dwClock{}
	e := newRTEnv(t, 2, rtOptions{clock: clk.Now, trusted: dwTrusted, desk: &hub.DeskPolicy{
		OfferTimeout: 30 * time.Second, Grace: 20 * time.Second, PresenceTTL: 10 * time.Minute, SweepEvery: time.Hour,
		Statuses: []string{"lunch"}}})
	tok := e.quickAgent("a1")
	ctx := context.Background()
	sweepAll := func() {
		t.Helper()
		for i, in := range e.hubs {
			if err := in.desk.Sweep(ctx); err != nil {
				t.Fatalf("sweep on %d: %v", i, err)
			}
		}
	}
	tab1 := dwDialFrom(e, e.hubs[0], tok, "198.51.100.1")
	r1 := record(t, tab1)
	tab2 := dwDialFrom(e, e.hubs[1], tok, "198.51.100.2")
	r2 := record(t, tab2)
	dwWait(t, r1, "tab 1's status", dwStatus("a1", hub.AgentAvailable, ""))
	dwWait(t, r2, "tab 2's status", dwStatus("a1", hub.AgentAvailable, ""))
	a := dwWaitAgent(e, e.hubs[0], "a1", "both addresses", func(a dwAgentView) bool { return len(a.IPAddrs) == 2 })
	if !a.Online || a.Status != hub.AgentAvailable || !slices.Equal(a.IPAddrs, []string{"198.51.100.1", "198.51.100.2"}) {
		t.Fatalf("with two tabs: %+v", a)
	}

	tab1.Close()
	a = dwWaitAgent(e, e.hubs[1], "a1", "tab 1's address gone", func(a dwAgentView) bool { return len(a.IPAddrs) == 1 })
	if !a.Online || a.Status != hub.AgentAvailable || a.IPAddrs[0] != "198.51.100.2" {
		t.Fatalf("one tab closed: %+v, want online, Available, from 198.51.100.2", a)
	}
	clk.Advance(30 * time.Second) // past the grace period: the other tab still holds
	sweepAll()
	if a = dwGetAgent(e, e.hubs[0], "a1"); !a.Online || a.Status != hub.AgentAvailable || !slices.Equal(a.IPAddrs, []string{"198.51.100.2"}) {
		t.Fatalf("one tab closed, grace passed, swept: %+v, want online and Available", a)
	}

	tab2.Close()
	a = dwWaitAgent(e, e.hubs[0], "a1", "both tabs closed", func(a dwAgentView) bool { return !a.Online })
	if a.Status != hub.AgentAvailable {
		t.Fatalf("both tabs closed, within grace: status %q, want Available kept", a.Status)
	}
	clk.Advance(10 * time.Second)
	sweepAll()
	if a = dwGetAgent(e, e.hubs[0], "a1"); a.Status != hub.AgentAvailable || a.Online {
		t.Fatalf("both closed, half the grace passed, swept: %+v, want Available, not online", a)
	}
	clk.Advance(11 * time.Second)
	if err := e.hubs[1].desk.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	a = dwGetAgent(e, e.hubs[0], "a1")
	if a.Status != hub.AgentOffline || a.Online || !slices.Equal(a.IPAddrs, []string{"198.51.100.2"}) {
		t.Fatalf("grace passed, swept: %+v, want Offline with the last address", a)
	}
	// Neither tab was ever told of another status.
	for i, r := range []*recorder{r1, r2} {
		for _, f := range dwMatching(r, ofTypeDW(hub.EventAgentStatus)) {
			if f.Status != hub.AgentAvailable {
				t.Errorf("tab %d was told %s", i+1, f.Raw)
			}
		}
	}
}

func ofTypeDW(typ string) func(dwFrame) bool { return func(f dwFrame) bool { return f.Type == typ } }

// TestGraceRequeuesOnce: an agent in a session loses its only socket; past
// the grace period, sweeps on both instances at once requeue the session
// exactly once (reason agent_offline), and it is not offered to that agent
// but to the next one who comes.
func TestGraceRequeuesOnce(t *testing.T) {
	clk := &dwClock{}
	e := newRTEnv(t, 2, rtOptions{clock: clk.Now, desk: &hub.DeskPolicy{
		OfferTimeout: 30 * time.Second, Grace: 20 * time.Second, PresenceTTL: 10 * time.Minute, SweepEvery: time.Hour}})
	ctx := context.Background()
	ag := e.dial(e.hubs[0], e.quickAgent("a1"))
	ra := record(t, ag)
	dwWait(t, ra, "a1's status", dwStatus("a1", hub.AgentAvailable, ""))
	sid, ctok := e.customer(e.hubs[1], "Cust")
	rc := record(t, e.dial(e.hubs[1], ctok))
	dwWait(t, ra, "the offer", dwState(sid, hub.StateOffered, "a1"))
	if rep := dwMustDo(t, ag, protocol.Command{Type: protocol.CmdAccept, SessionID: sid}); rep.State != string(hub.StateAgent) {
		t.Fatalf("accept: %+v", rep)
	}
	dwWait(t, rc, "member.joined", dwOfType(hub.EventMemberJoined, sid))
	// In chat, the customer's place is no longer recomputed on each queue change.
	waitFor(t, 10*time.Second, "the customer dropped from the queue watch", func() bool {
		return metric(t, e.hubs[1], "switchboard_queue_watched_customers") == 0
	})

	ag.Close()
	dwWaitAgent(e, e.hubs[1], "a1", "not online", func(a dwAgentView) bool { return !a.Online })
	for _, in := range e.hubs {
		if err := in.desk.Sweep(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if st := dwSessionState(e, e.hubs[0], sid); st != string(hub.StateAgent) {
		t.Fatalf("within grace the session is %s, want Agent", st)
	}

	clk.Advance(21 * time.Second)
	var wg sync.WaitGroup
	var offline atomic.Int64
	start := make(chan struct{})
	for i := range 8 {
		in := e.hubs[i%2]
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			n, err := in.store.Sweep(ctx, clk.Now(), in.desk.Policy())
			if err != nil {
				t.Errorf("sweep: %v", err)
			}
			offline.Add(int64(n))
		}()
	}
	close(start)
	wg.Wait()
	if n := offline.Load(); n != 1 {
		t.Fatalf("8 concurrent sweeps turned %d agents Offline, want 1", n)
	}
	for _, in := range e.hubs { // the desks' own sweeps: idempotent, and they route
		if err := in.desk.Sweep(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if a := dwGetAgent(e, e.hubs[0], "a1"); a.Status != hub.AgentOffline || a.Online {
		t.Fatalf("after the sweeps a1 is %+v, want Offline", a)
	}
	dwRouteAll(t, e)
	if st := dwSessionState(e, e.hubs[0], sid); st != string(hub.StateQueuing) {
		t.Fatalf("with only the offline agent, the session is %s, want Queuing", st)
	}

	isRequeue := func(f dwFrame) bool {
		return f.Type == hub.EventSessionState && f.State == string(hub.StateQueuing) && f.Reason == "agent_offline"
	}
	isLeft := func(f dwFrame) bool { return f.Type == hub.EventMemberLeft && f.Reason == "agent_offline" }
	stream := dwStream(e, e.hubs[0], sid)
	count := func(fs []dwFrame, keep func(dwFrame) bool) (n int) {
		for _, f := range fs {
			if keep(f) {
				n++
			}
		}
		return n
	}
	if r, l := count(stream, isRequeue), count(stream, isLeft); r != 1 || l != 1 {
		t.Fatalf("stream holds %d requeues and %d member.left for agent_offline, want 1 each", r, l)
	}
	rc.waitSeq(t, 10*time.Second, sid, stream[len(stream)-1].Seq)
	if r := count(dwFrames(rc), isRequeue); r != 1 {
		t.Fatalf("the customer's socket got %d requeues, want 1", r)
	}
	// Back in the queue, the customer is told its place again.
	rc.waitUntil(t, 10*time.Second, "a queue position after the requeue", func(fs []client.Frame) bool {
		requeued := false
		for _, f := range fs {
			d := dwParse(f.Raw)
			requeued = requeued || isRequeue(d)
			if requeued && d.Type == hub.EventQueuePosition && d.Position == 1 {
				return true
			}
		}
		return false
	})
	if n := metric(t, e.hubs[1], "switchboard_queue_watched_customers"); n != 1 {
		t.Fatalf("%v customers watched, want the requeued one", n)
	}

	// The next agent gets it; a1 never was offered it again.
	a2 := record(t, e.dial(e.hubs[1], e.quickAgent("a2")))
	dwWait(t, a2, "the offer to a2", dwState(sid, hub.StateOffered, "a2"))
	dwWait(t, rc, "the customer sees the offer to a2", dwState(sid, hub.StateOffered, "a2"))
	requeued := false
	for _, f := range dwFrames(rc) {
		if isRequeue(f) {
			requeued = true
		} else if requeued && f.Type == hub.EventSessionState && f.AgentID == "a1" {
			t.Fatalf("after its requeue the session went to the offline agent: %s", f.Raw)
		}
	}
}

// ---------------------------------------------------------------------
// Routing

// TestDeclineSkipsAgent: a declined session goes back to the queue and is
// not offered again to the agent who declined it, even though that agent
// is the only routable one; the next agent gets it.
func TestDeclineSkipsAgent(t *testing.T) {
	e := newRTEnv(t, 2, rtOptions{desk: &hub.DeskPolicy{OfferTimeout: 30 * time.Second, Grace: time.Minute}})
	c1 := e.dial(e.hubs[0], e.quickAgent("a1"))
	r1 := record(t, c1)
	dwWait(t, r1, "a1's status", dwStatus("a1", hub.AgentAvailable, ""))
	sid, ctok := e.customer(e.hubs[1], "Cust")
	rc := record(t, e.dial(e.hubs[1], ctok))
	dwWait(t, r1, "the offer to a1", dwState(sid, hub.StateOffered, "a1"))

	rep := dwMustDo(t, c1, protocol.Command{Type: protocol.CmdDecline, SessionID: sid})
	if !rep.OK || rep.State != string(hub.StateQueuing) {
		t.Fatalf("decline: %+v", rep)
	}
	f := dwWait(t, rc, "the requeue", dwState(sid, hub.StateQueuing, ""))
	if f.Reason != "declined" {
		t.Fatalf("requeue %s, want reason declined", f.Raw)
	}
	if a := dwGetAgent(e, e.hubs[0], "a1"); a.Status != hub.AgentAvailable || !a.Online {
		t.Fatalf("a1 after declining: %+v, want online and Available (routable)", a)
	}
	dwRouteAll(t, e)
	if st := dwSessionState(e, e.hubs[0], sid); st != string(hub.StateQueuing) {
		t.Fatalf("after routing the declined session is %s, want Queuing (a1 is skipped)", st)
	}

	c2 := e.dial(e.hubs[1], e.quickAgent("a2"))
	r2 := record(t, c2)
	dwWait(t, r2, "the offer to a2", dwState(sid, hub.StateOffered, "a2"))
	// a1 may neither decline nor accept an offer that is a2's.
	if _, err := dwDo(c1, protocol.Command{Type: protocol.CmdDecline, SessionID: sid}); err == nil {
		t.Fatal("a1 declined a2's offer")
	}
	_, err := dwDo(c1, protocol.Command{Type: protocol.CmdAccept, SessionID: sid})
	dwWantRefused(t, "a1 accepting a2's offer", err, hub.ECONFLICT, hub.ENOTFOUND)
	if rep := dwMustDo(t, c2, protocol.Command{Type: protocol.CmdAccept, SessionID: sid}); rep.State != string(hub.StateAgent) {
		t.Fatalf("a2 accept: %+v", rep)
	}
	dwWait(t, rc, "a2 joins", func(f dwFrame) bool { return f.Type == hub.EventMemberJoined && f.From.ID == "a2" })
	var offers []string
	for _, f := range dwStream(e, e.hubs[0], sid) {
		if f.Type == hub.EventSessionState && f.State == string(hub.StateOffered) {
			offers = append(offers, f.AgentID)
		}
	}
	if !slices.Equal(offers, []string{"a1", "a2"}) {
		t.Fatalf("offers went to %v, want [a1 a2]", offers)
	}
}

// TestTransferToTeam: an agent transfers its session to a team; it goes
// back to the queue for that team and is offered only to the team's
// member, although two agents outside the team are routable and would
// come first.
func TestTransferToTeam(t *testing.T) {
	clk := &dwClock{}
	e := newRTEnv(t, 2, rtOptions{clock: clk.Now, desk: &hub.DeskPolicy{OfferTimeout: 30 * time.Second, Grace: time.Minute}})
	var team struct{ ID, Name string }
	if st := httpJSON(t, "POST", e.hubs[0].http.URL+"/api/v1/teams", rtAdminKey, `{"id":"billing","name":"Billing"}`, &team); st != http.StatusCreated || team.ID != "billing" {
		t.Fatalf("create team: %d %+v", st, team)
	}
	t1, t2, t3 := e.quickAgent("a1"), e.quickAgent("a2"), e.quickAgent("a3")
	var patched dwAgentView
	if st := httpJSON(t, "PATCH", e.hubs[1].http.URL+"/api/v1/agents/a2", rtAdminKey, `{"team_ids":["billing"]}`, &patched); st != 200 || !slices.Equal(patched.TeamIDs, []string{"billing"}) {
		t.Fatalf("patch a2: %d %+v", st, patched)
	}
	var members struct {
		AgentIDs []string `json:"agent_ids"`
	}
	if httpJSON(t, "GET", e.hubs[0].http.URL+"/api/v1/teams/billing", rtAdminKey, "", &members); !slices.Equal(members.AgentIDs, []string{"a2"}) {
		t.Fatalf("team members %v, want [a2]", members.AgentIDs)
	}

	c1 := e.dial(e.hubs[0], t1)
	r1 := record(t, c1)
	dwWait(t, r1, "a1's status", dwStatus("a1", hub.AgentAvailable, ""))
	sid, ctok := e.customer(e.hubs[1], "Cust")
	rc := record(t, e.dial(e.hubs[1], ctok))
	dwWait(t, r1, "the offer to a1", dwState(sid, hub.StateOffered, "a1"))
	dwMustDo(t, c1, protocol.Command{Type: protocol.CmdAccept, SessionID: sid})
	// a3 then a2 come online later, so that routing would prefer a1 (idle
	// longest), then a3, then a2 if it ignored the team.
	clk.Advance(2 * time.Second)
	r3 := record(t, e.dial(e.hubs[1], t3))
	dwWait(t, r3, "a3's status", dwStatus("a3", hub.AgentAvailable, ""))
	clk.Advance(2 * time.Second)
	c2 := e.dial(e.hubs[0], t2)
	r2 := record(t, c2)
	dwWait(t, r2, "a2's status", dwStatus("a2", hub.AgentAvailable, ""))

	_, err := dwDo(c1, protocol.Command{Type: protocol.CmdTransfer, SessionID: sid, TeamID: "nosuchteam"})
	wantReplyError(t, "transfer to an unknown team", err, hub.ENOTFOUND)
	_, err = dwDo(c2, protocol.Command{Type: protocol.CmdTransfer, SessionID: sid, TeamID: "billing"})
	wantReplyError(t, "transfer by an agent not in the session", err, hub.ENOTFOUND, hub.EFORBIDDEN)
	rep := dwMustDo(t, c1, protocol.Command{Type: protocol.CmdTransfer, SessionID: sid, TeamID: "billing"})
	if rep.State != string(hub.StateQueuing) && rep.State != string(hub.StateOffered) {
		t.Fatalf("transfer: %+v", rep)
	}
	q := dwWait(t, rc, "the requeue for the team", dwState(sid, hub.StateQueuing, ""))
	if q.Reason != "transfer" || q.TeamID != "billing" {
		t.Fatalf("requeue %s, want reason transfer and team_id billing", q.Raw)
	}
	dwWait(t, r2, "the offer to a2", dwState(sid, hub.StateOffered, "a2"))
	if rep := dwMustDo(t, c2, protocol.Command{Type: protocol.CmdAccept, SessionID: sid}); rep.State != string(hub.StateAgent) {
		t.Fatalf("a2 accept: %+v", rep)
	}
	dwWait(t, rc, "a2 joins", func(f dwFrame) bool { return f.Type == hub.EventMemberJoined && f.From.ID == "a2" })
	var offers []string
	for _, f := range dwStream(e, e.hubs[0], sid) {
		if f.Type == hub.EventSessionState && f.State == string(hub.StateOffered) {
			offers = append(offers, f.AgentID)
		}
	}
	if !slices.Equal(offers, []string{"a1", "a2"}) {
		t.Fatalf("offers went to %v, want [a1 a2]", offers)
	}
	left := dwMatching(rc, func(f dwFrame) bool { return f.Type == hub.EventMemberLeft && f.SessionID == sid })
	if len(left) != 1 || left[0].From.ID != "a1" || left[0].Reason != "transfer" {
		t.Fatalf("member.left frames %v, want one for a1 with reason transfer", left)
	}
}

// TestTeamOfUnknownIDRefused: giving an agent a team that does not exist
// is the caller's error, not the hub's.
func TestTeamOfUnknownIDRefused(t *testing.T) {
	e := newRTEnv(t, 1, rtOptions{desk: &hub.DeskPolicy{}})
	e.quickAgent("a1")
	var body struct {
		Error struct{ Code, Message string }
	}
	st := httpJSON(t, "PATCH", e.hubs[0].http.URL+"/api/v1/agents/a1", rtAdminKey, `{"team_ids":["nosuchteam"]}`, &body)
	if st != http.StatusNotFound && st != http.StatusBadRequest {
		t.Fatalf("PATCH with an unknown team: %d %+v, want 404 (team not found) or 400", st, body)
	}
}

// TestPickQueuedSession: an agent on lunch (never routed) picks a queued
// session itself; another agent's pick of it then is refused as a
// conflict, as are a customer's and a bot's, and an agent at capacity is
// refused with limit.
func TestPickQueuedSession(t *testing.T) {
	e := newRTEnv(t, 2, rtOptions{desk: &hub.DeskPolicy{OfferTimeout: 30 * time.Second, Grace: time.Minute, Statuses: []string{"lunch"}}})
	tok1, tok2 := e.quickAgent("a1"), dwAgent(e, "a2", hub.RoleAgent, 1)
	dwSetStatus(e, e.hubs[0], "a1", "lunch")
	dwSetStatus(e, e.hubs[0], "a2", "lunch")
	c1, c2 := e.dial(e.hubs[0], tok1), e.dial(e.hubs[1], tok2)
	r1, r2 := record(t, c1), record(t, c2)
	dwWait(t, r1, "a1's status", dwStatus("a1", "lunch", ""))
	dwWait(t, r2, "a2's status", dwStatus("a2", "lunch", ""))

	sid, ctok := e.customer(e.hubs[1], "Cust")
	cu := e.dial(e.hubs[1], ctok)
	rc := record(t, cu)
	dwWait(t, rc, "the customer's position", dwOfType(hub.EventQueuePosition, sid))
	dwRouteAll(t, e)
	if st := dwSessionState(e, e.hubs[0], sid); st != string(hub.StateQueuing) {
		t.Fatalf("with every agent on lunch the session is %s, want Queuing", st)
	}

	_, err := dwDo(cu, protocol.Command{Type: protocol.CmdPick, SessionID: sid})
	wantReplyError(t, "a customer's pick", err, hub.ENOTFOUND)
	rep := dwMustDo(t, c1, protocol.Command{Type: protocol.CmdPick, SessionID: sid})
	if rep.State != string(hub.StateAgent) {
		t.Fatalf("pick: %+v", rep)
	}
	dwWait(t, rc, "the customer sees a1", dwState(sid, hub.StateAgent, "a1"))
	dwWait(t, rc, "a1 joins", func(f dwFrame) bool { return f.Type == hub.EventMemberJoined && f.From.ID == "a1" })
	dwWait(t, r1, "a1's socket follows the session", func(f dwFrame) bool { return f.Type == hub.EventMemberJoined && f.SessionID == sid })
	dwWait(t, r1, "a1 In-call", dwStatus("a1", hub.AgentInCall, "lunch"))

	_, err = dwDo(c2, protocol.Command{Type: protocol.CmdPick, SessionID: sid})
	dwWantRefused(t, "a2 picking a1's session", err, hub.ECONFLICT)

	// a2 (capacity 1) picks one, and is refused a second.
	sid2, _ := e.customer(e.hubs[0], "Cust2")
	sid3, _ := e.customer(e.hubs[0], "Cust3")
	if rep := dwMustDo(t, c2, protocol.Command{Type: protocol.CmdPick, SessionID: sid2}); rep.State != string(hub.StateAgent) {
		t.Fatalf("a2 pick: %+v", rep)
	}
	_, err = dwDo(c2, protocol.Command{Type: protocol.CmdPick, SessionID: sid3})
	wantReplyError(t, "a pick beyond capacity", err, hub.ELIMIT)
	if st := dwSessionState(e, e.hubs[0], sid3); st != string(hub.StateQueuing) {
		t.Fatalf("the refused pick left the session %s", st)
	}

	// A session offered to someone else is not in the queue: picking it is
	// a conflict ("session is not in the queue"), not a failure of the hub.
	r3 := record(t, e.dial(e.hubs[1], e.quickAgent("a3")))
	dwWait(t, r3, "the offer to a3", dwState(sid3, hub.StateOffered, "a3"))
	_, err = dwDo(c1, protocol.Command{Type: protocol.CmdPick, SessionID: sid3})
	dwWantRefused(t, "a1 picking a session offered to a3", err, hub.ECONFLICT)
	var re *client.ReplyError
	if errors.As(err, &re) && re.Code == hub.ECONFLICT && re.Message != "session is not in the queue" {
		t.Errorf("picking an offered session: %q, want %q", re.Message, "session is not in the queue")
	}
	if st := dwSessionState(e, e.hubs[0], sid3); st != string(hub.StateOffered) {
		t.Fatalf("the refused pick left the session %s", st)
	}
}

// TestBotHandover: with a bot connected, new sessions start in Chatbot and
// reach the bot's socket (not the human's); the bot's handover sends the
// session to the queue, and routing gives it to the human.
func TestBotHandover(t *testing.T) {
	e := newRTEnv(t, 2, rtOptions{desk: &hub.DeskPolicy{OfferTimeout: 30 * time.Second, Grace: time.Minute}})
	bot := e.dial(e.hubs[0], dwAgent(e, "bot1", hub.RoleBot, 100))
	rb := record(t, bot)
	dwWait(t, rb, "the bot's status", dwStatus("bot1", hub.AgentAvailable, ""))
	h := e.dial(e.hubs[1], e.quickAgent("h1"))
	rh := record(t, h)
	dwWait(t, rh, "h1's status", dwStatus("h1", hub.AgentAvailable, ""))

	sid, ctok := e.customer(e.hubs[1], "Cust")
	cu := e.dial(e.hubs[1], ctok)
	rc := record(t, cu)
	created := dwWait(t, rb, "the session on the bot's socket", dwOfType(hub.EventSessionCreated, sid))
	if created.State != string(hub.StateChatbot) || created.BotID != "bot1" {
		t.Fatalf("session.created %s, want Chatbot with bot1", created.Raw)
	}
	dwRouteAll(t, e)
	if st := dwSessionState(e, e.hubs[0], sid); st != string(hub.StateChatbot) {
		t.Fatalf("with the bot on it the session is %s, want Chatbot", st)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := bot.Send(ctx, sid, "Hello, I am the bot"); err != nil {
		t.Fatalf("bot send: %v", err)
	}
	dwWait(t, rc, "the bot's message", func(f dwFrame) bool { return f.Type == hub.EventMessage && f.From.ID == "bot1" })
	_, err := dwDo(h, protocol.Command{Type: protocol.CmdHandover, SessionID: sid})
	wantReplyError(t, "a human handing over the bot's session", err, hub.ENOTFOUND, hub.EFORBIDDEN)

	rep := dwMustDo(t, bot, protocol.Command{Type: protocol.CmdHandover, SessionID: sid})
	if rep.State != string(hub.StateQueuing) && rep.State != string(hub.StateOffered) {
		t.Fatalf("handover: %+v", rep)
	}
	q := dwWait(t, rc, "the handover", dwState(sid, hub.StateQueuing, ""))
	if q.Reason != "handover" {
		t.Fatalf("requeue %s, want reason handover", q.Raw)
	}
	dwWait(t, rh, "the offer to h1", dwState(sid, hub.StateOffered, "h1"))
	if rep := dwMustDo(t, h, protocol.Command{Type: protocol.CmdAccept, SessionID: sid}); rep.State != string(hub.StateAgent) {
		t.Fatalf("h1 accept: %+v", rep)
	}
	dwWait(t, rc, "h1 joins", func(f dwFrame) bool { return f.Type == hub.EventMemberJoined && f.From.ID == "h1" })
	if _, err := dwDo(bot, protocol.Command{Type: protocol.CmdHandover, SessionID: sid}); err == nil {
		t.Fatal("a second handover succeeded")
	}
	for _, f := range dwStream(e, e.hubs[0], sid) {
		if f.Type == hub.EventSessionState && f.AgentID == "bot1" {
			t.Fatalf("the session was routed to the bot: %s", f.Raw)
		}
	}
}

// TestStatusCommandAndSupervisorSeesIt: an agent chooses a status over its
// socket; the reply carries it, a supervisor's socket on the other
// instance sees the change, the choice survives going Offline and coming
// back, and unknown or system statuses are refused.
func TestStatusCommandAndSupervisorSeesIt(t *testing.T) {
	e := newRTEnv(t, 2, rtOptions{desk: &hub.DeskPolicy{OfferTimeout: 30 * time.Second, Statuses: []string{"lunch", "break"}}})
	supTok := dwAgent(e, "sup", hub.RoleSupervisor, 5)
	dwSetStatus(e, e.hubs[1], "sup", "lunch")
	sup := record(t, e.dial(e.hubs[1], supTok))
	record(t, e.dial(e.hubs[0], e.quickAgent("canary")))
	dwSupervisorLive(t, e, e.hubs[0], sup, "canary")

	tok := e.quickAgent("a1")
	c := e.dial(e.hubs[0], tok)
	r := record(t, c)
	dwWait(t, r, "a1's status", dwStatus("a1", hub.AgentAvailable, ""))
	dwWait(t, sup, "the supervisor sees a1 come online", dwStatus("a1", hub.AgentAvailable, hub.AgentOffline))

	rep := dwMustDo(t, c, protocol.Command{Type: protocol.CmdStatus, Status: "lunch"})
	if !rep.OK || rep.Status != "lunch" {
		t.Fatalf("status reply %+v, want lunch", rep)
	}
	dwWait(t, sup, "the supervisor sees lunch", dwStatus("a1", "lunch", hub.AgentAvailable))
	dwWait(t, r, "a1's socket sees lunch", dwStatus("a1", "lunch", hub.AgentAvailable))

	_, err := dwDo(c, protocol.Command{Type: protocol.CmdStatus, Status: "Napping"})
	var re *client.ReplyError
	if !errors.As(err, &re) || re.Code != hub.EINVALID || re.Message != "status 'Napping' does not exist" {
		t.Fatalf("unknown status: %v, want invalid: status 'Napping' does not exist", err)
	}
	_, err = dwDo(c, protocol.Command{Type: protocol.CmdStatus, Status: hub.AgentOffline})
	if !errors.As(err, &re) || re.Code != hub.EINVALID || re.Message != "Agent can't be changed to system status 'Offline'" {
		t.Fatalf("system status: %v", err)
	}
	if a := dwGetAgent(e, e.hubs[1], "a1"); a.Status != "lunch" || a.Chosen != "lunch" {
		t.Fatalf("after refused changes: %+v, want lunch", a)
	}

	// Offline (no grace) and back: the choice holds.
	c.Close()
	dwWait(t, sup, "the supervisor sees a1 go Offline", dwStatus("a1", hub.AgentOffline, "lunch"))
	if a := dwGetAgent(e, e.hubs[1], "a1"); a.Status != hub.AgentOffline || a.Chosen != "lunch" || a.Online {
		t.Fatalf("offline: %+v", a)
	}
	r2 := record(t, e.dial(e.hubs[1], tok))
	if f := dwWait(t, r2, "a1's status after reconnecting", func(f dwFrame) bool { return f.Type == hub.EventAgentStatus && f.Chosen != "" }); f.Status != "lunch" || f.Chosen != "lunch" {
		t.Fatalf("after reconnecting a1's socket is told %s, want lunch", f.Raw)
	}
	dwWait(t, sup, "the supervisor sees a1 back on lunch", dwStatus("a1", "lunch", hub.AgentOffline))
	if a := dwGetAgent(e, e.hubs[0], "a1"); a.Status != "lunch" || !a.Online {
		t.Fatalf("back: %+v", a)
	}

	// A customer has no status.
	_, ctok := e.customer(e.hubs[0], "Cust")
	_, err = dwDo(e.dial(e.hubs[0], ctok), protocol.Command{Type: protocol.CmdStatus, Status: "lunch"})
	wantReplyError(t, "a customer's status", err, hub.EFORBIDDEN)
}

// TestInCallThenBackToChosen: an agent shows In-call while in a session; a
// status chosen meanwhile is kept (and makes it unroutable at once), shows
// when the session ends, and choosing Available again brings the next
// session; its end returns the agent to Available.
func TestInCallThenBackToChosen(t *testing.T) {
	e := newRTEnv(t, 2, rtOptions{desk: &hub.DeskPolicy{OfferTimeout: 30 * time.Second, Grace: time.Minute, Statuses: []string{"lunch"}}})
	c := e.dial(e.hubs[0], e.quickAgent("a1"))
	r := record(t, c)
	dwWait(t, r, "a1's status", dwStatus("a1", hub.AgentAvailable, ""))

	sid1, ctok1 := e.customer(e.hubs[1], "Cust1")
	cu1 := e.dial(e.hubs[1], ctok1)
	dwWait(t, r, "the offer", dwState(sid1, hub.StateOffered, "a1"))
	if a := dwGetAgent(e, e.hubs[0], "a1"); a.Status != hub.AgentAvailable {
		t.Fatalf("holding an offer a1 shows %s, want Available", a.Status)
	}
	dwMustDo(t, c, protocol.Command{Type: protocol.CmdAccept, SessionID: sid1})
	dwWait(t, r, "In-call", dwStatus("a1", hub.AgentInCall, hub.AgentAvailable))
	if a := dwGetAgent(e, e.hubs[1], "a1"); a.Status != hub.AgentInCall || a.Chosen != hub.AgentAvailable {
		t.Fatalf("in a session: %+v", a)
	}

	rep := dwMustDo(t, c, protocol.Command{Type: protocol.CmdStatus, Status: "lunch"})
	if rep.Status != hub.AgentInCall {
		t.Fatalf("choosing lunch in a session: reply %+v, want status In-call", rep)
	}
	if a := dwGetAgent(e, e.hubs[1], "a1"); a.Status != hub.AgentInCall || a.Chosen != "lunch" {
		t.Fatalf("lunch chosen in a session: %+v", a)
	}
	sid2, _ := e.customer(e.hubs[1], "Cust2")
	dwRouteAll(t, e)
	if st := dwSessionState(e, e.hubs[0], sid2); st != string(hub.StateQueuing) {
		t.Fatalf("with a1 (under capacity) having chosen lunch, a new session is %s, want Queuing", st)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := cu1.CloseSession(ctx, sid1); err != nil {
		t.Fatal(err)
	}
	dwWait(t, r, "back to lunch", dwStatus("a1", "lunch", hub.AgentInCall))

	if rep := dwMustDo(t, c, protocol.Command{Type: protocol.CmdStatus, Status: hub.AgentAvailable}); rep.Status != hub.AgentAvailable {
		t.Fatalf("choosing Available: %+v", rep)
	}
	dwWait(t, r, "the offer of the waiting session", dwState(sid2, hub.StateOffered, "a1"))
	dwMustDo(t, c, protocol.Command{Type: protocol.CmdAccept, SessionID: sid2})
	dwWaitCount(t, r, "In-call again", dwStatus("a1", hub.AgentInCall, hub.AgentAvailable), 2)
	if rep := dwMustDo(t, c, protocol.Command{Type: protocol.CmdClose, SessionID: sid2}); !rep.OK {
		t.Fatalf("agent close: %+v", rep)
	}
	dwWait(t, r, "back to Available", dwStatus("a1", hub.AgentAvailable, hub.AgentInCall))
	if a := dwGetAgent(e, e.hubs[1], "a1"); a.Status != hub.AgentAvailable || a.Chosen != hub.AgentAvailable {
		t.Fatalf("at the end: %+v", a)
	}
}

// TestTypingOffWhenAgentGoesOfflineAtOnce: with no grace period, an agent
// whose only socket dies while it types is turned Offline and its session
// requeued at once; the customer must still be told that the agent
// stopped typing, or the indicator sticks until the client's own expiry
// (a minute here). The typing off and the release of presence start from
// different goroutines of the closing socket, and only an order between
// them makes the typing off pass; a race shows in some rounds only, so
// the test plays the scene several times.
func TestTypingOffWhenAgentGoesOfflineAtOnce(t *testing.T) {
	e := newRTEnv(t, 2, rtOptions{policy: hub.Policy{TypingExpiry: time.Minute}, desk: &hub.DeskPolicy{OfferTimeout: 30 * time.Second}})
	isOff := func(agent string) func(dwFrame) bool {
		return func(f dwFrame) bool {
			return f.Type == hub.EventTyping && strings.Contains(f.Raw, `"on":false`) && f.From.ID == agent
		}
	}
	const rounds = 8
	for round := range rounds {
		id := fmt.Sprintf("a%d", round)
		ag := e.dial(e.hubs[round%2], e.quickAgent(id))
		ra := record(t, ag)
		dwWait(t, ra, id+"'s status", dwStatus(id, hub.AgentAvailable, ""))
		sid, ctok := e.customer(e.hubs[(round+1)%2], "Cust")
		rc := record(t, e.dial(e.hubs[(round+1)%2], ctok))
		dwWait(t, ra, "the offer", dwState(sid, hub.StateOffered, id))
		dwMustDo(t, ag, protocol.Command{Type: protocol.CmdAccept, SessionID: sid})
		// Typing is ephemeral: it reaches only sockets whose subscription is
		// live, which seeing the durable member.joined proves for the customer.
		dwWait(t, rc, "the agent joined", func(f dwFrame) bool { return f.Type == hub.EventMemberJoined && f.SessionID == sid })
		on := true
		dwMustDo(t, ag, protocol.Command{Type: protocol.CmdTyping, SessionID: sid, On: &on})
		dwWait(t, rc, "typing on", func(f dwFrame) bool { return f.Type == hub.EventTyping && strings.Contains(f.Raw, `"on":true`) })
		ag.CloseNow() // the network goes: no close frame
		dwWait(t, rc, "the requeue", func(f dwFrame) bool {
			return dwState(sid, hub.StateQueuing, "")(f) && f.Reason == "agent_offline"
		})
		// The typing off must come (the closing socket publishes it before
		// it releases presence).
		dwWait(t, rc, id+"'s typing off", isOff(id))
		// Out of the way of the next round.
		httpJSON(t, "DELETE", e.hubs[0].http.URL+"/api/v1/sessions/"+sid, rtAdminKey, "", nil)
	}
}
