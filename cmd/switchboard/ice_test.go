package main

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/api/client"
	"github.com/switchboardhq/switchboard/hub/ice"
)

// TestICEServersInHello: with SWITCHBOARD_ICE_SERVERS and a TURN secret,
// a socket's hello carries the STUN URLs and the TURN URLs with a
// credential minted for its party that verifies as coturn checks it (its
// use-auth-secret), and a call's invite reply carries fresh ones.
func TestICEServersInHello(t *testing.T) {
	c, err := ParseConfig(nil, env(map[string]string{
		"SWITCHBOARD_ICE_SERVERS": "stun:127.0.0.1:3478,turn:127.0.0.1:3478?transport=udp",
		"SWITCHBOARD_TURN_SECRET": "coturn-shared-secret", "SWITCHBOARD_TURN_TTL": "10m",
	}))
	if err != nil {
		t.Fatal(err)
	}
	m := openMain(t, c)
	var w struct {
		Token string
	}
	if st := killJSON(t, http.MethodPost, m.URL()+"/api/v1/widget/sessions", "", `{"name":"Maria"}`, &w); st != http.StatusCreated {
		t.Fatalf("widget session: %d", st)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cl, err := client.Dial(ctx, client.Config{URL: "ws" + strings.TrimPrefix(m.URL(), "http") + "/ws", Token: w.Token})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.CloseNow()
	servers := cl.Hello().ICEServers
	if len(servers) != 2 || servers[0].URLs[0] != "stun:127.0.0.1:3478" || servers[0].Username != "" {
		t.Fatalf("ice_servers %+v", servers)
	}
	turn := servers[1]
	if turn.URLs[0] != "turn:127.0.0.1:3478?transport=udp" || !strings.Contains(turn.Username, ":customer-") {
		t.Fatalf("TURN server %+v", turn)
	}
	now := time.Now()
	if !ice.Verify("coturn-shared-secret", turn.Username, turn.Credential, now.Add(9*time.Minute)) {
		t.Fatal("the TURN credential does not verify")
	}
	if ice.Verify("coturn-shared-secret", turn.Username, turn.Credential, now.Add(11*time.Minute)) {
		t.Fatal("the TURN credential outlives its TTL")
	}
}
