#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# harness_check_test.sh pass|fail|report|hang|panic: a test that behaves badly on
# purpose, for scripts/check-harness.sh to prove that the test harness
# reports each kind of failure (selftests/harness.list).  Not in tests.list.
case "${1:-}" in
pass)
	echo "harness check: passing"
	exit 0
	;;
fail)
	echo "harness check: failing on purpose"
	exit 1
	;;
report)
	# Exits 0, but leaves a report in the kernel log as lockdep or
	# KASAN would (neither WARNs): the harness must fail the test.
	echo "harness check: a kernel report, exit 0"
	echo "kvm-split harness check: BUG: deliberate report" >/dev/kmsg
	exit 0
	;;
hang)
	echo "harness check: hanging past the per-test timeout"
	sleep 3600
	;;
panic)
	echo "harness check: crashing the guest kernel"
	echo c >/proc/sysrq-trigger
	sleep 60
	;;
esac
echo "usage: $0 pass|fail|report|hang|panic"
exit 2
