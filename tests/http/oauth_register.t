#!/usr/bin/env bash
# POST /oauth/register (RFC 7591) through lighttpd: public and confidential
# clients, CORS, every refusal (method, media type, size, JSON, metadata,
# hostile redirect URIs), secrets stored only hashed, and the rate limit.
. "$(dirname "${BASH_SOURCE[0]}")/../lib/servers.sh"
. "$(dirname "${BASH_SOURCE[0]}")/oauth_lib.sh"

start_lighttpd --conf-line "rate_limit_register = 0"
REG=${SRV_PUBLIC_URL#"$SRV_URL"}/oauth/register

post_json() {
	hreq "$SRV_URL" POST "$REG" -H 'Content-Type: application/json' --data-binary "$1"
}

# refused JSON ERROR DESC: a 400 with the RFC 7591 error code.
refused() {
	post_json "$1"
	is "$RESP_STATUS $(resp_json .error)" "400 $2" "$3"
}

# --- CORS and methods ----------------------------------------------------------
hreq "$SRV_URL" OPTIONS "$REG" -H 'Origin: https://inspector.example' \
	-H 'Access-Control-Request-Method: POST'
is "$RESP_STATUS" 204 "preflight: 204"
is "$(resp_header Access-Control-Allow-Origin)" "*" "preflight: any origin"
like "$(resp_header Access-Control-Allow-Methods)" "POST" "preflight: POST allowed"
like "$(resp_header Access-Control-Allow-Headers)" "Content-Type" "preflight: Content-Type allowed"

hreq "$SRV_URL" GET "$REG"
is "$RESP_STATUS" 405 "GET: 405"
like "$(resp_header Allow)" "POST" "405 names POST in Allow"

# --- a public client ---------------------------------------------------------
post_json '{"client_name":"Inspector","redirect_uris":["http://127.0.0.1:6274/oauth/callback"],
  "grant_types":["authorization_code","refresh_token"],"response_types":["code"],
  "token_endpoint_auth_method":"none","scope":"snippets:read snippets:write",
  "logo_uri":"https://x.example/logo.png","software_id":"abc"}'
is "$RESP_STATUS" 201 "public client: 201"
like "$(resp_header Content-Type)" "^application/json" "JSON answer"
is "$(resp_header Cache-Control)" "no-store" "Cache-Control: no-store"
is "$(resp_header Access-Control-Allow-Origin)" "*" "CORS on the answer"
like "$(resp_json .client_id)" '^[A-Za-z0-9_-]{22}$' "random client_id"
like "$(resp_json .client_id_issued_at)" '^[0-9]{10}$' "client_id_issued_at"
is "$(resp_json '.client_secret // "none"')" none "no secret for a public client"
is "$(resp_json .token_endpoint_auth_method)" none "auth method none"
is "$(resp_json '.redirect_uris|join(" ")')" "http://127.0.0.1:6274/oauth/callback" "redirect_uris echoed"
is "$(resp_json '.grant_types|join(" ")')" "authorization_code refresh_token" "grant_types echoed"
is "$(resp_json '.response_types|join(" ")')" "code" "response_types"
is "$(resp_json .client_name)" Inspector "client_name"
is "$(resp_json .scope)" "snippets:read snippets:write" "scope"
is "$(resp_json '.logo_uri // "dropped"')" dropped "metadata we do not keep is not echoed"
PUB=$(resp_json .client_id)

post_json '{"redirect_uris":["https://app.example/cb"]}'
is "$RESP_STATUS $(resp_json .token_endpoint_auth_method) $(resp_json '.grant_types|join(",")')" \
	"201 none authorization_code" "defaults: none, authorization_code (RFC 7591 §2)"
[ "$(resp_json .client_id)" != "$PUB" ]
ok $? "each registration gets a new client_id"

post_json '{"redirect_uris":["com.example.app:/oauth2redirect","http://[::1]/cb","http://localhost/cb"]}'
is "$RESP_STATUS" 201 "private-use scheme and loopback hosts accepted"

# --- confidential clients ------------------------------------------------------
for m in client_secret_basic client_secret_post; do
	post_json "{\"redirect_uris\":[\"https://app.example/cb\"],\"token_endpoint_auth_method\":\"$m\"}"
	is "$RESP_STATUS $(resp_json .token_endpoint_auth_method)" "201 $m" "$m client: 201"
	like "$(resp_json .client_secret)" '^[A-Za-z0-9_-]{43}$' "$m: client_secret returned"
	is "$(resp_json .client_secret_expires_at)" 0 "$m: client_secret_expires_at 0"
	SECRET=$(resp_json .client_secret)
	grep -qaF "$SECRET" "$SRV_DIR/state/mcpgate.db"
	ok $((!$?)) "$m: the secret is not in the store in clear"
	grep -qF "$SECRET" "$SRV_LOG"
	ok $((!$?)) "$m: the secret is not in the log"
done

# --- request refusals -------------------------------------------------------
hreq "$SRV_URL" POST "$REG" -H 'Content-Type: application/x-www-form-urlencoded' \
	--data-binary 'redirect_uris=https://app.example/cb'
is "$RESP_STATUS $(resp_json .error)" "400 invalid_client_metadata" "form body refused"
hreq "$SRV_URL" POST "$REG" --data-binary '{"redirect_uris":["https://app.example/cb"]}' \
	-H 'Content-Type:'
is "$RESP_STATUS" 400 "no Content-Type refused"
hreq "$SRV_URL" POST "$REG" -H 'Content-Type: application/json; charset=utf-8' \
	--data-binary '{"redirect_uris":["https://app.example/cb"]}'
is "$RESP_STATUS" 201 "application/json with a charset parameter accepted"

big=$(head -c 70000 /dev/zero | tr '\0' ' ')
post_json "{\"redirect_uris\":[\"https://app.example/cb\"],\"client_name\":\"x\"$big}"
is "$RESP_STATUS" 413 "body over 64 KiB: 413"
post_json "{\"redirect_uris\":[\"https://app.example/cb\"]$(head -c 60000 /dev/zero | tr '\0' ' ')}"
is "$RESP_STATUS" 201 "body just under 64 KiB accepted"

refused '{"redirect_uris":["https://app.example/cb"]' invalid_client_metadata "truncated JSON"
refused '{"redirect_uris":["https://app.example/cb"]} x' invalid_client_metadata "trailing garbage"
refused '{"redirect_uris":["https://app.example/cb"]}{}' invalid_client_metadata "two JSON values"
refused "{'redirect_uris':['https://app.example/cb']}" invalid_client_metadata "single quotes"
refused '[{"redirect_uris":["https://app.example/cb"]}]' invalid_client_metadata "JSON array"
refused '"hello"' invalid_client_metadata "JSON string"
refused '' invalid_client_metadata "empty body"
refused $'{"redirect_uris":["https://app.example/cb"],"client_name":"\xff\xfe"}' \
	invalid_client_metadata "invalid UTF-8"
refused '{"a":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}' \
	invalid_client_metadata "deep nesting"

refused '{}' invalid_redirect_uri "redirect_uris missing"
refused '{"redirect_uris":[]}' invalid_redirect_uri "redirect_uris empty"
refused '{"redirect_uris":"https://app.example/cb"}' invalid_redirect_uri "redirect_uris not an array"
for uri in 'javascript:alert(1)' 'JAVASCRIPT:alert(1)' 'data:text/html,<script>x</script>' \
	'file:///etc/passwd' 'https://app.example/cb#frag' 'https://user:pw@app.example/cb' \
	'https://app.example@evil.example/cb' 'http://app.example/cb' 'http://evil.example/cb' \
	'HTTPS://app.example/cb' 'http://127.0.0.1.evil.example/cb' 'https://app.example/c b' \
	'https://b\u00fccher.example/cb' 'https://app.example/cb\u0000' '/relative/cb' \
	'https://app.example\\@evil.example/' 'vbscript:x' 'about:blank'; do
	refused "{\"redirect_uris\":[\"$uri\"]}" invalid_redirect_uri "hostile redirect URI: $uri"
done
refused '{"redirect_uris":["https://app.example/cb","javascript:alert(1)"]}' invalid_redirect_uri \
	"one bad URI among good ones"
logged=$(grep -c 'registration refused' "$SRV_LOG")
[ "$logged" -ge 20 ]
ok $? "each refusal logged ($logged lines)"
grep -q 'alert(1)' "$SRV_LOG"
ok $((!$?)) "refusal lines do not echo the hostile input"

refused '{"redirect_uris":["https://app.example/cb"],"token_endpoint_auth_method":"private_key_jwt"}' \
	invalid_client_metadata "unsupported auth method"
refused '{"redirect_uris":["https://app.example/cb"],"grant_types":["implicit"]}' \
	invalid_client_metadata "implicit grant"
refused '{"redirect_uris":["https://app.example/cb"],"grant_types":["client_credentials"]}' \
	invalid_client_metadata "client_credentials grant"
refused '{"redirect_uris":["https://app.example/cb"],"response_types":["token"]}' \
	invalid_client_metadata "token response type"
refused '{"redirect_uris":["https://app.example/cb"],"scope":"admin"}' \
	invalid_client_metadata "unknown scope"
refused '{"redirect_uris":["https://app.example/cb"],"client_name":7}' \
	invalid_client_metadata "client_name not a string"
refused "{\"redirect_uris\":[\"https://app.example/cb\"],\"client_name\":\"$(head -c 300 /dev/zero | tr '\0' a)\"}" \
	invalid_client_metadata "client_name too long"
refused '{"redirect_uris":["https://app.example/cb"],"client_uri":"javascript:alert(1)"}' \
	invalid_client_metadata "client_uri javascript:"

# --- rate limit ----------------------------------------------------------------
start_lighttpd --conf-line "rate_limit_register = 3" --conf-line "rate_limit_window = 3600"
REG=${SRV_PUBLIC_URL#"$SRV_URL"}/oauth/register
codes=
for i in 1 2 3 4 5; do
	post_json '{"redirect_uris":["https://app.example/cb"]}'
	codes="$codes $RESP_STATUS"
done
is "$codes" " 201 201 201 429 429" "rate limit: three pass, then 429"
like "$(resp_header Retry-After)" '^[0-9]+$' "429 carries Retry-After"
is "$(resp_json .error)" temporarily_unavailable "429 body is an OAuth error"
is "$(resp_header Access-Control-Allow-Origin)" "*" "429 readable cross-origin"
is "$(grep -c 'rate limited' "$SRV_LOG")" 1 "one log line for the limited client"

done_testing
