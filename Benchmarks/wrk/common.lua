-- What ingest.lua and logs.lua share, loaded by each with dofile (see their first lines): gzip members built per
-- request, reading the parts, counting statuses, and the result line the runner reads.

local bit = require("bit")
local band, bxor, rshift, bnot = bit.band, bit.bxor, bit.rshift, bit.bnot
local char, byte, format = string.char, string.byte, string.format

local common = {}

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

-- A gzip member holding `s` (at most 65 535 bytes) in one stored deflate block.
function common.stored_member(s)
  local n = #s
  return "\31\139\8\0\0\0\0\0\0\255" .. "\1" .. char(band(n, 0xFF), rshift(n, 8))
    .. char(band(bnot(n), 0xFF), band(rshift(bnot(n), 8), 0xFF)) .. s .. le32(crc32(s)) .. le32(n)
end

function common.read(path)
  local file = assert(io.open(path, "rb"))
  local data = file:read("*a")
  file:close()
  return data
end

function common.exists(path)
  local file = io.open(path, "rb")
  if file then file:close() end
  return file ~= nil
end

-- 32 random hex digits (an event id, a trace id).
function common.hex32()
  local random = math.random
  return format("%04x%04x%04x%04x%04x%04x%04x%04x", random(0, 0xFFFF), random(0, 0xFFFF), random(0, 0xFFFF),
    random(0, 0xFFFF), random(0, 0xFFFF), random(0, 0xFFFF), random(0, 0xFFFF), random(0, 0xFFFF))
end

local threads = {}
local next_id = 1
statuses = {}  -- global: done() reads it from each thread

function setup(thread)
  thread:set("thread_id", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
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

return common
