-- expire.lua: offers not answered in time go back to the queue, skipping
-- the agent that let them lapse.
-- KEYS[1] offers (zset session -> deadline)
-- ARGV[1..5] desk context   ARGV[6] most offers to expire
-- Returns how many it expired.
desk(ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5])
local _, n = expire_offers(tonumber(ARGV[6]))
flush()
return n
