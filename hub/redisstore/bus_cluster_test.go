package redisstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/hub/redisstore"
	"github.com/switchboardhq/switchboard/hub/redisstore/redistest"
)

// TestBusFollowsFailoverOnCluster: on a Redis Cluster, the bus's PubSub
// connection is on the master of its first channel's slot. That master
// freezes (SIGSTOP: a host gone without a reset) and the cluster promotes
// its replica; the bus finds its connection deaf, has the client reload
// its slot map, and resubscribes on the new master, where the next event
// reaches the subscriber. go-redis reloads the map on its own only once it
// is a minute old, so without the reload the bus dialed the frozen master
// again (the kernel still accepts connections for it) and heard nothing
// for that minute. scripts/test.sh runs it (SWITCHBOARD_TEST_CLUSTER=1).
func TestBusFollowsFailoverOnCluster(t *testing.T) {
	cl := redistest.RequireCluster(t, 3, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	rdb := cl.NewClient()
	t.Cleanup(func() { rdb.Close() }) // after the bus's
	const prefix, topic = "{busfail}", "session:cs_Failover"
	st, err := redisstore.New(rdb, redisstore.Options{Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	// Subscribed before it reads, the bus dials its first connection for
	// that channel, to the master of its slot: the case under test. (A bus
	// that reads first dials any node, and the master of its first
	// channel's slot only when it dials again.)
	fan, _ := startBus(t, st, 100*time.Millisecond, func(b *redisstore.Bus) { // deaf bound 2 s (busDeafMin)
		if err := b.Subscribe(ctx, topic); err != nil {
			t.Fatal(err)
		}
	})
	rec := newBusRecorder()
	fan.Add(topic, rec)
	rec.wait(t, "subscribed", func(_ []string, resyncs int) bool { return resyncs >= 1 })

	slot := redistest.Slot(prefix)
	old, err := cl.MasterOf(ctx, slot)
	if err != nil {
		t.Fatal(err)
	}
	channel := prefix + ":ch:" + topic
	if got := old.Client().Publish(ctx, channel, `{"type":"message","seq":1}`).Val(); got != 1 {
		t.Fatalf("PUBLISH on the slot's master reached %d subscribers; want the bus", got)
	}
	rec.wait(t, "the event before", func(got []string, _ int) bool { return len(got) == 1 })
	rec.mu.Lock()
	subs := rec.resyncs // the confirmations came before the event, on the same connection
	rec.mu.Unlock()

	if err := old.Pause(); err != nil {
		t.Fatal(err)
	}
	promoted, err := cl.WaitPromoted(ctx, slot, old)
	if err != nil {
		t.Fatal(err)
	}
	// Two deaf bounds (2 s each) and a slot map reload that may ask the
	// frozen node first (3 s) come after the promotion at most; go-redis's
	// own reload of the map, a minute after the bus's start, would come
	// later than 30 s.
	rec.waitWithin(t, 30*time.Second, "a subscription on the new master", func(_ []string, resyncs int) bool { return resyncs > subs })
	for {
		// The bus may still be on its way between connections: publish
		// until the new master counts it as a subscriber.
		if n, err := promoted.Client().Publish(ctx, channel, `{"type":"message","seq":2}`).Result(); err == nil && n == 1 {
			break
		} else if ctx.Err() != nil {
			t.Fatalf("the bus never subscribed on the new master %s: %v", promoted.Addr(), err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	rec.wait(t, "the event after", func(got []string, _ int) bool { return len(got) >= 2 })
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if rec.got[1] != `{"type":"message","seq":2}` {
		t.Fatalf("got %q; want the events before and after", rec.got)
	}
}
