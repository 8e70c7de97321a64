-- rotate.lua: a wrk script that requests a list of paths round-robin and
-- prints a machine-readable summary.
--
--   wrk -t1 -c4 -d6s --latency -s serving/loadtest/rotate.lua http://127.0.0.1:8080 -- /tmp/paths.txt
--
-- The file after "--" holds one request per line: a path to GET (with its
-- query, e.g. /make_recommendation?n=10&browsed=50,181), or a method, a
-- path and a JSON body separated by single spaces (e.g. POST
-- /v1/recommendations {"model":"als","items":[...]}), sent with
-- Content-Type application/json. Every thread reads it
-- once, pre-formats all requests, and starts at its own offset so threads
-- do not send the same sequence. No response() callback is defined: with
-- one, wrk would parse every response's headers into Lua tables, costing
-- client CPU the server then does not get.
--
-- done() prints one line starting with "WRK_RESULT " followed by a JSON
-- object (latencies in microseconds), which ./serving/loadtest parses.

local threads = {}
local counter = 0

function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

function init(args)
  local file = args[1]
  if file == nil then
    error("rotate.lua: pass the paths file after --")
  end
  local f = assert(io.open(file, "r"))
  reqs = {}
  for line in f:lines() do
    local method, path, body = line:match("^(%u+) (%S+) (.*)$")
    if method then
      reqs[#reqs + 1] = wrk.format(method, path, {["Content-Type"] = "application/json"}, body)
    elseif line ~= "" then
      reqs[#reqs + 1] = wrk.format("GET", line)
    end
  end
  f:close()
  if #reqs == 0 then
    error("rotate.lua: no paths in " .. file)
  end
  -- Spread threads over the list; tid is set by setup (0 when missing).
  idx = ((tid or 0) * 7919) % #reqs
end

function request()
  idx = idx + 1
  if idx > #reqs then
    idx = 1
  end
  return reqs[idx]
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_RESULT {"requests":%d,"duration_us":%d,"bytes":%d,' ..
    '"connect_errors":%d,"read_errors":%d,"write_errors":%d,"status_errors":%d,"timeouts":%d,' ..
    '"p50_us":%d,"p90_us":%d,"p99_us":%d,"p999_us":%d,"max_us":%d,"mean_us":%.1f}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency:percentile(99.9), latency.max, latency.mean))
end
