-- connect.lua: an agent's connection comes up (or is registered again after
-- its instance lost it): it is live until ARGV[7], and its IP address is
-- kept. The agent is online again with the status it chose.
-- KEYS[1] agent hash
-- ARGV[1..5] desk context   ARGV[6] agent id   ARGV[7] connection id   ARGV[8] ip
-- Returns 1, or the error SB:no_agent.
desk(ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5])
local aid = ARGV[6]
if redis.call('EXISTS', KEYS[1]) == 0 then
  return redis.error_reply('SB:no_agent')
end
local expires = D.now + num(D.conf.ttl_ms)
redis.call('ZADD', KEYS[1] .. ':conns', expires, ARGV[7])
redis.call('HSET', KEYS[1] .. ':ips', ARGV[7], ARGV[8])
local was = redis.call('HMGET', KEYS[1], 'online', 'grace_until')
if was[1] ~= '1' and num(was[2]) <= D.now then
  redis.call('HSET', KEYS[1], 'idle_since', math.floor(D.now / 1000))
end
redis.call('HSET', KEYS[1], 'online', '1')
redis.call('HDEL', KEYS[1], 'grace_until')
redis.call('HSETNX', KEYS[1], 'chosen', 'Available')
drop_dead(KEYS[1])
redis.call('ZADD', k('presence'), earliest_conn(KEYS[1]), aid)
agent_sync(aid)
flush()
return 1
