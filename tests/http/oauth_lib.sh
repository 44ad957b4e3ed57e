# Shared by tests/http/oauth_*.t (sourced after tests/lib/servers.sh).
#
#   oauth_helper_build        compile tests/http/oauth_mkcode.c against the
#                             library the programs under test came from
#   mkcode CLIENT REDIRECT CHALLENGE [SCOPE [USER [RESOURCE]]]
#                             print a fresh authorization code (as consent would)
#   register JSON             POST /oauth/register; sets CLIENT_ID, CLIENT_SECRET
#   form_post PATH BODY [curl args]   POST a form to PATH below SRV_PUBLIC_URL
#   VERIFIER / CHALLENGE      a PKCE S256 pair (RFC 7636 appendix B)

VERIFIER=dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk
CHALLENGE=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM
MKCODE=$TEST_OUT/oauth_mkcode

oauth_helper_build() {
	local build=${BIN_DIR%/cgi-bin}
	local -a san=()
	[ -f "$build/libmcpgate.a" ] || bail "$build/libmcpgate.a is missing: run make first"
	# A sanitized library needs the sanitizer runtime at link time.
	nm "$build/libmcpgate.a" 2>/dev/null | grep -q __asan_ && san=(-fsanitize=address,undefined)
	# shellcheck disable=SC2046
	cc -std=c11 -D_GNU_SOURCE -I"$MCPGATE_ROOT/src" "${san[@]}" -o "$MKCODE" \
		"$MCPGATE_ROOT/tests/http/oauth_mkcode.c" "$build/libmcpgate.a" \
		$(pkg-config --cflags --libs fcgi json-c libcurl openssl) -lgdbm -lpthread ||
		bail "cannot build oauth_mkcode"
	chmod 0755 "$MKCODE"
}

# The store belongs to the server's user; write it as that user too.
mkcode() {
	if [ "$(id -u)" -eq 0 ]; then
		runuser -u "$WEB_USER" -- "$MKCODE" "$SRV_CONF" "$@"
	else
		"$MKCODE" "$SRV_CONF" "$@"
	fi
}

form_post() {
	local path=$1 body=$2
	shift 2
	hreq "$SRV_URL" POST "${SRV_PUBLIC_URL#"$SRV_URL"}$path" \
		-H 'Content-Type: application/x-www-form-urlencoded' --data-binary "$body" "$@"
}

register() {
	hreq "$SRV_URL" POST "${SRV_PUBLIC_URL#"$SRV_URL"}/oauth/register" \
		-H 'Content-Type: application/json' --data-binary "$1"
	CLIENT_ID=$(resp_json .client_id)
	CLIENT_SECRET=$(resp_json '.client_secret // empty')
}

# URL-encode $1 for a form body.
enc() { jq -rn --arg v "$1" '$v|@uri'; }
