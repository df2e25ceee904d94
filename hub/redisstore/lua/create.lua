-- create.lua: open a session unless the open-session limit is reached. It
-- goes to an online bot first (Chatbot) when there is one, else to the queue.
-- KEYS[1] session hash
-- ARGV[1..5] desk context (see desk in lib.lua)
-- ARGV[6] id   ARGV[7] max open (0 = none)   ARGV[8] title   ARGV[9] description
-- ARGV[10] customer id   ARGV[11] customer name
-- Returns {number, state, bot id}, or the error SB:limit or SB:exists.
desk(ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5])
local sid = ARGV[6]
local max_open = tonumber(ARGV[7])
if max_open > 0 and redis.call('ZCARD', k('idx', 'Waiting')) + redis.call('ZCARD', k('idx', 'Active')) >= max_open then
  return redis.error_reply('SB:limit')
end
if redis.call('EXISTS', KEYS[1]) == 1 then
  return redis.error_reply('SB:exists')
end
local number = redis.call('INCR', k('sessions', 'number'))
local bot = redis.call('ZRANGE', k('bots'), 0, 0)[1] or ''
local state = 'Queuing'
if bot ~= '' then
  state = 'Chatbot'
end
redis.call('HSET', KEYS[1],
  'id', sid, 'number', number, 'state', state, 'title', ARGV[8],
  'description', ARGV[9], 'customer_id', ARGV[10], 'customer_name', ARGV[11],
  'agent_id', '', 'agent_name', '', 'bot_id', bot, 'team', '', 'created_at', D.now,
  'queued_at', D.now, 'active_ms', 0, 'seq', 0)
redis.call('ZADD', k('idx', 'all'), number, sid)
redis.call('ZADD', k('idx', 'Waiting'), number, sid)
redis.call('ZADD', k('customer', ARGV[10], 'open'), number, sid)
local ev = {type = 'session.created', state = state}
if bot ~= '' then
  ev.bot_id = bot
end
session_event(sid, ev)
if bot ~= '' then
  redis.call('SADD', k('agent', bot, 'sessions'), sid)
  notice('agent:' .. bot, {type = 'agent.session_added', session_id = sid})
  agent_sync(bot)
else
  redis.call('ZADD', k('queue'), number, sid)
  D.qc = true
end
flush()
return {number, state, bot}
