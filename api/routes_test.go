package api_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/switchboardhq/switchboard/hub"
)

// TestUnmatchedRouteUnderCustomerService checks that a path under
// /customer-service/ that names no endpoint is answered 404 in the
// document's error envelope, with or without the key, and changes nothing.
func TestUnmatchedRouteUnderCustomerService(t *testing.T) {
	e := newEnv(t, hub.Policy{}, 1)
	id := e.create("x")
	before := e.snapshot(id)
	for _, path := range []string{
		"/customer-service/",
		"/customer-service/nope",
		"/customer-service/sessions/",
		"/customer-service/sessions/" + id + "/nope",
		"/customer-service/sessions/" + id + "/assign/",
		"/customer-service/stats/",
		"/customer-service/Sessions",
		"/customer-service/sessions/a%2Fb",
	} {
		for _, key := range []string{adminKey, ""} {
			for _, method := range []string{http.MethodGet, http.MethodPost} {
				res := e.do(method, path, `{"title":"a","customer_name":"b"}`, key)
				wantError(t, res, http.StatusNotFound, "not found")
			}
		}
	}
	wantSameSnapshot(t, before, e.snapshot(id))
}

// TestWrongMethodIsMethodNotAllowed checks that an endpoint's path with a
// method it does not serve is answered 405 in the error envelope.
func TestWrongMethodIsMethodNotAllowed(t *testing.T) {
	e := newEnv(t, hub.Policy{}, 1)
	id := e.create("x")
	before := e.snapshot(id)
	cases := []struct{ method, path string }{
		{http.MethodPut, "/customer-service/sessions"},
		{http.MethodPatch, "/customer-service/sessions"},
		{http.MethodDelete, "/customer-service/sessions"},
		{http.MethodPut, "/customer-service/sessions/" + id},
		{http.MethodPost, "/customer-service/sessions/" + id},
		{http.MethodPatch, "/customer-service/sessions/" + id},
		{http.MethodGet, "/customer-service/sessions/" + id + "/assign"},
		{http.MethodPut, "/customer-service/sessions/" + id + "/assign"},
		{http.MethodDelete, "/customer-service/sessions/" + id + "/assign"},
		{http.MethodPost, "/customer-service/stats"},
		{http.MethodDelete, "/customer-service/stats"},
	}
	for _, c := range cases {
		name := c.method + " " + strings.Replace(c.path, id, "{id}", 1)
		t.Run(name, func(t *testing.T) {
			res := e.do(c.method, c.path, "", adminKey)
			wantError(t, res, http.StatusMethodNotAllowed, "method not allowed")
			if res.Header.Get("Allow") == "" {
				t.Errorf("%s: 405 without an Allow header", name)
			}
		})
	}
	wantSameSnapshot(t, before, e.snapshot(id))
}

// TestHealthAndReadiness checks the probes: /healthz and /readyz answer 200
// without a key, and /readyz turns 503 once the server drains (while
// /healthz stays 200: draining is not being unhealthy), on the drained
// instance only.
func TestHealthAndReadiness(t *testing.T) {
	e := newEnv(t, hub.Policy{}, 2)
	for _, in := range e.hubs {
		for _, p := range []string{"/healthz", "/readyz"} {
			if res := in.do(http.MethodGet, p, "", ""); res.Status != http.StatusOK {
				t.Errorf("GET %s: %s, want 200", p, res)
			}
			if res := in.do(http.MethodHead, p, "", ""); res.Status != http.StatusOK {
				t.Errorf("HEAD %s: %s, want 200", p, res)
			}
		}
	}
	e.hubs[0].server.Drain()
	if res := e.hubs[0].do(http.MethodGet, "/readyz", "", ""); res.Status != http.StatusServiceUnavailable {
		t.Errorf("GET /readyz after Drain: %s, want 503", res)
	}
	if res := e.hubs[0].do(http.MethodGet, "/healthz", "", ""); res.Status != http.StatusOK {
		t.Errorf("GET /healthz after Drain: %s, want 200", res)
	}
	if res := e.hubs[1].do(http.MethodGet, "/readyz", "", ""); res.Status != http.StatusOK {
		t.Errorf("GET /readyz on the instance not drained: %s, want 200", res)
	}
	// A draining instance still serves the requests it gets.
	wantData(t, e.hubs[0].do(http.MethodGet, "/customer-service/stats", "", adminKey))
}

// TestReadinessFollowsRedis checks that /readyz is 503 while Redis fails
// and 200 again when it recovers, and that an API call failing on Redis is
// a 503 (retry) whose message does not leak the Redis error. It needs to
// break the Redis, so it runs on miniredis only.
func TestReadinessFollowsRedis(t *testing.T) {
	e := newEnv(t, hub.Policy{}, 1)
	if e.r.Real() {
		t.Skip("needs miniredis to make Redis fail")
	}
	e.r.Mini.SetError("LOADING Redis is loading the dataset in memory")
	if res := e.do(http.MethodGet, "/readyz", "", ""); res.Status != http.StatusServiceUnavailable {
		t.Errorf("GET /readyz with Redis failing: %s, want 503", res)
	}
	if res := e.do(http.MethodGet, "/healthz", "", ""); res.Status != http.StatusOK {
		t.Errorf("GET /healthz with Redis failing: %s, want 200 (liveness does not depend on Redis)", res)
	}
	wantError(t, e.do(http.MethodGet, "/customer-service/stats", "", adminKey), http.StatusServiceUnavailable, "service unavailable; retry")
	wantError(t, e.do(http.MethodPost, "/customer-service/sessions", createOK, adminKey), http.StatusServiceUnavailable, "service unavailable; retry")
	e.r.Mini.SetError("")
	if res := e.do(http.MethodGet, "/readyz", "", ""); res.Status != http.StatusOK {
		t.Errorf("GET /readyz after Redis recovered: %s, want 200", res)
	}
	if got := e.stats(); got != [4]int64{} {
		t.Errorf("stats %v after failed create, want all 0", got)
	}

	// Redis gone for good.
	e.r.Mini.Close()
	if res := e.do(http.MethodGet, "/readyz", "", ""); res.Status != http.StatusServiceUnavailable {
		t.Errorf("GET /readyz with Redis closed: %s, want 503", res)
	}
}
