-- Publish one message that becomes visible at `due` (ms since the epoch).
-- ARGV: prefix, due_ms, fields...
local fields = {}
for i = 3, #ARGV do fields[#fields + 1] = ARGV[i] end
park(ARGV[1], fields, tonumber(ARGV[2]))
return 1
