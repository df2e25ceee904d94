package realtime

import (
	"context"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// testEngine is an Engine with its defaults and metrics of its own, for
// tests that drive a conn's queue and writer directly.
func testEngine() *Engine {
	c := func(name string) prometheus.Counter { return prometheus.NewCounter(prometheus.CounterOpts{Name: name}) }
	g := func(name string) prometheus.Gauge { return prometheus.NewGauge(prometheus.GaugeOpts{Name: name}) }
	v := func(name, label string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: name}, []string{label})
	}
	e := &Engine{metrics: &Metrics{
		Connections: g("connections"), FramesIn: c("frames_in"), Delivered: c("delivered"), Coalesced: c("coalesced"),
		Dropped: c("dropped"), Kicked: v("kicked", "reason"), Resyncs: v("resyncs", "reason"), CatchUpRetries: c("retries"),
		QueueLength: g("queue_length"), QueueWatched: g("queue_watched"), Unauthenticated: g("unauth"),
		UnauthRefused: v("unauth_refused", "cap"),
	}}
	e.opts.SetDefaults()
	return e
}

// TestSendQueueStaysBounded: a writer that keeps up but never finds the
// queue empty (a steady stream) must not make the queue's array grow
// without end; the waiting items slide to the front instead.
func TestSendQueueStaysBounded(t *testing.T) {
	e := testEngine()
	c := &conn{e: e, ctx: context.Background()}
	c.writing = true // stands for a running writer: push starts none
	for i := range 100_000 {
		c.push(item{follow: "s"}, false)
		if i >= 3 { // the writer takes one for each one queued: three always wait
			c.qmu.Lock()
			c.queue[c.head] = item{}
			c.head++
			c.qmu.Unlock()
		}
	}
	c.qmu.Lock()
	defer c.qmu.Unlock()
	if waiting := len(c.queue) - c.head; waiting != 3 {
		t.Fatalf("%d waiting, want 3", waiting)
	}
	if cap(c.queue) > 16 {
		t.Fatalf("the queue's array grew to %d slots", cap(c.queue))
	}
}
