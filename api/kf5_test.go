package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/api"
	"github.com/switchboardhq/switchboard/api/protocol"
	"github.com/switchboardhq/switchboard/hub"
	"github.com/switchboardhq/switchboard/hub/redisstore"
	"github.com/switchboardhq/switchboard/hub/redisstore/redistest"
)

// The KF5 chat-history surface (../shared/seeds/kf5-kchat-history.zh.txt):
// GET /apiv2/chats.json and /apiv2/chats/{id}.json behind HTTP Basic.

// kf5IdentitySecret is the rt environments' identity secret.
const kf5IdentitySecret = "identity-secret-0123"

// kf5DocExample is the document's "对话JSON示例", verbatim.
const kf5DocExample = `{
"id": 290,
"type": "chat",
"started_by": "visitor",
"status": "close",
"agent_id": 2192,
"rating": null,
"visitor_id": 547,
"user_id": 45190,
"created_at": "2015-04-25 08:04:12",
"assigned_at": "2015-04-25 08:04:41",
"end_at": "2015-04-30 09:55:01",
"messages": [
{
"id": 2619,
"chat_id": 290,
"type": "chat.memberjoin",
"name": "访客5",
"msg": "你好",
"upload_id": null,
"is_read": 1,
"created_at": "2015-04-25 08:04:12",
"upload": null
},
{
"id": 2620,
"chat_id": 290,
"type": "chat.msg",
"name": "访客5",
"msg": "你好,在吗?",
"upload_id": null,
"is_read": 1,
"created_at": "2015-04-25 08:04:12",
"upload": null
}
]
}`

// kf5Res is an answer of the surface.
type kf5Res struct {
	status int
	header http.Header
	body   []byte
}

// kf5Auth sets how a request authenticates.
type kf5Auth func(*http.Request)

func kf5Basic(email, password string) kf5Auth {
	return func(r *http.Request) { r.SetBasicAuth(email, password) }
}

func kf5Bearer(token string) kf5Auth {
	return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+token) }
}

// kf5Do makes a request; xff, if set, is the client's address as a
// trusted proxy reports it (the login limit is per address).
func kf5Do(t *testing.T, method, u string, auth kf5Auth, xff string) kf5Res {
	t.Helper()
	req, err := http.NewRequest(method, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	if auth != nil {
		auth(req)
	}
	if xff != "" {
		req.Header.Set("X-Forwarded-For", xff)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return kf5Res{status: res.StatusCode, header: res.Header, body: b}
}

// kf5WantError fails unless r is status with the surface's error shape:
// exactly {"error": code, "message": non-empty}.
func kf5WantError(t *testing.T, what string, r kf5Res, status int, code string) {
	t.Helper()
	if r.status != status {
		t.Errorf("%s: status %d, want %d: %s", what, r.status, status, r.body)
		return
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("%s: Content-Type %q, want JSON", what, ct)
	}
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Errorf("%s: body not JSON: %v: %s", what, err, r.body)
		return
	}
	msg, _ := m["message"].(string)
	if len(m) != 2 || m["error"] != code || msg == "" {
		t.Errorf("%s: body %s, want {\"error\":%q,\"message\":\"...\"}", what, r.body, code)
	}
}

// kf5CreateAgent creates an agent through the admin API and returns its id.
func kf5CreateAgent(t *testing.T, e *rtEnv, id, role, number string) {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"id": id, "name": "Agent " + id, "email": id + "@example.com",
		"password": "password-" + id, "role": role, "agent_number": number})
	var out map[string]any
	if st := httpJSON(t, "POST", e.hubs[0].http.URL+"/api/v1/agents", rtAdminKey, string(body), &out); st != http.StatusCreated {
		t.Fatalf("create agent %s: %d %v", id, st, out)
	}
}

// kf5AgentToken signs a token for an existing agent, as login does, valid
// in real time (the tests' clocks are years behind).
func kf5AgentToken(e *rtEnv, id string) string {
	return e.tokens.Sign(hub.Claims{Role: hub.PrincipalAgent, Subject: id, Name: "Agent " + id, Expires: time.Now().Add(time.Hour).Unix()})
}

// kf5Widget opens a chat through the widget endpoint from address xff. A
// non-empty customerID is vouched for with the identity hash, with userID
// when that is not empty.
func kf5Widget(t *testing.T, e *rtEnv, xff, name, title, customerID, userID string) (sid, token string) {
	t.Helper()
	in := map[string]string{"name": name, "title": title}
	if customerID != "" {
		vouched := customerID
		if userID != "" {
			vouched += ":" + userID
			in["user_id"] = userID
		}
		in["customer_id"] = customerID
		in["customer_hash"] = hub.IdentityHash([]byte(kf5IdentitySecret), vouched)
	}
	body, _ := json.Marshal(in)
	var out struct {
		Session struct{ ID string }
		Token   string
	}
	st, err := dwHTTP("POST", e.hubs[0].http.URL+"/api/v1/widget/sessions", "", xff, string(body), &out)
	if err != nil || st != http.StatusCreated {
		t.Fatalf("widget session %s: %d %v", body, st, err)
	}
	return out.Session.ID, out.Token
}

// kf5CSCreate opens a chat through the Customer Service API (started by staff).
func kf5CSCreate(t *testing.T, e *rtEnv, name, title, customerID string) string {
	t.Helper()
	in := map[string]string{"title": title, "customer_name": name}
	if customerID != "" {
		in["customer_id"] = customerID
	}
	body, _ := json.Marshal(in)
	var out struct{ Data struct{ ID string } }
	if st := httpJSON(t, "POST", e.hubs[0].http.URL+"/customer-service/sessions", rtAdminKey, string(body), &out); st != http.StatusOK || out.Data.ID == "" {
		t.Fatalf("customer-service create: %d", st)
	}
	return out.Data.ID
}

// kf5ChatJSON is a chat as the surface renders it; agent_id stays raw
// (null, a number or a string).
type kf5ChatJSON struct {
	ID         int64           `json:"id"`
	Type       string          `json:"type"`
	StartedBy  string          `json:"started_by"`
	Status     string          `json:"status"`
	AgentID    json.RawMessage `json:"agent_id"`
	Rating     *string         `json:"rating"`
	VisitorID  int64           `json:"visitor_id"`
	UserID     *int64          `json:"user_id"`
	CreatedAt  string          `json:"created_at"`
	AssignedAt *string         `json:"assigned_at"`
	EndAt      *string         `json:"end_at"`
	Messages   []kf5MsgJSON    `json:"messages"`
}

type kf5MsgJSON struct {
	ID        int64           `json:"id"`
	ChatID    int64           `json:"chat_id"`
	Type      string          `json:"type"`
	Name      string          `json:"name"`
	Msg       string          `json:"msg"`
	UploadID  json.RawMessage `json:"upload_id"`
	IsRead    int             `json:"is_read"`
	CreatedAt string          `json:"created_at"`
	Upload    json.RawMessage `json:"upload"`
}

var (
	kf5ChatKeys = []string{"agent_id", "assigned_at", "created_at", "end_at", "id", "messages", "rating",
		"started_by", "status", "type", "user_id", "visitor_id"}
	kf5MsgKeys = []string{"chat_id", "created_at", "id", "is_read", "msg", "name", "type", "upload", "upload_id"}
)

// kf5DecodeChat decodes one chat strictly: exactly the document's fields.
func kf5DecodeChat(t *testing.T, raw json.RawMessage) kf5ChatJSON {
	t.Helper()
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(raw, &keys); err != nil {
		t.Fatalf("chat %s: %v", raw, err)
	}
	if got := slices.Sorted(mapKeys(keys)); !slices.Equal(got, kf5ChatKeys) {
		t.Fatalf("chat fields %v, want %v", got, kf5ChatKeys)
	}
	var msgs []map[string]json.RawMessage
	if err := json.Unmarshal(keys["messages"], &msgs); err != nil {
		t.Fatalf("messages %s: %v", keys["messages"], err)
	}
	for _, m := range msgs {
		if got := slices.Sorted(mapKeys(m)); !slices.Equal(got, kf5MsgKeys) {
			t.Fatalf("message fields %v, want %v", got, kf5MsgKeys)
		}
	}
	var c kf5ChatJSON
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		t.Fatalf("chat %s: %v", raw, err)
	}
	return c
}

// kf5List decodes a chats.json answer.
func kf5List(t *testing.T, r kf5Res) []kf5ChatJSON {
	t.Helper()
	if r.status != http.StatusOK {
		t.Fatalf("chats.json: %d %s", r.status, r.body)
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(r.body, &top); err != nil || len(top) != 1 || top["chats"] == nil {
		t.Fatalf("chats.json body %s: want {\"chats\":[...]} (%v)", r.body, err)
	}
	var raws []json.RawMessage
	if err := json.Unmarshal(top["chats"], &raws); err != nil || raws == nil {
		t.Fatalf("chats %s: want an array (%v)", top["chats"], err)
	}
	out := make([]kf5ChatJSON, len(raws))
	for i, raw := range raws {
		out[i] = kf5DecodeChat(t, raw)
	}
	return out
}

// kf5One decodes a chats/{id}.json answer.
func kf5One(t *testing.T, r kf5Res) kf5ChatJSON {
	t.Helper()
	if r.status != http.StatusOK {
		t.Fatalf("chat: %d %s", r.status, r.body)
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(r.body, &top); err != nil || len(top) != 1 || top["chat"] == nil {
		t.Fatalf("chat body %s: want {\"chat\":{...}} (%v)", r.body, err)
	}
	return kf5DecodeChat(t, top["chat"])
}

var kf5LinkRE = regexp.MustCompile(`^<([^>]+)>; *rel="next"$`)

// kf5Next returns the URI of the Link rel="next" header ("" when none).
func kf5Next(t *testing.T, r kf5Res) string {
	t.Helper()
	l := r.header.Values("Link")
	if len(l) == 0 {
		return ""
	}
	m := kf5LinkRE.FindStringSubmatch(l[0])
	if len(l) != 1 || m == nil {
		t.Fatalf("Link %q: want one <uri>; rel=\"next\"", l)
	}
	return m[1]
}

func kf5Total(t *testing.T, r kf5Res) int {
	t.Helper()
	n, err := strconv.Atoi(r.header.Get("X-Total-Count"))
	if err != nil {
		t.Fatalf("X-Total-Count %q", r.header.Get("X-Total-Count"))
	}
	return n
}

func kf5IDs(list []kf5ChatJSON) []int64 {
	out := make([]int64, len(list))
	for i, c := range list {
		out[i] = c.ID
	}
	return out
}

// TestKF5ExampleChat reproduces the document's example chat 290 through
// the real flow: a widget chat of 访客5 (vouched as ticket-system user
// 45190), its message over the WebSocket, the agent No. 2192 picking it
// from the queue 29 s later and reading it, and closing it five days on.
func TestKF5ExampleChat(t *testing.T) {
	clock := &fakeClock{now: time.Date(2015, 4, 25, 8, 4, 12, 0, time.UTC)}
	e := newRTEnv(t, 1, rtOptions{clock: clock.Now, policy: hub.Policy{Retention: 30 * 24 * time.Hour}})
	in := e.hubs[0]
	ctx := context.Background()
	for k, v := range map[string]int{"sessions": 289, "messages": 2618, "customers": 546} {
		if err := e.r.Client.Set(ctx, e.r.Prefix+":"+k+":number", v, 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	kf5CreateAgent(t, e, "a2192", "agent", "2192")

	// No desk runs: the chat waits in the queue until the agent picks it.
	sid, ctoken := kf5Widget(t, e, "", "访客5", "你好", "kf5-visitor-547", "45190")
	cust := e.dial(in, ctoken)
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	rep, err := cust.Send(wctx, sid, "你好,在吗?")
	if err != nil {
		t.Fatalf("customer send: %v", err)
	}

	clock.Advance(29 * time.Second) // 08:04:41
	agent := e.dial(in, kf5AgentToken(e, "a2192"))
	arec := record(t, agent)
	if r, err := agent.Do(wctx, protocol.Command{Type: protocol.CmdPick, SessionID: sid}); err != nil || r.State != string(hub.StateAgent) {
		t.Fatalf("pick: %+v %v", r, err)
	}
	arec.waitSeq(t, 10*time.Second, sid, rep.Seq)
	last, _ := e.sessionSeq(in, sid)
	if err := agent.Read(wctx, sid, last); err != nil {
		t.Fatalf("agent read: %v", err)
	}

	clock.Advance(time.Date(2015, 4, 30, 9, 55, 1, 0, time.UTC).Sub(clock.Now()))
	if err := agent.CloseSession(wctx, sid); err != nil {
		t.Fatalf("agent close: %v", err)
	}

	var want any
	if err := json.Unmarshal([]byte(kf5DocExample), &want); err != nil {
		t.Fatal(err)
	}
	auth := kf5Basic("a2192@example.com", "password-a2192")
	r := kf5Do(t, "GET", in.http.URL+"/apiv2/chats/290.json", auth, "")
	if r.status != http.StatusOK {
		t.Fatalf("chats/290.json: %d %s", r.status, r.body)
	}
	var got struct{ Chat any }
	if err := json.Unmarshal(r.body, &got); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.Chat, want) {
		gb, _ := json.MarshalIndent(got.Chat, "", " ")
		t.Fatalf("chat 290:\n%s\nwant the document's example:\n%s", gb, kf5DocExample)
	}
	kf5One(t, r) // exactly the documented fields

	// The list holds it too, alone, identical.
	lr := kf5Do(t, "GET", in.http.URL+"/apiv2/chats.json", auth, "")
	var list struct{ Chats []any }
	if err := json.Unmarshal(lr.body, &list); err != nil || lr.status != 200 {
		t.Fatalf("chats.json: %d %s", lr.status, lr.body)
	}
	if len(list.Chats) != 1 || !reflect.DeepEqual(list.Chats[0], want) {
		t.Fatalf("chats.json: %s", lr.body)
	}
	if kf5Total(t, lr) != 1 || kf5Next(t, lr) != "" {
		t.Fatalf("chats.json headers: %v", lr.header)
	}
	for _, q := range []string{"visitor_id=547", "user_id=45190", "visitor_id=547&user_id=45190",
		"start=2015-04-25&end=2015-04-25", "start=2015-04-25", "end=2015-04-25"} {
		ids := kf5IDs(kf5List(t, kf5Do(t, "GET", in.http.URL+"/apiv2/chats.json?"+q, auth, "")))
		if !slices.Equal(ids, []int64{290}) {
			t.Errorf("?%s: ids %v, want [290]", q, ids)
		}
	}
	for _, q := range []string{"visitor_id=546", "user_id=45191", "start=2015-04-26", "end=2015-04-24", "visitor_id=547&user_id=1"} {
		ids := kf5IDs(kf5List(t, kf5Do(t, "GET", in.http.URL+"/apiv2/chats.json?"+q, auth, "")))
		if len(ids) != 0 {
			t.Errorf("?%s: ids %v, want none", q, ids)
		}
	}
}

// kf5Model is what TestKF5FiltersAndPaging created, to compute the
// expected answers by brute force.
type kf5Model struct {
	number    int64
	sid       string
	visitor   int64
	user      string // "" for none
	created   time.Time
	startedBy string
	name      string
	title     string
	closedAt  time.Time // zero while open
	byCust    bool      // the customer closed it (a chat.memberleave)
	joinMsg   int64
	leaveMsg  int64
}

// TestKF5FiltersAndPaging creates 250 chats over a week — widget chats of
// vouched and anonymous customers, some with ticket-system users, some
// opened by staff, some closed — and checks every chat by id and a grid
// of filters and pages against a brute-force selection.
func TestKF5FiltersAndPaging(t *testing.T) {
	day0 := time.Date(2016, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := &fakeClock{now: day0}
	e := newRTEnv(t, 1, rtOptions{clock: clock.Now, trusted: dwTrusted, policy: hub.Policy{Retention: 30 * 24 * time.Hour}})
	in := e.hubs[0]
	kf5CreateAgent(t, e, "reader", "agent", "")
	auth := kf5Basic("reader@example.com", "password-reader")

	// Creation times: every 37 minutes from day0, plus chats on the
	// boundaries of days 2 and 3 (the last millisecond, the first).
	var times []time.Time
	for i := range 244 {
		times = append(times, day0.Add(time.Duration(i)*37*time.Minute+time.Duration(i%5)*time.Second))
	}
	for _, s := range []string{"2016-01-02T23:59:59.999Z", "2016-01-03T00:00:00Z", "2016-01-03T00:00:00Z",
		"2016-01-03T23:59:59.999Z", "2016-01-04T00:00:00Z", "2016-01-01T23:59:59.999Z"} {
		tm, _ := time.Parse(time.RFC3339Nano, s)
		times = append(times, tm)
	}
	sort.Slice(times, func(i, j int) bool { return times[i].Before(times[j]) })

	// Customers: who they are and which user ids they vouch for, by the
	// index of their chat among their own.
	type cust struct {
		id   string // "" is a new anonymous customer each time
		user func(k int) string
	}
	custs := []cust{
		{"c-alice", func(int) string { return "1001" }},
		{"c-bob", func(k int) string {
			if k >= 5 && k%2 == 1 {
				return "1002"
			}
			return ""
		}},
		{"c-carol", func(int) string { return "" }},
		{"c-dave", func(int) string { return "1001" }}, // shares alice's user
		{"c-erin", func(k int) string {
			if k < 10 {
				return "1003"
			}
			return "1004"
		}},
		{"c-frank", func(int) string { return "" }},
		{"", nil},
	}
	rng := rand.New(rand.NewSource(5))
	visitors := map[string]int64{}
	users := map[string]string{} // the user id on a customer's record
	var nextVisitor, nextMsg int64
	count := map[string]int{}
	var model []kf5Model
	for i, at := range times {
		clock.Advance(at.Sub(clock.Now()))
		c := custs[rng.Intn(len(custs))]
		m := kf5Model{number: int64(i + 1), created: at, name: fmt.Sprintf("客户%d", i), title: fmt.Sprintf("chat %d", i)}
		k := count[c.id]
		count[c.id]++
		user := ""
		if c.user != nil {
			user = c.user(k)
		}
		var ctoken string
		if c.id != "" && i%10 == 9 {
			m.sid = kf5CSCreate(t, e, m.name, m.title, c.id)
			m.startedBy = "agent"
			user = ""
		} else {
			m.sid, ctoken = kf5Widget(t, e, fmt.Sprintf("10.1.%d.%d", i/200, i%200), m.name, m.title, c.id, user)
			m.startedBy = "visitor"
		}
		if c.id == "" {
			nextVisitor++
			m.visitor = nextVisitor
		} else {
			if visitors[c.id] == 0 {
				nextVisitor++
				visitors[c.id] = nextVisitor
			}
			m.visitor = visitors[c.id]
			if user != "" {
				users[c.id] = user
			}
			m.user = users[c.id]
		}
		nextMsg++
		m.joinMsg = nextMsg
		switch {
		case i%7 == 3 && ctoken != "":
			clock.Advance(time.Second)
			if st := httpJSON(t, "DELETE", in.http.URL+"/api/v1/sessions/"+m.sid, ctoken, "", nil); st != http.StatusOK {
				t.Fatalf("customer close: %d", st)
			}
			m.closedAt, m.byCust = clock.Now(), true
			nextMsg++
			m.leaveMsg = nextMsg
		case i%3 == 0:
			clock.Advance(2 * time.Second)
			if st := httpJSON(t, "DELETE", in.http.URL+"/customer-service/sessions/"+m.sid, rtAdminKey, "", nil); st != http.StatusOK {
				t.Fatalf("admin close: %d", st)
			}
			m.closedAt = clock.Now()
		}
		model = append(model, m)
	}
	clock.Advance(time.Hour)

	fmtT := func(tm time.Time) string { return tm.UTC().Format("2006-01-02 15:04:05") }
	// Every chat by id, field by field.
	for _, m := range model {
		got := kf5One(t, kf5Do(t, "GET", fmt.Sprintf("%s/apiv2/chats/%d.json", in.http.URL, m.number), auth, ""))
		want := kf5ChatJSON{ID: m.number, Type: "chat", StartedBy: m.startedBy, Status: "open", AgentID: json.RawMessage("null"),
			VisitorID: m.visitor, CreatedAt: fmtT(m.created),
			Messages: []kf5MsgJSON{{ID: m.joinMsg, ChatID: m.number, Type: "chat.memberjoin", Name: m.name, Msg: m.title,
				UploadID: json.RawMessage("null"), CreatedAt: fmtT(m.created), Upload: json.RawMessage("null")}}}
		if m.user != "" {
			u, _ := strconv.ParseInt(m.user, 10, 64)
			want.UserID = &u
		}
		if !m.closedAt.IsZero() {
			want.Status = "close"
			end := fmtT(m.closedAt)
			want.EndAt = &end
		}
		if m.byCust {
			want.Messages = append(want.Messages, kf5MsgJSON{ID: m.leaveMsg, ChatID: m.number, Type: "chat.memberleave", Name: m.name,
				UploadID: json.RawMessage("null"), CreatedAt: fmtT(m.closedAt), Upload: json.RawMessage("null")})
		}
		if !reflect.DeepEqual(got, want) {
			gb, _ := json.Marshal(got)
			wb, _ := json.Marshal(want)
			t.Fatalf("chat %d:\n got %s\nwant %s", m.number, gb, wb)
		}
	}

	// The grid of filters.
	vis := func(id string) string { return strconv.FormatInt(visitors[id], 10) }
	anon := int64(0)
	for _, m := range model {
		if m.user == "" && m.startedBy == "visitor" && !slices.ContainsFunc(kf5Values(visitors), func(v int64) bool { return v == m.visitor }) {
			anon = m.visitor
			break
		}
	}
	visitorVals := []string{"", vis("c-alice"), vis("c-bob"), vis("c-erin"), strconv.FormatInt(anon, 10), "99999"}
	userVals := []string{"", "1001", "1002", "1003", "1004", "777"}
	datePairs := [][2]string{{"", ""}, {"2016-01-02", ""}, {"", "2016-01-02"}, {"2016-01-02", "2016-01-03"},
		{"2016-01-03", "2016-01-03"}, {"2016-01-01", "2016-01-06"}, {"2016-01-04", "2016-01-04"}, {"2017-01-01", ""}, {"", "2015-12-31"}}
	dayStart := func(s string) time.Time { d, _ := time.Parse("2006-01-02", s); return d }
	requests := 0
	get := func(q url.Values) kf5Res {
		requests++
		return kf5Do(t, "GET", in.http.URL+"/apiv2/chats.json?"+q.Encode(), auth, "")
	}
	for _, v := range visitorVals {
		for _, u := range userVals {
			for _, d := range datePairs {
				q := url.Values{}
				var want []int64
				for _, m := range model {
					if v != "" && strconv.FormatInt(m.visitor, 10) != v || u != "" && m.user != u ||
						d[0] != "" && m.created.Before(dayStart(d[0])) || d[1] != "" && !m.created.Before(dayStart(d[1]).AddDate(0, 0, 1)) {
						continue
					}
					want = append(want, m.number)
				}
				for k, val := range map[string]string{"visitor_id": v, "user_id": u, "start": d[0], "end": d[1]} {
					if val != "" {
						q.Set(k, val)
					}
				}
				what := "?" + q.Encode()
				check := func(what string, r kf5Res, wantIDs []int64, total int, more bool) []kf5ChatJSON {
					t.Helper()
					list := kf5List(t, r)
					if ids := kf5IDs(list); !slices.Equal(ids, wantIDs) && !(len(ids) == 0 && len(wantIDs) == 0) {
						t.Fatalf("%s: ids %v, want %v", what, ids, wantIDs)
					}
					if got := kf5Total(t, r); got != total {
						t.Fatalf("%s: X-Total-Count %d, want %d", what, got, total)
					}
					if next := kf5Next(t, r); (next != "") != more {
						t.Fatalf("%s: Link %q, want next: %v", what, next, more)
					}
					return list
				}
				page := func(p, per int) ([]int64, bool) {
					lo := min((p-1)*per, len(want))
					hi := min(lo+per, len(want))
					return want[lo:hi], hi < len(want)
				}
				// Defaults: page 1 of 100.
				ids, more := page(1, 100)
				check(what, get(q), ids, len(want), more)
				// Explicit pages of 100 and of 7, and a page past the end.
				for _, pp := range [][2]int{{1, 100}, {2, 100}, {3, 100}, {1, 7}, {2, 7}, {(len(want) + 6) / 7, 7}, {(len(want)+6)/7 + 1, 7}, {1, 1}, {len(want), 1}, {1000000, 100}} {
					if pp[0] < 1 {
						continue
					}
					q2 := url.Values{}
					for k, vv := range q {
						q2[k] = vv
					}
					q2.Set("page", strconv.Itoa(pp[0]))
					q2.Set("per_page", strconv.Itoa(pp[1]))
					ids, more := page(pp[0], pp[1])
					check("?"+q2.Encode(), get(q2), ids, len(want), more)
				}
				// Following Link from page 1 of 23 yields every chat once.
				q3 := url.Values{}
				for k, vv := range q {
					q3[k] = vv
				}
				q3.Set("per_page", "23")
				r := get(q3)
				var all []int64
				for p := 1; ; p++ {
					ids, more := page(p, 23)
					all = append(all, kf5IDs(check(fmt.Sprintf("%s page %d of 23 (by Link)", what, p), r, ids, len(want), more))...)
					next := kf5Next(t, r)
					if next == "" {
						break
					}
					nu, err := url.Parse(next)
					if err != nil || nu.Path != "/apiv2/chats.json" || nu.Query().Get("page") != strconv.Itoa(p+1) {
						t.Fatalf("%s: Link %q", what, next)
					}
					for k := range q {
						if nu.Query().Get(k) != q.Get(k) {
							t.Fatalf("%s: Link %q lost %s", what, next, k)
						}
					}
					requests++
					r = kf5Do(t, "GET", in.http.URL+next, auth, "")
				}
				if !slices.Equal(all, want) && len(want) > 0 {
					t.Fatalf("%s: following Link gave %v, want %v", what, all, want)
				}
			}
		}
	}
	t.Logf("%d chats, %d list requests", len(model), requests)
}

func kf5Values[V any](m map[string]V) []V {
	out := make([]V, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

// TestKF5BadParameters: bad query parameters answer 400, unknown chats
// 404, other methods 405, each in the surface's error shape.
func TestKF5BadParameters(t *testing.T) {
	e := newRTEnv(t, 1, rtOptions{})
	in := e.hubs[0]
	kf5CreateAgent(t, e, "reader", "agent", "")
	auth := kf5Basic("reader@example.com", "password-reader")
	sid, _ := kf5Widget(t, e, "", "Ann", "Hi", "", "")

	for _, q := range []string{
		"visitor_id=abc", "visitor_id=", "visitor_id=0", "visitor_id=-1", "visitor_id=1.5", "visitor_id=99999999999999999999",
		"user_id=abc", "user_id=", "user_id=0", "user_id=-5", "user_id=012", "user_id=1e3", "user_id=1234567890123456789",
		"start=yesterday", "start=2016-13-01", "start=2016-02-30", "start=2016-01-01T00:00:00Z", "start=", "start=01/02/2016",
		"end=2016-1-1", "end=2016-01-32", "end=", "end=today",
		"start=2016-01-02&end=2016-01-01", "start=2017-01-01&end=2016-12-31",
		"per_page=0", "per_page=101", "per_page=1000", "per_page=99999999999999999999", "per_page=-1", "per_page=abc", "per_page=",
		"page=0", "page=-1", "page=abc", "page=", "page=1.5", "page=99999999999999999999",
		"page=1&per_page=0", "visitor_id=1&per_page=101",
	} {
		r := kf5Do(t, "GET", in.http.URL+"/apiv2/chats.json?"+q, auth, "")
		kf5WantError(t, "?"+q, r, http.StatusBadRequest, "invalid")
	}
	// The limits themselves are fine.
	for _, q := range []string{"per_page=1", "per_page=100", "page=1", "page=1000000", "start=2016-01-01&end=2016-01-01", "visitor_id=5&user_id=7", "unknown=1"} {
		if r := kf5Do(t, "GET", in.http.URL+"/apiv2/chats.json?"+q, auth, ""); r.status != http.StatusOK {
			t.Errorf("?%s: %d %s", q, r.status, r.body)
		}
	}
	if c := kf5One(t, kf5Do(t, "GET", in.http.URL+"/apiv2/chats/1.json", auth, "")); c.ID != 1 {
		t.Errorf("chat 1: %+v", c)
	}
	for _, p := range []string{"/apiv2/chats/2.json", "/apiv2/chats/0.json", "/apiv2/chats/-1.json", "/apiv2/chats/abc.json",
		"/apiv2/chats/1.5.json", "/apiv2/chats/99999999999999999999.json", "/apiv2/chats/" + sid + ".json", "/apiv2/chats/1",
		"/apiv2/chats", "/apiv2/nothing.json"} {
		kf5WantError(t, p, kf5Do(t, "GET", in.http.URL+p, auth, ""), http.StatusNotFound, "not_found")
	}
	for _, p := range []string{"/apiv2/chats.json", "/apiv2/chats/1.json"} {
		for _, m := range []string{"POST", "PUT", "DELETE", "PATCH"} {
			r := kf5Do(t, m, in.http.URL+p, auth, "")
			if r.status != http.StatusMethodNotAllowed {
				t.Errorf("%s %s: %d %s", m, p, r.status, r.body)
				continue
			}
			if allow := r.header.Get("Allow"); !strings.Contains(allow, "GET") {
				t.Errorf("%s %s: Allow %q", m, p, allow)
			}
			var body map[string]string
			if json.Unmarshal(r.body, &body) != nil || body["error"] == "" || body["message"] == "" || len(body) != 2 {
				t.Errorf("%s %s: body %s", m, p, r.body)
			}
		}
	}
}

// TestKF5BasicAuth: agents, supervisors and admins read the surface with
// their e-mail and password; everyone else gets 401 with a Basic challenge.
func TestKF5BasicAuth(t *testing.T) {
	e := newRTEnv(t, 1, rtOptions{trusted: dwTrusted})
	in := e.hubs[0]
	// Created together: each costs a bcrypt hash, seconds under -race.
	specs := [][2]string{{"ag", "agent"}, {"sup", "supervisor"}, {"adm", "admin"}, {"off", "agent"}, {"robot", "bot"}, {"later", "agent"}, {"pw", "agent"}}
	errs := make(chan error, len(specs))
	for _, a := range specs {
		go func() {
			body, _ := json.Marshal(map[string]string{"id": a[0], "name": "Agent " + a[0], "email": a[0] + "@example.com",
				"password": "password-" + a[0], "role": a[1]})
			st, err := dwHTTP("POST", in.http.URL+"/api/v1/agents", rtAdminKey, "", string(body), nil)
			if err == nil && st != http.StatusCreated {
				err = fmt.Errorf("create agent %s: %d", a[0], st)
			}
			errs <- err
		}()
	}
	for range specs {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if st := httpJSON(t, "PATCH", in.http.URL+"/api/v1/agents/off", rtAdminKey, `{"disabled":true}`, nil); st != http.StatusOK {
		t.Fatalf("disable: %d", st)
	}
	_, ctoken := kf5Widget(t, e, "", "Ann", "Hi", "", "")
	ip := 0
	get := func(auth kf5Auth) kf5Res { // each from its own address: the login limit is not what is tested here
		ip++
		return kf5Do(t, "GET", in.http.URL+"/apiv2/chats.json", auth, fmt.Sprintf("10.9.0.%d", ip))
	}
	for _, id := range []string{"ag", "sup", "adm"} {
		if r := get(kf5Basic(id+"@example.com", "password-"+id)); r.status != http.StatusOK {
			t.Errorf("%s: %d %s", id, r.status, r.body)
		}
		if r := kf5Do(t, "GET", in.http.URL+"/apiv2/chats/1.json", kf5Basic(id+"@example.com", "password-"+id), "10.9.1.1"); r.status != http.StatusOK {
			t.Errorf("%s chat 1: %d %s", id, r.status, r.body)
		}
	}
	if r := get(kf5Basic("AG@Example.COM", "password-ag")); r.status != http.StatusOK {
		t.Errorf("e-mail in other case: %d %s", r.status, r.body)
	}
	want401 := func(what string, r kf5Res) {
		t.Helper()
		kf5WantError(t, what, r, http.StatusUnauthorized, "unauthorized")
		if ch := r.header.Get("WWW-Authenticate"); !strings.HasPrefix(ch, "Basic ") {
			t.Errorf("%s: WWW-Authenticate %q", what, ch)
		}
	}
	cases := []struct {
		what string
		auth kf5Auth
	}{
		{"wrong password", kf5Basic("ag@example.com", "password-xx")},
		{"empty password", kf5Basic("ag@example.com", "")},
		{"unknown e-mail", kf5Basic("nobody@example.com", "password-ag")},
		{"disabled agent", kf5Basic("off@example.com", "password-off")},
		{"bot", kf5Basic("robot@example.com", "password-robot")},
		{"customer bearer", kf5Bearer(ctoken)},
		{"agent bearer", kf5Bearer(kf5AgentToken(e, "ag"))},
		{"admin key bearer", kf5Bearer(rtAdminKey)},
		{"no header", nil},
		{"not basic", func(r *http.Request) { r.Header.Set("Authorization", "Basic !!!") }},
	}
	for i, c := range cases {
		want401(c.what, get(c.auth))
		if i >= 4 { // no password to check: cheap (bcrypt under -race is not)
			want401(c.what+" (chat)", kf5Do(t, "GET", in.http.URL+"/apiv2/chats/1.json", c.auth, "10.9.2.1"))
		}
	}

	// Disabling takes effect at once, although the credentials were
	// accepted (and remembered) a moment ago; so does a password change.
	later := kf5Basic("later@example.com", "password-later")
	if r := get(later); r.status != http.StatusOK {
		t.Fatalf("later: %d", r.status)
	}
	if st := httpJSON(t, "PATCH", in.http.URL+"/api/v1/agents/later", rtAdminKey, `{"disabled":true}`, nil); st != http.StatusOK {
		t.Fatalf("disable: %d", st)
	}
	want401("disabled after use", get(later))
	if st := httpJSON(t, "PATCH", in.http.URL+"/api/v1/agents/later", rtAdminKey, `{"disabled":false}`, nil); st != http.StatusOK {
		t.Fatalf("enable: %d", st)
	}
	if r := get(later); r.status != http.StatusOK {
		t.Fatalf("enabled again: %d", r.status)
	}
	pw := kf5Basic("pw@example.com", "password-pw")
	if r := get(pw); r.status != http.StatusOK {
		t.Fatalf("pw: %d", r.status)
	}
	if st := httpJSON(t, "PATCH", in.http.URL+"/api/v1/agents/pw", rtAdminKey, `{"password":"new-password-pw"}`, nil); st != http.StatusOK {
		t.Fatalf("password change: %d", st)
	}
	want401("old password after change", get(pw))
	if r := get(kf5Basic("pw@example.com", "new-password-pw")); r.status != http.StatusOK {
		t.Errorf("new password: %d", r.status)
	}
	if st := httpJSON(t, "PATCH", in.http.URL+"/api/v1/agents/pw", rtAdminKey, `{"role":"bot"}`, nil); st != http.StatusOK {
		t.Fatalf("to bot: %d", st)
	}
	want401("made a bot after use", get(kf5Basic("pw@example.com", "new-password-pw")))

	// Too many wrong passwords at once from one address: 429 in the same
	// shape. They are sent together, so that the limit's refill (one per
	// 3 s of real time) cannot keep up with them whatever bcrypt costs.
	const attempts = 20
	results := make(chan kf5Res, attempts)
	for range attempts {
		go func() {
			req, _ := http.NewRequest("GET", in.http.URL+"/apiv2/chats.json", nil)
			req.SetBasicAuth("ag@example.com", "wrong-password")
			req.Header.Set("X-Forwarded-For", "10.9.3.1")
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				results <- kf5Res{}
				return
			}
			defer res.Body.Close()
			b, _ := io.ReadAll(res.Body)
			results <- kf5Res{status: res.StatusCode, header: res.Header, body: b}
		}()
	}
	var last kf5Res
	limited := 0
	for range attempts {
		r := <-results
		switch r.status {
		case http.StatusTooManyRequests:
			limited++
			last = r
		case http.StatusUnauthorized:
		default:
			t.Errorf("wrong password: %d %s", r.status, r.body)
		}
	}
	if limited == 0 {
		t.Fatalf("%d wrong passwords at once from one address: none limited", attempts)
	}
	kf5WantError(t, "login limit", last, http.StatusTooManyRequests, "limit")
}

// TestKF5RatingAndParties: the customer's rating, an agent without a
// number, a chat opened by staff, the customer's leaving, and the read
// state of each party's messages.
func TestKF5RatingAndParties(t *testing.T) {
	clock := &fakeClock{now: time.Date(2020, 2, 29, 23, 59, 58, 0, time.UTC)}
	e := newRTEnv(t, 1, rtOptions{clock: clock.Now, policy: hub.Policy{Retention: 30 * 24 * time.Hour}})
	in := e.hubs[0]
	kf5CreateAgent(t, e, "nonum", "agent", "")
	kf5CreateAgent(t, e, "named", "agent", "Agent No.111")
	auth := kf5Basic("nonum@example.com", "password-nonum")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	chat := func(n int) kf5ChatJSON {
		t.Helper()
		return kf5One(t, kf5Do(t, "GET", fmt.Sprintf("%s/apiv2/chats/%d.json", in.http.URL, n), auth, ""))
	}

	// Chat 1: the agent without a number; messages both ways; rated 4.
	sid, ctoken := kf5Widget(t, e, "", "Bo", "Refund", "c-bo", "")
	if c := chat(1); string(c.AgentID) != "null" || c.AssignedAt != nil || c.Status != "open" || c.UserID != nil || c.StartedBy != "visitor" {
		t.Fatalf("new chat: %+v", c)
	}
	e.assign(in, sid, "nonum")
	cust := e.dial(in, ctoken)
	crec := record(t, cust)
	agent := e.dial(in, kf5AgentToken(e, "nonum"))
	clock.Advance(3 * time.Second) // 2020-03-01 00:00:01
	r1, err := cust.Send(ctx, sid, "where is my refund")
	if err != nil {
		t.Fatal(err)
	}
	r2, err := agent.Send(ctx, sid, "checking")
	if err != nil {
		t.Fatal(err)
	}
	c := chat(1)
	if len(c.Messages) != 3 || c.Messages[1].IsRead != 0 || c.Messages[2].IsRead != 0 || c.Messages[2].Name != "Agent nonum" ||
		c.Messages[1].Name != "Bo" || c.Messages[1].Msg != "where is my refund" || c.Messages[2].Msg != "checking" ||
		c.Messages[1].CreatedAt != "2020-03-01 00:00:01" || *c.AssignedAt != "2020-02-29 23:59:58" || string(c.AgentID) != `"nonum"` {
		t.Fatalf("before reads: %+v", c)
	}
	crec.waitSeq(t, 10*time.Second, sid, r2.Seq)
	if err := cust.Read(ctx, sid, r2.Seq); err != nil {
		t.Fatal(err)
	}
	if c := chat(1); c.Messages[2].IsRead != 1 || c.Messages[1].IsRead != 0 || c.Messages[0].IsRead != 0 {
		t.Fatalf("after the customer read: %+v", c.Messages)
	}
	if err := agent.Read(ctx, sid, r1.Seq); err != nil {
		t.Fatal(err)
	}
	if c := chat(1); c.Messages[1].IsRead != 1 || c.Messages[0].IsRead != 1 {
		t.Fatalf("after the agent read: %+v", c.Messages)
	}
	// The customer leaves: a chat.memberleave, then rates.
	clock.Advance(time.Minute)
	if err := cust.CloseSession(ctx, sid); err != nil {
		t.Fatal(err)
	}
	c = chat(1)
	if c.Status != "close" || *c.EndAt != "2020-03-01 00:01:01" || c.Rating != nil || len(c.Messages) != 4 ||
		c.Messages[3].Type != "chat.memberleave" || c.Messages[3].Name != "Bo" || c.Messages[3].ID != c.Messages[2].ID+1 {
		t.Fatalf("after leaving: %+v", c)
	}
	var rated map[string]any
	if st := httpJSON(t, "POST", in.http.URL+"/api/v1/sessions/"+sid+"/rating", ctoken, `{"score":4}`, &rated); st != http.StatusOK {
		t.Fatalf("rate: %d %v", st, rated)
	}
	if c := chat(1); c.Rating == nil || *c.Rating != "4" || string(c.AgentID) != `"nonum"` {
		t.Fatalf("after rating: %+v", c)
	}
	list := kf5List(t, kf5Do(t, "GET", in.http.URL+"/apiv2/chats.json", auth, ""))
	if len(list) != 1 || list[0].Rating == nil || *list[0].Rating != "4" || string(list[0].AgentID) != `"nonum"` {
		t.Fatalf("list after rating: %+v", list)
	}

	// A user id is filed only when the site vouched for it with the customer.
	for _, body := range []map[string]string{
		{"customer_id": "c-bo", "user_id": "5", "customer_hash": hub.IdentityHash([]byte(kf5IdentitySecret), "c-bo")},
		{"customer_id": "c-bo", "user_id": "6", "customer_hash": hub.IdentityHash([]byte(kf5IdentitySecret), "c-bo:5")},
		{"customer_id": "c-bo", "customer_hash": hub.IdentityHash([]byte(kf5IdentitySecret), "c-bo:5")},
		{"customer_id": "c-eve", "user_id": "5", "customer_hash": hub.IdentityHash([]byte("another-secret"), "c-eve:5")},
	} {
		body["name"], body["title"] = "Eve", "Hi"
		b, _ := json.Marshal(body)
		if st := httpJSON(t, "POST", in.http.URL+"/api/v1/widget/sessions", "", string(b), nil); st != http.StatusUnauthorized {
			t.Errorf("widget %s: %d, want 401", b, st)
		}
	}
	if st := httpJSON(t, "POST", in.http.URL+"/api/v1/widget/sessions", "", `{"name":"Eve","title":"Hi","user_id":"5"}`, nil); st != http.StatusBadRequest {
		t.Errorf("widget user_id without customer_id: %d, want 400", st)
	}

	// Chat 2: opened by staff, handled by an agent whose number is not numeric.
	sid2 := kf5CSCreate(t, e, "Bo", "Callback", "c-bo")
	e.assign(in, sid2, "named")
	if st := httpJSON(t, "DELETE", in.http.URL+"/customer-service/sessions/"+sid2, rtAdminKey, "", nil); st != http.StatusOK {
		t.Fatalf("close: %d", st)
	}
	c = chat(2)
	if c.StartedBy != "agent" || string(c.AgentID) != `"Agent No.111"` || c.VisitorID != chat(1).VisitorID || c.Status != "close" ||
		len(c.Messages) != 1 || c.Messages[0].Type != "chat.memberjoin" || c.Messages[0].Msg != "Callback" || c.Rating != nil {
		t.Fatalf("staff chat: %+v", c)
	}
	list = kf5List(t, kf5Do(t, "GET", in.http.URL+"/apiv2/chats.json", auth, ""))
	if len(list) != 2 || string(list[1].AgentID) != `"Agent No.111"` || string(list[0].AgentID) != `"nonum"` {
		t.Fatalf("list: %+v", list)
	}
}

// TestKF5Location: times and dates are in the configured zone (UTC+8 here,
// as a KF5 deployment in China would run), days split at its midnight.
func TestKF5Location(t *testing.T) {
	r := redistest.New(t)
	store, err := redisstore.New(r.NewClient(), redisstore.Options{Prefix: r.Prefix})
	if err != nil {
		t.Fatal(err)
	}
	clock := &fakeClock{now: time.Date(2016, 1, 1, 15, 59, 59, 500_000_000, time.UTC)}
	policy := hub.Policy{AgentCapacity: 5, Retention: 30 * 24 * time.Hour}
	srv := api.NewServer(api.Config{
		Sessions: hub.NewService(store, policy, clock.Now), Agents: store, Teams: store,
		Desk: hub.NewDesk(store, hub.DeskPolicy{}, clock.Now, nil), Chats: hub.NewHistory(store, clock.Now), Webhooks: store,
		AdminKey: rtAdminKey, Ping: store.Ping, Location: time.FixedZone("CST", 8*3600),
	})
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	body := `{"id":"z","name":"Agent z","email":"z@example.com","password":"password-z"}`
	if st := httpJSON(t, "POST", ts.URL+"/api/v1/agents", rtAdminKey, body, nil); st != http.StatusCreated {
		t.Fatalf("create agent: %d", st)
	}
	for range 2 { // 23:59:59.5 on 1 January, then 00:00:00 on 2 January, in UTC+8
		if st := httpJSON(t, "POST", ts.URL+"/customer-service/sessions", rtAdminKey, `{"title":"T","customer_name":"N"}`, nil); st != http.StatusOK {
			t.Fatalf("create: %d", st)
		}
		clock.Advance(500 * time.Millisecond)
	}
	auth := kf5Basic("z@example.com", "password-z")
	list := kf5List(t, kf5Do(t, "GET", ts.URL+"/apiv2/chats.json", auth, ""))
	if len(list) != 2 || list[0].CreatedAt != "2016-01-01 23:59:59" || list[1].CreatedAt != "2016-01-02 00:00:00" ||
		list[0].Messages[0].CreatedAt != "2016-01-01 23:59:59" {
		t.Fatalf("times: %+v", list)
	}
	for q, want := range map[string][]int64{
		"end=2016-01-01": {1}, "start=2016-01-02": {2}, "start=2016-01-01&end=2016-01-01": {1},
		"start=2016-01-02&end=2016-01-02": {2}, "start=2016-01-01&end=2016-01-02": {1, 2}, "end=2015-12-31": nil, "start=2016-01-03": nil,
	} {
		if ids := kf5IDs(kf5List(t, kf5Do(t, "GET", ts.URL+"/apiv2/chats.json?"+q, auth, ""))); !slices.Equal(ids, want) && len(ids)+len(want) > 0 {
			t.Errorf("?%s: %v, want %v", q, ids, want)
		}
	}
}
