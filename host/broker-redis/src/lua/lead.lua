-- Acquire or renew a leader lease; returns the holder's fencing token, or nil while another
-- holder has it. A new tenure takes the next value of a counter that never goes back.
-- KEYS: lease hash (holder, token), token counter. ARGV: holder, ttl_ms
local holder = redis.call('HGET', KEYS[1], 'holder')
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return tonumber(redis.call('HGET', KEYS[1], 'token'))
elseif holder then
  return false
end
local token = redis.call('INCR', KEYS[2])
redis.call('HSET', KEYS[1], 'holder', ARGV[1], 'token', token)
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return token
