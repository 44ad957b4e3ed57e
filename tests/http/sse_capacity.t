#!/usr/bin/env bash
# One sse process holds many streams (lighttpd, max-procs 1): 300 streams,
# then the full default capacity of 1000, each with its endpoint event; the
# stream beyond capacity gets 503 at once instead of hanging in the listen
# backlog; a client that never reads cannot grow the process (its queue is
# bounded and overflow ends its stream); SIGTERM with every stream open
# still exits within a second.  Prints the sse process's RSS idle, with 300
# and with 1000 streams.
. "$(dirname "${BASH_SOURCE[0]}")/../lib/servers.sh"
. "$(dirname "${BASH_SOURCE[0]}")/sse_lib.sh"

CAPACITY=1000 # the program's default stream count
# Under AddressSanitizer freed memory sits in quarantine: sizes mean nothing.
SANITIZED=0
grep -qa '__asan_init' "$BIN_DIR/sse" && SANITIZED=1
ulimit -n 8192 2>/dev/null || ulimit -n "$(ulimit -Hn)"

# hold_streams N EXTRA: open N streams (then EXTRA more) with the helper,
# which keeps them open until release_streams.
hold_streams() {
	local i
	rm -f "$TEST_TMP/hold.in"
	mkfifo "$TEST_TMP/hold.in"
	sse_tool streams "$SRV_PORT" /mcp/sse "$ALICE" "$1" "$2" <"$TEST_TMP/hold.in" \
		>"$TEST_OUT/hold.out" 2>&1 &
	HOLD_PID=$!
	exec 7>"$TEST_TMP/hold.in"
	for i in $(seq 1 1200); do
		grep -q '^holding$' "$TEST_OUT/hold.out" && return 0
		kill -0 "$HOLD_PID" 2>/dev/null || return 1
		sleep 0.05
	done
	return 1
}

release_streams() {
	exec 7>&-
	wait "$HOLD_PID"
}

start_lighttpd
ALICE=$(mint local:alice 600)
pid=$(sse_pid)
ok "$([ -n "$pid" ]; echo $?)" "one sse process"
threads=$(sed -n 's/^Threads:[[:space:]]*//p' "/proc/$pid/status")
is "$threads" 1 "it serves every stream from one thread (an event loop)"
idle=$(rss_kb "$pid")

hold_streams "$CAPACITY" 1
ok $? "$CAPACITY streams opened, then one more"
out=$(cat "$TEST_OUT/hold.out")
like "$out" "streams=$CAPACITY endpoint=$CAPACITY " "all $CAPACITY got their endpoint event"
like "$out" 'extra_503=1 extra_other=0' "the stream beyond capacity gets 503"
ms=$(sed -n 's/^extra status=503 ms=\([0-9.]*\)$/\1/p' <<<"$out")
ok "$(awk -v v="${ms:-99999}" 'BEGIN { exit !(v < 1000) }'; echo $?)" "... at once (${ms} ms), not after a timeout"
rss1000=$(rss_kb "$pid")
diag "$(head -n 1 <<<"$out")"

# SIGTERM with every stream open.
t0=$(now_ms)
kill -TERM "$pid"
for i in $(seq 1 300); do
	proc_alive "$pid" || break
	sleep 0.01
done
el=$(($(now_ms) - t0))
ok "$(proc_alive "$pid"; [ $? -ne 0 ]; echo $?)" "SIGTERM with $CAPACITY streams: the process exits"
ok "$([ "$el" -lt 1000 ]; echo $?)" "... within a second (${el} ms)"
unlike "$(cat "$SRV_LOG")" 'exiting with unfinished requests' "... every stream finished in time"
grep -q "sessions of ended streams removed\" count=$CAPACITY result=ok" "$SRV_LOG"
ok $? "... and removed all $CAPACITY sessions"
release_streams

# lighttpd starts a fresh process (the old streams' slots are gone with the
# old process; a closed client is noticed only at its next keep-alive).
for i in $(seq 1 100); do
	pid=$(sse_pid) && [ -n "$(ls "$SRV_DIR"/sock/bus-*.sock 2>/dev/null)" ] && break
	sleep 0.05
done
sse_open warm "$ALICE"
ok $? "a new sse process serves streams"
sse_close warm
idle2=$(rss_kb "$pid")
hold_streams 300 0
ok $? "300 streams opened"
like "$(cat "$TEST_OUT/hold.out")" 'streams=300 endpoint=300 ' "all 300 got their endpoint event"
rss300=$(rss_kb "$pid")
diag "$(head -n 1 "$TEST_OUT/hold.out")"
release_streams
diag "sse RSS: idle ${idle} kB (${idle2} kB after restart), 300 streams ${rss300} kB, $CAPACITY streams ${rss1000} kB"
if [ "$SANITIZED" = 0 ]; then
	ok "$([ "$rss1000" -lt $((idle + 64 * 1024)) ]; echo $?)" "$CAPACITY streams cost less than 64 MB"
else
	skip "memory per stream" "sanitized build"
fi

# --- a client that never reads ----------------------------------------------
rm -f "$TEST_TMP/lazy.in"
mkfifo "$TEST_TMP/lazy.in"
sse_tool lazy "$SRV_PORT" /mcp/sse "$ALICE" <"$TEST_TMP/lazy.in" >"$TEST_OUT/lazy.out" 2>&1 &
lazy=$!
exec 8>"$TEST_TMP/lazy.in"
for i in $(seq 1 100); do
	[ -s "$TEST_OUT/lazy.out" ] && break
	sleep 0.05
done
sid=$(head -n 1 "$TEST_OUT/lazy.out")
is "$(session_state "$ALICE" "$sid")" present "a stream whose client never reads"
before=$(rss_kb "$pid")
# 400 messages of 256 KiB (100 MiB) for it.
out=$(sse_tool flood "$SRV_CONF" "$ALICE" "$sid" 262144 400)
diag "flood: $out"
for i in $(seq 1 100); do
	[ "$(session_state "$ALICE" "$sid")" = absent ] && break
	sleep 0.05
done
is "$(session_state "$ALICE" "$sid")" absent "its stream is ended and its session removed"
after=$(rss_kb "$pid")
diag "sse RSS before the flood ${before} kB, after ${after} kB"
if [ "$SANITIZED" = 0 ]; then
	ok "$([ "$after" -lt $((before + 96 * 1024)) ]; echo $?)" \
		"memory stays bounded (grew $(((after - before) / 1024)) MB for 100 MB sent)"
else
	skip "memory stays bounded" "sanitized build"
fi
grep -q 'reason="client too slow (queue full)"\|reason="client gone"' "$SRV_LOG"
ok $? "log: the stream ended as too slow"
exec 8>&-
wait "$lazy"
ok "$(proc_alive "$pid"; echo $?)" "the sse process is still running"
sse_open after "$ALICE"
ok $? "and still serves new streams"
sse_close after

done_testing
