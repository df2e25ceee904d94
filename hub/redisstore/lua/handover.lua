-- handover.lua: the bot handling a session (or a privileged party) hands
-- it over to the queue for a human agent.
-- KEYS[1] session hash
-- ARGV[1..5] desk context   ARGV[6] session id   ARGV[7] by role   ARGV[8] by id   ARGV[9] privileged
-- Returns the session hash after the change, or SB:not_found, SB:ended,
-- SB:forbidden or SB:not_chatbot.
desk(ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5])
local id, state, err = open_session(KEYS[1])
if err then
  return err
end
if state ~= 'Chatbot' then
  if ARGV[9] == '1' or redis.call('HGET', KEYS[1], 'bot_id') == ARGV[8] then
    return redis.error_reply('SB:not_chatbot')
  end
  return refuse(KEYS[1], ARGV[7], ARGV[8])
end
if not may_act(KEYS[1], state, ARGV[7], ARGV[8], ARGV[9]) then
  return refuse(KEYS[1], ARGV[7], ARGV[8])
end
requeue(ARGV[6], 'handover')
flush()
return redis.call('HGETALL', KEYS[1])
