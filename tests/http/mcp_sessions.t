#!/usr/bin/env bash
# Thousands of Streamable HTTP sessions from one user: every one is issued,
# distinct and usable, the message processes do not grow with them, ending
# one leaves the others alone, and another user sees none of them.
. "$(dirname "${BASH_SOURCE[0]}")/../lib/servers.sh"
. "$(dirname "${BASH_SOURCE[0]}")/mcp_lib.sh"

[ -x "$BIN_DIR/message" ] || bail "$BIN_DIR/message is missing: run make first"
mcp_helper_build
start_lighttpd

N=${MCP_SESSIONS_N:-2000}
read -r TOK _ < <(mint token local:alice "$ALL_SCOPES" 3600 Alice)
read -r BOB _ < <(mint token local:bob "$ALL_SCOPES" 3600 Bob)
[ -n "$TOK" ] && [ -n "$BOB" ] || bail "cannot mint tokens"

rss_of_messages() {
	local total=0 pid kb
	for pid in $(pgrep -f "$BIN_DIR/message"); do
		kb=$(awk '/^VmRSS/ {print $2}' "/proc/$pid/status" 2>/dev/null)
		total=$((total + ${kb:-0}))
	done
	echo "$total"
}

# One curl process sends all N initializes over kept-alive connections and
# prints each response's session id (curl -K reads the requests from a file).
body=$(rpc 1 initialize "$INIT_PARAMS")
gen_requests() {
	local n=$1 i
	for ((i = 0; i < n; i++)); do
		printf 'url = "%s/mcp"\n' "$SRV_PUBLIC_URL"
		printf 'header = "Authorization: Bearer %s"\n' "$TOK"
		printf 'header = "Content-Type: application/json"\n'
		printf 'header = "Accept: %s"\n' "$MCP_ACCEPT"
		printf 'data-binary = "%s"\n' "${body//\"/\\\"}"
		printf 'output = "/dev/null"\n'
		printf 'write-out = "%%{http_code} %%header{mcp-session-id}\\n"\n'
		[ $i -lt $((n - 1)) ] && printf 'next\n'
	done
}
# Warm the processes up first, so what follows measures sessions, not start-up.
gen_requests 200 >"$TEST_OUT/warmup.curl"
timeout 60 curl -sS -K "$TEST_OUT/warmup.curl" >/dev/null 2>&1
cfg=$TEST_OUT/sessions.curl
gen_requests "$N" >"$cfg"
rss_before=$(rss_of_messages)
start=$(date +%s%N)
timeout 120 curl -sS -K "$cfg" >"$TEST_OUT/sessions.out" 2>"$TEST_OUT/sessions.err"
ms=$((($(date +%s%N) - start) / 1000000))
ok_count=$(grep -c '^200 ' "$TEST_OUT/sessions.out")
is "$ok_count" "$N" "$N initializes answered 200"
distinct=$(awk '$1 == 200 {print $2}' "$TEST_OUT/sessions.out" | sort -u | grep -c .)
is "$distinct" "$N" "$N distinct session ids"
note "$N sessions in $ms ms"

first=$(awk 'NR == 1 {print $2}' "$TEST_OUT/sessions.out")
last=$(awk -v n="$N" 'NR == n {print $2}' "$TEST_OUT/sessions.out")
mid=$(awk -v n="$((N / 2))" 'NR == n {print $2}' "$TEST_OUT/sessions.out")
for sid in "$first" "$mid" "$last"; do
	mcp_post "$TOK" "$(rpc 2 ping)" -H "Mcp-Session-Id: $sid"
	is "$RESP_STATUS" 200 "ping in a session among $N: 200"
done
mcp_post "$BOB" "$(rpc 3 ping)" -H "Mcp-Session-Id: $mid"
is "$RESP_STATUS" 404 "another user's session: 404"

mcp_req DELETE /mcp "$TOK" -H "Mcp-Session-Id: $mid"
like "$RESP_STATUS" '^20[04]$' "DELETE ends one session"
mcp_post "$TOK" "$(rpc 4 ping)" -H "Mcp-Session-Id: $mid"
is "$RESP_STATUS" 404 "the ended session: 404"
mcp_post "$TOK" "$(rpc 5 ping)" -H "Mcp-Session-Id: $last"
is "$RESP_STATUS" 200 "the others live on"

rss_after=$(rss_of_messages)
note "message processes RSS: ${rss_before} kB before, ${rss_after} kB after"
ok "$([ "$rss_after" -le $((rss_before + 1024)) ] && echo 0 || echo 1)" \
	"message processes do not grow with the number of sessions (< 1 MiB for $N)"
done_testing
