-- typing.lua: publish an ephemeral typing event (no seq, not kept) from a
-- party of the session.
-- KEYS[1] session hash
-- ARGV[1] channel   ARGV[2] role   ARGV[3] id   ARGV[4] privileged   ARGV[5] event
-- Returns 1. Errors: SB:not_found, SB:ended, SB:forbidden.
local id, state, err = open_session(KEYS[1])
if err then
  return err
end
if not may_act(KEYS[1], state, ARGV[2], ARGV[3], ARGV[4]) then
  return refuse(KEYS[1], ARGV[2], ARGV[3])
end
redis.call('PUBLISH', ARGV[1], ARGV[5])
return 1
