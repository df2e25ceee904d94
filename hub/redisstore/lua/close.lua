-- close.lua: end a session from any open state; it and its stream are kept
-- for the retention period, then expire, and prune drops it from the indexes.
-- KEYS[1] session hash
-- ARGV[1..5] desk context   ARGV[6] session id   ARGV[7] retention (ms)
-- ARGV[8] closer role   ARGV[9] closer id   ARGV[10] closer name
-- ARGV[11] privileged ('1' for an admin, a supervisor or the system)
-- Returns the session hash after the change (HGETALL), or the error
-- SB:not_found, SB:ended or SB:forbidden.
desk(ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5])
local sid = ARGV[6]
local id, state, err = open_for(KEYS[1], ARGV[8], ARGV[9], ARGV[11])
if err then
  return err
end
local by = {role = ARGV[8], id = ARGV[9]}
if ARGV[10] ~= '' then
  by.name = ARGV[10]
end
-- A call in progress ends first, for both parties.
end_call(sid, 'session_closed', by)
local h = redis.call('HMGET', KEYS[1], 'number', 'agent_id', 'bot_id', 'customer_id', 'visitor', 'user_id', 'handled_by')
if state == 'Agent' then
  local since = num(redis.call('HGET', KEYS[1], 'active_since'))
  if since > 0 and D.now > since then
    redis.call('HINCRBY', KEYS[1], 'active_ms', D.now - since)
  end
  -- member.left names the agent who leaves: who that is is known only here.
  session_event(sid, {type = 'member.left', from = party(h[2], redis.call('HGET', KEYS[1], 'agent_name'))})
end
for _, who in ipairs({h[2], h[3]}) do
  if who and who ~= '' then
    redis.call('SREM', k('agent', who, 'sessions'), sid)
  end
end
unqueue(sid)
redis.call('ZREM', k('offers'), sid)
redis.call('DEL', KEYS[1] .. ':skip')
redis.call('ZREM', k('customer', h[4], 'open'), sid)
redis.call('HSET', KEYS[1], 'state', 'Ended', 'ended_at', D.now, 'active_since', '')
redis.call('ZREM', k('idx', 'Waiting'), sid)
redis.call('ZREM', k('idx', 'Active'), sid)
redis.call('ZADD', k('idx', 'Ended'), h[1], sid)
redis.call('ZADD', k('idx', 'expiry'), D.now + tonumber(ARGV[7]), sid)
redis.call('ZADD', k('idx', 'ended_at'), D.now, sid)
redis.call('HSET', k('retire'), sid, cjson.encode({n = tonumber(h[1]), v = h[5] or '', u = h[6] or '', c = h[4] or '',
  a = h[7] or ''}))
-- A customer who ends the chat leaves it: a message of the history surface.
local n
if ARGV[8] == 'customer' then
  n = redis.call('INCR', k('messages', 'number'))
end
local seq = session_event(sid, {type = 'session.ended', state = 'Ended', from = by}, n)
hook(D.p, 'session.ended', sid, seq, D.iso)
redis.call('PEXPIRE', KEYS[1], ARGV[7])
redis.call('PEXPIRE', KEYS[1] .. ':events', ARGV[7])
if redis.call('EXISTS', KEYS[1] .. ':cmids') == 1 then
  redis.call('PEXPIRE', KEYS[1] .. ':cmids', ARGV[7])
end
agent_sync(h[2])
agent_sync(h[3])
flush()
return redis.call('HGETALL', KEYS[1])
