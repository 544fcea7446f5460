"""The Lua scripts of the Redis store. Each runs atomically on the server: "no other script or
Redis command will be executed while a script is being executed" (Redis EVAL documentation).

A resource is a hash with the fields ``version`` and ``last_modified`` (epoch seconds from the
server's ``TIME``) next to the application's fields. Expectations arrive as JSON::

    {"e": 1 | 0 | -1,         exists: must exist / must not exist (create-only) / either
     "v": [versions] | false,  the version must be one of these (false: any)
     "nv": [versions],         the version must be none of these
     "u": seconds | false}     the Last-Modified must be at or before this instant

and every script answers ``{outcome, version, last_modified}`` per item (-1 when absent).
"""

from __future__ import annotations

__all__ = ["BULK", "CAS", "DELETE"]

_COMMON = """
if redis.replicate_commands then pcall(redis.replicate_commands) end

local function allows(spec, ver, lm)
  if spec.e == 0 then return false end
  if spec.v then
    local hit = false
    for _, v in ipairs(spec.v) do
      if v == ver then hit = true; break end
    end
    if not hit then return false end
  end
  for _, v in ipairs(spec.nv) do
    if v == ver then return false end
  end
  if spec.u and lm and lm > spec.u then return false end
  return true
end

local function state(key)
  local cur = redis.call('HMGET', key, 'version', 'last_modified')
  return tonumber(cur[1]), tonumber(cur[2])
end

local function now()
  return tonumber(redis.call('TIME')[1])
end

-- The Last-Modified rule: the server clock in whole seconds, but always at least one second
-- after the previous value.
local function next_lm(clock, lm)
  if lm and lm + 1 > clock then return lm + 1 end
  return clock
end

-- Apply one compare-and-set; fields is a flat {field, value, ...} list.
local function cas(key, spec, fields, clock)
  local ver, lm = state(key)
  if not ver then
    if spec.e ~= 0 then return {'not-found', -1, -1} end
    redis.call('HSET', key, 'version', 1, 'last_modified', clock, unpack(fields))
    return {'won', 1, clock}
  end
  if not allows(spec, ver, lm) then return {'lost', ver, lm or -1} end
  local new_lm = next_lm(clock, lm)
  redis.call('HSET', key, 'version', ver + 1, 'last_modified', new_lm, unpack(fields))
  return {'won', ver + 1, new_lm}
end
"""

CAS = (
    _COMMON
    + """
local fields = {}
for i = 2, #ARGV do fields[#fields + 1] = ARGV[i] end
return cas(KEYS[1], cjson.decode(ARGV[1]), fields, now())
"""
)

DELETE = (
    _COMMON
    + """
local spec = cjson.decode(ARGV[1])
local ver, lm = state(KEYS[1])
if not ver then return {'not-found', -1, -1} end
if not allows(spec, ver, lm) then return {'lost', ver, lm or -1} end
redis.call('DEL', KEYS[1])
return {'won', ver, lm or -1}
"""
)

# ARGV[1] = {"all": bool, "items": [{spec..., "n": number of field/value arguments}]},
# then every item's field/value arguments in order. All-or-nothing: the previous contents of
# every touched hash are kept and restored if any item misses.
BULK = (
    _COMMON
    + """
local batch = cjson.decode(ARGV[1])
local clock = now()
local out, saved, failed = {}, {}, false
local at = 2
for i, spec in ipairs(batch.items) do
  local key = KEYS[i]
  local fields = {}
  for j = at, at + spec.n - 1 do fields[#fields + 1] = ARGV[j] end
  at = at + spec.n
  if batch.all and saved[key] == nil then
    saved[key] = redis.call('HGETALL', key)
  end
  local result = cas(key, spec, fields, clock)
  if result[1] ~= 'won' then failed = true end
  out[#out + 1] = result
end
if batch.all and failed then
  for key, old in pairs(saved) do
    redis.call('DEL', key)
    if #old > 0 then redis.call('HSET', key, unpack(old)) end
  end
  for i, result in ipairs(out) do
    local ver, lm = state(KEYS[i])
    if result[1] == 'won' then result[1] = 'aborted' end
    result[2], result[3] = ver or -1, lm or -1
  end
end
local flat = {}
for _, result in ipairs(out) do
  flat[#flat + 1] = result[1]; flat[#flat + 1] = result[2]; flat[#flat + 1] = result[3]
end
return flat
"""
)
