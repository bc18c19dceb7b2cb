"""The Lua scripts of the Redis event log (see :mod:`.eventlog` for the key layout).

Positions in the id index are ``"<seq>\\n<token>\\n<stream>"``: the token of the append
that stored the event lets a retry of that same append recognise its own events.
"""

from __future__ import annotations

__all__ = ["APPEND", "LOOKUP", "BY_TIME", "STREAMS", "DELETE"]

#: KEYS: ids, time, streams, stream keys 1..m.
#: ARGV: n, expected ('' = any), P, m, token, stream names 1..m, then per event: stream index, id, type,
#: time, envelope. Returns {1, entry...} (entry: the seq of an event stored now, or {seq, stream,
#: envelope} of a copy stored before) or {0, last_seq} when expected does not hold.
APPEND = """#!lua
local n, m, P, token = tonumber(ARGV[1]), tonumber(ARGV[4]), ARGV[3], ARGV[5]
local names, lasts, empty = {}, {}, {}
for s = 1, m do
  names[s] = ARGV[5 + s]
  lasts[s] = redis.call('XLEN', KEYS[3 + s])
  empty[s] = lasts[s] == 0
end
if ARGV[2] ~= '' and lasts[1] ~= tonumber(ARGV[2]) then return {0, lasts[1]} end
local out, seen = {1}, {}
local at = 5 + m
for e = 1, n do
  local s, id = tonumber(ARGV[at + 1]), ARGV[at + 2]
  local where = redis.call('HGET', KEYS[1], id)
  if where then
    local a = string.find(where, '\\n', 1, true)
    local b = string.find(where, '\\n', a + 1, true)
    local seq, stream = string.sub(where, 1, a - 1), string.sub(where, b + 1)
    if string.sub(where, a + 1, b - 1) == token and not seen[id] then
      seen[id] = true
      out[#out + 1] = tonumber(seq)  -- stored by this very append, before a lost reply
    else
      local env = false
      local entry = redis.call('XRANGE', P .. 'x:' .. stream, seq .. '-0', seq .. '-0')
      if entry[1] then
        local fields = entry[1][2]
        for f = 1, #fields, 2 do
          if fields[f] == 'e' then env = fields[f + 1] end
        end
      end
      out[#out + 1] = {tonumber(seq), stream, env}
    end
  else
    local seq = lasts[s] + 1
    lasts[s] = seq
    redis.call('XADD', KEYS[3 + s], seq .. '-0', 'e', ARGV[at + 5])
    redis.call('HSET', KEYS[1], id, seq .. '\\n' .. token .. '\\n' .. names[s])
    redis.call('ZADD', KEYS[2], ARGV[at + 4], id)
    seen[id] = true
    out[#out + 1] = seq
  end
  at = at + 5
end
for s = 1, m do
  if empty[s] and lasts[s] > 0 then redis.call('ZADD', KEYS[3], 0, names[s]) end
end
return out
"""

#: KEYS: ids.  ARGV: P, event ids...  Returns {seq, stream, envelope} or false per id.
LOOKUP = """#!lua
local out = {}
for a = 2, #ARGV do
  local where = redis.call('HGET', KEYS[1], ARGV[a])
  local found = false
  if where then
    local a = string.find(where, '\\n', 1, true)
    local b = string.find(where, '\\n', a + 1, true)
    local seq, stream = string.sub(where, 1, a - 1), string.sub(where, b + 1)
    local entry = redis.call('XRANGE', ARGV[1] .. 'x:' .. stream, seq .. '-0', seq .. '-0')
    if entry[1] then
      local fields = entry[1][2]
      for f = 1, #fields, 2 do
        if fields[f] == 'e' then found = {tonumber(seq), stream, fields[f + 1]} end
      end
    end
  end
  out[#out + 1] = found
end
return out
"""

#: KEYS: time.  ARGV: P, ids hash, min, max, offset, count, rev ('1' or '').
#: Returns {members read, {time, seq, stream, envelope}...} in time order.
BY_TIME = """#!lua
local found
if ARGV[7] == '1' then
  found = redis.call('ZRANGE', KEYS[1], ARGV[4], ARGV[3], 'BYSCORE', 'REV', 'LIMIT', tonumber(ARGV[5]), tonumber(ARGV[6]), 'WITHSCORES')
else
  found = redis.call('ZRANGE', KEYS[1], ARGV[3], ARGV[4], 'BYSCORE', 'LIMIT', tonumber(ARGV[5]), tonumber(ARGV[6]), 'WITHSCORES')
end
local out = {#found / 2}
for i = 1, #found, 2 do
  local where = redis.call('HGET', ARGV[2], found[i])
  if where then
    local a = string.find(where, '\\n', 1, true)
    local b = string.find(where, '\\n', a + 1, true)
    local seq, stream = string.sub(where, 1, a - 1), string.sub(where, b + 1)
    local entry = redis.call('XRANGE', ARGV[1] .. 'x:' .. stream, seq .. '-0', seq .. '-0')
    if entry[1] then
      out[#out + 1] = {found[i + 1], tonumber(seq), stream, entry[1][2][2]}
    end
  end
end
return out
"""

#: KEYS: streams.  ARGV: P, lex min, lex max.  Returns {name, last seq, last event's time|false, ...}.
STREAMS = """#!lua
local names = redis.call('ZRANGE', KEYS[1], ARGV[2], ARGV[3], 'BYLEX')
local out = {}
for _, name in ipairs(names) do
  local key = ARGV[1] .. 'x:' .. name
  local n = redis.call('XLEN', key)
  if n > 0 then
    local last = redis.call('XREVRANGE', key, '+', '-', 'COUNT', 1)
    local ok, doc = pcall(cjson.decode, last[1][2][2])
    local when = ok and type(doc) == 'table' and doc['time'] or false
    out[#out + 1] = name
    out[#out + 1] = n
    out[#out + 1] = when
  end
end
return out
"""

#: KEYS: stream key, ids, time, streams, snapshots.  ARGV: stream name.  Returns the event count.
DELETE = """#!lua
local n = redis.call('XLEN', KEYS[1])
local from = '-'
while true do
  local entries = redis.call('XRANGE', KEYS[1], from, '+', 'COUNT', 1000)
  if #entries == 0 then break end
  for _, entry in ipairs(entries) do
    local ok, doc = pcall(cjson.decode, entry[2][2])
    if ok and type(doc) == 'table' and type(doc['id']) == 'string' then
      redis.call('HDEL', KEYS[2], doc['id'])
      redis.call('ZREM', KEYS[3], doc['id'])
    end
    from = '(' .. entry[1]
  end
end
redis.call('DEL', KEYS[1], KEYS[5])
redis.call('ZREM', KEYS[4], ARGV[1])
return n
"""
