package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/api/client"
	"github.com/switchboardhq/switchboard/hub"
	"github.com/switchboardhq/switchboard/hub/redisstore"
	"github.com/switchboardhq/switchboard/hub/redisstore/redistest"
)

// clusterChat is one tenant's conversation in the cluster test: a customer
// on one hub, its agent on the other.
type clusterChat struct {
	tenant, key, sid string
	customer, agent  *client.Client
}

// waitText waits for a message.created event whose text is text.
func waitText(ctx context.Context, t *testing.T, c *client.Client, who, text string) {
	t.Helper()
	for {
		select {
		case f := <-c.Events():
			if got, _, _ := f.Message(); f.Type == "message.created" && got == text {
				return
			}
		case <-ctx.Done():
			t.Fatalf("%s never got %q (socket: %v)", who, text, c.Err())
		}
	}
}

// TestTenantsOnCluster runs tenants on a real Redis Cluster (3 masters, 3
// replicas) with two hubs: the tenants are chosen so that each master
// holds two of them, each tenant's keys are on its master only, and a chat
// of every tenant (customer on one hub, agent on the other) works both
// ways. scripts/test.sh runs it (SWITCHBOARD_TEST_CLUSTER=1).
func TestTenantsOnCluster(t *testing.T) {
	cl := redistest.RequireCluster(t, 3, 1) // closed after the hubs (cleanups run last first)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	prefix := "{ct" + strings.ToLower(hub.NewSecret(6)) + "}"
	masters, err := cl.Masters(ctx)
	if err != nil || len(masters) != 3 {
		t.Fatalf("masters: %d, %v", len(masters), err)
	}
	// Two tenants per master, chosen by the slot their tag hashes to.
	owner := func(slot int) int {
		m, err := cl.MasterOf(ctx, slot)
		if err != nil {
			t.Fatal(err)
		}
		return slices.Index(masters, m)
	}
	perMaster := map[int][]string{}
	for i := 0; len(perMaster[0]) < 2 || len(perMaster[1]) < 2 || len(perMaster[2]) < 2; i++ {
		id := fmt.Sprintf("t%d", i)
		m := owner(redistest.Slot(redisstore.TenantPrefix(prefix, id)))
		if m >= 0 && len(perMaster[m]) < 2 {
			perMaster[m] = append(perMaster[m], id)
		}
	}

	c := defaultConfig(t)
	c.RedisURL, c.KeyPrefix, c.AdminKey = cl.URL(), prefix, "test-admin-key-0123456789"
	c.OperatorKey = "test-operator-key-0123456789"
	a, b := openMain(t, c), openMain(t, c)
	if testing.Verbose() {
		a.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	ws := func(m *Main, tenant string) string {
		return "ws" + strings.TrimPrefix(m.URL(), "http") + "/ws?tenant=" + tenant
	}

	var chats []*clusterChat
	for m := range 3 {
		for _, id := range perMaster[m] {
			st, body := tenantCall(t, "POST", a.URL()+"/api/v1/operator/tenants", "", c.OperatorKey, `{"id":"`+id+`"}`)
			if st != http.StatusCreated {
				t.Fatalf("create %s: %d %v", id, st, body)
			}
			ch := &clusterChat{tenant: id, key: body["admin_key"].(string)}
			chats = append(chats, ch)
			if st, body := tenantCall(t, "POST", b.URL()+"/api/v1/agents?tenant="+id, "", ch.key,
				`{"id":"agent_1","name":"Ada","email":"ada@`+id+`.test"}`); st != http.StatusCreated {
				t.Fatalf("%s: agent: %d %v", id, st, body)
			}
			_, tok := tenantCall(t, "POST", b.URL()+"/api/v1/agents/agent_1/token?tenant="+id, "", ch.key, "")
			st, w := tenantCall(t, "POST", a.URL()+"/api/v1/widget/sessions?tenant="+id, "", "", `{"name":"Cy"}`)
			if st != http.StatusCreated {
				t.Fatalf("%s: widget session: %d %v", id, st, w)
			}
			ch.sid = w["session"].(map[string]any)["id"].(string)
			if ch.customer, err = client.Dial(ctx, client.Config{URL: ws(a, id), Token: w["token"].(string)}); err != nil {
				t.Fatalf("%s: customer socket on A: %v", id, err)
			}
			defer ch.customer.CloseNow()
			if ch.agent, err = client.Dial(ctx, client.Config{URL: ws(b, id), Token: tok["token"].(string)}); err != nil {
				t.Fatalf("%s: agent socket on B: %v", id, err)
			}
			defer ch.agent.CloseNow()
			if st, body := tenantCall(t, "POST", b.URL()+"/customer-service/sessions/"+ch.sid+"/assign?tenant="+id, "", ch.key,
				`{"agent_id":"agent_1","agent_name":"Ada"}`); st != http.StatusOK {
				t.Fatalf("%s: assign: %d %v", id, st, body)
			}
		}
	}
	for _, ch := range chats {
		q, a := "question from "+ch.tenant, "answer for "+ch.tenant
		if _, err := ch.customer.Send(ctx, ch.sid, q); err != nil {
			t.Fatalf("%s: customer send: %v", ch.tenant, err)
		}
		waitText(ctx, t, ch.agent, ch.tenant+"'s agent on B", q)
		if _, err := ch.agent.Send(ctx, ch.sid, a); err != nil {
			t.Fatalf("%s: agent send: %v", ch.tenant, err)
		}
		waitText(ctx, t, ch.customer, ch.tenant+"'s customer on A", a)
	}

	// Each tenant's keys are on the master that owns its slot, and only
	// there; so every master holds tenants.
	for i, m := range masters {
		for j := range 3 {
			for _, id := range perMaster[j] {
				n, err := redistest.KeysOn(ctx, m, redisstore.TenantPrefix(prefix, id)+":*")
				if err != nil {
					t.Fatal(err)
				}
				if i == j && n == 0 || i != j && n != 0 {
					t.Errorf("master %d (%s) holds %d keys of tenant %s, whose slot is on master %d", i, m.Addr(), n, id, j)
				}
			}
		}
	}
	for _, ch := range chats {
		for _, other := range chats {
			if other == ch {
				continue
			}
			if st, _ := tenantCall(t, "GET", a.URL()+"/customer-service/sessions/"+ch.sid+"?tenant="+other.tenant, "", other.key, ""); st != http.StatusNotFound {
				t.Errorf("tenant %s reads %s's session on the cluster: %d", other.tenant, ch.tenant, st)
			}
		}
	}

	// The scripts that take no session (the KF5 chat list, the janitor's
	// prune) reach each tenant's node, every time (a script sent without
	// a key would land on a random node and fail there).
	for _, ch := range chats {
		st, err := redisstore.New(a.rdb, redisstore.Options{Prefix: redisstore.TenantPrefix(prefix, ch.tenant)})
		if err != nil {
			t.Fatal(err)
		}
		for range 6 {
			if list, n, err := st.ChatSessions(ctx, hub.ChatFilter{Limit: 10}, time.Now()); err != nil || n != 1 || len(list) != 1 {
				t.Fatalf("%s: chat list on the cluster: %d of %d, %v", ch.tenant, len(list), n, err)
			}
			if _, err := st.Prune(ctx, time.Now()); err != nil {
				t.Fatalf("%s: prune on the cluster: %v", ch.tenant, err)
			}
		}
	}

	// A failover of master 0's shard changes the epoch of the tenants on
	// it (their own markers name the node's run), and of no other: the
	// hubs' first connection to the new master checks them before it
	// carries anything. The chats go on.
	epochs := func(node func(m int) *redistest.Server) map[string]string {
		out := map[string]string{}
		for m := range 3 {
			for _, id := range perMaster[m] {
				out[id] = node(m).Client().HGet(ctx, redisstore.TenantPrefix(prefix, id)+":store", "epoch").Val()
			}
		}
		return out
	}
	before := epochs(func(m int) *redistest.Server { return masters[m] })
	var replica *redistest.Server
	for _, n := range cl.Nodes {
		role, _ := n.Client().Do(ctx, "ROLE").Slice()
		if len(role) >= 3 && role[0] == "slave" && fmt.Sprintf("%v:%v", role[1], role[2]) == masters[0].Addr() {
			replica = n
		}
	}
	if replica == nil {
		t.Fatalf("no replica of master 0 (%s)", masters[0].Addr())
	}
	// A manual failover needs the replica in sync (it may still be making
	// its first copy this early), and gives up silently after 5 s: wait
	// for the link, and ask again if it did not happen.
	for !strings.Contains(replica.Client().Info(ctx, "replication").Val(), "master_link_status:up") {
		if ctx.Err() != nil {
			t.Fatal("the replica never got in sync")
		}
		time.Sleep(20 * time.Millisecond)
	}
	isMaster := func() bool {
		role, _ := replica.Client().Do(ctx, "ROLE").Slice()
		return len(role) > 0 && role[0] == "master"
	}
	for try := 0; !isMaster(); try++ {
		if try == 3 || ctx.Err() != nil {
			nodes, _ := replica.Client().Do(context.Background(), "CLUSTER", "NODES").Text()
			t.Fatalf("the replica %s never took over; CLUSTER NODES:\n%s", replica.Addr(), nodes)
		}
		if err := replica.Client().Do(ctx, "CLUSTER", "FAILOVER").Err(); err != nil {
			t.Fatalf("CLUSTER FAILOVER: %v", err)
		}
		for deadline := time.Now().Add(6 * time.Second); !isMaster() && time.Now().Before(deadline); {
			time.Sleep(20 * time.Millisecond)
		}
	}
	if err := cl.WaitOK(ctx); err != nil {
		t.Fatal(err)
	}
	for _, ch := range chats {
		text := "after the failover, " + ch.tenant
		for {
			_, err := ch.customer.Send(ctx, ch.sid, text)
			if err == nil {
				break
			}
			if ctx.Err() != nil {
				t.Fatalf("%s: send after the failover: %v", ch.tenant, err)
			}
			time.Sleep(50 * time.Millisecond) // "unavailable" while the hubs follow the new master
		}
		waitText(ctx, t, ch.agent, ch.tenant+"'s agent after the failover", text)
	}
	// The hubs check on their first new connection to the promoted node,
	// or within a second of their watch over the masters' runs.
	var after map[string]string
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		after = epochs(func(m int) *redistest.Server {
			if m == 0 {
				return replica
			}
			return masters[m]
		})
		if after[perMaster[0][0]] != before[perMaster[0][0]] && after[perMaster[0][1]] != before[perMaster[0][1]] || time.Now().After(deadline) {
			break
		}
	}
	for m := range 3 {
		for _, id := range perMaster[m] {
			if before[id] == "" {
				t.Fatalf("tenant %s has no epoch before the failover", id)
			}
			if changed := after[id] != before[id]; changed != (m == 0) {
				t.Errorf("tenant %s on master %d: epoch %s before the failover of master 0, %s after", id, m, before[id], after[id])
			}
		}
	}
	t.Logf("epochs before the failover of master 0: %v; after: %v", before, after)
}

// TestClusterFailoverUnderLoad: 20 tenants chat across two hubs on a Redis
// Cluster (3 masters, 3 replicas) while one replica takes over its master
// (CLUSTER FAILOVER): every acknowledged message reaches the agent on the
// other hub exactly once, in order, and is in the session's history; the
// hubs stay ready. The figures go to the test log (scripts/test.sh shows
// them with -v).
func TestClusterFailoverUnderLoad(t *testing.T) {
	cl := redistest.RequireCluster(t, 3, 1)
	chatThroughOnCluster(t, cl, "cf", 20, func(ctx context.Context, _ string, _ []string) string {
		var replica *redistest.Server
		for _, n := range cl.Nodes {
			if role, _ := n.Client().Do(ctx, "ROLE").Slice(); len(role) > 0 && role[0] == "slave" {
				replica = n
				break
			}
		}
		start := time.Now()
		if err := replica.Client().Do(ctx, "CLUSTER", "FAILOVER").Err(); err != nil {
			t.Fatalf("CLUSTER FAILOVER: %v", err)
		}
		for {
			if role, _ := replica.Client().Do(ctx, "ROLE").Slice(); len(role) > 0 && role[0] == "master" {
				break
			}
			if ctx.Err() != nil {
				t.Fatal("the replica never took over")
			}
			time.Sleep(20 * time.Millisecond)
		}
		return fmt.Sprintf("cluster failover: the replica took over in %v", time.Since(start).Round(time.Millisecond))
	})
}

// TestShardStallUnderLoadOnCluster: 12 tenants chat across two hubs on a
// Redis Cluster while a master that holds some of them, not the
// deployment's own, stalls for 3 s (SIGSTOP, with a node timeout long
// enough that the cluster does not fail it over: a long fork, a paused
// VM). Commands to it time out (go-redis's read timeout, 3 s) and are
// retried, and the stalled master runs both the first try and the retry
// once it is back: every acknowledged message reaches the agent on the
// other hub exactly once, in order, and is once in the session's history.
// (TestReadyWhileAnotherShardStallsOnCluster holds the hubs ready during
// a stall.)
func TestShardStallUnderLoadOnCluster(t *testing.T) {
	cl := redistest.RequireCluster(t, 3, 1)
	chatThroughOnCluster(t, cl, "ss", 12, func(ctx context.Context, prefix string, ids []string) string {
		for _, n := range cl.Nodes {
			if err := n.Client().ConfigSet(ctx, "cluster-node-timeout", "120000").Err(); err != nil {
				t.Fatal(err)
			}
		}
		own, err := cl.MasterOf(ctx, redistest.Slot(prefix))
		if err != nil {
			t.Fatal(err)
		}
		held := map[*redistest.Server]int{}
		for _, id := range ids {
			m, err := cl.MasterOf(ctx, redistest.Slot(redisstore.TenantPrefix(prefix, id)))
			if err != nil {
				t.Fatal(err)
			}
			if m != own {
				held[m]++
			}
		}
		var stalled *redistest.Server
		for m := range held {
			if stalled == nil || held[m] > held[stalled] {
				stalled = m
			}
		}
		if stalled == nil {
			t.Fatal("every tenant is on the deployment's master: nothing to stall")
		}
		if err := stalled.Pause(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(3 * time.Second) // the stall (time is the fault)
		if err := stalled.Resume(); err != nil {
			t.Fatal(err)
		}
		return fmt.Sprintf("a master holding %d of the %d tenants stalled for 3 s", held[stalled], len(ids))
	})
}

// TestReshardUnderLoadOnCluster: 12 tenants chat across two hubs on a Redis
// Cluster (3 masters, 3 replicas) while the slot of every tenant, and the
// deployment's own (its operator registry), moves to another master, a few
// keys at a time, as redis-cli --cluster reshard moves them: while a slot
// moves, Redis answers its scripts TRYAGAIN (their reshard fence,
// redisstore.Script) and redirects its plain commands, and the hubs answer
// writes unavailable, which the clients retry with the same client_msg_id. Every
// acknowledged message reaches the agent on the other hub exactly once, in
// order, and is once in the session's history on the new master; the hubs
// stay ready.
func TestReshardUnderLoadOnCluster(t *testing.T) {
	cl := redistest.RequireCluster(t, 3, 1)
	chatThroughOnCluster(t, cl, "rs", 12, func(ctx context.Context, prefix string, ids []string) string {
		masters, err := cl.Masters(ctx)
		if err != nil {
			t.Fatal(err)
		}
		before := redirections(ctx, t, masters)
		start, keys := time.Now(), 0
		prefixes := []string{prefix}
		for _, id := range ids {
			prefixes = append(prefixes, redisstore.TenantPrefix(prefix, id))
		}
		for _, p := range prefixes {
			slot := redistest.Slot(p)
			from, err := cl.MasterOf(ctx, slot)
			if err != nil {
				t.Fatal(err)
			}
			to := masters[(slices.Index(masters, from)+1)%len(masters)]
			n, err := cl.MoveSlot(ctx, slot, to, 4, 10*time.Millisecond)
			if err != nil {
				t.Fatalf("moving %s's slot %d: %v", p, slot, err)
			}
			if got, _ := cl.MasterOf(ctx, slot); got != to {
				t.Fatalf("slot %d still on %s", slot, got.Addr())
			}
			keys += n
		}
		if err := cl.WaitOK(ctx); err != nil {
			t.Fatal(err)
		}
		took := time.Since(start)
		after := redirections(ctx, t, masters)
		for k := range after {
			after[k] -= before[k]
		}
		if after["TRYAGAIN"]+after["ASK"] == 0 {
			t.Errorf("no command met a slot on the move (errorstats %v): the test tested nothing", after)
		}
		return fmt.Sprintf("resharding: %d slots, %d keys moved in %v; the masters answered %d TRYAGAIN, %d ASK, %d MOVED",
			len(prefixes), keys, took.Round(time.Millisecond), after["TRYAGAIN"], after["ASK"], after["MOVED"])
	})
}

// redirections sums the masters' counts of TRYAGAIN, ASK and MOVED
// replies (INFO errorstats).
func redirections(ctx context.Context, t *testing.T, masters []*redistest.Server) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, m := range masters {
		info, err := m.Info(ctx, "errorstats")
		if err != nil {
			t.Fatal(err)
		}
		for _, kind := range []string{"TRYAGAIN", "ASK", "MOVED"} {
			var n int
			fmt.Sscanf(info["errorstat_"+kind], "count=%d", &n)
			out[kind] += n
		}
	}
	return out
}

// chatThroughOnCluster has tenants (made through the operator API) chat
// across two hubs on cl, each customer sending 10 messages a second for
// 6 s to its agent on the other hub, and runs fault 2 s into the load with
// the deployment's key prefix and the tenants' ids; fault says what it did,
// for the log. It then checks that every acknowledged message reached the
// agent exactly once and in order, with no gap, and is in the session's
// history exactly once, and that both hubs are ready.
func chatThroughOnCluster(t *testing.T, cl *redistest.Cluster, tag string, tenants int,
	fault func(ctx context.Context, prefix string, ids []string) string) {
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	c := defaultConfig(t)
	c.RedisURL, c.KeyPrefix, c.AdminKey = cl.URL(), "{"+tag+strings.ToLower(hub.NewSecret(6))+"}", "test-admin-key-0123456789"
	c.OperatorKey = "test-operator-key-0123456789"
	a, b := openMain(t, c), openMain(t, c)
	wsURL := func(m *Main, tenant string) string {
		return "ws" + strings.TrimPrefix(m.URL(), "http") + "/ws?tenant=" + tenant
	}

	type conv struct {
		tenant, sid, key string
		customer, agent  *client.Client
		mu               sync.Mutex
		acked            []string // guarded by mu: texts acknowledged, in send order
		got              []string // texts the agent received
		seqs             []int64
		sent             chan struct{} // closed once the customer sent its last message
	}
	convs := make([]*conv, tenants)
	ids := make([]string, tenants)
	for i := range convs {
		id := fmt.Sprintf("f%02d", i)
		ids[i] = id
		st, body := tenantCall(t, "POST", a.URL()+"/api/v1/operator/tenants", "", c.OperatorKey, `{"id":"`+id+`"}`)
		if st != http.StatusCreated {
			t.Fatalf("create %s: %d %v", id, st, body)
		}
		cv := &conv{tenant: id, key: body["admin_key"].(string), sent: make(chan struct{})}
		convs[i] = cv
		tenantCall(t, "POST", b.URL()+"/api/v1/agents?tenant="+id, "", cv.key, `{"id":"agent_1","name":"Ada","email":"ada@x.test"}`)
		_, tok := tenantCall(t, "POST", b.URL()+"/api/v1/agents/agent_1/token?tenant="+id, "", cv.key, "")
		// Half on each hub: the widget endpoint takes 10 at once from one address.
		st, w := tenantCall(t, "POST", []*Main{a, b}[i%2].URL()+"/api/v1/widget/sessions?tenant="+id, "", "", `{"name":"Cy"}`)
		if st != http.StatusCreated {
			t.Fatalf("%s: widget session: %d %v", id, st, w)
		}
		cv.sid = w["session"].(map[string]any)["id"].(string)
		var err error
		if cv.customer, err = client.Dial(ctx, client.Config{URL: wsURL(a, id), FallbackURLs: []string{wsURL(b, id)},
			Token: w["token"].(string), AutoReconnect: true}); err != nil {
			t.Fatal(err)
		}
		defer cv.customer.CloseNow()
		if cv.agent, err = client.Dial(ctx, client.Config{URL: wsURL(b, id), FallbackURLs: []string{wsURL(a, id)},
			Token: tok["token"].(string), AutoReconnect: true}); err != nil {
			t.Fatal(err)
		}
		defer cv.agent.CloseNow()
		if st, body := tenantCall(t, "POST", b.URL()+"/customer-service/sessions/"+cv.sid+"/assign?tenant="+id, "", cv.key,
			`{"agent_id":"agent_1","agent_name":"Ada"}`); st != http.StatusOK {
			t.Fatalf("%s: assign: %d %v", id, st, body)
		}
	}

	// The load: each customer sends 10 messages a second for 6 s; the
	// failover starts 2 s in.
	var wg sync.WaitGroup
	loadCtx, stopLoad := context.WithTimeout(ctx, 6*time.Second)
	defer stopLoad()
	for _, cv := range convs {
		wg.Add(2)
		go func() {
			defer wg.Done()
			defer close(cv.sent)
			tick := time.NewTicker(100 * time.Millisecond)
			defer tick.Stop()
			for n := 0; loadCtx.Err() == nil; n++ {
				<-tick.C
				text := fmt.Sprintf("%s-%d", cv.tenant, n)
				if _, err := cv.customer.SendID(ctx, cv.sid, client.NewClientMsgID(), text); err != nil {
					t.Errorf("%s: send %s: %v", cv.tenant, text, err)
					return
				}
				cv.mu.Lock()
				cv.acked = append(cv.acked, text)
				cv.mu.Unlock()
			}
		}()
		go func() {
			defer wg.Done()
			// Done once the customer is (a send in flight when the load
			// ends is acknowledged after it) and every acknowledged
			// message arrived.
			sent, finished := cv.sent, false
			for {
				select {
				case f := <-cv.agent.Events():
					if text, _, _ := f.Message(); f.Type == "message.created" && strings.HasPrefix(text, cv.tenant+"-") {
						cv.got = append(cv.got, text)
						cv.seqs = append(cv.seqs, f.Seq)
					}
				case <-sent:
					sent, finished = nil, true
				case <-ctx.Done():
					return
				}
				cv.mu.Lock()
				done := finished && len(cv.got) >= len(cv.acked) && len(cv.acked) > 0
				cv.mu.Unlock()
				if done {
					return
				}
			}
		}()
	}
	time.Sleep(2 * time.Second) // into the load (time is the condition)
	what := fault(ctx, c.KeyPrefix, ids)
	if err := cl.WaitOK(ctx); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	for _, m := range []*Main{a, b} {
		if st, _ := tenantCall(t, "GET", m.URL()+"/readyz", "", "", ""); st != http.StatusOK {
			t.Errorf("hub %s not ready after the fault: %d", m.URL(), st)
		}
	}
	sent, lost, dup := 0, 0, 0
	for _, cv := range convs {
		sent += len(cv.acked)
		count := map[string]int{}
		for _, g := range cv.got {
			count[g]++
		}
		for _, want := range cv.acked {
			switch count[want] {
			case 0:
				lost++
				t.Errorf("%s: acknowledged %s never reached the agent", cv.tenant, want)
			case 1:
			default:
				dup++
				t.Errorf("%s: %s reached the agent %d times", cv.tenant, want, count[want])
			}
		}
		for i := 1; i < len(cv.seqs); i++ {
			if cv.seqs[i] <= cv.seqs[i-1] {
				t.Errorf("%s: out of order: seq %d after %d", cv.tenant, cv.seqs[i], cv.seqs[i-1])
			}
		}
		if s := cv.agent.Stats(); s.Gaps != 0 {
			t.Errorf("%s: the agent's client saw %d gaps", cv.tenant, s.Gaps)
		}
		stored := map[string]int{}
		for _, text := range sessionTexts(t, a.URL(), cv.tenant, cv.key, cv.sid) {
			stored[text]++
		}
		for _, want := range cv.acked {
			if stored[want] != 1 {
				t.Errorf("%s: acknowledged %s is %d times in the session's history", cv.tenant, want, stored[want])
			}
		}
	}
	t.Logf("%s; under load: %d tenants, %d messages acknowledged, %d lost, %d duplicated", what, tenants, sent, lost, dup)
}

// sessionTexts returns the texts of a session's messages, from its history
// (the native API, paged by seq).
func sessionTexts(t *testing.T, base, tenant, key, sid string) []string {
	t.Helper()
	var texts []string
	for after := 0; ; {
		st, page := tenantCall(t, "GET", fmt.Sprintf("%s/api/v1/sessions/%s/messages?tenant=%s&after=%d&limit=200", base, sid, tenant, after), "", key, "")
		if st != http.StatusOK {
			t.Fatalf("%s: history: %d %v", tenant, st, page)
		}
		events, _ := page["events"].([]any)
		for _, e := range events {
			ev, _ := e.(map[string]any)
			if seq, ok := ev["seq"].(float64); ok {
				after = int(seq)
			}
			if msg, ok := ev["message"].(map[string]any); ok {
				if text, ok := msg["text"].(string); ok {
					texts = append(texts, text)
				}
			}
		}
		if more, _ := page["has_more"].(bool); !more || len(events) == 0 {
			return texts
		}
	}
}
