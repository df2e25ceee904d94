package api_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/switchboardhq/switchboard/api"
	"github.com/switchboardhq/switchboard/hub"
)

// wantNativeError checks a native API error: its status and code.
func wantNativeError(t *testing.T, res response, status int, code string) {
	t.Helper()
	e, _ := res.Body["error"].(map[string]any)
	if res.Status != status || e == nil || e["code"] != code || e["message"] == "" {
		t.Fatalf("got %s, want %d with error code %q", res, status, code)
	}
}

func TestOperatorTenantsLifecycle(t *testing.T) {
	e := newEnv(t, hub.Policy{}, 2)
	created := e.do("POST", "/api/v1/operator/tenants",
		`{"id":"acme","name":"Acme Inc","settings":{"max_open_sessions":50,"allowed_origins":["https://shop.acme.test"],"retention_days":90}}`, operatorKey)
	if created.Status != http.StatusCreated || created.Header.Get("Location") != "/api/v1/operator/tenants/acme" {
		t.Fatalf("create: %s (Location %q)", created, created.Header.Get("Location"))
	}
	key := str(t, created.Body, "admin_key")
	if !strings.HasPrefix(key, "sk_") || len(key) != 35 {
		t.Fatalf("admin key %q: want sk_ and 32 random characters", key)
	}
	if got, err := e.hubs[0].store.Tenants().TenantByKey(context.Background(), hub.HashKey(key)); err != nil || got != "acme" {
		t.Fatalf("the key does not lead to its tenant: %q, %v", got, err)
	}

	// Another instance sees it; the key is never shown again.
	got := e.hubs[1].do("GET", "/api/v1/operator/tenants/acme", "", operatorKey)
	if got.Status != http.StatusOK || got.Body["admin_key"] != nil || got.Body["name"] != "Acme Inc" || got.Body["disabled"] != false {
		t.Fatalf("get: %s", got)
	}
	settings := got.Body["settings"].(map[string]any)
	if num(t, settings, "max_open_sessions") != 50 || num(t, settings, "retention_days") != 90 {
		t.Fatalf("settings: %v", settings)
	}
	list := e.do("GET", "/api/v1/operator/tenants", "", operatorKey)
	ts, _ := list.Body["tenants"].([]any)
	if list.Status != http.StatusOK || len(ts) != 2 || ts[0].(map[string]any)["id"] != "default" ||
		ts[0].(map[string]any)["default"] != true || ts[1].(map[string]any)["id"] != "acme" {
		t.Fatalf("list: %s", list)
	}

	// Disable, then enable, keeping the settings.
	off := e.hubs[1].do("PATCH", "/api/v1/operator/tenants/acme", `{"disabled":true}`, operatorKey)
	if off.Status != http.StatusOK || off.Body["disabled"] != true || num(t, off.Body["settings"].(map[string]any), "max_open_sessions") != 50 {
		t.Fatalf("disable: %s", off)
	}
	if got := e.do("GET", "/api/v1/operator/tenants/acme", "", operatorKey); got.Body["disabled"] != true {
		t.Fatalf("after disable: %s", got)
	}
	on := e.do("PATCH", "/api/v1/operator/tenants/acme", `{"disabled":false,"settings":{"agent_capacity":3}}`, operatorKey)
	if on.Body["disabled"] != false || num(t, on.Body["settings"].(map[string]any), "agent_capacity") != 3 {
		t.Fatalf("enable with new settings: %s", on)
	}

	// Rotation: the new key works, the old one is gone.
	rot := e.do("POST", "/api/v1/operator/tenants/acme/keys/rotate", "", operatorKey)
	key2 := str(t, rot.Body, "admin_key")
	if rot.Status != http.StatusOK || key2 == key {
		t.Fatalf("rotate: %s", rot)
	}
	reg := e.hubs[1].store.Tenants()
	if _, err := reg.TenantByKey(context.Background(), hub.HashKey(key)); err != hub.ErrTenantNotFound {
		t.Fatalf("old key after rotation: %v", err)
	}
	if id, err := reg.TenantByKey(context.Background(), hub.HashKey(key2)); err != nil || id != "acme" {
		t.Fatalf("new key: %q, %v", id, err)
	}
}

func TestOperatorRefusals(t *testing.T) {
	e := newEnv(t, hub.Policy{}, 1)
	// This test's keys only, the default tenant's {sbt…} and every tenant's
	// {sbt…:id}: other tests write to the same redis-server meanwhile.
	own := strings.TrimSuffix(e.r.Prefix, "}") + "*"
	before := e.r.Client.Keys(context.Background(), own).Val()
	for _, c := range []struct {
		name, method, path, body, key string
		status                        int
		code                          string
	}{
		{"no key", "GET", "/api/v1/operator/tenants", "", "", 401, hub.EUNAUTHORIZED},
		{"a tenant's admin key", "GET", "/api/v1/operator/tenants", "", adminKey, 401, hub.EUNAUTHORIZED},
		{"wrong key", "POST", "/api/v1/operator/tenants", `{"id":"acme"}`, operatorKey + "x", 401, hub.EUNAUTHORIZED},
		{"malformed JSON", "POST", "/api/v1/operator/tenants", `{"id":"acme"`, operatorKey, 400, hub.EINVALID},
		{"unknown member", "POST", "/api/v1/operator/tenants", `{"id":"acme","owner":"x"}`, operatorKey, 400, hub.EINVALID},
		{"unknown setting", "POST", "/api/v1/operator/tenants", `{"id":"acme","settings":{"max_sessions":3}}`, operatorKey, 400, hub.EINVALID},
		{"bad id", "POST", "/api/v1/operator/tenants", `{"id":"Acme Inc"}`, operatorKey, 400, hub.EINVALID},
		{"no id", "POST", "/api/v1/operator/tenants", `{"name":"Acme"}`, operatorKey, 400, hub.EINVALID},
		{"reserved id", "POST", "/api/v1/operator/tenants", `{"id":"default"}`, operatorKey, 409, hub.ECONFLICT},
		{"bad origin", "POST", "/api/v1/operator/tenants", `{"id":"acme","settings":{"allowed_origins":["https://shop.test/path"]}}`, operatorKey, 400, hub.EINVALID},
		{"bad capacity", "POST", "/api/v1/operator/tenants", `{"id":"acme","settings":{"agent_capacity":-1}}`, operatorKey, 400, hub.EINVALID},
		{"unknown tenant", "GET", "/api/v1/operator/tenants/nobody", "", operatorKey, 404, hub.ENOTFOUND},
		{"patch unknown", "PATCH", "/api/v1/operator/tenants/nobody", `{"disabled":true}`, operatorKey, 404, hub.ENOTFOUND},
		{"rotate unknown", "POST", "/api/v1/operator/tenants/nobody/keys/rotate", "", operatorKey, 404, hub.ENOTFOUND},
		{"disable the default", "PATCH", "/api/v1/operator/tenants/default", `{"disabled":true}`, operatorKey, 409, hub.ECONFLICT},
		{"rotate the default", "POST", "/api/v1/operator/tenants/default/keys/rotate", "", operatorKey, 409, hub.ECONFLICT},
		{"wrong method", "DELETE", "/api/v1/operator/tenants", "", operatorKey, 405, hub.EINVALID},
		{"unknown path", "GET", "/api/v1/operator/nothing", "", operatorKey, 404, hub.ENOTFOUND},
	} {
		t.Run(c.name, func(t *testing.T) {
			wantNativeError(t, e.do(c.method, c.path, c.body, c.key), c.status, c.code)
		})
	}
	if after := e.r.Client.Keys(context.Background(), own).Val(); len(after) != len(before) {
		t.Fatalf("refused requests wrote keys: %v -> %v", before, after)
	}
	if got := e.do("POST", "/api/v1/operator/tenants", `{"id":"acme"}`, operatorKey); got.Status != http.StatusCreated {
		t.Fatalf("create: %s", got)
	}
	wantNativeError(t, e.do("POST", "/api/v1/operator/tenants", `{"id":"acme"}`, operatorKey), 409, hub.ECONFLICT)
}

// TestOperatorAPIOff: with no operator key the API is not there at all.
func TestOperatorAPIOff(t *testing.T) {
	e := newEnv(t, hub.Policy{}, 1)
	srv := api.NewServer(api.Config{Sessions: hub.NewService(e.hubs[0].store, hub.Policy{AgentCapacity: 1}, nil),
		Agents: e.hubs[0].store, AdminKey: adminKey, Ping: e.hubs[0].store.Ping})
	ts := httptest.NewServer(srv)
	defer ts.Close()
	off := &instance{t: t, ts: ts}
	for _, key := range []string{"", operatorKey, adminKey} {
		wantNativeError(t, off.do("GET", "/api/v1/operator/tenants", "", key), 404, hub.ENOTFOUND)
	}
}

// FuzzOperatorBodies sends fuzzed bodies to the operator API's create,
// update and credentials: every answer is JSON, a refusal is the native error envelope and
// writes nothing, and a success shows a tenant with a valid id whose
// settings and credentials pass validation, and no answer shows a secret.
func FuzzOperatorBodies(f *testing.F) {
	e := newEnv(f, hub.Policy{}, 1)
	if got := e.do("POST", "/api/v1/operator/tenants", `{"id":"base"}`, operatorKey); got.Status != http.StatusCreated {
		f.Fatalf("seed tenant: %s", got)
	}
	const create, patch, creds = 0, 1, 2
	for _, s := range []struct {
		op   uint8
		body string
	}{
		{create, `{"id":"acme","name":"Acme","settings":{"max_open_sessions":5}}`}, {create, `{"id":"a"}`},
		{create, `{"id":"acme","settings":{"allowed_origins":["https://a.test"],"statuses":["Lunch"]}}`},
		{create, `{"id":"acme","settings":null}`}, {create, `{"id":"acme","settings":[]}`}, {create, `{"id":"-x-"}`},
		{patch, `{"disabled":true}`}, {patch, `{"name":"B","settings":{"retention_days":3650}}`}, {patch, `{"settings":{"agent_capacity":1001}}`},
		{patch, `{"disabled":"yes"}`}, {patch, `{}`}, {patch, `{"settings":{"allowed_origins":["http://x.test:8080"]}}`},
		{creds, `{"ccai_key":"key-0123","ccai_secret":"secret-0123456789ab"}`}, {creds, `{"sdkappid":1400000777,"usersig_key":"usersig-key-0123456"}`},
		{creds, `{"sdkappid":-1}`}, {creds, `{"admin_identifiers":["a b"]}`}, {creds, `{"ccai_key":"k"}`}, {creds, `{}`},
		{creds, `{"identity_secret":"identity-0123456789"}`}, {creds, `{"identity_secret":"short"}`},
	} {
		f.Add(s.op, s.body)
	}
	f.Fuzz(func(t *testing.T, op uint8, body string) {
		method, path := "POST", "/api/v1/operator/tenants"
		switch op % 3 {
		case patch:
			method, path = "PATCH", "/api/v1/operator/tenants/base"
		case creds:
			method, path = "PUT", "/api/v1/operator/tenants/base/credentials"
		}
		before, err := e.r.Client.HGetAll(context.Background(), e.r.Prefix+":tenants").Result()
		if err != nil {
			t.Fatal(err)
		}
		res, err := e.hubs[0].send(method, path, body, "Bearer "+operatorKey)
		if err != nil {
			t.Fatal(err)
		}
		if res.Body == nil {
			t.Fatalf("%s %s %q: not a JSON object: %s", method, path, body, res)
		}
		if res.Status >= 400 {
			if e, _ := res.Body["error"].(map[string]any); e == nil || e["code"] == "" || e["message"] == "" || res.Status >= 500 {
				t.Fatalf("%s %q: %s, not a native refusal", method, body, res)
			}
			after, _ := e.r.Client.HGetAll(context.Background(), e.r.Prefix+":tenants").Result()
			if len(after) != len(before) || after["base"] != before["base"] {
				t.Fatalf("%s %q refused (%s) but the registry changed", method, body, res)
			}
			return
		}
		id, _ := res.Body["id"].(string)
		if !hub.ValidTenantID(id) || res.Body["settings"] == nil {
			t.Fatalf("%s %q: a success without a valid tenant: %s", method, body, res)
		}
		tn, err := e.hubs[0].store.Tenants().Tenant(context.Background(), id)
		if err != nil || tn.Settings.Validate() != nil || tn.Credentials.Validate() != nil {
			t.Fatalf("%s %q: stored %+v, %v", method, body, tn, err)
		}
		if c := tn.Credentials; c.CCAISecret != "" && strings.Contains(string(res.Raw), c.CCAISecret) ||
			c.UsersigKey != "" && strings.Contains(string(res.Raw), c.UsersigKey) ||
			c.IdentitySecret != "" && strings.Contains(string(res.Raw), c.IdentitySecret) {
			t.Fatalf("%s %q: the answer shows a secret: %s", method, body, res)
		}
		if op%3 == create {
			e.r.Client.HDel(context.Background(), e.r.Prefix+":tenants", id) // keep ids free for the next input
		}
	})
}
