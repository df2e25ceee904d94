-- sweep.lua: drop the connections whose instance stopped refreshing them
-- (crashed, partitioned) and turn Offline the agents left with none and no
-- grace period running. Idempotent: any instance may run it at any time.
-- KEYS[1] presence (zset agent -> when it must be looked at again)
-- ARGV[1..5] desk context   ARGV[6] most agents to look at
-- Returns how many agents it turned Offline.
desk(ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5])
local n = 0
for _, aid in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', D.now, 'LIMIT', 0, tonumber(ARGV[6]))) do
  local akey = k('agent', aid)
  local ips = drop_dead(akey)
  local top = earliest_conn(akey)
  if top then
    redis.call('ZADD', KEYS[1], top, aid)
  else
    if #ips > 0 then
      redis.call('HSET', akey, 'last_ips', cjson.encode(ips))
    end
    local grace = num(redis.call('HGET', akey, 'grace_until'))
    if grace > D.now then
      redis.call('ZADD', KEYS[1], grace, aid)
    else
      go_offline(aid)
      n = n + 1
    end
  end
end
flush()
return n
