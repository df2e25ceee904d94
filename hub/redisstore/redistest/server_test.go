//go:build unix

package redistest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// testTimeout bounds each test of real processes.
const testTimeout = 25 * time.Second

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

func requireGet(t *testing.T, ctx context.Context, c *redis.Client, key, want string) {
	t.Helper()
	got, err := c.Get(ctx, key).Result()
	if err != nil || got != want {
		t.Fatalf("GET %s on %s = %q, %v; want %q", key, c.Options().Addr, got, err, want)
	}
}

func requireAbsent(t *testing.T, ctx context.Context, c *redis.Client, key string) {
	t.Helper()
	if got, err := c.Get(ctx, key).Result(); !errors.Is(err, redis.Nil) {
		t.Fatalf("GET %s on %s = %q, %v; want no such key", key, c.Options().Addr, got, err)
	}
}

func TestServerAOFSurvivesRestart(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	s := RequireServer(t, ServerConfig{AppendOnly: true})
	if save, err := s.Client().ConfigGet(ctx, "save").Result(); err != nil || save["save"] != "" {
		t.Fatalf("CONFIG GET save = %v, %v; want no snapshots", save, err)
	}
	if err := s.Client().Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	pid, run1 := s.Pid(), s.RunID()
	if pid == 0 || run1 == "" {
		t.Fatalf("pid %d, run_id %q", pid, run1)
	}
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	if s.Pid() != 0 || s.RunID() != "" {
		t.Fatal("server still answers after Stop")
	}
	if err := s.Stop(); !errors.Is(err, errNotRunning) {
		t.Fatalf("second Stop: %v", err)
	}
	addr := s.Addr()
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	if s.Addr() != addr {
		t.Fatalf("restarted on %s, not %s", s.Addr(), addr)
	}
	if run2 := s.RunID(); run2 == "" || run2 == run1 {
		t.Fatalf("run_id %q after restart, %q before", run2, run1)
	}
	requireGet(t, ctx, s.Client(), "k", "v")
}

func TestServerAOFAlwaysSurvivesKill(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	s := RequireServer(t, ServerConfig{AppendOnly: true, AppendFsync: "always"})
	if err := s.Client().Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	run1 := s.RunID()
	if err := s.Kill(); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	if s.RunID() == run1 {
		t.Fatal("run_id unchanged after Kill and Start")
	}
	requireGet(t, ctx, s.Client(), "k", "v")
}

func TestServerRDBRollback(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	s := RequireServer(t, ServerConfig{})
	c := s.Client()
	if err := c.Set(ctx, "k1", "v1", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if err := s.Save(); err != nil {
		t.Fatal(err)
	}
	if err := c.Set(ctx, "k2", "v2", 0).Err(); err != nil {
		t.Fatal(err)
	}
	run1 := s.RunID()
	if err := s.Kill(); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	if run2 := s.RunID(); run2 == "" || run2 == run1 {
		t.Fatalf("run_id %q after restart, %q before", run2, run1)
	}
	requireGet(t, ctx, c, "k1", "v1")
	requireAbsent(t, ctx, c, "k2")
}

func TestServerPauseResume(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	s := RequireServer(t, ServerConfig{})
	if err := s.Pause(); err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	if _, err := s.Info(short, "server"); err == nil {
		t.Fatal("a paused server answered")
	}
	if err := s.Resume(); err != nil {
		t.Fatal(err)
	}
	if err := s.Client().Ping(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	// Stop lets a paused server exit.
	if err := s.Pause(); err != nil {
		t.Fatal(err)
	}
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
}

// TestStartServerRetriesPortConflict: a spare port taken before the server
// binds it costs one more attempt on another port, not a failure.
func TestStartServerRetriesPortConflict(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	busy := l.Addr().(*net.TCPAddr).Port
	calls := 0
	s := RequireServer(t, ServerConfig{pickPort: func() (int, error) {
		calls++
		if calls == 1 {
			return busy, nil
		}
		return sparePort()
	}})
	if s.port == busy || calls != 2 {
		t.Fatalf("started on %d after %d picks (busy %d)", s.port, calls, busy)
	}
	// An explicit port taken by another process is an error, with the log.
	if _, err := exec.LookPath("redis-server"); err == nil {
		_, err := StartServer(ServerConfig{Port: busy, StartTimeout: 3 * time.Second})
		if err == nil || !strings.Contains(err.Error(), "Address already in use") {
			t.Fatalf("StartServer on a busy port: %v", err)
		}
	}
}

// primaryAndReplica starts a primary and a replica that has synced with it.
func primaryAndReplica(t *testing.T, ctx context.Context) (primary, replica *Server) {
	t.Helper()
	primary = RequireServer(t, ServerConfig{})
	replica = RequireServer(t, ServerConfig{ReplicaOf: primary.Addr()})
	if err := replica.WaitReplicaOf(ctx, primary); err != nil {
		t.Fatal(err)
	}
	return primary, replica
}

// TestSIGSTOPAloneDoesNotHoldBackReplication is why FailoverToLaggingReplica
// cuts the replica's link: writes made while the replica is stopped wait in
// the kernel's socket buffers and reach it when it resumes, even with the
// primary stopped by then. (Whether the primary has sent a write when it is
// frozen right after acknowledging it is a race, which the PING settles
// here: the primary answers it only after the event-loop iteration that
// sent the write to its replica.)
func TestSIGSTOPAloneDoesNotHoldBackReplication(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	primary, replica := primaryAndReplica(t, ctx)
	if err := replica.Pause(); err != nil {
		t.Fatal(err)
	}
	if err := primary.Client().Set(ctx, "during", "1", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if err := primary.Client().Ping(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	if err := primary.Pause(); err != nil {
		t.Fatal(err)
	}
	if err := replica.Resume(); err != nil {
		t.Fatal(err)
	}
	err := poll(ctx, "the write to reach the replica", func(ctx context.Context) (bool, error) {
		v, err := replica.Client().Get(ctx, "during").Result()
		return v == "1", err
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := primary.Resume(); err != nil {
		t.Fatal(err)
	}
}

func TestSentinelsURL(t *testing.T) {
	ss := &Sentinels{name: "sb master"}
	for _, port := range []int{26001, 26002, 26003} {
		ss.procs = append(ss.procs, &Server{port: port})
	}
	u := ss.URL(2)
	if want := "redis+sentinel://127.0.0.1:26001/2?master_name=sb+master&addr=127.0.0.1%3A26002&addr=127.0.0.1%3A26003"; u != want {
		t.Fatalf("URL = %s\nwant  %s", u, want)
	}
	// What cmd/switchboard does with it.
	opt, err := redis.ParseFailoverURL(strings.Replace(u, "redis+sentinel://", "redis://", 1))
	if err != nil {
		t.Fatal(err)
	}
	if opt.MasterName != "sb master" || opt.DB != 2 || !slices.Equal(opt.SentinelAddrs, ss.Addrs()) {
		t.Fatalf("parsed %q db %d sentinels %v", opt.MasterName, opt.DB, opt.SentinelAddrs)
	}
}

func TestSentinelFailover(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	primary, replica := primaryAndReplica(t, ctx)
	ss := RequireSentinels(t, 3, "sbtest", primary, SentinelConfig{Logf: t.Logf})
	if got, err := ss.MasterAddr(ctx); err != nil || got != primary.Addr() {
		t.Fatalf("MasterAddr = %s, %v; want %s", got, err, primary.Addr())
	}
	opt, err := redis.ParseFailoverURL(strings.Replace(ss.URL(0), "redis+sentinel://", "redis://", 1))
	if err != nil {
		t.Fatal(err)
	}
	fc := redis.NewFailoverClient(opt)
	defer fc.Close()
	if err := fc.Set(ctx, "k1", "v1", 0).Err(); err != nil {
		t.Fatal(err)
	}
	requireGet(t, ctx, primary.Client(), "k1", "v1")
	// SENTINEL FAILOVER does not wait for the replica to catch up: what it
	// has not received yet is lost, as in production.
	if err := replica.WaitReplicaOf(ctx, primary); err != nil {
		t.Fatal(err)
	}

	start := time.Now()
	newMaster, err := ss.Failover(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("failover to %s took %v", newMaster, time.Since(start))
	if newMaster != replica.Addr() {
		t.Fatalf("new master %s, want %s", newMaster, replica.Addr())
	}

	// The failover client writes to the new master within 5 s.
	start = time.Now()
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	err = poll(wctx, "the failover client's write to reach the new master", func(ctx context.Context) (bool, error) {
		if err := fc.Set(ctx, "k2", "v2", 0).Err(); err != nil {
			return false, err
		}
		v, err := replica.Client().Get(ctx, "k2").Result()
		return v == "v2", err
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("the failover client wrote to the new master %v after the failover", time.Since(start))
	requireGet(t, ctx, replica.Client(), "k1", "v1")

	// The former primary becomes the new master's replica.
	start = time.Now()
	if err := primary.WaitReplicaOf(ctx, replica); err != nil {
		t.Fatal(err)
	}
	t.Logf("the former primary rejoined as a replica %v later", time.Since(start))
	requireGet(t, ctx, primary.Client(), "k2", "v2")
}

// TestFailoverToLaggingReplicaLosesPausedWrites runs the recipe twice on one
// set of servers, back and forth: each time exactly the writes made while
// the replica was held back are lost.
func TestFailoverToLaggingReplicaLosesPausedWrites(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	primary, replica := primaryAndReplica(t, ctx)
	ss := RequireSentinels(t, 3, "sbtest", primary, SentinelConfig{Logf: t.Logf})
	for round := range 2 {
		before, during, after := fmt.Sprint("before", round), fmt.Sprint("during", round), fmt.Sprint("after", round)
		if err := primary.Client().Set(ctx, before, "1", 0).Err(); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		newMaster, err := ss.FailoverToLaggingReplica(ctx, primary, replica, func() error {
			return primary.Client().Set(ctx, during, "1", 0).Err()
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("round %d: FailoverToLaggingReplica took %v", round, time.Since(start))
		if newMaster != replica.Addr() {
			t.Fatalf("new master %s, want %s", newMaster, replica.Addr())
		}
		if got, err := ss.MasterAddr(ctx); err != nil || got != replica.Addr() {
			t.Fatalf("MasterAddr = %s, %v; want %s", got, err, replica.Addr())
		}
		// The new master has what was written before the pause, not during
		// it, and the former primary, now its replica, has dropped it too.
		requireGet(t, ctx, replica.Client(), before, "1")
		requireAbsent(t, ctx, replica.Client(), during)
		requireGet(t, ctx, primary.Client(), before, "1")
		requireAbsent(t, ctx, primary.Client(), during)
		// Writes after the failover replicate to the former primary.
		if err := replica.Client().Set(ctx, after, "1", 0).Err(); err != nil {
			t.Fatal(err)
		}
		if err := primary.WaitReplicaOf(ctx, replica); err != nil {
			t.Fatal(err)
		}
		requireGet(t, ctx, primary.Client(), after, "1")
		// The Sentinels' failure detection is back to normal.
		for i := range 3 {
			m, err := ss.conns[i].Master(ctx, "sbtest").Result()
			if err != nil || m["down-after-milliseconds"] != "1000" {
				t.Fatalf("sentinel %d: down-after-milliseconds %q, %v", i, m["down-after-milliseconds"], err)
			}
		}
		primary, replica = replica, primary
	}
}
