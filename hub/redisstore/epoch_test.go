package redisstore_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/hub"
	"github.com/switchboardhq/switchboard/hub/redisstore"
	"github.com/switchboardhq/switchboard/hub/redisstore/redistest"
)

// guardFixture is a store with one session and its guard, logging to a buffer.
type guardFixture struct {
	r     *redistest.Redis
	store *redisstore.Store
	guard *redisstore.Guard
	log   *bytes.Buffer
}

func newGuardFixture(t *testing.T) *guardFixture {
	r := redistest.New(t)
	s, err := redisstore.New(r.Client, redisstore.Options{Prefix: r.Prefix})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	f := &guardFixture{r: r, store: s, log: &buf}
	f.guard = s.NewGuard(slog.New(slog.NewTextHandler(&buf, nil)))
	return f
}

func (f *guardFixture) counter(t *testing.T, name string) int64 {
	v, err := f.r.Client.Get(context.Background(), f.r.Prefix+":"+name).Int64()
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return v
}

// TestStoreEpochFollowsTheServerRun: the marker is made once and kept
// while the same Redis server run answers; a new run (a restart, a
// failover) changes the epoch and moves the number counters past any
// number a lost write could have handed out; a run_id unknown (miniredis)
// changes nothing. OnChange's function runs once for the change (the
// instance's bus reconnects there).
func TestStoreEpochFollowsTheServerRun(t *testing.T) {
	f := newGuardFixture(t)
	ctx := context.Background()
	g := f.guard
	onChange := make(chan struct{}, 10)
	g.OnChange(func() { onChange <- struct{}{} })
	if err := g.CheckRun(ctx, "run-a"); err != nil {
		t.Fatal(err)
	}
	first := g.Epoch()
	if first == "" || !strings.Contains(f.log.String(), "new store marker") {
		t.Fatalf("epoch %q, log %s", first, f.log)
	}
	svc := hub.NewService(f.store, hub.Policy{AgentCapacity: 1, Retention: time.Hour}, nil)
	s, err := svc.CreateSession(ctx, hub.SessionCreate{Title: "t", CustomerName: "n"})
	if err != nil {
		t.Fatal(err)
	}
	if raw, _ := svc.Events(ctx, hub.SystemPrincipal, s.ID, 0, 10); hub.EventEpoch(raw[0]) != first {
		t.Fatalf("event %s, want epoch %s", raw[0], first)
	}
	for _, run := range []string{"run-a", ""} {
		if err := g.CheckRun(ctx, run); err != nil || g.Epoch() != first {
			t.Fatalf("same run %q: epoch %q -> %q, %v", run, first, g.Epoch(), err)
		}
	}
	sessions, messages := f.counter(t, "sessions:number"), f.counter(t, "messages:number")
	if err := g.CheckRun(ctx, "run-b"); err != nil {
		t.Fatal(err)
	}
	if g.Epoch() == first || g.Changes() != 1 || g.Lost() != 0 {
		t.Fatalf("new run: epoch %q (was %q), changes %d, lost %d", g.Epoch(), first, g.Changes(), g.Lost())
	}
	select {
	case <-onChange:
	case <-time.After(5 * time.Second):
		t.Fatal("OnChange's function did not run for the new run")
	}
	if n := len(onChange); n != 0 { // the first marker and the same runs were no change
		t.Fatalf("OnChange's function ran %d times more", n)
	}
	if got := f.counter(t, "sessions:number"); got != sessions+redisstore.EpochJump {
		t.Fatalf("sessions:number %d, want %d", got, sessions+redisstore.EpochJump)
	}
	if got := f.counter(t, "messages:number"); got != messages+redisstore.EpochJump {
		t.Fatalf("messages:number %d, want %d", got, messages+redisstore.EpochJump)
	}
	// Another hub's guard finds the change made.
	other := f.store.NewGuard(nil)
	if err := other.CheckRun(ctx, "run-b"); err != nil || other.Epoch() != g.Epoch() {
		t.Fatalf("second hub: epoch %q, want %q (%v)", other.Epoch(), g.Epoch(), err)
	}
	// The session's next event is in the new epoch, and the session says so.
	if _, _, err := svc.SendMessage(ctx, hub.Principal{Kind: hub.PrincipalCustomer, ID: s.CustomerID}, s.ID, "m1", "hi"); err != nil {
		t.Fatal(err)
	}
	got, _ := svc.Session(ctx, s.ID)
	if got.Epoch != g.Epoch() {
		t.Fatalf("session epoch %q, want %q", got.Epoch, g.Epoch())
	}
}

// TestGuardSeesLostData: a marker gone after the hub saw it (Redis came
// back empty), or a store clock behind what the hub saw (Redis came back
// older on the same run), is data lost: logged at error level, counted,
// and the epoch changes.
func TestGuardSeesLostData(t *testing.T) {
	f := newGuardFixture(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	g := f.guard
	if err := g.Check(ctx); err != nil {
		t.Fatal(err)
	}
	first := g.Epoch()
	f.r.Client.Del(ctx, f.r.Prefix+":store")
	if err := g.Check(ctx); err != nil {
		t.Fatal(err)
	}
	if g.Lost() != 1 || g.Epoch() == first || !strings.Contains(f.log.String(), "level=ERROR") {
		t.Fatalf("marker gone: lost %d, epoch %q (was %q), log %s", g.Lost(), g.Epoch(), first, f.log)
	}

	// The clock: ticks move it; set it back and the next tick notices.
	go g.Run(ctx, 5*time.Millisecond)
	waitUntil(t, func() bool {
		n, _ := f.r.Client.HGet(ctx, f.r.Prefix+":store", "clock").Int64()
		return n >= 5
	})
	second := g.Epoch()
	if err := f.r.Client.HSet(ctx, f.r.Prefix+":store", "clock", 1).Err(); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, func() bool { return g.Lost() == 2 })
	if g.Epoch() == second {
		t.Fatal("the clock went back and the epoch stayed")
	}
	if !strings.Contains(f.log.String(), "store rolled back") {
		t.Fatalf("log %s", f.log)
	}
}

func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
	}
}

// TestTenantEpochFollowsTheStore: a served tenant's events carry the
// store's epoch from the first, and when the store's epoch changes (a new
// server run, or a clock gone back) every registered tenant's changes
// with it, its number counters jumping as the default tenant's do.
func TestTenantEpochFollowsTheStore(t *testing.T) {
	f := newGuardFixture(t)
	ctx := context.Background()
	g := f.guard
	if err := g.CheckRun(ctx, "run-a"); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"acme", "globex"} {
		if err := f.store.Tenants().CreateTenant(ctx, &hub.Tenant{ID: id, AdminKeyHash: hub.HashKey(id)}); err != nil {
			t.Fatal(err)
		}
	}
	acme := f.store.ForTenant("acme")
	if err := g.InitTenant(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	svc := hub.NewService(acme, hub.Policy{AgentCapacity: 1, Retention: time.Hour}, nil)
	s, err := svc.CreateSession(ctx, hub.SessionCreate{Title: "t", CustomerName: "n"})
	if err != nil {
		t.Fatal(err)
	}
	first := g.Epoch()
	if raw, _ := svc.Events(ctx, hub.SystemPrincipal, s.ID, 0, 10); len(raw) == 0 || hub.EventEpoch(raw[0]) != first {
		t.Fatalf("acme's first event %q, want epoch %s", raw, first)
	}
	number := func() int64 {
		v, err := f.r.Client.Get(ctx, redisstore.TenantPrefix(f.r.Prefix, "acme")+":sessions:number").Int64()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	before := number()

	if err := g.CheckRun(ctx, "run-b"); err != nil { // Redis restarted or failed over
		t.Fatal(err)
	}
	second := g.Epoch()
	if second == first {
		t.Fatal("the store's epoch did not change")
	}
	if _, _, err := svc.SendMessage(ctx, hub.Principal{Kind: hub.PrincipalCustomer, ID: s.CustomerID}, s.ID, "m1", "hi"); err != nil {
		t.Fatal(err)
	}
	raw, _ := svc.Events(ctx, hub.SystemPrincipal, s.ID, 0, 10)
	if got := hub.EventEpoch(raw[len(raw)-1]); got != second {
		t.Fatalf("acme's event after the change has epoch %q, want %q", got, second)
	}
	if got := number(); got != before+redisstore.EpochJump {
		t.Fatalf("acme's sessions:number %d, want %d", got, before+redisstore.EpochJump)
	}
	// globex was never served here; it gets the new epoch all the same.
	gs := hub.NewService(f.store.ForTenant("globex"), hub.Policy{AgentCapacity: 1, Retention: time.Hour}, nil)
	s2, err := gs.CreateSession(ctx, hub.SessionCreate{Title: "t", CustomerName: "n"})
	if err != nil {
		t.Fatal(err)
	}
	if raw, _ := gs.Events(ctx, hub.SystemPrincipal, s2.ID, 0, 10); hub.EventEpoch(raw[0]) != second {
		t.Fatalf("globex's event %s, want epoch %s", raw[0], second)
	}
}
