-- Shared helpers, prepended to every wasmboost queue script.
-- ARGV[1] of most queue scripts is the queue's key namespace, e.g. "wasmboost:q:{add}:" (also
-- KEYS[1], for cluster routing only; see scripts.rs and
-- keys.rs: the braces make every key of one queue hash to the same Redis Cluster slot).

local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- Priority 0 lives on "<prefix>stream" so foreign producers need no suffix.
local function stream_key(prefix, level)
  if level == 0 then return prefix .. 'stream' end
  return prefix .. 'stream:' .. level
end

local function field(fields, name)
  for i = 1, #fields, 2 do
    if fields[i] == name then return fields[i + 1] end
  end
  return nil
end

local function level_of(fields)
  local p = math.floor(tonumber(field(fields, 'priority') or '0') or 0)
  if p < 0 then return 0 elseif p > 9 then return 9 end
  return p
end

-- Fields without the named ones (used to strip or replace bookkeeping fields).
local function without(fields, drop)
  local out = {}
  for i = 1, #fields, 2 do
    if not drop[fields[i]] then
      out[#out + 1] = fields[i]
      out[#out + 1] = fields[i + 1]
    end
  end
  return out
end

-- Move up to `limit` due delayed messages from the parking stream onto their priority streams.
local function promote(prefix, now, limit)
  local zkey, park = prefix .. 'delayed', prefix .. 'parked'
  local due = redis.call('ZRANGEBYSCORE', zkey, '-inf', now, 'LIMIT', 0, limit)
  for _, pid in ipairs(due) do
    local e = redis.call('XRANGE', park, pid, pid)
    if #e > 0 then
      local f = e[1][2]
      redis.call('XADD', stream_key(prefix, level_of(f)), '*', unpack(f))
      redis.call('XDEL', park, pid)
    end
    redis.call('ZREM', zkey, pid)
  end
  return #due
end

-- {last-delivered-id, pending, lag} of `group` on stream `key`, nil when the stream does not
-- exist. `lag` (entries not yet delivered to the group) is false when Redis cannot tell.
-- Creates the group (from the start of the stream, so entries added before any host started are
-- delivered) when `create` is true.
local function group_info(key, group, create)
  if redis.call('EXISTS', key) == 0 then return nil end
  for _, g in ipairs(redis.call('XINFO', 'GROUPS', key)) do
    local info = {}
    for i = 1, #g, 2 do info[g[i]] = g[i + 1] end
    if info['name'] == group then
      return {info['last-delivered-id'], info['pending'], info['lag']}
    end
  end
  if create then redis.call('XGROUP', 'CREATE', key, group, '0') end
  return {'0-0', 0, redis.call('XLEN', key)}
end

-- The smallest stream id after `id`.
local function successor(id)
  local ms, seq = string.match(id, '^(%d+)-(%d+)$')
  return string.format('%d-%d', tonumber(ms), tonumber(seq) + 1)
end

-- Settled entries are not deleted one by one (XDEL costs ~30 times an XTRIM per entry): the
-- stream is trimmed up to its oldest entry still pending, or past the last delivered one when
-- none is, so it holds only waiting and in-flight entries plus settled ones newer than the
-- oldest in-flight entry.
local function trim(key, group)
  local p = redis.pcall('XPENDING', key, group)
  if type(p) ~= 'table' or p.err then return end
  local threshold = p[2]
  if tonumber(p[1]) == 0 then
    local info = group_info(key, group, false)
    if not info then return end
    threshold = successor(info[1])
  end
  redis.call('XTRIM', key, 'MINID', threshold)
end

-- Leases. A delivery's lease is its pending entry's idle time, measured against the queue's
-- reclaim horizon H: XAUTOCLAIM with min-idle H takes back entries idle that long. A delivery
-- with lease L is given idle time H - L (XCLAIM IDLE ... JUSTID, which counts no delivery), so
-- it is reclaimed exactly when its lease ends. H is the longest lease in use: usually every
-- fetch of a queue uses the same lease, H = L and nothing needs setting.
local function horizon_of(prefix)
  return tonumber(redis.call('HGET', prefix .. 'reclaim', 'horizon') or '0') or 0
end

-- A longer lease raises H (extending in-flight leases of the queue by the difference).
local function raise_horizon(prefix, horizon, lease)
  if lease <= horizon then return horizon end
  redis.call('HSET', prefix .. 'reclaim', 'horizon', lease)
  return lease
end

-- Park `fields` until `due` (ms since the epoch, Redis clock).
local function park(prefix, fields, due)
  local pid = redis.call('XADD', prefix .. 'parked', '*', unpack(fields))
  redis.call('ZADD', prefix .. 'delayed', due, pid)
end

