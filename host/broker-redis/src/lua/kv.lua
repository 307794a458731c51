-- One operation on a queue's task key-value namespace, atomically; mirrors
-- `wasmboost_broker::kv::decide` (the rules) and its quota check.
-- KEYS[1]: the namespace's values (hash key -> value); KEYS[2]: expiries (zset key -> ms);
-- KEYS[3]: bytes held (keys + values). All three carry the queue's hash tag.
-- ARGV: op (get|set|delete|incr|cas), key, value, ttl_ms ('' = none), expected ('' = absent,
-- else 'v' .. value), delta, max_keys, max_value_bytes, max_total_bytes.
-- Returns a flat array of strings: {'value', v} | {'none'} | {'stored'} | {'deleted', '0'|'1'}
-- | {'counted', n} | {'swapped', '0'|'1'} | {'refused', why, a, b}.
local data, exp, size = KEYS[1], KEYS[2], KEYS[3]
local op, key, value, ttl = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local max_keys, max_value, max_total = tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[9])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)

local function drop(k)
  local v = redis.call('HGET', data, k)
  if v then
    redis.call('HDEL', data, k)
    redis.call('DECRBY', size, #k + #v)
  end
  redis.call('ZREM', exp, k)
end

local function purge()
  local due = redis.call('ZRANGEBYSCORE', exp, '-inf', now)
  for _, k in ipairs(due) do drop(k) end
  return #due
end

local function check(cur, len)
  if len > max_value then return {'refused', 'value', tostring(len), ARGV[8]} end
  if not cur and redis.call('HLEN', data) >= max_keys then return {'refused', 'keys', ARGV[7]} end
  local old = 0
  if cur then old = #key + #cur end
  local new = #key + len
  local would = tonumber(redis.call('GET', size) or '0') - old + new
  if new > old and would > max_total then
    return {'refused', 'total', tostring(would), ARGV[9]}
  end
  return nil
end

-- A refusal is final only once expired keys no longer count against the quota.
local function allowed(cur, len)
  local refused = check(cur, len)
  if refused and purge() > 0 then refused = check(cur, len) end
  return refused
end

local function put(cur, v)
  local old = 0
  if cur then old = #key + #cur end
  redis.call('HSET', data, key, v)
  redis.call('INCRBY', size, #key + #v - old)
end

local at = redis.call('ZSCORE', exp, key)
if at and tonumber(at) <= now then drop(key) end
local cur = redis.call('HGET', data, key)

if op == 'get' then
  if cur then return {'value', cur} end
  return {'none'}
elseif op == 'delete' then
  if not cur then return {'deleted', '0'} end
  drop(key)
  return {'deleted', '1'}
elseif op == 'set' then
  local refused = allowed(cur, #value)
  if refused then return refused end
  put(cur, value)
  if ttl ~= '' then
    redis.call('ZADD', exp, now + tonumber(ttl), key)
  else
    redis.call('ZREM', exp, key)
  end
  return {'stored'}
elseif op == 'incr' then
  local r = redis.pcall('HINCRBY', data, key, ARGV[6])
  if type(r) == 'table' and r.err then
    if string.find(r.err, 'overflow') then return {'refused', 'overflow'} end
    return {'refused', 'integer'}
  end
  -- Read the exact digits (a Lua number is a double), undo, check the quota with the new
  -- value's length, then write it for good.
  local n = redis.call('HGET', data, key)
  if cur then redis.call('HSET', data, key, cur) else redis.call('HDEL', data, key) end
  local refused = allowed(cur, #n)
  if refused then return refused end
  put(cur, n)
  return {'counted', n}
elseif op == 'cas' then
  local expected = ARGV[5]
  local matches
  if expected == '' then matches = not cur else matches = cur and ('v' .. cur) == expected end
  if not matches then return {'swapped', '0'} end
  local refused = allowed(cur, #value)
  if refused then return refused end
  put(cur, value)
  return {'swapped', '1'}
end
return redis.error_reply('unknown kv op ' .. op)
