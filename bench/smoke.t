#!/usr/bin/env bash
# The benchmark keeps working: a smoke run (BENCH_SMOKE=1, about a second per
# run) of every measure into a temporary directory, then a check that each
# measure produced its figures.  Timing is never asserted: benchmarks are
# not tests.  The peer's checks are skipped when it cannot be installed
# (no node/npm, or npm ci failing).  TAP on stdout.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=$(mktemp -d "${TMPDIR:-/tmp}/mcpgate-bench-smoke.XXXXXX")
trap 'rm -rf "$out"' EXIT
n=0 failed=0

ok() {
	n=$((n + 1))
	if [ "$1" -eq 0 ]; then
		echo "ok $n - $2"
	else
		echo "not ok $n - $2"
		failed=$((failed + 1))
	fi
}
skip() { n=$((n + 1)); echo "ok $n # SKIP $1"; }
diag() { sed 's/^/# /'; }

# A figure: MEASURE SYSTEM KEY is a number in results.json.
number() {
	jq -e --arg m "$1" --arg s "$2" --arg k "$3" \
		'.results[$m][$s][$k] | type == "number"' "$out/results.json" >/dev/null 2>&1
}
figure() {
	number "$@"
	ok $? "measure $1, $2: $3 is a number"
}

peer=1
command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || peer=0

BENCH_SMOKE=1 BENCH_OUT=$out BENCH_PEER=$peer timeout 300 "$ROOT/bench/run.sh" \
	>"$out/run.log" 2>&1
rc=$?
ok $rc "BENCH_SMOKE=1 bench/run.sh runs every measure"
[ "$rc" -eq 0 ] || tail -n 30 "$out/run.log" | diag
[ -s "$out/results.json" ] && grep -q '^## Figures' "$out/RESULTS.md" 2>/dev/null
ok $? "it writes results.json and RESULTS.md"
[ "$(jq -r .settings.peer "$out/results.json" 2>/dev/null)" = true ] || peer=0

for s in mcpgate bare peer; do
	for m in 1 2 4a 4b 4c; do
		if [ "$s" = peer ] && [ "$peer" = 0 ]; then skip "peer not installed"; continue; fi
		figure "$m" "$s" rps
	done
	if [ "$s" = peer ] && [ "$peer" = 0 ]; then skip "peer not installed"; continue; fi
	figure 3 "$s" flows_per_s
	figure 7 "$s" growth_kb
done
for s in mcpgate peer; do
	if [ "$s" = peer ] && [ "$peer" = 0 ]; then skip "peer not installed"; continue; fi
	figure 4b-kill "$s" acked
	figure 4b-kill "$s" missing
	figure 5-1 "$s" p99_ms
	figure 5-16 "$s" p99_ms
	figure 6-100 "$s" open_after_hold
	figure 6-100 "$s" kb_per_stream
done
figure 6-idle mcpgate rss_kb
figure 7 mcpgate growth_again_kb
figure 7 mcpgate growth_web_kb
for m in 8-read 8-write 8-mixed; do
	figure "$m" mcpgate ops_per_s
	figure "$m" bare ops_per_s
done

echo "1..$n"
exit $((failed > 0))
