-- prune.lua: drop up to a limit of expired ended sessions from the indexes
-- (the janitor calls it until it returns less than the limit).
-- KEYS[1] prefix:idx:expiry (declared so that Cluster runs it on its node)
-- ARGV[1] now (ms)   ARGV[2] key prefix   ARGV[3] limit
-- Returns how many it dropped.
return prune(ARGV[2], ARGV[1], tonumber(ARGV[3]))
