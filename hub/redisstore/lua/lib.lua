-- lib.lua: helpers prepended to every script of this folder (Redis scripts
-- cannot call each other). Every key a script touches carries the configured
-- prefix, and with it one Cluster hash tag, so keys a script derives from
-- the prefix (prefix .. ':session:' .. id) live in the slot of its KEYS.

-- epoch is the epoch of the last event emit appended in this script call
-- (hook queues it with the webhook delivery).
local epoch = ''

-- emit_at appends the event body (a JSON object) with seq and the epoch
-- spliced in front to the session's stream, with the explicit id seq-0 and
-- n (its chat-history number) when given, and publishes it on channel: the
-- second half of emit, for a script that updated the session's hash itself
-- (message.lua). epoch must be set.
--
-- emit appends one event to a session: it takes the next seq of the session
-- (HINCRBY on its hash), splices the seq and the store's epoch (the field
-- epoch of prefix:store, see store_check.lua; left out while there is none)
-- in front of the JSON object body, keeps that epoch as the session's (the
-- epoch of its last event), appends the result to the session's
-- stream with the explicit id seq-0 and publishes it on channel. The stream
-- is never trimmed: it is the session's whole history for as long as the
-- session is kept (message.lua and read.lua refuse to go past the session's
-- event limit instead, see full). Returns the seq.
local function emit_at(stream_key, channel, body, n, seq)
  local head = '{"seq":' .. seq .. ','
  if epoch ~= '' then
    head = head .. '"epoch":"' .. epoch .. '",'
  end
  local ev = head .. string.sub(body, 2)
  if n then
    redis.call('XADD', stream_key, seq .. '-0', 'e', ev, 'n', n)
  else
    redis.call('XADD', stream_key, seq .. '-0', 'e', ev)
  end
  redis.call('PUBLISH', channel, ev)
end

local function emit(prefix, session_key, stream_key, channel, body, n)
  local seq = redis.call('HINCRBY', session_key, 'seq', 1)
  epoch = redis.call('HGET', prefix .. ':store', 'epoch') or ''
  if epoch ~= '' and redis.call('HGET', session_key, 'epoch') ~= epoch then
    redis.call('HSET', session_key, 'epoch', epoch)
  end
  emit_at(stream_key, channel, body, n, seq)
  return seq
end

-- full reports whether the session at key holds max events already (max
-- '0': no limit): past that, its parties' messages and markers are refused
-- (SB:full) rather than the history trimmed.
local function full(key, max)
  max = tonumber(max) or 0
  return max > 0 and (tonumber(redis.call('HGET', key, 'seq')) or 0) >= max
end

-- chat_member is how a session appears in the chat-history indexes
-- (prefix:chats, prefix:visitor:<n>:chats, prefix:user:<id>:chats), all
-- scored by creation time: its number, zero-padded so that sessions created
-- in the same millisecond sort by number, then its id.
local function chat_member(number, sid)
  return string.format('%012d', tonumber(number)) .. ':' .. sid
end

-- hook queues a webhook delivery of a session's event (type, the event's
-- seq, and the epoch it was appended in) on every configured endpoint's
-- stream, in the same script as the event itself: a delivery is queued if
-- and only if the event happened.
local function hook(prefix, kind, sid, seq, at)
  local eps = redis.call('SMEMBERS', prefix .. ':hooks')
  for _, ep in ipairs(eps) do
    redis.call('XADD', prefix .. ':hook:' .. ep .. ':q', '*', 'type', kind, 'sid', sid, 'seq', seq, 'at', at, 'ep', epoch)
  end
end

-- open_session reads the id and state of the session at key, in one
-- round trip. It returns them, or nil and the error reply to return: SB:not_found
-- when there is no such session, SB:ended when it has ended.
local function open_session(key)
  local h = redis.call('HMGET', key, 'id', 'state')
  if not h[1] then
    return nil, nil, redis.error_reply('SB:not_found')
  elseif h[2] == 'Ended' then
    return nil, nil, redis.error_reply('SB:ended')
  end
  return h[1], h[2]
end

-- may_act reports whether a party may act on the open session at key (in
-- state): its customer, its agent while the session is in Agent, or a
-- privileged party (supervisor, admin, the system) whatever the state.
local function may_act(key, state, role, id, privileged)
  if privileged == '1' then
    return true
  elseif role == 'customer' then
    return redis.call('HGET', key, 'customer_id') == id
  elseif role == 'agent' then
    if state == 'Chatbot' then
      return redis.call('HGET', key, 'bot_id') == id
    end
    return state == 'Agent' and redis.call('HGET', key, 'agent_id') == id
  end
  return false
end

-- party_may_act is may_act on fields already read: the session's state,
-- customer_id, agent_id and bot_id.
local function party_may_act(state, customer, agent, bot, role, id, privileged)
  if privileged == '1' then
    return true
  elseif role == 'customer' then
    return customer == id
  elseif role == 'agent' then
    if state == 'Chatbot' then
      return bot == id
    end
    return state == 'Agent' and agent == id
  end
  return false
end

-- refusal is refuse on fields already read.
local function refusal(customer, agent, bot, role, id)
  if role == 'customer' and customer == id or role == 'agent' and (agent == id or bot == id) then
    return redis.error_reply('SB:forbidden')
  end
  return redis.error_reply('SB:not_found')
end

-- refuse returns the error for a party may_act refused: SB:forbidden to
-- the session's own customer or agent (it may read it, not do this now),
-- SB:not_found to anyone else, so that session ids cannot be probed.
local function refuse(key, role, id)
  local h = redis.call('HMGET', key, 'customer_id', 'agent_id', 'bot_id')
  return refusal(h[1], h[2], h[3], role, id)
end

-- open_for reads the open session at key and checks that the party may
-- act on it: it returns its id and state, or nil and the error reply
-- (SB:not_found, SB:ended, SB:forbidden).
local function open_for(key, role, id, privileged)
  local sid, state, err = open_session(key)
  if err then
    return nil, nil, err
  elseif not may_act(key, state, role, id, privileged) then
    return nil, nil, refuse(key, role, id)
  end
  return sid, state
end

-- retire removes every trace of an ended session whose retention ran out:
-- its entries in the history indexes (from what close and rate recorded in
-- prefix:retire, since its hash may have expired already), its customer
-- record once no chat of that customer is left, its share of the rating
-- counters, its hash and its stream.
local function retire(prefix, sid)
  local raw = redis.call('HGET', prefix .. ':retire', sid)
  if raw then
    local r = cjson.decode(raw)
    local m = chat_member(r.n, sid)
    redis.call('ZREM', prefix .. ':chats', m)
    local vkey = prefix .. ':visitor:' .. r.v .. ':chats'
    redis.call('ZREM', vkey, m)
    if r.u and r.u ~= '' then
      redis.call('ZREM', prefix .. ':user:' .. r.u .. ':chats', m)
    end
    if redis.call('EXISTS', vkey) == 0 then
      redis.call('DEL', prefix .. ':customer:' .. r.c)
    end
    if r.r then
      redis.call('HINCRBY', prefix .. ':ratings', 'sum', -r.r)
      redis.call('HINCRBY', prefix .. ':ratings', 'count', -1)
      if r.a and r.a ~= '' and redis.call('EXISTS', prefix .. ':agent:' .. r.a) == 1 then
        redis.call('HINCRBY', prefix .. ':agent:' .. r.a, 'rating_sum', -r.r)
        redis.call('HINCRBY', prefix .. ':agent:' .. r.a, 'rating_count', -1)
      end
    end
    if r.f then
      redis.call('LPUSH', prefix .. ':files:gone', sid)
    end
    redis.call('HDEL', prefix .. ':retire', sid)
  end
  local tkey = prefix .. ':session:' .. sid .. ':tags'
  for _, t in ipairs(redis.call('SMEMBERS', tkey)) do
    redis.call('ZREM', prefix .. ':tag:' .. t, sid)
  end
  redis.call('DEL', prefix .. ':session:' .. sid, prefix .. ':session:' .. sid .. ':events',
    prefix .. ':session:' .. sid .. ':cmids', tkey)
  redis.call('ZREM', prefix .. ':idx:expiry', sid)
  redis.call('ZREM', prefix .. ':offline', sid)
  redis.call('ZREM', prefix .. ':idx:all', sid)
  redis.call('ZREM', prefix .. ':idx:Ended', sid)
  redis.call('ZREM', prefix .. ':idx:ended_at', sid)
end

-- prune retires up to limit ended sessions whose retention ran out by now
-- (idx:expiry is scored by that moment). Their hashes and streams also
-- carry that TTL, so they are gone on time even before prune runs; prune
-- is what leaves no index member behind. Returns how many it retired.
local function prune(prefix, now, limit)
  local ids = redis.call('ZRANGEBYSCORE', prefix .. ':idx:expiry', '-inf', now, 'LIMIT', 0, limit)
  for _, sid in ipairs(ids) do
    retire(prefix, sid)
  end
  return #ids
end

-- The desk: presence, statuses, the queue and routing. The scripts that
-- use these helpers call desk() first with the same five arguments, which
-- every such script takes as ARGV[1..5]: the key prefix, now (ms), now as
-- RFC 3339 (for the events' "at"), the session event limit, and a JSON
-- object of the policy (offer_ms, skip_ms, grace_ms, ttl_ms).
local D = {}
local function desk(prefix, now, iso, max_events, conf)
  D.p, D.now, D.iso, D.max_events = prefix, tonumber(now), iso, max_events
  D.conf = cjson.decode(conf)
  D.qc = false
end

-- k joins a key under the prefix: k('agent', id) is prefix:agent:<id>.
local function k(...)
  return D.p .. ':' .. table.concat({...}, ':')
end

local function num(v)
  return tonumber(v) or 0
end

-- notice publishes an event on an agent-wide topic (no stream, no seq).
local function notice(topic, obj)
  obj.at = D.iso
  redis.call('PUBLISH', D.p .. ':ch:' .. topic, cjson.encode(obj))
end

-- session_event appends an event built from obj to the session's stream
-- and publishes it; it returns its seq. n, when given, is the event's
-- number as a message of the chat-history surface (stored beside it).
-- Supervisors hear of it as a session.changed notice (every event but
-- messages and markers goes through here), which is how their views of the
-- sessions stay live without following every session.
local function session_event(sid, obj, n)
  obj.session_id = sid
  obj.at = D.iso
  local seq = emit(D.p, k('session', sid), k('session', sid, 'events'), D.p .. ':ch:session:' .. sid, cjson.encode(obj), n)
  notice('supervisors', {type = 'session.changed', session_id = sid, event = obj.type, last_seq = seq})
  return seq
end

-- flush tells every instance that the queue or the set of routable agents
-- changed, once per script: they recompute queue positions and route.
local function flush()
  if D.qc then
    local v = redis.call('INCR', k('queue', 'version'))
    redis.call('PUBLISH', D.p .. ':ch:queue', '{"type":"queue.changed","v":' .. v .. '}')
  end
end

-- dequeued records that a session left the queue for an agent: an
-- exponential moving average of the interval between such moments is what
-- the estimated wait multiplies by the position. Intervals are capped at
-- ten minutes so that one quiet hour does not distort the estimate.
local function dequeued()
  local qs = k('queue', 'stats')
  local h = redis.call('HMGET', qs, 'last', 'ewma')
  if h[1] then
    local dt = math.min(D.now - num(h[1]), 600000)
    local ewma = h[2] and (0.8 * num(h[2]) + 0.2 * dt) or dt
    redis.call('HSET', qs, 'ewma', string.format('%.0f', ewma))
  end
  redis.call('HSET', qs, 'last', D.now)
end

-- unqueue takes a session off the queue; it reports whether it was there.
local function unqueue(sid)
  if redis.call('ZREM', k('queue'), sid) == 1 then
    D.qc = true
    return true
  end
  return false
end

-- Reports (docs/reports.md): the figures of each session are recorded by
-- the transitions where they happen, and counted at that moment in three
-- places: the local hour's (prefix:rep:h:<n>, n hours since the epoch in
-- the hub's time zone), the local day's (prefix:rep:d:<n>) and the totals
-- (prefix:rep:total, what /metrics exports). An hour or day has three
-- hashes, one per dimension: the whole contact center's (rep:h:<n>, one
-- field per figure), its teams' (rep:h:<n>:t) and its agents'
-- (rep:h:<n>:a), with one field per team or agent and figure,
-- "<id>|<figure>": the whole contact center's stays small (and quick to
-- read) however many agents there are. Figures: created, offline, answered, abandoned,
-- ended, transfers, the sums and counts of wait (ms), frt (first
-- response, ms) and handle (ms), a histogram of wait and frt (<name>_le_<s>:
-- how many were at most s seconds and more than the bound before; _le_inf
-- past the last), rating_sum, rating_n, rating_pos (4 or 5 stars), and for
-- agents st:<status> (ms in that shown status). The policy's JSON carries
-- the time zone's offset at now (tz_ms) and how long the hour and day
-- hashes are kept after their end (rh_ms, rd_ms).
local rep_bounds = {5, 10, 15, 20, 30, 45, 60, 90, 120, 180, 300, 600, 900, 1800, 3600}

-- rep_ttls returns how long hour and day figures are kept (ms): the
-- policy's, or the defaults (30 and 400 days) for a script given none, so
-- that figures never expire with their hour.
local function rep_ttls()
  local rh, rd = num(D.conf.rh_ms), num(D.conf.rd_ms)
  return rh > 0 and rh or 2592000000, rd > 0 and rd or 34560000000
end

-- rep_le returns the histogram field suffix of a duration in ms.
local function rep_le(ms)
  for _, b in ipairs(rep_bounds) do
    if ms <= b * 1000 then
      return '_le_' .. b
    end
  end
  return '_le_inf'
end

-- rep_dims returns the dimensions an observation counts in, as {hash
-- suffix, field prefix}: all, and its team and agent when it has them.
local function rep_dims(team, agent)
  local dims = {{'', ''}}
  if team and team ~= '' then
    dims[#dims + 1] = {':t', team .. '|'}
  end
  if agent and agent ~= '' then
    dims[#dims + 1] = {':a', agent .. '|'}
  end
  return dims
end

-- report adds the figures of incr (figure -> amount) to the hour, day and
-- totals of now, in every dimension of dims.
local function report(dims, incr)
  local off = num(D.conf.tz_ms)
  local hn = math.floor((D.now + off) / 3600000)
  local dn = math.floor((D.now + off) / 86400000)
  local hk, dk, tk = k('rep', 'h', hn), k('rep', 'd', dn), k('rep', 'total')
  for f, v in pairs(incr) do
    for _, dim in ipairs(dims) do
      redis.call('HINCRBY', hk .. dim[1], dim[2] .. f, v)
      redis.call('HINCRBY', dk .. dim[1], dim[2] .. f, v)
    end
    redis.call('HINCRBY', tk, f, v)
  end
  local rh, rd = rep_ttls()
  for _, dim in ipairs(dims) do
    redis.call('PEXPIREAT', hk .. dim[1], (hn + 1) * 3600000 - off + rh)
    redis.call('PEXPIREAT', dk .. dim[1], (dn + 1) * 86400000 - off + rd)
  end
end

-- report_span adds the time from..to (ms) that agent aid spent in a shown
-- status to the hours and days it overlaps, as far back as each is kept.
-- The offset at now splits it: across a change of daylight saving time a
-- span's hours are off by the change.
local function report_span(aid, status, from, to)
  local off = num(D.conf.tz_ms)
  local field = aid .. '|st:' .. status
  local rh, rd = rep_ttls()
  for _, g in ipairs({{'h', 3600000, rh}, {'d', 86400000, rd}}) do
    local span, ttl = g[2], g[3]
    local lo = math.max(from, to - ttl)
    local b = math.floor((lo + off) / span)
    while lo < to do
      local bend = (b + 1) * span - off
      local piece = math.min(bend, to) - math.max(b * span - off, lo)
      if piece > 0 then
        local key = k('rep', g[1], b, 'a')
        redis.call('HINCRBY', key, field, piece)
        redis.call('PEXPIREAT', key, bend + ttl)
      end
      if bend >= to then
        break
      end
      b = b + 1
    end
  end
end

-- agent_sync recomputes an agent's shown status and its place among the
-- routable agents from what it is: Offline without a live connection (or a
-- grace period running), In-call with at least one session, else the
-- status it chose. A change is published to the agent and to supervisors.
-- Routable agents (online, chose Available, enabled, under capacity) are
-- scored by load, then by how long they have been idle, so that the first
-- of the routable set is whom routing picks. Online bots are kept apart.
local function agent_sync(id)
  if not id or id == '' then
    return
  end
  local key = k('agent', id)
  local a = redis.call('HMGET', key, 'id', 'status', 'chosen', 'online', 'capacity', 'disabled',
    'idle_since', 'grace_until', 'role', 'status_since')
  if not a[1] then
    return
  end
  local sessions = redis.call('SMEMBERS', key .. ':sessions')
  local active = 0
  for _, sid in ipairs(sessions) do
    local st = redis.call('HGET', k('session', sid), 'state')
    if st == 'Agent' or st == 'Chatbot' then
      active = active + 1
    end
  end
  local online = a[4] == '1'
  local chosen = a[3] or 'Available'
  local status
  if not online and num(a[8]) <= D.now then
    status = 'Offline'
  elseif a[9] == 'bot' then
    status = 'Available'
  elseif active > 0 then
    status = 'In-call'
  else
    status = chosen
  end
  if status ~= a[2] then
    -- The time in the status it leaves goes to the reports (an agent
    -- kept from before reports has no status_since: its first change
    -- starts the count).
    local since = num(a[10])
    if since > 0 and since < D.now and a[9] ~= 'bot' then
      report_span(id, a[2] or 'Offline', since, D.now)
    end
    redis.call('HSET', key, 'status', status, 'status_since', D.now)
    local ev = {type = 'agent.status', agent_id = id, status = status, previous = a[2] or 'Offline'}
    notice('agent:' .. id, ev)
    notice('supervisors', ev)
  elseif not a[10] then
    redis.call('HSET', key, 'status_since', D.now)
  end
  -- prefix:available holds the agents a customer may expect an answer
  -- from: online, Available by choice and enabled, at capacity or not
  -- (the widget offers its offline form when none is, nor a bot).
  if online and chosen == 'Available' and a[6] ~= '1' and a[9] ~= 'bot' then
    redis.call('SADD', k('available'), id)
  else
    redis.call('SREM', k('available'), id)
  end
  if a[9] == 'bot' then
    if online and a[6] ~= '1' then
      redis.call('ZADD', k('bots'), #sessions, id)
    else
      redis.call('ZREM', k('bots'), id)
    end
    return
  end
  local rk = k('routable')
  local old = redis.call('ZSCORE', rk, id)
  if online and chosen == 'Available' and a[6] ~= '1' and #sessions < num(a[5]) then
    local score = string.format('%.0f', #sessions * 1e10 + num(a[7]))
    if old ~= score then
      redis.call('ZADD', rk, score, id)
      D.qc = true
    end
  elseif old then
    redis.call('ZREM', rk, id)
    D.qc = true
  end
end

-- party returns how events name an agent.
local function party(id, name)
  local p = {role = 'agent', id = id}
  if name and name ~= '' then
    p.name = name
  end
  return p
end

-- The fields of a session's call in progress (at most one), kept in the
-- session's hash: call_id, call_state (ringing, accepted, connected),
-- call_media, call_from (the inviter's role), call_at, call_acc_at and
-- call_con_at (ms), per leg ('c' the customer, 'a' the agent) its device
-- and socket (call_c_dev, call_c_conn, call_a_dev, call_a_conn),
-- call_a_id (the agent in the call), call_up (the legs whose media is up),
-- call_lost (the legs whose socket went), call_ring (the ring deadline)
-- and call_due (the deadline in force, also the session's score in
-- prefix:calls, which tick.lua sweeps). Ended calls are appended to the
-- JSON array in the field calls.
local call_fields = {'call_id', 'call_state', 'call_media', 'call_from', 'call_at', 'call_acc_at', 'call_con_at',
  'call_c_dev', 'call_c_conn', 'call_a_dev', 'call_a_conn', 'call_a_id', 'call_up', 'call_lost', 'call_ring', 'call_due'}

-- end_call ends the call in progress of a session, if it has one, for
-- reason (hangup, declined, cancelled, no_answer, network_lost,
-- session_closed, agent_offline, transferred), by the party by (nil for
-- the hub): it appends call.ended (with the duration from acceptance, in
-- seconds) and queues its webhook, records the call in calls and clears
-- the call's fields. Returns the event's seq, or 0 without a call.
local function end_call(sid, reason, by)
  local skey = k('session', sid)
  local c = redis.call('HMGET', skey, 'call_id', 'call_state', 'call_media', 'call_from', 'call_at', 'call_acc_at',
    'call_con_at', 'calls')
  if not c[1] or c[1] == '' then
    return 0
  end
  local dur = 0
  if num(c[6]) > 0 and D.now > num(c[6]) then
    dur = math.floor((D.now - num(c[6])) / 1000)
  end
  local ev = {type = 'call.ended', call_id = c[1], media = c[3], reason = reason, duration_s = dur}
  if by then
    ev.ended_by = by
  end
  local seq = session_event(sid, ev)
  hook(D.p, 'call.ended', sid, seq, D.iso)
  local rec = {id = c[1], media = c[3], from = c[4], invited_at = num(c[5]), ended_at = D.now, duration_s = dur,
    reason = reason}
  if num(c[6]) > 0 then
    rec.accepted_at = num(c[6])
  end
  if num(c[7]) > 0 then
    rec.connected_at = num(c[7])
  end
  if by then
    rec.ended_by = by
  end
  local calls = {}
  if c[8] and c[8] ~= '' then
    calls = cjson.decode(c[8])
  end
  calls[#calls + 1] = rec
  redis.call('HSET', skey, 'calls', cjson.encode(calls))
  redis.call('HDEL', skey, unpack(call_fields))
  redis.call('ZREM', k('calls'), sid)
  return seq
end

-- close_session ends an open session (its state read as state) for the
-- party by, with an optional reason (idle): a call in progress ends first,
-- the agent leaves, the session leaves the queue, offers and indexes, its
-- keys expire after retention (ms), and session.ended is appended (a
-- customer's own end is a message of the history surface) and queued for
-- webhooks. close.lua and idle.lua call it.
local function close_session(sid, state, by, retention, reason)
  local skey = k('session', sid)
  -- A call in progress ends first, for both parties.
  end_call(sid, 'session_closed', by)
  local h = redis.call('HMGET', skey, 'number', 'agent_id', 'bot_id', 'customer_id', 'visitor', 'user_id', 'handled_by')
  if state == 'Agent' then
    local since = num(redis.call('HGET', skey, 'active_since'))
    if since > 0 and D.now > since then
      redis.call('HINCRBY', skey, 'active_ms', D.now - since)
    end
    -- member.left names the agent who leaves: who that is is known only here.
    session_event(sid, {type = 'member.left', from = party(h[2], redis.call('HGET', skey, 'agent_name'))})
  end
  for _, who in ipairs({h[2], h[3]}) do
    if who and who ~= '' then
      redis.call('SREM', k('agent', who, 'sessions'), sid)
    end
  end
  unqueue(sid)
  redis.call('ZREM', k('offers'), sid)
  redis.call('DEL', skey .. ':skip')
  redis.call('ZREM', k('customer', h[4], 'open'), sid)
  redis.call('HSET', skey, 'state', 'Ended', 'ended_at', D.now, 'active_since', '')
  redis.call('ZREM', k('idx', 'Waiting'), sid)
  redis.call('ZREM', k('idx', 'Active'), sid)
  redis.call('ZADD', k('idx', 'Ended'), h[1], sid)
  redis.call('ZADD', k('idx', 'expiry'), D.now + tonumber(retention), sid)
  redis.call('ZADD', k('idx', 'ended_at'), D.now, sid)
  -- The reports: handle time from the first answer, or abandoned when
  -- the customer left before any agent answered.
  local r = redis.call('HMGET', skey, 'assigned_at', 'report_team')
  local inc = {ended = 1}
  if num(r[1]) > 0 then
    local handle = math.max(D.now - num(r[1]), 0)
    inc.handle_sum, inc.handle_n = handle, 1
    redis.call('HSET', skey, 'handle_ms', handle)
  elseif by.role == 'customer' then
    inc.abandoned = 1
    redis.call('HSET', skey, 'abandoned', '1')
  end
  report(rep_dims(r[2], h[7]), inc)
  local rec = {n = tonumber(h[1]), v = h[5] or '', u = h[6] or '', c = h[4] or '', a = h[7] or ''}
  if redis.call('HGET', skey, 'files') == '1' then
    rec.f = 1 -- retire queues its files for deletion (prefix:files:gone)
  end
  redis.call('HSET', k('retire'), sid, cjson.encode(rec))
  -- A customer who ends the chat leaves it: a message of the history surface.
  local n
  if by.role == 'customer' then
    n = redis.call('INCR', k('messages', 'number'))
  end
  local ev = {type = 'session.ended', state = 'Ended', from = by}
  if reason then
    ev.reason = reason
  end
  local seq = session_event(sid, ev, n)
  hook(D.p, 'session.ended', sid, seq, D.iso)
  redis.call('PEXPIRE', skey, retention)
  redis.call('PEXPIRE', skey .. ':events', retention)
  if redis.call('EXISTS', skey .. ':cmids') == 1 then
    redis.call('PEXPIRE', skey .. ':cmids', retention)
  end
  agent_sync(h[2])
  agent_sync(h[3])
  redis.call('ZREM', k('idle'), sid)
  redis.call('ZREM', k('offline'), sid)
  redis.call('HDEL', skey, 'idle_at', 'idle_warned')
  flush()
end

-- expire_calls ends up to limit calls whose deadline passed by now:
-- no_answer for one that rang out, network_lost for one whose leg's
-- socket did not come back within call_grace_ms. Returns how many it
-- looked at.
local function expire_calls(limit)
  local due = redis.call('ZRANGEBYSCORE', k('calls'), '-inf', D.now, 'LIMIT', 0, limit)
  for _, sid in ipairs(due) do
    local c = redis.call('HMGET', k('session', sid), 'call_id', 'call_state', 'call_lost', 'call_due')
    if not c[1] or c[1] == '' then
      redis.call('ZREM', k('calls'), sid)
    elseif num(c[4]) > D.now then
      redis.call('ZADD', k('calls'), c[4], sid)
    else
      local reason = 'network_lost'
      if c[2] == 'ringing' and (c[3] or '') == '' then
        reason = 'no_answer'
      end
      end_call(sid, reason)
    end
  end
  return #due
end

-- leave_agent ends the Agent phase of a session (adding its time to
-- active_ms), moves it back among the waiting ones and says who left.
local function leave_agent(sid, reason)
  local skey = k('session', sid)
  local h = redis.call('HMGET', skey, 'number', 'agent_id', 'agent_name', 'active_since')
  if reason == 'agent_offline' then
    end_call(sid, 'agent_offline')
  else
    end_call(sid, 'transferred')
  end
  local since = num(h[4])
  if since > 0 and D.now > since then
    redis.call('HINCRBY', skey, 'active_ms', D.now - since)
  end
  redis.call('HSET', skey, 'active_since', '')
  redis.call('ZREM', k('idx', 'Active'), sid)
  redis.call('ZADD', k('idx', 'Waiting'), h[1], sid)
  session_event(sid, {type = 'member.left', from = party(h[2], h[3]), reason = reason})
end

-- requeue puts an open session back in the queue at its place by creation
-- (the front, for one that was just routed): from an offer (declined,
-- timed out, its agent lost), from an agent (lost, transferred to a team)
-- or from a bot (handover). skip is an agent routing must pass over for
-- this session for skip_ms; team restricts routing to a team's members
-- (nil keeps the session's team, '' clears it).
local function requeue(sid, reason, skip, team)
  local skey = k('session', sid)
  if team == nil then
    team = redis.call('HGET', skey, 'team') -- a team transfer holds through a decline or a lost agent
  end
  local h = redis.call('HMGET', skey, 'state', 'number', 'agent_id', 'bot_id')
  if h[1] == 'Agent' then
    leave_agent(sid, reason)
  end
  if h[3] and h[3] ~= '' then
    redis.call('SREM', k('agent', h[3], 'sessions'), sid)
  end
  if h[4] and h[4] ~= '' then
    redis.call('SREM', k('agent', h[4], 'sessions'), sid)
  end
  if skip and skip ~= '' then
    redis.call('ZADD', skey .. ':skip', D.now + num(D.conf.skip_ms), skip)
    redis.call('PEXPIRE', skey .. ':skip', math.max(num(D.conf.skip_ms), 1))
  end
  redis.call('ZREM', k('offers'), sid)
  redis.call('HSET', skey, 'state', 'Queuing', 'agent_id', '', 'agent_name', '', 'bot_id', '',
    'team', team or '', 'queued_at', D.now)
  redis.call('ZADD', k('queue'), h[2], sid)
  D.qc = true
  local ev = {type = 'session.state', state = 'Queuing', reason = reason}
  if team and team ~= '' then
    ev.team_id = team
  end
  session_event(sid, ev)
  agent_sync(h[3])
  agent_sync(h[4])
end

-- start puts agent aid (shown as name) in a session: from the queue, an
-- offer (its own or another's, withdrawn), or a bot. It does not check
-- capacity: callers do, as their rule says.
local function start(sid, aid, name)
  local skey = k('session', sid)
  local h = redis.call('HMGET', skey, 'state', 'number', 'agent_id', 'bot_id', 'team', 'created_at', 'offline', 'agents')
  local prev = h[3]
  if prev and prev ~= '' and prev ~= aid then
    redis.call('SREM', k('agent', prev, 'sessions'), sid)
    end_call(sid, 'transferred') -- the call was with the agent who leaves
  end
  if h[4] and h[4] ~= '' then
    redis.call('SREM', k('agent', h[4], 'sessions'), sid)
  end
  redis.call('ZREM', k('offers'), sid)
  redis.call('ZREM', k('offline'), sid) -- an offline message picked up
  if unqueue(sid) then
    dequeued()
  end
  redis.call('HSET', skey, 'state', 'Agent', 'agent_id', aid, 'agent_name', name, 'active_since', D.now,
    'bot_id', '', 'team', '')
  if redis.call('HSETNX', skey, 'assigned_at', D.now) == 1 then
    -- The first answer: the session's wait, and its team in the reports
    -- (the team it was sent to, else the answering agent's first team).
    local team = h[5] or ''
    if team == '' then
      team = string.match(redis.call('HGET', k('agent', aid), 'teams') or '', '[^,]+') or ''
    end
    local wait = math.max(D.now - num(h[6]), 0)
    redis.call('HSET', skey, 'report_team', team, 'wait_ms', wait)
    local inc = {answered = 1}
    if h[7] ~= '1' then -- an offline message's wait is not a queue's
      inc.wait_sum, inc.wait_n, inc['wait' .. rep_le(wait)] = wait, 1, 1
    end
    report(rep_dims(team, aid), inc)
  end
  local agents = h[8] or ''
  if not string.find(',' .. agents .. ',', ',' .. aid .. ',', 1, true) then
    redis.call('HSET', skey, 'agents', agents == '' and aid or agents .. ',' .. aid)
  end
  redis.call('HSET', skey, 'handled_by', aid)
  redis.call('ZREM', k('idx', 'Waiting'), sid)
  redis.call('ZADD', k('idx', 'Active'), h[2], sid)
  redis.call('SADD', k('agent', aid, 'sessions'), sid)
  redis.call('HSET', k('agent', aid), 'idle_since', math.floor(D.now / 1000))
  local seq = session_event(sid, {type = 'session.state', state = 'Agent', agent_id = aid, agent_name = name})
  hook(D.p, 'session.assigned', sid, seq, D.iso)
  session_event(sid, {type = 'member.joined', from = party(aid, name)})
  notice('agent:' .. aid, {type = 'agent.session_added', session_id = sid})
  agent_sync(aid)
  if prev ~= aid then
    agent_sync(prev)
  end
  agent_sync(h[4])
end

-- offer offers a session to agent aid: WaitingForAgentAnswering until it
-- accepts, declines or offer_ms passes; with offer_ms 0 it is accepted at
-- once. The offer counts against the agent's capacity meanwhile.
local function offer(sid, aid)
  local name = redis.call('HGET', k('agent', aid), 'name') or ''
  if num(D.conf.offer_ms) <= 0 then
    start(sid, aid, name)
    return
  end
  local skey = k('session', sid)
  if unqueue(sid) then
    dequeued()
  end
  redis.call('SADD', k('agent', aid, 'sessions'), sid)
  redis.call('HSET', k('agent', aid), 'idle_since', math.floor(D.now / 1000))
  redis.call('HSET', skey, 'state', 'WaitingForAgentAnswering', 'agent_id', aid, 'agent_name', name,
    'offered_at', D.now)
  redis.call('ZADD', k('offers'), D.now + num(D.conf.offer_ms), sid)
  session_event(sid, {type = 'session.state', state = 'WaitingForAgentAnswering', agent_id = aid,
    agent_name = name, expires_ms = num(D.conf.offer_ms)})
  notice('agent:' .. aid, {type = 'agent.session_added', session_id = sid})
  agent_sync(aid)
end

-- earliest_conn returns the earliest expiry among an agent's connections,
-- or nil: the moment the sweep must look at it again.
local function earliest_conn(akey)
  local top = redis.call('ZRANGE', akey .. ':conns', 0, 0, 'WITHSCORES')
  return top[2]
end

-- drop_dead removes an agent's connections expired by now and returns their IPs.
local function drop_dead(akey)
  local ck = akey .. ':conns'
  local ips = {}
  for _, conn in ipairs(redis.call('ZRANGEBYSCORE', ck, '-inf', D.now)) do
    local ip = redis.call('HGET', akey .. ':ips', conn)
    if ip then
      ips[#ips + 1] = ip
    end
    redis.call('HDEL', akey .. ':ips', conn)
    redis.call('ZREM', ck, conn)
  end
  return ips
end

-- go_offline turns an agent without connections Offline: its offers go
-- back to the queue (skipping it), its sessions too, once each, and a
-- bot's sessions are handed over to the queue.
local function go_offline(aid)
  local key = k('agent', aid)
  redis.call('HSET', key, 'online', '0')
  redis.call('HDEL', key, 'grace_until')
  redis.call('ZREM', k('presence'), aid)
  for _, sid in ipairs(redis.call('SMEMBERS', key .. ':sessions')) do
    local st = redis.call('HGET', k('session', sid), 'state')
    if st == 'WaitingForAgentAnswering' or st == 'Agent' or st == 'Chatbot' then
      requeue(sid, 'agent_offline', aid)
    else
      redis.call('SREM', key .. ':sessions', sid)
    end
  end
  agent_sync(aid)
end

-- sweep_presence drops the connections whose instance stopped refreshing
-- them (crashed, partitioned) and turns Offline the agents left with none
-- and no grace period running, looking at up to limit agents due by now in
-- the presence zset (agent -> when it must be looked at again). It returns
-- how many it looked at and how many it turned Offline.
local function sweep_presence(limit)
  local pk = k('presence')
  local due = redis.call('ZRANGEBYSCORE', pk, '-inf', D.now, 'LIMIT', 0, limit)
  local n = 0
  for _, aid in ipairs(due) do
    local akey = k('agent', aid)
    local ips = drop_dead(akey)
    local top = earliest_conn(akey)
    if top then
      redis.call('ZADD', pk, top, aid)
    else
      if #ips > 0 then
        redis.call('HSET', akey, 'last_ips', cjson.encode(ips))
      end
      local grace = num(redis.call('HGET', akey, 'grace_until'))
      if grace > D.now then
        redis.call('ZADD', pk, grace, aid)
      else
        go_offline(aid)
        n = n + 1
      end
    end
  end
  return #due, n
end

-- expire_offers sends back to the queue up to limit offers not answered by
-- their deadline (the offers zset: session -> deadline), skipping the agent
-- that let each lapse. It returns how many it looked at and how many it
-- requeued.
local function expire_offers(limit)
  local ok = k('offers')
  local due = redis.call('ZRANGEBYSCORE', ok, '-inf', D.now, 'LIMIT', 0, limit)
  local n = 0
  for _, sid in ipairs(due) do
    local h = redis.call('HMGET', k('session', sid), 'state', 'agent_id')
    if h[1] == 'WaitingForAgentAnswering' then
      requeue(sid, 'offer_timeout', h[2])
      n = n + 1
    else
      redis.call('ZREM', ok, sid)
    end
  end
  return #due, n
end

-- route_queue offers queued sessions, oldest first, to the routable agents:
-- each goes to the first agent of the routable set (fewest sessions, then
-- idle longest) that it does not skip and, for a session sent to a team,
-- that is in the team. One run routes up to limit sessions; it looks at
-- the first 100 of the queue and 200 agents per session, so that a session
-- nobody may take does not hold up those behind it. It returns how many it
-- routed and how many sessions the queue holds after.
local function route_queue(limit)
  local qk = k('queue')
  local routed = 0
  local rk = k('routable')
  for _, sid in ipairs(redis.call('ZRANGE', qk, 0, 99)) do
    if routed >= limit or redis.call('ZCARD', rk) == 0 then
      break
    end
    local skey = k('session', sid)
    local team = redis.call('HGET', skey, 'team') or ''
    for _, aid in ipairs(redis.call('ZRANGE', rk, 0, 199)) do
      local skip = redis.call('ZSCORE', skey .. ':skip', aid)
      if (not skip or num(skip) <= D.now) and
          (team == '' or redis.call('SISMEMBER', k('team', team, 'agents'), aid) == 1) then
        offer(sid, aid)
        routed = routed + 1
        break
      end
    end
  end
  return routed, redis.call('ZCARD', qk)
end
