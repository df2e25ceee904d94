package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/api/client"
	"github.com/switchboardhq/switchboard/hub/redisstore/redistest"
	"github.com/switchboardhq/switchboard/hub/webhook"
)

const hookAdminKey = "hook-admin-key-0123456789"

// hookWait polls cond every few milliseconds until it holds, failing the
// test after d.
func hookWait(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// hookWithin reports whether cond holds within d, polling: for checking
// that something does not happen in a time the sender has to do it.
func hookWithin(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
	return true
}

// hookReq is one request the receiver got.
type hookReq struct {
	ID, Event string
	Body      []byte
	Status    int
	SigErr    error
	Payload   webhook.Payload
	At        time.Time
}

// hookRecv is a webhook receiver: it verifies every signature, answers
// what status decides and records every request.
type hookRecv struct {
	*httptest.Server
	mu     sync.Mutex
	secret string
	// status decides the answer to the n-th request overall (from 0) and
	// the try-th of this delivery id (from 1).
	status func(n, try int, id string) int
	reqs   []hookReq
	tries  map[string]int
}

func newHookRecv(t *testing.T, secret string, status func(n, try int, id string) int) *hookRecv {
	h := &hookRecv{secret: secret, status: status, tries: map[string]int{}}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		defer h.mu.Unlock()
		q := hookReq{ID: r.Header.Get("Switchboard-Webhook-Id"), Event: r.Header.Get("Switchboard-Event"), Body: b, At: time.Now()}
		q.SigErr = webhook.Verify(h.secret, r.Header.Get("Switchboard-Signature"), b, time.Now(), 5*time.Minute)
		if err := json.Unmarshal(b, &q.Payload); err != nil && q.SigErr == nil {
			q.SigErr = fmt.Errorf("body: %w", err)
		}
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" {
			q.SigErr = fmt.Errorf("%s with content type %q", r.Method, r.Header.Get("Content-Type"))
		}
		h.tries[q.ID]++
		q.Status = http.StatusOK
		if q.SigErr != nil {
			q.Status = http.StatusUnauthorized
		} else if h.status != nil {
			q.Status = h.status(len(h.reqs), h.tries[q.ID], q.ID)
		}
		h.reqs = append(h.reqs, q)
		w.WriteHeader(q.Status)
	}))
	t.Cleanup(h.Close)
	return h
}

func (h *hookRecv) setSecret(s string) { h.mu.Lock(); h.secret = s; h.mu.Unlock() }

func (h *hookRecv) setStatus(f func(n, try int, id string) int) {
	h.mu.Lock()
	h.status = f
	h.mu.Unlock()
}

func (h *hookRecv) all() []hookReq {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.reqs)
}

// delivered returns the accepted deliveries, de-duplicated by id, in the
// order of their first acceptance.
func (h *hookRecv) delivered() []hookReq {
	var out []hookReq
	seen := map[string]bool{}
	for _, q := range h.all() {
		if q.Status/100 == 2 && !seen[q.ID] {
			seen[q.ID] = true
			out = append(out, q)
		}
	}
	return out
}

func (h *hookRecv) has(id string) bool {
	return slices.ContainsFunc(h.delivered(), func(q hookReq) bool { return q.ID == id })
}

// check verifies every request the receiver got: each signature valid;
// every attempt of one id carrying the same event and body; ids attempted
// in the order of want (the ids, in the queue's order), a later one never
// before an earlier one was accepted; each accepted once unless dupOK.
// It returns the accepted requests in want's order.
func (h *hookRecv) check(t *testing.T, want []string, dupOK bool) []hookReq {
	t.Helper()
	reqs := h.all()
	idx := map[string]int{}
	for i, id := range want {
		idx[id] = i
	}
	first := map[string]hookReq{}
	accepted := map[string]int{}
	next := 0
	for i, q := range reqs {
		if q.SigErr != nil {
			t.Fatalf("request %d (%s %s): %v", i, q.ID, q.Event, q.SigErr)
		}
		j, ok := idx[q.ID]
		if !ok {
			t.Fatalf("request %d: unexpected delivery %s %s", i, q.ID, q.Event)
		}
		if f, ok := first[q.ID]; !ok {
			first[q.ID] = q
		} else if f.Event != q.Event || string(f.Body) != string(q.Body) {
			t.Fatalf("delivery %s changed between attempts:\n%s %s\n%s %s", q.ID, f.Event, f.Body, q.Event, q.Body)
		}
		switch {
		case j == next:
			if q.Status/100 == 2 {
				next++
			}
		case j < next:
			if !dupOK {
				t.Fatalf("request %d: %s again after it was accepted", i, q.ID)
			}
		default:
			t.Fatalf("request %d: %s (%s) sent before %s (%s) was accepted: order broken", i, q.ID, q.Event, want[next], first[want[next]].Event)
		}
		if q.Status/100 == 2 {
			accepted[q.ID]++
		}
	}
	if next != len(want) {
		t.Fatalf("%d of %d deliveries accepted; missing from %s", next, len(want), want[next])
	}
	out := make([]hookReq, len(want))
	for _, q := range reqs {
		if q.Status/100 == 2 && out[idx[q.ID]].ID == "" {
			out[idx[q.ID]] = q
		}
	}
	return out
}

// hookOpts are the short timings of these tests.
func hookOpts() WebhookOptions {
	return WebhookOptions{MaxAge: time.Minute, MinBackoff: 20 * time.Millisecond, MaxBackoff: 160 * time.Millisecond,
		LeaseTTL: 600 * time.Millisecond, Poll: 50 * time.Millisecond}
}

// hookHub starts an instance on r with webhook timings w, routing that
// offers every session at once (auto-accept).
func hookHub(t *testing.T, r *redistest.Redis, w WebhookOptions) *Main {
	t.Helper()
	c := defaultConfig(t)
	c.RedisURL, c.KeyPrefix, c.AdminKey = r.URL, r.Prefix, hookAdminKey
	c.TokenSecret = strings.Repeat("w", 40)
	c.Demo = "false"
	c.Desk.OfferTimeout = 0
	c.Webhook = w
	return openMain(t, c)
}

// createHook creates an endpoint; secret and events may be empty.
func createHook(t *testing.T, m *Main, url, secret string, events []string) (id, gotSecret string) {
	t.Helper()
	body := map[string]any{"url": url}
	if secret != "" {
		body["secret"] = secret
	}
	if events != nil {
		body["events"] = events
	}
	b, _ := json.Marshal(body)
	var out struct {
		ID, URL, Secret string
		Events          []string
		CreatedAt       *string `json:"created_at"`
	}
	if st := killJSON(t, "POST", m.URL()+"/api/v1/webhooks", hookAdminKey, string(b), &out); st != http.StatusCreated {
		t.Fatalf("create webhook: %d %+v", st, out)
	}
	if !strings.HasPrefix(out.ID, "wh_") || out.URL != url || out.Secret == "" || out.CreatedAt == nil ||
		secret != "" && out.Secret != secret {
		t.Fatalf("created webhook %+v", out)
	}
	if events == nil && !slices.Equal(out.Events, webhook.Kinds) || events != nil && !slices.Equal(out.Events, events) {
		t.Fatalf("created webhook events %v, want %v", out.Events, events)
	}
	return out.ID, out.Secret
}

// hookPending is GET /api/v1/webhooks/{id}'s pending.
func hookPending(t *testing.T, m *Main, id string) int64 {
	t.Helper()
	var out struct {
		ID      string
		Secret  string
		Pending *int64
	}
	if st := killJSON(t, "GET", m.URL()+"/api/v1/webhooks/"+id, hookAdminKey, "", &out); st != 200 || out.ID != id || out.Pending == nil {
		t.Fatalf("get webhook %s: %d %+v", id, st, out)
	}
	if out.Secret != "" {
		t.Fatalf("GET shows the secret")
	}
	return *out.Pending
}

// hookAgent creates an agent, logs it in and connects it: with auto-accept
// it takes every new session.
func hookAgent(t *testing.T, m *Main, id string) *client.Client {
	t.Helper()
	if st := killJSON(t, "POST", m.URL()+"/api/v1/agents", hookAdminKey,
		`{"id":"`+id+`","name":"Agent `+id+`","email":"`+id+`@example.com","password":"password-`+id+`"}`, nil); st != http.StatusCreated {
		t.Fatalf("create agent %s: %d", id, st)
	}
	var login struct{ Token string }
	if st := killJSON(t, "POST", m.URL()+"/api/v1/auth/login", "", `{"email":"`+id+`@example.com","password":"password-`+id+`"}`, &login); st != 200 {
		t.Fatalf("login %s: %d", id, st)
	}
	return hookDial(t, m, login.Token)
}

func hookDial(t *testing.T, m *Main, token string) *client.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, client.Config{URL: "ws" + strings.TrimPrefix(m.URL(), "http") + "/ws", Token: token})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { c.CloseNow() })
	return c
}

// hookSession is a session a test ran, and the deliveries it expects.
type hookSession struct {
	ID       string
	Token    string
	Kinds    []string // in order
	Texts    []string // the chat messages, in order
	Customer *client.Client
	log      *[]string // the session id of every hooked event, across sessions, in order
}

func (s *hookSession) logged(n int) {
	if s.log != nil {
		for range n {
			*s.log = append(*s.log, s.ID)
		}
	}
}

// openSession creates a session through the widget on m, waits until the
// (connected, auto-accepting) agent has it, and connects its customer.
func openSession(t *testing.T, m *Main, name string, log *[]string) *hookSession {
	t.Helper()
	var created struct {
		Session struct{ ID string }
		Token   string
	}
	if st := killJSON(t, "POST", m.URL()+"/api/v1/widget/sessions", "", `{"name":"`+name+`"}`, &created); st != http.StatusCreated {
		t.Fatalf("create session: %d", st)
	}
	s := &hookSession{ID: created.Session.ID, Token: created.Token, Kinds: []string{"session.created", "session.assigned"}, log: log}
	hookWait(t, 10*time.Second, "the agent to take "+s.ID, func() bool {
		var sess struct{ State string }
		killJSON(t, "GET", m.URL()+"/api/v1/sessions/"+s.ID, hookAdminKey, "", &sess)
		return sess.State == "Agent"
	})
	s.logged(2)
	s.Customer = hookDial(t, m, s.Token)
	return s
}

// chat sends n messages, alternating customer and agent.
func (s *hookSession) chat(t *testing.T, agent *client.Client, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for i := range n {
		c, who := s.Customer, "customer"
		if i%2 == 1 {
			c, who = agent, "agent"
		}
		text := fmt.Sprintf("%s says %d in %s", who, len(s.Texts)+1, s.ID)
		if _, err := c.Send(ctx, s.ID, text); err != nil {
			t.Fatalf("send %q: %v", text, err)
		}
		s.Texts = append(s.Texts, text)
		s.Kinds = append(s.Kinds, "message.created")
		s.logged(1)
	}
}

// end ends the session as its customer, through m, and rates it.
func (s *hookSession) end(t *testing.T, m *Main) {
	t.Helper()
	if st := killJSON(t, "DELETE", m.URL()+"/api/v1/sessions/"+s.ID, s.Token, "", nil); st != 200 && st != 204 {
		t.Fatalf("close %s: %d", s.ID, st)
	}
	if st := killJSON(t, "POST", m.URL()+"/api/v1/sessions/"+s.ID+"/rating", s.Token, `{"score":5,"comment":"thanks"}`, nil); st != 200 {
		t.Fatalf("rate %s: %d", s.ID, st)
	}
	s.Kinds = append(s.Kinds, "session.ended", "session.rated")
	s.logged(2)
}

// deliveryIDs returns the delivery ids of the session's hooked events
// (session.created, the session.state to Agent, message.created,
// session.ended, session.rated), in order, read from its event stream.
func (s *hookSession) deliveryIDs(t *testing.T, m *Main) []string {
	t.Helper()
	var evs struct {
		Events []struct {
			Seq   int64
			Epoch string
			Type  string
			State string
		}
	}
	if st := killJSON(t, "GET", m.URL()+"/api/v1/sessions/"+s.ID+"/events", hookAdminKey, "", &evs); st != 200 {
		t.Fatalf("events of %s: %d", s.ID, st)
	}
	var out []string
	for _, e := range evs.Events {
		switch e.Type {
		case "session.state":
			if e.State != "Agent" {
				continue
			}
		case "session.created", "message.created", "session.ended", "session.rated":
		default:
			continue
		}
		id := fmt.Sprintf("%s.%d", s.ID, e.Seq)
		if e.Epoch != "" {
			id += "." + e.Epoch // the delivery id names the event's epoch
		}
		out = append(out, id)
	}
	return out
}

// checkPayloads checks the accepted deliveries of one session: kinds in
// order, seqs increasing, the event in each, the transcript at the end.
func (s *hookSession) checkPayloads(t *testing.T, got []hookReq, kinds []string) {
	t.Helper()
	if len(got) != len(kinds) {
		t.Fatalf("session %s: %d deliveries, want %d", s.ID, len(got), len(kinds))
	}
	var last int64
	texts := 0
	for i, q := range got {
		p := q.Payload
		if q.Event != kinds[i] || p.Type != kinds[i] || p.ID != q.ID {
			t.Fatalf("session %s delivery %d: %s %s (payload %s %s), want %s", s.ID, i, q.ID, q.Event, p.ID, p.Type, kinds[i])
		}
		sid, seqStr, _ := strings.Cut(q.ID, ".")
		var seq int64
		fmt.Sscan(seqStr, &seq)
		if sid != s.ID || seq <= last {
			t.Fatalf("session %s delivery %d: id %s after seq %d", s.ID, i, q.ID, last)
		}
		last = seq
		if p.Session == nil || p.Session.ID != s.ID || p.CreatedAt == "" {
			t.Fatalf("delivery %s: session %+v created_at %q", q.ID, p.Session, p.CreatedAt)
		}
		var ev struct {
			Seq     int64
			Type    string
			Message *struct{ Text string }
		}
		if err := json.Unmarshal(p.Event, &ev); err != nil || ev.Seq != seq {
			t.Fatalf("delivery %s: event %s (%v)", q.ID, p.Event, err)
		}
		switch q.Event {
		case "message.created":
			if ev.Type != "message.created" || ev.Message == nil || ev.Message.Text != s.Texts[texts] {
				t.Fatalf("delivery %s: event %s, want message %q", q.ID, p.Event, s.Texts[texts])
			}
			texts++
		case "session.ended":
			var tr []string
			for _, raw := range p.Transcript {
				var m struct{ Message struct{ Text string } }
				json.Unmarshal(raw, &m)
				tr = append(tr, m.Message.Text)
			}
			if !slices.Equal(tr, s.Texts) {
				t.Fatalf("delivery %s: transcript %q, want %q", q.ID, tr, s.Texts)
			}
		}
	}
}

// TestWebhookDeliveriesRetriedSignedInOrder runs a session end to end
// (widget, WebSocket chat, close, rating) with an endpoint that fails the
// first three attempts: every event arrives, signed, once after de-duplication
// by Switchboard-Webhook-Id, in order, and the queue ends empty.
func TestWebhookDeliveriesRetriedSignedInOrder(t *testing.T) {
	r := redistest.New(t)
	m := hookHub(t, r, hookOpts())
	recv := newHookRecv(t, "", func(n, _ int, _ string) int {
		if n < 3 {
			return http.StatusInternalServerError
		}
		return http.StatusNoContent
	})
	id, secret := createHook(t, m, recv.URL, "", nil)
	recv.setSecret(secret)
	agent := hookAgent(t, m, "hookagent")

	s := openSession(t, m, "Carol", nil)
	s.chat(t, agent, 5)
	s.end(t, m)
	want := s.deliveryIDs(t, m)
	if len(want) != len(s.Kinds) {
		t.Fatalf("the session's stream holds %d hooked events %v, want %d %v", len(want), want, len(s.Kinds), s.Kinds)
	}
	hookWait(t, 15*time.Second, "every delivery", func() bool { return recv.has(want[len(want)-1]) })
	got := recv.check(t, want, false)
	s.checkPayloads(t, got, s.Kinds)
	if n := len(recv.all()); n != len(want)+3 {
		t.Fatalf("%d requests for %d deliveries with 3 failures", n, len(want))
	}
	// The first three attempts were all of the first delivery.
	for i, q := range recv.all()[:4] {
		if q.ID != want[0] {
			t.Fatalf("request %d is %s, want a retry of %s", i, q.ID, want[0])
		}
	}
	hookWait(t, 5*time.Second, "an empty queue", func() bool { return hookPending(t, m, id) == 0 })
	var fs struct{ Failures []json.RawMessage }
	if st := killJSON(t, "GET", m.URL()+"/api/v1/webhooks/"+id+"/failures", hookAdminKey, "", &fs); st != 200 || len(fs.Failures) != 0 {
		t.Fatalf("failures: %d %d", st, len(fs.Failures))
	}
}

// globalOrder maps a log of session ids (one per hooked event, in the
// order they happened) to the delivery ids in queue order.
func globalOrder(t *testing.T, m *Main, log []string, sessions ...*hookSession) []string {
	t.Helper()
	ids := map[string][]string{}
	for _, s := range sessions {
		ids[s.ID] = s.deliveryIDs(t, m)
		if len(ids[s.ID]) != len(s.Kinds) {
			t.Fatalf("session %s: %d hooked events in its stream, want %d", s.ID, len(ids[s.ID]), len(s.Kinds))
		}
	}
	var out []string
	for _, sid := range log {
		out = append(out, ids[sid][0])
		ids[sid] = ids[sid][1:]
	}
	return out
}

// ofSession returns the requests of one session.
func ofSession(reqs []hookReq, sid string) []hookReq {
	var out []hookReq
	for _, q := range reqs {
		if strings.HasPrefix(q.ID, sid+".") {
			out = append(out, q)
		}
	}
	return out
}

// TestWebhookOrderPreservedWithRetries interleaves two sessions' events
// and sends them to two endpoints, each failing differently (one every
// delivery's first attempt, one every third request): each endpoint gets
// every delivery in the order of the queue, so each session's in its order.
func TestWebhookOrderPreservedWithRetries(t *testing.T) {
	r := redistest.New(t)
	m := hookHub(t, r, hookOpts())
	firstFails := newHookRecv(t, "whsec_order-one-0123456789", func(_, try int, _ string) int {
		if try == 1 {
			return http.StatusBadGateway
		}
		return http.StatusOK
	})
	thirdFails := newHookRecv(t, "whsec_order-two-0123456789", func(n, _ int, _ string) int {
		if n%3 == 2 {
			return http.StatusServiceUnavailable
		}
		return http.StatusAccepted
	})
	id1, _ := createHook(t, m, firstFails.URL, firstFails.secret, nil)
	id2, _ := createHook(t, m, thirdFails.URL, thirdFails.secret, nil)
	agent := hookAgent(t, m, "orderagent")

	var log []string
	s1 := openSession(t, m, "One", &log)
	s2 := openSession(t, m, "Two", &log)
	for range 3 {
		s1.chat(t, agent, 1)
		s2.chat(t, agent, 2)
	}
	s1.end(t, m)
	s2.chat(t, agent, 1)
	s2.end(t, m)
	want := globalOrder(t, m, log, s1, s2)
	hookWait(t, 20*time.Second, "every delivery on both endpoints", func() bool {
		return firstFails.has(want[len(want)-1]) && thirdFails.has(want[len(want)-1])
	})
	for _, recv := range []*hookRecv{firstFails, thirdFails} {
		got := recv.check(t, want, false)
		s1.checkPayloads(t, ofSession(got, s1.ID), s1.Kinds)
		s2.checkPayloads(t, ofSession(got, s2.ID), s2.Kinds)
	}
	if n := len(firstFails.all()); n != 2*len(want) {
		t.Fatalf("endpoint 1: %d requests for %d deliveries each failing once", n, len(want))
	}
	for _, id := range []string{id1, id2} {
		hookWait(t, 5*time.Second, "an empty queue", func() bool { return hookPending(t, m, id) == 0 })
	}
}

// TestWebhookEventsFilter: an endpoint subscribed to session.ended only
// gets that, with the transcript; the other kinds are dropped from its
// queue, not sent. Deleting an endpoint removes it.
func TestWebhookEventsFilter(t *testing.T) {
	r := redistest.New(t)
	m := hookHub(t, r, hookOpts())
	all := newHookRecv(t, "whsec_filter-all-0123456789", nil)
	ended := newHookRecv(t, "whsec_filter-ended-0123456", nil)
	createHook(t, m, all.URL, all.secret, nil)
	endedID, _ := createHook(t, m, ended.URL, ended.secret, []string{"session.ended"})
	agent := hookAgent(t, m, "filteragent")
	var log []string
	s := openSession(t, m, "Filter", &log)
	s.chat(t, agent, 4)
	s.end(t, m)
	s2 := openSession(t, m, "Filter2", &log)
	s2.chat(t, agent, 1)
	s2.end(t, m)
	want := globalOrder(t, m, log, s, s2)
	hookWait(t, 15*time.Second, "every delivery", func() bool { return all.has(want[len(want)-1]) })
	all.check(t, want, false)
	hookWait(t, 5*time.Second, "the filtered endpoint's queue to drain", func() bool { return hookPending(t, m, endedID) == 0 })
	var wantEnded []string
	for _, id := range want {
		for _, q := range all.delivered() {
			if q.ID == id && q.Event == "session.ended" {
				wantEnded = append(wantEnded, id)
			}
		}
	}
	if len(wantEnded) != 2 {
		t.Fatalf("session.ended deliveries %v", wantEnded)
	}
	got := ended.check(t, wantEnded, false)
	if n := len(ended.all()); n != 2 {
		t.Fatalf("the session.ended endpoint got %d requests, want 2", n)
	}
	for i, q := range got {
		if q.Event != "session.ended" {
			t.Fatalf("filtered endpoint got %s", q.Event)
		}
		ss := []*hookSession{s, s2}[i]
		if len(q.Payload.Transcript) != len(ss.Texts) || q.Payload.Session == nil || q.Payload.Session.State != "Ended" {
			t.Fatalf("session.ended payload %s", q.Body)
		}
	}
	if st := killJSON(t, "DELETE", m.URL()+"/api/v1/webhooks/"+endedID, hookAdminKey, "", nil); st != http.StatusNoContent {
		t.Fatalf("delete: %d", st)
	}
	if st := killJSON(t, "GET", m.URL()+"/api/v1/webhooks/"+endedID, hookAdminKey, "", nil); st != http.StatusNotFound {
		t.Fatalf("get after delete: %d", st)
	}
}

type hookFailure struct {
	ID         string
	DeliveryID string `json:"delivery_id"`
	Type       string
	SessionID  string `json:"session_id"`
	Seq        int64
	Epoch      string
	Attempts   int
	LastError  string  `json:"last_error"`
	FailedAt   *string `json:"failed_at"`
}

func hookFailures(t *testing.T, m *Main, id string) []hookFailure {
	t.Helper()
	var out struct{ Failures []hookFailure }
	if st := killJSON(t, "GET", m.URL()+"/api/v1/webhooks/"+id+"/failures", hookAdminKey, "", &out); st != 200 {
		t.Fatalf("failures of %s: %d", id, st)
	}
	return out.Failures
}

// TestWebhookFailureAfterMaxAgeAndReplay: a delivery the endpoint keeps
// refusing past MaxAge moves to the failures with its attempts and last
// error, and the next delivery goes on; replayed once the endpoint is
// healthy, it arrives with the same id and body.
func TestWebhookFailureAfterMaxAgeAndReplay(t *testing.T) {
	r := redistest.New(t)
	o := hookOpts()
	o.MaxAge = 300 * time.Millisecond
	o.MaxBackoff = 80 * time.Millisecond
	m := hookHub(t, r, o)
	recv := newHookRecv(t, "whsec_replay-test-0123456789", func(int, int, string) int { return http.StatusInternalServerError })
	id, _ := createHook(t, m, recv.URL, recv.secret, nil)

	// No agent: the session waits, its only event is session.created.
	var created struct{ Session struct{ ID string } }
	if st := killJSON(t, "POST", m.URL()+"/api/v1/widget/sessions", "", `{"name":"Replay"}`, &created); st != http.StatusCreated {
		t.Fatalf("create session: %d", st)
	}
	s := &hookSession{ID: created.Session.ID, Kinds: []string{"session.created"}}
	want := s.deliveryIDs(t, m)
	if len(want) != 1 {
		t.Fatalf("hooked events %v", want)
	}
	var fs []hookFailure
	hookWait(t, 10*time.Second, "the failure", func() bool { fs = hookFailures(t, m, id); return len(fs) > 0 })
	reqs := recv.all()
	f := fs[0]
	if len(fs) != 1 || f.DeliveryID != want[0] || f.Type != "session.created" || f.SessionID != s.ID ||
		want[0] != fmt.Sprintf("%s.%d.%s", s.ID, f.Seq, f.Epoch) || f.LastError != "answered 500 Internal Server Error" || f.FailedAt == nil || f.ID == "" {
		t.Fatalf("failures %+v, want one of %s", fs, want[0])
	}
	if f.Attempts < 3 || f.Attempts != len(reqs) {
		t.Fatalf("failure with %d attempts; the receiver saw %d", f.Attempts, len(reqs))
	}
	if span := reqs[len(reqs)-1].At.Sub(reqs[0].At); span < o.MaxAge-o.MaxBackoff {
		t.Fatalf("gave up %v after the first attempt, MaxAge is %v", span, o.MaxAge)
	}
	hookWait(t, 5*time.Second, "an empty queue", func() bool { return hookPending(t, m, id) == 0 })
	for i, q := range reqs {
		if q.SigErr != nil || q.ID != want[0] || string(q.Body) != string(reqs[0].Body) {
			t.Fatalf("attempt %d: %s %v %s", i, q.ID, q.SigErr, q.Body)
		}
	}

	// Healthy again: the next event goes through at once, then the replay.
	recv.setStatus(nil)
	hookAgent(t, m, "replayagent") // takes the waiting session: session.assigned
	hookWait(t, 10*time.Second, "the session.assigned delivery", func() bool { return len(recv.delivered()) == 1 })
	if st := killJSON(t, "POST", m.URL()+"/api/v1/webhooks/"+id+"/failures/"+f.ID+"/replay", hookAdminKey, "", nil); st != http.StatusAccepted {
		t.Fatalf("replay: %d", st)
	}
	hookWait(t, 10*time.Second, "the replayed delivery", func() bool { return recv.has(want[0]) })
	all := recv.all()
	last := all[len(all)-1]
	if last.ID != want[0] || last.Event != "session.created" || string(last.Body) != string(reqs[0].Body) || last.Status != 200 {
		t.Fatalf("replayed %s %s %d:\n%s\nwant the first attempt's body:\n%s", last.ID, last.Event, last.Status, last.Body, reqs[0].Body)
	}
	if fs := hookFailures(t, m, id); len(fs) != 0 {
		t.Fatalf("failures after the replay: %+v", fs)
	}
	hookWait(t, 5*time.Second, "an empty queue", func() bool { return hookPending(t, m, id) == 0 })
	if st := killJSON(t, "POST", m.URL()+"/api/v1/webhooks/"+id+"/failures/"+f.ID+"/replay", hookAdminKey, "", nil); st != http.StatusNotFound {
		t.Fatalf("second replay of the same failure: %d", st)
	}
	if st := killJSON(t, "POST", m.URL()+"/api/v1/webhooks/wh_nope/failures/"+f.ID+"/replay", hookAdminKey, "", nil); st != http.StatusNotFound {
		t.Fatalf("replay on an unknown endpoint: %d", st)
	}
	if st := killJSON(t, "GET", m.URL()+"/api/v1/webhooks/wh_nope/failures", hookAdminKey, "", nil); st != http.StatusNotFound {
		t.Fatalf("failures of an unknown endpoint: %d", st)
	}
}

// hookLease returns the holder of an endpoint's lease and its TTL.
func hookLease(t *testing.T, r *redistest.Redis, id string) (string, time.Duration) {
	t.Helper()
	ctx := context.Background()
	key := r.Prefix + ":hook:" + id + ":lease"
	v, _ := r.Client.Get(ctx, key).Result()
	ttl, _ := r.Client.PTTL(ctx, key).Result()
	return v, ttl
}

// TestWebhookSenderCrashPeerFinishes runs two instances on one Redis.
// Instance A holds the endpoint's lease and retries a delivery the
// endpoint refuses; then A goes away, and B must take the lease and
// finish A's pending delivery (same id, same body) and everything queued
// after it, in order, nothing lost.
//
// crash: A's Redis connections are closed before it stops, so it cannot
// release its lease: B gets it only once it expires (LeaseTTL). clean: A
// is closed normally and releases the lease; B takes over at once.
func TestWebhookSenderCrashPeerFinishes(t *testing.T) {
	for _, crash := range []bool{true, false} {
		name := "clean close"
		if crash {
			name = "crash"
		}
		t.Run(name, func(t *testing.T) { testWebhookFailover(t, crash) })
	}
}

func testWebhookFailover(t *testing.T, crash bool) {
	r := redistest.New(t)
	o := hookOpts()
	a := hookHub(t, r, o)
	recv := newHookRecv(t, "whsec_failover-0123456789", func(int, int, string) int { return http.StatusServiceUnavailable })
	id, _ := createHook(t, a, recv.URL, recv.secret, nil)
	hookWait(t, 5*time.Second, "A to take the lease", func() bool { v, _ := hookLease(t, r, id); return v == a.Webhooks.Owner })
	b := hookHub(t, r, o)
	if a.Webhooks.Owner == b.Webhooks.Owner {
		t.Fatal("two instances with one owner id")
	}
	// Everything through B: only A's sender matters.
	agent := hookAgent(t, b, "failoveragent")
	var log []string
	s := openSession(t, b, "Failover", &log)
	s.chat(t, agent, 3)
	s.end(t, b)
	want := globalOrder(t, b, log, s)

	// A retries the first delivery; nobody else sends.
	hookWait(t, 10*time.Second, "A's retries", func() bool { return len(recv.all()) >= 4 })
	if v, _ := hookLease(t, r, id); v != a.Webhooks.Owner {
		t.Fatalf("lease held by %q while A retries, want A %q", v, a.Webhooks.Owner)
	}
	for i, q := range recv.all() {
		if q.ID != want[0] {
			t.Fatalf("request %d is %s: want only retries of %s before A goes", i, q.ID, want[0])
		}
	}

	// A goes away; from now on the endpoint fails twice more, then accepts.
	var goneAt time.Time
	if crash {
		a.rdb.Close() // no goodbye to Redis: the lease cannot be released
		goneAt = time.Now()
		v, ttl := hookLease(t, r, id)
		if v != a.Webhooks.Owner || ttl <= 0 || ttl > o.LeaseTTL {
			t.Fatalf("right after the crash the lease is %q with TTL %v, want A's, at most %v", v, ttl, o.LeaseTTL)
		}
		a.Close()
		if r.Mini != nil {
			// miniredis' TTLs move only when told.
			if v, _ := hookLease(t, r, id); v != a.Webhooks.Owner {
				t.Fatalf("after the crash the lease is %q, want A's left to expire", v)
			}
			r.FastForward(o.LeaseTTL)
		}
	} else {
		if err := a.Close(); err != nil {
			t.Fatal(err)
		}
		goneAt = time.Now()
		if v, _ := hookLease(t, r, id); v == a.Webhooks.Owner {
			t.Fatal("A's lease survived a clean Close")
		}
	}
	before := len(recv.all())
	recv.setStatus(func(n, _ int, _ string) int {
		if n < before+2 {
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	})
	hookWait(t, 10*time.Second, "B to take the lease", func() bool { v, _ := hookLease(t, r, id); return v == b.Webhooks.Owner })
	tookOver := time.Since(goneAt)
	hookWait(t, 15*time.Second, "every delivery through B", func() bool { return recv.has(want[len(want)-1]) })
	got := recv.check(t, want, false)
	s.checkPayloads(t, got, s.Kinds)
	t.Logf("%s on %s: B took over %v after A went; %d requests for %d deliveries",
		map[bool]string{true: "crash", false: "clean close"}[crash], r.Kind(), tookOver.Round(time.Millisecond), len(recv.all()), len(want))
	if crash && r.Real() && tookOver < o.LeaseTTL/3 {
		t.Fatalf("B took over %v after the crash: A's lease (TTL %v, renewed every %v) cannot have expired yet", tookOver, o.LeaseTTL, o.LeaseTTL/3)
	}
	hookWait(t, 5*time.Second, "an empty queue", func() bool { return hookPending(t, b, id) == 0 })
	// A's pending entry was claimed, none is left in the group.
	p, err := r.Client.XPending(context.Background(), r.Prefix+":hook:"+id+":q", "senders").Result()
	if err != nil || p.Count != 0 {
		t.Fatalf("pending entries left: %+v %v", p, err)
	}
}

// hookKeys returns the endpoint's keys that exist in Redis.
func hookKeys(t *testing.T, r *redistest.Redis, id string) []string {
	t.Helper()
	var out []string
	for _, part := range []string{"", ":q", ":tries", ":lease", ":failed"} {
		k := r.Prefix + ":hook:" + id + part
		if n, err := r.Client.Exists(context.Background(), k).Result(); err != nil {
			t.Fatal(err)
		} else if n == 1 {
			out = append(out, k)
		}
	}
	return out
}

// TestWebhookDeleteIdleEndpointLeavesNoKeys deletes an endpoint whose
// sender is idle (waiting for deliveries): once its worker has gone
// (released the lease), none of its keys may be left in Redis.
func TestWebhookDeleteIdleEndpointLeavesNoKeys(t *testing.T) {
	r := redistest.New(t)
	m := hookHub(t, r, hookOpts())
	recv := newHookRecv(t, "whsec_delete-idle-0123456789", nil)
	id, _ := createHook(t, m, recv.URL, recv.secret, nil)
	hookWait(t, 5*time.Second, "the lease", func() bool { v, _ := hookLease(t, r, id); return v == m.Webhooks.Owner })
	if st := killJSON(t, "DELETE", m.URL()+"/api/v1/webhooks/"+id, hookAdminKey, "", nil); st != http.StatusNoContent {
		t.Fatalf("delete: %d", st)
	}
	// The worker notices within a Poll or two; give it ten.
	if hookWithin(10*hookOpts().Poll, func() bool { return len(hookKeys(t, r, id)) > 0 }) {
		t.Fatalf("keys of the deleted endpoint in Redis: %v", hookKeys(t, r, id))
	}
}

// TestWebhookDeleteEndpointStopsRetries deletes an endpoint while its
// sender retries a delivery the endpoint refuses: the retries must stop
// (the endpoint, its secret and its queue are gone) and no key of the
// deleted endpoint may come back.
func TestWebhookDeleteEndpointStopsRetries(t *testing.T) {
	r := redistest.New(t)
	o := hookOpts()
	o.MaxAge = 700 * time.Millisecond
	o.MaxBackoff = 40 * time.Millisecond
	m := hookHub(t, r, o)
	recv := newHookRecv(t, "whsec_delete-busy-0123456789", func(int, int, string) int { return http.StatusInternalServerError })
	id, _ := createHook(t, m, recv.URL, recv.secret, nil)
	if st := killJSON(t, "POST", m.URL()+"/api/v1/widget/sessions", "", `{"name":"Deleted"}`, nil); st != http.StatusCreated {
		t.Fatalf("create session: %d", st)
	}
	hookWait(t, 5*time.Second, "retries", func() bool { return len(recv.all()) >= 2 })
	if st := killJSON(t, "DELETE", m.URL()+"/api/v1/webhooks/"+id, hookAdminKey, "", nil); st != http.StatusNoContent {
		t.Fatalf("delete: %d", st)
	}
	deleted := time.Now()
	n := len(recv.all()) // at most one more, in flight at the delete
	// Wait past MaxAge (with a margin of several backoffs) for the sender to
	// be done with the delivery, one way or another.
	hookWait(t, 5*time.Second, "the worker to stop", func() bool {
		v, _ := hookLease(t, r, id)
		return v == "" && time.Since(deleted) > o.MaxAge+4*o.MaxBackoff
	})
	reqs := recv.all()
	if len(reqs) > n+1 {
		t.Errorf("%d requests after the endpoint was deleted (the last %v after the delete), want at most the one in flight",
			len(reqs)-n, reqs[len(reqs)-1].At.Sub(deleted).Round(time.Millisecond))
	}
	if keys := hookKeys(t, r, id); len(keys) != 0 {
		t.Errorf("keys of the deleted endpoint back in Redis: %v", keys)
	}
}

// TestWebhookAdminAPI: the admin REST surface refuses bad endpoints and
// non-admins, lists endpoints without their secrets.
func TestWebhookAdminAPI(t *testing.T) {
	r := redistest.New(t)
	m := hookHub(t, r, hookOpts())
	u := m.URL() + "/api/v1/webhooks"
	for _, body := range []string{
		`{}`,
		`{"url":"ftp://example.com/x"}`,
		`{"url":"example.com/x"}`,
		`{"url":"https://example.com/x","events":["session.bogus"]}`,
		`{"url":"https://example.com/x","secret":"short"}`,
		`{"url":"https://example.com/x","extra":1}`,
		`not json`,
	} {
		if st := killJSON(t, "POST", u, hookAdminKey, body, nil); st != http.StatusBadRequest {
			t.Errorf("POST %s: %d, want 400", body, st)
		}
	}
	if st := killJSON(t, "POST", u, "", `{"url":"https://example.com/x"}`, nil); st != http.StatusUnauthorized {
		t.Errorf("POST without a key: %d", st)
	}
	id1, _ := createHook(t, m, "https://example.com/a", "", nil)
	id2, _ := createHook(t, m, "https://example.com/b", "whsec_given-secret-0123", []string{"session.ended", "session.rated"})
	var list struct {
		Webhooks []struct {
			ID, URL, Secret string
			Events          []string
		}
	}
	if st := killJSON(t, "GET", u, hookAdminKey, "", &list); st != 200 || len(list.Webhooks) != 2 {
		t.Fatalf("list: %d %+v", st, list)
	}
	for _, w := range list.Webhooks {
		if w.Secret != "" || (w.ID != id1 && w.ID != id2) {
			t.Fatalf("listed %+v", w)
		}
	}
	if hookPending(t, m, id2) != 0 {
		t.Fatal("pending on a new endpoint")
	}
	if st := killJSON(t, "GET", u+"/wh_0000000000000000", hookAdminKey, "", nil); st != http.StatusNotFound {
		t.Fatalf("GET unknown: %d", st)
	}
	if st := killJSON(t, "DELETE", u+"/wh_0000000000000000", hookAdminKey, "", nil); st != http.StatusNotFound {
		t.Fatalf("DELETE unknown: %d", st)
	}
}

// TestWebhookDeleteDuringLastAttemptLeavesNoKeys deletes the endpoint
// while the sender's last attempt (past MaxAge) is in flight: the receiver
// deletes it before it answers 500. The delivery must not be moved to a
// failures stream of the deleted endpoint, recreating its keys for ever
// (nothing lists or deletes them any more: DELETE answers 404).
func TestWebhookDeleteDuringLastAttemptLeavesNoKeys(t *testing.T) {
	r := redistest.New(t)
	o := hookOpts()
	o.MaxAge = 150 * time.Millisecond
	o.MaxBackoff = 40 * time.Millisecond
	m := hookHub(t, r, o)
	var mu sync.Mutex
	var id string
	var firstAt time.Time
	deletedIn := make(chan int, 1)
	answered := make(chan struct{})
	recv := newHookRecv(t, "whsec_delete-last-0123456789", func(n, _ int, _ string) int {
		mu.Lock()
		defer mu.Unlock()
		if n == 0 {
			firstAt = time.Now()
		}
		if id != "" && time.Since(firstAt) > o.MaxAge/2 {
			// Runs on the receiver's goroutine: plain HTTP, no t.Fatal.
			req, _ := http.NewRequest(http.MethodDelete, m.URL()+"/api/v1/webhooks/"+id, nil)
			req.Header.Set("Authorization", "Bearer "+hookAdminKey)
			if res, err := http.DefaultClient.Do(req); err == nil {
				res.Body.Close()
				deletedIn <- res.StatusCode
			}
			id = ""
			// A slow endpoint: it answers once MaxAge has passed since the
			// first attempt (the sender's clock started before ours), so
			// this is the last attempt.
			time.Sleep(time.Until(firstAt.Add(o.MaxAge + 10*time.Millisecond)))
			close(answered)
		}
		return http.StatusInternalServerError
	})
	hid, _ := createHook(t, m, recv.URL, recv.secret, nil)
	mu.Lock()
	id = hid
	mu.Unlock()
	if st := killJSON(t, "POST", m.URL()+"/api/v1/widget/sessions", "", `{"name":"Last"}`, nil); st != http.StatusCreated {
		t.Fatalf("create session: %d", st)
	}
	var st int
	hookWait(t, 10*time.Second, "the delete during the last attempt", func() bool {
		select {
		case st = <-deletedIn:
			return true
		default:
			return false
		}
	})
	if st != http.StatusNoContent {
		t.Fatalf("delete: %d", st)
	}
	<-answered
	// The sender is done with the answer within a Poll or two; give it ten.
	if hookWithin(10*o.Poll, func() bool { return len(hookKeys(t, r, hid)) > 0 }) {
		t.Errorf("keys of the deleted endpoint back in Redis: %v", hookKeys(t, r, hid))
	}
	if st := killJSON(t, "GET", m.URL()+"/api/v1/webhooks/"+hid+"/failures", hookAdminKey, "", nil); st != http.StatusNotFound {
		t.Errorf("failures of the deleted endpoint: %d", st)
	}
}
