package redisstore

import (
	"context"
	"strings"
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
type Bus struct {
	ps     *redis.PubSub
	prefix string // channel = prefix + topic
}

var _ hub.Bus = (*Bus)(nil)

// NewBus opens the instance's PubSub connection (lazily, on first subscribe).
func (s *Store) NewBus(ctx context.Context) *Bus {
	return &Bus{ps: s.rdb.Subscribe(ctx), prefix: s.opts.Prefix + ":ch:"}
}

func (b *Bus) channels(topics []string) []string {
	out := make([]string, len(topics))
	for i, t := range topics {
		out[i] = b.prefix + t
	}
	return out
}

// Subscribe implements hub.Bus.
func (b *Bus) Subscribe(ctx context.Context, topics ...string) error {
	return b.ps.Subscribe(ctx, b.channels(topics)...)
}

// Unsubscribe implements hub.Bus.
func (b *Bus) Unsubscribe(ctx context.Context, topics ...string) error {
	return b.ps.Unsubscribe(ctx, b.channels(topics)...)
}

// Run reads the bus until Close, handing every message and subscription
// confirmation to h. It never blocks on h (h must not block either): the
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
			if topic, ok := strings.CutPrefix(m.Channel, b.prefix); ok {
				h.Publish(topic, []byte(m.Payload))
			}
		case *redis.Subscription:
			if m.Kind == "subscribe" {
				if topic, ok := strings.CutPrefix(m.Channel, b.prefix); ok {
					h.Subscribed(topic)
				}
			}
		}
	}
}

// Close ends the PubSub connection, and with it Run.
func (b *Bus) Close() error { return b.ps.Close() }
