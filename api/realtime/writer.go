package realtime

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/coder/websocket"

	"github.com/switchboardhq/switchboard/api/protocol"
	"github.com/switchboardhq/switchboard/hub"
)

// writer is the only goroutine that writes to the socket: it drains the
// queue and ends when it is empty (push starts the next one).
func (c *conn) writer() {
	defer c.writers.Done()
	for {
		c.qmu.Lock()
		if c.head == len(c.queue) || c.stopped || c.ctx.Err() != nil {
			if c.corked { // only a stop leaves frames gathered: they go first
				c.qmu.Unlock()
				c.uncork()
				continue
			}
			c.writing = false
			c.head = 0
			if cap(c.queue) > 4 {
				c.queue = nil // a burst's array goes back to the heap
			} else {
				clear(c.queue[:cap(c.queue)])
				c.queue = c.queue[:0]
			}
			c.qmu.Unlock()
			return
		}
		it := c.queue[c.head]
		c.queue[c.head] = item{}
		c.head++
		more := c.head < len(c.queue) && c.queue[c.head].writes()
		c.qmu.Unlock()
		if more && it.writes() {
			c.gather() // frames wait behind this one: one write for them all
		}
		err := c.handle(it)
		if err == nil {
			err = c.flushFull()
		}
		if c.corked && (err != nil || !c.nextWrites()) {
			if ferr := c.uncork(); ferr != nil && err == nil {
				err = ferr
			}
		}
		if err != nil && !errors.Is(err, errWrite) && hub.ErrorCode(err) == hub.EUNAVAILABLE && c.retryLater(it) {
			continue // the store is away: the socket stays open and catches up when it is back
		}
		c.retryDelay = 0
		if err != nil {
			if c.ctx.Err() == nil {
				code, reason := protocol.CloseServerError, "store unavailable"
				if errors.Is(err, errWrite) {
					code, reason = protocol.CloseSlowConsumer, "write timed out"
					if !c.isClosed() { // a write cut by a close under way is no kick
						c.e.metrics.Kicked.WithLabelValues("write_timeout").Inc()
					}
				}
				c.close(code, reason)
			}
			c.qmu.Lock()
			c.stopped, c.writing, c.queue, c.head = true, false, nil, 0
			c.qmu.Unlock()
			return
		}
	}
}

// retryLater schedules another catch-up of what item it could not do
// because the store was unavailable (a session's catch-up or resync, the
// agent topic's refresh), after a backoff of 250 ms doubling to 5 s, and
// reports whether it did: a Redis restart or failover keeps the socket
// open rather than sending every client of the instance back at once.
func (c *conn) retryLater(it item) bool {
	topic := it.resync
	switch {
	case it.follow != "":
		topic = hub.SessionTopic(it.follow)
	case it.event != nil && strings.HasPrefix(it.event.Topic, "session:"):
		topic = it.event.Topic
	}
	if topic == "" {
		return false
	}
	c.retryDelay = min(max(2*c.retryDelay, 250*time.Millisecond), 5*time.Second)
	time.AfterFunc(c.retryDelay, func() { c.enqueue(item{resync: topic}) })
	c.e.metrics.CatchUpRetries.Inc()
	return true
}

// stopWriting ends the queue once the reader is done: no writer starts
// again, the one running (writing the close, say) finishes, and the
// connection leaves its topics.
func (c *conn) stopWriting() {
	c.qmu.Lock()
	c.stopped = true
	if !c.writing {
		c.queue, c.head = nil, 0
	}
	c.qmu.Unlock()
	c.writers.Wait()
	c.leaveAll()
}

var errWrite = errors.New("write failed")

// write writes one frame; corked, it only gathers. The corkConn under the
// socket bounds each write to the kernel by WriteTimeout, and a close
// (CloseNow) ends one under way, so the frame needs no context of its own;
// it waits at most for a ping or close frame that holds the socket, each
// bounded by its own timeout.
func (c *conn) write(b []byte) error {
	ctx := context.Background() // no Done: coder/websocket sets no AfterFunc
	// A conn not made by serveWS has no corkConn to set the deadline.
	if c.cork == nil {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(c.ctx, c.e.opts.WriteTimeout)
		defer cancel()
	}
	if err := c.ws.Write(ctx, websocket.MessageText, b); err != nil {
		return errWrite
	}
	c.e.metrics.Delivered.Inc()
	return nil
}

// nextWrites reports whether the next item in the queue only writes a
// frame, so that gathered frames may wait for it: anything else (a
// catch-up reads the store) has them flushed first.
func (c *conn) nextWrites() bool {
	c.qmu.Lock()
	defer c.qmu.Unlock()
	return c.head < len(c.queue) && c.queue[c.head].writes()
}

// gather corks the socket (if it is not already) for the frames the writer
// is about to write; the writer's loop, or a read of the store, uncorks.
func (c *conn) gather() {
	if c.cork != nil && !c.corked {
		c.cork.cork()
		c.corked = true
	}
}

// uncork writes the frames the writer gathered, in one write.
func (c *conn) uncork() error {
	if !c.corked {
		return nil
	}
	c.corked = false
	joined, err := c.cork.uncork()
	if err != nil {
		return errWrite
	}
	if joined > 1 {
		c.e.metrics.Coalesced.Inc()
	}
	return nil
}

// flushFull writes what the writer gathered once it reaches corkLimit, and
// goes on gathering.
func (c *conn) flushFull() error {
	if !c.corked || c.cork.gathered() < corkLimit {
		return nil
	}
	if err := c.uncork(); err != nil {
		return err
	}
	c.gather()
	return nil
}

func (c *conn) handle(it item) error {
	if c.isClosed() {
		return nil
	}
	switch {
	case it.ownClose:
		c.ownCloses.Add(-1)
		c.ownCloseWritten = c.ownCloseWritten || it.ownClosed
		if c.endedWritten && c.ownCloseWritten {
			c.sessionEnded()
		}
		return nil
	case it.rateDone:
		c.ownRates.Add(-1)
		if it.rated {
			c.close(protocol.CloseSessionEnded, "session ended")
		}
		return nil
	case it.agent:
		c.e.fanout.Add(hub.AgentTopic(c.principal.ID), c)
		return nil
	case it.supervisor:
		c.e.fanout.Add(hub.SupervisorsTopic, c)
		return nil
	case it.frame != nil:
		return c.write(it.frame)
	case it.follow != "":
		if _, ok := c.last[it.follow]; ok {
			// Already followed: a resume asks to catch up from an earlier seq?
			// Events the client has not seen are replayed only forward.
			if it.from < c.last[it.follow] {
				c.last[it.follow], c.epochs[it.follow] = it.from, it.epoch
			}
			return c.catchUp(it.follow)
		}
		c.last[it.follow], c.epochs[it.follow] = it.from, it.epoch
		c.e.fanout.Add(hub.SessionTopic(it.follow), c) // Resync follows when the topic is live
		return nil
	case it.resync != "":
		if sid, ok := strings.CutPrefix(it.resync, "session:"); ok {
			if _, following := c.last[sid]; following {
				return c.catchUp(sid)
			}
		} else if c.principal.Kind == hub.PrincipalAgent {
			return c.refreshAgentSessions()
		}
		return nil
	case it.event != nil:
		return c.handleEvent(it.event)
	}
	return nil
}
