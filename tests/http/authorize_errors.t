#!/usr/bin/env bash
# GET /oauth/authorize refusing bad requests, through lighttpd with
# identity = remote-user (HTTP Basic login).
#   - client_id / redirect_uri problems (missing, unknown, unregistered,
#     hostile, duplicated, oversized, malformed query): an HTML page, never a
#     redirect (RFC 6749 §4.1.2.1);
#   - every other parameter missing, malformed, duplicated or oversized: a
#     redirect to the registered URI with error, error_description, state
#     and iss (RFC 9207);
#   - the login, the method, and the rate limit.
. "$(dirname "${BASH_SOURCE[0]}")/../lib/servers.sh"
. "$(dirname "${BASH_SOURCE[0]}")/authorize_lib.sh"

# --- fixtures ---------------------------------------------------------------
clients=$TEST_OUT/clients.json
cat >"$clients" <<'EOF'
[{"client_id": "app", "client_name": "Test App", "client_uri": "https://app.example/",
  "redirect_uris": ["https://app.example/cb", "http://127.0.0.1/cb"],
  "token_endpoint_auth_method": "none"},
 {"client_id": "reader", "client_name": "Read Only",
  "redirect_uris": ["https://reader.example/cb?tenant=7"],
  "token_endpoint_auth_method": "none", "scope": "snippets:read"}]
EOF
htpasswd=$TEST_OUT/htpasswd
printf '%s\n' 'pw-alice' | htpasswd -iBc "$htpasswd" alice 2>/dev/null
chmod 0644 "$clients" "$htpasswd"
chmod 0755 "$TEST_OUT"

# Far more requests than the default rate limit allows; it is tested last.
start_lighttpd --htpasswd "$htpasswd" --conf-line "static_clients_file = $clients" \
	--conf-line "rate_limit_authorize = 0"
LOGIN=(-u alice:pw-alice)
server_vars
REDIRECT=https://app.example/cb

# The parameters of a good request, one per line, so tests can drop,
# replace or repeat one.
# (Encoded once per REDIRECT / RESOURCE, in this shell: a jq run for every
# request made the test slow.)
good_params_prepare() {
	if [ "${_gp_key:-}" != "$REDIRECT $RESOURCE" ]; then
		_gp_key="$REDIRECT $RESOURCE"
		_gp_redirect=$(enc "$REDIRECT")
		_gp_resource=$(enc "$RESOURCE")
	fi
}
good_params() {
	good_params_prepare
	printf '%s\n' "response_type=code" "client_id=app" "redirect_uri=$_gp_redirect" \
		"state=st-1" "code_challenge=$CHALLENGE" "code_challenge_method=S256" \
		"scope=snippets%3Aread%20snippets%3Awrite" "resource=$_gp_resource"
}

# authorize EDIT...: GET /oauth/authorize with good_params edited:
#   -name      drop parameter name
#   name=v     replace it (v already encoded; added when absent)
#   +name=v    add one more occurrence
authorize() {
	local -a params
	local e p i found
	good_params_prepare
	mapfile -t params < <(good_params)
	for e in "$@"; do
		case $e in
		-*)
			for i in "${!params[@]}"; do
				[ "${params[i]%%=*}" = "${e#-}" ] && unset 'params[i]'
			done
			;;
		+*) params+=("${e#+}") ;;
		*)
			found=
			for i in "${!params[@]}"; do
				if [ "${params[i]%%=*}" = "${e%%=*}" ]; then
					params[i]=$e
					found=1
				fi
			done
			[ -n "$found" ] || params+=("$e")
			;;
		esac
	done
	local IFS='&'
	hreq "$SRV_URL" GET "/oauth/authorize?${params[*]}" "${LOGIN[@]}"
}

# refused_html DESC: an HTML error page and no redirect.
refused_html() {
	local loc
	like "$RESP_STATUS" '^4[0-9][0-9]$' "$1: 4xx"
	loc=$(resp_header Location)
	is "$loc" "" "$1: no redirect"
	like "$(resp_header Content-Type)" '^text/html' "$1: HTML page"
}

# redirected ERROR DESC [STATE]: a 302 to the registered URI with error,
# error_description, iss and (when given) state.
redirected() {
	local want=$1 desc=$2 state=${3-st-1} loc
	loc=$(resp_header Location)
	is "$RESP_STATUS" 302 "$desc: 302"
	[[ $loc == "$REDIRECT"[?\&]* ]]
	ok $? "$desc: back to the registered redirect URI"
	is "$(loc_param error "$loc")" "$want" "$desc: error=$want"
	[ -n "$(loc_param error_description "$loc")" ]
	ok $? "$desc: error_description"
	is "$(loc_param iss "$loc")" "$ISS" "$desc: iss"
	if [ -n "$state" ]; then
		is "$(loc_param state "$loc")" "$state" "$desc: state carried back"
	else
		loc_param state "$loc" >/dev/null
		ok $((!$?)) "$desc: no state"
	fi
	unlike "$loc" '[?&]code=' "$desc: no code"
}

# --- the good request --------------------------------------------------------
authorize
is "$RESP_STATUS" 302 "good request: 302"
like "$(resp_header Location)" "^$SRV_PUBLIC_URL/oauth/consent\\?txn=[A-Za-z0-9_-]{43}$" \
	"good request: to the consent page"

# --- client_id and redirect_uri: never a redirect -----------------------------
authorize -client_id
refused_html "missing client_id"
authorize -redirect_uri
refused_html "missing redirect_uri"
authorize client_id=nobody
refused_html "unknown client_id"
like "$RESP_BODY" 'not registered' "unknown client_id: says so"
authorize client_id=
refused_html "empty client_id"
authorize +client_id=app
refused_html "duplicated client_id"
authorize +redirect_uri="$(enc "$REDIRECT")"
refused_html "duplicated redirect_uri, same value"
authorize +redirect_uri="$(enc https://evil.example/cb)"
refused_html "duplicated redirect_uri, other value"
authorize client_id="$(printf 'a%.0s' {1..300})"
refused_html "oversized client_id"
authorize redirect_uri="$(enc "https://app.example/cb?$(printf 'x%.0s' {1..1100})")"
refused_html "oversized redirect_uri"

for bad in 'https://evil.example/cb' 'https://app.example/cb/' 'https://app.example/cb2' \
	'https://app.example/cb?x=1' 'https://app.example/cb#frag' 'http://app.example/cb' \
	'https://APP.example/cb' 'https://app.example.evil.example/cb' \
	'https://user@app.example/cb' 'https://app.example@evil.example/cb' \
	'https://app.example/cb/../evil' 'https://app.example:443/cb' \
	'javascript:alert(document.cookie)' 'data:text/html,<script>alert(1)</script>' \
	'file:///etc/passwd' 'http://localhost/cb' 'http://127.0.0.1.evil.example/cb' \
	'https://127.0.0.1/cb' 'http://127.0.0.2/cb' 'http://127.0.0.1:8080/cb/x' \
	'//evil.example/cb' 'cb' "https://app.example/cb%0d%0aSet-Cookie:x=1"; do
	authorize redirect_uri="$(enc "$bad")"
	refused_html "unregistered redirect_uri $bad"
	unlike "$RESP_BODY" '<script>' "unregistered redirect_uri $bad: nothing reflected unescaped"
done
# Raw CR/LF smuggled in the encoded form must never reach a header.
authorize redirect_uri='https%3A%2F%2Fapp.example%2Fcb%0D%0ALocation:%20https://evil.example'
refused_html "redirect_uri with CRLF"
# A loopback redirect registered without a port accepts any port (RFC 8252 §7.3).
authorize redirect_uri="$(enc http://127.0.0.1:49152/cb)"
is "$RESP_STATUS" 302 "loopback redirect on another port: accepted"

for q in 'client_id=app&redirect_uri=%zz' 'client_id=app%00x&redirect_uri=x' \
	"$(for i in $(seq 1 70); do printf 'p%d=1&' "$i"; done)client_id=app"; do
	hreq "$SRV_URL" GET "/oauth/authorize?$q" "${LOGIN[@]}"
	refused_html "malformed query ${q:0:30}"
done
hreq "$SRV_URL" GET "/oauth/authorize?client_id=app&pad=$(printf 'x%.0s' {1..9000})" "${LOGIN[@]}"
refused_html "oversized query"

# --- every other parameter: redirect with the error ---------------------------
authorize -response_type
redirected invalid_request "missing response_type"
authorize response_type=token
redirected unsupported_response_type "response_type=token"
authorize response_type=code%20id_token
redirected unsupported_response_type "response_type=code id_token"
authorize +response_type=code
redirected invalid_request "duplicated response_type"
authorize response_type="$(printf 'c%.0s' {1..100})"
redirected unsupported_response_type "oversized response_type"

authorize -code_challenge
redirected invalid_request "missing code_challenge (PKCE required)"
authorize code_challenge="${CHALLENGE:0:42}"
redirected invalid_request "code_challenge of 42 characters"
authorize code_challenge="$(printf 'a%.0s' {1..129})"
redirected invalid_request "code_challenge of 129 characters"
authorize code_challenge="${CHALLENGE:0:42}%2B"
redirected invalid_request "code_challenge with a bad character"
authorize +code_challenge="$CHALLENGE"
redirected invalid_request "duplicated code_challenge"
authorize code_challenge="$(printf 'a%.0s' {1..43})"
is "$RESP_STATUS" 302 "code_challenge of 43 characters accepted"
like "$(resp_header Location)" '/oauth/consent\?' "code_challenge of 43: to consent"
authorize code_challenge="$(printf 'a%.0s' {1..128})"
like "$(resp_header Location)" '/oauth/consent\?' "code_challenge of 128 characters accepted"

authorize -code_challenge_method
redirected invalid_request "missing code_challenge_method (plain by default)"
authorize code_challenge_method=plain
redirected invalid_request "code_challenge_method=plain"
authorize code_challenge_method=s256
redirected invalid_request "code_challenge_method=s256 (case matters)"
authorize +code_challenge_method=S256
redirected invalid_request "duplicated code_challenge_method"

authorize scope=admin
redirected invalid_scope "unknown scope"
authorize scope="$(enc 'snippets:read admin')"
redirected invalid_scope "one unknown scope among good ones"
authorize scope="$(enc 'snippets:read  snippets:write')"
redirected invalid_scope "scope with a double space"
authorize scope="$(enc 'snippets:read"')"
redirected invalid_scope "scope with a quote"
authorize scope="$(printf 'a%.0s' {1..1100})"
redirected invalid_scope "oversized scope"
authorize +scope=snippets:read
redirected invalid_request "duplicated scope"
authorize -scope
like "$(resp_header Location)" '/oauth/consent\?' "no scope: the client's default"

authorize resource="$(enc https://other.example/mcp)"
redirected invalid_target "foreign resource"
authorize resource="$(enc "$SRV_PUBLIC_URL/mcp/")"
redirected invalid_target "resource with a trailing slash"
authorize resource="$(enc "$SRV_PUBLIC_URL")"
redirected invalid_target "the issuer is not the resource"
authorize resource=mcp
redirected invalid_target "relative resource"
authorize resource="$(enc "$SRV_PUBLIC_URL/mcp#x")"
redirected invalid_target "resource with a fragment"
authorize +resource="$(enc https://other.example/mcp)"
redirected invalid_target "a second, foreign resource"
authorize +resource="$(enc "$RESOURCE")"
like "$(resp_header Location)" '/oauth/consent\?' "the same resource twice (RFC 8707 allows it)"
authorize resource="$(enc "${RESOURCE/http:/HTTP:}")"
like "$(resp_header Location)" '/oauth/consent\?' "resource with an uppercase scheme"
authorize -resource
like "$(resp_header Location)" '/oauth/consent\?' "no resource: the MCP endpoint"

authorize response_mode=fragment
redirected invalid_request "response_mode=fragment"
authorize response_mode=query
like "$(resp_header Location)" '/oauth/consent\?' "response_mode=query accepted"

# state: untouched when good, left out of the answer when it is the problem.
odd_state='a~b-c._d!$()*,;:@/?'
authorize state="$(enc "$odd_state")" code_challenge_method=plain
redirected invalid_request "state passed through untouched" "$odd_state"
authorize +state=st-2
redirected invalid_request "duplicated state" ""
authorize state="$(printf 's%.0s' {1..513})"
redirected invalid_request "oversized state" ""
authorize state=a%20b
redirected invalid_request "state with a space (not VSCHAR)" ""
authorize state="$(printf 's%.0s' {1..512})"
like "$(resp_header Location)" '/oauth/consent\?' "state of 512 characters accepted"
authorize -state code_challenge_method=plain
redirected invalid_request "no state: none in the answer" ""

# A client restricted to snippets:read, with a query in its redirect URI.
REDIRECT='https://reader.example/cb?tenant=7'
authorize client_id=reader redirect_uri="$(enc "$REDIRECT")" scope=snippets:write
redirected invalid_scope "scope beyond the client's registration"
like "$(resp_header Location)" '^https://reader\.example/cb\?tenant=7&error=' \
	"the redirect URI's own query is kept"
authorize client_id=reader redirect_uri="$(enc "$REDIRECT")" -scope
like "$(resp_header Location)" '/oauth/consent\?' "restricted client, no scope: its default"
REDIRECT=https://app.example/cb

# --- method, login, rate limit -----------------------------------------------
hreq "$SRV_URL" POST "/oauth/authorize" "${LOGIN[@]}" --data "$(good_params | paste -sd '&')"
is "$RESP_STATUS" 405 "POST is 405"
like "$(resp_header Allow)" 'GET' "405 names GET"
hreq "$SRV_URL" GET "/oauth/authorize?$(good_params | paste -sd '&')"
is "$RESP_STATUS" 401 "no credentials: the web server asks for them"
like "$(resp_header WWW-Authenticate)" '^Basic' "Basic login"
hreq "$SRV_URL" GET "/oauth/authorize?$(good_params | paste -sd '&')" -u alice:wrong
is "$RESP_STATUS" 401 "wrong password refused"

# The program behind a server that does not authenticate: refuse, loudly.
new_cgi --conf-line "static_clients_file = $clients" --conf-line "rate_limit_authorize = 0"
server_vars
hreq cgi:authorize GET "/oauth/authorize?$(good_params | paste -sd '&')"
redirected server_error "identity = remote-user without REMOTE_USER"
like "$(cat "$CGI_LOG")" 'no usable REMOTE_USER' "misconfiguration logged"
# lighttpd refuses control characters in URLs itself; the program does too.
hreq cgi:authorize GET "/oauth/authorize?$(good_params | sed 's/^state=.*/state=a%01b/' | paste -sd '&')"
redirected invalid_request "state with a control character" ""

start_lighttpd --htpasswd "$htpasswd" --conf-line "static_clients_file = $clients" \
	--conf-line "rate_limit_authorize = 3"
for i in 1 2 3 4; do
	hreq "$SRV_URL" GET "/oauth/authorize?$(good_params | paste -sd '&')" "${LOGIN[@]}"
done
is "$RESP_STATUS" 429 "rate limited after 3 requests"
like "$(resp_header Retry-After)" '^[0-9]+$' "with Retry-After"
like "$(resp_header Content-Type)" '^text/html' "as an HTML page"
like "$(cat "$SRV_LOG")" 'authorize' "rate limit logged"

unlike "$(cat "$TEST_OUT"/*.log)" 'AddressSanitizer|runtime error' "no sanitizer reports"
done_testing
