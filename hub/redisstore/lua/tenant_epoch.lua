-- tenant_epoch.lua: a tenant's store epoch follows the deployment's. The
-- guard checks the deployment's marker (store_check.lua); a tenant's keys
-- live on the same Redis, so when the deployment's epoch changes (a
-- restart, a failover, data lost) every tenant's changes with it, and the
-- tenant's number counters jump as store_check makes the default tenant's.
-- KEYS[1] the tenant's prefix:store
-- ARGV[1] the epoch   ARGV[2] now (ms)   ARGV[3] the tenant's key prefix
-- ARGV[4] the counters' jump   ARGV[5] 'init' (set only where none is) or 'change'
-- Returns 1 when the tenant's epoch changed, else 0.
local cur = redis.call('HGET', KEYS[1], 'epoch')
if cur == ARGV[1] or (ARGV[5] == 'init' and cur) then
  return 0
end
-- The counters before the epoch: a script stopped between the two (an
-- error mid-script keeps what was written) must not leave the epoch set
-- without the jump. A jump repeated by the next check only moves the
-- numbers further ahead.
if cur then
  for _, counter in ipairs({'sessions:number', 'messages:number', 'customers:number'}) do
    local key = ARGV[3] .. ':' .. counter
    if redis.call('EXISTS', key) == 1 then
      redis.call('INCRBY', key, ARGV[4])
    end
  end
end
redis.call('HSET', KEYS[1], 'epoch', ARGV[1], 'changed_at', ARGV[2])
return 1
