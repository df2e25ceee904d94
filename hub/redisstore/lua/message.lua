-- message.lua: append a chat message to a session, once per client_msg_id.
-- KEYS[1] session hash   KEYS[2] session stream
-- KEYS[3] the session's client_msg_id hash (field ARGV[10]: sender role, id
-- and client_msg_id, per sender: two parties may pick the same id). It lives
-- at least the idempotency TTL after the last message (at most 1.5 TTL), and
-- goes with the session.
-- ARGV[1] channel   ARGV[2] sender role   ARGV[3] sender id   ARGV[4] privileged ('1' or '0')
-- ARGV[5] event body   ARGV[6] the session event limit ('0': none)   ARGV[7] idempotency TTL (ms)
-- ARGV[8] key prefix   ARGV[9] now as RFC 3339   ARGV[10] the client_msg_id field
-- ARGV[11] 'note' for a private note (staff only), 'file' for an attachment
-- (the session is marked files = 1, so that retention deletes its files),
-- '' for a message
-- ARGV[12] the idle warning delay (ms; '0': idle auto-close off)   ARGV[13] now (ms)
-- ARGV[14] the report context (see report in lib.lua): the time zone's
-- offset at now, and how long hour and day figures are kept (ms), as
-- "tz_ms,rh_ms,rd_ms"
-- The customer's first message is kept (first_cust_at), and the first
-- reply of the session's agent after it is its first response (in the
-- reports; first_response_ms on the session).
-- With idle auto-close, an agent's message in Agent starts the session's
-- idle clock (idle_at, and prefix:idle for idle.lua) and a customer's
-- message stops it.
-- A message gets the next number of the chat-history surface and queues a
-- message.created webhook delivery; a note gets neither (it is not part of
-- the customer's conversation), nor does it count as a message.
-- Returns {seq, duplicate (0 or 1)}: a retry of a sent message returns the
-- first seq, even after the session ended (and renews the key's TTL). Errors: SB:not_found, SB:ended,
-- SB:forbidden, SB:full (the session holds its limit of events).
local note = ARGV[11] == 'note'
if note and ARGV[2] == 'customer' then
  return redis.error_reply('SB:forbidden')
end
-- retry returns the first seq of a client_msg_id already recorded: its
-- write (the key's TTL renewed) is what a WAIT after this script waits
-- for, and replication is in order, so the replicas that hold it hold the
-- first message too.
local function retry(first)
  redis.call('PEXPIRE', KEYS[3], ARGV[7])
  return {tonumber(first), 1}
end
-- refused answers a message the session refuses (gone, ended, not the
-- sender's, full) unless it is the retry of one it took.
local function refused(reply)
  local first = redis.call('HGET', KEYS[3], ARGV[10])
  if first then
    return retry(first)
  end
  return reply
end
-- The session's fields in one read, and its counters and epoch in one
-- write: what open_for, full and emit read and write one by one, this is
-- the send path (docs/performance.md, round two).
local h = redis.call('HMGET', KEYS[1], 'id', 'state', 'customer_id', 'agent_id', 'bot_id', 'seq', 'messages', 'epoch', 'idle_at',
  'first_cust_at', 'first_reply_at', 'cmids_until')
if not h[1] then
  return refused(redis.error_reply('SB:not_found'))
elseif h[2] == 'Ended' then
  return refused(redis.error_reply('SB:ended'))
elseif not party_may_act(h[2], h[3], h[4], h[5], ARGV[2], ARGV[3], ARGV[4]) then
  return refused(refusal(h[3], h[4], h[5], ARGV[2], ARGV[3]))
end
local seq = (tonumber(h[6]) or 0) + 1
local max = tonumber(ARGV[6]) or 0
if max > 0 and seq > max then
  return refused(redis.error_reply('SB:full'))
end
-- A resharding moves a slot's keys to another master one at a time. The
-- keys in KEYS are checked before the script runs (all here, or TRYAGAIN),
-- but a key derived from the prefix (the store's marker, the message
-- number, the idle and webhook keys) may already be on the new master:
-- Redis refuses that access mid-script and keeps what the script wrote
-- before it. So each is touched before the message's own writes (the
-- session's seq, its event), under pcall; a refusal undoes the one write
-- made before (the client_msg_id's record) and answers TRYAGAIN, which
-- the hub answers unavailable and the client retries with the same
-- client_msg_id once the slot has moved. No client_msg_id is recorded,
-- and no seq taken, without its event (TestSendDuringReshardOnCluster).
local function moving()
  return redis.error_reply('TRYAGAIN a key of the session is moving to another Cluster master; retry')
end
local function refused_here(r)
  return type(r) == 'table' and r.err ~= nil
end
-- The store's epoch, and whether any webhook endpoint is configured
-- (hooks: their number, kept by webhooks.go; absent: not known, look).
local store = redis.pcall('HMGET', ARGV[8] .. ':store', 'epoch', 'hooks')
if refused_here(store) then
  return moving()
end
epoch = store[1] or ''
-- The client_msg_id is recorded with the seq it gets, or found: one
-- command for the check and the record (round three).
if redis.call('HSETNX', KEYS[3], ARGV[10], seq) == 0 then
  return retry(redis.call('HGET', KEYS[3], ARGV[10]))
end
local function undo()
  redis.call('HDEL', KEYS[3], ARGV[10])
  return moving()
end
local messages = tonumber(h[7]) or 0
if not note then
  messages = messages + 1
end
local set = {'seq', seq, 'messages', messages}
local frt -- the first response's time (ms), when this message is it
-- The client_msg_id hash lives at least the idempotency TTL after the
-- last message. Rather than renewing its TTL on every message, a message
-- renews it to 1.5 TTL, and notes until when that holds (cmids_until), once
-- what is left of it falls under one TTL: at most one PEXPIRE per half TTL
-- (12 h by default) of a session's life. A hash that expired or never
-- was is recreated by the HSETNX above with no TTL, and always renewed
-- here: an expired hash is past its cmids_until less one TTL.
local now, ttl = tonumber(ARGV[13]), tonumber(ARGV[7])
if now + ttl > (tonumber(h[12]) or 0) then
  local keep = math.floor(ttl * 1.5)
  redis.call('PEXPIRE', KEYS[3], keep)
  set[#set + 1], set[#set + 2] = 'cmids_until', now + keep
end
if epoch ~= '' and h[8] ~= epoch then
  set[#set + 1], set[#set + 2] = 'epoch', epoch
end
if not note and not h[10] and ARGV[2] == 'customer' then
  set[#set + 1], set[#set + 2] = 'first_cust_at', ARGV[13]
elseif not note and h[10] and not h[11] and ARGV[2] == 'agent' and h[2] == 'Agent' and ARGV[3] == h[4] then
  frt = math.max(tonumber(ARGV[13]) - tonumber(h[10]), 0)
  set[#set + 1], set[#set + 2] = 'first_reply_at', ARGV[13]
  set[#set + 1], set[#set + 2] = 'first_response_ms', frt
end
local idle = tonumber(ARGV[12]) or 0
if idle > 0 and not note then
  if ARGV[2] == 'customer' then
    if h[9] and h[9] ~= '' then
      if refused_here(redis.pcall('ZREM', ARGV[8] .. ':idle', h[1])) then
        return undo()
      end
      redis.call('HDEL', KEYS[1], 'idle_at', 'idle_warned')
    end
  elseif h[2] == 'Agent' then
    set[#set + 1], set[#set + 2] = 'idle_at', now
    set[#set + 1], set[#set + 2] = 'idle_warned', ''
    if refused_here(redis.pcall('ZADD', ARGV[8] .. ':idle', now + idle, h[1])) then
      return undo()
    end
  end
end
if ARGV[11] == 'file' then
  set[#set + 1], set[#set + 2] = 'files', '1'
end
local n
if not note then
  n = redis.pcall('INCR', ARGV[8] .. ':messages:number')
  if refused_here(n) then
    return undo() -- a number lost in the retry is a number skipped, never reused
  end
  -- The webhook deliveries go first too: a refusal after one endpoint's
  -- was queued queues it again with the retry (deliveries are at least
  -- once, and name the session and seq).
  if store[2] ~= '0' and not pcall(hook, ARGV[8], 'message.created', h[1], seq, ARGV[9]) then
    return undo()
  end
end
redis.call('HSET', KEYS[1], unpack(set))
emit_at(KEYS[2], ARGV[1], ARGV[5], n, seq)
if frt then
  -- The first response's figures: a refusal here (a resharding) loses
  -- them, and keeps the message.
  local tz, rh, rd = string.match(ARGV[14], '^(-?%d+),(%d+),(%d+)$')
  D.p, D.now, D.conf = ARGV[8], tonumber(ARGV[13]), {tz_ms = tz, rh_ms = rh, rd_ms = rd}
  pcall(function()
    report(rep_dims(redis.call('HGET', KEYS[1], 'report_team'), ARGV[3]),
      {frt_sum = frt, frt_n = 1, ['frt' .. rep_le(frt)] = 1})
  end)
end
return {seq, 0}
