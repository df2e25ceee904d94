package realtime

import (
	"strings"

	"github.com/switchboardhq/switchboard/api/protocol"
	"github.com/switchboardhq/switchboard/hub"
)

// item is one thing for a connection's writer to do.
type item struct {
	frame  []byte        // a frame to write as is
	event  *hub.Delivery // an event from the bus
	resync string        // a topic to catch up on from its stream
	follow string        // a session to start following...
	from   int64         // ...after this seq...
	epoch  string        // ...which the client saw in this epoch ("" unknown)
	agent  bool          // start following the agent's own topic
	// supervisor starts following every agent's status changes.
	supervisor bool
	// ownClose marks where the reply to a customer's own close command was
	// queued; ownClosed says whether that close succeeded.
	ownClose, ownClosed bool
	// rateDone marks where the reply to a customer's rate command was
	// queued; rated says whether the rating was recorded.
	rateDone, rated bool
}

// writes reports whether the item only writes a frame (a reply, a session
// event), without reading the store.
func (it item) writes() bool {
	return it.frame != nil || it.event != nil && strings.HasPrefix(it.event.Topic, "session:")
}

// sendEphemeral queues a frame that may be lost (a queue position): it is
// dropped, and counted, when the queue is half full.
func (c *conn) sendEphemeral(b []byte) {
	c.push(item{frame: b}, true)
}

// enqueue hands an item to the writer without blocking; when the queue is
// full the connection is kicked as a slow consumer.
func (c *conn) enqueue(it item) { c.push(it, false) }

// push queues it and starts a writer if none runs. An ephemeral item is
// dropped (and counted) when the queue is half full; any other item that
// does not fit kicks the socket.
func (c *conn) push(it item, ephemeral bool) {
	c.qmu.Lock()
	if c.stopped {
		c.qmu.Unlock()
		return
	}
	if n := len(c.queue) - c.head; n >= c.e.opts.SendQueue || ephemeral && n >= c.e.opts.SendQueue/2 {
		c.qmu.Unlock()
		if ephemeral {
			c.e.metrics.Dropped.Inc()
			return
		}
		c.e.metrics.Kicked.WithLabelValues("slow_consumer").Inc()
		c.close(protocol.CloseSlowConsumer, "slow consumer")
		return
	}
	if c.head > 0 && len(c.queue) == cap(c.queue) {
		// A writer that never empties the queue would grow the array
		// without end: slide the waiting items to the front instead.
		n := copy(c.queue, c.queue[c.head:])
		clear(c.queue[n:])
		c.queue, c.head = c.queue[:n], 0
	}
	c.queue = append(c.queue, it)
	start := !c.writing
	if start {
		c.writing = true
		c.writers.Add(1)
	}
	c.qmu.Unlock()
	if start {
		go c.writer()
	}
}

// Deliver implements hub.Subscriber. Called by the bus reader; never blocks.
func (c *conn) Deliver(d *hub.Delivery) {
	if d.Type == hub.EventSessionState && d.State == hub.StateQueuing && d.SessionID == c.queueSID && c.queueSID != "" {
		c.e.queueWatch.addCustomer(c, c.queueSID) // back in the queue: positions again
	}
	c.push(item{event: d}, d.Ephemeral())
}

// Resync implements hub.Subscriber. A customer's session may have gone
// back to the queue unseen: it is watched again (and dropped at the next
// recomputation if not waiting).
func (c *conn) Resync(topic string) {
	if c.queueSID != "" && topic == hub.SessionTopic(c.queueSID) {
		c.e.queueWatch.addCustomer(c, c.queueSID)
	}
	c.enqueue(item{resync: topic})
}
