package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/hub/redisstore/redistest"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestParseConfigDefaults(t *testing.T) {
	c, err := ParseConfig(nil, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.Addr != ":8080" || c.RedisURL != "" || c.KeyPrefix != "{sb}" || c.AdminKey != "" ||
		c.MaxOpenSessions != 0 || c.AgentCapacity != 5 || c.Retention != 30*24*time.Hour ||
		c.ShutdownTimeout != 15*time.Second || c.Demo != "auto" {
		t.Fatalf("defaults: %+v", c)
	}
}

func TestParseConfigEnvAndFlags(t *testing.T) {
	e := env(map[string]string{
		"SWITCHBOARD_ADDR":              "127.0.0.1:9000",
		"SWITCHBOARD_REDIS_URL":         "redis://localhost:6379/2",
		"SWITCHBOARD_KEY_PREFIX":        "acme{cc1}",
		"SWITCHBOARD_ADMIN_KEY":         "0123456789abcdef",
		"SWITCHBOARD_MAX_OPEN_SESSIONS": "100",
		"SWITCHBOARD_AGENT_CAPACITY":    "3",
		"SWITCHBOARD_RETENTION":         "7d",
	})
	c, err := ParseConfig([]string{"-agent-capacity", "4", "-retention=36h"}, e)
	if err != nil {
		t.Fatal(err)
	}
	if c.Addr != "127.0.0.1:9000" || c.RedisURL != "redis://localhost:6379/2" || c.KeyPrefix != "acme{cc1}" ||
		c.AdminKey != "0123456789abcdef" || c.MaxOpenSessions != 100 {
		t.Fatalf("env not applied: %+v", c)
	}
	if c.AgentCapacity != 4 || c.Retention != 36*time.Hour {
		t.Fatalf("flags must win over env: capacity %d retention %v", c.AgentCapacity, c.Retention)
	}
}

// TestParseConfigRefusesBadValues checks that each bad value stops the
// start with one line naming the variable, the flag and the value.
func TestParseConfigRefusesBadValues(t *testing.T) {
	cases := map[string]string{
		"SWITCHBOARD_ADDR":              "8080",
		"SWITCHBOARD_REDIS_URL":         "http://localhost:6379",
		"SWITCHBOARD_KEY_PREFIX":        "sb",
		"SWITCHBOARD_ADMIN_KEY":         "short",
		"SWITCHBOARD_MAX_OPEN_SESSIONS": "-1",
		"SWITCHBOARD_AGENT_CAPACITY":    "0",
		"SWITCHBOARD_RETENTION":         "0d",
		"SWITCHBOARD_SHUTDOWN_TIMEOUT":  "forever",
		"SWITCHBOARD_DEMO":              "maybe",
		"SWITCHBOARD_LOG_LEVEL":         "loud",
		"SWITCHBOARD_PPROF_ADDR":        "6060",
		"SWITCHBOARD_ICE_SERVERS":       "turn:turn.example.com:3478",
		"SWITCHBOARD_TURN_TTL":          "1s",
		"SWITCHBOARD_BUSINESS_HOURS":    "mon-fri 9-18",
	}
	for name, value := range cases {
		_, err := ParseConfig(nil, env(map[string]string{name: value}))
		if err == nil {
			t.Errorf("%s=%q accepted", name, value)
			continue
		}
		msg := err.Error()
		if !strings.Contains(msg, name) || !strings.Contains(msg, value) || strings.Contains(msg, "\n") {
			t.Errorf("%s=%q: error %q should be one line naming the variable and value", name, value, msg)
		}
	}
	if _, err := ParseConfig([]string{"-nope"}, env(nil)); err == nil {
		t.Error("unknown flag accepted")
	}
	if _, err := ParseConfig([]string{"extra"}, env(nil)); err == nil {
		t.Error("stray argument accepted")
	}
}

func TestRedisClientURLForms(t *testing.T) {
	good := []string{
		"redis://localhost:6379/0",
		"rediss://user:pass@redis.example:6380",
		"unix:///var/run/redis.sock",
		"redis+sentinel://:pw@10.0.0.1:26379?master_name=mymaster&addr=10.0.0.2:26379",
		"redis+cluster://10.0.0.1:7000?addr=10.0.0.2:7000",
	}
	for _, u := range good {
		c, err := redisClient(u, nil)
		if err != nil {
			t.Errorf("%s: %v", u, err)
			continue
		}
		c.Close()
	}
	for _, u := range []string{"http://x", "redis+sentinel://10.0.0.1:26379", "redis+mesh://x", "::"} {
		if c, err := redisClient(u, nil); err == nil {
			c.Close()
			t.Errorf("%s accepted", u)
		}
	}
}

// get fetches url and returns the status and body.
func get(t *testing.T, url, key string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// openMain starts a Main on a free port and closes it when the test ends.
func openMain(t *testing.T, c Config) *Main {
	t.Helper()
	c.Addr = "127.0.0.1:0"
	m := NewMain(c, nil)
	if err := m.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func defaultConfig(t *testing.T) Config {
	t.Helper()
	c, err := ParseConfig(nil, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestMainEmbedded runs the newcomer's path: no Redis URL, a generated admin
// key, the demo agent, the banner, and a graceful close.
func TestMainEmbedded(t *testing.T) {
	m := openMain(t, defaultConfig(t))
	if code, body := get(t, m.URL()+"/healthz", ""); code != 200 {
		t.Fatalf("healthz %d %s", code, body)
	}
	if code, body := get(t, m.URL()+"/readyz", ""); code != 200 {
		t.Fatalf("readyz %d %s", code, body)
	}
	if !strings.HasPrefix(m.AdminKey(), "sk_") || len(m.AdminKey()) < 32 {
		t.Fatalf("generated admin key %q", m.AdminKey())
	}
	if code, _ := get(t, m.URL()+"/customer-service/stats", ""); code != 401 {
		t.Fatalf("stats without key: %d", code)
	}
	code, body := get(t, m.URL()+"/customer-service/stats", m.AdminKey())
	if code != 200 || !strings.Contains(body, `"total_sessions":0`) {
		t.Fatalf("stats: %d %s", code, body)
	}
	agent, err := m.store.Agent(context.Background(), "agent_demo")
	if err != nil || agent.Email != "demo@switchboard.local" || agent.PasswordHash == "" {
		t.Fatalf("demo agent %+v, %v", agent, err)
	}
	var banner strings.Builder
	m.PrintBanner(&banner)
	for _, want := range []string{m.URL() + "/", m.AdminKey(), "demo@switchboard.local", m.demoPass, "WARNING"} {
		if !strings.Contains(banner.String(), want) {
			t.Errorf("banner lacks %q:\n%s", want, banner.String())
		}
	}
	if code, _ := get(t, m.URL()+"/", ""); code != 200 {
		t.Fatalf("home page: %d", code)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := http.Get(m.URL() + "/healthz"); err == nil {
		t.Fatal("still serving after Close")
	}
}

// TestPprofApart: the profiler is served only when configured, and only on
// its own listener, never beside the API.
func TestPprofApart(t *testing.T) {
	m := openMain(t, defaultConfig(t))
	if code, _ := get(t, m.URL()+"/debug/pprof/", ""); code != 404 {
		t.Fatalf("pprof on the API listener without config: %d", code)
	}
	if m.pprofURL != "" {
		t.Fatalf("pprof served without config at %s", m.pprofURL)
	}
	c := defaultConfig(t)
	c.PprofAddr = "127.0.0.1:0"
	m = openMain(t, c)
	if code, body := get(t, m.pprofURL+"/debug/pprof/", ""); code != 200 || !strings.Contains(body, "goroutine") {
		t.Fatalf("pprof index: %d %.200s", code, body)
	}
	if code, _ := get(t, m.URL()+"/debug/pprof/", ""); code != 404 {
		t.Fatalf("pprof on the API listener: %d", code)
	}
}

// TestTwoMainsShareRedis starts two instances on one Redis: what one
// creates the other serves, and closing one leaves the other ready.
func TestTwoMainsShareRedis(t *testing.T) {
	r := redistest.New(t)
	c := defaultConfig(t)
	c.RedisURL, c.KeyPrefix, c.AdminKey = r.URL, r.Prefix, "test-admin-key-0123456789"
	a, b := openMain(t, c), openMain(t, c)
	if a.demoEmail != "" {
		t.Fatal("demo agent seeded on an external Redis with demo=auto")
	}
	req, _ := http.NewRequest(http.MethodPost, a.URL()+"/customer-service/sessions",
		strings.NewReader(`{"title":"t","customer_name":"n"}`))
	req.Header.Set("Authorization", "Bearer "+c.AdminKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var created struct {
		Data struct{ ID string } `json:"data"`
	}
	json.NewDecoder(resp.Body).Decode(&created)
	resp.Body.Close()
	if code, body := get(t, b.URL()+"/customer-service/sessions/"+created.Data.ID, c.AdminKey); code != 200 || !strings.Contains(body, `"status":"Waiting"`) {
		t.Fatalf("instance B: %d %s", code, body)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if code, _ := get(t, b.URL()+"/readyz", ""); code != 200 {
		t.Fatalf("B not ready after A closed: %d", code)
	}
}
