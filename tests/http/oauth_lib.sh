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
	build_test_helper "$MCPGATE_ROOT/tests/http/oauth_mkcode.c" "$MKCODE"
}

mkcode() { as_web_user "$MKCODE" "$SRV_CONF" "$@"; }

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
