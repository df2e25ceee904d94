package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/api/client"
	"github.com/switchboardhq/switchboard/api/protocol"
	"github.com/switchboardhq/switchboard/hub/redisstore/redistest"
)

// tenantCall makes one request with a Host header (none when "") and a
// Bearer credential (none when ""), and returns the status and the JSON body.
func tenantCall(t *testing.T, method, url, host, auth, body string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	if host != "" {
		req.Host = host
	}
	if auth != "" {
		req.Header.Set("Authorization", "Bearer "+auth)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	var out map[string]any
	json.Unmarshal(b, &out)
	return res.StatusCode, out
}

// TestTenantsEndToEnd runs two tenants beside the default one on two
// instances sharing one Redis: each tenant's key, host and tokens reach its
// own contact center only, a quota stops one tenant and not the others,
// and disabling a tenant refuses its APIs in their own formats and closes
// its sockets on the other instance.
func TestTenantsEndToEnd(t *testing.T) {
	r := redistest.New(t)
	c := defaultConfig(t)
	c.RedisURL, c.KeyPrefix, c.AdminKey = r.URL, r.Prefix, "test-admin-key-0123456789"
	c.OperatorKey, c.TenantDomain = "test-operator-key-0123456789", "chat.test"
	a, b := openMain(t, c), openMain(t, c)

	keys := map[string]string{}
	for _, id := range []string{"acme", "globex"} {
		st, body := tenantCall(t, "POST", a.URL()+"/api/v1/operator/tenants", "", c.OperatorKey,
			`{"id":"`+id+`","settings":{"max_open_sessions":2}}`)
		if st != http.StatusCreated {
			t.Fatalf("create %s: %d %v", id, st, body)
		}
		keys[id] = body["admin_key"].(string)
	}
	keys["default"] = c.AdminKey

	// Each tenant creates a session with its key alone (no host), on A.
	sessions := map[string]string{}
	for _, id := range []string{"acme", "globex", "default"} {
		st, body := tenantCall(t, "POST", a.URL()+"/customer-service/sessions", "", keys[id], `{"title":"`+id+`","customer_name":"Ann"}`)
		if st != http.StatusOK && st != http.StatusCreated {
			t.Fatalf("%s: create a session: %d %v", id, st, body)
		}
		sessions[id] = body["data"].(map[string]any)["id"].(string)
	}
	// On B, each key reads its own tenant's session and nobody else's.
	for owner, sid := range sessions {
		for who, key := range keys {
			st, body := tenantCall(t, "GET", b.URL()+"/customer-service/sessions/"+sid, "", key, "")
			if who == owner && st != http.StatusOK {
				t.Errorf("%s cannot read its session %s: %d %v", who, sid, st, body)
			}
			if who != owner && (st != http.StatusNotFound || body["message"] != "session not found") {
				t.Errorf("%s reads %s's session %s: %d %v", who, owner, sid, st, body)
			}
		}
	}

	// By host: the tenant's own key works there, another tenant's key and
	// the deployment's admin key are refused, in the surface's format.
	host := "acme.chat.test"
	if st, body := tenantCall(t, "GET", b.URL()+"/customer-service/sessions/"+sessions["acme"], host, keys["acme"], ""); st != 200 {
		t.Fatalf("acme on its host: %d %v", st, body)
	}
	for _, who := range []string{"globex", "default"} {
		st, body := tenantCall(t, "GET", b.URL()+"/customer-service/stats", host, keys[who], "")
		if st != http.StatusUnauthorized || body["code"] != float64(-1) {
			t.Errorf("%s's key on acme's host: %d %v; want 401 in the Customer Service envelope", who, st, body)
		}
	}
	if st, body := tenantCall(t, "GET", b.URL()+"/customer-service/stats", "nobody.chat.test", keys["acme"], ""); st != http.StatusNotFound || body["message"] != "tenant not found" {
		t.Errorf("an unknown tenant's host: %d %v", st, body)
	}
	if st, body := tenantCall(t, "GET", b.URL()+"/api/v1/sessions/"+sessions["acme"], "nobody.chat.test", keys["acme"], ""); st != http.StatusNotFound ||
		body["error"].(map[string]any)["message"] != "tenant not found" {
		t.Errorf("an unknown tenant's host, native API: %d %v", st, body)
	}

	// The quota (2 open sessions) stops acme; globex and default go on.
	tenantCall(t, "POST", a.URL()+"/customer-service/sessions", "", keys["acme"], `{"title":"2","customer_name":"Bo"}`)
	if st, body := tenantCall(t, "POST", b.URL()+"/customer-service/sessions", "", keys["acme"], `{"title":"3","customer_name":"Cy"}`); st != http.StatusTooManyRequests || body["message"] != "max sessions reached" {
		t.Fatalf("acme past its quota: %d %v", st, body)
	}
	for _, who := range []string{"globex", "default"} {
		if st, body := tenantCall(t, "POST", b.URL()+"/customer-service/sessions", "", keys[who], `{"title":"2","customer_name":"Bo"}`); st != http.StatusOK && st != http.StatusCreated {
			t.Fatalf("%s while acme is at its quota: %d %v", who, st, body)
		}
	}

	// An agent of acme logs in on acme's host; its token names acme, works
	// with no host, and is refused on globex's host.
	if st, body := tenantCall(t, "POST", a.URL()+"/api/v1/agents", host, keys["acme"],
		`{"id":"agent_rita","name":"Rita","email":"rita@acme.test","role":"supervisor","password":"correct-horse-9"}`); st != http.StatusCreated {
		t.Fatalf("create acme's agent: %d %v", st, body)
	}
	st, login := tenantCall(t, "POST", b.URL()+"/api/v1/auth/login", host, "", `{"email":"rita@acme.test","password":"correct-horse-9"}`)
	if st != http.StatusOK {
		t.Fatalf("login on acme's host: %d %v", st, login)
	}
	if st, body := tenantCall(t, "POST", b.URL()+"/api/v1/auth/login", "", "", `{"email":"rita@acme.test","password":"correct-horse-9"}`); st != http.StatusUnauthorized {
		t.Fatalf("acme's agent logs in to the default tenant: %d %v", st, body)
	}
	token := login["token"].(string)
	if st, body := tenantCall(t, "GET", a.URL()+"/api/v1/agents/agent_rita", "", token, ""); st != http.StatusOK {
		t.Fatalf("acme's token with no host: %d %v", st, body)
	}
	if st, body := tenantCall(t, "GET", a.URL()+"/api/v1/agents/agent_rita", "globex.chat.test", token, ""); st != http.StatusUnauthorized {
		t.Fatalf("acme's token on globex's host: %d %v", st, body)
	}

	// Rita's socket is on B; the operator disables acme on A.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ws, err := client.Dial(ctx, client.Config{URL: "ws" + strings.TrimPrefix(b.URL(), "http") + "/ws?tenant=acme", Token: token})
	if err != nil {
		t.Fatalf("acme's agent socket: %v", err)
	}
	defer ws.CloseNow()
	if st, body := tenantCall(t, "PATCH", a.URL()+"/api/v1/operator/tenants/acme", "", c.OperatorKey, `{"disabled":true}`); st != 200 {
		t.Fatalf("disable: %d %v", st, body)
	}
	// The instance that made the change applies it at once.
	if st, body := tenantCall(t, "GET", a.URL()+"/customer-service/stats", "", keys["acme"], ""); st != http.StatusForbidden {
		t.Fatalf("right after disabling, on the same instance: %d %v", st, body)
	}
	select {
	case <-ws.Done():
	case <-ctx.Done():
		t.Fatal("acme's socket on B still open 20 s after acme was disabled")
	}
	var ce *client.CloseError
	if err := ws.Err(); !errors.As(err, &ce) || ce.Code != protocol.CloseTenantDisabled {
		t.Fatalf("acme's socket ended with %v; want close code %d", err, protocol.CloseTenantDisabled)
	}
	// Every surface refuses acme now, in its own format; globex is served.
	if st, body := tenantCall(t, "GET", b.URL()+"/customer-service/stats", "", keys["acme"], ""); st != http.StatusForbidden || body["message"] != "tenant disabled" {
		t.Errorf("a disabled tenant's key: %d %v", st, body)
	}
	if st, body := tenantCall(t, "GET", a.URL()+"/api/v1/agents/agent_rita", host, token, ""); st != http.StatusForbidden ||
		body["error"].(map[string]any)["code"] != "forbidden" {
		t.Errorf("a disabled tenant's host, native API: %d %v", st, body)
	}
	if st, body := tenantCall(t, "GET", b.URL()+"/customer-service/stats", "", keys["globex"], ""); st != http.StatusOK {
		t.Errorf("globex while acme is disabled: %d %v", st, body)
	}
}

// twoTenants starts two instances on one Redis with the operator API on,
// and creates tenants acme and globex through the first with the
// operator's body extra (settings) merged in; it returns their admin keys.
func twoTenants(t *testing.T, extra string) (c Config, a, b *Main, keys map[string]string) {
	t.Helper()
	r := redistest.New(t)
	c = defaultConfig(t)
	c.RedisURL, c.KeyPrefix, c.AdminKey = r.URL, r.Prefix, "test-admin-key-0123456789"
	c.OperatorKey = "test-operator-key-0123456789"
	a, b = openMain(t, c), openMain(t, c)
	keys = map[string]string{}
	for _, id := range []string{"acme", "globex"} {
		st, body := tenantCall(t, "POST", a.URL()+"/api/v1/operator/tenants", "", c.OperatorKey, `{"id":"`+id+`"`+extra+`}`)
		if st != http.StatusCreated {
			t.Fatalf("create %s: %d %v", id, st, body)
		}
		keys[id] = body["admin_key"].(string)
	}
	return c, a, b, keys
}

// TestTenantSettingsApplyLive: a tenant's settings changed through the
// operator API on one instance take effect on another that already serves
// the tenant, within the registry re-read, with no restart: its agent
// statuses replace the deployment's, its allowed origins join the
// deployment's (for it alone), and its max open sessions bind.
func TestTenantSettingsApplyLive(t *testing.T) {
	c, a, b, keys := twoTenants(t, `,"settings":{"statuses":["lunch"]}`)
	acme := keys["acme"]
	if st, body := tenantCall(t, "POST", b.URL()+"/api/v1/agents", "", acme,
		`{"id":"agent_rita","name":"Rita","email":"rita@acme.test","role":"agent","password":"correct-horse-9"}`); st != http.StatusCreated {
		t.Fatalf("create acme's agent: %d %v", st, body)
	}
	setStatus := func(status string) (int, map[string]any) {
		return tenantCall(t, "PUT", b.URL()+"/api/v1/agents/agent_rita/status", "", acme, `{"status":"`+status+`"}`)
	}
	if st, body := setStatus("lunch"); st != http.StatusOK {
		t.Fatalf("acme's own status lunch on B: %d %v", st, body)
	}
	if st, _ := setStatus("meeting"); st != http.StatusBadRequest {
		t.Fatalf("a status acme does not have: %d, want 400", st)
	}
	// withOrigin calls GET /api/v1/statuses on B from a browser page at origin.
	withOrigin := func(key, origin string) (int, string) {
		req, _ := http.NewRequest("GET", b.URL()+"/api/v1/statuses", nil)
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Origin", origin)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode, res.Header.Get("Access-Control-Allow-Origin")
	}
	const shop = "https://shop.acme.test"
	if st, _ := withOrigin(acme, shop); st != http.StatusForbidden {
		t.Fatalf("acme's shop before it is allowed: %d, want 403", st)
	}

	// The operator changes acme's settings through A.
	if st, body := tenantCall(t, "PATCH", a.URL()+"/api/v1/operator/tenants/acme", "", c.OperatorKey,
		`{"settings":{"statuses":["coffee"],"allowed_origins":["`+shop+`"],"max_open_sessions":1}}`); st != http.StatusOK {
		t.Fatalf("patch acme: %d %v", st, body)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, _ := setStatus("coffee")
		if st == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("B still refuses acme's new status coffee 10 s after the change: %d", st)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if st, body := setStatus("lunch"); st != http.StatusBadRequest {
		t.Errorf("acme's old status lunch after the change: %d %v, want 400", st, body)
	}
	if st, allow := withOrigin(acme, shop); st != http.StatusOK || allow != shop {
		t.Errorf("acme's shop after it is allowed: %d, Access-Control-Allow-Origin %q", st, allow)
	}
	if st, _ := withOrigin(keys["globex"], shop); st != http.StatusForbidden {
		t.Errorf("acme's shop calling globex: %d, want 403", st)
	}
	if st, body := tenantCall(t, "GET", b.URL()+"/api/v1/statuses", "", keys["globex"], ""); st != http.StatusOK ||
		fmt.Sprint(body["statuses"]) != "[Available lunch]" {
		t.Errorf("globex's statuses after acme's change: %d %v, want its own [Available lunch]", st, body)
	}
	if st, body := tenantCall(t, "POST", b.URL()+"/customer-service/sessions", "", acme, `{"title":"1","customer_name":"Ann"}`); st != http.StatusOK && st != http.StatusCreated {
		t.Fatalf("acme's first session: %d %v", st, body)
	}
	if st, body := tenantCall(t, "POST", b.URL()+"/customer-service/sessions", "", acme, `{"title":"2","customer_name":"Bo"}`); st != http.StatusTooManyRequests || body["message"] != "max sessions reached" {
		t.Errorf("acme past its new quota of 1: %d %v", st, body)
	}
	if st, body := tenantCall(t, "POST", b.URL()+"/customer-service/sessions", "", keys["globex"], `{"title":"2","customer_name":"Bo"}`); st != http.StatusOK && st != http.StatusCreated {
		t.Errorf("globex, unaffected by acme's quota: %d %v", st, body)
	}

	// B's /metrics counts each tenant's requests apart.
	res, err := http.Get(b.URL() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(res.Body)
	res.Body.Close()
	for _, want := range []string{
		`switchboard_tenant_http_requests_total{code="4xx",tenant="acme"}`,
		`switchboard_tenant_http_requests_total{code="2xx",tenant="globex"}`,
	} {
		if !strings.Contains(string(raw), want) {
			t.Errorf("B's /metrics has no %s", want)
		}
	}
	if strings.Contains(string(raw), `tenant="default"`) || strings.Contains(string(raw), `tenant="unnamed"`) {
		t.Errorf("B's /metrics labels the default tenant's figures, which are the unlabelled ones")
	}
}

// TestOperatorManagesTenantWebhooks: the operator adds, lists and removes
// a tenant's webhook endpoints under /api/v1/operator/tenants/{id}/webhooks,
// the same endpoints the tenant's admin sees on /api/v1/webhooks, and they
// receive that tenant's events only.
func TestOperatorManagesTenantWebhooks(t *testing.T) {
	c, a, b, keys := twoTenants(t, "")
	// acme is served on B (its first request), then the operator adds its
	// endpoint through B: B's sender for acme starts on it at once.
	tenantCall(t, "GET", b.URL()+"/customer-service/stats", "", keys["acme"], "")
	const secret = "operator-hook-secret-0123456789"
	recv := newHookRecv(t, secret, nil)
	st, ep := tenantCall(t, "POST", b.URL()+"/api/v1/operator/tenants/acme/webhooks", "", c.OperatorKey,
		`{"url":"`+recv.URL+`","events":["session.created"],"secret":"`+secret+`"}`)
	if st != http.StatusCreated || ep["id"] == nil {
		t.Fatalf("the operator adds acme's endpoint: %d %v", st, ep)
	}
	id := ep["id"].(string)
	for who, want := range map[string]int{"acme": 1, "globex": 0} {
		st, body := tenantCall(t, "GET", a.URL()+"/api/v1/webhooks", "", keys[who], "")
		if n := len(body["webhooks"].([]any)); st != http.StatusOK || n != want {
			t.Errorf("%s's admin lists %d endpoints (%d), want %d", who, n, st, want)
		}
	}
	if st, body := tenantCall(t, "GET", a.URL()+"/api/v1/operator/tenants/acme/webhooks/"+id, "", c.OperatorKey, ""); st != http.StatusOK || body["url"] != recv.URL || body["secret"] != nil {
		t.Errorf("the operator reads acme's endpoint: %d %v", st, body)
	}
	for _, bad := range []struct {
		path, key string
		status    int
	}{
		{"/api/v1/operator/tenants/nobody/webhooks", c.OperatorKey, http.StatusNotFound},
		{"/api/v1/operator/tenants/acme/webhooks", keys["acme"], http.StatusUnauthorized},
		{"/api/v1/operator/tenants/globex/webhooks/" + id, c.OperatorKey, http.StatusNotFound},
	} {
		if st, body := tenantCall(t, "GET", a.URL()+bad.path, "", bad.key, ""); st != bad.status || body["error"] == nil {
			t.Errorf("GET %s: %d %v, want %d in the native format", bad.path, st, body, bad.status)
		}
	}

	// Each tenant opens a session; the endpoint gets acme's only.
	sids := map[string]string{}
	for _, who := range []string{"globex", "acme"} {
		st, body := tenantCall(t, "POST", a.URL()+"/customer-service/sessions", "", keys[who], `{"title":"t","customer_name":"Ann"}`)
		if st != http.StatusOK && st != http.StatusCreated {
			t.Fatalf("%s: create a session: %d %v", who, st, body)
		}
		sids[who] = body["data"].(map[string]any)["id"].(string)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := recv.all()
		if len(got) > 0 {
			for _, q := range got {
				sid := ""
				if q.Payload.Session != nil {
					sid = q.Payload.Session.ID
				}
				if q.SigErr != nil || sid != sids["acme"] {
					t.Fatalf("the endpoint got %s for session %q (%v); want acme's %s only", q.Event, sid, q.SigErr, sids["acme"])
				}
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("acme's endpoint got nothing in 10 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if st, _ := tenantCall(t, "DELETE", a.URL()+"/api/v1/operator/tenants/acme/webhooks/"+id, "", c.OperatorKey, ""); st != http.StatusNoContent {
		t.Errorf("the operator removes acme's endpoint: %d", st)
	}
	if st, body := tenantCall(t, "GET", b.URL()+"/api/v1/webhooks", "", keys["acme"], ""); st != http.StatusOK || len(body["webhooks"].([]any)) != 0 {
		t.Errorf("acme's endpoints after the removal: %d %v", st, body)
	}
}
