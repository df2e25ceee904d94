-- agent_put.lua: create or replace an agent account, keeping e-mail
-- addresses unique among agents.
-- KEYS[1] agent hash   KEYS[2] e-mail index (hash email -> id)   KEYS[3] agents (zset by creation)
-- ARGV[1] id   ARGV[2] name   ARGV[3] email ('' for none)   ARGV[4] role
-- ARGV[5] capacity   ARGV[6] password hash   ARGV[7] now (ms)   ARGV[8] disabled ('1' or '0')
-- ARGV[9] agent channel   ARGV[10] notice published when the agent becomes disabled
-- ARGV[11] create only ('1': refuse an existing id)
-- Returns 1, or the error SB:email_taken or SB:agent_exists.
if ARGV[11] == '1' and redis.call('EXISTS', KEYS[1]) == 1 then
  return redis.error_reply('SB:agent_exists')
end
if ARGV[3] ~= '' then
  local owner = redis.call('HGET', KEYS[2], ARGV[3])
  if owner and owner ~= ARGV[1] then
    return redis.error_reply('SB:email_taken')
  end
end
local old_email = redis.call('HGET', KEYS[1], 'email')
if old_email and old_email ~= '' and old_email ~= ARGV[3] then
  redis.call('HDEL', KEYS[2], old_email)
end
if ARGV[3] ~= '' then
  redis.call('HSET', KEYS[2], ARGV[3], ARGV[1])
end
redis.call('HSETNX', KEYS[1], 'status', 'Offline')
redis.call('HSETNX', KEYS[1], 'created_at', ARGV[7])
local was_disabled = redis.call('HGET', KEYS[1], 'disabled') == '1'
redis.call('HSET', KEYS[1], 'id', ARGV[1], 'name', ARGV[2], 'email', ARGV[3], 'role', ARGV[4],
  'capacity', ARGV[5], 'password_hash', ARGV[6], 'disabled', ARGV[8])
if ARGV[8] == '1' and not was_disabled then
  redis.call('PUBLISH', ARGV[9], ARGV[10])
end
redis.call('ZADD', KEYS[3], 'NX', ARGV[7], ARGV[1])
return 1
