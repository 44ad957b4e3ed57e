# shellcheck shell=bash
# TAP output for bash tests (sourced).  The plan is printed at the end
# (done_testing), so tests need not count their assertions.
#
#   ok STATUS DESC          pass when STATUS is 0:  [ "$a" = b ]; ok $? "a is b"
#   is GOT WANT DESC        string equality, shows both on failure
#   like GOT REGEX DESC     bash =~ match
#   unlike GOT REGEX DESC
#   skip DESC REASON        a passing "ok N # skip" line
#   diag TEXT...            "# TEXT" on stderr (shown by prove)
#   note TEXT...            "# TEXT" on stdout (shown by prove -v)
#   bail TEXT               "Bail out!" and exit
#   done_testing            prints 1..N; returns non-zero when anything failed

TAP_N=0
TAP_FAILED=0

diag() {
	local line
	while IFS= read -r line; do
		printf '# %s\n' "$line" >&2
	done <<<"$*"
}

note() {
	local line
	while IFS= read -r line; do
		printf '# %s\n' "$line"
	done <<<"$*"
}

ok() {
	local status=$1 desc=${2:-}
	TAP_N=$((TAP_N + 1))
	if [ "$status" -eq 0 ]; then
		printf 'ok %d - %s\n' "$TAP_N" "$desc"
		return 0
	fi
	TAP_FAILED=$((TAP_FAILED + 1))
	printf 'not ok %d - %s\n' "$TAP_N" "$desc"
	# Report the test's line, not one inside this library.
	local i=1
	while [ "${BASH_SOURCE[i]%/*}" = "${BASH_SOURCE[0]%/*}" ] && [ "$i" -lt "$((${#BASH_SOURCE[@]} - 1))" ]; do
		i=$((i + 1))
	done
	diag "  Failed test '$desc' (${BASH_SOURCE[i]##*/} line ${BASH_LINENO[i - 1]})"
	return 1
}

is() {
	local got=$1 want=$2 desc=${3:-}
	if [ "$got" = "$want" ]; then
		ok 0 "$desc"
		return 0
	fi
	ok 1 "$desc"
	diag "         got: '${got:0:2000}'
    expected: '${want:0:2000}'"
	return 1
}

like() {
	local got=$1 re=$2 desc=${3:-}
	if [[ $got =~ $re ]]; then
		ok 0 "$desc"
		return 0
	fi
	ok 1 "$desc"
	diag "                  '${got:0:2000}'
    doesn't match '$re'"
	return 1
}

unlike() {
	local got=$1 re=$2 desc=${3:-}
	if ! [[ $got =~ $re ]]; then
		ok 0 "$desc"
		return 0
	fi
	ok 1 "$desc"
	diag "                  '${got:0:2000}'
          matches '$re'"
	return 1
}

skip() {
	TAP_N=$((TAP_N + 1))
	printf 'ok %d # skip %s: %s\n' "$TAP_N" "$1" "${2:-}"
}

bail() {
	printf 'Bail out! %s\n' "$*"
	exit 255
}

done_testing() {
	printf '1..%d\n' "$TAP_N"
	[ "$TAP_FAILED" -eq 0 ]
}
