-- wrk script for the log benchmark: POSTs one gzip-compressed envelope of log lines (a `log` item, as Sentry's
-- SDKs batch them) again and again, optionally pausing between requests on each connection (a steady rate beside
-- the error load).
--
--     wrk -t1 -c8 -d20s --timeout 30s -s logs.lua URL -- PARTS_DIR PAUSE_MS
--
-- PARTS_DIR (written by runner.py) holds logs.gz (the envelope) and auth.txt (the X-Sentry-Auth header).
-- Prints one JSON line "WRK-RESULT {...}" at the end, as ingest.lua does.

local format = string.format
local threads = {}
local body, pause = nil, 0
statuses = {}  -- global: done() reads it from each thread

function setup(thread)
  table.insert(threads, thread)
end

local function read(path)
  local file = assert(io.open(path, "rb"))
  local data = file:read("*a")
  file:close()
  return data
end

function init(args)
  body = read(args[1] .. "/logs.gz")
  pause = tonumber(args[2] or "0")
  wrk.method = "POST"
  wrk.headers["X-Sentry-Auth"] = read(args[1] .. "/auth.txt")
  wrk.headers["Content-Type"] = "application/x-sentry-envelope"
  wrk.headers["Content-Encoding"] = "gzip"
end

function request()
  return wrk.format(nil, nil, nil, body)
end

function delay()
  return pause
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local counts = {}
  for _, thread in ipairs(threads) do
    for status, count in pairs(thread:get("statuses")) do counts[status] = (counts[status] or 0) + count end
  end
  local parts = {}
  for status, count in pairs(counts) do table.insert(parts, format('"%d":%d', status, count)) end
  local e = summary.errors
  io.write(format('WRK-RESULT {"requests":%d,"duration_us":%d,"statuses":{%s},'
    .. '"socket_errors":{"connect":%d,"read":%d,"write":%d,"timeout":%d},'
    .. '"latency_us":{"p50":%d,"p90":%d,"p99":%d,"max":%d}}\n',
    summary.requests, summary.duration, table.concat(parts, ","), e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
