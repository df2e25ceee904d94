-- tenant_create.lua: registers a tenant unless its id is taken.
-- KEYS[1] prefix:tenants   KEYS[2] prefix:tenant-keys
-- ARGV[1] id   ARGV[2] the tenant as JSON   ARGV[3] its admin key's hash
-- Returns 1, or 0 when the id is taken.
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 0 then
  return 0
end
redis.call('HSET', KEYS[2], ARGV[3], ARGV[1])
return 1
