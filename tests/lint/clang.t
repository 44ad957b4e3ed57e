#!/usr/bin/env bash
# Everything must also build with clang, warnings as errors (build/clang).
cd "$(dirname "$0")/../.." || exit 1
if ! command -v clang >/dev/null 2>&1; then
	echo "1..0 # SKIP clang is not installed"
	exit 0
fi
if out=$(make -s --no-print-directory -j"$(nproc)" CC=clang BUILD=build/clang all 2>&1); then
	echo "ok 1 - clang builds every program, tool and test"
else
	echo "not ok 1 - clang build"
	printf '%s\n' "$out" | grep -E 'error|warning' | head -20 | sed 's/^/# /'
fi
echo "1..1"
