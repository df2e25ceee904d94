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
-- The client_msg_id is recorded with the seq it gets, or found: one
-- command for the check and the record (round three).
if redis.call('HSETNX', KEYS[3], ARGV[10], seq) == 0 then
  return retry(redis.call('HGET', KEYS[3], ARGV[10]))
end
-- The store's epoch, and whether any webhook endpoint is configured
-- (hooks: their number, kept by webhooks.go; absent: not known, look).
local store = redis.call('HMGET', ARGV[8] .. ':store', 'epoch', 'hooks')
epoch = store[1] or ''
local messages = tonumber(h[7]) or 0
if not note then
  messages = messages + 1
end
local set = {'seq', seq, 'messages', messages}
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
  local frt = math.max(tonumber(ARGV[13]) - tonumber(h[10]), 0)
  set[#set + 1], set[#set + 2] = 'first_reply_at', ARGV[13]
  set[#set + 1], set[#set + 2] = 'first_response_ms', frt
  local tz, rh, rd = string.match(ARGV[14], '^(-?%d+),(%d+),(%d+)$')
  D.p, D.now, D.conf = ARGV[8], tonumber(ARGV[13]), {tz_ms = tz, rh_ms = rh, rd_ms = rd}
  report(rep_dims(redis.call('HGET', KEYS[1], 'report_team'), ARGV[3]),
    {frt_sum = frt, frt_n = 1, ['frt' .. rep_le(frt)] = 1})
end
local idle = tonumber(ARGV[12]) or 0
if idle > 0 and not note then
  if ARGV[2] == 'customer' then
    if h[9] and h[9] ~= '' then
      redis.call('HDEL', KEYS[1], 'idle_at', 'idle_warned')
      redis.call('ZREM', ARGV[8] .. ':idle', h[1])
    end
  elseif h[2] == 'Agent' then
    set[#set + 1], set[#set + 2] = 'idle_at', now
    set[#set + 1], set[#set + 2] = 'idle_warned', ''
    redis.call('ZADD', ARGV[8] .. ':idle', now + idle, h[1])
  end
end
if ARGV[11] == 'file' then
  set[#set + 1], set[#set + 2] = 'files', '1'
end
redis.call('HSET', KEYS[1], unpack(set))
if note then
  emit_at(KEYS[2], ARGV[1], ARGV[5], nil, seq)
else
  emit_at(KEYS[2], ARGV[1], ARGV[5], redis.call('INCR', ARGV[8] .. ':messages:number'), seq)
  if store[2] ~= '0' then
    hook(ARGV[8], 'message.created', h[1], seq, ARGV[9])
  end
end
return {seq, 0}
