-- report_read.lua: one dimension's figures in each bucket of a report, in
-- one call: a report by hour over 30 days reads 720 hashes, and one short
-- request (the fields named once) with integer replies costs less than
-- 720 HMGETs naming every field each (docs/performance.md, reports).
-- KEYS the buckets' hashes   ARGV the fields ("<dim>|<figure>")
-- Returns, per key, the fields' values as integers (0 where unset).
local out = {}
for i, key in ipairs(KEYS) do
  local vals = redis.call('HMGET', key, unpack(ARGV))
  for j = 1, #ARGV do
    vals[j] = tonumber(vals[j]) or 0
  end
  out[i] = vals
end
return out
