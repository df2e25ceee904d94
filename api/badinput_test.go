package api_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/switchboardhq/switchboard/hub"
)

// Bodies that the server accepts; each bad case differs from one of them in
// the one respect it is about.
const (
	createOK = `{"title":"After-sales inquiry","customer_name":"John","description":"Regarding refund for order #12345"}`
	assignOK = `{"agent_id":"agent_002","agent_name":"Agent Li"}`
)

// matrixFixture is the state every bad-input case starts from: a Waiting
// session {W}, an Active one {A} (agent_001, whose capacity of 1 it fills)
// and an Ended one {E}, with room for one more open session unless full.
type matrixFixture struct {
	*env
	w, a, e string
}

func newMatrixFixture(t *testing.T, full bool) *matrixFixture {
	t.Helper()
	maxOpen := 3
	if full {
		maxOpen = 2
	}
	f := &matrixFixture{env: newEnv(t, hub.Policy{MaxOpenSessions: maxOpen, AgentCapacity: 1}, 1)}
	f.e = f.create("ended")
	f.close(f.e)
	f.w = f.create("waiting")
	f.a = f.create("active")
	f.assign(f.a, "agent_001")
	return f
}

// path fills the placeholders of a case's path: {W}, {A} and {E} are the
// fixture's sessions, {NEW} a well-formed id that names no session.
func (f *matrixFixture) path(p string) string {
	return strings.NewReplacer("{W}", f.w, "{A}", f.a, "{E}", f.e, "{NEW}", hub.NewSessionID()).Replace(p)
}

// emptyAuth as a case's auth sends an Authorization header with no value.
const emptyAuth = "\x00empty"

// badCase is one refused request. auth is the whole Authorization header:
// "" means the valid admin key, noAuth none, emptyAuth an empty one.
type badCase struct {
	name   string
	method string
	path   string
	body   string
	auth   string
	full   bool // start from a fixture where no session may be opened
	status int
	msg    string
}

// endpoints are the six operations of the document with a body they accept.
var endpoints = []struct {
	name, method, path, body string
}{
	{"list", http.MethodGet, "/customer-service/sessions", ""},
	{"detail", http.MethodGet, "/customer-service/sessions/{W}", ""},
	{"create", http.MethodPost, "/customer-service/sessions", createOK},
	{"close", http.MethodDelete, "/customer-service/sessions/{W}", ""},
	{"assign", http.MethodPost, "/customer-service/sessions/{W}/assign", assignOK},
	{"stats", http.MethodGet, "/customer-service/stats", ""},
}

// badBodies are request bodies refused by both endpoints that take one, as
// a create body (C) and as an assign body (A).
func badBodies() []badCase {
	const invalid = "invalid request body"
	type body struct{ name, create, assign string }
	bodies := []body{
		{"not JSON", `title=x&customer_name=John`, `agent_id=a&agent_name=b`},
		{"plain text", `hello`, `hello`},
		{"empty", ``, ``},
		{"only whitespace", " \r\n\t ", " \r\n\t "},
		{"JSON array", `[]`, `[]`},
		{"JSON array of the object", `[` + createOK + `]`, `[` + assignOK + `]`},
		{"JSON null", `null`, `null`},
		{"JSON string", `"x"`, `"x"`},
		{"JSON number", `5`, `5`},
		{"truncated object", `{"title":"a","customer_name":"b"`, `{"agent_id":"a","agent_name":"b"`},
		{"empty object", `{}`, `{}`},
		{"wrong type: number", `{"title":5,"customer_name":"John"}`, `{"agent_id":1,"agent_name":"Agent Li"}`},
		{"wrong type: boolean", `{"title":"a","customer_name":true}`, `{"agent_id":"agent_002","agent_name":false}`},
		{"wrong type: array", `{"title":["a"],"customer_name":"John"}`, `{"agent_id":["agent_002"],"agent_name":"Agent Li"}`},
		{"wrong type: object", `{"title":"a","customer_name":"John","description":{}}`, `{"agent_id":{},"agent_name":"Agent Li"}`},
		{"missing first field", `{"customer_name":"John"}`, `{"agent_name":"Agent Li"}`},
		{"missing second field", `{"title":"a"}`, `{"agent_id":"agent_002"}`},
		{"null first field", `{"title":null,"customer_name":"John"}`, `{"agent_id":null,"agent_name":"Agent Li"}`},
		{"null second field", `{"title":"a","customer_name":null}`, `{"agent_id":"agent_002","agent_name":null}`},
		{"unknown field", `{"title":"a","customer_name":"John","priority":1}`, `{"agent_id":"agent_002","agent_name":"Agent Li","session_id":"x"}`},
		{"invalid UTF-8 in a string", "{\"title\":\"\xff\xfe\",\"customer_name\":\"John\"}", "{\"agent_id\":\"agent_002\",\"agent_name\":\"Agent \xc3\x28\"}"},
		{"invalid UTF-8 between tokens", "{\"title\":\"a\",\xff\"customer_name\":\"John\"}", "{\"agent_id\":\"agent_002\",\xff\"agent_name\":\"Agent Li\"}"},
		{"byte order mark", "\xef\xbb\xbf" + createOK, "\xef\xbb\xbf" + assignOK},
		{"trailing garbage", createOK + ` x`, assignOK + ` x`},
		{"trailing second object", createOK + `{}`, assignOK + `{}`},
		{"trailing comma", createOK + `,`, assignOK + `,`},
		{"trailing bracket", createOK + `]`, assignOK + `]`},
		{"empty required string", `{"title":"","customer_name":"John"}`, `{"agent_id":"","agent_name":"Agent Li"}`},
		{"blank required string", `{"title":"a","customer_name":"   "}`, `{"agent_id":"agent_002","agent_name":"  "}`},
		{"control character", `{"title":"a\u0000b","customer_name":"John"}`, `{"agent_id":"agent_002","agent_name":"Agent\u0007Li"}`},
		{"too long", fmt.Sprintf(`{"title":%q,"customer_name":"John"}`, strings.Repeat("é", hub.MaxTitleLen+1)),
			fmt.Sprintf(`{"agent_id":%q,"agent_name":"Agent Li"}`, strings.Repeat("a", 65))},
		{"invalid id", `{"title":"a","customer_name":"John","customer_id":"cust 001"}`, `{"agent_id":"agent 002","agent_name":"Agent Li"}`},
	}
	var out []badCase
	for _, b := range bodies {
		out = append(out,
			badCase{name: "create/" + b.name, method: http.MethodPost, path: "/customer-service/sessions",
				body: b.create, status: http.StatusBadRequest, msg: invalid},
			badCase{name: "assign/" + b.name, method: http.MethodPost, path: "/customer-service/sessions/{W}/assign",
				body: b.assign, status: http.StatusBadRequest, msg: invalid})
	}
	// Over 64 KiB: refused as too large, with the document's message.
	pad := strings.Repeat("a", 64<<10)
	out = append(out,
		badCase{name: "create/oversized", method: http.MethodPost, path: "/customer-service/sessions",
			body:   fmt.Sprintf(`{"title":"a","customer_name":"John","description":%q}`, pad),
			status: http.StatusRequestEntityTooLarge, msg: invalid},
		badCase{name: "assign/oversized", method: http.MethodPost, path: "/customer-service/sessions/{W}/assign",
			body:   fmt.Sprintf(`{"agent_id":"agent_002","agent_name":%q}`, pad),
			status: http.StatusRequestEntityTooLarge, msg: invalid},
		badCase{name: "assign/oversized whitespace", method: http.MethodPost, path: "/customer-service/sessions/{W}/assign",
			body:   assignOK + strings.Repeat(" ", 64<<10),
			status: http.StatusRequestEntityTooLarge, msg: invalid})
	return out
}

// badAuth are Authorization headers that do not carry the admin key.
var badAuth = []struct{ name, header string }{
	{"missing", noAuth},
	{"empty", emptyAuth},
	{"wrong key", "Bearer not-the-key"},
	{"key prefix", "Bearer " + adminKey[:len(adminKey)-1]},
	{"key with suffix", "Bearer " + adminKey + "x"},
	{"key in other case", "Bearer " + strings.ToUpper(adminKey)},
	{"scheme only", "Bearer"},
	{"scheme and space", "Bearer "},
	{"basic scheme", "Basic " + adminKey},
	{"token scheme", "Token " + adminKey},
	{"bare key", adminKey},
	{"scheme glued to key", "Bearer" + adminKey},
}

// badRequests is the whole matrix.
func badRequests() []badCase {
	cases := badBodies()
	for _, ep := range endpoints {
		for _, a := range badAuth {
			cases = append(cases, badCase{name: ep.name + "/auth " + a.name, method: ep.method, path: ep.path,
				body: ep.body, auth: a.header, status: http.StatusUnauthorized, msg: "unauthorized"})
		}
	}
	const (
		notFound = "session not found"
		ended    = "session already ended"
		assigned = "agent already assigned"
		limit    = "max sessions reached"
		invalid  = "invalid request body"
	)
	malformed := []string{"nonsense", "cs_abc123", "cs_" + strings.Repeat("A", 21), "cs_" + strings.Repeat("A", 23),
		"CS_" + strings.Repeat("A", 22), "xx_" + strings.Repeat("A", 22), "cs_" + strings.Repeat("A", 21) + "-", "cs_%20" + strings.Repeat("A", 21)}
	for _, id := range append([]string{"{NEW}"}, malformed...) {
		cases = append(cases,
			badCase{name: "detail/unknown id " + id, method: http.MethodGet, path: "/customer-service/sessions/" + id,
				status: http.StatusNotFound, msg: notFound},
			badCase{name: "close/unknown id " + id, method: http.MethodDelete, path: "/customer-service/sessions/" + id,
				status: http.StatusNotFound, msg: notFound},
			badCase{name: "assign/unknown id " + id, method: http.MethodPost, path: "/customer-service/sessions/" + id + "/assign",
				body: assignOK, status: http.StatusNotFound, msg: notFound})
	}
	cases = append(cases,
		badCase{name: "close/ended", method: http.MethodDelete, path: "/customer-service/sessions/{E}",
			status: http.StatusConflict, msg: ended},
		badCase{name: "assign/ended", method: http.MethodPost, path: "/customer-service/sessions/{E}/assign",
			body: assignOK, status: http.StatusConflict, msg: ended},
		badCase{name: "assign/ended, same agent as before", method: http.MethodPost, path: "/customer-service/sessions/{E}/assign",
			body: `{"agent_id":"agent_001","agent_name":"Agent agent_001"}`, status: http.StatusConflict, msg: ended},
		badCase{name: "assign/active, other agent", method: http.MethodPost, path: "/customer-service/sessions/{A}/assign",
			body: assignOK, status: http.StatusConflict, msg: assigned},
		badCase{name: "assign/active, same agent", method: http.MethodPost, path: "/customer-service/sessions/{A}/assign",
			body: `{"agent_id":"agent_001","agent_name":"Agent agent_001"}`, status: http.StatusConflict, msg: assigned},
		badCase{name: "assign/agent at capacity", method: http.MethodPost, path: "/customer-service/sessions/{W}/assign",
			body: `{"agent_id":"agent_001","agent_name":"Agent agent_001"}`, status: http.StatusTooManyRequests, msg: limit},
		badCase{name: "create/max open sessions", method: http.MethodPost, path: "/customer-service/sessions",
			body: createOK, full: true, status: http.StatusTooManyRequests, msg: limit},
		// What is checked first: credentials, then the body, then the session.
		badCase{name: "precedence/no key and unknown session", method: http.MethodGet, path: "/customer-service/sessions/{NEW}",
			auth: noAuth, status: http.StatusUnauthorized, msg: "unauthorized"},
		badCase{name: "precedence/no key and bad body", method: http.MethodPost, path: "/customer-service/sessions",
			body: `[]`, auth: noAuth, status: http.StatusUnauthorized, msg: "unauthorized"},
		badCase{name: "precedence/no key and oversized body", method: http.MethodPost, path: "/customer-service/sessions",
			body: strings.Repeat(" ", 65<<10), auth: noAuth, status: http.StatusUnauthorized, msg: "unauthorized"},
		badCase{name: "precedence/bad body and unknown session", method: http.MethodPost, path: "/customer-service/sessions/{NEW}/assign",
			body: `{}`, status: http.StatusBadRequest, msg: invalid},
		badCase{name: "precedence/bad body and ended session", method: http.MethodPost, path: "/customer-service/sessions/{E}/assign",
			body: `{}`, status: http.StatusBadRequest, msg: invalid},
		badCase{name: "precedence/bad body and no room", method: http.MethodPost, path: "/customer-service/sessions",
			body: `{}`, full: true, status: http.StatusBadRequest, msg: invalid},
	)
	for _, q := range []string{"page=0", "page=x", "page=-1", "page=1.5", "page=1e3", "page=1000001",
		"page=99999999999999999999", "per_page=-1", "per_page=0", "per_page=x", "per_page=20.0",
		"status=Bogus", "status=Open", "status=Waiting,Active", "page=1&status=Bogus", "per_page=10&page=0"} {
		cases = append(cases, badCase{name: "list/" + q, method: http.MethodGet, path: "/customer-service/sessions?" + q,
			status: http.StatusBadRequest, msg: invalid})
	}
	return cases
}

// TestBadInputMatrix sends every refused request of the matrix to a fresh
// fixture and checks the status, the exact error envelope, and that the
// refusal changed nothing a client can see (stats, listing, and the detail
// of every session of the fixture).
func TestBadInputMatrix(t *testing.T) {
	for _, c := range badRequests() {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			f := newMatrixFixture(t, c.full)
			auth := c.auth
			if auth == "" {
				auth = "Bearer " + adminKey
			} else if auth == emptyAuth {
				auth = ""
			}
			before := f.snapshot(f.w, f.a, f.e)
			res, err := f.hubs[0].send(c.method, f.path(c.path), c.body, auth)
			if err != nil {
				t.Fatal(err)
			}
			wantError(t, res, c.status, c.msg)
			if c.status == http.StatusUnauthorized {
				if h := res.Header.Get("WWW-Authenticate"); !strings.HasPrefix(h, "Bearer") {
					t.Errorf("401 without a Bearer challenge: WWW-Authenticate %q", h)
				}
			}
			wantSameSnapshot(t, before, f.snapshot(f.w, f.a, f.e))
		})
	}
}

// TestMatrixControls sends, on the matrix fixture, the good requests that
// the bad cases are variations of, so that each refusal above is due to
// what its case changed and not to the fixture: they must succeed.
func TestMatrixControls(t *testing.T) {
	f := newMatrixFixture(t, false)
	for _, ep := range endpoints {
		if ep.name == "close" {
			continue // would end {W}, which assign needs; closing is checked below
		}
		res := f.do(ep.method, f.path(ep.path), ep.body, adminKey)
		if res.Status != http.StatusOK {
			t.Errorf("%s %s: %s, want 200", ep.method, ep.path, res)
		}
	}
	f.close(f.w) // open: {A} and the session created above
	// Every accepted spelling of the credentials.
	for _, auth := range []string{"Bearer " + adminKey, "bearer " + adminKey, "BEARER " + adminKey,
		"Bearer   " + adminKey + "  "} {
		res, err := f.hubs[0].send(http.MethodGet, "/customer-service/stats", "", auth)
		if err != nil {
			t.Fatal(err)
		}
		if res.Status != http.StatusOK {
			t.Errorf("Authorization %q: %s, want 200", auth, res)
		}
	}
	// An optional field may be null.
	res := f.do(http.MethodPost, "/customer-service/sessions", `{"title":"a","customer_name":"b","description":null}`, adminKey)
	f.close(str(t, wantData(t, res), "id"))
	// Whitespace around the object is not trailing data.
	res = f.do(http.MethodPost, "/customer-service/sessions", "\n\t "+createOK+" \r\n", adminKey)
	wantData(t, res)
	// The limit of 3 open sessions ({A} and the two created) is reached.
	wantError(t, f.do(http.MethodPost, "/customer-service/sessions", createOK, adminKey),
		http.StatusTooManyRequests, "max sessions reached")
}

// TestBodyLimitBoundary checks that the 64 KiB limit is on the body as
// sent: exactly 64 KiB is read, one byte more is refused with 413.
func TestBodyLimitBoundary(t *testing.T) {
	e := newEnv(t, hub.Policy{}, 1)
	const limit = 64 << 10
	body := func(n int) string {
		b := `{"title":"a","customer_name":"John"` + "}"
		return b[:len(b)-1] + strings.Repeat(" ", n-len(b)) + "}"
	}
	res := e.do(http.MethodPost, "/customer-service/sessions", body(limit), adminKey)
	wantData(t, res)
	before := e.snapshot()
	res = e.do(http.MethodPost, "/customer-service/sessions", body(limit+1), adminKey)
	wantError(t, res, http.StatusRequestEntityTooLarge, "invalid request body")
	wantSameSnapshot(t, before, e.snapshot())
}

// TestBodilessEndpointsIgnoreBody pins how the endpoints that take no body
// in the document (list, detail, close, stats) treat one: they ignore it,
// whatever it is, and answer as they would without it.
func TestBodilessEndpointsIgnoreBody(t *testing.T) {
	bodies := map[string]string{
		"not JSON": "hello", "JSON array": "[]", "invalid UTF-8": "{\"a\":\"\xff\"}",
		"oversized": strings.Repeat("x", 65<<10),
	}
	for name, body := range bodies {
		t.Run(name, func(t *testing.T) {
			f := newMatrixFixture(t, false)
			for _, path := range []string{"/customer-service/sessions", "/customer-service/sessions/" + f.a, "/customer-service/stats"} {
				want := f.do(http.MethodGet, path, "", adminKey)
				got := f.do(http.MethodGet, path, body, adminKey)
				if got.Status != http.StatusOK || string(got.Raw) != string(want.Raw) {
					t.Errorf("GET %s with a body: %s, without: %s", path, got, want)
				}
			}
			wantMessage(t, f.do(http.MethodDelete, "/customer-service/sessions/"+f.w, body, adminKey), "session closed")
			wantFields(t, "closed with a body", f.detail(f.w), map[string]string{"status": "Ended"})
		})
	}
}

// TestFieldNamesAreCaseSensitive checks that a field spelled in another
// letter case than the document's ("Title", "AGENT_ID") is an unknown field
// and a field given twice is ambiguous: both are refused like any other bad
// body, leaving everything unchanged.
func TestFieldNamesAreCaseSensitive(t *testing.T) {
	cases := []struct{ name, path, body string }{
		{"create Title", "/customer-service/sessions", `{"Title":"a","customer_name":"John"}`},
		{"create CUSTOMER_NAME", "/customer-service/sessions", `{"title":"a","CUSTOMER_NAME":"John"}`},
		{"assign Agent_Id", "/customer-service/sessions/{W}/assign", `{"Agent_Id":"agent_002","agent_name":"Agent Li"}`},
		{"assign AGENT_NAME", "/customer-service/sessions/{W}/assign", `{"agent_id":"agent_002","AGENT_NAME":"Agent Li"}`},
		{"create duplicate title", "/customer-service/sessions", `{"title":"a","title":"b","customer_name":"John"}`},
		{"assign duplicate agent_id", "/customer-service/sessions/{W}/assign", `{"agent_id":"agent_002","agent_id":"agent_003","agent_name":"Agent Li"}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newMatrixFixture(t, false)
			before := f.snapshot(f.w, f.a, f.e)
			res := f.do(http.MethodPost, f.path(c.path), c.body, adminKey)
			wantError(t, res, http.StatusBadRequest, "invalid request body")
			wantSameSnapshot(t, before, f.snapshot(f.w, f.a, f.e))
		})
	}
}
