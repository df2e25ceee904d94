-- route.lua: offer queued sessions, oldest first, to the routable agents:
-- each goes to the first agent of the routable set (fewest sessions, then
-- idle longest) that it does not skip and, for a session sent to a team,
-- that is in the team. One run routes up to ARGV[6] sessions; it looks at
-- the first 100 of the queue and 200 agents per session, so that a session
-- nobody may take does not hold up those behind it.
-- KEYS[1] queue
-- ARGV[1..5] desk context   ARGV[6] most sessions to route
-- Returns {how many it routed, how many sessions the queue holds after}.
desk(ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5])
local limit = tonumber(ARGV[6])
local routed = 0
local rk = k('routable')
for _, sid in ipairs(redis.call('ZRANGE', KEYS[1], 0, 99)) do
  if routed >= limit or redis.call('ZCARD', rk) == 0 then
    break
  end
  local skey = k('session', sid)
  local team = redis.call('HGET', skey, 'team') or ''
  for _, aid in ipairs(redis.call('ZRANGE', rk, 0, 199)) do
    local skip = redis.call('ZSCORE', skey .. ':skip', aid)
    if (not skip or num(skip) <= D.now) and
        (team == '' or redis.call('SISMEMBER', k('team', team, 'agents'), aid) == 1) then
      offer(sid, aid)
      routed = routed + 1
      break
    end
  end
end
flush()
return {routed, redis.call('ZCARD', KEYS[1])}
