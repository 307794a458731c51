-- On a Redis Cluster: count a task's record in its queue's counters, once per ending. The
-- record lives in another slot, so the check "has this task ended already" reads a mark kept
-- beside the counters instead of the record (record.lua does both in one step on one server).
-- KEYS[1] the queue's counters hash, KEYS[2] the task's ended mark.
-- ARGV[1] '1' when the record is an ending, ARGV[2] the record's ttl in ms (the mark's too),
-- then counter name / delta pairs. Returns 1 when counted, 0 when the task had ended already.
if redis.call('EXISTS', KEYS[2]) == 1 then
  return 0
end
for i = 3, #ARGV, 2 do
  redis.call('HINCRBY', KEYS[1], ARGV[i], ARGV[i + 1])
end
if ARGV[1] == '1' then
  redis.call('SET', KEYS[2], '1', 'PX', ARGV[2])
end
return 1
