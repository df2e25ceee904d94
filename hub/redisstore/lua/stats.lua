-- stats.lua: the session counts by status. The counters are the sizes of
-- the indexes that the transition scripts maintain, so they cannot drift
-- from the sessions themselves.
-- KEYS[1] idx:all   KEYS[2] idx:Waiting   KEYS[3] idx:Active   KEYS[4] idx:Ended
-- ARGV[1] now (ms)   ARGV[2] key prefix   ARGV[3] prune limit
-- Returns {total, waiting, active, ended}.
prune(ARGV[2], ARGV[1], tonumber(ARGV[3]))
return {redis.call('ZCARD', KEYS[1]), redis.call('ZCARD', KEYS[2]),
  redis.call('ZCARD', KEYS[3]), redis.call('ZCARD', KEYS[4])}
