-- assign.lua: an admin puts an agent in a session (Chatbot, Queuing or
-- WaitingForAgentAnswering -> Agent), within the agent's capacity. An agent
-- id not seen before is registered with the default capacity.
-- KEYS[1] session hash    KEYS[2] session stream   KEYS[3] idx:Waiting
-- KEYS[4] idx:Active      KEYS[5] queue            KEYS[6] agent hash
-- KEYS[7] agent's open sessions (set)              KEYS[8] agents (zset by creation)
-- ARGV[1] channel   ARGV[2] now (ms)   ARGV[3] agent id   ARGV[4] agent name
-- ARGV[5] default capacity   ARGV[6] state event body   ARGV[7] stream maxlen   ARGV[8] key prefix
-- ARGV[9] member.joined event body   ARGV[10] agent channel   ARGV[11] agent notice
-- Returns the session hash after the change (HGETALL), or the error
-- SB:not_found, SB:ended, SB:assigned or SB:limit.
local id, state, err = open_session(KEYS[1])
if err then
  return err
end
if state == 'Agent' then
  return redis.error_reply('SB:assigned')
end
if redis.call('EXISTS', KEYS[6]) == 0 then
  redis.call('HSET', KEYS[6], 'id', ARGV[3], 'name', ARGV[4], 'email', '', 'role', 'agent',
    'capacity', ARGV[5], 'status', 'Offline', 'created_at', ARGV[2])
  redis.call('ZADD', KEYS[8], ARGV[2], ARGV[3])
end
local capacity = tonumber(redis.call('HGET', KEYS[6], 'capacity'))
if redis.call('SISMEMBER', KEYS[7], id) == 0 and redis.call('SCARD', KEYS[7]) >= capacity then
  return redis.error_reply('SB:limit')
end
-- An offer pending with another agent is withdrawn: it no longer counts on that agent's load.
local previous = redis.call('HGET', KEYS[1], 'agent_id')
if previous and previous ~= '' and previous ~= ARGV[3] then
  redis.call('SREM', ARGV[8] .. ':agent:' .. previous .. ':sessions', id)
end
local number = redis.call('HGET', KEYS[1], 'number')
redis.call('HSET', KEYS[1], 'state', 'Agent', 'agent_id', ARGV[3], 'agent_name', ARGV[4],
  'active_since', ARGV[2])
redis.call('HSETNX', KEYS[1], 'assigned_at', ARGV[2])
redis.call('ZREM', KEYS[3], id)
redis.call('ZREM', KEYS[5], id)
redis.call('ZADD', KEYS[4], number, id)
redis.call('SADD', KEYS[7], id)
emit(KEYS[1], KEYS[2], ARGV[1], ARGV[6], ARGV[7])
emit(KEYS[1], KEYS[2], ARGV[1], ARGV[9], ARGV[7])
redis.call('PUBLISH', ARGV[10], ARGV[11])
return redis.call('HGETALL', KEYS[1])
