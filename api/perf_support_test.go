package api_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/switchboardhq/switchboard/api"
	"github.com/switchboardhq/switchboard/api/client"
	"github.com/switchboardhq/switchboard/api/protocol"
	"github.com/switchboardhq/switchboard/hub"
)

// TestIssueAgentToken: an administrator signs an agent in (single sign-on,
// the load tool); an agent created without a password can sign in only so,
// and its token works on the socket. Agents, customers and unknown or
// disabled agents get no token.
func TestIssueAgentToken(t *testing.T) {
	e := newRTEnv(t, 1, rtOptions{})
	in := e.hubs[0]
	base := in.http.URL
	admin := map[string]string{"Authorization": rtAdminKey}

	r := wbReq(t, "POST", base+"/api/v1/agents", admin, `{"id":"agent_sso","name":"Sso Agent","email":"sso@example.com","capacity":2}`)
	if r.status != http.StatusCreated {
		t.Fatalf("create without password: %s", r)
	}
	r = wbReq(t, "POST", base+"/api/v1/auth/login", nil, `{"email":"sso@example.com","password":""}`)
	if r.status != http.StatusUnauthorized {
		t.Fatalf("password login of an agent without password: %s, want 401", r)
	}
	r = wbReq(t, "POST", base+"/api/v1/agents", admin, `{"name":"No Mail"}`)
	if r.status != http.StatusBadRequest || !strings.Contains(string(r.body), "email is required") {
		t.Fatalf("create without email: %s, want 400 email is required", r)
	}

	r = wbReq(t, "POST", base+"/api/v1/agents/agent_sso/token", admin, "")
	if r.status != http.StatusOK {
		t.Fatalf("issue token: %s", r)
	}
	var got struct {
		Token     string `json:"token"`
		ExpiresAt string `json:"expires_at"`
		Agent     struct{ ID string }
	}
	if err := json.Unmarshal(r.body, &got); err != nil || got.Token == "" || got.ExpiresAt == "" || got.Agent.ID != "agent_sso" {
		t.Fatalf("issued token body %s (%v)", r.body, err)
	}
	c, err := client.Dial(context.Background(), client.Config{URL: in.WSURL(), Token: got.Token})
	if err != nil {
		t.Fatalf("dial with the issued token: %v", err)
	}
	defer c.Close()
	if h := c.Hello(); h.Principal.ID != "agent_sso" || h.Principal.Role != hub.PrincipalAgent {
		t.Fatalf("hello principal %+v", h.Principal)
	}

	agentTok := dwAgent(e, "tplain", hub.RoleAgent, 1)
	_, custTok := e.customer(in, "C1")
	for _, c := range []struct {
		what, path, token string
		status            int
	}{
		{"an agent", "/api/v1/agents/agent_sso/token", agentTok, 403},
		{"a customer", "/api/v1/agents/agent_sso/token", custTok, 403},
		{"nobody", "/api/v1/agents/agent_sso/token", "", 401},
		{"unknown agent", "/api/v1/agents/agent_nobody/token", rtAdminKey, 404},
	} {
		hdr := map[string]string{}
		if c.token != "" {
			hdr["Authorization"] = c.token
		}
		if r := wbReq(t, "POST", base+c.path, hdr, ""); r.status != c.status {
			t.Errorf("%s: %s, want %d", c.what, r, c.status)
		}
	}
	if r := wbReq(t, "PATCH", base+"/api/v1/agents/agent_sso", admin, `{"disabled":true}`); r.status != http.StatusOK {
		t.Fatalf("disable: %s", r)
	}
	if r := wbReq(t, "POST", base+"/api/v1/agents/agent_sso/token", admin, ""); r.status != http.StatusConflict {
		t.Errorf("token for a disabled agent: %s, want 409", r)
	}
}

// TestSharedPinger: one pinger goroutine keeps every socket alive. A quiet
// client that answers pings (it reads) is pinged every interval and stays; one
// that never reads is closed (4005, counted as a pong_timeout kick) once a
// ping goes unanswered.
func TestSharedPinger(t *testing.T) {
	e := newRTEnv(t, 1, rtOptions{ws: api.WSOptions{PingInterval: 80 * time.Millisecond, PongTimeout: 80 * time.Millisecond}})
	in := e.hubs[0]
	_, tokA := e.customer(in, "Deaf")
	_, tokB := e.customer(in, "Alive")
	deaf, _ := rawAuth(t, in, tokA, nil)

	// The quiet one reads all the time, so it answers every ping; it counts them.
	var pings atomic.Int32
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	alive, _, err := websocket.Dial(ctx, in.WSURL(), &websocket.DialOptions{
		Subprotocols: []string{protocol.Subprotocol},
		OnPingReceived: func(context.Context, []byte) bool {
			pings.Add(1)
			return true
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer alive.CloseNow()
	auth, _ := json.Marshal(protocol.Command{Type: protocol.CmdAuth, ID: "auth", Token: tokB})
	if err := alive.Write(ctx, websocket.MessageText, auth); err != nil {
		t.Fatal(err)
	}
	readErr := make(chan error, 1)
	go func() {
		for {
			if _, _, err := alive.Read(context.Background()); err != nil {
				readErr <- err
				return
			}
		}
	}()

	waitFor(t, 10*time.Second, "the deaf socket to be kicked", func() bool {
		return metric(t, in, "switchboard_ws_kicked_total") == 1 // the only kick here: its label is pong_timeout
	})
	waitFor(t, 10*time.Second, "the deaf socket to be gone", func() bool { return metric(t, in, "switchboard_ws_connections") == 1 })
	if r := wbReq(t, "GET", in.http.URL+"/metrics", nil, ""); !strings.Contains(string(r.body), `switchboard_ws_kicked_total{reason="pong_timeout"} 1`) {
		t.Errorf("the kick is not counted as a pong_timeout")
	}
	deaf.ws.CloseNow()
	// The quiet, reading socket is pinged interval after interval and stays.
	waitFor(t, 10*time.Second, "ten pings on the quiet socket", func() bool { return pings.Load() >= 10 })
	select {
	case err := <-readErr:
		t.Fatalf("the quiet socket ended: %v", err)
	default:
	}
	if n := metric(t, in, "switchboard_ws_connections"); n != 1 {
		t.Fatalf("%v sockets open, want the quiet one", n)
	}
}

// TestFrameSentWithTheUpgrade: a client that sends its auth frame in the
// same write as the upgrade request (not waiting for the 101) is read
// correctly: the bytes net/http read past the request reach the socket's
// own, smaller, buffer.
func TestFrameSentWithTheUpgrade(t *testing.T) {
	e := newRTEnv(t, 1, rtOptions{})
	in := e.hubs[0]
	_, tok := e.customer(in, "Eager")
	auth, _ := json.Marshal(protocol.Command{Type: protocol.CmdAuth, ID: "auth", Token: tok})
	// A masked client text frame (RFC 6455 5.2), 16-bit length.
	frame := []byte{0x81, 0x80 | 126, byte(len(auth) >> 8), byte(len(auth)), 1, 2, 3, 4}
	for i, b := range auth {
		frame = append(frame, b^[]byte{1, 2, 3, 4}[i%4])
	}
	host := strings.TrimPrefix(in.http.URL, "http://")
	req := "GET /ws HTTP/1.1\r\nHost: " + host + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n" +
		"Sec-WebSocket-Protocol: " + protocol.Subprotocol + "\r\n\r\n"
	nc, err := net.Dial("tcp", host)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := nc.Write(append([]byte(req), frame...)); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(nc)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade: %v %v", resp, err)
	}
	// The hello: an unmasked text frame.
	var hdr [2]byte
	if _, err := io.ReadFull(br, hdr[:]); err != nil {
		t.Fatal(err)
	}
	n := int(hdr[1] & 0x7f)
	if n == 126 {
		var ext [2]byte
		io.ReadFull(br, ext[:])
		n = int(ext[0])<<8 | int(ext[1])
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(br, body); err != nil {
		t.Fatal(err)
	}
	var hello protocol.Hello
	if hdr[0] != 0x81 || json.Unmarshal(body, &hello) != nil || hello.Type != protocol.FrameHello || hello.ID != "auth" {
		t.Fatalf("expected the hello, got %x %s", hdr, body)
	}
}
