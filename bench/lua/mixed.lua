-- Measure 7: a mix of every kind of request the programs answer, in a
-- fixed rotation, so each long-lived process serves its share (successes
-- and refusals alike).  Stops after MIX_REQUESTS responses in all (or at
-- wrk's -d limit, whichever comes first).  Environment:
--   MIX_KIND     mcpgate | peer | bare (bare: the mcpgate rotation)
--   MIX_TOKEN    access token;  MIX_BASIC  login header value (mcpgate)
--   MIX_REQUESTS total responses to stop after (all threads together)
dofile(os.getenv("BENCH_LUA") .. "/common.lua")

local kind = os.getenv("MIX_KIND") or "mcpgate"
local token = os.getenv("MIX_TOKEN") or ""
local basic = os.getenv("MIX_BASIC") or ""
local limit = tonumber(os.getenv("MIX_REQUESTS") or "1000000")
local form = "application/x-www-form-urlencoded"
local mcp_h = {
   ["Authorization"] = "Bearer " .. token,
   ["Content-Type"] = "application/json",
   ["Accept"] = "application/json, text/event-stream",
}

local function call(tool, args)
   return '{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"' .. tool
      .. '","arguments":' .. args .. '}}'
end

local reg = '{"client_name":"mix","redirect_uris":["http://127.0.0.1/callback"],'
   .. '"token_endpoint_auth_method":"none"}'
local oauth = kind == "peer" and "" or "/oauth"
local mix = {
   {"GET", "/.well-known/oauth-authorization-server"},
   {"GET", "/.well-known/oauth-protected-resource/mcp"},
   {"POST", "/mcp", mcp_h, call("get_snippet", '{"snippetname":"bench"}')},
   {"POST", "/mcp", mcp_h, "SAVE"},
   {"POST", "/mcp", mcp_h, call("hello_mcp", "{}")},
   {"POST", "/mcp", mcp_h, '{"jsonrpc":"2.0","id":8,"method":"tools/list"}'},
   {"POST", "/mcp", mcp_h, '{"jsonrpc":"2.0","id":9,"method":"ping"}'},
   {"POST", oauth .. "/token", {["Content-Type"] = form},
      "grant_type=authorization_code&code=nope&code_verifier=x&client_id=nobody"},
   {"POST", oauth .. "/register", {["Content-Type"] = "application/json"}, reg},
   {"POST", oauth .. "/revoke", {["Content-Type"] = form}, "token=nope&client_id=nobody"},
   {"GET", oauth .. "/authorize?response_type=code&client_id=nobody&state=s",
      basic ~= "" and {["Authorization"] = basic} or {}, nil, "login"},
}
if kind ~= "peer" then
   table.insert(mix, {"POST", "/oauth/introspect", {["Content-Type"] = form}, "token=nope"})
   table.insert(mix, {"GET", "/oauth/consent?txn=nope",
      basic ~= "" and {["Authorization"] = basic} or {}, nil, "login"})
   table.insert(mix, {"GET", "/oauth/callback?state=nope&code=nope"})
end
-- The login pages cost the web server a bcrypt check each (milliseconds);
-- they come in one rotation of ten, or they would set the pace.
local LOGIN_EVERY = 10

local n = 0
got = 0
http_5xx = 0

function request()
   n = n + 1
   local m = mix[(n - 1) % #mix + 1]
   if m[5] == "login" and math.floor((n - 1) / #mix) % LOGIN_EVERY ~= 0 then
      m = mix[1]
   end
   local body = m[4]
   if body == "SAVE" then
      body = call("save_snippet", string.format(
         '{"snippetname":"mix%d","snippet":"%s"}', n % 100, string.rep("y", 100)))
   end
   return wrk.format(m[1], m[2], m[3] or {}, body)
end

function response(status, headers, body)
   got = got + 1
   if status >= 500 then http_5xx = http_5xx + 1 end
   -- Each thread stops at its share of the total.
   if got >= limit / nthreads_total then
      bench_finish()
   end
end

local base_setup = setup
function setup(thread)
   base_setup(thread)
   thread:set("nthreads_total", tonumber(os.getenv("MIX_THREADS") or "1"))
end

function done(summary, latency, requests)
   bench_report(summary, latency, {{"responses", bench_sum("got")}, {"http_5xx", bench_sum("http_5xx")}})
end
