package redisstore_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/switchboardhq/switchboard/hub"
	"github.com/switchboardhq/switchboard/hub/redisstore"
	"github.com/switchboardhq/switchboard/hub/redisstore/redistest"
	"github.com/switchboardhq/switchboard/hub/webhook"
)

// TestAuditEveryKeyBounded: a store in use (open and ended sessions,
// messages, agents, a webhook) passes the audit; a key of no known class,
// an ended session without its TTL and an index naming a lost session
// are each reported.
func TestAuditEveryKeyBounded(t *testing.T) {
	r := redistest.New(t)
	st, err := redisstore.New(r.Client, redisstore.Options{Prefix: r.Prefix})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := st.NewGuard(nil).Check(ctx); err != nil {
		t.Fatal(err)
	}
	svc := hub.NewService(st, hub.Policy{AgentCapacity: 2, Retention: time.Hour}, nil)
	if err := st.PutEndpoint(ctx, &webhook.Endpoint{ID: "wh_audit", URL: "http://127.0.0.1:1/x", Secret: "s", CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if err := st.CreateAgent(ctx, &hub.Agent{ID: "ag1", Name: "A", Email: "a@x.invalid", Role: hub.RoleAgent, Capacity: 2}); err != nil {
		t.Fatal(err)
	}
	var ended *hub.Session
	for i := range 3 {
		s, err := svc.CreateSession(ctx, hub.SessionCreate{Title: "t", CustomerName: "n"})
		if err != nil {
			t.Fatal(err)
		}
		cust := hub.Principal{Kind: hub.PrincipalCustomer, ID: s.CustomerID}
		if _, _, err := svc.SendMessage(ctx, cust, s.ID, "m", "hello"); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			if ended, err = svc.CloseSessionAs(ctx, cust, s.ID); err != nil {
				t.Fatal(err)
			}
		}
	}
	a, err := st.Audit(ctx, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Violations) > 0 || a.Keys < 20 {
		t.Fatalf("healthy store: %d keys, violations %v", a.Keys, a.Violations)
	}
	t.Logf("%d keys in %d classes", a.Keys, len(a.Classes))

	r.Client.Set(ctx, r.Prefix+":stray:thing", "1", 0)
	r.Client.Persist(ctx, r.Prefix+":session:"+ended.ID)
	r.Client.ZAdd(ctx, r.Prefix+":idx:all", redis.Z{Score: 999, Member: "cs_gone"})
	if a, err = st.Audit(ctx, time.Now()); err != nil {
		t.Fatal(err)
	}
	want := []string{":stray:thing: a key of no known class", ":session:" + ended.ID + ": no TTL on an ended session", ":idx:all: 1 members name sessions"}
	for _, w := range want {
		found := false
		for _, v := range a.Violations {
			found = found || strings.Contains(v, w)
		}
		if !found {
			t.Errorf("violations %q lack %q", a.Violations, w)
		}
	}
}
