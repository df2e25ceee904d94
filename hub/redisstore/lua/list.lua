-- list.lua: one page of an index, newest first, with the index's size, read
-- atomically so that the count and the page agree.
-- KEYS[1] the index (idx:all or idx:<Status>)
-- ARGV[1] now (ms)   ARGV[2] start   ARGV[3] stop   ARGV[4] key prefix   ARGV[5] prune limit
-- Returns {total, {hash}, {hash}, ...}.
local prefix = ARGV[4]
prune(prefix, ARGV[1], tonumber(ARGV[5]))
local ids = redis.call('ZREVRANGE', KEYS[1], ARGV[2], ARGV[3])
local out = {0}
local missing = 0
for _, id in ipairs(ids) do
  local h = redis.call('HGETALL', prefix .. ':session:' .. id)
  if #h == 0 then
    -- Expired before prune saw it (Redis' clock ahead of ours): heal the indexes.
    missing = missing + 1
    retire(prefix, id)
  else
    out[#out + 1] = h
  end
end
out[1] = redis.call('ZCARD', KEYS[1])
return out
