package redisstore_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/hub"
	"github.com/switchboardhq/switchboard/hub/redisstore"
	"github.com/switchboardhq/switchboard/hub/redisstore/redistest"
)

var t0 = time.Date(2024, 1, 15, 10, 30, 0, 0, time.UTC)

// fixture is a store on a fresh Redis with a controllable clock.
type fixture struct {
	r     *redistest.Redis
	store *redisstore.Store
	svc   *hub.Service
	now   time.Time
	mu    sync.Mutex
}

// newStore returns a store on a Redis of the test's own (redistest).
func newStore(tb testing.TB) (*redisstore.Store, *redistest.Redis) {
	tb.Helper()
	r := redistest.New(tb)
	tb.Logf("redis: %s", r.Kind())
	st, err := redisstore.New(r.Client, redisstore.Options{Prefix: r.Prefix})
	if err != nil {
		tb.Fatal(err)
	}
	return st, r
}

func newFixture(t *testing.T, policy hub.Policy) *fixture {
	t.Helper()
	st, r := newStore(t)
	f := &fixture{r: r, store: st, now: t0}
	if policy.AgentCapacity == 0 {
		policy.AgentCapacity = 2
	}
	if policy.Retention == 0 {
		policy.Retention = 24 * time.Hour
	}
	f.svc = hub.NewService(st, policy, f.clock)
	return f
}

func (f *fixture) clock() time.Time { f.mu.Lock(); defer f.mu.Unlock(); return f.now }
func (f *fixture) advance(d time.Duration) {
	f.mu.Lock()
	f.now = f.now.Add(d)
	f.mu.Unlock()
}

func (f *fixture) create(t *testing.T, title string) *hub.Session {
	t.Helper()
	s, err := f.svc.CreateSession(context.Background(), hub.SessionCreate{Title: title, CustomerName: "John"})
	if err != nil {
		t.Fatalf("create %q: %v", title, err)
	}
	return s
}

func wantErr(t *testing.T, got, want error) {
	t.Helper()
	if !errors.Is(got, want) {
		t.Fatalf("error = %v, want %v", got, want)
	}
}

func TestCreateAndGet(t *testing.T) {
	f := newFixture(t, hub.Policy{})
	ctx := context.Background()
	a := f.create(t, "first")
	b := f.create(t, "second")
	if !hub.ValidSessionID(a.ID) || a.ID == b.ID {
		t.Fatalf("ids %q %q", a.ID, b.ID)
	}
	if a.Number != 1 || b.Number != 2 {
		t.Fatalf("numbers %d %d, want 1 2", a.Number, b.Number)
	}
	got, err := f.svc.Session(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Title != "first" || got.CustomerName != "John" || got.State != hub.StateQueuing ||
		!got.CreatedAt.Equal(t0) || got.Seq != 1 || got.CustomerID == "" || got.AgentID != "" {
		t.Fatalf("got %+v", got)
	}
	_, err = f.svc.Session(ctx, hub.NewSessionID())
	wantErr(t, err, hub.ErrSessionNotFound)
	_, err = f.svc.Session(ctx, "nonsense")
	wantErr(t, err, hub.ErrSessionNotFound)
}

func TestListNewestFirstFilteredAndPaged(t *testing.T) {
	f := newFixture(t, hub.Policy{AgentCapacity: 10})
	ctx := context.Background()
	var ids []string
	for i := range 7 {
		ids = append(ids, f.create(t, fmt.Sprint("s", i)).ID)
		f.advance(time.Second)
	}
	if _, err := f.svc.AssignSession(ctx, ids[1], hub.Assignment{AgentID: "a1", AgentName: "A"}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.AssignSession(ctx, ids[4], hub.Assignment{AgentID: "a1", AgentName: "A"}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.CloseSession(ctx, ids[4]); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.CloseSession(ctx, ids[6]); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		f     hub.SessionFilter
		want  []string
		total int
	}{
		{hub.SessionFilter{Limit: 3}, []string{ids[6], ids[5], ids[4]}, 7},
		{hub.SessionFilter{Offset: 3, Limit: 3}, []string{ids[3], ids[2], ids[1]}, 7},
		{hub.SessionFilter{Offset: 6, Limit: 3}, []string{ids[0]}, 7},
		{hub.SessionFilter{Offset: 9, Limit: 3}, nil, 7},
		{hub.SessionFilter{Status: hub.StatusWaiting, Limit: 10}, []string{ids[5], ids[3], ids[2], ids[0]}, 4},
		{hub.SessionFilter{Status: hub.StatusActive, Limit: 10}, []string{ids[1]}, 1},
		{hub.SessionFilter{Status: hub.StatusEnded, Limit: 10}, []string{ids[6], ids[4]}, 2},
	}
	for _, c := range cases {
		got, total, err := f.svc.Sessions(ctx, c.f)
		if err != nil {
			t.Fatal(err)
		}
		var gotIDs []string
		for _, s := range got {
			gotIDs = append(gotIDs, s.ID)
		}
		if fmt.Sprint(gotIDs) != fmt.Sprint(c.want) || total != c.total {
			t.Errorf("%+v: got %v total %d, want %v total %d", c.f, gotIDs, total, c.want, c.total)
		}
	}
	st, err := f.svc.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st != (hub.Stats{Total: 7, Waiting: 4, Active: 1, Ended: 2}) {
		t.Fatalf("stats %+v", st)
	}
}

func TestAssignTransitions(t *testing.T) {
	f := newFixture(t, hub.Policy{AgentCapacity: 2})
	ctx := context.Background()
	s1, s2, s3 := f.create(t, "1"), f.create(t, "2"), f.create(t, "3")
	f.advance(5 * time.Second)
	got, err := f.svc.AssignSession(ctx, s1.ID, hub.Assignment{AgentID: "agent_001", AgentName: "Agent Wang"})
	if err != nil {
		t.Fatal(err)
	}
	if got.State != hub.StateAgent || got.AgentID != "agent_001" || got.AgentName != "Agent Wang" ||
		!got.AssignedAt.Equal(t0.Add(5*time.Second)) || got.Seq != 3 {
		t.Fatalf("after assign: %+v", got)
	}
	// A second assign of the same or another agent is a conflict.
	_, err = f.svc.AssignSession(ctx, s1.ID, hub.Assignment{AgentID: "agent_002", AgentName: "B"})
	wantErr(t, err, hub.ErrAgentAssigned)
	_, err = f.svc.AssignSession(ctx, s1.ID, hub.Assignment{AgentID: "agent_001", AgentName: "Agent Wang"})
	wantErr(t, err, hub.ErrAgentAssigned)

	// The unknown agent was registered with the default capacity (2).
	ag, err := f.store.Agent(ctx, "agent_001")
	if err != nil || ag.Capacity != 2 || ag.Name != "Agent Wang" {
		t.Fatalf("agent %+v, %v", ag, err)
	}
	if _, err := f.svc.AssignSession(ctx, s2.ID, hub.Assignment{AgentID: "agent_001", AgentName: "Agent Wang"}); err != nil {
		t.Fatal(err)
	}
	_, err = f.svc.AssignSession(ctx, s3.ID, hub.Assignment{AgentID: "agent_001", AgentName: "Agent Wang"})
	wantErr(t, err, hub.ErrMaxSessions)
	if s, _ := f.svc.Session(ctx, s3.ID); s.State != hub.StateQueuing || s.Seq != 1 {
		t.Fatalf("refused assign changed the session: %+v", s)
	}
	// Closing one frees capacity.
	if _, err := f.svc.CloseSession(ctx, s2.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.AssignSession(ctx, s3.ID, hub.Assignment{AgentID: "agent_001", AgentName: "Agent Wang"}); err != nil {
		t.Fatalf("assign after close: %v", err)
	}
}

func TestCloseAndDuration(t *testing.T) {
	f := newFixture(t, hub.Policy{Retention: 48 * time.Hour})
	ctx := context.Background()
	s := f.create(t, "x")
	f.advance(10 * time.Second)
	if _, err := f.svc.AssignSession(ctx, s.ID, hub.Assignment{AgentID: "a", AgentName: "A"}); err != nil {
		t.Fatal(err)
	}
	f.advance(320*time.Second + 700*time.Millisecond)
	live, _ := f.svc.Session(ctx, s.ID)
	if d := live.Duration(f.clock()); d != 320700*time.Millisecond {
		t.Fatalf("live duration %v", d)
	}
	ended, err := f.svc.CloseSession(ctx, s.ID)
	if err != nil {
		t.Fatal(err)
	}
	f.advance(time.Hour)
	if ended.State != hub.StateEnded || !ended.EndedAt.Equal(t0.Add(330700*time.Millisecond)) ||
		ended.Duration(f.clock()) != 320700*time.Millisecond || ended.Seq != 5 {
		t.Fatalf("ended %+v duration %v", ended, ended.Duration(f.clock()))
	}
	_, err = f.svc.CloseSession(ctx, s.ID)
	wantErr(t, err, hub.ErrSessionEnded)
	_, err = f.svc.AssignSession(ctx, s.ID, hub.Assignment{AgentID: "a", AgentName: "A"})
	wantErr(t, err, hub.ErrSessionEnded)
	_, err = f.svc.CloseSession(ctx, hub.NewSessionID())
	wantErr(t, err, hub.ErrSessionNotFound)

	// A session closed while waiting has no duration.
	w := f.create(t, "w")
	f.advance(time.Minute)
	ew, _ := f.svc.CloseSession(ctx, w.ID)
	if ew.Duration(f.clock()) != 0 {
		t.Fatalf("waiting session duration %v", ew.Duration(f.clock()))
	}
}

func TestMaxOpenSessions(t *testing.T) {
	f := newFixture(t, hub.Policy{MaxOpenSessions: 2})
	ctx := context.Background()
	a := f.create(t, "a")
	f.create(t, "b")
	_, err := f.svc.CreateSession(ctx, hub.SessionCreate{Title: "c", CustomerName: "x"})
	wantErr(t, err, hub.ErrMaxSessions)
	if _, err := f.svc.CloseSession(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	f.create(t, "c") // an ended session frees a place
	if st, _ := f.svc.Stats(ctx); st != (hub.Stats{Total: 3, Waiting: 2, Ended: 1}) {
		t.Fatalf("stats %+v", st)
	}
}

func TestRetentionExpiresSessionAndIndexes(t *testing.T) {
	f := newFixture(t, hub.Policy{Retention: 2 * time.Second})
	ctx := context.Background()
	s := f.create(t, "old")
	keep := f.create(t, "open")
	if _, err := f.svc.CloseSession(ctx, s.ID); err != nil {
		t.Fatal(err)
	}
	sessKey := f.r.Prefix + ":session:" + s.ID
	for _, k := range []string{sessKey, sessKey + ":events"} {
		ttl, err := f.r.Client.PTTL(ctx, k).Result()
		if err != nil || ttl <= 0 || ttl > 2*time.Second {
			t.Fatalf("PTTL %s = %v, %v; want (0, 2s]", k, ttl, err)
		}
	}
	if keepTTL, _ := f.r.Client.PTTL(ctx, f.r.Prefix+":session:"+keep.ID).Result(); keepTTL != -1 {
		t.Fatalf("open session has TTL %v", keepTTL)
	}
	// Past retention on our clock the indexes forget it, and on Redis'
	// clock the hash and stream are gone.
	f.advance(3 * time.Second)
	if st, _ := f.svc.Stats(ctx); st != (hub.Stats{Total: 1, Waiting: 1}) {
		t.Fatalf("stats after retention %+v", st)
	}
	list, total, _ := f.svc.Sessions(ctx, hub.SessionFilter{Limit: 10})
	if total != 1 || len(list) != 1 || list[0].ID != keep.ID {
		t.Fatalf("list after retention: %d %v", total, list)
	}
	if f.r.FastForward(3 * time.Second) {
		if n, _ := f.r.Client.Exists(ctx, sessKey, sessKey+":events").Result(); n != 0 {
			t.Fatalf("%d keys of the ended session survive retention", n)
		}
		_, err := f.svc.Session(ctx, s.ID)
		wantErr(t, err, hub.ErrSessionNotFound)
	}
}

func TestPruneAndHealing(t *testing.T) {
	f := newFixture(t, hub.Policy{Retention: time.Hour})
	ctx := context.Background()
	for range 5 {
		s := f.create(t, "x")
		if _, err := f.svc.CloseSession(ctx, s.ID); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := f.store.Prune(ctx, f.clock()); err != nil || n != 0 {
		t.Fatalf("early prune dropped %d, %v", n, err)
	}
	n, err := f.store.Prune(ctx, f.clock().Add(2*time.Hour))
	if err != nil || n != 5 {
		t.Fatalf("prune dropped %d, %v; want 5", n, err)
	}
	// A hash that vanished before the index noticed (Redis' clock ahead of
	// ours) is skipped and removed from the index by the listing.
	s := f.create(t, "gone")
	if _, err := f.svc.CloseSession(ctx, s.ID); err != nil {
		t.Fatal(err)
	}
	f.r.Client.Del(ctx, f.r.Prefix+":session:"+s.ID)
	list, _, err := f.svc.Sessions(ctx, hub.SessionFilter{Limit: 10})
	if err != nil || len(list) != 0 {
		t.Fatalf("list %v, %v", list, err)
	}
	if st, _ := f.svc.Stats(ctx); st != (hub.Stats{}) {
		t.Fatalf("stats %+v", st)
	}
}

// TestEventsAppendedAndPublished checks that every transition appends to the
// session's stream with contiguous seq ids and publishes the same bytes.
func TestEventsAppendedAndPublished(t *testing.T) {
	f := newFixture(t, hub.Policy{})
	ctx := context.Background()
	// Subscribe before the session exists: pattern on the prefix's channels.
	ps := f.r.Client.PSubscribe(ctx, f.r.Prefix+":ch:session:*")
	defer ps.Close()
	if _, err := ps.Receive(ctx); err != nil { // subscription confirmation
		t.Fatal(err)
	}
	s := f.create(t, "x")
	f.advance(time.Second)
	if _, err := f.svc.AssignSession(ctx, s.ID, hub.Assignment{AgentID: "a", AgentName: "A"}); err != nil {
		t.Fatal(err)
	}
	// Refused transitions publish nothing.
	if _, err := f.svc.AssignSession(ctx, s.ID, hub.Assignment{AgentID: "b", AgentName: "B"}); err == nil {
		t.Fatal("second assign succeeded")
	}
	if _, err := f.svc.CloseSession(ctx, s.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.CloseSession(ctx, s.ID); err == nil {
		t.Fatal("second close succeeded")
	}
	entries, err := f.r.Client.XRange(ctx, f.r.Prefix+":session:"+s.ID+":events", "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	wantTypes := []string{hub.EventSessionCreated, hub.EventSessionState, hub.EventMemberJoined,
		hub.EventMemberLeft, hub.EventSessionEnded}
	if len(entries) != len(wantTypes) {
		t.Fatalf("%d stream entries, want %d", len(entries), len(wantTypes))
	}
	for i, e := range entries {
		if e.ID != fmt.Sprintf("%d-0", i+1) {
			t.Errorf("entry %d id %s", i, e.ID)
		}
		var ev hub.Event
		if err := json.Unmarshal([]byte(e.Values["e"].(string)), &ev); err != nil {
			t.Fatalf("entry %d: %v", i, err)
		}
		if ev.Seq != int64(i+1) || ev.Type != wantTypes[i] || ev.SessionID != s.ID {
			t.Errorf("entry %d: %+v", i, ev)
		}
		msg, err := ps.ReceiveMessage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if msg.Payload != e.Values["e"] || msg.Channel != f.store.SessionChannel(s.ID) {
			t.Errorf("published %s on %s, stream has %s", msg.Payload, msg.Channel, e.Values["e"])
		}
	}
}

func TestPutAgentKeepsEmailsUnique(t *testing.T) {
	f := newFixture(t, hub.Policy{})
	ctx := context.Background()
	a := &hub.Agent{ID: "a1", Name: "A", Email: "A@Example.com", Role: hub.RoleAgent, Capacity: 3}
	if err := f.store.PutAgent(ctx, a); err != nil {
		t.Fatal(err)
	}
	err := f.store.PutAgent(ctx, &hub.Agent{ID: "a2", Name: "B", Email: "a@example.com", Role: hub.RoleAgent, Capacity: 3})
	if hub.ErrorCode(err) != hub.ECONFLICT {
		t.Fatalf("duplicate email: %v", err)
	}
	// The owner may change its address, which frees the old one.
	a.Email = "new@example.com"
	if err := f.store.PutAgent(ctx, a); err != nil {
		t.Fatal(err)
	}
	if err := f.store.PutAgent(ctx, &hub.Agent{ID: "a2", Name: "B", Email: "a@example.com", Role: hub.RoleAgent, Capacity: 3}); err != nil {
		t.Fatalf("freed email: %v", err)
	}
	got, err := f.store.Agent(ctx, "a1")
	if err != nil || got.Email != "new@example.com" || got.Status != hub.AgentOffline || got.Capacity != 3 {
		t.Fatalf("agent %+v, %v", got, err)
	}
	if _, err := f.store.Agent(ctx, "nobody"); hub.ErrorCode(err) != hub.ENOTFOUND {
		t.Fatalf("unknown agent: %v", err)
	}
}

// TestSessionHead: the head a socket's hello reads holds the same who and
// how far as the whole session, through the session's life, and refuses
// whom the whole read refuses.
func TestSessionHead(t *testing.T) {
	f := newFixture(t, hub.Policy{})
	ctx := context.Background()
	s := f.create(t, "head")
	customer := hub.Principal{Kind: hub.PrincipalCustomer, ID: s.CustomerID}
	agent := hub.Principal{Kind: hub.PrincipalAgent, ID: "agent_001"}
	same := func(step string) {
		t.Helper()
		whole, err := f.svc.Session(ctx, s.ID)
		if err != nil {
			t.Fatal(err)
		}
		head, err := f.svc.SessionHeadFor(ctx, customer, s.ID)
		if err != nil {
			t.Fatalf("%s: %v", step, err)
		}
		want := hub.Session{ID: whole.ID, CustomerID: whole.CustomerID, AgentID: whole.AgentID, BotID: whole.BotID,
			State: whole.State, Seq: whole.Seq, Epoch: whole.Epoch}
		if !reflect.DeepEqual(*head, want) {
			t.Fatalf("%s: head %+v, want %+v", step, *head, want)
		}
	}
	same("queued")
	if _, err := f.svc.AssignSession(ctx, s.ID, hub.Assignment{AgentID: agent.ID, AgentName: "A"}); err != nil {
		t.Fatal(err)
	}
	same("assigned")
	if _, _, err := f.svc.SendMessage(ctx, customer, s.ID, "m1", "hello"); err != nil {
		t.Fatal(err)
	}
	same("after a message")
	if h, err := f.svc.SessionHeadFor(ctx, agent, s.ID); err != nil || h.AgentID != agent.ID {
		t.Fatalf("the session's agent: %+v, %v", h, err)
	}
	if _, err := f.svc.CloseSession(ctx, s.ID); err != nil {
		t.Fatal(err)
	}
	same("ended")
	_, err := f.svc.SessionHeadFor(ctx, hub.Principal{Kind: hub.PrincipalCustomer, ID: "someone_else"}, s.ID)
	wantErr(t, err, hub.ErrSessionNotFound)
	_, err = f.svc.SessionHeadFor(ctx, hub.Principal{Kind: hub.PrincipalAgent, ID: "agent_002"}, s.ID)
	wantErr(t, err, hub.ErrSessionNotFound)
	_, err = f.svc.SessionHeadFor(ctx, customer, hub.NewSessionID())
	wantErr(t, err, hub.ErrSessionNotFound)
	_, err = f.svc.SessionHeadFor(ctx, customer, "nonsense")
	wantErr(t, err, hub.ErrSessionNotFound)
}
