#!/usr/bin/env bash
# The whole flow a stock MCP client goes through, driven by curl through
# lighttpd with identity = remote-user: discover -> register (RFC 7591) ->
# authorize -> consent (Approve) -> code -> token -> refresh -> revoke, for
# a public client on a loopback redirect (any port, RFC 8252 §7.3) and a
# confidential client_secret_basic client.
. "$(dirname "${BASH_SOURCE[0]}")/../lib/servers.sh"
. "$(dirname "${BASH_SOURCE[0]}")/oauth_lib.sh"

for p in authorize consent; do
	[ -x "$BIN_DIR/$p" ] || { skip "real flow" "$p is not built"; done_testing; exit; }
done
htpasswd=$TEST_OUT/htpasswd
printf '%s\n' 'pw-alice' | htpasswd -iBc "$htpasswd" alice 2>/dev/null
chmod 0644 "$htpasswd"
chmod 0755 "$TEST_OUT"
start_lighttpd --htpasswd "$htpasswd" --conf-line "rate_limit_authorize = 0"
LOGIN=(-u alice:pw-alice)
RESOURCE=$SRV_PUBLIC_URL/mcp

# Query parameter $1 of URL $2, percent-decoded.
qparam() {
	local p s
	local -a ps
	IFS='&' read -ra ps <<<"${2#*\?}"
	for p in "${ps[@]}"; do
		[ "${p%%=*}" = "$1" ] || continue
		s=${p#*=}
		s=${s//+/ }
		printf '%b' "${s//%/\\x}"
		return 0
	done
	return 1
}

# authorize_code CLIENT REDIRECT: through authorize and consent; sets CODE.
authorize_code() {
	local loc txn csrf
	CODE=
	hreq "$SRV_URL" GET "/oauth/authorize?response_type=code&client_id=$(enc "$1")&redirect_uri=$(enc "$2")&state=s-1&code_challenge=$CHALLENGE&code_challenge_method=S256&scope=$(enc 'snippets:read snippets:write')&resource=$(enc "$RESOURCE")" "${LOGIN[@]}"
	loc=$(resp_header Location)
	if [[ $loc == "$2"* ]]; then
		CODE=$(qparam code "$loc") # remembered approval: straight back
		return 0
	fi
	txn=$(qparam txn "$loc")
	hreq "$SRV_URL" GET "/oauth/consent?txn=$txn" "${LOGIN[@]}"
	csrf=$(printf '%s' "$RESP_BODY" | sed -n 's/.*name="csrf" value="\([^"]*\)".*/\1/p')
	hreq "$SRV_URL" POST /oauth/consent --data-raw "txn=$txn&csrf=$csrf&action=approve" \
		-H 'Origin: null' -H 'Sec-Fetch-Site: same-origin' "${LOGIN[@]}"
	loc=$(resp_header Location)
	[[ $loc == "$2"* ]] && CODE=$(qparam code "$loc")
	[ "$(qparam state "$loc")" = s-1 ] && [ "$(qparam iss "$loc")" = "$SRV_PUBLIC_URL" ]
}

# --- discovery tells the client where everything is --------------------------------
hreq "$SRV_URL" GET /.well-known/oauth-authorization-server
for pair in registration_endpoint:register token_endpoint:token revocation_endpoint:revoke \
	introspection_endpoint:introspect authorization_endpoint:authorize; do
	is "$(resp_json ".${pair%%:*}")" "$SRV_PUBLIC_URL/oauth/${pair#*:}" "metadata: ${pair%%:*}"
done
is "$(resp_json '.grant_types_supported|join(" ")')" "authorization_code refresh_token" "metadata: grant types"

# --- a public client, as the MCP SDK registers it ---------------------------------------
register '{"client_name":"SDK client","redirect_uris":["http://127.0.0.1/callback"],
  "grant_types":["authorization_code","refresh_token"],"response_types":["code"],
  "token_endpoint_auth_method":"none"}'
is "$RESP_STATUS" 201 "public client registered"
PUB=$CLIENT_ID
CB=http://127.0.0.1:43210/callback # another port than registered: RFC 8252 §7.3
authorize_code "$PUB" "$CB"
ok $? "authorization response carries state and iss"
like "$CODE" '^[A-Za-z0-9_-]{43}$' "code issued through consent"
form_post /oauth/token "grant_type=authorization_code&code=$CODE&redirect_uri=$(enc "$CB")&code_verifier=$VERIFIER&client_id=$PUB&resource=$(enc "$RESOURCE")"
is "$RESP_STATUS $(resp_json .token_type)" "200 Bearer" "tokens for the real code"
A=$(resp_json .access_token) R=$(resp_json .refresh_token)
form_post /oauth/token "grant_type=authorization_code&code=$CODE&redirect_uri=$(enc "$CB")&code_verifier=$VERIFIER&client_id=$PUB"
is "$(resp_json .error)" invalid_grant "the real code is single use"
form_post /oauth/token "grant_type=refresh_token&refresh_token=$R&client_id=$PUB"
is "$(resp_json .error)" invalid_grant "and its replay revoked the grant"

authorize_code "$PUB" "$CB"
like "$CODE" '^[A-Za-z0-9_-]{43}$' "second authorization (approval remembered or asked again)"
form_post /oauth/token "grant_type=authorization_code&code=$CODE&redirect_uri=$(enc "$CB")&code_verifier=$VERIFIER&client_id=$PUB&resource=$(enc "$RESOURCE")"
R=$(resp_json .refresh_token)
form_post /oauth/token "grant_type=refresh_token&refresh_token=$R&client_id=$PUB&resource=$(enc "$RESOURCE")"
is "$RESP_STATUS" 200 "refresh"
R2=$(resp_json .refresh_token)
form_post /oauth/revoke "token=$R2&client_id=$PUB"
is "$RESP_STATUS" 200 "revoke"
form_post /oauth/token "grant_type=refresh_token&refresh_token=$R2&client_id=$PUB"
is "$(resp_json .error)" invalid_grant "revoked"

authorize_code "$PUB" "http://evil.example/callback"
is "$CODE" "" "unregistered redirect URI: no code"

# --- a confidential client ----------------------------------------------------------
register '{"client_name":"Web app","redirect_uris":["https://app.example/cb"],
  "token_endpoint_auth_method":"client_secret_basic","grant_types":["authorization_code","refresh_token"]}'
CONF=$CLIENT_ID SECRET=$CLIENT_SECRET
authorize_code "$CONF" https://app.example/cb
like "$CODE" '^[A-Za-z0-9_-]{43}$' "confidential client: code"
form_post /oauth/token "grant_type=authorization_code&code=$CODE&redirect_uri=$(enc https://app.example/cb)&code_verifier=$VERIFIER" -u "$CONF:$SECRET"
is "$RESP_STATUS" 200 "confidential client: tokens with client_secret_basic"
form_post /oauth/introspect "token=$(resp_json .access_token)" -u "$CONF:$SECRET"
is "$(resp_json .active) $(resp_json .sub)" "true local:alice" "introspected: the user who approved"

done_testing
