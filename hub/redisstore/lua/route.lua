-- route.lua: offer queued sessions to the routable agents (route_queue).
-- KEYS[1] queue
-- ARGV[1..5] desk context   ARGV[6] most sessions to route
-- Returns {how many it routed, how many sessions the queue holds after}.
desk(ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5])
local routed, queued = route_queue(tonumber(ARGV[6]))
flush()
return {routed, queued}
