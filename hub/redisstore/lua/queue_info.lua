-- queue_info.lua: one consistent look at the queue: its version, length,
-- the average interval between sessions leaving it (ms, 0 when unknown),
-- when its longest-waiting session entered it (ms, 0 when empty), and the
-- 1-based position of each session asked about (0 when not queued).
-- KEYS[1] queue
-- ARGV[1] key prefix   ARGV[2..] session ids
desk(ARGV[1], 0, '', 0, '{}')
local version = num(redis.call('GET', k('queue', 'version')))
local len = redis.call('ZCARD', KEYS[1])
local ewma = num(redis.call('HGET', k('queue', 'stats'), 'ewma'))
local oldest = 0
for _, sid in ipairs(redis.call('ZRANGE', KEYS[1], 0, 9)) do
  local q = num(redis.call('HGET', k('session', sid), 'queued_at'))
  if q > 0 and (oldest == 0 or q < oldest) then
    oldest = q
  end
end
local out = {version, len, ewma, oldest}
for i = 2, #ARGV do
  local r = redis.call('ZRANK', KEYS[1], ARGV[i])
  out[#out + 1] = r and r + 1 or 0
end
return out
