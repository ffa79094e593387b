-- wrk script for the log benchmark: POSTs gzip-compressed envelopes of log lines (a `log` item, as Sentry's SDKs
-- batch them), optionally pausing between requests on each connection (a steady rate beside the error load).
--
--     wrk -t1 -c8 -d20s --timeout 30s -s logs.lua URL -- PARTS_DIR PAUSE_MS
--
-- PARTS_DIR (written by runner.py, write_log_parts) holds logs-item.txt (the item header), logs-rest.gz (one gzip
-- member a line: its JSON after the timestamp and trace id) with logs-rest.len (their lengths), and auth.txt.
-- Each request stamps its lines as an SDK's arrive: the time of sending (a microsecond apart) and a fresh trace id
-- every ten lines, each line's stamp in a small stored gzip member before its precompressed rest.
-- Prints one JSON line "WRK-RESULT {...}" at the end (common.lua).

local common = dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "common.lua")
local read, stored_member, trace_id = common.read, common.stored_member, common.hex32
local format = string.format
local ffi = require("ffi")
ffi.cdef [[
  typedef struct { long tv_sec; long tv_nsec; } spyglass_timespec;
  int clock_gettime(int clock, spyglass_timespec *time);
]]
local clock = ffi.new("spyglass_timespec")

local rests, item = {}, nil
local pause = 0

function init(args)
  local dir = args[1]
  pause = tonumber(args[2] or "0")
  local data, offset = read(dir .. "/logs-rest.gz"), 1
  for length in read(dir .. "/logs-rest.len"):gmatch("%d+") do
    table.insert(rests, data:sub(offset, offset + tonumber(length) - 1))
    offset = offset + tonumber(length)
  end
  assert(#rests > 0, "no log parts in " .. dir)
  item = read(dir .. "/logs-item.txt")
  math.randomseed(os.time() * 1000 + thread_id * 7919 + math.floor(os.clock() * 1e6))
  wrk.method = "POST"
  wrk.headers["X-Sentry-Auth"] = read(dir .. "/auth.txt")
  wrk.headers["Content-Type"] = "application/x-sentry-envelope"
  wrk.headers["Content-Encoding"] = "gzip"
end

function request()
  ffi.C.clock_gettime(0, clock)  -- CLOCK_REALTIME
  local now = tonumber(clock.tv_sec) + tonumber(clock.tv_nsec) / 1e9
  local header = '{"sent_at":"' .. os.date("!%Y-%m-%dT%H:%M:%SZ") .. '"}\n' .. item .. '\n{"items":[{"timestamp":'
  local body, trace = {}, nil
  for n = 1, #rests do
    if n % 10 == 1 then trace = trace_id() end
    local stamp = format('%.6f,"trace_id":"%s",', now + n / 1e6, trace)
    body[#body + 1] = stored_member(n == 1 and header .. stamp or stamp)
    body[#body + 1] = rests[n]
  end
  return wrk.format(nil, nil, nil, table.concat(body))
end

function delay()
  return pause
end
