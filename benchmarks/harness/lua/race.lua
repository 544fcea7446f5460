-- Read-modify-write on one shared counter document: GET it, PUT {"text": n + 1} with the
-- ETag it came with, start over whatever the answer. A 2xx PUT is one acknowledged increment
-- the final value must contain; a 412 is a refused write, retried from a fresh GET.
-- Writing stops after args[2] seconds; the rest of the run only GETs /health, so every PUT
-- sent gets its answer before wrk stops and the final count is exact.
function init(args)
  path, write_seconds = args[1], tonumber(args[2])
  started = now()
  state, etag, value, pending = "get", nil, nil, false
end

function request()
  if now() - started > write_seconds then
    state = "idle"
    return wrk.format("GET", "/health")
  end
  if state == "get" then
    return wrk.format("GET", path)
  end
  local headers = {["Content-Type"] = "application/json"}
  if etag ~= nil then
    headers["If-Match"] = etag
  end
  pending = true
  return wrk.format("PUT", path, headers, string.format('{"text": "%d"}', value + 1))
end

function response(status, headers, body)
  if state == "idle" then
    return
  elseif state == "get" then
    etag = header(headers, "etag")
    local text = string.match(body, '"text"%s*:%s*"(%d+)"')
    if status == 200 and text ~= nil then
      value, state = tonumber(text), "put"
    else
      count("get_" .. status)
    end
    return
  end
  state, pending = "get", false
  if status >= 200 and status < 300 then
    count("acknowledged")
  elseif status == 412 then
    count("refused")
  else
    count("put_" .. status)
  end
end
