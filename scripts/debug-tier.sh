#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The debug-kernel tier (make -C selftests run KERNEL=debug [TESTS=...]):
#
#  1. build (or reuse) the debug kernel of the target's own Debian source
#     (scripts/debug-kernel.sh: lockdep, PROVE_RCU, KASAN, kmemleak,
#     DEBUG_VM, KVM_PROVE_MMU, fault injection);
#  2. build kvm-split and the selftests against that tree (KSRC=/KDIR=);
#  3. run tests.list and debug.list (fault injection, then the kmemleak
#     scan) in the test VM booting it: a kernel report on the console
#     (lockdep, RCU, KASAN, sleeping in atomic context, kmemleak, BUG,
#     WARNING) fails the test that was running (scripts/guest-init.sh);
#  4. the control: the upstream tests of tests.list on the same tree's
#     stock KVM modules (no kvm-split), so that any report can be
#     attributed.  Its result is listed, and does not change the exit
#     status (STOCK=0 leaves it out).
#
# Per-test timeouts are multiplied by TIMEOUT_MULT (default 4): the debug
# kernel runs the suite about 3.7 times slower.  DEBUG_KERNEL_REUSE=1 fails
# instead of building when no cached kernel exists (CI).  Logs:
# build/test-logs-debug/ and build/test-logs-debug-stock/.
set -uo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/scripts/lib.sh"

if [ "${DEBUG_KERNEL_REUSE:-0}" = 1 ]; then
	tree=$("$top/scripts/debug-kernel.sh" --check) || exit 1
else
	tree=$("$top/scripts/debug-kernel.sh") || exit 1
fi
key=$(basename "$(dirname "$tree")")
export KSRC=$tree KDIR=$tree KVER=$key-debug
export TIMEOUT_MULT=${TIMEOUT_MULT:-4} KS_TIER=debug
info "debug tier: kernel $tree"

t=$(date +%s)
make -s -C "$top" modules || die "kvm-split does not build against $tree"
"$top/scripts/build-selftests.sh" ${PROGS:-} || die "the selftests do not build against $tree"
info "debug tier: modules and selftests built in $(($(date +%s) - t))s"

OUT=$BUILD/$KVER
# EXTRA_LIST: more entries (make -C selftests fuzz KERNEL=debug), before
# debug.list so that its kmemleak scan comes last.
cat "$top/selftests/tests.list" ${EXTRA_LIST:-} "$top/selftests/debug.list" \
	>"$OUT/debug-tier.list"
rc=0
LOGDIR=$BUILD/test-logs-debug "$top/scripts/vm-run.sh" "$OUT/debug-tier.list" "$@" || rc=1

if [ "${STOCK:-1}" = 1 ]; then
	# Upstream's own tests, with no kvm-split parameter: the stock
	# modules have none.
	grep -vE '^[[:space:]]*(#|$)' "$top/selftests/tests.list" |
		grep -v ' kvm_split/' | grep -v 'clear_dirty_log_' >"$OUT/stock.list"
	want=()
	for n in "$@"; do
		grep -q "^$n " "$OUT/stock.list" && want+=("$n")
	done
	if [ $# = 0 ] || [ ${#want[@]} -gt 0 ]; then
		info "debug tier: the control, upstream tests on the stock KVM of $tree"
		LOGDIR=$BUILD/test-logs-debug-stock KVM_MODDIR=$tree/arch/x86/kvm \
			"$top/scripts/vm-run.sh" "$OUT/stock.list" "${want[@]}" |
			sed 's/^/# stock: /'
	fi
fi

# Every kernel report, by test: ours, then the stock control's.
logs=test-logs-debug
[ "${STOCK:-1}" = 1 ] && logs="$logs test-logs-debug-stock"
for d in $logs; do
	[ -d "$BUILD/$d" ] || continue
	n=$(cat "$BUILD/$d"/*.log 2>/dev/null | grep -c '^kernel report: ')
	echo "# kernel reports in ${d#test-logs-}: $n"
	grep -H '^kernel report: ' "$BUILD/$d"/*.log 2>/dev/null |
		sed "s|^$BUILD/$d/||; s/^/#   /"
done
exit $rc
