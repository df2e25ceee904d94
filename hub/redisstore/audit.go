package redisstore

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// AuditClass is one kind of key in an audit: how many there are, how many
// carry a TTL, and what bounds the others.
type AuditClass struct {
	Class   string `json:"class"`
	Keys    int    `json:"keys"`
	WithTTL int    `json:"with_ttl"`
	// Bound says what keeps the keys of the class without a TTL from
	// growing without end.
	Bound string `json:"bound"`
}

// Audit is what an audit found: every key of the store by class, and the
// keys that break their class's bound (none on a healthy store).
type Audit struct {
	Keys       int          `json:"keys"`
	Classes    []AuditClass `json:"classes"`
	Violations []string     `json:"violations"`
}

// auditClass describes a key pattern: its class name, and what bounds it.
type auditClass struct {
	name, bound string
	// check, if set, looks at one key of the class (without a TTL) and
	// returns a violation, or "" when the key is within its bound.
	check func(ctx context.Context, a *auditor, key string, parts []string) string
}

// auditor walks a store's keys once.
type auditor struct {
	s   *Store
	rdb redis.UniversalClient
	now time.Time
}

// The key classes, by the shape of the key after the prefix. Each bound is
// what the scripts and the janitor guarantee (docs/operations.md).
var auditClasses = []struct {
	match func(parts []string) bool
	class auditClass
}{
	{func(p []string) bool { return len(p) == 2 && p[0] == "session" }, auditClass{"session", "open sessions; ended ones carry the retention TTL", checkOpenSession}},
	{func(p []string) bool { return len(p) == 3 && p[0] == "session" && p[2] == "events" }, auditClass{"session stream", "the events of an open session (at most SWITCHBOARD_SESSION_MAX_EVENTS); ended ones carry the retention TTL", checkOpenSession}},
	{func(p []string) bool { return len(p) == 3 && p[0] == "session" && (p[2] == "cmids" || p[2] == "skip") }, auditClass{"session client_msg_ids, routing skips", "TTL", mustTTL}},
	{func(p []string) bool { return len(p) == 2 && p[0] == "agent" }, auditClass{"agent", "agent accounts", checkAgent}},
	{func(p []string) bool {
		return len(p) == 3 && p[0] == "agent" && slices.Contains([]string{"sessions", "conns", "ips"}, p[2])
	}, auditClass{"agent sessions, connections", "agent accounts; connections scored by expiry and swept", checkAgent}},
	{func(p []string) bool {
		return len(p) == 1 && slices.Contains([]string{"agents", "teams", "presence", "routable", "available", "bots", "queue", "offers",
			"calls", "idle", "offline", "retire", "ratings", "hooks", "store", "chats"}, p[0]) ||
			len(p) == 2 && slices.Contains([]string{"agents:email", "teams:number", "sessions:number", "messages:number", "customers:number",
				"sessions:last_created", "queue:version", "queue:stats", "files:gone"}, p[0]+":"+p[1])
	}, auditClass{"singleton", "one key each; index members are checked below", checkIndex}},
	{func(p []string) bool { return len(p) == 2 && p[0] == "idx" }, auditClass{"session index", "sessions kept (open, or ended within retention; the janitor retires the rest)", checkIndex}},
	{func(p []string) bool { return len(p) == 2 && p[0] == "tag" }, auditClass{"tag index", "sessions kept; retire takes a session out of its tags", checkIndex}},
	{func(p []string) bool { return len(p) == 3 && p[0] == "session" && p[2] == "tags" }, auditClass{"session tags", "sessions kept; retire deletes them", checkKeptSession}},
	{func(p []string) bool { return len(p) >= 2 && len(p) <= 4 && p[0] == "canned" }, auditClass{"canned replies", "the replies staff keep (and their shortcut and scope indexes)", nil}},
	{func(p []string) bool {
		return len(p) == 2 && p[0] == "team" || len(p) == 3 && p[0] == "team" && p[2] == "agents"
	}, auditClass{"team", "teams", nil}},
	{func(p []string) bool { return len(p) == 2 && p[0] == "customer" }, auditClass{"customer", "customers with a kept session (retire deletes the last)", checkCustomer}},
	{func(p []string) bool { return len(p) == 3 && p[0] == "customer" && p[2] == "open" }, auditClass{"customer open sessions", "open sessions", checkIndex}},
	{func(p []string) bool { return len(p) == 3 && (p[0] == "visitor" || p[0] == "user") && p[2] == "chats" }, auditClass{"history index", "sessions kept; emptied and deleted by retire", checkIndex}},
	{func(p []string) bool {
		return (len(p) == 3 || len(p) == 4 && (p[3] == "t" || p[3] == "a")) && p[0] == "rep" && (p[1] == "h" || p[1] == "d")
	}, auditClass{"report bucket", "an hour's or day's figures (all, teams', agents'): TTL (the report retention)", mustTTL}},
	{func(p []string) bool { return len(p) == 2 && p[0] == "rep" && p[1] == "total" }, auditClass{"report totals", "one key: the counters /metrics exports", nil}},
	{func(p []string) bool { return len(p) == 2 && p[0] == "secret" }, auditClass{"secret", "one per name", nil}},
	{func(p []string) bool {
		return len(p) == 1 && (p[0] == "tenants" || p[0] == "tenant-keys" || p[0] == "tenant-creds")
	}, auditClass{"tenant registry", "one entry per tenant the operator made", nil}},
	{func(p []string) bool { return len(p) >= 2 && p[0] == "hook" && len(p) <= 3 }, auditClass{"webhook endpoint, queue, attempts, failures", "endpoints; queues hold pending deliveries (retried up to SWITCHBOARD_WEBHOOK_MAX_AGE), failures ~10,000 per endpoint, leases a TTL", checkHook}},
}

// Audit walks every key of the store (SCAN, never on a request path: an
// operator's check, and the soak's last step) and checks that each carries
// a TTL or belongs to a class whose size something bounds: a session key
// without a TTL belongs to an open session, an agent's keys to an account,
// index members to kept sessions, webhook keys to an endpoint. Any key of
// no known class is a violation too.
func (s *Store) Audit(ctx context.Context, now time.Time) (*Audit, error) {
	a := &auditor{s: s, rdb: s.rdb, now: now}
	byClass := map[string]*AuditClass{}
	out := &Audit{Violations: []string{}}
	scan := func(ctx context.Context, c redis.UniversalClient) error {
		iter := c.Scan(ctx, 0, s.opts.Prefix+":*", 1000).Iterator()
		for iter.Next(ctx) {
			key := iter.Val()
			out.Keys++
			parts := strings.Split(strings.TrimPrefix(key, s.opts.Prefix+":"), ":")
			cls, ok := classify(parts)
			if !ok {
				out.Violations = append(out.Violations, key+": a key of no known class")
				continue
			}
			ac := byClass[cls.name]
			if ac == nil {
				ac = &AuditClass{Class: cls.name, Bound: cls.bound}
				byClass[cls.name] = ac
			}
			ac.Keys++
			ttl, err := c.PTTL(ctx, key).Result()
			if err != nil {
				return err
			}
			if ttl > 0 {
				ac.WithTTL++
				continue
			}
			if cls.check != nil {
				if v := cls.check(ctx, a, key, parts); v != "" {
					out.Violations = append(out.Violations, key+": "+v)
				}
			}
		}
		return iter.Err()
	}
	var err error
	if cc, ok := s.rdb.(*redis.ClusterClient); ok {
		err = cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error { return scan(ctx, c) })
	} else {
		err = scan(ctx, s.rdb)
	}
	if err != nil {
		return nil, storeError(err)
	}
	for _, c := range byClass {
		out.Classes = append(out.Classes, *c)
	}
	slices.SortFunc(out.Classes, func(x, y AuditClass) int { return strings.Compare(x.Class, y.Class) })
	return out, nil
}

func classify(parts []string) (auditClass, bool) {
	for _, c := range auditClasses {
		if c.match(parts) {
			return c.class, true
		}
	}
	return auditClass{}, false
}

func mustTTL(context.Context, *auditor, string, []string) string { return "no TTL" }

// checkOpenSession: a session's hash or stream without a TTL must belong
// to an open session.
func checkOpenSession(ctx context.Context, a *auditor, key string, parts []string) string {
	state, err := a.rdb.HGet(ctx, a.s.sessionKey(parts[1]), "state").Result()
	switch {
	case err == redis.Nil:
		return "no TTL, and no session"
	case err != nil:
		return err.Error()
	case state == "Ended":
		return "no TTL on an ended session"
	}
	return ""
}

// checkAgent: an agent's keys belong to an account.
func checkAgent(ctx context.Context, a *auditor, key string, parts []string) string {
	if _, err := a.rdb.ZScore(ctx, a.s.key("agents"), parts[1]).Result(); err == redis.Nil {
		return "no TTL, and no agent account " + parts[1]
	}
	return ""
}

// checkCustomer: a customer's record lives while its visitor index does.
func checkCustomer(ctx context.Context, a *auditor, key string, parts []string) string {
	n, err := a.rdb.HGet(ctx, key, "number").Result()
	if err != nil {
		return "a customer without a number"
	}
	if c, _ := a.rdb.Exists(ctx, a.s.key("visitor", n, "chats")).Result(); c == 0 {
		return "a customer with no kept session"
	}
	return ""
}

// checkHook: a webhook key belongs to an endpoint (its lease carries a TTL).
func checkHook(ctx context.Context, a *auditor, key string, parts []string) string {
	if len(parts) == 3 && parts[2] == "lease" {
		return "a lease without a TTL"
	}
	if ok, _ := a.rdb.SIsMember(ctx, a.s.key("hooks"), parts[1]).Result(); !ok {
		return "no TTL, and no endpoint " + parts[1]
	}
	return ""
}

// checkIndex: every session an index names is kept, or due for the
// janitor (in idx:expiry with its moment past); the retire hash names
// only sessions in idx:expiry.
func checkIndex(ctx context.Context, a *auditor, key string, parts []string) string {
	var ids []string
	name := strings.Join(parts, ":")
	switch {
	case name == "retire":
		fields, err := a.rdb.HKeys(ctx, key).Result()
		if err != nil {
			return err.Error()
		}
		for _, f := range fields {
			if _, err := a.rdb.ZScore(ctx, a.s.key("idx", "expiry"), f).Result(); err == redis.Nil {
				return "retires " + f + ", which is not in idx:expiry"
			}
		}
		return ""
	case parts[0] == "idx" || parts[0] == "queue" && len(parts) == 1 || parts[0] == "offers" || parts[0] == "customer" ||
		parts[0] == "tag" || len(parts) == 1 && (parts[0] == "calls" || parts[0] == "idle" || parts[0] == "offline"):
		members, err := a.rdb.ZRange(ctx, key, 0, -1).Result()
		if err != nil {
			return err.Error()
		}
		ids = members
	case parts[0] == "chats" || parts[0] == "visitor" || parts[0] == "user":
		members, err := a.rdb.ZRange(ctx, key, 0, -1).Result()
		if err != nil {
			return err.Error()
		}
		for _, m := range members {
			if _, sid, ok := strings.Cut(m, ":"); ok {
				ids = append(ids, sid)
			}
		}
	default:
		return ""
	}
	missing := 0
	for _, batch := range slices.Collect(slices.Chunk(ids, 500)) {
		pipe := a.rdb.Pipeline()
		cmds := make([]*redis.IntCmd, len(batch))
		for i, sid := range batch {
			cmds[i] = pipe.Exists(ctx, a.s.sessionKey(sid))
		}
		if _, err := pipe.Exec(ctx); err != nil {
			return err.Error()
		}
		for i, c := range cmds {
			if c.Val() == 1 {
				continue
			}
			// Gone: fine while the janitor has it to retire (idx:expiry).
			if _, err := a.rdb.ZScore(ctx, a.s.key("idx", "expiry"), batch[i]).Result(); err == redis.Nil {
				missing++
			}
		}
	}
	if missing > 0 {
		return fmt.Sprintf("%d members name sessions that are gone and not due for retiring", missing)
	}
	return ""
}

// checkKeptSession checks that the session a key belongs to
// (session:<id>:…) is kept, or due for retiring.
func checkKeptSession(ctx context.Context, a *auditor, key string, parts []string) string {
	if n, err := a.rdb.Exists(ctx, a.s.sessionKey(parts[1])).Result(); err != nil || n == 1 {
		return ""
	}
	if _, err := a.rdb.ZScore(ctx, a.s.key("idx", "expiry"), parts[1]).Result(); err == redis.Nil {
		return "belongs to a session that is gone and not due for retiring"
	}
	return ""
}
