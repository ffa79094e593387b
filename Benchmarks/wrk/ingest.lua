-- wrk script for the ingest benchmark: POSTs gzip-compressed envelopes, each with a fresh event id.
--
--     wrk -t1 -c32 -d20s --timeout 30s -s ingest.lua URL -- PARTS_DIR NEW_RATIO
--
-- PARTS_DIR (written by runner.py) holds per recorded event i (1-based):
--   tail-i.gz   gzip member: the event payload after its "{", and "\n"
--   tail-i.len  the uncompressed length of tail-i.gz
-- and auth.txt (the X-Sentry-Auth header). A body is a small stored (uncompressed) gzip member built here per
-- request (envelope header with a fresh event id, item header, and the payload's start: "{" with the time of
-- sending as "timestamp", the event id again as the SDK writes it, and, for a new issue, a unique fingerprint)
-- followed by one precompressed member: gzip bodies may hold several members.
-- Prints one JSON line "WRK-RESULT {...}" at the end (common.lua).

local common = dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "common.lua")
local read, stored_member, event_id = common.read, common.stored_member, common.hex32

local tails, tail_len = {}, {}
local new_ratio = 0.1

function init(args)
  local dir = args[1]
  new_ratio = tonumber(args[2] or "0.1")
  -- Every file is closed at once: wrk's event loop only takes descriptors below a few per connection.
  local i = 1
  while common.exists(dir .. "/tail-" .. i .. ".gz") do
    tails[i] = read(dir .. "/tail-" .. i .. ".gz")
    tail_len[i] = tonumber(read(dir .. "/tail-" .. i .. ".len"))
    i = i + 1
  end
  assert(#tails > 0, "no parts in " .. dir)
  math.randomseed(os.time() * 1000 + thread_id * 7919 + math.floor(os.clock() * 1e6))
  wrk.method = "POST"
  wrk.headers["X-Sentry-Auth"] = read(dir .. "/auth.txt")
  wrk.headers["Content-Type"] = "application/x-sentry-envelope"
  wrk.headers["Content-Encoding"] = "gzip"
end

local random = math.random

function request()
  local id = event_id()
  local now = os.date("!%Y-%m-%dT%H:%M:%SZ")
  local header = '{"event_id":"' .. id .. '","sent_at":"' .. now .. '"}'
  local index = random(1, #tails)
  local prefix = '{"timestamp":"' .. now .. '","event_id":"' .. id .. '",'
  if random() < new_ratio then
    prefix = prefix .. '"fingerprint":["bench-new-' .. id .. '"],'
  end
  local item = '{"type":"event","content_type":"application/json","length":' .. (#prefix + tail_len[index] - 1) .. '}'
  return wrk.format(nil, nil, nil, stored_member(header .. "\n" .. item .. "\n" .. prefix) .. tails[index])
end
