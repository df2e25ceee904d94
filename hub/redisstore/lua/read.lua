-- read.lua: move a party's read or delivered marker ("seen up to seq",
-- "received up to seq") forward and tell the session. A marker never moves
-- back; an unchanged one emits nothing. Reading implies delivery: a read
-- marker carries the delivered one along (without its own event), and a
-- delivered marker at or below the read one changes nothing.
-- KEYS[1] session hash   KEYS[2] session stream
-- ARGV[1] channel   ARGV[2] reader role   ARGV[3] reader id   ARGV[4] privileged
-- ARGV[5] up to (seq)   ARGV[6] event body   ARGV[7] the session event limit ('0': none)
-- ARGV[8] the marker: 'read' or 'delivered'   ARGV[9] key prefix
-- Returns {marker, changed (0 or 1)}. Errors: SB:not_found, SB:ended,
-- SB:forbidden, SB:invalid (a seq the session has not reached), SB:full
-- (the session holds its limit of events: the marker would be one more).
local id, state, err = open_for(KEYS[1], ARGV[2], ARGV[3], ARGV[4])
if err then
  return err
end
local upto = tonumber(ARGV[5])
if upto > tonumber(redis.call('HGET', KEYS[1], 'seq')) then
  return redis.error_reply('SB:invalid')
end
local who = ARGV[2] .. ':' .. ARGV[3]
local m = redis.call('HMGET', KEYS[1], 'read:' .. who, 'delivered:' .. who)
local read, delivered = tonumber(m[1] or '0'), tonumber(m[2] or '0')
local current = read
if ARGV[8] == 'delivered' then
  current = math.max(read, delivered)
end
if upto <= current then
  return {current, 0}
end
if full(KEYS[1], ARGV[7]) then
  return redis.error_reply('SB:full')
end
redis.call('HSET', KEYS[1], ARGV[8] .. ':' .. who, upto)
if ARGV[8] == 'read' and upto > delivered then
  redis.call('HSET', KEYS[1], 'delivered:' .. who, upto)
end
emit(ARGV[9], KEYS[1], KEYS[2], ARGV[1], ARGV[6])
return {upto, 1}
