-- Settle one delivery other than a plain ack: retry (park until due), requeue, dead-letter.
-- ARGV: prefix, group, consumer, level, entry_id, mode, delay_ms, reason, fields...
-- Returns 1, or 0 when this consumer no longer holds the entry (its lease ended and another
-- host took it over, or it was settled already): then nothing changes.
local prefix, group, consumer = ARGV[1], ARGV[2], ARGV[3]
local key, id, mode = stream_key(prefix, tonumber(ARGV[4])), ARGV[5], ARGV[6]
local p = redis.pcall('XPENDING', key, group, id, id, 1)
if type(p) ~= 'table' or p.err or #p == 0 or p[1][2] ~= consumer then return 0 end
local fields = {}
for i = 9, #ARGV do fields[#fields + 1] = ARGV[i] end
redis.call('XACK', key, group, id)
trim(key, group)
local now = now_ms()
if mode == 'retry' then
  park(prefix, fields, now + tonumber(ARGV[7]))
elseif mode == 'requeue' then
  redis.call('XADD', stream_key(prefix, level_of(fields)), '*', unpack(fields))
else
  fields[#fields + 1] = 'reason'; fields[#fields + 1] = ARGV[8]
  fields[#fields + 1] = 'dead_ms'; fields[#fields + 1] = tostring(now)
  redis.call('XADD', prefix .. 'dead', '*', unpack(fields))
end
return 1
