-- disconnect.lua: an agent's connection closed. When it was the last one
-- the agent is no longer routable, keeps its status and sessions for the
-- grace period (a reload, a network change), and is then turned Offline by
-- the sweep; with no grace period, at once.
-- KEYS[1] agent hash
-- ARGV[1..5] desk context   ARGV[6] agent id   ARGV[7] connection id
-- Returns 1.
desk(ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5])
local aid, conn = ARGV[6], ARGV[7]
local ck = KEYS[1] .. ':conns'
local ip = redis.call('HGET', KEYS[1] .. ':ips', conn)
if redis.call('ZREM', ck, conn) == 0 then
  return 1 -- already swept
end
redis.call('HDEL', KEYS[1] .. ':ips', conn)
drop_dead(KEYS[1]) -- an expired connection (its instance died) keeps nobody online
local top = earliest_conn(KEYS[1])
if top then
  redis.call('ZADD', k('presence'), top, aid)
  return 1
end
if ip then
  redis.call('HSET', KEYS[1], 'last_ips', cjson.encode({ip}))
end
local grace = num(D.conf.grace_ms)
if grace <= 0 then
  go_offline(aid)
else
  redis.call('HSET', KEYS[1], 'online', '0', 'grace_until', D.now + grace)
  redis.call('ZADD', k('presence'), D.now + grace, aid)
  agent_sync(aid)
end
flush()
return 1
