package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	"golang.org/x/crypto/bcrypt"

	"github.com/switchboardhq/switchboard/api"
	"github.com/switchboardhq/switchboard/api/usersig"
	"github.com/switchboardhq/switchboard/hub"
	"github.com/switchboardhq/switchboard/hub/redisstore"
	"github.com/switchboardhq/switchboard/hub/webhook"
)

// The fuzz targets (fuzz_test.go) drive every request decoder through the
// real handler, api.Server.ServeHTTP, on the real store over an in-process
// miniredis, with no network between the test and the server. This file is
// their harness: one fixed world of agents, teams, sessions and a webhook,
// reset after any request that changed it, so that every iteration starts
// from the same state and a failing input reproduces on its own; and the
// properties every answer must have whatever the input: never a 5xx, the
// surface's own JSON envelope, and a refusal that changed nothing in Redis.

// The fuzz world's configuration and credentials.
const (
	fzAdminKey    = "fz-admin-key-5a0c1e93"
	fzPassword    = "fz-password-1"
	fzIdentity    = "fz-identity-secret-0123"
	fzCCAIKey     = "fz-ccai-key"
	fzCCAISecret  = "fz-ccai-secret-0123"
	fzSDKAppID    = 1400000001
	fzUsersigKey  = "fz-usersig-key"
	fzServiceID   = "@customer_service_account"
	fzWebhookID   = "wh_00000000000000f1"
	fzBasicIP     = "198.51.100.7:50000" // KF5 requests with the right credentials
	fzBasicBadIP  = "198.51.100.8:50000" // every other KF5 request: soon rate limited
	fzMaxOpen     = 3                    // the seeded world has two open sessions
	fzAgentCap    = 2
	fzTokenSecret = "fz-token-secret-0123456789abcdefghij"
)

// The seeded sessions: queuing, with an agent, and ended (not yet rated).
const (
	fzQ = "cs_FzQueuing0000000000000"
	fzA = "cs_FzActive00000000000000"
	fzE = "cs_FzEnded000000000000000"
)

// fzNow is the hub's clock in the fuzz world: it never moves, so durations,
// token expiry and usersig expiry are the same on every iteration.
var fzNow = time.Date(2024, 1, 15, 10, 30, 0, 0, time.UTC)

// fzHash is fzPassword hashed at bcrypt's minimum cost, computed once, so
// that seeding and a right password cost a millisecond, not 60.
var fzHash = func() string {
	h, err := bcrypt.GenerateFromPassword([]byte(fzPassword), bcrypt.MinCost)
	if err != nil {
		panic(err)
	}
	return string(h)
}()

// fzAgents are the seeded agents. Every one with an e-mail has fzPassword.
var fzAgents = []hub.Agent{
	{ID: "fz_admin", Name: "Ada Admin", Email: "admin@fz.test", Role: hub.RoleAdmin, Capacity: 5},
	{ID: "fz_sup", Name: "Sam Supervisor", Email: "sup@fz.test", Role: hub.RoleSupervisor, Capacity: 5, TeamIDs: []string{"2"}},
	{ID: "11", Name: "Craig", Email: "craigT@fz.test", Number: "111", Role: hub.RoleAgent, Capacity: fzAgentCap, TeamIDs: []string{"1"}},
	{ID: "12", Name: "Ana", Email: "ana@fz.test", Number: "112", Role: hub.RoleAgent, Capacity: fzAgentCap, TeamIDs: []string{"1"}},
	{ID: "13", Name: "Dora", Email: "dora@fz.test", Number: "113", Role: hub.RoleAgent, Capacity: fzAgentCap, TeamIDs: []string{"1"}, Disabled: true},
	{ID: "fz_bot", Name: "Bot", Email: "bot@fz.test", Role: hub.RoleBot, Capacity: 100, TeamIDs: []string{"1"}},
}

// fzEnv is one fuzz target's hub: a miniredis of its own (so that a reset
// may flush it), the store, the server and the credentials of the world.
type fzEnv struct {
	mini   *miniredis.Miniredis
	store  *redisstore.Store
	desk   *hub.Desk
	srv    *api.Server
	tokens map[string]string // by name: admin, sup, agent11, agent12, bot, custQ, custA, custE, disabled, expired, ghost
	sig    string            // a usersig of "admin", valid at fzNow

	seeded []fzKey // Redis right after seeding, which reset restores
	world  string  // its fingerprint
	state  string  // fingerprint of Redis now, when !dirty
	dirty  bool    // a request may have changed the world: reset before the next
	n      uint32  // requests sent, for client addresses
}

// fzKey is one key of Redis and its value, as miniredis shows them.
type fzKey struct {
	key, typ string
	ttl      time.Duration
	str      string
	fields   []string // hash: field, value, field, value...
	list     []string // list and set members
	zset     map[string]float64
	stream   []miniredis.StreamEntry
}

// newFzEnv builds the hub once per fuzz target (outside f.Fuzz) and seeds
// the world.
func newFzEnv(tb testing.TB) *fzEnv {
	tb.Helper()
	mini := miniredis.RunT(tb)
	client := redis.NewClient(&redis.Options{Addr: mini.Addr()})
	tb.Cleanup(func() { client.Close() })
	store, err := redisstore.New(client, redisstore.Options{Prefix: "{fz}"})
	if err != nil {
		tb.Fatal(err)
	}
	tokens, err := hub.NewTokens([]byte(fzTokenSecret))
	if err != nil {
		tb.Fatal(err)
	}
	clock := func() time.Time { return fzNow }
	desk := hub.NewDesk(store, hub.DeskPolicy{Statuses: []string{"lunch", "break", "meeting"}}, clock, nil)
	srv := api.NewServer(api.Config{
		Sessions: hub.NewService(store, hub.Policy{MaxOpenSessions: fzMaxOpen, AgentCapacity: fzAgentCap, Retention: 24 * time.Hour}, clock),
		Agents:   store, History: store, Chats: hub.NewHistory(store, clock), Webhooks: store,
		Desk: desk, Teams: store, OpenSessionOf: store.OpenSessionOf,
		Tencent: api.TencentConfig{SDKAppID: fzSDKAppID, Key: fzUsersigKey, Admins: []string{"admin", "ops"}, CustomerServiceID: fzServiceID},
		CCAI:    api.CCAIConfig{Key: fzCCAIKey, Secret: fzCCAISecret},
		Tokens:  tokens, AdminKey: fzAdminKey, IdentitySecret: []byte(fzIdentity),
		WS:   api.WSOptions{AllowedOrigins: fzOrigins},
		Ping: store.Ping,
	})
	e := &fzEnv{mini: mini, store: store, desk: desk, srv: srv, tokens: map[string]string{}}
	exp := fzNow.Add(time.Hour).Unix()
	for name, c := range map[string]hub.Claims{
		"admin":    {Role: hub.PrincipalAgent, Subject: "fz_admin", Name: "Ada Admin", Expires: exp},
		"sup":      {Role: hub.PrincipalAgent, Subject: "fz_sup", Name: "Sam Supervisor", Expires: exp},
		"agent11":  {Role: hub.PrincipalAgent, Subject: "11", Name: "Craig", Expires: exp},
		"agent12":  {Role: hub.PrincipalAgent, Subject: "12", Name: "Ana", Expires: exp},
		"bot":      {Role: hub.PrincipalAgent, Subject: "fz_bot", Name: "Bot", Expires: exp},
		"custQ":    {Role: hub.PrincipalCustomer, Subject: "fz_cust_q", Name: "Quinn", SessionID: fzQ, Expires: exp},
		"custA":    {Role: hub.PrincipalCustomer, Subject: "user-8812", Name: "Maria", SessionID: fzA, Expires: exp},
		"custE":    {Role: hub.PrincipalCustomer, Subject: "fz_cust_e", Name: "Eve", SessionID: fzE, Expires: exp},
		"disabled": {Role: hub.PrincipalAgent, Subject: "13", Name: "Dora", Expires: exp},
		"expired":  {Role: hub.PrincipalAgent, Subject: "11", Name: "Craig", Expires: fzNow.Unix()},
		"ghost":    {Role: hub.PrincipalAgent, Subject: "nobody", Name: "Nobody", Expires: exp},
	} {
		e.tokens[name] = tokens.Sign(c)
	}
	e.sig, err = usersig.Sign(fzUsersigKey, fzSDKAppID, "admin", 24*time.Hour, fzNow)
	if err != nil {
		tb.Fatal(err)
	}
	if err := e.seed(); err != nil {
		tb.Fatal(err)
	}
	e.seeded, e.world = e.snapshot(), e.fingerprint()
	e.state = e.world
	return e
}

// validTokens are the tokens that authenticate someone.
func (e *fzEnv) validTokens() []string {
	var out []string
	for _, name := range []string{"admin", "sup", "agent11", "agent12", "bot", "custQ", "custA", "custE"} {
		out = append(out, e.tokens[name])
	}
	return out
}

// credential returns the Authorization header of the i-th credential of
// the native targets' selector ("" for none).
func (e *fzEnv) credential(i uint8) string {
	names := []string{"", "admin", "sup", "agent11", "agent12", "custQ", "custA", "custE", "bot", "-", "disabled", "expired"}
	switch name := names[int(i)%len(names)]; name {
	case "":
		return "Bearer " + fzAdminKey
	case "-":
		return ""
	default:
		return "Bearer " + e.tokens[name]
	}
}

// seed empties Redis and makes the world through the store, as the hub
// would: some 25 Lua scripts, 7 ms.
func (e *fzEnv) seed() error {
	e.mini.FlushAll()
	ctx := context.Background()
	for _, id := range []string{fzQ, fzA, fzE} {
		if !hub.ValidSessionID(id) {
			return fmt.Errorf("seed session id %q is not a session id", id)
		}
	}
	for _, t := range []hub.Team{{ID: "1", Name: "Support"}, {ID: "2", Name: "Sales"}} {
		t.CreatedAt = fzNow
		if _, err := e.store.PutTeam(ctx, &t, true); err != nil {
			return fmt.Errorf("team %s: %w", t.ID, err)
		}
	}
	for _, a := range fzAgents {
		a.PasswordHash, a.CreatedAt = fzHash, fzNow
		if err := e.store.CreateAgent(ctx, &a); err != nil {
			return fmt.Errorf("agent %s: %w", a.ID, err)
		}
	}
	for _, s := range []hub.Session{
		{ID: fzQ, Title: "Order 1042", CustomerID: "fz_cust_q", CustomerName: "Quinn", StartedBy: "visitor"},
		{ID: fzA, Title: "Where is my parcel?", CustomerID: "user-8812", CustomerName: "Maria", UserID: "45190", StartedBy: "visitor"},
		{ID: fzE, Title: "Refund", CustomerID: "fz_cust_e", CustomerName: "Eve", CustomerEmail: "eve@example.com", StartedBy: "agent"},
	} {
		s.State, s.CreatedAt = hub.StateQueuing, fzNow
		if _, err := e.store.CreateSession(ctx, &s, 0); err != nil {
			return fmt.Errorf("session %s: %w", s.ID, err)
		}
	}
	for _, as := range []struct{ sid, agent, name string }{{fzA, "12", "Ana"}, {fzE, "11", "Craig"}} {
		if _, err := e.store.AssignSession(ctx, as.sid, hub.Assignment{AgentID: as.agent, AgentName: as.name}, fzAgentCap, fzNow); err != nil {
			return fmt.Errorf("assign %s: %w", as.sid, err)
		}
	}
	maria := hub.Principal{Kind: hub.PrincipalCustomer, ID: "user-8812", Name: "Maria"}
	ana := hub.Principal{Kind: hub.PrincipalAgent, ID: "12", Name: "Ana", Role: hub.RoleAgent}
	eve := hub.Principal{Kind: hub.PrincipalCustomer, ID: "fz_cust_e", Name: "Eve"}
	for i, m := range []struct {
		sid  string
		by   hub.Principal
		text string
	}{{fzA, maria, "hello"}, {fzA, ana, "hi, how can I help?"}, {fzA, maria, "my parcel"}, {fzE, eve, "refund please"}} {
		msg := hub.Message{ClientMsgID: fmt.Sprintf("fz%d", i), Type: "chat.msg", Text: m.text}
		if _, _, err := e.store.AppendMessage(ctx, m.sid, m.by, msg, fzNow, time.Hour); err != nil {
			return fmt.Errorf("message %d: %w", i, err)
		}
	}
	if _, err := e.store.CloseSession(ctx, fzE, hub.SystemPrincipal, fzNow, 24*time.Hour); err != nil {
		return fmt.Errorf("close %s: %w", fzE, err)
	}
	for _, id := range []string{"11", "12"} {
		c := hub.Presence{AgentID: id, ConnID: "fzconn" + id, IP: "203.0.113." + id}
		if err := e.store.Connect(ctx, c, fzNow, e.desk.Policy()); err != nil {
			return fmt.Errorf("presence %s: %w", id, err)
		}
	}
	wh := fzWebhook
	if err := e.store.PutEndpoint(ctx, &wh); err != nil {
		return fmt.Errorf("webhook: %w", err)
	}
	return nil
}

// fzWebhook is the seeded webhook endpoint.
var fzWebhook = webhook.Endpoint{ID: fzWebhookID, URL: "https://hooks.fz.test/sb", Secret: "whsec_fz0123456789abcdef", CreatedAt: fzNow}

// snapshot reads every key of Redis with its value and TTL. It copies
// what it reads: miniredis hands out its own maps and slices.
func (e *fzEnv) snapshot() []fzKey {
	m := e.mini
	var out []fzKey
	for _, k := range m.Keys() {
		v := fzKey{key: k, typ: m.Type(k), ttl: m.TTL(k)}
		switch v.typ {
		case "string":
			v.str, _ = m.Get(k)
		case "hash":
			fs, _ := m.HKeys(k)
			for _, f := range fs {
				v.fields = append(v.fields, f, m.HGet(k, f))
			}
		case "list":
			l, _ := m.List(k)
			v.list = slices.Clone(l)
		case "set":
			l, _ := m.Members(k)
			v.list = slices.Clone(l)
		case "zset":
			z, _ := m.SortedSet(k)
			v.zset = maps.Clone(z)
		case "stream":
			es, _ := m.Stream(k)
			for _, en := range es {
				v.stream = append(v.stream, miniredis.StreamEntry{ID: en.ID, Values: slices.Clone(en.Values)})
			}
		}
		out = append(out, v)
	}
	return out
}

// reset brings Redis back to the seeded world, and checks that it did:
// the snapshot written back with miniredis' own calls (a fraction of a
// millisecond, where seeding again costs 7), and the webhook queue's
// consumer group, which no miniredis call restores, made again by the
// store (PutEndpoint is idempotent).
func (e *fzEnv) reset() error {
	m := e.mini
	m.FlushAll()
	for _, v := range e.seeded {
		var err error
		switch v.typ {
		case "string":
			err = m.Set(v.key, v.str)
		case "hash":
			m.HSet(v.key, v.fields...)
		case "list":
			_, err = m.RPush(v.key, v.list...)
		case "set":
			_, err = m.SetAdd(v.key, v.list...)
		case "zset":
			for member, score := range v.zset {
				if _, err = m.ZAdd(v.key, score, member); err != nil {
					break
				}
			}
		case "stream":
			for _, en := range v.stream {
				if _, err = m.XAdd(v.key, en.ID, en.Values); err != nil {
					break
				}
			}
		default:
			err = fmt.Errorf("no restore for type %s", v.typ)
		}
		if err != nil {
			return fmt.Errorf("restore %s: %w", v.key, err)
		}
		if v.ttl > 0 {
			m.SetTTL(v.key, v.ttl)
		}
	}
	wh := fzWebhook
	if err := e.store.PutEndpoint(context.Background(), &wh); err != nil {
		return fmt.Errorf("webhook: %w", err)
	}
	if got := e.fingerprint(); got != e.world {
		return fmt.Errorf("the restored world differs from the seeded one: %s", fzDiff(e.world, got))
	}
	e.state, e.dirty = e.world, false
	return nil
}

// fingerprint is everything Redis holds, one line per value, in key order:
// equal fingerprints before and after a request show it changed nothing.
func (e *fzEnv) fingerprint() string {
	m := e.mini
	var b strings.Builder
	for _, k := range m.Keys() {
		fmt.Fprintf(&b, "%s %s ttl=%v\n", k, m.Type(k), m.TTL(k))
		switch m.Type(k) {
		case "string":
			v, _ := m.Get(k)
			fmt.Fprintf(&b, "  %q\n", v)
		case "hash":
			fs, _ := m.HKeys(k)
			sort.Strings(fs)
			for _, f := range fs {
				fmt.Fprintf(&b, "  %q=%q\n", f, m.HGet(k, f))
			}
		case "list":
			vs, _ := m.List(k)
			for _, v := range vs {
				fmt.Fprintf(&b, "  %q\n", v)
			}
		case "set":
			vs, _ := m.Members(k)
			sort.Strings(vs)
			for _, v := range vs {
				fmt.Fprintf(&b, "  %q\n", v)
			}
		case "zset":
			z, _ := m.SortedSet(k)
			ms := make([]string, 0, len(z))
			for v := range z {
				ms = append(ms, v)
			}
			sort.Strings(ms)
			for _, v := range ms {
				fmt.Fprintf(&b, "  %q %v\n", v, z[v])
			}
		case "stream":
			es, _ := m.Stream(k)
			for _, en := range es {
				fmt.Fprintf(&b, "  %s %q\n", en.ID, en.Values)
			}
		default:
			fmt.Fprintf(&b, "  (type %s not compared)\n", m.Type(k))
		}
	}
	return b.String()
}

// fzDiff names the first lines where two fingerprints differ.
func fzDiff(before, after string) string {
	bl, al := strings.Split(before, "\n"), strings.Split(after, "\n")
	for i := 0; i < max(len(bl), len(al)); i++ {
		var b, a string
		if i < len(bl) {
			b = bl[i]
		}
		if i < len(al) {
			a = al[i]
		}
		if a != b {
			return fmt.Sprintf("line %d: before %q, after %q", i+1, b, a)
		}
	}
	return "no difference"
}

// fzRequest is one request of an iteration, as it arrives on the wire.
type fzRequest struct {
	method string
	path   string // escaped, without the query
	query  string // raw
	auth   string // the Authorization header; "" for none
	origin string // the Origin header; "" for none
	body   string
	ip     string // RemoteAddr; a fresh address of a large pool when ""
	// readOnly says that whatever the answer, Redis must be unchanged (a
	// GET, or a surface that only reads).
	readOnly bool
}

// fzAnswer is what the server answered.
type fzAnswer struct {
	status int
	header http.Header
	raw    []byte
	body   any // the decoded JSON value (numbers as json.Number); nil for no body
}

func (a fzAnswer) String() string { return fmt.Sprintf("%d %.600s", a.status, bytes.TrimSpace(a.raw)) }

// object returns the body as a JSON object, or nil.
func (a fzAnswer) object() map[string]any { m, _ := a.body.(map[string]any); return m }

// fzWire makes s what a client can put in a request target: the bytes an
// HTTP request line cannot carry (controls, space, DEL) percent-encoded.
func fzWire(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c == 0x7f {
			fmt.Fprintf(&b, "%%%02X", c)
		} else {
			b.WriteByte(c)
		}
	}
	return b.String()
}

// fzHeader makes s a header value as the server sees one: without the
// control characters HTTP forbids there (tab is allowed), and trimmed of
// spaces and tabs at both ends, as net/textproto does.
func fzHeader(s string) string {
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= ' ' && c != 0x7f || c == '\t' {
			b = append(b, c) // bytes from 0x80 pass as they are (obs-text)
		}
	}
	return strings.Trim(string(b), " \t")
}

// fzSegment escapes s as one path segment ("" stays "").
func fzSegment(s string) string { return url.PathEscape(s) }

// serve sends req to the server and checks what holds for every answer of
// every surface: no 5xx; a redirect only to clean a path; otherwise JSON
// (or an empty 204); and Redis unchanged by a refusal (4xx), a redirect or
// a read-only request. It resets the world first when the previous request
// may have changed it. ok is false when req cannot be sent at all.
func (e *fzEnv) serve(t *testing.T, req fzRequest) (fzAnswer, bool) {
	t.Helper()
	if e.dirty {
		if err := e.reset(); err != nil {
			t.Fatalf("reset: %v", err)
		}
	}
	target := req.path
	if req.query != "" {
		target += "?" + req.query
	}
	u, err := url.ParseRequestURI(target)
	if err != nil {
		return fzAnswer{}, false
	}
	r, err := http.NewRequest(req.method, "http://hub.test/", strings.NewReader(req.body))
	if err != nil {
		return fzAnswer{}, false // not a method token
	}
	r.URL, r.RequestURI, r.Host = u, target, "hub.test"
	if req.auth != "" {
		r.Header.Set("Authorization", req.auth)
	}
	if req.origin != "" {
		r.Header.Set("Origin", req.origin)
	}
	if req.body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	r.RemoteAddr = req.ip
	if r.RemoteAddr == "" {
		// 65,536 addresses in turn: each sees a request only every 65,536
		// iterations, far slower than the per-IP limits refill, so the
		// rate-limited endpoints decode every body instead of answering
		// 429, and the limiters keep at most 65,536 buckets.
		e.n++
		r.RemoteAddr = fmt.Sprintf("10.0.%d.%d:40000", e.n>>8&0xff, e.n&0xff)
	}
	rec := httptest.NewRecorder()
	e.srv.ServeHTTP(rec, r)
	res := rec.Result()
	raw, _ := io.ReadAll(res.Body)
	a := fzAnswer{status: res.StatusCode, header: res.Header, raw: raw}

	before := e.state
	after := e.fingerprint()
	changed := after != before
	switch {
	case a.status >= 500:
		t.Fatalf("%s %s: %s, want no 5xx for any input", req.method, target, a)
	case a.status >= 300 && a.status < 400:
		if a.status != http.StatusMovedPermanently || a.header.Get("Location") == "" || len(bytes.TrimSpace(raw)) != 0 {
			t.Fatalf("%s %s: %s (Location %q), want only mux's 301 to a clean path", req.method, target, a, a.header.Get("Location"))
		}
	case a.status == http.StatusNoContent:
		if len(raw) != 0 {
			t.Fatalf("%s %s: 204 with a body %q", req.method, target, raw)
		}
	default:
		if ct := a.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			t.Fatalf("%s %s: Content-Type %q, want application/json; answer %s", req.method, target, ct, a)
		}
		v, err := decodeJSON(raw)
		if err != nil {
			t.Fatalf("%s %s: answer is not one JSON value (%v): %s", req.method, target, err, a)
		}
		a.body = v
	}
	if bytes.Contains(raw, []byte("$2a$")) || bytes.Contains(raw, []byte(fzHash)) {
		t.Fatalf("%s %s: a password hash in the answer: %s", req.method, target, a)
	}
	if changed && (a.status >= 300 || req.readOnly || req.method == http.MethodGet || req.method == http.MethodHead) {
		t.Fatalf("%s %s: answered %s but changed Redis: %s", req.method, target, a, fzDiff(before, after))
	}
	e.state, e.dirty = after, changed
	return a, true
}

// fzKeys returns the sorted keys of an object.
func fzKeys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// wantKeys fails unless v is an object with exactly keys (sorted), plus
// any of optional.
func wantKeys(t *testing.T, what string, v any, keys []string, optional ...string) map[string]any {
	t.Helper()
	m, ok := v.(map[string]any)
	if !ok {
		t.Fatalf("%s: %s is not an object", what, fzShort(v))
	}
	var got []string
	for _, k := range fzKeys(m) {
		if !slices.Contains(optional, k) {
			got = append(got, k)
		}
	}
	if !slices.Equal(got, keys) {
		t.Fatalf("%s: keys %v, want %v (optional %v): %s", what, fzKeys(m), keys, optional, fzShort(v))
	}
	return m
}

// wantString fails unless m[k] is a string, and returns it.
func wantString(t *testing.T, what string, m map[string]any, k string) string {
	t.Helper()
	s, ok := m[k].(string)
	if !ok {
		t.Fatalf("%s: %s is %s, want a string", what, k, fzShort(m[k]))
	}
	return s
}

func fzShort(v any) string {
	b, _ := json.Marshal(v)
	return fmt.Sprintf("%.300s", b)
}

// fzIn fails unless s is one of want.
func fzIn(t *testing.T, what, s string, want ...string) {
	t.Helper()
	if !slices.Contains(want, s) {
		t.Fatalf("%s: %q, want one of %q", what, s, want)
	}
}

// fzBearer returns the credential of an Authorization header as the
// document defines it: scheme Bearer in any letter case, one space, the
// credential trimmed.
func fzBearer(h string) (string, bool) {
	const p = "bearer "
	if len(h) <= len(p) || !strings.EqualFold(h[:len(p)], p) {
		return "", false
	}
	return strings.TrimSpace(h[len(p):]), true
}

// checkCS checks an answer of the Customer Service API: errors exactly
// {"code":-1,"message":...} with a message of the document's table for its
// status; successes {"code":0,"data":{...}} or {"code":0,"message":...}.
func checkCS(t *testing.T, what string, a fzAnswer) map[string]any {
	t.Helper()
	if a.status >= 300 && a.status < 400 {
		return nil
	}
	if a.status >= 400 {
		m := wantKeys(t, what, a.body, []string{"code", "message"})
		if m["code"] != json.Number("-1") {
			t.Fatalf("%s: error code %v, want -1: %s", what, m["code"], a)
		}
		msg := wantString(t, what, m, "message")
		want := map[int][]string{
			400: {"invalid request body"}, 413: {"invalid request body"}, 401: {"unauthorized"},
			404: {"session not found", "not found"}, 405: {"method not allowed"},
			409: {"session already ended", "agent already assigned"}, 429: {"max sessions reached"},
		}[a.status]
		if want == nil {
			t.Fatalf("%s: status %d is not in the document's table: %s", what, a.status, a)
		}
		fzIn(t, what+": message for "+fmt.Sprint(a.status), msg, want...)
		if a.status == 401 && !strings.HasPrefix(a.header.Get("WWW-Authenticate"), "Bearer") {
			t.Fatalf("%s: 401 without a Bearer challenge", what)
		}
		if a.status == 405 && a.header.Get("Allow") == "" {
			t.Fatalf("%s: 405 without Allow", what)
		}
		return nil
	}
	if a.status != http.StatusOK {
		t.Fatalf("%s: success %d, want 200: %s", what, a.status, a)
	}
	m, _ := a.body.(map[string]any)
	if m == nil || m["code"] != json.Number("0") {
		t.Fatalf("%s: success is not {\"code\":0,...}: %s", what, a)
	}
	if _, ok := m["data"]; ok {
		wantKeys(t, what, m, []string{"code", "data"})
		data := fzObject(m["data"])
		if data == nil {
			t.Fatalf("%s: data is not an object: %s", what, a)
		}
		return data
	}
	wantKeys(t, what, m, []string{"code", "message"})
	wantString(t, what, m, "message")
	return nil
}

func fzObject(v any) map[string]any { m, _ := v.(map[string]any); return m }

// fzCSSessionKeys are the fields of a Customer Service API session.
var fzCSSessionKeys = []string{"agent_id", "agent_name", "created_at", "customer_id", "customer_name", "duration", "id", "status", "title"}

// checkCSSession checks a session of the Customer Service API.
func checkCSSession(t *testing.T, what string, v any, keys []string) {
	t.Helper()
	m := wantKeys(t, what, v, keys)
	fzIn(t, what+": status", wantString(t, what, m, "status"), "Waiting", "Active", "Ended")
	if _, err := time.Parse("2006-01-02T15:04:05Z", wantString(t, what, m, "created_at")); err != nil {
		t.Fatalf("%s: created_at %v is not RFC 3339 UTC to the second", what, m["created_at"])
	}
}

// fzNativeCodes is the native API's table from status to error code.
var fzNativeCodes = map[int]string{400: "invalid", 401: "unauthorized", 403: "forbidden", 404: "not_found",
	405: "invalid", 409: "conflict", 413: "too_large", 429: "limit"}

// checkNative checks an answer of the native API: errors exactly
// {"error":{"code":...,"message":...}} with the code of the table for the
// status (401 with a Bearer challenge, 405 with Allow); successes a JSON
// object (or 204 with no body).
func checkNative(t *testing.T, what string, a fzAnswer) map[string]any {
	t.Helper()
	switch {
	case a.status >= 300 && a.status < 400, a.status == http.StatusNoContent:
		return nil
	case a.status >= 400:
		m := wantKeys(t, what, a.body, []string{"error"})
		em := wantKeys(t, what+": error", m["error"], []string{"code", "message"})
		code := wantString(t, what, em, "code")
		if want, ok := fzNativeCodes[a.status]; !ok || code != want {
			t.Fatalf("%s: status %d with code %q, want the table's %q: %s", what, a.status, code, want, a)
		}
		if wantString(t, what, em, "message") == "" {
			t.Fatalf("%s: empty error message", what)
		}
		if a.status == 401 && !strings.HasPrefix(a.header.Get("WWW-Authenticate"), "Bearer") {
			t.Fatalf("%s: 401 without a Bearer challenge", what)
		}
		if a.status == 405 && a.header.Get("Allow") == "" {
			t.Fatalf("%s: 405 without Allow", what)
		}
		return nil
	}
	m, ok := a.body.(map[string]any)
	if !ok {
		t.Fatalf("%s: success is not a JSON object: %s", what, a)
	}
	return m
}

// fzNativeSessionKeys are the fields of a native session.
var fzNativeSessionKeys = []string{"agent_id", "agent_name", "assigned_at", "call", "calls", "created_at", "customer_email", "customer_id",
	"customer_name", "description", "duration", "ended_at", "figures", "id", "last_seq", "number", "offline", "rating", "state", "status", "tags", "title", "visitor_id"}

// checkNativeSession checks a native session's fields and values.
func checkNativeSession(t *testing.T, what string, v any) {
	t.Helper()
	m := wantKeys(t, what, v, fzNativeSessionKeys)
	fzIn(t, what+": state", wantString(t, what, m, "state"), "Chatbot", "Queuing", "WaitingForAgentAnswering", "Agent", "Ended")
	fzIn(t, what+": status", wantString(t, what, m, "status"), "Waiting", "Active", "Ended")
	if !hub.ValidSessionID(wantString(t, what, m, "id")) {
		t.Fatalf("%s: id %v is not a session id", what, m["id"])
	}
}

// checkKF5 checks an answer of the KF5 surface: errors exactly
// {"error":...,"message":...} with the code for the status (401 with a
// Basic challenge); successes {"chats":[chat...]} or {"chat":chat} with
// exactly the document's fields.
func checkKF5(t *testing.T, what string, a fzAnswer) {
	t.Helper()
	if a.status >= 300 && a.status < 400 {
		return
	}
	if a.status >= 400 {
		m := wantKeys(t, what, a.body, []string{"error", "message"})
		code := wantString(t, what, m, "error")
		want := map[int]string{400: "invalid", 401: "unauthorized", 404: "not_found", 405: "method_not_allowed", 429: "limit"}[a.status]
		if want == "" || code != want {
			t.Fatalf("%s: status %d with error %q, want %q: %s", what, a.status, code, want, a)
		}
		if wantString(t, what, m, "message") == "" {
			t.Fatalf("%s: empty message", what)
		}
		if a.status == 401 && !strings.HasPrefix(a.header.Get("WWW-Authenticate"), "Basic") {
			t.Fatalf("%s: 401 without a Basic challenge", what)
		}
		return
	}
	if a.status != http.StatusOK {
		t.Fatalf("%s: success %d, want 200", what, a.status)
	}
	m, _ := a.body.(map[string]any)
	var chats []any
	switch {
	case m != nil && len(m) == 1 && m["chats"] != nil:
		chats, _ = m["chats"].([]any)
		if chats == nil && fzShort(m["chats"]) != "[]" {
			t.Fatalf("%s: chats is not an array: %s", what, a)
		}
		if a.header.Get("X-Total-Count") == "" {
			t.Fatalf("%s: a list without X-Total-Count", what)
		}
	case m != nil && len(m) == 1 && m["chat"] != nil:
		chats = []any{m["chat"]}
	default:
		t.Fatalf("%s: success is neither {\"chats\":[...]} nor {\"chat\":{...}}: %s", what, a)
	}
	for i, c := range chats {
		cw := fmt.Sprintf("%s: chat %d", what, i)
		cm := wantKeys(t, cw, c, []string{"agent_id", "assigned_at", "created_at", "end_at", "id", "messages", "rating",
			"started_by", "status", "type", "user_id", "visitor_id"})
		fzIn(t, cw+": status", wantString(t, cw, cm, "status"), "open", "close")
		if _, err := time.Parse("2006-01-02 15:04:05", wantString(t, cw, cm, "created_at")); err != nil {
			t.Fatalf("%s: created_at %v is not YYYY-MM-DD HH:MM:SS", cw, cm["created_at"])
		}
		msgs, ok := cm["messages"].([]any)
		if !ok {
			t.Fatalf("%s: messages is not an array", cw)
		}
		for j, msg := range msgs {
			wantKeys(t, fmt.Sprintf("%s message %d", cw, j), msg, []string{"chat_id", "created_at", "id", "is_read", "msg",
				"name", "type", "upload", "upload_id"})
		}
	}
}

// checkCCAI checks an answer of the CCAI surface: errors exactly
// {"message":...} (401 with a Basic challenge); successes an array of
// agents with exactly the document's fields for the method.
func checkCCAI(t *testing.T, what, method string, a fzAnswer) {
	t.Helper()
	if a.status >= 300 && a.status < 400 {
		return
	}
	if a.status >= 400 {
		m := wantKeys(t, what, a.body, []string{"message"})
		if wantString(t, what, m, "message") == "" {
			t.Fatalf("%s: empty message", what)
		}
		fzIn(t, what+": status", fmt.Sprint(a.status), "400", "401", "404", "405")
		if a.status == 401 && !strings.HasPrefix(a.header.Get("WWW-Authenticate"), "Basic") {
			t.Fatalf("%s: 401 without a Basic challenge", what)
		}
		return
	}
	if a.status != http.StatusOK {
		t.Fatalf("%s: success %d, want 200", what, a.status)
	}
	list, ok := a.body.([]any)
	if !ok {
		t.Fatalf("%s: success is not a JSON array: %s", what, a)
	}
	for i, el := range list {
		ew := fmt.Sprintf("%s: element %d", what, i)
		var m map[string]any
		if method == http.MethodPost {
			m = wantKeys(t, ew, el, []string{"agent_id", "agent_number", "current_status", "email", "name", "previous_status"}, "message")
		} else {
			m = wantKeys(t, ew, el, []string{"agent_id", "agent_number", "email", "ip_addrs", "name", "status"})
		}
		switch m["agent_id"].(type) {
		case json.Number, string:
		default:
			t.Fatalf("%s: agent_id %s is neither a number nor a string", ew, fzShort(m["agent_id"]))
		}
	}
}

// fzTencentInfo is the document's description of each error code.
var fzTencentInfo = map[string]string{"141004": "Invalid parameter.", "141005": "Session does not exist or has ended."}

// checkTencent checks an answer of the Tencent-Desk surface: always HTTP
// 200; a failure is exactly ActionStatus FAIL, ErrorInfo starting with the
// code's description and ErrorCode 141004 or 141005 (141002 is an internal
// error, which no input may cause); a success has ErrorCode 0, a SessionId
// and a known CurrentState, with AgentId exactly in the two agent states.
func checkTencent(t *testing.T, what string, a fzAnswer) map[string]any {
	t.Helper()
	if a.status != http.StatusOK {
		t.Fatalf("%s: HTTP %d, want 200 always: %s", what, a.status, a)
	}
	m, ok := a.body.(map[string]any)
	if !ok {
		t.Fatalf("%s: not a JSON object: %s", what, a)
	}
	switch wantString(t, what, m, "ActionStatus") {
	case "FAIL":
		wantKeys(t, what, m, []string{"ActionStatus", "ErrorCode", "ErrorInfo"})
		code := fmt.Sprint(m["ErrorCode"])
		info, ok := fzTencentInfo[code]
		if !ok {
			t.Fatalf("%s: ErrorCode %s, want 141004 or 141005: %s", what, code, a)
		}
		if !strings.HasPrefix(wantString(t, what, m, "ErrorInfo"), info) {
			t.Fatalf("%s: ErrorInfo %q does not start with %q", what, m["ErrorInfo"], info)
		}
	case "OK":
		state, _ := m["CurrentState"].(string)
		var agent []string
		if state == "Agent" || state == "WaitingForAgentAnswering" {
			agent = []string{"AgentId"}
		}
		wantKeys(t, what, m, slices.Sorted(slices.Values(append([]string{"ActionStatus", "CurrentState", "ErrorCode", "ErrorInfo", "SessionId"}, agent...))))
		if m["ErrorCode"] != json.Number("0") || m["ErrorInfo"] != "" {
			t.Fatalf("%s: OK with ErrorCode %v, ErrorInfo %v", what, m["ErrorCode"], m["ErrorInfo"])
		}
		sid := wantString(t, what, m, "SessionId")
		fzIn(t, what+": CurrentState", state, "Chatbot", "Queuing", "WaitingForAgentAnswering", "Agent", "NotInSession")
		if (state == "NotInSession") != (sid == "") {
			t.Fatalf("%s: SessionId %q with state %s", what, sid, state)
		}
	default:
		t.Fatalf("%s: ActionStatus %v", what, m["ActionStatus"])
	}
	return m
}
