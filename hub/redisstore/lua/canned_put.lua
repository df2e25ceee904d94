-- canned_put.lua: create or replace a canned reply, keeping its shortcut
-- unique within its scope (the shared replies, or one agent's own).
-- KEYS[1] the reply's key (prefix:canned:<id>)
-- ARGV[1] key prefix   ARGV[2] id   ARGV[3] the reply (JSON)   ARGV[4] shortcut
-- ARGV[5] scope key ('shared' or 'agent:<owner id>')
-- ARGV[6] '1': replace an existing reply only; '0': create a new one only
-- Returns 1, or SB:shortcut_taken, SB:not_found (replace), SB:exists (create).
local p = ARGV[1]
local old = redis.call('GET', KEYS[1])
if ARGV[6] == '1' and not old then
  return redis.error_reply('SB:not_found')
elseif ARGV[6] ~= '1' and old then
  return redis.error_reply('SB:exists')
end
local names = p .. ':canned:sc:' .. ARGV[5]
local holder = redis.call('HGET', names, ARGV[4])
if holder and holder ~= ARGV[2] then
  return redis.error_reply('SB:shortcut_taken')
end
if old then
  local o = cjson.decode(old)
  if o.shortcut ~= ARGV[4] then
    redis.call('HDEL', names, o.shortcut)
  end
end
redis.call('SET', KEYS[1], ARGV[3])
redis.call('HSET', names, ARGV[4], ARGV[2])
redis.call('SADD', p .. ':canned:' .. ARGV[5], ARGV[2])
return 1
