-- refresh.lua: an instance's presence ticker extends its live connections.
-- A connection the sweep has already dropped (the instance stalled past the
-- TTL) is not revived here: it is returned, and the instance connects it
-- again, which brings the agent back online properly.
-- KEYS[1] presence
-- ARGV[1..5] desk context   ARGV[6..] agent id, connection id pairs
-- Returns the flat list of the pairs that were missing.
desk(ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5])
local expires = D.now + num(D.conf.ttl_ms)
local missing = {}
for i = 6, #ARGV, 2 do
  local aid, conn = ARGV[i], ARGV[i + 1]
  local ck = k('agent', aid, 'conns')
  if redis.call('ZSCORE', ck, conn) then
    redis.call('ZADD', ck, expires, conn)
    -- the sweep looks at the agent when its earliest connection expires
    redis.call('ZADD', KEYS[1], earliest_conn(k('agent', aid)), aid)
  else
    missing[#missing + 1] = aid
    missing[#missing + 1] = conn
  end
end
return missing
