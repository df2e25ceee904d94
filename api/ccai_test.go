package api_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/api"
	"github.com/switchboardhq/switchboard/api/client"
	"github.com/switchboardhq/switchboard/hub"
	"github.com/switchboardhq/switchboard/hub/redisstore"
	"github.com/switchboardhq/switchboard/hub/redisstore/redistest"
)

// The examples of the CCAI agent-status document
// (seeds/ccai-agent-statuses.zh.txt), verbatim.
const (
	ccDocPostRequest = `{
"status": "Available",
"agent_ids": [
11,
12
],
"team_ids": [
1
]
}`
	ccDocPostResponse = `[
{
"agent_id": 11,
"name": "Darth Vader",
"email": "notanakinskywalker@empire.com",
"agent_number": "Agent No.111",
"previous_status": "lunch",
"current_status": "Available"
},
{
"agent_id": 12,
"name": "Craig T",
"email": "craigT@nelson.com",
"agent_number": "Agent No.112",
"previous_status": "In-call",
"current_status": "In-call",
"message": "Agent can't be changed from system status 'In-call'"
},
{
"agent_id": 13,
"name": "Raymond D",
"email": "rayd@nelson.com",
"agent_number": "Agent No.113",
"previous_status": "Offline",
"current_status": "Offline",
"message": "Agent's status can't be changed if they are offline or logged out"
}
]`
	ccDocNappingRequest = `{
"status": "Napping",
"agent_ids": [
11,
12
],
"team_ids": []
}`
	ccDocNappingResponse = `{
"message": "status 'Napping' does not exist"
}`
	ccDocInCallRequest = `{
"status": "In-call",
"agent_ids": [
11,
12
]
}`
	ccDocInCallResponse = `{
"message": "Agent can't be changed to system status 'In-call'"
}`
	ccDocGetRequest = `{
"agent_ids": [
11,
12
],
"team_ids": [
1
]
}`
	ccDocGetResponse = `[
{
"agent_id": 11,
"name": "Darth Vader",
"email": "notanakinskywalker@empire.com",
"agent_number": "Agent No.111",
"status": "lunch",
"ip_addrs": [
"34.211.11.101"
]
},
{
"agent_id": 12,
"name": "Craig T",
"email": "craigT@nelson.com",
"agent_number": "Agent No.112",
"status": "In-call",
"ip_addrs": [
"34.211.11.102"
]
},
{
"agent_id": 13,
"name": "Raymond D",
"email": "rayd@nelson.com",
"agent_number": "Agent No.113",
"status": "Offline",
"ip_addrs": [
"34.211.11.103"
]
}
]`
)

// ccResp is an answer of the CCAI surface.
type ccResp struct {
	status int
	header http.Header
	raw    []byte
	body   any // decoded with json.Number; nil when not one JSON value
}

func (r ccResp) String() string { return fmt.Sprintf("%d %s", r.status, bytes.TrimSpace(r.raw)) }

// ccBasic authenticates with the configured key and secret.
func ccBasic(r *http.Request) { r.SetBasicAuth(rtCCAI.Key, rtCCAI.Secret) }

// ccCall makes one request to in; auth sets the credentials (nil: none).
func ccCall(t *testing.T, in *rtInstance, method, pathQuery, body string, auth func(*http.Request)) ccResp {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, in.http.URL+pathQuery, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if auth != nil {
		auth(req)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	out := ccResp{status: res.StatusCode, header: res.Header, raw: raw}
	if v, err := decodeJSON(raw); err == nil {
		out.body = v
	}
	return out
}

const ccPath = "/apps/api/v1/agent_statuses"

// ccWant fails unless res has status and a body equal, as JSON values, to want.
func ccWant(t *testing.T, what string, res ccResp, status int, want string) {
	t.Helper()
	w, err := decodeJSON([]byte(want))
	if err != nil {
		t.Fatalf("%s: expected JSON: %v", what, err)
	}
	if res.status != status {
		t.Errorf("%s: status %d, want %d; answer %s", what, res.status, status, res)
	}
	if ct := res.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("%s: Content-Type %q, want application/json", what, ct)
	}
	if !reflect.DeepEqual(res.body, w) {
		t.Errorf("%s: body\n%s\nwant\n%s", what, bytes.TrimSpace(res.raw), want)
	}
}

// ccWantMessage fails unless res is status with exactly {"message": msg}.
func ccWantMessage(t *testing.T, what string, res ccResp, status int, msg string) {
	t.Helper()
	ccWant(t, what, res, status, fmt.Sprintf(`{"message":%q}`, msg))
}

// ccIDs returns the agent_id of each element of a CCAI list answer, as text.
func ccIDs(t *testing.T, res ccResp) []string {
	t.Helper()
	list, ok := res.body.([]any)
	if !ok {
		t.Fatalf("answer is not a JSON array: %s", res)
	}
	out := []string{}
	for _, e := range list {
		m, _ := e.(map[string]any)
		out = append(out, fmt.Sprint(m["agent_id"]))
	}
	return out
}

// ccXFF adds X-Forwarded-For to every request, as a proxy in front of the hub would.
type ccXFF struct{ ip string }

func (x ccXFF) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("X-Forwarded-For", x.ip)
	return http.DefaultTransport.RoundTrip(r)
}

// ccDialFrom connects a real client to in with token, as if from ip
// through a trusted proxy.
func ccDialFrom(t *testing.T, in *rtInstance, token, ip string) *client.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, client.Config{URL: in.WSURL(), Token: token, HTTPClient: &http.Client{Transport: ccXFF{ip}}})
	if err != nil {
		t.Fatalf("dial from %s: %v", ip, err)
	}
	t.Cleanup(func() { c.CloseNow() })
	return c
}

// ccToken signs an agent token as login does.
func (e *rtEnv) ccToken(id string) string {
	return e.tokens.Sign(hub.Claims{Role: hub.PrincipalAgent, Subject: id, Name: "Agent " + id, Expires: time.Now().Add(time.Hour).Unix()})
}

// ccAgent reads an agent from the store.
func ccAgent(t *testing.T, in *rtInstance, id string) *hub.Agent {
	t.Helper()
	a, err := in.store.Agent(context.Background(), id)
	if err != nil {
		t.Fatalf("agent %s: %v", id, err)
	}
	return a
}

// ccWaitAgent waits until agent id satisfies cond.
func ccWaitAgent(t *testing.T, in *rtInstance, id, what string, cond func(*hub.Agent) bool) {
	t.Helper()
	waitFor(t, 10*time.Second, "agent "+id+" "+what, func() bool { return cond(ccAgent(t, in, id)) })
}

var ccLocal = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}

// TestCCAIDocumentExamples reproduces every example of the CCAI document
// with the states made real: agent 11 online from 34.211.11.101 at lunch,
// agent 12 online from 34.211.11.102 in a call, agent 13 gone Offline
// after a connection from 34.211.11.103.
func TestCCAIDocumentExamples(t *testing.T) {
	e := newRTEnv(t, 1, rtOptions{desk: &hub.DeskPolicy{Grace: 0, Statuses: []string{"lunch", "break"}}, trusted: ccLocal})
	in := e.hubs[0]
	if st := httpJSON(t, "POST", in.http.URL+"/api/v1/teams", rtAdminKey, `{"id":"1","name":"Nelson"}`, nil); st != http.StatusCreated {
		t.Fatalf("create team 1: %d", st)
	}
	for _, a := range []struct{ id, name, email, number string }{
		{"11", "Darth Vader", "notanakinskywalker@empire.com", "Agent No.111"},
		{"12", "Craig T", "craigT@nelson.com", "Agent No.112"},
		{"13", "Raymond D", "rayd@nelson.com", "Agent No.113"},
	} {
		body := fmt.Sprintf(`{"id":%q,"name":%q,"email":%q,"password":"password-%s","role":"agent","capacity":3,"agent_number":%q,"team_ids":["1"]}`,
			a.id, a.name, a.email, a.id, a.number)
		if st := httpJSON(t, "POST", in.http.URL+"/api/v1/agents", rtAdminKey, body, nil); st != http.StatusCreated {
			t.Fatalf("create agent %s: %d", a.id, st)
		}
	}

	// 13 connects from 34.211.11.103, then leaves: with no grace, Offline at once.
	c13 := ccDialFrom(t, in, e.ccToken("13"), "34.211.11.103")
	ccWaitAgent(t, in, "13", "online from .103", func(a *hub.Agent) bool {
		return a.Online && a.Status == hub.AgentAvailable && slices.Equal(a.IPs, []string{"34.211.11.103"})
	})
	c13.Close()
	ccWaitAgent(t, in, "13", "Offline", func(a *hub.Agent) bool { return !a.Online && a.Status == hub.AgentOffline })

	// 11 comes online from 34.211.11.101 and goes to lunch.
	ccDialFrom(t, in, e.ccToken("11"), "34.211.11.101")
	ccWaitAgent(t, in, "11", "Available", func(a *hub.Agent) bool { return a.Online && a.Status == hub.AgentAvailable })
	ccWant(t, "POST lunch", ccCall(t, in, "POST", ccPath, `{"status":"lunch","agent_ids":[11],"team_ids":[]}`, ccBasic), 200,
		`[{"agent_id":11,"name":"Darth Vader","email":"notanakinskywalker@empire.com","agent_number":"Agent No.111",
		   "previous_status":"Available","current_status":"lunch"}]`)

	// 12 comes online from 34.211.11.102 and is routed a customer (auto-accept).
	ag12 := ccDialFrom(t, in, e.ccToken("12"), "34.211.11.102")
	ccWaitAgent(t, in, "12", "Available", func(a *hub.Agent) bool { return a.Online && a.Status == hub.AgentAvailable })
	sid, _ := e.customer(in, "Luke")
	next(t, ag12, func(f client.Frame) bool { return f.Type == "session.state" && f.SessionID == sid })
	ccWaitAgent(t, in, "12", "In-call", func(a *hub.Agent) bool { return a.Status == hub.AgentInCall })

	// GET before the POST changes 11.
	ccWant(t, "document GET", ccCall(t, in, "GET", ccPath, ccDocGetRequest, ccBasic), 200, ccDocGetResponse)
	ccWant(t, "document POST", ccCall(t, in, "POST", ccPath, ccDocPostRequest, ccBasic), 200, ccDocPostResponse)
	ccWant(t, "document Napping", ccCall(t, in, "POST", ccPath, ccDocNappingRequest, ccBasic), 400, ccDocNappingResponse)
	ccWant(t, "document In-call", ccCall(t, in, "POST", ccPath, ccDocInCallRequest, ccBasic), 400, ccDocInCallResponse)

	// The POST's effect is real: 11 is Available, 12 and 13 kept theirs.
	if a := ccAgent(t, in, "11"); a.Status != hub.AgentAvailable || a.Chosen != hub.AgentAvailable {
		t.Errorf("agent 11 after the POST: status %q chosen %q, want Available", a.Status, a.Chosen)
	}
	if a := ccAgent(t, in, "12"); a.Status != hub.AgentInCall || a.Chosen != hub.AgentAvailable {
		t.Errorf("agent 12 after the POST: status %q chosen %q, want In-call, Available", a.Status, a.Chosen)
	}
	if a := ccAgent(t, in, "13"); a.Status != hub.AgentOffline {
		t.Errorf("agent 13 after the POST: status %q, want Offline", a.Status)
	}

	// Back to lunch through the native API, the document's GET again, in
	// the body and in each query form.
	if st := httpJSON(t, "PUT", in.http.URL+"/api/v1/agents/11/status", rtAdminKey, `{"status":"lunch"}`, nil); st != 200 {
		t.Fatalf("PUT status lunch: %d", st)
	}
	for _, pq := range []string{"", "?agent_ids=11,12&team_ids=1", "?agent_ids=11&agent_ids=12&team_ids=1",
		"?agent_ids[]=11&agent_ids[]=12&team_ids[]=1", "?agent_ids%5B%5D=11&agent_ids%5B%5D=12&team_ids%5B%5D=1"} {
		body := ""
		if pq == "" {
			body = ccDocGetRequest
		}
		ccWant(t, "document GET "+pq, ccCall(t, in, "GET", ccPath+pq, body, ccBasic), 200, ccDocGetResponse)
	}
	// Unfiltered, every agent; the ids of the document round-trip as numbers.
	ccWant(t, "GET all", ccCall(t, in, "GET", ccPath, "", ccBasic), 200, ccDocGetResponse)
}

// ccBadEnv is a deployment for the refusals: team 1 of agents 11 (online
// from 34.211.11.101, at lunch) and 12 (offline), and agent 0 (online, at
// lunch, in no team), so that a request wrongly taken for any of them shows.
func ccBadEnv(t *testing.T) (*rtEnv, *rtInstance) {
	t.Helper()
	e := newRTEnv(t, 1, rtOptions{desk: &hub.DeskPolicy{Grace: time.Minute, Statuses: []string{"lunch", "break"}}, trusted: ccLocal})
	in := e.hubs[0]
	ctx := context.Background()
	if _, err := in.store.PutTeam(ctx, &hub.Team{ID: "1", Name: "Nelson"}, true); err != nil {
		t.Fatal(err)
	}
	for i, id := range []string{"0", "11", "12"} {
		a := &hub.Agent{ID: id, Name: "Agent " + id, Email: id + "@nelson.com", Number: "Agent No.1" + id, Role: hub.RoleAgent,
			Capacity: 3, CreatedAt: time.Now().Add(time.Duration(i) * time.Second)}
		if id != "0" {
			a.TeamIDs = []string{"1"}
		}
		if err := in.store.PutAgent(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range []string{"0", "11"} {
		ccDialFrom(t, in, e.ccToken(id), "34.211.11.101")
		ccWaitAgent(t, in, id, "Available", func(a *hub.Agent) bool { return a.Status == hub.AgentAvailable })
	}
	res := ccCall(t, in, "POST", ccPath, `{"status":"lunch","agent_ids":[0,11]}`, ccBasic)
	if res.status != 200 {
		t.Fatalf("lunch: %s", res)
	}
	return e, in
}

// ccSnapshot is every agent as the native API shows it, status, chosen
// status, presence and addresses included.
func ccSnapshot(t *testing.T, in *rtInstance) string {
	t.Helper()
	req, _ := http.NewRequest("GET", in.http.URL+"/api/v1/agents", nil)
	req.Header.Set("Authorization", "Bearer "+rtAdminKey)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != 200 {
		t.Fatalf("list agents: %d %s", res.StatusCode, b)
	}
	return string(b)
}

// TestCCAIBadInput refuses every malformed, unauthenticated or unknown
// request with the surface's {"message": ...}, and none changes anything.
func TestCCAIBadInput(t *testing.T) {
	_, in := ccBadEnv(t)
	before := ccSnapshot(t, in)
	none := func(*http.Request) {}
	basic := func(user, pass string) func(*http.Request) {
		return func(r *http.Request) { r.SetBasicAuth(user, pass) }
	}
	const ok = `{"status":"Available","agent_ids":[11],"team_ids":[1]}`
	const arrays = "agent_ids and team_ids must be arrays of integers"
	const notJSON = "request body is not valid JSON"
	const notObject = "request body must be a JSON object"
	cases := []struct {
		name, method, pq, body string
		auth                   func(*http.Request)
		status                 int
		msg                    string
	}{
		{"no auth", "POST", ccPath, ok, none, 401, "invalid credentials"},
		{"GET no auth", "GET", ccPath, "", none, 401, "invalid credentials"},
		{"wrong secret", "POST", ccPath, ok, basic(rtCCAI.Key, "nope"), 401, "invalid credentials"},
		{"wrong key", "POST", ccPath, ok, basic("nope", rtCCAI.Secret), 401, "invalid credentials"},
		{"swapped", "POST", ccPath, ok, basic(rtCCAI.Secret, rtCCAI.Key), 401, "invalid credentials"},
		{"empty basic", "POST", ccPath, ok, basic("", ""), 401, "invalid credentials"},
		{"secret prefix", "POST", ccPath, ok, basic(rtCCAI.Key, rtCCAI.Secret[:len(rtCCAI.Secret)-1]), 401, "invalid credentials"},
		{"bearer admin key", "POST", ccPath, ok, func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+rtAdminKey) }, 401, "invalid credentials"},

		{"status number", "POST", ccPath, `{"status":1,"agent_ids":[11]}`, nil, 400, "status must be a string"},
		{"status array", "POST", ccPath, `{"status":["Available"],"agent_ids":[11]}`, nil, 400, "status must be a string"},
		{"status bool", "POST", ccPath, `{"status":true,"agent_ids":[11]}`, nil, 400, "status must be a string"},
		{"agent_ids string", "POST", ccPath, `{"status":"Available","agent_ids":"11"}`, nil, 400, arrays},
		{"agent_ids number", "POST", ccPath, `{"status":"Available","agent_ids":11}`, nil, 400, arrays},
		{"agent_ids object", "POST", ccPath, `{"status":"Available","agent_ids":{"11":true}}`, nil, 400, arrays},
		{"agent_ids 1.5", "POST", ccPath, `{"status":"Available","agent_ids":[1.5]}`, nil, 400, arrays},
		{"agent_ids 11.5 with 11", "POST", ccPath, `{"status":"Available","agent_ids":[11,11.5]}`, nil, 400, arrays},
		{"agent_ids exponent", "POST", ccPath, `{"status":"Available","agent_ids":[1e1]}`, nil, 400, arrays},
		{"agent_ids true", "POST", ccPath, `{"status":"Available","agent_ids":[true]}`, nil, 400, arrays},
		{"agent_ids nested", "POST", ccPath, `{"status":"Available","agent_ids":[[11]]}`, nil, 400, arrays},
		{"agent_ids empty string", "POST", ccPath, `{"status":"Available","agent_ids":[""]}`, nil, 400, arrays},
		{"agent_ids too big", "POST", ccPath, `{"status":"Available","agent_ids":[99999999999999999999]}`, nil, 400, arrays},
		{"team_ids 1.5", "POST", ccPath, `{"status":"Available","agent_ids":[11],"team_ids":[1.5]}`, nil, 400, arrays},
		{"team_ids string", "POST", ccPath, `{"status":"Available","team_ids":"1"}`, nil, 400, arrays},
		{"team_ids false", "POST", ccPath, `{"status":"Available","team_ids":[false]}`, nil, 400, arrays},

		{"empty arrays", "POST", ccPath, `{"status":"Available","agent_ids":[],"team_ids":[]}`, nil, 400, "agent_ids or team_ids must name at least one agent"},
		{"no ids", "POST", ccPath, `{"status":"Available"}`, nil, 400, "agent_ids or team_ids must name at least one agent"},
		{"null ids", "POST", ccPath, `{"status":"Available","agent_ids":null,"team_ids":null}`, nil, 400, "agent_ids or team_ids must name at least one agent"},
		{"missing status", "POST", ccPath, `{"agent_ids":[11],"team_ids":[1]}`, nil, 400, "status is required"},
		{"null status", "POST", ccPath, `{"status":null,"agent_ids":[11]}`, nil, 400, "status is required"},
		{"empty body", "POST", ccPath, "", nil, 400, "status is required"},
		{"empty object", "POST", ccPath, "{}", nil, 400, "status is required"},
		{"Napping", "POST", ccPath, `{"status":"Napping","agent_ids":[11]}`, nil, 400, "status 'Napping' does not exist"},
		{"lower-case available", "POST", ccPath, `{"status":"available","agent_ids":[11]}`, nil, 400, "status 'available' does not exist"},
		{"empty status", "POST", ccPath, `{"status":"","agent_ids":[11]}`, nil, 400, "status '' does not exist"},
		{"In-call", "POST", ccPath, `{"status":"In-call","agent_ids":[11]}`, nil, 400, "Agent can't be changed to system status 'In-call'"},
		{"Offline", "POST", ccPath, `{"status":"Offline","team_ids":[1]}`, nil, 400, "Agent can't be changed to system status 'Offline'"},
		{"unknown agent", "POST", ccPath, `{"status":"Available","agent_ids":[99]}`, nil, 404, "agent 99 does not exist"},
		{"known and unknown agent", "POST", ccPath, `{"status":"Available","agent_ids":[11,99],"team_ids":[1]}`, nil, 404, "agent 99 does not exist"},
		{"unknown team", "POST", ccPath, `{"status":"Available","agent_ids":[11],"team_ids":[9]}`, nil, 404, "team 9 does not exist"},

		{"malformed JSON", "POST", ccPath, `{"status":"Available","agent_ids":[11]`, nil, 400, notJSON},
		{"single quotes", "POST", ccPath, `{'status':'Available'}`, nil, 400, notJSON},
		{"trailing comma", "POST", ccPath, `{"status":"Available","agent_ids":[11],}`, nil, 400, notJSON},
		{"two objects", "POST", ccPath, `{"status":"Available","agent_ids":[11]} {"status":"Available","agent_ids":[11]}`, nil, 400, notJSON},
		{"trailing garbage", "POST", ccPath, `{"status":"Available","agent_ids":[11]} x`, nil, 400, notJSON},
		{"unknown field", "POST", ccPath, `{"status":"Available","agent_ids":[11],"foo":1}`, nil, 400, `unknown field "foo"`},
		{"array body", "POST", ccPath, `[11]`, nil, 400, notObject},
		{"null body", "POST", ccPath, `null`, nil, 400, notObject},
		{"string body", "POST", ccPath, `"Available"`, nil, 400, notObject},
		{"too large", "POST", ccPath, `{"status":"Available","agent_ids":[11]` + strings.Repeat(" ", 70<<10) + `}`, nil, 400, "request body too large"},

		{"GET body and query", "GET", ccPath + "?agent_ids=11", `{"agent_ids":[11]}`, nil, 400, "give the filter in the body or in the query, not both"},
		{"GET empty body and query", "GET", ccPath + "?agent_ids=11", `{}`, nil, 400, "give the filter in the body or in the query, not both"},
		{"GET query not integer", "GET", ccPath + "?agent_ids=a%20b", "", nil, 400, "agent_ids must be a list of integers"},
		{"GET query empty", "GET", ccPath + "?agent_ids=", "", nil, 400, "agent_ids must be a list of integers"},
		{"GET query empty item", "GET", ccPath + "?agent_ids=11,,12", "", nil, 400, "agent_ids must be a list of integers"},
		{"GET query team not integer", "GET", ccPath + "?team_ids=1%2B2", "", nil, 400, "team_ids must be a list of integers"},
		{"GET unknown query", "GET", ccPath + "?foo=1", "", nil, 400, "unknown query parameter foo"},
		{"GET status twice", "GET", ccPath + "?status=lunch&status=break", "", nil, 400, "status must be given once"},
		{"GET unknown status", "GET", ccPath, `{"status":"Napping"}`, nil, 400, "status 'Napping' does not exist"},
		{"GET agent_ids 1.5", "GET", ccPath, `{"agent_ids":[1.5]}`, nil, 400, arrays},
		{"GET unknown field", "GET", ccPath, `{"agent_id":[11]}`, nil, 400, `unknown field "agent_id"`},
		{"GET malformed", "GET", ccPath, `{"agent_ids":[11}`, nil, 400, notJSON},
		{"GET unknown agent", "GET", ccPath + "?agent_ids=11,99", "", nil, 404, "agent 99 does not exist"},
		{"GET unknown team", "GET", ccPath, `{"team_ids":[7]}`, nil, 404, "team 7 does not exist"},

		{"PUT", "PUT", ccPath, ok, nil, 405, "method not allowed"},
		{"DELETE", "DELETE", ccPath, "", nil, 405, "method not allowed"},
		{"PATCH", "PATCH", ccPath, ok, nil, 405, "method not allowed"},
		{"PUT no auth", "PUT", ccPath, ok, none, 405, "method not allowed"},
		{"unknown path", "POST", "/apps/api/v1/agent_status", ok, nil, 404, "not found"},
		{"unknown version", "GET", "/apps/api/v2/agent_statuses", "", nil, 404, "not found"},
		{"agent path", "POST", ccPath + "/11", ok, nil, 404, "not found"},
		{"trailing slash", "POST", ccPath + "/", ok, nil, 404, "not found"},
		{"unknown path no auth", "GET", "/apps/api/", "", none, 404, "not found"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			auth := c.auth
			if auth == nil {
				auth = ccBasic
			}
			res := ccCall(t, in, c.method, c.pq, c.body, auth)
			ccWantMessage(t, c.name, res, c.status, c.msg)
			switch c.status {
			case 401:
				if h := res.header.Get("WWW-Authenticate"); !strings.HasPrefix(h, "Basic ") {
					t.Errorf("WWW-Authenticate %q, want Basic", h)
				}
			case 405:
				if h := res.header.Get("Allow"); h != "GET, HEAD, POST" {
					t.Errorf("Allow %q, want GET, HEAD, POST", h)
				}
			}
			if after := ccSnapshot(t, in); after != before {
				t.Errorf("the refused request changed the agents:\nbefore %s\nafter  %s", before, after)
				before = after
			}
		})
	}
}

// TestCCAITrailingJSON: a body with a stray closing brace or bracket after
// the object is not JSON. The decoder's More() is false before '}' and
// ']', so readCCAIBody lets them through and the request takes effect.
func TestCCAITrailingJSON(t *testing.T) {
	_, in := ccBadEnv(t)
	before := ccSnapshot(t, in)
	for _, c := range []struct{ method, body string }{
		{"POST", `{"status":"Available","agent_ids":[11]}}`},
		{"POST", `{"status":"Available","agent_ids":[0]}]`},
		{"GET", `{"agent_ids":[11]}}`},
	} {
		res := ccCall(t, in, c.method, ccPath, c.body, ccBasic)
		ccWantMessage(t, c.method+" "+c.body, res, 400, "request body is not valid JSON")
		if after := ccSnapshot(t, in); after != before {
			t.Errorf("%s %s changed the agents:\nbefore %s\nafter  %s", c.method, c.body, before, after)
			before = after
		}
	}
}

// TestCCAINullAgentID: null is not an integer. The id decoder reads it as
// agent 0, so that {"agent_ids":[null]} changes agent 0.
func TestCCAINullAgentID(t *testing.T) {
	_, in := ccBadEnv(t)
	before := ccSnapshot(t, in)
	for _, body := range []string{
		`{"status":"Available","agent_ids":[null]}`,
		`{"status":"Available","agent_ids":[11],"team_ids":[null]}`,
	} {
		res := ccCall(t, in, "POST", ccPath, body, ccBasic)
		ccWantMessage(t, body, res, 400, "agent_ids and team_ids must be arrays of integers")
		if after := ccSnapshot(t, in); after != before {
			t.Errorf("%s changed the agents:\nbefore %s\nafter  %s", body, before, after)
			before = after
		}
	}
	res := ccCall(t, in, "GET", ccPath, `{"agent_ids":[null]}`, ccBasic)
	ccWantMessage(t, "GET [null]", res, 400, "agent_ids and team_ids must be arrays of integers")
}

// TestCCAIGetQueryForms: the GET filter in the query, each form, and
// mixed forms of one key, which must all count.
func TestCCAIGetQueryForms(t *testing.T) {
	_, in := ccBadEnv(t)
	for _, c := range []struct {
		pq   string
		want []string
	}{
		{"", []string{"0", "11", "12"}},
		{"?agent_ids=11,12", []string{"11", "12"}},
		{"?agent_ids=12,11", []string{"12", "11"}},
		{"?agent_ids=11&agent_ids=12", []string{"11", "12"}},
		{"?agent_ids[]=11&agent_ids[]=12", []string{"11", "12"}},
		{"?agent_ids=11,11", []string{"11"}},
		{"?team_ids=1", []string{"11", "12"}},
		{"?agent_ids=12&team_ids=1", []string{"12", "11"}},
		{"?agent_ids=0&team_ids[]=1", []string{"0", "11", "12"}},
		{"?status=lunch", []string{"0", "11"}},
		{"?status=Offline", []string{"12"}},
		{"?team_ids=1&status=lunch", []string{"11"}},
		{"?status=break", []string{}},
		// One key in two forms: both lists count.
		{"?agent_ids=11&agent_ids[]=12", []string{"11", "12"}},
		{"?team_ids[]=1&agent_ids=0&agent_ids[]=12", []string{"0", "12", "11"}},
	} {
		t.Run(c.pq, func(t *testing.T) {
			res := ccCall(t, in, "GET", ccPath+c.pq, "", ccBasic)
			if res.status != 200 {
				t.Fatalf("GET %s: %s", c.pq, res)
			}
			if got := ccIDs(t, res); !slices.Equal(got, c.want) {
				t.Errorf("GET %s: agents %v, want %v", c.pq, got, c.want)
			}
		})
	}
	// The same filters in a body.
	for _, c := range []struct {
		body string
		want []string
	}{
		{`{}`, []string{"0", "11", "12"}},
		{`{"agent_ids":[12],"team_ids":[1]}`, []string{"12", "11"}},
		{`{"agent_ids":[],"team_ids":[]}`, []string{}},
		{`{"status":"In-call"}`, []string{}},
		{`{"status":"Available","team_ids":[1]}`, []string{}},
	} {
		res := ccCall(t, in, "GET", ccPath, c.body, ccBasic)
		if res.status != 200 {
			t.Fatalf("GET %s: %s", c.body, res)
		}
		if got := ccIDs(t, res); !slices.Equal(got, c.want) {
			t.Errorf("GET %s: agents %v, want %v", c.body, got, c.want)
		}
	}
}

// TestCCAITeamWithBot: a bot may be in a team, and every surface else
// leaves bots out of the agent lists; a team with one must still resolve to
// its human members instead of failing as if the bot did not exist.
func TestCCAITeamWithBot(t *testing.T) {
	_, in := ccBadEnv(t)
	bot := &hub.Agent{ID: "bot1", Name: "Bot", Role: hub.RoleBot, Capacity: 5, TeamIDs: []string{"1"}, CreatedAt: time.Now()}
	if err := in.store.PutAgent(context.Background(), bot); err != nil {
		t.Fatal(err)
	}
	res := ccCall(t, in, "GET", ccPath+"?team_ids=1", "", ccBasic)
	if res.status != 200 {
		t.Errorf("GET team 1 with a bot member: %s, want 200 with agents 11 and 12", res)
	} else if got := ccIDs(t, res); !slices.Equal(got, []string{"11", "12"}) {
		t.Errorf("GET team 1: agents %v, want [11 12]", got)
	}
	res = ccCall(t, in, "POST", ccPath, `{"status":"break","team_ids":[1]}`, ccBasic)
	if res.status != 200 {
		t.Errorf("POST team 1 with a bot member: %s, want 200 for agents 11 and 12", res)
	} else if got := ccIDs(t, res); !slices.Equal(got, []string{"11", "12"}) {
		t.Errorf("POST team 1: agents %v, want [11 12]", got)
	}
	// Named by id, a bot is not an agent of this surface.
	ccWantMessage(t, "bot by id", ccCall(t, in, "POST", ccPath, `{"status":"break","agent_ids":["bot1"]}`, ccBasic),
		404, "agent bot1 does not exist")
}

// TestCCAITeamMemberOrder: a team's members come in the order of their
// ids as numbers, whatever their magnitude.
func TestCCAITeamMemberOrder(t *testing.T) {
	e := newRTEnv(t, 1, rtOptions{desk: &hub.DeskPolicy{}})
	in := e.hubs[0]
	ctx := context.Background()
	if _, err := in.store.PutTeam(ctx, &hub.Team{ID: "5", Name: "Far"}, true); err != nil {
		t.Fatal(err)
	}
	ids := []string{"9223372036854775807", "-2"}
	for _, id := range ids {
		a := &hub.Agent{ID: id, Name: "Agent " + id, Role: hub.RoleAgent, Capacity: 1, TeamIDs: []string{"5"}, CreatedAt: time.Now()}
		if err := in.store.PutAgent(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	res := ccCall(t, in, "GET", ccPath, `{"team_ids":[5]}`, ccBasic)
	if res.status != 200 {
		t.Fatalf("GET team 5: %s", res)
	}
	if got, want := ccIDs(t, res), []string{"-2", "9223372036854775807"}; !slices.Equal(got, want) {
		t.Errorf("team 5 members in order %v, want %v", got, want)
	}
}

// TestCCAISweptIPs: an agent whose connections the sweep drops (its
// instance died) shows the addresses of those connections once each, as
// it did while they were live.
func TestCCAISweptIPs(t *testing.T) {
	clock := &fakeClock{now: time.Now()}
	e := newRTEnv(t, 1, rtOptions{desk: &hub.DeskPolicy{PresenceTTL: time.Minute, Grace: 0}, clock: clock.Now, trusted: ccLocal})
	in := e.hubs[0]
	if err := in.store.PutAgent(context.Background(), &hub.Agent{ID: "13", Name: "Raymond D", Email: "rayd@nelson.com",
		Number: "Agent No.113", Role: hub.RoleAgent, Capacity: 3, CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	ccDialFrom(t, in, e.ccToken("13"), "34.211.11.103")
	ccDialFrom(t, in, e.ccToken("13"), "34.211.11.103")
	ccWaitAgent(t, in, "13", "online twice", func(a *hub.Agent) bool { return a.Online })
	live := `[{"agent_id":13,"name":"Raymond D","email":"rayd@nelson.com","agent_number":"Agent No.113",
		"status":"Available","ip_addrs":["34.211.11.103"]}]`
	ccWant(t, "GET live", ccCall(t, in, "GET", ccPath+"?agent_ids=13", "", ccBasic), 200, live)

	// The instance stops refreshing: past the TTL any instance's sweep drops both.
	clock.Advance(2 * time.Minute)
	if err := in.desk.Sweep(context.Background()); err != nil {
		t.Fatal(err)
	}
	ccWaitAgent(t, in, "13", "swept Offline", func(a *hub.Agent) bool { return a.Status == hub.AgentOffline })
	ccWant(t, "GET swept", ccCall(t, in, "GET", ccPath+"?agent_ids=13", "", ccBasic), 200,
		strings.Replace(live, "Available", "Offline", 1))
}

// TestCCAIStoreDown: an unreachable store is a 503 with the surface's message.
func TestCCAIStoreDown(t *testing.T) {
	in := ccClosedStore(t)
	for _, c := range []struct{ method, body string }{
		{"GET", ""},
		{"GET", `{"agent_ids":[11]}`},
		{"POST", `{"status":"Available","agent_ids":[11]}`},
		{"POST", `{"status":"Available","team_ids":[1]}`},
	} {
		ccWantMessage(t, c.method+" "+c.body, ccCall(t, in, c.method, ccPath, c.body, ccBasic), 503, "service unavailable; retry")
	}
}

// ccClosedStore is a hub instance whose Redis client is closed: every
// store call fails.
func ccClosedStore(t *testing.T) *rtInstance {
	t.Helper()
	r := redistest.New(t)
	rc := r.NewClient()
	store, err := redisstore.New(rc, redisstore.Options{Prefix: r.Prefix})
	if err != nil {
		t.Fatal(err)
	}
	rc.Close()
	tokens, _ := hub.NewTokens([]byte(strings.Repeat("s", 32)))
	srv := api.NewServer(api.Config{
		Sessions: hub.NewService(store, hub.Policy{AgentCapacity: 5, Retention: time.Hour}, nil), Agents: store, History: store,
		Desk: hub.NewDesk(store, hub.DeskPolicy{}, nil, nil), Teams: store, OpenSessionOf: store.OpenSessionOf,
		Tencent: rtTencent, CCAI: rtCCAI, Tokens: tokens, AdminKey: rtAdminKey, Ping: store.Ping,
	})
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	return &rtInstance{srv: srv, http: hs, store: store}
}
