-- create.lua: open a session unless the open-session limit is reached. It
-- goes to an online bot first (Chatbot) when there is one, else to the queue.
-- KEYS[1] session hash
-- ARGV[1..5] desk context (see desk in lib.lua)
-- ARGV[6] id   ARGV[7] max open (0 = none)   ARGV[8] title   ARGV[9] description
-- ARGV[10] customer id   ARGV[11] customer name
-- ARGV[12] the ticket-system user id vouched for the customer ('' for none)
-- ARGV[13] who started it: 'visitor' or 'agent'
-- ARGV[14] the customer's e-mail address ('' for none)
-- ARGV[15] '1' for an offline message: no agent could answer (or it was
-- outside business hours); the session waits in prefix:offline, by number,
-- where agents pick it (assign.lua's pick rule) and routing never offers it.
-- The customer's record (prefix:customer:<id>) gets its visitor number the
-- first time; the session enters the chat-history indexes by creation time
-- (which is kept from going backwards, so that number order is time order
-- even across instances whose clocks differ a little).
-- Returns {number, state, bot id, visitor number, user id, created (ms)},
-- or the error SB:limit or SB:exists.
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
local created = math.max(D.now, num(redis.call('GET', k('sessions', 'last_created'))))
redis.call('SET', k('sessions', 'last_created'), created)
local ckey = k('customer', ARGV[10])
local visitor = redis.call('HGET', ckey, 'number')
if not visitor then
  visitor = redis.call('INCR', k('customers', 'number'))
  redis.call('HSET', ckey, 'number', visitor, 'id', ARGV[10])
end
redis.call('HSET', ckey, 'name', ARGV[11])
if ARGV[14] ~= '' then
  redis.call('HSET', ckey, 'email', ARGV[14])
end
if ARGV[12] ~= '' then
  redis.call('HSET', ckey, 'user_id', ARGV[12])
end
local user = redis.call('HGET', ckey, 'user_id') or ''
local offline = ARGV[15] == '1'
local bot = ''
if not offline then
  bot = redis.call('ZRANGE', k('bots'), 0, 0)[1] or ''
end
local state = 'Queuing'
if bot ~= '' then
  state = 'Chatbot'
end
redis.call('HSET', KEYS[1],
  'id', sid, 'number', number, 'state', state, 'title', ARGV[8],
  'description', ARGV[9], 'customer_id', ARGV[10], 'customer_name', ARGV[11],
  'agent_id', '', 'agent_name', '', 'bot_id', bot, 'team', '', 'created_at', created,
  'queued_at', D.now, 'active_ms', 0, 'seq', 0, 'visitor', visitor, 'user_id', user, 'started_by', ARGV[13],
  'customer_email', ARGV[14])
if offline then
  redis.call('HSET', KEYS[1], 'offline', '1')
end
local member = chat_member(number, sid)
redis.call('ZADD', k('chats'), created, member)
redis.call('ZADD', k('visitor', visitor, 'chats'), created, member)
if user ~= '' then
  redis.call('ZADD', k('user', user, 'chats'), created, member)
end
redis.call('ZADD', k('idx', 'all'), number, sid)
redis.call('ZADD', k('idx', 'Waiting'), number, sid)
redis.call('ZADD', k('customer', ARGV[10], 'open'), number, sid)
local ev = {type = 'session.created', state = state}
if bot ~= '' then
  ev.bot_id = bot
end
if offline then
  ev.offline = true
end
local seq = session_event(sid, ev, redis.call('INCR', k('messages', 'number')))
report(rep_dims(), {created = 1, offline = offline and 1 or nil})
hook(D.p, 'session.created', sid, seq, D.iso)
if bot ~= '' then
  redis.call('SADD', k('agent', bot, 'sessions'), sid)
  notice('agent:' .. bot, {type = 'agent.session_added', session_id = sid})
  agent_sync(bot)
elseif offline then
  redis.call('ZADD', k('offline'), number, sid)
else
  redis.call('ZADD', k('queue'), number, sid)
  D.qc = true
end
flush()
return {number, state, bot, tonumber(visitor), user, created}
