#!/usr/bin/env bash
# The shipped web server configurations send each URL to the right program:
# lighttpd.conf, apache/mcpgate.conf (+ mcpgate-backends) and
# apache/shared-hosting.htaccess, at the root and below a path.  Every program
# logs `mcpgate[<program>] ... path="<path>"` for each request, so the error
# log tells which program answered.  Only programs that are built are checked.
# Also: the remote-user login guards /oauth/authorize, and URLs that are not
# mcpgate's are refused.
. "$(dirname "${BASH_SOURCE[0]}")/../lib/servers.sh"

# URL (below the prefix)   program
ROUTES=(
	"/mcp/sse sse"
	"/mcp message"
	"/mcp/message message"
	"/oauth/register register"
	"/oauth/authorize authorize"
	"/oauth/consent consent"
	"/oauth/callback callback"
	"/oauth/token token"
	"/oauth/revoke revoke"
	"/oauth/introspect introspect"
)

# served_by LOG PROGRAM PATH: the program logged a request for PATH.
served_by() {
	local _
	for _ in $(seq 1 20); do
		grep -F "mcpgate[$2]" "$1" 2>/dev/null | grep -qF "path=\"$3\"" && return 0
		sleep 0.05
	done
	return 1
}

check_routes() {
	local t=$1 log=$2 pre=${3:-} r url prog
	for r in "${ROUTES[@]}"; do
		url=$pre${r% *} prog=${r#* }
		if [ ! -x "$BIN_DIR/$prog" ]; then
			skip "$t: $url" "$prog is not built yet"
			continue
		fi
		# Any answer will do; an SSE stream is cut short.
		hreq "$SRV_URL" GET "$url" --max-time 2 -u "demo:$PASSWORD"
		served_by "$log" "$prog" "$url"
		ok $? "$t: $url is served by $prog (HTTP $RESP_STATUS)"
	done
	hreq "$SRV_URL" GET "$pre/.well-known/openid-configuration"
	served_by "$log" metadata "$pre/.well-known/openid-configuration"
	ok $? "$t: $pre/.well-known/openid-configuration is served by metadata"
}

check_login() {
	local t=$1 log=$2 pre=${3:-}
	hreq "$SRV_URL" GET "$pre/oauth/authorize"
	is "$RESP_STATUS" 401 "$t: /oauth/authorize asks for a login"
	like "$(resp_header WWW-Authenticate)" '^Basic ' "$t: with HTTP Basic"
	# lighttpd answers a wrong password after a second: once is enough.
	if [ -z "$pre" ]; then
		hreq "$SRV_URL" GET "$pre/oauth/authorize" -u demo:wrong
		is "$RESP_STATUS" 401 "$t: a wrong password is refused"
	fi
	hreq "$SRV_URL" GET "$pre/oauth/consent"
	is "$RESP_STATUS" 401 "$t: /oauth/consent asks for the same login"
	if [ -x "$BIN_DIR/token" ]; then
		hreq "$SRV_URL" GET "$pre/oauth/token?nologin=1"
		served_by "$log" token "$pre/oauth/token"
		ok $? "$t: /oauth/token is not behind the login"
	fi
}

check_refused() {
	local t=$1
	for url in / /etc/passwd /mcpgate.conf /.well-known/acme-challenge/x /cgi-bin/metadata \
		/mcpgate-cgi/ /sock/metadata.sock; do
		hreq "$SRV_URL" GET "$url"
		like "$RESP_STATUS" '^40[34]$' "$t: $url is refused ($RESP_STATUS)"
	done
}

PASSWORD=$(openssl rand -hex 12)
HTPASSWD=$(make_htpasswd demo "$PASSWORD")

start_lighttpd --htpasswd "$HTPASSWD"
check_routes lighttpd "$SRV_LOG"
check_login lighttpd "$SRV_LOG"
check_refused lighttpd

start_lighttpd --prefix /gw --htpasswd "$HTPASSWD"
check_routes lighttpd-gw "$SRV_LOG" /gw
check_login lighttpd-gw "$SRV_LOG" /gw
hreq "$SRV_URL" GET /oauth/token
like "$RESP_STATUS" '^40[34]$' "lighttpd-gw: /oauth/token outside the prefix is refused"

start_apache --htpasswd "$HTPASSWD"
check_routes apache "$TEST_OUT/apache-$_LIB_SEQ-backends.log"
check_login apache "$TEST_OUT/apache-$_LIB_SEQ-backends.log"
check_refused apache

start_apache --prefix /gw --htpasswd "$HTPASSWD"
check_routes apache-gw "$TEST_OUT/apache-$_LIB_SEQ-backends.log" /gw
check_login apache-gw "$TEST_OUT/apache-$_LIB_SEQ-backends.log" /gw

# Shared hosting, with its (shipped commented-out) login block switched on.
start_apache --cgi --htpasswd "$HTPASSWD"
check_routes apache-cgi "$SRV_LOG"
check_login apache-cgi "$SRV_LOG"
check_refused apache-cgi

done_testing
