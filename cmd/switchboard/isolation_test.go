package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/api/client"
	"github.com/switchboardhq/switchboard/api/protocol"
	"github.com/switchboardhq/switchboard/api/usersig"
	"github.com/switchboardhq/switchboard/hub/redisstore/redistest"
)

// crossing is one attempt of tenant A's credentials on tenant B's things.
type crossing struct {
	method, path, body string
	host, header       string // how B is named: its host, the X-Switchboard-Tenant header, or ?tenant= in path
	auth               string // the whole Authorization header
}

// try makes attempt p on hub and checks that it is refused in its
// surface's format; what names the attempt in a failure.
func (p crossing) try(t *testing.T, hub *Main, what string) {
	t.Helper()
	req, _ := http.NewRequest(p.method, hub.URL()+p.path, strings.NewReader(p.body))
	req.Host = p.host
	if p.header != "" {
		req.Header.Set("X-Switchboard-Tenant", p.header)
	}
	if p.auth != "" {
		req.Header.Set("Authorization", p.auth)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(res.Body)
	res.Body.Close()
	path, _, _ := strings.Cut(p.path, "?")
	if why := surfaceRefusal(path, res.StatusCode, raw); why != "" {
		t.Errorf("%s: %s %s (host %q, header %q): %d %s: %s", what, p.method, p.path, p.host, p.header, res.StatusCode, raw, why)
	}
}

// surfaceRefusal checks that an answer is a refusal in the format of the
// surface the path belongs to, and returns why not ("" when it is).
func surfaceRefusal(path string, status int, body []byte) string {
	var v map[string]any
	if err := json.Unmarshal(body, &v); err != nil {
		return "not JSON: " + string(body)
	}
	switch {
	case strings.HasPrefix(path, "/v4/"): // Tencent-Desk: HTTP 200, ActionStatus FAIL
		if status != 200 || v["ActionStatus"] != "FAIL" || v["ErrorCode"] == nil {
			return "not a Tencent-Desk FAIL"
		}
		return ""
	case status != 401 && status != 403 && status != 404:
		return "status is not a refusal"
	case strings.HasPrefix(path, "/customer-service"):
		if v["code"] != float64(-1) || v["message"] == nil {
			return "not the Customer Service envelope"
		}
	case strings.HasPrefix(path, "/api/"):
		if e, _ := v["error"].(map[string]any); e == nil || e["code"] == nil || e["message"] == nil {
			return "not the native error object"
		}
	case strings.HasPrefix(path, "/apiv2/"):
		if v["error"] == nil || v["message"] == nil {
			return "not KF5's error body"
		}
	case strings.HasPrefix(path, "/apps/api/"):
		if v["message"] == nil {
			return "not CCAI's error body"
		}
	}
	return ""
}

// stateOf is an answer as JSON, less what changes with the clock (a
// session's duration).
func stateOf(body map[string]any) string {
	if d, ok := body["data"].(map[string]any); ok {
		delete(d, "duration")
	}
	raw, _ := json.Marshal(body)
	return string(raw)
}

// TestTenantIsolation makes over 200 attempts to use tenant A's
// credentials (admin key, agent token, customer token, an agent's KF5 Basic
// login, the CCAI and Tencent-Desk credentials of the deployment) on
// tenant B's host, sessions, history, webhooks and sockets, on two hubs:
// every one is refused in its surface's format, B's state is unchanged,
// and A's sockets get none of B's events.
func TestTenantIsolation(t *testing.T) {
	r := redistest.New(t)
	c := defaultConfig(t)
	c.RedisURL, c.KeyPrefix, c.AdminKey = r.URL, r.Prefix, "test-admin-key-0123456789"
	c.OperatorKey, c.TenantDomain = "test-operator-key-0123456789", "chat.test"
	c.CCAI.Key, c.CCAI.Secret = "ccai-key-0123456789", "ccai-secret-0123456789"
	hubs := []*Main{openMain(t, c), openMain(t, c)}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	type world struct {
		key, agentToken, customerToken, sid, basic string
		agent, customer                            *client.Client
	}
	worlds := map[string]*world{}
	for i, id := range []string{"acme", "globex"} {
		st, body := tenantCall(t, "POST", hubs[0].URL()+"/api/v1/operator/tenants", "", c.OperatorKey, `{"id":"`+id+`"}`)
		if st != http.StatusCreated {
			t.Fatalf("create %s: %d %v", id, st, body)
		}
		w := &world{key: body["admin_key"].(string)}
		worlds[id] = w
		host := id + ".chat.test"
		// The same agent id and e-mail in both tenants (they are per
		// tenant), each with its own password.
		pass := "correct-horse-" + id
		if st, body := tenantCall(t, "POST", hubs[i].URL()+"/api/v1/agents", host, w.key,
			`{"id":"agent_1","name":"Ada","email":"ada@same.test","role":"supervisor","password":"`+pass+`"}`); st != http.StatusCreated {
			t.Fatalf("%s: agent: %d %v", id, st, body)
		}
		w.basic = "Basic " + base64.StdEncoding.EncodeToString([]byte("ada@same.test:"+pass))
		_, login := tenantCall(t, "POST", hubs[i].URL()+"/api/v1/auth/login", host, "", `{"email":"ada@same.test","password":"`+pass+`"}`)
		w.agentToken = login["token"].(string)
		_, ws := tenantCall(t, "POST", hubs[1-i].URL()+"/api/v1/widget/sessions", host, "", `{"name":"Cy"}`)
		w.customerToken, w.sid = ws["token"].(string), ws["session"].(map[string]any)["id"].(string)
		var err error
		if w.agent, err = client.Dial(ctx, client.Config{URL: "ws" + strings.TrimPrefix(hubs[i].URL(), "http") + "/ws?tenant=" + id, Token: w.agentToken}); err != nil {
			t.Fatal(err)
		}
		defer w.agent.CloseNow()
		if w.customer, err = client.Dial(ctx, client.Config{URL: "ws" + strings.TrimPrefix(hubs[1-i].URL(), "http") + "/ws?tenant=" + id, Token: w.customerToken}); err != nil {
			t.Fatal(err)
		}
		defer w.customer.CloseNow()
		if st, body := tenantCall(t, "POST", hubs[i].URL()+"/customer-service/sessions/"+w.sid+"/assign", host, w.key,
			`{"agent_id":"agent_1","agent_name":"Ada"}`); st != http.StatusOK {
			t.Fatalf("%s: assign: %d %v", id, st, body)
		}
	}
	a, b := worlds["acme"], worlds["globex"]
	before := map[string]string{}
	for _, path := range []string{"/customer-service/sessions/" + b.sid, "/api/v1/webhooks"} {
		_, body := tenantCall(t, "GET", hubs[0].URL()+path, "globex.chat.test", b.key, "")
		before[path] = stateOf(body)
	}

	// The attempts: each of A's credentials, on each of B's things, with B
	// named by host, by header and by parameter, on both hubs.
	creds := map[string]string{
		"A's admin key": "Bearer " + a.key, "A's agent token": "Bearer " + a.agentToken,
		"A's customer token": "Bearer " + a.customerToken, "A's agent login (Basic)": a.basic,
	}
	targets := []struct{ method, path, body string }{
		{"GET", "/customer-service/sessions/" + b.sid, ""},
		{"GET", "/customer-service/sessions", ""},
		{"DELETE", "/customer-service/sessions/" + b.sid, ""},
		{"POST", "/customer-service/sessions/" + b.sid + "/assign", `{"agent_id":"agent_1","agent_name":"Ada"}`},
		{"GET", "/api/v1/sessions/" + b.sid, ""},
		{"GET", "/api/v1/sessions/" + b.sid + "/events", ""},
		{"GET", "/api/v1/sessions/" + b.sid + "/messages", ""},
		{"DELETE", "/api/v1/sessions/" + b.sid, ""},
		{"GET", "/api/v1/webhooks", ""},
		{"POST", "/api/v1/webhooks", `{"url":"https://evil.example/hook"}`},
		{"GET", "/api/v1/agents", ""},
		{"GET", "/apiv2/chats.json", ""},
		{"GET", "/apiv2/chats/1.json", ""},
		{"POST", "/api/v1/sessions/" + b.sid + "/rating", `{"score":1}`},
		{"POST", "/api/v1/sessions/" + b.sid + "/transfer", `{"agent_id":"agent_1"}`},
		{"GET", "/api/v1/teams", ""},
		{"GET", "/api/v1/queue", ""},
		{"GET", "/api/v1/stats", ""},
		{"GET", "/api/v1/sessions", ""},
		{"GET", "/customer-service/stats", ""},
	}
	names := []struct{ host, header, query string }{
		{host: "globex.chat.test"}, {header: "globex"}, {query: "tenant=globex"},
	}
	attempts := 0
	for name, auth := range creds {
		for _, tg := range targets {
			for k, n := range names {
				p := crossing{method: tg.method, path: tg.path, body: tg.body, host: n.host, header: n.header, auth: auth}
				if n.query != "" {
					p.path += "?" + n.query
				}
				p.try(t, hubs[k%2], name)
				attempts++
			}
		}
	}
	// The deployment's CCAI and Tencent-Desk credentials name the default
	// tenant: on B's host they are refused too.
	ccai := "Basic " + base64.StdEncoding.EncodeToString([]byte(c.CCAI.Key+":"+c.CCAI.Secret))
	for _, hub := range hubs {
		for _, p := range []crossing{
			{method: "GET", path: "/apps/api/v1/agent_statuses", host: "globex.chat.test", auth: ccai},
			{method: "GET", path: "/apps/api/v1/agent_statuses?tenant=globex", auth: ccai},
			{method: "POST", path: "/v4/desk_http_svc/get_session_state?sdkappid=1400000000&identifier=admin&usersig=x&random=1&contenttype=json",
				host: "globex.chat.test", body: `{"SessionId":"` + b.sid + `"}`},
		} {
			p.try(t, hub, "the deployment's credentials on B")
			attempts++
		}
	}
	// A's own CCAI key and sdkappid (set by the operator) on B's host, header
	// and parameter.
	if st, body := tenantCall(t, "PUT", hubs[0].URL()+"/api/v1/operator/tenants/acme/credentials", "", c.OperatorKey,
		`{"ccai_key":"acme-ccai-key","ccai_secret":"acme-ccai-secret-0123456789","sdkappid":1400000777,"usersig_key":"acme-usersig-key-0123456789","admin_identifiers":["acme-admin"]}`); st != http.StatusOK {
		t.Fatalf("acme's credentials: %d %v", st, body)
	}
	sig, err := usersig.Sign("acme-usersig-key-0123456789", 1400000777, "acme-admin", time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	acmeCCAI := "Basic " + base64.StdEncoding.EncodeToString([]byte("acme-ccai-key:acme-ccai-secret-0123456789"))
	tencentQuery := "/v4/desk_http_svc/get_session_state?sdkappid=1400000777&identifier=acme-admin&usersig=" + url.QueryEscape(sig) + "&random=1&contenttype=json"
	for _, hub := range hubs {
		for _, p := range []crossing{
			{method: "GET", path: "/apps/api/v1/agent_statuses", host: "globex.chat.test", auth: acmeCCAI},
			{method: "GET", path: "/apps/api/v1/agent_statuses?tenant=globex", auth: acmeCCAI},
			{method: "GET", path: "/apps/api/v1/agent_statuses", header: "globex", auth: acmeCCAI},
			{method: "POST", path: tencentQuery, host: "globex.chat.test", body: `{"SessionId":"` + b.sid + `"}`},
			{method: "POST", path: tencentQuery + "&tenant=globex", body: `{"SessionId":"` + b.sid + `"}`},
			// Named by its own sdkappid, A's query reaches A, where B's session is not.
			{method: "POST", path: tencentQuery, body: `{"SessionId":"` + b.sid + `"}`},
		} {
			p.try(t, hub, "A's own CCAI key or usersig on B")
			attempts++
		}
	}
	// Sockets: A's tokens on B's socket endpoint are refused with 4500.
	for _, tok := range []string{a.agentToken, a.customerToken} {
		for _, hub := range hubs {
			_, err := client.Dial(ctx, client.Config{URL: "ws" + strings.TrimPrefix(hub.URL(), "http") + "/ws?tenant=globex", Token: tok})
			var ce *client.CloseError
			attempts++
			if !errors.As(err, &ce) || ce.Code != protocol.CloseUnauthorized {
				t.Errorf("A's token on B's socket: %v; want close %d", err, protocol.CloseUnauthorized)
			}
		}
	}
	if attempts < 200 {
		t.Fatalf("only %d attempts", attempts)
	}
	t.Logf("%d attempts to cross from acme to globex, all refused", attempts)

	// B's session and webhooks are as they were.
	for path, want := range before {
		_, body := tenantCall(t, "GET", hubs[1].URL()+path, "globex.chat.test", b.key, "")
		if now := stateOf(body); now != want {
			t.Errorf("B's %s changed:\n was %s\n now %s", path, want, now)
		}
	}
	// B's chat goes on; A's sockets see none of it, and then A's own.
	for _, m := range []struct {
		c    *client.Client
		text string
	}{{b.customer, "globex secret 1"}, {b.agent, "globex secret 2"}, {a.customer, "acme hello"}} {
		if _, err := m.c.Send(ctx, map[*client.Client]string{b.customer: b.sid, b.agent: b.sid, a.customer: a.sid}[m.c], m.text); err != nil {
			t.Fatal(err)
		}
	}
	waitText(ctx, t, b.agent, "B's agent", "globex secret 1")
	for who, s := range map[string]*client.Client{"A's agent": a.agent, "A's customer": a.customer} {
		for {
			var f client.Frame
			select {
			case f = <-s.Events():
			case <-ctx.Done():
				t.Fatalf("%s never got A's own message", who)
			}
			if strings.Contains(string(f.Raw), "globex") || f.SessionID == b.sid {
				t.Fatalf("%s got B's event: %s", who, f.Raw)
			}
			if got, _, _ := f.Message(); got == "acme hello" {
				break
			}
		}
	}
}
