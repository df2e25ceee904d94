package hub_test

import (
	"context"
	"fmt"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/hub"
)

// benchSessionID has the shape of a real session id ("cs_" and 22 base62).
const benchSessionID = "cs_7HqK2mZp9XwR4tLbN3cV8d"

// benchMessageEvent returns a message.created event exactly as the bus
// carries it: the body the store encodes in Go (hub.Event.EncodeBody, see
// redisstore.Store.AppendMessage) with the seq spliced in front by emit in
// lua/lib.lua ('{"seq":' .. seq .. ',' .. body without its '{').
func benchMessageEvent(seq int64) []byte {
	ev := hub.Event{
		Type: hub.EventMessage, SessionID: benchSessionID,
		From: &hub.Party{Role: hub.PrincipalCustomer, ID: "cust_Xk29LmQp7RtZ4wYb", Name: "Dana Whitfield"},
		Message: &hub.Message{ClientMsgID: "4b1e7c0a-9f2d-4c53-8a61-2f0d9b7e6c11", Type: "chat.msg",
			Text: "Hi, my order #48213 still shows as pending after three days, and the tracking link you emailed me says the parcel was never handed over. Could you check what happened and tell me when it will ship?"},
		At: time.Date(2026, 3, 14, 9, 26, 53, 589_000_000, time.UTC),
	}
	body := ev.EncodeBody()
	return append([]byte(`{"seq":`+strconv.FormatInt(seq, 10)+`,`), body[1:]...)
}

// BenchmarkParseDelivery measures hub.ParseDelivery on a message.created
// event of 482 bytes (a 197-byte text). The event's JSON is
// encoded once, before the Lua script publishes it, and every instance
// forwards the same bytes to its sockets: parsing the routing fields here
// is the only per-event decoding work on the Go side of the bus, run once
// per event per instance on the bus reader goroutine, which every
// delivery of the instance waits behind.
func BenchmarkParseDelivery(b *testing.B) {
	data := benchMessageEvent(1234)
	topic := hub.SessionTopic(benchSessionID)
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		d, err := hub.ParseDelivery(topic, data)
		if err != nil || d.Seq != 1234 || d.Type != hub.EventMessage || d.SessionID != benchSessionID || len(d.Data) != len(data) {
			b.Fatalf("ParseDelivery = %+v, %v", d, err)
		}
	}
}

// benchBus is an in-memory hub.Bus: it confirms every subscription at once
// by calling Subscribed, as redisstore.Bus.Run does when Redis confirms.
type benchBus struct{ f atomic.Pointer[hub.Fanout] }

func (bb *benchBus) Subscribe(_ context.Context, topics ...string) error {
	for _, t := range topics {
		bb.f.Load().Subscribed(t)
	}
	return nil
}

func (bb *benchBus) Unsubscribe(context.Context, ...string) error { return nil }

// benchSub counts deliveries; resynced is closed at its first Resync (the
// topic's subscription went live).
type benchSub struct {
	n        *atomic.Int64
	resynced chan struct{}
	once     atomic.Bool
}

func (s *benchSub) Deliver(*hub.Delivery) { s.n.Add(1) }

func (s *benchSub) Resync(string) {
	if s.once.CompareAndSwap(false, true) {
		close(s.resynced)
	}
}

// BenchmarkFanoutPublish measures hub.Fanout.Publish, what the bus reader
// runs for every event: one ParseDelivery, then one Deliver per local
// subscriber of the topic, under the fan-out's read lock. With a
// subscriber that only counts, it isolates the fan-out's own per-event and
// per-recipient cost from the sockets' writes; compare recipients=1, 10 and
// 1000 for how it grows with the audience of one session (a customer with
// many tabs, agents, supervisors watching).
func BenchmarkFanoutPublish(b *testing.B) {
	for _, n := range []int{1, 10, 1000} {
		b.Run(fmt.Sprintf("recipients=%d", n), func(b *testing.B) {
			bus := &benchBus{}
			f := hub.NewFanout(bus, nil)
			bus.f.Store(f)
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { defer close(done); f.Run(ctx) }()
			b.Cleanup(func() { cancel(); <-done })

			topic := hub.SessionTopic(benchSessionID)
			var count atomic.Int64
			subs := make([]*benchSub, n)
			for i := range subs {
				subs[i] = &benchSub{n: &count, resynced: make(chan struct{})}
				f.Add(topic, subs[i])
			}
			timeout := time.After(10 * time.Second)
			for _, s := range subs { // every subscriber hears that the topic is live
				select {
				case <-s.resynced:
				case <-timeout:
					b.Fatal("subscription not confirmed within 10 s")
				}
			}
			data := benchMessageEvent(1234)
			b.ReportAllocs()
			ops := 0
			for b.Loop() {
				f.Publish(topic, data)
				ops++
			}
			if got, want := count.Load(), int64(ops)*int64(n); got != want {
				b.Fatalf("%d deliveries, want %d (%d events x %d recipients)", got, want, ops, n)
			}
			b.ReportMetric(float64(count.Load())/b.Elapsed().Seconds(), "deliveries/s")
		})
	}
}
