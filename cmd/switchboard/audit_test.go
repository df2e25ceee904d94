package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/hub/redisstore/redistest"
)

// TestAuditCommand: `switchboard audit` passes a store a hub has used and
// fails, naming the key, once a key of no known class appears.
func TestAuditCommand(t *testing.T) {
	r := redistest.New(t)
	m := hookHub(t, r, hookOpts())
	agent := hookAgent(t, m, "auditagent")
	s := openSession(t, m, "Audit", nil)
	s.chat(t, agent, 2)
	s.end(t, m)
	env := func(k string) string {
		return map[string]string{"SWITCHBOARD_REDIS_URL": r.URL, "SWITCHBOARD_KEY_PREFIX": r.Prefix}[k]
	}
	var out, errOut bytes.Buffer
	if rc := auditCommand(nil, env, &out, &errOut); rc != 0 || !strings.Contains(out.String(), "session stream") {
		t.Fatalf("audit of a healthy store: %d\n%s%s", rc, out.String(), errOut.String())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	r.Client.Set(ctx, r.Prefix+":leftover", "x", 0)
	out.Reset()
	if rc := auditCommand(nil, env, &out, &errOut); rc != 1 || !strings.Contains(out.String(), "VIOLATION "+r.Prefix+":leftover") {
		t.Fatalf("audit with a stray key: %d\n%s", rc, out.String())
	}
}
