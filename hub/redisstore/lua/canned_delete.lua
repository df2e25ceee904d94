-- canned_delete.lua: delete a canned reply with its index entries, as
-- stored now (a rename racing with the delete leaves no stale shortcut,
-- and never frees a shortcut another reply holds).
-- KEYS[1] the reply's key (prefix:canned:<id>)
-- ARGV[1] key prefix   ARGV[2] id
-- Returns 1, or SB:not_found.
local p = ARGV[1]
local old = redis.call('GET', KEYS[1])
if not old then
  return redis.error_reply('SB:not_found')
end
local o = cjson.decode(old)
local scope = 'shared'
if o.scope == 'personal' then
  scope = 'agent:' .. o.owner_id
end
local names = p .. ':canned:sc:' .. scope
if redis.call('HGET', names, o.shortcut) == ARGV[2] then
  redis.call('HDEL', names, o.shortcut)
end
redis.call('SREM', p .. ':canned:' .. scope, ARGV[2])
redis.call('DEL', KEYS[1])
return 1
