package realtime

import (
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/switchboardhq/switchboard/api/protocol"
	"github.com/switchboardhq/switchboard/hub"
)

// handleEvent writes a bus event in seq order: older ones are dropped as
// duplicates, and a gap is filled from the stream first.
func (c *conn) handleEvent(d *hub.Delivery) error {
	if !strings.HasPrefix(d.Topic, "session:") {
		return c.agentNotice(d)
	}
	last, following := c.last[d.SessionID]
	if !following {
		return nil
	}
	if d.Ephemeral() {
		return c.write(d.Data)
	}
	if d.Type == hub.EventCallSignal {
		return c.handleSignal(d)
	}
	if known := c.epochs[d.SessionID]; known != "" && d.Epoch != "" && d.Epoch != known {
		// Appended in another epoch than the last event written: the store
		// may have rolled back and reused seqs. The stream tells.
		return c.catchUp(d.SessionID)
	}
	switch {
	case d.Seq <= last:
		return nil
	case d.Seq > last+1:
		return c.catchUp(d.SessionID)
	}
	return c.writeEvent(d, false)
}

// writeEvent writes the next event of a session and applies its
// consequences: a customer's socket closes after its session ends, an agent
// stops following it, and stops following a session given to someone else.
// While replaying history (replay), a session.state naming another agent is
// only the past (an offer another agent declined): catchUp decides on the
// last one instead.
func (c *conn) writeEvent(d *hub.Delivery, replay bool) error {
	data := d.Data
	if c.principal.Kind == hub.PrincipalCustomer && hub.StaffOnly(d.Type) {
		data = hub.Hidden(d.SessionID, d.Seq, d.Epoch) // a private note: its seq only
	}
	if err := c.write(data); err != nil {
		return err
	}
	c.last[d.SessionID] = d.Seq
	if d.Epoch != "" {
		c.epochs[d.SessionID] = d.Epoch
	}
	if d.Type == hub.EventCallEnded {
		c.callEnded(d)
	}
	if d.Type == hub.EventSessionRated && c.principal.Kind == hub.PrincipalCustomer {
		// Rated (over REST, maybe from another device): the rating window
		// has nothing left to wait for. A rate of this socket's own closes
		// it after its reply instead (the rateDone item).
		if c.ownRates.Load() == 0 {
			c.close(protocol.CloseSessionEnded, "session ended")
		}
		return nil
	}
	if d.Type == hub.EventSessionEnded {
		if c.principal.Kind == hub.PrincipalCustomer {
			c.endedWritten = true
			if c.ownCloses.Load() == 0 || c.ownCloseWritten {
				c.sessionEnded()
			}
			return nil
		}
		c.unfollow(d.SessionID)
		return nil
	}
	if d.Type == hub.EventSessionState && !replay && c.notMine(d) {
		// Offered or given to someone else, or back in the queue: it is no
		// longer this agent's (or this bot's) to follow.
		c.unfollow(d.SessionID)
	}
	return nil
}

// notMine reports whether a session.state takes the session away from a
// (non-supervisor) agent's socket.
func (c *conn) notMine(d *hub.Delivery) bool {
	p := c.principal
	return p.Kind == hub.PrincipalAgent && !p.Privileged() && d.AgentID != p.ID
}

// catchUp writes every event of a session after the last one written,
// from the stream, once it has checked that the stream still holds the
// very event the client saw last: one of another epoch, or none where the
// session went no further, means the store rolled back and reused seqs.
// When it cannot continue it sends resync.
func (c *conn) catchUp(sid string) error {
	// batch bounds one read of the stream: an XRANGE of 100 events holds
	// Redis (which every send of every instance waits on) about 0.1 ms,
	// one of 500 several times that; and a socket that does not read
	// (its writes block) costs the store one page, not five.
	const batch = 100
	var lastState *hub.Delivery
	for {
		if err := c.uncork(); err != nil { // what gathered goes before the store is read
			return err
		}
		last := c.last[sid]
		r, err := c.e.history.EventsFrom(c.ctx, sid, last, batch)
		switch {
		case errors.Is(err, hub.ErrHistoryGone):
			return c.resync(sid, "history_trimmed")
		case err != nil:
			return err
		case r.Seq < last:
			return c.resync(sid, "history_rolled_back")
		case last > 0 && r.AnchorKept && c.epochs[sid] != "" && r.Anchor != "" && r.Anchor != c.epochs[sid]:
			return c.resync(sid, "epoch_changed")
		}
		if r.AnchorKept && r.Anchor != "" {
			c.epochs[sid] = r.Anchor
		}
		if len(r.Events) > 1 {
			c.gather() // the missed events go out in few writes
		}
		for i, data := range r.Events {
			d, err := hub.ParseDelivery(hub.SessionTopic(sid), data)
			if err != nil || d.Seq != last+int64(i)+1 {
				return c.resync(sid, "history_unreadable")
			}
			if err := c.writeEvent(d, true); err != nil {
				return err
			}
			if err := c.flushFull(); err != nil {
				return err
			}
			if d.Type == hub.EventSessionState {
				lastState = d
			}
			if _, following := c.last[sid]; !following || c.ctx.Err() != nil {
				return nil // ended on the way
			}
		}
		if len(r.Events) < batch {
			if lastState != nil && c.notMine(lastState) {
				c.unfollow(sid)
			}
			return nil
		}
	}
}

// resync tells the client to reload a session it cannot catch up on, and
// continues live from the session's current seq.
func (c *conn) resync(sid, reason string) error {
	if err := c.uncork(); err != nil { // what gathered goes before the store is read
		return err
	}
	sess, err := c.e.sessions.Session(c.ctx, sid)
	if errors.Is(err, hub.ErrSessionNotFound) {
		c.unfollow(sid)
		b, _ := json.Marshal(protocol.Resync{Type: protocol.FrameResync, SessionID: sid, Reason: "session_gone"})
		return c.write(b)
	} else if err != nil {
		return err
	}
	c.e.metrics.Resyncs.WithLabelValues(reason).Inc()
	b, _ := json.Marshal(protocol.Resync{Type: protocol.FrameResync, SessionID: sid, Reason: reason,
		LastSeq: sess.Seq, Epoch: sess.Epoch})
	if err := c.write(b); err != nil {
		return err
	}
	c.last[sid], c.epochs[sid] = sess.Seq, sess.Epoch
	return nil
}

// sessionEnded closes a customer's socket after its session ended and it
// saw the end: at once, or when the rating window runs out (or the customer
// rated, see rated). The writer calls it.
func (c *conn) sessionEnded() {
	if c.e.opts.RatingWindow <= 0 {
		c.close(protocol.CloseSessionEnded, "session ended")
		return
	}
	if c.ratingTimer == nil {
		c.ratingTimer = time.AfterFunc(c.e.opts.RatingWindow, func() {
			c.close(protocol.CloseSessionEnded, "session ended")
		})
	}
}

func (c *conn) unfollow(sid string) {
	delete(c.last, sid)
	delete(c.epochs, sid)
	c.e.fanout.Remove(hub.SessionTopic(sid), c)
}

// leaveAll removes the connection from every topic; the writer calls it on exit.
func (c *conn) leaveAll() {
	for sid := range c.last {
		c.e.fanout.Remove(hub.SessionTopic(sid), c)
	}
	if c.principal.Kind == hub.PrincipalAgent {
		c.e.fanout.Remove(hub.AgentTopic(c.principal.ID), c)
		c.e.fanout.Remove(hub.SupervisorsTopic, c)
	}
}
