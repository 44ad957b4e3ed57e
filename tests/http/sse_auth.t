#!/usr/bin/env bash
# GET /mcp/sse (legacy HTTP+SSE) refuses every request that is not fully
# authorised, with the status and challenge MCP clients act on: no token,
# forged, expired, revoked and wrong-audience tokens (401), a token in the
# URL (400), a foreign Origin (403), other methods (405) and paths (404).
# Through lighttpd, at the root and under a path prefix.
. "$(dirname "${BASH_SOURCE[0]}")/../lib/servers.sh"
. "$(dirname "${BASH_SOURCE[0]}")/sse_lib.sh"

# check_auth LABEL PREFIX
check_auth() {
	local t=$1 pre=$2 prm tok old revoked other expired wa
	prm="$SRV_URL/.well-known/oauth-protected-resource$pre/mcp"

	hreq "$SRV_URL" GET "$pre/mcp/sse"
	is "$RESP_STATUS" 401 "$t: no token: 401"
	wa=$(resp_header WWW-Authenticate)
	is "$wa" "Bearer resource_metadata=\"$prm\", scope=\"snippets:read snippets:write\"" \
		"$t: no token: challenge names the resource metadata and scopes, no error"
	like "$(resp_header Content-Type)" '^application/json' "$t: no token: JSON body"

	hreq "$SRV_URL" GET "$pre/mcp/sse" -H "Authorization: Basic dXNlcjpwYXNz"
	is "$RESP_STATUS" 401 "$t: Basic credentials: 401"
	unlike "$(resp_header WWW-Authenticate)" 'error=' "$t: Basic credentials: no error code"

	for bad in "mga_forged" "not a token" "mga_$(head -c 300 /dev/zero | tr '\0' A)"; do
		hreq "$SRV_URL" GET "$pre/mcp/sse" -H "Authorization: Bearer $bad"
		is "$RESP_STATUS" 401 "$t: bad token '${bad:0:12}': 401"
		like "$(resp_header WWW-Authenticate)" \
			"^Bearer resource_metadata=\"$prm\", scope=\"snippets:read snippets:write\", error=\"invalid_token\"" \
			"$t: bad token '${bad:0:12}': error=\"invalid_token\""
	done

	expired=$(mint local:alice -5)
	hreq "$SRV_URL" GET "$pre/mcp/sse" -H "Authorization: Bearer $expired"
	is "$RESP_STATUS" 401 "$t: expired token: 401"
	like "$(resp_header WWW-Authenticate)" 'error="invalid_token"' "$t: expired token: invalid_token"

	other=$(mint local:alice 300 "snippets:read" "https://elsewhere.example/mcp")
	hreq "$SRV_URL" GET "$pre/mcp/sse" -H "Authorization: Bearer $other"
	is "$RESP_STATUS" 401 "$t: token for another resource (RFC 8707 audience): 401"

	revoked=$(mint local:alice 300)
	sse_tool revoke "$SRV_CONF" "$revoked"
	hreq "$SRV_URL" GET "$pre/mcp/sse" -H "Authorization: Bearer $revoked"
	is "$RESP_STATUS" 401 "$t: revoked grant: 401"
	like "$(resp_header WWW-Authenticate)" 'error="invalid_token"' "$t: revoked grant: invalid_token"

	tok=$(mint local:alice 300)
	hreq "$SRV_URL" GET "$pre/mcp/sse?access_token=$tok" -H "Authorization: Bearer $tok"
	is "$RESP_STATUS" 400 "$t: access_token in the URL, even beside a valid header: 400"
	like "$(resp_header WWW-Authenticate)" 'error="invalid_request"' "$t: ... invalid_request"
	hreq "$SRV_URL" GET "$pre/mcp/sse?a=1&access_token=x" -H "Authorization: Bearer $tok"
	is "$RESP_STATUS" 400 "$t: access_token as a later query parameter: 400"

	hreq "$SRV_URL" GET "$pre/mcp/sse" -H "Authorization: Bearer $tok" \
		-H "Origin: https://evil.example"
	is "$RESP_STATUS" 403 "$t: foreign Origin: 403 (DNS rebinding)"
	is "$(resp_header Access-Control-Allow-Origin)" "" "$t: foreign Origin: no CORS grant"
	hreq "$SRV_URL" GET "$pre/mcp/sse" -H "Authorization: Bearer $tok" -H "Origin: null"
	is "$RESP_STATUS" 403 "$t: Origin null: 403"
	hreq "$SRV_URL" OPTIONS "$pre/mcp/sse" -H "Origin: https://evil.example"
	is "$RESP_STATUS" 403 "$t: preflight from a foreign Origin: 403"
	hreq "$SRV_URL" OPTIONS "$pre/mcp/sse" -H "Origin: $SRV_URL" \
		-H "Access-Control-Request-Method: GET"
	is "$RESP_STATUS" 204 "$t: preflight from our origin: 204"
	is "$(resp_header Access-Control-Allow-Origin)" "$SRV_URL" "$t: preflight: origin allowed"
	like "$(resp_header Access-Control-Allow-Headers)" 'Authorization' \
		"$t: preflight: Authorization allowed"

	for m in POST PUT DELETE; do
		hreq "$SRV_URL" "$m" "$pre/mcp/sse" -H "Authorization: Bearer $tok" -d '{}' \
			-H "Content-Type: application/json"
		is "$RESP_STATUS" 405 "$t: $m: 405"
		is "$(resp_header Allow)" "GET, OPTIONS" "$t: $m: Allow: GET, OPTIONS"
	done
	hreq "$SRV_URL" GET "$pre/mcp/sse/x" -H "Authorization: Bearer $tok"
	is "$RESP_STATUS" 404 "$t: /mcp/sse/x: 404"

	# And the same token does open a stream, with our origin's CORS grant.
	old=$(curl -sS -N --max-time 1 -D - -H "Authorization: Bearer $tok" -H "Origin: $SRV_URL" \
		"$SRV_URL$pre/mcp/sse" 2>/dev/null | tr -d '\r')
	like "$old" $'^HTTP/1.1 200' "$t: valid token: 200"
	like "$old" $'\nAccess-Control-Allow-Origin: '"$SRV_URL"$'\n' "$t: stream carries the CORS grant"
	like "$old" $'\n\nevent: endpoint\ndata: '"$pre"'/mcp/message\?sessionId=' \
		"$t: and starts with the endpoint event"
}

start_lighttpd
check_auth lighttpd ""
start_lighttpd --prefix /gw
check_auth "lighttpd /gw" /gw

done_testing
