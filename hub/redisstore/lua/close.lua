-- close.lua: end a session from any open state; it and its stream are kept
-- for the retention period, then expire, and prune drops it from the indexes.
-- KEYS[1] session hash   KEYS[2] session stream   KEYS[3] idx:Waiting
-- KEYS[4] idx:Active     KEYS[5] idx:Ended        KEYS[6] queue
-- KEYS[7] idx:expiry
-- ARGV[1] channel   ARGV[2] now (ms)   ARGV[3] retention (ms)   ARGV[4] event body
-- ARGV[5] stream maxlen   ARGV[6] key prefix   ARGV[7] closer role   ARGV[8] closer id
-- ARGV[9] privileged ('1' for an admin, a supervisor or the system)
-- ARGV[10] member.left event body, emitted first when an agent was in the session
--          (its "from" is replaced with the agent found here)
-- Returns the session hash after the change (HGETALL), or the error
-- SB:not_found, SB:ended or SB:forbidden.
local id, state, err = open_for(KEYS[1], ARGV[7], ARGV[8], ARGV[9])
if err then
  return err
end
local now = tonumber(ARGV[2])
if state == 'Agent' then
  local since = tonumber(redis.call('HGET', KEYS[1], 'active_since'))
  if since and now > since then
    redis.call('HINCRBY', KEYS[1], 'active_ms', now - since)
  end
end
local agent = redis.call('HGET', KEYS[1], 'agent_id')
if agent and agent ~= '' then
  redis.call('SREM', ARGV[6] .. ':agent:' .. agent .. ':sessions', id)
end
local number = redis.call('HGET', KEYS[1], 'number')
redis.call('HSET', KEYS[1], 'state', 'Ended', 'ended_at', ARGV[2], 'active_since', '')
redis.call('ZREM', KEYS[3], id)
redis.call('ZREM', KEYS[4], id)
redis.call('ZREM', KEYS[6], id)
redis.call('ZADD', KEYS[5], number, id)
redis.call('ZADD', KEYS[7], now + tonumber(ARGV[3]), id)
if state == 'Agent' then
  -- member.left names the agent who leaves: who that is is known only here.
  local who = cjson.encode({role = 'agent', id = agent, name = redis.call('HGET', KEYS[1], 'agent_name')})
  emit(KEYS[1], KEYS[2], ARGV[1], string.gsub(ARGV[10], '"from":{[^}]*}', function() return '"from":' .. who end), ARGV[5])
end
emit(KEYS[1], KEYS[2], ARGV[1], ARGV[4], ARGV[5])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
redis.call('PEXPIRE', KEYS[2], ARGV[3])
return redis.call('HGETALL', KEYS[1])
