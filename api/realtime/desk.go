package realtime

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/switchboardhq/switchboard/api/protocol"
	"github.com/switchboardhq/switchboard/hub"
)

// The desk commands of an agent (accept, decline, pick, transfer,
// handover, status) and the events of its own topic.

// deskCommand runs an agent's routing command; the reply carries the
// session's state after it.
func deskCommand(ctx context.Context, c *conn, cmd *protocol.Command, reply *protocol.Reply) (func(error), error) {
	p, desk := c.principal, c.e.desk
	if p.Kind != hub.PrincipalAgent {
		return nil, hub.ErrSessionNotFound
	}
	var sess *hub.Session
	var err error
	switch cmd.Type {
	case protocol.CmdAccept:
		sess, err = desk.Accept(ctx, p, cmd.SessionID)
	case protocol.CmdDecline:
		sess, err = desk.Decline(ctx, p, cmd.SessionID)
	case protocol.CmdPick:
		sess, err = desk.Pick(ctx, p, cmd.SessionID) // the agent's topic brings the session to follow
	case protocol.CmdTransfer:
		sess, err = desk.Transfer(ctx, p, cmd.SessionID, hub.Transfer{AgentID: cmd.AgentID, TeamID: cmd.TeamID})
	default:
		sess, err = desk.Handover(ctx, p, cmd.SessionID)
	}
	if err == nil {
		reply.State = string(sess.State)
	}
	return nil, err
}

// setStatus sets an agent's own status; the reply carries the status shown.
func setStatus(ctx context.Context, c *conn, cmd *protocol.Command, reply *protocol.Reply) (func(error), error) {
	p := c.principal
	if p.Kind != hub.PrincipalAgent || p.Role == hub.RoleBot {
		return nil, hub.Errorf(hub.EFORBIDDEN, "only agents have a status")
	}
	changes, err := c.e.desk.SetStatus(ctx, []string{p.ID}, cmd.Status, false)
	if err == nil && len(changes) == 1 {
		reply.Status = changes[0].Current
	}
	return nil, err
}

// agentNotice handles an event of the agent's own topic.
func (c *conn) agentNotice(d *hub.Delivery) error {
	switch d.Type {
	case hub.EventAgentSessionAdded:
		if _, ok := c.last[d.SessionID]; !ok && d.SessionID != "" {
			c.last[d.SessionID] = 0
			c.e.fanout.Add(hub.SessionTopic(d.SessionID), c)
		}
	case hub.EventAgentDisabled:
		c.close(protocol.CloseAgentDisabled, "agent disabled")
	case hub.EventAgentStatus, hub.EventSessionRated, hub.EventSessionChanged:
		// A rating comes after session.ended, when the agent's socket no
		// longer follows the session: it reaches the agent on its own topic.
		return c.write(d.Data)
	}
	return nil
}

// refreshAgentSessions catches up on the agent's topic after its
// (re)subscription: a disabling published before it was live closes the
// socket now, and sessions added meanwhile are followed.
func (c *conn) refreshAgentSessions() error {
	a, err := c.e.agents.Agent(c.ctx, c.principal.ID)
	if errors.Is(err, hub.ErrAgentNotFound) || err == nil && a.Disabled {
		c.close(protocol.CloseAgentDisabled, "agent disabled")
		return nil
	} else if err != nil {
		return err
	}
	// The status as it is now: changes published before the subscription
	// was live are not replayed.
	b, _ := json.Marshal(agentStatusFrame{Type: hub.EventAgentStatus, AgentID: a.ID, Status: a.Status,
		Chosen: a.Chosen, At: c.e.sessions.Now().UTC()})
	if err := c.write(b); err != nil {
		return err
	}
	ids, err := c.e.agents.AgentSessions(c.ctx, c.principal.ID)
	if err != nil {
		return err
	}
	for _, sid := range ids {
		if _, ok := c.last[sid]; !ok {
			c.last[sid] = 0
			c.e.fanout.Add(hub.SessionTopic(sid), c)
		}
	}
	return nil
}

// agentStatusFrame is the agent.status an agent's socket gets when its
// topic (re)starts; later ones come from the bus with "previous" instead of
// "chosen_status".
type agentStatusFrame struct {
	Type    string    `json:"type"`
	AgentID string    `json:"agent_id"`
	Status  string    `json:"status"`
	Chosen  string    `json:"chosen_status"`
	At      time.Time `json:"at"`
}
