-- wrk script: replays a pool of pre-signed webhook requests, each sent with a delivery id unique to
-- this run, and reports throughput, latency percentiles and the status codes seen as one JSON line.
--
-- Usage: wrk -t2 -c16 -d10s -s wrk_webhooks.lua http://127.0.0.1:PORT -- POOL_FILE DELIVERY_HEADER RUN_TAG
-- POOL_FILE holds records of three lines: the path, the headers ("Name: value" joined by tabs) and
-- the body on one line. The signature covers the body only, so a unique delivery id per request
-- keeps every request both valid and new; bodies differ too (the pool is built with distinct ones).

local threads = {}
local next_id = 0

function setup(thread)
  thread:set("thread_id", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

local pool = {}
local sent = 0

local function load_pool(file, thread_count)
  local index, record = 0, {}
  for line in io.lines(file) do
    table.insert(record, line)
    if #record == 3 then
      if index % thread_count == thread_id then
        local headers = record[2]:gsub("\t", "\r\n")
        table.insert(pool, {
          head = "POST " .. record[1] .. " HTTP/1.1\r\nHost: " .. wrk.host .. "\r\n" .. headers .. "\r\n",
          tail = "Content-Length: " .. #record[3] .. "\r\n\r\n" .. record[3],
        })
      end
      index = index + 1
      record = {}
    end
  end
end

function init(args)
  local file, thread_count = args[1], tonumber(args[4] or "2")
  delivery_header = args[2]
  run_tag = args[3]
  statuses = {}
  load_pool(file, thread_count)
  if #pool == 0 then
    error("no requests in pool file " .. file)
  end
end

function request()
  sent = sent + 1
  local item = pool[(sent % #pool) + 1]
  -- UUID-shaped like GitHub's: run tag, thread and a per-thread counter make it unique.
  local id = string.format("%s-%04x-4000-8000-%012x", run_tag, thread_id, sent)
  return item.head .. delivery_header .. ": " .. id .. "\r\n" .. item.tail
end

function response(status, headers, body)
  local key = tostring(status)
  statuses[key] = (statuses[key] or 0) + 1
end

function done(summary, latency, requests)
  local counts = {}
  for _, thread in ipairs(threads) do
    for status, n in pairs(thread:get("statuses") or {}) do
      counts[status] = (counts[status] or 0) + n
    end
  end
  local parts = {}
  for status, n in pairs(counts) do
    table.insert(parts, string.format('"%s": %d', status, n))
  end
  local errors = summary.errors
  io.write(string.format(
    'WRK_RESULT {"requests": %d, "duration_us": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d, ' ..
    '"max_us": %d, "errors": {"connect": %d, "read": %d, "write": %d, "timeout": %d}, "statuses": {%s}}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, errors.connect, errors.read, errors.write, errors.timeout,
    table.concat(parts, ", ")))
end
