package redisstore_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/hub"
	"github.com/switchboardhq/switchboard/hub/redisstore/redistest"
)

// histCreate opens a session for a named customer (and ticket-system user).
func histCreate(t *testing.T, f *fixture, title, customerID, userID string) *hub.Session {
	t.Helper()
	s, err := f.svc.CreateSession(context.Background(), hub.SessionCreate{
		Title: title, CustomerName: "Name " + customerID, CustomerID: customerID, UserID: userID})
	if err != nil {
		t.Fatalf("create %q for %s: %v", title, customerID, err)
	}
	return s
}

// histRetention is the retention of the retention tests: long on
// miniredis, whose clock FastForward moves; short on a real server, whose
// TTLs the tests wait out.
func histRetention() time.Duration {
	if os.Getenv(redistest.EnvURL) != "" {
		return 3 * time.Second
	}
	return time.Hour
}

// histNewFixture is a fixture with the retention histRetention gives and
// idemTTL as the idempotency TTL (0: the default, 24 h; -1: the retention).
func histNewFixture(t *testing.T, idemTTL time.Duration) (*fixture, time.Duration) {
	t.Helper()
	ret := histRetention()
	if idemTTL < 0 {
		idemTTL = ret
	}
	return newFixture(t, hub.Policy{AgentCapacity: 10, Retention: ret, IdempotencyTTL: idemTTL}), ret
}

// histExpire lets Redis' TTLs run d further: FastForward on miniredis, or
// on a real server a poll (no fixed sleep) until the keys are gone.
func histExpire(t *testing.T, f *fixture, d time.Duration, gone ...string) {
	t.Helper()
	if f.r.FastForward(d) {
		return
	}
	ctx := context.Background()
	deadline := time.Now().Add(d + 10*time.Second)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		n, err := f.r.Client.Exists(ctx, gone...).Result()
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %v still exist %v after their retention", n, gone, d+10*time.Second)
		}
		<-tick.C
	}
}

// histSessionKeys are the hash and stream of sessions.
func histSessionKeys(f *fixture, ids ...string) []string {
	var out []string
	for _, id := range ids {
		out = append(out, f.r.Prefix+":session:"+id, f.r.Prefix+":session:"+id+":events")
	}
	return out
}

// histDump returns every key under the test's prefix (without the prefix)
// with what it holds: members of sets and sorted sets, fields and values of
// hashes, values of strings, the fields of stream entries.
func histDump(t *testing.T, f *fixture) map[string][]string {
	t.Helper()
	ctx := context.Background()
	c := f.r.Client
	out := map[string][]string{}
	iter := c.Scan(ctx, 0, f.r.Prefix+":*", 1000).Iterator()
	for iter.Next(ctx) {
		k := iter.Val()
		typ, err := c.Type(ctx, k).Result()
		if err != nil {
			t.Fatal(err)
		}
		var vals []string
		switch typ {
		case "zset":
			vals, err = c.ZRange(ctx, k, 0, -1).Result()
		case "set":
			vals, err = c.SMembers(ctx, k).Result()
		case "hash":
			var h map[string]string
			h, err = c.HGetAll(ctx, k).Result()
			for fk, fv := range h {
				vals = append(vals, fk+"="+fv)
			}
		case "string":
			var v string
			v, err = c.Get(ctx, k).Result()
			vals = []string{v}
		case "stream":
			xs, xerr := c.XRange(ctx, k, "-", "+").Result()
			err = xerr
			for _, x := range xs {
				for fk, fv := range x.Values {
					vals = append(vals, fmt.Sprint(fk, "=", fv))
				}
			}
		case "none":
			continue // expired between SCAN and TYPE
		default:
			vals = []string{"<" + typ + ">"}
		}
		if err != nil {
			t.Fatalf("reading %s (%s): %v", k, typ, err)
		}
		sort.Strings(vals)
		out[strings.TrimPrefix(k, f.r.Prefix+":")] = vals
	}
	if err := iter.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// histMentions lists where token appears in a dump: key names and contents.
func histMentions(dump map[string][]string, token string) []string {
	var out []string
	for k, vals := range dump {
		if strings.Contains(k, token) {
			out = append(out, "key "+k)
			continue
		}
		for _, v := range vals {
			if strings.Contains(v, token) {
				out = append(out, fmt.Sprintf("in %s: %.120s", k, v))
			}
		}
	}
	sort.Strings(out)
	return out
}

// histWantNoTrace fails the test for every trace of tokens in Redis.
func histWantNoTrace(t *testing.T, f *fixture, what string, tokens ...string) {
	t.Helper()
	dump := histDump(t, f)
	for _, tok := range tokens {
		if m := histMentions(dump, tok); len(m) > 0 {
			t.Errorf("%s: %q is still in Redis:\n  %s", what, tok, strings.Join(m, "\n  "))
		}
	}
}

func histZMembers(t *testing.T, f *fixture, key string) []string {
	t.Helper()
	m, err := f.r.Client.ZRange(context.Background(), f.r.Prefix+":"+key, 0, -1).Result()
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func histChatMember(s *hub.Session) string { return fmt.Sprintf("%012d:%s", s.Number, s.ID) }

func histAgentRatings(t *testing.T, f *fixture, agent string) (string, string) {
	t.Helper()
	v, err := f.r.Client.HMGet(context.Background(), f.r.Prefix+":agent:"+agent, "rating_sum", "rating_count").Result()
	if err != nil {
		t.Fatal(err)
	}
	s, _ := v[0].(string)
	n, _ := v[1].(string)
	return s, n
}

func histWantTotals(t *testing.T, f *fixture, sum, count int64) {
	t.Helper()
	s, n, err := f.store.RatingTotals(context.Background())
	if err != nil || s != sum || n != count {
		t.Fatalf("rating totals %d/%d (%v), want %d/%d", s, n, err, sum, count)
	}
}

// TestRetentionLeavesNothing: once their retention ran out and prune ran,
// ended sessions leave no key and no index entry behind, whatever happened
// in them (messages, reads, a rating, a customer with a user id); an open
// session of the same customer keeps its record and visitor index, and a
// session that ended later stays until its own retention ran out.
func TestRetentionLeavesNothing(t *testing.T) {
	// The idempotency TTL is the retention here, so that the client_msg_id
	// keys go in time (TestRetentionDropsIdempotencyKeys covers a longer one).
	t.Parallel()
	f, ret := histNewFixture(t, -1)
	ctx := context.Background()
	agent := hub.Principal{Kind: hub.PrincipalAgent, ID: "ag", Name: "Ag", Role: hub.RoleAgent}
	cust := func(s *hub.Session) hub.Principal {
		return hub.Principal{Kind: hub.PrincipalCustomer, ID: s.CustomerID, Name: s.CustomerName, SessionID: s.ID}
	}
	assign := func(s *hub.Session) {
		t.Helper()
		if _, err := f.svc.AssignSession(ctx, s.ID, hub.Assignment{AgentID: "ag", AgentName: "Ag"}); err != nil {
			t.Fatal(err)
		}
	}
	send := func(p hub.Principal, s *hub.Session, text string) int64 {
		t.Helper()
		seq, _, err := f.svc.SendMessage(ctx, p, s.ID, fmt.Sprint("cm-", time.Now().UnixNano()), text)
		if err != nil {
			t.Fatalf("send %q: %v", text, err)
		}
		return seq
	}
	rate := func(s *hub.Session, score int) {
		t.Helper()
		if _, err := f.store.RateSession(ctx, s.ID, s.CustomerID, hub.Rating{Score: score, Comment: "c"}, f.clock()); err != nil {
			t.Fatalf("rate %s: %v", s.ID, err)
		}
	}

	// cust-1 (no user id): a1 (chatted, rated), a2 (never assigned), o (stays open).
	// cust-2 (user 4242): a3 (chatted, read, rated), late (ends later).
	a1 := histCreate(t, f, "a1", "cust-1", "")
	f.advance(time.Second)
	a2 := histCreate(t, f, "a2", "cust-1", "")
	f.advance(time.Second)
	o := histCreate(t, f, "o", "cust-1", "")
	f.advance(time.Second)
	a3 := histCreate(t, f, "a3", "cust-2", "4242")
	f.advance(time.Second)
	late := histCreate(t, f, "late", "cust-2", "")
	if a3.UserID != "4242" || late.UserID != "4242" || a1.Visitor == a3.Visitor || a1.Visitor != o.Visitor {
		t.Fatalf("customers: a1 %d/%q a3 %d/%q late %d/%q o %d", a1.Visitor, a1.UserID, a3.Visitor, a3.UserID,
			late.Visitor, late.UserID, o.Visitor)
	}
	for _, s := range []*hub.Session{a1, a3, o, late} {
		assign(s)
	}
	for _, s := range []*hub.Session{a1, a3, o, late} {
		send(cust(s), s, "hello from "+s.Title)
		seq := send(agent, s, "hi "+s.Title)
		if _, _, err := f.svc.MarkRead(ctx, cust(s), s.ID, seq); err != nil {
			t.Fatal(err)
		}
		if _, _, err := f.svc.MarkRead(ctx, agent, s.ID, seq); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.svc.Typing(ctx, cust(a3), a3.ID, true); err != nil {
		t.Fatal(err)
	}

	// a1 ends by its customer, a2 by the system, a3 by its agent.
	f.advance(time.Minute)
	if _, err := f.svc.CloseSessionAs(ctx, cust(a1), a1.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.CloseSession(ctx, a2.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.CloseSessionAs(ctx, agent, a3.ID); err != nil {
		t.Fatal(err)
	}
	rate(a1, 5)
	rate(a3, 2)
	histWantTotals(t, f, 7, 2)
	if s, n := histAgentRatings(t, f, "ag"); s != "7" || n != "2" {
		t.Fatalf("agent ratings %s/%s, want 7/2", s, n)
	}
	closedAt := f.clock()

	// late ends half a retention later.
	if !f.r.Real() {
		histExpire(t, f, ret/2)
	} else {
		// Redis' clock cannot be moved: wait out the early sessions'
		// retention first, so that late's TTL starts after theirs ran out.
		histExpire(t, f, ret, histSessionKeys(f, a1.ID, a2.ID, a3.ID)...)
	}
	f.advance(ret / 2)
	if _, err := f.svc.CloseSessionAs(ctx, agent, late.ID); err != nil {
		t.Fatal(err)
	}
	rate(late, 4)
	histWantTotals(t, f, 11, 3)

	// Past the early sessions' retention, on both clocks.
	if !f.r.Real() {
		histExpire(t, f, ret/2+time.Second)
	}
	f.advance(ret/2 + time.Second)
	if n, err := f.store.Prune(ctx, closedAt.Add(ret-time.Millisecond)); err != nil || n != 0 {
		t.Fatalf("prune before the retention ran out dropped %d, %v", n, err)
	}
	if n, err := f.store.Prune(ctx, f.clock()); err != nil || n != 3 {
		t.Fatalf("prune dropped %d, %v; want 3", n, err)
	}
	histWantNoTrace(t, f, "after a1, a2, a3 retired", a1.ID, a2.ID, a3.ID)
	for _, s := range []*hub.Session{a1, a2, a3} {
		if _, err := f.store.SessionByNumber(ctx, s.Number); !errors.Is(err, hub.ErrSessionNotFound) {
			t.Errorf("retired %s by number: %v", s.Title, err)
		}
	}
	// The open session keeps its customer's record and visitor index.
	if c, err := f.store.Customer(ctx, "cust-1"); err != nil || c.Number != o.Visitor {
		t.Fatalf("cust-1 while o is open: %+v, %v", c, err)
	}
	if m := histZMembers(t, f, fmt.Sprintf("visitor:%d:chats", o.Visitor)); !slices.Equal(m, []string{histChatMember(o)}) {
		t.Fatalf("visitor index of cust-1 = %v, want only o", m)
	}
	// late is kept whole.
	if c, err := f.store.Customer(ctx, "cust-2"); err != nil || c.UserID != "4242" {
		t.Fatalf("cust-2 while late is kept: %+v, %v", c, err)
	}
	if m := histZMembers(t, f, fmt.Sprintf("visitor:%d:chats", late.Visitor)); !slices.Equal(m, []string{histChatMember(late)}) {
		t.Fatalf("visitor index of cust-2 = %v, want only late", m)
	}
	if m := histZMembers(t, f, "user:4242:chats"); !slices.Equal(m, []string{histChatMember(late)}) {
		t.Fatalf("user index of 4242 = %v, want only late", m)
	}
	for _, idx := range []string{"idx:all", "idx:Ended", "idx:expiry"} {
		if m := histZMembers(t, f, idx); !slices.Contains(m, late.ID) {
			t.Fatalf("%s = %v lost late early", idx, m)
		}
	}
	if got, err := f.svc.Session(ctx, late.ID); err != nil || got.Rating == nil || got.Rating.Score != 4 {
		t.Fatalf("late after the others retired: %+v, %v", got, err)
	}
	list, total, err := f.store.ChatSessions(ctx, hub.ChatFilter{Limit: 10}, f.clock())
	if err != nil || total != 2 || len(list) != 2 || list[0].ID != o.ID || list[1].ID != late.ID {
		t.Fatalf("chats after the first prune: total %d, %v, %v", total, histTitles(list), err)
	}
	histWantTotals(t, f, 4, 1)
	if s, n := histAgentRatings(t, f, "ag"); s != "4" || n != "1" {
		t.Fatalf("agent ratings %s/%s, want 4/1", s, n)
	}

	// late's retention runs out: cust-2 goes entirely.
	histExpire(t, f, ret, histSessionKeys(f, late.ID)...)
	f.advance(ret)
	if n, err := f.store.Prune(ctx, f.clock()); err != nil || n != 1 {
		t.Fatalf("second prune dropped %d, %v; want 1", n, err)
	}
	histWantNoTrace(t, f, "after late retired", late.ID, "cust-2", fmt.Sprintf("visitor:%d:", late.Visitor), "user:4242")
	if _, err := f.store.Customer(ctx, "cust-2"); !errors.Is(err, hub.ErrCustomerNotFound) {
		t.Fatalf("cust-2 after its last session retired: %v", err)
	}
	if _, err := f.store.Customer(ctx, "cust-1"); err != nil {
		t.Fatalf("cust-1 with o open: %v", err)
	}
	histWantTotals(t, f, 0, 0)
	if s, n := histAgentRatings(t, f, "ag"); s != "0" || n != "0" {
		t.Fatalf("agent ratings %s/%s, want 0/0", s, n)
	}

	// o ends and retires too: only global counters and the agent remain.
	if _, err := f.svc.CloseSession(ctx, o.ID); err != nil {
		t.Fatal(err)
	}
	histExpire(t, f, ret+time.Second, histSessionKeys(f, o.ID)...)
	f.advance(ret + time.Second)
	if n, err := f.store.Prune(ctx, f.clock()); err != nil || n != 1 {
		t.Fatalf("third prune dropped %d, %v; want 1", n, err)
	}
	allowed := map[string]bool{
		"sessions:number": true, "messages:number": true, "customers:number": true, "sessions:last_created": true,
		"ratings": true, "agent:ag": true, "agents": true, "queue:version": true, "queue:stats": true,
		// The reports' totals: counts, no session's data (the hour and day
		// figures expire with the report retention).
		"rep:total": true,
	}
	dump := histDump(t, f)
	var left []string
	for k, v := range dump {
		if !allowed[k] {
			left = append(left, fmt.Sprintf("%s %.200v", k, v))
		}
	}
	sort.Strings(left)
	if len(left) > 0 {
		t.Errorf("keys left after every session retired:\n  %s", strings.Join(left, "\n  "))
	}
	if r, ok := dump["ratings"]; ok && !slices.Equal(r, []string{"count=0", "sum=0"}) {
		t.Errorf("ratings hash after every rated session retired: %v", r)
	}
	if _, err := f.store.Customer(ctx, "cust-1"); !errors.Is(err, hub.ErrCustomerNotFound) {
		t.Errorf("cust-1 after its last session retired: %v", err)
	}
}

// TestRetentionDropsIdempotencyKeys: a message's client_msg_id key names
// the session and its sender, so it must not outlive the session's
// retention either, even with an idempotency TTL (24 h by default) longer
// than the retention (configurable down to one minute).
func TestRetentionDropsIdempotencyKeys(t *testing.T) {
	t.Parallel()
	f, ret := histNewFixture(t, 0) // default idempotency TTL: 24 h
	ctx := context.Background()
	s := histCreate(t, f, "short", "cust-idem", "")
	cust := hub.Principal{Kind: hub.PrincipalCustomer, ID: s.CustomerID, SessionID: s.ID}
	if _, _, err := f.svc.SendMessage(ctx, cust, s.ID, "cm-1", "hello"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.CloseSessionAs(ctx, cust, s.ID); err != nil {
		t.Fatal(err)
	}
	histExpire(t, f, ret+time.Second, histSessionKeys(f, s.ID)...)
	f.advance(ret + time.Second)
	if n, err := f.store.Prune(ctx, f.clock()); err != nil || n != 1 {
		t.Fatalf("prune dropped %d, %v; want 1", n, err)
	}
	histWantNoTrace(t, f, fmt.Sprintf("after a session retired (retention %v, idempotency TTL 24h)", ret), s.ID, "cust-idem")
	// A retry after the session is gone should not find it any more.
	if seq, dup, err := f.svc.SendMessage(ctx, cust, s.ID, "cm-1", "hello"); err == nil {
		t.Errorf("retry of a message of a retired session: seq %d duplicate %v, want ErrSessionNotFound", seq, dup)
	}
}

func histTitles(list []*hub.Session) []string {
	out := make([]string, len(list))
	for i, s := range list {
		out[i] = s.Title
	}
	return out
}

// TestChatSessionsFiltersAndOrder: the chat-history indexes select by
// visitor, user and creation time, page by offset and limit, oldest or
// newest first, and sessions of one millisecond sort by number.
func TestChatSessionsFiltersAndOrder(t *testing.T) {
	f := newFixture(t, hub.Policy{})
	ctx := context.Background()
	h := hub.NewHistory(f.store, f.clock)
	var all []*hub.Session
	for i, c := range []struct{ cust, user string }{
		{"c1", ""}, {"c2", "77"}, {"c1", ""}, {"c2", "77"}, {"c1", ""}, {"c3", "88"},
	} {
		all = append(all, histCreate(t, f, fmt.Sprint("s", i), c.cust, c.user))
		if i < 5 {
			f.advance(time.Second)
		}
	}
	// s5 and s6 share a millisecond.
	all = append(all, histCreate(t, f, "s6", "c3", ""))
	if !all[5].CreatedAt.Equal(all[6].CreatedAt) {
		t.Fatalf("s5 %v s6 %v: want one millisecond", all[5].CreatedAt, all[6].CreatedAt)
	}
	if _, err := f.svc.CloseSession(ctx, all[2].ID); err != nil { // ended sessions stay listed
		t.Fatal(err)
	}
	v1, v2 := all[0].Visitor, all[1].Visitor
	titles := func(idx ...int) []string {
		out := []string{}
		for _, i := range idx {
			out = append(out, fmt.Sprint("s", i))
		}
		return out
	}
	cases := []struct {
		name  string
		f     hub.ChatFilter
		want  []string
		total int
	}{
		{"all", hub.ChatFilter{Limit: 10}, titles(0, 1, 2, 3, 4, 5, 6), 7},
		{"all newest", hub.ChatFilter{Limit: 10, Newest: true}, titles(6, 5, 4, 3, 2, 1, 0), 7},
		{"page", hub.ChatFilter{Offset: 1, Limit: 2}, titles(1, 2), 7},
		{"page newest", hub.ChatFilter{Offset: 1, Limit: 2, Newest: true}, titles(5, 4), 7},
		{"past the end", hub.ChatFilter{Offset: 7, Limit: 2}, titles(), 7},
		{"visitor", hub.ChatFilter{Visitor: v1, Limit: 10}, titles(0, 2, 4), 3},
		{"visitor newest paged", hub.ChatFilter{Visitor: v1, Offset: 1, Limit: 1, Newest: true}, titles(2), 3},
		{"user", hub.ChatFilter{UserID: "77", Limit: 10}, titles(1, 3), 2},
		{"user newest", hub.ChatFilter{UserID: "77", Limit: 10, Newest: true}, titles(3, 1), 2},
		{"visitor and user", hub.ChatFilter{Visitor: v2, UserID: "77", Limit: 1}, titles(1), 2},
		{"visitor and another user", hub.ChatFilter{Visitor: v1, UserID: "77", Limit: 10}, titles(), 0},
		// c3 got its user id with s5: s6 (created without) still carries it.
		{"user 88", hub.ChatFilter{UserID: "88", Limit: 10}, titles(5, 6), 2},
		{"from to", hub.ChatFilter{From: t0.Add(time.Second), To: t0.Add(3 * time.Second), Limit: 10}, titles(1, 2), 2},
		{"from to newest", hub.ChatFilter{From: t0.Add(time.Second), To: t0.Add(3 * time.Second), Limit: 10, Newest: true}, titles(2, 1), 2},
		{"from only", hub.ChatFilter{From: t0.Add(4 * time.Second), Limit: 10}, titles(4, 5, 6), 3},
		{"to only", hub.ChatFilter{To: t0.Add(time.Second), Limit: 10}, titles(0), 1},
		{"visitor from", hub.ChatFilter{Visitor: v1, From: t0.Add(time.Second), Limit: 10}, titles(2, 4), 2},
		{"unknown visitor", hub.ChatFilter{Visitor: 999, Limit: 10}, titles(), 0},
		{"unknown user", hub.ChatFilter{UserID: "1", Limit: 10}, titles(), 0},
	}
	for _, c := range cases {
		list, total, err := h.Chats(ctx, c.f)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if got := histTitles(list); !slices.Equal(got, c.want) || total != c.total {
			t.Errorf("%s: got %v total %d, want %v total %d", c.name, got, total, c.want, c.total)
		}
	}
	for _, bad := range []hub.ChatFilter{{Limit: 0}, {Offset: -1, Limit: 1}, {Visitor: -1, Limit: 1}} {
		if _, _, err := h.Chats(ctx, bad); hub.ErrorCode(err) != hub.EINVALID {
			t.Errorf("filter %+v: %v, want invalid", bad, err)
		}
	}
	// The listed sessions are whole.
	list, _, _ := h.Chats(ctx, hub.ChatFilter{Visitor: v2, Limit: 1})
	if len(list) != 1 || list[0].ID != all[1].ID || list[0].Visitor != v2 || list[0].UserID != "77" || list[0].CustomerID != "c2" {
		t.Fatalf("listed session %+v", list[0])
	}

	// SessionByNumber.
	for _, s := range all {
		got, err := h.Chat(ctx, s.Number)
		if err != nil || got.ID != s.ID {
			t.Fatalf("session number %d: %+v, %v", s.Number, got, err)
		}
	}
	for _, n := range []int64{0, -1, 99} {
		if _, err := h.Chat(ctx, n); !errors.Is(err, hub.ErrSessionNotFound) {
			t.Errorf("session number %d: %v, want not found", n, err)
		}
	}
	// Customer records.
	c2, err := f.store.Customer(ctx, "c2")
	if err != nil || c2.Number != v2 || c2.UserID != "77" || c2.Name != "Name c2" || c2.ID != "c2" {
		t.Fatalf("customer c2: %+v, %v", c2, err)
	}
	if _, err := f.store.Customer(ctx, "nobody"); !errors.Is(err, hub.ErrCustomerNotFound) {
		t.Fatalf("unknown customer: %v", err)
	}
	c, sessions, total, err := h.CustomerSessions(ctx, "c1", 2)
	if err != nil || c.Number != v1 || total != 3 || !slices.Equal(histTitles(sessions), titles(4, 2)) {
		t.Fatalf("customer sessions of c1: %+v %v %d %v", c, histTitles(sessions), total, err)
	}
	if _, _, _, err := h.CustomerSessions(ctx, "bad id!", 2); !errors.Is(err, hub.ErrCustomerNotFound) {
		t.Fatalf("invalid customer id: %v", err)
	}
}

// histSeqs returns the seqs of events, and fails on a type the scroll-back skips.
func histSeqs(t *testing.T, evs []hub.HistoryEvent) []int64 {
	t.Helper()
	out := []int64{}
	for _, ev := range evs {
		var e struct {
			Seq  int64  `json:"seq"`
			Type string `json:"type"`
		}
		if err := json.Unmarshal(ev.JSON, &e); err != nil || e.Seq != ev.Seq {
			t.Fatalf("event %d: %s (%v)", ev.Seq, ev.JSON, err)
		}
		if e.Type == hub.EventRead || e.Type == hub.EventSessionState {
			t.Fatalf("scroll-back returned a %s event: %s", e.Type, ev.JSON)
		}
		out = append(out, ev.Seq)
	}
	return out
}

// TestHistoryPageBySeq: the scroll-back pages forward (after) and backward
// (before) over the conversation, skipping reads and state changes, and
// has_more says exactly whether more of it lies in the paging direction.
func TestHistoryPageBySeq(t *testing.T) {
	f, s, cust, agent := chatFixture(t) // seq 1 created, 2 state (skipped), 3 member.joined
	ctx := context.Background()
	h := hub.NewHistory(f.store, f.clock)
	visible := []int64{1, 3}
	send := func(p hub.Principal, text string) {
		t.Helper()
		seq, _, err := f.svc.SendMessage(ctx, p, s.ID, fmt.Sprint("cm-", time.Now().UnixNano()), text)
		if err != nil {
			t.Fatal(err)
		}
		visible = append(visible, seq)
	}
	read := func(p hub.Principal) {
		t.Helper()
		got, _ := f.svc.Session(ctx, s.ID)
		if _, changed, err := f.svc.MarkRead(ctx, p, s.ID, got.Seq); err != nil || !changed {
			t.Fatalf("read: %v %v", changed, err)
		}
	}
	send(cust, "m1") // 4
	read(agent)      // 5
	send(agent, "m2")
	send(cust, "m3")
	read(cust)
	read(agent)
	send(agent, "m4")
	send(cust, "m5")
	read(agent)
	// visible: 1 3 4 6 7 10 11, and 12 is a read at the end.
	if !slices.Equal(visible, []int64{1, 3, 4, 6, 7, 10, 11}) {
		t.Fatalf("seqs %v", visible)
	}
	cases := []struct {
		q    hub.HistoryQuery
		want []int64
		more bool
	}{
		{hub.HistoryQuery{Limit: 50}, visible, false},
		{hub.HistoryQuery{Limit: 7}, visible, false},
		{hub.HistoryQuery{Limit: 3}, []int64{7, 10, 11}, true},
		{hub.HistoryQuery{Before: 7, Limit: 3}, []int64{3, 4, 6}, true},
		{hub.HistoryQuery{Before: 4, Limit: 2}, []int64{1, 3}, false},
		{hub.HistoryQuery{Before: 3, Limit: 5}, []int64{1}, false},
		{hub.HistoryQuery{Before: 2, Limit: 5}, []int64{1}, false},
		{hub.HistoryQuery{Before: 100, Limit: 2}, []int64{10, 11}, true},
		{hub.HistoryQuery{After: 1, Limit: 2}, []int64{3, 4}, true},
		{hub.HistoryQuery{After: 3, Limit: 3}, []int64{4, 6, 7}, true},
		{hub.HistoryQuery{After: 7, Limit: 2}, []int64{10, 11}, false}, // only a read follows
		{hub.HistoryQuery{After: 8, Limit: 2}, []int64{10, 11}, false},
		{hub.HistoryQuery{After: 11, Limit: 2}, []int64{}, false},
		{hub.HistoryQuery{After: 1, Before: 10, Limit: 10}, []int64{3, 4, 6, 7}, false},
		{hub.HistoryQuery{After: 1, Before: 10, Limit: 4}, []int64{3, 4, 6, 7}, false},
		{hub.HistoryQuery{After: 1, Before: 10, Limit: 3}, []int64{3, 4, 6}, true},
		{hub.HistoryQuery{After: 4, Before: 6, Limit: 3}, []int64{}, false},
		{hub.HistoryQuery{After: 6, Before: 7, Limit: 3}, []int64{}, false}, // nothing strictly between
		{hub.HistoryQuery{After: 6, Before: 8, Limit: 3}, []int64{7}, false},
	}
	for _, c := range cases {
		evs, more, err := h.Messages(ctx, cust, s.ID, c.q)
		if err != nil {
			t.Errorf("%+v: %v", c.q, err)
			continue
		}
		if got := histSeqs(t, evs); !slices.Equal(got, c.want) || more != c.more {
			t.Errorf("%+v: got %v more %v, want %v more %v", c.q, got, more, c.want, c.more)
		}
	}
	// Walking one event at a time (batches of two across skipped events)
	// in either direction sees the whole conversation once.
	for _, limit := range []int{1, 2, 3} {
		var back []int64
		q := hub.HistoryQuery{Limit: limit}
		for i := 0; ; i++ {
			evs, more, err := h.Messages(ctx, agent, s.ID, q)
			if err != nil || i > 20 {
				t.Fatalf("backward walk (limit %d): %v after %v", limit, err, back)
			}
			back = append(histSeqs(t, evs), back...)
			if !more {
				break
			}
			if len(evs) == 0 {
				t.Fatalf("backward walk (limit %d): empty page with has_more", limit)
			}
			q.Before = evs[0].Seq
		}
		if !slices.Equal(back, visible) {
			t.Errorf("backward walk (limit %d): %v, want %v", limit, back, visible)
		}
		var fwd []int64
		q = hub.HistoryQuery{After: 1, Limit: limit}
		fwd = append(fwd, 1)
		for i := 0; ; i++ {
			evs, more, err := h.Messages(ctx, agent, s.ID, q)
			if err != nil || i > 20 {
				t.Fatalf("forward walk (limit %d): %v after %v", limit, err, fwd)
			}
			fwd = append(fwd, histSeqs(t, evs)...)
			if !more {
				break
			}
			if len(evs) == 0 {
				t.Fatalf("forward walk (limit %d): empty page with has_more", limit)
			}
			q.After = evs[len(evs)-1].Seq
		}
		if !slices.Equal(fwd, visible) {
			t.Errorf("forward walk (limit %d): %v, want %v", limit, fwd, visible)
		}
	}
	// Message numbers: the created event and messages carry one, increasing.
	evs, _, _ := h.Messages(ctx, cust, s.ID, hub.HistoryQuery{Limit: 50})
	var last int64
	for _, ev := range evs {
		if ev.Seq == 3 {
			if ev.Number != 0 {
				t.Errorf("member.joined has message number %d", ev.Number)
			}
			continue
		}
		if ev.Number <= last {
			t.Errorf("event %d: message number %d after %d", ev.Seq, ev.Number, last)
		}
		last = ev.Number
	}

	// Bad queries.
	for _, q := range []hub.HistoryQuery{
		{Limit: 0}, {Limit: hub.MaxHistoryPage + 1}, {After: -1, Limit: 1}, {Before: -1, Limit: 1},
		{After: 5, Before: 5, Limit: 1}, {After: 6, Before: 5, Limit: 1},
	} {
		if _, _, err := h.Messages(ctx, cust, s.ID, q); hub.ErrorCode(err) != hub.EINVALID {
			t.Errorf("query %+v: %v, want invalid", q, err)
		}
	}
	// Who may read: the customer, any agent, supervisors; not another
	// customer, not a bot, and unknown sessions are not found.
	readers := []hub.Principal{
		cust, agent,
		{Kind: hub.PrincipalAgent, ID: "other", Role: hub.RoleAgent},
		{Kind: hub.PrincipalAgent, ID: "boss", Role: hub.RoleSupervisor},
		hub.SystemPrincipal,
	}
	for _, p := range readers {
		if _, _, err := h.Messages(ctx, p, s.ID, hub.HistoryQuery{Limit: 5}); err != nil {
			t.Errorf("%+v may read: %v", p, err)
		}
	}
	for _, p := range []hub.Principal{
		{Kind: hub.PrincipalCustomer, ID: "cust_other"},
		{Kind: hub.PrincipalAgent, ID: "bot1", Role: hub.RoleBot},
	} {
		if _, _, err := h.Messages(ctx, p, s.ID, hub.HistoryQuery{Limit: 5}); !errors.Is(err, hub.ErrSessionNotFound) {
			t.Errorf("%+v read: %v, want not found", p, err)
		}
	}
	for _, id := range []string{hub.NewSessionID(), "nonsense"} {
		if _, _, err := h.Messages(ctx, agent, id, hub.HistoryQuery{Limit: 5}); !errors.Is(err, hub.ErrSessionNotFound) {
			t.Errorf("session %q: %v, want not found", id, err)
		}
	}
	// The customer reads its ended session too.
	if _, err := f.svc.CloseSessionAs(ctx, cust, s.ID); err != nil {
		t.Fatal(err)
	}
	evs, more, err := h.Messages(ctx, cust, s.ID, hub.HistoryQuery{Limit: 1})
	if err != nil || more != true || len(evs) != 1 || !strings.Contains(string(evs[0].JSON), `"session.ended"`) {
		t.Fatalf("ended session's last page: %v %v %v", evs, more, err)
	}
}

// TestRateSession: the customer of an ended session rates it once; the
// totals, overall and of the agent who handled it, count it until the
// session's retention runs out.
func TestRateSession(t *testing.T) {
	t.Parallel()
	f, ret := histNewFixture(t, 0)
	ctx := context.Background()
	h := hub.NewHistory(f.store, f.clock)
	a := histCreate(t, f, "a", "rc-1", "")
	b := histCreate(t, f, "b", "rc-2", "")
	unassigned := histCreate(t, f, "u", "rc-3", "")
	for _, s := range []*hub.Session{a, b} {
		if _, err := f.svc.AssignSession(ctx, s.ID, hub.Assignment{AgentID: "ag", AgentName: "Ag"}); err != nil {
			t.Fatal(err)
		}
	}
	custOf := func(s *hub.Session) hub.Principal {
		return hub.Principal{Kind: hub.PrincipalCustomer, ID: s.CustomerID, SessionID: s.ID}
	}
	good := hub.Rating{Score: 5, Comment: "  great  "}
	if _, err := h.Rate(ctx, custOf(a), a.ID, good); !errors.Is(err, hub.ErrNotEnded) {
		t.Fatalf("rating an open session: %v", err)
	}
	for _, s := range []*hub.Session{a, b, unassigned} {
		if _, err := f.svc.CloseSession(ctx, s.ID); err != nil {
			t.Fatal(err)
		}
	}
	// Not the session's customer: not found; not a customer: forbidden.
	if _, err := h.Rate(ctx, custOf(b), a.ID, good); !errors.Is(err, hub.ErrSessionNotFound) {
		t.Fatalf("another customer rated: %v", err)
	}
	if _, err := h.Rate(ctx, hub.Principal{Kind: hub.PrincipalAgent, ID: "ag", Role: hub.RoleAgent}, a.ID, good); hub.ErrorCode(err) != hub.EFORBIDDEN {
		t.Fatalf("the agent rated: %v", err)
	}
	if _, err := h.Rate(ctx, hub.SystemPrincipal, a.ID, good); hub.ErrorCode(err) != hub.EFORBIDDEN {
		t.Fatalf("the system rated: %v", err)
	}
	for _, bad := range []hub.Rating{{Score: 0}, {Score: 6}, {Score: -1}, {Score: 3, Comment: strings.Repeat("x", hub.MaxRatingComment+1)}} {
		if _, err := h.Rate(ctx, custOf(a), a.ID, bad); hub.ErrorCode(err) != hub.EINVALID {
			t.Fatalf("rating %d/%d chars: %v, want invalid", bad.Score, len(bad.Comment), err)
		}
	}
	for _, id := range []string{hub.NewSessionID(), "nonsense"} {
		if _, err := h.Rate(ctx, custOf(a), id, good); !errors.Is(err, hub.ErrSessionNotFound) {
			t.Fatalf("rating session %q: %v", id, err)
		}
	}
	histWantTotals(t, f, 0, 0)

	got, err := h.Rate(ctx, custOf(a), a.ID, good)
	if err != nil || got.Rating == nil || *got.Rating != (hub.Rating{Score: 5, Comment: "great"}) || !got.RatedAt.Equal(f.clock()) {
		t.Fatalf("rate: %+v, %v", got, err)
	}
	if _, err := h.Rate(ctx, custOf(a), a.ID, hub.Rating{Score: 1}); !errors.Is(err, hub.ErrAlreadyRated) {
		t.Fatalf("second rating: %v", err)
	}
	stored, _ := f.svc.Session(ctx, a.ID)
	if stored.Rating == nil || stored.Rating.Score != 5 || stored.Rating.Comment != "great" {
		t.Fatalf("stored rating %+v", stored.Rating)
	}
	evs, err := f.store.Events(ctx, a.ID, stored.Seq-1, 10)
	if err != nil || len(evs) != 1 || !strings.Contains(string(evs[0]), `"type":"session.rated"`) ||
		!strings.Contains(string(evs[0]), `"rating":{"comment":"great","score":5}`) && !strings.Contains(string(evs[0]), `"rating":{"score":5,"comment":"great"}`) {
		t.Fatalf("last event of a rated session: %q, %v", evs, err)
	}
	if _, err := h.Rate(ctx, custOf(b), b.ID, hub.Rating{Score: 2}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Rate(ctx, custOf(unassigned), unassigned.ID, hub.Rating{Score: 3}); err != nil {
		t.Fatal(err)
	}
	histWantTotals(t, f, 10, 3)
	if avg, n, err := h.RatingAverage(ctx); err != nil || n != 3 || avg < 3.33 || avg > 3.34 {
		t.Fatalf("average %v of %d, %v", avg, n, err)
	}
	if s, n := histAgentRatings(t, f, "ag"); s != "7" || n != "2" {
		t.Fatalf("agent ratings %s/%s, want 7/2 (the unassigned session is nobody's)", s, n)
	}

	// After the retention the totals drop back.
	histExpire(t, f, ret+time.Second, histSessionKeys(f, a.ID, b.ID, unassigned.ID)...)
	f.advance(ret + time.Second)
	if _, err := h.Rate(ctx, custOf(a), a.ID, good); !errors.Is(err, hub.ErrSessionNotFound) {
		t.Fatalf("rating an expired session: %v", err)
	}
	if n, err := f.store.Prune(ctx, f.clock()); err != nil || n != 3 {
		t.Fatalf("prune %d, %v", n, err)
	}
	histWantTotals(t, f, 0, 0)
	if avg, n, err := h.RatingAverage(ctx); err != nil || n != 0 || avg != 0 {
		t.Fatalf("average after retention %v of %d, %v", avg, n, err)
	}
	if s, n := histAgentRatings(t, f, "ag"); s != "0" || n != "0" {
		t.Fatalf("agent ratings after retention %s/%s, want 0/0", s, n)
	}
}

// TestChatCreatedAtMonotonic: a session created with a clock behind the
// previous creation gets that creation's time, so that number order is
// creation order in the chat-history indexes.
func TestChatCreatedAtMonotonic(t *testing.T) {
	f := newFixture(t, hub.Policy{})
	ctx := context.Background()
	first := f.create(t, "first")
	f.advance(-5 * time.Second)
	second := f.create(t, "second")
	f.advance(-time.Hour)
	third := f.create(t, "third")
	for _, s := range []*hub.Session{second, third} {
		if s.CreatedAt.Before(first.CreatedAt) {
			t.Errorf("%s created at %v, before the first (%v)", s.Title, s.CreatedAt, first.CreatedAt)
		}
		stored, err := f.svc.Session(ctx, s.ID)
		if err != nil || stored.CreatedAt.Before(first.CreatedAt) || !stored.CreatedAt.Equal(s.CreatedAt) {
			t.Errorf("%s stored created_at %v (%v), returned %v", s.Title, stored.CreatedAt, err, s.CreatedAt)
		}
	}
	list, total, err := f.store.ChatSessions(ctx, hub.ChatFilter{Limit: 10}, f.clock())
	if err != nil || total != 3 || !slices.Equal(histTitles(list), []string{"first", "second", "third"}) {
		t.Fatalf("chats: %v %d %v", histTitles(list), total, err)
	}
	list, _, _ = f.store.ChatSessions(ctx, hub.ChatFilter{Limit: 10, Newest: true}, f.clock())
	if !slices.Equal(histTitles(list), []string{"third", "second", "first"}) {
		t.Fatalf("chats newest first: %v", histTitles(list))
	}
	// A "from" bound at the first creation finds them all.
	if _, total, _ := f.store.ChatSessions(ctx, hub.ChatFilter{From: first.CreatedAt, Limit: 10}, f.clock()); total != 3 {
		t.Fatalf("chats from the first creation: %d", total)
	}
	// Later on the clock goes forward again.
	f.advance(2 * time.Hour)
	fourth := f.create(t, "fourth")
	if !fourth.CreatedAt.Equal(f.clock()) {
		t.Fatalf("fourth created at %v, want the clock %v", fourth.CreatedAt, f.clock())
	}
}
