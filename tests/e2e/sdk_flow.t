#!/usr/bin/env bash
# The official MCP SDK client (@modelcontextprotocol/sdk) does the whole
# OAuth flow by itself against real servers, then uses the snippet tools:
# discovery from the 401, dynamic registration, authorize with PKCE, the
# consent page's Approve (with its CSRF token), the login, the callback, the
# code redeemed; tools listed and called; a second authorization by the
# approved client skipping the consent page; an expired access token
# refreshed by the SDK.  clients/sdk_flow.mjs is the client; its browser
# part (clients/browser.mjs) follows the redirects with a cookie jar.
#
# Matrix: lighttpd and Apache, each in both identity modes
#   remote-user  HTTP Basic on /oauth/authorize and /oauth/consent (htpasswd)
#   oidc         the test OpenID provider tests/e2e/idp/idp.mjs
# and over both transports (Streamable HTTP /mcp, HTTP+SSE /mcp/sse).
# The refresh runs on the lighttpd remote-user instance, whose
# access_token_ttl is the shortest the configuration accepts.
. "$(dirname "${BASH_SOURCE[0]}")/../lib/servers.sh"
. "$(dirname "${BASH_SOURCE[0]}")/clients/lib.sh"

e2e_require @modelcontextprotocol/sdk oidc-provider
for p in metadata register authorize consent callback token message sse; do
	_lib_need_bin "$p"
done

# servers.sh writes "identity = remote-user" into every config and a key
# given twice is an error: for an oidc instance, drop that line.
eval "_sdk_orig$(declare -f _lib_state)"
OIDC_INSTANCE=
_lib_state() {
	_sdk_orig_lib_state "$@"
	[ -z "$OIDC_INSTANCE" ] || sed -i '/^identity = remote-user$/d' "$SRV_CONF"
}

# The shortest access token lifetime the configuration accepts (the test
# waits that long once).
short_ttl() {
	local check=${BIN_DIR%/cgi-bin}/bin/mcpgate-check-config t conf=$TEST_TMP/ttl.conf
	make_keyfile "$TEST_TMP/ttl.keys"
	for t in 10 30 60; do
		printf 'public_url = http://127.0.0.1:9\nstore = %s\nkey_file = %s\nidentity = remote-user\naccess_token_ttl = %d\n' \
			"$TEST_TMP/ttl.db" "$TEST_TMP/ttl.keys" "$t" >"$conf"
		[ -x "$check" ] && "$check" "$conf" >/dev/null 2>&1 && { echo "$t"; return; }
	done
	echo 60
}
TTL=$(short_ttl)

# --- servers -----------------------------------------------------------------------
htpasswd=$(make_htpasswd alice 'pw-alice!')
COMMON=(--conf-line 'rate_limit_authorize = 0' --conf-line 'rate_limit_register = 0'
	--conf-line 'rate_limit_token = 0')
# The provider's URL goes into the oidc configs, and the oidc instances'
# callbacks into the provider's client: start it once to hold its port while
# the servers pick theirs, then again on that port with the real callbacks.
e2e_bg "$TEST_OUT/idp.url" node "$E2E/idp/idp.mjs" --port 0
IDP_PID=$BG_PID
IDP=$(e2e_wait_line "$TEST_OUT/idp.url")
like "$IDP" '^http://127\.0\.0\.1:[0-9]+$' "the test OpenID provider starts" || { done_testing; exit 1; }
OIDC=("${COMMON[@]}" --conf-line 'identity = oidc' --conf-line "upstream_issuer = $IDP"
	--conf-line 'upstream_client_id = mcpgate' --conf-line 'upstream_client_secret = idp-s3cret'
	--conf-line 'insecure_loopback = true')

start_lighttpd --htpasswd "$htpasswd" "${COMMON[@]}" --conf-line "access_token_ttl = $TTL"
L_RU=$SRV_PUBLIC_URL
start_apache --htpasswd "$htpasswd" "${COMMON[@]}"
A_RU=$SRV_PUBLIC_URL
OIDC_INSTANCE=1
start_lighttpd --prefix /gw "${OIDC[@]}"
L_OIDC=$SRV_PUBLIC_URL
start_apache "${OIDC[@]}"
A_OIDC=$SRV_PUBLIC_URL
OIDC_INSTANCE=

stop_tree "$IDP_PID"
IDP_CLIENT_ID=mcpgate IDP_CLIENT_SECRET=idp-s3cret \
	IDP_REDIRECT_URIS="$L_OIDC/oauth/callback $A_OIDC/oauth/callback" \
	e2e_bg "$TEST_OUT/idp.url" node "$E2E/idp/idp.mjs" --port "${IDP##*:}"
is "$(e2e_wait_line "$TEST_OUT/idp.url")" "$IDP" "the test OpenID provider is up with the callbacks"

# --- the client --------------------------------------------------------------------
# flow LABEL URL TRANSPORT [sdk_flow.mjs options]
flow() {
	local label=$1 url=$2 transport=$3
	shift 3
	e2e_node "$label" 115 clients/sdk_flow.mjs --label "$label" --url "$url" \
		--transport "$transport" "$@"
}

RU=(--basic 'alice:pw-alice!' --user-re alice)
ID=(--idp "$IDP" --user-re 'Alice Example')
WAIT=$((TTL + 2))

# The refresh waits for the token to expire: those two run alongside the rest.
flow lighttpd-remote-user-streamable "$L_RU/mcp" streamable "${RU[@]}" --expire-wait "$WAIT" &
p1=$!
flow lighttpd-remote-user-sse "$L_RU/mcp/sse" sse "${RU[@]}" --expire-wait "$WAIT" &
p2=$!
# Stopped with the servers should the test be cut short.
_LIB_PIDS+=("$p1" "$p2")

for t in streamable sse; do
	path=/mcp
	[ "$t" = sse ] && path=/mcp/sse
	flow "apache-remote-user-$t" "$A_RU$path" "$t" "${RU[@]}"
	e2e_report "apache-remote-user-$t" $?
	flow "lighttpd-oidc-$t" "$L_OIDC$path" "$t" "${ID[@]}"
	e2e_report "lighttpd-oidc-$t" $?
	flow "apache-oidc-$t" "$A_OIDC$path" "$t" "${ID[@]}"
	e2e_report "apache-oidc-$t" $?
done

wait "$p1"
s1=$?
wait "$p2"
s2=$?
# Reaped: their PIDs are no longer ours to signal.
keep=()
for p in "${_LIB_PIDS[@]}"; do
	[ "$p" = "$p1" ] || [ "$p" = "$p2" ] || keep+=("$p")
done
_LIB_PIDS=("${keep[@]}")
e2e_report lighttpd-remote-user-streamable "$s1"
e2e_report lighttpd-remote-user-sse "$s2"
note "access_token_ttl for the refresh: $TTL s"

done_testing
