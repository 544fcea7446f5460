"""The Lua scripts of the Redis store. Each runs atomically on the server: "no other script or
Redis command will be executed while a script is being executed" (Redis EVAL documentation).

A resource is a hash with the fields ``version`` and ``last_modified`` (epoch seconds from the
server's ``TIME``, as ``"<seconds>"`` or ``"<seconds>.<6 digits>"``) next to the application's
fields. Inside the scripts a date is an integer count of microseconds (exact in Lua's doubles
until the year 2255). Expectations arrive as JSON::

    {"e": 1 | 0 | -1,         exists: must exist / must not exist (create-only) / either
     "v": [versions] | false,  the version must be one of these (false: any)
     "nv": [versions],         the version must be none of these
     "u": microseconds | false} the Last-Modified must be at or before this instant

and every script answers ``{outcome, version, last_modified}`` per item (version -1 when
absent; last_modified as stored, ``""`` when absent: a string, since cjson, which records a
write's answer, would round a number of 16 digits).

**A retried script is recognised.** redis-py's default client re-sends a command whose reply
was lost (the connection broke after the server ran it). Re-run, a compare-and-set would lose
against its own first run (the version moved) and report a lost race for a write that was
applied. So every write names itself with a write id (``KEYS[2]``, ``<prefix>w:<id>``), and
the script records its answer there (for two minutes) in the same atomic step as the write: a
re-run with the same id answers what the first run answered and writes nothing.

**Idempotency records** (``<prefix>idem:<id>`` hashes, ``KEYS[3]``) are claimed by ``CLAIM``
and completed by the write that holds the claim, in the same script (``ARGV[2]``'s ``c``:
``{"a": attempt, "s": status, "l": location}``, or false for none).
"""

from __future__ import annotations

__all__ = ["BULK", "CAS", "CLAIM", "DELETE", "RELEASE", "WRITE_ID_TTL_MS"]

#: How long a write id's answer is kept for a retry of the same script (milliseconds).
WRITE_ID_TTL_MS = 120_000

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

-- A stored date ("<seconds>" or "<seconds>.<6 digits>") in microseconds, or nil.
local function micros(text)
  if not text then return nil end
  local dot = string.find(text, '.', 1, true)
  if not dot then return tonumber(text) * 1000000 end
  local fraction = string.sub(string.sub(text, dot + 1) .. '000000', 1, 6)
  return tonumber(string.sub(text, 1, dot - 1)) * 1000000 + tonumber(fraction)
end

-- Microseconds as stored: whole seconds without a fraction.
local function stored(us)
  local fraction = us % 1000000
  if fraction == 0 then return string.format('%d', us / 1000000) end
  return string.format('%d.%06d', (us - fraction) / 1000000, fraction)
end

local function state(key)
  local cur = redis.call('HMGET', key, 'version', 'last_modified')
  return tonumber(cur[1]), micros(cur[2])
end

local function now()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000000 + tonumber(t[2])
end

-- The Last-Modified rule (ifmatch.stores.next_last_modified): the first write of a second is
-- recorded at the whole second, a later one at the clock's microsecond, and always at least
-- one microsecond after the previous value.
local function next_lm(clock, lm)
  local second = clock - clock % 1000000
  if not lm or second > lm then return second end
  if clock > lm then return clock end
  return lm + 1
end

local function answer_lm(lm)
  if lm then return stored(lm) end
  return ''
end

-- A re-run of a script whose reply was lost: the answer its first run recorded, or nil.
local function replayed(wkey)
  local seen = redis.call('GET', wkey)
  if seen then return cjson.decode(seen) end
  return nil
end

local function remember(wkey, answer)
  redis.call('SET', wkey, cjson.encode(answer), 'PX', 120000)
end

-- Whether the idempotency record lkey is still held, pending, by completion c's attempt.
local function holds(lkey, c)
  if not c then return true end
  local cur = redis.call('HMGET', lkey, 'attempt', 'done')
  return cur[1] == c.a and cur[2] == '0'
end

local function complete(lkey, c, version)
  if not c then return end
  redis.call('HSET', lkey, 'done', 1, 'status', c.s, 'version', version, 'location', c.l or '')
end

-- Apply one compare-and-set; fields is a flat {field, value, ...} list.
local function cas(key, spec, fields, clock)
  local ver, lm = state(key)
  if not ver then
    if spec.e ~= 0 then return {'not-found', -1, ''} end
    local first = stored(next_lm(clock, nil))
    redis.call('HSET', key, 'version', 1, 'last_modified', first, unpack(fields))
    return {'won', 1, first}
  end
  if not allows(spec, ver, lm) then return {'lost', ver, answer_lm(lm)} end
  local new_lm = stored(next_lm(clock, lm))
  redis.call('HSET', key, 'version', ver + 1, 'last_modified', new_lm, unpack(fields))
  return {'won', ver + 1, new_lm}
end
"""

# KEYS: resource, write id, idempotency record; ARGV: expectation, {"c": completion}, fields.
CAS = (
    _COMMON
    + """
local seen = replayed(KEYS[2])
if seen then return seen end
local meta = cjson.decode(ARGV[2])
if not holds(KEYS[3], meta.c) then
  local ver, lm = state(KEYS[1])
  return {'lost', ver or -1, answer_lm(lm)}
end
local fields = {}
for i = 3, #ARGV do fields[#fields + 1] = ARGV[i] end
local result = cas(KEYS[1], cjson.decode(ARGV[1]), fields, now())
if result[1] == 'won' then
  remember(KEYS[2], result)
  complete(KEYS[3], meta.c, result[2])
end
return result
"""
)

DELETE = (
    _COMMON
    + """
local seen = replayed(KEYS[2])
if seen then return seen end
local spec = cjson.decode(ARGV[1])
local meta = cjson.decode(ARGV[2])
local ver, lm = state(KEYS[1])
if not ver then return {'not-found', -1, ''} end
if not allows(spec, ver, lm) or not holds(KEYS[3], meta.c) then
  return {'lost', ver, answer_lm(lm)}
end
redis.call('DEL', KEYS[1])
local result = {'won', ver, answer_lm(lm)}
remember(KEYS[2], result)
complete(KEYS[3], meta.c, '')
return result
"""
)

# KEYS: the record; ARGV: fingerprint, attempt, retention (ms), in-flight limit (ms). The rules
# of ifmatch.core.idempotency.judge, on the server's clock; answers the verdict and the record.
CLAIM = """
local key = KEYS[1]
local fp, attempt = ARGV[1], ARGV[2]
local retention, in_flight = tonumber(ARGV[3]), tonumber(ARGV[4])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local cur = redis.call('HMGET', key, 'fingerprint', 'attempt', 'created', 'expires', 'done',
                       'status', 'version', 'location')
local verdict
if not cur[1] or tonumber(cur[4]) <= now then verdict = 'new'
elseif cur[1] ~= fp then verdict = 'mismatch'
elseif cur[5] == '1' then verdict = 'replay'
elseif now - tonumber(cur[3]) >= in_flight then verdict = 'new'
else verdict = 'in-flight' end
if verdict == 'new' then
  redis.call('DEL', key)
  redis.call('HSET', key, 'fingerprint', fp, 'attempt', attempt, 'created', now,
             'expires', now + retention, 'done', 0)
  redis.call('PEXPIREAT', key, now + retention)
  return {verdict, fp, attempt, tostring(now), tostring(now + retention), '0', '', '', ''}
end
if verdict == 'replay' then
  -- Re-set the same expiry: a write, so that a WAIT after this script (wait_replicas) covers
  -- the replayed write too, which replicates before this one does.
  redis.call('PEXPIREAT', key, tonumber(cur[4]))
end
return {verdict, cur[1], cur[2], cur[3], cur[4], cur[5], cur[6] or '', cur[7] or '',
        cur[8] or ''}
"""

# KEYS: the record; ARGV: attempt. Forget a pending claim that attempt holds.
RELEASE = """
local cur = redis.call('HMGET', KEYS[1], 'attempt', 'done')
if cur[1] == ARGV[1] and cur[2] == '0' then redis.call('DEL', KEYS[1]) end
return 1
"""

# KEYS: the items' resources, then the batch's write id. ARGV[1] = {"all": bool, "items":
# [{spec..., "n": number of field/value arguments}]}, then every item's field/value
# arguments. All-or-nothing: the previous contents of every touched hash are kept and
# restored if any item misses.
BULK = (
    _COMMON
    + """
local wkey = table.remove(KEYS)
local seen = replayed(wkey)
if seen then return seen end
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
    result[2], result[3] = ver or -1, answer_lm(lm)
  end
end
local flat = {}
for _, result in ipairs(out) do
  flat[#flat + 1] = result[1]; flat[#flat + 1] = result[2]; flat[#flat + 1] = result[3]
end
remember(wkey, flat)
return flat
"""
)
