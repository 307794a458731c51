-- Claim one schedule tick: only the current lease token may, and only for a tick newer than
-- the schedule's last. Returns 1 when claimed (the caller then publishes it), else 0.
-- KEYS: lease hash, last-tick hash. ARGV: token, schedule, tick_ms
if redis.call('HGET', KEYS[1], 'token') ~= ARGV[1] then
  return 0
end
local last = tonumber(redis.call('HGET', KEYS[2], ARGV[2]) or '-1')
if last >= tonumber(ARGV[3]) then
  return 0
end
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
return 1
