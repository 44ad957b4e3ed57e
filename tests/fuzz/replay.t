#!/usr/bin/env bash
# Replays every fuzz target's corpus (built by `make replay`, under ASan/UBSan
# in the test run).  One TAP line per target; a crash or sanitizer report fails it.
set -u
cd "$(dirname "$0")/../.." || exit 1
build=${MCPGATE_TEST_BUILD:-build/asan}
n=0 fail=0
for bin in "$build"/tests/fuzz/replay_*; do
	[ -x "$bin" ] || continue
	t=${bin##*/replay_}
	n=$((n + 1))
	files=(tests/fuzz/corpus/"$t"/*)
	if [ ! -e "${files[0]}" ]; then
		echo "not ok $n - $t: empty corpus"
		fail=1
		continue
	fi
	if out=$("$bin" "${files[@]}" 2>&1); then
		echo "ok $n - $t: ${#files[@]} inputs replayed"
	else
		echo "not ok $n - $t"
		printf '%s\n' "$out" | tail -20 | sed 's/^/# /'
		fail=1
	fi
done
echo "1..$n"
exit $fail
