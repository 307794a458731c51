-- Ack a batch of entries of one stream and trim what is settled.
-- KEYS[1]: the stream; ARGV: group, entry ids...
local ids = {}
for i = 2, #ARGV do ids[#ids + 1] = ARGV[i] end
redis.call('XACK', KEYS[1], ARGV[1], unpack(ids))
trim(KEYS[1], ARGV[1])
return 1
