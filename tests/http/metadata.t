#!/usr/bin/env bash
# The discovery documents (RFC 8414 authorization server metadata, its OpenID
# Connect alias, RFC 9728 protected resource metadata) as clients see them:
# through lighttpd, through Apache (FastCGI and the shared-hosting CGI setup),
# and from the program run as plain CGI.  Then a broken configuration.
. "$(dirname "${BASH_SOURCE[0]}")/../lib/servers.sh"

# check_docs LABEL TARGET PUBLIC_URL [PATH]: every document and method.
# PATH is the path part of public_url ("" or "/gw").
check_docs() {
	local t=$1 target=$2 pub=$3 path=${4:-} as

	hreq "$target" GET "/.well-known/oauth-authorization-server$path"
	is "$RESP_STATUS" 200 "$t: AS metadata answers 200"
	like "$(resp_header Content-Type)" '^application/json' "$t: AS metadata is application/json"
	is "$(resp_json 'type')" object "$t: AS metadata is a JSON object"
	is "$(resp_json '.issuer')" "$pub" "$t: issuer is public_url"
	is "$(resp_json '.response_types_supported | tojson')" '["code"]' \
		"$t: response_types_supported is [\"code\"]"
	is "$(resp_json '.code_challenge_methods_supported | tojson')" '["S256"]' \
		"$t: code_challenge_methods_supported is [\"S256\"]"
	is "$(resp_header Access-Control-Allow-Origin)" '*' "$t: AS metadata readable cross-origin"
	is "$(resp_header X-Content-Type-Options)" nosniff "$t: AS metadata has nosniff"
	as=$RESP_BODY

	hreq "$target" GET "/.well-known/openid-configuration$path"
	is "$RESP_STATUS" 200 "$t: openid-configuration answers 200"
	is "$RESP_BODY" "$as" "$t: openid-configuration is the AS metadata"

	if [ -n "$path" ]; then
		# OIDC discovery's path-append form, tried by MCP clients too.
		hreq "$target" GET "$path/.well-known/openid-configuration"
		is "$RESP_STATUS" 200 "$t: $path/.well-known/openid-configuration answers 200"
		is "$RESP_BODY" "$as" "$t: the path-append form is the AS metadata"
	fi

	for prm in "/.well-known/oauth-protected-resource$path/mcp" \
		"/.well-known/oauth-protected-resource$path"; do
		hreq "$target" GET "$prm"
		is "$RESP_STATUS" 200 "$t: $prm answers 200"
		like "$(resp_header Content-Type)" '^application/json' "$t: $prm is application/json"
		is "$(resp_json '.resource')" "$pub/mcp" "$t: $prm: resource is public_url/mcp"
		is "$(resp_json --arg pub "$pub" 'any(.authorization_servers[]; . == $pub)')" true \
			"$t: $prm: authorization_servers holds public_url"
		is "$(resp_json '.bearer_methods_supported | tojson')" '["header"]' \
			"$t: $prm: bearer_methods_supported is [\"header\"]"
		is "$(resp_header Access-Control-Allow-Origin)" '*' "$t: $prm readable cross-origin"
		is "$(resp_header X-Content-Type-Options)" nosniff "$t: $prm has nosniff"
	done

	hreq "$target" POST "/.well-known/oauth-authorization-server$path" --data ''
	is "$RESP_STATUS" 405 "$t: POST is 405"
	like "$(resp_header Allow)" '(^|[ ,])GET([ ,]|$)' "$t: 405 names GET in Allow"
	is "$(resp_header Access-Control-Allow-Origin)" '*' "$t: 405 still has CORS"

	hreq "$target" OPTIONS "/.well-known/oauth-protected-resource$path/mcp" \
		-H 'Origin: https://client.example' -H 'Access-Control-Request-Method: GET'
	like "$RESP_STATUS" '^20[04]$' "$t: CORS preflight succeeds"
	is "$(resp_header Access-Control-Allow-Origin)" '*' "$t: preflight allows any origin"
	like "$(resp_header Access-Control-Allow-Methods)" 'GET' "$t: preflight allows GET"

	hreq "$target" GET "/.well-known/oauth-authorization-server$path/no-such-issuer"
	is "$RESP_STATUS" 404 "$t: unknown document is 404"
	like "$(resp_header Content-Type)" '^application/json' "$t: 404 is JSON"
	is "$(resp_json 'has("error")')" true "$t: 404 body has an error member"
}

# check_broken LABEL TARGET CONF LOG: an unknown key is a 500 for every
# request, and the log names file, line and key.
check_broken() {
	local t=$1 target=$2 conf=$3 log=$4 line hits
	line=$(grep -n '^bogus_key' "$conf" | cut -d: -f1)

	hreq "$target" GET /.well-known/oauth-authorization-server
	is "$RESP_STATUS" 500 "$t: broken config answers 500"
	unlike "$RESP_BODY" 'bogus_key' "$t: the 500 page does not leak the reason"
	# The line is written when the program starts; allow for log buffering.
	for _ in $(seq 1 40); do
		grep -qF "$conf:$line: bogus_key" "$log" 2>/dev/null && break
		sleep 0.05
	done
	hits=$(grep -cF "$conf:$line: bogus_key" "$log" 2>/dev/null)
	ok "$([ "${hits:-0}" -ge 1 ]; echo $?)" "$t: error log names $conf:$line: bogus_key"
	# Once per process, not once per request.
	hreq "$target" GET /.well-known/oauth-protected-resource
	hreq "$target" GET /.well-known/oauth-protected-resource
	sleep 0.1
	hits=$(grep -F '[metadata]' "$log" 2>/dev/null | grep -cF "$conf:$line: bogus_key")
	ok "$([ "${hits:-0}" -le "${5:-2}" ]; echo $?)" \
		"$t: logged at most ${5:-2} times after 3 requests (got ${hits:-0})"
}

# --- served normally -------------------------------------------------------
start_lighttpd
check_docs lighttpd "$SRV_URL" "$SRV_PUBLIC_URL"
# Only the three document families go to the program; the rest of
# /.well-known/ (ACME and friends) is not mcpgate's.
hreq "$SRV_URL" GET /.well-known/acme-challenge/x
is "$RESP_STATUS" 404 "lighttpd: other /.well-known/ paths are not routed to mcpgate"
hreq "$SRV_URL" GET /etc/passwd
like "$RESP_STATUS" '^40[34]$' "lighttpd: no static files"

start_apache
check_docs apache "$SRV_URL" "$SRV_PUBLIC_URL"

start_apache --cgi
check_docs apache-cgi "$SRV_URL" "$SRV_PUBLIC_URL"

new_cgi
check_docs cgi cgi:metadata "$SRV_PUBLIC_URL"

# --- mounted below a path (public_url http://127.0.0.1:PORT/gw) ---------------
start_lighttpd --prefix /gw
check_docs lighttpd-gw "$SRV_URL" "$SRV_PUBLIC_URL" /gw

start_apache --prefix /gw
check_docs apache-gw "$SRV_URL" "$SRV_PUBLIC_URL" /gw

new_cgi --prefix /gw
check_docs cgi-gw cgi:metadata "$SRV_PUBLIC_URL" /gw

# --- the programs' environment ------------------------------------------------
# Both shipped setups run the programs without malloc's per-thread cache
# (their memory stays flat: bench/RESULTS.md, measure 7), and tell them
# where the configuration is.
# env_of_metadata: the environment of the newest server's metadata process.
env_of_metadata() {
	local p
	p=$(server_pid metadata) && tr '\0' '\n' <"/proc/$p/environ"
}
for server in lighttpd apache; do
	"start_$server"
	hreq "$SRV_URL" GET /.well-known/oauth-authorization-server
	envs=$(env_of_metadata)
	like "$envs" $'(^|\n)GLIBC_TUNABLES=glibc\.malloc\.tcache_count=0(\n|$)' \
		"$server: programs run with malloc's per-thread cache off"
	like "$envs" "(^|"$'\n'")MCPGATE_CONFIG=$SRV_CONF("$'\n'"|\$)" "$server: programs get MCPGATE_CONFIG"
done

# mcpgate-backends refuses process counts out of range before starting anything.
for bad in MCPGATE_PROCS=0 MCPGATE_PROCS=65 MCPGATE_MCP_PROCS=0 MCPGATE_MCP_PROCS=x; do
	sock=$(mktemp -d "${TMPDIR:-/tmp}/mcpgate-backends.XXXXXX")
	out=$(env "$bad" MCPGATE_BIN_DIR="$BIN_DIR" MCPGATE_SOCKET_DIR="$sock" MCPGATE_USER="$WEB_USER" \
		timeout 10 "$MCPGATE_ROOT/apache/mcpgate-backends" 2>&1 </dev/null)
	rc=$?
	ok "$([ "$rc" -ne 0 ] && [ "$rc" -ne 124 ]; echo $?)" "mcpgate-backends with $bad: exits with an error ($rc)"
	like "$out" "${bad%%=*} must be 1\.\.64" "... and says which setting"
	is "$(find "$sock" -mindepth 1 | wc -l)" 0 "... before creating any socket"
	rm -rf "$sock"
done

# --- broken configuration ----------------------------------------------------
# lighttpd and mcpgate-backends start one process each (--procs 1).
start_lighttpd --conf-line 'bogus_key = 1'
check_broken lighttpd-broken "$SRV_URL" "$SRV_CONF" "$SRV_LOG" 1

start_apache --conf-line 'bogus_key = 1'
check_broken apache-broken "$SRV_URL" "$SRV_CONF" "$TEST_OUT/apache-$_LIB_SEQ-backends.log" 1

# Plain CGI runs a process per request, so one line per request.
start_apache --cgi --conf-line 'bogus_key = 1'
check_broken apache-cgi-broken "$SRV_URL" "$SRV_CONF" "$SRV_LOG" 3

new_cgi --conf-line 'bogus_key = 1'
check_broken cgi-broken cgi:metadata "$SRV_CONF" "$CGI_LOG" 3

done_testing
