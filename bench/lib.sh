# shellcheck shell=bash
# Helpers for bench/run.sh (sourced): servers, pinning, load generators,
# memory figures and result records.  Every process started here is
# remembered and stopped by PID (scripts/proc.sh) when the run ends.

BENCH_ROOT=$(cd "${BASH_SOURCE[0]%/*}/.." && pwd)
. "$BENCH_ROOT/scripts/proc.sh"

BENCH_PIDS=()
BENCH_BUILD=${BENCH_BUILD:-$BENCH_ROOT/build}
BENCH_LUA=$BENCH_ROOT/bench/lua
export BENCH_LUA
# The remote-user login the OAuth flow uses (HTTP Basic, checked by lighttpd).
BENCH_USER=alice
BENCH_PASSWORD=bench-pw
BENCH_BASIC="Basic $(printf '%s:%s' "$BENCH_USER" "$BENCH_PASSWORD" | base64 -w0)"
# RFC 7636 appendix B.
BENCH_VERIFIER=dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk
BENCH_CHALLENGE=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM
BENCH_REDIRECT=http://127.0.0.1/callback

bench_log() {
	printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2
}

# --- processes -----------------------------------------------------------------

bench_cleanup() {
	[ "${#BENCH_PIDS[@]}" -gt 0 ] && stop_tree "${BENCH_PIDS[@]}"
	BENCH_PIDS=()
}

# Stop the given servers (and their children) and forget them.
bench_stop() {
	local p keep=()
	stop_tree "$@"
	for p in "${BENCH_PIDS[@]}"; do
		[[ " $* " == *" $p "* ]] || keep+=("$p")
	done
	BENCH_PIDS=("${keep[@]}")
}

# kill -9 a server and everything it started, all at once (a crash).
bench_kill9() {
	local -a tree
	mapfile -t tree < <(proc_tree "$@")
	kill -KILL "${tree[@]}" 2>/dev/null
	wait "$@" 2>/dev/null
	return 0
}

# --- CPU pinning -----------------------------------------------------------------

# SERVER_CPUS / LOAD_CPUS: the first half of the CPUs serve, the second half
# generate load (BENCH_SERVER_CPUS / BENCH_LOAD_CPUS override); with one CPU
# nothing is pinned.  PIN_SERVER / PIN_LOAD: command prefixes that pin what
# follows (empty arrays when nothing is pinned).  LOAD_THREADS: wrk
# threads, one per load CPU.
bench_cpus() {
	local n
	n=$(nproc 2>/dev/null || echo 1)
	if [ -n "${BENCH_SERVER_CPUS:-}" ] && [ -n "${BENCH_LOAD_CPUS:-}" ]; then
		SERVER_CPUS=$BENCH_SERVER_CPUS LOAD_CPUS=$BENCH_LOAD_CPUS
	elif [ "$n" -ge 2 ] && command -v taskset >/dev/null 2>&1; then
		SERVER_CPUS=0-$((n / 2 - 1)) LOAD_CPUS=$((n / 2))-$((n - 1))
	else
		SERVER_CPUS='' LOAD_CPUS=''
	fi
	PIN_SERVER=() PIN_LOAD=() LOAD_THREADS=1
	if [ -n "$SERVER_CPUS" ]; then
		PIN_SERVER=(taskset -c "$SERVER_CPUS")
		PIN_LOAD=(taskset -c "$LOAD_CPUS")
		LOAD_THREADS=$(bench_cpu_count "$LOAD_CPUS")
	fi
	return 0
}

# Number of CPUs in a list like 0-3,6.
bench_cpu_count() {
	local part n=0 a b
	local -a parts
	IFS=, read -ra parts <<<"$1"
	for part in "${parts[@]}"; do
		a=${part%-*} b=${part#*-}
		n=$((n + b - a + 1))
	done
	printf '%d\n' "$n"
}

# --- mcpgate and the bare responder behind lighttpd ----------------------------------

# Servers started as root drop to this user, as they would in production.
if [ "$(id -u)" -eq 0 ]; then
	BENCH_WEB_USER=www-data
	id -u "$BENCH_WEB_USER" >/dev/null 2>&1 || BENCH_WEB_USER=nobody
	BENCH_WEB_GROUP=$(id -gn "$BENCH_WEB_USER")
else
	BENCH_WEB_USER=$(id -un)
	BENCH_WEB_GROUP=$(id -gn)
fi

# bench_instance DIR PUBLIC_URL [CONF_LINE...]: state (store, keys), sockets,
# htpasswd and the mcpgate config under DIR.
bench_instance() {
	local dir=$1 url=$2 line
	shift 2
	mkdir -p "$dir/state" "$dir/sock"
	chmod 0755 "$dir"
	"$BENCH_BUILD/bin/mcpgate-keygen" "$dir/state/keys" >/dev/null || return 1
	printf '%s\n' "$BENCH_PASSWORD" | htpasswd -iBc "$dir/htpasswd" "$BENCH_USER" 2>/dev/null ||
		return 1
	chmod 0644 "$dir/htpasswd"
	{
		printf 'public_url = %s\n' "$url"
		printf 'store = %s\n' "$dir/state/mcpgate.db"
		printf 'key_file = %s\n' "$dir/state/keys"
		printf 'runtime_dir = %s\n' "$dir/sock"
		printf 'identity = remote-user\n'
		printf 'log_level = warn\n'
		# A benchmark from one address would otherwise meet the rate limits.
		printf 'rate_limit_register = 0\nrate_limit_token = 0\nrate_limit_authorize = 0\n'
		for line in "$@"; do printf '%s\n' "$line"; done
	} >"$dir/mcpgate.conf"
	chmod 0644 "$dir/mcpgate.conf"
	if [ "$(id -u)" -eq 0 ]; then
		chown -R "$BENCH_WEB_USER:$BENCH_WEB_GROUP" "$dir/state" "$dir/sock"
	fi
}

# Programs for lighttpd in DIR/bin (a copy the web server's user can reach).
bench_bin_mcpgate() {
	mkdir -p "$1/bin"
	cp -p "$BENCH_BUILD"/cgi-bin/* "$1/bin/"
	bench_bin_settle "$1/bin"
}

# The bare responder under every name lighttpd.conf routes (but sse, which
# streams): the same routes, processes and sockets, none of the work.
bench_bin_bare() {
	local p
	mkdir -p "$1/bin"
	for p in message metadata register authorize consent callback token revoke introspect; do
		cp -p "$BENCH_BUILD/bench/bare" "$1/bin/$p"
	done
	bench_bin_settle "$1/bin"
}

# Fresh copies sit in the page cache as dirty pages, which the processes
# mapping them would count as their own private memory; installed programs
# are clean.  sync -f: write them out, as an install would have long before.
bench_bin_settle() {
	chmod -R a+rX "$1"
	sync -f "$1"/* 2>/dev/null || sync
}

# bench_lighttpd DIR PORT [LIGHTTPD_LINE...]: the shipped lighttpd.conf over
# DIR's instance, pinned to the server CPUs; extra lines, if any, go in a
# wrapper that includes it.  Sets LT_PID.
bench_lighttpd() {
	local dir=$1 port=$2 conf=$BENCH_ROOT/lighttpd.conf line
	shift 2
	if [ $# -gt 0 ]; then
		conf=$dir/lighttpd.conf
		{
			printf 'include "%s"\n' "$BENCH_ROOT/lighttpd.conf"
			for line in "$@"; do printf '%s\n' "$line"; done
		} >"$conf"
	fi
	MCPGATE_PORT=$port MCPGATE_BIND=127.0.0.1 MCPGATE_BIN_DIR=$dir/bin \
		MCPGATE_CONFIG=$dir/mcpgate.conf MCPGATE_SOCKET_DIR=$dir/sock MCPGATE_PREFIX='' \
		MCPGATE_PROCS=${BENCH_PROCS:-1} MCPGATE_USER=$BENCH_WEB_USER \
		MCPGATE_GROUP=$BENCH_WEB_GROUP MCPGATE_HTPASSWD=$dir/htpasswd MCPGATE_ERRORLOG='' \
		"${PIN_SERVER[@]}" setsid lighttpd -D -f "$conf" </dev/null >>"$dir/lighttpd.log" 2>&1 &
	LT_PID=$!
	BENCH_PIDS+=("$LT_PID")
	wait_http "http://127.0.0.1:$port/" "$LT_PID" 300
}

# --- the peer ------------------------------------------------------------------------

# bench_peer PORT LOG: the TypeScript SDK server, pinned.  Sets PEER_PID.
bench_peer() {
	PEER_PORT=$1 "${PIN_SERVER[@]}" setsid node "$BENCH_ROOT/bench/peer/server.mjs" \
		</dev/null >>"$2" 2>&1 &
	PEER_PID=$!
	BENCH_PIDS+=("$PEER_PID")
	wait_http "http://127.0.0.1:$1/.well-known/oauth-authorization-server" "$PEER_PID" 300
}

# --- tokens through the real OAuth flow (curl) ---------------------------------------------

bench_urlenc() { jq -rn --arg v "$1" '$v|@uri'; }

# The value of query parameter $1 in URL $2 (percent-decoded).
bench_qparam() {
	local s
	s=$(printf '%s' "$2" | sed -n "s/.*[?&]$1=\([^&#]*\).*/\1/p")
	s=${s//+/ }
	printf '%b' "${s//%/\\x}"
}

# bench_token KIND ORIGIN: register a client, authorize (and approve the
# consent page, for mcpgate), redeem the code; prints the access token.
bench_token() {
	local kind=$1 origin=$2 p='' cid loc txn csrf code q
	local -a login=()
	[ "$kind" = mcpgate ] && p=/oauth login=(-u "$BENCH_USER:$BENCH_PASSWORD")
	cid=$(curl -sS --max-time 10 -X POST "$origin$p/register" -H 'Content-Type: application/json' \
		--data-binary '{"client_name":"bench","redirect_uris":["'"$BENCH_REDIRECT"'"],"token_endpoint_auth_method":"none","grant_types":["authorization_code","refresh_token"],"response_types":["code"]}' |
		jq -r .client_id) || return 1
	q="response_type=code&client_id=$(bench_urlenc "$cid")&redirect_uri=$(bench_urlenc "$BENCH_REDIRECT")&state=s&code_challenge=$BENCH_CHALLENGE&code_challenge_method=S256&scope=$(bench_urlenc 'snippets:read snippets:write')&resource=$(bench_urlenc "$origin/mcp")"
	loc=$(curl -sS --max-time 10 -o /dev/null -w '%{redirect_url}' "${login[@]}" "$origin$p/authorize?$q")
	if [ "$kind" = mcpgate ]; then
		txn=$(bench_qparam txn "$loc")
		csrf=$(curl -sS --max-time 10 "${login[@]}" "$origin/oauth/consent?txn=$txn" |
			sed -n 's/.*name="csrf" value="\([^"]*\)".*/\1/p')
		loc=$(curl -sS --max-time 10 -o /dev/null -w '%{redirect_url}' "${login[@]}" \
			-H 'Origin: null' -H 'Sec-Fetch-Site: same-origin' \
			--data-raw "txn=$txn&csrf=$(bench_urlenc "$csrf")&action=approve" "$origin/oauth/consent")
	fi
	code=$(bench_qparam code "$loc")
	[ -n "$code" ] || return 1
	curl -sS --max-time 10 -X POST "$origin$p/token" \
		--data-raw "grant_type=authorization_code&code=$code&redirect_uri=$(bench_urlenc "$BENCH_REDIRECT")&code_verifier=$BENCH_VERIFIER&client_id=$(bench_urlenc "$cid")&resource=$(bench_urlenc "$origin/mcp")" |
		jq -re .access_token
}

# bench_mcp ORIGIN TOKEN JSON: one POST /mcp; prints the body.
bench_mcp() {
	curl -sS --max-time 10 -X POST "$1/mcp" -H "Authorization: Bearer $2" \
		-H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream' \
		--data-binary "$3"
}

# --- load generators -------------------------------------------------------------------

# bench_wrk LOG THREADS CONNS SECONDS SCRIPT URL [NAME=VALUE...]: wrk on the
# load CPUs; prints its BENCH line (nothing if it failed).
bench_wrk() {
	local log=$1 t=$2 c=$3 s=$4 script=$5 url=$6
	local -a cmd
	shift 6
	cmd=(wrk -t"$t" -c"$c" -d"${s}s" --timeout 10s -s "$BENCH_LUA/$script" "$url")
	env "$@" BENCH_LUA="$BENCH_LUA" timeout $((s + 60)) "${PIN_LOAD[@]}" "${cmd[@]}" \
		>"$log" 2>&1
	grep -m1 '^BENCH ' "$log"
}

# bench_wrk_until LOG THREADS CONNS MAX_SECONDS SCRIPT URL [NAME=VALUE...]:
# as bench_wrk, for scripts that stop by count (bench_finish): wrk is
# interrupted (SIGINT: it reports and exits) once every thread is done, or
# after MAX_SECONDS.
bench_wrk_until() {
	local log=$1 t=$2 c=$3 s=$4 script=$5 url=$6 dir pid i
	local -a cmd
	shift 6
	dir=$(mktemp -d "${BENCH_WORK:-${TMPDIR:-/tmp}}/done.XXXXXX")
	cmd=(wrk -t"$t" -c"$c" -d"${s}s" --timeout 10s -s "$BENCH_LUA/$script" "$url")
	env "$@" BENCH_LUA="$BENCH_LUA" BENCH_DONE_DIR="$dir" timeout $((s + 60)) \
		"${PIN_LOAD[@]}" "${cmd[@]}" >"$log" 2>&1 &
	pid=$!
	for i in $(seq 1 $((s * 20 + 200))); do
		proc_alive "$pid" || break
		if [ "$(find "$dir" -name 'done-*' | wc -l)" -ge "$t" ]; then
			kill -INT "$pid" 2>/dev/null
			break
		fi
		sleep 0.05
	done
	wait "$pid"
	rm -rf "$dir"
	grep -m1 '^BENCH ' "$log"
}

# Value of KEY in a "BENCH k=v ..." line.
kv() {
	local v
	v=$(printf '%s\n' "$1" | tr ' ' '\n' | sed -n "s/^$2=//p" | head -n 1)
	printf '%s\n' "$v"
}

# --- memory ------------------------------------------------------------------------------

# One line per process of the tree at PID: "comm pid rss_kb pss_kb uss_kb".
# PSS divides shared pages (libraries, copy-on-write) among the processes
# that map them; USS counts only a process's own pages.
bench_mem_procs() {
	local p comm rss pss uss anon
	for p in $(proc_tree "$@"); do
		proc_alive "$p" || continue
		comm=$(cat "/proc/$p/comm" 2>/dev/null) || continue
		rss=$(sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$p/status" 2>/dev/null)
		anon=$(sed -n 's/^RssAnon:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$p/status" 2>/dev/null)
		read -r pss uss < <(awk '/^Pss:/ {p += $2} /^Private_(Clean|Dirty):/ {u += $2}
			END {print p + 0, u + 0}' "/proc/$p/smaps_rollup" 2>/dev/null)
		printf '%s %s %s %s %s %s\n' "$comm" "$p" "${rss:-0}" "${pss:-0}" "${uss:-0}" "${anon:-0}"
	done
}

# Sums over the tree: "rss_kb pss_kb uss_kb nprocs".
bench_mem_sum() {
	bench_mem_procs "$@" | awk '{r += $3; p += $4; u += $5; n++} END {print r + 0, p + 0, u + 0, n + 0}'
}

# --- results -------------------------------------------------------------------------------

# rec MEASURE SYSTEM KEY VALUE: one figure (a number, or text).
rec() {
	jq -cn --arg m "$1" --arg s "$2" --arg k "$3" --arg v "$4" \
		'{m: $m, s: $s, k: $k, v: ($v | tonumber? // $v)}' >>"$BENCH_WORK/results.jsonl"
}

# Record every KEY of a BENCH line under MEASURE SYSTEM (or an error).
rec_line() {
	local m=$1 s=$2 line=$3 k
	shift 3
	if [ -z "$line" ]; then
		rec "$m" "$s" error "no result (see the log)"
		BENCH_FAILED=$((BENCH_FAILED + 1))
		return 1
	fi
	for k in "$@"; do
		rec "$m" "$s" "$k" "$(kv "$line" "$k")"
	done
}
