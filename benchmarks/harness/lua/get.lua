-- A fixed request (method, path and headers from the command line); counts the statuses.
function response(status, headers, body)
  count("status_" .. status)
end
