package redisstore

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/switchboardhq/switchboard/hub"
)

// BusHandler receives what the bus reads: Fanout implements it.
type BusHandler interface {
	Publish(topic string, data []byte)
	Subscribed(topic string)
}

// Bus is an instance's one Redis PubSub connection. go-redis reconnects it
// and resubscribes its channels by itself; every (re)subscription
// confirmation reaches the handler as Subscribed, which is how subscribers
// learn to catch up from the streams after an outage.
//
// One Bus carries every tenant's channels: a channel is a tenant's prefix,
// ":ch:" and a topic, and Run hands each message to the handler of its
// tenant (Tenant), so that an instance serving a thousand tenants holds one
// PubSub connection and one reader, not a thousand (docs/tenants.md).
type Bus struct {
	ps     *redis.PubSub
	prefix string // channel = prefix + topic, for the Store that made the bus
	// checkEvery is how long Run may hear nothing before check pings
	// (busCheckInterval; tests shorten it before Run).
	checkEvery time.Duration
	// reload, on a Cluster, has the client reload its slot map before Run
	// reconnects (nil otherwise): go-redis dials the master its map names
	// for the first channel's slot, which after a failover away from a
	// frozen master is that master until the map is reloaded.
	reload func(context.Context)
	// dropped is when Run last lost its connection (unix nanos, 0 for
	// never): Reconnect leaves a connection that was dialed since a recent
	// drop alone.
	dropped atomic.Int64
	// freshDrop is how recent that drop must be (busFreshDrop; tests
	// lengthen it before Run, so that a loaded machine cannot outlast it).
	freshDrop time.Duration

	mu     sync.RWMutex
	routes map[string]BusHandler // guarded by mu: channel prefix → its tenant's handler
}

var _ hub.Bus = (*Bus)(nil)

// NewBus opens the instance's PubSub connection (lazily, on first subscribe).
func (s *Store) NewBus(ctx context.Context) *Bus {
	b := &Bus{ps: s.rdb.Subscribe(ctx), prefix: s.opts.Prefix + ":ch:", checkEvery: busCheckInterval, freshDrop: busFreshDrop, routes: map[string]BusHandler{}}
	if cc, ok := s.rdb.(*redis.ClusterClient); ok {
		b.reload = cc.ReloadState
	}
	return b
}

// Tenant returns the hub.Bus of s's tenant (s is a Store of the same
// deployment, from ForTenant) on this Bus's one connection: its topics
// become that tenant's channels. Its Handle says who receives them.
func (b *Bus) Tenant(s *Store) *TenantBus {
	return &TenantBus{b: b, prefix: s.opts.Prefix + ":ch:"}
}

// TenantBus is one tenant's view of a Bus.
type TenantBus struct {
	b      *Bus
	prefix string
}

var _ hub.Bus = (*TenantBus)(nil)

// Handle makes h the receiver of the tenant's messages and subscription
// confirmations (its Fanout), in place of any earlier one.
func (v *TenantBus) Handle(h BusHandler) {
	v.b.mu.Lock()
	v.b.routes[v.prefix] = h
	v.b.mu.Unlock()
}

// Subscribe implements hub.Bus.
func (v *TenantBus) Subscribe(ctx context.Context, topics ...string) error {
	return v.b.ps.Subscribe(ctx, channels(v.prefix, topics)...)
}

// Unsubscribe implements hub.Bus.
func (v *TenantBus) Unsubscribe(ctx context.Context, topics ...string) error {
	return v.b.ps.Unsubscribe(ctx, channels(v.prefix, topics)...)
}

// route returns the handler and topic of channel: h for the Bus's own
// channels, the routed tenant's handler for another tenant's.
func (b *Bus) route(h BusHandler, channel string) (BusHandler, string, bool) {
	if topic, ok := strings.CutPrefix(channel, b.prefix); ok {
		return h, topic, true
	}
	i := strings.Index(channel, ":ch:")
	if i < 0 {
		return nil, "", false
	}
	b.mu.RLock()
	th := b.routes[channel[:i+4]]
	b.mu.RUnlock()
	return th, channel[i+4:], th != nil
}

func channels(prefix string, topics []string) []string {
	out := make([]string, len(topics))
	for i, t := range topics {
		out[i] = prefix + t
	}
	return out
}

// Subscribe implements hub.Bus.
func (b *Bus) Subscribe(ctx context.Context, topics ...string) error {
	return b.ps.Subscribe(ctx, channels(b.prefix, topics)...)
}

// Unsubscribe implements hub.Bus.
func (b *Bus) Unsubscribe(ctx context.Context, topics ...string) error {
	return b.ps.Unsubscribe(ctx, channels(b.prefix, topics)...)
}

// Run reads the bus until Close, handing every message and subscription
// confirmation of the Bus's own tenant to h, and those of a routed tenant
// to its handler. h must not block.
//
// Run reads the PubSub connection itself, on its own goroutine, rather than
// through go-redis's Channel: that one has a goroutine read each message and
// pass it on through a Go channel, guarded by a timer reset for each, and
// wakes a third goroutine, its health check, for each too: three goroutines
// woken per message on every hub where one suffices, about 3 µs of CPU an
// event (BenchmarkBusRead; docs/performance.md, "The bus read on one
// goroutine"). check keeps the health check.
//
// A connection that goes quiet without an error is dead too: a Redis host
// that vanished (a failover away from a machine that lost power or its
// network) sends no reset, check's pings go into the kernel's buffer
// without an error, and nothing is heard until TCP gives up, a quarter of
// an hour later, while every event of the new primary misses this
// instance. So each read has a deadline, between deafAfter/2 and
// deafAfter after the last thing heard (renewed by the first read after
// half of it, which check's ticks count: no clock read per message),
// where a live connection is never quiet for more than two check
// intervals and a ping's answer. A read that reaches it is a connection
// go-redis drops; it dials the primary again and resubscribes, and the
// confirmations have every subscriber catch up (TestBusReconnectsWhenDeaf;
// the chaos suite's sentinel-frozen).
func (b *Bus) Run(h BusHandler) {
	var heard atomic.Uint64
	var ticks atomic.Int64 // check's ticks since the read deadline was set
	stop := make(chan struct{})
	defer close(stop)
	go b.check(&heard, &ticks, stop)
	deafAfter := max(busDeafChecks*b.checkEvery, busDeafMin)
	half := int64(deafAfter / 2 / b.checkEvery)
	ctx, cancel := context.WithTimeout(context.Background(), deafAfter)
	fails := 0
	for {
		m, err := b.ps.Receive(ctx)
		if err != nil || ticks.Load() >= half {
			ticks.Store(0)
			cancel()
			ctx, cancel = context.WithTimeout(context.Background(), deafAfter)
		}
		if err != nil {
			if errors.Is(err, redis.ErrClosed) {
				cancel()
				return
			}
			b.dropped.Store(time.Now().UnixNano())
			// go-redis reconnects (and resubscribes) on the next Receive;
			// a Redis that stays away is asked again every 100 ms. On a
			// Cluster, the slot map's reload (in the background, well under
			// a second unless it asks a node that hangs) comes first.
			if b.reload != nil {
				b.reload(ctx)
				time.Sleep(busReloadWait)
			} else if fails++; fails > 1 {
				time.Sleep(100 * time.Millisecond)
			}
			continue
		}
		fails = 0
		heard.Add(1)
		switch m := m.(type) {
		case *redis.Message:
			if to, topic, ok := b.route(h, m.Channel); ok {
				to.Publish(topic, []byte(m.Payload))
			}
		case *redis.Subscription:
			if m.Kind == "subscribe" {
				if to, topic, ok := b.route(h, m.Channel); ok {
					to.Subscribed(topic)
				}
			}
		}
	}
}

// Reconnect drops the bus's connection, so that go-redis dials the
// primary again and resubscribes, and the confirmations have every
// subscriber catch up from the streams. The store's Guard calls it when
// the store's epoch changes (a restart, a failover): a failover away from
// a primary that froze or vanished leaves the bus on it, silent, until its
// silence bound (12 to 24 s, Run) while every event of the new primary
// misses this instance; the epoch changes as soon as the store's first
// connection to the new primary is made, seconds earlier. A bus that lost
// its connection within busFreshDrop is left alone: it has dialed since,
// to the server the new epoch came from (a restart closes every
// connection), and another catch-up of every socket would cost Redis a
// read per followed session for nothing. On a Cluster any shard's failover
// reconnects it, whichever node it is on: a catch-up more, once a failover.
//
// go-redis has no call to drop a PubSub connection, so Reconnect pings
// with a deadline already past: the write fails at once, go-redis takes
// the connection for a bad one and closes it, which ends Run's read (its
// redial, under the past deadline too, fails at once and leaves the next
// dial to Run). TestBusReconnect holds go-redis to that.
func (b *Bus) Reconnect() {
	if d := b.dropped.Load(); d != 0 && time.Since(time.Unix(0, d)) < b.freshDrop {
		return
	}
	ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	_ = b.ps.Ping(ctx)
	// A drop of its own: go-redis may dial again and resubscribe inside
	// the ping, and Run, busy with a message meanwhile, then reads the new
	// connection without ever seeing an error, so it would not note it.
	b.dropped.Store(time.Now().UnixNano())
}

// busFreshDrop is how recent a drop of the bus's connection makes
// Reconnect a no-op. While Redis is away Run fails every 100 ms, each
// failure a drop, so after a restart its last drop is a fraction of a
// second before the store's first new connection sees the new epoch; a
// frozen server's connection is dropped only after the silence bound,
// 12 s or more.
const busFreshDrop = 5 * time.Second

// busReloadWait is how long Run gives a Cluster's slot map reload before
// it reconnects.
const busReloadWait = 250 * time.Millisecond

// busCheckInterval is how long a bus may hear nothing before check pings
// Redis over it (go-redis's Channel's default).
const busCheckInterval = 3 * time.Second

// busDeafChecks check intervals (24 s by default) bound how long Run waits
// on a connection that says nothing (Run's comment): it drops it after
// hearing nothing for between half and all of that. A live connection's
// longest silence is two intervals (check pings once one has passed with
// nothing heard, at the next tick) and the ping's answer, so a Redis that
// stalls for up to 6 s more is not taken for dead. busDeafMin keeps a
// short check interval (tests') from taking a busy Redis for dead.
const (
	busDeafChecks = 8
	busDeafMin    = 2 * time.Second
)

// check pings Redis over the PubSub connection whenever Run has heard
// nothing (heard has not moved) for checkEvery, until stop: a ping
// that cannot be written makes go-redis reconnect and resubscribe, and the
// confirmations have every subscriber catch up. It is go-redis's health
// check, told of traffic by a counter instead of a wake-up per message.
// It counts its ticks in ticks, Run's clock for its read deadline.
func (b *Bus) check(heard *atomic.Uint64, ticks *atomic.Int64, stop <-chan struct{}) {
	t := time.NewTicker(b.checkEvery)
	defer t.Stop()
	last := heard.Load()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		ticks.Add(1)
		if n := heard.Load(); n != last {
			last = n
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = b.ps.Ping(ctx) // a failed write has go-redis reconnect
		cancel()
	}
}

// Close ends the PubSub connection, and with it Run.
func (b *Bus) Close() error { return b.ps.Close() }
