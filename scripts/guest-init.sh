#!/bin/busybox sh
# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=dash
#
# /init of the test VM (busybox).  Loads our KVM modules and runs the tests
# listed in /tests/tests.list.  Results go to /dev/ttyS1, a serial port that
# nothing but this script writes to, as lines:
#
#   KS-INFO <text>                 module and machine facts
#   KS-RUN <name>                  a test starts
#   KS-OUT <name> <line>           one line of the test's output
#   KS-RESULT <name> <rc> <secs>   a test ended (rc 124: per-test timeout,
#                                  125: a kernel report on the console)
#   KS-DONE                        every test ran
#   KS-FATAL <text>                the VM could not run tests at all
#
# The kernel console (ttyS0) stays separate, so console noise can never be
# taken for a result.
#
# The same script runs on the Debian 13 host image (VM_ROOT=debian,
# scripts/host-image.sh; KS_ROOT=debian): there Debian's own tools come
# first and busybox's applets only fill the gaps, and /tests and /modules
# are on the run's payload disk.  MODULES may then be empty: the tests
# load KVM themselves (modprobe after a DKMS install).

set -o pipefail
if [ "${KS_ROOT:-}" = debian ]; then
	mkdir -p /run/ks-bin
	/bin/busybox --install -s /run/ks-bin
	export PATH=/usr/sbin:/usr/bin:/sbin:/bin:/tests:/run/ks-bin
else
	/bin/busybox --install -s /bin
	export PATH=/bin:/tests
fi
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t debugfs debugfs /sys/kernel/debug
mount -t tmpfs tmpfs /tmp
mkdir -p /dev/hugepages /dev/shm
mount -t hugetlbfs hugetlbfs /dev/hugepages
mount -t tmpfs tmpfs /dev/shm
# apt and dpkg want ptys on the Debian root.
[ "${KS_ROOT:-}" != debian ] || { mkdir -p /dev/pts; mount -t devpts devpts /dev/pts; }

R=/dev/ttyS1
say() { echo "$*" >$R; }
halt_vm() { sync; /bin/busybox poweroff -f; }
fatal() {
	say "KS-FATAL $*"
	echo "kvm-split: FATAL: $*"
	halt_vm
}

. /tests/vm.conf
export KS_TIER

echo "${HUGEPAGES_2M:-0}" >/proc/sys/vm/nr_hugepages
say "KS-INFO kernel $(uname -r), $(grep -c ^processor /proc/cpuinfo) vCPUs, $(awk '/MemTotal/ {print $2 " kB"}' /proc/meminfo)"
say "KS-INFO hugepages 2M=$(cat /sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages) 1G=$(cat /sys/kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages 2>/dev/null || echo 0)"

for m in $MODULES; do
	name=$(basename "$m" .ko)
	p=
	[ "$name" = kvm ] && p=$KVM_PARAMS
	[ "$name" = kvm-amd ] && p=$KVM_AMD_PARAMS
	# shellcheck disable=SC2086
	insmod /modules/$m $p 2>/tmp/insmod.err ||
		fatal "insmod $m failed: $(cat /tmp/insmod.err)"
done
if [ -n "$MODULES" ]; then
	[ -c /dev/kvm ] || fatal "/dev/kvm missing after loading $MODULES"
	vendor=kvm_amd
	[ -d /sys/module/kvm_amd ] || vendor=kvm_intel
	for m in kvm $vendor; do
		ko=/modules/$(echo $m | tr _ -).ko
		say "KS-INFO module $m: taint=$(cat /sys/module/$m/taint) $(grep -a -o 'vermagic=[^[:cntrl:]]*' $ko)"
	done
	tdp=npt
	[ $vendor = kvm_amd ] || tdp=ept
	say "KS-INFO kvm.tdp_mmu=$(cat /sys/module/kvm/parameters/tdp_mmu) kvm.eager_page_split=$(cat /sys/module/kvm/parameters/eager_page_split) $vendor.$tdp=$(cat /sys/module/$vendor/parameters/$tdp)"
elif [ "${KS_ROOT:-}" != debian ]; then
	# Only the Debian root has a modprobe for the tests to load KVM with:
	# here the tests would find no /dev/kvm and skip.
	fatal "no KVM modules to load (VM_MODULES=0 needs VM_ROOT=debian)"
else
	say "KS-INFO no modules loaded before the tests (they load KVM themselves)"
fi

# Kernel reports that fail the test that was running, whatever its exit
# status: lockdep, PROVE_RCU, KASAN, sleeping in atomic context, kmemleak,
# DEBUG_VM/DEBUG_LIST, lockups, oopses.  Several of them print without a
# WARN (panic_on_warn does not catch them), so the kernel log is read after
# every test; what the boot and the module loads printed is read with the
# first test.
REPORTS='BUG:|WARNING:|INFO: |Oops|general protection fault|circular locking|inconsistent lock state|recursive locking|suspicious RCU|sleeping function called|unreferenced object|list_(add|del) corruption'
kernel_reports() {
	dmesg -c >/tmp/dmesg.txt 2>/dev/null || return 1
	grep -E "$REPORTS" /tmp/dmesg.txt >/tmp/reports.txt
}

cd /tests || fatal "no /tests"
while read -r name tmo cmd; do
	case "$name" in ''|'#'*) continue ;; esac
	say "KS-RUN $name"
	echo "kvm-split: === $name: $cmd"
	# Leading "module.param=value" words set module parameters for this
	# test only (e.g. kvm.clear_dirty_log_chunk=64).
	restore=
	badparam=
	set -- $cmd
	while [ $# -gt 0 ]; do
		case "$1" in
		*.*=*)
			p=/sys/module/${1%%.*}/parameters/${1#*.}
			p=${p%%=*}
			if [ -w "$p" ] && old=$(cat "$p") && echo "${1#*=}" >"$p"; then
				restore="$restore ${p}=$old"
			else
				badparam="$badparam $1"
			fi
			shift ;;
		*) break ;;
		esac
	done
	# Output goes out line by line as the test prints it, so progress
	# shows while it runs (V=1).  The test runs in a process group of its
	# own (setsid), and the whole group is killed when it times out or
	# ends: a child it left behind would otherwise hold the output pipe
	# open and hang this loop.
	start=$(date +%s)
	echo 1 >/tmp/test.rc
	rm -f /tmp/test.timeout
	{
		if [ -n "$badparam" ]; then
			echo "kvm-split: cannot set$badparam: test not run"
			exit 1
		fi
		setsid "$@" </dev/null 2>&1 &
		pid=$!
		(sleep "$tmo"; : >/tmp/test.timeout; kill -KILL -"$pid") \
			>/dev/null 2>&1 &
		wd=$!
		wait $pid
		echo $? >/tmp/test.rc
		kill $wd 2>/dev/null
		kill -KILL -"$pid" 2>/dev/null
	} | while IFS= read -r l; do
		echo "KS-OUT $name $l" >$R
		echo "$l"
	done
	rc=$(cat /tmp/test.rc)
	end=$(date +%s)
	for r in $restore; do echo "${r#*=}" >"${r%%=*}"; done
	[ -e /tmp/test.timeout ] && rc=124
	if kernel_reports; then
		# The report's lines, and the log from the first of them on,
		# go to the test's log.
		while IFS= read -r l; do
			say "KS-OUT $name kernel report: $l"
		done </tmp/reports.txt
		first=$(grep -n -m1 -E "$REPORTS" /tmp/dmesg.txt | cut -d: -f1)
		tail -n +"$first" /tmp/dmesg.txt | head -n 120 |
			while IFS= read -r l; do say "KS-OUT $name | $l"; done
		rc=125
	fi
	say "KS-RESULT $name $rc $((end - start))"
done </tests/tests.run
say "KS-DONE"
halt_vm
