package api_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/api"
	"github.com/switchboardhq/switchboard/hub"
	"github.com/switchboardhq/switchboard/hub/redisstore"
	"github.com/switchboardhq/switchboard/hub/redisstore/redistest"
)

// adminKey is the back-office key every test server is configured with.
const adminKey = "sb-test-admin-key-4f1c9a"

// operatorKey is the test deployment's operator API key.
const operatorKey = "sb-test-operator-key-77d0e2"

// t0 is the seed document's example creation time. The clock starts there,
// but in a zone east of UTC and off the whole second, so that the tests see
// whether the server renders times in UTC truncated to the second.
var t0 = time.Date(2024, 1, 15, 18, 30, 0, 789_000_000, time.FixedZone("UTC+8", 8*3600))

// t0UTC is t0 as the API must render it.
const t0UTC = "2024-01-15T10:30:00Z"

// fakeClock is the hub's clock in tests. Durations and times are asserted
// exactly, which the wall clock cannot give without sleeping; every
// instance of one test shares it, as hub instances share real time.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// instance is one hub instance: its own Redis client (connection pool),
// store, service, api.Server and HTTP listener, as a separate process would
// have. Instances of one env share the Redis and the key prefix.
type instance struct {
	t      testing.TB
	store  *redisstore.Store
	server *api.Server
	ts     *httptest.Server
}

// env is a test's deployment: one Redis and one or more hub instances.
type env struct {
	t     testing.TB
	r     *redistest.Redis
	clock *fakeClock
	hubs  []*instance
}

// newEnv starts n hub instances on a fresh Redis with the given policy.
// Retention defaults to a day and AgentCapacity to 10, so that a test only
// states the limits it is about (a zero retention would expire sessions
// the moment they close).
func newEnv(t testing.TB, policy hub.Policy, n int) *env {
	t.Helper()
	if policy.AgentCapacity == 0 {
		policy.AgentCapacity = 10
	}
	if policy.Retention == 0 {
		policy.Retention = 24 * time.Hour
	}
	r := redistest.New(t)
	e := &env{t: t, r: r, clock: &fakeClock{now: t0}}
	for i := range n {
		client := r.Client
		if i > 0 {
			client = r.NewClient()
		}
		store, err := redisstore.New(client, redisstore.Options{Prefix: r.Prefix})
		if err != nil {
			t.Fatalf("redisstore.New: %v", err)
		}
		srv := api.NewServer(api.Config{
			Sessions: hub.NewService(store, policy, e.clock.Now),
			Agents:   store, Teams: store, Desk: hub.NewDesk(store, hub.DeskPolicy{}, e.clock.Now, nil),
			Chats: hub.NewHistory(store, e.clock.Now), Webhooks: store,
			AdminKey: adminKey,
			Operator: api.OperatorConfig{Key: operatorKey, Tenants: store.Tenants()},
			Ping:     store.Ping,
		})
		ts := httptest.NewServer(srv)
		t.Cleanup(ts.Close)
		e.hubs = append(e.hubs, &instance{t: t, store: store, server: srv, ts: ts})
	}
	return e
}

// response is what a request got back. Body holds the decoded JSON object
// (numbers as json.Number, so that 320 and 320.0 stay distinguishable), or
// nil when the body is not one JSON object.
type response struct {
	Status int
	Header http.Header
	Raw    []byte
	Body   map[string]any
}

func (r response) String() string { return fmt.Sprintf("%d %s", r.Status, bytes.TrimSpace(r.Raw)) }

// noAuth as the auth of send sends no Authorization header at all.
const noAuth = "\x00none"

// send makes one request and returns the answer. auth is the whole
// Authorization header (noAuth for none). It returns errors instead of
// failing the test, so that goroutines of the race tests may call it.
func (in *instance) send(method, path, body, auth string) (response, error) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, in.ts.URL+path, rd)
	if err != nil {
		return response{}, err
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if auth != noAuth {
		req.Header.Set("Authorization", auth)
	}
	res, err := in.ts.Client().Do(req)
	if err != nil {
		return response{}, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		return response{}, fmt.Errorf("%s %s: reading body: %w", method, path, err)
	}
	out := response{Status: res.StatusCode, Header: res.Header, Raw: raw}
	if v, err := decodeJSON(raw); err == nil {
		out.Body, _ = v.(map[string]any)
	}
	return out, nil
}

// do is send for the test goroutine with the admin key given as key ("" for
// no Authorization header): it fails the test on a transport error.
func (in *instance) do(method, path, body, key string) response {
	in.t.Helper()
	auth := noAuth
	if key != "" {
		auth = "Bearer " + key
	}
	res, err := in.send(method, path, body, auth)
	if err != nil {
		in.t.Fatal(err)
	}
	return res
}

// do sends the request to the first instance.
func (e *env) do(method, path, body, key string) response {
	e.t.Helper()
	return e.hubs[0].do(method, path, body, key)
}

// decodeJSON decodes exactly one JSON value with numbers as json.Number.
func decodeJSON(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("trailing data after the JSON value")
	}
	return v, nil
}

// wantJSON checks the headers every answer of the JSON surfaces carries.
func wantJSON(t testing.TB, res response) {
	t.Helper()
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type %q, want application/json; answer %s", ct, res)
	}
	if res.Body == nil {
		t.Fatalf("answer is not one JSON object: %s", res)
	}
}

// wantError checks a refusal: the status and the document's error envelope,
// exactly {"code":-1,"message":msg} and nothing else.
func wantError(t testing.TB, res response, status int, msg string) {
	t.Helper()
	if res.Status != status {
		t.Errorf("status %d, want %d %q; answer %s", res.Status, status, msg, res)
	}
	wantJSON(t, res)
	want := map[string]any{"code": json.Number("-1"), "message": msg}
	if !reflect.DeepEqual(res.Body, want) {
		t.Errorf("body %s, want {\"code\":-1,\"message\":%q}", bytes.TrimSpace(res.Raw), msg)
	}
}

// wantMessage checks a success answered with the message envelope
// {"code":0,"message":msg} (close and assign).
func wantMessage(t testing.TB, res response, msg string) {
	t.Helper()
	if res.Status != http.StatusOK {
		t.Fatalf("status %d, want 200 %q; answer %s", res.Status, msg, res)
	}
	wantJSON(t, res)
	want := map[string]any{"code": json.Number("0"), "message": msg}
	if !reflect.DeepEqual(res.Body, want) {
		t.Errorf("body %s, want {\"code\":0,\"message\":%q}", bytes.TrimSpace(res.Raw), msg)
	}
}

// wantData checks a success answered with the data envelope
// {"code":0,"data":{...}} and returns the data object.
func wantData(t testing.TB, res response) map[string]any {
	t.Helper()
	if res.Status != http.StatusOK {
		t.Fatalf("status %d, want 200; answer %s", res.Status, res)
	}
	wantJSON(t, res)
	if c := res.Body["code"]; c != json.Number("0") {
		t.Errorf("code %v, want 0; answer %s", c, res)
	}
	if len(res.Body) != 2 {
		t.Errorf("envelope keys %v, want exactly code and data", keys(res.Body))
	}
	data, ok := res.Body["data"].(map[string]any)
	if !ok {
		t.Fatalf("data is %s, want an object; answer %s", jsonType(res.Body["data"]), res)
	}
	return data
}

// str returns m[k] as a string, failing the test when it is not one.
func str(t testing.TB, m map[string]any, k string) string {
	t.Helper()
	s, ok := m[k].(string)
	if !ok {
		t.Fatalf("%s is %s (%v), want a string", k, jsonType(m[k]), m[k])
	}
	return s
}

// num returns m[k] as an integer, failing the test when it is not a JSON
// integer (the document's counts and durations are whole numbers).
func num(t testing.TB, m map[string]any, k string) int64 {
	t.Helper()
	n, ok := m[k].(json.Number)
	if !ok {
		t.Fatalf("%s is %s (%v), want a number", k, jsonType(m[k]), m[k])
	}
	i, err := n.Int64()
	if err != nil {
		t.Fatalf("%s = %s, want an integer", k, n)
	}
	return i
}

func keys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// jsonType names the JSON type of a decoded value.
func jsonType(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case json.Number, float64:
		return "number"
	case string:
		return "string"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return fmt.Sprintf("%T", v)
}

// seed returns the decoded example of the published document stored in
// testdata/customer-service/name.json.
func seed(t testing.TB, name string) any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "customer-service", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	v, err := decodeJSON(b)
	if err != nil {
		t.Fatalf("seed example %s: %v", name, err)
	}
	return v
}

// seedText returns a seed example as its verbatim text, to send as a body.
func seedText(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "customer-service", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// sameShape reports every place where got and the seed example want differ
// in shape: the set of keys of each object and the JSON type of each value.
// Each element of an array in got is compared with the example's first
// element. Values are not compared (ids and times differ by nature).
func sameShape(t testing.TB, where string, got, want any) {
	t.Helper()
	if gt, wt := jsonType(got), jsonType(want); gt != wt {
		t.Errorf("%s: JSON type %s, the document has %s (got %v, example %v)", where, gt, wt, got, want)
		return
	}
	switch w := want.(type) {
	case map[string]any:
		g := got.(map[string]any)
		if !reflect.DeepEqual(keys(g), keys(w)) {
			t.Errorf("%s: keys %v, the document has %v", where, keys(g), keys(w))
		}
		for k, wv := range w {
			if gv, ok := g[k]; ok {
				sameShape(t, where+"."+k, gv, wv)
			}
		}
	case []any:
		if len(w) == 0 {
			return
		}
		for i, gv := range got.([]any) {
			sameShape(t, fmt.Sprintf("%s[%d]", where, i), gv, w[0])
		}
	}
}

// snapshot is everything a client of the API can observe of the hub's
// sessions: the stats, the whole listing and the detail of each named
// session. Taken before and after a refused request, equal snapshots show
// that the refusal changed nothing. The clock must not move in between
// (durations are part of it).
func (e *env) snapshot(ids ...string) map[string]string {
	e.t.Helper()
	out := map[string]string{}
	get := func(what, path string) {
		res := e.do(http.MethodGet, path, "", adminKey)
		if res.Status != http.StatusOK {
			e.t.Fatalf("snapshot: GET %s: %s", path, res)
		}
		out[what] = string(bytes.TrimSpace(res.Raw))
	}
	get("stats", "/customer-service/stats")
	get("list", "/customer-service/sessions?per_page=100")
	for _, id := range ids {
		get("detail "+id, "/customer-service/sessions/"+id)
	}
	return out
}

// wantSameSnapshot reports what differs between two snapshots.
func wantSameSnapshot(t testing.TB, before, after map[string]string) {
	t.Helper()
	for k, b := range before {
		if a := after[k]; a != b {
			t.Errorf("a refused request changed %s:\nbefore %s\nafter  %s", k, b, a)
		}
	}
}

// create opens a session through the API and returns its id.
func (e *env) create(title string) string {
	e.t.Helper()
	res := e.do(http.MethodPost, "/customer-service/sessions",
		fmt.Sprintf(`{"title":%q,"customer_name":"John"}`, title), adminKey)
	return str(e.t, wantData(e.t, res), "id")
}

// assign puts an agent in a session through the API.
func (e *env) assign(id, agentID string) {
	e.t.Helper()
	res := e.do(http.MethodPost, "/customer-service/sessions/"+id+"/assign",
		fmt.Sprintf(`{"agent_id":%q,"agent_name":"Agent %s"}`, agentID, agentID), adminKey)
	wantMessage(e.t, res, "agent assigned")
}

// close ends a session through the API.
func (e *env) close(id string) {
	e.t.Helper()
	wantMessage(e.t, e.do(http.MethodDelete, "/customer-service/sessions/"+id, "", adminKey), "session closed")
}

// detail returns a session's data object.
func (e *env) detail(id string) map[string]any {
	e.t.Helper()
	return wantData(e.t, e.do(http.MethodGet, "/customer-service/sessions/"+id, "", adminKey))
}

// stats returns the counts of GET /customer-service/stats as
// [total, waiting, active, ended].
func (e *env) stats() [4]int64 {
	e.t.Helper()
	d := wantData(e.t, e.do(http.MethodGet, "/customer-service/stats", "", adminKey))
	return [4]int64{num(e.t, d, "total_sessions"), num(e.t, d, "waiting_sessions"),
		num(e.t, d, "active_sessions"), num(e.t, d, "ended_sessions")}
}

// listAll pages through the listing (optionally filtered by status) and
// returns every session in order, checking that total agrees on each page.
func (e *env) listAll(status string) []map[string]any {
	e.t.Helper()
	var out []map[string]any
	total := int64(-1)
	for page := 1; ; page++ {
		path := fmt.Sprintf("/customer-service/sessions?per_page=100&page=%d", page)
		if status != "" {
			path += "&status=" + status
		}
		d := wantData(e.t, e.do(http.MethodGet, path, "", adminKey))
		n := num(e.t, d, "total")
		if total >= 0 && n != total {
			e.t.Fatalf("listing: total changed from %d to %d between pages", total, n)
		}
		total = n
		list, ok := d["sessions"].([]any)
		if !ok {
			e.t.Fatalf("listing: sessions is %s, want an array", jsonType(d["sessions"]))
		}
		for _, s := range list {
			out = append(out, s.(map[string]any))
		}
		if len(list) < 100 {
			break
		}
	}
	if int64(len(out)) != total {
		e.t.Fatalf("listing has %d sessions, total says %d", len(out), total)
	}
	return out
}
