-- store_check.lua: the store's marker and epoch (the hash prefix:store).
-- Every hub runs it on each new Redis connection, before that connection
-- carries anything else, and its janitor runs it every few seconds. The
-- epoch is spliced into every event (emit in lib.lua) and changes whenever
-- the data could have been recreated or rolled back:
--   * there is no marker: a new store, or one that lost everything;
--   * the marker names another Redis server run (INFO's run_id): Redis
--     restarted (from a snapshot, or an AOF that may lack the last second)
--     or another server took over (a failover to a replica that may lag);
--   * the caller forces it: it saw the store's clock go back.
-- When the epoch of an existing store changes, the number counters of the
-- history surfaces (chat, message and visitor numbers) jump ahead by
-- ARGV[6], so that a number handed out before a rollback is not handed out
-- again for something else.
-- KEYS[1] prefix:store
-- ARGV[1] the server's run_id ('' when unknown: never a reason to change)
-- ARGV[2] a new epoch   ARGV[3] now (ms)   ARGV[4] force ('1' or '0')
-- ARGV[5] key prefix   ARGV[6] the counters' jump
-- Returns {epoch, what: 'same', 'created' or 'changed', clock}.
local h = redis.call('HMGET', KEYS[1], 'epoch', 'run_id', 'clock', 'hooks')
-- The number of webhook endpoints (kept by webhooks.go with each change,
-- read by message.lua): counted here where it is missing, in a store
-- from before it or one created now.
if not h[4] then
  redis.call('HSET', KEYS[1], 'hooks', redis.call('SCARD', ARGV[5] .. ':hooks'))
end
if not h[1] then
  redis.call('HSET', KEYS[1], 'epoch', ARGV[2], 'run_id', ARGV[1], 'clock', 0, 'created_at', ARGV[3])
  return {ARGV[2], 'created', 0}
end
-- A marker that names no run (made where the run was not known: a tenant's
-- first, miniredis) takes the first run it is checked with.
if ARGV[1] ~= '' and (not h[2] or h[2] == '') then
  redis.call('HSET', KEYS[1], 'run_id', ARGV[1])
  h[2] = ARGV[1]
end
local restarted = ARGV[1] ~= '' and h[2] ~= ARGV[1]
if not restarted and ARGV[4] ~= '1' then
  return {h[1], 'same', tonumber(h[3]) or 0}
end
-- The counters before the marker, as in tenant_epoch.lua: a script
-- stopped between the two leaves the marker as it was, to be checked
-- again.
for _, counter in ipairs({'sessions:number', 'messages:number', 'customers:number'}) do
  local key = ARGV[5] .. ':' .. counter
  if redis.call('EXISTS', key) == 1 then
    redis.call('INCRBY', key, ARGV[6])
  end
end
redis.call('HSET', KEYS[1], 'epoch', ARGV[2], 'changed_at', ARGV[3])
if ARGV[1] ~= '' then
  redis.call('HSET', KEYS[1], 'run_id', ARGV[1])
end
return {ARGV[2], 'changed', tonumber(h[3]) or 0}
