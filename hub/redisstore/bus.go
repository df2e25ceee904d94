package redisstore

import (
	"context"
	"strings"
	"sync"
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

	mu     sync.RWMutex
	routes map[string]BusHandler // guarded by mu: channel prefix → its tenant's handler
}

var _ hub.Bus = (*Bus)(nil)

// NewBus opens the instance's PubSub connection (lazily, on first subscribe).
func (s *Store) NewBus(ctx context.Context) *Bus {
	return &Bus{ps: s.rdb.Subscribe(ctx), prefix: s.opts.Prefix + ":ch:", routes: map[string]BusHandler{}}
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
// to its handler. It never blocks on h (h must not block either): the
// go-redis channel is drained as fast as it fills, so its send timeout,
// after which it would drop, never fires.
func (b *Bus) Run(h BusHandler) {
	ch := b.ps.ChannelWithSubscriptions(
		redis.WithChannelSize(4096),
		redis.WithChannelHealthCheckInterval(3*time.Second),
	)
	for m := range ch {
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

// Close ends the PubSub connection, and with it Run.
func (b *Bus) Close() error { return b.ps.Close() }
