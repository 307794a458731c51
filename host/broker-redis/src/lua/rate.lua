-- GCRA: reserve the next slot of a global rate. Slots are `interval` microseconds apart and
-- never bunch up (no burst). Time is the Redis server's, so every host agrees.
-- KEYS[1]: the theoretical arrival time of the next slot (microseconds); ARGV[1]: interval_us.
-- Returns how many microseconds the caller waits before using its slot.
local interval = tonumber(ARGV[1])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0') or 0
if tat < now then tat = now end
local wait = tat - now
local ttl_ms = math.ceil((wait + interval) / 1000) + 1000
redis.call('SET', KEYS[1], string.format('%.0f', tat + interval), 'PX', ttl_ms)
return wait
