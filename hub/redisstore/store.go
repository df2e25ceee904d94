// Package redisstore is Switchboard's one store: sessions, agents and their
// events in Redis (standalone, Sentinel or Cluster through go-redis'
// UniversalClient, or an embedded miniredis). Every transition is one Lua
// script that validates, mutates, appends the event to the session's stream
// and publishes it, so a change is published if and only if it happened.
package redisstore

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/switchboardhq/switchboard/hub"
)

//go:embed lua/*.lua
var luaFS embed.FS

// script loads lua/name.lua with what it uses of lua/lib.lua in front of it
// (withLib).
func script(name string) Script {
	lib, err := luaFS.ReadFile("lua/lib.lua")
	if err != nil {
		panic(err)
	}
	body, err := luaFS.ReadFile("lua/" + name + ".lua")
	if err != nil {
		panic(err)
	}
	return newScript(withLib(string(lib), string(body)))
}

var (
	createScript   = script("create")
	assignScript   = script("assign")
	closeScript    = script("close")
	listScript     = script("list")
	statsScript    = script("stats")
	pruneScript    = script("prune")
	agentPutScript = script("agent_put")
	messageScript  = script("message")
	readScript     = script("read")
	typingScript   = script("typing")
	teamPutScript  = script("team_put")
)

// Options configure a Store. The zero value of each field is replaced by
// the default named in its comment.
type Options struct {
	// Prefix starts every key and channel and must hold a Cluster hash tag
	// ("{sb}" by default), so that every multi-key script is valid on Cluster.
	Prefix string
	// MaxSessionEvents bounds the events of one session (messages, markers,
	// state changes); default 100,000. A session's stream is its whole
	// history and is never trimmed: past the bound its parties' messages and
	// markers are refused with hub.ErrSessionFull instead.
	MaxSessionEvents int
	// PruneBatch is how many expired index entries one call drops; default 500.
	PruneBatch int
	// IdleWarn, when above 0, turns idle auto-close on: a session whose
	// customer has not answered the agent's last message for IdleWarn is
	// warned (session.idle), and IdleClose later closed with reason idle
	// (SweepIdle, lua/idle.lua). IdleClose defaults to 5 minutes.
	IdleWarn, IdleClose time.Duration
	// MinReplicas, when above 0, makes a message's acknowledgement wait
	// (Redis WAIT) until that many replicas hold it; fewer within
	// ReplicaTimeout (default 1 s) is refused as unavailable, and the
	// client's retry is acknowledged once they do. Default 0: acknowledged
	// once the primary ran the script.
	MinReplicas    int
	ReplicaTimeout time.Duration
	// Location is the time zone of the reports' hours and days; default
	// UTC. ReportHours and ReportDays are how long the hourly and daily
	// figures are kept after their hour or day; defaults 30 and 400 days.
	Location                *time.Location
	ReportHours, ReportDays time.Duration
}

// Store is the Redis implementation of hub.SessionStore and hub.AgentStore.
// It is safe for concurrent use; it holds no state but its configuration.
type Store struct {
	rdb  redis.UniversalClient
	opts Options
	// basePrefix is the deployment's prefix when this Store is a
	// tenant's (ForTenant); "" when it is the deployment's own.
	basePrefix string
	// sends batches this contact center's message script calls.
	sends *batcher
	// fence is the prefix's reshard fence (Script), which the send path
	// declares itself rather than have Script make it for every message.
	fence string
}

var (
	_ hub.SessionStore = (*Store)(nil)
	_ hub.MessageStore = (*Store)(nil)
	_ hub.AgentStore   = (*Store)(nil)
)

// New returns a Store on rdb.
func New(rdb redis.UniversalClient, opts Options) (*Store, error) {
	if opts.Prefix == "" {
		opts.Prefix = "{sb}"
	}
	if err := ValidatePrefix(opts.Prefix); err != nil {
		return nil, err
	}
	if opts.MaxSessionEvents <= 0 {
		opts.MaxSessionEvents = 100_000
	}
	if opts.IdleClose <= 0 {
		opts.IdleClose = 5 * time.Minute
	}
	if opts.PruneBatch <= 0 {
		opts.PruneBatch = 500
	}
	if opts.Location == nil {
		opts.Location = time.UTC
	}
	if opts.ReportHours <= 0 {
		opts.ReportHours = 30 * 24 * time.Hour
	}
	if opts.ReportDays <= 0 {
		opts.ReportDays = 400 * 24 * time.Hour
	}
	if opts.ReplicaTimeout <= 0 {
		opts.ReplicaTimeout = time.Second
	}
	return &Store{rdb: rdb, opts: opts, sends: newBatcher(rdb), fence: opts.Prefix + fenceSuffix}, nil
}

// Prefix returns the prefix of the Store's keys.
func (s *Store) Prefix() string { return s.opts.Prefix }

// ValidatePrefix checks that prefix holds a non-empty Cluster hash tag
// ("{...}") and no whitespace.
func ValidatePrefix(prefix string) error {
	open := strings.IndexByte(prefix, '{')
	if open < 0 {
		return fmt.Errorf("key prefix %q has no Cluster hash tag such as {sb}", prefix)
	}
	end := strings.IndexByte(prefix[open:], '}')
	if end <= 1 {
		return fmt.Errorf("key prefix %q has no non-empty Cluster hash tag such as {sb}", prefix)
	}
	if strings.Contains(prefix, ":ch:") {
		return fmt.Errorf("key prefix %q contains :ch:, which separates a channel's prefix from its topic", prefix)
	}
	if strings.ContainsAny(prefix, " \t\r\n") {
		return fmt.Errorf("key prefix %q contains whitespace", prefix)
	}
	return nil
}

// SharedSecret returns the secret stored under name, storing candidate
// first if there is none (SET NX): every instance on this Redis gets the
// same one without configuration.
func (s *Store) SharedSecret(ctx context.Context, name, candidate string) (string, error) {
	key := s.key("secret", name)
	if err := s.rdb.SetNX(ctx, key, candidate, 0).Err(); err != nil {
		return "", storeError(err)
	}
	v, err := s.rdb.Get(ctx, key).Result()
	if err != nil {
		return "", storeError(err)
	}
	return v, nil
}

// Ping reports whether the Redis that holds the store answers: on a
// Cluster, the master of the store's own slot. A Cluster client sends a
// keyless PING to one master after another (go-redis's round-robin shard
// picker), so while one shard did not answer, every instance's /readyz
// failed one time in three and a load balancer took instances out at
// random, though only the tenants on that shard had to wait; an instance
// could not start either (TestReadyWhileAnotherShardStallsOnCluster).
func (s *Store) Ping(ctx context.Context) error {
	if cc, ok := s.rdb.(*redis.ClusterClient); ok {
		node, err := cc.MasterForKey(ctx, s.key("store"))
		if err != nil {
			return err
		}
		return node.Ping(ctx).Err()
	}
	return s.rdb.Ping(ctx).Err()
}

// Key names. Every key starts with the prefix and so shares its hash tag.
func (s *Store) key(parts ...string) string {
	return s.opts.Prefix + ":" + strings.Join(parts, ":")
}
func (s *Store) sessionKey(id string) string       { return s.key("session", id) }
func (s *Store) streamKey(id string) string        { return s.key("session", id, "events") }
func (s *Store) agentKey(id string) string         { return s.key("agent", id) }
func (s *Store) agentSessionsKey(id string) string { return s.key("agent", id, "sessions") }
func (s *Store) indexKey(st hub.Status) string {
	if st == "" {
		return s.key("idx", "all")
	}
	return s.key("idx", string(st))
}

// channel returns the PubSub channel of a topic.
func (s *Store) channel(topic string) string { return s.opts.Prefix + ":ch:" + topic }

// SessionChannel is the PubSub channel on which a session's events are published.
func (s *Store) SessionChannel(id string) string { return s.channel(hub.SessionTopic(id)) }

func privileged(p hub.Principal) string {
	if p.Privileged() {
		return "1"
	}
	return "0"
}

func ms(t time.Time) int64 { return t.UnixMilli() }

// scriptError turns the SB:* errors of the scripts into domain errors and
// wraps anything else as internal.
func scriptError(err error) error {
	if err == nil {
		return nil
	}
	switch msg := err.Error(); {
	case strings.HasSuffix(msg, "SB:not_found"):
		return hub.ErrSessionNotFound
	case strings.HasSuffix(msg, "SB:ended"):
		return hub.ErrSessionEnded
	case strings.HasSuffix(msg, "SB:assigned"):
		return hub.ErrAgentAssigned
	case strings.HasSuffix(msg, "SB:limit"):
		return hub.ErrMaxSessions
	case strings.HasSuffix(msg, "SB:forbidden"):
		return hub.ErrForbidden
	case strings.HasSuffix(msg, "SB:full"):
		return hub.ErrSessionFull
	case strings.HasSuffix(msg, "SB:invalid"):
		return hub.Errorf(hub.EINVALID, "seq beyond the session's last event")
	case strings.HasSuffix(msg, "SB:email_taken"):
		return hub.Errorf(hub.ECONFLICT, "email already in use")
	case strings.HasSuffix(msg, "SB:agent_exists"):
		return hub.Errorf(hub.ECONFLICT, "an agent with this id exists")
	case strings.HasSuffix(msg, "SB:call_busy"):
		return hub.ErrCallBusy
	case strings.HasSuffix(msg, "SB:no_call"):
		return hub.ErrNoCall
	case strings.HasSuffix(msg, "SB:answered"):
		return hub.ErrCallAnswered
	case strings.HasSuffix(msg, "SB:call_state"):
		return hub.ErrCallState
	case strings.HasSuffix(msg, "SB:call_no_agent"):
		return hub.ErrCallNoAgent
	case strings.HasSuffix(msg, "SB:exists"):
		return hub.Errorf(hub.EINTERNAL, "session id collision")
	}
	return storeError(err)
}

// deskArgs are the first five arguments of every desk script (see desk in
// lua/lib.lua): the prefix, now in ms and as RFC 3339, the session event
// limit and the policy's timings with the reports' context (report in
// lua/lib.lua).
func (s *Store) deskArgs(now time.Time, p *hub.DeskPolicy, more ...any) []any {
	conf := fmt.Sprintf(`{"tz_ms":%d,"rh_ms":%d,"rd_ms":%d}`, s.tzOffset(now), s.opts.ReportHours.Milliseconds(), s.opts.ReportDays.Milliseconds())
	if p != nil {
		conf = fmt.Sprintf(`{"offer_ms":%d,"skip_ms":%d,"grace_ms":%d,"ttl_ms":%d,"ring_ms":%d,"call_grace_ms":%d,`,
			p.OfferTimeout.Milliseconds(), p.SkipFor.Milliseconds(), p.Grace.Milliseconds(), p.PresenceTTL.Milliseconds(),
			p.RingTimeout.Milliseconds(), p.CallGrace.Milliseconds()) + conf[1:]
	}
	return append([]any{s.opts.Prefix, ms(now), now.UTC().Format(time.RFC3339Nano), s.opts.MaxSessionEvents, conf}, more...)
}

// CreateSession implements hub.SessionStore. The session goes to an online
// bot if there is one (Chatbot), else to the queue.
func (s *Store) CreateSession(ctx context.Context, sess *hub.Session, maxOpen int) (*hub.Session, error) {
	res, err := createScript.Run(ctx, s.rdb, []string{s.sessionKey(sess.ID)},
		s.deskArgs(sess.CreatedAt, nil, sess.ID, maxOpen, sess.Title, sess.Description, sess.CustomerID, sess.CustomerName,
			sess.UserID, sess.StartedBy, sess.CustomerEmail, boolArg(sess.Offline))...,
	).Slice()
	if err != nil {
		return nil, scriptError(err)
	}
	if len(res) < 6 {
		return nil, fmt.Errorf("redis: create reply has %d values", len(res))
	}
	out := *sess
	out.Number, _ = res[0].(int64)
	st, _ := res[1].(string)
	out.State = hub.State(st)
	out.BotID, _ = res[2].(string)
	out.Visitor, _ = res[3].(int64)
	out.UserID, _ = res[4].(string)
	if created, ok := res[5].(int64); ok {
		out.CreatedAt = time.UnixMilli(created).UTC()
	}
	out.Seq = 1
	return &out, nil
}

// Session implements hub.SessionStore.
func (s *Store) Session(ctx context.Context, id string) (*hub.Session, error) {
	h, err := s.rdb.HGetAll(ctx, s.sessionKey(id)).Result()
	if err != nil {
		return nil, storeError(err)
	}
	if len(h) == 0 {
		return nil, hub.ErrSessionNotFound
	}
	return decodeSession(h)
}

// SessionHead implements hub.SessionStore: one HMGET of seven fields in
// place of the HGETALL of forty and its decoding.
func (s *Store) SessionHead(ctx context.Context, id string) (*hub.Session, error) {
	v, err := s.rdb.HMGet(ctx, s.sessionKey(id), "id", "customer_id", "agent_id", "bot_id", "state", "seq", "epoch").Result()
	if err != nil {
		return nil, storeError(err)
	}
	str := func(i int) string {
		x, _ := v[i].(string)
		return x
	}
	if str(0) == "" {
		return nil, hub.ErrSessionNotFound
	}
	seq, _ := strconv.ParseInt(str(5), 10, 64)
	return &hub.Session{ID: str(0), CustomerID: str(1), AgentID: str(2), BotID: str(3),
		State: hub.State(str(4)), Seq: seq, Epoch: str(6)}, nil
}

// Sessions implements hub.SessionStore.
func (s *Store) Sessions(ctx context.Context, f hub.SessionFilter, now time.Time) ([]*hub.Session, int, error) {
	index := s.indexKey(f.Status)
	switch {
	case f.Tag != "":
		index = s.key("tag", f.Tag)
	case f.Offline:
		index = s.key("offline")
	}
	res, err := listScript.Run(ctx, s.rdb, []string{index},
		ms(now), f.Offset, f.Offset+f.Limit-1, s.opts.Prefix, s.opts.PruneBatch).Slice()
	if err != nil {
		return nil, 0, scriptError(err)
	}
	return decodeSessionPage(res, "list")
}

// decodeSessionPage reads the {total, hash, hash, ...} reply of the list
// and chats scripts. decodeSession ignores the fields a script adds beside
// the session's own (chats adds agent_number: the handling agent's number).
func decodeSessionPage(res []any, name string) ([]*hub.Session, int, error) {
	if len(res) == 0 {
		return nil, 0, fmt.Errorf("redis: empty reply from %s script", name)
	}
	total, _ := res[0].(int64)
	out := make([]*hub.Session, 0, len(res)-1)
	for _, r := range res[1:] {
		flat, ok := r.([]any)
		if !ok {
			return nil, 0, fmt.Errorf("redis: unexpected %s reply %T", name, r)
		}
		h := pairs(flat)
		sess, err := decodeSession(h)
		if err != nil {
			return nil, 0, err
		}
		sess.HandledByNumber = h["agent_number"]
		out = append(out, sess)
	}
	return out, int(total), nil
}

// AssignSession implements hub.SessionStore.
func (s *Store) AssignSession(ctx context.Context, id string, a hub.Assignment, defaultCapacity int, now time.Time) (*hub.Session, error) {
	return s.take(ctx, id, a.AgentID, a.AgentName, "admin", defaultCapacity, now)
}

// TakeSession implements hub.DeskStore.
func (s *Store) TakeSession(ctx context.Context, id, agentID, rule string, now time.Time) (*hub.Session, error) {
	return s.take(ctx, id, agentID, "", rule, 0, now)
}

func (s *Store) take(ctx context.Context, id, agentID, agentName, rule string, defaultCapacity int, now time.Time) (*hub.Session, error) {
	res, err := assignScript.Run(ctx, s.rdb, []string{s.sessionKey(id)},
		s.deskArgs(now, nil, id, agentID, agentName, rule, defaultCapacity)...,
	).Slice()
	if err != nil {
		return nil, deskError(err)
	}
	return decodeSession(pairs(res))
}

// CloseSession implements hub.SessionStore.
func (s *Store) CloseSession(ctx context.Context, id string, by hub.Principal, now time.Time, retention time.Duration) (*hub.Session, error) {
	res, err := closeScript.Run(ctx, s.rdb, []string{s.sessionKey(id)},
		s.deskArgs(now, nil, id, retention.Milliseconds(), by.Kind, by.ID, by.Name, privileged(by))...,
	).Slice()
	if err != nil {
		return nil, scriptError(err)
	}
	return decodeSession(pairs(res))
}

// SessionStats implements hub.SessionStore.
func (s *Store) SessionStats(ctx context.Context, now time.Time) (hub.Stats, error) {
	res, err := statsScript.Run(ctx, s.rdb,
		[]string{s.indexKey(""), s.indexKey(hub.StatusWaiting), s.indexKey(hub.StatusActive), s.indexKey(hub.StatusEnded)},
		ms(now), s.opts.Prefix, s.opts.PruneBatch).Int64Slice()
	if err != nil {
		return hub.Stats{}, scriptError(err)
	}
	if len(res) != 4 {
		return hub.Stats{}, fmt.Errorf("redis: stats reply has %d values", len(res))
	}
	return hub.Stats{Total: res[0], Waiting: res[1], Active: res[2], Ended: res[3]}, nil
}

// EndedSince implements hub.SessionStore from the index of end times,
// which close maintains and retire empties.
func (s *Store) EndedSince(ctx context.Context, since time.Time) (int64, error) {
	n, err := s.rdb.ZCount(ctx, s.key("idx", "ended_at"), strconv.FormatInt(ms(since), 10), "+inf").Result()
	if err != nil {
		return 0, storeError(err)
	}
	return n, nil
}

// Prune drops expired ended sessions from the indexes until none is left,
// and returns how many it dropped. Listing and stats prune a batch
// themselves; a janitor calls Prune so that the indexes stay small when
// nobody reads them.
func (s *Store) Prune(ctx context.Context, now time.Time) (int, error) {
	total := 0
	for {
		// The key names the slot for a Cluster client (see ChatSessions).
		n, err := pruneScript.Run(ctx, s.rdb, []string{s.key("idx:expiry")}, ms(now), s.opts.Prefix, s.opts.PruneBatch).Int()
		if err != nil {
			return total, scriptError(err)
		}
		total += n
		if n < s.opts.PruneBatch {
			return total, nil
		}
	}
}

// PutAgent implements hub.AgentStore.
func (s *Store) PutAgent(ctx context.Context, a *hub.Agent) error { return s.putAgent(ctx, a, false) }

// CreateAgent implements hub.AgentStore.
func (s *Store) CreateAgent(ctx context.Context, a *hub.Agent) error { return s.putAgent(ctx, a, true) }

func (s *Store) putAgent(ctx context.Context, a *hub.Agent, create bool) error {
	if !hub.ValidAgentID(a.ID) {
		return hub.Errorf(hub.EINVALID, "invalid agent id")
	}
	for _, t := range a.TeamIDs {
		if !hub.ValidAgentID(t) {
			return hub.ErrTeamNotFound
		}
	}
	created := a.CreatedAt
	if created.IsZero() {
		created = time.Now()
	}
	now := time.Now()
	err := agentPutScript.Run(ctx, s.rdb, []string{s.agentKey(a.ID)},
		s.deskArgs(now, nil, a.ID, a.Name, hub.NormalizeEmail(a.Email), string(a.Role), a.Capacity, a.PasswordHash,
			ms(created), boolArg(a.Disabled), boolArg(create), a.Number, strings.Join(a.TeamIDs, ","),
			strings.TrimSpace(a.Email))...,
	).Err()
	return deskError(err)
}

// Agent implements hub.AgentStore.
func (s *Store) Agent(ctx context.Context, id string) (*hub.Agent, error) {
	if !hub.ValidAgentID(id) {
		return nil, hub.ErrAgentNotFound
	}
	as, err := s.agentsByID(ctx, []string{id})
	if err != nil {
		return nil, err
	}
	if len(as) == 0 {
		return nil, hub.ErrAgentNotFound
	}
	return as[0], nil
}

// agentsByID reads agents and the IP addresses of their live connections
// in one round trip; unknown ids are left out.
func (s *Store) agentsByID(ctx context.Context, ids []string) ([]*hub.Agent, error) {
	hashes := make([]*redis.MapStringStringCmd, len(ids))
	ips := make([]*redis.StringSliceCmd, len(ids))
	loads := make([]*redis.IntCmd, len(ids))
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range ids {
			hashes[i] = p.HGetAll(ctx, s.agentKey(id))
			ips[i] = p.HVals(ctx, s.key("agent", id, "ips"))
			loads[i] = p.SCard(ctx, s.agentSessionsKey(id))
		}
		return nil
	})
	if err != nil {
		return nil, storeError(err)
	}
	out := make([]*hub.Agent, 0, len(ids))
	for i, c := range hashes {
		h := c.Val()
		if len(h) == 0 {
			continue
		}
		a := decodeAgent(h)
		a.Load = int(loads[i].Val())
		if live := ips[i].Val(); len(live) > 0 {
			slices.Sort(live)
			a.IPs = slices.Compact(live)
		}
		out = append(out, a)
	}
	return out, nil
}

func decodeAgent(h map[string]string) *hub.Agent {
	capacity, _ := strconv.Atoi(h["capacity"])
	a := &hub.Agent{
		ID: h["id"], Name: h["name"], Email: h["email"], Number: h["agent_number"], Role: hub.Role(h["role"]),
		Capacity: capacity, PasswordHash: h["password_hash"], Status: h["status"], Chosen: h["chosen"],
		Online: h["online"] == "1", Disabled: h["disabled"] == "1", CreatedAt: msTime(h["created_at"]),
		StatusSince: msTime(h["status_since"]),
	}
	if a.Chosen == "" {
		a.Chosen = hub.AgentAvailable
	}
	if h["teams"] != "" {
		a.TeamIDs = strings.Split(h["teams"], ",")
	}
	if h["last_ips"] != "" {
		json.Unmarshal([]byte(h["last_ips"]), &a.IPs)
		slices.Sort(a.IPs)
		a.IPs = slices.Compact(a.IPs)
	}
	return a
}

// AgentByEmail implements hub.AgentStore.
func (s *Store) AgentByEmail(ctx context.Context, email string) (*hub.Agent, error) {
	id, err := s.rdb.HGet(ctx, s.key("agents", "email"), hub.NormalizeEmail(email)).Result()
	if errors.Is(err, redis.Nil) {
		return nil, hub.ErrAgentNotFound
	} else if err != nil {
		return nil, storeError(err)
	}
	return s.Agent(ctx, id)
}

// Agents implements hub.AgentStore: every agent, oldest first.
func (s *Store) Agents(ctx context.Context) ([]*hub.Agent, error) {
	ids, err := s.rdb.ZRange(ctx, s.key("agents"), 0, -1).Result()
	if err != nil {
		return nil, storeError(err)
	}
	return s.agentsByID(ctx, ids)
}

// AgentSessions implements hub.AgentStore: the sessions offered to or
// handled by the agent.
func (s *Store) AgentSessions(ctx context.Context, id string) ([]string, error) {
	ids, err := s.rdb.SMembers(ctx, s.agentSessionsKey(id)).Result()
	if err != nil {
		return nil, storeError(err)
	}
	return ids, nil
}

// AppendMessage implements hub.MessageStore.
func (s *Store) AppendMessage(ctx context.Context, sessionID string, by hub.Principal, msg hub.Message, at time.Time, idemTTL time.Duration) (int64, bool, error) {
	typ, kind := hub.EventMessage, ""
	switch msg.Type {
	case hub.MessageNote:
		typ, kind = hub.EventNote, "note"
	case hub.MessageFile:
		kind = "file"
	}
	body := hub.Event{Type: typ, SessionID: sessionID, From: by.Party(), Message: &msg, At: at}.EncodeBody()
	keys := []string{s.sessionKey(sessionID), s.streamKey(sessionID), s.key("session", sessionID, "cmids"), s.fence}
	args := []any{s.SessionChannel(sessionID), by.Kind, by.ID, privileged(by), body, s.opts.MaxSessionEvents, idemTTL.Milliseconds(),
		s.opts.Prefix, at.UTC().Format(time.RFC3339Nano), by.Kind + ":" + by.ID + ":" + msg.ClientMsgID, kind,
		s.opts.IdleWarn.Milliseconds(), ms(at), s.reportArg(at)}
	var res []int64
	var err error
	if s.opts.MinReplicas > 0 {
		res, err = s.replicated(ctx, keys, args)
	} else {
		res, err = s.sends.run(ctx, keys, args)
	}
	if err != nil {
		return 0, false, scriptError(err)
	}
	return res[0], res[1] == 1, nil
}

// replicated runs the message script and WAIT on one connection, in one
// round trip, and answers only once MinReplicas replicas hold the message:
// WAIT covers the connection's writes, and replication is in order, so the
// script's own write (a retry's too: message.lua refreshes the idempotency
// key, which it writes after the first message) vouches for the message.
// Fewer replicas within ReplicaTimeout is hub.Unavailable: the client
// retries with the same client_msg_id, and is acknowledged once they do.
func (s *Store) replicated(ctx context.Context, keys []string, args []any) ([]int64, error) {
	var pipe redis.Pipeliner
	if cc, ok := s.rdb.(*redis.ClusterClient); ok {
		node, err := cc.MasterForKey(ctx, keys[0]) // WAIT names no key: run both on the slot's primary
		if err != nil {
			return nil, storeError(err)
		}
		pipe = node.Pipeline()
	} else {
		pipe = s.rdb.Pipeline()
	}
	for try := 0; ; try++ {
		var run *redis.Cmd
		if try == 0 {
			run = messageScript.EvalSha(ctx, pipe, keys, args...)
		} else {
			run = messageScript.Eval(ctx, pipe, keys, args...)
		}
		wait := pipe.Do(ctx, "wait", s.opts.MinReplicas, s.opts.ReplicaTimeout.Milliseconds())
		_, err := pipe.Exec(ctx)
		if try == 0 && err != nil && strings.HasPrefix(run.Err().Error(), "NOSCRIPT") {
			continue
		}
		if err := run.Err(); err != nil {
			return nil, err
		}
		res, err := run.Int64Slice()
		if err != nil {
			return nil, err
		}
		if n, err := wait.Int64(); err != nil {
			return nil, storeError(err)
		} else if n < int64(s.opts.MinReplicas) {
			return nil, hub.Unavailable(fmt.Errorf("redis: message %d held by %d of %d replicas after %v", res[0], n, s.opts.MinReplicas, s.opts.ReplicaTimeout))
		}
		return res, nil
	}
}

// MarkRead implements hub.MessageStore.
func (s *Store) MarkRead(ctx context.Context, sessionID string, by hub.Principal, marker string, upTo int64, at time.Time) (int64, bool, error) {
	body := hub.Event{Type: marker, SessionID: sessionID, From: by.Party(), UpTo: upTo, At: at}.EncodeBody()
	res, err := readScript.Run(ctx, s.rdb, []string{s.sessionKey(sessionID), s.streamKey(sessionID)},
		s.SessionChannel(sessionID), by.Kind, by.ID, privileged(by), upTo, body, s.opts.MaxSessionEvents, marker, s.opts.Prefix,
	).Int64Slice()
	if err != nil {
		return 0, false, scriptError(err)
	}
	return res[0], res[1] == 1, nil
}

// PublishTyping implements hub.MessageStore.
func (s *Store) PublishTyping(ctx context.Context, sessionID string, by hub.Principal, on bool, expires time.Duration, at time.Time) error {
	ev := hub.Event{Type: hub.EventTyping, SessionID: sessionID, From: by.Party(), On: &on, At: at}
	if on {
		ev.ExpiresMS = expires.Milliseconds()
	}
	err := typingScript.Run(ctx, s.rdb, []string{s.sessionKey(sessionID)},
		s.SessionChannel(sessionID), by.Kind, by.ID, privileged(by), ev.EncodeBody()).Err()
	return scriptError(err)
}

// Events implements hub.MessageStore.
func (s *Store) Events(ctx context.Context, sessionID string, after int64, limit int) ([][]byte, error) {
	r, err := s.EventsFrom(ctx, sessionID, after, limit)
	return r.Events, err
}

// EventsFrom returns up to limit events of a session after seq `after`,
// the stream's event at `after` itself (its epoch, see hub.EventRange) and
// the session's seq and epoch, all read at the same moment (one MULTI/EXEC:
// read apart, an event appended in between would look like trimmed
// history). It answers ErrHistoryGone when the session is gone, or when the
// stream no longer holds after+1 although the session went past it (a
// stream trimmed by a version before whole histories). A session whose seq
// is below `after` (a store rolled back) answers no events and its seq: the
// caller compares.
func (s *Store) EventsFrom(ctx context.Context, sessionID string, after int64, limit int) (hub.EventRange, error) {
	var rng *redis.XMessageSliceCmd
	var sess *redis.SliceCmd
	from, count := after, int64(limit)+1 // the anchor, then limit events
	if after == 0 {
		from, count = 1, int64(limit)
	}
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		rng = p.XRangeN(ctx, s.streamKey(sessionID), strconv.FormatInt(from, 10)+"-0", "+", count)
		sess = p.HMGet(ctx, s.sessionKey(sessionID), "seq", "epoch")
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return hub.EventRange{}, storeError(err)
	}
	v := sess.Val()
	last, err := strconv.ParseInt(str(v[0]), 10, 64)
	if err != nil {
		return hub.EventRange{}, hub.ErrHistoryGone // no session (expired, or never was)
	}
	out := hub.EventRange{Seq: last, Epoch: str(v[1])}
	entries := rng.Val()
	if after > 0 && len(entries) > 0 && entries[0].ID == strconv.FormatInt(after, 10)+"-0" {
		e, _ := entries[0].Values["e"].(string)
		out.AnchorKept, out.Anchor = true, hub.EventEpoch([]byte(e))
		entries = entries[1:]
	}
	if len(entries) > limit {
		entries = entries[:limit]
	}
	if len(entries) == 0 {
		if last > after {
			return out, hub.ErrHistoryGone // its events are gone
		}
		return out, nil
	}
	if entries[0].ID != strconv.FormatInt(after+1, 10)+"-0" {
		return out, hub.ErrHistoryGone // trimmed past after+1
	}
	out.Events = make([][]byte, len(entries))
	for i, e := range entries {
		v, _ := e.Values["e"].(string)
		out.Events[i] = []byte(v)
	}
	return out, nil
}

func boolArg(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// pairs turns a flat HGETALL reply from a script into a map.
func pairs(flat []any) map[string]string {
	m := make(map[string]string, len(flat)/2)
	for i := 0; i+1 < len(flat); i += 2 {
		k, _ := flat[i].(string)
		v, _ := flat[i+1].(string)
		m[k] = v
	}
	return m
}

// msTime reads a Unix-millisecond field; "" is the zero time.
func msTime(v string) time.Time {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n == 0 {
		return time.Time{}
	}
	return time.UnixMilli(n).UTC()
}

// decodeSession reads a session hash.
func decodeSession(h map[string]string) (*hub.Session, error) {
	if h["id"] == "" {
		return nil, errors.New("redis: session hash without id")
	}
	number, _ := strconv.ParseInt(h["number"], 10, 64)
	seq, _ := strconv.ParseInt(h["seq"], 10, 64)
	activeMS, _ := strconv.ParseInt(h["active_ms"], 10, 64)
	visitor, _ := strconv.ParseInt(h["visitor"], 10, 64)
	var rating *hub.Rating
	if score, err := strconv.Atoi(h["rating"]); err == nil {
		rating = &hub.Rating{Score: score, Comment: h["rating_comment"]}
	}
	var readBy map[string]int64
	for f, v := range h {
		if who, ok := strings.CutPrefix(f, "read:"); ok {
			if readBy == nil {
				readBy = map[string]int64{}
			}
			readBy[who], _ = strconv.ParseInt(v, 10, 64)
		}
	}
	return &hub.Session{
		ID:            h["id"],
		Number:        number,
		Title:         h["title"],
		Description:   h["description"],
		CustomerID:    h["customer_id"],
		CustomerName:  h["customer_name"],
		CustomerEmail: h["customer_email"],
		AgentID:       h["agent_id"],
		AgentName:     h["agent_name"],
		BotID:         h["bot_id"],
		TeamID:        h["team"],
		State:         hub.State(h["state"]),
		CreatedAt:     msTime(h["created_at"]),
		AssignedAt:    msTime(h["assigned_at"]),
		EndedAt:       msTime(h["ended_at"]),
		ActiveSince:   msTime(h["active_since"]),
		ActiveFor:     time.Duration(activeMS) * time.Millisecond,
		Seq:           seq,
		Visitor:       visitor,
		UserID:        h["user_id"],
		StartedBy:     h["started_by"],
		HandledBy:     h["handled_by"],
		Rating:        rating,
		RatedAt:       msTime(h["rated_at"]),
		ReadBy:        readBy,
		Epoch:         h["epoch"],
		Tags:          decodeTags(h["tags"]),
		Offline:       h["offline"] == "1",
		Call:          decodeCall(h),
		Calls:         decodeCalls(h["calls"]),
		Figures:       decodeFigures(h),
	}, nil
}

// decodeFigures reads the report figures the transitions keep on a
// session (lua/lib.lua: start, close_session; message.lua; transfer.lua).
func decodeFigures(h map[string]string) hub.SessionFigures {
	dur := func(field string) *time.Duration {
		n, err := strconv.ParseInt(h[field], 10, 64)
		if err != nil {
			return nil
		}
		d := time.Duration(n) * time.Millisecond
		return &d
	}
	transfers, _ := strconv.Atoi(h["transfers"])
	f := hub.SessionFigures{Wait: dur("wait_ms"), FirstResponse: dur("first_response_ms"), Handle: dur("handle_ms"),
		Transfers: transfers, Abandoned: h["abandoned"] == "1", Team: h["report_team"]}
	if h["agents"] != "" {
		f.Agents = strings.Split(h["agents"], ",")
	}
	return f
}
