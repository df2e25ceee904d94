-- call.lua: one step of a session's call, atomically with the session it
-- belongs to (the call's fields are in the session's hash, see
-- call_fields in lib.lua). A session has at most one call at a time, and
-- only while an agent holds it (Agent). Steps:
--   invite     a party calls the other (ARGV[13] the new call's id, ARGV[14] its media)
--   accept     the other party answers, from one of its devices: the first wins
--   decline    the invited party refuses a ringing call
--   cancel     the inviting party gives up a ringing call
--   hangup     either party ends the call (a ringing one: cancel or decline)
--   connected  a leg's device reports its media path up; both make it connected
--   lost       a leg's socket closed: the call ends after call_grace_ms unless it comes back
--   back       a socket of the leg's device is here again
-- KEYS[1] session hash
-- ARGV[1..5] desk context (conf adds ring_ms and call_grace_ms)
-- ARGV[6] session id   ARGV[7] step   ARGV[8] role   ARGV[9] id   ARGV[10] name
-- ARGV[11] device   ARGV[12] socket   ARGV[13] call id   ARGV[14] media
-- Returns {seq of the event appended (0: none), state after ('' ended or
-- none), call id, deadline (ms, 0: none)}, or an error: SB:not_found,
-- SB:ended, SB:forbidden (the party may not act on this session now),
-- SB:call_no_agent (invite without an agent), SB:call_busy (a call rings or
-- runs), SB:no_call (no such call), SB:answered (accepted on another
-- device), SB:call_state (not in a state for this step), SB:full.
desk(ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5])
local sid, step, role, id, name, dev, conn = ARGV[6], ARGV[7], ARGV[8], ARGV[9], ARGV[10], ARGV[11], ARGV[12]
local key = KEYS[1]
local s = redis.call('HMGET', key, 'id', 'state', 'customer_id', 'agent_id', 'call_id', 'call_state', 'call_from',
  'call_c_dev', 'call_c_conn', 'call_a_dev', 'call_a_conn', 'call_up', 'call_lost', 'call_ring', 'call_due')
if not s[1] then
  return redis.error_reply('SB:not_found')
elseif s[2] == 'Ended' then
  return redis.error_reply('SB:ended')
end
local leg = role == 'customer' and 'c' or 'a'
local me = {role = role, id = id}
if name ~= '' then
  me.name = name
end
local cid, cstate = s[5] or '', s[6] or ''
local devs = {c = s[8] or '', a = s[10] or ''}
local conns = {c = s[9] or '', a = s[11] or ''}

-- schedule makes due the deadline in force (0: none).
local function schedule(due)
  if due > 0 then
    redis.call('HSET', key, 'call_due', due)
    redis.call('ZADD', k('calls'), due, sid)
  else
    redis.call('HDEL', key, 'call_due')
    redis.call('ZREM', k('calls'), sid)
  end
  return due
end

-- lost comes from the hub (a socket holding a leg closed), not from a
-- party's command.
if step == 'lost' then
  if cid == '' or cid ~= ARGV[13] or conns[leg] ~= conn then
    return {0, cstate, cid, num(s[15])} -- ended, or the device came back on another socket already
  end
  local lost = s[13] or ''
  if not string.find(lost, leg, 1, true) then
    lost = lost .. leg
  end
  redis.call('HSET', key, 'call_lost', lost)
  local due = D.now + num(D.conf.call_grace_ms)
  if cstate == 'ringing' and num(s[14]) < due then
    due = num(s[14])
  end
  return {0, cstate, cid, schedule(due)}
end

-- Every other step is a party's: the session's customer, or the agent who
-- holds it.
if not party_may_act(s[2], s[3], s[4], '', role, id, '0') then
  return refusal(s[3], s[4], '', role, id)
end

-- back: the leg's device has a socket again (call.rejoin after a reconnect).
if step == 'back' then
  if cid == '' or cid ~= ARGV[13] then
    return redis.error_reply('SB:no_call')
  elseif devs[leg] ~= dev then
    return redis.error_reply('SB:call_state')
  end
  local lost = string.gsub(s[13] or '', leg, '')
  redis.call('HSET', key, 'call_' .. leg .. '_conn', conn, 'call_lost', lost)
  local due = 0
  if lost ~= '' then
    due = num(s[15])
  elseif cstate == 'ringing' then
    due = num(s[14])
  end
  return {0, cstate, cid, schedule(due)}
end

if step == 'invite' then
  if s[2] ~= 'Agent' then
    return redis.error_reply('SB:call_no_agent')
  elseif cid ~= '' then
    return redis.error_reply('SB:call_busy')
  elseif full(key, D.max_events) then
    return redis.error_reply('SB:full')
  end
  cid = ARGV[13]
  local ring = D.now + num(D.conf.ring_ms)
  redis.call('HSET', key, 'call_id', cid, 'call_state', 'ringing', 'call_media', ARGV[14], 'call_from', role,
    'call_at', D.now, 'call_' .. leg .. '_dev', dev, 'call_' .. leg .. '_conn', conn, 'call_a_id', s[4],
    'call_ring', ring)
  local seq = session_event(sid, {type = 'call.ringing', call_id = cid, media = ARGV[14], from = me, device = dev})
  return {seq, 'ringing', cid, schedule(ring)}
end

if cid == '' or cid ~= ARGV[13] then
  return redis.error_reply('SB:no_call')
end
local inviter = s[7] == role

if step == 'accept' then
  if inviter then
    return redis.error_reply('SB:call_state')
  elseif cstate ~= 'ringing' then
    return redis.error_reply('SB:answered')
  end
  redis.call('HSET', key, 'call_state', 'accepted', 'call_acc_at', D.now, 'call_' .. leg .. '_dev', dev,
    'call_' .. leg .. '_conn', conn)
  local seq = session_event(sid, {type = 'call.started', call_id = cid, by = me, device = dev})
  hook(D.p, 'call.started', sid, seq, D.iso)
  local due = 0
  if (s[13] or '') ~= '' then
    due = num(s[15]) -- the inviter's socket is away: its grace runs on
  end
  return {seq, 'accepted', cid, schedule(due)}
elseif step == 'decline' or step == 'cancel' then
  if cstate ~= 'ringing' then
    return redis.error_reply('SB:call_state')
  elseif (step == 'decline') == inviter then
    return redis.error_reply('SB:call_state')
  end
  local reason = step == 'decline' and 'declined' or 'cancelled'
  return {end_call(sid, reason, me), '', cid, 0}
elseif step == 'hangup' then
  local reason = 'hangup'
  if cstate == 'ringing' then
    reason = inviter and 'cancelled' or 'declined'
  elseif devs[leg] ~= dev then
    return redis.error_reply('SB:call_state') -- another device of the party holds the call
  end
  return {end_call(sid, reason, me), '', cid, 0}
elseif step == 'connected' then
  if cstate ~= 'accepted' and cstate ~= 'connected' then
    return redis.error_reply('SB:call_state')
  elseif devs[leg] ~= dev then
    return redis.error_reply('SB:call_state')
  end
  local up = s[12] or ''
  if string.find(up, leg, 1, true) then
    return {0, cstate, cid, num(s[15])}
  end
  up = up .. leg
  redis.call('HSET', key, 'call_up', up)
  if #up < 2 then
    return {0, cstate, cid, num(s[15])}
  end
  redis.call('HSET', key, 'call_state', 'connected', 'call_con_at', D.now)
  local seq = session_event(sid, {type = 'call.connected', call_id = cid})
  return {seq, 'connected', cid, num(s[15])}
end
return redis.error_reply('SB:call_state')
