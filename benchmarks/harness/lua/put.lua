-- One document per thread (<prefix><base + thread id>), one connection per thread: each PUT sends
-- the ETag the previous response carried, as an editor saving repeatedly does. With
-- conditional = "0" no If-Match is sent; with keyed = "1" each PUT carries a new
-- Idempotency-Key. Counts PUTs by status.
function init(args)
  prefix, base, conditional, body = args[1], tonumber(args[2]), args[3] == "1", args[4]
  keyed = args[5] == "1"
  path = prefix .. (base + id)
  etag = nil
  sent = 0
end

function request()
  if conditional and etag == nil then
    return wrk.format("GET", path)
  end
  local headers = {["Content-Type"] = "application/json"}
  if conditional then
    headers["If-Match"] = etag
  end
  if keyed then
    sent = sent + 1
    -- Unique across the run's repetitions too (the server keeps every key it was sent, and each
    -- repetition starts a fresh Lua state whose math.random repeats the same numbers): the
    -- monotonic clock in nanoseconds makes each wrk run's keys its own.
    headers["Idempotency-Key"] = string.format('"%d-%d-%.0f"', id, sent, now() * 1e9)
  end
  return wrk.format("PUT", path, headers, body)
end

function response(status, headers, body)
  local method = (conditional and etag == nil) and "get_" or "put_"
  count(method .. status)
  etag = header(headers, "etag") or etag
end
