# Shared by tests/http/mcp_*.t (sourced after tests/lib/servers.sh).
#
#   mcp_helper_build          compile tests/http/mcp_mint.c against the library
#                             the programs under test came from
#   mint ARGS...              run mcp_mint on the server's config and store
#                             (token USER SCOPES [TTL [NAME [RESOURCE]]] -> "TOKEN GRANT",
#                              revoke GRANT, session USER streamable|legacy [SOCKET])
#   mcp_post TOKEN BODY [curl args]   POST BODY to /mcp as a compliant client would
#   mcp_req METHOD PATH TOKEN [curl args]  any request below public_url
#   rpc ID METHOD [PARAMS]    a JSON-RPC request text
#   tool ID NAME [ARGS]       a tools/call request text
#   prm_url                   the protected resource metadata URL for /mcp

MINT=$TEST_OUT/mcp_mint
MCP_ACCEPT='application/json, text/event-stream'
ALL_SCOPES='snippets:read snippets:write'

mcp_helper_build() {
	build_test_helper "$MCPGATE_ROOT/tests/http/mcp_mint.c" "$MINT"
}

mint() { as_web_user "$MINT" "$SRV_CONF" "$@"; }

mcp_path() { printf '%s/mcp' "${SRV_PUBLIC_URL#"$SRV_URL"}"; }

prm_url() {
	printf '%s/.well-known/oauth-protected-resource%s/mcp' "$SRV_URL" \
		"${SRV_PUBLIC_URL#"$SRV_URL"}"
}

mcp_req() {
	local method=$1 path=$2 tok=$3
	local -a auth=()
	shift 3
	[ -n "$tok" ] && auth=(-H "Authorization: Bearer $tok")
	hreq "$SRV_URL" "$method" "${SRV_PUBLIC_URL#"$SRV_URL"}$path" "${auth[@]}" "$@"
}

mcp_post() {
	local tok=$1 body=$2
	shift 2
	mcp_req POST /mcp "$tok" -H 'Content-Type: application/json' -H "Accept: $MCP_ACCEPT" \
		--data-binary "$body" "$@"
}

rpc() {
	printf '{"jsonrpc":"2.0","id":%s,"method":"%s","params":%s}' "$1" "$2" "${3:-{\}}"
}

tool() {
	printf '{"jsonrpc":"2.0","id":%s,"method":"tools/call","params":{"name":"%s","arguments":%s}}' \
		"$1" "$2" "${3:-{\}}"
}

INIT_PARAMS='{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"mcp-tests","version":"1"}}'
