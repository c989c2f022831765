-- Rewrites a pipeline's process fields for a cluster of another size, atomically because
-- Redis runs a script alone.
-- KEYS: 1 progress hash. ARGV: 1 processes now, then one fresh `process:{i}` value per process.
-- Fields of processes beyond the cluster go; a field written by a cluster of another size takes
-- its fresh value; one already written by a cluster of this size stays (its process may have
-- committed since). Replies the number of fields changed.
local processes = tonumber(ARGV[1])
local changed = 0
local fields = redis.call('HKEYS', KEYS[1])
for _, field in ipairs(fields) do
  local index = string.match(field, '^process:(%d+)$')
  if index and tonumber(index) >= processes then
    redis.call('HDEL', KEYS[1], field)
    changed = changed + 1
  end
end
for i = 0, processes - 1 do
  local field = 'process:' .. i
  local stored = redis.call('HGET', KEYS[1], field)
  if not stored or cjson.decode(stored).processes ~= processes then
    redis.call('HSET', KEYS[1], field, ARGV[2 + i])
    changed = changed + 1
  end
end
return changed
