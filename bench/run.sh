#!/usr/bin/env bash
# make bench: measure mcpgate on loopback beside its two baselines, the bare
# FastCGI limit and the TypeScript SDK peer, and write RESULTS.md and
# results.json.  See bench/README.md for what each measure does.
#
# Environment (all optional):
#   BENCH_SECONDS=n     length of each timed run (default 10; smoke 1)
#   BENCH_SMOKE=1       a short smoke of every measure (CI): 1 s runs,
#                       100 streams only, a few thousand mixed requests
#   BENCH_OUT=dir       where RESULTS.md and results.json go (default bench/)
#   BENCH_ONLY="1 4 8"  run only these measures
#   BENCH_PEER=0        leave the peer out (no node/npm)
#   BENCH_STREAMS="100 1000 10000"   stream counts for measure 6
#   BENCH_M7_REQUESTS=n mixed requests for measure 7 (default 1000000)
#   BENCH_M7_SECONDS=n  time cap on each measure 7 run (default 420)
#   BENCH_PROCS=n       processes per program, as MCPGATE_PROCS (default 1)
#   BENCH_SERVER_CPUS / BENCH_LOAD_CPUS   taskset lists (default: halves)
#   BENCH_KEEP=1        keep the work directory (logs, stores)
# Exit status: 0 when every measure produced its figures.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT" || exit 1
. bench/lib.sh

SMOKE=${BENCH_SMOKE:-0}
if [ "$SMOKE" = 1 ]; then
	SECS=${BENCH_SECONDS:-1}
	STREAMS=${BENCH_STREAMS:-100}
	M7_REQUESTS=${BENCH_M7_REQUESTS:-2000}
	M7_SECONDS=${BENCH_M7_SECONDS:-2}
	STORE_SECS=0.5 STORE_PRESET=100
	HOLD=1
else
	SECS=${BENCH_SECONDS:-10}
	STREAMS=${BENCH_STREAMS:-100 1000 10000}
	M7_REQUESTS=${BENCH_M7_REQUESTS:-1000000}
	M7_SECONDS=${BENCH_M7_SECONDS:-420}
	STORE_SECS=$SECS STORE_PRESET=1000
	HOLD=3
fi
OUT=${BENCH_OUT:-$ROOT/bench}
ONLY=" ${BENCH_ONLY:-1 2 3 4 5 6 7 8} "
PEER=${BENCH_PEER:-1}
CONNS=32       # measures 1, 2, 4
FLOW_CONNS=4   # measure 3: flows at a time
STORE_PROCS=4  # measure 8
BENCH_FAILED=0
COMMANDS=()

want() { [[ $ONLY == *" $1 "* ]]; }

# --- tools, builds, the peer's packages ----------------------------------------

need_tools() {
	local t missing=()
	if ! command -v wrk >/dev/null 2>&1; then
		if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
			bench_log "installing wrk"
			DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends wrk \
				>/dev/null 2>&1 || { apt-get update >/dev/null 2>&1 &&
				DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends wrk \
					>/dev/null 2>&1; }
		fi
	fi
	for t in wrk lighttpd htpasswd curl jq base64; do
		command -v "$t" >/dev/null 2>&1 || missing+=("$t")
	done
	if [ "${#missing[@]}" -gt 0 ]; then
		echo "bench: missing ${missing[*]} (Debian: apt-get install wrk lighttpd apache2-utils curl jq)" >&2
		exit 1
	fi
}

build() {
	# The Makefile's rules are written for BUILD as it is given, so hand it
	# the same spelling as the targets (relative when below the checkout).
	local b=${BENCH_BUILD#"$BENCH_ROOT"/}
	make -s -C "$BENCH_ROOT" BUILD="$b" programs "$b/bench/bare" "$b/bench/sseload" \
		"$b/bench/storebench" >"$BENCH_WORK/build.log" 2>&1 || {
		tail -n 20 "$BENCH_WORK/build.log" >&2
		echo "bench: build failed" >&2
		exit 1
	}
}

peer_packages() {
	local d=bench/peer
	[ "$PEER" = 1 ] || return 0
	if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
		bench_log "no node/npm: the peer is left out"
		PEER=0
		return 0
	fi
	if [ ! -f $d/node_modules/.package-lock.json ] ||
		[ $d/package-lock.json -nt $d/node_modules/.package-lock.json ]; then
		bench_log "npm ci (bench/peer)"
		(cd $d && timeout 300 npm ci --no-audit --no-fund --loglevel=error) \
			>"$BENCH_WORK/npm.log" 2>&1 || {
			bench_log "npm ci failed: the peer is left out (see npm.log)"
			PEER=0
		}
	fi
}

# --- servers --------------------------------------------------------------------------

# start_mcpgate NAME [CONF_LINE...]: an instance in $BENCH_WORK/NAME; sets
# M_PID M_PORT M_URL M_DIR.  Extra lighttpd lines come after "--".
start_mcpgate() {
	local name=$1
	local -a conf=() lt=()
	shift
	while [ $# -gt 0 ] && [ "$1" != -- ]; do conf+=("$1"); shift; done
	[ "${1:-}" = -- ] && shift && lt=("$@")
	M_DIR=$BENCH_WORK/$name
	M_PORT=$(free_port) || return 1
	M_URL=http://127.0.0.1:$M_PORT
	bench_instance "$M_DIR" "$M_URL" "${conf[@]}" && bench_bin_mcpgate "$M_DIR" &&
		bench_lighttpd "$M_DIR" "$M_PORT" "${lt[@]}" || {
		bench_log "mcpgate ($name) did not start: $(tail -n 3 "$M_DIR/lighttpd.log" 2>/dev/null)"
		return 1
	}
	M_PID=$LT_PID
}

# restart_mcpgate: the same instance again (after a crash), same port.
restart_mcpgate() {
	bench_lighttpd "$M_DIR" "$M_PORT" && M_PID=$LT_PID
}

start_bare() {
	B_DIR=$BENCH_WORK/bare
	B_PORT=$(free_port) || return 1
	B_URL=http://127.0.0.1:$B_PORT
	bench_instance "$B_DIR" "$B_URL" && bench_bin_bare "$B_DIR" &&
		bench_lighttpd "$B_DIR" "$B_PORT" && B_PID=$LT_PID
}

# start_peer NAME [PORT]: sets P_PID P_PORT P_URL.
start_peer() {
	P_PORT=${2:-$(free_port)} || return 1
	P_URL=http://127.0.0.1:$P_PORT
	bench_peer "$P_PORT" "$BENCH_WORK/peer-$1.log" || {
		bench_log "peer did not start: $(tail -n 3 "$BENCH_WORK/peer-$1.log")"
		return 1
	}
	P_PID=$PEER_PID
}

# token_and_snippet KIND URL: a token through the real flow, and the
# snippet the read measures fetch; prints the token.
token_and_snippet() {
	local tok body
	tok=$(bench_token "$1" "$2") || return 1
	body=$(bench_mcp "$2" "$tok" '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"save_snippet","arguments":{"snippetname":"bench","snippet":"'"$(printf 'x%.0s' $(seq 1 100))"'"}}}')
	[[ $body == *'"isError":false'* ]] || return 1
	printf '%s\n' "$tok"
}

# The three systems of the HTTP measures: "name url" lines.
systems() {
	printf 'mcpgate %s\n' "$M_URL"
	printf 'bare %s\n' "$B_URL"
	[ "$PEER" = 1 ] && printf 'peer %s\n' "$P_URL"
	return 0
}

# oauth_path SYSTEM NAME: the OAuth endpoint's path on that system.
oauth_path() { if [ "$1" = peer ]; then printf '/%s' "$2"; else printf '/oauth/%s' "$2"; fi; }

# wrk_run MEASURE SYSTEM LOGNAME THREADS CONNS SECONDS SCRIPT URL [ENV...]
wrk_run() {
	local log=$BENCH_WORK/logs/$3.log
	shift 3
	COMMANDS+=("wrk -t$1 -c$2 -d$3s --timeout 10s -s bench/lua/$4 $5")
	bench_wrk "$log" "$@"
}

# The same for scripts that stop by count; SECONDS is the cap.
wrk_until() {
	local log=$BENCH_WORK/logs/$3.log
	shift 3
	COMMANDS+=("wrk -t$1 -c$2 -d$3s --timeout 10s -s bench/lua/$4 $5 (stopped by count)")
	bench_wrk_until "$log" "$@"
}

# --- measures --------------------------------------------------------------------------

measure_1() {
	local s url line
	while read -r s url; do
		bench_log "1: GET metadata ($s)"
		line=$(wrk_run 1 "$s" "m1-$s" "$LOAD_THREADS" $CONNS "$SECS" get.lua \
			"$url/.well-known/oauth-authorization-server")
		rec_line 1 "$s" "$line" rps p50_ms p99_ms errors
	done < <(systems)
}

measure_2() {
	local s url line
	while read -r s url; do
		bench_log "2: POST register ($s)"
		line=$(wrk_run 2 "$s" "m2-$s" "$LOAD_THREADS" $CONNS "$SECS" register.lua \
			"$url$(oauth_path "$s" register)")
		rec_line 2 "$s" "$line" rps p50_ms p99_ms errors
	done < <(systems)
}

measure_3() {
	local s url line consent basic
	while read -r s url; do
		bench_log "3: OAuth code flow, $FLOW_CONNS at a time ($s)"
		if [ "$s" = bare ]; then
			# Five requests make one mcpgate flow: the limit is a fifth
			# of what the bare responder answers on as many connections.
			line=$(wrk_run 3 "$s" "m3-$s" 1 $FLOW_CONNS "$SECS" get.lua "$url/oauth/token")
			rec_line 3 "$s" "$line" rps p50_ms p99_ms errors &&
				rec 3 "$s" flows_per_s "$(awk -v r="$(kv "$line" rps)" 'BEGIN { printf "%.1f", r / 5 }')"
			continue
		fi
		consent='' basic=''
		[ "$s" = mcpgate ] && consent=/oauth/consent basic=$BENCH_BASIC
		line=$(wrk_run 3 "$s" "m3-$s" $FLOW_CONNS $FLOW_CONNS "$SECS" flow.lua "$url/" \
			FLOW_REGISTER="$(oauth_path "$s" register)" FLOW_AUTHORIZE="$(oauth_path "$s" authorize)" \
			FLOW_CONSENT="$consent" FLOW_TOKEN="$(oauth_path "$s" token)" FLOW_BASIC="$basic" \
			FLOW_RESOURCE="$url/mcp")
		rec_line 3 "$s" "$line" flows_per_s flow_errors rps p50_ms p99_ms errors
	done < <(systems)
}

measure_4() {
	local s url line mode tok sub
	while read -r s url; do
		case $s in mcpgate) tok=$M_TOK ;; peer) tok=$P_TOK ;; *) tok=none ;; esac
		for mode in read write mixed; do
			case $mode in read) sub=4a ;; write) sub=4b ;; mixed) sub=4c ;; esac
			if [ "$s" = bare ] && [ "$mode" != read ]; then
				continue # the limit does not depend on the tool
			fi
			bench_log "$sub: tools/call $mode, $CONNS connections ($s)"
			line=$(wrk_run "$sub" "$s" "m$sub-$s" "$LOAD_THREADS" $CONNS "$SECS" mcp.lua \
				"$url/mcp" MCP_MODE=$mode MCP_TOKEN="$tok")
			if [ "$s" = bare ]; then
				for sub in 4a 4b 4c; do
					rec_line "$sub" bare "$line" rps p50_ms p99_ms errors
				done
			else
				rec_line "$sub" "$s" "$line" rps p50_ms p99_ms errors tool_ok tool_fail
			fi
		done
	done < <(systems)
	measure_4_durability
}

# 4b: writes under load, kill -9 of the whole server half way, restart, and
# read back every write that was acknowledged.
measure_4_durability() {
	local d=$(((SECS + 1) / 2 * 2)) line acked
	[ "$d" -ge 2 ] || d=2
	bench_log "4b: kill -9 during writes (mcpgate)"
	if start_mcpgate durable; then
		durable_run mcpgate "$M_URL" "$M_PID" "$(token_and_snippet mcpgate "$M_URL")" "$d"
		bench_stop "$M_PID"
	else
		rec 4b-kill mcpgate error "instance did not start"
	fi
	[ "$PEER" = 1 ] || return 0
	bench_log "4b: kill -9 during writes (peer)"
	if start_peer durable; then
		durable_run peer "$P_URL" "$P_PID" "$(token_and_snippet peer "$P_URL")" "$d"
		bench_stop "$P_PID"
	else
		rec 4b-kill peer error "peer did not start"
	fi
}

# durable_run SYSTEM URL PID TOKEN SECONDS
durable_run() {
	local s=$1 url=$2 pid=$3 tok=$4 d=$5 acks=$BENCH_WORK/acked-$1 wpid line
	rm -f "$acks"
	COMMANDS+=("wrk ... -s bench/lua/mcp.lua URL/mcp (MCP_MODE=durable, kill -9 after half the time; then MCP_MODE=verify)")
	wrk_run 4b-kill "$s" "m4b-kill-$s" "$LOAD_THREADS" $CONNS "$d" mcp.lua "$url/mcp" \
		MCP_MODE=durable MCP_TOKEN="$tok" ACK_FILE="$acks" >"$BENCH_WORK/durable-$s.out" &
	wpid=$!
	sleep "$(awk -v d="$d" 'BEGIN { print d / 2 }')"
	bench_kill9 "$pid"
	wait "$wpid"
	line=$(cat "$BENCH_WORK/durable-$s.out")
	acked=$(grep -c . "$acks" 2>/dev/null || echo 0)
	rec 4b-kill "$s" acked "$acked"
	if [ "$s" = mcpgate ]; then
		restart_mcpgate || { rec 4b-kill "$s" error "no restart"; return 1; }
		pid=$M_PID
	else
		start_peer durable-restart "$P_PORT" || { rec 4b-kill "$s" error "no restart"; return 1; }
		pid=$P_PID
		# Its tokens died with it: log in again to look.
		tok=$(token_and_snippet peer "$url")
	fi
	if [ "$acked" -eq 0 ]; then
		rec 4b-kill "$s" error "no write acknowledged before the kill"
		BENCH_FAILED=$((BENCH_FAILED + 1))
		return 1
	fi
	line=$(wrk_until 4b-kill "$s" "m4b-verify-$s" 1 8 60 mcp.lua "$url/mcp" \
		MCP_MODE=verify MCP_TOKEN="$tok" ACK_FILE="$acks")
	rec_line 4b-kill "$s" "$line" found missing
	[ "$s" = peer ] && P_PID=$pid
	return 0
}

# The streams' token on each system, and its SSE path.
sse_path() { if [ "$1" = peer ]; then printf /sse; else printf /mcp/sse; fi; }

measure_5() {
	local s url tok n line
	for s in mcpgate peer; do
		[ "$s" = peer ] && [ "$PEER" != 1 ] && continue
		if [ "$s" = mcpgate ]; then url=$M_URL tok=$M_TOK; else url=$P_URL tok=$P_TOK; fi
		for n in 1 16; do
			bench_log "5: SSE round trip, $n in flight ($s)"
			COMMANDS+=("sseload latency PORT $(sse_path $s) TOKEN $n $SECS")
			line=$("${PIN_LOAD[@]}" "$BENCH_BUILD/bench/sseload" latency "${url##*:}" \
				"$(sse_path $s)" "$tok" "$n" "$SECS" 2>"$BENCH_WORK/logs/m5-$s-$n.err")
			printf '%s\n' "$line" >"$BENCH_WORK/logs/m5-$s-$n.log"
			rec_line "5-$n" "$s" "$line" n p50_ms p99_ms max_ms errors
		done
	done
}

# streams_run SYSTEM URL ROOTPID TOKEN K: open K streams, take the memory of
# every process of the system while they are open, then let them go.
streams_run() {
	local s=$1 url=$2 pid=$3 tok=$4 k=$5 m=6-$5 out=$BENCH_WORK/logs/m6-$1-$5.log cpid i
	local idle busy line ready ir ip iu br bp bu bn e
	# One stream and round trip first: what every process pays once (its
	# first crypto, the first touch of its libraries) is not per stream.
	"${PIN_LOAD[@]}" "$BENCH_BUILD/bench/sseload" latency "${url##*:}" "$(sse_path "$s")" "$tok" 1 1 \
		>/dev/null 2>&1
	sleep 0.5
	idle=$(bench_mem_sum "$pid")
	COMMANDS+=("sseload streams PORT $(sse_path "$s") TOKEN $k 120 $HOLD")
	"${PIN_LOAD[@]}" "$BENCH_BUILD/bench/sseload" streams "${url##*:}" "$(sse_path "$s")" "$tok" \
		"$k" 120 "$HOLD" >"$out" 2>&1 &
	cpid=$!
	ready=''
	for i in $(seq 1 1300); do
		ready=$(grep -m1 '^READY ' "$out")
		[ -n "$ready" ] && break
		proc_alive "$cpid" || break
		sleep 0.1
	done
	busy=$(bench_mem_sum "$pid")
	bench_mem_procs "$pid" >"$BENCH_WORK/logs/m6-$s-$k.mem"
	wait "$cpid"
	line=$(grep -m1 '^BENCH ' "$out")
	rec_line "$m" "$s" "$line" streams endpoint open_after_hold refused || return 1
	read -r ir ip iu _ <<<"$idle"
	read -r br bp bu bn <<<"$busy"
	rec "$m" "$s" rss_idle_kb "$ir"
	rec "$m" "$s" rss_kb "$br"
	rec "$m" "$s" pss_kb "$bp"
	rec "$m" "$s" procs "$bn"
	rec "$m" "$s" open_s "$(kv "$line" open_s)"
	e=$(kv "$line" endpoint)
	[ "${e:-0}" -gt 0 ] &&
		rec "$m" "$s" kb_per_stream "$(awk -v a="$br" -v b="$ir" -v n="$e" 'BEGIN { printf "%.1f", (a - b) / n }')"
	return 0
}

# idle_rec SYSTEM MEMFILE: the sums of the FastCGI programs' processes (the
# web server, which the deployment has anyway, apart).
idle_rec() {
	local r p u n
	read -r r p u n < <(awk '$1 != "lighttpd" {r += $3; p += $4; u += $5; n++}
		END {print r + 0, p + 0, u + 0, n + 0}' "$2")
	rec 6-idle "$1" rss_kb "$r"
	rec 6-idle "$1" pss_kb "$p"
	rec 6-idle "$1" uss_kb "$u"
	rec 6-idle "$1" procs "$n"
	rec 6-idle "$1" webserver_rss_kb "$(awk '$1 == "lighttpd" {r += $3} END {print r + 0}' "$2")"
}

measure_6() {
	local k tok mem r p u n
	local -a conf lt
	# Idle: a fresh instance that has served one request of each kind.
	if start_mcpgate idle; then
		tok=$(token_and_snippet mcpgate "$M_URL")
		"${PIN_LOAD[@]}" "$BENCH_BUILD/bench/sseload" latency "$M_PORT" /mcp/sse "$tok" 1 1 \
			>/dev/null 2>&1
		sleep 0.5
		bench_mem_procs "$M_PID" >"$BENCH_WORK/logs/m6-idle.mem"
		idle_rec mcpgate "$BENCH_WORK/logs/m6-idle.mem"
		bench_stop "$M_PID"
	fi
	# The limit: the bare responder under the same names and process
	# counts, after the requests of the earlier measures.
	if [ -n "${B_PID:-}" ]; then
		bench_mem_procs "$B_PID" >"$BENCH_WORK/logs/m6-idle-bare.mem"
		idle_rec bare "$BENCH_WORK/logs/m6-idle-bare.mem"
	fi
	for k in $STREAMS; do
		bench_log "6: $k streams (mcpgate)"
		# Room for K streams beside the warm-up's, which the web server may
		# keep open until its next keep-alive reveals the client is gone.
		conf=("sse_max_streams = $((k + 16))") lt=()
		if [ "$k" -gt 1000 ]; then
			# All the descriptors lighttpd may have (2 per stream).
			lt=(-- "server.max-fds = $(ulimit -Hn)" "server.max-connections = $((k + 16))")
		fi
		if start_mcpgate "streams-$k" "${conf[@]}" "${lt[@]}"; then
			tok=$(token_and_snippet mcpgate "$M_URL")
			streams_run mcpgate "$M_URL" "$M_PID" "$tok" "$k"
			bench_stop "$M_PID"
		fi
		[ "$PEER" = 1 ] || continue
		bench_log "6: $k streams (peer)"
		if start_peer "streams-$k"; then
			tok=$(token_and_snippet peer "$P_URL")
			streams_run peer "$P_URL" "$P_PID" "$tok" "$k"
			bench_stop "$P_PID"
		fi
	done
}

# RSS per program (summed over its processes): "comm rss_kb anon_kb" lines;
# anon is the part not backed by a file (heap, stacks), where a leak shows.
mem_by_program() {
	bench_mem_procs "$@" | awk '{r[$1] += $3; a[$1] += $6} END {for (c in r) print c, r[c], a[c]}' |
		sort
}

# Memory is read at rest, this long after the load stops: the programs
# give back free heap once idle (100 ms; sse after two quiet 250 ms ticks,
# once its last connection's lingering close, up to 2 s, is over), so every
# reading sees the same state rather than a moment of the load.
M7_REST=3

# mixed_phase SYSTEM URL TOKEN REQUESTS SECONDS NAME: the mixed requests (with
# an SSE round-trip client alongside for the streaming programs), then rest;
# prints wrk's BENCH line.
mixed_phase() {
	local s=$1 url=$2 tok=$3 n=$4 cap=$5 name=$6 spid='' line
	local -a env=(MIX_KIND="$s" MIX_TOKEN="$tok" MIX_BASIC="$BENCH_BASIC" MIX_THREADS="$LOAD_THREADS")
	if [ "$s" != bare ]; then
		"${PIN_LOAD[@]}" "$BENCH_BUILD/bench/sseload" latency "${url##*:}" "$(sse_path "$s")" \
			"$tok" 1 "$cap" >"$BENCH_WORK/logs/$name-sse.log" 2>&1 &
		spid=$!
	fi
	line=$(wrk_until 7 "$s" "$name" "$LOAD_THREADS" $CONNS "$cap" mixed.lua "$url" "${env[@]}" \
		MIX_REQUESTS="$n")
	[ -n "$spid" ] && { kill "$spid" 2>/dev/null; wait "$spid" 2>/dev/null; }
	sleep "$M7_REST"
	printf '%s\n' "$line"
}

# m7_mem SYSTEM FROM TO KEY: per-program figures of the reading TO (and of
# FROM with the first, empty KEY), from files m7-SYSTEM.FROM/.TO, and their
# summed growth as growthKEY_kb and growthKEY_anon_kb (lighttpd's apart, as
# growthKEY_web_kb).
m7_mem() {
	local s=$1 from=$2 to=$3 key=$4 c before abefore after aafter mem
	mem=$BENCH_WORK/logs/m7-$s.$from-$to
	join "$BENCH_WORK/logs/m7-$s.$from" "$BENCH_WORK/logs/m7-$s.$to" >"$mem"
	while read -r c before abefore after aafter; do
		[ "$c" = bash ] && continue
		if [ -z "$key" ]; then
			rec 7 "$s" "rss_${from}_kb:$c" "$before"
			rec 7 "$s" "anon_${from}_kb:$c" "$abefore"
		fi
		rec 7 "$s" "rss_${to}_kb:$c" "$after"
		rec 7 "$s" "anon_${to}_kb:$c" "$aafter"
	done <"$mem"
	# The system's own programs; the web server in front of it apart.
	rec 7 "$s" "growth${key}_kb" \
		"$(awk '$1 != "bash" && $1 != "lighttpd" {g += $4 - $2} END {print g + 0}' "$mem")"
	rec 7 "$s" "growth${key}_anon_kb" \
		"$(awk '$1 != "bash" && $1 != "lighttpd" {g += $5 - $3} END {print g + 0}' "$mem")"
	rec 7 "$s" "growth${key}_web_kb" "$(awk '$1 == "lighttpd" {g += $4 - $2} END {print g + 0}' "$mem")"
}

# mixed_run SYSTEM URL ROOTPID TOKEN REQUESTS SECONDS [AGAIN]: warm up, RSS,
# the mixed requests, RSS again; with AGAIN=1 the same number of requests
# once more and a third reading (growth once the first million has set the
# heap's layout: where a leak would keep growing and fragmentation does not).
mixed_run() {
	local s=$1 url=$2 pid=$3 tok=$4 n=$5 cap=$6 again=${7:-0} line warm
	warm=$((n / 50))
	[ "$warm" -ge 1000 ] || warm=1000
	# The warm-up is the same mix, SSE round trips included: one-time costs
	# (first crypto, first touch of the libraries, first stream) are not growth.
	mixed_phase "$s" "$url" "$tok" "$warm" "$cap" "m7-warm-$s" >/dev/null
	mem_by_program "$pid" >"$BENCH_WORK/logs/m7-$s.before"
	line=$(mixed_phase "$s" "$url" "$tok" "$n" "$cap" "m7-$s")
	mem_by_program "$pid" >"$BENCH_WORK/logs/m7-$s.after"
	rec_line 7 "$s" "$line" requests rps http_5xx sock_errors || return 1
	m7_mem "$s" before after ''
	[ "$again" = 1 ] || return 0
	line=$(mixed_phase "$s" "$url" "$tok" "$n" "$cap" "m7-again-$s")
	mem_by_program "$pid" >"$BENCH_WORK/logs/m7-$s.again"
	rec 7 "$s" requests_again "$(kv "$line" requests)"
	rec 7 "$s" http_5xx_again "$(kv "$line" http_5xx)"
	m7_mem "$s" after again _again
}

measure_7() {
	local s url tok t0 cap
	bench_log "7: $M7_REQUESTS mixed requests (mcpgate)"
	t0=$(date +%s)
	mixed_run mcpgate "$M_URL" "$M_PID" "$M_TOK" "$M7_REQUESTS" "$M7_SECONDS" 1
	# The baselines get as many requests, in at most the time mcpgate took
	# for one of its two runs.
	cap=$((($(date +%s) - t0) / 2))
	[ "$cap" -ge "$SECS" ] || cap=$SECS
	bench_log "7: mixed requests (bare, at most ${cap}s)"
	mixed_run bare "$B_URL" "$B_PID" none "$M7_REQUESTS" "$cap"
	if [ "$PEER" = 1 ]; then
		bench_log "7: mixed requests (peer, at most ${cap}s)"
		mixed_run peer "$P_URL" "$P_PID" "$P_TOK" "$M7_REQUESTS" "$cap"
	fi
}

measure_8() {
	local line w impl
	bench_log "8: the store alone, $STORE_PROCS processes"
	mkdir -p "$BENCH_WORK/store"
	COMMANDS+=("storebench DIR $STORE_PROCS $STORE_SECS $STORE_PRESET")
	"${PIN_SERVER[@]}" "$BENCH_BUILD/bench/storebench" "$BENCH_WORK/store" "$STORE_PROCS" \
		"$STORE_SECS" "$STORE_PRESET" \
		>"$BENCH_WORK/logs/m8.log" 2>&1
	for w in read write mixed; do
		for impl in mcpgate gdbm; do
			line=$(grep -m1 "^BENCH workload=$w impl=$impl " "$BENCH_WORK/logs/m8.log")
			# The limit of the pattern: GDBM itself with the same locking.
			[ "$impl" = gdbm ] && impl=bare
			rec_line "8-$w" "$impl" "$line" ops_per_s p50_us p99_us errors
		done
	done
}

# --- report ---------------------------------------------------------------------------------

machine_facts() {
	local cpu mem
	cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
	mem=$(awk '/^MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)
	jq -n --arg cpu "$cpu" --arg ncpu "$(nproc)" --arg mem "$mem" \
		--arg kernel "$(uname -sr)" \
		--arg os "$(. /etc/os-release 2>/dev/null && printf '%s' "${PRETTY_NAME:-}")" \
		--arg fs "$(df -PT "$BENCH_WORK" | awk 'NR == 2 {print $2}')" \
		--arg lighttpd "$(lighttpd -v 2>&1 | head -n 1)" \
		--arg wrk "$(wrk -v 2>&1 | head -n 1 | cut -d' ' -f1-2)" \
		--arg node "$(node --version 2>/dev/null || echo none)" \
		--arg cc "$(${CC:-cc} --version | head -n 1)" \
		--arg server_cpus "${SERVER_CPUS:-unpinned}" --arg load_cpus "${LOAD_CPUS:-unpinned}" \
		--arg commit "$(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD -- src cgi-bin 2>/dev/null || echo +local-changes)" \
		'{cpu: $cpu, cpus: ($ncpu | tonumber), memory: $mem, kernel: $kernel, os: $os,
		  filesystem: $fs, lighttpd: $lighttpd, wrk: $wrk, node: $node, cc: $cc,
		  server_cpus: $server_cpus, load_cpus: $load_cpus, commit: $commit}'
}

write_json() {
	local date=$1
	jq -s --arg date "$date" --argjson machine "$(machine_facts)" \
		--argjson settings "$(jq -n --arg s "$SECS" --arg smoke "$SMOKE" --arg c "$CONNS" \
			--arg f "$FLOW_CONNS" --arg p "${BENCH_PROCS:-1}" --arg m7 "$M7_REQUESTS" \
			--arg st "$STREAMS" --arg peer "$PEER" \
			'{seconds: ($s | tonumber), smoke: ($smoke == "1"), connections: ($c | tonumber),
			  flows_at_a_time: ($f | tonumber), procs_per_program: ($p | tonumber),
			  mixed_requests: ($m7 | tonumber), streams: $st, peer: ($peer == "1")}')" \
		--argjson commands "$(printf '%s\n' "${COMMANDS[@]}" | sort -u | jq -R . | jq -s .)" \
		'{date: $date, machine: $machine, settings: $settings, commands: $commands,
		  results: (reduce .[] as $r ({}; .[$r.m][$r.s][$r.k] = $r.v))}' \
		"$BENCH_WORK/results.jsonl" >"$OUT/results.json.tmp" &&
		mv "$OUT/results.json.tmp" "$OUT/results.json"
}

main() {
	local date
	need_tools
	BENCH_WORK=$(mktemp -d "${TMPDIR:-/tmp}/mcpgate-bench.XXXXXX")
	chmod 0755 "$BENCH_WORK"
	mkdir -p "$BENCH_WORK/logs" "$OUT"
	: >"$BENCH_WORK/results.jsonl"
	trap 'bench_cleanup; [ -n "${BENCH_KEEP:-}" ] || [ "$BENCH_FAILED" -gt 0 ] || rm -rf "$BENCH_WORK"' EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	ulimit -n "$(ulimit -Hn)" 2>/dev/null
	bench_cpus
	build
	peer_packages
	date=$(date -u +%Y-%m-%dT%H:%M:%SZ)
	bench_log "work directory $BENCH_WORK; server CPUs ${SERVER_CPUS:-all}, load CPUs ${LOAD_CPUS:-all}"

	start_mcpgate main || exit 1
	MAIN_PID=$M_PID MAIN_URL=$M_URL MAIN_PORT=$M_PORT MAIN_DIR=$M_DIR
	M_TOK=$(token_and_snippet mcpgate "$M_URL") || { bench_log "no token from mcpgate"; exit 1; }
	start_bare || { bench_log "the bare responder did not start"; exit 1; }
	if [ "$PEER" = 1 ]; then
		if start_peer main && P_TOK=$(token_and_snippet peer "$P_URL"); then
			PEER_MAIN_PID=$P_PID PEER_MAIN_URL=$P_URL PEER_MAIN_PORT=$P_PORT
		else
			bench_log "the peer does not work: left out"
			PEER=0
		fi
	fi
	# Measures that start instances of their own set M_* and P_*; give the
	# main ones back afterwards.
	restore() {
		M_PID=$MAIN_PID M_URL=$MAIN_URL M_PORT=$MAIN_PORT M_DIR=$MAIN_DIR
		[ "$PEER" = 1 ] && P_PID=$PEER_MAIN_PID P_URL=$PEER_MAIN_URL P_PORT=$PEER_MAIN_PORT
		return 0
	}
	for m in 1 2 3 4 5 6 7 8; do
		want "$m" || continue
		"measure_$m"
		restore
	done
	write_json "$date" && bench/report.sh "$OUT/results.json" "$OUT/RESULTS.md"
	bench_log "wrote $OUT/RESULTS.md and $OUT/results.json"
	if [ "$BENCH_FAILED" -gt 0 ]; then
		bench_log "$BENCH_FAILED figures missing; logs kept in $BENCH_WORK"
		exit 1
	fi
}

main "$@"
