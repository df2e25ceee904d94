package ice

import (
	"strings"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	good := []struct {
		in         string
		stun, turn int
	}{
		{"", 0, 0},
		{"stun:stun.example.com:3478", 1, 0},
		{"stun:stun.example.com, turn:turn.example.com:3478?transport=udp turns:turn.example.com:5349", 1, 2},
		{"turn:[2001:db8::1]:3478?transport=tcp", 0, 1},
		{"stuns:127.0.0.1", 1, 0},
	}
	for _, g := range good {
		c, err := Parse(g.in, "s3cret", 0)
		if err != nil {
			t.Fatalf("%q: %v", g.in, err)
		}
		if len(c.stun) != g.stun || len(c.turn) != g.turn || c.ttl != DefaultTTL {
			t.Fatalf("%q: %d stun, %d turn, ttl %v", g.in, len(c.stun), len(c.turn), c.ttl)
		}
	}
	bad := []struct{ in, secret, want string }{
		{"turn:turn.example.com", "", "TURN URLs need SWITCHBOARD_TURN_SECRET"},
		{"http://turn.example.com", "s", "is not stun, stuns, turn or turns"},
		{"turn://turn.example.com", "s", "no //"},
		{"stun:", "s", "no //"},
		{"turn:turn.example.com:99999", "s", "is not 1 to 65535"},
		{"turn:turn.example.com:x", "s", "is not 1 to 65535"},
		{"stun:stun.example.com?transport=udp", "s", "only turn URLs take a query"},
		{"turn:turn.example.com?transport=sctp", "s", "only turn URLs take a query"},
		{"turn:user@turn.example.com", "s", "no host"},
		{"stun.example.com", "s", "want stun:"},
	}
	for _, b := range bad {
		if _, err := Parse(b.in, b.secret, 0); err == nil || !strings.Contains(err.Error(), b.want) {
			t.Fatalf("%q: %v, want an error with %q", b.in, err, b.want)
		}
	}
}

// TestFor: STUN URLs come without credentials, TURN URLs with the TURN REST
// scheme's: an expiry TTL from now, the user, and the HMAC that openssl
// computes for them (echo -n "1733360400:customer-cust_1" | openssl dgst
// -sha1 -hmac north-secret -binary | base64).
func TestFor(t *testing.T) {
	c, err := Parse("stun:stun.example.com turn:turn.example.com:3478", "north-secret", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1733356800, 0)
	s := c.For("customer-cust_1", now)
	if len(s) != 2 || s[0].Username != "" || s[0].URLs[0] != "stun:stun.example.com" {
		t.Fatalf("%+v", s)
	}
	if s[1].Username != "1733360400:customer-cust_1" || s[1].Credential != "O/YZaOqyKPkqXaiBTB7FJcLaMx8=" {
		t.Fatalf("TURN credential %+v", s[1])
	}
	if got := c.For("agent:with:colons", now)[1].Username; got != "1733360400:agent_with_colons" {
		t.Fatalf("username %q", got)
	}
	if none, _ := Parse("", "", 0); none.For("x", now) != nil || !none.Empty() {
		t.Fatal("no servers configured, yet some handed out")
	}
}

func TestVerify(t *testing.T) {
	c, _ := Parse("turn:turn.example.com", "north-secret", time.Minute)
	now := time.Unix(1733356800, 0)
	s := c.For("agent-bo", now)[0]
	if !Verify("north-secret", s.Username, s.Credential, now.Add(time.Minute)) {
		t.Fatal("a fresh credential does not verify")
	}
	cases := map[string]bool{
		"expired":      Verify("north-secret", s.Username, s.Credential, now.Add(time.Minute+time.Second)),
		"wrong secret": Verify("south-secret", s.Username, s.Credential, now),
		"tampered":     Verify("north-secret", strings.Replace(s.Username, "agent-bo", "agent-al", 1), s.Credential, now),
		"no expiry":    Verify("north-secret", "agent-bo", credential([]byte("north-secret"), "agent-bo"), now),
	}
	for name, ok := range cases {
		if ok {
			t.Fatalf("%s: verified", name)
		}
	}
}
