#!/usr/bin/env bash
# The official MCP conformance suite (npm @modelcontextprotocol/conformance,
# every server scenario: --suite all) against /mcp through lighttpd.  The
# suite cannot do OAuth, so it talks to a loopback proxy (proxy/bearer_proxy.mjs)
# that adds a bearer token obtained through the real flow (register,
# authorize, consent, token).
#
# Scenarios listed in conformance/baseline.yml are not applicable (they need
# the suite's reference fixtures or a feature mcpgate does not offer; the
# reason is on each line) and show as skipped; every other scenario must
# pass, and a listed one that starts passing fails the test (stale list).
# Where the feature exists but the fixture does not, conformance/equivalents.mjs
# runs the same checks on mcpgate's own tools and resources.
. "$(dirname "${BASH_SOURCE[0]}")/../lib/servers.sh"
. "$(dirname "${BASH_SOURCE[0]}")/clients/lib.sh"

e2e_require @modelcontextprotocol/sdk @modelcontextprotocol/conformance
for p in metadata register authorize consent token message; do
	_lib_need_bin "$p"
done
BASELINE=$E2E/conformance/baseline.yml
RESULTS=$TEST_OUT/results

htpasswd=$(make_htpasswd alice 'pw-alice!')
start_lighttpd --htpasswd "$htpasswd" --conf-line 'rate_limit_authorize = 0'

e2e_token "$SRV_PUBLIC_URL/mcp" --basic 'alice:pw-alice!'
ok $? "an access token through the OAuth flow" || { done_testing; exit; }
(umask 077 && printf '%s\n' "$TOKEN" >"$TEST_TMP/token")

e2e_bg "$TEST_OUT/proxy.url" node "$E2E/proxy/bearer_proxy.mjs" --upstream "$SRV_URL" \
	--token-file "$TEST_TMP/token"
PROXY=$(e2e_wait_line "$TEST_OUT/proxy.url")
like "$PROXY" '^http://127\.0\.0\.1:[0-9]+$' "the bearer proxy is up"
MCP=$PROXY${SRV_PUBLIC_URL#"$SRV_URL"}/mcp

init='{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}'
hdrs=(-H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream')
hreq "$SRV_URL" POST "${SRV_PUBLIC_URL#"$SRV_URL"}/mcp" "${hdrs[@]}" --data-binary "$init"
is "$RESP_STATUS" 401 "without the proxy: 401"
hreq "$PROXY" POST "${MCP#"$PROXY"}" "${hdrs[@]}" --data-binary "$init"
is "$RESP_STATUS $(resp_json .result.serverInfo.name)" "200 mcpgate" "through the proxy: initialize"

# --- the suite -------------------------------------------------------------------------
(cd "$E2E" && timeout 100 node node_modules/@modelcontextprotocol/conformance/dist/index.js \
	server --url "$MCP" --suite all --expected-failures "$BASELINE" -o "$RESULTS" \
	>"$TEST_OUT/conformance.txt" 2>&1)
status=$?
is "$status" 0 "the suite: every failure is an expected one (baseline)" ||
	diag "$(sed -n '/SUMMARY/,$p' "$TEST_OUT/conformance.txt")"

# reason SCENARIO: its baseline comment; status 1 when it is not listed.
reason() {
	local line
	line=$(grep -E "^[[:space:]]*-[[:space:]]+$1([[:space:]]|$)" "$BASELINE") || return 1
	line=${line#*#}
	printf '%s\n' "${line# }"
}

pass=0 na=0 bad=0 info=0 total=0
for dir in "$RESULTS"/server-*; do
	[ -f "$dir/checks.json" ] || continue
	name=${dir##*/server-}
	name=${name%-[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T*}
	total=$((total + 1))
	read -r s f w < <(jq -r '[(map(select(.status=="SUCCESS"))|length),
		(map(select(.status=="FAILURE"))|length), (map(select(.status=="WARNING"))|length)]|@tsv' \
		"$dir/checks.json")
	if why=$(reason "$name"); then
		if [ "$f" -gt 0 ] || [ "$w" -gt 0 ]; then
			skip "conformance: $name" "not applicable: $why"
			na=$((na + 1))
		else
			ok 1 "conformance: $name is in the baseline but passes: remove it there"
			bad=$((bad + 1))
		fi
	elif [ "$f" -eq 0 ] && [ "$w" -eq 0 ] && [ "$s" -eq 0 ]; then
		skip "conformance: $name" "no check applies: $(jq -r '[.[]|.details.message // empty]|join("; ")' "$dir/checks.json")"
		info=$((info + 1))
	elif [ "$f" -eq 0 ] && [ "$w" -eq 0 ]; then
		ok 0 "conformance: $name ($s checks)"
		pass=$((pass + 1))
	else
		ok 1 "conformance: $name ($f failed, $w warnings)"
		diag "$(jq -r '.[]|select(.status=="FAILURE" or .status=="WARNING")|"\(.id): \(.errorMessage // .description)"' "$dir/checks.json")"
		bad=$((bad + 1))
	fi
done
[ "$total" -ge 30 ]
ok $? "the suite ran its scenarios ($total)"
note "conformance $( (cd "$E2E" && node node_modules/@modelcontextprotocol/conformance/dist/index.js --version) 2>/dev/null): $total scenarios: $pass pass, $na not applicable, $info without applicable checks, $bad failing"

# --- the same checks on mcpgate's own tools and resources ------------------------------
e2e_node equivalents 40 conformance/equivalents.mjs --url "$MCP"
e2e_report equivalents $?

done_testing
