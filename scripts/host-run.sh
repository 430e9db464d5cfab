#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Run the selftests directly on this host, which must already have our KVM
# modules loaded (make load).
#
#   host-run.sh <tests.list> [test ...]
#
# Same list format and TAP output as vm-run.sh: ends with "N passed, N
# failed, N skipped"; exit status 1 if anything failed (including a per-test
# timeout or a missing test binary).  Environment: SELFTESTS_BIN, LOGDIR,
# V=1 (print every test's output).
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/scripts/lib.sh"

[ $# -ge 1 ] || die "usage: $0 <tests.list> [test ...]"
LIST=$1
shift
[ -f "$LIST" ] || die "no test list $LIST"
if [ ! -e /dev/kvm ] || ! grep -q O /sys/module/kvm/taint 2>/dev/null; then
	die "load kvm-split's modules first (make load)"
fi
[ -w /dev/kvm ] || die "no write access to /dev/kvm (run as root or join group kvm)"

[ -n "${SELFTESTS_BIN:-}" ] || resolve_kernel
BIN=${SELFTESTS_BIN:-$BUILD/$KVER/selftests}
[ -d "$BIN" ] || die "no test binaries in $BIN (make -C selftests build)"
BIN=$(cd "$BIN" && pwd)
LOGDIR=${LOGDIR:-$BUILD/test-logs}
mkdir -p "$LOGDIR"
LOGDIR=$(cd "$LOGDIR" && pwd)
rm -f "$LOGDIR"/*.log

# Tests to run, in list order.
declare -A want=()
for t in "$@"; do want[$t]=1; done
tests=()
while read -r name tmo cmd; do
	case "$name" in ''|'#'*) continue ;; esac
	[ $# = 0 ] || [ -n "${want[$name]:-}" ] || continue
	tests+=("$name $tmo $cmd")
	unset "want[$name]"
done <"$LIST"
for t in "${!want[@]}"; do die "unknown test '$t' (see ${LIST#"$top"/})"; done
[ ${#tests[@]} -gt 0 ] || die "no tests selected"

# Put back the module parameters a test changed, also when interrupted.
restore=()
restore_params() {
	local r
	for r in "${restore[@]}"; do echo "${r#*=}" >"${r%%=*}" || true; done
	restore=()
}
trap restore_params EXIT
trap 'exit 130' INT TERM

cd "$BIN"
echo "TAP version 13"
echo "1..${#tests[@]}"
pass=0 fail=0 skip=0 n=0
t0=$(date +%s)
for t in "${tests[@]}"; do
	read -r name tmo cmd <<<"$t"
	read -ra argv <<<"$cmd"
	log=$LOGDIR/$name.log
	n=$((n + 1)) rc=0
	# Leading "module.param=value" words set module parameters for this
	# test only, as in the test VM (scripts/guest-init.sh); one that
	# cannot be set fails the test without running it.
	restore=()
	badparam=
	while [[ ${argv[0]:-} == *.*=* ]]; do
		p=/sys/module/${argv[0]%%.*}/parameters/${argv[0]#*.}
		p=${p%%=*}
		if [ -w "$p" ] && old=$(cat "$p") && echo "${argv[0]#*=}" >"$p"; then
			restore+=("$p=$old")
		else
			badparam+=" ${argv[0]}"
		fi
		argv=("${argv[@]:1}")
	done
	echo "# [$(($(date +%s) - t0))s] running $name" >&2
	s0=$(date +%s)
	if [ -n "$badparam" ]; then
		echo "cannot set$badparam: test not run" >"$log"
		rc=1
	elif [ -x "./${argv[0]}" ]; then
		# Braces: keep bash's "Killed" notice for a timed-out test quiet.
		{ timeout -s KILL "$tmo" "./${argv[0]}" "${argv[@]:1}" \
			</dev/null >"$log" 2>&1; } 2>/dev/null || rc=$?
	else
		echo "test binary ${argv[0]} not built in $BIN" >"$log"
		rc=127
	fi
	secs=$(($(date +%s) - s0))
	restore_params
	[ "${V:-0}" = 1 ] && sed 's/^/# /' "$log"
	case $rc in
	0) pass=$((pass + 1)); echo "ok $n $name (${secs}s)" ;;
	4)
		why=$(grep -i 'skip' "$log" | tail -n 1) || true
		skip=$((skip + 1)); echo "ok $n $name # SKIP ${why:-no reason given} (${secs}s)" ;;
	*)
		fail=$((fail + 1))
		[ "$rc" = 137 ] && [ "$secs" -ge "$tmo" ] && rc="timeout after ${secs}s"
		echo "not ok $n $name (exit $rc, ${secs}s)"
		tail -n 40 "$log" | sed 's/^/#   /' ;;
	esac
done
echo "# total $(($(date +%s) - t0))s; logs in ${LOGDIR#"$top"/}"
echo "$pass passed, $fail failed, $skip skipped"
[ $fail = 0 ]
