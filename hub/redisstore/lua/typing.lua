-- typing.lua: publish an ephemeral typing event (no seq, not kept) from a
-- party of the session.
-- KEYS[1] session hash
-- ARGV[1] channel   ARGV[2] role   ARGV[3] id   ARGV[4] privileged   ARGV[5] event
-- Returns 1. Errors: SB:not_found, SB:ended, SB:forbidden.
local id, state, err = open_for(KEYS[1], ARGV[2], ARGV[3], ARGV[4])
if err then
  return err
end
redis.call('PUBLISH', ARGV[1], ARGV[5])
return 1
