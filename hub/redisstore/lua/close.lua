-- close.lua: end a session from any open state; it and its stream are kept
-- for the retention period, then expire, and prune drops it from the indexes.
-- KEYS[1] session hash
-- ARGV[1..5] desk context   ARGV[6] session id   ARGV[7] retention (ms)
-- ARGV[8] closer role   ARGV[9] closer id   ARGV[10] closer name
-- ARGV[11] privileged ('1' for an admin, a supervisor or the system)
-- Returns the session hash after the change (HGETALL), or the error
-- SB:not_found, SB:ended or SB:forbidden.
desk(ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5])
local sid = ARGV[6]
local id, state, err = open_for(KEYS[1], ARGV[8], ARGV[9], ARGV[11])
if err then
  return err
end
local by = {role = ARGV[8], id = ARGV[9]}
if ARGV[10] ~= '' then
  by.name = ARGV[10]
end
close_session(sid, state, by, ARGV[7])
return redis.call('HGETALL', KEYS[1])
