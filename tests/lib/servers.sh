# shellcheck shell=bash
# Servers for HTTP tests (sourced by tests/http/*.t and tests/e2e/*.t).
#
# Each start_* function makes a fresh instance: a temp dir with an mcpgate
# config, key file and store, a free loopback port, the shipped web server
# configuration, and the error log under tests/out/<test>/.  It returns once
# the server answers, and sets
#   SRV_URL         http://127.0.0.1:PORT            (origin to send requests to)
#   SRV_PUBLIC_URL  SRV_URL + prefix                  (the config's public_url)
#   SRV_PORT SRV_DIR SRV_CONF (mcpgate config) SRV_LOG (error log) SRV_PID
# Files the servers or programs read (htpasswd, client lists) belong in
# $TEST_TMP, not $TEST_OUT: see there.
# Servers run in process groups of their own; everything started is stopped
# by PID and group when the test exits, children included.
#
#   start_lighttpd [opts]   lighttpd.conf, programs spawned by lighttpd
#   start_apache   [opts]   apache/mcpgate.conf + apache/mcpgate-backends
#   start_apache --cgi [opts]  apache/shared-hosting.htaccess, programs as CGI
#   new_cgi        [opts]   no server: state + config for run_cgi
#   run_cgi [-e NAME=VALUE]... PROGRAM METHOD URI [BODY]
#                           one plain-CGI request; raw output on stdout,
#                           stderr appended to $CGI_LOG
# opts: --prefix /gw          mount path (public_url gets it too)
#       --conf-line 'k = v'   extra line for the mcpgate config (repeatable)
#       --htpasswd FILE       HTTP Basic login on /oauth/authorize, consent
#       --procs N             processes per program (default 1)
#
# Helpers: make_htpasswd USER PASSWORD, make_keyfile PATH, free_port,
#   server_pid PROGRAM (a running process of it, newest server first),
#   stop_tree PID... (scripts/proc.sh).  Set MCPGATE_TEST_KEEP=1 to keep the
#   temp dirs, MCPGATE_TEST_BIN_DIR to test other builds (e.g. build/asan/cgi-bin).
#
# Requests (any of the above):  hreq TARGET METHOD PATH [curl args...]
#   TARGET is a URL origin, or cgi:PROGRAM for run_cgi with $CGI_CONF.
#   Sets RESP_STATUS, RESP_HEADERS (CRLF stripped), RESP_BODY;
#   resp_header NAME prints the first value of a response header;
#   resp_json [jq options] FILTER runs jq -r over the body.

. "${BASH_SOURCE[0]%/*}/tap.sh"

MCPGATE_ROOT=$(cd "${BASH_SOURCE[0]%/*}/../.." && pwd)
. "$MCPGATE_ROOT/scripts/proc.sh"
TEST_NAME=$(basename "$0" .t)
TEST_OUT=$MCPGATE_ROOT/tests/out/$TEST_NAME
# Programs under test; point it at build/asan/cgi-bin to run them sanitized.
BIN_DIR=${MCPGATE_TEST_BIN_DIR:-$MCPGATE_ROOT/build/cgi-bin}
APACHE_MODULES=${APACHE_MODULES:-/usr/lib/apache2/modules}
CGI_LOG=$TEST_OUT/cgi.log

rm -rf "$TEST_OUT"
mkdir -p "$TEST_OUT"

# Servers started as root drop to this user, as they would in production.
if [ "$(id -u)" -eq 0 ]; then
	WEB_USER=www-data
	id -u "$WEB_USER" >/dev/null 2>&1 || WEB_USER=nobody
	WEB_GROUP=$(id -gn "$WEB_USER")
else
	WEB_USER=$(id -un)
	WEB_GROUP=$(id -gn)
fi

_LIB_PIDS=()
_LIB_DIRS=()
_LIB_SEQ=0

# Scratch space for files the servers must read (htpasswd, client lists):
# servers started as root read them as WEB_USER, who may not be able to
# reach tests/out inside the checkout.  Removed when the test exits.
TEST_TMP=$(mktemp -d "${TMPDIR:-/tmp}/mcpgate-$TEST_NAME.XXXXXX")
chmod 0755 "$TEST_TMP"
_LIB_DIRS+=("$TEST_TMP")

# --- processes: stop_tree and friends live in scripts/proc.sh ---------

# server_pid PROGRAM: the pid of a running process named PROGRAM started by
# the newest server that has one (earlier servers of a test may still run).
server_pid() {
	local i p
	for ((i = ${#_LIB_PIDS[@]} - 1; i >= 0; i--)); do
		for p in $(proc_tree "${_LIB_PIDS[i]}"); do
			if [ "$(cat "/proc/$p/comm" 2>/dev/null)" = "$1" ] && proc_alive "$p"; then
				printf '%s\n' "$p"
				return 0
			fi
		done
	done
	return 1
}

_lib_exit() {
	local rc=$? f
	# Clean up first: writing the diagnostics may fail (a closed pipe).
	trap '' PIPE
	[ "${#_LIB_PIDS[@]}" -gt 0 ] && stop_tree "${_LIB_PIDS[@]}"
	[ -n "${MCPGATE_TEST_KEEP:-}" ] || rm -rf "${_LIB_DIRS[@]}"
	if [ "$TAP_FAILED" -gt 0 ] || [ "$rc" -ne 0 ]; then
		for f in "$TEST_OUT"/*.log; do
			[ -s "$f" ] || continue
			diag "--- last lines of ${f#"$MCPGATE_ROOT"/} ---"
			diag "$(tail -n 10 "$f")"
		done 2>/dev/null
	fi
	exit "$rc"
}
trap _lib_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
# Output piped into `head` must not kill the test before it cleans up.
trap 'exit 141' PIPE

# --- instance state --------------------------------------------------------

# A fresh key file at $1: mcpgate-keygen when built, else the documented
# format (<kid> <base64url of 32 random bytes>), mode 0600.
make_keyfile() {
	if [ -x "$BIN_DIR/mcpgate-keygen" ]; then
		"$BIN_DIR/mcpgate-keygen" "$1" >/dev/null
	else
		(umask 077 && printf 'k1 %s\n' \
			"$(openssl rand 32 | base64 -w0 | tr '+/' '-_' | tr -d '=')" >"$1")
	fi
}

# _lib_state NAME PUBLIC_URL CONF_LINES...: SRV_DIR with state/ (store, keys)
# and mcpgate.conf; owned by WEB_USER so the dropped-privilege programs can
# use it.  Socket dirs are kept short: unix socket paths max out at 107 bytes.
_lib_state() {
	local name=$1 url=$2 line
	shift 2
	SRV_DIR=$(mktemp -d "${TMPDIR:-/tmp}/mcpgate-$name.XXXXXX")
	_LIB_DIRS+=("$SRV_DIR")
	chmod 0755 "$SRV_DIR"
	mkdir -p "$SRV_DIR/state" "$SRV_DIR/sock"
	make_keyfile "$SRV_DIR/state/keys"
	SRV_CONF=$SRV_DIR/mcpgate.conf
	{
		printf '# %s instance of %s\n' "$name" "$TEST_NAME"
		printf 'public_url = %s\n' "$url"
		printf 'store = %s\n' "$SRV_DIR/state/mcpgate.db"
		printf 'key_file = %s\n' "$SRV_DIR/state/keys"
		# remote-user unless the test asks for another identity.
		printf '%s\n' "$@" | grep -q '^[[:space:]]*identity[[:space:]]*=' ||
			printf 'identity = remote-user\n'
		# The sse program's delivery socket lives beside the FastCGI sockets.
		printf 'runtime_dir = %s\n' "$SRV_DIR/sock"
		for line in "$@"; do printf '%s\n' "$line"; done
	} >"$SRV_CONF"
	chmod 0644 "$SRV_CONF"
	if [ "$(id -u)" -eq 0 ]; then
		chown -R "$WEB_USER:$WEB_GROUP" "$SRV_DIR/state" "$SRV_DIR/sock"
	fi
}

# Parse the options shared by the start_* functions into _O_*.
_lib_opts() {
	_O_PREFIX='' _O_HTPASSWD='' _O_PROCS=1 _O_CGI='' _O_LINES=()
	while [ $# -gt 0 ]; do
		case $1 in
		--prefix) _O_PREFIX=$2; shift 2 ;;
		--conf-line) _O_LINES+=("$2"); shift 2 ;;
		--htpasswd) _O_HTPASSWD=$2; shift 2 ;;
		--procs) _O_PROCS=$2; shift 2 ;;
		--cgi) _O_CGI=1; shift ;;
		*) bail "unknown option $1" ;;
		esac
	done
}

# The programs as the servers see them.  Servers started as root run them as
# WEB_USER, which may not be able to reach the checkout (say, under /root):
# then they get a copy.
_lib_server_bin() {
	local d
	[ -n "${_LIB_SERVER_BIN:-}" ] && return 0
	_LIB_SERVER_BIN=$BIN_DIR
	[ "$(id -u)" -eq 0 ] || return 0
	runuser -u "$WEB_USER" -- test -r "$BIN_DIR" -a -x "$BIN_DIR" 2>/dev/null && return 0
	d=$(mktemp -d "${TMPDIR:-/tmp}/mcpgate-bin.XXXXXX")
	_LIB_DIRS+=("$d")
	cp -p "$BIN_DIR"/* "$d/"
	chmod 0755 "$d"
	_LIB_SERVER_BIN=$d
}

# make_htpasswd USER PASSWORD: $TEST_TMP/htpasswd with that user added
# (bcrypt), readable by the servers; prints its path.
make_htpasswd() {
	local f=$TEST_TMP/htpasswd c=
	[ -e "$f" ] || c=c
	printf '%s\n' "$2" | htpasswd -iB$c "$f" "$1" 2>/dev/null
	chmod 0644 "$f"
	printf '%s\n' "$f"
}

_lib_need_bin() {
	[ -x "$BIN_DIR/$1" ] || _lib_fail "$BIN_DIR/$1 is missing: run make first"
}

# A server that does not start fails this test file only (a TAP "Bail out!"
# would stop every other test file too); the exit trap shows the logs.
_lib_fail() {
	ok 1 "$1"
	exit 1
}

# --- lighttpd ----------------------------------------------------------------

start_lighttpd() {
	_lib_opts "$@"
	_lib_server_bin
	_LIB_SEQ=$((_LIB_SEQ + 1))
	SRV_LOG=$TEST_OUT/lighttpd-$_LIB_SEQ.log
	for _ in 1 2 3; do
		SRV_PORT=$(free_port) || _lib_fail "no free port"
		SRV_URL=http://127.0.0.1:$SRV_PORT
		SRV_PUBLIC_URL=$SRV_URL$_O_PREFIX
		_lib_state lighttpd "$SRV_PUBLIC_URL" "${_O_LINES[@]}"
		MCPGATE_PORT=$SRV_PORT MCPGATE_BIND=127.0.0.1 MCPGATE_BIN_DIR=$_LIB_SERVER_BIN \
			MCPGATE_CONFIG=$SRV_CONF MCPGATE_SOCKET_DIR=$SRV_DIR/sock \
			MCPGATE_PREFIX=$_O_PREFIX MCPGATE_PROCS=$_O_PROCS MCPGATE_USER=$WEB_USER \
			MCPGATE_GROUP=$WEB_GROUP MCPGATE_HTPASSWD=$_O_HTPASSWD MCPGATE_ERRORLOG='' \
			setsid lighttpd -D -f "$MCPGATE_ROOT/lighttpd.conf" </dev/null >>"$SRV_LOG" 2>&1 &
		SRV_PID=$!
		_LIB_PIDS+=("$SRV_PID")
		wait_http "$SRV_URL/" "$SRV_PID" && return 0
		stop_tree "$SRV_PID"
		# Someone else may have taken the port between the check and bind.
		grep -q 'Address already in use' "$SRV_LOG" || break
	done
	_lib_fail "lighttpd starts (see ${SRV_LOG#"$MCPGATE_ROOT"/})"
}

# --- Apache ----------------------------------------------------------------

# The generated server config: just enough Apache around the shipped file.
_lib_httpd_conf() {
	local m
	cat <<EOF
ServerRoot "$SRV_DIR"
ServerName 127.0.0.1
Listen 127.0.0.1:$SRV_PORT
PidFile "$SRV_DIR/run/httpd.pid"
DefaultRuntimeDir "$SRV_DIR/run"
ErrorLog "$SRV_LOG"
LogLevel warn
EOF
	for m in mpm_event authz_core authn_core authn_file auth_basic authz_user \
		proxy proxy_fcgi rewrite env cgid; do
		printf 'LoadModule %s_module "%s/mod_%s.so"\n' "$m" "$APACHE_MODULES" "$m"
	done
	[ "$(id -u)" -eq 0 ] && printf 'User %s\nGroup %s\n' "$WEB_USER" "$WEB_GROUP"
	cat <<EOF
ScriptSock "$SRV_DIR/run/cgid.sock"
DocumentRoot "$SRV_DIR/htdocs"
<Directory />
    AllowOverride None
    Require all denied
</Directory>
<Directory "$SRV_DIR/htdocs">
    AllowOverride All
    Require all granted
</Directory>
EOF
	if [ -n "$_O_CGI" ]; then
		return 0
	fi
	printf 'Define MCPGATE_SOCKET_DIR "%s"\n' "$SRV_DIR/sock"
	[ -n "$_O_PREFIX" ] && printf 'Define MCPGATE_PREFIX "%s"\n' "$_O_PREFIX"
	[ -n "$_O_HTPASSWD" ] && printf 'Define MCPGATE_HTPASSWD "%s"\n' "$_O_HTPASSWD"
	printf 'Include "%s/apache/mcpgate.conf"\n' "$MCPGATE_ROOT"
}

# The shared-hosting layout: the shipped .htaccess in the web root with the
# config path filled in, and the programs in mcpgate-cgi/.
_lib_htdocs_cgi() {
	local p
	mkdir -p "$SRV_DIR/htdocs/mcpgate-cgi"
	local -a login=()
	# --htpasswd: switch on the file's commented-out login block, as its
	# instructions say.
	[ -n "$_O_HTPASSWD" ] && login=(
		-e '/^#<FilesMatch "^(authorize|consent)\$">/,/^#<\/FilesMatch>/s/^#//'
		-e "s|^\([[:space:]]*AuthUserFile\) .*|\1 $_O_HTPASSWD|")
	sed -e "s|^SetEnv MCPGATE_CONFIG .*|SetEnv MCPGATE_CONFIG $SRV_CONF|" "${login[@]}" \
		"$MCPGATE_ROOT/apache/shared-hosting.htaccess" >"$SRV_DIR/htdocs/.htaccess"
	for p in "$BIN_DIR"/*; do
		case ${p##*/} in mcpgate-*) continue ;; esac
		[ -f "$p" ] && [ -x "$p" ] && cp "$p" "$SRV_DIR/htdocs/mcpgate-cgi/"
	done
	chmod -R a+rX "$SRV_DIR/htdocs"
}

_lib_wait_socket() {
	local i
	for i in $(seq 1 200); do
		[ -S "$1" ] && return 0
		proc_alive "$2" || return 1
		sleep 0.05
	done
	return 1
}

start_apache() {
	local bpid=
	_lib_opts "$@"
	_lib_server_bin
	_LIB_SEQ=$((_LIB_SEQ + 1))
	local tag=apache-$_LIB_SEQ
	[ -n "$_O_CGI" ] && tag=apache-cgi-$_LIB_SEQ
	SRV_LOG=$TEST_OUT/$tag-error.log
	for _ in 1 2 3; do
		SRV_PORT=$(free_port) || _lib_fail "no free port"
		SRV_URL=http://127.0.0.1:$SRV_PORT
		SRV_PUBLIC_URL=$SRV_URL$_O_PREFIX
		_lib_state apache "$SRV_PUBLIC_URL" "${_O_LINES[@]}"
		mkdir -p "$SRV_DIR/run" "$SRV_DIR/htdocs"
		if [ -n "$_O_CGI" ]; then
			_lib_htdocs_cgi
		else
			MCPGATE_BIN_DIR=$_LIB_SERVER_BIN MCPGATE_CONFIG=$SRV_CONF \
				MCPGATE_SOCKET_DIR=$SRV_DIR/sock MCPGATE_PROCS=$_O_PROCS \
				MCPGATE_USER=$WEB_USER MCPGATE_GROUP=$WEB_GROUP MCPGATE_STOP_TIMEOUT=0.5 \
				setsid "$MCPGATE_ROOT/apache/mcpgate-backends" </dev/null \
				>>"$TEST_OUT/$tag-backends.log" 2>&1 &
			bpid=$!
			_LIB_PIDS+=("$bpid")
			_lib_wait_socket "$SRV_DIR/sock/metadata.sock" "$bpid" ||
				_lib_fail "mcpgate-backends starts (see tests/out/$TEST_NAME/$tag-backends.log)"
		fi
		_lib_httpd_conf >"$SRV_DIR/httpd.conf"
		setsid apache2 -f "$SRV_DIR/httpd.conf" -DFOREGROUND </dev/null \
			>>"$TEST_OUT/$tag-stderr.log" 2>&1 &
		SRV_PID=$!
		_LIB_PIDS+=("$SRV_PID")
		wait_http "$SRV_URL/" "$SRV_PID" && return 0
		stop_tree "$SRV_PID"
		[ -n "${bpid:-}" ] && stop_tree "$bpid"
		grep -q 'Address already in use' "$SRV_LOG" "$TEST_OUT/$tag-stderr.log" 2>/dev/null ||
			break
	done
	_lib_fail "apache starts (see ${SRV_LOG#"$MCPGATE_ROOT"/})"
}

# --- plain CGI -------------------------------------------------------------

# State and config for run_cgi; public_url names a port nobody listens on,
# which is fine: CGI output does not depend on it being reachable.
new_cgi() {
	_lib_opts "$@"
	SRV_PORT=8999
	SRV_URL=http://127.0.0.1:$SRV_PORT
	SRV_PUBLIC_URL=$SRV_URL$_O_PREFIX
	_lib_state cgi "$SRV_PUBLIC_URL" "${_O_LINES[@]}"
	SRV_LOG=$CGI_LOG
	SRV_PID=
	CGI_CONF=$SRV_CONF
}

run_cgi() {
	local -a extra=()
	while [ "${1:-}" = -e ]; do
		extra+=("$2")
		shift 2
	done
	local prog=$1 method=$2 uri=$3 body=${4-}
	local query=
	[[ $uri == *\?* ]] && query=${uri#*\?}
	local -a envv=(
		PATH=/usr/bin:/bin
		GATEWAY_INTERFACE=CGI/1.1
		SERVER_PROTOCOL=HTTP/1.1
		SERVER_SOFTWARE=mcpgate-tests
		SERVER_NAME=127.0.0.1
		SERVER_PORT="$SRV_PORT"
		REMOTE_ADDR=127.0.0.1
		REQUEST_METHOD="$method"
		REQUEST_URI="$uri"
		SCRIPT_NAME="/$prog"
		QUERY_STRING="$query"
		MCPGATE_CONFIG="${CGI_CONF:-}"
	)
	[ -n "$body" ] && envv+=(CONTENT_LENGTH="${#body}"
		CONTENT_TYPE="${CGI_CONTENT_TYPE:-application/x-www-form-urlencoded}")
	_lib_need_bin "$prog"
	printf '%s' "$body" | env -i "${envv[@]}" "${extra[@]}" "$BIN_DIR/$prog" 2>>"$CGI_LOG"
}

# --- requests ---------------------------------------------------------------

RESP_STATUS='' RESP_HEADERS='' RESP_BODY=''

hreq() {
	local target=$1 method=$2 path=$3 raw hdr
	shift 3
	if [[ $target == cgi:* ]]; then
		# Only a request body carries over from the curl arguments.
		local body='' a b
		while [ $# -gt 0 ]; do
			case $1 in -d | --data | --data-raw) body=$2; shift ;; esac
			shift
		done
		raw=$(run_cgi "${target#cgi:}" "$method" "$path" "$body"; printf x)
		raw=${raw%x}
		# CGI output: header lines, an empty line, the body; CRLF or LF.
		a=${raw%%$'\r\n\r\n'*}
		b=${raw%%$'\n\n'*}
		if [ "$a" != "$raw" ] && [ "${#a}" -le "${#b}" ]; then
			hdr=$a RESP_BODY=${raw:${#a}+4}
		elif [ "$b" != "$raw" ]; then
			hdr=$b RESP_BODY=${raw:${#b}+2}
		else
			hdr=$raw RESP_BODY=
		fi
		RESP_HEADERS=${hdr//$'\r'/}
		RESP_STATUS=$(resp_header Status)
		RESP_STATUS=${RESP_STATUS%% *}
		[ -n "$RESP_STATUS" ] || RESP_STATUS=200
		return 0
	fi
	local tmp=$TEST_OUT/.resp
	RESP_STATUS=$(curl -sS -X "$method" -D "$tmp.h" -o "$tmp.b" -w '%{http_code}' \
		--max-time 10 "$@" "$target$path") || RESP_STATUS=000
	RESP_HEADERS=$(tr -d '\r' <"$tmp.h" 2>/dev/null)
	RESP_BODY=$(cat "$tmp.b" 2>/dev/null; printf x)
	RESP_BODY=${RESP_BODY%x}
	rm -f "$tmp.h" "$tmp.b"
}

# First value of response header $1 (case-insensitive), without CR.
resp_header() {
	local name=${1,,} line key value
	while IFS= read -r line; do
		key=${line%%:*}
		[ "$key" != "$line" ] && [ "${key,,}" = "$name" ] || continue
		value=${line#*:}
		printf '%s\n' "${value#"${value%%[! ]*}"}"
		return 0
	done <<<"$RESP_HEADERS"
	return 1
}

# jq over the response body: resp_json [jq options...] FILTER; raw output.
resp_json() {
	printf '%s' "$RESP_BODY" | jq -r "$@" 2>/dev/null
}

# build_test_helper SRC OUT: compile a test-only C program against the library
# the programs under test came from (with the sanitizer runtime when that
# library is sanitized).
build_test_helper() {
	local src=$1 out=$2 build=${BIN_DIR%/cgi-bin}
	local -a san=()
	[ -f "$build/libmcpgate.a" ] || bail "$build/libmcpgate.a is missing: run make first"
	nm "$build/libmcpgate.a" 2>/dev/null | grep -q __asan_ && san=(-fsanitize=address,undefined)
	# shellcheck disable=SC2046
	cc -std=c11 -D_GNU_SOURCE -I"$MCPGATE_ROOT/src" "${san[@]}" -o "$out" "$src" \
		"$build/libmcpgate.a" $(pkg-config --cflags --libs fcgi json-c libcurl openssl) \
		-lgdbm -lpthread || bail "cannot build ${src##*/}"
	chmod 0755 "$out"
}

# as_web_user CMD...: run a command that writes the store as the server's
# user, who owns it.
as_web_user() {
	if [ "$(id -u)" -eq 0 ]; then
		runuser -u "$WEB_USER" -- "$@"
	else
		"$@"
	fi
}
