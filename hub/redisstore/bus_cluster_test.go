package redisstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/hub/redisstore"
	"github.com/switchboardhq/switchboard/hub/redisstore/redistest"
)

// TestBusLeavesAFrozenNodeOnCluster: on a Redis Cluster, the node the
// bus's PubSub connection is on freezes (SIGSTOP: a host gone without a
// reset, or one that stalls), once with the cluster failing it over and
// once stalling for longer than the test with no failover (its node
// timeout is longer). The bus finds that the node does not answer a PING
// on a connection of its own (the stall: with a silence bound longer than
// the test) or that its connection is deaf (the failover: a 2 s bound),
// and resubscribes on another node, where the next event, published on a
// node that answers, reaches the subscriber. go-redis's own Cluster PubSub dials the
// master of its first channel's slot, so on a stall it dialed the frozen
// master again and again (the kernel still accepts connections for it)
// and heard nothing while it stalled; after a failover it did so until its
// slot map was reloaded, a minute later. scripts/test.sh runs it
// (SWITCHBOARD_TEST_CLUSTER=1).
func TestBusLeavesAFrozenNodeOnCluster(t *testing.T) {
	for _, tc := range []struct {
		name     string
		failover bool
	}{{"stall", false}, {"failover", true}} {
		t.Run(tc.name, func(t *testing.T) { busLeavesFrozenNode(t, tc.failover) })
	}
}

func busLeavesFrozenNode(t *testing.T, failover bool) {
	cl := redistest.RequireCluster(t, 3, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	if !failover {
		for _, n := range cl.Nodes {
			if err := n.Client().ConfigSet(ctx, "cluster-node-timeout", "120000").Err(); err != nil {
				t.Fatal(err)
			}
		}
	}
	rdb := cl.NewClient()
	t.Cleanup(func() { rdb.Close() }) // after the bus's
	const prefix, topic = "{busfail}", "session:cs_Failover"
	st, err := redisstore.New(rdb, redisstore.Options{Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	fan, _ := startBus(t, st, 100*time.Millisecond, func(b *redisstore.Bus) {
		if !failover {
			// Only check's PING to the node on a connection of its own can
			// move the bus: its silence bound is longer than the test.
			b.SetDeafAfter(10 * time.Minute)
		} // else 2 s (busDeafMin)
		if err := b.Subscribe(ctx, topic); err != nil {
			t.Fatal(err)
		}
	})
	rec := newBusRecorder()
	fan.Add(topic, rec)
	rec.wait(t, "subscribed", func(_ []string, resyncs int) bool { return resyncs >= 1 })
	channel := prefix + ":ch:" + topic

	on := busNode(ctx, t, cl, nil)
	// A PUBLISH on any node reaches the subscribers of every node.
	publishUntil(ctx, t, cl, on, channel, `{"type":"message","seq":1}`, rec)
	rec.mu.Lock()
	subs := rec.resyncs
	rec.mu.Unlock()

	if err := on.Pause(); err != nil {
		t.Fatal(err)
	}
	defer on.Resume()
	if failover {
		// The cluster fails it over, if it is a master, in 2 s
		// (cluster-node-timeout): the bus does not wait for that.
		t.Logf("frozen: %s", on.Addr())
	}
	// A check interval and the PING's 2 s, or two silence bounds (2 s
	// each), and a dial that may try the frozen node (3 s) at most.
	rec.waitWithin(t, 30*time.Second, "a subscription on another node", func(_ []string, resyncs int) bool { return resyncs > subs })
	busNode(ctx, t, cl, on) // on one that answers
	publishUntil(ctx, t, cl, on, channel, `{"type":"message","seq":2}`, rec)
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if rec.got[0] != `{"type":"message","seq":1}` || rec.got[len(rec.got)-1] != `{"type":"message","seq":2}` {
		t.Fatalf("got %q; want the events before and after", rec.got)
	}
}

// busNode returns the node that holds the one PubSub connection, other
// than frozen, waiting until there is one.
func busNode(ctx context.Context, t *testing.T, cl *redistest.Cluster, frozen *redistest.Server) *redistest.Server {
	t.Helper()
	for {
		for _, n := range cl.Nodes {
			if n == frozen {
				continue
			}
			if subs, err := n.PubSubClients(ctx); err == nil && subs > 0 {
				return n
			}
		}
		if ctx.Err() != nil {
			t.Fatal("no node holds the bus's subscription")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// publishUntil publishes data on channel through a node other than frozen
// until the recorder's last event is data (a PUBLISH that left before the
// bus resubscribed reaches no one).
func publishUntil(ctx context.Context, t *testing.T, cl *redistest.Cluster, frozen *redistest.Server, channel, data string, rec *busRecorder) {
	t.Helper()
	var via *redistest.Server
	for _, s := range cl.Nodes {
		if s != frozen {
			via = s
			break
		}
	}
	for {
		if err := via.Client().Publish(ctx, channel, data).Err(); err != nil {
			t.Fatalf("PUBLISH on %s: %v", via.Addr(), err)
		}
		rec.mu.Lock()
		got := len(rec.got) > 0 && rec.got[len(rec.got)-1] == data
		rec.mu.Unlock()
		if got {
			return
		}
		if ctx.Err() != nil {
			t.Fatalf("the bus never received %s", data)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
