#!/usr/bin/env bash
# How streams end, through lighttpd: the client goes away, the grant is
# revoked, the token expires, the process gets SIGTERM.  Each time the
# stream closes and its session is removed.  Keep-alive comments arrive at
# most 10 s apart.  (About 12 s: lighttpd tells the program that a client
# left only when the next keep-alive comment is written.)
. "$(dirname "${BASH_SOURCE[0]}")/../lib/servers.sh"
. "$(dirname "${BASH_SOURCE[0]}")/sse_lib.sh"

start_lighttpd
ALICE=$(mint local:alice 600)
GONE=$(mint local:alice 600)
REVOKED=$(mint local:alice 600)
SHORT=$(mint local:alice 3)

t0=$(now_ms)
sse_open live "$ALICE" && sse_open gone "$GONE" && sse_open revoked "$REVOKED" &&
	sse_open short "$SHORT"
ok $? "four streams open"
for s in live gone revoked short; do
	tok=$ALICE
	case $s in gone) tok=$GONE ;; revoked) tok=$REVOKED ;; short) tok=$SHORT ;; esac
	is "$(session_state "$tok" "${SSE_SID[$s]}")" present "$s: session present"
done

sse_close gone
sse_tool revoke "$SRV_CONF" "$REVOKED"

# The token expires after 3 s: the stream ends then, not at the next ping.
sse_done short 6
ok $? "expiring token: the stream ends"
el=$(($(now_ms) - t0))
ok "$([ "$el" -ge 2000 ] && [ "$el" -le 5000 ]; echo $?)" "... when the token expires (${el} ms after opening)"
is "$SSE_RC" 0 "... cleanly (curl sees the end of the response)"
is "$(session_state "$ALICE" "${SSE_SID[short]}")" absent "... and its session is gone (expired with the token)"

# Keep-alive comment within 10 s; the same write finds the other two.
sse_wait live '^: ping$' 12
ok $? "keep-alive comment arrives"
el=$(($(now_ms) - t0))
ok "$([ "$el" -le 11000 ]; echo $?)" "... within 10 s of opening (${el} ms)"

sse_done revoked 3
ok $? "revoked grant: the stream ends at the next keep-alive check"
is "$(session_state "$ALICE" "${SSE_SID[revoked]}")" absent "... and its session is removed"

for i in $(seq 1 100); do
	[ "$(session_state "$GONE" "${SSE_SID[gone]}")" = absent ] && break
	sleep 0.05
done
is "$(session_state "$GONE" "${SSE_SID[gone]}")" absent "client gone: its session is removed"
el=$(($(now_ms) - t0))
diag "disconnect noticed and session removed ${el} ms after the stream opened"
if [ -x "$BIN_DIR/message" ]; then
	hreq "$SRV_URL" POST "${SSE_EP[gone]}" -H "Authorization: Bearer $GONE" \
		-H "Content-Type: application/json" -d '{"jsonrpc":"2.0","id":1,"method":"ping"}'
	is "$RESP_STATUS" 404 "client gone: POST to its session is 404"
fi
grep -q 'reason="client gone" session_removed=yes' "$SRV_LOG"
ok $? "log: stream ended, reason client gone"
grep -q 'reason="grant revoked" session_removed=yes' "$SRV_LOG"
ok $? "log: stream ended, reason grant revoked"
grep -q 'reason="token expired"' "$SRV_LOG"
ok $? "log: stream ended, reason token expired"

# A stream stays open, yet with nothing to do for two ticks the process
# closes the store handle its reads kept (and trims its heap).  The open
# stream's keep-alive check reads the store every 10 s, so look for up to
# 3 s: a handle that is never let go stays in every look.
sse_store_fds() {
	local fd n=0
	for fd in /proc/"$(sse_pid)"/fd/*; do
		[ "$(readlink "$fd")" = "$SRV_DIR/state/mcpgate.db" ] && n=$((n + 1))
	done
	echo "$n"
}
for i in $(seq 1 30); do
	held=$(sse_store_fds)
	[ "$held" = 0 ] && break
	sleep 0.1
done
is "$held" 0 "idle, one stream open: no handle on the store file"
sse_open idle "$ALICE"
ok $? "... and the next stream opens"
sse_close idle

# --- SIGTERM drains and exits ----------------------------------------------------
sse_open t1 "$ALICE" && sse_open t2 "$ALICE"
ok $? "two more streams open"
pid=$(sse_pid)
sock=$(sse_tool session "$SRV_CONF" "$ALICE" "${SSE_SID[t1]}" | sed -n 's/^sock=\(.*\) kind=2$/\1/p')
ok "$([ -S "$sock" ]; echo $?)" "bus socket exists"
t0=$(now_ms)
kill -TERM "$pid"
for i in $(seq 1 200); do
	proc_alive "$pid" || break
	sleep 0.01
done
el=$(($(now_ms) - t0))
ok "$(proc_alive "$pid"; [ $? -ne 0 ]; echo $?)" "SIGTERM: the sse process exits"
ok "$([ "$el" -lt 1000 ]; echo $?)" "... within a second (${el} ms)"
sse_done t1 2 && is "$SSE_RC" 0 "... stream 1 ended cleanly"
sse_done t2 2 && is "$SSE_RC" 0 "... stream 2 ended cleanly"
is "$(session_state "$ALICE" "${SSE_SID[t1]}")" absent "... session 1 removed"
is "$(session_state "$ALICE" "${SSE_SID[t2]}")" absent "... session 2 removed"
ok "$([ ! -e "$sock" ]; echo $?)" "... bus socket removed"
grep -q "child exited: 0 .*sse.sock" "$SRV_LOG"
ok $? "... exit status 0 (lighttpd log)"
unlike "$(cat "$SRV_LOG")" 'exiting with unfinished requests' "... every request finished"

# lighttpd starts a new one; it serves streams at once.
for i in $(seq 1 100); do
	sse_open after "$ALICE" 2>/dev/null && break
	sleep 0.05
done
ok "$([ -n "${SSE_EP[after]}" ]; echo $?)" "a new sse process serves streams"
new=$(sse_pid)
ok "$([ -n "$new" ] && [ "$new" != "$pid" ]; echo $?)" "... it is a new process"
sse_close after

done_testing
