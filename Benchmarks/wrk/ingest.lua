-- wrk script for the ingest benchmark: POSTs gzip-compressed envelopes, each with a fresh event id.
--
--     wrk -t1 -c32 -d20s --timeout 30s -s ingest.lua URL -- PARTS_DIR NEW_RATIO
--
-- PARTS_DIR (written by runner.py) holds per recorded event i (1-based):
--   tail-i.gz   gzip member: the event payload after its "{", and "\n"
--   tail-i.len  the uncompressed length of tail-i.gz
-- and auth.txt (the X-Sentry-Auth header). A body is a small stored (uncompressed) gzip member built here per
-- request (envelope header with a fresh event id, item header, and the payload's start: "{" with the time of
-- sending as "timestamp" and, for a new issue, a unique fingerprint) followed by one precompressed member: gzip
-- bodies may hold several members.
-- Prints one JSON line "WRK-RESULT {...}" at the end.

local bit = require("bit")
local band, bxor, rshift, bnot = bit.band, bit.bxor, bit.rshift, bit.bnot
local char, byte, format = string.char, string.byte, string.format

local threads = {}
local next_id = 1

function setup(thread)
  thread:set("thread_id", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

local crc_table = {}
for i = 0, 255 do
  local c = i
  for _ = 1, 8 do
    if band(c, 1) == 1 then c = bxor(0xEDB88320, rshift(c, 1)) else c = rshift(c, 1) end
  end
  crc_table[i] = c
end

local function crc32(s)
  local c = 0xFFFFFFFF
  for i = 1, #s do
    c = bxor(crc_table[band(bxor(c, byte(s, i)), 0xFF)], rshift(c, 8))
  end
  return bnot(c)
end

local function le32(n)
  return char(band(n, 0xFF), band(rshift(n, 8), 0xFF), band(rshift(n, 16), 0xFF), band(rshift(n, 24), 0xFF))
end

-- A gzip member holding `s` in one stored deflate block.
local function stored_member(s)
  local n = #s
  return "\31\139\8\0\0\0\0\0\0\255" .. "\1" .. char(band(n, 0xFF), rshift(n, 8))
    .. char(band(bnot(n), 0xFF), band(rshift(bnot(n), 8), 0xFF)) .. s .. le32(crc32(s)) .. le32(n)
end

local function read(path)
  local file = assert(io.open(path, "rb"))
  local data = file:read("*a")
  file:close()
  return data
end

local tails, tail_len = {}, {}
local new_ratio = 0.1
statuses = {}  -- global: done() reads it from each thread

function init(args)
  local dir = args[1]
  new_ratio = tonumber(args[2] or "0.1")
  -- Every file is closed at once: wrk's event loop only takes descriptors below a few per connection.
  local function exists(path)
    local file = io.open(path, "rb")
    if file then file:close() end
    return file ~= nil
  end
  local i = 1
  while exists(dir .. "/tail-" .. i .. ".gz") do
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

local function event_id()
  return format("%04x%04x%04x%04x%04x%04x%04x%04x", random(0, 0xFFFF), random(0, 0xFFFF), random(0, 0xFFFF),
    random(0, 0xFFFF), random(0, 0xFFFF), random(0, 0xFFFF), random(0, 0xFFFF), random(0, 0xFFFF))
end

function request()
  local id = event_id()
  local now = os.date("!%Y-%m-%dT%H:%M:%SZ")
  local header = '{"event_id":"' .. id .. '","sent_at":"' .. now .. '"}'
  local index = random(1, #tails)
  local prefix = '{"timestamp":"' .. now .. '",'
  if random() < new_ratio then
    prefix = prefix .. '"fingerprint":["bench-new-' .. id .. '"],'
  end
  local item = '{"type":"event","content_type":"application/json","length":' .. (#prefix + tail_len[index] - 1) .. '}'
  return wrk.format(nil, nil, nil, stored_member(header .. "\n" .. item .. "\n" .. prefix) .. tails[index])
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local counts = {}
  for _, thread in ipairs(threads) do
    local s = thread:get("statuses")
    for status, count in pairs(s) do counts[status] = (counts[status] or 0) + count end
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
