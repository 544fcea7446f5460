-- One document per thread (<prefix><base + thread id>), one connection per thread: each PUT sends
-- the ETag the previous response carried, as an editor saving repeatedly does. With
-- conditional = "0" no If-Match is sent. Counts PUTs by status.
function init(args)
  prefix, base, conditional, body = args[1], tonumber(args[2]), args[3] == "1", args[4]
  path = prefix .. (base + id)
  etag = nil
end

function request()
  if conditional and etag == nil then
    return wrk.format("GET", path)
  end
  local headers = {["Content-Type"] = "application/json"}
  if conditional then
    headers["If-Match"] = etag
  end
  return wrk.format("PUT", path, headers, body)
end

function response(status, headers, body)
  local method = (conditional and etag == nil) and "get_" or "put_"
  count(method .. status)
  etag = header(headers, "etag") or etag
end
