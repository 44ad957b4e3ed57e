#!/usr/bin/env bash
# bench/report.sh RESULTS_JSON RESULTS_MD: render the figures of a run
# (bench/run.sh writes results.json, then calls this) as the Markdown
# report.  Everything below the "hand-written" marker of an existing
# RESULTS_MD is kept: the profile notes that explain the figures.
set -euo pipefail

json=$1 md=$2
MARK='<!-- hand-written below: kept by bench/report.sh -->'

# g MEASURE SYSTEM KEY: the figure, or empty.
g() { jq -r --arg m "$1" --arg s "$2" --arg k "$3" '.results[$m][$s][$k] // empty' "$json"; }
meta() { jq -r "$1 // empty" "$json"; }

# Number formatting: integers for rates, 2 decimals for milliseconds.
int() { [ -n "$1" ] && printf '%.0f' "$1" || printf -- '–'; }
ms() { [ -n "$1" ] && printf '%.2f' "$1" || printf -- '–'; }
# ratio A B FORMAT: A/B as "12.3×" or "56 %".
ratio() {
	[ -n "$1" ] && [ -n "$2" ] || { printf -- '–'; return; }
	awk -v a="$1" -v b="$2" -v f="$3" 'BEGIN {
		if (b == 0) { printf "–"; exit }
		if (f == "pct") printf "%.0f %%", 100 * a / b; else printf "%.1f×", a / b }'
}
# check VALUE OP LIMIT: "met" or "**missed**" (empty without a value).
check() {
	[ -n "$1" ] || { printf 'no figure'; return; }
	awk -v v="$1" -v l="$3" -v op="$2" 'BEGIN {
		ok = (op == ">=") ? v >= l : (op == "<=") ? v <= l : (op == "<") ? v < l : v == l
		printf "%s", ok ? "met" : "**missed**" }'
}
div() { [ -n "$1" ] && [ -n "$2" ] && awk -v a="$1" -v b="$2" 'BEGIN { if (b) printf "%.4g", a / b }'; }
mib() { [ -n "$1" ] && awk -v v="$1" 'BEGIN { printf "%.1f", v / 1024 }' || printf -- '–'; }

# One throughput row: measure, label, key, then the target text/verdict.
row_rate() {
	local m=$1 label=$2 k=$3 target=${4:-} verdict=${5:-}
	local a b p
	a=$(g "$m" mcpgate "$k") b=$(g "$m" bare "$k") p=$(g "$m" peer "$k")
	printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$m" "$label" "$(int "$a")" \
		"$(int "$b")" "$(ratio "$a" "$b" pct)" "$(int "$p")" "$(ratio "$a" "$p" x)" "$target" "$verdict"
}
row_ms() {
	local m=$1 label=$2 k=$3 target=${4:-} verdict=${5:-}
	printf '| %s | %s | %s | %s | | %s | | %s | %s |\n' "$m" "$label" "$(ms "$(g "$m" mcpgate "$k")")" \
		"$(ms "$(g "$m" bare "$k")")" "$(ms "$(g "$m" peer "$k")")" "$target" "$verdict"
}

results_table() {
	local a p b v v2 v3
	echo '| # | Figure | mcpgate | limit: bare FastCGI | mcpgate / limit | peer: TS SDK | mcpgate / peer | Target | |'
	echo '|---|---|---:|---:|---:|---:|---:|---|---|'
	row_rate 1 'GET AS metadata, req/s' rps
	row_ms 1 '… p50 ms' p50_ms
	row_ms 1 '… p99 ms' p99_ms
	row_rate 2 'POST /oauth/register, req/s' rps
	row_ms 2 '… p99 ms' p99_ms
	a=$(g 3 mcpgate flows_per_s) p=$(g 3 peer flows_per_s)
	row_rate 3 "OAuth code flow, flows/s ($(meta .settings.flows_at_a_time) at a time)" flows_per_s \
		'≥ 3× peer' "$(check "$(div "$a" "$p")" '>=' 3)"
	a=$(g 4a mcpgate rps) p=$(g 4a peer rps) b=$(g 4a bare rps)
	v=$(check "$(div "$a" "$p")" '>=' 10) v2=$(check "$(div "$a" "$b")" '>=' 0.5)
	row_rate 4a 'tools/call get_snippet, req/s' rps '≥ 10× peer; ≥ 50 % of limit' "$v; $v2"
	row_ms 4a '… p50 ms' p50_ms
	row_ms 4a '… p99 ms' p99_ms '≤ 10 ms' "$(check "$(g 4a mcpgate p99_ms)" '<=' 10)"
	a=$(g 4b mcpgate rps) p=$(g 4b peer rps)
	row_rate 4b 'tools/call save_snippet, req/s' rps '≥ 2× peer' "$(check "$(div "$a" "$p")" '>=' 2)"
	row_ms 4b '… p99 ms' p99_ms
	v=$(g 4b-kill mcpgate missing)
	printf '| 4b | acknowledged writes lost to kill -9 | %s of %s | | | %s of %s | | none lost | %s |\n' \
		"${v:-–}" "$(g 4b-kill mcpgate acked)" "$(g 4b-kill peer missing)" "$(g 4b-kill peer acked)" \
		"$(check "$v" '<=' 0)"
	a=$(g 4c mcpgate rps) p=$(g 4c peer rps)
	row_rate 4c 'tools/call save + get alternating, req/s' rps '≥ 4× peer' \
		"$(check "$(div "$a" "$p")" '>=' 4)"
	row_ms 4c '… p99 ms' p99_ms
	row_ms 5-1 'SSE round trip, 1 in flight, p50 ms' p50_ms
	row_ms 5-1 '… p99 ms' p99_ms '≤ 1 ms' "$(check "$(g 5-1 mcpgate p99_ms)" '<=' 1)"
	row_ms 5-16 'SSE round trip, 16 in flight, p50 ms' p50_ms
	row_ms 5-16 '… p99 ms' p99_ms
	v=$(g 6-idle mcpgate rss_kb) v2=$(g 6-idle mcpgate pss_kb) v3=$(g 6-idle mcpgate procs)
	b=$(g 6-idle bare rss_kb) b2=$(g 6-idle bare pss_kb)
	printf '| 6 | all mcpgate processes idle (%s), summed RSS MiB | %s | %s | | %s | | < 16 MiB | %s |\n' \
		"${v3:-?} processes" "$(mib "$v")" "$(mib "$b")" "$(mib "$(g 6-100 peer rss_idle_kb)")" \
		"$(check "$(div "${v:-}" 1024)" '<' 16)"
	printf '| 6 | … the same, summed PSS MiB (shared pages counted once) | %s | %s | | | | < 16 MiB | %s |\n' \
		"$(mib "$v2")" "$(mib "$b2")" "$(check "$(div "${v2:-}" 1024)" '<' 16)"
	printf '| 6 | … the web server (lighttpd), RSS MiB | %s | %s | | | | | |\n' \
		"$(mib "$(g 6-idle mcpgate webserver_rss_kb)")" "$(mib "$(g 6-idle bare webserver_rss_kb)")"
	for k in $(jq -r '.results | keys[] | select(test("^6-[0-9]+$")) | ltrimstr("6-")' "$json" | sort -n); do
		printf '| 6 | %s streams: open after the hold / asked | %s / %s | | | %s / %s | | | |\n' "$k" \
			"$(g "6-$k" mcpgate open_after_hold)" "$(g "6-$k" mcpgate streams)" \
			"$(g "6-$k" peer open_after_hold)" "$(g "6-$k" peer streams)"
		v=$(g "6-$k" mcpgate kb_per_stream)
		printf '| 6 | %s streams: kB of RSS per open stream | %s | | | %s | | ≤ 16 kB | %s |\n' "$k" \
			"${v:-–}" "$(g "6-$k" peer kb_per_stream)" "$(check "$v" '<=' 16)"
	done
	v=$(g 7 mcpgate growth_kb)
	printf '| 7 | RSS growth after %s mixed requests, kB (every program but the web server) | %s | %s | | %s | | zero | %s |\n' \
		"$(int "$(g 7 mcpgate requests)")" "${v:-–}" "$(g 7 bare growth_kb)" "$(g 7 peer growth_kb)" \
		"$(check "$v" '<=' 0)"
	v=$(g 7 mcpgate growth_anon_kb)
	[ -z "$v" ] || printf '| 7 | … of which anonymous memory (heap, stacks), kB | %s | %s | | %s | | zero | %s |\n' \
		"$v" "$(g 7 bare growth_anon_kb)" "$(g 7 peer growth_anon_kb)" "$(check "$v" '<=' 0)"
	v=$(g 7 mcpgate growth_again_kb)
	[ -z "$v" ] || printf '| 7 | RSS growth over %s more (a second run), kB (the same programs) | %s | | | | | zero | %s |\n' \
		"$(int "$(g 7 mcpgate requests_again)")" "$v" "$(check "$v" '<=' 0)"
	v=$(g 7 mcpgate growth_again_anon_kb)
	[ -z "$v" ] || printf '| 7 | … of which anonymous memory (heap, stacks), kB | %s | | | | | zero | %s |\n' \
		"$v" "$(check "$v" '<=' 0)"
	v=$(g 7 mcpgate growth_web_kb)
	[ -z "$v" ] || printf '| 7 | lighttpd in front: RSS growth in the first run / the second, kB | %s / %s | %s | | | | | |\n' \
		"$v" "$(g 7 mcpgate growth_again_web_kb)" "$(g 7 bare growth_web_kb)"
	for w in read write mixed; do
		a=$(g "8-$w" mcpgate ops_per_s) b=$(g "8-$w" bare ops_per_s)
		printf '| 8 | store alone, %s, ops/s (p50 / p99 µs) | %s (%s / %s) | %s (%s / %s) | %s | memory only | | | |\n' \
			"$w" "$(int "$a")" "$(int "$(g "8-$w" mcpgate p50_us)")" "$(int "$(g "8-$w" mcpgate p99_us)")" \
			"$(int "$b")" "$(int "$(g "8-$w" bare p50_us)")" "$(int "$(g "8-$w" bare p99_us)")" \
			"$(ratio "$a" "$b" pct)"
	done
}

# Whether target 3 lies beyond what the architecture can do at all.
flow_ceiling() {
	local p b
	p=$(g 3 peer flows_per_s) b=$(g 3 bare flows_per_s)
	[ -n "$p" ] && [ -n "$b" ] || return 0
	awk -v p="$p" -v b="$b" 'BEGIN {
		if (3 * p > b)
			printf "Target 3 (3 × the peer = %.0f flows/s) is above the limit itself (%.0f flows/s):\n" \
			       "no program behind this web server can reach it on this machine.\n", 3 * p, b }'
}

# Measure 7 per program: RSS after warm-up, after the mixed requests and
# (mcpgate) after as many again; growth of each run, all and anonymous.
rss_table() {
	local s c b a x ab aa ax
	echo '| System | Program | RSS after warm-up kB | after the mixed requests kB | growth kB | of which anonymous kB | after a second run kB | growth in the second run kB | of which anonymous kB |'
	echo '|---|---|---:|---:|---:|---:|---:|---:|---:|'
	for s in mcpgate bare peer; do
		jq -r --arg s "$s" '.results["7"][$s] // {} | to_entries[]
			| select(.key | startswith("rss_before_kb:")) | .key | ltrimstr("rss_before_kb:")' "$json" |
			while read -r c; do
				b=$(g 7 "$s" "rss_before_kb:$c") a=$(g 7 "$s" "rss_after_kb:$c")
				ab=$(g 7 "$s" "anon_before_kb:$c") aa=$(g 7 "$s" "anon_after_kb:$c")
				x=$(g 7 "$s" "rss_again_kb:$c") ax=$(g 7 "$s" "anon_again_kb:$c")
				printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$s" "$c" "$b" "$a" \
					"$((a - b))" "$(diff_or_dash "$ab" "$aa")" "${x:-–}" "$(diff_or_dash "$a" "$x")" \
					"$(diff_or_dash "$aa" "$ax")"
			done
	done
}

# diff_or_dash A B: B - A, or – when either is missing.
diff_or_dash() {
	[ -n "$1" ] && [ -n "$2" ] && echo "$(($2 - $1))" || echo –
}

errors_list() {
	jq -r '.results | to_entries[] | .key as $m | .value | to_entries[] | .key as $s
		| .value | to_entries[] | select(.key == "error" or ((.key == "errors" or .key == "flow_errors"
		or .key == "tool_fail") and .value != 0)) | "- \($m) \($s): \(.key) = \(.value)"' "$json"
}

{
	echo '# mcpgate benchmark results'
	echo
	echo "Written by \`bench/run.sh\` ($(meta .date)$([ "$(meta .settings.smoke)" = true ] && echo ', **smoke run: not figures to quote**'))."
	echo 'Ratios compare figures of the same run on the same machine; the absolute'
	echo 'numbers move by ±30 % between runs on a shared VM.  How each figure is'
	echo 'measured: bench/README.md.'
	echo
	echo '## Figures'
	echo
	results_table
	echo
	echo "Limit for measure 3: a fifth of the bare responder's req/s on $(meta .settings.flows_at_a_time) connections"
	echo '(an mcpgate flow is 5 requests).  Limit for measure 8: GDBM itself with the same locking'
	echo 'pattern (flock on a lock file, open per operation) and nothing else.'
	flow_ceiling
	echo
	echo '### Measure 7: RSS per program'
	echo
	rss_table
	echo
	if [ -n "$(errors_list)" ]; then
		echo '### Errors and refusals counted during the run'
		echo
		errors_list
		echo
	fi
	echo '## Machine'
	echo
	jq -r '.machine | to_entries[] | "- \(.key): \(.value)"' "$json"
	echo
	echo '## Settings and commands'
	echo
	jq -r '.settings | to_entries[] | "- \(.key): \(.value)"' "$json"
	echo
	echo '```'
	jq -r '.commands[]' "$json"
	echo '```'
	echo
	echo "$MARK"
	if [ -f "$md" ] && grep -qF "$MARK" "$md"; then
		sed -n "/^$(printf '%s' "$MARK" | sed 's/[][\.*^$/]/\\&/g')\$/,\$p" "$md" | tail -n +2
	fi
} >"$md.tmp"
mv "$md.tmp" "$md"
