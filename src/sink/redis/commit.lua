-- One commit of the Redis sink, atomic because Redis runs a script alone.
-- KEYS: 1 progress hash, 2 rejects stream, 3 rejects' high-water hash, 4 updates channel,
--       then per row its latest-row hash and its history stream.
-- ARGV: 1 history length (0: none), 2 rows, 3 publish (1/0), 4 rejects cap, 5 update message,
--       then per row: window_end_ms, revision (-1: windows take no corrections), field count,
--       fields and values;
--       then progress: entry count, field and value each;
--       then rejects: count, then per reject: high-water field, position, field count, fields.
-- Replies the number of hashes moved forward.
local history = tonumber(ARGV[1])
local a = 6
local moved = 0
for i = 1, tonumber(ARGV[2]) do
  local hash, stream = KEYS[3 + 2 * i], KEYS[4 + 2 * i]
  local end_ms = ARGV[a]
  local revision = tonumber(ARGV[a + 1])
  local n = tonumber(ARGV[a + 2])
  local fields = {}
  for j = 1, 2 * n do fields[j] = ARGV[a + 2 + j] end
  a = a + 3 + 2 * n
  -- The hash only moves forward: a replayed or older window leaves it as it is; a revision of
  -- the window it holds replaces it.
  local stored = redis.call('HGET', hash, 'window_end_ms')
  if not stored or tonumber(stored) < tonumber(end_ms)
      or (revision >= 0 and tonumber(stored) == tonumber(end_ms)) then
    redis.call('HSET', hash, 'window_end_ms', end_ms, unpack(fields))
    moved = moved + 1
  end
  if history > 0 then
    -- Redis refuses an ID not above the stream's last: a window already there is skipped, and
    -- so is a revision of a window older than the last entry (its ID is end-revision).
    local id = end_ms .. '-' .. math.max(revision, 0)
    local r = redis.pcall('XADD', stream, 'MAXLEN', '=', history, id, unpack(fields))
    if type(r) == 'table' and r.err and not string.find(r.err, 'equal or smaller', 1, true) then
      return r
    end
  end
end
for i = 1, tonumber(ARGV[a]) do
  redis.call('HSET', KEYS[1], ARGV[a + 2 * i - 1], ARGV[a + 2 * i])
end
a = a + 1 + 2 * tonumber(ARGV[a])
local rejects = tonumber(ARGV[a])
a = a + 1
for i = 1, rejects do
  local seen_field, position, n = ARGV[a], tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2])
  local fields = {}
  for j = 1, 2 * n do fields[j] = ARGV[a + 2 + j] end
  a = a + 3 + 2 * n
  -- Rejects of a partition come in position order: one read before is not added again.
  local seen = redis.call('HGET', KEYS[3], seen_field)
  if not seen or tonumber(seen) < position then
    redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[4], '*', unpack(fields))
    redis.call('HSET', KEYS[3], seen_field, position)
  end
end
if ARGV[3] == '1' then
  redis.call('PUBLISH', KEYS[4], ARGV[5])
end
return moved
