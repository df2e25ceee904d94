-- sweep.lua: drop the connections whose instance stopped refreshing them
-- (crashed, partitioned) and turn Offline the agents left with none and no
-- grace period running. Idempotent: any instance may run it at any time.
-- KEYS[1] presence (zset agent -> when it must be looked at again)
-- ARGV[1..5] desk context   ARGV[6] most agents to look at
-- Returns how many agents it turned Offline.
desk(ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5])
local _, n = sweep_presence(tonumber(ARGV[6]))
flush()
return n
