package webhook

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestWebhookSignatureVerifyRoundTrip(t *testing.T) {
	secret := NewSecret()
	body := []byte(`{"id":"s1.3","type":"message.created"}`)
	now := time.Unix(1_700_000_000, 0)
	h := Signature(secret, now, body)
	if !strings.HasPrefix(h, "t=1700000000,v1=") || len(h) != len("t=1700000000,v1=")+64 {
		t.Fatalf("signature header %q", h)
	}
	if err := Verify(secret, h, body, now, 5*time.Minute); err != nil {
		t.Fatalf("round trip: %v", err)
	}
	// Within tolerance on both sides.
	if err := Verify(secret, h, body, now.Add(4*time.Minute), 5*time.Minute); err != nil {
		t.Fatalf("4 min later: %v", err)
	}
	if err := Verify(secret, h, body, now.Add(-4*time.Minute), 5*time.Minute); err != nil {
		t.Fatalf("4 min earlier: %v", err)
	}
	// Deterministic for the same inputs, different for another time.
	if Signature(secret, now, body) != h || Signature(secret, now.Add(time.Second), body) == h {
		t.Fatal("signature not a function of (secret, t, body)")
	}
	// The order of the parts does not matter.
	ts, v1, _ := strings.Cut(h, ",")
	if err := Verify(secret, v1+","+ts, body, now, time.Minute); err != nil {
		t.Fatalf("reordered header: %v", err)
	}
}

func TestWebhookVerifyRejects(t *testing.T) {
	secret := "whsec_0123456789abcdef"
	body := []byte(`{"id":"s1.1"}`)
	now := time.Unix(1_700_000_000, 0)
	h := Signature(secret, now, body)
	_, hexSig, _ := strings.Cut(h, ",v1=")
	cases := []struct {
		name, secret, header string
		body                 []byte
		now                  time.Time
		want                 string
	}{
		{"tampered body", secret, h, []byte(`{"id":"s1.2"}`), now, "mismatch"},
		{"body with an extra byte", secret, h, append(append([]byte{}, body...), ' '), now, "mismatch"},
		{"wrong secret", secret + "x", h, body, now, "mismatch"},
		{"tampered timestamp", secret, "t=1700000001,v1=" + hexSig, body, now, "mismatch"},
		{"too old", secret, h, body, now.Add(5*time.Minute + time.Second), "tolerance"},
		{"from the future", secret, h, body, now.Add(-5*time.Minute - time.Second), "tolerance"},
		{"empty header", secret, "", body, now, "malformed"},
		{"garbage", secret, "garbage", body, now, "malformed"},
		{"no v1", secret, "t=1700000000", body, now, "malformed"},
		{"empty v1", secret, "t=1700000000,v1=", body, now, "malformed"},
		{"no t", secret, "v1=" + hexSig, body, now, "malformed"},
		{"non-numeric t", secret, "t=abc,v1=" + hexSig, body, now, "malformed"},
		{"upper-case hex", secret, "t=1700000000,v1=" + strings.ToUpper(hexSig), body, now, "mismatch"},
		{"truncated v1", secret, "t=1700000000,v1=" + hexSig[:63], body, now, "mismatch"},
	}
	for _, c := range cases {
		err := Verify(c.secret, c.header, c.body, c.now, 5*time.Minute)
		if err == nil {
			t.Errorf("%s: accepted", c.name)
			continue
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %q, want one saying %q", c.name, err, c.want)
		}
	}
}

func TestWebhookEndpointValidate(t *testing.T) {
	good := []Endpoint{
		{URL: "https://example.com/hooks"},
		{URL: "http://127.0.0.1:8080/x?y=1"},
		{URL: "https://example.com", Events: []string{"session.ended"}},
		{URL: "https://example.com", Events: Kinds},
	}
	for _, e := range good {
		if err := e.Validate(); err != nil {
			t.Errorf("%+v: %v", e, err)
		}
	}
	bad := []Endpoint{
		{URL: ""},
		{URL: "example.com/hooks"},
		{URL: "/hooks"},
		{URL: "ftp://example.com/hooks"},
		{URL: "http://"},
		{URL: "https:///path"},
		{URL: "http://exa mple.com/"},
		{URL: "https://example.com/" + strings.Repeat("a", 2000)},
		{URL: "https://example.com", Events: []string{"session.bogus"}},
		{URL: "https://example.com", Events: []string{"session.ended", "SESSION.CREATED"}},
		{URL: "https://example.com", Events: []string{""}},
	}
	for _, e := range bad {
		if err := e.Validate(); err == nil {
			t.Errorf("%q events %q accepted", e.URL, e.Events)
		}
	}
}

func TestWebhookEndpointWants(t *testing.T) {
	all := Endpoint{}
	for _, k := range Kinds {
		if !all.Wants(k) {
			t.Errorf("an endpoint with no events does not want %s", k)
		}
	}
	one := Endpoint{Events: []string{"session.ended"}}
	if !one.Wants("session.ended") || one.Wants("session.created") || one.Wants("message.created") {
		t.Error("an endpoint subscribed to session.ended only")
	}
}

func TestWebhookIDsAndDeliveryID(t *testing.T) {
	id, sec := NewEndpointID(), NewSecret()
	if !strings.HasPrefix(id, "wh_") || len(id) != 3+16 || !strings.HasPrefix(sec, "whsec_") || len(sec) != 6+64 {
		t.Fatalf("id %q secret %q", id, sec)
	}
	if NewEndpointID() == id || NewSecret() == sec {
		t.Fatal("ids or secrets repeat")
	}
	d := Delivery{SessionID: "sess_1", Seq: 42}
	if d.ID() != "sess_1.42" {
		t.Fatalf("delivery id %q", d.ID())
	}
}

func TestWebhookBackoff(t *testing.T) {
	s := &Sender{MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond}
	want := []time.Duration{20, 40, 80, 160, 200, 200, 200}
	for i, w := range want {
		if got := s.backoff(i + 1); got != w*time.Millisecond {
			t.Errorf("backoff(%d) = %v, want %v", i+1, got, w*time.Millisecond)
		}
	}
	if got := s.backoff(1000); got != 200*time.Millisecond {
		t.Errorf("backoff(1000) = %v", got)
	}
	// MinBackoff above MaxBackoff: capped.
	s = &Sender{MinBackoff: time.Second, MaxBackoff: 100 * time.Millisecond}
	if got := s.backoff(1); got != 100*time.Millisecond {
		t.Errorf("backoff with min > max = %v", got)
	}
	// Defaults: 1 s doubled up to 10 min.
	s = &Sender{}
	s.defaults()
	if s.backoff(1) != time.Second || s.backoff(2) != 2*time.Second || s.backoff(11) != 10*time.Minute || s.backoff(60) != 10*time.Minute {
		t.Errorf("default backoffs %v %v %v", s.backoff(1), s.backoff(2), s.backoff(11))
	}
}

// memQueue is a webhook.Queue in memory for one endpoint.
type memQueue struct {
	mu       sync.Mutex
	ep       *Endpoint
	q        []*Delivery
	pending  *Delivery
	n        map[string]int
	first    map[string]time.Time
	body     map[string][]byte
	done     []string
	failures []Failure
	owner    string
}

func (m *memQueue) Endpoints(context.Context) ([]*Endpoint, error) { return []*Endpoint{m.ep}, nil }

func (m *memQueue) Lease(_ context.Context, _, owner string, _ time.Duration) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.owner == "" || m.owner == owner {
		m.owner = owner
		return true, nil
	}
	return false, nil
}

func (m *memQueue) Release(_ context.Context, _, owner string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.owner == owner {
		m.owner = ""
	}
	return nil
}

func (m *memQueue) Next(ctx context.Context, _, _ string, block time.Duration) (*Delivery, error) {
	m.mu.Lock()
	if m.pending != nil {
		d := m.pending
		m.mu.Unlock()
		return d, nil
	}
	if len(m.q) > 0 {
		m.pending, m.q = m.q[0], m.q[1:]
		d := m.pending
		m.mu.Unlock()
		return d, nil
	}
	m.mu.Unlock()
	sleep(ctx, block)
	return nil, nil
}

func (m *memQueue) Attempt(_ context.Context, _ string, d *Delivery, body []byte, now time.Time) (int, time.Time, []byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.n[d.Entry]++
	if _, ok := m.first[d.Entry]; !ok {
		m.first[d.Entry] = now
	}
	if _, ok := m.body[d.Entry]; !ok {
		m.body[d.Entry] = body
	}
	return m.n[d.Entry], m.first[d.Entry], m.body[d.Entry], nil
}

func (m *memQueue) Done(_ context.Context, _ string, d *Delivery) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.done = append(m.done, d.Entry)
	m.pending = nil
	return nil
}

func (m *memQueue) Fail(_ context.Context, _ string, d *Delivery, attempts int, lastErr string, now time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.failures = append(m.failures, Failure{Delivery: *d, Attempts: attempts, LastError: lastErr, FailedAt: now})
	m.pending = nil
	return nil
}

func (m *memQueue) state() (done []string, failures []Failure) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.done...), append([]Failure(nil), m.failures...)
}

// waitUntil polls cond until it holds or the deadline passes.
func waitUntil(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestWebhookSenderBackoffAndFail drives a Sender on an in-memory queue:
// the gaps between attempts double from MinBackoff up to MaxBackoff, every
// attempt carries the same id, event and signed body, and past MaxAge the
// delivery is moved to the failures with its attempts and last error;
// the next delivery is then sent.
func TestWebhookSenderBackoffAndFail(t *testing.T) {
	const secret = "whsec_backoff-test-secret"
	var mu sync.Mutex
	var times []time.Time
	var bad []string
	fail := true
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		if err := Verify(secret, r.Header.Get("Switchboard-Signature"), b, time.Now(), time.Minute); err != nil {
			bad = append(bad, err.Error())
		}
		if id := r.Header.Get("Switchboard-Webhook-Id"); id == "s1.1" {
			times = append(times, time.Now())
			if r.Header.Get("Switchboard-Event") != "session.created" || string(b) != `{"x":1}` {
				bad = append(bad, "headers or body of s1.1: "+r.Header.Get("Switchboard-Event")+" "+string(b))
			}
		}
		if fail {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	q := &memQueue{
		ep: &Endpoint{ID: "wh_1", URL: srv.URL, Secret: secret},
		q: []*Delivery{
			{Entry: "1-0", Kind: "session.created", SessionID: "s1", Seq: 1, Body: []byte(`{"x":1}`)},
			{Entry: "2-0", Kind: "session.ended", SessionID: "s1", Seq: 2, Body: []byte(`{"x":2}`)},
		},
		n: map[string]int{}, first: map[string]time.Time{}, body: map[string][]byte{},
	}
	s := &Sender{Queue: q, Owner: "o1", Log: slog.New(slog.DiscardHandler), Poll: 10 * time.Millisecond, LeaseTTL: time.Second,
		MinBackoff: 20 * time.Millisecond, MaxBackoff: 80 * time.Millisecond, MaxAge: 400 * time.Millisecond}
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan struct{})
	go func() { s.Run(ctx); close(ran) }()
	defer func() { cancel(); <-ran }()

	waitUntil(t, 5*time.Second, "the first delivery to fail", func() bool { _, f := q.state(); return len(f) == 1 })
	mu.Lock()
	fail = false
	mu.Unlock()
	waitUntil(t, 5*time.Second, "the second delivery", func() bool { d, _ := q.state(); return len(d) == 1 })
	done, failures := q.state()
	f := failures[0]
	if f.Delivery.ID() != "s1.1" || f.LastError != "answered 503 Service Unavailable" {
		t.Fatalf("failure %+v", f)
	}
	if done[0] != "2-0" {
		t.Fatalf("done %v, want the second delivery", done)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(bad) > 0 {
		t.Fatalf("bad deliveries: %v", bad)
	}
	if f.Attempts != len(times) || len(times) < 5 {
		t.Fatalf("%d attempts recorded, %d seen (want >= 5 within MaxAge 400ms)", f.Attempts, len(times))
	}
	// Given up once MaxAge passed since the first attempt, not before (the
	// last attempt itself is sent before it passes: the endpoint's own
	// times span less).
	q.mu.Lock()
	first := q.first["1-0"]
	q.mu.Unlock()
	if age := f.FailedAt.Sub(first); age < s.MaxAge {
		t.Fatalf("failed %v after the first attempt, before MaxAge %v", age, s.MaxAge)
	}
	// Gaps: about 20, 40, 80, 80, ... ms (each at least the backoff).
	for i := 1; i < len(times); i++ {
		gap := times[i].Sub(times[i-1])
		want := s.backoff(i)
		if gap < want-2*time.Millisecond {
			t.Errorf("gap %d = %v, shorter than the backoff %v", i, gap, want)
		}
		if gap > want+150*time.Millisecond {
			t.Errorf("gap %d = %v, much longer than the backoff %v", i, gap, want)
		}
	}
}

// TestWebhookSenderRedirectIsNotDelivery: an endpoint answering 302 has
// not accepted the delivery. Go's http.Client follows the redirect with a
// GET without the body; a 2xx to that GET must not count as delivered.
func TestWebhookSenderRedirectIsNotDelivery(t *testing.T) {
	var mu sync.Mutex
	var posts, gets int
	mux := http.NewServeMux()
	mux.HandleFunc("/hook", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		posts++
		mu.Unlock()
		http.Redirect(w, r, "/moved", http.StatusFound)
	})
	mux.HandleFunc("/moved", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		gets++
		mu.Unlock()
		w.WriteHeader(http.StatusOK) // e.g. an HTML page
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	q := &memQueue{
		ep: &Endpoint{ID: "wh_1", URL: srv.URL + "/hook", Secret: "whsec_redirect-test"},
		q:  []*Delivery{{Entry: "1-0", Kind: "session.created", SessionID: "s1", Seq: 1, Body: []byte(`{"x":1}`)}},
		n:  map[string]int{}, first: map[string]time.Time{}, body: map[string][]byte{},
	}
	s := &Sender{Queue: q, Owner: "o1", Log: slog.New(slog.DiscardHandler), Poll: 10 * time.Millisecond, LeaseTTL: time.Second,
		MinBackoff: 10 * time.Millisecond, MaxBackoff: 20 * time.Millisecond, MaxAge: 100 * time.Millisecond}
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan struct{})
	go func() { s.Run(ctx); close(ran) }()
	defer func() { cancel(); <-ran }()
	waitUntil(t, 5*time.Second, "the delivery to be done or failed", func() bool {
		d, f := q.state()
		return len(d)+len(f) > 0
	})
	done, failures := q.state()
	mu.Lock()
	defer mu.Unlock()
	if len(done) > 0 {
		t.Fatalf("a 302 counted as delivered: %d POSTs, %d GETs of the redirect target without the body", posts, gets)
	}
	if len(failures) != 1 || !strings.Contains(failures[0].LastError, "302") {
		t.Fatalf("failures %+v, want the delivery failed with the 302", failures)
	}
}
