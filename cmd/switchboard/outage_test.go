package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/api"
	"github.com/switchboardhq/switchboard/api/client"
	"github.com/switchboardhq/switchboard/api/protocol"
	"github.com/switchboardhq/switchboard/api/usersig"
	"github.com/switchboardhq/switchboard/hub/redisstore/redistest"
)

// raw makes a request and returns the status, Retry-After and body.
func raw(t *testing.T, method, url string, hdr map[string]string, body string) (int, string, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, res.Header.Get("Retry-After"), strings.TrimSpace(string(b))
}

// TestRedisOutage: while Redis is down the hub stays up, /readyz says so,
// every surface answers 503 in its own format, a socket's send gets an
// unavailable reply (never an acknowledgement), and the sockets stay open;
// once Redis is back the same hub, not restarted, is ready within seconds,
// the send retried with its client_msg_id is created once, and the other
// party gets it on the socket that lived through the outage.
func TestRedisOutage(t *testing.T) {
	rs := redistest.RequireServer(t, redistest.ServerConfig{AppendOnly: true, AppendFsync: "always"})
	c := defaultConfig(t)
	c.RedisURL, c.KeyPrefix, c.AdminKey = rs.URL(), "{sboutage}", hookAdminKey
	c.TokenSecret = strings.Repeat("o", 40)
	c.Demo = "false"
	c.Desk.OfferTimeout = 0
	c.Tencent = tencentTestConfig
	c.CCAI.Key, c.CCAI.Secret = "outage-ccai-key", "outage-ccai-secret-0123"
	m := openMain(t, c)
	agent := hookAgent(t, m, "outageagent")
	s := openSession(t, m, "Outage", nil)
	got := make(chan string, 16)
	go func() {
		for f := range agent.Events() {
			if f.Type == "message.created" {
				text, _, _ := f.Message()
				got <- text
			}
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := s.Customer.Send(ctx, s.ID, "before"); err != nil {
		t.Fatal(err)
	}
	if text := <-got; text != "before" {
		t.Fatalf("agent got %q", text)
	}

	if err := rs.Stop(); err != nil {
		t.Fatal(err)
	}
	u := m.URL()
	admin := map[string]string{"Authorization": "Bearer " + hookAdminKey}
	basic := func(user, pass string) map[string]string {
		req, _ := http.NewRequest("GET", "/", nil)
		req.SetBasicAuth(user, pass)
		return map[string]string{"Authorization": req.Header.Get("Authorization")}
	}
	if st, _, body := raw(t, "GET", u+"/readyz", nil, ""); st != 503 || !strings.Contains(body, "redis unreachable") {
		t.Fatalf("readyz with Redis down: %d %s", st, body)
	}
	if st, _, _ := raw(t, "GET", u+"/healthz", nil, ""); st != 200 {
		t.Fatalf("healthz with Redis down: %d", st)
	}
	sig, err := usersig.Sign(tencentTestConfig.Key, tencentTestConfig.SDKAppID, "admin", time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	tq := fmt.Sprintf("sdkappid=%d&identifier=admin&usersig=%s&random=1&contenttype=json", tencentTestConfig.SDKAppID, sig)
	for _, q := range []struct {
		surface, method, path string
		hdr                   map[string]string
		body, want            string
	}{
		{"Customer Service", "GET", "/customer-service/stats", admin, "", `{"code":-1,"message":"service unavailable; retry"}`},
		{"Customer Service", "POST", "/customer-service/sessions", admin, `{"title":"t","customer_name":"n"}`, `{"code":-1,"message":"service unavailable; retry"}`},
		{"native", "GET", "/api/v1/sessions/" + s.ID, admin, "", `{"error":{"code":"unavailable","message":"service unavailable; retry"}}`},
		{"native", "POST", "/api/v1/widget/sessions", nil, `{"name":"Nia"}`, `{"error":{"code":"unavailable","message":"service unavailable; retry"}}`},
		{"KF5", "GET", "/apiv2/chats.json", basic("outageagent@example.com", "password-outageagent"), "", `{"error":"unavailable","message":"service unavailable; retry"}`},
		{"CCAI", "GET", "/apps/api/v1/agent_statuses", basic(c.CCAI.Key, c.CCAI.Secret), "", `{"message":"service unavailable; retry"}`},
		{"Tencent", "POST", "/v4/desk_http_svc/get_session_state?" + tq, nil, `{"SessionId":"` + s.ID + `"}`,
			`{"ActionStatus":"FAIL","ErrorInfo":"Internal error, retry. Service unavailable.","ErrorCode":141002}`},
	} {
		st, retry, body := raw(t, q.method, u+q.path, q.hdr, q.body)
		if st != http.StatusServiceUnavailable || retry == "" || body != q.want {
			t.Errorf("%s %s %s with Redis down: %d (Retry-After %q) %s, want 503 %s", q.surface, q.method, q.path, st, retry, body, q.want)
		}
	}

	// A send: refused as unavailable, never acknowledged.
	cmd := client.NewClientMsgID()
	_, err = s.Customer.Do(ctx, sendCommand(s.ID, cmd, "during"))
	var re *client.ReplyError
	if !errors.As(err, &re) || re.Code != "unavailable" {
		t.Fatalf("send with Redis down: %v, want an unavailable reply", err)
	}
	if code := closeCode(s.Customer); code != 0 && code != 4002 {
		t.Fatalf("the customer's socket closed with %d; only 4002 (reconnect) may close it", code)
	}

	down := time.Now()
	if err := rs.Start(); err != nil {
		t.Fatal(err)
	}
	back := time.Now()
	for st, _, _ := raw(t, "GET", u+"/readyz", nil, ""); st != 200; st, _, _ = raw(t, "GET", u+"/readyz", nil, "") {
		if time.Since(back) > 5*time.Second {
			t.Fatalf("not ready 5 s after Redis came back")
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("Redis down for %v; the hub ready %v after it came back", back.Sub(down), time.Since(back))
	// The same send, retried: created once, delivered once.
	r, err := s.Customer.SendID(ctx, s.ID, cmd, "during")
	if err != nil || r.Duplicate {
		t.Fatalf("retried send: %+v %v, want created now", r, err)
	}
	if again, err := s.Customer.SendID(ctx, s.ID, cmd, "during"); err != nil || !again.Duplicate || again.Seq != r.Seq {
		t.Fatalf("a second retry: %+v %v, want the first result", again, err)
	}
	select {
	case text := <-got:
		if text != "during" {
			t.Fatalf("agent got %q, want the retried message", text)
		}
	case <-ctx.Done():
		t.Fatalf("the agent never got the retried message (agent socket: close code %d, stats %+v)", closeCode(agent), agent.Stats())
	}
	select {
	case text := <-got:
		t.Fatalf("agent got a second message %q", text)
	case <-time.After(200 * time.Millisecond):
	}
	if st, _, body := raw(t, "GET", u+"/customer-service/stats", admin, ""); st != 200 {
		t.Fatalf("stats after Redis came back: %d %s", st, body)
	}
	// Both sockets lived through it: their catch-ups waited for the store.
	if a, c := closeCode(agent), closeCode(s.Customer); a != 0 || c != 0 {
		t.Fatalf("sockets closed during the outage: agent %d, customer %d", a, c)
	}
}

// sendCommand is a send command for Client.Do.
func sendCommand(sid, cmid, text string) protocol.Command {
	return protocol.Command{Type: protocol.CmdSend, SessionID: sid, ClientMsgID: cmid, Text: text}
}

// tencentTestConfig is the Tencent-Desk surface of the outage test's hub.
var tencentTestConfig = api.TencentConfig{SDKAppID: 1400000777, Key: "outage-usersig-key", Admins: []string{"admin"},
	CustomerServiceID: "@customer_service_account"}

// closeCode is the close code of c's ended connection, 0 while it is up.
func closeCode(c *client.Client) int {
	if c.Connected() {
		return 0
	}
	var ce *client.CloseError
	if errors.As(c.Err(), &ce) {
		return int(ce.Code)
	}
	return -1
}
