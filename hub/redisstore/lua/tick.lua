-- tick.lua: an instance's periodic look at one contact center's desk, in
-- one call: sweep the presence, expire the offers, route the queue, end the
-- calls that rang out or lost a leg (expire_calls), and say
-- when the store next has something due, so that the instance sleeps until
-- then instead of asking again every few seconds (docs/tenants.md).
-- Idempotent: any instance may run it at any time.
-- KEYS[1] presence  KEYS[2] offers  KEYS[3] queue (the keys it touches first)
-- ARGV[1..5] desk context   ARGV[6] most entries of each kind
-- Returns {agents looked at, offers looked at, sessions routed, sessions
-- queued after, the earliest time (ms) anything in presence, offers or calls falls
-- due, or 0 when nothing does}. A count equal to the limit means more are
-- due now.
desk(ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5])
local limit = tonumber(ARGV[6])
local agents = sweep_presence(limit)
local offers = expire_offers(limit)
local routed, queued = route_queue(limit)
expire_calls(limit)
flush()
local next_due = 0
for _, key in ipairs({KEYS[1], KEYS[2], k('calls')}) do
  local top = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
  if top[2] and (next_due == 0 or tonumber(top[2]) < next_due) then
    next_due = tonumber(top[2])
  end
end
return {agents, offers, routed, queued, next_due}
