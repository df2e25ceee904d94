-- assign.lua: put an agent in an open session (-> Agent), within its
-- capacity, by one of three rules (ARGV[9]):
--   admin   an admin assign (Customer Service API): from Chatbot, Queuing
--           or an offer to anyone; an agent id not seen before is
--           registered with the default capacity.
--   pick    an agent picks a queued session itself (or one offered to it).
--   accept  an agent accepts the offer it holds (already counted in its load).
-- KEYS[1] session hash
-- ARGV[1..5] desk context   ARGV[6] session id   ARGV[7] agent id
-- ARGV[8] agent name ('' = the agent's own)   ARGV[9] rule   ARGV[10] default capacity
-- Returns the session hash after the change (HGETALL), or the error
-- SB:not_found, SB:ended, SB:assigned, SB:limit, SB:not_offered or SB:not_queued.
desk(ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5])
local sid, aid, name, rule = ARGV[6], ARGV[7], ARGV[8], ARGV[9]
local id, state, err = open_session(KEYS[1])
if err then
  return err
end
if state == 'Agent' then
  return redis.error_reply('SB:assigned')
end
local akey = k('agent', aid)
local holder = redis.call('HGET', KEYS[1], 'agent_id')
if rule == 'accept' then
  if state ~= 'WaitingForAgentAnswering' or holder ~= aid then
    return redis.error_reply('SB:not_offered')
  end
elseif rule == 'pick' then
  if not (state == 'Queuing' or state == 'WaitingForAgentAnswering' and holder == aid) then
    return redis.error_reply('SB:not_queued')
  elseif redis.call('HGET', akey, 'online') ~= '1' then
    return redis.error_reply('SB:agent_unavailable') -- nothing would requeue it from an agent who is not here
  end
elseif redis.call('EXISTS', akey) == 0 then
  redis.call('HSET', akey, 'id', aid, 'name', name, 'email', '', 'role', 'agent',
    'capacity', ARGV[10], 'status', 'Offline', 'created_at', D.now, 'status_since', D.now)
  redis.call('ZADD', k('agents'), D.now, aid)
end
if rule ~= 'accept' and redis.call('SISMEMBER', akey .. ':sessions', sid) == 0 and
    redis.call('SCARD', akey .. ':sessions') >= num(redis.call('HGET', akey, 'capacity')) then
  return redis.error_reply('SB:limit')
end
if name == '' then
  name = redis.call('HGET', akey, 'name') or ''
end
start(sid, aid, name)
flush()
return redis.call('HGETALL', KEYS[1])
