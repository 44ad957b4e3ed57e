-- Measure 4: MCP tools/call over Streamable HTTP (POST, JSON response) with
-- a bearer token.  Environment:
--   MCP_PATH    the MCP endpoint path (/mcp)
--   MCP_TOKEN   access token
--   MCP_MODE    read      get_snippet of MCP_READ_NAME (saved beforehand)
--               write     save_snippet under a new name each time
--               mixed     save_snippet and get_snippet alternating
--               durable   as write, and every acknowledged name is written
--                         to ACK_FILE at the end (the server is killed -9
--                         meanwhile)
--               verify    get_snippet of every name in ACK_FILE until each
--                         has had its answer; counts found / missing, then
--                         stops (run it with one thread)
--   MCP_READ_NAME, MCP_SNIPPET_BYTES (write size, default 100), ACK_FILE
-- Counts tool results that are not errors (tool_ok) and the rest (tool_fail).
dofile(os.getenv("BENCH_LUA") .. "/common.lua")

local path = os.getenv("MCP_PATH") or "/mcp"
local mode = os.getenv("MCP_MODE") or "read"
local read_name = os.getenv("MCP_READ_NAME") or "bench"
local ack_file = os.getenv("ACK_FILE")
local size = tonumber(os.getenv("MCP_SNIPPET_BYTES") or "100")
local content = string.rep("x", size)
local headers = {
   ["Authorization"] = "Bearer " .. (os.getenv("MCP_TOKEN") or ""),
   ["Content-Type"] = "application/json",
   ["Accept"] = "application/json, text/event-stream",
}
-- On wrk.headers too (which carries Host), for the pre-built request.
for k, v in pairs(headers) do wrk.headers[k] = v end

local function call(id, tool, args)
   return '{"jsonrpc":"2.0","id":' .. id .. ',"method":"tools/call","params":{"name":"'
      .. tool .. '","arguments":' .. args .. '}}'
end

local function get_body(id, name)
   return call(id, "get_snippet", '{"snippetname":"' .. name .. '"}')
end

tool_ok = 0
tool_fail = 0
found = 0
missing = 0
acked = {}
local n = 0
local names, total = nil, 0
local answered, nanswered, cursor = {}, 0, 0

function init(args)
   if mode == "read" then
      -- The same request every time: let wrk send it pre-built.
      wrk.method = "POST"
      wrk.body = get_body(1, read_name)
   elseif mode == "verify" then
      names = {}
      for line in io.lines(ack_file) do
         if line ~= "" then table.insert(names, line) end
      end
      total = #names
   end
end

-- verify: the next name still without an answer (first each in turn, then
-- again any whose request was lost, e.g. on a reconnect), or nil.
local function next_unanswered()
   if n <= total then return names[n] end
   for _ = 1, total do
      cursor = cursor % total + 1
      if not answered[names[cursor]] then return names[cursor] end
   end
   return nil
end

if mode ~= "read" then
   function request()
      n = n + 1
      local body
      if mode == "verify" then
         local name = next_unanswered()
         if name then
            body = get_body(n, name)
         else -- all answered: keep idle connections busy until the stop
            body = call(n, "hello_mcp", "{}")
         end
      elseif mode == "mixed" and n % 2 == 0 then
         body = get_body(n, read_name)
      else
         local name = string.format("t%d-%d", id, n)
         body = call(n, "save_snippet",
            '{"snippetname":"' .. name .. '","snippet":"' .. content .. '"}')
      end
      return wrk.format("POST", path, headers, body)
   end
end

local function verify_answer(body, good)
   local name = good and string.match(body, '"snippetname":"([^"]+)"')
   local gone = not name and string.match(body, "no snippet named '([^']+)'")
   local key = name or gone
   if not key or answered[key] then return end
   answered[key] = true
   nanswered = nanswered + 1
   if name then found = found + 1 else missing = missing + 1 end
   if nanswered >= total then bench_finish() end
end

function response(status, headers, body)
   local good = status == 200 and string.find(body, '"isError":false', 1, true) ~= nil
   if good then tool_ok = tool_ok + 1 else tool_fail = tool_fail + 1 end
   if mode == "durable" and good then
      local name = string.match(body, '"snippetname":"([^"]+)"')
      if name then table.insert(acked, name) end
   elseif mode == "verify" then
      verify_answer(body, good)
   end
end

function done(summary, latency, requests)
   local extra = {{"tool_ok", bench_sum("tool_ok")}, {"tool_fail", bench_sum("tool_fail")}}
   if mode == "durable" then
      local f = assert(io.open(ack_file, "w"))
      local count = 0
      for _, t in ipairs(bench_threads) do
         for _, name in ipairs(t:get("acked") or {}) do
            f:write(name, "\n")
            count = count + 1
         end
      end
      f:close()
      table.insert(extra, {"acked", count})
   elseif mode == "verify" then
      table.insert(extra, {"found", bench_sum("found")})
      table.insert(extra, {"missing", bench_sum("missing")})
   end
   bench_report(summary, latency, extra)
end
