-- Store a task record; count its ending in the same atomic step, unless the stored record has
-- ended already (a task that ran again after a crash, its ending durable but its ack not, is
-- counted once); a progress mark never replaces an ending (or the rerun's own ending would look
-- like the first and be counted again).
-- KEYS[1] the record, KEYS[2] the queue's counters hash.
-- ARGV[1] the stored value, ARGV[2] its ttl in ms, ARGV[3] the terminal flag byte,
-- ARGV[4] 'count' or 'progress', then counter name / delta pairs.
local prev = redis.call('GET', KEYS[1])
local ended = prev ~= false and string.byte(prev, 1) == tonumber(ARGV[3])
if ARGV[4] == 'progress' and ended then
  return 0
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
if not ended then
  for i = 5, #ARGV, 2 do
    redis.call('HINCRBY', KEYS[2], ARGV[i], ARGV[i + 1])
  end
end
return 1
