-- Ack a batch of entries of one stream and trim what is settled.
-- KEYS[1]: the stream; ARGV: group, entry ids... (exactly XACK's arguments after the key)
redis.call('XACK', KEYS[1], unpack(ARGV))
trim(KEYS[1], ARGV[1])
return 1
