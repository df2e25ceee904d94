-- rate.lua: the customer of an ended session rates it, once: the rating is
-- stored on the session, counted in the rating totals (overall and of the
-- agent who handled it), recorded for retire, appended to the session's
-- stream as session.rated, told to that agent and queued for webhooks.
-- KEYS[1] session hash
-- ARGV[1..5] desk context   ARGV[6] session id   ARGV[7] customer id
-- ARGV[8] score (1..5)   ARGV[9] comment ('' for none)
-- Returns the session hash after the change, or SB:not_found (no such
-- session, or not this customer's), SB:not_ended or SB:rated.
desk(ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5])
local sid = ARGV[6]
local h = redis.call('HMGET', KEYS[1], 'id', 'state', 'customer_id', 'rating', 'handled_by')
if not h[1] or h[3] ~= ARGV[7] then
  return redis.error_reply('SB:not_found')
elseif h[2] ~= 'Ended' then
  return redis.error_reply('SB:not_ended')
elseif h[4] and h[4] ~= '' then
  return redis.error_reply('SB:rated')
end
local score = tonumber(ARGV[8])
redis.call('HSET', KEYS[1], 'rating', score, 'rating_comment', ARGV[9], 'rated_at', D.now)
redis.call('HINCRBY', k('ratings'), 'sum', score)
redis.call('HINCRBY', k('ratings'), 'count', 1)
local agent = h[5] or ''
if agent ~= '' and redis.call('EXISTS', k('agent', agent)) == 1 then
  redis.call('HINCRBY', k('agent', agent), 'rating_sum', score)
  redis.call('HINCRBY', k('agent', agent), 'rating_count', 1)
end
local raw = redis.call('HGET', k('retire'), sid)
if raw then
  local r = cjson.decode(raw)
  r.r = score
  redis.call('HSET', k('retire'), sid, cjson.encode(r))
end
local inc = {rating_sum = score, rating_n = 1}
if score >= 4 then
  inc.rating_pos = 1
end
report(rep_dims(redis.call('HGET', KEYS[1], 'report_team'), agent), inc)
local rating = {score = score}
if ARGV[9] ~= '' then
  rating.comment = ARGV[9]
end
local seq = session_event(sid, {type = 'session.rated', rating = rating})
if agent ~= '' then
  notice('agent:' .. agent, {type = 'session.rated', session_id = sid, rating = rating})
end
hook(D.p, 'session.rated', sid, seq, D.iso)
return redis.call('HGETALL', KEYS[1])
