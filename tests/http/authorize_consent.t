#!/usr/bin/env bash
# The consent page and the whole browser leg of the authorization code flow
# with identity = remote-user, driven by curl through lighttpd (and a smoke
# run through Apache):
#   authorize -> consent page -> Approve -> code -> token endpoint;
#   Deny; CSRF and Origin failures; replays; the remembered approval (signed
#   __Host- cookie): skip, forged, other user, other client, wider scope.
. "$(dirname "${BASH_SOURCE[0]}")/../lib/servers.sh"
. "$(dirname "${BASH_SOURCE[0]}")/authorize_lib.sh"

# --- fixtures ---------------------------------------------------------------
clients=$TEST_OUT/clients.json
cat >"$clients" <<'EOF'
[{"client_id": "app", "client_name": "Test App", "client_uri": "https://app.example/",
  "redirect_uris": ["https://app.example/cb", "http://127.0.0.1/cb"],
  "token_endpoint_auth_method": "none"},
 {"client_id": "other", "client_name": "Other App",
  "redirect_uris": ["http://127.0.0.1/cb"], "token_endpoint_auth_method": "none"},
 {"client_id": "long", "redirect_uris": ["https://app.example/cb?LONGX"],
  "token_endpoint_auth_method": "none"},
 {"client_id": "hostile",
  "client_name": "<script>alert(1)</script><img src=x onerror=alert(2)> \"Trusted\" & Co",
  "redirect_uris": ["https://hostile.example/cb"], "token_endpoint_auth_method": "none"}]
EOF
htpasswd=$TEST_OUT/htpasswd
printf '%s\n' 'pw-alice' | htpasswd -iBc "$htpasswd" alice 2>/dev/null
printf '%s\n' 'pw-bob' | htpasswd -iB "$htpasswd" bob 2>/dev/null
sed -i "s/LONGX/$(printf 'x%.0s' {1..1000})/" "$clients"
chmod 0644 "$clients" "$htpasswd"
chmod 0755 "$TEST_OUT"

ALICE=(-u alice:pw-alice)
BOB=(-u bob:pw-bob)

# refused DESC: an error page, no redirect, no cookie.
refused() {
	like "$RESP_STATUS" '^4[0-9][0-9]$' "$1: refused"
	is "$(resp_header Location)" "" "$1: no redirect"
	is "$(resp_header Set-Cookie)" "" "$1: no cookie"
}

start_lighttpd --htpasswd "$htpasswd" --conf-line "static_clients_file = $clients" \
	--conf-line "rate_limit_authorize = 0" --conf-line "consent_ttl = 3600" \
	--conf-line "server_name = Acme Snippets"
server_vars

# --- the page -----------------------------------------------------------------
start_txn "${ALICE[@]}"
like "$LOC" "^$SRV_PUBLIC_URL/oauth/consent\\?txn=[A-Za-z0-9_-]{43}$" "authorize sends the browser to consent"
is "$RESP_STATUS" 200 "consent page: 200"
like "$(resp_header Content-Type)" '^text/html' "consent page: HTML"
csp=$(resp_header Content-Security-Policy)
like "$csp" "frame-ancestors 'none'" "CSP: frame-ancestors 'none'"
like "$csp" "default-src 'none'" "CSP: default-src 'none'"
unlike "$csp" "unsafe-inline|script-src" "CSP: no inline script, no script at all"
is "$(resp_header X-Frame-Options)" DENY "X-Frame-Options: DENY"
is "$(resp_header Cache-Control)" no-store "Cache-Control: no-store"
is "$(resp_header Referrer-Policy)" no-referrer "Referrer-Policy: no-referrer"
unlike "$RESP_BODY" '<script' "no script element"
like "$RESP_BODY" '<h1>Test App wants to access your Acme Snippets account</h1>' "names the client"
like "$RESP_BODY" '<div class="host">127\.0\.0\.1</div>' "redirect host shown"
like "$RESP_BODY" 'class="warn"' "loopback warning"
like "$RESP_BODY" 'Read your saved snippets' "scope in plain words (read)"
like "$RESP_BODY" 'Create, change and delete your snippets' "scope in plain words (write)"
like "$RESP_BODY" 'Signed in as <strong>alice</strong>' "signed-in user"
like "$RESP_BODY" 'https://app\.example/' "client_uri shown"
like "$RESP_BODY" '<code>app</code>' "client_id shown"
like "$CSRF" '^[A-Za-z0-9_-]{43}$' "CSRF token in the form"
first_csrf=$CSRF
hreq "$SRV_URL" GET "/oauth/consent?txn=$TXN" "${ALICE[@]}"
like "$RESP_BODY" "name=\"csrf\" value=\"$first_csrf\"" "CSRF token stable across reloads"

hreq "$SRV_URL" GET "/oauth/consent?txn=$TXN" "${BOB[@]}"
is "$RESP_STATUS" 403 "another user cannot see alice's request"
# lighttpd.conf caches login checks (auth.cache): a password that passed
# must not let another one pass for the same user.
hreq "$SRV_URL" GET "/oauth/consent?txn=$TXN" -u alice:pw-alicf
is "$RESP_STATUS" 401 "login cache: a wrong password after the right one is refused"
for q in '' 'txn=' 'txn=short' "txn=${TXN}x" "txn=$TXN&txn=$TXN" \
	'txn=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' 'txn=%zz'; do
	hreq "$SRV_URL" GET "/oauth/consent?$q" "${ALICE[@]}"
	is "$RESP_STATUS" 400 "consent with '$q': 400"
	like "$(resp_header Content-Type)" '^text/html' "consent with '$q': HTML page"
done
hreq "$SRV_URL" PUT "/oauth/consent?txn=$TXN" "${ALICE[@]}" --data x
is "$RESP_STATUS" 405 "PUT is 405"

CLIENT=hostile REDIRECT=https://hostile.example/cb start_txn "${ALICE[@]}"
is "$RESP_STATUS" 200 "hostile client: page shown"
unlike "$RESP_BODY" '<script|<img' "hostile client_name: no markup"
like "$RESP_BODY" '&lt;script&gt;alert\(1\)&lt;/script&gt;&lt;img src=x onerror=alert\(2\)&gt; &quot;Trusted&quot; &amp; Co' \
	"hostile client_name: shown as text"
unlike "$RESP_BODY" 'class="warn"' "no loopback warning for a web host"

# --- CSRF and Origin --------------------------------------------------------
start_txn "${ALICE[@]}"
good="txn=$TXN&csrf=$CSRF&action=approve"
consent_post "txn=$TXN&action=approve" "${ALICE[@]}"
refused "POST without CSRF token"
consent_post "txn=$TXN&csrf=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA&action=approve" "${ALICE[@]}"
refused "POST with a forged CSRF token"
is "$RESP_STATUS" 403 "forged CSRF token: 403"
consent_post "txn=$TXN&csrf=$first_csrf&action=approve" "${ALICE[@]}"
refused "POST with another transaction's CSRF token"
consent_post "$good&csrf=$CSRF" "${ALICE[@]}"
refused "POST with the CSRF token twice"
consent_post "$good&action=deny" "${ALICE[@]}"
refused "POST with two actions"
consent_post "txn=$TXN&csrf=$CSRF&action=maybe" "${ALICE[@]}"
refused "POST with an unknown action"
hreq "$SRV_URL" POST /oauth/consent --data-raw "$good" -H 'Origin: https://evil.example' "${ALICE[@]}"
refused "POST from another origin"
is "$RESP_STATUS" 403 "another origin: 403"
hreq "$SRV_URL" POST /oauth/consent --data-raw "$good" -H 'Sec-Fetch-Site: cross-site' "${ALICE[@]}"
refused "POST marked cross-site"
hreq "$SRV_URL" POST /oauth/consent --data-raw "$good" -H 'Origin: null' "${ALICE[@]}"
refused "POST with Origin null and no Sec-Fetch-Site"
hreq "$SRV_URL" POST /oauth/consent --data-raw "$good" -H "Origin: $SRV_URL" \
	-H 'Sec-Fetch-Site: same-site' "${ALICE[@]}"
refused "POST marked same-site (not same-origin)"
consent_post "$good" -H 'Content-Type: text/plain' "${ALICE[@]}"
refused "POST as text/plain"
is "$RESP_STATUS" 415 "text/plain: 415"
consent_post "$good&pad=$(printf 'x%.0s' {1..5000})" "${ALICE[@]}"
refused "POST over 4 KiB"
like "$(cat "$SRV_LOG")" 'cross-origin post refused' "Origin refusals logged"
like "$(cat "$SRV_LOG")" 'bad CSRF token' "CSRF refusals logged"

# --- Approve (after all those refusals, the request still stands) ------------
hreq "$SRV_URL" POST /oauth/consent --data-raw "$good" -H "Origin: $SRV_URL" \
	-H 'Sec-Fetch-Site: same-origin' "${ALICE[@]}"
is "$RESP_STATUS" 303 "Approve: 303"
loc=$(resp_header Location)
[[ $loc == "$REDIRECT?"* ]]
ok $? "Approve: to the redirect URI"
code=$(loc_param code "$loc")
like "$code" '^[A-Za-z0-9_-]{43}$' "Approve: a code"
is "$(loc_param state "$loc")" "$STATE" "Approve: state"
is "$(loc_param iss "$loc")" "$ISS" "Approve: iss"
setc=$(resp_header Set-Cookie)
like "$setc" '^__Host-mcpgate-consent-[A-Za-z0-9_-]+=[0-9]+\.3\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}; ' \
	"consent cookie set, naming its consent record"
like "$setc" '; Secure(;|$)' "cookie: Secure"
like "$setc" '; HttpOnly(;|$)' "cookie: HttpOnly"
like "$setc" '; SameSite=Lax(;|$)' "cookie: SameSite=Lax"
like "$setc" '; Path=/(;|$)' "cookie: Path=/"
like "$setc" '; Max-Age=3600(;|$)' "cookie: Max-Age = consent_ttl"
unlike "$setc" '[Dd]omain=' "cookie: no Domain (__Host-)"
consent_cookie=$(cookie_of)
hreq "$SRV_URL" POST /oauth/consent --data-raw "$good" -H "Origin: $SRV_URL" "${ALICE[@]}"
refused "replayed Approve"
hreq "$SRV_URL" GET "/oauth/consent?txn=$TXN" "${ALICE[@]}"
is "$RESP_STATUS" 400 "consent page of an answered request: 400"

token "$code" "$REDIRECT" app
is "$RESP_STATUS" 200 "the code redeems at the token endpoint"
like "$(resp_json .access_token)" '^mga_' "an access token"
like "$(resp_json .scope)" 'snippets:read' "with the approved scope"
token "$code" "$REDIRECT" app
is "$RESP_STATUS" 400 "the code is single use"

# --- the remembered approval -----------------------------------------------------
q_again=$(authz_query app http://127.0.0.1:6666/cb st-2 'snippets:read')
hreq "$SRV_URL" GET "/oauth/authorize?$q_again" "${ALICE[@]}" -H "Cookie: a=b; $consent_cookie; c=d"
is "$RESP_STATUS" 302 "approved client again: 302"
loc=$(resp_header Location)
[[ $loc == "http://127.0.0.1:6666/cb?"* ]]
ok $? "skips the page, straight back (any loopback port)"
code=$(loc_param code "$loc")
like "$code" '^[A-Za-z0-9_-]{43}$' "skip path: a code"
is "$(loc_param state "$loc")" st-2 "skip path: state"
is "$(loc_param iss "$loc")" "$ISS" "skip path: iss"
token "$code" http://127.0.0.1:6666/cb app
is "$RESP_STATUS" 200 "skip path: the code redeems"

hreq "$SRV_URL" GET "/oauth/authorize?$q_again&prompt=consent" "${ALICE[@]}" -H "Cookie: $consent_cookie"
like "$(resp_header Location)" '/oauth/consent\?txn=' "prompt=consent: the page even when remembered"
hreq "$SRV_URL" GET "/oauth/authorize?$q_again&prompt=select_account%20login" "${ALICE[@]}" \
	-H "Cookie: $consent_cookie"
like "$(resp_header Location)" '/oauth/consent\?txn=' "prompt=login: the page too"

bad=${consent_cookie%?}
[ "${consent_cookie: -1}" = A ] && bad=${bad}B || bad=${bad}A
for c in "$bad" "${consent_cookie%%=*}=" "${consent_cookie%%.*}9.3.${consent_cookie##*.}" \
	"${consent_cookie/.3./.7.}" "${consent_cookie}x"; do
	hreq "$SRV_URL" GET "/oauth/authorize?$q_again" "${ALICE[@]}" -H "Cookie: $c"
	like "$(resp_header Location)" '/oauth/consent\?txn=' "tampered cookie ${c:0:50}...: consent page again"
done
hreq "$SRV_URL" GET "/oauth/authorize?$q_again" "${BOB[@]}" -H "Cookie: $consent_cookie"
like "$(resp_header Location)" '/oauth/consent\?txn=' "another user with alice's cookie: consent page"
hreq "$SRV_URL" GET "/oauth/authorize?$(authz_query other http://127.0.0.1:6666/cb st-3 snippets:read)" \
	"${ALICE[@]}" -H "Cookie: $consent_cookie"
like "$(resp_header Location)" '/oauth/consent\?txn=' "another client: consent page"
hreq "$SRV_URL" GET "/oauth/authorize?$(authz_query app http://127.0.0.1:6666/cb2 st-3 snippets:read)" \
	"${ALICE[@]}" -H "Cookie: $consent_cookie"
is "$RESP_STATUS" 400 "unregistered redirect path with a good cookie: refused"
is "$(resp_header Location)" "" "unregistered redirect path with a good cookie: no redirect"
hreq "$SRV_URL" GET "/oauth/authorize?$(authz_query app https://app.example/cb st-3 snippets:read)" \
	"${ALICE[@]}" -H "Cookie: $consent_cookie"
like "$(resp_header Location)" '/oauth/consent\?txn=' "another registered redirect URI: consent page"

# Finding 2: the server-side record decides too; revoking it (mcpgate-admin)
# retires the cookie, and approving again does not bring the old cookie back.
ADMIN=$MCPGATE_ROOT/build/bin/mcpgate-admin
out=$("$ADMIN" -c "$SRV_CONF" consents list local:alice 2>&1)
like "$out" '^app.http://127\.0\.0\.1/cb.scope=3' "admin: alice's consent listed"
is "$("$ADMIN" -c "$SRV_CONF" consents revoke local:alice 2>&1)" "1 consent revoked" \
	"admin: revoke all of alice's consents"
hreq "$SRV_URL" GET "/oauth/authorize?$q_again" "${ALICE[@]}" -H "Cookie: $consent_cookie"
like "$(resp_header Location)" '/oauth/consent\?txn=' "revoked: the cookie no longer skips the page"
TXN=$(loc_param txn "$(resp_header Location)")
hreq "$SRV_URL" GET "/oauth/consent?txn=$TXN" "${ALICE[@]}"
CSRF=$(printf '%s' "$RESP_BODY" | sed -n 's/.*name="csrf" value="\([^"]*\)".*/\1/p')
consent_post "txn=$TXN&csrf=$CSRF&action=approve" "${ALICE[@]}"
is "$RESP_STATUS" 303 "approved again"
new_cookie=$(cookie_of)
hreq "$SRV_URL" GET "/oauth/authorize?$q_again" "${ALICE[@]}" -H "Cookie: $consent_cookie"
like "$(resp_header Location)" '/oauth/consent\?txn=' "the cookie from before the revocation stays dead"
hreq "$SRV_URL" GET "/oauth/authorize?$q_again" "${ALICE[@]}" -H "Cookie: $new_cookie"
like "$(resp_header Location)" '^http://127\.0\.0\.1:6666/cb\?code=' "the new approval skips the page"
consent_cookie=$new_cookie

# Finding 1: a 1000-byte redirect URI still gets its consent recorded.
long_cb="https://app.example/cb?$(printf 'x%.0s' {1..1000})"
hreq "$SRV_URL" GET "/oauth/authorize?$(authz_query long "$long_cb" st-l snippets:read)" "${ALICE[@]}"
TXN=$(loc_param txn "$(resp_header Location)")
hreq "$SRV_URL" GET "/oauth/consent?txn=$TXN" "${ALICE[@]}"
CSRF=$(printf '%s' "$RESP_BODY" | sed -n 's/.*name="csrf" value="\([^"]*\)".*/\1/p')
consent_post "txn=$TXN&csrf=$CSRF&action=approve" "${ALICE[@]}"
is "$RESP_STATUS" 303 "long redirect URI: Approve works"
like "$(resp_header Location)" '^https://app\.example/cb\?x+&code=' "long redirect URI: a code, not server_error"

# Read only approved: asking for write again shows the page.
SCOPE=snippets:read start_txn "${ALICE[@]}"
consent_post "txn=$TXN&csrf=$CSRF&action=approve" "${ALICE[@]}"
read_cookie=$(cookie_of)
like "$read_cookie" '\.1\.' "approval for snippets:read only"
hreq "$SRV_URL" GET "/oauth/authorize?$(authz_query app http://127.0.0.1:7/cb st-4 'snippets:read snippets:write')" \
	"${ALICE[@]}" -H "Cookie: $read_cookie"
like "$(resp_header Location)" '/oauth/consent\?txn=' "wider scope than approved: consent page"

# --- Deny -------------------------------------------------------------------
STATE='deny-state/+=~' start_txn "${ALICE[@]}"
consent_post "txn=$TXN&csrf=$CSRF&action=deny" "${ALICE[@]}"
is "$RESP_STATUS" 303 "Deny: 303"
loc=$(resp_header Location)
[[ $loc == "$REDIRECT?"* ]]
ok $? "Deny: to the redirect URI"
is "$(loc_param error "$loc")" access_denied "Deny: error=access_denied"
is "$(loc_param state "$loc")" 'deny-state/+=~' "Deny: state untouched"
is "$(loc_param iss "$loc")" "$ISS" "Deny: iss"
unlike "$loc" '[?&]code=' "Deny: no code"
is "$(resp_header Set-Cookie)" "" "Deny: nothing remembered"
consent_post "txn=$TXN&csrf=$CSRF&action=approve" "${ALICE[@]}"
refused "Approve after Deny"

# Bob cannot answer alice's request, neither way (finding 3), and cannot
# use it up either.
start_txn "${ALICE[@]}"
consent_post "txn=$TXN&csrf=$CSRF&action=approve" "${BOB[@]}"
refused "Approve by another user"
consent_post "txn=$TXN&csrf=$CSRF&action=deny" "${BOB[@]}"
refused "Deny by another user"
# Finding 3: no REMOTE_USER at all (a consent endpoint the web server does
# not protect) is refused too, for Approve and Deny alike.
CGI_CONF=$SRV_CONF
for a in approve deny; do
	out=$(run_cgi -e HTTP_ORIGIN=null -e HTTP_SEC_FETCH_SITE=same-origin consent POST \
		/oauth/consent "txn=$TXN&csrf=$CSRF&action=$a")
	like "$out" '^Status: 403' "$a without REMOTE_USER: 403"
	unlike "$out" 'Location:' "$a without REMOTE_USER: no redirect"
done
consent_post "txn=$TXN&csrf=$CSRF&action=approve" "${ALICE[@]}"
is "$RESP_STATUS" 303 "alice's request still stands after all that"

# Finding 9: the redirect to the consent page is not cacheable.
hreq "$SRV_URL" GET "/oauth/authorize?$(authz_query "$CLIENT" "$REDIRECT" "$STATE" "$SCOPE")" "${ALICE[@]}"
like "$(resp_header Location)" '/oauth/consent\?txn=' "to the consent page"
is "$(resp_header Cache-Control)" no-store "to the consent page: Cache-Control: no-store"

unlike "$(cat "$SRV_LOG")" "$VERIFIER|$first_csrf|${consent_cookie#*=}" "no secrets in the log"

# --- consent_ttl = 0: never remembered ----------------------------------------
start_lighttpd --htpasswd "$htpasswd" --conf-line "static_clients_file = $clients" \
	--conf-line "consent_ttl = 0"
server_vars
start_txn "${ALICE[@]}"
consent_post "txn=$TXN&csrf=$CSRF&action=approve" "${ALICE[@]}"
is "$RESP_STATUS" 303 "consent_ttl 0: Approve works"
is "$(resp_header Set-Cookie)" "" "consent_ttl 0: no cookie"

# --- Apache: the same flow, smoke ------------------------------------------------
start_apache --htpasswd "$htpasswd" --conf-line "static_clients_file = $clients"
server_vars
start_txn
is "$RESP_STATUS" 401 "Apache: login required"
start_txn "${ALICE[@]}"
is "$RESP_STATUS" 200 "Apache: consent page"
like "$RESP_BODY" 'Signed in as <strong>alice</strong>' "Apache: REMOTE_USER reaches the program"
consent_post "txn=$TXN&csrf=$CSRF&action=approve" "${ALICE[@]}"
code=$(loc_param code "$(resp_header Location)")
like "$code" '^[A-Za-z0-9_-]{43}$' "Apache: Approve gives a code"
token "$code" "$REDIRECT" app
is "$RESP_STATUS" 200 "Apache: the code redeems"

unlike "$(cat "$TEST_OUT"/*.log)" 'AddressSanitizer|runtime error' "no sanitizer reports"
done_testing
