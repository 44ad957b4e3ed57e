#!/usr/bin/env bash
# identity = oidc: consent, then the upstream login, then our code, through
# lighttpd against a scriptable OpenID provider (authorize_idp.mjs):
#   - nothing goes to the provider before this browser approved the client
#     (MCP confused-deputy rule); its state, nonce and PKCE are ours;
#   - the callback wants its state once, within 10 minutes, and the
#     browser's __Host- login cookie (login CSRF);
#   - provider errors, a cancelled login, a provider that is down, bad ID
#     tokens and a mixed-up issuer go back to the client as access_denied /
#     temporarily_unavailable / server_error with state and iss, and one log
#     line;
#   - an approved client's second authorization skips the page and still
#     completes (the original sample's callback broke here).
. "$(dirname "${BASH_SOURCE[0]}")/../lib/servers.sh"
. "$(dirname "${BASH_SOURCE[0]}")/authorize_lib.sh"

command -v node >/dev/null 2>&1 || bail "node is needed for the test OpenID provider"

clients=$TEST_OUT/clients.json
cat >"$clients" <<'EOF'
[{"client_id": "app", "client_name": "Test App",
  "redirect_uris": ["http://127.0.0.1/cb"], "token_endpoint_auth_method": "none"}]
EOF
chmod 0644 "$clients"
chmod 0755 "$TEST_OUT"

# --- the provider -------------------------------------------------------------
node "$MCPGATE_ROOT/tests/http/authorize_idp.mjs" "$TEST_OUT/idp.port" mcpgate-test 's3cret!' \
	</dev/null >"$TEST_OUT/idp.log" 2>&1 &
IDP_PID=$!
_LIB_PIDS+=("$IDP_PID")
for _ in $(seq 1 100); do
	[ -s "$TEST_OUT/idp.port" ] && break
	sleep 0.05
done
[ -s "$TEST_OUT/idp.port" ] || bail "the test OpenID provider did not start: $(cat "$TEST_OUT/idp.log")"
IDP=http://127.0.0.1:$(cat "$TEST_OUT/idp.port")
idp_mode() { curl -s -o /dev/null "$IDP/mode?m=$1"; }

start_lighttpd --conf-line "static_clients_file = $clients" --conf-line "identity = oidc" \
	--conf-line "upstream_issuer = $IDP" --conf-line "upstream_client_id = mcpgate-test" \
	--conf-line "upstream_client_secret = s3cret!" --conf-line "insecure_loopback = true" \
	--conf-line "rate_limit_authorize = 0"
server_vars

# Every "NAME=VALUE" set by the response (one per line).
set_cookies() {
	local line
	while IFS= read -r line; do
		case ${line,,} in
		set-cookie:*)
			line=${line#*:}
			line=${line# }
			printf '%s\n' "${line%%;*}"
			;;
		esac
	done <<<"$RESP_HEADERS"
}

# approve: consent page, Approve; sets UP_URL (where we send the browser),
# LOGIN_COOKIE and APPROVE_COOKIES (everything Approve set).
approve() {
	start_txn
	consent_post "txn=$TXN&csrf=$CSRF&action=approve" "$@"
	UP_URL=$(resp_header Location)
	APPROVE_COOKIES=$(set_cookies)
	LOGIN_COOKIE=$(set_cookies | grep '^__Host-mcpgate-login=')
}

# provider: the browser at the provider, which answers at once; sets CB
# (the callback path and query).
provider() {
	local loc
	loc=$(curl -s -o /dev/null -w '%{redirect_url}' "$UP_URL")
	CB=${loc#"$SRV_URL"}
}

# back_to_client ERROR DESC: the callback's answer is a redirect to the
# client with this error (or a code when ERROR is "code"), state and iss.
back_to_client() {
	local want=$1 desc=$2 loc
	loc=$(resp_header Location)
	is "$RESP_STATUS" 302 "$desc: 302"
	[[ $loc == "$REDIRECT?"* ]]
	ok $? "$desc: to the client's redirect URI"
	if [ "$want" = code ]; then
		like "$(loc_param code "$loc")" '^[A-Za-z0-9_-]{43}$' "$desc: a code"
		loc_param error "$loc" >/dev/null
		ok $((!$?)) "$desc: no error"
	else
		is "$(loc_param error "$loc")" "$want" "$desc: error=$want"
		loc_param code "$loc" >/dev/null
		ok $((!$?)) "$desc: no code"
	fi
	is "$(loc_param state "$loc")" "$STATE" "$desc: state"
	is "$(loc_param iss "$loc")" "$ISS" "$desc: iss"
}

# --- the whole flow ------------------------------------------------------------
hreq "$SRV_URL" GET "/oauth/authorize?$(authz_query "$CLIENT" "$REDIRECT" "$STATE" "$SCOPE")"
like "$(resp_header Location)" "^$SRV_PUBLIC_URL/oauth/consent\\?txn=" \
	"before consent: the consent page, not the provider"
is "$(curl -s "$IDP/last")" '{}' "nothing reached the provider before consent"
is "$(resp_header Set-Cookie)" "" "no login cookie before consent"

approve
is "$RESP_STATUS" 303 "Approve: 303"
[[ $UP_URL == "$IDP/authorize?"* ]]
ok $? "Approve: to the provider"
like "$LOGIN_COOKIE" '^__Host-mcpgate-login=[A-Za-z0-9_-]{43}$' "login cookie set (one name per browser)"
login_attrs=$(printf '%s\n' "$RESP_HEADERS" | grep -i '^set-cookie: __Host-mcpgate-login=')
like "$login_attrs" '; Max-Age=600; Path=/; Secure; HttpOnly; SameSite=Lax$' \
	"login cookie: Secure, HttpOnly, SameSite=Lax, 10 minutes"
unlike "$APPROVE_COOKIES" 'mcpgate-consent' "no consent cookie before the login succeeded"
up_state=$(loc_param state "$UP_URL")
up_nonce=$(loc_param nonce "$UP_URL")
like "$up_state" '^[A-Za-z0-9_-]{43,}$' "upstream state: random"
[ "$up_state" != "$STATE" ]
ok $? "upstream state is ours, not the client's"
like "$up_nonce" '^[A-Za-z0-9_-]{43,}$' "upstream nonce: random"
is "$(loc_param code_challenge_method "$UP_URL")" S256 "upstream PKCE S256"
[ "$(loc_param code_challenge "$UP_URL")" != "$CHALLENGE" ]
ok $? "upstream PKCE is ours, not the client's"
is "$(loc_param redirect_uri "$UP_URL")" "$SRV_PUBLIC_URL/oauth/callback" "upstream redirect_uri"
is "$(loc_param client_id "$UP_URL")" mcpgate-test "upstream client_id"

provider
like "$CB" '^/oauth/callback\?' "the provider sends the browser to our callback"
hreq "$SRV_URL" GET "$CB" -H "Cookie: $LOGIN_COOKIE"
back_to_client code "callback"
code=$(loc_param code "$(resp_header Location)")
CONSENT_COOKIE=$(set_cookies | grep '^__Host-mcpgate-consent-')
like "$CONSENT_COOKIE" '^__Host-mcpgate-consent-[A-Za-z0-9_-]+=[0-9]+\.3\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}$' \
	"approval remembered once the user is known, naming its record"
unlike "$(set_cookies)" 'mcpgate-login=;' "the login cookie stays for other logins of this browser"
token "$code" "$REDIRECT" app
is "$RESP_STATUS" 200 "our code redeems at the token endpoint"
like "$(resp_json .access_token)" '^mga_' "our access token, not the provider's"
unlike "$RESP_BODY" 'upstream-at-|id_token' "nothing of the provider's tokens"

hreq "$SRV_URL" GET "$CB" -H "Cookie: $LOGIN_COOKIE"
is "$RESP_STATUS" 400 "replayed callback (state used): 400"
is "$(resp_header Location)" "" "replayed callback: no redirect"

# --- the skip path ---------------------------------------------------------------
STATE=st-again
hreq "$SRV_URL" GET "/oauth/authorize?$(authz_query "$CLIENT" http://127.0.0.1:7777/cb "$STATE" "$SCOPE")" \
	-H "Cookie: $CONSENT_COOKIE"
UP_URL=$(resp_header Location)
[[ $UP_URL == "$IDP/authorize?"* ]]
ok $? "approved client again: straight to the provider"
LOGIN_COOKIE=$(set_cookies | grep '^__Host-mcpgate-login=')
like "$LOGIN_COOKIE" '^__Host-mcpgate-login=' "skip path: a login cookie"
provider
hreq "$SRV_URL" GET "$CB" -H "Cookie: $LOGIN_COOKIE"
REDIRECT=http://127.0.0.1:7777/cb back_to_client code "skip path completes"

# Finding 8: the login cookie is found behind more cookies than the parser
# keeps, and a browser that has one keeps using it.
many=$(for i in $(seq 1 80); do printf '__Host-mcpgate-consent-x%d=1; ' "$i"; done)
hreq "$SRV_URL" GET "/oauth/authorize?$(authz_query "$CLIENT" "$REDIRECT" "$STATE" "$SCOPE")" \
	-H "Cookie: $many$CONSENT_COOKIE; $LOGIN_COOKIE"
UP_URL=$(resp_header Location)
is "$(set_cookies | grep '^__Host-mcpgate-login=')" "$LOGIN_COOKIE" \
	"80 other cookies: the approval and the browser's login cookie are still found"
provider
hreq "$SRV_URL" GET "$CB" -H "Cookie: $many$LOGIN_COOKIE"
back_to_client code "80 other cookies: the login completes"

# Finding 2: the cookie is this browser's approval, not the next user's.
# Bob signs in on a browser where alice approved: the page again, for bob.
idp_mode bob
hreq "$SRV_URL" GET "/oauth/authorize?$(authz_query "$CLIENT" "$REDIRECT" "$STATE" "$SCOPE")" \
	-H "Cookie: $CONSENT_COOKIE"
UP_URL=$(resp_header Location)
[[ $UP_URL == "$IDP/authorize?"* ]]
ok $? "another user, alice's cookie: the provider first (the browser approved)"
LOGIN_COOKIE=$(set_cookies | grep '^__Host-mcpgate-login=')
provider
hreq "$SRV_URL" GET "$CB" -H "Cookie: $LOGIN_COOKIE"
is "$RESP_STATUS" 302 "bob's callback: 302"
like "$(resp_header Location)" "^$SRV_PUBLIC_URL/oauth/consent\\?txn=" \
	"bob has no approval of his own: the consent page again, no code"
is "$(resp_header Cache-Control)" no-store "that redirect: no-store"
TXN=$(loc_param txn "$(resp_header Location)")
hreq "$SRV_URL" GET "/oauth/consent?txn=$TXN"
is "$RESP_STATUS" 403 "that page needs the browser's login cookie"
hreq "$SRV_URL" GET "/oauth/consent?txn=$TXN" -H "Cookie: $LOGIN_COOKIE"
is "$RESP_STATUS" 200 "the page, for bob"
like "$RESP_BODY" 'Bob Example' "it names bob"
CSRF=$(printf '%s' "$RESP_BODY" | sed -n 's/.*name="csrf" value="\([^"]*\)".*/\1/p')
consent_post "txn=$TXN&csrf=$CSRF&action=approve"
is "$RESP_STATUS" 403 "bob's Approve without the login cookie: refused"
consent_post "txn=$TXN&csrf=$CSRF&action=approve" -H "Cookie: $LOGIN_COOKIE"
is "$RESP_STATUS" 303 "bob approves"
bob_loc=$(resp_header Location)
BOB_COOKIE=$(set_cookies | grep '^__Host-mcpgate-consent-')
like "$BOB_COOKIE" '^__Host-mcpgate-consent-' "bob's approval remembered"
like "$(loc_param code "$bob_loc")" '^[A-Za-z0-9_-]{43}$' "bob gets a code"
token "$(loc_param code "$bob_loc")" "$REDIRECT" app
is "$(resp_json .access_token | cut -c1-4)" mga_ "bob's code redeems"
idp_mode ok

# Revocation (mcpgate-admin): alice's record goes, and her cookie stops
# counting for her at the callback.
# The admin tool of the build under test (its bin/ beside cgi-bin/).
ADMIN=${BIN_DIR%/cgi-bin}/bin/mcpgate-admin
[ -x "$ADMIN" ] || ADMIN=$MCPGATE_ROOT/build/bin/mcpgate-admin
out=$(MCPGATE_CONFIG=$SRV_CONF "$ADMIN" consents list 'oidc:'"$IDP"'#alice-sub-1' 2>&1)
like "$out" "^app.http://127\\.0\\.0\\.1/cb.scope=3" "admin: alice's consent listed (loopback port dropped)"
out=$("$ADMIN" -c "$SRV_CONF" consents revoke 'oidc:'"$IDP"'#alice-sub-1' app 2>&1)
is "$out" "1 consent revoked" "admin: revoke alice's consent for app"
out=$("$ADMIN" -c "$SRV_CONF" consents list 'oidc:'"$IDP"'#alice-sub-1' 2>&1)
is "$out" "" "admin: nothing left for alice"
"$ADMIN" -c "$SRV_CONF" consents bogus x >/dev/null 2>&1
is $? 2 "admin: usage error"
hreq "$SRV_URL" GET "/oauth/authorize?$(authz_query "$CLIENT" "$REDIRECT" "$STATE" "$SCOPE")" \
	-H "Cookie: $CONSENT_COOKIE"
UP_URL=$(resp_header Location)
LOGIN_COOKIE=$(set_cookies | grep '^__Host-mcpgate-login=')
provider
hreq "$SRV_URL" GET "$CB" -H "Cookie: $LOGIN_COOKIE"
like "$(resp_header Location)" "^$SRV_PUBLIC_URL/oauth/consent\\?txn=" \
	"after revocation: alice is asked again"
STATE=st-1

# --- the callback's own checks ----------------------------------------------------
approve
provider
hreq "$SRV_URL" GET "$CB"
is "$RESP_STATUS" 400 "no login cookie: 400"
is "$(resp_header Location)" "" "no login cookie: no redirect"
# Finding 4: someone who saw the callback URL cannot burn the login.
hreq "$SRV_URL" GET "$CB" -H "Cookie: __Host-mcpgate-login=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
is "$RESP_STATUS" 400 "wrong login cookie: 400"
hreq "$SRV_URL" GET "$CB" -H "Cookie: $LOGIN_COOKIE"
back_to_client code "the right browser still completes after those"
hreq "$SRV_URL" GET "$CB" -H "Cookie: $LOGIN_COOKIE"
is "$RESP_STATUS" 400 "then the state is spent"

approve
provider
forged=${LOGIN_COOKIE%?}
[ "${LOGIN_COOKIE: -1}" = A ] && forged=${forged}B || forged=${forged}A
hreq "$SRV_URL" GET "$CB" -H "Cookie: $forged"
is "$RESP_STATUS" 400 "forged login cookie: 400"
first_cookie=$LOGIN_COOKIE

approve
provider
hreq "$SRV_URL" GET "$CB" -H "Cookie: $first_cookie"
is "$RESP_STATUS" 400 "another login's cookie: 400"

for q in '' 'state=' 'state=unknown-state' "state=$(printf 's%.0s' {1..100})" \
	'state=a&state=b' 'code=x' 'state=%zz'; do
	hreq "$SRV_URL" GET "/oauth/callback?$q" -H "Cookie: $LOGIN_COOKIE"
	is "$RESP_STATUS" 400 "callback with '${q:0:30}': 400"
	is "$(resp_header Location)" "" "callback with '${q:0:30}': no redirect"
done
hreq "$SRV_URL" POST /oauth/callback --data x
is "$RESP_STATUS" 405 "POST to the callback: 405"

# --- the provider misbehaving ----------------------------------------------------
for m in deny:access_denied unavailable:temporarily_unavailable weird_error:server_error \
	bad_nonce:server_error bad_sig:server_error bad_aud:server_error expired:server_error \
	token_500:temporarily_unavailable wrong_iss:server_error no_iss:server_error \
	no_code:server_error; do
	idp_mode "${m%%:*}"
	approve
	provider
	lines=$(wc -l <"$SRV_LOG")
	hreq "$SRV_URL" GET "$CB" -H "Cookie: $LOGIN_COOKIE"
	back_to_client "${m#*:}" "provider ${m%%:*}"
	unlike "$(set_cookies)" 'mcpgate-consent' "provider ${m%%:*}: a failed login remembers nothing"
	tail -n +$((lines + 1)) "$SRV_LOG" >"$TEST_OUT/after.log"
	like "$(cat "$TEST_OUT/after.log")" 'msg="(authorization refused|identity provider|upstream)' \
		"provider ${m%%:*}: logged"
	is "$(grep -v ' method=GET path=' "$TEST_OUT/after.log" | grep -c .)" 1 \
		"provider ${m%%:*}: one log line"
	unlike "$(cat "$TEST_OUT/after.log")" ' forged="yes"' "provider ${m%%:*}: log lines not forgeable"
done
idp_mode ok

# The provider down altogether: its discovery document is cached, the token
# endpoint does not answer.
approve
provider
stop_tree "$IDP_PID"
hreq "$SRV_URL" GET "$CB" -H "Cookie: $LOGIN_COOKIE"
back_to_client temporarily_unavailable "provider down"

# Deny never reaches the provider.
start_txn
consent_post "txn=$TXN&csrf=$CSRF&action=deny"
like "$(resp_header Location)" '^http://127\.0\.0\.1:5555/cb\?error=access_denied&' \
	"Deny: back to the client"
unlike "$(set_cookies)" 'mcpgate-login' "Deny: no login cookie"

# Approve twice: the second is refused.
start_txn
consent_post "txn=$TXN&csrf=$CSRF&action=approve"
consent_post "txn=$TXN&csrf=$CSRF&action=approve"
is "$RESP_STATUS" 400 "second Approve refused"

unlike "$(cat "$SRV_LOG")" 'upstream-at-|s3cret|eyJ' "no tokens or secrets in the log"
unlike "$(cat "$TEST_OUT"/*.log)" 'AddressSanitizer|runtime error' "no sanitizer reports"
done_testing
