-- Lease up to `max` messages of one queue for one consumer.
-- ARGV: prefix, group, consumer, max, lease_ms, aging_ms, reclaim (0|1), promote_limit
-- Returns {groups, next_due_in_ms (-1 = none), pending, last_ids} where each group is
-- {level, entries ([id, fields] as XREADGROUP returns them), extra_redeliveries (one per entry,
-- or empty when none were reclaimed)} and last_ids[level + 1] is the group's last-delivered id
-- on that level ('0-0' when the stream does not exist yet).
local prefix, group, consumer = ARGV[1], ARGV[2], ARGV[3]
local max, lease, aging = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local reclaim, promote_limit = ARGV[7] == '1', tonumber(ARGV[8])
local now = now_ms()
promote(prefix, now, promote_limit)

local out, pending, last_ids, keys = {}, 0, {}, {}
for level = 0, 9 do
  keys[level] = stream_key(prefix, level)
  local info = group_info(keys[level], group, true)
  keys[level] = info and keys[level] or nil
  last_ids[level + 1] = info and info[1] or '0-0'
  if info then pending = pending + info[2] end
end

-- With nothing in flight, the horizon starts over at this fetch's lease (see the prelude).
local horizon = horizon_of(prefix)
if (pending == 0 or horizon == 0) and horizon ~= lease then
  horizon = lease
  redis.call('HSET', prefix .. 'reclaim', 'horizon', lease)
end

-- Give freshly delivered entries their lease (raising the horizon only when handing out).
local function lease_ids(key, ids)
  if #ids == 0 then return end
  horizon = raise_horizon(prefix, horizon, lease)
  if horizon == lease then return end
  local args = {key, group, consumer, 0}
  for _, id in ipairs(ids) do args[#args + 1] = id end
  args[#args + 1] = 'IDLE'; args[#args + 1] = horizon - lease; args[#args + 1] = 'JUSTID'
  redis.call('XCLAIM', unpack(args))
end

-- An entry without a body cannot be run: it goes to the dead letters at once, with the reason.
local function dead_letter(level, key, id, f)
  local names = {}
  for i = 1, #f, 2 do names[#names + 1] = f[i] end
  local dead = without(f, {entry = true, priority = true})
  dead[#dead + 1] = 'entry'; dead[#dead + 1] = id
  dead[#dead + 1] = 'priority'; dead[#dead + 1] = tostring(level)
  dead[#dead + 1] = 'reason'
  dead[#dead + 1] = 'stream entry ' .. id .. ' of ' .. key .. ' has no body field (fields: '
    .. table.concat(names, ', ') .. ')'
  dead[#dead + 1] = 'dead_ms'; dead[#dead + 1] = tostring(now)
  redis.call('XADD', prefix .. 'dead', '*', unpack(dead))
  redis.call('XACK', key, group, id)
  trim(key, group)
end

-- Hand out the entries read from one level, as the reply's own table (no copy per entry: the
-- fast path for big batches). `counted`: reclaimed entries, whose delivery counts are returned.
local taken = 0
local function take(level, key, entries, counted)
  local good = entries
  for _, e in ipairs(entries) do
    local f = e[2]
    if not (f and (f[1] == 'body' or field(f, 'body'))) then good = nil break end
  end
  if not good then
    good = {}
    for _, e in ipairs(entries) do
      if e[2] and field(e[2], 'body') then good[#good + 1] = e
      elseif e[2] then dead_letter(level, key, e[1], e[2]) end
    end
  end
  local ids, extras = {}, {}
  for i, e in ipairs(good) do
    ids[i] = e[1]
    if counted then extras[i] = redis.call('XPENDING', key, group, e[1], e[1], 1)[1][4] - 1 end
  end
  if #good > 0 then
    out[#out + 1] = {level, good, extras}
    taken = taken + #good
  end
  return ids
end

-- Reclaim entries whose lease ended (their host died or stalled), highest level first.
if reclaim then
  local cursors = prefix .. 'reclaim'
  for level = 9, 0, -1 do
    local key = keys[level]
    if key and taken < max then
      local cursor = redis.call('HGET', cursors, level) or '0-0'
      for _ = 1, 4 do
        local r = redis.call('XAUTOCLAIM', key, group, consumer, horizon, cursor, 'COUNT', max - taken)
        cursor = r[1]
        lease_ids(key, take(level, key, r[2], true))
        if cursor == '0-0' or taken >= max then break end
      end
      redis.call('HSET', cursors, level, cursor)
    end
  end
end

-- New entries: levels ordered by the effective priority of their oldest waiting entry, which
-- rises by one for every `aging` ms it has waited, so low levels are never starved for good.
local cands = {}
for level = 9, 0, -1 do
  local key = keys[level]
  if key then
    local head = redis.call('XRANGE', key, '(' .. last_ids[level + 1], '+', 'COUNT', 1)
    if #head > 0 then
      local ms = tonumber(string.match(head[1][1], '^(%d+)')) or now
      local eff = level + math.floor(math.max(0, now - ms) / aging)
      cands[#cands + 1] = {eff, level, key}
    end
  end
end
table.sort(cands, function(a, b)
  if a[1] ~= b[1] then return a[1] > b[1] end
  return a[2] > b[2]
end)
for _, c in ipairs(cands) do
  if taken >= max then break end
  local r = redis.call('XREADGROUP', 'GROUP', group, consumer, 'COUNT', max - taken,
    'STREAMS', c[3], '>')
  if r then
    local ids = take(c[2], c[3], r[1][2], false)
    lease_ids(c[3], ids)
    pending = pending + #ids
  end
  -- The read moved the group's last-delivered id; a later block must start from there.
  local info = group_info(c[3], group, false)
  last_ids[c[2] + 1] = info[1]
end

local next_due = -1
local first = redis.call('ZRANGE', prefix .. 'delayed', 0, 0, 'WITHSCORES')
if #first > 0 then next_due = math.max(0, tonumber(first[2]) - now) end
return {out, next_due, pending, last_ids}
