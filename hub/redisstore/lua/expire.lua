-- expire.lua: offers not answered in time go back to the queue, skipping
-- the agent that let them lapse.
-- KEYS[1] offers (zset session -> deadline)
-- ARGV[1..5] desk context   ARGV[6] most offers to expire
-- Returns how many it expired.
desk(ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5])
local n = 0
for _, sid in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', D.now, 'LIMIT', 0, tonumber(ARGV[6]))) do
  local h = redis.call('HMGET', k('session', sid), 'state', 'agent_id')
  if h[1] == 'WaitingForAgentAnswering' then
    requeue(sid, 'offer_timeout', h[2])
    n = n + 1
  else
    redis.call('ZREM', KEYS[1], sid)
  end
end
flush()
return n
