# Helpers for tests/http/sse_*.t (sourced after tests/lib/servers.sh).
#
#   sse_tool ARGS...        the test helper tests/http/sse_client.c, built here
#                           against the library and run as the web server's
#                           user (the store belongs to it)
#   mint USER TTL [SCOPES [RESOURCE]]
#                           print a fresh access token for USER (its grant is
#                           created in the store; TTL may be negative)
#   sse_open NAME TOKEN [curl args...]
#                           open a stream with curl -N in the background; its
#                           output is appended to $TEST_OUT/NAME.sse (so a test
#                           may truncate that file); waits for the endpoint
#                           event and sets SSE_EP[NAME], SSE_SID[NAME]
#   sse_close NAME          stop that curl
#   sse_wait NAME REGEX [SECONDS]
#                           wait until the stream's output matches REGEX
#   sse_done NAME [SECONDS] wait until that curl exits; sets SSE_RC
#   session_state TOKEN ID  "present" or "absent" (store lookup as the token's
#                           user; the token must still be valid)
#   sse_pid                 pid of the running sse process of the current server
#   rss_kb PID              VmRSS of PID in kB
#   now_ms                  monotonic-enough wall clock in ms
#
# The helper links against the library next to BIN_DIR (build/libmcpgate.a),
# or MCPGATE_TEST_LIB.

SSE_LIBA=${MCPGATE_TEST_LIB:-$(dirname "$BIN_DIR")/libmcpgate.a}
_lib_need_bin sse
[ -f "$SSE_LIBA" ] || bail "$SSE_LIBA is missing: run make first"

# In TEST_TMP (0755): the web server's user must be able to run it.
SSE_CLIENT=$TEST_TMP/sse_client
_sse_build() {
	# shellcheck disable=SC2046
	${CC:-cc} -std=c11 -D_GNU_SOURCE -O1 "$@" -I"$MCPGATE_ROOT/src" -o "$SSE_CLIENT" \
		"$MCPGATE_ROOT/tests/http/sse_client.c" "$SSE_LIBA" \
		$(pkg-config --cflags --libs fcgi json-c libcurl openssl) -lgdbm -lpthread \
		>>"$TEST_OUT/sse_client-build.log" 2>&1
}
# A sanitized library (build/asan) needs the sanitizer runtime too.
_sse_build || _sse_build -fsanitize=address,undefined ||
	bail "cannot build the test client: $(tail -n 5 "$TEST_OUT/sse_client-build.log")"

declare -A SSE_CURL SSE_EP SSE_SID
SSE_RC=

now_ms() {
	local t
	t=$(date +%s%N)
	printf '%d\n' $((t / 1000000))
}

sse_tool() {
	if [ "$(id -u)" -eq 0 ] && [ "$WEB_USER" != root ]; then
		runuser -u "$WEB_USER" -- "$SSE_CLIENT" "$@"
	else
		"$SSE_CLIENT" "$@"
	fi
}

mint() {
	sse_tool mint "$SRV_CONF" "$@"
}

session_state() {
	sse_tool session "$SRV_CONF" "$1" "$2" | head -n 1
}

sse_open() {
	local name=$1 tok=$2 i
	shift 2
	: >"$TEST_OUT/$name.sse"
	curl -sS -N --max-time 60 -H "Authorization: Bearer $tok" "$@" \
		"$SRV_PUBLIC_URL/mcp/sse" >>"$TEST_OUT/$name.sse" \
		2>"$TEST_OUT/$name.err" &
	SSE_CURL[$name]=$!
	SSE_EP[$name]=
	SSE_SID[$name]=
	for i in $(seq 1 100); do
		SSE_EP[$name]=$(sed -n '2s/^data: //p' "$TEST_OUT/$name.sse")
		[ -n "${SSE_EP[$name]}" ] && break
		sleep 0.03
	done
	SSE_SID[$name]=${SSE_EP[$name]#*sessionId=}
	[ -n "${SSE_EP[$name]}" ]
}

sse_close() {
	local pid=${SSE_CURL[$1]:-}
	[ -n "$pid" ] || return 0
	kill "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	SSE_CURL[$1]=
	return 0
}

sse_wait() {
	local name=$1 re=$2 secs=${3:-3} i
	for i in $(seq 1 $((secs * 50))); do
		grep -aEq -- "$re" "$TEST_OUT/$name.sse" && return 0
		sleep 0.02
	done
	return 1
}

sse_done() {
	local name=$1 secs=${2:-3} pid=${SSE_CURL[$1]:-} i
	SSE_RC=
	[ -n "$pid" ] || return 1
	for i in $(seq 1 $((secs * 50))); do
		if ! kill -0 "$pid" 2>/dev/null; then
			wait "$pid"
			SSE_RC=$?
			SSE_CURL[$name]=
			return 0
		fi
		sleep 0.02
	done
	return 1
}

sse_pid() { server_pid sse; }

rss_kb() {
	sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$1/status"
}
