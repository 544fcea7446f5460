-- Shared by every benchmark script: per-thread counters reported as one JSON line.
-- Each wrk thread has its own Lua state; setup() (main state) keeps a handle on each.
local threads = {}
local ffi = require("ffi")
ffi.cdef [[
typedef struct { long tv_sec; long tv_nsec; } ifmatch_timespec;
int clock_gettime(int clock, ifmatch_timespec *now);
]]
local timespec = ffi.new("ifmatch_timespec")

-- Monotonic seconds (CLOCK_MONOTONIC), for scripts that stop writing before wrk stops.
function now()
  ffi.C.clock_gettime(1, timespec)
  return tonumber(timespec.tv_sec) + tonumber(timespec.tv_nsec) / 1e9
end

function setup(thread)
  table.insert(threads, thread)
  thread:set("id", #threads)
end

counters = {}

function count(key)
  counters[key] = (counters[key] or 0) + 1
end

function header(headers, name)
  for key, value in pairs(headers) do
    if string.lower(key) == name then
      return value
    end
  end
  return nil
end

function done(summary, latency, requests)
  local totals = {}
  for _, thread in ipairs(threads) do
    if thread:get("pending") then
      totals.unfinished = (totals.unfinished or 0) + 1
    end
    local own = thread:get("counters")
    for key, value in pairs(own) do
      totals[key] = (totals[key] or 0) + value
    end
  end
  local parts = {}
  for key, value in pairs(totals) do
    table.insert(parts, string.format('"%s": %d', key, value))
  end
  local errors = summary.errors
  io.write(string.format(
    '@@result {"duration_us": %d, "requests": %d, "bytes": %d, "p50_us": %d, "p99_us": %d, '
      .. '"socket_errors": %d, "timeouts": %d, "counters": {%s}}\n',
    summary.duration, summary.requests, summary.bytes,
    latency:percentile(50), latency:percentile(99),
    errors.connect + errors.read + errors.write, errors.timeout,
    table.concat(parts, ", ")))
end
