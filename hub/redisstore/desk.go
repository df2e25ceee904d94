package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/switchboardhq/switchboard/hub"
)

var (
	routeScript      = script("route")
	declineScript    = script("decline")
	expireScript     = script("expire")
	transferScript   = script("transfer")
	handoverScript   = script("handover")
	connectScript    = script("connect")
	disconnectScript = script("disconnect")
	refreshScript    = script("refresh")
	sweepScript      = script("sweep")
	tickScript       = script("tick")
	statusScript     = script("status")
	queueInfoScript  = script("queue_info")
)

var (
	_ hub.DeskStore = (*Store)(nil)
	_ hub.TeamStore = (*Store)(nil)
)

// deskError maps the desk scripts' errors, then those of scriptError.
func deskError(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	switch {
	case strings.HasSuffix(msg, "SB:not_offered"):
		return hub.ErrNotOffered
	case strings.HasSuffix(msg, "SB:not_queued"):
		return hub.ErrNotQueued
	case strings.HasSuffix(msg, "SB:not_active"):
		return hub.ErrNotActive
	case strings.HasSuffix(msg, "SB:not_chatbot"):
		return hub.ErrNotChatbot
	case strings.HasSuffix(msg, "SB:agent_unavailable"):
		return hub.ErrAgentUnavailable
	case strings.HasSuffix(msg, "SB:same_agent"):
		return hub.ErrSameAgent
	case strings.HasSuffix(msg, "SB:no_agent"):
		return hub.ErrAgentNotFound
	case strings.HasSuffix(msg, "SB:no_team"):
		return hub.ErrTeamNotFound
	case strings.HasSuffix(msg, "SB:team_exists"):
		return hub.Errorf(hub.ECONFLICT, "a team with this id exists")
	}
	if _, id, ok := strings.Cut(msg, "SB:no_agent:"); ok {
		return fmt.Errorf("agent %q: %w", id, hub.ErrAgentNotFound)
	}
	if _, id, ok := strings.Cut(msg, "SB:no_team:"); ok {
		return fmt.Errorf("team %q: %w", id, hub.ErrTeamNotFound)
	}
	return scriptError(err)
}

// Connect implements hub.DeskStore.
func (s *Store) Connect(ctx context.Context, c hub.Presence, now time.Time, p hub.DeskPolicy) error {
	err := connectScript.Run(ctx, s.rdb, []string{s.agentKey(c.AgentID)},
		s.deskArgs(now, &p, c.AgentID, c.ConnID, c.IP)...).Err()
	return deskError(err)
}

// Disconnect implements hub.DeskStore.
func (s *Store) Disconnect(ctx context.Context, c hub.Presence, now time.Time, p hub.DeskPolicy) error {
	err := disconnectScript.Run(ctx, s.rdb, []string{s.agentKey(c.AgentID)},
		s.deskArgs(now, &p, c.AgentID, c.ConnID)...).Err()
	return deskError(err)
}

// RefreshPresence implements hub.DeskStore.
func (s *Store) RefreshPresence(ctx context.Context, conns []hub.Presence, now time.Time, p hub.DeskPolicy) ([]hub.Presence, error) {
	args := s.deskArgs(now, &p)
	for _, c := range conns {
		args = append(args, c.AgentID, c.ConnID)
	}
	res, err := refreshScript.Run(ctx, s.rdb, []string{s.key("presence")}, args...).StringSlice()
	if err != nil {
		return nil, deskError(err)
	}
	var missing []hub.Presence
	for i := 0; i+1 < len(res); i += 2 {
		missing = append(missing, hub.Presence{AgentID: res[i], ConnID: res[i+1]})
	}
	return missing, nil
}

// Sweep does the first part of Tick alone: it turns Offline the agents
// whose connections all expired and whose grace ran out, and returns how
// many (the desk tests drive each part on its own).
func (s *Store) Sweep(ctx context.Context, now time.Time, p hub.DeskPolicy) (int, error) {
	return s.batches(ctx, sweepScript, s.key("presence"), now, p)
}

// ExpireOffers does the second part of Tick alone: it requeues the offers
// not accepted in time, and returns how many.
func (s *Store) ExpireOffers(ctx context.Context, now time.Time, p hub.DeskPolicy) (int, error) {
	return s.batches(ctx, expireScript, s.key("offers"), now, p)
}

// batches runs a script that handles at most 100 due entries of key per
// call until a call handles fewer, and returns how many it handled in all.
func (s *Store) batches(ctx context.Context, sc Script, key string, now time.Time, p hub.DeskPolicy) (int, error) {
	const batch = 100
	total := 0
	for {
		n, err := sc.Run(ctx, s.rdb, []string{key}, s.deskArgs(now, &p, batch)...).Int()
		if err != nil {
			return total, deskError(err)
		}
		total += n
		if n < batch {
			return total, nil
		}
	}
}

// Tick implements hub.DeskStore.
func (s *Store) Tick(ctx context.Context, limit int, now time.Time, p hub.DeskPolicy) (hub.Tick, error) {
	res, err := tickScript.Run(ctx, s.rdb, []string{s.key("presence"), s.key("offers"), s.key("queue")},
		s.deskArgs(now, &p, limit)...).Int64Slice()
	if err != nil {
		return hub.Tick{}, deskError(err)
	}
	if len(res) != 5 {
		return hub.Tick{}, errors.New("redis: tick reply has the wrong shape")
	}
	t := hub.Tick{Agents: int(res[0]), Offers: int(res[1]), Routed: int(res[2]), Queued: int(res[3])}
	if res[4] > 0 {
		t.NextDue = time.UnixMilli(res[4])
	}
	return t, nil
}

// Route implements hub.DeskStore.
func (s *Store) Route(ctx context.Context, limit int, now time.Time, p hub.DeskPolicy) (routed, queued int, err error) {
	res, err := routeScript.Run(ctx, s.rdb, []string{s.key("queue")}, s.deskArgs(now, &p, limit)...).Int64Slice()
	if err != nil {
		return 0, 0, deskError(err)
	}
	if len(res) != 2 {
		return 0, 0, errors.New("redis: route reply has the wrong shape")
	}
	return int(res[0]), int(res[1]), nil
}

func (s *Store) sessionReply(res []any, err error) (*hub.Session, error) {
	if err != nil {
		return nil, deskError(err)
	}
	return decodeSession(pairs(res))
}

// Decline implements hub.DeskStore.
func (s *Store) Decline(ctx context.Context, id string, by hub.Principal, now time.Time, p hub.DeskPolicy) (*hub.Session, error) {
	agent := by.ID
	if by.Kind != hub.PrincipalAgent {
		agent = ""
	}
	return s.sessionReply(declineScript.Run(ctx, s.rdb, []string{s.sessionKey(id)},
		s.deskArgs(now, &p, id, agent, privileged(by))...).Slice())
}

// Transfer implements hub.DeskStore.
func (s *Store) Transfer(ctx context.Context, id string, by hub.Principal, to hub.Transfer, now time.Time, p hub.DeskPolicy) (*hub.Session, error) {
	kind, target := "agent", to.AgentID
	if to.TeamID != "" {
		kind, target = "team", to.TeamID
	}
	return s.sessionReply(transferScript.Run(ctx, s.rdb, []string{s.sessionKey(id)},
		s.deskArgs(now, &p, id, by.Kind, by.ID, privileged(by), kind, target)...).Slice())
}

// Handover implements hub.DeskStore.
func (s *Store) Handover(ctx context.Context, id string, by hub.Principal, now time.Time) (*hub.Session, error) {
	return s.sessionReply(handoverScript.Run(ctx, s.rdb, []string{s.sessionKey(id)},
		s.deskArgs(now, nil, id, by.Kind, by.ID, privileged(by))...).Slice())
}

// SetStatus implements hub.DeskStore.
func (s *Store) SetStatus(ctx context.Context, ids []string, status string, strict bool, now time.Time) ([]hub.StatusChange, error) {
	args := s.deskArgs(now, nil, status, boolArg(strict))
	for _, id := range ids {
		args = append(args, id)
	}
	res, err := statusScript.Run(ctx, s.rdb, []string{s.key("agents")}, args...).Slice()
	if err != nil {
		return nil, deskError(err)
	}
	out := make([]hub.StatusChange, 0, len(res))
	for _, r := range res {
		row, _ := r.([]any)
		if len(row) != 4 {
			return nil, errors.New("redis: unexpected status reply")
		}
		str := func(v any) string { x, _ := v.(string); return x }
		out = append(out, hub.StatusChange{AgentID: str(row[0]), Previous: str(row[1]), Current: str(row[2]), Refused: str(row[3])})
	}
	return out, nil
}

// QueueInfo implements hub.DeskStore.
func (s *Store) QueueInfo(ctx context.Context, ids []string) (hub.QueueInfo, error) {
	args := []any{s.opts.Prefix}
	for _, id := range ids {
		args = append(args, id)
	}
	res, err := queueInfoScript.Run(ctx, s.rdb, []string{s.key("queue")}, args...).Int64Slice()
	if err != nil {
		return hub.QueueInfo{}, deskError(err)
	}
	if len(res) != 4+len(ids) {
		return hub.QueueInfo{}, errors.New("redis: unexpected queue reply")
	}
	q := hub.QueueInfo{Version: res[0], Length: int(res[1]), Interval: time.Duration(res[2]) * time.Millisecond}
	if res[3] > 0 {
		q.OldestSince = time.UnixMilli(res[3]).UTC()
	}
	q.Positions = make([]int, len(ids))
	for i := range ids {
		q.Positions[i] = int(res[4+i])
	}
	return q, nil
}

// PutTeam implements hub.TeamStore.
func (s *Store) PutTeam(ctx context.Context, t *hub.Team, create bool) (string, error) {
	if t.ID != "" && !hub.ValidAgentID(t.ID) {
		return "", hub.Errorf(hub.EINVALID, "invalid team id")
	}
	created := t.CreatedAt
	if created.IsZero() {
		created = time.Now()
	}
	id, err := teamPutScript.Run(ctx, s.rdb, []string{s.key("teams")},
		s.opts.Prefix, t.ID, t.Name, ms(created), boolArg(create)).Text()
	return id, deskError(err)
}

// Team implements hub.TeamStore.
func (s *Store) Team(ctx context.Context, id string) (*hub.Team, error) {
	if !hub.ValidAgentID(id) {
		return nil, hub.ErrTeamNotFound
	}
	h, err := s.rdb.HGetAll(ctx, s.key("team", id)).Result()
	if err != nil {
		return nil, storeError(err)
	}
	if len(h) == 0 {
		return nil, hub.ErrTeamNotFound
	}
	return &hub.Team{ID: h["id"], Name: h["name"], CreatedAt: msTime(h["created_at"])}, nil
}

// Teams implements hub.TeamStore.
func (s *Store) Teams(ctx context.Context) ([]*hub.Team, error) {
	ids, err := s.rdb.ZRange(ctx, s.key("teams"), 0, -1).Result()
	if err != nil {
		return nil, storeError(err)
	}
	cmds := make([]*redis.MapStringStringCmd, len(ids))
	_, err = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range ids {
			cmds[i] = p.HGetAll(ctx, s.key("team", id))
		}
		return nil
	})
	if err != nil {
		return nil, storeError(err)
	}
	out := make([]*hub.Team, 0, len(ids))
	for _, c := range cmds {
		if h := c.Val(); len(h) > 0 {
			out = append(out, &hub.Team{ID: h["id"], Name: h["name"], CreatedAt: msTime(h["created_at"])})
		}
	}
	return out, nil
}

// TeamAgents implements hub.TeamStore.
func (s *Store) TeamAgents(ctx context.Context, id string) ([]string, error) {
	ids, err := s.rdb.SMembers(ctx, s.key("team", id, "agents")).Result()
	if err != nil {
		return nil, storeError(err)
	}
	return ids, nil
}

// OpenSessionOf returns the newest open session of a customer, or "".
func (s *Store) OpenSessionOf(ctx context.Context, customerID string) (string, error) {
	ids, err := s.rdb.ZRevRange(ctx, s.key("customer", customerID, "open"), 0, 0).Result()
	if err != nil {
		return "", storeError(err)
	}
	if len(ids) == 0 {
		return "", nil
	}
	return ids[0], nil
}

// AnsweringAgents implements hub.DeskStore: prefix:available (kept by
// agent_sync) and the online bots.
func (s *Store) AnsweringAgents(ctx context.Context) (int, error) {
	var avail, bots *redis.IntCmd
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		avail = p.SCard(ctx, s.key("available"))
		bots = p.ZCard(ctx, s.key("bots"))
		return nil
	})
	if err != nil {
		return 0, storeError(err)
	}
	return int(avail.Val() + bots.Val()), nil
}
