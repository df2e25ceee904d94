-- call_signal.lua: relay a WebRTC signal (an SDP offer or answer, an ICE
-- candidate) of a call from one leg's device to the other's sockets,
-- published on the session's channel and never kept. The sender must be
-- the party's device in the call; before the call is accepted the inviter
-- may not signal yet (the answering device is not known).
-- KEYS[1] session hash
-- ARGV[1] channel   ARGV[2] role   ARGV[3] id   ARGV[4] device   ARGV[5] call id
-- ARGV[6] the event, a JSON object, to which "to" (the other leg's device) is added
-- Returns 1, or SB:not_found, SB:ended, SB:forbidden, SB:no_call, SB:call_state.
local s = redis.call('HMGET', KEYS[1], 'id', 'state', 'customer_id', 'agent_id', 'call_id', 'call_state',
  'call_c_dev', 'call_a_dev')
if not s[1] then
  return redis.error_reply('SB:not_found')
elseif s[2] == 'Ended' then
  return redis.error_reply('SB:ended')
end
local role, id = ARGV[2], ARGV[3]
if not party_may_act(s[2], s[3], s[4], '', role, id, '0') then
  return refusal(s[3], s[4], '', role, id)
end
if not s[5] or s[5] == '' or s[5] ~= ARGV[5] then
  return redis.error_reply('SB:no_call')
end
local mine, theirs = s[7], s[8]
if role ~= 'customer' then
  mine, theirs = s[8], s[7]
end
if s[6] == 'ringing' or mine ~= ARGV[4] or not theirs or theirs == '' then
  return redis.error_reply('SB:call_state')
end
redis.call('PUBLISH', ARGV[1], string.sub(ARGV[6], 1, -2) .. ',"to":' .. cjson.encode(theirs) .. '}')
return 1
