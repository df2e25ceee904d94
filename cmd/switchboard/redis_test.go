package main

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/switchboardhq/switchboard/hub/redisstore/redistest"
)

// TestRedisRestartUnderFullPool: after a Redis restart, the connections
// the restart closed are idle in the pool, more of them than a command's
// retries. Every command, pipeline and script sent after it succeeds the
// first time, one caller after another and many at once, each on a new
// connection that went through OnConnect (the store's guard): go-redis's
// pool finds a closed connection when it hands it out (its peek,
// connCheck), at no cost to the caller. Without the peek (tried on
// 2026-12-06, docs/performance.md, "The pool's peek, back") each closed
// connection cost the command one of its retries, and one caller's first
// three commands failed with EOF.
func TestRedisRestartUnderFullPool(t *testing.T) {
	rs := redistest.RequireServer(t, redistest.ServerConfig{})
	for _, query := range []string{"", "?max_retries=-1"} {
		t.Run("url"+query, func(t *testing.T) { restartUnderPool(t, rs, rs.URL()+query, "", nil) })
	}
}

// TestRestartUnderFullPoolOnCluster is TestRedisRestartUnderFullPool on
// a master of a Redis Cluster, whose keys hold every key of the run.
// scripts/test.sh runs it (SWITCHBOARD_TEST_CLUSTER=1).
func TestRestartUnderFullPoolOnCluster(t *testing.T) {
	cl := redistest.RequireCluster(t, 3, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const tag = "{restart}"
	node, err := cl.MasterOf(ctx, redistest.Slot(tag))
	if err != nil {
		t.Fatal(err)
	}
	restartUnderPool(t, node, cl.URL(), tag, cl.WaitOK)
}

// restartUnderPool fills the pool of a client on url with idle
// connections, restarts rs, and checks that one caller's commands succeed;
// then again, with many callers at once. Its keys start with tag (a
// Cluster's hash tag, so that they are all on rs); ready, when not nil,
// waits after each restart until rs serves again.
func restartUnderPool(t *testing.T, rs *redistest.Server, url, tag string, ready func(context.Context) error) {
	var connects atomic.Int32
	rdb, err := redisClient(url, func(context.Context, *redis.Conn) error { connects.Add(1); return nil })
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// n is more than the 4 tries (3 retries) go-redis gives a command.
	const n = 12
	together := func(f func(i int) error) {
		t.Helper()
		var wg sync.WaitGroup
		errs := make([]error, n)
		for i := range n {
			wg.Go(func() { errs[i] = f(i) })
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("caller %d: %v", i, err)
			}
		}
	}
	// hold blocks the caller's connection on the server for 200 ms.
	hold := func(c interface {
		Do(context.Context, ...any) *redis.Cmd
	}, i int) *redis.Cmd {
		return c.Do(ctx, "BLPOP", fmt.Sprintf("%srestart:nothing:%d", tag, i), "0.2")
	}
	// restart leaves n idle connections in the pool (each of n callers
	// blocks on the server for a moment, so that each holds its own), and
	// restarts rs under them.
	restart := func() {
		t.Helper()
		together(func(i int) error {
			if err := hold(rdb, i).Err(); err != redis.Nil {
				return err
			}
			return nil
		})
		if st := rdb.PoolStats(); st.IdleConns < n { // a Cluster's client also holds the other masters'
			t.Fatalf("%d idle connections before the restart, want at least %d", st.IdleConns, n)
		}
		if err := rs.Stop(); err != nil {
			t.Fatal(err)
		}
		if err := rs.Start(); err != nil {
			t.Fatal(err)
		}
		if ready != nil {
			if err := ready(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	script := redis.NewScript(`return redis.call('INCR', KEYS[1])`) // not in the new server's cache
	count := func(want int) {
		t.Helper()
		if got, err := rdb.Get(ctx, tag+"restart:count").Int(); err != nil || got != want {
			t.Fatalf("the script ran %d times (%v), want %d", got, err, want)
		}
	}

	// One caller, one command at a time.
	restart()
	before := connects.Load()
	for i := range n {
		var err error
		switch i % 3 {
		case 0:
			pipe := rdb.Pipeline()
			pipe.Set(ctx, fmt.Sprintf("%srestart:%d", tag, i), i, 0)
			pipe.Incr(ctx, tag+"restart:count")
			_, err = pipe.Exec(ctx)
		case 1:
			err = script.Run(ctx, rdb, []string{tag + "restart:count"}).Err()
		case 2:
			_, err = rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
				p.Incr(ctx, tag+"restart:count")
				p.Get(ctx, fmt.Sprintf("%srestart:%d", tag, i-2))
				return nil
			})
		}
		if err != nil {
			t.Fatalf("command %d after the restart: %v", i, err)
		}
	}
	count(n)
	if connects.Load() == before {
		t.Fatal("no connection made after the restart (each goes through OnConnect)")
	}

	// Many callers at once.
	restart()
	before = connects.Load()
	together(func(i int) error {
		pipe := rdb.Pipeline()
		pipe.Set(ctx, fmt.Sprintf("%srestart:%d", tag, i), i, 0)
		hold(pipe, i)
		if _, err := pipe.Exec(ctx); err != redis.Nil { // the BLPOP's empty answer
			return fmt.Errorf("pipeline: %w", err)
		}
		if err := script.Run(ctx, rdb, []string{tag + "restart:count"}).Err(); err != nil {
			return fmt.Errorf("script: %w", err)
		}
		return rdb.Get(ctx, fmt.Sprintf("%srestart:%d", tag, i)).Err()
	})
	count(n) // the restart took the first count with it
	if after := connects.Load() - before; after < n {
		t.Fatalf("%d connections made after the restart, want at least %d (each through OnConnect)", after, n)
	}
}

// TestFrozenMasterOnCluster: a Cluster master freezes (SIGSTOP: a host gone
// without a reset) and the cluster promotes its replica. The next write to
// its slot reaches the new master, through go-redis's own retries, because
// the client reloads its slot map when a node does not answer
// (followFailovers). go-redis alone reloads it only once it is a minute
// old, or on a MOVED that a frozen node never sends: every write to the
// slot failed until then (the chaos suite's cluster-frozen). scripts/test.sh
// runs it (SWITCHBOARD_TEST_CLUSTER=1).
func TestFrozenMasterOnCluster(t *testing.T) {
	cl := redistest.RequireCluster(t, 3, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	rdb, err := redisClient(cl.URL(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()
	const key = "{frozen}k"
	if err := rdb.Set(ctx, key, "before", 0).Err(); err != nil { // the slot map is loaded now
		t.Fatal(err)
	}
	slot := redistest.Slot(key)
	old, err := cl.MasterOf(ctx, slot)
	if err != nil {
		t.Fatal(err)
	}
	if err := old.Pause(); err != nil {
		t.Fatal(err)
	}
	promoted, err := cl.WaitPromoted(ctx, slot, old)
	if err != nil {
		t.Fatal(err)
	}
	// Each try may wait out go-redis's read timeout (3 s) on the frozen
	// node once or twice before it takes the reloaded map; 30 s is well
	// within the minute after which go-redis would reload it anyway.
	deadline := time.Now().Add(30 * time.Second)
	for try := 1; ; try++ {
		err := rdb.Set(ctx, key, "after", 0).Err()
		if err == nil {
			t.Logf("written on try %d", try)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no write to slot %d reached its new master %s within 30 s (try %d: %v)", slot, promoted.Addr(), try, err)
		}
	}
	if got, err := promoted.Client().Get(ctx, key).Result(); err != nil || got != "after" {
		t.Fatalf("the new master holds %q (%v), want the write", got, err)
	}
}

// TestReadyWhileAnotherShardStallsOnCluster: a master of another shard than
// the deployment's own stalls (SIGSTOP, with a node timeout long enough
// that the cluster does not fail it over meanwhile: a long fork, a paused
// VM). Every hub stays ready, a hub starts, and the deployment's writes go
// on: only the tenants on the stalled shard wait for it. The Cluster
// client sends a keyless PING to one master after another, so /readyz
// failed on every hub one time in three (here: "/readyz 2 ... 503") while
// any one shard did not answer, and a hub could not start ("redis
// unreachable"). scripts/test.sh runs it (SWITCHBOARD_TEST_CLUSTER=1).
func TestReadyWhileAnotherShardStallsOnCluster(t *testing.T) {
	cl := redistest.RequireCluster(t, 3, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	for _, n := range cl.Nodes {
		if err := n.Client().ConfigSet(ctx, "cluster-node-timeout", "120000").Err(); err != nil {
			t.Fatal(err)
		}
	}
	c := defaultConfig(t)
	c.RedisURL, c.KeyPrefix, c.AdminKey = cl.URL(), "{stall}", "test-admin-key-0123456789"
	a := openMain(t, c)
	own, err := cl.MasterOf(ctx, redistest.Slot(c.KeyPrefix))
	if err != nil {
		t.Fatal(err)
	}
	other, err := cl.OtherMaster(ctx, own)
	if err != nil {
		t.Fatal(err)
	}
	if err := other.Pause(); err != nil {
		t.Fatal(err)
	}
	defer other.Resume()

	ready := func(hubs ...*Main) {
		t.Helper()
		for i := range 6 {
			for _, m := range hubs {
				if st, body := tenantCall(t, "GET", m.URL()+"/readyz", "", "", ""); st != http.StatusOK {
					t.Fatalf("/readyz %d while another shard stalls: %d %v", i, st, body)
				}
			}
		}
	}
	ready(a)
	b := openMain(t, c) // a hub started while the shard stalls
	ready(a, b)
	if st, body := tenantCall(t, "POST", b.URL()+"/api/v1/agents", "", a.AdminKey(),
		`{"id":"agent_stall","name":"Ada","email":"ada@x.test"}`); st != http.StatusCreated {
		t.Fatalf("a write of the deployment's while another shard stalls: %d %v", st, body)
	}
}
