-- create.lua: open a session unless the open-session limit is reached.
-- KEYS[1] session hash        KEYS[2] session stream     KEYS[3] number counter
-- KEYS[4] idx:all             KEYS[5] idx:Waiting        KEYS[6] idx:Active
-- KEYS[7] queue
-- ARGV[1] channel   ARGV[2] id          ARGV[3] now (ms)     ARGV[4] max open (0 = none)
-- ARGV[5] state     ARGV[6] title       ARGV[7] description  ARGV[8] customer id
-- ARGV[9] customer name                 ARGV[10] event body  ARGV[11] stream maxlen
-- Returns the session's number, or the error SB:limit or SB:exists.
local max_open = tonumber(ARGV[4])
if max_open > 0 and redis.call('ZCARD', KEYS[5]) + redis.call('ZCARD', KEYS[6]) >= max_open then
  return redis.error_reply('SB:limit')
end
if redis.call('EXISTS', KEYS[1]) == 1 then
  return redis.error_reply('SB:exists')
end
local number = redis.call('INCR', KEYS[3])
redis.call('HSET', KEYS[1],
  'id', ARGV[2], 'number', number, 'state', ARGV[5], 'title', ARGV[6],
  'description', ARGV[7], 'customer_id', ARGV[8], 'customer_name', ARGV[9],
  'agent_id', '', 'agent_name', '', 'created_at', ARGV[3], 'active_ms', 0, 'seq', 0)
redis.call('ZADD', KEYS[4], number, ARGV[2])
redis.call('ZADD', KEYS[5], number, ARGV[2])
if ARGV[5] == 'Queuing' then
  redis.call('ZADD', KEYS[7], number, ARGV[2])
end
emit(KEYS[1], KEYS[2], ARGV[1], ARGV[10], ARGV[11])
return number
