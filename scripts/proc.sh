# shellcheck shell=bash
# Process helpers shared by scripts/run.sh and the test library (sourced).
# Everything works on PIDs read from /proc; nothing is matched by name.
#
#   proc_alive PID        true while PID exists and is not a zombie
#   proc_tree PID...      those PIDs, their descendants, and the members of
#                         their process groups
#   stop_tree PID...      stop all of that
#   free_port             a loopback TCP port nothing listens on
#   wait_http URL PID [N] wait (N x 50 ms, default 200) until URL answers
#
# Servers are best started with `setsid` (their own process group): then a
# program a server respawns while it shuts down, and is orphaned, is still
# found and stopped through the group.

# See proc_tree above; one pass over /proc.
proc_tree() {
	local f line pid ppid pgrp i r
	local -a fields queue
	local -A kids=() group=() roots=()
	for r in "$@"; do roots[$r]=1; done
	for f in /proc/[0-9]*/stat; do
		{ read -r line <"$f"; } 2>/dev/null || continue
		pid=${line%% *}
		# The command name may hold spaces and parentheses; fields follow the last ')'.
		read -r -a fields <<<"${line##*) }"
		ppid=${fields[1]} pgrp=${fields[2]}
		kids[$ppid]="${kids[$ppid]:-} $pid"
		[ -n "${roots[$pgrp]:-}" ] && [ "$pid" != "$pgrp" ] && group[$pid]=1
	done
	queue=("$@" "${!group[@]}")
	local -A seen=()
	for ((i = 0; i < ${#queue[@]}; i++)); do
		[ -n "${seen[${queue[i]}]:-}" ] && continue
		seen[${queue[i]}]=1
		printf '%s\n' "${queue[i]}"
		# shellcheck disable=SC2206
		queue+=(${kids[${queue[i]}]:-})
	done
}

proc_alive() {
	local line
	{ read -r line <"/proc/$1/stat"; } 2>/dev/null || return 1
	line=${line##*) }
	[ "${line:0:1}" != Z ]
}

# Signal every PID and every process group led by one of them.
_proc_signal() {
	local sig=$1 p
	shift
	for p in "$@"; do
		kill "-$sig" "$p" 2>/dev/null
		kill "-$sig" -- "-$p" 2>/dev/null
	done
	return 0
}

# Stop the PIDs and everything they started: SIGTERM; then SIGTERM again to
# whatever is left after 0.5 s (the servers stop their own programs first);
# then SIGKILL after about a second more, for a program that does not act on
# SIGTERM while blocked in accept().  All trees are stopped together, so
# teardown costs that much at most once.
stop_tree() {
	local pid p i
	local -a tree left
	mapfile -t tree < <(proc_tree "$@")
	_proc_signal TERM "$@"
	for i in $(seq 1 60); do
		# Again each round: a server may start a program while stopping.
		mapfile -t -O "${#tree[@]}" tree < <(proc_tree "$@")
		left=()
		for p in "${tree[@]}"; do
			proc_alive "$p" && left+=("$p")
		done
		[ "${#left[@]}" -eq 0 ] && break
		if [ "$i" -eq 10 ]; then
			_proc_signal TERM "$@"
			kill -TERM "${left[@]}" 2>/dev/null
		elif [ "$i" -ge 25 ]; then
			_proc_signal KILL "$@"
			kill -KILL "${left[@]}" 2>/dev/null
		fi
		sleep 0.05
	done
	for pid in "$@"; do
		wait "$pid" 2>/dev/null
	done
	return 0
}

# Below the kernel's ephemeral range (32768 and up), where an outgoing
# connection's local port could collide with the listener.
free_port() {
	local p i
	for i in $(seq 1 50); do
		p=$((20000 + RANDOM % 12000))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			printf '%d\n' "$p"
			return 0
		fi
	done
	return 1
}

# Any HTTP answer counts: the caller checks the status it expects.
wait_http() {
	local url=$1 pid=$2 n=${3:-200} i code
	for i in $(seq 1 "$n"); do
		proc_alive "$pid" || return 1
		code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$url" 2>/dev/null)
		[ -n "$code" ] && [ "$code" != 000 ] && return 0
		sleep 0.05
	done
	return 1
}
