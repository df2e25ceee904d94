package api_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/switchboardhq/switchboard/api"
	"github.com/switchboardhq/switchboard/hub"
)

// TestTenantRouterResolution checks where the router sends a request: by
// host (any case, with a port; only one label under the domain), by the
// tenant parameter or header, by key, or to the default tenant, and how
// an unknown or malformed tenant is refused in each surface's format.
func TestTenantRouterResolution(t *testing.T) {
	e := newEnv(t, hub.Policy{}, 1)
	def := e.hubs[0]
	reg := def.store.Tenants()
	acmeKey := hub.NewTenantKey()
	if err := reg.CreateTenant(context.Background(), &hub.Tenant{ID: "acme", AdminKeyHash: hub.HashKey(acmeKey)}); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	built := map[string]int{}
	router := api.NewTenantRouter(api.TenantRouterConfig{
		Default: def.server, Domain: "Chat.Test.", Registry: reg,
		Build: func(_ context.Context, tn *hub.Tenant) (*api.Server, error) {
			mu.Lock()
			built[tn.ID]++
			mu.Unlock()
			st := def.store.ForTenant(tn.ID)
			return api.NewServer(api.Config{Sessions: hub.NewService(st, hub.Policy{AgentCapacity: 1, Retention: 3600e9}, e.clock.Now),
				Agents: st, Teams: st, AdminKeyHash: tn.AdminKeyHash, Ping: st.Ping}), nil
		},
	})
	ts := httptest.NewServer(router)
	defer ts.Close()
	call := func(path, host, key, header string) response {
		t.Helper()
		req, _ := http.NewRequest("GET", ts.URL+path, nil)
		if host != "" {
			req.Host = host
		}
		if key != "" {
			req.Header.Set("Authorization", "Bearer "+key)
		}
		if header != "" {
			req.Header.Set("X-Switchboard-Tenant", header)
		}
		res, err := ts.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		raw, _ := io.ReadAll(res.Body)
		out := response{Status: res.StatusCode, Header: res.Header, Raw: raw}
		if v, err := decodeJSON(raw); err == nil {
			out.Body, _ = v.(map[string]any)
		}
		return out
	}
	for _, c := range []struct {
		name, path, host, key, header string
		status                        int
		message                       string
	}{
		{"acme's key, no host", "/customer-service/stats", "", acmeKey, "", 200, ""},
		{"acme's host, upper case, a port", "/customer-service/stats", "ACME.chat.test:8443", acmeKey, "", 200, ""},
		{"acme's host, the default key", "/customer-service/stats", "acme.chat.test", adminKey, "", 401, "unauthorized"},
		{"the default key, no host", "/customer-service/stats", "", adminKey, "", 200, ""},
		{"the domain itself is the default tenant", "/customer-service/stats", "chat.test", adminKey, "", 200, ""},
		{"two labels under the domain are not a tenant", "/customer-service/stats", "x.acme.chat.test", adminKey, "", 200, ""},
		{"the tenant parameter", "/customer-service/stats?tenant=acme", "", acmeKey, "", 200, ""},
		{"the tenant header", "/customer-service/stats", "", acmeKey, "acme", 200, ""},
		{"the header names acme, the default key", "/customer-service/stats", "", adminKey, "acme", 401, "unauthorized"},
		{"an unknown tenant by host", "/customer-service/stats", "nobody.chat.test", acmeKey, "", 404, "tenant not found"},
		{"a malformed tenant parameter", "/customer-service/stats?tenant=ACME%20INC", "", acmeKey, "", 404, "tenant not found"},
		{"a wrong key is the default tenant's refusal", "/customer-service/stats", "", "sk_wrong", "", 401, "unauthorized"},
		{"health on a tenant's host is the instance's", "/healthz", "nobody.chat.test", "", "", 200, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			res := call(c.path, c.host, c.key, c.header)
			if res.Status != c.status || c.message != "" && res.Body["message"] != c.message {
				t.Fatalf("got %s; want %d %q", res, c.status, c.message)
			}
		})
	}
	if built["acme"] != 1 || len(built) != 1 {
		t.Fatalf("tenant servers built: %v; want acme once", built)
	}
}
