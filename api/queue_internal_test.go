package api

import (
	"context"
	"testing"
)

// TestSendQueueStaysBounded: a writer that keeps up but never finds the
// queue empty (a steady stream) must not make the queue's array grow
// without end; the waiting items slide to the front instead.
func TestSendQueueStaysBounded(t *testing.T) {
	s := &Server{ws: WSOptions{}, metrics: newMetrics()}
	s.ws.setDefaults()
	c := &conn{srv: s, ctx: context.Background()}
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
