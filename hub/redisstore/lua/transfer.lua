-- transfer.lua: move a session in Agent to another agent (offered to it,
-- as routing would) or to a team (back in the queue, routed only to the
-- team's members). Its agent or a privileged party may transfer it.
-- KEYS[1] session hash
-- ARGV[1..5] desk context   ARGV[6] session id   ARGV[7] by role   ARGV[8] by id
-- ARGV[9] privileged   ARGV[10] 'agent' or 'team'   ARGV[11] target id
-- Returns the session hash after the change, or SB:not_found, SB:ended,
-- SB:forbidden, SB:not_active, SB:no_agent, SB:no_team, SB:agent_unavailable or SB:same_agent.
desk(ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5])
local sid, target = ARGV[6], ARGV[11]
local id, state, err = open_for(KEYS[1], ARGV[7], ARGV[8], ARGV[9])
if err then
  return err
end
if state ~= 'Agent' then
  return redis.error_reply('SB:not_active')
end
local from = redis.call('HGET', KEYS[1], 'agent_id')
-- transferred counts the transfer on the session and in the reports (for
-- the agent who hands it on).
local function transferred()
  redis.call('HINCRBY', KEYS[1], 'transfers', 1)
  report(rep_dims(redis.call('HGET', KEYS[1], 'report_team'), from), {transfers = 1})
end
if ARGV[10] == 'team' then
  if redis.call('EXISTS', k('team', target)) == 0 then
    return redis.error_reply('SB:no_team')
  end
  transferred()
  requeue(sid, 'transfer', nil, target)
  flush()
  return redis.call('HGETALL', KEYS[1])
end
local akey = k('agent', target)
local a = redis.call('HMGET', akey, 'id', 'online', 'disabled', 'capacity', 'role', 'name')
if not a[1] then
  return redis.error_reply('SB:no_agent')
elseif target == from then
  return redis.error_reply('SB:same_agent')
elseif a[2] ~= '1' or a[3] == '1' or a[5] == 'bot' or redis.call('SCARD', akey .. ':sessions') >= num(a[4]) then
  return redis.error_reply('SB:agent_unavailable')
end
transferred()
leave_agent(sid, 'transfer')
redis.call('SREM', k('agent', from, 'sessions'), sid)
if num(D.conf.offer_ms) <= 0 then
  start(sid, target, a[6] or '')
else
  redis.call('SADD', akey .. ':sessions', sid)
  redis.call('HSET', KEYS[1], 'state', 'WaitingForAgentAnswering', 'agent_id', target, 'agent_name', a[6] or '',
    'offered_at', D.now)
  redis.call('ZADD', k('offers'), D.now + num(D.conf.offer_ms), sid)
  session_event(sid, {type = 'session.state', state = 'WaitingForAgentAnswering', agent_id = target,
    agent_name = a[6], expires_ms = num(D.conf.offer_ms), reason = 'transfer'})
  notice('agent:' .. target, {type = 'agent.session_added', session_id = sid})
  agent_sync(target)
end
agent_sync(from)
flush()
return redis.call('HGETALL', KEYS[1])
