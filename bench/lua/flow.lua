-- Measure 3: the whole OAuth authorization code flow, again and again, one
-- flow per connection (run with as many threads as connections, so each
-- thread's state machine drives exactly one connection):
--   register -> authorize -> [consent page -> consent approve] -> token
-- The consent steps are skipped when FLOW_CONSENT is empty (the peer
-- approves at once).  Environment:
--   FLOW_REGISTER FLOW_AUTHORIZE FLOW_CONSENT FLOW_TOKEN   paths
--   FLOW_BASIC     Authorization header value for authorize and consent
--                  (remote-user login), or empty
--   FLOW_RESOURCE  the resource indicator (RFC 8707) to ask for
-- Counts completed flows (flows) and flows abandoned on an unexpected
-- answer (flow_errors).
dofile(os.getenv("BENCH_LUA") .. "/common.lua")

local P = {
   register = os.getenv("FLOW_REGISTER"),
   authorize = os.getenv("FLOW_AUTHORIZE"),
   consent = os.getenv("FLOW_CONSENT") or "",
   token = os.getenv("FLOW_TOKEN"),
}
local basic = os.getenv("FLOW_BASIC") or ""
local resource = os.getenv("FLOW_RESOURCE") or ""
local redirect = "http://127.0.0.1/callback"
-- RFC 7636 appendix B.
local verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
local challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
local reg_body = '{"client_name":"bench flow","redirect_uris":["' .. redirect .. '"],'
   .. '"grant_types":["authorization_code","refresh_token"],"response_types":["code"],'
   .. '"token_endpoint_auth_method":"none"}'

flows = 0
flow_errors = 0
local step, client_id, txn, csrf, code = "register", nil, nil, nil, nil

local function with_login(h)
   if basic ~= "" then
      h["Authorization"] = basic
   end
   return h
end

function request()
   if step == "register" then
      return wrk.format("POST", P.register, {["Content-Type"] = "application/json"}, reg_body)
   elseif step == "authorize" then
      local q = "response_type=code&client_id=" .. bench_urlenc(client_id)
         .. "&redirect_uri=" .. bench_urlenc(redirect) .. "&state=bench"
         .. "&code_challenge=" .. challenge .. "&code_challenge_method=S256"
         .. "&scope=" .. bench_urlenc("snippets:read snippets:write")
         .. "&resource=" .. bench_urlenc(resource)
      return wrk.format("GET", P.authorize .. "?" .. q, with_login({}), nil)
   elseif step == "consent_page" then
      return wrk.format("GET", P.consent .. "?txn=" .. txn, with_login({}), nil)
   elseif step == "consent_approve" then
      local h = with_login({
         ["Content-Type"] = "application/x-www-form-urlencoded",
         -- What a browser sends for the page's own form (no-referrer page).
         ["Origin"] = "null",
         ["Sec-Fetch-Site"] = "same-origin",
      })
      return wrk.format("POST", P.consent, h,
         "txn=" .. txn .. "&csrf=" .. bench_urlenc(csrf) .. "&action=approve")
   else
      return wrk.format("POST", P.token, {["Content-Type"] = "application/x-www-form-urlencoded"},
         "grant_type=authorization_code&code=" .. code
         .. "&redirect_uri=" .. bench_urlenc(redirect)
         .. "&code_verifier=" .. verifier .. "&client_id=" .. bench_urlenc(client_id)
         .. "&resource=" .. bench_urlenc(resource))
   end
end

local function fail()
   flow_errors = flow_errors + 1
   step = "register"
end

function response(status, headers, body)
   if step == "register" then
      client_id = status == 201 and string.match(body, '"client_id"%s*:%s*"([^"]+)"')
      if not client_id then return fail() end
      step = "authorize"
   elseif step == "authorize" then
      local loc = status == 302 and bench_header(headers, "Location")
      if not loc then return fail() end
      if P.consent ~= "" and not string.find(loc, redirect, 1, true) then
         txn = bench_qparam(loc, "txn")
         if not txn then return fail() end
         step = "consent_page"
      else
         code = bench_qparam(loc, "code")
         if not code then return fail() end
         step = "token"
      end
   elseif step == "consent_page" then
      csrf = status == 200 and string.match(body, 'name="csrf" value="([^"]*)"')
      if not csrf then return fail() end
      step = "consent_approve"
   elseif step == "consent_approve" then
      local loc = (status == 302 or status == 303) and bench_header(headers, "Location")
      code = loc and bench_qparam(loc, "code")
      if not code then return fail() end
      step = "token"
   else
      if status ~= 200 or not string.find(body, '"access_token"', 1, true) then
         return fail()
      end
      flows = flows + 1
      step = "register"
   end
end

function done(summary, latency, requests)
   local f = bench_sum("flows")
   bench_report(summary, latency, {
      {"flows", f},
      {"flows_per_s", string.format("%.1f", f / (summary.duration / 1e6))},
      {"flow_errors", bench_sum("flow_errors")},
   })
end
