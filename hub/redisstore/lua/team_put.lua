-- team_put.lua: create a team, or rename one. An empty id takes the next
-- number, so that team ids can be the integers of the CCAI surface.
-- KEYS[1] teams (zset by creation)
-- ARGV[1] key prefix   ARGV[2] id ('' = next number)   ARGV[3] name   ARGV[4] now (ms)
-- ARGV[5] create only ('1': refuse an existing id)
-- Returns the team's id, or the error SB:team_exists.
desk(ARGV[1], ARGV[4], '', 0, '{}')
local id = ARGV[2]
if id == '' then
  repeat
    id = tostring(redis.call('INCR', k('teams', 'number')))
  until redis.call('EXISTS', k('team', id)) == 0
elseif ARGV[5] == '1' and redis.call('EXISTS', k('team', id)) == 1 then
  return redis.error_reply('SB:team_exists')
end
redis.call('HSETNX', k('team', id), 'created_at', ARGV[4])
redis.call('HSET', k('team', id), 'id', id, 'name', ARGV[3])
redis.call('ZADD', KEYS[1], 'NX', ARGV[4], id)
return id
