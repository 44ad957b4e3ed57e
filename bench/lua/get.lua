-- GET the URL given on the command line (measure 1: AS metadata).
dofile(os.getenv("BENCH_LUA") .. "/common.lua")

function done(summary, latency, requests)
   bench_report(summary, latency)
end
