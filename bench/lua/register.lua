-- POST a dynamic client registration (RFC 7591) to the URL given on the
-- command line (measure 2).  The same metadata every time: each request
-- creates a new client.
dofile(os.getenv("BENCH_LUA") .. "/common.lua")

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"client_name":"bench","redirect_uris":["http://127.0.0.1/callback"],'
   .. '"grant_types":["authorization_code","refresh_token"],"response_types":["code"],'
   .. '"token_endpoint_auth_method":"none"}'

function done(summary, latency, requests)
   bench_report(summary, latency)
end
