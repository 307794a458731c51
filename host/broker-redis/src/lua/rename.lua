-- Layout migration: rename each pair (ARGV[i] -> ARGV[i + 1]) whose old key still exists, so a
-- pass that was interrupted and runs again only moves what is left. Returns how many moved.
local moved = 0
for i = 1, #ARGV, 2 do
  if redis.call('EXISTS', ARGV[i]) == 1 then
    redis.call('RENAME', ARGV[i], ARGV[i + 1])
    moved = moved + 1
  end
end
return moved
