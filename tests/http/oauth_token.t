#!/usr/bin/env bash
# POST /oauth/token through lighttpd: the authorization_code grant (PKCE,
# bindings, replay), client authentication per registration, refresh
# rotation inside and outside the grace window, scope narrowing, every
# request error, secrets kept out of the log, and the rate limit.
# Codes come from tests/http/oauth_mkcode.c, which issues them exactly as
# the consent step does.
. "$(dirname "${BASH_SOURCE[0]}")/../lib/servers.sh"
. "$(dirname "${BASH_SOURCE[0]}")/oauth_lib.sh"

oauth_helper_build
chmod 0755 "$TEST_OUT"
start_lighttpd --conf-line "rate_limit_token = 0" --conf-line "rate_limit_register = 0" \
	--conf-line "refresh_grace = 2"
TOK=/oauth/token
RESOURCE=$SRV_PUBLIC_URL/mcp
CB=http://127.0.0.1:8123/callback

register "{\"client_name\":\"pub\",\"redirect_uris\":[\"http://127.0.0.1/callback\"],
  \"grant_types\":[\"authorization_code\",\"refresh_token\"]}"
PUB=$CLIENT_ID
register '{"redirect_uris":["https://app.example/cb"],"token_endpoint_auth_method":"client_secret_basic",
  "grant_types":["authorization_code","refresh_token"]}'
BASIC=$CLIENT_ID BASIC_SECRET=$CLIENT_SECRET
register '{"redirect_uris":["https://app.example/cb"],"token_endpoint_auth_method":"client_secret_post"}'
POST=$CLIENT_ID POST_SECRET=$CLIENT_SECRET
register '{"redirect_uris":["http://127.0.0.1/callback"]}'
NOREFRESH=$CLIENT_ID
[ -n "$PUB" ] && [ -n "$BASIC_SECRET" ] && [ -n "$POST_SECRET" ] && [ -n "$NOREFRESH" ]
ok $? "clients registered" || bail "registration failed: $RESP_BODY"

# code_grant CLIENT [extra form fields]: a fresh code for CLIENT, exchanged.
code_grant() {
	local client=$1 code
	shift
	code=$(mkcode "$client" "$CB" "$CHALLENGE")
	form_post "$TOK" "grant_type=authorization_code&code=$code&redirect_uri=$(enc "$CB")&code_verifier=$VERIFIER&client_id=$client$*"
}

refresh() { form_post "$TOK" "grant_type=refresh_token&refresh_token=$1&client_id=$PUB$2"; }

# --- methods, CORS, media type, size ----------------------------------------
hreq "$SRV_URL" OPTIONS "$TOK"
is "$RESP_STATUS $(resp_header Access-Control-Allow-Origin)" "204 *" "preflight"
like "$(resp_header Access-Control-Allow-Headers)" "Authorization" "preflight allows Authorization"
hreq "$SRV_URL" GET "$TOK?grant_type=authorization_code"
is "$RESP_STATUS" 405 "GET: 405"
hreq "$SRV_URL" POST "$TOK" -H 'Content-Type: application/json' --data-binary '{"grant_type":"refresh_token"}'
is "$RESP_STATUS $(resp_json .error)" "400 invalid_request" "JSON body refused"
form_post "$TOK" "grant_type=authorization_code&code=%zz"
is "$RESP_STATUS $(resp_json .error)" "400 invalid_request" "bad percent-escape"
form_post "$TOK" "grant_type=refresh_token&x=$(head -c 17000 /dev/zero | tr '\0' a)"
is "$RESP_STATUS" 413 "body over 16 KiB: 413"

# --- parameters -------------------------------------------------------------------
form_post "$TOK" "client_id=$PUB"
is "$RESP_STATUS $(resp_json .error)" "400 invalid_request" "missing grant_type"
like "$(resp_json .error_description)" "grant_type" "description names the parameter"
form_post "$TOK" "grant_type=password&username=a&password=b&client_id=$PUB"
is "$RESP_STATUS $(resp_json .error)" "400 unsupported_grant_type" "password grant"
form_post "$TOK" "grant_type=client_credentials&client_id=$PUB"
is "$(resp_json .error)" unsupported_grant_type "client_credentials grant"
form_post "$TOK" "grant_type=authorization_code&grant_type=refresh_token&client_id=$PUB"
is "$RESP_STATUS $(resp_json .error)" "400 invalid_request" "duplicate grant_type"
code=$(mkcode "$PUB" "$CB" "$CHALLENGE")
form_post "$TOK" "grant_type=authorization_code&code=$code&code=$code&redirect_uri=$(enc "$CB")&code_verifier=$VERIFIER&client_id=$PUB"
is "$RESP_STATUS $(resp_json .error)" "400 invalid_request" "duplicate code"
form_post "$TOK" "grant_type=authorization_code&code=$code&redirect_uri=$(enc "$CB")&client_id=$PUB"
is "$RESP_STATUS $(resp_json .error)" "400 invalid_request" "missing code_verifier"
form_post "$TOK" "grant_type=authorization_code&code=$code&code_verifier=$VERIFIER&client_id=$PUB"
is "$RESP_STATUS $(resp_json .error)" "400 invalid_request" "missing redirect_uri"
form_post "$TOK" "grant_type=authorization_code&code=$code&redirect_uri=$(enc "$CB")&code_verifier=short&client_id=$PUB"
is "$RESP_STATUS $(resp_json .error)" "400 invalid_request" "malformed code_verifier"
form_post "$TOK" "grant_type=authorization_code&code=$code&redirect_uri=$(enc "$CB")&code_verifier=$VERIFIER&client_id=$PUB&resource=$(enc https://other.example/mcp)"
is "$RESP_STATUS $(resp_json .error)" "400 invalid_target" "foreign resource: invalid_target"

# --- authorization_code, public client ---------------------------------------------
form_post "$TOK" "grant_type=authorization_code&code=$code&redirect_uri=$(enc "$CB")&code_verifier=$VERIFIER&client_id=$PUB&resource=$(enc "$RESOURCE")"
is "$RESP_STATUS" 200 "code exchanged (the earlier refusals did not consume it)"
is "$(resp_header Cache-Control)" no-store "Cache-Control: no-store"
is "$(resp_header Pragma)" no-cache "Pragma: no-cache"
is "$(resp_header Access-Control-Allow-Origin)" "*" "CORS on the answer"
is "$(resp_json .token_type)" Bearer "token_type Bearer"
like "$(resp_json .access_token)" '^mga_[A-Za-z0-9_-]+$' "access token"
like "$(resp_json .refresh_token)" '^mgr_[A-Za-z0-9_-]{43}$' "refresh token"
is "$(resp_json .expires_in)" 3600 "expires_in"
is "$(resp_json .scope)" "snippets:read snippets:write" "scope"
A1=$(resp_json .access_token) R1=$(resp_json .refresh_token)

form_post "$TOK" "grant_type=authorization_code&code=$code&redirect_uri=$(enc "$CB")&code_verifier=$VERIFIER&client_id=$PUB"
is "$RESP_STATUS $(resp_json .error)" "400 invalid_grant" "replayed code: invalid_grant"
refresh "$R1"
is "$RESP_STATUS $(resp_json .error)" "400 invalid_grant" "replay revoked the grant the code gave"
grep -q 'code replayed' "$SRV_LOG"
ok $? "replay logged"

code_grant "$PUB" "&resource=$(enc "${RESOURCE/http:/HTTP:}")"
is "$RESP_STATUS" 200 "resource with an uppercase scheme accepted (RFC 8707 canonical form)"

code=$(mkcode "$PUB" "$CB" "$CHALLENGE")
form_post "$TOK" "grant_type=authorization_code&code=$code&redirect_uri=$(enc "$CB")&code_verifier=${VERIFIER%?}A&client_id=$PUB"
is "$RESP_STATUS $(resp_json .error)" "400 invalid_grant" "wrong code_verifier"
form_post "$TOK" "grant_type=authorization_code&code=$code&redirect_uri=$(enc "$CB")&code_verifier=$VERIFIER&client_id=$PUB"
is "$RESP_STATUS $(resp_json .error)" "400 invalid_grant" "a code is burnt by a failed attempt"
code=$(mkcode "$PUB" "$CB" "$CHALLENGE")
form_post "$TOK" "grant_type=authorization_code&code=$code&redirect_uri=$(enc http://127.0.0.1:8124/callback)&code_verifier=$VERIFIER&client_id=$PUB"
is "$RESP_STATUS $(resp_json .error)" "400 invalid_grant" "wrong redirect_uri"
code=$(mkcode "$PUB" "$CB" "$CHALLENGE")
form_post "$TOK" "grant_type=authorization_code&code=$code&redirect_uri=$(enc "$CB")&code_verifier=$VERIFIER&client_id=$NOREFRESH"
is "$RESP_STATUS $(resp_json .error)" "400 invalid_grant" "code of another client"
code=$(mkcode "$PUB" "$CB" "$CHALLENGE" "" local:alice https://other.example/mcp)
form_post "$TOK" "grant_type=authorization_code&code=$code&redirect_uri=$(enc "$CB")&code_verifier=$VERIFIER&client_id=$PUB"
is "$RESP_STATUS $(resp_json .error)" "400 invalid_grant" "code bound to another resource"
form_post "$TOK" "grant_type=authorization_code&code=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA&redirect_uri=$(enc "$CB")&code_verifier=$VERIFIER&client_id=$PUB"
is "$RESP_STATUS $(resp_json .error)" "400 invalid_grant" "unknown code"
form_post "$TOK" "grant_type=authorization_code&code=not-a-code!&redirect_uri=$(enc "$CB")&code_verifier=$VERIFIER&client_id=$PUB"
is "$RESP_STATUS $(resp_json .error)" "400 invalid_request" "malformed code"

# --- client authentication -----------------------------------------------------------
code=$(mkcode "$BASIC" https://app.example/cb "$CHALLENGE")
body="grant_type=authorization_code&code=$code&redirect_uri=$(enc https://app.example/cb)&code_verifier=$VERIFIER"
form_post "$TOK" "$body" -u "$BASIC:wrong"
is "$RESP_STATUS $(resp_json .error)" "401 invalid_client" "basic, wrong secret: 401"
like "$(resp_header WWW-Authenticate)" '^Basic' "401 carries WWW-Authenticate: Basic"
form_post "$TOK" "$body&client_id=$BASIC"
is "$RESP_STATUS $(resp_json .error)" "401 invalid_client" "basic client without its secret"
form_post "$TOK" "$body&client_id=$BASIC&client_secret=$BASIC_SECRET"
is "$RESP_STATUS $(resp_json .error)" "401 invalid_client" "basic client using client_secret_post"
form_post "$TOK" "$body&client_secret=$BASIC_SECRET" -u "$BASIC:$BASIC_SECRET"
is "$RESP_STATUS $(resp_json .error)" "400 invalid_request" "two authentication methods"
form_post "$TOK" "$body" -H 'Authorization: Basic !!!'
is "$RESP_STATUS $(resp_json .error)" "401 invalid_client" "garbled Basic header"
form_post "$TOK" "$body" -u "nobody:x"
is "$RESP_STATUS $(resp_json .error)" "401 invalid_client" "unknown client"
form_post "$TOK" "$body" -u "$BASIC:$BASIC_SECRET"
is "$RESP_STATUS" 200 "client_secret_basic: tokens (failed auth did not burn the code)"
BASIC_R=$(resp_json .refresh_token)
code=$(mkcode "$POST" https://app.example/cb "$CHALLENGE")
form_post "$TOK" "grant_type=authorization_code&code=$code&redirect_uri=$(enc https://app.example/cb)&code_verifier=$VERIFIER&client_id=$POST&client_secret=$POST_SECRET"
is "$RESP_STATUS" 200 "client_secret_post: tokens"
is "$(resp_json '.refresh_token // "none"')" none "no refresh token for a client without the grant"
form_post "$TOK" "grant_type=refresh_token&refresh_token=$BASIC_R&client_id=$POST&client_secret=$POST_SECRET"
is "$RESP_STATUS $(resp_json .error)" "400 unauthorized_client" "refresh by a client without that grant"
form_post "$TOK" "grant_type=refresh_token&refresh_token=$BASIC_R&client_id=$PUB"
is "$RESP_STATUS $(resp_json .error)" "400 invalid_grant" "refresh token of another client"
form_post "$TOK" "grant_type=refresh_token&refresh_token=$BASIC_R" -u "$BASIC:$BASIC_SECRET"
is "$RESP_STATUS" 200 "its own client may still use it"

# --- refresh rotation ----------------------------------------------------------------
code_grant "$PUB"
R1=$(resp_json .refresh_token)
refresh "$R1"
is "$RESP_STATUS" 200 "refresh: 200"
A2=$(resp_json .access_token) R2=$(resp_json .refresh_token)
[ "$R2" != "$R1" ] && [ -n "$R2" ]
ok $? "refresh token rotated"
refresh "$R1"
is "$RESP_STATUS" 200 "retry of the rotated token inside the grace window"
is "$(resp_json .access_token) $(resp_json .refresh_token)" "$A2 $R2" "same pair returned"
refresh "$R2" "&scope=snippets:read"
is "$RESP_STATUS $(resp_json .scope)" "200 snippets:read" "scope narrowed"
R3=$(resp_json .refresh_token)
refresh "$R3" "&scope=snippets:read%20snippets:write"
is "$RESP_STATUS $(resp_json .scope)" "200 snippets:read snippets:write" \
	"the grant's scope is kept: a narrowed token does not shrink it"
R4=$(resp_json .refresh_token)
refresh "$R4" "&scope=admin"
is "$RESP_STATUS $(resp_json .error)" "400 invalid_scope" "unknown scope"
refresh "$R4" "&resource=$(enc https://other.example/mcp)"
is "$RESP_STATUS $(resp_json .error)" "400 invalid_target" "foreign resource on refresh"
sleep 3
refresh "$R3"
is "$RESP_STATUS $(resp_json .error)" "400 invalid_grant" "rotated token reused outside the grace window"
refresh "$R4"
is "$RESP_STATUS $(resp_json .error)" "400 invalid_grant" "the whole grant was revoked"
grep -q 'rotated refresh token reused' "$SRV_LOG"
ok $? "reuse logged"

code=$(mkcode "$PUB" "$CB" "$CHALLENGE" snippets:read)
form_post "$TOK" "grant_type=authorization_code&code=$code&redirect_uri=$(enc "$CB")&code_verifier=$VERIFIER&client_id=$PUB"
R=$(resp_json .refresh_token)
is "$(resp_json .scope)" snippets:read "read-only grant"
refresh "$R" "&scope=snippets:write"
is "$RESP_STATUS $(resp_json .error)" "400 invalid_scope" "scope may not widen"
refresh "mgr_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
is "$RESP_STATUS $(resp_json .error)" "400 invalid_grant" "unknown refresh token"
refresh "$A1"
is "$RESP_STATUS $(resp_json .error)" "400 invalid_request" "access token as refresh token"
form_post "$TOK" "grant_type=refresh_token&client_id=$PUB"
is "$RESP_STATUS $(resp_json .error)" "400 invalid_request" "missing refresh_token"

# --- the log -------------------------------------------------------------------------
leaked=
for s in "$BASIC_SECRET" "$POST_SECRET" "$R1" "$R2" "$A1" "$A2" "$code" "$VERIFIER"; do
	grep -qF -- "$s" "$SRV_LOG" && leaked="$leaked ${s:0:8}"
done
is "$leaked" "" "no secret, token, code or verifier in the log"
refusals=$(grep -c 'token request refused' "$SRV_LOG")
[ "$refusals" -ge 25 ]
ok $? "refusals logged ($refusals lines)"

# --- rate limit ------------------------------------------------------------------
start_lighttpd --conf-line "rate_limit_token = 3" --conf-line "rate_limit_window = 3600"
codes=
for i in 1 2 3 4 5; do
	form_post "$TOK" "grant_type=refresh_token&refresh_token=x&client_id=y"
	codes="$codes $RESP_STATUS"
done
is "$codes" " 401 401 401 429 429" "rate limit: three pass, then 429"
like "$(resp_header Retry-After)" '^[0-9]+$' "Retry-After"
is "$(grep -c 'rate limited' "$SRV_LOG")" 1 "one log line"

done_testing
