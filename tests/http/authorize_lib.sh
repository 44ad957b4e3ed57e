# Shared by tests/http/authorize_*.t (sourced after tests/lib/servers.sh).
#
#   enc STR                   percent-encode STR for a query
#   loc_param NAME URL        decoded value of query parameter NAME (status 1: absent)
#   server_vars               ISS and RESOURCE for the server just started
#   authz_query CLIENT REDIRECT STATE SCOPE
#                             the query of a good authorization request
#   start_txn [curl args]     authorize ($CLIENT, $REDIRECT, $STATE, $SCOPE) and
#                             open the consent page: sets LOC, TXN, CSRF, RESP_*
#   consent_post BODY [curl args]
#                             POST the consent form as Chromium does (Origin:
#                             null under Referrer-Policy no-referrer, same-origin)
#   cookie_of                 NAME=VALUE of the response's first Set-Cookie
#   token CODE REDIRECT CLIENT  redeem a code at the token endpoint
#   VERIFIER / CHALLENGE      a PKCE S256 pair
#
# Cookies are handled by hand (read from Set-Cookie, sent with -H Cookie)
# rather than with curl's cookie jar: tests can then tamper with them, and do
# not depend on how a curl version treats Secure cookies on http://127.0.0.1
# (curl 7.88 keeps and sends them for 127.0.0.1 and localhost, as browsers
# do; older versions drop them).

VERIFIER=dBjftJeZ4CVP-mJ92K9rPM3kF2A5aV0k4W6oY0WSkxQxyz
CHALLENGE=$(printf '%s' "$VERIFIER" | openssl dgst -sha256 -binary | base64 -w0 | tr '+/' '-_' | tr -d '=')
CLIENT=app
REDIRECT=http://127.0.0.1:5555/cb
STATE=st-1
SCOPE='snippets:read snippets:write'

enc() { jq -rn --arg v "$1" '$v|@uri'; }

urldec() {
	local s=${1//+/ }
	printf '%b' "${s//%/\\x}"
}

loc_param() {
	local p q=${2#*\?}
	local -a ps
	IFS='&' read -ra ps <<<"$q"
	for p in "${ps[@]}"; do
		[ "${p%%=*}" = "$1" ] && { urldec "${p#*=}"; return 0; }
	done
	return 1
}

server_vars() {
	ISS=$SRV_PUBLIC_URL
	RESOURCE=$SRV_PUBLIC_URL/mcp
}

authz_query() {
	printf 'response_type=code&client_id=%s&redirect_uri=%s&state=%s&code_challenge=%s&code_challenge_method=S256&scope=%s&resource=%s' \
		"$(enc "$1")" "$(enc "$2")" "$(enc "$3")" "$CHALLENGE" "$(enc "$4")" "$(enc "$RESOURCE")"
}

start_txn() {
	hreq "$SRV_URL" GET "/oauth/authorize?$(authz_query "$CLIENT" "$REDIRECT" "$STATE" "$SCOPE")" "$@"
	LOC=$(resp_header Location)
	TXN=$(loc_param txn "$LOC")
	hreq "$SRV_URL" GET "/oauth/consent?txn=$TXN" "$@"
	CSRF=$(printf '%s' "$RESP_BODY" | sed -n 's/.*name="csrf" value="\([^"]*\)".*/\1/p')
}

consent_post() {
	local body=$1
	shift
	hreq "$SRV_URL" POST /oauth/consent --data-raw "$body" -H 'Origin: null' \
		-H 'Sec-Fetch-Site: same-origin' "$@"
}

cookie_of() {
	local c
	c=$(resp_header Set-Cookie) || return 1
	printf '%s\n' "${c%%;*}"
}

token() {
	hreq "$SRV_URL" POST /oauth/token --data-raw \
		"grant_type=authorization_code&code=$1&redirect_uri=$(enc "$2")&code_verifier=$VERIFIER&client_id=$(enc "$3")&resource=$(enc "$RESOURCE")"
}
