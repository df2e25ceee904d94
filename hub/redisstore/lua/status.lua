-- status.lua: set the status agents chose (Available or a custom one;
-- the caller has checked that it is one of those).
-- With strict ('1', the CCAI surface) an agent shown In-call or Offline is
-- refused and left as is; otherwise (an agent setting its own) the choice
-- is kept and shows once the agent is back or its last session ends.
-- Every id must exist, or nothing changes.
-- KEYS[1] agents (zset)
-- ARGV[1..5] desk context   ARGV[6] status   ARGV[7] strict   ARGV[8..] agent ids
-- Returns one {id, previous, current, refusal} per agent, refusal being
-- '', 'In-call' or 'Offline'; or the error SB:no_agent:<id>.
desk(ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5])
for i = 8, #ARGV do
  if redis.call('EXISTS', k('agent', ARGV[i])) == 0 then
    return redis.error_reply('SB:no_agent:' .. ARGV[i])
  end
end
local out = {}
for i = 8, #ARGV do
  local aid = ARGV[i]
  local akey = k('agent', aid)
  agent_sync(aid)
  local prev = redis.call('HGET', akey, 'status') or 'Offline'
  local refusal = ''
  if ARGV[7] == '1' and (prev == 'In-call' or prev == 'Offline') then
    refusal = prev
  else
    redis.call('HSET', akey, 'chosen', ARGV[6])
    if ARGV[6] == 'Available' and prev ~= 'Available' then
      redis.call('HSET', akey, 'idle_since', math.floor(D.now / 1000))
    end
    agent_sync(aid)
  end
  out[#out + 1] = {aid, prev, redis.call('HGET', akey, 'status'), refusal}
end
flush()
return out
