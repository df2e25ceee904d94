package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/switchboardhq/switchboard/api/client"
	"github.com/switchboardhq/switchboard/hub/redisstore/redistest"
)

// killLog is the subprocess' output, safe to read while it runs.
type killLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *killLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *killLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// killJSON makes a JSON request and decodes the answer into out (if not nil).
func killJSON(t *testing.T, method, url, key, body string, out any) int {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if out != nil && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %v: %s", method, url, err, b)
		}
	}
	return res.StatusCode
}

// killAgent is an agent as GET /api/v1/agents/{id} shows it.
type killAgent struct {
	Status  string   `json:"status"`
	Online  bool     `json:"online"`
	IPAddrs []string `json:"ip_addrs"`
}

// TestKilledInstanceAgentsGoOffline runs the hub binary as a subprocess,
// connects an agent to it (in a session), starts a second, in-process
// instance on the same Redis and key prefix, and kills the subprocess with
// SIGKILL: nothing of it says goodbye. The agent's connection then lives
// on in Redis until its expiry (the last refresh plus the presence TTL);
// the second instance's own sweeps must turn the agent Offline after that
// expiry, not before, and requeue its session.
func TestKilledInstanceAgentsGoOffline(t *testing.T) {
	redisURL := os.Getenv(redistest.EnvURL)
	if redisURL == "" {
		t.Skip("needs " + redistest.EnvURL + ": two processes must share a real redis-server")
	}
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command to build the binary with")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "switchboard")
	if out, err := exec.Command(goBin, "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	var rb [6]byte
	rand.Read(rb[:])
	prefix := "{sbkill" + hex.EncodeToString(rb[:]) + "}"
	const adminKey = "kill-admin-key-0123456789"
	const agentID = "killagent"
	opt, err := redis.ParseURL(redisURL)
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opt)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		iter := rdb.Scan(ctx, 0, prefix+"*", 1000).Iterator()
		for iter.Next(ctx) {
			rdb.Del(ctx, iter.Val())
		}
		rdb.Close()
	})
	vars := map[string]string{
		"SWITCHBOARD_REDIS_URL":    redisURL,
		"SWITCHBOARD_KEY_PREFIX":   prefix,
		"SWITCHBOARD_PRESENCE_TTL": "3s",
		"SWITCHBOARD_AGENT_GRACE":  "0",
		"SWITCHBOARD_ADMIN_KEY":    adminKey,
		"SWITCHBOARD_TOKEN_SECRET": strings.Repeat("k", 40),
		"SWITCHBOARD_DEMO":         "false",
		"SWITCHBOARD_LOG_LEVEL":    "warn",
	}

	// The subprocess, on a free port.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), "SWITCHBOARD_ADDR="+addr)
	for k, v := range vars {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	logs := &killLog{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("subprocess output:\n%s", logs.String())
		}
	})
	sub := "http://" + addr
	deadline := time.Now().Add(30 * time.Second)
	for {
		res, err := http.Get(sub + "/readyz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				break
			}
		}
		select {
		case <-exited:
			t.Fatalf("the subprocess exited before it was ready:\n%s", logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("the subprocess was not ready within 30 s:\n%s", logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}

	// newAgent creates an agent with the admin API and logs it in.
	newAgent := func(id string) (token string) {
		t.Helper()
		if st := killJSON(t, "POST", sub+"/api/v1/agents", adminKey,
			`{"id":"`+id+`","name":"Agent `+id+`","email":"`+id+`@example.com","password":"password-`+id+`"}`, nil); st != http.StatusCreated {
			t.Fatalf("create agent %s: %d", id, st)
		}
		var login struct{ Token string }
		if st := killJSON(t, "POST", sub+"/api/v1/auth/login", "", `{"email":"`+id+`@example.com","password":"password-`+id+`"}`, &login); st != 200 {
			t.Fatalf("login %s: %d", id, st)
		}
		return login.Token
	}
	dial := func(base, token string) *client.Client {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c, err := client.Dial(ctx, client.Config{URL: "ws" + strings.TrimPrefix(base, "http") + "/ws", Token: token})
		if err != nil {
			t.Fatalf("dial %s: %v", base, err)
		}
		t.Cleanup(func() { c.CloseNow() })
		return c
	}
	rctx := context.Background()
	// An agent connected to the subprocess only, in a session.
	dial(sub, newAgent(agentID))
	// A second agent with one socket on each instance (two tabs); its
	// connection on the subprocess is the one named here.
	const twoID = "killtwo"
	twoConns := prefix + ":agent:" + twoID + ":conns"
	twoToken := newAgent(twoID)
	dial(sub, twoToken)
	dead2, err := rdb.ZRange(rctx, twoConns, 0, -1).Result()
	if err != nil || len(dead2) != 1 {
		t.Fatalf("connections of %s: %v %v, want 1", twoID, dead2, err)
	}
	var created struct {
		Data struct{ ID string } `json:"data"`
	}
	if st := killJSON(t, "POST", sub+"/customer-service/sessions", adminKey, `{"title":"t","customer_name":"n"}`, &created); st != 200 && st != 201 {
		t.Fatalf("create session: %d", st)
	}
	sid := created.Data.ID
	if st := killJSON(t, "POST", sub+"/customer-service/sessions/"+sid+"/assign", adminKey,
		`{"agent_id":"`+agentID+`","agent_name":"Kill Agent"}`, nil); st != 200 {
		t.Fatalf("assign: %d", st)
	}

	// The second instance, in process.
	cfg, err := ParseConfig(nil, func(k string) string { return vars[k] })
	if err != nil {
		t.Fatal(err)
	}
	cfg.Addr = "127.0.0.1:0"
	m := NewMain(cfg, nil)
	if err := m.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	getAgentOf := func(id string) killAgent {
		t.Helper()
		var a killAgent
		if st := killJSON(t, "GET", m.URL()+"/api/v1/agents/"+id, adminKey, "", &a); st != 200 {
			t.Fatalf("get agent %s: %d", id, st)
		}
		return a
	}
	getAgent := func() killAgent { t.Helper(); return getAgentOf(agentID) }
	live2 := dial(m.URL(), twoToken)
	if n, err := rdb.ZCard(rctx, twoConns).Result(); err != nil || n != 2 {
		t.Fatalf("connections of %s: %d %v, want 2", twoID, n, err)
	}
	if a := getAgent(); !a.Online || a.Status != "In-call" {
		t.Fatalf("before the kill the second instance shows %+v, want online and In-call", a)
	}
	connsKey := prefix + ":agent:" + agentID + ":conns"
	if n, err := rdb.ZCard(rctx, connsKey).Result(); err != nil || n != 1 {
		t.Fatalf("connections of the agent in %s: %d %v, want 1", connsKey, n, err)
	}

	// SIGKILL: no close frame, no disconnect, no more refreshes.
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-exited
	killedAt := time.Now()
	conns, err := rdb.ZRangeWithScores(rctx, connsKey, 0, -1).Result()
	if err != nil || len(conns) != 1 {
		t.Fatalf("after the kill the connections are %v (%v), want the one the subprocess left", conns, err)
	}
	expiry := time.UnixMilli(int64(conns[0].Score))
	ttl := m.Desk.Policy().PresenceTTL
	sweepEvery := m.Desk.Policy().SweepEvery
	t.Logf("the dead connection expires %v after the kill (TTL %v, refreshed every %v; sweeps every %v)",
		expiry.Sub(killedAt).Round(time.Millisecond), ttl, m.Desk.Policy().PresenceRefresh, sweepEvery)
	if expiry.After(killedAt.Add(ttl + 50*time.Millisecond)) {
		t.Fatalf("the connection expires %v after the kill, more than the TTL %v", expiry.Sub(killedAt), ttl)
	}

	// Before the expiry, a sweep leaves the agent online: the connection
	// still counts. Conclusive only if the sweep and the read both ended
	// before the expiry.
	if time.Now().Before(expiry) {
		if err := m.Desk.Sweep(rctx); err != nil {
			t.Fatal(err)
		}
		a := getAgent()
		if time.Now().Before(expiry) {
			if !a.Online || a.Status != "In-call" {
				t.Fatalf("a sweep before the connection's expiry turned the agent %+v", a)
			}
			t.Logf("before the expiry a sweep left the agent %+v", a)
		} else {
			t.Logf("the sweep before the expiry ended after it: inconclusive")
		}
	} else {
		t.Logf("the expiry had passed before the first look: the before-expiry check is inconclusive")
	}

	// The second instance's own sweeps (not the test's) turn it Offline.
	var a killAgent
	for a = getAgent(); a.Status != "Offline"; a = getAgent() {
		if time.Since(expiry) > sweepEvery+60*time.Second {
			t.Fatalf("the agent is still %+v %v after its connection expired", a, time.Since(expiry))
		}
		time.Sleep(20 * time.Millisecond)
	}
	offAt := time.Now()
	t.Logf("Offline %v after the kill, %v after the expiry", offAt.Sub(killedAt).Round(time.Millisecond), offAt.Sub(expiry).Round(time.Millisecond))
	if offAt.Before(expiry) {
		t.Fatalf("Offline before the connection expired")
	}
	if late := offAt.Sub(expiry); late > sweepEvery+5*time.Second {
		t.Fatalf("Offline %v after the expiry: more than one sweep interval (%v) plus 5 s of slack", late, sweepEvery)
	}
	if a.Online || len(a.IPAddrs) != 1 || a.IPAddrs[0] != "127.0.0.1" {
		t.Fatalf("offline agent %+v, want not online with its last address 127.0.0.1", a)
	}
	if n, _ := rdb.ZCard(rctx, connsKey).Result(); n != 0 {
		t.Fatalf("%d connections left after the sweep", n)
	}
	// Its session went back to the queue (and may since have been offered
	// to the other agent).
	var sess struct {
		State   string
		AgentID string `json:"agent_id"`
	}
	if st := killJSON(t, "GET", m.URL()+"/api/v1/sessions/"+sid, adminKey, "", &sess); st != 200 || sess.AgentID == agentID ||
		sess.State != "Queuing" && sess.State != "WaitingForAgentAnswering" {
		t.Fatalf("the offline agent's session: %d %+v, want back in the queue", st, sess)
	}
	var events struct {
		Events []struct{ Type, State, Reason string }
	}
	killJSON(t, "GET", m.URL()+"/api/v1/sessions/"+sid+"/events", adminKey, "", &events)
	requeues := 0
	for _, ev := range events.Events {
		if ev.Type == "session.state" && ev.State == "Queuing" && ev.Reason == "agent_offline" {
			requeues++
		}
	}
	if requeues != 1 {
		t.Fatalf("the session was requeued %d times for agent_offline, want 1: %+v", requeues, events.Events)
	}
	// A later sweep changes nothing.
	if err := m.Desk.Sweep(rctx); err != nil {
		t.Fatal(err)
	}
	if a := getAgent(); a.Status != "Offline" || a.Online {
		t.Fatalf("after another sweep: %+v", a)
	}

	// The agent with a tab on each instance: once its dead connection has
	// expired and a sweep ran, only the live one is left, and it is online;
	// closing the live one turns it Offline at once (no grace).
	score, err := rdb.ZScore(rctx, twoConns, dead2[0]).Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		t.Fatal(err)
	}
	for deadAt := time.UnixMilli(int64(score)); !time.Now().After(deadAt); {
		time.Sleep(10 * time.Millisecond) // the clock must pass the dead connection's expiry
	}
	if err := m.Desk.Sweep(rctx); err != nil {
		t.Fatal(err)
	}
	left, err := rdb.ZRange(rctx, twoConns, 0, -1).Result()
	if err != nil || len(left) != 1 || left[0] == dead2[0] {
		t.Fatalf("%s's connections after its dead one expired and a sweep ran: %v %v, want only the live one", twoID, left, err)
	}
	if a := getAgentOf(twoID); !a.Online || a.Status != "Available" {
		t.Fatalf("%s with its live tab: %+v, want online and Available", twoID, a)
	}
	live2.Close()
	for a := getAgentOf(twoID); a.Status != "Offline" || a.Online; a = getAgentOf(twoID) {
		if time.Since(offAt) > 30*time.Second {
			t.Fatalf("%s is still %+v after its last live tab closed", twoID, a)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
