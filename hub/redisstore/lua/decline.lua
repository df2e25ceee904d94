-- decline.lua: the agent holding an offer declines it, or a supervisor
-- withdraws it; the session goes back to the queue and skips that agent.
-- KEYS[1] session hash
-- ARGV[1..5] desk context   ARGV[6] session id   ARGV[7] agent id   ARGV[8] privileged
-- Returns the session hash after the change, or SB:not_found, SB:ended or SB:not_offered.
desk(ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5])
local id, state, err = open_session(KEYS[1])
if err then
  return err
end
local holder = redis.call('HGET', KEYS[1], 'agent_id')
if state ~= 'WaitingForAgentAnswering' or (holder ~= ARGV[7] and ARGV[8] ~= '1') then
  if holder == ARGV[7] or ARGV[8] == '1' then
    return redis.error_reply('SB:not_offered')
  end
  return redis.error_reply('SB:not_found')
end
requeue(ARGV[6], 'declined', holder)
flush()
return redis.call('HGETALL', KEYS[1])
