package redisstore_test

import (
	"context"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/switchboardhq/switchboard/hub"
)

// BenchmarkBusRead measures what a hub pays to read one event from its
// PubSub connection and hand it to a local subscriber: the bus's read, the
// fan-out's routing, the subscriber's Deliver. Each event is published
// alone and waited for before the next, as at a quiet hub's 1,000 msg/s,
// where every event wakes the reader by itself: the goroutines woken per
// event are what it measures. cpu-ns/op is the process's CPU per event,
// the publishing client's included (the same in any version of the bus).
// Run it on a real redis-server (SWITCHBOARD_TEST_REDIS_URL).
func BenchmarkBusRead(b *testing.B) {
	st, r := newStore(b)
	ctx := context.Background()
	fan, _ := startBus(b, st, 0)
	const topic = "session:cs_BusRead"
	sub := &seqSubscriber{got: make(chan int64, 1)}
	fan.Add(topic, sub)
	select {
	case <-sub.got: // the Resync of the subscription's confirmation
	case <-time.After(5 * time.Second):
		b.Fatal("not subscribed within 5 s")
	}
	channel := r.Prefix + ":ch:" + topic
	rest := `,"session_id":"cs_BusRead","data":{"text":"` + benchText + `"}}`
	seq := int64(0)
	b.ReportAllocs()
	cpu0 := processCPU(b)
	for b.Loop() {
		seq++
		msg := `{"type":"message.created","seq":` + strconv.FormatInt(seq, 10) + rest
		if err := r.Client.Publish(ctx, channel, msg).Err(); err != nil {
			b.Fatal(err)
		}
		select {
		case got := <-sub.got:
			if got != seq {
				b.Fatalf("event %d arrived, want %d", got, seq)
			}
		case <-time.After(5 * time.Second):
			b.Fatalf("event %d not delivered within 5 s", seq)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64((processCPU(b)-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/op")
}

// seqSubscriber hands the seq of each delivery (0 for a Resync) to got.
type seqSubscriber struct{ got chan int64 }

func (s *seqSubscriber) Deliver(d *hub.Delivery) { s.got <- d.Seq }
func (s *seqSubscriber) Resync(string)           { s.got <- 0 }

// processCPU is the process's CPU time so far, user and system.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
