#!/usr/bin/env bash
# POST /oauth/revoke (RFC 7009) and POST /oauth/introspect (RFC 7662)
# through lighttpd: revoking an access or a refresh token ends the grant,
# unknown tokens still get 200, clients see only their own tokens, a
# resource server named in introspect_clients sees all; every request
# error.  Then a smoke run of register -> token -> refresh -> revoke through
# Apache (FastCGI) and as plain CGI behind Apache.
. "$(dirname "${BASH_SOURCE[0]}")/../lib/servers.sh"
. "$(dirname "${BASH_SOURCE[0]}")/oauth_lib.sh"

oauth_helper_build
chmod 0755 "$TEST_OUT"
clients=$TEST_OUT/clients.json
cat >"$clients" <<'EOF'
[{"client_id": "rs", "client_name": "Resource server", "redirect_uris": ["https://rs.example/cb"],
  "token_endpoint_auth_method": "client_secret_basic", "client_secret": "rs-secret-0123456789"}]
EOF
chmod 0644 "$clients"
start_lighttpd --conf-line "static_clients_file = $clients" --conf-line "introspect_clients = rs" \
	--conf-line "rate_limit_token = 0" --conf-line "rate_limit_register = 0"
CB=http://127.0.0.1/callback
REV=/oauth/revoke
INT=/oauth/introspect

register '{"redirect_uris":["http://127.0.0.1/callback"],"grant_types":["authorization_code","refresh_token"]}'
PUB=$CLIENT_ID
register '{"redirect_uris":["http://127.0.0.1/callback"],"grant_types":["authorization_code","refresh_token"],
  "token_endpoint_auth_method":"client_secret_post"}'
CONF=$CLIENT_ID CONF_SECRET=$CLIENT_SECRET
[ -n "$PUB" ] && [ -n "$CONF_SECRET" ]
ok $? "clients registered" || bail "registration failed: $RESP_BODY"

# grant CLIENT [auth form fields]: sets A and R for a fresh grant.
grant() {
	local code
	code=$(mkcode "$1" "$CB" "$CHALLENGE")
	form_post /oauth/token "grant_type=authorization_code&code=$code&redirect_uri=$(enc "$CB")&code_verifier=$VERIFIER&client_id=$1$2"
	A=$(resp_json .access_token) R=$(resp_json .refresh_token)
}
RS=(-u rs:rs-secret-0123456789)
introspect_rs() { form_post "$INT" "token=$1" "${RS[@]}"; }

# --- revoke: request errors ---------------------------------------------------------
hreq "$SRV_URL" OPTIONS "$REV"
is "$RESP_STATUS $(resp_header Access-Control-Allow-Origin)" "204 *" "revoke preflight"
hreq "$SRV_URL" GET "$REV"
is "$RESP_STATUS" 405 "revoke GET: 405"
hreq "$SRV_URL" POST "$REV" -H 'Content-Type: application/json' --data-binary '{"token":"x"}'
is "$RESP_STATUS $(resp_json .error)" "400 invalid_request" "revoke: JSON body refused"
form_post "$REV" "client_id=$PUB"
is "$RESP_STATUS $(resp_json .error)" "400 invalid_request" "revoke: missing token"
form_post "$REV" "token=a&token=b&client_id=$PUB"
is "$RESP_STATUS $(resp_json .error)" "400 invalid_request" "revoke: duplicate token"
form_post "$REV" "token=$(head -c 17000 /dev/zero | tr '\0' a)&client_id=$PUB"
is "$RESP_STATUS" 413 "revoke: body over 16 KiB"
form_post "$REV" "token=abc"
is "$RESP_STATUS $(resp_json .error)" "401 invalid_client" "revoke: no client authentication"
form_post "$REV" "token=abc&client_id=$CONF&client_secret=wrong"
is "$RESP_STATUS $(resp_json .error)" "401 invalid_client" "revoke: wrong secret"
form_post "$REV" "token=abc" -u "rs:nope"
is "$RESP_STATUS $(resp_json .error)" "401 invalid_client" "revoke: wrong Basic secret"
like "$(resp_header WWW-Authenticate)" '^Basic' "WWW-Authenticate on 401"

# --- revoke: unknown tokens get 200 -----------------------------------------------------
for t in garbage mga_AAAA mgr_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA "$(printf 'x%.0s' {1..500})"; do
	form_post "$REV" "token=$t&token_type_hint=refresh_token&client_id=$PUB"
	is "$RESP_STATUS" 200 "unknown token ${t:0:12}: 200"
done
form_post "$REV" "token=abc&token_type_hint=id_token&client_id=$PUB"
is "$RESP_STATUS" 200 "an unknown hint is ignored (RFC 7009 §2.1)"

# --- revoke an access token: the grant ends -------------------------------------
grant "$PUB"
introspect_rs "$A"
is "$(resp_json .active)" true "access token active before"
form_post "$REV" "token=$A&token_type_hint=access_token&client_id=$PUB"
is "$RESP_STATUS" 200 "access token revoked: 200"
is "$(resp_header Cache-Control)" no-store "no-store"
introspect_rs "$A"
is "$(resp_json .active)" false "access token inactive after revocation"
form_post /oauth/token "grant_type=refresh_token&refresh_token=$R&client_id=$PUB"
is "$RESP_STATUS $(resp_json .error)" "400 invalid_grant" "its refresh token too (revoke then use)"
form_post "$REV" "token=$A&client_id=$PUB"
is "$RESP_STATUS" 200 "revoking again: 200"

# --- revoke a refresh token ----------------------------------------------------------
grant "$PUB"
form_post "$REV" "token=$R&client_id=$PUB"
is "$RESP_STATUS" 200 "refresh token revoked"
form_post /oauth/token "grant_type=refresh_token&refresh_token=$R&client_id=$PUB"
is "$RESP_STATUS $(resp_json .error)" "400 invalid_grant" "revoked refresh token refused"
introspect_rs "$A"
is "$(resp_json .active)" false "the grant's access token is dead too"

# --- another client's token is not revoked -----------------------------------------
grant "$PUB"
form_post "$REV" "token=$A&client_id=$CONF&client_secret=$CONF_SECRET"
is "$RESP_STATUS" 200 "revoking another client's token answers 200"
introspect_rs "$A"
is "$(resp_json .active)" true "but the token lives on"
grep -q "another client's token ignored" "$SRV_LOG"
ok $? "and the attempt is logged"

# --- introspection ------------------------------------------------------------------
hreq "$SRV_URL" GET "$INT"
is "$RESP_STATUS" 405 "introspect GET: 405"
form_post "$INT" "token=$A&client_id=$PUB"
is "$RESP_STATUS $(resp_json .error)" "401 invalid_client" "public clients may not introspect"
form_post "$INT" "token=$A"
is "$RESP_STATUS $(resp_json .error)" "401 invalid_client" "introspect without authentication"
form_post "$INT" "x=1" "${RS[@]}"
is "$RESP_STATUS $(resp_json .error)" "400 invalid_request" "introspect: missing token"
introspect_rs "$A"
is "$RESP_STATUS $(resp_header Cache-Control)" "200 no-store" "introspect: 200, no-store"
is "$(resp_json .active)" true "resource server sees an active token"
is "$(resp_json .client_id)" "$PUB" "client_id"
is "$(resp_json .sub)" "local:alice" "sub"
is "$(resp_json .scope)" "snippets:read snippets:write" "scope"
is "$(resp_json .aud)" "$SRV_PUBLIC_URL/mcp" "aud is the MCP resource"
is "$(resp_json .iss)" "$SRV_PUBLIC_URL" "iss"
is "$(resp_json .token_type)" Bearer "token_type"
[ "$(resp_json .exp)" -gt "$(date +%s)" ]
ok $? "exp in the future"
introspect_rs "$R"
is "$(resp_json .active) $(resp_json .token_type)" "true refresh_token" "refresh token introspected"
form_post "$INT" "token=$A&client_id=$CONF&client_secret=$CONF_SECRET"
is "$(resp_json .active)" false "a confidential client does not see another client's token"
grant "$CONF" "&client_secret=$CONF_SECRET"
form_post "$INT" "token=$A&client_id=$CONF&client_secret=$CONF_SECRET"
is "$(resp_json .active)" true "but sees its own"
form_post /oauth/token "grant_type=refresh_token&refresh_token=$R&client_id=$CONF&client_secret=$CONF_SECRET"
form_post "$INT" "token=$R&client_id=$CONF&client_secret=$CONF_SECRET"
is "$(resp_json .active)" false "a rotated refresh token is inactive"
for t in garbage "mga_$(printf 'A%.0s' {1..200})" mgr_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA; do
	introspect_rs "$t"
	is "$RESP_STATUS $RESP_BODY" '200 {"active":false}' "garbage ${t:0:10}: active false only"
done

leaked=
for s in rs-secret-0123456789 "$CONF_SECRET" "$A" "$R"; do
	grep -qF -- "$s" "$SRV_LOG" && leaked="$leaked ${s:0:8}"
done
is "$leaked" "" "no secret or token in the log"

# --- smoke through Apache: FastCGI, then plain CGI ------------------------------------
for mode in fcgi cgi; do
	if [ "$mode" = cgi ]; then start_apache --cgi; else start_apache; fi
	register '{"redirect_uris":["http://127.0.0.1/callback"],"grant_types":["authorization_code","refresh_token"]}'
	is "$RESP_STATUS" 201 "apache $mode: register"
	grant "$CLIENT_ID"
	like "$A" '^mga_' "apache $mode: code exchanged"
	form_post /oauth/token "grant_type=refresh_token&refresh_token=$R&client_id=$CLIENT_ID"
	is "$RESP_STATUS" 200 "apache $mode: refresh"
	R2=$(resp_json .refresh_token)
	form_post "$REV" "token=$R2&client_id=$CLIENT_ID"
	is "$RESP_STATUS" 200 "apache $mode: revoke"
	form_post /oauth/token "grant_type=refresh_token&refresh_token=$R2&client_id=$CLIENT_ID"
	is "$(resp_json .error)" invalid_grant "apache $mode: revoked token refused"
	register '{"redirect_uris":["http://127.0.0.1/callback"],"token_endpoint_auth_method":"client_secret_basic"}'
	code=$(mkcode "$CLIENT_ID" "$CB" "$CHALLENGE")
	form_post /oauth/token "grant_type=authorization_code&code=$code&redirect_uri=$(enc "$CB")&code_verifier=$VERIFIER" \
		-u "$CLIENT_ID:$CLIENT_SECRET"
	is "$RESP_STATUS" 200 "apache $mode: client_secret_basic (the Authorization header reaches the program)"
done

done_testing
