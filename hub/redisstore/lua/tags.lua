-- tags.lua: set a session's tags (staff's labels: refund, vip…), replacing
-- the ones it had: each tag's index (prefix:tag:<tag>, sessions by number,
-- for the filtered lists) and the session's own set (prefix:session:<id>:tags,
-- which retire reads to undo the indexes once the session is gone) change
-- with the session's field tags, and session.tags (staff only: a customer's
-- socket gets a hidden placeholder) is appended.
-- KEYS[1] session hash
-- ARGV[1..5] desk context   ARGV[6] session id   ARGV[7] role   ARGV[8] id   ARGV[9] name
-- ARGV[10] privileged ('1': a supervisor, an admin or the admin key)
-- ARGV[11] the tags, a JSON array of distinct valid tags, sorted
-- Returns the event's seq, or SB:not_found (no such session, or not the
-- agent's: its agent now or the last one who handled it).
desk(ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5])
local sid = ARGV[6]
local h = redis.call('HMGET', KEYS[1], 'id', 'agent_id', 'handled_by', 'number')
if not h[1] then
  return redis.error_reply('SB:not_found')
elseif ARGV[10] ~= '1' and (ARGV[7] ~= 'agent' or (h[2] ~= ARGV[8] and h[3] ~= ARGV[8])) then
  return redis.error_reply('SB:not_found')
end
local tags = cjson.decode(ARGV[11])
local want = {}
for _, t in ipairs(tags) do
  want[t] = true
end
local own = KEYS[1] .. ':tags'
for _, t in ipairs(redis.call('SMEMBERS', own)) do
  if not want[t] then
    redis.call('ZREM', k('tag', t), sid)
    redis.call('SREM', own, t)
  end
end
for _, t in ipairs(tags) do
  redis.call('ZADD', k('tag', t), h[4], sid)
  redis.call('SADD', own, t)
end
redis.call('HSET', KEYS[1], 'tags', ARGV[11])
local by = {role = ARGV[7], id = ARGV[8]}
if ARGV[9] ~= '' then
  by.name = ARGV[9]
end
local ev = {type = 'session.tags', from = by}
if #tags > 0 then
  ev.tags = tags -- absent: none (an empty Lua table would encode as {})
end
return session_event(sid, ev)
