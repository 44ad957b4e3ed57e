#!/usr/bin/env bash
# Legacy HTTP+SSE (MCP 2024-11-05) as the message program sees it, through
# lighttpd: POST /mcp/message?sessionId=... answers 202 and the reply arrives
# on the session's stream; every refusal (400 401 403 404 405 415) comes back
# on the POST itself and nothing reaches the stream.
. "$(dirname "${BASH_SOURCE[0]}")/../lib/servers.sh"
. "$(dirname "${BASH_SOURCE[0]}")/mcp_lib.sh"

[ -x "$BIN_DIR/message" ] || bail "$BIN_DIR/message is missing: run make first"
mcp_helper_build
start_lighttpd --conf-line 'snippet_max = 1000'

read -r TOK GRANT < <(mint token local:alice "$ALL_SCOPES" 3600 Alice)
read -r BOB _ < <(mint token local:bob "$ALL_SCOPES")
read -r RO _ < <(mint token local:alice snippets:read)
[ -n "$TOK" ] && [ -n "$BOB" ] && [ -n "$RO" ] || bail "cannot mint tokens"

legacy() {
	local path=$1 tok=$2 body=$3
	shift 3
	mcp_req POST "$path" "$tok" -H 'Content-Type: application/json' --data-binary "$body" "$@"
}

NOSID=/mcp/message
GHOST="/mcp/message?sessionId=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"

# --- refusals that need no stream ----------------------------------------------------
legacy "$NOSID" "$TOK" "$(rpc 1 ping)"
is "$RESP_STATUS" 400 "no sessionId: 400"
legacy "$GHOST" "$TOK" "$(rpc 1 ping)"
is "$RESP_STATUS" 404 "unknown sessionId: 404"
legacy "/mcp/message?sessionId=../../etc" "$TOK" "$(rpc 1 ping)"
is "$RESP_STATUS" 404 "malformed sessionId: 404"
legacy "$GHOST" "" "$(rpc 1 ping)"
is "$RESP_STATUS" 401 "no token: 401"
like "$(resp_header WWW-Authenticate)" "resource_metadata=\"$(prm_url)\"" "no token: challenge"
legacy "$GHOST&access_token=$TOK" "" "$(rpc 1 ping)"
is "$RESP_STATUS" 400 "token in the query string: 400"
mcp_req GET "$GHOST" "$TOK"
is "$RESP_STATUS" 405 "GET /mcp/message: 405"
is "$(resp_header Allow)" "POST, OPTIONS" "GET /mcp/message: Allow"
mcp_req DELETE "$GHOST" "$TOK"
is "$RESP_STATUS" 405 "DELETE /mcp/message: 405"

# Sessions of the wrong owner or transport look like no session at all.
BOBSID=$(mint session local:bob legacy "$SRV_DIR/sock/nobody.sock")
STREAMSID=$(mint session local:alice streamable)
DEADSID=$(mint session local:alice legacy "$SRV_DIR/sock/nobody.sock")
[ -n "$BOBSID" ] && [ -n "$DEADSID" ] || bail "cannot create sessions"
legacy "/mcp/message?sessionId=$BOBSID" "$TOK" "$(rpc 1 ping)"
is "$RESP_STATUS" 404 "another user's session: 404"
legacy "/mcp/message?sessionId=$STREAMSID" "$TOK" "$(rpc 1 ping)"
is "$RESP_STATUS" 404 "a Streamable HTTP session id: 404"
legacy "/mcp/message?sessionId=$DEADSID" "$TOK" "$(rpc 1 ping)"
is "$RESP_STATUS" 404 "session whose stream is gone: 404"
legacy "/mcp/message?sessionId=$DEADSID" "$TOK" '{"jsonrpc":"2.0","method":"notifications/initialized"}'
is "$RESP_STATUS" 202 "notification needs no stream: 202"
mcp_req POST "/mcp/message?sessionId=$DEADSID" "$TOK" -H 'Content-Type: text/plain' \
	--data-binary "$(rpc 1 ping)"
is "$RESP_STATUS" 415 "Content-Type text/plain: 415"
legacy "/mcp/message?sessionId=$DEADSID" "$TOK" '{"jsonrpc":'
is "$RESP_STATUS" 400 "parse error: 400 on the POST"
is "$(resp_json .error.code)" -32700 "parse error: -32700"
legacy "/mcp/message?sessionId=$DEADSID" "$TOK" "$(rpc 1 ping)" -H 'MCP-Protocol-Version: 2000-01-01'
is "$RESP_STATUS" 400 "unsupported MCP-Protocol-Version: 400"
legacy "/mcp/message?sessionId=$DEADSID" "$RO" "$(tool 1 save_snippet '{"snippetname":"a","snippet":"b"}')"
is "$RESP_STATUS" 403 "read-only token saving: 403"
like "$(resp_header WWW-Authenticate)" 'error="insufficient_scope"' "403: step-up challenge"

# --- the round trip through the sse program ---------------------------------------------
if [ -x "$BIN_DIR/sse" ]; then
	out=$TEST_OUT/stream.sse
	curl -sS -N --max-time 30 -H "Authorization: Bearer $TOK" "$SRV_PUBLIC_URL/mcp/sse" \
		>"$out" 2>"$TEST_OUT/stream.err" &
	CURL=$!
	ep=
	for i in $(seq 1 100); do
		ep=$(sed -n 's/^data: \(.*message?sessionId=.*\)$/\1/p' "$out" | head -n 1)
		[ -n "$ep" ] && break
		sleep 0.03
	done
	like "$ep" '/mcp/message\?sessionId=[A-Za-z0-9_-]{43}$' "stream: endpoint event"
	ep=${ep#"${SRV_PUBLIC_URL#"$SRV_URL"}"}
	wait_for() {
		local i
		for i in $(seq 1 100); do
			grep -q "$1" "$out" && return 0
			sleep 0.03
		done
		return 1
	}
	legacy "$ep" "$TOK" "$(rpc '"init-1"' initialize '{"protocolVersion":"2024-11-05","capabilities":{},"clientInfo":{"name":"t","version":"1"}}')"
	is "$RESP_STATUS" 202 "initialize: 202"
	is "$RESP_BODY" "" "initialize: no body on the POST"
	wait_for '"id":"init-1"'
	ok $? "initialize: the reply arrives on the stream"
	like "$(grep '"init-1"' "$out")" '"protocolVersion":"2024-11-05"' "initialize: 2024-11-05"
	legacy "$ep" "$TOK" "$(tool 2 save_snippet '{"snippetname":"legacy","snippet":"via sse"}')"
	is "$RESP_STATUS" 202 "save: 202"
	legacy "$ep" "$TOK" "$(tool 3 get_snippet '{"snippetname":"legacy"}')"
	is "$RESP_STATUS" 202 "get: 202"
	wait_for '"id":3,'
	ok $? "get: the reply arrives on the stream"
	like "$(grep '"id":3,' "$out")" '"text":"via sse"' "get: snippet text in the event"
	legacy "$ep" "$BOB" "$(rpc 4 ping)"
	is "$RESP_STATUS" 404 "bob posting to alice's stream: 404"
	legacy "$ep" "$RO" "$(tool 5 save_snippet '{"snippetname":"x","snippet":"y"}')"
	is "$RESP_STATUS" 403 "scope refusal on a live stream: 403"
	sleep 0.2
	unlike "$(cat "$out")" '"id":(4|5),' "refused requests leave nothing on the stream"
	mint revoke "$GRANT"
	legacy "$ep" "$TOK" "$(rpc 6 ping)"
	is "$RESP_STATUS" 401 "revoked grant: 401"
	kill "$CURL" 2>/dev/null
	wait "$CURL" 2>/dev/null
else
	skip "round trip through the sse program" "$BIN_DIR/sse is not built"
fi

done_testing
