-- agent_put.lua: create or replace an agent account, keeping e-mail
-- addresses unique among agents and the member sets of its teams in step.
-- KEYS[1] agent hash
-- ARGV[1..5] desk context   ARGV[6] id   ARGV[7] name   ARGV[8] email ('' for none)
-- ARGV[9] role   ARGV[10] capacity   ARGV[11] password hash   ARGV[12] created (ms)
-- ARGV[13] disabled ('1' or '0')   ARGV[14] create only ('1': refuse an existing id)
-- ARGV[15] agent number   ARGV[16] team ids, comma-separated
-- ARGV[17] email as written (ARGV[8] is its normalized form, the look-up key)
-- Returns 1, or the error SB:email_taken, SB:agent_exists or SB:no_team:<id>.
desk(ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5])
local aid = ARGV[6]
if ARGV[14] == '1' and redis.call('EXISTS', KEYS[1]) == 1 then
  return redis.error_reply('SB:agent_exists')
end
local teams = {}
for t in string.gmatch(ARGV[16], '[^,]+') do
  if redis.call('EXISTS', k('team', t)) == 0 then
    return redis.error_reply('SB:no_team:' .. t)
  end
  teams[#teams + 1] = t
end
local emails = k('agents', 'email')
if ARGV[8] ~= '' then
  local owner = redis.call('HGET', emails, ARGV[8])
  if owner and owner ~= aid then
    return redis.error_reply('SB:email_taken')
  end
end
local old = redis.call('HMGET', KEYS[1], 'email_key', 'teams', 'disabled')
old[1] = old[1] or redis.call('HGET', KEYS[1], 'email') -- accounts written before email_key
if old[1] and old[1] ~= '' and old[1] ~= ARGV[8] then
  redis.call('HDEL', emails, old[1])
end
if ARGV[8] ~= '' then
  redis.call('HSET', emails, ARGV[8], aid)
end
for t in string.gmatch(old[2] or '', '[^,]+') do
  redis.call('SREM', k('team', t, 'agents'), aid)
end
for _, t in ipairs(teams) do
  redis.call('SADD', k('team', t, 'agents'), aid)
end
if redis.call('HSETNX', KEYS[1], 'status', 'Offline') == 1 then
  redis.call('HSET', KEYS[1], 'status_since', ARGV[12]) -- Offline since it was made (reports)
end
redis.call('HSETNX', KEYS[1], 'created_at', ARGV[12])
redis.call('HSET', KEYS[1], 'id', aid, 'name', ARGV[7], 'email', ARGV[17], 'email_key', ARGV[8], 'role', ARGV[9],
  'capacity', ARGV[10], 'password_hash', ARGV[11], 'disabled', ARGV[13], 'agent_number', ARGV[15],
  'teams', ARGV[16])
if ARGV[13] == '1' and old[3] ~= '1' then
  notice('agent:' .. aid, {type = 'agent.disabled'})
end
redis.call('ZADD', k('agents'), 'NX', ARGV[12], aid)
agent_sync(aid)
flush()
return 1
