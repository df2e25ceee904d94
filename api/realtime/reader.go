package realtime

import (
	"context"
	"errors"
	"time"

	"github.com/coder/websocket"

	"github.com/switchboardhq/switchboard/api/protocol"
	"github.com/switchboardhq/switchboard/hub"
)

// run is the reader: it authenticates (with the upgrade's bearer token when
// it had one, else with the first frame), joins the pinger, and runs
// commands until the socket ends.
func (c *conn) run(token string, hasToken bool) {
	defer c.close(websocket.StatusNormalClosure, "")
	var authResume map[string]int64
	var authEpochs map[string]string
	authID, observe := "", false
	if !hasToken {
		cmd, err := c.readAuth()
		if err != nil {
			return
		}
		token, authResume, authEpochs, authID, observe = cmd.Token, cmd.Resume, cmd.Epochs, cmd.ID, cmd.Observe
		if cmd.Device != "" {
			c.device = cmd.Device
		}
	}
	if err := c.authenticate(token, observe); err != nil {
		c.writeDirect(protocol.ErrorFrame{Type: protocol.FrameError, ID: authID, Error: errorBody(err)})
		if errors.Is(err, errAuthRateLimited) {
			c.close(protocol.CloseRateLimited, "too many connections")
			return
		}
		if code := hub.ErrorCode(err); code == hub.EUNAVAILABLE || code == hub.EINTERNAL {
			// The store could not say: not a verdict on the token.
			c.close(protocol.CloseServerError, "store unavailable")
			return
		}
		c.close(protocol.CloseUnauthorized, "unauthorized")
		return
	}
	c.e.unauthDone(c)
	c.e.pings.add(c)
	defer c.e.pings.remove(c)
	if err := c.hello(authID, authResume, authEpochs); err != nil {
		c.close(protocol.CloseServerError, "store unavailable")
		return
	}
	// The frame budget is the principal's, not the socket's: a client
	// that floods, is closed (4004) and reconnects does not start afresh.
	key := c.principal.Kind + ":" + c.principal.ID
	limiter := c.e.frameLimit.Of(key)
	strikes := 0
	// The frames are read under a context that is never cancelled:
	// coder/websocket registers a read's context with context.AfterFunc,
	// and drops the registration at the next read, a cost on every frame
	// (2.5 % of a hub's CPU at 5,000 msg/s). The loop ends when the
	// connection does: finishClose cancels c.ctx only after ws.Close has
	// closed it, so the cancellation never ended a read here.
	readCtx := context.WithoutCancel(c.ctx)
	for {
		typ, data, err := c.ws.Read(readCtx)
		if err != nil {
			return
		}
		c.e.metrics.FramesIn.Inc()
		c.lastRead.Store(time.Now().UnixNano())
		if typ != websocket.MessageText {
			c.close(protocol.CloseProtocolError, "binary frames are not part of the protocol")
			return
		}
		cmd, err := protocol.DecodeCommand(data)
		id := ""
		if cmd != nil {
			id = cmd.ID
		}
		if !limiter.Allow() {
			// Refused unread, with the command's id so that the client's
			// request ends now; a client that keeps pushing is closed.
			if strikes++; strikes > c.e.opts.RateBurst {
				// Each reconnect costs a replay of the principal's sessions:
				// a flooder has used up its authentications too, and owes
				// a whole burst more, so that it may not authenticate on
				// this instance for AuthBurst/AuthRate (40 s by default): a
				// flooder reconnecting in a loop would otherwise get a
				// socket, a hello and a frame budget every 1/AuthRate.
				auth := c.e.authLimit.Of(key)
				now := time.Now()
				auth.AllowN(now, int(auth.Tokens()))
				auth.ReserveN(now, c.e.opts.AuthBurst)
				c.close(protocol.CloseRateLimited, "too many frames")
				return
			}
			c.send(protocol.Reply{Type: protocol.FrameReply, ID: id,
				Error: &protocol.ErrorBody{Code: hub.ELIMIT, Message: "rate limited: command ignored; retry later"}})
			continue
		}
		strikes = 0
		if err != nil {
			c.send(protocol.ErrorFrame{Type: protocol.FrameError, ID: id, Error: errorBody(err)})
			continue
		}
		c.command(cmd)
	}
}

// readAuth reads the first frame, which must be auth, within AuthTimeout.
func (c *conn) readAuth() (*protocol.Command, error) {
	// A timer rather than a read deadline: coder/websocket drops the TCP
	// connection when a read's context ends, and the client must see 4003.
	timer := time.AfterFunc(c.e.opts.AuthTimeout, func() { c.close(protocol.CloseAuthTimeout, "authenticate first") })
	typ, data, err := c.ws.Read(c.ctx)
	timer.Stop()
	if err != nil {
		return nil, err
	}
	if typ != websocket.MessageText {
		c.close(protocol.CloseProtocolError, "binary frames are not part of the protocol")
		return nil, errors.New("binary frame")
	}
	cmd, err := protocol.DecodeCommand(data)
	if err == nil && cmd.Type != protocol.CmdAuth {
		err = hub.Errorf(hub.EINVALID, "the first frame must be auth")
	}
	if err != nil {
		id := ""
		if cmd != nil {
			id = cmd.ID
		}
		c.writeDirect(protocol.ErrorFrame{Type: protocol.FrameError, ID: id, Error: errorBody(err)})
		c.close(protocol.CloseProtocolError, "the first frame must be a valid auth command")
		return nil, err
	}
	return cmd, nil
}

// authenticate sets the principal from a token. An agent's socket makes the
// agent present (online, routable when Available), except a supervisor's
// or an admin's observing socket (the supervisor view): watching the
// contact center must not get one offered sessions.
func (c *conn) authenticate(token string, observe bool) error {
	if c.device == "" {
		c.device = c.id
	}
	p, err := c.e.authenticate(c.ctx, token)
	if err != nil {
		return err
	}
	if !c.e.authLimit.Allow(p.Kind + ":" + p.ID) {
		// A loop of reconnects costs the hub a replay each: refused with the
		// rate-limit close (reconnect, with a longer backoff).
		return errAuthRateLimited
	}
	c.principal = p
	if p.Kind == hub.PrincipalAgent && !(observe && p.Privileged()) {
		id, err := c.e.desk.Connect(c.ctx, p.ID, c.ip)
		if err != nil {
			return err
		}
		c.presenceID = id
	}
	return nil
}

// leaveDesk ends the connection's part in presence and queue positions;
// the handler calls it once the reader is done.
func (c *conn) leaveDesk() {
	c.e.queueWatch.remove(c)
	if c.presenceID == "" {
		return
	}
	c.stopping.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.e.desk.Disconnect(ctx, c.presenceID); err != nil {
		c.e.logger.Warn("ws: presence not released; the sweep will", "err", err)
	}
}

// hello follows the principal's sessions and greets the client.
func (c *conn) hello(id string, resume map[string]int64, epochs map[string]string) error {
	p := c.principal
	var sessions []string
	switch p.Kind {
	case hub.PrincipalCustomer:
		sess, err := c.e.sessions.SessionHeadFor(c.ctx, p, p.SessionID)
		if err == nil && sess.State == hub.StateEnded && resume[sess.ID] >= sess.Seq {
			// The customer has seen the end already: nothing more will come.
			c.close(protocol.CloseSessionEnded, "session ended")
			return nil
		}
		if err == nil {
			sessions = []string{sess.ID}
		} else if hub.ErrorCode(err) == hub.EINTERNAL {
			return err
		}
	case hub.PrincipalAgent:
		ids, err := c.e.agents.AgentSessions(c.ctx, p.ID)
		if err != nil {
			return err
		}
		sessions = ids
	}
	// Sessions named in resume that the principal may read are followed too
	// (a supervisor's silent joins, a customer's earlier sessions).
	for sid := range resume {
		if !contains(sessions, sid) {
			if _, err := c.e.sessions.SessionHeadFor(c.ctx, p, sid); err == nil {
				sessions = append(sessions, sid)
			}
		}
	}
	hello := protocol.Hello{
		Device: c.device, ICEServers: c.iceServers(),
		Type: protocol.FrameHello, ID: id, Sessions: sessions, HeartbeatMS: c.e.opts.PingInterval.Milliseconds(),
		Principal: protocol.Principal{Role: p.Kind, ID: p.ID, Name: p.Name, AgentRole: string(p.Role)},
	}
	if hello.Sessions == nil {
		hello.Sessions = []string{}
	}
	c.send(hello) // first: nothing else is queued before it
	switch {
	case p.Kind == hub.PrincipalCustomer && len(sessions) == 1:
		c.queueSID = sessions[0]
		c.e.queueWatch.addCustomer(c, c.queueSID)
	case p.Kind == hub.PrincipalAgent && p.Privileged():
		c.enqueue(item{supervisor: true})
		c.e.queueWatch.addSupervisor(c)
	}
	if p.Kind == hub.PrincipalAgent {
		// Sessions added between AgentSessions above and this topic's
		// subscription are picked up by the Resync that its confirmation
		// brings (refreshAgentSessions).
		c.enqueue(item{agent: true})
	}
	for _, sid := range sessions {
		c.enqueue(item{follow: sid, from: resume[sid], epoch: epochs[sid]})
	}
	return nil
}

// handler runs one command of a client. It fills reply's fields when it
// succeeds; done, when not nil, runs after the reply is queued, with the
// command's error (a customer's close and rate mark there where their
// reply stands in the queue).
type handler func(ctx context.Context, c *conn, cmd *protocol.Command, reply *protocol.Reply) (done func(error), err error)

// handlers are the commands a client may send, by type, each in the file
// of its topic: chat.go, desk.go, calls.go.
var handlers = map[string]handler{
	protocol.CmdAuth:      reauth,
	protocol.CmdPing:      ping,
	protocol.CmdResume:    resume,
	protocol.CmdSend:      sendMessage,
	protocol.CmdTyping:    typing,
	protocol.CmdRead:      markRead,
	protocol.CmdDelivered: markDelivered,
	protocol.CmdRate:      rateSession,
	protocol.CmdClose:     closeSession,
	protocol.CmdAccept:    deskCommand,
	protocol.CmdDecline:   deskCommand,
	protocol.CmdPick:      deskCommand,
	protocol.CmdTransfer:  deskCommand,
	protocol.CmdHandover:  deskCommand,
	protocol.CmdStatus:    setStatus,

	protocol.CmdCallInvite:    callStep(hub.CallInvite),
	protocol.CmdCallAccept:    callStep(hub.CallAccept),
	protocol.CmdCallDecline:   callStep(hub.CallDecline),
	protocol.CmdCallCancel:    callStep(hub.CallCancel),
	protocol.CmdCallHangup:    callStep(hub.CallHangup),
	protocol.CmdCallConnected: callStep(hub.CallMediaUp),
	protocol.CmdCallRejoin:    callStep(hub.CallLegBack),
	protocol.CmdCallSignal:    callSignal,
}

// reauth answers a second auth frame: a socket authenticates once.
func reauth(context.Context, *conn, *protocol.Command, *protocol.Reply) (func(error), error) {
	return nil, errAlreadyAuthenticated
}

// ping answers an application-level ping (a client that cannot send
// WebSocket pings checks the connection so).
func ping(context.Context, *conn, *protocol.Command, *protocol.Reply) (func(error), error) {
	return nil, nil
}

// command runs one decoded command from the client and queues its reply.
func (c *conn) command(cmd *protocol.Command) {
	ctx, cancel := context.WithTimeout(c.ctx, 10*time.Second)
	defer cancel()
	reply := protocol.Reply{Type: protocol.FrameReply, ID: cmd.ID, OK: true}
	var done func(error)
	var err error
	if h := handlers[cmd.Type]; h != nil { // DecodeCommand knows no other types
		done, err = h(ctx, c, cmd, &reply)
	} else {
		err = hub.Errorf(hub.EINVALID, "unknown command type")
	}
	if err != nil {
		if hub.ErrorCode(err) == hub.EINTERNAL {
			c.e.logger.Error("ws command failed", "type", cmd.Type, "err", err)
		}
		reply = protocol.Reply{Type: protocol.FrameReply, ID: cmd.ID, Error: ptr(errorBody(err))}
	}
	c.send(reply)
	if done != nil {
		done(err)
	}
}
