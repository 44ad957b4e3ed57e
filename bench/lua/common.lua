-- Shared by every wrk script (loaded with dofile): thread bookkeeping and
-- the one machine-readable summary line bench/run.sh parses:
--   BENCH requests=N duration_s=S rps=R p50_ms=A p99_ms=B errors=E
--         sock_errors=F [k=v...]
-- errors counts socket errors, timeouts and HTTP statuses >= 400;
-- sock_errors only the first two.

bench_threads = {}
local nthreads = 0

-- Default setup: number the threads (id 1..n) and remember them, so done()
-- can collect per-thread counters with thread:get().
function bench_setup(thread)
   nthreads = nthreads + 1
   thread:set("id", nthreads)
   table.insert(bench_threads, thread)
end

-- Sum of a per-thread numeric global.
function bench_sum(name)
   local s = 0
   for _, t in ipairs(bench_threads) do
      s = s + (tonumber(t:get(name)) or 0)
   end
   return s
end

function bench_report(summary, latency, extra)
   local e = summary.errors
   local secs = summary.duration / 1e6
   local sock = e.connect + e.read + e.write + e.timeout
   local line = string.format(
      "BENCH requests=%d duration_s=%.3f rps=%.1f p50_ms=%.3f p99_ms=%.3f errors=%d sock_errors=%d",
      summary.requests, secs, summary.requests / secs,
      latency:percentile(50) / 1000, latency:percentile(99) / 1000, sock + e.status, sock)
   for _, kv in ipairs(extra or {}) do
      line = line .. string.format(" %s=%s", kv[1], tostring(kv[2]))
   end
   io.write(line .. "\n")
end

-- Case-insensitive response header lookup.
function bench_header(headers, name)
   local want = string.lower(name)
   for k, v in pairs(headers) do
      if string.lower(k) == want then
         return v
      end
   end
   return nil
end

function bench_urlenc(s)
   return (string.gsub(s, "[^A-Za-z0-9_.~-]", function(c)
      return string.format("%%%02X", string.byte(c))
   end))
end

-- The value of query parameter name in url (still percent-encoded).
function bench_qparam(url, name)
   return string.match(url or "", "[?&]" .. name .. "=([^&#]*)")
end

-- A thread whose work is done stops, and says so: wrk itself runs for its
-- whole -d duration, so bench/run.sh interrupts it once every thread has
-- left a marker in BENCH_DONE_DIR.
local finished = false
function bench_finish()
   if finished then return end
   finished = true
   local dir = os.getenv("BENCH_DONE_DIR")
   if dir then
      local f = io.open(dir .. "/done-" .. tostring(id), "w")
      if f then f:close() end
   end
   wrk.thread:stop()
end

setup = bench_setup
