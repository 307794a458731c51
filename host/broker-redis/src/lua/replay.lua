-- Move the given dead letters back onto their priority streams with attempt 1.
-- ARGV: prefix, dead entry ids...
local prefix = ARGV[1]
local moved = 0
for i = 2, #ARGV do
  local e = redis.call('XRANGE', prefix .. 'dead', ARGV[i], ARGV[i])
  if #e > 0 then
    local f = without(e[1][2], {reason = true, dead_ms = true, attempt = true})
    f[#f + 1] = 'attempt'; f[#f + 1] = '1'
    redis.call('XADD', stream_key(prefix, level_of(f)), '*', unpack(f))
    redis.call('XDEL', prefix .. 'dead', ARGV[i])
    moved = moved + 1
  end
end
return moved
