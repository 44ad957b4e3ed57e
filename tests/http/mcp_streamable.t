#!/usr/bin/env bash
# Streamable HTTP on /mcp through lighttpd: the lifecycle, the tools, and
# every status code the endpoint answers (200 202 204 400 401 403 404 405
# 406 413 415), with tokens minted by tests/http/mcp_mint.c.
. "$(dirname "${BASH_SOURCE[0]}")/../lib/servers.sh"
. "$(dirname "${BASH_SOURCE[0]}")/mcp_lib.sh"

[ -x "$BIN_DIR/message" ] || bail "$BIN_DIR/message is missing: run make first"
mcp_helper_build
start_lighttpd --conf-line 'max_body = 4096' --conf-line 'snippet_max = 1000' \
	--conf-line 'server_name = mcp test'

read -r TOK GRANT < <(mint token local:alice "$ALL_SCOPES" 3600 "Alice Example")
read -r BOB _ < <(mint token local:bob "$ALL_SCOPES" 3600 Bob)
read -r RO _ < <(mint token local:alice snippets:read)
read -r WO _ < <(mint token local:alice snippets:write)
read -r OLD _ < <(mint token local:alice "$ALL_SCOPES" -10)
read -r ELSEWHERE _ < <(mint token local:alice "$ALL_SCOPES" 3600 "" https://other.example/mcp)
[ -n "$TOK" ] && [ -n "$OLD" ] && [ -n "$ELSEWHERE" ] || bail "cannot mint tokens"
PRM=$(prm_url)

# --- lifecycle ------------------------------------------------------------------
mcp_post "$TOK" "$(rpc 1 initialize "$INIT_PARAMS")"
is "$RESP_STATUS" 200 "initialize: 200"
like "$(resp_header Content-Type)" '^application/json' "initialize: application/json"
is "$(resp_json .result.protocolVersion)" 2025-06-18 "initialize: version echoed"
is "$(resp_json .result.serverInfo.name)" "mcp test" "initialize: serverInfo.name from config"
is "$(resp_json .id)" 1 "initialize: id echoed"
SID=$(resp_header Mcp-Session-Id)
like "$SID" '^[!-~]{43}$' "initialize: Mcp-Session-Id issued, visible ASCII"

mcp_post "$TOK" "$(rpc 1 initialize '{"protocolVersion":"1999-01-01"}')"
is "$(resp_json .result.protocolVersion)" 2025-11-25 "initialize: unknown version -> our latest"

mcp_post "$TOK" '{"jsonrpc":"2.0","method":"notifications/initialized"}' -H "Mcp-Session-Id: $SID"
is "$RESP_STATUS" 202 "notification: 202"
is "$RESP_BODY" "" "notification: no body"
mcp_post "$TOK" '{"jsonrpc":"2.0","id":99,"result":{}}'
is "$RESP_STATUS" 202 "client response: 202"

mcp_post "$TOK" "$(rpc 2 tools/list)" -H "Mcp-Session-Id: $SID" -H 'MCP-Protocol-Version: 2025-06-18'
is "$RESP_STATUS" 200 "tools/list with session: 200"
is "$(resp_json '[.result.tools[].name] | join(",")')" \
	hello_mcp,save_snippet,get_snippet,list_snippets,delete_snippet "tools/list: five tools"

# Stateless: no session header at all works just as well.
mcp_post "$TOK" "$(tool 3 save_snippet '{"snippetname":"note","snippet":"caf\u00e9 \ud83d\ude00"}')"
is "$RESP_STATUS" 200 "save without a session: 200"
is "$(resp_json .result.isError)" false "save: not an error"
like "$(resp_json '.result.content[0].text')" "note" "save: reply names the snippet"
mcp_post "$TOK" "$(tool 4 get_snippet '{"snippetname":"note"}')"
is "$(resp_json '.result.content[0].text')" "café 😀" "get: text read back"
is "$(resp_json .result.structuredContent.snippet)" "café 😀" "get: structured content"
mcp_post "$TOK" "$(tool 5 get_snippet '{"snippetname":"nope"}')"
is "$RESP_STATUS" 200 "get missing: 200"
is "$(resp_json .result.isError)" true "get missing: isError"
is "$(resp_json '.result.content[0].text')" "no snippet named 'nope'" "get missing: message"
mcp_post "$BOB" "$(tool 6 get_snippet '{"snippetname":"note"}')"
is "$(resp_json .result.isError)" true "bob cannot read alice's snippet"
mcp_post "$TOK" "$(tool 7 get_snippet '{"snippetname":"../etc/passwd"}')"
is "$(resp_json .error.code)" -32602 "bad name: -32602"
like "$(resp_json .error.message)" snippetname "bad name: names the parameter"
mcp_post "$TOK" "$(rpc 8 no/such)"
is "$RESP_STATUS" 200 "unknown method: 200"
is "$(resp_json .error.code)" -32601 "unknown method: -32601"

# Ids of every type come back exactly as sent.
for id in 0 -0 '"s"' '""' 1.50 1E+400 123456789012345678901234567890 -9223372036854775809; do
	mcp_post "$TOK" "{\"jsonrpc\":\"2.0\",\"id\":$id,\"method\":\"ping\"}"
	like "$RESP_BODY" "^\\{\"jsonrpc\":\"2.0\",\"id\":${id//+/\\+},\"result\":\\{\\}\\}$" \
		"id $id echoed exactly"
done

# --- 400: malformed input ---------------------------------------------------------
mcp_post "$TOK" '{"jsonrpc":"2.0",'
is "$RESP_STATUS" 400 "parse error: 400"
is "$(resp_json .error.code)" -32700 "parse error: -32700"
is "$(resp_json .id)" null "parse error: null id"
mcp_post "$TOK" $'{"jsonrpc":"2.0","id":1,"method":"ping","x":"\xff"}'
is "$(resp_json .error.code)" -32700 "invalid UTF-8: -32700"
deep=$(printf '%0.s[' $(seq 1 100))$(printf '%0.s]' $(seq 1 100))
mcp_post "$TOK" "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\",\"params\":{\"a\":$deep}}"
is "$(resp_json .error.code)" -32700 "deep nesting: -32700"
mcp_post "$TOK" '{"jsonrpc":"2.0","id":{},"method":"ping"}'
is "$RESP_STATUS" 400 "invalid request: 400"
is "$(resp_json .error.code)" -32600 "invalid request: -32600"
mcp_post "$TOK" '[{"jsonrpc":"2.0","id":1,"method":"ping"}]' -H 'MCP-Protocol-Version: 2025-06-18'
is "$RESP_STATUS" 400 "batch under 2025-06-18: 400"
is "$(resp_json .error.code)" -32600 "batch under 2025-06-18: -32600"
mcp_post "$TOK" '[{"jsonrpc":"2.0","id":1,"method":"ping"},{"jsonrpc":"2.0","method":"n"},{"jsonrpc":"2.0","id":2,"method":"ping"}]'
is "$RESP_STATUS" 200 "batch without a version header (2025-03-26): 200"
is "$(resp_json '[.[].id] | join(",")')" "1,2" "batch: one reply per request"
mcp_post "$TOK" "[$(rpc 1 initialize "$INIT_PARAMS")]" -H 'MCP-Protocol-Version: 2025-03-26'
is "$RESP_STATUS" 400 "batched initialize: 400"
mcp_post "$TOK" "$(rpc 1 ping)" -H 'MCP-Protocol-Version: 1999-01-01'
is "$RESP_STATUS" 400 "unsupported MCP-Protocol-Version: 400"

# --- 401: authentication on every request ------------------------------------------
mcp_post "" "$(rpc 1 ping)"
is "$RESP_STATUS" 401 "no token: 401"
is "$(resp_header WWW-Authenticate)" \
	"Bearer resource_metadata=\"$PRM\", scope=\"$ALL_SCOPES\"" "no token: challenge without error"
for t in garbage "mga_$(printf 'A%.0s' $(seq 1 60))" "$OLD" "$ELSEWHERE"; do
	mcp_post "$t" "$(rpc 1 ping)"
	is "$RESP_STATUS" 401 "bad token ${t:0:12}...: 401"
	www=$(resp_header WWW-Authenticate)
	like "$www" '^Bearer .*error="invalid_token"' "bad token ${t:0:12}...: invalid_token"
	like "$www" "resource_metadata=\"$PRM\", scope=\"$ALL_SCOPES\"" \
		"bad token ${t:0:12}...: challenge names the metadata and scopes"
done
mcp_req POST /mcp "" -H 'Authorization: Basic YTpi' -H 'Content-Type: application/json' \
	-H "Accept: $MCP_ACCEPT" --data-binary "$(rpc 1 ping)"
is "$RESP_STATUS" 401 "Basic credentials: 401"
unlike "$(resp_header WWW-Authenticate)" 'error=' \
	"Basic credentials count as no bearer token: no error code (RFC 6750 3.1)"
mcp_req POST "/mcp?access_token=$TOK" "" -H 'Content-Type: application/json' \
	-H "Accept: $MCP_ACCEPT" --data-binary "$(rpc 1 ping)"
is "$RESP_STATUS" 400 "token in the query string: refused (400)"
like "$(resp_header WWW-Authenticate)" 'error="invalid_request"' "query token: invalid_request"
mcp_req POST "/mcp?access_token=x" "$TOK" -H 'Content-Type: application/json' \
	-H "Accept: $MCP_ACCEPT" --data-binary "$(rpc 1 ping)"
is "$RESP_STATUS" 400 "query token next to a valid header: still refused"

# --- 403: step-up ------------------------------------------------------------------
mcp_post "$RO" "$(tool 1 save_snippet '{"snippetname":"x","snippet":"y"}')"
is "$RESP_STATUS" 403 "read-only token saving: 403"
www=$(resp_header WWW-Authenticate)
like "$www" '^Bearer .*error="insufficient_scope"' "403: insufficient_scope"
like "$www" "resource_metadata=\"$PRM\", scope=\"$ALL_SCOPES\"" \
	"403: the scopes to ask for (held + missing) and the metadata"
mcp_post "$RO" "$(tool 2 get_snippet '{"snippetname":"note"}')"
is "$RESP_STATUS" 200 "read-only token reading: 200"
mcp_post "$WO" "$(tool 3 get_snippet '{"snippetname":"note"}')"
is "$RESP_STATUS" 403 "write-only token reading: 403"
mcp_post "$WO" "$(rpc 4 resources/read '{"uri":"snippet:///note"}')"
is "$RESP_STATUS" 403 "write-only token reading a resource: 403"
mcp_post "$WO" "$(tool 5 hello_mcp)"
is "$RESP_STATUS" 200 "hello needs no scope"

# --- 406, 415, 413 ---------------------------------------------------------------
for accept in '' 'application/json' 'text/event-stream' '*/*' \
	'application/json, text/event-stream;q=0'; do
	mcp_req POST /mcp "$TOK" -H 'Content-Type: application/json' -H "Accept: $accept" \
		--data-binary "$(rpc 1 ping)"
	is "$RESP_STATUS" 406 "Accept '$accept': 406"
done
mcp_req POST /mcp "$TOK" -H 'Content-Type: application/json' \
	-H 'Accept: text/event-stream;q=0.5, APPLICATION/JSON' --data-binary "$(rpc 1 ping)"
is "$RESP_STATUS" 200 "Accept with weights and case: 200"
mcp_req POST /mcp "$TOK" -H 'Content-Type: text/plain' -H "Accept: $MCP_ACCEPT" \
	--data-binary "$(rpc 1 ping)"
is "$RESP_STATUS" 415 "Content-Type text/plain: 415"
mcp_req POST /mcp "$TOK" -H 'Content-Type: application/json; charset=utf-8' \
	-H "Accept: $MCP_ACCEPT" --data-binary "$(rpc 1 ping)"
is "$RESP_STATUS" 200 "Content-Type with charset: 200"
big=$(head -c 5000 /dev/zero | tr '\0' x)
mcp_post "$TOK" "$(tool 1 save_snippet "{\"snippetname\":\"big\",\"snippet\":\"$big\"}")"
is "$RESP_STATUS" 413 "body over max_body: 413"
mcp_post "$TOK" "$(tool 1 save_snippet "{\"snippetname\":\"big\",\"snippet\":\"${big:0:1001}\"}")"
is "$(resp_json .error.code)" -32602 "snippet over snippet_max: -32602"

# --- sessions: 404 and DELETE ----------------------------------------------------
mcp_post "$TOK" "$(rpc 1 ping)" -H 'Mcp-Session-Id: AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'
is "$RESP_STATUS" 404 "unknown session: 404"
mcp_post "$TOK" "$(rpc 1 ping)" -H 'Mcp-Session-Id: not a session'
is "$RESP_STATUS" 404 "malformed session id: 404"
mcp_post "$BOB" "$(rpc 1 ping)" -H "Mcp-Session-Id: $SID"
is "$RESP_STATUS" 404 "another user's session: 404"
BOBSID=$(mint session local:bob streamable)
mcp_post "$TOK" "$(rpc 1 ping)" -H "Mcp-Session-Id: $BOBSID"
is "$RESP_STATUS" 404 "bob's session with alice's token: 404"
mcp_req DELETE /mcp "$TOK"
is "$RESP_STATUS" 400 "DELETE without a session id: 400"
mcp_req DELETE /mcp "$BOB" -H "Mcp-Session-Id: $SID"
is "$RESP_STATUS" 404 "DELETE of another user's session: 404"
mcp_req DELETE /mcp "$TOK" -H "Mcp-Session-Id: $SID"
is "$RESP_STATUS" 204 "DELETE own session: 204"
mcp_post "$TOK" "$(rpc 1 ping)" -H "Mcp-Session-Id: $SID"
is "$RESP_STATUS" 404 "ended session: 404"
mcp_req DELETE /mcp "$TOK" -H "Mcp-Session-Id: $SID"
is "$RESP_STATUS" 404 "DELETE again: 404"

# --- 405, 404 -------------------------------------------------------------------------
mcp_req GET /mcp "$TOK" -H 'Accept: text/event-stream'
is "$RESP_STATUS" 405 "GET /mcp: 405"
is "$(resp_header Allow)" "POST, DELETE, OPTIONS" "GET /mcp: Allow"
mcp_req GET /mcp ""
is "$RESP_STATUS" 401 "GET /mcp without a token: 401 first"
mcp_req PUT /mcp "$TOK" --data-binary x
is "$RESP_STATUS" 405 "PUT /mcp: 405"
mcp_req POST /mcp/other "$TOK" --data-binary x
is "$RESP_STATUS" 404 "/mcp/other: 404"

# --- Origin and CORS ----------------------------------------------------------------
mcp_post "$TOK" "$(rpc 1 ping)" -H 'Origin: https://evil.example'
is "$RESP_STATUS" 403 "foreign Origin: 403"
is "$(resp_header Access-Control-Allow-Origin)" "" "foreign Origin: no CORS grant"
mcp_post "$TOK" "$(rpc 1 ping)" -H 'Origin: http://localhost:6274'
is "$RESP_STATUS" 200 "loopback Origin: 200"
is "$(resp_header Access-Control-Allow-Origin)" "http://localhost:6274" "loopback Origin: CORS grant"
like "$(resp_header Access-Control-Expose-Headers)" 'Mcp-Session-Id, WWW-Authenticate' \
	"CORS exposes Mcp-Session-Id and WWW-Authenticate"
mcp_post "" "$(rpc 1 ping)" -H "Origin: $SRV_URL"
is "$RESP_STATUS" 401 "public origin without token: 401"
is "$(resp_header Access-Control-Allow-Origin)" "$SRV_URL" "401 readable by the allowed origin"
mcp_req OPTIONS /mcp "" -H "Origin: $SRV_URL" -H 'Access-Control-Request-Method: POST' \
	-H 'Access-Control-Request-Headers: authorization, content-type, mcp-session-id'
is "$RESP_STATUS" 204 "preflight: 204 without a token"
like "$(resp_header Access-Control-Allow-Headers)" 'Authorization.*Mcp-Session-Id.*MCP-Protocol-Version' \
	"preflight: allows the MCP headers"
mcp_req OPTIONS /mcp "" -H 'Origin: https://evil.example' -H 'Access-Control-Request-Method: POST'
is "$RESP_STATUS" 403 "preflight from a foreign origin: 403"

# --- idle: a process that has nothing to do lets go of the store -----------------------
# A read keeps its GDBM handle for the next request (src/store.c); a process
# that then sees no request for a moment closes it and trims its heap.
for i in 1 2 3 4 5 6 7 8; do
	mcp_post "$TOK" "$(tool "$i" get_snippet '{"snippetname":"note"}')"
done
is "$(resp_json '.result.content[0].text')" "café 😀" "reads before idling"
# Look for up to 3 s (a loaded machine may be slow to schedule them).
for i in $(seq 1 30); do
	sleep 0.1
	held=0 procs=0
	for pid in $(pgrep -P "$SRV_PID" -x message); do
		procs=$((procs + 1))
		for fd in /proc/"$pid"/fd/*; do
			[ "$(readlink "$fd")" = "$SRV_DIR/state/mcpgate.db" ] && held=$((held + 1))
		done
	done
	[ "$held" = 0 ] && break
done
[ "$procs" -gt 0 ]
ok $? "message processes found ($procs)"
is "$held" 0 "idle message processes hold no handle on the store file"
mcp_post "$TOK" "$(tool 9 get_snippet '{"snippetname":"note"}')"
is "$(resp_json '.result.content[0].text')" "café 😀" "after idling: the next read opens the store again"

# --- revocation (last: it kills TOK) ------------------------------------------------
mint revoke "$GRANT"
mcp_post "$TOK" "$(tool 1 get_snippet '{"snippetname":"note"}')"
is "$RESP_STATUS" 401 "revoked grant: 401"
like "$(resp_header WWW-Authenticate)" 'error="invalid_token"' "revoked grant: invalid_token"
unlike "$RESP_BODY" "café" "revoked grant: no snippet in the body"
for probe in "$(rpc 1 ping)" '{"jsonrpc":"2.0","method":"notifications/initialized"}' '{bad'; do
	mcp_post "$TOK" "$probe"
	is "$RESP_STATUS" 401 "revoked grant: 401 for ${probe:0:30}"
done
mcp_req GET /mcp "$TOK"
is "$RESP_STATUS" 401 "revoked grant: GET 401"
mcp_req DELETE /mcp "$TOK" -H "Mcp-Session-Id: $BOBSID"
is "$RESP_STATUS" 401 "revoked grant: DELETE 401"

# --- below a path prefix ----------------------------------------------------------------
start_lighttpd --prefix /gw
read -r GTOK _ < <(mint token local:alice "$ALL_SCOPES")
mcp_post "$GTOK" "$(tool 1 hello_mcp)"
is "$RESP_STATUS" 200 "prefix /gw: tools/call 200"
like "$(resp_json '.result.content[0].text')" 'local:alice' "prefix /gw: hello"
mcp_post "" "$(rpc 1 ping)"
is "$(resp_header WWW-Authenticate)" \
	"Bearer resource_metadata=\"$SRV_URL/.well-known/oauth-protected-resource/gw/mcp\", scope=\"$ALL_SCOPES\"" \
	"prefix /gw: resource_metadata follows RFC 9728 path insertion"
hreq "$SRV_URL" POST /mcp -H "Authorization: Bearer $GTOK"
[ "$RESP_STATUS" != 200 ]
ok $? "prefix /gw: /mcp outside the prefix is not served ($RESP_STATUS)"

done_testing
