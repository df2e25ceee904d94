-- read.lua: move a party's read marker ("seen up to seq") forward and tell
-- the session. A marker never moves back; an unchanged one emits nothing.
-- KEYS[1] session hash   KEYS[2] session stream
-- ARGV[1] channel   ARGV[2] reader role   ARGV[3] reader id   ARGV[4] privileged
-- ARGV[5] up to (seq)   ARGV[6] event body   ARGV[7] stream maxlen
-- Returns {marker, changed (0 or 1)}. Errors: SB:not_found, SB:ended,
-- SB:forbidden, SB:invalid (a seq the session has not reached).
local id, state, err = open_for(KEYS[1], ARGV[2], ARGV[3], ARGV[4])
if err then
  return err
end
local upto = tonumber(ARGV[5])
if upto > tonumber(redis.call('HGET', KEYS[1], 'seq')) then
  return redis.error_reply('SB:invalid')
end
local field = 'read:' .. ARGV[2] .. ':' .. ARGV[3]
local current = tonumber(redis.call('HGET', KEYS[1], field) or '0')
if upto <= current then
  return {current, 0}
end
redis.call('HSET', KEYS[1], field, upto)
emit(KEYS[1], KEYS[2], ARGV[1], ARGV[6], ARGV[7])
return {upto, 1}
