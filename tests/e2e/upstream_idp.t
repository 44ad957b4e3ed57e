#!/usr/bin/env bash
# upstream_idp.t: mcpgate's OIDC login (src/upstream.c) against a real OpenID
# provider, the test IdP (tests/e2e/idp/idp.mjs, on oidc-provider) on a
# loopback port.  A small driver (upstream_driver.c, built here) runs
# upstream_begin and upstream_finish; curl plays the browser in between.
# Covers discovery, PKCE, the code exchange (client_secret_basic, _post,
# none), RS256 and ES256 ID tokens, the sealed provider tokens, and each way
# the provider can fail or lie.
set -u

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
. "$ROOT/tests/lib/tap.sh"
. "$ROOT/scripts/proc.sh"

if ! command -v node >/dev/null 2>&1; then
	echo "1..0 # SKIP node is not installed"
	exit 0
fi
if [ ! -d "$HERE/node_modules/oidc-provider" ]; then
	echo "1..0 # SKIP tests/e2e/node_modules missing (npm ci in tests/e2e)"
	exit 0
fi

OUT=$ROOT/tests/out/upstream_idp
rm -rf "$OUT"
mkdir -p "$OUT"
TMP=$(mktemp -d)
IDP_PID=
cleanup() {
	[ -n "$IDP_PID" ] && stop_tree "$IDP_PID"
	rm -rf "$TMP"
}
trap cleanup EXIT

# ---- the driver ----
CC=${CC:-cc}
SRCS="upstream fetch jose crypto store buf log config"
# shellcheck disable=SC2046,SC2086
if ! "$CC" -std=c11 -D_GNU_SOURCE -I"$ROOT/src" -O1 -g -fsanitize=address,undefined \
	-o "$TMP/driver" "$HERE/upstream_driver.c" $(printf "$ROOT/src/%s.c " $SRCS) \
	$(pkg-config --cflags --libs json-c libcurl openssl) -lgdbm -lpthread \
	>"$OUT/build.log" 2>&1; then
	bail "cannot build the driver: $(tail -5 "$OUT/build.log")"
fi
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
"$TMP/driver" keygen "$TMP/keys" || bail "keygen failed"

SECRET='idp-test-s3cret'
PUBLIC=http://127.0.0.1:9/gw # never contacted: the browser stops at the callback
REDIR=$PUBLIC/oauth/callback

start_idp() {
	: >"$TMP/idp.url"
	IDP_CLIENT_ID=mcpgate IDP_CLIENT_SECRET=$SECRET IDP_REDIRECT_URIS=$REDIR \
		setsid node "$HERE/idp/idp.mjs" --port 0 >"$TMP/idp.url" 2>>"$OUT/idp.log" </dev/null &
	IDP_PID=$!
	for _ in $(seq 100); do
		[ -s "$TMP/idp.url" ] && break
		sleep 0.1
	done
	ISS=$(head -n 1 "$TMP/idp.url")
}

# mkconf NAME CLIENT_ID [config lines...]: a config with its own store.
mkconf() {
	local name=$1 client=$2
	shift 2
	{
		echo "public_url = $PUBLIC"
		echo "store = $TMP/$name.db"
		echo "key_file = $TMP/keys"
		echo "identity = oidc"
		echo "upstream_issuer = $ISS"
		echo "upstream_client_id = $client"
		echo "insecure_loopback = true"
		printf '%s\n' "$@"
	} >"$TMP/$name.conf"
	echo "$TMP/$name.conf"
}

drv() { MCPGATE_CONFIG=$CONF "$TMP/driver" "$@" 2>>"$OUT/driver.log"; }
kv() { sed -n "s/^$1=//p" <<<"$2" | head -n 1; }
qp() { sed -n "s/.*[?&]$1=\([^&]*\).*/\1/p" <<<"$2"; }
urldecode() { local s=${1//+/ }; printf '%b' "${s//%/\\x}"; }
mode() { curl -s -o /dev/null --max-time 5 "$ISS/__test/mode/$1"; }
as_user() { curl -s -o /dev/null --max-time 5 "$ISS/__test/user/$1"; }

# The browser: follow redirects with a fresh cookie jar until the provider
# sends us to the callback; prints that URL (or why it stopped).
browse() {
	local url=$1 jar out code
	jar=$TMP/jar.$RANDOM
	for _ in $(seq 12); do
		out=$(curl -s -o "$TMP/page" -b "$jar" -c "$jar" --max-time 10 \
			-w '%{http_code} %{redirect_url}' "$url") || {
			echo "curl-failed"
			return
		}
		code=${out%% *}
		url=${out#* }
		case $url in "$REDIR"*)
			echo "$url"
			return
			;;
		esac
		[ -n "$url" ] || {
			echo "stopped:$code"
			return
		}
	done
	echo "too-many-redirects"
}

CODES=()
# begin + browser: sets L_STATUS L_URL L_STATE L_NONCE L_VERIFIER, CB CODE CB_STATE CB_ISS CB_ERR.
login() {
	local out
	out=$(drv begin)
	L_STATUS=$(kv status "$out")
	L_URL=$(kv url "$out")
	L_STATE=$(kv state "$out")
	L_NONCE=$(kv nonce "$out")
	L_VERIFIER=$(kv verifier "$out")
	CB= CODE= CB_STATE= CB_ISS= CB_ERR=
	[ "$L_STATUS" = ok ] || return 0
	CB=$(browse "$L_URL")
	CODE=$(qp code "$CB")
	CB_STATE=$(qp state "$CB")
	CB_ISS=$(urldecode "$(qp iss "$CB")")
	CB_ERR=$(qp error "$CB")
	[ -n "$CODE" ] && CODES+=("$CODE")
	return 0
}
finish() { drv finish "$CODE" "$L_VERIFIER" "$L_NONCE"; }

start_idp
like "$ISS" '^http://127\.0\.0\.1:[0-9]+$' "test IdP started ($ISS)"
[ -n "$ISS" ] || bail "the test IdP did not start: $(tail -5 "$OUT/idp.log")"

# ---- the happy path: client_secret_basic, RS256 ----
CONF=$(mkconf basic mcpgate "upstream_client_secret = $SECRET")
login
is "$L_STATUS" ok "begin: discovery fetched, authorization URL built"
like "$L_URL" "^$ISS/auth\?response_type=code&client_id=mcpgate&redirect_uri=http%3A%2F%2F127\.0\.0\.1%3A9%2Fgw%2Foauth%2Fcallback&" \
	"URL: provider endpoint, code flow, our callback"
like "$L_URL" "&scope=openid%20profile%20email&" "URL: scopes"
like "$L_URL" "&code_challenge=[A-Za-z0-9_-]{43}&code_challenge_method=S256$" "URL: PKCE S256"
like "$CB" "^$REDIR\?code=" "browser came back to the callback with a code"
is "$CB_STATE" "$L_STATE" "state round-trips"
is "$CB_ISS" "$ISS" "RFC 9207 iss in the authorization response"
is "$(kv status "$(drv iss "$CB_ISS")")" ok "iss check accepts the provider"
is "$(kv status "$(drv iss "$ISS/other")")" server_error "iss check refuses another issuer"
is "$(kv status "$(drv iss)")" server_error "iss required: the provider advertises it"
out=$(finish)
is "$(kv status "$out")" ok "finish: code exchanged, ID token verified"
is "$(kv user "$out")" "oidc:$ISS#alice" "identity is oidc:iss#sub"
is "$(kv name "$out")" "Alice Example" "display name from the ID token"
is "$(kv email "$out")" "alice@example.com" "email from the ID token"
out=$(drv tokens "oidc:$ISS#alice")
is "$(kv tokens "$out")" ok "provider tokens stored for the user"
is "$(kv opened_access_token "$out")" yes "sealed record opens with our key"
is "$(kv clear_in_store "$out")" no "no provider token in clear in the store"

out=$(finish)
is "$(kv status "$out")" access_denied "replayed code: provider refuses (invalid_grant)"

login
other=$(drv begin)
out=$(drv finish "$CODE" "$(kv verifier "$other")" "$L_NONCE")
is "$(kv status "$out")" access_denied "wrong PKCE verifier: provider refuses the code"
login
out=$(drv finish "$CODE" "$L_VERIFIER" "$(kv nonce "$other")")
is "$(kv status "$out")" server_error "nonce of another login: ID token refused"

as_user bob
login
out=$(finish)
is "$(kv user "$out")" "oidc:$ISS#bob" "another user"
as_user carol
login
out=$(finish)
is "$(kv status "$out")/$(kv name "$out")/$(kv email "$out")" "ok/carol/" \
	"no name or email: preferred_username shown"
as_user mallory
login
out=$(finish)
is "$(kv name "$out")" "Mallory <script>alert(1)</script>" \
	"control characters stripped from the display name (HTML is the page's job)"
as_user alice

# ---- other clients: ES256, client_secret_post, public ----
CONF=$(mkconf es256 mcpgate-es256 "upstream_client_secret = $SECRET")
login
out=$(finish)
is "$(kv status "$out")" ok "ES256-signed ID token verified"
is "$(kv user "$out")" "oidc:$ISS#alice" "ES256 identity"
CONF=$(mkconf post mcpgate-post "upstream_client_secret = $SECRET" \
	"upstream_token_auth = client_secret_post")
login
out=$(finish)
is "$(kv status "$out")" ok "client_secret_post"
CONF=$(mkconf badsecret mcpgate "upstream_client_secret = not-$SECRET")
login
out=$(finish)
is "$(kv status "$out")" server_error "wrong client secret: invalid_client is our fault"
CONF=$(mkconf public mcpgate-public "upstream_token_auth = none")
login
out=$(finish)
is "$(kv status "$out")" ok "public client: PKCE only"

# ---- a provider that lies or fails ----
CONF=$TMP/basic.conf
for m in bad_sig wrong_aud wrong_nonce wrong_iss expired alg_none hs256 unknown_kid; do
	mode "$m"
	login
	out=$(finish)
	is "$(kv status "$out")" server_error "ID token refused: $m"
	is "$(kv user "$out")" "" "no identity: $m"
done
mode rotate
login
out=$(finish)
is "$(kv status "$out")" server_error \
	"rotated key just after a JWKS fetch: no refetch within the interval"
CONF=$(mkconf rotate mcpgate "upstream_client_secret = $SECRET")
login
out=$(finish)
is "$(kv status "$out")" ok "rotated key found in a fresh JWKS"
CONF=$TMP/basic.conf
mode token_error
login
out=$(finish)
is "$(kv status "$out")" access_denied "token endpoint invalid_grant: access_denied"

mode deny
login
is "$CB_ERR" access_denied "provider denies: error=access_denied at the callback"
is "$CB_STATE" "$L_STATE" "denial carries our state"
is "$CODE" "" "no code on denial"
is "$(kv status "$("$TMP/driver" callback-error "$CB_ERR")")" access_denied \
	"callback maps it to access_denied"

for m in unavailable down; do
	mode normal
	login
	mode "$m"
	out=$(finish)
	is "$(kv status "$out")" temporarily_unavailable "token endpoint $m: temporarily_unavailable"
done
mode normal
login
mode slow
t0=$(date +%s%N)
out=$(finish)
t1=$(date +%s%N)
is "$(kv status "$out")" temporarily_unavailable "token endpoint too slow: timeout"
ms=$(((t1 - t0) / 1000000))
ok "$([ "$ms" -lt 7000 ] && echo 0 || echo 1)" "gave up within the 5 s cap (${ms} ms)"

mode wrong_discovery_issuer
CONF=$(mkconf disco mcpgate "upstream_client_secret = $SECRET")
out=$(drv begin)
is "$(kv status "$out")" server_error "discovery issuer mismatch refused"
is "$(kv url "$out")" "" "no authorization URL"
mode normal

# ---- the provider is gone ----
CONF=$TMP/basic.conf
login
stop_tree "$IDP_PID"
IDP_PID=
out=$(finish)
is "$(kv status "$out")" temporarily_unavailable "provider down at the token exchange"
out=$(drv begin)
is "$(kv status "$out")" ok "begin still works from cached discovery"
CONF=$(mkconf gone mcpgate "upstream_client_secret = $SECRET")
out=$(drv begin)
is "$(kv status "$out")" temporarily_unavailable "provider down at discovery"

# ---- what was logged ----
log=$(cat "$OUT/driver.log")
like "$log" 'upstream login failed" step=finish error=server_error reason="id token rejected"' \
	"failures logged with a reason"
unlike "$log" "$SECRET" "client secret never logged"
unlike "$log" 'eyJ[A-Za-z0-9_-]{10,}' "no JWT logged"
leaked=0
for c in "${CODES[@]}"; do
	[[ $log == *"$c"* ]] && leaked=1
done
is "$leaked" 0 "no authorization code logged (${#CODES[@]} checked)"
unlike "$log" 'AddressSanitizer|runtime error' "driver clean under ASan/UBSan"

done_testing
