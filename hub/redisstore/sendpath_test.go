package redisstore_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/switchboardhq/switchboard/hub"
	"github.com/switchboardhq/switchboard/hub/redisstore"
	"github.com/switchboardhq/switchboard/hub/redisstore/redistest"
	"github.com/switchboardhq/switchboard/hub/webhook"
)

// commandCalls is the number of commands a Redis server ran since its last
// CONFIG RESETSTAT (INFO commandstats: scripts' own commands included),
// by command, without the INFO and CONFIG RESETSTAT of the measure.
func commandCalls(t *testing.T, rdb redis.UniversalClient) (int, map[string]int) {
	t.Helper()
	info, err := rdb.Info(context.Background(), "commandstats").Result()
	if err != nil {
		t.Fatal(err)
	}
	total, by := 0, map[string]int{}
	for _, line := range strings.Split(info, "\n") {
		name, rest, ok := strings.Cut(strings.TrimSpace(line), ":calls=")
		if !ok {
			continue
		}
		name = strings.TrimPrefix(name, "cmdstat_")
		n, _ := strconv.Atoi(rest[:strings.IndexByte(rest, ',')])
		if name == "info" || strings.HasPrefix(name, "config") {
			continue
		}
		by[name] = n
		total += n
	}
	return total, by
}

// TestSendPathCommands: a chat message costs Redis at most 8 commands,
// EVALSHA and those it runs included (issue 15): the session's fields in
// one HMGET, the client_msg_id recorded and checked in one HSETNX, the
// store's epoch and its number of webhook endpoints in one HMGET, the
// session's counters in one HSET, the message number, the stream and the
// publish. The client_msg_id hash's TTL is renewed once per half TTL, not
// per message, and never left unset. An endpoint adds its SMEMBERS and
// one XADD per endpoint; a retry costs no write but the TTL. On a server
// of the test's own, whose statistics only it moves.
func TestSendPathCommands(t *testing.T) {
	srv := redistest.RequireServer(t, redistest.ServerConfig{})
	opt, err := redis.ParseURL(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	ctx := context.Background()
	st, err := redisstore.New(rdb, redisstore.Options{Prefix: "{cc}"})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.NewGuard(nil).Check(ctx); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	svc := hub.NewService(st, hub.Policy{AgentCapacity: 2, Retention: time.Hour}, func() time.Time { return now })
	s, err := svc.CreateSession(ctx, hub.SessionCreate{Title: "t", CustomerName: "n"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.AssignSession(ctx, s.ID, hub.Assignment{AgentID: "ag", AgentName: "Ag"}); err != nil {
		t.Fatal(err)
	}
	cust := hub.Principal{Kind: hub.PrincipalCustomer, ID: s.CustomerID, SessionID: s.ID}
	agent := hub.Principal{Kind: hub.PrincipalAgent, ID: "ag", Name: "Ag", Role: hub.RoleAgent}
	send := func(p hub.Principal, id string) (int64, bool) {
		t.Helper()
		seq, dup, err := svc.SendMessage(ctx, p, s.ID, id, "hello")
		if err != nil {
			t.Fatalf("send %s: %v", id, err)
		}
		return seq, dup
	}
	// The first messages of a session set its first-response figures and
	// the client_msg_id hash's TTL: measured after them.
	send(cust, "warm-1")
	send(agent, "warm-2")
	cmids := "{cc}:session:" + s.ID + ":cmids"
	const ttl = 24 * time.Hour // the default idempotency TTL (the service's policy sets none)
	measure := func(what string, n int, each func(i int), want float64) map[string]int {
		t.Helper()
		if err := rdb.ConfigResetStat(ctx).Err(); err != nil {
			t.Fatal(err)
		}
		for i := range n {
			each(i)
		}
		total, by := commandCalls(t, rdb)
		per := float64(total) / float64(n)
		t.Logf("%s: %.2f commands a message %v", what, per, by)
		if per > want {
			t.Errorf("%s: %.2f commands a message, want at most %v: %v", what, per, want, by)
		}
		return by
	}
	by := measure("messages", 40, func(i int) {
		p := cust
		if i%2 == 1 {
			p = agent
		}
		send(p, fmt.Sprint("m-", i))
	}, 8)
	if by["pexpire"] != 0 || by["evalsha"] != 40 || by["hsetnx"] != 40 {
		t.Errorf("40 messages within a TTL: %v, want 40 evalsha and hsetnx, no pexpire", by)
	}
	if pttl := rdb.PTTL(ctx, cmids).Val(); pttl < ttl || pttl > ttl*3/2 {
		t.Errorf("client_msg_id hash TTL %v, want between %v and %v", pttl, ttl, ttl*3/2)
	}
	measure("retries", 10, func(i int) {
		if seq, dup := send(cust, fmt.Sprint("m-", 2*i)); !dup || seq == 0 {
			t.Fatalf("retry of m-%d: seq %d duplicate %v", 2*i, seq, dup)
		}
	}, 6)
	// Past half the TTL, the next message renews it: once.
	now = now.Add(ttl/2 + time.Minute)
	by = measure("messages half a TTL later", 10, func(i int) { send(cust, fmt.Sprint("late-", i)) }, 8.1)
	if by["pexpire"] != 1 {
		t.Errorf("half a TTL later: %d PEXPIRE, want 1 (%v)", by["pexpire"], by)
	}
	if pttl := rdb.PTTL(ctx, cmids).Val(); pttl <= ttl {
		t.Errorf("client_msg_id hash TTL %v after the renewal, want more than %v", pttl, ttl)
	}

	// A webhook endpoint: its SMEMBERS and its XADD, and each message is
	// queued for it.
	if err := st.PutEndpoint(ctx, &webhook.Endpoint{ID: "wh1", URL: "http://127.0.0.1:1/x", Secret: "s", CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	q := "{cc}:hook:wh1:q"
	before := rdb.XLen(ctx, q).Val()
	measure("messages with an endpoint", 10, func(i int) { send(cust, fmt.Sprint("hooked-", i)) }, 10)
	if got := rdb.XLen(ctx, q).Val() - before; got != 10 {
		t.Errorf("%d of 10 messages queued for the endpoint", got)
	}
}

// TestWebhookEndpointsCounted: the store's hash counts the webhook
// endpoints (field hooks) as they are added and removed, message.lua
// queues a message for each endpoint there is, and a store written before
// the count (no field) still has its messages queued: an absent count
// means look, never none, and the hubs' store check counts them.
func TestWebhookEndpointsCounted(t *testing.T) {
	f, s, cust, _ := chatFixture(t)
	ctx := context.Background()
	rdb, p := f.r.Client, f.r.Prefix
	count := func() string { return rdb.HGet(ctx, p+":store", "hooks").Val() }
	queued := func(id string) int64 { return rdb.XLen(ctx, p+":hook:"+id+":q").Val() }
	n := 0
	send := func() {
		t.Helper()
		n++
		if _, _, err := f.svc.SendMessage(ctx, cust, s.ID, fmt.Sprint("c-", n), "hi"); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range []string{"wa", "wb"} {
		if err := f.store.PutEndpoint(ctx, &webhook.Endpoint{ID: id, URL: "http://127.0.0.1:1/" + id, Secret: "s", CreatedAt: t0}); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.store.PutEndpoint(ctx, &webhook.Endpoint{ID: "wa", URL: "http://127.0.0.1:1/again", Secret: "s", CreatedAt: t0}); err != nil {
		t.Fatal(err)
	}
	if got := count(); got != "2" {
		t.Fatalf("hooks after adding wa, wb and wa again: %q, want 2", got)
	}
	send()
	if queued("wa") != 1 || queued("wb") != 1 {
		t.Fatalf("queued: wa %d wb %d, want 1 each", queued("wa"), queued("wb"))
	}
	if err := f.store.DeleteEndpoint(ctx, "wb"); err != nil {
		t.Fatal(err)
	}
	if err := f.store.DeleteEndpoint(ctx, "wb"); err != redisstore.ErrEndpointNotFound {
		t.Fatalf("deleting wb twice: %v", err)
	}
	if got := count(); got != "1" {
		t.Fatalf("hooks after deleting wb: %q, want 1", got)
	}
	send()
	if queued("wa") != 2 || queued("wb") != 0 {
		t.Fatalf("queued: wa %d wb %d, want 2 and 0", queued("wa"), queued("wb"))
	}
	// A store from before the count: the endpoints are found all the same.
	if err := rdb.HDel(ctx, p+":store", "hooks").Err(); err != nil {
		t.Fatal(err)
	}
	send()
	if queued("wa") != 3 {
		t.Fatalf("queued for wa with no count: %d, want 3", queued("wa"))
	}
	// The hubs' store check counts the endpoints of such a store.
	if err := f.store.NewGuard(nil).Check(ctx); err != nil {
		t.Fatal(err)
	}
	if got := count(); got != "1" {
		t.Fatalf("hooks after the store check: %q, want 1", got)
	}
	if err := f.store.DeleteEndpoint(ctx, "wa"); err != nil {
		t.Fatal(err)
	}
	if got := count(); got != "0" {
		t.Fatalf("hooks after deleting the last: %q, want 0", got)
	}
	send()
	if queued("wa") != 0 {
		t.Fatalf("queued for a deleted endpoint: %d", queued("wa"))
	}
}

// TestIdempotencyOutlivesTheLastMessage: a client_msg_id is remembered at
// least the idempotency TTL after the session's last message, however
// seldom its TTL is renewed, and forgotten within 1.5 TTL; a hash that
// expired is recreated with a TTL, never without. miniredis, whose clock
// FastForward moves with the service's.
func TestIdempotencyOutlivesTheLastMessage(t *testing.T) {
	const ttl = time.Hour
	f := newFixture(t, hub.Policy{IdempotencyTTL: ttl})
	if f.r.Real() {
		t.Skip("moves Redis' clock: miniredis only")
	}
	ctx := context.Background()
	s := f.create(t, "idem")
	cust := hub.Principal{Kind: hub.PrincipalCustomer, ID: s.CustomerID, SessionID: s.ID}
	cmids := f.r.Prefix + ":session:" + s.ID + ":cmids"
	wait := func(d time.Duration) {
		f.advance(d)
		f.r.FastForward(d)
	}
	send := func(id string) (int64, bool) {
		t.Helper()
		seq, dup, err := f.svc.SendMessage(ctx, cust, s.ID, id, "x")
		if err != nil {
			t.Fatalf("send %s: %v", id, err)
		}
		return seq, dup
	}
	first, _ := send("a")
	// Messages every 20 minutes for 5 hours: at most one renewal in each
	// half hour, and "a" and every later id are remembered all along.
	for i := range 15 {
		wait(20 * time.Minute)
		send(fmt.Sprint("b-", i))
		if seq, dup := send(fmt.Sprint("b-", i)); !dup || seq == 0 {
			t.Fatalf("b-%d retried at once: not a duplicate", i)
		}
		if pttl := f.r.Client.PTTL(ctx, cmids).Val(); pttl < ttl-time.Second || pttl > ttl*3/2 {
			t.Fatalf("after b-%d: TTL %v, want within [%v, %v]", i, pttl, ttl, ttl*3/2)
		}
	}
	last, _ := send("last")
	wait(ttl - time.Minute)
	if seq, dup := send("last"); !dup || seq != last {
		t.Fatalf("retry of the last message a TTL less a minute later: seq %d duplicate %v, want %d", seq, dup, last)
	}
	wait(ttl*3/2 + time.Minute)
	if f.r.Client.Exists(ctx, cmids).Val() != 0 {
		t.Fatalf("client_msg_id hash still there 1.5 TTL after the last write")
	}
	seq, dup := send("a")
	if dup || seq == first {
		t.Fatalf("an id forgotten with its hash: seq %d duplicate %v", seq, dup)
	}
	if pttl := f.r.Client.PTTL(ctx, cmids).Val(); pttl <= 0 {
		t.Fatalf("the recreated hash has no TTL: %v", pttl)
	}
}
