#!/usr/bin/env bash
# make test: install what the tests need, build everything, build the unit
# tests again under AddressSanitizer + UBSan, then run all tests in one prove
# run (TAP):
#   build/asan/tests/unit/*   unit tests, sanitized
#   tests/fuzz/replay.t       every fuzz target over its corpus, sanitized
#   tests/http/*.t            curl against lighttpd, Apache and plain CGI
#   tests/e2e/*.t             real clients through real servers (npm ci first)
#   bench/smoke.t             a 1-second smoke of every benchmark measure (never timed)
# Every test file is executed directly (prove --exec ''), so compiled tests
# and scripts with a #! line (bash, node) mix freely.
#
#   JOBS=n        parallel test files (default 1)
#   PROVE_ARGS=   extra prove options, e.g. -v
# Server logs of each test stay in tests/out/<test>/ (not in git).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

scripts/deps.sh test

ncpu=$(nproc 2>/dev/null || echo 2)
make -j"$ncpu" all

# The sanitizer flags are the Makefile's (check-asan); ask it rather than copy them.
asan_flags=$(make -s --no-print-directory -f Makefile -f - print-asan-flags \
	<<<$'print-asan-flags:\n\t@echo $(ASAN_FLAGS)')
make -j"$ncpu" BUILD=build/asan OPT="$asan_flags" \
	EXTRA_LDFLAGS="-fsanitize=address,undefined" unit replay

# The e2e tests' node packages (exact versions from package-lock.json).
if [ -f tests/e2e/package-lock.json ] &&
	{ [ ! -f tests/e2e/node_modules/.package-lock.json ] ||
		[ tests/e2e/package-lock.json -nt tests/e2e/node_modules/.package-lock.json ]; }; then
	(cd tests/e2e && npm ci --no-audit --no-fund --loglevel=error)
fi

tests=()
for f in build/asan/tests/unit/*; do
	[ -f "$f" ] && [ -x "$f" ] && tests+=("$f")
done
noexec=()
for f in tests/lint/*.t tests/fuzz/*.t tests/http/*.t tests/e2e/*.t bench/smoke.t; do
	[ -f "$f" ] || continue
	tests+=("$f")
	[ -x "$f" ] || noexec+=("$f")
done
[ "${#tests[@]}" -gt 0 ] || { echo "test: no tests found" >&2; exit 1; }
# prove runs each file itself (#! line); one it cannot execute aborts the run.
if [ "${#noexec[@]}" -gt 0 ]; then
	echo "test: not executable (chmod +x and a #! line): ${noexec[*]}" >&2
	exit 1
fi

rm -rf tests/out
mkdir -p tests/out

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

# A failing test prints the tail of its server logs itself; prove's summary
# stays the last thing printed, and its status is ours.
# shellcheck disable=SC2086
exec prove --exec '' -j"${JOBS:-1}" ${PROVE_ARGS:-} "${tests[@]}"
