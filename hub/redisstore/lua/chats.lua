-- chats.lua: one page of the chat-history indexes, read atomically with
-- their count. The index is the visitor's when visitor is given, else the
-- user's when user is given, else all chats; all are scored by creation
-- time (ms), with members that sort by number within a millisecond. A page
-- is found by rank (the first member in range, then ZRANGE from its rank
-- plus the offset), so a deep page costs what the first does. With both
-- visitor and user, the visitor's chats (a handful) are filtered by the
-- user id they began with.
-- KEYS[1] prefix:chats (declared so that Cluster runs it on its node)
-- ARGV[1] key prefix   ARGV[2] now (ms)   ARGV[3] prune limit
-- ARGV[4] visitor number ('' for any)   ARGV[5] user id ('' for any)
-- ARGV[6] created from (ms, '' for none)   ARGV[7] created before (ms, exclusive; '' for none)
-- ARGV[8] offset   ARGV[9] count   ARGV[10] '1' for newest first
-- Returns {total, {session hash..., 'agent_number', n}, ...}.
local prefix = ARGV[1]
prune(prefix, ARGV[2], tonumber(ARGV[3]))
local visitor, user = ARGV[4], ARGV[5]
local lo, hi = tonumber(ARGV[6]), tonumber(ARGV[7])
local min, max = '-inf', '+inf'
if lo then
  min = lo
end
if hi then
  max = '(' .. hi
end
local offset, count = tonumber(ARGV[8]), tonumber(ARGV[9])
local newest = ARGV[10] == '1'
local key = prefix .. ':chats'
if visitor ~= '' then
  key = prefix .. ':visitor:' .. visitor .. ':chats'
elseif user ~= '' then
  key = prefix .. ':user:' .. user .. ':chats'
end

local function in_range(score)
  score = tonumber(score)
  return (not lo or score >= lo) and (not hi or score < hi)
end

-- range returns up to c members in range from the o-th, in page order.
local function range(o, c)
  local first
  if newest then
    first = redis.call('ZREVRANGEBYSCORE', key, max, min, 'LIMIT', 0, 1)[1]
  else
    first = redis.call('ZRANGEBYSCORE', key, min, max, 'LIMIT', 0, 1)[1]
  end
  if not first then
    return {}
  end
  local rank, got
  if newest then
    rank = redis.call('ZREVRANK', key, first) + o
    got = redis.call('ZREVRANGE', key, rank, c < 0 and -1 or rank + c - 1, 'WITHSCORES')
  else
    rank = redis.call('ZRANK', key, first) + o
    got = redis.call('ZRANGE', key, rank, c < 0 and -1 or rank + c - 1, 'WITHSCORES')
  end
  local out = {}
  for i = 1, #got, 2 do
    if not in_range(got[i + 1]) then
      break
    end
    out[#out + 1] = got[i]
  end
  return out
end

local function sid_of(member)
  return string.sub(member, 14)
end

local total, members = 0, {}
if visitor ~= '' and user ~= '' then
  for _, m in ipairs(range(0, -1)) do
    if redis.call('HGET', prefix .. ':session:' .. sid_of(m), 'user_id') == user then
      total = total + 1
      if total > offset and #members < count then
        members[#members + 1] = m
      end
    end
  end
else
  total = redis.call('ZCOUNT', key, min, max)
  members = range(offset, count)
end

local out = {total}
for _, m in ipairs(members) do
  local sid = sid_of(m)
  local h = redis.call('HGETALL', prefix .. ':session:' .. sid)
  if #h == 0 then
    -- Expired before prune saw it (Redis' clock ahead of ours): heal the indexes.
    retire(prefix, sid)
    out[1] = out[1] - 1
  else
    local agent = redis.call('HGET', prefix .. ':session:' .. sid, 'handled_by')
    if agent and agent ~= '' then
      h[#h + 1] = 'agent_number'
      h[#h + 1] = redis.call('HGET', prefix .. ':agent:' .. agent, 'agent_number') or ''
    end
    out[#out + 1] = h
  end
end
return out
