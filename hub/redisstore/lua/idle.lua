-- idle.lua: idle auto-close. A session in Agent whose last message is the
-- staff's (message.lua sets idle_at and schedules it in prefix:idle) and
-- whose customer has not written since gets, warn ms later, a
-- session.idle warning (durable: both parties see when it closes), and
-- close ms after that is closed with reason idle by the system. A message
-- of the customer clears it (message.lua); a message of the agent starts
-- it again. Any instance may run it at any time: each step checks the
-- session as it is now, so two instances never warn or close twice.
-- KEYS[1] prefix:idle (zset session -> when to look at it next)
-- ARGV[1..5] desk context   ARGV[6] warn (ms)   ARGV[7] close (ms after the warning)
-- ARGV[8] retention (ms)   ARGV[9] most sessions to look at
-- Returns {sessions warned, sessions closed}.
desk(ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5])
local warn, close = tonumber(ARGV[6]), tonumber(ARGV[7])
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', D.now, 'LIMIT', 0, tonumber(ARGV[9]))
local warned, closed = 0, 0
for _, sid in ipairs(due) do
  local skey = k('session', sid)
  local h = redis.call('HMGET', skey, 'state', 'idle_at', 'idle_warned')
  local at = num(h[2])
  if h[1] ~= 'Agent' or at == 0 then
    redis.call('ZREM', KEYS[1], sid) -- no longer waiting on its customer
    if h[1] then
      redis.call('HDEL', skey, 'idle_at', 'idle_warned')
    end
  elseif h[3] ~= '1' then
    if D.now >= at + warn then
      local closes = at + warn + close
      session_event(sid, {type = 'session.idle', closes_in_s = math.ceil((closes - D.now) / 1000)})
      redis.call('HSET', skey, 'idle_warned', '1')
      redis.call('ZADD', KEYS[1], closes, sid)
      warned = warned + 1
    else
      redis.call('ZADD', KEYS[1], at + warn, sid)
    end
  elseif D.now >= at + warn + close then
    close_session(sid, 'Agent', {role = 'system', id = 'system', name = 'System'}, ARGV[8], 'idle')
    closed = closed + 1
  else
    redis.call('ZADD', KEYS[1], at + warn + close, sid)
  end
end
return {warned, closed}
