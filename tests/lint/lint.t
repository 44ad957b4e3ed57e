#!/usr/bin/env bash
# make lint as a test: the banned-function grep and cppcheck must stay clean.
cd "$(dirname "$0")/../.." || exit 1
if out=$(make -s --no-print-directory lint 2>&1); then
	echo "ok 1 - make lint"
else
	echo "not ok 1 - make lint"
	printf '%s\n' "$out" | tail -20 | sed 's/^/# /'
fi
echo "1..1"
