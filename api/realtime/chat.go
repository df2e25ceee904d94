package realtime

import (
	"context"
	"errors"
	"time"

	"github.com/switchboardhq/switchboard/api/protocol"
	"github.com/switchboardhq/switchboard/hub"
)

// The chat commands: a party's messages, typing, receipts, a customer's
// rating and closing, and a resume of sessions a socket may read.

// resume follows sessions from the seqs given, once every one of them is
// the principal's to read.
func resume(ctx context.Context, c *conn, cmd *protocol.Command, _ *protocol.Reply) (func(error), error) {
	for sid := range cmd.Resume {
		if _, err := c.e.sessions.SessionFor(ctx, c.principal, sid); err != nil {
			return nil, err
		}
	}
	for sid, seq := range cmd.Resume {
		c.enqueue(item{follow: sid, from: seq, epoch: cmd.Epochs[sid]})
	}
	return nil, nil
}

// sendMessage appends a message, or with note a private note; its seq is
// the reply's (a retry with the same client_msg_id is answered with the
// first one's, duplicate).
func sendMessage(ctx context.Context, c *conn, cmd *protocol.Command, reply *protocol.Reply) (func(error), error) {
	p := c.principal
	var err error
	if cmd.Note {
		reply.Seq, reply.Duplicate, err = c.e.sessions.AddNote(ctx, p, cmd.SessionID, cmd.ClientMsgID, cmd.Text)
		return nil, err
	}
	if p.Kind == hub.PrincipalCustomer && c.e.sendLimit != nil && !c.e.sendLimit.Of(p.ID).Allow() {
		return nil, errSendRateLimited
	}
	reply.Seq, reply.Duplicate, err = c.e.sessions.SendMessage(ctx, p, cmd.SessionID, cmd.ClientMsgID, cmd.Text)
	return nil, err
}

func typing(ctx context.Context, c *conn, cmd *protocol.Command, _ *protocol.Reply) (func(error), error) {
	if err := c.e.sessions.Typing(ctx, c.principal, cmd.SessionID, *cmd.On); err != nil {
		return nil, err
	}
	c.armTyping(cmd.SessionID, *cmd.On)
	return nil, nil
}

func markRead(ctx context.Context, c *conn, cmd *protocol.Command, reply *protocol.Reply) (func(error), error) {
	var err error
	reply.Seq, _, err = c.e.sessions.MarkRead(ctx, c.principal, cmd.SessionID, cmd.Seq)
	return nil, err
}

func markDelivered(ctx context.Context, c *conn, cmd *protocol.Command, reply *protocol.Reply) (func(error), error) {
	var err error
	reply.Seq, _, err = c.e.sessions.MarkDelivered(ctx, c.principal, cmd.SessionID, cmd.Seq)
	return nil, err
}

// rateSession records a customer's rating; once its reply is written, the socket
// (kept open after the session's end for it) closes.
func rateSession(ctx context.Context, c *conn, cmd *protocol.Command, _ *protocol.Reply) (func(error), error) {
	c.ownRates.Add(1)
	_, err := c.e.chats.Rate(ctx, c.principal, cmd.SessionID, hub.Rating{Score: *cmd.Score, Comment: cmd.Comment})
	return func(err error) { c.enqueue(item{rateDone: true, rated: err == nil}) }, err
}

// closeSession ends a session. A customer closing its own keeps its socket
// open until the reply is written after session.ended (it learns that its
// close worked).
func closeSession(ctx context.Context, c *conn, cmd *protocol.Command, _ *protocol.Reply) (func(error), error) {
	p := c.principal
	own := p.Kind == hub.PrincipalCustomer && cmd.SessionID == p.SessionID
	if own {
		c.ownCloses.Add(1)
	}
	_, err := c.e.sessions.CloseSessionAs(ctx, p, cmd.SessionID)
	if !own {
		return nil, err
	}
	return func(err error) {
		c.enqueue(item{ownClose: true, ownClosed: err == nil || errors.Is(err, hub.ErrSessionEnded)})
	}, err
}

// armTyping keeps the server-side expiry of this connection's typing
// indicator in a session: a start without a stop ends by itself after
// TypingExpiry, so no indicator sticks when a client vanishes.
func (c *conn) armTyping(sid string, on bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t := c.typing[sid]; t != nil {
		t.Stop()
		delete(c.typing, sid)
	}
	if on && !c.closed {
		c.typing[sid] = time.AfterFunc(c.e.sessions.Policy().TypingExpiry, func() {
			c.mu.Lock()
			delete(c.typing, sid)
			c.mu.Unlock()
			c.stopTyping(sid)
		})
	}
}

// stopTyping publishes that this connection's party stopped typing.
func (c *conn) stopTyping(sid string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c.e.sessions.Typing(ctx, c.principal, sid, false)
}
