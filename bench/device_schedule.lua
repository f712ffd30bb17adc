-- wrk script for bench/bench_api.py: each request polls one device's schedule as that device.
--
--   wrk -t2 -c200 -d30s --latency -s bench/device_schedule.lua http://127.0.0.1:PORT -- DEVICES_FILE MODE [PACE_MS]
--
-- DEVICES_FILE has one line per device: "<device id> <credential> <etag>".
-- MODE is one of:
--   full    GET /api/v1/devices/{id}/schedule without If-None-Match (200 with the full body)
--   etag    the same with If-None-Match set to the device's current ETag (304, no body)
--   health  GET /health/live (the reference: the same client and hooks, no database)
-- PACE_MS (optional, third argument): each connection waits a random 0.5–1.5 × PACE_MS before each request,
-- so the run offers a steady load (connections × 1000 / PACE_MS requests/s) instead of saturating the server.
-- Devices are taken round-robin, each thread starting at a different place.
-- done() prints one line "BENCH key=value ..." (latencies in microseconds, status counts as sN=count)
-- for the Python script to parse.

local threads = {}

function setup(thread)
   thread:set("thread_number", #threads)
   table.insert(threads, thread)
end

local function device_requests(path, mode)
   local prepared = {}
   for line in io.lines(path) do
      local id, token, etag = line:match("^(%S+) (%S+) (%S+)$")
      local headers = { Authorization = "Bearer " .. token }
      if mode == "etag" then
         headers["If-None-Match"] = etag
      end
      table.insert(prepared, wrk.format("GET", "/api/v1/devices/" .. id .. "/schedule", headers))
   end
   return prepared
end

function init(args)
   local path, mode = args[1], args[2] or "full"
   if mode == "health" then
      prepared = { wrk.format("GET", "/health/live") }
   else
      prepared = device_requests(path, mode)
   end
   if #prepared == 0 then
      error("no devices in " .. tostring(path))
   end
   position = (thread_number * 7919) % #prepared
   statuses = {}
   pace = tonumber(args[3] or "0")
   math.randomseed(os.time() + thread_number)
end

function delay()
   if pace > 0 then
      return math.floor(pace * (0.5 + math.random()))
   end
   return 0
end

function request()
   position = position % #prepared + 1
   return prepared[position]
end

function response(status, headers, body)
   statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
   local counts = {}
   for _, thread in ipairs(threads) do
      for status, count in pairs(thread:get("statuses")) do
         counts[status] = (counts[status] or 0) + count
      end
   end
   local parts = {
      string.format("requests=%d duration_us=%d", summary.requests, summary.duration),
      string.format("mean=%.1f max=%d", latency.mean, latency.max),
   }
   for _, p in ipairs({ 50, 90, 95, 99 }) do
      table.insert(parts, string.format("p%d=%d", p, latency:percentile(p)))
   end
   local errors = summary.errors
   table.insert(parts, string.format("connect=%d read=%d write=%d status=%d timeout=%d",
      errors.connect, errors.read, errors.write, errors.status, errors.timeout))
   for status, count in pairs(counts) do
      table.insert(parts, string.format("s%d=%d", status, count))
   end
   io.write("BENCH " .. table.concat(parts, " ") .. "\n")
end
