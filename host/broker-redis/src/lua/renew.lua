-- Extend the lease of one delivery: reset its idle time to `horizon - lease` (see the prelude).
-- ARGV: prefix, group, consumer, level, entry_id, lease_ms
-- Returns 1, 0 when another consumer holds it now, -1 when it is no longer pending.
local prefix, group, consumer = ARGV[1], ARGV[2], ARGV[3]
local key, id = stream_key(prefix, tonumber(ARGV[4])), ARGV[5]
local p = redis.pcall('XPENDING', key, group, id, id, 1)
if type(p) ~= 'table' or p.err or #p == 0 then return -1 end
if p[1][2] ~= consumer then return 0 end
local lease = tonumber(ARGV[6])
local idle = raise_horizon(prefix, horizon_of(prefix), lease) - lease
redis.call('XCLAIM', key, group, consumer, 0, id, 'IDLE', idle, 'JUSTID')
return 1
