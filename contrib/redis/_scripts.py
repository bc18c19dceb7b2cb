"""The Lua scripts of the Redis state and session backends.

Each script runs atomically on the server: one round trip per compare-and-set, delete,
batch or scan page. Every write carries a request *token*; a write retried after a lost
connection finds its own token and reports the result of the first attempt instead of
applying twice. Scripts start with ``#!lua`` (Redis 7), so the server refuses a script
that writes while it is out of memory *before* it changes anything.
"""

from __future__ import annotations

__all__ = ["CAS", "DELETE", "BATCH", "SCAN"]

#: KEYS: record, key index.  ARGV: member, data, expected ('' = any), token.
#: Returns {1, new_version, previous|false} or {0, current_version|false, current_data|false}.
CAS = """#!lua
local cur = redis.call('HMGET', KEYS[1], 'v', 'd', 't')
local v = tonumber(cur[1])
if v and cur[3] == ARGV[4] then
  if v > 1 then return {1, v, v - 1} end
  return {1, v, false}
end
if ARGV[3] ~= '' then
  local e = tonumber(ARGV[3])
  if (e == 0 and v) or (e > 0 and v ~= e) then
    return {0, cur[1] or false, cur[2] or false}
  end
end
local new = (v or 0) + 1
redis.call('HSET', KEYS[1], 'v', new, 'd', ARGV[2], 't', ARGV[4])
if not v then redis.call('ZADD', KEYS[2], 0, ARGV[1]) end
return {1, new, v or false}
"""

#: KEYS: record, key index, done-marker.  ARGV: member, expected, token.
#: Returns {1, previous|false} or {0, current_version|false, current_data|false}.
DELETE = """#!lua
local done = redis.call('GET', KEYS[3])
if done then return {1, tonumber(done) or false} end
local cur = redis.call('HMGET', KEYS[1], 'v', 'd')
local v = tonumber(cur[1])
if ARGV[2] ~= '' then
  local e = tonumber(ARGV[2])
  if (e == 0 and v) or (e > 0 and v ~= e) then
    return {0, cur[1] or false, cur[2] or false}
  end
end
if v then
  redis.call('DEL', KEYS[1])
  redis.call('ZREM', KEYS[2], ARGV[1])
end
redis.call('SET', KEYS[3], v or '-', 'EX', 300)
return {1, v or false}
"""

#: KEYS: key index, done-marker, record 1..n.  ARGV: n, then per op: kind ('p'/'d'),
#: member, data, expected ('' = any), forced version ('' = next).
#: Returns {1, v1, p1, v2, p2, ...} or {0, failed_index, current_version|false, current_data|false}.
BATCH = """#!lua
local done = redis.call('GET', KEYS[2])
if done then return cjson.decode(done) end
local n = tonumber(ARGV[1])
local versions = {}
for i = 1, n do
  local at = 1 + (i - 1) * 5
  local v = tonumber(redis.call('HGET', KEYS[2 + i], 'v'))
  versions[i] = v
  local expected = ARGV[at + 4]
  if expected ~= '' then
    local e = tonumber(expected)
    if (e == 0 and v) or (e > 0 and v ~= e) then
      return {0, i - 1, v or false, redis.call('HGET', KEYS[2 + i], 'd') or false}
    end
  end
end
local out = {1}
for i = 1, n do
  local at = 1 + (i - 1) * 5
  local v = versions[i]
  local key = KEYS[2 + i]
  if ARGV[at + 1] == 'p' then
    local new = (v or 0) + 1
    if ARGV[at + 5] ~= '' then new = tonumber(ARGV[at + 5]) end
    redis.call('HSET', key, 'v', new, 'd', ARGV[at + 3], 't', '')
    if not v then redis.call('ZADD', KEYS[1], 0, ARGV[at + 2]) end
    out[#out + 1] = new
  else
    if v then
      redis.call('DEL', key)
      redis.call('ZREM', KEYS[1], ARGV[at + 2])
    end
    out[#out + 1] = false
  end
  out[#out + 1] = v or false
end
redis.call('SET', KEYS[2], cjson.encode(out), 'EX', 300)
return out
"""

#: KEYS: key index.  ARGV: lex min, lex max, limit, record-key prefix.
#: Returns {member, version, data, member, version, data, ...} in key order.
SCAN = """#!lua
local members = redis.call('ZRANGE', KEYS[1], ARGV[1], ARGV[2], 'BYLEX', 'LIMIT', 0, tonumber(ARGV[3]))
local out = {}
for _, m in ipairs(members) do
  local r = redis.call('HMGET', ARGV[4] .. m, 'v', 'd')
  if r[1] then
    out[#out + 1] = m
    out[#out + 1] = tonumber(r[1])
    out[#out + 1] = r[2]
  end
end
return out
"""
