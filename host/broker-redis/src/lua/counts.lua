-- Counts of one queue by state: {ready, delayed, leased, dead}. Promotes due messages first so
-- that `ready` includes them.
-- ARGV: prefix, group, promote_limit
local prefix, group = ARGV[1], ARGV[2]
promote(prefix, now_ms(), tonumber(ARGV[3]))
local ready, leased = 0, 0
for level = 0, 9 do
  local key = stream_key(prefix, level)
  local info = group_info(key, group, false)
  if info then
    -- Without a lag (a foreign XDEL made it unknowable) estimate: settled entries may remain.
    ready = ready + (info[3] or math.max(0, redis.call('XLEN', key) - info[2]))
    leased = leased + info[2]
  end
end
return {ready, redis.call('ZCARD', prefix .. 'delayed'), leased, redis.call('XLEN', prefix .. 'dead')}
