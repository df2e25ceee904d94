package api_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strings"
	"testing"

	"github.com/switchboardhq/switchboard/api/usersig"
	"github.com/switchboardhq/switchboard/hub"
)

// The fuzz targets of every request decoder of the four published surfaces
// and of the native API: JSON bodies, query strings, path ids, Bearer and
// Basic credentials and usersigs. scripts/fuzz.sh runs each for a bounded
// time; `go test` runs their seeds as ordinary tests. The harness and the
// properties every answer must have are in fuzz_helpers_test.go; each target
// adds what its surface promises (who may get a 2xx, the answer's fields).

// fzPathRaw makes s the rest of a path as a client would write it: what a
// request line cannot carry percent-encoded, and '?' and '#' too, so that s
// stays in the path.
func fzPathRaw(s string) string {
	return strings.NewReplacer("?", "%3F", "#", "%23").Replace(fzWire(s))
}

// fzBasic returns the Authorization header of HTTP Basic user:pass.
func fzBasic(user, pass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
}

// fzBasicOf returns the credentials of an Authorization header as net/http
// reads them.
func fzBasicOf(header string) (user, pass string, ok bool) {
	r := &http.Request{Header: http.Header{"Authorization": {header}}}
	return r.BasicAuth()
}

// fzOtherMethods are methods that no route of the surfaces serves on the
// paths they are sent to, plus one that is no HTTP method at all.
var fzOtherMethods = []string{http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions, "BREW"}

// fzBadBodies are bodies every JSON endpoint must refuse, cheaply, with its
// own error shape: not an object, invalid UTF-8, trailing data, nesting,
// numbers beyond any integer.
var fzBadBodies = []string{
	"", " ", "null", "[]", `"x"`, "5", "{", "}", `{"a"`, `{"a":}`, "\xff", "{\"\xff\":1}", "\xef\xbb\xbf{}",
	"{}{}", "{} x", "{},", `{"a":1}]`, strings.Repeat("[", 100) + strings.Repeat("]", 100),
	`{"x":` + strings.Repeat(`{"x":`, 50) + "1" + strings.Repeat("}", 51),
	`{"x":1e999}`, `{"x":99999999999999999999999999}`, `{"x":-0}`, `{"x":"\ud800"}`, `{"x":"\u0000"}`,
}

// FuzzCustomerService sends the Customer Service API's requests with a
// fuzzed path id, query string (status, page, per_page), body and
// Authorization header: op picks list, detail, create, close, assign,
// stats, another method, or any path under /customer-service/. Every
// answer is the document's envelope with a message of its error table; only
// the admin key gets anything but 401 on a route; a 2xx has exactly the
// document's fields; a refusal changes nothing.
func FuzzCustomerService(f *testing.F) {
	e := newFzEnv(f)
	create := `{"title":"Order issue","customer_name":"John","description":"Where is my parcel?"}`
	assign := `{"agent_id":"agent_002","agent_name":"Agent Li"}`
	type seed struct {
		op                    uint8
		id, query, body, auth string
	}
	seeds := []seed{
		{0, "", "", "", ""}, {0, "", "status=Waiting&page=1&per_page=20", "", ""}, {0, "", "status=active&per_page=1000", "", ""},
		{0, "", "page=99999999999999999999", "", ""}, {0, "", "page=0&per_page=-1&status=Bogus&status=Ended", "", ""},
		{0, "", "per_page=%zz&page=1e3", "", ""}, {0, "", "status=Ended&page=2&per_page=1", "", ""}, {0, "", "page=1000001", "", ""},
		{0, "", "status=%E2%80%8BWaiting", "", ""}, {0, "", ";;&&==", "", ""},
		{1, fzA, "", "", ""}, {1, fzE, "", "", ""}, {1, "nonsense", "", "", ""}, {1, "cs_" + strings.Repeat("A", 22), "", "", ""},
		{1, "..", "", "", ""}, {1, "cs_\xff" + strings.Repeat("A", 21), "", "", ""}, {1, fzQ + "/assign", "", "", ""},
		{2, "", "", create, ""}, {2, "", "", `{"title":"a","customer_name":"b","customer_id":"user-8812"}`, ""},
		{2, "", "", `{"title":"a","customer_name":"b","customer_id":"cust 001"}`, ""},
		{2, "", "", `{"title":"a","title":"b","customer_name":"John"}`, ""}, {2, "", "", `{"Title":"a","customer_name":"John"}`, ""},
		{2, "", "", `{"title":null,"customer_name":"John"}`, ""}, {2, "", "", `{"title":"a","customer_name":"b","description":null}`, ""},
		{2, "", "", `{"title":5,"customer_name":"John"}`, ""}, {2, "", "", "{\"title\":\"\xff\",\"customer_name\":\"John\"}", ""},
		{2, "", "", create + " x", ""}, {2, "", "", "  " + create + "\n", ""}, {2, "", "", `{"title":["a"],"customer_name":{}}`, ""},
		{2, "", "", `{"title":"` + strings.Repeat("é", 201) + `","customer_name":"John"}`, ""},
		{3, fzQ, "", "", ""}, {3, fzE, "", "", ""}, {3, fzA, "", "ignored", ""},
		{4, fzQ, "", assign, ""}, {4, fzA, "", assign, ""}, {4, fzE, "", assign, ""}, {4, fzQ, "", `{"agent_id":"12","agent_name":"Ana"}`, ""},
		{4, fzQ, "", `{"agent_id":"agent 002","agent_name":"x"}`, ""}, {4, fzQ, "", `{"agent_id":"a","agent_name":"  "}`, ""},
		{4, "nonsense", "", assign, ""}, {4, fzQ, "", `{"agent_id":"` + strings.Repeat("a", 65) + `","agent_name":"x"}`, ""},
		{5, "", "", "", ""}, {6, "", "", create, ""}, {14, fzQ, "", "", ""}, {7, "sessions/x/y", "", "", ""}, {7, "", "", "", ""},
		{7, "../api/v1/agents", "", "", ""}, {7, "stats/", "", "", ""},
		{0, "", "", "", "none"}, {0, "", "", "", "Bearer wrong"}, {5, "", "", "", "bearer " + fzAdminKey}, {5, "", "", "", "Basic " + fzAdminKey},
		{5, "", "", "", "Bearer   " + fzAdminKey + "  "}, {2, "", "", "[]", "Bearer"}, {4, fzQ, "", assign, fzAdminKey},
	}
	for _, b := range fzBadBodies {
		seeds = append(seeds, seed{2, "", "", b, ""}, seed{4, fzQ, "", b, ""})
	}
	for _, s := range seeds {
		f.Add(s.op, s.id, s.query, s.body, s.auth)
	}
	f.Fuzz(func(t *testing.T, op uint8, id, query, body, auth string) {
		req := fzRequest{query: fzWire(query), body: body}
		switch auth {
		case "":
			req.auth = "Bearer " + fzAdminKey
		case "none":
		default:
			req.auth = fzHeader(auth)
		}
		seg := fzSegment(id)
		kind := op % 8
		switch kind {
		case 0:
			req.method, req.path = http.MethodGet, "/customer-service/sessions"
		case 1:
			req.method, req.path = http.MethodGet, "/customer-service/sessions/"+seg
		case 2:
			req.method, req.path = http.MethodPost, "/customer-service/sessions"
		case 3:
			req.method, req.path = http.MethodDelete, "/customer-service/sessions/"+seg
		case 4:
			req.method, req.path = http.MethodPost, "/customer-service/sessions/"+seg+"/assign"
		case 5:
			req.method, req.path = http.MethodGet, "/customer-service/stats"
		case 6:
			req.method, req.path = fzOtherMethods[int(op>>3)%len(fzOtherMethods)], "/customer-service/sessions"
		case 7:
			req.method, req.path = http.MethodGet, "/customer-service/"+fzPathRaw(id)
		}
		a, ok := e.serve(t, req)
		if !ok {
			return
		}
		what := fmt.Sprintf("%s %s?%s (%q)", req.method, req.path, req.query, body)
		data := checkCS(t, what, a)
		key, bearerOK := fzBearer(req.auth)
		valid := bearerOK && key == fzAdminKey
		// A request that reaches a route has its credentials checked first;
		// one that reaches none is 404 (or mux's 301 to a clean path).
		routed := kind == 0 || kind == 2 || kind == 5 || kind == 6 || kind != 7 && id != "" && !strings.Contains(id, "/")
		if routed && !valid && a.status != http.StatusUnauthorized && a.status != http.StatusMovedPermanently {
			t.Fatalf("%s with Authorization %q: %s, want 401", what, req.auth, a)
		}
		if a.status >= 300 {
			return
		}
		if !valid {
			t.Fatalf("%s with Authorization %q: %s without the admin key", what, req.auth, a)
		}
		switch kind {
		case 0:
			wantKeys(t, what, data, []string{"sessions", "total"})
			list, _ := data["sessions"].([]any)
			if len(list) > 100 {
				t.Fatalf("%s: %d sessions on a page, more than 100", what, len(list))
			}
			for i, s := range list {
				checkCSSession(t, fmt.Sprintf("%s: session %d", what, i), s, fzCSSessionKeys)
			}
		case 1:
			checkCSSession(t, what, data, fzCSSessionKeys)
			if data["id"] != id {
				t.Fatalf("%s: detail of %v", what, data["id"])
			}
		case 2:
			checkCSSession(t, what, data, []string{"created_at", "customer_id", "customer_name", "id", "status", "title"})
			// The body was accepted: the client's fields are echoed, trimmed.
			var in struct {
				Title        string `json:"title"`
				CustomerName string `json:"customer_name"`
			}
			if err := json.Unmarshal([]byte(body), &in); err != nil {
				t.Fatalf("%s: accepted a body encoding/json refuses: %v", what, err)
			}
			if data["title"] != strings.TrimSpace(in.Title) || data["customer_name"] != strings.TrimSpace(in.CustomerName) {
				t.Fatalf("%s: created %s from title %q, customer_name %q", what, fzShort(data), in.Title, in.CustomerName)
			}
		case 3, 4:
			want := map[uint8]string{3: "session closed", 4: "agent assigned"}[kind]
			if msg := a.object()["message"]; msg != want {
				t.Fatalf("%s: message %v, want %q", what, msg, want)
			}
		case 5:
			wantKeys(t, what, data, []string{"active_sessions", "ended_sessions", "total_sessions", "waiting_sessions"})
		case 6:
			t.Fatalf("%s: %s, want no 2xx", what, a)
		}
	})
}

// FuzzTencentSessionState sends get_session_state with a fuzzed body under
// the right query (mode 0), a fuzzed query string (1), another method (2),
// a fuzzed usersig in an otherwise right query (3), or any path under /v4/
// (4). Every answer is HTTP 200 in the document's envelope, never 141002;
// only an administrator with a genuine usersig gets ActionStatus OK, and
// then with the state of the session asked for; nothing ever changes.
func FuzzTencentSessionState(f *testing.F) {
	e := newFzEnv(f)
	canon := url.Values{"sdkappid": {fmt.Sprint(fzSDKAppID)}, "identifier": {"admin"}, "usersig": {e.sig},
		"random": {"99999999"}, "contenttype": {"json"}}
	with := func(k, v string) string {
		q := url.Values{}
		for kk, vv := range canon {
			q[kk] = slices.Clone(vv)
		}
		q.Set(k, v)
		return q.Encode()
	}
	byUser := func(user, service string) string {
		return fmt.Sprintf(`{"ClientUserId":%q,"CustomerServiceId":%q}`, user, service)
	}
	type seed struct {
		mode        uint8
		query, body string
	}
	seeds := []seed{
		{0, "", `{"SessionId":"` + fzA + `"}`}, {0, "", `{"SessionId":"` + fzQ + `"}`}, {0, "", `{"SessionId":"` + fzE + `"}`},
		{0, "", `{"SessionId":"cs_` + strings.Repeat("Z", 22) + `"}`}, {0, "", `{"SessionId":"nonsense"}`}, {0, "", `{"SessionId":""}`},
		{0, "", byUser("user-8812", fzServiceID)}, {0, "", byUser("fz_cust_q", fzServiceID)}, {0, "", byUser("fz_cust_e", fzServiceID)},
		{0, "", byUser("user-8812", "@other")}, {0, "", byUser("bad id!", fzServiceID)}, {0, "", byUser("", fzServiceID)},
		{0, "", `{"SessionId":"` + fzA + `","ClientUserId":"user-8812","CustomerServiceId":"` + fzServiceID + `"}`},
		{0, "", `{"ClientUserId":"user-8812"}`}, {0, "", `{"SessionID":"` + fzA + `"}`}, {0, "", `{"SessionId":5}`},
		{0, "", `{"SessionId":null}`}, {0, "", `{"SessionId":"` + fzA + `"} x`}, {0, "", `{"SessionId":"` + fzA + `","SessionId":"` + fzQ + `"}`},
		{0, "", strings.Repeat(" ", 17<<10)}, {1, canon.Encode(), `{"SessionId":"` + fzA + `"}`},
		{1, with("random", "4294967296"), `{"SessionId":"` + fzA + `"}`}, {1, with("random", "-1"), ""},
		{1, with("contenttype", "JSON"), ""}, {1, with("identifier", "ops"), ""}, {1, with("identifier", "root"), ""},
		{1, with("sdkappid", "1400000002"), ""}, {1, with("sdkappid", "99999999999999999999999"), ""},
		{1, canon.Encode() + "&sdkappid=1400000001", ""}, {1, "", ""}, {1, "sdkappid&identifier&usersig&random&contenttype", ""},
		{1, "%zz=1&" + canon.Encode(), `{"SessionId":"` + fzQ + `"}`}, {1, strings.ReplaceAll(canon.Encode(), "&", ";"), ""},
		{2, "", `{"SessionId":"` + fzA + `"}`}, {10, "", ""},
		{3, e.sig, `{"SessionId":"` + fzA + `"}`}, {3, e.sig[:len(e.sig)/2], `{"SessionId":"` + fzA + `"}`},
		{3, e.sig + "A", ""}, {3, strings.ToUpper(e.sig), ""}, {3, "eJyrVgrxCdYrSy1SslIy0jNQ0gHzM1NS80oy0zLBwokpuZl5UInilOzEgoLMFCUrQxMDCDCEyJRk5qYqWRmam0KFIaKpFQWZRalKVhZmJjCh4sx0JSulCudyn5Ry7dDiEk8-00SvvMy8Cp*iyCj-yBAfU0O3-FSPgGxTDyPH0jL-dFulWgCfzTEG", ""},
		{3, "eJwDAAAAAAE_", ""}, {3, "*-_", ""}, {3, strings.Repeat("A", 9000), ""},
		{4, "desk_http_svc/other", ""}, {4, "desk_http_svc/get_session_state/x", ""}, {4, "../v4/desk_http_svc/get_session_state", ""},
	}
	for _, b := range fzBadBodies {
		seeds = append(seeds, seed{0, "", b})
	}
	for _, s := range seeds {
		f.Add(s.mode, s.query, s.body)
	}
	f.Fuzz(func(t *testing.T, mode uint8, query, body string) {
		req := fzRequest{method: http.MethodPost, path: "/v4/desk_http_svc/get_session_state", query: canon.Encode(), body: body, readOnly: true}
		switch mode % 5 {
		case 1:
			req.query = fzWire(query)
		case 2:
			req.method = fzOtherMethods[int(mode>>3)%len(fzOtherMethods)]
			if req.method == http.MethodPut {
				req.method = http.MethodGet
			}
		case 3:
			req.query = with("usersig", query)
		case 4:
			req.path = "/v4/" + fzPathRaw(query)
		}
		a, ok := e.serve(t, req)
		if !ok {
			return
		}
		what := fmt.Sprintf("%s %s?%.200s (%q)", req.method, req.path, req.query, body)
		if a.status == http.StatusMovedPermanently {
			return
		}
		m := checkTencent(t, what, a)
		if m["ActionStatus"] != "OK" {
			return
		}
		q, _ := url.ParseQuery(req.query)
		if err := usersig.Verify(q.Get("usersig"), fzUsersigKey, fzSDKAppID, q.Get("identifier"), fzNow); err != nil ||
			!slices.Contains([]string{"admin", "ops"}, q.Get("identifier")) || len(q["usersig"]) != 1 {
			t.Fatalf("%s: OK for identifier %q with a usersig that does not verify (%v)", what, q.Get("identifier"), err)
		}
		want := map[string]string{fzQ: "Queuing", fzA: "Agent", "": "NotInSession"}
		if sid := m["SessionId"].(string); want[sid] != m["CurrentState"] {
			t.Fatalf("%s: session %q in state %v, want %q", what, sid, m["CurrentState"], want[sid])
		}
		if m["CurrentState"] == "Agent" && m["AgentId"] != "12" {
			t.Fatalf("%s: AgentId %v, want 12", what, m["AgentId"])
		}
	})
}

// FuzzCCAIAgentStatuses sends GET and POST /apps/api/v1/agent_statuses with
// a fuzzed query string, body and credentials: op bit 0 picks the method,
// op/2%3 the Authorization header (the right key and secret, Basic with the
// fuzzed user and password, or the fuzzed user as the whole header), bit 3
// another method. Errors are exactly {"message":...}; only the configured
// key and secret get past 401; a success lists agents with the document's
// fields; a per-agent refusal leaves that agent's status; a status filter
// keeps only agents showing it; a refusal changes nothing.
func FuzzCCAIAgentStatuses(f *testing.F) {
	e := newFzEnv(f)
	type seed struct {
		op                      uint8
		query, body, user, pass string
	}
	seeds := []seed{
		{0, "", "", "", ""}, {0, "agent_ids=11,12&team_ids=1", "", "", ""}, {0, "agent_ids[]=11&agent_ids=12", "", "", ""},
		{0, "status=Available", "", "", ""}, {0, "status=In-call", "", "", ""}, {0, "status=Offline&team_ids=1", "", "", ""},
		{0, "status=Napping", "", "", ""}, {0, "status=lunch&status=break", "", "", ""}, {0, "agent_ids=99", "", "", ""},
		{0, "team_ids=5", "", "", ""}, {0, "agent_ids=fz_bot", "", "", ""}, {0, "foo=1", "", "", ""}, {0, "agent_ids=1e3", "", "", ""},
		{0, "agent_ids=99999999999999999999", "", "", ""}, {0, "agent_ids=,", "", "", ""}, {0, "agent_ids=%20011%20", "", "", ""},
		{0, "", `{"agent_ids":[11],"team_ids":[2]}`, "", ""}, {0, "agent_ids=11", `{"agent_ids":[11]}`, "", ""}, {0, "", `{"status":"Offline"}`, "", ""},
		{1, "", `{"status":"lunch","agent_ids":[11,12],"team_ids":[1]}`, "", ""}, {1, "", `{"status":"Available","agent_ids":[11]}`, "", ""},
		{1, "", `{"status":"break","agent_ids":["fz_sup"]}`, "", ""}, {1, "", `{"status":"In-call","agent_ids":[11]}`, "", ""},
		{1, "", `{"status":"Napping","agent_ids":[11]}`, "", ""}, {1, "", `{"status":"lunch"}`, "", ""},
		{1, "", `{"status":"lunch","agent_ids":[],"team_ids":[]}`, "", ""}, {1, "", `{"status":"lunch","agent_ids":[null]}`, "", ""},
		{1, "", `{"status":"lunch","agent_ids":[1.5]}`, "", ""}, {1, "", `{"status":"lunch","agent_ids":[true]}`, "", ""},
		{1, "", `{"status":"lunch","agent_ids":[[11]]}`, "", ""}, {1, "", `{"STATUS":"lunch","agent_ids":[11]}`, "", ""},
		{1, "", `{"status":"lunch","status":"break","agent_ids":[11]}`, "", ""}, {1, "", `{"status":"lunch","agent_ids":[11]}}`, "", ""},
		{1, "", `{"status":"lunch","agent_ids":[13]}`, "", ""}, {1, "", `{"status":"lunch","team_ids":["2"]}`, "", ""},
		{1, "", `{"status":"lunch","agent_ids":[99999999999999999999]}`, "", ""}, {1, "", `{"status":"lunch","agent_ids":[-11]}`, "", ""},
		{1, "", `{"status":null,"agent_ids":[11]}`, "", ""}, {1, "", `{"status":"lunch","agent_ids":11}`, "", ""},
		{1, "agent_ids=11", `{"status":"lunch","agent_ids":[11]}`, "", ""}, {8, "", "", "", ""},
		{2, "", "", fzCCAIKey, fzCCAISecret}, {2, "", "", fzCCAIKey, "wrong"}, {2, "", "", fzCCAIKey + ":" + fzCCAISecret, ""},
		{3, "", `{"status":"lunch","agent_ids":[11]}`, "", fzCCAISecret}, {2, "", "", strings.ToUpper(fzCCAIKey), fzCCAISecret},
		{4, "", "", "Basic !!!", ""}, {4, "", "", "Bearer " + fzCCAIKey, ""}, {4, "", "", "Basic " + base64.StdEncoding.EncodeToString([]byte(fzCCAIKey)), ""},
		{4, "", "", "basic " + base64.StdEncoding.EncodeToString([]byte(fzCCAIKey+":"+fzCCAISecret)), ""}, {4, "", "", "", ""},
	}
	for _, b := range fzBadBodies {
		seeds = append(seeds, seed{1, "", b, "", ""}, seed{0, "", b, "", ""})
	}
	for _, s := range seeds {
		f.Add(s.op, s.query, s.body, s.user, s.pass)
	}
	f.Fuzz(func(t *testing.T, op uint8, query, body, user, pass string) {
		req := fzRequest{method: http.MethodGet, path: "/apps/api/v1/agent_statuses", query: fzWire(query), body: body}
		if op&1 == 1 {
			req.method = http.MethodPost
		}
		if op&8 != 0 {
			req.method = fzOtherMethods[int(op>>4)%len(fzOtherMethods)]
		}
		switch (op >> 1) % 3 {
		case 0:
			req.auth = fzBasic(fzCCAIKey, fzCCAISecret)
		case 1:
			req.auth = fzHeader(fzBasic(user, pass))
		case 2:
			req.auth = fzHeader(user)
		}
		req.readOnly = req.method == http.MethodGet
		a, ok := e.serve(t, req)
		if !ok {
			return
		}
		what := fmt.Sprintf("%s ?%s (%q) with %q", req.method, req.query, body, req.auth)
		checkCCAI(t, what, req.method, a)
		u, p, basicOK := fzBasicOf(req.auth)
		valid := basicOK && u == fzCCAIKey && p == fzCCAISecret
		served := req.method == http.MethodGet || req.method == http.MethodPost
		if served && !valid && a.status != http.StatusUnauthorized {
			t.Fatalf("%s: %s, want 401 for credentials %q:%q", what, a, u, p)
		}
		if a.status >= 300 {
			return
		}
		if !served || !valid {
			t.Fatalf("%s: %s", what, a)
		}
		var filter struct {
			Status *string `json:"status"`
		}
		if req.method == http.MethodGet && strings.TrimSpace(body) == "" {
			q, _ := url.ParseQuery(req.query)
			for _, k := range []string{"status", "status[]"} {
				if v, ok := q[k]; ok {
					filter.Status = &v[0]
				}
			}
		} else if json.Unmarshal([]byte(body), &filter) != nil {
			t.Fatalf("%s: accepted a body encoding/json refuses", what)
		}
		for i, el := range a.body.([]any) {
			m := el.(map[string]any)
			switch {
			case req.method == http.MethodGet && filter.Status != nil && m["status"] != *filter.Status:
				t.Fatalf("%s: agent %d shows %v, the filter is %q", what, i, m["status"], *filter.Status)
			case req.method == http.MethodPost && m["message"] == nil && m["current_status"] != *filter.Status:
				t.Fatalf("%s: agent %d is %v after setting %q", what, i, m["current_status"], *filter.Status)
			case req.method == http.MethodPost && m["message"] != nil && m["current_status"] != m["previous_status"]:
				t.Fatalf("%s: agent %d was refused (%v) but changed from %v to %v", what, i, m["message"], m["previous_status"], m["current_status"])
			}
		}
	})
}

// fzKF5Logins are the seeded agents who may read chat history, by e-mail
// as stored (look-ups ignore its case).
var fzKF5Logins = []string{"admin@fz.test", "sup@fz.test", "craigt@fz.test", "ana@fz.test"}

// FuzzKF5Chats sends GET /apiv2/chats.json with a fuzzed query string and
// GET /apiv2/chats/{id}.json with a fuzzed id (op bit 0), with an agent's
// right e-mail and password, fuzzed Basic credentials, or a fuzzed whole
// Authorization header (op/2%3); op bit 3 sends another method. Errors are
// exactly {"error":...,"message":...} with the code for the status; only an
// enabled agent's (not a bot's) e-mail and password get a 2xx, and a
// refusal of credentials is 401 or the login limit's 429; a success has
// exactly the document's chat and message fields; nothing ever changes.
func FuzzKF5Chats(f *testing.F) {
	e := newFzEnv(f)
	type seed struct {
		op                    uint8
		query, id, user, pass string
	}
	seeds := []seed{
		{0, "", "", "", ""}, {0, "visitor_id=1", "", "", ""}, {0, "user_id=45190", "", "", ""}, {0, "start=2024-01-15&end=2024-01-15", "", "", ""},
		{0, "start=2024-01-16&end=2024-01-15", "", "", ""}, {0, "page=2&per_page=1", "", "", ""}, {0, "per_page=0", "", "", ""},
		{0, "page=1000001", "", "", ""}, {0, "visitor_id=-1", "", "", ""}, {0, "visitor_id=99999999999999999999", "", "", ""},
		{0, "start=2024-02-30", "", "", ""}, {0, "user_id=0123", "", "", ""}, {0, "start=2024-1-5", "", "", ""}, {0, "visitor_id=", "", "", ""},
		{0, "per_page=100&page=1000000", "", "", ""}, {0, "end=9999-12-31", "", "", ""}, {0, "start=0001-01-01", "", "", ""},
		{0, "user_id=999999999999999999", "", "", ""}, {0, "unknown=1&page=1", "", "", ""},
		{1, "", "1", "", ""}, {1, "", "2", "", ""}, {1, "", "3", "", ""}, {1, "", "0", "", ""}, {1, "", "-1", "", ""},
		{1, "", "99999999999999999999", "", ""}, {1, "", "abc", "", ""}, {1, "", "1.json", "", ""}, {1, "", "1/2", "", ""}, {1, "", "", "", ""},
		{1, "", "+1", "", ""}, {1, "", "0x1", "", ""}, {9, "", "1", "", ""}, {8, "", "", "", ""},
		{2, "", "", "ana@fz.test", fzPassword}, {2, "", "", "ANA@FZ.TEST", fzPassword}, {2, "", "", "ana@fz.test", "wrong"},
		{2, "", "", "dora@fz.test", fzPassword}, {2, "", "", "bot@fz.test", fzPassword}, {2, "", "", "nobody@fz.test", fzPassword},
		{3, "", "1", "sup@fz.test", fzPassword}, {2, "", "", "", ""}, {2, "", "", "ana@fz.test:x", fzPassword},
		{4, "", "", "Bearer " + e.tokens["agent11"], ""}, {4, "", "", "Basic !!!", ""}, {4, "", "", "", ""},
		{4, "", "", "Basic " + base64.StdEncoding.EncodeToString([]byte("ana@fz.test")), ""}, {4, "", "", fzBasic("admin@fz.test", fzPassword), ""},
	}
	for _, s := range seeds {
		f.Add(s.op, s.query, s.id, s.user, s.pass)
	}
	f.Fuzz(func(t *testing.T, op uint8, query, id, user, pass string) {
		req := fzRequest{method: http.MethodGet, path: "/apiv2/chats.json", query: fzWire(query), readOnly: true}
		if op&1 == 1 {
			req.path = "/apiv2/chats/" + fzSegment(id) + ".json"
		}
		if op&8 != 0 {
			req.method = fzOtherMethods[int(op>>4)%len(fzOtherMethods)]
		}
		switch (op >> 1) % 3 {
		case 0:
			req.auth = fzBasic("craigT@fz.test", fzPassword)
		case 1:
			req.auth = fzHeader(fzBasic(user, pass))
		case 2:
			req.auth = fzHeader(user)
		}
		u, p, basicOK := fzBasicOf(req.auth)
		valid := basicOK && p == fzPassword && slices.Contains(fzKF5Logins, hub.NormalizeEmail(u))
		// The right credentials come from an address of their own, which
		// bcrypt sees once per spelling and minute; every other attempt
		// from one address that the login limit soon answers 429, without
		// spending bcrypt's 60 ms on each.
		req.ip = fzBasicBadIP
		if valid {
			req.ip = fzBasicIP
		}
		a, ok := e.serve(t, req)
		if !ok {
			return
		}
		what := fmt.Sprintf("%s %s?%s with %q", req.method, req.path, req.query, req.auth)
		checkKF5(t, what, a)
		// A request that reaches a route: credentials are checked first.
		served := req.method == http.MethodGet && (op&1 == 0 || id != "" && !strings.Contains(id, "/"))
		switch {
		case a.status < 300 && !valid:
			t.Fatalf("%s: %s for credentials %q:%q", what, a, u, p)
		case served && !valid && a.status != http.StatusUnauthorized && a.status != http.StatusTooManyRequests:
			t.Fatalf("%s: %s, want 401 or 429 for credentials %q:%q", what, a, u, p)
		case valid && a.status == http.StatusUnauthorized:
			t.Fatalf("%s: %s for an agent's right e-mail and password", what, a)
		}
	})
}

// fzCredentialNames name the native targets' credential selector, in the
// order of fzEnv.credential.
var fzCredentialNames = []string{"key", "admin", "sup", "agent11", "agent12", "custQ", "custA", "custE", "bot", "none", "disabled", "expired"}

// fzCred returns the name and Authorization header of selector c.
func (e *fzEnv) fzCred(c uint8) (string, string) {
	return fzCredentialNames[int(c)%len(fzCredentialNames)], e.credential(c)
}

// fzLoginBadIP is the one address of every login with an unknown e-mail.
const fzLoginBadIP = "198.51.100.9:50000"

// fzUnknownLogin reports whether body reads (to encoding/json) as a login
// with an e-mail no seeded agent has.
func fzUnknownLogin(body string) bool {
	var in struct{ Email, Password *string }
	if json.Unmarshal([]byte(body), &in) != nil || in.Email == nil || in.Password == nil {
		return false
	}
	return !slices.Contains(append(fzKF5Logins, "bot@fz.test", "dora@fz.test"), hub.NormalizeEmail(*in.Email))
}

// fzNativeBodyOps are the native endpoints that decode a body, with the
// path id each uses when the input gives none.
var fzNativeBodyOps = []struct {
	method, path, defaultID string
}{
	{http.MethodPost, "/api/v1/auth/login", ""},
	{http.MethodPost, "/api/v1/widget/sessions", ""},
	{http.MethodPost, "/api/v1/agents", ""},
	{http.MethodPatch, "/api/v1/agents/{id}", "11"},
	{http.MethodPut, "/api/v1/agents/{id}/status", "me"},
	{http.MethodPost, "/api/v1/teams", ""},
	{http.MethodPatch, "/api/v1/teams/{id}", "1"},
	{http.MethodPost, "/api/v1/sessions/{id}/rating", fzE},
	{http.MethodPost, "/api/v1/webhooks", ""},
	{http.MethodPost, "/api/v1/sessions/{id}/transfer", fzA},
	{http.MethodPut, "/api/v1/sessions/{id}/tags", fzA},
}

// FuzzNativeBodies sends every native endpoint that decodes a JSON body
// (op picks it) with a fuzzed body, path id and one of the world's
// credentials (cred). Beyond the native error envelope and "a refusal
// changes nothing": the open endpoints (login, widget) answer 429 only as
// the rate limit; admin-only ones succeed only for the admin key or an
// admin; a login succeeds only with an enabled agent's password; a widget
// session names a customer_id only with its valid customer_hash; a rating
// only for the session's customer; successes have their documented fields.
func FuzzNativeBodies(f *testing.F) {
	e := newFzEnv(f)
	hash := hub.IdentityHash([]byte(fzIdentity), "user-8812")
	hashUser := hub.IdentityHash([]byte(fzIdentity), "user-8812:45190")
	type seed struct {
		op, cred uint8
		id, body string
	}
	const (
		login, widget, agentCreate, agentPatch, status, teamCreate, teamPatch, rating, hook, transfer = 0, 1, 2, 3, 4, 5, 6, 7, 8, 9
		key, admin, sup, agent11, agent12, custQ, custA, custE, bot, none, disabled, expired          = 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11
	)
	seeds := []seed{
		{login, none, "", `{"email":"craigT@fz.test","password":"` + fzPassword + `"}`}, {login, none, "", `{"email":"CRAIGT@FZ.TEST","password":"` + fzPassword + `"}`},
		{login, none, "", `{"email":"dora@fz.test","password":"` + fzPassword + `"}`}, {login, none, "", `{"email":"craigT@fz.test","password":"wrong"}`},
		{login, none, "", `{"email":"nobody@fz.test","password":"x"}`}, {login, none, "", `{"email":"craigT@fz.test"}`},
		{login, none, "", `{"email":1,"password":2}`}, {login, key, "", `{"email":" ana@fz.test ","password":"` + fzPassword + `"}`},
		{widget, none, "", `{"name":"Maria","title":"Order 1042","description":"Where is my parcel?"}`},
		{widget, none, "", `{"name":"Maria","email":"maria@example.com"}`}, {widget, none, "", `{"name":"Maria","email":"not-an-email"}`},
		{widget, none, "", `{"name":"Maria","email":"   "}`}, {widget, none, "", `{"name":"Maria","customer_id":"user-8812","customer_hash":"` + hash + `"}`},
		{widget, none, "", `{"name":"Maria","customer_id":"user-8812","customer_hash":"` + strings.ToUpper(hash) + `"}`},
		{widget, none, "", `{"name":"Maria","customer_id":"user-8812","user_id":"45190","customer_hash":"` + hashUser + `"}`},
		{widget, none, "", `{"name":"Maria","customer_id":"user-8812","user_id":"45190","customer_hash":"` + hash + `"}`},
		{widget, none, "", `{"name":"Maria","customer_id":"user-8812","customer_hash":"00"}`}, {widget, none, "", `{"name":"Maria","user_id":"45190"}`},
		{widget, none, "", `{"name":"Maria","customer_id":"bad id","customer_hash":"00"}`}, {widget, none, "", `{"name":""}`},
		{widget, none, "", `{"name":null}`}, {widget, none, "", `{"name":["x"]}`}, {widget, none, "", `{"name":"a","name":"b"}`},
		{widget, none, "", `{"name":"a","title":"` + strings.Repeat("x", 201) + `"}`}, {widget, none, "", `{"name":"a","user_id":"0"}`},
		{agentCreate, key, "", `{"id":"agent_bo","name":"Bo","email":"bo@example.com","role":"agent","capacity":3}`},
		{agentCreate, admin, "", `{"name":"Sam","email":"sam@example.com","role":"supervisor","team_ids":["1","2"],"agent_number":"7"}`},
		{agentCreate, key, "", `{"name":"Pat","email":"pat@example.com","password":"correct-horse-1"}`},
		{agentCreate, key, "", `{"email":"x@y.z"}`}, {agentCreate, key, "", `{"email":"ana@fz.test","name":"dup"}`},
		{agentCreate, key, "", `{"id":"11","email":"n@x.y","name":"n"}`}, {agentCreate, key, "", `{"email":"a@b.c","name":"n","capacity":1e3}`},
		{agentCreate, key, "", `{"email":"a@b.c","name":"n","capacity":0}`}, {agentCreate, key, "", `{"email":"a@b.c","name":"n","team_ids":["9"]}`},
		{agentCreate, key, "", `{"email":"a@b.c","name":"n","team_ids":["bad id"]}`}, {agentCreate, key, "", `{"email":"a@b.c","name":"n","role":"root"}`},
		{agentCreate, key, "", `{"email":"a@b.c","name":"n","password":"short"}`}, {agentCreate, key, "", `{"email":"a@b.c","name":"n","disabled":"yes"}`},
		{agentCreate, key, "", `{"email":"a b@c","name":"n"}`}, {agentCreate, key, "", `{"id":"","email":"a@b.c","name":"n"}`},
		{agentCreate, sup, "", `{"email":"a@b.c","name":"n"}`}, {agentCreate, agent11, "", `{"email":"a@b.c","name":"n"}`},
		{agentPatch, key, "", `{"capacity":4}`}, {agentPatch, admin, "", `{"name":"Craig T","agent_number":"1111"}`}, {agentPatch, key, "", `{"id":"12"}`},
		{agentPatch, key, "", `{"email":"ana@fz.test"}`}, {agentPatch, key, "", `{"disabled":true}`}, {agentPatch, key, "", `{"team_ids":["1","1","2"]}`},
		{agentPatch, key, "", `{}`}, {agentPatch, key, "nobody", `{"capacity":1}`}, {agentPatch, key, "..", `{}`}, {agentPatch, key, "fz_bot", `{"role":"admin"}`},
		{agentPatch, key, "", `{"capacity":-1}`}, {agentPatch, key, "", `{"team_ids":null}`}, {agentPatch, agent11, "", `{"capacity":3}`},
		{status, agent11, "", `{"status":"lunch"}`}, {status, agent12, "", `{"status":"Available"}`}, {status, key, "11", `{"status":"break"}`},
		{status, agent11, "12", `{"status":"lunch"}`}, {status, sup, "12", `{"status":"meeting"}`}, {status, key, "", `{"status":"lunch"}`},
		{status, agent11, "", `{"status":"In-call"}`}, {status, agent11, "", `{"status":"Napping"}`}, {status, agent11, "", `{"status":null}`},
		{status, agent11, "", `{}`}, {status, bot, "", `{"status":"lunch"}`}, {status, custQ, "", `{"status":"lunch"}`}, {status, key, "nobody", `{"status":"lunch"}`},
		{teamCreate, key, "", `{"name":"Billing"}`}, {teamCreate, admin, "", `{"id":"billing","name":"Billing"}`}, {teamCreate, key, "", `{"id":"1","name":"dup"}`},
		{teamCreate, key, "", `{"id":"bad id","name":"x"}`}, {teamCreate, key, "", `{"name":"  "}`}, {teamCreate, key, "", `{"name":"x","agent_ids":[]}`},
		{teamCreate, sup, "", `{"name":"x"}`}, {teamPatch, key, "", `{"name":"Support 2"}`}, {teamPatch, key, "", `{"id":"2"}`},
		{teamPatch, key, "", `{"id":"1","name":"Same"}`}, {teamPatch, key, "9", `{"name":"x"}`}, {teamPatch, key, "", "{\"name\":\"\xff\"}"},
		{rating, custE, "", `{"score":5,"comment":"great"}`}, {rating, custE, "", `{"score":0}`}, {rating, custE, "", `{"score":6}`},
		{rating, custE, "", `{"score":4.5}`}, {rating, custE, "", `{"comment":"x"}`}, {rating, custE, "", `{"score":"5"}`},
		{rating, custE, "", `{"score":5,"comment":"` + strings.Repeat("x", 1001) + `"}`}, {rating, custQ, fzQ, `{"score":5}`},
		{rating, custQ, "", `{"score":5}`}, {rating, agent11, "", `{"score":5}`}, {rating, key, "", `{"score":5}`},
		{rating, custE, "", `{"score":99999999999999999999}`},
		{hook, key, "", `{"url":"https://example.com/hook","events":["session.ended"]}`}, {hook, admin, "", `{"url":"http://example.com/h"}`},
		{hook, key, "", `{"url":"ftp://x"}`}, {hook, key, "", `{"url":"https://x","secret":"short"}`}, {hook, key, "", `{"url":"https://x","events":["nope"]}`},
		{hook, key, "", `{"url":"https://x","events":null}`}, {hook, key, "", `{"url":"http://[::1]:namedport"}`},
		{hook, key, "", `{"url":"https://x","secret":"0123456789abcdef"}`}, {hook, key, "", `{"events":[]}`}, {hook, sup, "", `{"url":"https://x"}`},
		{hook, key, "", `{"url":"https://` + strings.Repeat("x", 2000) + `"}`},
		{transfer, agent12, "", `{"agent_id":"11"}`}, {transfer, key, "", `{"team_id":"1"}`}, {transfer, agent12, "", `{"agent_id":"13"}`},
		{transfer, agent12, "", `{"agent_id":"fz_bot"}`}, {transfer, agent12, "", `{}`}, {transfer, agent12, "", `{"agent_id":"12"}`},
		{transfer, agent11, "", `{"agent_id":"11"}`}, {transfer, sup, fzQ, `{"agent_id":"11"}`}, {transfer, agent12, "", `{"agent_id":"11","team_id":"1"}`},
		{transfer, agent12, "", `{"team_id":"9"}`}, {transfer, custA, "", `{"agent_id":"11"}`},
		{agentCreate, disabled, "", `{"email":"a@b.c","name":"n"}`}, {teamCreate, expired, "", `{"name":"x"}`},
	}
	// Every endpoint decodes with the same code: each bad body goes to one,
	// in turn, which keeps the seeds (and a short run's baseline) small.
	for i, b := range fzBadBodies {
		seeds = append(seeds, seed{uint8(i % len(fzNativeBodyOps)), key, "", b})
	}
	for _, s := range seeds {
		f.Add(s.op, s.cred, s.id, s.body)
	}
	f.Fuzz(func(t *testing.T, op, cred uint8, id, body string) {
		ep := fzNativeBodyOps[int(op)%len(fzNativeBodyOps)]
		if id == "" {
			id = ep.defaultID
		}
		credName, auth := e.fzCred(cred)
		req := fzRequest{method: ep.method, path: strings.ReplaceAll(ep.path, "{id}", fzSegment(id)), auth: auth, body: body}
		if ep.path == "/api/v1/auth/login" && fzUnknownLogin(body) {
			// A login with an e-mail nobody has costs bcrypt's 60 ms (so
			// that it takes as long as a known one): sent from one address,
			// the login limit soon answers 429 instead, and the fuzzer keeps
			// its pace. Every other body comes from a fresh address.
			req.ip = fzLoginBadIP
		}
		a, ok := e.serve(t, req)
		if !ok {
			return
		}
		what := fmt.Sprintf("%s %s as %s (%q)", req.method, req.path, credName, body)
		m := checkNative(t, what, a)
		open := ep.path == "/api/v1/auth/login" || ep.path == "/api/v1/widget/sessions"
		if a.status == http.StatusTooManyRequests && open && req.ip != fzLoginBadIP {
			t.Fatalf("%s: rate limited from a fresh address: %s", what, a)
		}
		if a.status >= 300 {
			return
		}
		if !open && slices.Contains([]string{"none", "disabled", "expired"}, credName) {
			t.Fatalf("%s: %s without a valid credential", what, a)
		}
		adminOnly := ep.path == "/api/v1/agents" || ep.path == "/api/v1/agents/{id}" || ep.path == "/api/v1/teams" ||
			ep.path == "/api/v1/teams/{id}" || ep.path == "/api/v1/webhooks"
		if adminOnly && credName != "key" && credName != "admin" {
			t.Fatalf("%s: %s for a non-admin", what, a)
		}
		var in map[string]any
		if err := json.Unmarshal([]byte(body), &in); err != nil {
			t.Fatalf("%s: accepted a body encoding/json refuses (%v): %s", what, err, a)
		}
		switch ep.path {
		case "/api/v1/auth/login":
			email, _ := in["email"].(string)
			if in["password"] != fzPassword || !slices.Contains(append(fzKF5Logins, "bot@fz.test"), hub.NormalizeEmail(email)) {
				t.Fatalf("%s: logged in with %q", what, body)
			}
			wantKeys(t, what, m, []string{"agent", "expires_at", "token"})
		case "/api/v1/widget/sessions":
			wantKeys(t, what, m, []string{"expires_at", "session", "token"})
			checkNativeSession(t, what+": session", m["session"])
			if cid, ok := in["customer_id"].(string); ok {
				vouched := cid
				if uid, ok := in["user_id"].(string); ok {
					vouched += ":" + uid
				}
				if h, _ := in["customer_hash"].(string); !hub.VerifyIdentity([]byte(fzIdentity), vouched, h) {
					t.Fatalf("%s: opened a session for customer %q without its hash", what, cid)
				}
			}
		case "/api/v1/agents", "/api/v1/agents/{id}":
			wantKeys(t, what, m, []string{"agent_number", "capacity", "chosen_status", "created_at", "disabled", "email", "id", "ip_addrs",
				"load", "name", "online", "role", "status", "team_ids"})
		case "/api/v1/agents/{id}/status":
			wantKeys(t, what, m, []string{"agent_id", "chosen_status", "current_status", "previous_status"})
			target := id
			if id == "me" {
				target = map[string]string{"agent11": "11", "agent12": "12"}[credName]
			}
			if credName != "key" && credName != "admin" && credName != "sup" && !(credName == "agent"+target) {
				t.Fatalf("%s: %s set %v's status", what, credName, m["agent_id"])
			}
		case "/api/v1/teams", "/api/v1/teams/{id}":
			wantKeys(t, what, m, []string{"agent_ids", "created_at", "id", "name"})
		case "/api/v1/sessions/{id}/rating":
			wantKeys(t, what, m, []string{"rating", "session"})
			if credName != "custE" || id != fzE {
				t.Fatalf("%s: rated %s as %s", what, id, credName)
			}
		case "/api/v1/webhooks":
			wantKeys(t, what, m, []string{"created_at", "events", "id", "secret", "url"})
		case "/api/v1/sessions/{id}/transfer":
			checkNativeSession(t, what, m)
		case "/api/v1/sessions/{id}/tags":
			checkNativeSession(t, what, m)
			if strings.HasPrefix(credName, "cust") || credName == "none" {
				t.Fatalf("%s: %s tagged a session", what, credName)
			}
		}
	})
}

// fzNativeQueryOps are the native endpoints that read a path id or a query
// string, with the id each uses when the input gives none.
var fzNativeQueryOps = []struct {
	method, path, defaultID string
}{
	{http.MethodGet, "/api/v1/sessions", ""},
	{http.MethodGet, "/api/v1/sessions/{id}/events", fzA},
	{http.MethodGet, "/api/v1/sessions/{id}/messages", fzA},
	{http.MethodGet, "/api/v1/customers/{id}/sessions", "user-8812"},
	{http.MethodGet, "/api/v1/webhooks/{id}/failures", fzWebhookID},
	{http.MethodGet, "/api/v1/sessions/{id}", fzA},
	{http.MethodDelete, "/api/v1/sessions/{id}", fzQ},
	{http.MethodGet, "/api/v1/agents/{id}", "11"},
	{http.MethodGet, "/api/v1/teams/{id}", "1"},
	{http.MethodGet, "/api/v1/webhooks/{id}", fzWebhookID},
	{http.MethodDelete, "/api/v1/webhooks/{id}", fzWebhookID},
	{http.MethodPost, "/api/v1/webhooks/{id}/failures/{query}/replay", fzWebhookID},
	{http.MethodPost, "/api/v1/sessions/{id}/accept", fzQ},
	{http.MethodPost, "/api/v1/sessions/{id}/decline", fzQ},
	{http.MethodPost, "/api/v1/sessions/{id}/pick", fzQ},
	{http.MethodPost, "/api/v1/sessions/{id}/handover", fzA},
	{http.MethodPost, "/api/v1/agents/{id}/token", "11"},
	{http.MethodGet, "/api/v1/{raw}", "agents"},
}

// fzReadable is which seeded sessions each credential may read with
// GET /api/v1/sessions/{id}: a customer its own, an agent those it is or
// was in, the privileged all.
var fzReadable = map[string][]string{
	"key": {fzQ, fzA, fzE}, "admin": {fzQ, fzA, fzE}, "sup": {fzQ, fzA, fzE},
	"agent11": {fzE}, "agent12": {fzA}, "custQ": {fzQ}, "custA": {fzA}, "custE": {fzE},
}

// FuzzNativeQueries sends the native endpoints that read a path id or a
// query string (paging: after, before, limit, offset, status) with fuzzed
// ones and one of the world's credentials; op 17 sends GET to any path
// under /api/v1/. Beyond the native error envelope and "a refusal changes
// nothing" (and "a GET never changes anything"): no credential-less 2xx;
// supervisor and admin endpoints only for them; a session only for who may
// read it; the answers' documented fields.
func FuzzNativeQueries(f *testing.F) {
	e := newFzEnv(f)
	type seed struct {
		op, cred  uint8
		id, query string
	}
	const key, admin, sup, agent11, agent12, custQ, custA, custE, bot, none, disabled, expired = 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11
	seeds := []seed{
		{0, key, "", ""}, {0, sup, "", "status=Waiting"}, {0, key, "", "status=ended&offset=1&limit=1"}, {0, key, "", "limit=0"},
		{0, key, "", "limit=201"}, {0, key, "", "offset=-1"}, {0, key, "", "offset=99999999999999999999"}, {0, key, "", "limit=1e2"},
		{0, key, "", "status=Bogus"}, {0, key, "", "status=Waiting&status=Ended"}, {0, agent11, "", ""}, {0, key, "", "offset=9223372036854775807"},
		{1, key, "", ""}, {1, agent12, "", "after=1&limit=10"}, {1, key, "", "after=-1"}, {1, key, "", "after=99999999999999999999"},
		{1, key, "", "limit=0"}, {1, key, "", "limit=100000"}, {1, custA, "", "after=3"}, {1, custQ, "", ""}, {1, key, "", "after=9223372036854775807"},
		{2, key, "", "after=1"}, {2, agent11, "", "before=3&limit=1"}, {2, key, "", "after=1&before=3"}, {2, key, "", "limit=201"},
		{2, key, "", "limit=0"}, {2, key, "", "before=0"}, {2, key, "", "after=9223372036854775807"}, {2, key, "", "limit=9223372036854775807"},
		{2, key, "", "after=&before="}, {2, custA, "", ""}, {2, custQ, "", ""}, {2, key, fzE, "before=2"}, {2, bot, "", ""},
		{3, key, "", ""}, {3, sup, "", "limit=1"}, {3, key, "", "limit=0"}, {3, key, "", "limit=101"}, {3, key, "nobody", ""},
		{3, agent11, "fz_cust_e", ""}, {3, custA, "", ""}, {3, key, "bad id", ""},
		{4, key, "", "limit=500"}, {4, key, "", "limit=501"}, {4, key, "", "limit=0"}, {4, key, "wh_nope", ""}, {4, sup, "", ""},
		{5, key, "", ""}, {5, agent11, "", ""}, {5, agent11, fzE, ""}, {5, custQ, fzQ, ""}, {5, custQ, "", ""}, {5, key, "nonsense", ""},
		{6, custQ, "", ""}, {6, key, fzE, ""}, {6, agent11, fzA, ""}, {6, agent12, fzA, ""}, {6, bot, fzA, ""},
		{7, sup, "", ""}, {7, key, "nobody", ""}, {7, agent11, "", ""}, {8, sup, "", ""}, {8, key, "9", ""},
		{9, key, "", ""}, {9, key, "wh_nope", ""}, {10, key, "", ""}, {10, key, "wh_nope", ""}, {10, sup, "", ""},
		{11, key, "", "1-0"}, {11, key, "", "nope"}, {11, key, "wh_nope", "1-0"}, {11, key, "", "18446744073709551615-18446744073709551615"},
		{11, key, "", "111111111111111111111-0"}, // replay overflow: 404, once a 500 the fuzzing found
		{12, agent11, "", ""}, {13, agent11, "", ""}, {14, agent11, "", ""}, {14, custQ, "", ""}, {14, agent11, fzE, ""}, {15, bot, "", ""},
		{15, agent12, "", ""}, {16, key, "", ""}, {16, key, "13", ""}, {16, key, "nobody", ""}, {16, sup, "", ""},
		{17, key, "teams", ""}, {17, sup, "queue", ""}, {17, sup, "stats", ""}, {17, agent11, "statuses", ""}, {17, agent11, "directory", ""},
		{17, key, "webhooks", ""}, {17, custQ, "directory", ""}, {17, key, "nope", ""}, {17, key, "sessions/" + fzA + "/events/x", ""},
		{17, key, "../customer-service/stats", ""}, {17, none, "agents", ""}, {17, disabled, "agents", ""}, {17, expired, "statuses", ""},
		{17, key, "sessions?limit=1", ""}, {17, key, "%zz", ""},
	}
	for _, s := range seeds {
		f.Add(s.op, s.cred, s.id, s.query)
	}
	f.Fuzz(func(t *testing.T, op, cred uint8, id, query string) {
		ep := fzNativeQueryOps[int(op)%len(fzNativeQueryOps)]
		if id == "" {
			id = ep.defaultID
		}
		credName, auth := e.fzCred(cred)
		req := fzRequest{method: ep.method, path: strings.ReplaceAll(ep.path, "{id}", fzSegment(id)), query: fzWire(query), auth: auth}
		switch {
		case strings.Contains(ep.path, "{query}"):
			req.path, req.query = strings.ReplaceAll(req.path, "{query}", fzSegment(query)), ""
		case ep.path == "/api/v1/{raw}":
			req.path = "/api/v1/" + fzPathRaw(id)
		}
		req.readOnly = req.method == http.MethodGet
		a, ok := e.serve(t, req)
		if !ok {
			return
		}
		what := fmt.Sprintf("%s %s?%s as %s", req.method, req.path, req.query, credName)
		checkNative(t, what, a)
		if a.status >= 300 {
			return
		}
		if slices.Contains([]string{"none", "disabled", "expired"}, credName) {
			t.Fatalf("%s: %s without a valid credential", what, a)
		}
		privileged := credName == "key" || credName == "admin" || credName == "sup"
		m, _ := a.body.(map[string]any)
		switch ep.path {
		case "/api/v1/sessions":
			if !privileged {
				t.Fatalf("%s: %s", what, a)
			}
			wantKeys(t, what, m, []string{"sessions", "total"})
			for i, s := range m["sessions"].([]any) {
				checkNativeSession(t, fmt.Sprintf("%s: session %d", what, i), s)
			}
		case "/api/v1/sessions/{id}/events":
			wantKeys(t, what, m, []string{"events"})
		case "/api/v1/sessions/{id}/messages":
			wantKeys(t, what, m, []string{"events", "has_more"})
		case "/api/v1/customers/{id}/sessions":
			wantKeys(t, what, m, []string{"customer", "sessions", "total"})
			if strings.HasPrefix(credName, "cust") || credName == "bot" {
				t.Fatalf("%s: %s", what, a)
			}
		case "/api/v1/sessions/{id}":
			checkNativeSession(t, what, m)
			if req.method == http.MethodGet && !slices.Contains(fzReadable[credName], id) {
				t.Fatalf("%s: %s may not read %s", what, credName, id)
			}
		case "/api/v1/agents/{id}", "/api/v1/teams/{id}":
			if !privileged {
				t.Fatalf("%s: %s", what, a)
			}
		case "/api/v1/webhooks/{id}/failures", "/api/v1/webhooks/{id}", "/api/v1/webhooks/{id}/failures/{query}/replay", "/api/v1/agents/{id}/token":
			if credName != "key" && credName != "admin" {
				t.Fatalf("%s: %s for a non-admin", what, a)
			}
		}
	})
}

// fzOrigins are the fuzz world's SWITCHBOARD_ALLOWED_ORIGINS.
var fzOrigins = []string{"*.fz.test", "https://app.fz.test"}

// fzOriginAllowed is the documented rule of the CORS allow-list: the hub's
// own host (hub.test in the fuzz world), or a host (scheme://host for a
// pattern with a scheme) that matches a pattern, in any letter case.
func fzOriginAllowed(origin string) bool {
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false
	}
	if strings.EqualFold(u.Host, "hub.test") {
		return true
	}
	for _, p := range fzOrigins {
		target := u.Host
		if strings.Contains(p, "://") {
			target = u.Scheme + "://" + u.Host
		}
		if ok, _ := path.Match(strings.ToLower(p), strings.ToLower(target)); ok {
			return true
		}
	}
	return false
}

// FuzzNativeAuth sends a fuzzed Authorization header, and a fuzzed Origin,
// to endpoints of each kind of caller (op picks one). Only the admin key
// and the world's valid tokens, as "Bearer <credential>" in any letter
// case, may get anything but 401; a refused one gets exactly 401 with the
// surface's envelope; tokens of a disabled, expired or unknown agent and
// tampered tokens are refused. An Origin off the allow-list is refused with
// 403 before anything runs; an allowed one is named back in
// Access-Control-Allow-Origin.
func FuzzNativeAuth(f *testing.F) {
	e := newFzEnv(f)
	paths := []string{"/api/v1/sessions/" + fzA, "/api/v1/agents", "/api/v1/statuses", "/api/v1/directory",
		"/api/v1/sessions/" + fzA + "/messages", "/customer-service/stats"}
	tok := e.tokens["agent11"]
	dot := strings.LastIndexByte(tok, '.')
	seeds := []string{"", "Bearer " + fzAdminKey, "bearer " + fzAdminKey, "BEARER  " + fzAdminKey + " ", "Bearer " + fzAdminKey + "x",
		"Bearer", "Bearer ", "Basic " + fzAdminKey, fzAdminKey, "Bearer v1.", "Bearer v1..", "Bearer v1.x.y", "Bearer v2" + tok[2:],
		"Bearer " + tok, "Bearer " + tok[:len(tok)-1], "Bearer " + tok + "=", "Bearer " + tok[:dot] + "x" + tok[dot:],
		"Bearer " + tok[:dot] + "." + tok[dot:], "Bearer " + tok + " " + tok, "Bearer " + strings.Repeat("v1.", 2000),
		"Bearer " + e.tokens["disabled"], "Bearer " + e.tokens["expired"], "Bearer " + e.tokens["ghost"], "Bearer\t" + tok,
		"Bearer " + e.tokens["custA"], "Bearer " + e.tokens["bot"], "Bearer " + e.tokens["sup"], "Bearer " + e.tokens["admin"],
		"Bearer v1." + base64.RawURLEncoding.EncodeToString([]byte(`{"r":"agent","sub":"11","exp":99999999999}`)) + tok[dot:],
		"Bearer v1." + base64.RawURLEncoding.EncodeToString([]byte(`{"r":"system","sub":"x","exp":99999999999}`)) + ".",
		"Bearer é", "Bearer \xff\xfe",
	}
	for i, s := range seeds {
		f.Add(uint8(i), s, "")
	}
	for i, o := range []string{"https://hub.test", "https://HUB.TEST", "https://a.fz.test", "https://a.b.fz.test", "http://evil.example",
		"null", "https://a.fz.test.evil.example", "https://app.fz.test", "http://app.fz.test", "://", "https://[::1", "hub.test",
		"https://a.fz.test:8443", "https://hub.test@evil.example", "https://evil.example#.fz.test", "https://%2a.fz.test"} {
		f.Add(uint8(i), "Bearer "+fzAdminKey, o)
	}
	valid := append(e.validTokens(), fzAdminKey)
	f.Fuzz(func(t *testing.T, op uint8, auth, origin string) {
		path := paths[int(op)%len(paths)]
		req := fzRequest{method: http.MethodGet, path: path, auth: fzHeader(auth), origin: fzHeader(origin), readOnly: true}
		a, ok := e.serve(t, req)
		if !ok {
			return
		}
		what := fmt.Sprintf("GET %s with %q from %q", path, req.auth, req.origin)
		cs := strings.HasPrefix(path, "/customer-service/")
		if cs {
			checkCS(t, what, a)
		} else {
			checkNative(t, what, a)
		}
		if req.origin != "" && !cs {
			// An origin not allowed is refused before anything runs,
			// whatever the credential; an allowed one is named back.
			acao := a.header.Get("Access-Control-Allow-Origin")
			if !fzOriginAllowed(req.origin) {
				if em, _ := a.object()["error"].(map[string]any); a.status != http.StatusForbidden || em["message"] != "origin not allowed" || acao != "" {
					t.Fatalf("%s: %s (Access-Control-Allow-Origin %q), want 403 origin not allowed", what, a, acao)
				}
				return
			}
			if acao != req.origin {
				t.Fatalf("%s: Access-Control-Allow-Origin %q for an allowed origin", what, acao)
			}
		}
		cred, ok := fzBearer(req.auth)
		good := ok && (cred == fzAdminKey || !cs && slices.Contains(valid, cred))
		switch {
		case !good && a.status != http.StatusUnauthorized:
			t.Fatalf("%s: %s, want 401", what, a)
		case good && a.status == http.StatusUnauthorized:
			t.Fatalf("%s: %s for a valid credential", what, a)
		}
	})
}
