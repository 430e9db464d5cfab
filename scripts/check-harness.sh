#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Prove that the test harness cannot report a bad run as good (make -C
# selftests check-harness): run selftests/harness.list, whose tests fail on
# purpose (exit 1, a missing binary, a module parameter that cannot be
# set, a kernel report in the log of a test that exits 0, the dirty-log
# race with its fix switched off, a hang past the
# per-test timeout, a guest kernel panic), and check that each is reported
# as a failure, that a test after the panic is reported as not run, and
# that the run exits non-zero.  A WARN ends the same way as the panic: the guest runs with
# panic_on_warn=1.
set -uo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/scripts/lib.sh"

export LOGDIR=${LOGDIR:-$BUILD/test-logs-harness}
out=$("$top/scripts/vm-run.sh" "$top/selftests/harness.list" 2>&1)
rc=$?
printf '%s\n' "$out" | sed 's/^/  | /'

bad=0
expect() {
	if printf '%s\n' "$out" | grep -qE "$1"; then
		echo "ok - $2"
	else
		echo "not ok - $2 (no line matches '$1')"
		bad=1
	fi
}
expect '^ok 1 harness_pass ' "a passing test passes"
expect '^not ok 2 harness_fail \(exit 1,' "a failing test fails"
expect 'harness_missing: test binary .* not built' "a missing binary is named"
expect '^not ok 3 harness_missing ' "a missing binary fails"
expect '^not ok 4 harness_badparam \(exit 1,' "a module parameter that cannot be set fails"
expect '^not ok 5 harness_report \(exit kernel report: .*BUG: deliberate report' "a kernel report fails a test that exited 0"
expect '^not ok 6 harness_race_nodrain \(exit' "the race test fails with the drain switched off"
expect 'pages lost: page [0-9]+ holds' "... because it lost pages"
expect '^not ok 7 harness_hang \(exit timeout after' "a hang fails by the per-test timeout"
expect '^not ok 8 harness_panic \(.*kernel panic' "a guest panic fails the running test"
expect '^not ok 9 harness_after_panic \(not run' "tests after a panic fail as not run"
expect '^1 passed, 9 failed, 0 skipped$' "the summary counts them (and the missing binary)"
if [ $rc != 0 ]; then
	echo "ok - the run exits non-zero ($rc)"
else
	echo "not ok - the run exited 0"
	bad=1
fi
[ $bad = 0 ] || die "the harness reported a deliberate failure wrongly"
info "the harness reports every deliberate failure"
