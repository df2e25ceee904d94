package redisstore

import (
	"context"
	"errors"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/switchboardhq/switchboard/hub"
	"github.com/switchboardhq/switchboard/hub/webhook"
)

// Webhook keys: the set of endpoint ids (prefix:hooks, read by the hook
// helper of the transition scripts), and per endpoint its hash, its queue
// stream (consumer group "senders"), its lease, its attempt records and its
// failures stream.
func (s *Store) hookKey(id string, part ...string) string {
	return s.key(append([]string{"hook", id}, part...)...)
}

const hookGroup = "senders"

// maxFailures caps each endpoint's failures stream (approximately).
const maxFailures = 10000

var (
	_ webhook.Queue = (*Store)(nil)

	leaseScript = newScript(`
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1 end
return 0`)
	releaseScript = newScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`)
	// failScript moves a delivery from the queue to the failures, atomically.
	// KEYS[1] queue   KEYS[2] tries   KEYS[3] failures
	// ARGV[1] entry   ARGV[2] group   ARGV[3] maxlen   ARGV[4...] the failure's fields
	// KEYS[4] the endpoint's hash: a deleted endpoint keeps no failures.
	failScript = newScript(`
if redis.call('EXISTS', KEYS[4]) == 1 then
  redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[3], '*', unpack(ARGV, 4))
end
redis.call('XACK', KEYS[1], ARGV[2], ARGV[1])
redis.call('XDEL', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1] .. ':n', ARGV[1] .. ':first', ARGV[1] .. ':body')
return 1`)
	// doneScript removes a delivered (or skipped) entry.
	doneScript = newScript(`
redis.call('XACK', KEYS[1], ARGV[2], ARGV[1])
redis.call('XDEL', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1] .. ':n', ARGV[1] .. ':first', ARGV[1] .. ':body')
return 1`)
	// replayScript queues a failure again, with its payload, and drops it
	// from the failures. KEYS[1] failures   KEYS[2] queue   ARGV[1] failure id
	replayScript = newScript(`
local f = redis.call('XRANGE', KEYS[1], ARGV[1], ARGV[1])[1]
if not f then return redis.error_reply('SB:not_found') end
local h = {}
for i = 1, #f[2], 2 do h[f[2][i]] = f[2][i + 1] end
redis.call('XADD', KEYS[2], '*', 'type', h.type, 'sid', h.sid, 'seq', h.seq, 'ep', h.ep or '', 'at', h.at, 'body', h.body)
redis.call('XDEL', KEYS[1], ARGV[1])
return 1`)
)

// streamID reports whether id is a stream entry id, <ms>-<n>, both parts
// 64-bit numbers (Redis refuses anything else with an error, not a miss).
func streamID(id string) bool {
	ms, n, ok := strings.Cut(id, "-")
	if !ok {
		return false
	}
	_, err1 := strconv.ParseUint(ms, 10, 64)
	_, err2 := strconv.ParseUint(n, 10, 64)
	return err1 == nil && err2 == nil && !strings.HasPrefix(ms, "+") && !strings.HasPrefix(n, "+")
}

// ErrEndpointNotFound says there is no webhook endpoint with that id.
var ErrEndpointNotFound = &hub.Error{Code: hub.ENOTFOUND, Message: "webhook endpoint not found"}

// ErrFailureNotFound says the endpoint has no failure with that id.
var ErrFailureNotFound = &hub.Error{Code: hub.ENOTFOUND, Message: "failed delivery not found"}

// hooksCount keeps the number of webhook endpoints (the set prefix:hooks)
// in the store's hash (field hooks), in the transaction that adds or
// removes one: message.lua reads it in the same HMGET as the store's
// epoch and skips the SMEMBERS of the endpoints when there are none, one
// command less per message (docs/performance.md, round three). A store
// whose hash has no such field (written before it, or recreated) looks
// at the set as before.
var hooksCount = newScript(`return redis.call('HSET', KEYS[2], 'hooks', redis.call('SCARD', KEYS[1]))`)

// PutEndpoint stores an endpoint and creates its queue: from now on every
// event is queued for it.
func (s *Store) PutEndpoint(ctx context.Context, e *webhook.Endpoint) error {
	err := s.rdb.XGroupCreateMkStream(ctx, s.hookKey(e.ID, "q"), hookGroup, "0").Err()
	if err != nil && !strings.Contains(err.Error(), "BUSYGROUP") {
		return storeError(err)
	}
	_, err = s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.HSet(ctx, s.hookKey(e.ID), "id", e.ID, "url", e.URL, "secret", e.Secret,
			"events", strings.Join(e.Events, ","), "created_at", ms(e.CreatedAt))
		p.SAdd(ctx, s.key("hooks"), e.ID)
		hooksCount.Eval(ctx, p, []string{s.key("hooks"), s.key("store")})
		return nil
	})
	if err != nil {
		return storeError(err)
	}
	return nil
}

// DeleteEndpoint removes an endpoint with its queue, failures and records.
func (s *Store) DeleteEndpoint(ctx context.Context, id string) error {
	var rem *redis.IntCmd
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		rem = p.SRem(ctx, s.key("hooks"), id)
		hooksCount.Eval(ctx, p, []string{s.key("hooks"), s.key("store")})
		return nil
	})
	if err != nil {
		return storeError(err)
	}
	if rem.Val() == 0 {
		return ErrEndpointNotFound
	}
	err = s.rdb.Del(ctx, s.hookKey(id), s.hookKey(id, "q"), s.hookKey(id, "tries"), s.hookKey(id, "lease"), s.hookKey(id, "failed")).Err()
	if err != nil {
		return storeError(err)
	}
	return nil
}

// Endpoint returns one endpoint and how many deliveries wait in its queue.
func (s *Store) Endpoint(ctx context.Context, id string) (*webhook.Endpoint, int64, error) {
	var h *redis.MapStringStringCmd
	var n *redis.IntCmd
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		h = p.HGetAll(ctx, s.hookKey(id))
		n = p.XLen(ctx, s.hookKey(id, "q"))
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, 0, storeError(err)
	}
	if len(h.Val()) == 0 {
		return nil, 0, ErrEndpointNotFound
	}
	return decodeEndpoint(h.Val()), n.Val(), nil
}

func decodeEndpoint(h map[string]string) *webhook.Endpoint {
	e := &webhook.Endpoint{ID: h["id"], URL: h["url"], Secret: h["secret"], CreatedAt: msTime(h["created_at"])}
	if h["events"] != "" {
		e.Events = strings.Split(h["events"], ",")
	}
	return e
}

// Endpoints implements webhook.Queue, oldest first.
func (s *Store) Endpoints(ctx context.Context) ([]*webhook.Endpoint, error) {
	ids, err := s.rdb.SMembers(ctx, s.key("hooks")).Result()
	if err != nil {
		return nil, storeError(err)
	}
	if len(ids) == 0 {
		return nil, nil
	}
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.MapStringStringCmd, len(ids))
	for i, id := range ids {
		cmds[i] = pipe.HGetAll(ctx, s.hookKey(id))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, storeError(err)
	}
	out := make([]*webhook.Endpoint, 0, len(ids))
	for _, c := range cmds {
		if len(c.Val()) > 0 {
			out = append(out, decodeEndpoint(c.Val()))
		}
	}
	sort.Slice(out, func(i, j int) bool {
		return out[i].CreatedAt.Before(out[j].CreatedAt) || out[i].CreatedAt.Equal(out[j].CreatedAt) && out[i].ID < out[j].ID
	})
	return out, nil
}

// Lease implements webhook.Queue.
func (s *Store) Lease(ctx context.Context, id, owner string, ttl time.Duration) (bool, error) {
	n, err := leaseScript.Run(ctx, s.rdb, []string{s.hookKey(id, "lease")}, owner, ttl.Milliseconds()).Int()
	if err != nil {
		return false, storeError(err)
	}
	return n == 1, nil
}

// Release implements webhook.Queue.
func (s *Store) Release(ctx context.Context, id, owner string) error {
	return releaseScript.Run(ctx, s.rdb, []string{s.hookKey(id, "lease")}, owner).Err()
}

func delivery(m redis.XMessage) *webhook.Delivery {
	v := func(k string) string { s, _ := m.Values[k].(string); return s }
	seq, _ := strconv.ParseInt(v("seq"), 10, 64)
	d := &webhook.Delivery{Entry: m.ID, Kind: v("type"), SessionID: v("sid"), Seq: seq, Epoch: v("ep"), At: v("at")}
	if b := v("body"); b != "" {
		d.Body = []byte(b)
	}
	return d
}

// Next implements webhook.Queue. XAUTOCLAIM with no idle time takes over
// what another consumer left pending: only the lease holder reads, so any
// pending entry is one a former holder did not finish.
func (s *Store) Next(ctx context.Context, id, owner string, block time.Duration) (*webhook.Delivery, error) {
	q := s.hookKey(id, "q")
	msgs, _, err := s.rdb.XAutoClaim(ctx, &redis.XAutoClaimArgs{Stream: q, Group: hookGroup, Consumer: owner, Start: "0-0", Count: 1}).Result()
	if err != nil && strings.Contains(err.Error(), "NOGROUP") {
		// The queue is gone: the endpoint was deleted (the worker stops), or
		// Redis lost it (recreated while the endpoint exists).
		if n, err := s.rdb.Exists(ctx, s.hookKey(id)).Result(); err != nil || n == 0 {
			return nil, err
		}
		if err := s.rdb.XGroupCreateMkStream(ctx, q, hookGroup, "0").Err(); err != nil && !strings.Contains(err.Error(), "BUSYGROUP") {
			return nil, storeError(err)
		}
		return nil, nil
	} else if err != nil {
		return nil, storeError(err)
	}
	if len(msgs) > 0 {
		return delivery(msgs[0]), nil
	}
	streams, err := s.rdb.XReadGroup(ctx, &redis.XReadGroupArgs{Group: hookGroup, Consumer: owner, Streams: []string{q, ">"}, Count: 1, Block: block}).Result()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	} else if err != nil {
		return nil, storeError(err)
	}
	for _, st := range streams {
		for _, m := range st.Messages {
			return delivery(m), nil
		}
	}
	return nil, nil
}

// attemptScript records one more attempt of a delivery, unless its endpoint
// was deleted meanwhile (then it writes nothing and answers SB:gone).
// KEYS[1] the endpoint's hash   KEYS[2] tries   ARGV[1] entry   ARGV[2] now (ms)   ARGV[3] payload
// Returns {attempts, first attempt (ms), payload}.
var attemptScript = newScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return redis.error_reply('SB:gone') end
local n = redis.call('HINCRBY', KEYS[2], ARGV[1] .. ':n', 1)
redis.call('HSETNX', KEYS[2], ARGV[1] .. ':first', ARGV[2])
redis.call('HSETNX', KEYS[2], ARGV[1] .. ':body', ARGV[3])
local v = redis.call('HMGET', KEYS[2], ARGV[1] .. ':first', ARGV[1] .. ':body')
return {n, v[1], v[2]}`)

// Attempt implements webhook.Queue.
func (s *Store) Attempt(ctx context.Context, id string, d *webhook.Delivery, body []byte, now time.Time) (int, time.Time, []byte, error) {
	res, err := attemptScript.Run(ctx, s.rdb, []string{s.hookKey(id), s.hookKey(id, "tries")}, d.Entry, ms(now), body).Slice()
	if err != nil && strings.HasSuffix(err.Error(), "SB:gone") {
		return 0, time.Time{}, nil, ErrEndpointNotFound
	} else if err != nil {
		return 0, time.Time{}, nil, storeError(err)
	}
	n, _ := res[0].(int64)
	return int(n), msTime(str(res[1])), []byte(str(res[2])), nil
}

// Done implements webhook.Queue.
func (s *Store) Done(ctx context.Context, id string, d *webhook.Delivery) error {
	return doneScript.Run(ctx, s.rdb, []string{s.hookKey(id, "q"), s.hookKey(id, "tries")}, d.Entry, hookGroup).Err()
}

// Fail implements webhook.Queue.
func (s *Store) Fail(ctx context.Context, id string, d *webhook.Delivery, attempts int, lastErr string, now time.Time) error {
	body := d.Body
	if body == nil {
		if b, err := s.rdb.HGet(ctx, s.hookKey(id, "tries"), d.Entry+":body").Result(); err == nil {
			body = []byte(b)
		}
	}
	return failScript.Run(ctx, s.rdb, []string{s.hookKey(id, "q"), s.hookKey(id, "tries"), s.hookKey(id, "failed"), s.hookKey(id)},
		d.Entry, hookGroup, maxFailures,
		"type", d.Kind, "sid", d.SessionID, "seq", d.Seq, "ep", d.Epoch, "at", d.At, "body", body,
		"attempts", attempts, "error", lastErr, "failed_at", ms(now)).Err()
}

// Failures returns up to limit of an endpoint's failed deliveries, newest first.
func (s *Store) Failures(ctx context.Context, id string, limit int) ([]webhook.Failure, error) {
	msgs, err := s.rdb.XRevRangeN(ctx, s.hookKey(id, "failed"), "+", "-", int64(limit)).Result()
	if err != nil {
		return nil, storeError(err)
	}
	out := make([]webhook.Failure, 0, len(msgs))
	for _, m := range msgs {
		attempts, _ := strconv.Atoi(str(m.Values["attempts"]))
		out = append(out, webhook.Failure{ID: m.ID, Delivery: *delivery(m), Attempts: attempts,
			LastError: str(m.Values["error"]), FailedAt: msTime(str(m.Values["failed_at"]))})
	}
	return out, nil
}

// Replay queues a failed delivery again (with the same id and payload).
// A failure id that is not a stream entry id ("<ms>-<n>") names nothing.
func (s *Store) Replay(ctx context.Context, id, failureID string) error {
	if !streamID(failureID) {
		return ErrFailureNotFound
	}
	err := replayScript.Run(ctx, s.rdb, []string{s.hookKey(id, "failed"), s.hookKey(id, "q")}, failureID).Err()
	if err != nil && strings.HasSuffix(err.Error(), "SB:not_found") {
		return ErrFailureNotFound
	}
	if err != nil {
		return storeError(err)
	}
	return nil
}
