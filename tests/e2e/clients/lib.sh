# Shared by tests/e2e/*.t that drive node clients (sourced after
# tests/lib/servers.sh).
#
#   e2e_require PKG...        skip the whole test (TAP "1..0 # SKIP") unless
#                             node and these packages of tests/e2e are there
#   e2e_node OUT TIMEOUT SCRIPT [ARGS...]
#                             run a node script from tests/e2e, stdout in
#                             $TEST_OUT/OUT.out, stderr in $TEST_OUT/OUT.log
#   e2e_report OUT STATUS     turn the script's "ok - " / "not ok - " lines
#                             into our assertions, plus one for its exit
#   e2e_token URL [--basic user:password]
#                             an access token for URL through the whole flow
#                             (clients/get_token.mjs); sets TOKEN, TOKEN_JSON
#   e2e_bg OUTFILE CMD...     start CMD in its own process group, stdout to
#                             OUTFILE (stderr beside it, .log); stopped when
#                             the test exits; sets BG_PID
#   e2e_wait_line FILE        wait (10 s at most) for a first line in FILE; print it

E2E=$MCPGATE_ROOT/tests/e2e

e2e_require() {
	local p
	if ! command -v node >/dev/null 2>&1; then
		echo "1..0 # SKIP node is not installed"
		exit 0
	fi
	for p in "$@"; do
		if [ ! -e "$E2E/node_modules/$p/package.json" ]; then
			echo "1..0 # SKIP tests/e2e/node_modules/$p missing (npm ci in tests/e2e)"
			exit 0
		fi
	done
}

e2e_node() {
	local out=$1 limit=$2
	shift 2
	(cd "$E2E" && timeout "$limit" node "$@" >"$TEST_OUT/$out.out" 2>"$TEST_OUT/$out.log")
}

e2e_report() {
	local out=$1 status=$2 line n=0
	while IFS= read -r line; do
		case $line in
		"ok - "*) ok 0 "${line#ok - }"; n=$((n + 1)) ;;
		"not ok - "*) ok 1 "${line#not ok - }"; n=$((n + 1)) ;;
		"# "*) diag "${line#\# }" ;;
		esac
	done <"$TEST_OUT/$out.out"
	[ "$n" -gt 0 ] && [ "$status" -eq 0 ]
	ok $? "$out: the client ran to the end (exit $status, $n checks)" ||
		diag "$(tail -n 20 "$TEST_OUT/$out.log")"
}

e2e_token() {
	local url=$1
	shift
	TOKEN_JSON=$(cd "$E2E" && timeout 40 node clients/get_token.mjs --url "$url" "$@" \
		2>>"$TEST_OUT/get_token.log")
	TOKEN=$(printf '%s' "$TOKEN_JSON" | jq -r '.access_token // empty' 2>/dev/null)
	[ -n "$TOKEN" ]
}

e2e_bg() {
	local outfile=$1
	shift
	: >"$outfile"
	setsid "$@" </dev/null >"$outfile" 2>>"${outfile%.*}.log" &
	BG_PID=$!
	_LIB_PIDS+=("$BG_PID")
}

e2e_wait_line() {
	for _ in $(seq 1 100); do
		[ -s "$1" ] && break
		sleep 0.1
	done
	head -n 1 "$1"
}
