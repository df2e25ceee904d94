package api_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/api"
	"github.com/switchboardhq/switchboard/api/client"
	"github.com/switchboardhq/switchboard/api/protocol"
	"github.com/switchboardhq/switchboard/hub"
)

// wantReplyError fails unless err is a command refused with one of codes.
func wantReplyError(t *testing.T, what string, err error, codes ...string) {
	t.Helper()
	var re *client.ReplyError
	if !errors.As(err, &re) {
		t.Fatalf("%s: %v, want a refusal (%v)", what, err, codes)
	}
	for _, c := range codes {
		if re.Code == c {
			return
		}
	}
	t.Fatalf("%s: refused with %q (%s), want %v", what, re.Code, re.Message, codes)
}

// TestAuthorization: a customer's token reaches its own session only, over
// WS and REST; expired and forged tokens are refused (error frame, then
// 4500); a foreign Origin is refused at the handshake and an allowed one
// accepted.
func TestAuthorization(t *testing.T) {
	e := newRTEnv(t, 1, rtOptions{ws: api.WSOptions{AllowedOrigins: []string{"shop.example.com"}}})
	in := e.hubs[0]
	agentTok := e.quickAgent("ag1")
	sidA, tokA := e.customer(in, "Ann")
	sidB, tokB := e.customer(in, "Bob")
	agent := e.dial(in, agentTok)
	e.assign(in, sidB, "ag1")
	next(t, agent, ofType(hub.EventMemberJoined))
	custB := e.dial(in, tokB)
	custA := e.dial(in, tokA)
	recA := record(t, custA)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	seqB, _ := e.sessionSeq(in, sidB)

	t.Run("ws", func(t *testing.T) {
		_, err := custA.Do(ctx, protocol.Command{Type: protocol.CmdResume, Resume: map[string]int64{sidB: 0}})
		wantReplyError(t, "resume B", err, hub.ENOTFOUND)
		_, err = custA.Do(ctx, protocol.Command{Type: protocol.CmdResume, Resume: map[string]int64{sidA: 0, sidB: 0}})
		wantReplyError(t, "resume A and B", err, hub.ENOTFOUND)
		// not_found, as for a session that does not exist: ids cannot be probed.
		_, err = custA.Send(ctx, sidB, "hijack")
		wantReplyError(t, "send to B", err, hub.ENOTFOUND)
		wantReplyError(t, "read B", custA.Read(ctx, sidB, 1), hub.ENOTFOUND)
		wantReplyError(t, "typing in B", custA.Typing(ctx, sidB, true), hub.ENOTFOUND)
		wantReplyError(t, "close B", custA.CloseSession(ctx, sidB), hub.ENOTFOUND)
		// The auth frame's resume does not follow B either.
		_, hello := rawAuth(t, in, tokA, map[string]int64{sidB: 0})
		if len(hello.Sessions) != 1 || hello.Sessions[0] != sidA {
			t.Fatalf("hello with B in resume follows %v, want only %s", hello.Sessions, sidA)
		}
		// B is untouched, and A's socket never saw B's events.
		if seq, state := e.sessionSeq(in, sidB); seq != seqB || state != string(hub.StateAgent) {
			t.Fatalf("B after the attempts: seq %d state %s, want %d %s", seq, state, seqB, hub.StateAgent)
		}
		if _, err := custB.Send(ctx, sidB, "B's own"); err != nil {
			t.Fatal(err)
		}
		r, err := custA.Send(ctx, sidA, "A's own")
		if err != nil {
			t.Fatal(err)
		}
		recA.waitSeq(t, 10*time.Second, sidA, r.Seq)
		fs, _ := recA.snapshot()
		for _, f := range fs {
			if f.SessionID != sidA {
				t.Fatalf("customer A got %s", f.Raw)
			}
		}
	})

	t.Run("rest", func(t *testing.T) {
		for _, path := range []string{"/api/v1/sessions/" + sidB, "/api/v1/sessions/" + sidB + "/events"} {
			if st := httpJSON(t, "GET", in.http.URL+path, tokA, "", nil); st != http.StatusNotFound {
				t.Fatalf("GET %s with A's token: %d, want 404", path, st)
			}
			if st := httpJSON(t, "GET", in.http.URL+strings.ReplaceAll(path, sidB, sidA), tokA, "", nil); st != http.StatusOK {
				t.Fatalf("GET %s with A's own token: %d, want 200", strings.ReplaceAll(path, sidB, sidA), st)
			}
		}
		if st := httpJSON(t, "DELETE", in.http.URL+"/api/v1/sessions/"+sidB, tokA, "", nil); st != http.StatusNotFound {
			t.Fatalf("DELETE B with A's token: %d, want 404", st)
		}
	})

	t.Run("bad tokens", func(t *testing.T) {
		same, _ := hub.NewTokens([]byte(strings.Repeat("s", 32)))
		other, _ := hub.NewTokens([]byte(strings.Repeat("o", 32)))
		custID := custA.Hello().Principal.ID
		claims := hub.Claims{Role: hub.PrincipalCustomer, Subject: custID, Name: "Ann", SessionID: sidA,
			Expires: time.Now().Add(time.Hour).Unix()}
		valid := same.Sign(claims)
		expiredClaims := claims
		expiredClaims.Expires = time.Now().Add(-time.Minute).Unix()
		agentClaims := hub.Claims{Role: hub.PrincipalAgent, Subject: "ag1", Expires: time.Now().Add(time.Hour).Unix()}
		for _, tc := range []struct{ name, token string }{
			{"expired", same.Sign(expiredClaims)},
			{"forged", other.Sign(claims)},
			{"forged agent", other.Sign(agentClaims)},
			{"tampered", tamper(valid)},
			{"garbage", "v1.garbage"},
		} {
			// In the auth frame: an error frame with its id, then 4500.
			c := rawDial(t, in)
			c.send(protocol.Command{Type: protocol.CmdAuth, ID: "a1", Token: tc.token})
			f := c.read()
			if f.Type != protocol.FrameError || f.ID != "a1" || f.Error == nil || f.Error.Code != hub.EUNAUTHORIZED {
				t.Fatalf("%s token: %s, want an unauthorized error frame", tc.name, f.Raw)
			}
			c.wantClose(protocol.CloseUnauthorized)
			// In the Authorization header: the same.
			c, _, err := rawDialOpts(t, in.WSURL(), http.Header{"Authorization": {"Bearer " + tc.token}}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if f := c.read(); f.Type != protocol.FrameError || f.Error == nil || f.Error.Code != hub.EUNAUTHORIZED {
				t.Fatalf("%s token in the header: %s", tc.name, f.Raw)
			}
			c.wantClose(protocol.CloseUnauthorized)
			if st := httpJSON(t, "GET", in.http.URL+"/api/v1/sessions/"+sidA, tc.token, "", nil); st != http.StatusUnauthorized {
				t.Fatalf("%s token over REST: %d, want 401", tc.name, st)
			}
		}
		// Control: the same claims signed with the hub's secret work.
		if _, hello := rawAuth(t, in, valid, nil); hello.Principal == nil || hello.Principal.ID != custID {
			t.Fatalf("valid token: hello %s", hello.Raw)
		}
	})

	t.Run("origin", func(t *testing.T) {
		for _, origin := range []string{"https://evil.example", "https://shop.example.com.evil.example", "https://sub.shop.example.com"} {
			_, res, err := rawDialOpts(t, in.WSURL(), http.Header{"Origin": {origin}}, nil)
			if err == nil || res == nil || res.StatusCode != http.StatusForbidden {
				st := 0
				if res != nil {
					st = res.StatusCode
				}
				t.Fatalf("Origin %s: err %v, status %d, want 403", origin, err, st)
			}
		}
		for _, origin := range []string{"https://shop.example.com", "http://shop.example.com"} {
			c, err := client.Dial(ctx, client.Config{URL: in.WSURL(), Token: tokA, Origin: origin})
			if err != nil {
				t.Fatalf("Origin %s: %v", origin, err)
			}
			if h := c.Hello(); len(h.Sessions) != 1 || h.Sessions[0] != sidA {
				t.Fatalf("Origin %s: hello %+v", origin, h)
			}
			c.Close()
		}
	})
}

// TestAgentDisabledClosesSockets: disabling an agent closes its tabs on
// every instance with 4502 within a second; its token and its password no
// longer work.
func TestAgentDisabledClosesSockets(t *testing.T) {
	e := newRTEnv(t, 2, rtOptions{})
	a, b := e.hubs[0], e.hubs[1]
	agentTok := e.agent(a, "ag1")
	otherTok := e.quickAgent("ag2")
	tabA := e.dial(a, agentTok)
	tabB := e.dial(b, agentTok)
	other := e.dial(b, otherTok)
	// A session assigned after the tabs opened reaches both: each instance
	// then has the agent topic live (see TestDisableRightAfterConnect).
	sid, _ := e.customer(a, "Ann")
	e.assign(b, sid, "ag1")
	next(t, tabA, ofType(hub.EventMemberJoined))
	next(t, tabB, ofType(hub.EventMemberJoined))

	start := time.Now()
	if st := httpJSON(t, "PATCH", a.http.URL+"/api/v1/agents/ag1", rtAdminKey, `{"disabled":true}`, nil); st != 200 {
		t.Fatalf("disable: %d", st)
	}
	for name, c := range map[string]*client.Client{"tab on A": tabA, "tab on B": tabB} {
		if code := waitDone(t, c, time.Second+time.Since(start)); code != protocol.CloseAgentDisabled {
			t.Fatalf("%s closed with %d (%v), want %d", name, code, c.Err(), protocol.CloseAgentDisabled)
		}
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("tabs closed %v after the disable", d)
	}
	if ce := tabA.Err().(*client.CloseError); ce.Reconnectable() {
		t.Fatalf("%v is reconnectable", ce)
	}
	// Another agent's socket on the same instance is untouched.
	if other.Err() != nil {
		t.Fatalf("other agent's socket: %v", other.Err())
	}
	for _, in := range e.hubs {
		if st := httpJSON(t, "GET", in.http.URL+"/api/v1/sessions/"+sid, agentTok, "", nil); st != http.StatusUnauthorized {
			t.Fatalf("REST with the disabled agent's token: %d, want 401", st)
		}
		c := rawDial(t, in)
		c.send(protocol.Command{Type: protocol.CmdAuth, ID: "a", Token: agentTok})
		if f := c.read(); f.Type != protocol.FrameError || f.Error == nil || f.Error.Code != hub.EUNAUTHORIZED {
			t.Fatalf("WS auth with the disabled agent's token: %s", f.Raw)
		}
		c.wantClose(protocol.CloseUnauthorized)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := tabA.Reconnect(ctx); err == nil {
		t.Fatal("the client reconnected with a disabled agent's token")
	}
	if st := httpJSON(t, "POST", b.http.URL+"/api/v1/auth/login", "", `{"email":"ag1@example.com","password":"password-ag1"}`, nil); st != http.StatusUnauthorized {
		t.Fatalf("login of a disabled agent: %d, want 401", st)
	}
	// Control: the other agent's token still works.
	if st := httpJSON(t, "GET", b.http.URL+"/api/v1/sessions/"+sid, otherTok, "", nil); st != http.StatusNotFound {
		t.Fatalf("REST with another agent's token: %d, want 404 (authenticated, not its session)", st)
	}
}

// tamper changes the last character of a token's signature.
func tamper(tok string) string {
	c := byte('A')
	if tok[len(tok)-1] == c {
		c = 'B'
	}
	return tok[:len(tok)-1] + string(c)
}
