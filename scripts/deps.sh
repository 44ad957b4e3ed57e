#!/usr/bin/env bash
# Make sure the Debian packages a task needs are installed.
#
#   scripts/deps.sh build|run|test
#
#   build  compiler and libraries
#   run    build + libcurl4, lighttpd, apache2-utils (htpasswd), openssl   (make run)
#   test   everything the test suite drives: both web servers,
#          curl, jq, clang, perl (prove), node/npm, chromium   (make test)
#
# Missing packages are installed with apt-get when running as root;
# otherwise the one apt-get command needed is printed and the exit status is 1.
set -euo pipefail

profile=${1:-}

build=(gcc make pkg-config libfcgi-dev libgdbm-dev libjson-c-dev libcurl4-openssl-dev libssl-dev)
# libcurl4 is not a link dependency of the programs (src/fetch.c loads
# libcurl.so.4 when a program first makes an outbound request), so nothing
# else names it: list it explicitly.
run=("${build[@]}" libcurl4 lighttpd apache2-utils openssl)
# chromium: tests/e2e drives the consent page in a headless browser.
test=("${run[@]}" apache2 curl jq clang cppcheck perl procps binutils util-linux chromium)
test+=(wrk) # load generator of bench/run.sh (make bench, bench/smoke.t)

case $profile in
build) want=("${build[@]}") ;;
run) want=("${run[@]}") ;;
test)
	want=("${test[@]}")
	# Node may come from elsewhere (nodesource, nvm); only ask Debian for it
	# when there is none at all.
	command -v node >/dev/null 2>&1 || want+=(nodejs)
	command -v npm >/dev/null 2>&1 || want+=(npm)
	;;
*)
	echo "usage: $0 build|run|test" >&2
	exit 2
	;;
esac

missing=()
for p in "${want[@]}"; do
	status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
	[ "$status" = installed ] || missing+=("$p")
done
[ "${#missing[@]}" -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "deps: missing packages for '$profile'; install them with:" >&2
	echo "  sudo apt-get install -y ${missing[*]}" >&2
	exit 1
fi

echo "deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
# Installing lighttpd or apache2 would start them as system services on
# port 80 (and the second would fail to).  mcpgate runs its own instances, so
# forbid service starts during the install, unless a policy already exists.
policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then
	printf '#!/bin/sh\nexit 101\n' >"$policy"
	chmod 0755 "$policy"
	trap 'rm -f "$policy"' EXIT
fi
apt-get update
apt-get install -y --no-install-recommends "${missing[@]}"
