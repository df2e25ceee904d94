package realtime

import (
	"context"
	"time"

	"github.com/switchboardhq/switchboard/api/protocol"
	"github.com/switchboardhq/switchboard/hub"
	"github.com/switchboardhq/switchboard/hub/jsonhead"
)

// The call commands: a session's customer and its agent signal a voice or
// video call (hub/call.go). Each step runs in the store's call script;
// its durable events (call.ringing, call.started, call.connected,
// call.ended) reach both parties' sockets like any session event, and
// call.signal reaches only the other leg's device (handleSignal).

// callStep runs one step of a call from this socket's device. The reply
// carries the call's id and state after it ("ended" once it ended); an
// invite's and an accept's carry the ICE servers with fresh credentials.
func callStep(step hub.CallStep) handler {
	return func(ctx context.Context, c *conn, cmd *protocol.Command, reply *protocol.Reply) (func(error), error) {
		r, err := c.e.desk.Call(ctx, cmd.SessionID, hub.CallCommand{Step: step, By: c.principal, Device: c.device,
			Conn: c.id, CallID: cmd.CallID, Media: cmd.Media})
		if err != nil {
			return nil, err
		}
		reply.CallID, reply.CallState = r.CallID, r.State
		if r.State == "" {
			reply.CallState = "ended"
		}
		switch step {
		case hub.CallInvite, hub.CallAccept, hub.CallLegBack:
			c.holdCall(cmd.SessionID, r.CallID, r.State != "")
			if step != hub.CallLegBack {
				reply.ICEServers = c.iceServers()
			}
		case hub.CallDecline, hub.CallCancel, hub.CallHangup:
			c.holdCall(cmd.SessionID, r.CallID, false)
		}
		return nil, nil
	}
}

// callSignal relays an SDP or ICE candidate to the other leg's device.
func callSignal(ctx context.Context, c *conn, cmd *protocol.Command, _ *protocol.Reply) (func(error), error) {
	return nil, c.e.desk.Signal(ctx, cmd.SessionID, c.principal, c.device, cmd.CallID, cmd.SDP, cmd.Candidate)
}

// holdCall records that this socket holds (or no longer holds) a leg of
// a session's call.
func (c *conn) holdCall(sid, callID string, holds bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if holds {
		c.calls[sid] = callID
	} else if c.calls[sid] == callID {
		delete(c.calls, sid)
	}
}

// leaveCalls tells the store that this socket, which held legs of calls,
// is gone: each call ends after the grace unless the device rejoins on
// another socket (call.rejoin). The handler calls it once the reader is done.
func (c *conn) leaveCalls() {
	c.mu.Lock()
	calls := c.calls
	c.calls = map[string]string{}
	c.mu.Unlock()
	for sid, callID := range calls {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := c.e.desk.Call(ctx, sid, hub.CallCommand{Step: hub.CallLegLost, By: c.principal, Device: c.device,
			Conn: c.id, CallID: callID})
		cancel()
		if err != nil {
			c.e.logger.Warn("ws: a call's leg not released; it ends when its ring or grace runs out", "err", err)
		}
	}
}

// iceServers are the ICE servers for this socket's principal's calls.
func (c *conn) iceServers() []protocol.ICEServer {
	if c.e.ice == nil {
		return nil
	}
	return c.e.ice(c.principal.Kind + "-" + c.principal.ID)
}

// handleSignal writes a relayed call.signal if it is addressed to this
// socket's device. The writer calls it.
func (c *conn) handleSignal(d *hub.Delivery) error {
	if to := stringField(d.Data, "to"); to == "" || to != c.device {
		return nil
	}
	return c.write(d.Data)
}

// callEnded forgets a call that ended (the writer wrote its call.ended).
func (c *conn) callEnded(d *hub.Delivery) {
	c.holdCall(d.SessionID, stringField(d.Data, "call_id"), false)
}

// stringField reads one top-level string field of an event ("" when
// absent): the few call events that need one more field than the head.
func stringField(data []byte, name string) string {
	v := ""
	jsonhead.Each(data, func(key, raw []byte) error {
		if string(key) == name {
			v, _ = jsonhead.String(raw)
		}
		return nil
	})
	return v
}
