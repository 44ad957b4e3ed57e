#!/usr/bin/env bash
# The legacy HTTP+SSE transport through Apache: mod_proxy_fcgi with the
# programs run by mcpgate-backends (flushpackets=on), and the shared-hosting
# setup where sse runs as plain CGI (one process per stream).  The endpoint
# event and each reply arrive at once; SIGTERM ends the sse process cleanly
# and its successor, on the same listening socket, serves streams.
. "$(dirname "${BASH_SOURCE[0]}")/../lib/servers.sh"
. "$(dirname "${BASH_SOURCE[0]}")/sse_lib.sh"

have_message=0
[ -x "$BIN_DIR/message" ] && have_message=1

# check_stream LABEL: open a stream, get a reply on it, then close it.
check_stream() {
	local t=$1 name=s$RANDOM
	sse_open "$name" "$ALICE"
	ok $? "$t: stream opened"
	is "$(head -n 1 "$TEST_OUT/$name.sse")" "event: endpoint" "$t: the first event is endpoint"
	like "${SSE_EP[$name]}" '^/mcp/message\?sessionId=[A-Za-z0-9_-]{43}$' "$t: endpoint names the session"
	is "$(sse_tool send "$SRV_CONF" "$ALICE" "${SSE_SID[$name]}" '{"jsonrpc":"2.0","id":"b1","result":{}}')" \
		ok "$t: bus_send to the session"
	sse_wait "$name" '"id":"b1"' 2
	ok $? "$t: ... arrives on the stream"
	if [ "$have_message" = 1 ]; then
		hreq "$SRV_URL" POST "${SSE_EP[$name]}" -H "Authorization: Bearer $ALICE" \
			-H "Content-Type: application/json" -d '{"jsonrpc":"2.0","id":"p1","method":"ping"}'
		is "$RESP_STATUS" 202 "$t: POST ping: 202"
		sse_wait "$name" '"id":"p1","result":\{\}' 2
		ok $? "$t: the ping result arrives on the stream"
	fi
	sse_close "$name"
}

# --- mod_proxy_fcgi ------------------------------------------------------------
start_apache
ALICE=$(mint local:alice 600)
hreq "$SRV_URL" GET /mcp/sse
is "$RESP_STATUS" 401 "proxy_fcgi: no token: 401"
like "$(resp_header WWW-Authenticate)" '^Bearer resource_metadata=' "proxy_fcgi: with the challenge"
# sse answers these as soon as the parameters are in, before Apache has sent
# the empty stdin record: closing at once made Apache's write fail and turn
# our answer into its own 503.
codes=$(for i in $(seq 1 60); do
	curl -s -o /dev/null -w '%{http_code}\n' --max-time 5 "$SRV_URL/mcp/sse"
done | sort | uniq -c | tr -s ' ' | tr '\n' ';')
is "$codes" " 60 401;" "proxy_fcgi: 60 requests without a token in a row: every one 401"
hreq "$SRV_URL" GET /mcp/sse -H "Authorization: Bearer $ALICE" -H "Origin: https://evil.example"
is "$RESP_STATUS" 403 "proxy_fcgi: foreign Origin: 403"
check_stream proxy_fcgi

out=$(sse_tool streams "$SRV_PORT" /mcp/sse "$ALICE" 20 0 </dev/null)
like "$out" 'streams=20 endpoint=20 ' "proxy_fcgi: 20 concurrent streams each got the endpoint event"
diag "proxy_fcgi: $(head -n 1 <<<"$out")"
out=$(sse_tool latency "$SRV_PORT" /mcp/sse "$ALICE" "$SRV_CONF" 200 bus)
like "$out" '^n=200 ok=200 ' "proxy_fcgi: 200 bus messages arrived"
diag "proxy_fcgi: bus_send -> event at the client: $out"
if [ "$have_message" = 1 ]; then
	out=$(sse_tool latency "$SRV_PORT" /mcp/sse "$ALICE" "$SRV_CONF" 200 post)
	like "$out" '^n=200 ok=200 .* bad_post_status=0$' "proxy_fcgi: 200 POSTed pings answered on the stream"
	diag "proxy_fcgi: POST /mcp/message -> event at the client: $out"
fi

# SIGTERM: the process exits at once; mcpgate-backends starts another on the
# same listening socket, which must still accept.
sse_open t1 "$ALICE"
pid=$(sse_pid)
t0=$(now_ms)
kill -TERM "$pid"
for i in $(seq 1 200); do
	proc_alive "$pid" || break
	sleep 0.01
done
el=$(($(now_ms) - t0))
ok "$(proc_alive "$pid"; [ $? -ne 0 ]; echo $?)" "proxy_fcgi: SIGTERM: the sse process exits"
ok "$([ "$el" -lt 1000 ]; echo $?)" "... within a second (${el} ms)"
sse_done t1 2 && is "$SSE_RC" 0 "... its stream ended cleanly"
is "$(session_state "$ALICE" "${SSE_SID[t1]}")" absent "... its session removed"
for i in $(seq 1 100); do
	new=$(sse_pid) && [ "$new" != "$pid" ] && break
	sleep 0.05
done
ok "$([ -n "$new" ] && [ "$new" != "$pid" ]; echo $?)" "proxy_fcgi: a new sse process was started"
check_stream "proxy_fcgi after restart"

# --- plain CGI (shared hosting) --------------------------------------------------
start_apache --cgi
ALICE=$(mint local:alice 600)
hreq "$SRV_URL" GET /mcp/sse
is "$RESP_STATUS" 401 "cgi: no token: 401"
check_stream cgi

done_testing
