#!/usr/bin/env bash
# The legacy HTTP+SSE transport end to end through lighttpd: the endpoint
# event comes first and at once, the session it names belongs to the user
# and to this sse process's socket, replies to POST /mcp/message arrive on
# the stream, another user's session id is 404, messages of every size
# (including over a datagram, > 200 KB) arrive whole, and the round trip
# message -> event is measured (p50/p99 over 200 messages, printed as diag).
. "$(dirname "${BASH_SOURCE[0]}")/../lib/servers.sh"
. "$(dirname "${BASH_SOURCE[0]}")/sse_lib.sh"

have_message=0
[ -x "$BIN_DIR/message" ] && have_message=1

start_lighttpd
ALICE=$(mint local:alice 600)
BOB=$(mint local:bob 600)
PORT=$SRV_PORT

# --- the stream opens with the endpoint event, at once ---------------------------
out=$(sse_tool streams "$PORT" /mcp/sse "$ALICE" 1 0 </dev/null)
like "$out" 'streams=1 endpoint=1 ' "one stream got the endpoint event"
diag "request -> endpoint event, one stream: $(sed -n 's/.*\(endpoint_p50_ms=[0-9.]*\).*/\1/p' <<<"$out")"
out=$(sse_tool streams "$PORT" /mcp/sse "$ALICE" 20 0 </dev/null)
like "$out" 'streams=20 endpoint=20 ' "20 concurrent streams each got the endpoint event"
p50=$(sed -n 's/.*endpoint_p50_ms=\([0-9.]*\).*/\1/p' <<<"$out")
max=$(sed -n 's/.*endpoint_max_ms=\([0-9.]*\).*/\1/p' <<<"$out")
diag "request -> endpoint event, 20 at once: p50 $p50 ms, max $max ms"
ok "$(awk -v v="$max" 'BEGIN { exit !(v < 500) }'; echo $?)" \
	"endpoint event arrives immediately, not buffered (slowest of 20: $max ms)"

sse_open a "$ALICE"
ok $? "stream opened"
hdr=$(curl -sS -N --max-time 1 -D - -o /dev/null -H "Authorization: Bearer $ALICE" \
	"$SRV_URL/mcp/sse" 2>/dev/null | tr -d '\r')
like "$hdr" $'\nContent-Type: text/event-stream' "Content-Type: text/event-stream"
like "$hdr" $'\nCache-Control: no-cache' "Cache-Control: no-cache"
like "$hdr" $'\nX-Accel-Buffering: no' "X-Accel-Buffering: no"
unlike "$hdr" $'\nContent-Length:' "no Content-Length on a stream"
is "$(head -n 1 "$TEST_OUT/a.sse")" "event: endpoint" "the first event is endpoint"
like "${SSE_EP[a]}" '^/mcp/message\?sessionId=[A-Za-z0-9_-]{43}$' \
	"endpoint data is the POST path with a 43-character session id"
SID=${SSE_SID[a]}
is "$(session_state "$ALICE" "$SID")" present "the session is in the store"
is "$(session_state "$BOB" "$SID")" absent "and is not visible to another user"
sock=$(sse_tool session "$SRV_CONF" "$ALICE" "$SID" | sed -n 's/^sock=\(.*\) kind=2$/\1/p')
like "$sock" "^$SRV_DIR/sock/bus-[0-9]+\\.sock\$" "the session names this process's bus socket (kind legacy)"
is "$(stat -c %a "$sock" 2>/dev/null)" 600 "bus socket mode 0600"
is "$(stat -c %U "$sock" 2>/dev/null)" "$WEB_USER" "bus socket owned by the web server's user"

# --- messages straight over the bus --------------------------------------------
is "$(sse_tool send "$SRV_CONF" "$ALICE" "$SID" '{"jsonrpc":"2.0","id":"bus-1","result":{}}')" \
	ok "bus_send to the session"
sse_wait a '^data: \{"jsonrpc":"2.0","id":"bus-1","result":\{\}\}$' 2
ok $? "... arrives as a message event"
like "$(grep -B1 '"bus-1"' "$TEST_OUT/a.sse" | head -n 1)" '^event: message$' "... named message"

for size in 100 65536 196608 300000 1048576 4194304; do
	sse_tool flood "$SRV_CONF" "$ALICE" "$SID" "$size" 1 >/dev/null
	sse_wait a '"id":"big-0".*"\}\}$' 5
	got=$(grep -a '"id":"big-0"' "$TEST_OUT/a.sse" | tail -n 1 | sed 's/^data: //' | tr -d '\n' | wc -c)
	is "$got" "$size" "a $size-byte message arrives whole"
	: >"$TEST_OUT/a.sse"
done

# --- replies to POST /mcp/message ------------------------------------------------
if [ "$have_message" = 1 ]; then
	post() {
		hreq "$SRV_URL" POST "$1" -H "Authorization: Bearer $2" \
			-H "Content-Type: application/json" -d "$3"
	}
	post "${SSE_EP[a]}" "$ALICE" '{"jsonrpc":"2.0","id":7,"method":"initialize","params":{"protocolVersion":"2024-11-05","capabilities":{},"clientInfo":{"name":"sse-test","version":"1"}}}'
	is "$RESP_STATUS" 202 "POST initialize: 202"
	sse_wait a '^data: \{"jsonrpc":"2.0","id":7,"result":\{"protocolVersion":"2024-11-05"' 2
	ok $? "the initialize result arrives on the stream"
	post "${SSE_EP[a]}" "$ALICE" '{"jsonrpc":"2.0","method":"notifications/initialized"}'
	is "$RESP_STATUS" 202 "notification: 202"
	post "${SSE_EP[a]}" "$ALICE" '{"jsonrpc":"2.0","id":"p1","method":"ping"}'
	is "$RESP_STATUS" 202 "POST ping: 202"
	sse_wait a '"id":"p1","result":\{\}' 2
	ok $? "the ping result arrives on the stream"

	post "${SSE_EP[a]}" "$BOB" '{"jsonrpc":"2.0","id":8,"method":"ping"}'
	is "$RESP_STATUS" 404 "another user's session id: 404"
	ok "$(grep -c '"id":8' "$TEST_OUT/a.sse" | grep -qx 0; echo $?)" \
		"... and nothing reaches alice's stream"
	post "/mcp/message?sessionId=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" "$ALICE" \
		'{"jsonrpc":"2.0","id":9,"method":"ping"}'
	is "$RESP_STATUS" 404 "unknown session id: 404"
else
	skip "replies to POST /mcp/message" "the message program is not built"
fi

# --- round-trip latency -------------------------------------------------------------
out=$(sse_tool latency "$PORT" /mcp/sse "$ALICE" "$SRV_CONF" 200 bus)
like "$out" '^n=200 ok=200 ' "200 bus messages all arrived"
diag "bus_send -> event at the client (through lighttpd): $out"
p50=$(sed -n 's/.*p50_ms=\([0-9.]*\).*/\1/p' <<<"$out")
ok "$(awk -v v="$p50" 'BEGIN { exit !(v < 20) }'; echo $?)" "bus round trip p50 $p50 ms < 20 ms"
if [ "$have_message" = 1 ]; then
	out=$(sse_tool latency "$PORT" /mcp/sse "$ALICE" "$SRV_CONF" 200 post)
	like "$out" '^n=200 ok=200 .* bad_post_status=0$' "200 POSTed pings all answered on the stream, each POST 202"
	diag "POST /mcp/message -> event at the client (through lighttpd): $out"
	p50=$(sed -n 's/.*p50_ms=\([0-9.]*\).*/\1/p' <<<"$out")
	ok "$(awk -v v="$p50" 'BEGIN { exit !(v < 50) }'; echo $?)" "POST round trip p50 $p50 ms < 50 ms"
else
	skip "POST round trip" "the message program is not built"
fi

sse_close a
done_testing
