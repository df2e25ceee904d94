package api_test

import (
	"fmt"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/switchboardhq/switchboard/api"
	"github.com/switchboardhq/switchboard/hub"
)

// TestTenantServerSharesTheInstanceRoutes: a tenant's Server built on an
// instance keeps no router of its own, and the shared one sends each
// request to the Server it is for, under concurrent use of both: each
// sees its own sessions, refuses the other's key, and answers unknown
// paths and methods in each surface's format.
func TestTenantServerSharesTheInstanceRoutes(t *testing.T) {
	e := newEnv(t, hub.Policy{}, 1)
	def := e.hubs[0]
	st := def.store.ForTenant("acme")
	acmeKey := hub.NewTenantKey()
	ten := api.NewServer(api.Config{
		Sessions: hub.NewService(st, hub.Policy{AgentCapacity: 1, Retention: 3600e9}, e.clock.Now),
		Agents:   st, Teams: st, Desk: hub.NewDesk(st, hub.DeskPolicy{}, e.clock.Now, nil),
		Chats: hub.NewHistory(st, e.clock.Now), Webhooks: st,
		AdminKeyHash: hub.HashKey(acmeKey), Ping: st.Ping, Instance: def.server,
	})
	if !ten.UsesInstanceRoutes() {
		t.Fatal("the tenant's Server built a router of its own")
	}
	ts := httptest.NewServer(ten)
	defer ts.Close()
	acme := &instance{t: t, store: st, server: ten, ts: ts}

	var wg sync.WaitGroup
	for i := range 20 {
		for _, c := range []struct {
			in        *instance
			key, name string
		}{{def, adminKey, "default"}, {acme, acmeKey, "acme"}} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				title := fmt.Sprintf("%s-%d", c.name, i)
				res, err := c.in.send("POST", "/customer-service/sessions", `{"title":"`+title+`","customer_name":"Ann"}`, "Bearer "+c.key)
				if err != nil || res.Status != 200 && res.Status != 201 {
					t.Errorf("%s: create: %v %v", c.name, res, err)
				}
			}()
		}
	}
	wg.Wait()
	for _, c := range []struct {
		in              *instance
		own, other, who string
	}{{def, adminKey, acmeKey, "default"}, {acme, acmeKey, adminKey, "acme"}} {
		res := c.in.do("GET", "/customer-service/sessions?per_page=100", "", c.own)
		if res.Status != 200 || fmt.Sprint(res.Body["data"].(map[string]any)["total"]) != "20" {
			t.Errorf("%s lists its sessions: %v; want 20", c.who, res)
		}
		if res := c.in.do("GET", "/customer-service/stats", "", c.other); res.Status != 401 {
			t.Errorf("%s with the other's key: %v; want 401", c.who, res)
		}
		if res := c.in.do("GET", "/customer-service/nope", "", c.own); res.Status != 404 || res.Body["code"] == nil {
			t.Errorf("%s, an unknown Customer Service path: %v; want 404 in its envelope", c.who, res)
		}
		if res := c.in.do("DELETE", "/customer-service/stats", "", c.own); res.Status != 405 {
			t.Errorf("%s, a wrong method: %v; want 405", c.who, res)
		}
		if res := c.in.do("GET", "/apiv2/nope.json", "", ""); res.Status != 404 || res.Body["error"] == nil {
			t.Errorf("%s, an unknown KF5 path: %v; want 404 in its format", c.who, res)
		}
	}
}
